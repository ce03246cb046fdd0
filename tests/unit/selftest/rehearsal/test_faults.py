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
"""Fault commands: kill (a worker), stop, start, restart by recorded pids.

The service here is a small real process tree shaped like heat-engine: a
parent that listens on a port and keeps two worker children, respawning
one that dies. The rehearsal's own services are exercised in
tests/functional/test_rehearsal.py.
"""

import argparse
import os
import socket
import sys
import time

import fixtures
import testtools

from magnum_cern_driver.selftest import rehearsal
from magnum_cern_driver.selftest.rehearsal import cli
from magnum_cern_driver.selftest.rehearsal import core
from magnum_cern_driver.selftest.rehearsal import procs
from magnum_cern_driver.selftest.rehearsal import services

# A parent with a listening port and two respawned workers; SIGTERM
# stops the workers and the parent.
LAUNCHER = '''
import signal, socket, subprocess, sys, time
sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(('127.0.0.1', int(sys.argv[1])))
sock.listen()
workers = [None, None]

def term(*args):
    for w in workers:
        if w is not None:
            w.terminate()
            w.wait()
    sys.exit(0)

signal.signal(signal.SIGTERM, term)
while True:
    for i, w in enumerate(workers):
        if w is None or w.poll() is not None:
            workers[i] = subprocess.Popen(
                [sys.executable, '-c', 'import time; time.sleep(120)'])
    time.sleep(0.05)
'''


def _free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _until(check, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError('condition not met in %s s' % timeout)


class TestPureParts(testtools.TestCase):

    def test_order_oldest_first(self):
        self.assertEqual([30, 10, 20], procs.order_oldest_first(
            [(10, 500), (20, 500), (30, 100), (40, None)]))

    def test_pick_worker(self):
        self.assertEqual(11, procs.pick_worker('heat-engine', [10, 11], 1))
        e = self.assertRaises(IndexError, procs.pick_worker, 'heat-engine',
                              [10, 11], 2)
        self.assertIn('heat-engine has 2 worker(s): --worker must be 0..1',
                      str(e))
        self.assertIn('10, 11', str(e))
        e = self.assertRaises(IndexError, procs.pick_worker, 'epmd', [], 0)
        self.assertIn('no worker processes', str(e))

    def test_service_names_match_the_plan(self):
        from tests.unit.selftest.rehearsal import test_rehearsal_pure
        layout = test_rehearsal_pure._layout()
        self.assertEqual(list(services.SERVICE_NAMES),
                         [s.name for s in services.plan(layout)])

    def test_cli_parses_the_fault_commands(self):
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers(dest='command')
        cli.add_parser(sub)
        args = parser.parse_args(['rehearsal', 'kill', 'heat-engine',
                                  '--worker', '1'])
        self.assertEqual(('heat-engine', 1), (args.service, args.worker))
        self.assertIs(cli.cmd_kill, args.func)
        for cmd in ('restart', 'stop', 'start'):
            args = parser.parse_args(['rehearsal', cmd, 'heat-api'])
            self.assertEqual(cmd, args.rehearsal_command)
            self.assertIs(cli.cmd_fault, args.func)
        err = self.useFixture(fixtures.StringStream('stderr')).stream
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', err))
        self.assertRaises(SystemExit, parser.parse_args,
                          ['rehearsal', 'kill', 'heat-enigne'])
        err.seek(0)
        text = err.read()
        self.assertIn("invalid choice: 'heat-enigne'", text)
        self.assertIn('magnum-conductor', text)
        self.assertRaises(argparse.ArgumentTypeError, cli._worker_index,
                          '-1')
        self.assertRaises(argparse.ArgumentTypeError, cli._worker_index,
                          'x')

    def test_commands_on_a_rehearsal_that_is_not_up(self):
        d = self.useFixture(fixtures.TempDir()).path
        err = self.useFixture(fixtures.StringStream('stderr')).stream
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', err))
        parser = argparse.ArgumentParser()
        cli.add_parser(parser.add_subparsers(dest='command'))
        for argv in (['kill', 'heat-engine'], ['restart', 'heat-api'],
                     ['stop', 'heat-api'], ['start', 'heat-api']):
            args = parser.parse_args(['rehearsal', '--state-dir', d] + argv)
            self.assertEqual(cli.EXIT_NOT_UP, args.func(args), argv)
        err.seek(0)
        self.assertIn('is not up (run: magnum-cern-selftest rehearsal up)',
                      err.read())
        reh = rehearsal.get(d, out=None)
        e = self.assertRaises(core.FaultError, reh.kill_service, 'nova')
        self.assertIn('unknown service', str(e))
        self.assertIn('heat-engine', str(e))
        self.assertFalse(e.not_up)


class TestFaultsOnAProcessTree(testtools.TestCase):
    """kill / stop / start / restart on a real heat-engine-like tree."""

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path
        os.makedirs(os.path.join(self.dir, 'logs'))
        self.port = _free_port()
        svc = services.Service(
            'fake', [sys.executable, '-c', LAUNCHER, str(self.port)],
            ('tcp', self.port), timeout=10, grace=2, ports=(self.port,))
        self.useFixture(fixtures.MonkeyPatch(
            'magnum_cern_driver.selftest.rehearsal.services.plan',
            lambda layout: [svc]))
        self.useFixture(fixtures.MonkeyPatch(
            'magnum_cern_driver.selftest.rehearsal.services.SERVICE_NAMES',
            ('fake',)))
        self.reh = rehearsal.get(self.dir, out=None)
        self.reh.state.ports['fake'] = self.port
        self.reh._start(svc)
        self.reh._wait(svc, None, time.monotonic())
        self.addCleanup(self.reh.down)
        self.workers = _until(lambda: len(self.reh.workers('fake')) == 2 and
                              self.reh.workers('fake'))

    def _family(self):
        pid = self.reh.pids()['fake']
        return {p: procs.start_time(p)
                for p in [pid] + procs.descendants(pid)}

    def test_kill_a_worker_the_parent_respawns_it(self):
        first, second = self.workers
        done = self.reh.kill_service('fake', worker=0)
        self.assertEqual({'service': 'fake', 'pid': first, 'worker': 0},
                         done)
        self.assertFalse(procs.alive(first))
        now = _until(lambda: len(self.reh.workers('fake')) == 2 and
                     self.reh.workers('fake'))
        # The survivor is now worker 0; the new one is the last.
        self.assertEqual(second, now[0])
        self.assertNotIn(first, now)
        self.assertTrue(self.reh.status()['fake']['answers'])
        self.assertEqual(now, self.reh.status()['fake']['workers'])

    def test_worker_out_of_range(self):
        e = self.assertRaises(core.FaultError, self.reh.kill_service,
                              'fake', worker=2)
        self.assertIn('fake has 2 worker(s): --worker must be 0..1',
                      str(e))
        self.assertEqual(self.workers, self.reh.workers('fake'))

    def test_kill_main_then_start_leaves_no_orphan(self):
        family = self._family()
        old = self.reh.pids()['fake']
        self.reh.kill_service('fake')
        self.assertFalse(procs.alive(old))
        self.assertFalse(self.reh.status()['fake']['running'])
        e = self.assertRaises(core.FaultError, self.reh.kill_service, 'fake')
        self.assertTrue(e.not_up)
        new = self.reh.start_service('fake')
        self.assertNotEqual(old, new)
        for pid, started in family.items():
            self.assertFalse(procs.alive(pid, started), pid)
        self.assertTrue(self.reh.status()['fake']['answers'])

    def test_restart_records_the_new_pid(self):
        family = self._family()
        old, new = self.reh.restart_service('fake')
        self.assertEqual(family and min(family), old)
        self.assertNotEqual(old, new)
        self.assertEqual(new, self.reh.pids()['fake'])
        self.assertEqual(new, rehearsal.get(self.dir).pids()['fake'])
        st = self.reh.status()['fake']
        self.assertEqual((True, True, new),
                         (st['running'], st['answers'], st['pid']))
        for pid, started in family.items():
            self.assertFalse(procs.alive(pid, started), pid)

    def test_stop_then_start(self):
        family = self._family()
        self.assertEqual(self.reh.pids()['fake'], self.reh.stop_service(
            'fake'))
        self.assertEqual([], procs.listening_ports([self.port]))
        st = self.reh.status()['fake']
        self.assertEqual((False, []), (st['running'], st['workers']))
        self.assertIsNone(self.reh.stop_service('fake'))
        for pid, started in family.items():
            self.assertFalse(procs.alive(pid, started), pid)
        pid = self.reh.start_service('fake')
        self.assertEqual([self.port], procs.listening_ports([self.port]))
        self.assertEqual(pid, self.reh.start_service('fake'))

    def test_down_stops_what_a_killed_parent_left(self):
        family = self._family()
        self.reh.kill_service('fake')
        self.reh.down()
        for pid, started in family.items():
            self.assertFalse(procs.alive(pid, started), pid)
