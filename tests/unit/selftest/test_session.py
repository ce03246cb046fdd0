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
"""Session: interrupted runs, signals, the cleanup command it prints."""

import io
import os
import shlex
import signal

import fixtures
import testtools

from magnum_cern_driver.selftest import exitcodes
from magnum_cern_driver.selftest import fleet as fleet_mod
from magnum_cern_driver.selftest import journal as journal_mod
from magnum_cern_driver.selftest import ladder as ladder_mod
from magnum_cern_driver.selftest import options as options_mod
from magnum_cern_driver.selftest import plan as plan_mod
from magnum_cern_driver.selftest import session as session_mod
from tests.unit.selftest import fakes

RUN_ID = 'r2611220300-abcd'


class TestInterruptedRuns(testtools.TestCase):
    """SIGINT at several points: stop creating, delete everything."""

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.clock = fakes.FakeClock()
        self.err = io.StringIO()
        # One create call at a time: these tests signal from inside a
        # create, at an exact count. (With more threads the creates
        # already sent when a signal comes complete, queued ones are
        # never sent: TestConcurrentSubmission in test_ladder.)
        self.useFixture(fixtures.MockPatchObject(fleet_mod, 'MAX_THREADS',
                                                 1))

    def _session(self, cloud, opts):
        steps = plan_mod.build(opts.max_nodes)
        guard = session_mod.SignalGuard('cleanup-cmd', stream=self.err,
                                        exit_now=self._exit_now)
        guard.stop = fakes.FakeEvent(self.clock)
        sess = session_mod.Session(
            cloud, opts, steps, plan_mod.load_reference(), run_id=RUN_ID,
            guard=guard, out=io.StringIO(), clock=self.clock,
            sleep=self.clock.sleep, journal_dir=self.tmp)
        sess.preflight(lambda: session_mod.template_spec(opts, RUN_ID,
                                                         'img-1'))
        return sess, guard

    def _exit_now(self, code):
        raise SystemExit(code)

    def _run_interrupted(self, when):
        cloud = fakes.FakeCloud(self.clock)
        opts = options_mod.RunOptions(skip_load=True, max_nodes=32)
        sess, guard = self._session(cloud, opts)
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
        opts = options_mod.RunOptions(skip_load=True, max_nodes=2)
        sess, guard = self._session(cloud, opts)
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
        opts = options_mod.RunOptions(skip_load=True, max_nodes=16)
        sess, guard = self._session(cloud, opts)
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
        opts = options_mod.RunOptions(skip_load=True, max_nodes=2)
        sess, guard = self._session(cloud, opts)
        cloud.on_create = lambda name: guard.handle(signal.SIGINT)
        result = sess.run()
        self.assertTrue(cloud.empty(), cloud.everything())
        self.assertEqual([], result['cleanup']['leftovers'])

    def test_internal_error_still_cleans_up(self):
        cloud = fakes.FakeCloud(self.clock)
        opts = options_mod.RunOptions(skip_load=True, max_nodes=2)
        sess, guard = self._session(cloud, opts)
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
        opts = options_mod.RunOptions(max_nodes=2)
        sess, guard = self._session(cloud, opts)
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
        opts = options_mod.RunOptions(skip_load=True, max_nodes=2)
        sess, guard = self._session(cloud, opts)

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
        opts = options_mod.RunOptions(skip_load=True, max_nodes=2)
        sess, guard = self._session(cloud, opts)
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


class TestTemplateSpec(testtools.TestCase):
    def test_from_the_options(self):
        opts = options_mod.RunOptions(
            flavor='m1.large', master_flavor='m1.xlarge', keypair='k',
            external_network='public', master_lb=True,
            docker_volume_size=20, labels={'kube_tag': 'v1.31.4'})
        spec = session_mod.template_spec(opts, RUN_ID, 'img-1')
        self.assertEqual('mcst-%s-template' % RUN_ID, spec['name'])
        self.assertEqual(('img-1', 'flannel', 'm1.large', 'm1.xlarge', 'k',
                          'public', 20),
                         (spec['image_id'], spec['network_driver'],
                          spec['flavor_id'], spec['master_flavor_id'],
                          spec['keypair_id'], spec['external_network_id'],
                          spec['docker_volume_size']))
        self.assertTrue(spec['master_lb_enabled'])
        self.assertTrue(spec['floating_ip_enabled'])
        self.assertEqual({'kube_tag': 'v1.31.4'}, spec['labels'])
        self.assertIsNot(opts.labels, spec['labels'])

    def test_unset_options_are_left_out(self):
        spec = session_mod.template_spec(options_mod.RunOptions(), RUN_ID,
                                         'img-1')
        for key in ('flavor_id', 'master_flavor_id', 'keypair_id',
                    'external_network_id', 'docker_volume_size'):
            self.assertNotIn(key, spec)
        self.assertFalse(spec['floating_ip_enabled'])
