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
"""The phase's orchestration with a scripted runner (no I/O)."""

import json

import fixtures
from oslotest import base

from magnum_cern_driver.selftest.load import phase


class ScriptedRunner(object):
    """Bots that deliver ``share`` of their rate with 1 ms latency."""

    def __init__(self, capacity=1e9, share=1.0, missing=(), step_s=0,
                 fail_cleanup=False, fail_step=None):
        self._capacity = capacity
        self.share = share
        self.missing = set(missing)
        self._step_s = step_s
        self.fail_cleanup = fail_cleanup
        self.fail_step = fail_step
        self.calls = []

    def tool(self):
        return {'name': 'scripted', 'version': '0'}

    def prepare(self):
        self.calls.append('prepare')

    def capacity(self):
        return self._capacity

    def step_seconds(self):
        return self._step_s

    def run_step(self, index, rate):
        self.calls.append(('step', index, rate))
        if self.fail_step == index:
            raise RuntimeError('bots could not be scheduled')
        names = ['b0', 'b1']
        results = []
        for name in names:
            if (index, name) in self.missing:
                continue
            n = int(rate / 2 * 10)
            ok = int(n * self.share)
            results.append({'bot': name, 'target_rps': rate / 2,
                            'window_s': 10.0, 'requests': n, 'sent': n,
                            'successes': ok,
                            'latency': {'samples_ms': [1.0] * n}})
        return names, results, {}

    def cleanup(self):
        self.calls.append('cleanup')
        if self.fail_cleanup:
            raise RuntimeError('namespace stuck')


def run(runner, **opts):
    options = {'target_rps': 1000, 'steps': (50, 100), 'run_id': 'p'}
    options.update(opts)
    lines = []
    res = phase.run('kubernetes', options, progress=lines.append,
                    runner=runner)
    json.dumps(res)
    return res, lines


class TestPhase(base.BaseTestCase):

    def test_pass(self):
        runner = ScriptedRunner()
        res, lines = run(runner)
        self.assertEqual('pass', res['verdict'], res['reason'])
        self.assertEqual([('step', 0, 500.0), ('step', 1, 1000.0)],
                         runner.calls[1:3])
        self.assertEqual('cleanup', runner.calls[-1])
        self.assertEqual(['load.step.1', 'load.step.2'],
                         [c['name'] for c in res['checks']])
        self.assertTrue(any('verdict pass' in line for line in lines))
        # samples are summarised as histograms in the raw report
        bot = res['raw']['bots'][0]['results'][0]
        self.assertIn('counts', bot['latency'])
        self.assertEqual(1.0, res['steps'][1]['p99_ms'])

    def test_errors_fail(self):
        res, _ = run(ScriptedRunner(share=0.99))
        self.assertEqual('fail', res['verdict'])
        self.assertFalse(res['checks'][0]['ok'])

    def test_missing_bot_not_validated(self):
        res, _ = run(ScriptedRunner(missing={(1, 'b1')}))
        self.assertEqual('not validated', res['verdict'])
        self.assertTrue(res['steps'][0]['valid'])
        self.assertFalse(res['steps'][1]['valid'])

    def test_too_small(self):
        runner = ScriptedRunner(capacity=400)
        res, _ = run(runner)
        self.assertEqual('not validated', res['verdict'])
        self.assertEqual([200.0, 400.0],
                         [s['target_rps'] for s in res['steps']])

    def test_time_budget(self):
        runner = ScriptedRunner(step_s=40)
        orig = runner.run_step

        def slow_step(index, rate):
            runner.now += 40
            return orig(index, rate)
        runner.now = 1000.0
        runner.run_step = slow_step
        self.useFixture(fixtures.MockPatch(
            'magnum_cern_driver.selftest.load.phase.time.monotonic',
            side_effect=lambda: runner.now))
        res, _ = run(runner, max_duration_s=60)
        self.assertEqual('not validated', res['verdict'])
        self.assertEqual(1, len(res['steps']))
        self.assertIn('max_duration_s', res['reason'])

    def test_runner_error_fails_and_cleans_up(self):
        runner = ScriptedRunner(fail_step=1)
        res, _ = run(runner)
        self.assertEqual('fail', res['verdict'])
        self.assertIn('could not be scheduled', res['reason'])
        self.assertEqual('cleanup', runner.calls[-1])

    def test_cleanup_failure_is_reported(self):
        res, _ = run(ScriptedRunner(fail_cleanup=True))
        self.assertEqual('fail', res['verdict'])
        self.assertIn('namespace stuck', res['reason'])
        self.assertFalse(res['checks'][-1]['ok'])

    def test_options(self):
        opts = phase.options_for('local', {'steady_s': None, 'bots': 3})
        self.assertEqual(5, opts['steady_s'])
        self.assertEqual(3, opts['bots'])
        self.assertEqual(1000000, opts['target_rps'])
        self.assertTrue(opts['run_id'])
        self.assertRaises(ValueError, phase.options_for, 'local',
                          {'steady_s': 0})
        self.assertRaises(ValueError, phase.make_runner, 'nope', opts,
                          None, None)
        self.assertRaises(ValueError, phase.cleanup_resource, 'volume',
                          'x', {})
