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
"""The ladder, aggregation, and interrupted runs against a fake cloud."""

import io
import os
import shlex
import signal

import fixtures
import testtools

from magnum_cern_driver.selftest import exitcodes
from magnum_cern_driver.selftest import journal as journal_mod
from magnum_cern_driver.selftest import ladder as ladder_mod
from magnum_cern_driver.selftest import plan as plan_mod
from magnum_cern_driver.selftest import session as session_mod
from tests.unit.selftest import fakes

RUN_ID = 'r2611220300-abcd'


def _result(outcome, seconds=None, accept=100.0, status=None):
    return {'outcome': outcome, 'create_seconds': seconds,
            'accept_ms': accept, 'ready_seconds': None,
            'status': status or 'CREATE_COMPLETE', 'status_reason': None,
            'timeout_minutes': 10.0}


class TestAggregation(testtools.TestCase):
    step = plan_mod.Step(size=16, concurrency=3, clusters=3,
                         target_minutes=4.0)

    def test_pass_on_median_within_target(self):
        summary, status, _ = ladder_mod.summarize_step(self.step, [
            _result('pass', 120), _result('pass', 180),
            _result('pass', 600)])
        self.assertEqual('pass', status)
        self.assertEqual(3.0, summary['median_minutes'])
        self.assertEqual(10.0, summary['max_minutes'])
        self.assertEqual(3, summary['complete'])

    def test_target_missed_on_median(self):
        _, status, reason = ladder_mod.summarize_step(self.step, [
            _result('pass', 300), _result('pass', 300),
            _result('pass', 60)])
        self.assertEqual('target missed', status)
        self.assertIn('5.00 min > target 4.00', reason)

    def test_failure_beats_timeout(self):
        failed = _result('fail', status='CREATE_FAILED')
        failed['status_reason'] = 'quota exceeded'
        summary, status, reason = ladder_mod.summarize_step(self.step, [
            _result('pass', 60), _result('timeout'), failed])
        self.assertEqual('fail', status)
        self.assertIn('quota exceeded', reason)
        self.assertEqual(1, summary['timeout'])

    def test_timeout(self):
        _, status, _ = ladder_mod.summarize_step(self.step, [
            _result('pass', 60), _result('timeout')])
        self.assertEqual('timeout', status)

    def test_accept_latency_aggregated(self):
        summary, _, _ = ladder_mod.summarize_step(self.step, [
            _result('pass', 60, accept=10), _result('pass', 60, accept=30),
            _result('pass', 60, accept=500)])
        self.assertEqual(30.0, summary['accept_ms_median'])
        self.assertEqual(500.0, summary['accept_ms_max'])

    def test_time_in_status(self):
        tr = [{'status': 'REQUESTED', 'at': 0.0},
              {'status': 'CREATE_IN_PROGRESS', 'at': 2.0},
              {'status': 'CREATE_COMPLETE', 'at': 62.0}]
        self.assertEqual({'REQUESTED': 2.0, 'CREATE_IN_PROGRESS': 60.0,
                          'CREATE_COMPLETE': 8.0},
                         ladder_mod.time_in_status(tr, 70.0))


class LadderBase(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.clock = fakes.FakeClock()
        self.stop = fakes.FakeEvent(self.clock)
        self.jpath = os.path.join(self.tmp, 'j.jsonl')
        self.journal = journal_mod.Journal(self.jpath, RUN_ID)
        self.addCleanup(self.journal.close)

    def ladder(self, cloud, steps, **kw):
        return ladder_mod.Ladder(cloud, self.journal, steps, 'tmpl-1',
                                 RUN_ID, stop=self.stop, clock=self.clock,
                                 sleep=self.clock.sleep, **kw)


class TestLadder(LadderBase):
    def test_climbs_and_deletes_each_size(self):
        cloud = fakes.FakeCloud(self.clock, journal_path=self.jpath)
        steps = plan_mod.build(16)
        out = self.ladder(cloud, steps).run()
        self.assertEqual(['pass', 'pass'], [s['status']
                                            for s in out['sizes']])
        first = out['sizes'][0]['results'][0]
        self.assertEqual(62.0, round(first['create_seconds'] // 2 * 2))
        self.assertIsNotNone(first['accept_ms'])
        self.assertEqual(ladder_mod.HOLLOW_REASON, first['ready_skipped'])
        self.assertIn('CREATE_IN_PROGRESS', first['time_in_status'])
        self.assertTrue(first['samples'])
        self.assertEqual([], cloud.everything()['clusters'])
        self.assertEqual([], self.journal.pending('cluster'))
        self.assertEqual(60, sum(1 for c in cloud.calls
                                 if c[0] == 'create_cluster'))

    def test_poll_backs_off(self):
        cloud = fakes.FakeCloud(self.clock,
                                create_seconds=lambda size: 3600)
        steps = [plan_mod.Step(size=5, concurrency=1, clusters=1,
                               target_minutes=60)]
        self.ladder(cloud, steps, max_poll=30.0).run()
        polls = sum(1 for c in cloud.calls if c[0] == 'list_clusters')
        # An hour polled every 2 s would be 1800 calls.
        self.assertLess(polls, 250)
        self.assertGreater(polls, 100)

    def test_stops_climbing_at_failed_size(self):
        name = ladder_mod.cluster_name(RUN_ID, 2, 3)
        cloud = fakes.FakeCloud(self.clock, fail_names=[name])
        out = self.ladder(cloud, plan_mod.build(32)).run()
        self.assertEqual(['fail', 'skipped', 'skipped'],
                         [s['status'] for s in out['sizes']])
        self.assertIn('stopped climbing: size 2', out['sizes'][1]['reason'])
        failed = [r for r in out['sizes'][0]['results']
                  if r['outcome'] == 'fail']
        self.assertEqual('Resource CREATE failed: boom',
                         failed[0]['status_reason'])
        self.assertTrue(cloud.empty())

    def test_continue_on_failure(self):
        name = ladder_mod.cluster_name(RUN_ID, 2, 0)
        cloud = fakes.FakeCloud(self.clock, fail_names=[name])
        out = self.ladder(cloud, plan_mod.build(16),
                          continue_on_failure=True).run()
        self.assertEqual(['fail', 'pass'], [s['status']
                                            for s in out['sizes']])

    def test_timeout(self):
        name = ladder_mod.cluster_name(RUN_ID, 2, 0)
        cloud = fakes.FakeCloud(self.clock, never_names=[name])
        steps = [plan_mod.Step(size=2, concurrency=2, clusters=2,
                               target_minutes=2.5)]
        out = self.ladder(cloud, steps).run()
        size = out['sizes'][0]
        self.assertEqual('timeout', size['status'])
        stuck = size['results'][0]
        self.assertEqual('timeout', stuck['outcome'])
        self.assertIn('still CREATE_IN_PROGRESS', stuck['status_reason'])
        self.assertTrue(cloud.empty())

    def test_keeps_one_healthy_cluster_of_last_size_for_load(self):
        cloud = fakes.FakeCloud(self.clock)
        out = self.ladder(cloud, plan_mod.build(16),
                          keep_for_load=True).run()
        self.assertEqual(ladder_mod.cluster_name(RUN_ID, 16, 0),
                         out['kept']['name'])
        self.assertEqual([out['kept']['name']],
                         cloud.everything()['clusters'])

    def test_nodes_ready_measured_on_real_clusters(self):
        cloud = fakes.FakeCloud(self.clock, hollow=False)
        steps = [plan_mod.Step(size=2, concurrency=1, clusters=1,
                               target_minutes=2.5)]
        out = self.ladder(cloud, steps, workdir=self.tmp).run()
        r = out['sizes'][0]['results'][0]
        self.assertIsNone(r['ready_skipped'])
        self.assertIsNotNone(r['ready_seconds'])


class TestInterruptedRuns(testtools.TestCase):
    """SIGINT at several points: stop creating, delete everything."""

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.clock = fakes.FakeClock()
        self.err = io.StringIO()

    def _session(self, cloud, args):
        steps = plan_mod.build(args.max_nodes)
        guard = session_mod.SignalGuard('cleanup-cmd', stream=self.err,
                                        exit_now=self._exit_now)
        guard.stop = fakes.FakeEvent(self.clock)
        sess = session_mod.Session(
            cloud, args, steps, plan_mod.load_reference(), run_id=RUN_ID,
            guard=guard, out=io.StringIO(), clock=self.clock,
            sleep=self.clock.sleep, journal_dir=self.tmp)
        sess.preflight(lambda: session_mod.template_spec(args, RUN_ID,
                                                         'img-1'))
        return sess, guard

    def _exit_now(self, code):
        raise SystemExit(code)

    def _run_interrupted(self, when):
        cloud = fakes.FakeCloud(self.clock)
        args = fakes.Args(max_nodes=32)
        sess, guard = self._session(cloud, args)
        creates = []

        def on_create(name):
            creates.append(name)
            if len(creates) == when:
                guard.handle(signal.SIGINT)
        cloud.on_create = on_create
        result = sess.run()
        return cloud, result, creates

    def test_interrupt_during_first_creates(self):
        cloud, result, creates = self._run_interrupted(3)
        self.assertEqual(3, len(creates))
        self.assertTrue(cloud.empty(), cloud.everything())
        self.assertEqual(exitcodes.ERROR, result['exit_code'])
        self.assertTrue(result['interrupted'])
        self.assertEqual([], result['cleanup']['leftovers'])
        self.assertEqual(['interrupted', 'skipped', 'skipped'],
                         [s['status'] for s in result['sizes']])

    def test_interrupt_in_second_size(self):
        cloud, result, creates = self._run_interrupted(55)
        self.assertEqual(55, len(creates))
        self.assertTrue(cloud.empty(), cloud.everything())
        self.assertEqual(['pass', 'interrupted', 'skipped'],
                         [s['status'] for s in result['sizes']])
        j = journal_mod.Journal.read(result['journal'])
        self.assertEqual([], j.pending())
        self.assertTrue(j.ended)

    def test_interrupt_while_waiting(self):
        cloud = fakes.FakeCloud(self.clock)
        args = fakes.Args(max_nodes=2)
        sess, guard = self._session(cloud, args)
        waits = []

        def on_wait():
            waits.append(1)
            if len(waits) == 5:
                guard.handle(signal.SIGTERM)
        guard.stop.on_wait = on_wait
        result = sess.run()
        self.assertTrue(cloud.empty(), cloud.everything())
        self.assertEqual('interrupted', result['sizes'][0]['status'])
        self.assertEqual(50, sum(1 for c in cloud.calls
                                 if c[0] == 'create_cluster'))

    def test_signal_during_a_size_release_does_not_hammer_the_api(self):
        # The first size's clusters are being deleted when the signal
        # comes: the deletes go on, with pauses between the listings.
        cloud = fakes.FakeCloud(self.clock)
        args = fakes.Args(max_nodes=16)
        sess, guard = self._session(cloud, args)
        delete = cloud.delete_cluster

        def delete_then_signal(ident):
            if not guard.stop.is_set():
                guard.handle(signal.SIGINT)
            return delete(ident)
        self.useFixture(fixtures.MockPatchObject(
            cloud, 'delete_cluster', delete_then_signal))
        lists = []

        def on_wait():
            lists.append(1)
            if len(lists) > 10000:
                raise AssertionError('waits without pause')
        guard.stop.on_wait = on_wait
        result = sess.run()
        self.assertTrue(cloud.empty(), cloud.everything())
        self.assertTrue(result['interrupted'])
        listings = sum(1 for c in cloud.calls if c[0] == 'list_clusters')
        self.assertLess(listings, 100)

    def test_interrupt_leaves_nothing_even_with_delete_failed(self):
        cloud = fakes.FakeCloud(self.clock, delete_failures=1)
        args = fakes.Args(max_nodes=2)
        sess, guard = self._session(cloud, args)
        cloud.on_create = lambda name: guard.handle(signal.SIGINT)
        result = sess.run()
        self.assertTrue(cloud.empty(), cloud.everything())
        self.assertEqual([], result['cleanup']['leftovers'])

    def test_internal_error_still_cleans_up(self):
        cloud = fakes.FakeCloud(self.clock)
        args = fakes.Args(max_nodes=2)
        sess, guard = self._session(cloud, args)
        calls = []

        def on_create(name):
            calls.append(name)
            if len(calls) == 4:
                raise RuntimeError('bug')
        cloud.on_create = on_create
        self.useFixture(fixtures.FakeLogger())
        result = sess.run()
        self.assertTrue(cloud.empty(), cloud.everything())
        self.assertEqual('internal error: bug', result['error'])
        self.assertEqual(exitcodes.ERROR, result['exit_code'])

    def test_signal_during_load_phase_interrupts_it(self):
        cloud = fakes.FakeCloud(self.clock)
        args = fakes.Args(max_nodes=2, skip_load=False)
        sess, guard = self._session(cloud, args)
        seen = []

        def load(kind, options, journal=None, progress=None):
            journal.record('process', 'bot', {'pid': None})
            try:
                guard.handle(signal.SIGINT)
            except KeyboardInterrupt:
                seen.append('interrupted')
                journal.forget('process', 'bot')
                raise
            return {'verdict': 'pass'}
        sess.load_runner = load
        result = sess.run()
        self.assertEqual(['interrupted'], seen)
        self.assertEqual('skipped', result['load']['verdict'])
        self.assertTrue(result['interrupted'])
        self.assertTrue(cloud.empty(), cloud.everything())

    def test_second_signal_exits_at_once_with_cleanup_command(self):
        cloud = fakes.FakeCloud(self.clock)
        args = fakes.Args(max_nodes=2)
        sess, guard = self._session(cloud, args)

        def on_create(name):
            guard.handle(signal.SIGINT)
            guard.handle(signal.SIGINT)
        cloud.on_create = on_create
        e = self.assertRaises(SystemExit, sess.run)
        self.assertEqual(exitcodes.LEFTOVERS, e.code)
        self.assertIn('cleanup-cmd', self.err.getvalue())

    def test_stuck_delete_is_a_leftover(self):
        # Not interrupted: the size's release and the final cleanup both
        # retry the DELETE_FAILED cluster, then list it.
        cloud = fakes.FakeCloud(self.clock)
        args = fakes.Args(max_nodes=2)
        sess, guard = self._session(cloud, args)
        stuck = ladder_mod.cluster_name(RUN_ID, 2, 1)
        cloud.stuck_delete_names.add(stuck)
        result = sess.run()
        self.assertEqual(exitcodes.LEFTOVERS, result['exit_code'])
        left = result['cleanup']['leftovers']
        self.assertIn(stuck, [x['name'] for x in left])
        self.assertIn('DELETE_FAILED', [x['status'] for x in left
                                        if x['kind'] == 'cluster'])
        j = journal_mod.Journal.read(result['journal'])
        self.assertIn(stuck, [e.name for e in j.pending()])
        self.assertFalse(j.ended)


class TestSignalGuard(testtools.TestCase):
    def test_install_and_restore(self):
        err = io.StringIO()
        guard = session_mod.SignalGuard('cmd', stream=err,
                                        signals=(signal.SIGUSR1,))
        old = signal.getsignal(signal.SIGUSR1)
        guard.install()
        try:
            os.kill(os.getpid(), signal.SIGUSR1)
            self.assertTrue(guard.stop.is_set())
        finally:
            guard.restore()
        self.assertEqual(old, signal.getsignal(signal.SIGUSR1))


class TestCleanupCommand(testtools.TestCase):
    """The printed cleanup command must work when pasted into a shell."""

    def test_cloud_target(self):
        self.assertEqual(
            'magnum-cern-selftest --os-cloud prod cleanup --run-id %s'
            % RUN_ID, session_mod.cleanup_command(
                RUN_ID, {'kind': 'cloud', 'name': 'prod'}))

    def test_rehearsal_and_journal_dir_are_quoted(self):
        cmd = session_mod.cleanup_command(
            RUN_ID, {'kind': 'rehearsal', 'state_dir': '/tmp/my dir'},
            journal_dir="/tmp/j's")
        self.assertEqual(
            ['magnum-cern-selftest', '--rehearsal-state-dir', '/tmp/my dir',
             'cleanup', '--run-id', RUN_ID, '--journal-dir', "/tmp/j's"],
            shlex.split(cmd))

    def test_default_journal_dir_is_not_named(self):
        cmd = session_mod.cleanup_command(RUN_ID, {'kind': 'rehearsal'})
        self.assertNotIn('--journal-dir', cmd)
