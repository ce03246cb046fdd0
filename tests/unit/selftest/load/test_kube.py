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
"""The Kubernetes runner against a fake Kubernetes API over HTTP."""

import json
from unittest import mock

import fixtures
from oslotest import base

from magnum_cern_driver.selftest.load import aggregate
from magnum_cern_driver.selftest.load import kube
from magnum_cern_driver.selftest.load import phase
from magnum_cern_driver.selftest.load import vegeta
from tests.unit.selftest.load import fake_k8s


class Journal(object):
    def __init__(self, events):
        self.events = events
        self.live = {}

    def record(self, kind, name, meta):
        json.dumps(meta)
        self.events.append(('journal', kind, name))
        self.live[(kind, name)] = meta

    def forget(self, kind, name):
        self.events.append(('forget', kind, name))
        self.live.pop((kind, name), None)


def vegeta_log(rate, steady, latency_ms=1.0, slow_share=0.0,
               slow_ms=300.0, send_share=1.0, codes=None):
    """A bot log as the vegeta script prints it."""
    bounds = aggregate.default_bounds_ms()
    requests = int(rate * steady * send_share)
    slow = int(requests * slow_share)
    hist = aggregate.histogram([latency_ms] * (requests - slow)
                               + [slow_ms] * slow, bounds)
    rows = ['Bucket  #  %  Histogram']
    edges = [0.0] + bounds
    for i, n in enumerate(hist['counts']):
        lo = '%dus' % round(edges[i] * 1000)
        hi = ('%dus' % round(edges[i + 1] * 1000)
              if i + 1 < len(edges) else '+Inf')
        rows.append('[%s,  %s]  %d  0.00%%  ' % (lo, hi, n))
    report = {'requests': requests, 'rate': requests / float(steady),
              'throughput': requests / float(steady), 'success': 1.0,
              'status_codes': codes or {'200': requests},
              'latencies': {}, 'duration': steady * 10 ** 9, 'wait': 0,
              'errors': []}
    return '\n'.join([vegeta.JSON_MARK, json.dumps(report), '',
                      vegeta.HIST_MARK] + rows + [vegeta.END_MARK, ''])


class KubeTestBase(base.BaseTestCase):

    STEADY = 10

    def setUp(self):
        super(KubeTestBase, self).setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        # the runner must never sleep for real waiting on START_AT etc.
        self.useFixture(fixtures.MockPatch(
            'magnum_cern_driver.selftest.load.kube.time.sleep'))
        self.lines = []

    def fake(self, **kw):
        kw.setdefault('bot_log', lambda env, i, rate: vegeta_log(
            rate, int(env['STEADY'])))
        fk = fake_k8s.FakeKubernetes(**kw).start()
        self.addCleanup(fk.stop)
        self.addCleanup(lambda: self.assertEqual([], fk.errors))
        return fk

    def run_phase(self, fk, **opts):
        options = {'kubeconfig': fk.write_kubeconfig(self.tmp),
                   'run_id': 'T1', 'target_rps': 20000,
                   'steps': (50, 100), 'warmup_s': 1,
                   'steady_s': self.STEADY, 'bot_rps': 5000,
                   'bot_start_delay_s': 0, 'pod_startup_pods': 5,
                   'pod_startup_rate': 1000.0, 'poll_s': 0.01,
                   'ready_timeout_s': 5, 'delete_wait_s': 5}
        options.update(opts)
        self.journal = Journal(fk.events)
        return phase.run('kubernetes', options, journal=self.journal,
                         progress=self.lines.append)


class TestKubernetesRunner(KubeTestBase):

    def test_full_run_passes_and_cleans_up(self):
        fk = self.fake(nodes=3, cores_per_node='8')
        res = self.run_phase(fk)
        json.dumps(res)
        self.assertEqual('pass', res['verdict'], res['reason'])
        self.assertEqual([10000.0, 20000.0],
                         [s['target_rps'] for s in res['steps']])
        # 5000 rps per bot: 2 then 4 bots, all collected
        self.assertEqual([2, 4], [s['bots'] for s in res['steps']])
        self.assertEqual([2, 4], [s['bots_reported'] for s in res['steps']])
        self.assertAlmostEqual(20000.0, res['steps'][1]['achieved_rps'])
        self.assertLess(abs(res['steps'][1]['p99_ms'] - 1.0), 0.1)
        self.assertEqual('vegeta', res['tool']['name'])
        self.assertEqual('12.8.3', res['tool']['version'])
        # pod startup: 5 pods, 1 s each in the fake
        self.assertEqual(5, res['pod_startup']['running'])
        self.assertEqual(1.0, res['pod_startup']['p99_s'])
        # API latency from the fake's /metrics, before vs after
        self.assertTrue(res['api_latency']['ok'], res['api_latency'])
        self.assertIn('mutating', res['api_latency']['classes'])
        names = [c['name'] for c in res['checks']]
        self.assertIn('pod_startup.p99', names)
        self.assertIn('api_latency.p99', names)
        # nginx sized from the rate: 20000 / (10000 per core * 1 core)
        deps = [e for e in fk.events if e[:2] == ('created', 'deployments')]
        self.assertEqual(1, len(deps))
        # the namespace: journaled before creation, deleted, forgotten
        ns = kube.namespace_name('mcd-load', 'T1')
        i_journal = fk.events.index(('journal', 'namespace', ns))
        i_created = fk.events.index(('created', 'namespaces', ns))
        i_deleted = fk.events.index(('deleted', 'namespaces', ns))
        i_forget = fk.events.index(('forget', 'namespace', ns))
        self.assertLess(i_journal, i_created)
        self.assertLess(i_created, i_deleted)
        self.assertLess(i_deleted, i_forget)
        self.assertEqual({}, fk.namespaces)
        self.assertEqual([], fk.live())
        self.assertEqual({}, self.journal.live)
        # pre-pull DaemonSet made, waited for; bots jobs made and deleted
        self.assertIn(('created', 'daemonsets', 'prepull'), fk.events)
        self.assertIn(('created', 'jobs', 'bots-step1'), fk.events)
        self.assertIn(('deleted', 'jobs', 'bots-step2'), fk.events)

    def test_nginx_replicas_follow_rate(self):
        fk = self.fake(nodes=10, cores_per_node='16')
        res = self.run_phase(fk, target_rps=45000, steps=(100,),
                             bot_rps=15000, pod_startup_pods=0)
        self.assertEqual('pass', res['verdict'], res['reason'])
        dep = [e for e in fk.events if e[:2] == ('created', 'deployments')]
        self.assertEqual(1, len(dep))
        self.assertEqual(3, res['steps'][0]['bots'])
        self.assertIsNone(res['pod_startup'])

    def test_replica_count_in_deployment(self):
        fk = self.fake(nodes=10, cores_per_node='16')
        seen = {}
        orig = fk.ready

        def spy(ns, plural, obj):
            if plural == 'deployments':
                seen['replicas'] = obj['spec']['replicas']
                seen['cpu'] = obj['spec']['template']['spec'][
                    'containers'][0]['resources']['requests']['cpu']
            return orig(ns, plural, obj)
        fk.ready = spy
        self.run_phase(fk, target_rps=45000, steps=(100,), bot_rps=15000,
                       pod_startup_pods=0)
        self.assertEqual(5, seen['replicas'])  # ceil(45000 / 10000)
        self.assertEqual('1000m', seen['cpu'])

    def test_cluster_too_small_is_not_validated(self):
        # 2 nodes x 2 cores: capacity 2*2*0.8/(2/10000) = 16000 < 1M
        fk = self.fake(nodes=2, cores_per_node='2')
        res = self.run_phase(fk, target_rps=1000000)
        self.assertEqual('not validated', res['verdict'])
        self.assertIn('too small', res['reason'])
        self.assertEqual([8000.0, 16000.0],
                         [s['target_rps'] for s in res['steps']])
        self.assertEqual({}, fk.namespaces)

    def test_missing_bot_makes_step_invalid(self):
        def bot_log(env, index, rate):
            if index == 1:
                return None  # its pod never appeared
            return vegeta_log(rate, int(env['STEADY']))
        fk = self.fake(nodes=3, cores_per_node='8', bot_log=bot_log)
        res = self.run_phase(fk)
        self.assertEqual('not validated', res['verdict'])
        self.assertFalse(res['steps'][0]['valid'])
        self.assertEqual(['step1-bot1'], res['steps'][0]['missing_bots'])
        self.assertIn('missing', res['reason'])

    def test_unparseable_log_is_missing(self):
        fk = self.fake(nodes=3, cores_per_node='8',
                       bot_log=lambda env, i, rate: 'vegeta: boom\n')
        res = self.run_phase(fk, steps=(100,))
        self.assertEqual('not validated', res['verdict'])
        self.assertEqual(4, len(res['steps'][0]['missing_bots']))

    def test_saturated_bot_makes_step_invalid(self):
        def bot_log(env, index, rate):
            share = 0.5 if index == 0 else 1.0
            return vegeta_log(rate, int(env['STEADY']), send_share=share)
        fk = self.fake(nodes=3, cores_per_node='8', bot_log=bot_log)
        res = self.run_phase(fk, steps=(100,))
        self.assertEqual('not validated', res['verdict'])
        self.assertEqual(['step1-bot0'], res['steps'][0]['saturated_bots'])

    def test_errors_fail_the_step(self):
        def bot_log(env, index, rate):
            steady = int(env['STEADY'])
            n = rate * steady
            return vegeta_log(rate, steady,
                              codes={'200': n - n // 100, '503': n // 100})
        fk = self.fake(nodes=3, cores_per_node='8', bot_log=bot_log)
        res = self.run_phase(fk, steps=(100,))
        self.assertEqual('fail', res['verdict'])
        self.assertIn('success ratio', res['reason'])

    def test_skewed_bots_merged_p99(self):
        # bot 0 of 4 has 8 % slow requests, so 2 % of all are slow: the
        # merged p99 is slow (300 ms); the mean of the per-bot p99s
        # (300 + 1 + 1 + 1) / 4 would say about 76 ms.
        def bot_log(env, index, rate):
            share = 0.08 if index == 0 else 0.0
            return vegeta_log(rate, int(env['STEADY']), slow_share=share)
        fk = self.fake(nodes=3, cores_per_node='8', bot_log=bot_log)
        res = self.run_phase(fk, steps=(100,))
        p99 = res['steps'][0]['p99_ms']
        self.assertLess(abs(p99 - 300.0) / 300.0, 0.1, p99)
        self.assertLess(res['steps'][0]['p90_ms'], 1.1)

    def test_api_error_fails_and_still_cleans_up(self):
        fk = self.fake(nodes=3, cores_per_node='8',
                       fail={('POST', 'deployments'): 403})
        res = self.run_phase(fk)
        self.assertEqual('fail', res['verdict'])
        self.assertIn('403', res['reason'])
        self.assertEqual([], res['steps'])
        self.assertEqual({}, fk.namespaces)
        self.assertEqual({}, self.journal.live)

    def test_pod_startup_slo_violation_fails(self):
        fk = self.fake(nodes=3, cores_per_node='8',
                       startup_latency=lambda i: 9 if i == 4 else 1)
        res = self.run_phase(fk)
        self.assertEqual('fail', res['verdict'])
        self.assertIn('pod_startup', res['reason'])
        self.assertEqual(9.0, res['pod_startup']['p99_s'])

    def test_metrics_forbidden_is_not_validated(self):
        fk = self.fake(nodes=3, cores_per_node='8', metrics=False)
        res = self.run_phase(fk)
        self.assertEqual('not validated', res['verdict'])
        self.assertIn('metrics', res['reason'])
        self.assertIn('error', res['api_latency'])

    def test_interrupt_cleans_up_and_propagates(self):
        fk = self.fake(nodes=3, cores_per_node='8')
        with mock.patch.object(kube.KubernetesRunner, 'run_step',
                               side_effect=KeyboardInterrupt):
            self.assertRaises(KeyboardInterrupt, self.run_phase, fk)
        self.assertEqual({}, fk.namespaces)
        self.assertEqual({}, self.journal.live)

    def test_namespace_cleanup_from_journal(self):
        fk = self.fake()
        kubeconfig = fk.write_kubeconfig(self.tmp)
        fk.namespaces['mcd-load-old'] = {
            'apiVersion': 'v1', 'kind': 'Namespace',
            'metadata': {'name': 'mcd-load-old'}}
        self.assertTrue(phase.cleanup_resource(
            'namespace', 'mcd-load-old', {'kubeconfig': kubeconfig}))
        self.assertEqual({}, fk.namespaces)
        # already gone: still fine
        self.assertTrue(phase.cleanup_resource(
            'namespace', 'mcd-load-old', {'kubeconfig': kubeconfig}))

    def test_no_kubeconfig_is_skipped(self):
        res = phase.run('kubernetes', {'run_id': 'x'})
        self.assertEqual('skipped', res['verdict'])


class TestPure(base.BaseTestCase):

    def test_namespace_name(self):
        self.assertEqual('mcd-load-ab-c1', kube.namespace_name('mcd-load',
                                                               'AB_c1'))
        self.assertLessEqual(len(kube.namespace_name('x' * 80, 'y')), 63)

    def test_cpu(self):
        self.assertEqual(3.9, kube.parse_cpu('3900m'))
        self.assertEqual(4.0, kube.parse_cpu('4'))

    def test_split_rate(self):
        self.assertEqual([334, 333, 333], kube.split_rate(1000, 3))
        self.assertEqual(1000, sum(kube.split_rate(1000.4, 7)))
