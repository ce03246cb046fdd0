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
"""Interrupted self-test runs on the rehearsal leave nothing behind.

Each test starts a real ``magnum-cern-selftest run`` (a subprocess) against
the shared rehearsal, interrupts it at one point with real signals, runs the
``cleanup`` command the run printed (or the one an operator on another
machine would type), and then asks Magnum, Heat and Keystone themselves
whether anything of the run is left: clusters, cluster templates, stacks,
the clusters' application credentials. It also compares everything those
services list against a snapshot taken before the run, so a leak under a
name we did not foresee is caught too.

Server stand-ins boot slowly during these tests (``BOOT_DELAY``) so that
clusters are still being built when the signal arrives.
"""

import glob
import json
import os
import re
import shlex
import signal
import subprocess

import fixtures

from magnum_cern_driver.selftest import exitcodes
from tests.functional import base

BOOT_DELAY = 20.0
RUN_TIMEOUT = 420
CLEANUP_TIMEOUT = 420
EVENT_TIMEOUT = 180
CLEANUP_COMMAND = re.compile(r'(magnum-cern-selftest [^\n]*cleanup '
                             r'--run-id [^\n]*)')


class TestInterruptedRunsLeaveNothing(base.RehearsalTestCase):

    def setUp(self):
        super().setUp()
        self.workdir = self.useFixture(fixtures.TempDir()).path
        self.journal_dir = os.path.join(self.workdir, 'journals')
        self.reh.configure_standins(boot_delay=BOOT_DELAY)
        self.addCleanup(self.reh.configure_standins, boot_delay=0.0)
        self.before = self._inventory()
        self.run_id = None
        self.addCleanup(self._safety_net)

    def _safety_net(self):
        # After a failed test, do not leave its clusters to the next one.
        if not self.run_id:
            return
        prefix = 'mcst-%s-' % self.run_id
        now = self._inventory()
        if any(n.startswith(prefix) for k in ('clusters', 'templates',
                                              'stacks') for n in now[k]):
            self._cleanup('magnum-cern-selftest --rehearsal-state-dir %s '
                          'cleanup --run-id %s' % (self.reh.state_dir,
                                                   self.run_id))

    # -- what the services hold ---------------------------------------------
    def _stacks(self):
        # A stack Heat just deleted may still be listed as DELETE_COMPLETE.
        return {s.stack_name for s in self.heat.stacks.list()
                if s.stack_status != 'DELETE_COMPLETE'}

    def _inventory(self):
        return {
            'clusters': {c.name for c in self.magnum.clusters.list()},
            'templates': {t.name
                          for t in self.magnum.cluster_templates.list()},
            'stacks': self._stacks(),
            'app_creds': self.app_cred_names(),
        }

    def _new_since_before(self):
        now = self._inventory()
        return {k: sorted(now[k] - self.before[k]) for k in now
                if now[k] - self.before[k]}

    def assertNothingLeft(self, run_id, cluster_uuids):
        prefix = 'mcst-%s-' % run_id
        now = self._inventory()
        of_run = {k: sorted(n for n in v if n.startswith(prefix))
                  for k, v in now.items() if k != 'app_creds'}
        of_run['app_creds'] = sorted(
            n for n in now['app_creds']
            if any(n.startswith('magnum-%s' % u) for u in cluster_uuids))
        self.assertEqual({'clusters': [], 'templates': [], 'stacks': [],
                          'app_creds': []}, of_run)
        self.assertEqual({}, self._new_since_before())

    # -- the run ------------------------------------------------------------
    def _start(self, sizes, concurrency, fleet=None):
        out = open(os.path.join(self.workdir, 'run.out'), 'w+')
        err = open(os.path.join(self.workdir, 'run.err'), 'w+')
        self.addCleanup(out.close)
        self.addCleanup(err.close)
        cmd = base.selftest_command(
            'run', '--rehearsal-state-dir', self.reh.state_dir,
            '--journal-dir', self.journal_dir,
            '--output-dir', os.path.join(self.workdir, 'reports'),
            '--concurrency', str(concurrency), '--skip-load',
            *(('--fleet', str(fleet), '--size', sizes) if fleet else
              ('--sizes', sizes)))
        proc = subprocess.Popen(cmd, stdout=out, stderr=err,
                                env=base.selftest_env(), cwd=self.workdir)
        self.addCleanup(self._reap, proc)
        return proc, err

    @staticmethod
    def _reap(proc):
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    def _journal_path(self):
        paths = glob.glob(os.path.join(self.journal_dir, '*.jsonl'))
        return paths[0] if len(paths) == 1 else None

    def _records(self, path):
        """Every record ever written (the journal also forgets)."""
        recs = []
        with open(path) as f:
            for line in f:
                try:
                    recs.append(json.loads(line))
                except ValueError:
                    pass
        return recs

    def _clusters(self, path):
        """``{name: meta}`` of every cluster the run journaled."""
        found = {}
        for rec in self._records(path):
            if rec.get('op') == 'record' and rec.get('kind') == 'cluster':
                found.setdefault(rec['name'], {}).update(rec.get('meta')
                                                         or {})
        return found

    def _wait_journal(self, check, what):
        def ready():
            path = self._journal_path()
            if path:
                self.run_id = os.path.basename(path)[:-len('.jsonl')]
            return path if path and check(self._clusters(path)) else None
        return base.wait_for(ready, EVENT_TIMEOUT, interval=0.05, what=what)

    def _wait_building(self, count):
        """Until ``count`` clusters have Heat stacks being built."""
        def building(clusters):
            with_stack = [c for c in clusters.values() if c.get('stack_id')]
            return len(with_stack) >= count
        path = self._wait_journal(building, '%d stacks' % count)
        names = set(self._clusters(path))

        def in_progress():
            status = {c.name: c.status for c in self.magnum.clusters.list()}
            return all(status.get(n) == 'CREATE_IN_PROGRESS' for n in names)
        base.wait_for(in_progress, EVENT_TIMEOUT, what='clusters building')
        return path

    def _finish(self, proc, timeout=RUN_TIMEOUT):
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.fail('self-test run did not end within %ds' % timeout)

    def _cleanup(self, command):
        argv = shlex.split(command)
        self.assertEqual('magnum-cern-selftest', argv[0])
        done = subprocess.run(base.selftest_command(*argv[1:]),
                              capture_output=True, text=True,
                              env=base.selftest_env(),
                              timeout=CLEANUP_TIMEOUT, cwd=self.workdir)
        self.addDetail('cleanup_output', _text(done.stdout + done.stderr))
        return done

    def _printed_cleanup(self, err):
        err.seek(0)
        text = err.read()
        self.addDetail('run_stderr', _text(text))
        found = CLEANUP_COMMAND.findall(text)
        self.assertTrue(found, 'the run printed no cleanup command')
        return found[-1].strip()

    # -- the tests ------------------------------------------------------------
    def test_sigint_during_creates_deletes_everything(self):
        # Interrupt as soon as the first create is journaled: the run must
        # stop creating, delete what it made, and say nothing is left. The
        # creates of one batch are in flight together (issue 15), so a
        # fleet of 12, 3 at a time: the 9 waiting are never requested.
        proc, err = self._start('2', 3, fleet=12)
        path = self._wait_journal(lambda cs: len(cs) >= 1, 'first create')
        proc.send_signal(signal.SIGINT)
        code = self._finish(proc)
        command = self._printed_cleanup(err)
        run_id = os.path.basename(path)[:-len('.jsonl')]
        clusters = self._clusters(path)
        self.assertLessEqual(len(clusters), 3, 'the run kept creating')
        # Interrupted, cleaned: an error (1), not "left behind" (5).
        self.assertEqual(exitcodes.ERROR, code)
        self.assertNothingLeft(run_id, _uuids(clusters))
        # The cleanup the run printed has nothing to do.
        done = self._cleanup(command + ' --journal-dir %s'
                             % self.journal_dir)
        self.assertEqual(0, done.returncode)
        self.assertNothingLeft(run_id, _uuids(clusters))

    def test_sigterm_while_waiting_stops_the_climb(self):
        # Two sizes; SIGTERM while size 2's clusters are being built: no
        # cluster of size 3 is ever created, and everything is deleted.
        proc, err = self._start('2,3', 2)
        path = self._wait_building(2)
        self.assertNotEqual({}, self._new_since_before())
        proc.send_signal(signal.SIGTERM)
        code = self._finish(proc)
        self._printed_cleanup(err)
        run_id = os.path.basename(path)[:-len('.jsonl')]
        clusters = self._clusters(path)
        self.assertEqual(2, len(clusters))
        self.assertEqual([2, 2], [c['size'] for c in clusters.values()])
        self.assertEqual(exitcodes.ERROR, code)
        self.assertNothingLeft(run_id, _uuids(clusters))

    def test_second_signal_exits_then_cleanup_from_journal(self):
        # SIGINT while building, SIGINT again as the deletes start: the run
        # exits at once leaving clusters behind (exit 5) and prints the
        # cleanup command; that command, run as printed, removes the rest.
        proc, err = self._start('2', 2)
        path = self._wait_building(2)
        run_id = os.path.basename(path)[:-len('.jsonl')]
        proc.send_signal(signal.SIGINT)
        base.wait_for(lambda: 'deleting everything' in _read(err), 30,
                      interval=0.05, what='first signal handled')
        proc.send_signal(signal.SIGINT)
        code = self._finish(proc, timeout=60)
        self.assertEqual(exitcodes.LEFTOVERS, code)
        command = self._printed_cleanup(err)
        self.assertIn(run_id, command)
        clusters = self._clusters(path)
        left = self._new_since_before()
        self.assertIn('clusters', left, 'nothing was left to clean up')
        done = self._cleanup(command + ' --journal-dir %s'
                             % self.journal_dir)
        self.assertEqual(0, done.returncode, done.stdout + done.stderr)
        self.assertNothingLeft(run_id, _uuids(clusters))

    def test_killed_run_lost_journal_cleanup_by_name(self):
        # The worst case: the run is killed outright (no handler runs) and
        # its journal is lost (another machine). Cleanup finds everything
        # by the run id in the names alone.
        proc, err = self._start('2', 2)
        path = self._wait_building(2)
        run_id = os.path.basename(path)[:-len('.jsonl')]
        proc.send_signal(signal.SIGKILL)
        self._finish(proc, timeout=60)
        clusters = self._clusters(path)
        os.unlink(path)
        self.assertIn('clusters', self._new_since_before())
        done = self._cleanup('magnum-cern-selftest --rehearsal-state-dir %s '
                             'cleanup --run-id %s --journal-dir %s'
                             % (self.reh.state_dir, run_id,
                                self.journal_dir))
        self.assertEqual(0, done.returncode, done.stdout + done.stderr)
        self.assertNothingLeft(run_id, _uuids(clusters))


def _uuids(clusters):
    return [c['uuid'] for c in clusters.values() if c.get('uuid')]


def _read(stream):
    stream.flush()
    stream.seek(0)
    return stream.read()


def _text(value):
    from testtools import content
    return content.text_content(value)
