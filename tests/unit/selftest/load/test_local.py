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
"""The local runner for real: nginx and h2load on 127.0.0.1.

Bounded: the whole class sends about 40,000 requests and runs well under
30 s. Skipped (visibly) where nginx or h2load is not installed.
"""

import json
import os
import time

from oslotest import base

from magnum_cern_driver.selftest.load import local
from magnum_cern_driver.selftest.load import phase
from magnum_cern_driver.selftest.load import procs


class Journal(object):
    def __init__(self):
        self.events = []
        self.live = {}

    def record(self, kind, name, meta):
        json.dumps(meta)
        self.events.append(('record', kind, name, meta.get('pid')))
        self.live[(kind, name)] = dict(meta)

    def forget(self, kind, name):
        self.events.append(('forget', kind, name, None))
        self.live.pop((kind, name), None)

    def pids(self):
        return [e[3] for e in self.events if e[0] == 'record' and e[3]]


class LocalTestBase(base.BaseTestCase):

    def setUp(self):
        super(LocalTestBase, self).setUp()
        if not (local.find_binary('nginx') and local.find_binary('h2load')):
            self.skipTest('nginx and h2load (Debian nginx, nghttp2-client) '
                          'are needed')
        self.journal = Journal()
        self.lines = []

    def run_local(self, **opts):
        options = {'target_rps': 2000, 'steps': (50, 100), 'warmup_s': 1,
                   'steady_s': 2, 'bots': 2, 'run_id': 'ut%d' % os.getpid()}
        options.update(opts)
        return phase.run('local', options, journal=self.journal,
                         progress=self.lines.append)

    def assertAllStopped(self):
        self.assertEqual({}, self.journal.live)
        pids = self.journal.pids()
        self.assertTrue(pids)
        for pid in pids:
            self.assertFalse(procs.alive(pid), 'pid %d still runs' % pid)


class TestLocalRunner(LocalTestBase):

    def test_small_target_passes_and_cleans_up(self):
        started = time.monotonic()
        res = self.run_local()
        json.dumps(res)
        self.assertEqual('pass', res['verdict'], res['reason'])
        self.assertEqual([1000.0, 2000.0],
                         [s['target_rps'] for s in res['steps']])
        for step in res['steps']:
            self.assertTrue(step['valid'], step['reason'])
            self.assertLess(abs(step['achieved_rps'] - step['target_rps'])
                            / step['target_rps'], 0.05)
            self.assertEqual(1.0, step['success_ratio'])
            self.assertEqual(2, step['bots_reported'])
            self.assertTrue(0 < step['p50_ms'] <= step['p99_ms'])
            # every successful response has a latency sample
            self.assertEqual(step['successes'], step['samples'])
        self.assertEqual('h2load', res['tool']['name'])
        # h2load's own report agrees with ours, bot by bot
        for entry in res['raw']['bots']:
            for bot in entry['results']:
                self.assertEqual(bot['successes'], bot['tool']['s2'])
        self.assertAllStopped()
        # nginx (1) + 2 steps x 2 bots, each recorded before and after
        # its start
        self.assertEqual(10, len([e for e in self.journal.events
                                  if e[0] == 'record']))
        self.assertLess(time.monotonic() - started, 20)

    def test_default_target_is_not_validated_here(self):
        # 1M rps cannot be validated on a small machine: the ramp is
        # scaled down to the capacity estimate and never passes.
        res = self.run_local(target_rps=None, steps=(100,), warmup_s=0,
                             steady_s=1, cores=2, max_requests=100000)
        self.assertEqual('not validated', res['verdict'], res['reason'])
        self.assertIn('too small', res['reason'])
        self.assertEqual(8000.0, res['steps'][0]['target_rps'])
        self.assertEqual(1000000, res['raw']['options']['target_rps'])
        self.assertAllStopped()

    def test_interrupt_stops_everything(self):
        def progress(line):
            if 'step 1/' in line:
                raise KeyboardInterrupt()
        self.assertRaises(KeyboardInterrupt, phase.run, 'local',
                          {'target_rps': 1000, 'steps': (100,),
                           'warmup_s': 1, 'steady_s': 2},
                          self.journal, progress)
        self.assertAllStopped()

    def test_request_budget_enforced_before_start(self):
        res = self.run_local(target_rps=2000, max_requests=1000)
        self.assertEqual('fail', res['verdict'])
        self.assertIn('max_requests', res['reason'])
        self.assertEqual([], res['steps'])
        self.assertAllStopped()

    def test_server_that_dies_makes_steps_invalid(self):
        # nginx is stopped behind the runner's back: the bots cannot send
        # their rate, the step is invalid, never a pass.
        runner = local.LocalRunner(phase.options_for('local', {
            'target_rps': 1000, 'steps': (100,), 'warmup_s': 0,
            'steady_s': 1, 'run_id': 'dead'}), self.journal)
        orig = runner.run_step

        def run_step(index, rate):
            runner.nginx.stop()
            return orig(index, rate)
        runner.run_step = run_step
        res = phase.run('local', {'target_rps': 1000, 'steps': (100,),
                                  'warmup_s': 0, 'steady_s': 1},
                        runner=runner)
        self.assertEqual('not validated', res['verdict'], res['reason'])
        self.assertFalse(res['steps'][0]['valid'])
        self.assertAllStopped()


class TestProcesses(base.BaseTestCase):

    def started(self, proc, argv0):
        deadline = time.monotonic() + 5
        while not procs.alive(proc.pid, argv0):
            self.assertLess(time.monotonic(), deadline, 'never started')
            time.sleep(0.01)

    def test_stop_pid_checks_the_program(self):
        proc = procs.Process('sleeper', ['sleep', '30']).start()
        self.addCleanup(proc.stop)
        self.started(proc, 'sleep')  # exec'd, not the forked python
        self.assertFalse(procs.stop_pid(proc.pid, '/usr/sbin/nginx'))
        self.assertTrue(procs.alive(proc.pid))
        self.assertTrue(procs.stop_pid(proc.pid, 'sleep'))
        proc.popen.wait(5)
        self.assertFalse(procs.alive(proc.pid))

    def test_cleanup_resource_process(self):
        journal = Journal()
        proc = procs.Process('sleeper', ['sleep', '30'],
                             journal=journal).start()
        self.addCleanup(proc.stop)
        self.started(proc, 'sleep')
        meta = journal.live[('process', 'sleeper')]
        self.assertEqual(proc.pid, meta['pid'])
        # a crash left it behind: the journal entry is enough to stop it
        gone = []
        for _ in range(2):
            gone.append(phase.cleanup_resource('process', 'sleeper', meta))
            proc.popen.poll()
        self.assertTrue(gone[-1])
        self.assertIsNotNone(proc.popen.poll())

    def test_wait_timeout_stops(self):
        proc = procs.Process('sleeper', ['sleep', '30']).start()
        self.assertIsNone(proc.wait(0.2))
        self.assertIsNotNone(proc.popen.poll())
