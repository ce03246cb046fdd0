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
"""Benchmark of the local runner (not a test; prints numbers).

``python -m magnum_cern_driver.selftest.load.bench [--rates 8000,20000]
[--repeats 5] [--bots 2] [--warmup 2] [--steady 5]``

Against one nginx on 127.0.0.1, for each rate and repeat (alternating the
order), it runs:

* the bare tool: the same h2load command lines the runner would use,
  started directly; the figure is the sum of h2load's own ``req/s``;
* one step of the runner; the figures are the runner's aggregate
  throughput and the sum of the ``req/s`` that h2load itself reported
  for the runner's bots (the tool's own merged report).

It prints (1) how far the runner's aggregate is from the tool's own merged
report and (2) the runner's rate against the bare tool's, per run and as
medians.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from magnum_cern_driver.selftest.load import aggregate
from magnum_cern_driver.selftest.load import h2load
from magnum_cern_driver.selftest.load import local
from magnum_cern_driver.selftest.load import phase


def bare(runner, rate, nbots, warmup, steady, tag):
    procs = []
    per_bot = rate / nbots
    for b in range(nbots):
        log = os.path.join(runner.workdir, 'bare-%s-%d.tsv' % (tag, b))
        argv = h2load.command(runner.h2load_bin, runner.url, per_bot,
                              warmup, steady, log)
        procs.append(subprocess.Popen(argv, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, text=True,
                                      start_new_session=True))
    total = 0.0
    try:
        for p in procs:
            out, _ = p.communicate(timeout=warmup + steady + 30)
            summary = h2load.parse_summary(out)
            total += summary['rps'] if summary else 0.0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return total


def through_runner(runner, index, rate, send_tolerance):
    expected, results, raw = runner.run_step(index, rate)
    step = aggregate.aggregate_step(rate, expected, results,
                                    send_tolerance=send_tolerance)
    tool = sum((r['tool'] or {}).get('rps', 0.0) for r in results)
    return step, tool


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--rates', default='8000,20000')
    ap.add_argument('--repeats', type=int, default=5)
    ap.add_argument('--bots', type=int, default=2)
    ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--steady', type=int, default=5)
    args = ap.parse_args(argv)
    rates = [float(r) for r in args.rates.split(',')]
    opts = phase.options_for('local', {
        'run_id': 'bench%d' % os.getpid(), 'bots': args.bots,
        'warmup_s': args.warmup, 'steady_s': args.steady})
    runner = local.LocalRunner(opts)
    missing = runner.missing_tools()
    if missing:
        print('missing: %s' % ', '.join(missing), file=sys.stderr)
        return 2
    print('machine: %d cores, %s; tool %s' % (
        os.cpu_count(), ' '.join(os.uname()[2:3]), runner.tool()))
    runner.prepare()
    out = {}
    index = 0
    try:
        for rate in rates:
            rows = []
            for rep in range(args.repeats):
                order = ('bare', 'runner') if rep % 2 == 0 else \
                    ('runner', 'bare')
                row = {}
                for mode in order:
                    t0 = time.monotonic()
                    if mode == 'bare':
                        row['bare_rps'] = bare(runner, rate, args.bots,
                                               args.warmup, args.steady,
                                               '%d-%d' % (rate, rep))
                        row['bare_s'] = time.monotonic() - t0
                    else:
                        step, tool = through_runner(
                            runner, index, rate, opts['send_tolerance'])
                        index += 1
                        row['runner_rps'] = step['achieved_rps']
                        row['tool_rps'] = tool
                        row['valid'] = step['valid']
                        row['p99_ms'] = step['p99_ms']
                        row['runner_s'] = time.monotonic() - t0
                row['vs_tool_pct'] = 100.0 * abs(
                    row['runner_rps'] - row['tool_rps']) / row['tool_rps']
                row['vs_bare_pct'] = 100.0 * (
                    row['runner_rps'] - row['bare_rps']) / row['bare_rps']
                rows.append(row)
                print('rate %6.0f run %d: runner %9.1f  tool-merged %9.1f '
                      '(%.3f %%)  bare %9.1f (%+.3f %%)  p99 %.3f ms  '
                      'wall runner %.2fs bare %.2fs  valid=%s'
                      % (rate, rep + 1, row['runner_rps'], row['tool_rps'],
                         row['vs_tool_pct'], row['bare_rps'],
                         row['vs_bare_pct'], row['p99_ms'] or 0,
                         row['runner_s'], row['bare_s'], row['valid']))
                sys.stdout.flush()
            med = {k: statistics.median(r[k] for r in rows)
                   for k in ('runner_rps', 'tool_rps', 'bare_rps',
                             'vs_tool_pct', 'vs_bare_pct', 'p99_ms',
                             'runner_s', 'bare_s')}
            out[str(int(rate))] = med
            print('rate %6.0f MEDIAN: runner %.1f tool-merged %.1f '
                  '(%.3f %%) bare %.1f (%+.3f %%) p99 %.3f ms'
                  % (rate, med['runner_rps'], med['tool_rps'],
                     med['vs_tool_pct'], med['bare_rps'],
                     med['vs_bare_pct'], med['p99_ms']))
    finally:
        runner.cleanup()
    print(json.dumps(out, sort_keys=True))
    return 0


if __name__ == '__main__':
    sys.exit(main())
