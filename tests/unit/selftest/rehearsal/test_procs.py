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
"""Process handling: recorded pids, groups, descendants, SIGKILL."""

import argparse
import os
import shutil
import socket
import sys
import tempfile
import time

import fixtures
import testtools

from magnum_cern_driver.selftest import rehearsal
from magnum_cern_driver.selftest.rehearsal import cli
from magnum_cern_driver.selftest.rehearsal import procs
from magnum_cern_driver.selftest.rehearsal import standin_config as sc
from magnum_cern_driver.selftest.rehearsal import state as state_mod

# A parent that ignores SIGTERM (like Magnum's conductor) with a child that
# left its process group (like Erlang's helpers).
STUBBORN = '''
import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],
                 start_new_session=True)
print('ready', flush=True)
time.sleep(60)
'''

# A parent with a child holding 64 MiB of resident memory.
HOLDER = '''
import subprocess, sys, time
subprocess.Popen([sys.executable, '-c', 'import time\\n'
                  'b = bytes(range(256)) * (1 << 18)\\n'
                  'print("ready", flush=True)\\n'
                  'time.sleep(60)'])
time.sleep(60)
'''


class TestProcs(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp()
        self.log = os.path.join(self.dir, 'svc.log')

    def _wait_ready(self):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with open(self.log) as f:
                if 'ready' in f.read():
                    return
            time.sleep(0.05)
        self.fail('child never got ready')

    def test_stop_kills_group_and_descendants(self):
        proc = procs.start([sys.executable, '-c', STUBBORN], self.log)
        self.addCleanup(proc.wait)
        started = procs.start_time(proc.pid)
        self._wait_ready()
        family = [proc.pid] + procs.descendants(proc.pid)
        self.assertEqual(2, len(family))
        times = {p: procs.start_time(p) for p in family}
        killed = procs.stop(proc.pid, started, grace=0.5)
        self.assertTrue(killed)
        proc.wait()
        for pid, t in times.items():
            self.assertFalse(procs.alive(pid, t), pid)

    def _holder(self):
        """A parent whose child holds 64 MiB; returns (parent, started)."""
        proc = procs.start([sys.executable, '-c', HOLDER], self.log)
        started = procs.start_time(proc.pid)
        self.addCleanup(proc.wait)
        self.addCleanup(procs.stop, proc.pid, started, 2)
        self._wait_ready()
        return proc, started

    def test_family_rss_counts_the_children(self):
        proc, _started = self._holder()
        alone = procs.rss_kib(proc.pid)
        self.assertGreater(alone, 0)
        family = procs.family_rss_kib(proc.pid)
        # The child's 64 MiB (and its own interpreter) are counted.
        self.assertGreater(family - alone, 64 * 1024)
        self.assertEqual(0, procs.rss_kib(2 ** 22 + 1))  # above pid_max

    def test_rehearsal_memory_counts_only_its_live_services(self):
        proc, started = self._holder()
        st = state_mod.State(self.dir)
        st.processes.update({
            'heat-engine': {'pid': proc.pid, 'started': started},
            # A recorded pid now used by another process is not ours.
            'glance': {'pid': proc.pid, 'started': started + 1},
        })
        st.save()
        memory = rehearsal.get(self.dir, out=None).memory_mib()
        self.assertEqual(['heat-engine'], list(memory))
        self.assertGreater(memory['heat-engine'], 64)

    def test_alive_checks_start_time(self):
        proc = procs.start([sys.executable, '-c',
                            'import time; time.sleep(30)'], self.log)
        self.addCleanup(proc.wait)
        started = procs.start_time(proc.pid)
        self.assertTrue(procs.alive(proc.pid, started))
        self.assertFalse(procs.alive(proc.pid, started + 1))
        self.assertFalse(procs.stop(proc.pid, started + 1, grace=0.1))
        self.assertFalse(procs.stop(proc.pid, started, grace=5))
        proc.wait()
        self.assertFalse(procs.alive(proc.pid, started))

    def test_child_env_drops_credentials(self):
        self.useFixture(__import__('fixtures').EnvironmentVariable(
            'OS_PASSWORD', 'x'))
        env = procs.child_env({'A': 'b'})
        self.assertNotIn('OS_PASSWORD', env)
        self.assertEqual('b', env['A'])

    def test_listening_ports(self):
        sock = socket.socket()
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
        self.assertEqual([], procs.listening_ports([port]))
        sock.listen()
        self.addCleanup(sock.close)
        self.assertEqual([port], procs.listening_ports([port, 1]))

    def test_service_error_names_service_and_tails_log(self):
        with open(self.log, 'w') as f:
            f.write(''.join('line %d\n' % i for i in range(100)))
        err = procs.ServiceError('heat-engine', 'exited during start-up',
                                 self.log, lines=3)
        self.assertTrue(str(err).startswith(
            'heat-engine: exited during start-up'))
        self.assertIn('line 99', str(err))
        self.assertNotIn('line 96', str(err))


class TestServiceError(testtools.TestCase):

    def test_log_tail_is_redacted(self):
        d = self.useFixture(fixtures.TempDir()).path
        log = os.path.join(d, 'svc.log')
        with open(log, 'w') as f:
            f.write('connecting to mysql://heat:pw-0123456789@127.0.0.1\n')
        e = procs.ServiceError('heat', 'exited', log,
                               redact=lambda t: t.replace('pw-0123456789',
                                                          '***'))
        self.assertNotIn('pw-0123456789', str(e))
        self.assertIn('mysql://heat:***@127.0.0.1', str(e))


class TestCli(testtools.TestCase):

    def _parse(self, *argv):
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers(dest='command')
        cli.add_parser(sub)
        return parser.parse_args(['rehearsal'] + list(argv))

    def test_subcommands(self):
        for cmd in ('up', 'down', 'status', 'logs'):
            args = self._parse('--state-dir', '/x', cmd)
            self.assertTrue(callable(args.func))
            self.assertEqual('/x', args.state_dir)

    def test_up_options(self):
        args = self._parse('up', '--boot-delay', 'uniform:20:40',
                           '--failure-rate', '0.1',
                           '--max-resources-per-stack', '-1')
        self.assertEqual({'dist': 'uniform', 'min': 20.0, 'max': 40.0},
                         args.boot_delay)
        self.assertEqual(0.1, args.failure_rate)
        self.assertEqual(-1, args.max_resources_per_stack)
        self.assertIsNone(args.worker_shard_size)
        args = self._parse('up', '--worker-shard-size', '25')
        self.assertEqual(25, args.worker_shard_size)
        for bad in ('0', '501', 'x'):
            self.assertRaises(argparse.ArgumentTypeError, cli._shard_size,
                              bad)

    def test_standins_quotas(self):
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d)
        out = self.useFixture(fixtures.StringStream('stdout')).stream
        self.useFixture(fixtures.MonkeyPatch('sys.stdout', out))
        args = self._parse('--state-dir', d, 'standins', '--quota',
                           'instances=40', '--quota', 'port=-1')
        self.assertEqual(0, args.func(args))
        path = rehearsal.get(d, out=None).layout.standin_config
        self.assertEqual({'instances': 40, 'port': -1}, sc.quota_limits(path))
        args = self._parse('--state-dir', d, 'standins', '--default-quotas')
        self.assertEqual(0, args.func(args))
        self.assertEqual({}, sc.quota_limits(path))

    def test_down_of_a_rehearsal_that_never_came_up(self):
        # tox calls down before the tests; there may be nothing yet.
        d = os.path.join(tempfile.mkdtemp(), 'never')
        args = self._parse('--state-dir', d, 'down')
        self.useFixture(fixtures.MonkeyPatch(
            'sys.stdout', self.useFixture(
                fixtures.StringStream('stdout')).stream))
        self.assertEqual(0, args.func(args))
        self.assertFalse(os.path.exists(os.path.join(d, 'state.json')))

    def test_bad_quota(self):
        for bad in ('instances', 'instance=3', 'cores=-2', 'ram=lots'):
            self.assertRaises(argparse.ArgumentTypeError, cli._quota, bad)
        self.assertEqual(('cores', -1), cli._quota('cores=-1'))

    def test_delay_forms(self):
        self.assertEqual(5.0, cli._delay('5'))
        self.assertEqual({'dist': 'normal', 'mean': 30.0, 'stddev': 5.0},
                         cli._delay('normal:30:5'))
        self.assertEqual({'dist': 'fixed', 'value': 1},
                         cli._delay('{"dist": "fixed", "value": 1}'))
        self.assertRaises(argparse.ArgumentTypeError, cli._delay, 'zipf:1')

    def test_status_of_nothing(self):
        d = tempfile.mkdtemp()
        args = self._parse('--state-dir', os.path.join(d, 'none'),
                           'status')
        self.assertEqual(cli.EXIT_NOT_UP, args.func(args))
