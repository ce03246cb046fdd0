#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.

import json
import math
import os
import subprocess
import time

import fixtures
from oslotest import base

from magnum_cern_driver.selftest.load import aggregate
from magnum_cern_driver.selftest.load import checks
from magnum_cern_driver.selftest.load import h2load
from magnum_cern_driver.selftest.load import vegeta

H2LOAD_OUT = """\
starting benchmark...
spawning thread #0: 10 total client(s). Timing-based test with 1s of \
warm-up time and 3s of main duration for measurements.
Main benchmark duration is over for thread #0. Stopping all clients.

finished in 4.00s, 4990.00 req/s, 732.42KB/s
requests: 14980 total, 15000 started, 14980 done, 14970 succeeded, \
10 failed, 8 errored, 2 timeout
status codes: 14970 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 2.15MB (2250000) total, 1.55MB (1620000) headers
                     min         max         mean         sd        +/- sd
time for request:       11us      6.36ms       130us       175us    98.03%
"""


class TestH2load(base.BaseTestCase):

    def test_command(self):
        argv = h2load.command('/usr/bin/h2load', 'http://127.0.0.1:1/',
                              1000, 2, 5, '/tmp/x.tsv')
        self.assertEqual('/usr/bin/h2load', argv[0])
        self.assertIn('--h1', argv)
        conns = int(argv[argv.index('-c') + 1])
        per = float(argv[argv.index('--rps') + 1])
        self.assertAlmostEqual(1000.0, conns * per, places=3)
        self.assertEqual('5s', argv[argv.index('-D') + 1])
        self.assertEqual('2s', argv[argv.index('--warm-up-time') + 1])
        self.assertEqual('http://127.0.0.1:1/', argv[-1])

    def test_parse_summary(self):
        s = h2load.parse_summary(H2LOAD_OUT)
        self.assertEqual(15000, s['started'])
        self.assertEqual(14980, s['done'])
        self.assertEqual(8, s['errored'])
        self.assertEqual(14970, s['s2'])
        self.assertEqual(4990.0, s['rps'])
        self.assertIsNone(h2load.parse_summary('connection refused'))
        self.assertEqual('1.52.0',
                         h2load.parse_version('h2load nghttp2/1.52.0\n'))

    def test_bot_result(self):
        log = ''.join('1795317256919%03d\t%d\t%d\n'
                      % (i, 200 if i < 990 else 503, 100 + i)
                      for i in range(1000))
        res = h2load.bot_result('b', 350.0, 3, H2LOAD_OUT, log)
        self.assertEqual(990, res['successes'])
        self.assertEqual(15000, res['sent'])
        self.assertEqual(14980, res['requests'])
        self.assertEqual(1000, len(res['latency']['samples_ms']))
        self.assertEqual(0.1, res['latency']['samples_ms'][0])
        self.assertIsNone(h2load.bot_result('b', 1, 1, '', log))


def vegeta_log(bounds_ms, counts, requests=None, codes=None):
    rows = ['Bucket           #     %       Histogram']
    edges = [0.0] + list(bounds_ms)
    for i, n in enumerate(counts):
        lo = '%gms' % edges[i] if edges[i] else '0s'
        hi = '%gms' % edges[i + 1] if i + 1 < len(edges) else '+Inf'
        rows.append('[%s,  %s]  %d  %.2f%%  ###' % (lo, hi, n, 0.0))
    total = sum(counts) if requests is None else requests
    report = {'latencies': {'50th': 1, '99th': 2}, 'requests': total,
              'rate': total / 10.0, 'throughput': total / 10.0,
              'success': 1.0, 'duration': 10 ** 10, 'wait': 10 ** 5,
              'status_codes': codes or {'200': total}, 'errors': []}
    return '\n'.join(['some noise', vegeta.JSON_MARK, json.dumps(report), '',
                      vegeta.HIST_MARK] + rows + [vegeta.END_MARK, ''])


class TestVegeta(base.BaseTestCase):

    def test_go_durations(self):
        p = vegeta.parse_go_duration_ms
        self.assertEqual(1.5, p('1.5ms'))
        self.assertEqual(0.1, p('100\u00b5s'))
        self.assertEqual(0.1, p('100us'))
        self.assertEqual(90000.0, p('1m30s'))
        self.assertEqual(0.0, p('0s'))
        self.assertIsNone(p('+Inf'))
        self.assertRaises(ValueError, p, '12xs')

    def test_buckets_arg(self):
        self.assertEqual('0,10us,1500us', vegeta.buckets_arg([0.01, 1.5]))

    def test_bot_result_histogram(self):
        log = vegeta_log([1.0, 2.0, 4.0], [900, 90, 9, 1],
                         codes={'200': 995, '0': 5})
        res = vegeta.bot_result('b0', 100, 10, log)
        self.assertEqual([1.0, 2.0, 4.0], res['latency']['bounds_ms'])
        self.assertEqual([900, 90, 9, 1], res['latency']['counts'])
        self.assertEqual(1000, res['requests'])
        self.assertEqual(995, res['successes'])
        self.assertEqual(100.0, res['target_rps'])

    def test_unfinished_log_is_missing(self):
        log = vegeta_log([1.0], [1, 0]).replace(vegeta.END_MARK, '')
        self.assertIsNone(vegeta.bot_result('b0', 1, 1, log))
        self.assertIsNone(vegeta.bot_result('b0', 1, 1, ''))

    def test_bots_merge_through_aggregate(self):
        bounds = [1.0, 2.0, 4.0, 400.0]
        fast = vegeta.bot_result('a', 1000, 10,
                                 vegeta_log(bounds, [10000, 0, 0, 0, 0]))
        slow = vegeta.bot_result('b', 1000, 10,
                                 vegeta_log(bounds, [9600, 0, 0, 400, 0]))
        step = aggregate.aggregate_step(2000, ['a', 'b'], [fast, slow])
        self.assertTrue(step['valid'], step['reason'])
        self.assertEqual(2000.0, step['achieved_rps'])
        # 2 % of all requests in (4, 400]: p99 inside it, p90 below 1 ms
        self.assertTrue(4.0 < step['p99_ms'] <= 400.0, step['p99_ms'])
        self.assertLessEqual(step['p90_ms'], 1.0)


METRICS = """\
# HELP apiserver_request_duration_seconds [STABLE] Response latency
# TYPE apiserver_request_duration_seconds histogram
apiserver_request_duration_seconds_bucket{component="apiserver",dry_run="",\
group="",resource="pods",scope="namespace",subresource="",verb="POST",\
version="v1",le="0.1"} %(p1)d
apiserver_request_duration_seconds_bucket{component="apiserver",dry_run="",\
group="",resource="pods",scope="namespace",subresource="",verb="POST",\
version="v1",le="1"} %(p2)d
apiserver_request_duration_seconds_bucket{component="apiserver",dry_run="",\
group="",resource="pods",scope="namespace",subresource="",verb="POST",\
version="v1",le="+Inf"} %(p3)d
apiserver_request_duration_seconds_bucket{resource="pods",scope="namespace",\
subresource="",verb="LIST",le="1"} %(l1)d
apiserver_request_duration_seconds_bucket{resource="pods",scope="namespace",\
subresource="",verb="LIST",le="+Inf"} %(l2)d
apiserver_request_duration_seconds_bucket{resource="pods",scope="namespace",\
subresource="",verb="WATCH",le="+Inf"} 99
apiserver_request_duration_seconds_count{verb="POST"} 3
"""


class TestApiLatency(base.BaseTestCase):

    def text(self, **kw):
        values = {'p1': 0, 'p2': 0, 'p3': 0, 'l1': 0, 'l2': 0}
        values.update(kw)
        return METRICS % values

    def test_parse(self):
        h = checks.parse_prometheus_histograms(self.text(p1=5, p2=9, p3=10))
        series = h[('POST', 'pods', '', 'namespace')]
        self.assertEqual({0.1: 5.0, 1.0: 9.0, math.inf: 10.0}, series)

    def test_quantile_like_prometheus(self):
        self.assertAlmostEqual(
            0.55, checks.prom_quantile(0.5, {0.1: 0.0, 1.0: 10.0,
                                             math.inf: 10.0}))
        # the answer in the +Inf bucket is the last finite bound
        self.assertEqual(1.0, checks.prom_quantile(
            0.99, {0.1: 0.0, 1.0: 5.0, math.inf: 10.0}))
        self.assertIsNone(checks.prom_quantile(0.5, {math.inf: 0.0}))

    def test_delta_and_slo(self):
        before = self.text(p1=100, p2=100, p3=100, l1=10, l2=10)
        # during the run: 1000 POSTs, 20 of them slower than 1 s
        after = self.text(p1=1000, p2=1080, p3=1100, l1=20, l2=20)
        res = checks.api_latency_result(before, after)
        self.assertFalse(res['ok'])
        mut = res['classes']['mutating']
        self.assertEqual(1000, mut['count'])
        self.assertEqual(1.0, mut['p99_s'])  # in +Inf: lower bound 1 s
        self.assertIn('mutating', res['message'])
        self.assertTrue(res['classes']['read-namespace']['ok'])
        self.assertNotIn('WATCH', json.dumps(res))
        good = checks.api_latency_result(
            before, self.text(p1=1000, p2=1100, p3=1100, l1=20, l2=20))
        self.assertTrue(good['ok'], good['message'])
        self.assertLess(good['classes']['mutating']['p99_s'], 1.0)

    def test_no_requests_is_an_error_not_a_pass(self):
        text = self.text(p1=1, p2=1, p3=1)
        res = checks.api_latency_result(text, text)
        self.assertFalse(res['ok'])
        self.assertIn('error', res)


class TestPodStartup(base.BaseTestCase):

    def test_summary(self):
        lat = [1.0] * 95 + [3.0] * 4 + [7.0]
        s = checks.startup_summary(lat, 100)
        self.assertEqual(1.0, s['p50_s'])
        self.assertEqual(3.0, s['p99_s'])
        self.assertTrue(s['ok'], s['message'])
        s = checks.startup_summary(lat[:-1] + [7.0, 7.0], 101)
        self.assertEqual(7.0, s['p99_s'])
        self.assertFalse(s['ok'])
        s = checks.startup_summary(lat[:50], 100)
        self.assertFalse(s['ok'])
        self.assertIn('never ran', s['message'])
        self.assertFalse(checks.startup_summary([], 3)['ok'])


VEGETA_STUB = r"""#!/bin/sh
# Stand-in for vegeta: "attack" writes its rate and duration as results,
# "report" turns them into a JSON report or a one-bucket histogram.
case "$1" in
attack)
  for a in "$@"; do
    case "$a" in
      -rate=*) r=${a#-rate=}; echo "rate ${r%/1s}" ;;
      -duration=*) d=${a#-duration=}; echo "dur ${d%s}" ;;
    esac
  done
  echo "attack $(date +%s)" >> "$STUB_LOG"
  exit "${STUB_RC:-0}" ;;
report)
  rate=0; dur=0
  while read -r k v; do
    case "$k" in rate) rate=$v ;; dur) dur=$v ;; esac
  done
  n=$((rate * dur))
  case "$2" in
    -type=json)
      echo "{\"requests\": $n, \"rate\": $rate, \"status_codes\":"
      echo " {\"200\": $n}, \"latencies\": {}}" ;;
    -type=hist*)
      echo 'Bucket  #  %  Histogram'
      echo "[0s,  10us]  $n  100.00%  ####"
      echo "[10us,  +Inf]  0  0.00%" ;;
  esac ;;
esac
"""


class TestBotScript(base.BaseTestCase):
    """The real bot script under sh, with a stub vegeta on PATH."""

    def setUp(self):
        super(TestBotScript, self).setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        stub = os.path.join(self.tmp, 'vegeta')
        with open(stub, 'w') as f:
            f.write(VEGETA_STUB)
        os.chmod(stub, 0o755)
        self.stub_log = os.path.join(self.tmp, 'calls')

    def run_bot(self, index, start_in, rc=0):
        env = {'PATH': '%s:/usr/bin:/bin' % self.tmp,
               'JOB_COMPLETION_INDEX': str(index),
               'TARGET': 'http://nginx/', 'START_AT':
               str(int(time.time()) + start_in), 'LATE_S': '5',
               'WARMUP': '1', 'STEADY': '3', 'MAX_WORKERS': '10',
               'BUCKETS': vegeta.buckets_arg([0.01]),
               'STUB_LOG': self.stub_log, 'STUB_RC': str(rc)}
        script = vegeta.bot_script([100, 250])
        t0 = time.monotonic()
        proc = subprocess.run(['sh', '-c', script], env=env, text=True,
                              capture_output=True, timeout=20)
        return proc, time.monotonic() - t0

    def test_bot_waits_then_reports_its_own_rate(self):
        proc, took = self.run_bot(1, start_in=2)
        self.assertEqual(0, proc.returncode, proc.stderr)
        self.assertGreaterEqual(took, 0.9)  # slept until START_AT
        res = vegeta.bot_result('b1', 250, 3, proc.stdout)
        self.assertIsNotNone(res, proc.stdout)
        self.assertEqual(750, res['requests'])   # 250/s x 3 s
        self.assertEqual(750, res['successes'])
        self.assertEqual([0.01], res['latency']['bounds_ms'])
        with open(self.stub_log) as f:
            self.assertEqual(2, len(f.readlines()))  # warm-up + steady

    def test_late_bot_reports_nothing(self):
        proc, _ = self.run_bot(0, start_in=-60)
        self.assertEqual(0, proc.returncode)
        self.assertIn('late start', proc.stdout)
        self.assertIsNone(vegeta.bot_result('b0', 100, 3, proc.stdout))
        self.assertFalse(os.path.exists(self.stub_log))

    def test_failed_attack_reports_nothing_and_exits_0(self):
        proc, _ = self.run_bot(0, start_in=0, rc=3)
        self.assertEqual(0, proc.returncode)
        self.assertIn('attack failed: 3', proc.stdout)
        self.assertIsNone(vegeta.bot_result('b0', 100, 3, proc.stdout))
