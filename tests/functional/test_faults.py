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
"""Faults on the rehearsal's real control plane, made with its fault
commands (by recorded PIDs): a heat-engine worker killed mid-create, the
Magnum conductor killed and restarted, the Heat API down for a minute.

The operator must hear about each within minutes, and nothing may be left
behind. Measured times are appended to ``fault-times.jsonl`` in the
functional directory (quoted in docs/benchmarks.md).
"""

import datetime
import json
import os
import subprocess
import time
import uuid

import fixtures

from magnum_cern_driver.selftest import exitcodes
from magnum_cern_driver.selftest.rehearsal import configs
from magnum_cern_driver import status
from tests.functional import base

BOOT_DELAY = 30.0
CREATE_TIMEOUT = 300
DELETE_TIMEOUT = 300
POLL_PERIOD = 10            # Magnum's sync_cluster_status spacing
HEAT_API_OUTAGE = 60
# From the stall report to the self-test's exit: its next round (10 s),
# then deleting the stalled cluster and its template.
SELFTEST_END = 300


class TestFaults(base.RehearsalTestCase):

    def setUp(self):
        super().setUp()
        self.reh.configure_standins(boot_delay=BOOT_DELAY)
        self.addCleanup(self.reh.configure_standins, boot_delay=0.0)

    # -- helpers ------------------------------------------------------------
    def _record(self, **numbers):
        numbers['test'] = self.id().rsplit('.', 1)[-1]
        path = os.path.join(base.functional_dir(), 'fault-times.jsonl')
        with open(path, 'a') as f:
            f.write(json.dumps(numbers, sort_keys=True) + '\n')

    def _cluster(self, workers):
        ct = self.make_template('fault-ct-%s' % uuid.uuid4().hex[:8])
        cluster = self.magnum.clusters.create(
            name='fault-%s' % uuid.uuid4().hex[:8],
            cluster_template_id=ct.uuid, master_count=1, node_count=workers)
        self.addCleanup(self._delete_and_check, cluster.uuid)
        return cluster

    def _stack_id(self, uuid_):
        """The cluster's stack id once the conductor saved it."""
        def saved():
            c = self.cluster_or_none(uuid_)
            return c.stack_id if c is not None else None
        return base.wait_for(saved, 120, interval=0.5, what='stack id')

    def _delete_and_check(self, uuid_):
        """Delete the cluster; nothing of it may stay in Heat or Keystone."""
        c = self.cluster_or_none(uuid_)
        if c is None:
            return
        stack_id = c.stack_id
        self.delete_cluster(uuid_, DELETE_TIMEOUT)

        if stack_id:
            self.wait_stack_gone(stack_id, 120)
        self.assertEqual([], sorted(n for n in self.app_cred_names()
                                    if n.startswith('magnum-%s' % uuid_)))

    def _ensure_running(self, service):
        self.addCleanup(self.reh.start_service, service)

    def _inventory(self):
        """Names of what the member user has in Magnum, Heat, Keystone."""
        stacks = {s.stack_name for s in self.heat.stacks.list()
                  if s.stack_status != 'DELETE_COMPLETE'}
        return {'clusters': {c.name for c in self.magnum.clusters.list()},
                'templates': {t.name for t in
                              self.magnum.cluster_templates.list()},
                'stacks': stacks, 'app_creds': self.app_cred_names()}

    @staticmethod
    def _reap(proc):
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    @staticmethod
    def _output(stream):
        stream.flush()
        stream.seek(0)
        return stream.read()[-4000:]

    # -- tests --------------------------------------------------------------
    def test_killed_engine_worker_is_reported_stalled(self):
        """A killed engine worker, through the self-test.

        The driver's poll reports the stall; the self-test ends the size
        early as 'stalled', exits 2 (timeout) and deletes what it made.
        """
        work = self.useFixture(fixtures.TempDir()).path
        before = self._inventory()
        out = open(os.path.join(work, 'run.out'), 'w+')
        self.addCleanup(out.close)
        # One size of 16 workers (17 servers, BOOT_DELAY each), so that
        # each engine worker is busy with some when one of them dies.
        proc = subprocess.Popen(
            base.selftest_command(
                'run', '--rehearsal-state-dir', self.reh.state_dir,
                '--journal-dir', os.path.join(work, 'journals'),
                '--output-dir', os.path.join(work, 'reports'),
                '--sizes', '16', '--concurrency', '1', '--skip-load'),
            stdout=out, stderr=subprocess.STDOUT, env=base.selftest_env(),
            cwd=work)
        self.addCleanup(self._reap, proc)

        def run_cluster():
            for c in self.magnum.clusters.list():
                if c.name.startswith('mcst-') and c.stack_id and \
                        c.name not in before['clusters']:
                    return c
            return None
        cluster = base.wait_for(run_cluster, 180, interval=1,
                                what='the self-test cluster and its stack')

        def servers_busy():
            busy = self.heat.resources.list(
                cluster.stack_id, nested_depth=5,
                filters={'status': 'IN_PROGRESS'})
            return sum(1 for r in busy
                       if r.resource_type == 'OS::Nova::Server') >= 8
        base.wait_for(servers_busy, 120, interval=0.5,
                      what='servers being created')
        self.assertGreaterEqual(len(self.reh.workers('heat-engine')), 2)
        killed_at = time.time()
        self.reh.kill_service('heat-engine', worker=0)

        def stalled():
            c = self.cluster_or_none(cluster.uuid)
            if c is None:
                self.fail('cluster deleted before the stall was seen: %s'
                          % self._output(out))
            return c if status.is_stalled(c.status_reason) else None
        bound = (configs.REHEARSAL_STALL_AFTER
                 + configs.REHEARSAL_STALL_CHECK_INTERVAL
                 + BOOT_DELAY + 2 * POLL_PERIOD + 30)
        c = base.wait_for(stalled, bound, interval=1,
                          what='the stall to be reported')
        reported_at = time.time()
        self.assertEqual('CREATE_IN_PROGRESS', c.status)
        self.assertIn('OS::Nova::Server', c.status_reason)
        self.assertIn('heat-engine', c.status_reason)
        since = c.status_reason.split('since ', 1)[1].split(')', 1)[0]
        since = datetime.datetime.strptime(
            since, '%Y-%m-%dT%H:%M:%SZ').replace(
                tzinfo=datetime.timezone.utc).timestamp()
        # Reported within stall_after + one poll of the moment the poll
        # first saw the set unchanged.
        self.assertLessEqual(reported_at - since,
                             configs.REHEARSAL_STALL_AFTER + POLL_PERIOD + 5)

        # The self-test: verdict, early end, exit 2, nothing left.
        rc = proc.wait(timeout=SELFTEST_END)
        ended_at = time.time()
        self._record(kill_to_report=round(reported_at - killed_at, 1),
                     unchanged_to_report=round(reported_at - since, 1),
                     report_to_selftest_exit=round(ended_at - reported_at,
                                                   1),
                     stall_after=configs.REHEARSAL_STALL_AFTER,
                     check_interval=configs.REHEARSAL_STALL_CHECK_INTERVAL)
        self.assertEqual(exitcodes.TIMEOUT, rc, self._output(out))
        with open(os.path.join(work, 'reports', 'result.json')) as f:
            doc = json.load(f)
        size = doc['sizes'][0]
        self.assertEqual('stalled', size['status'])
        (result,) = [r for r in size['results'] if r['name'] == c.name]
        self.assertEqual('stalled', result['outcome'])
        self.assertIn('OS::Nova::Server', result['status_reason'])
        self.assertIsNone(self.cluster_or_none(cluster.uuid))
        now = self._inventory()
        self.assertEqual({k: [] for k in now},
                         {k: sorted(now[k] - before[k]) for k in now})

    def test_conductor_killed_mid_create_and_restarted(self):
        cluster = self._cluster(workers=2)
        self._stack_id(cluster.uuid)
        self._ensure_running('magnum-conductor')
        self.reh.kill_service('magnum-conductor')
        time.sleep(5)
        started = time.time()
        self.reh.start_service('magnum-conductor')
        c = self.wait_settled(cluster.uuid, CREATE_TIMEOUT)
        self._record(restart_to_settled=round(time.time() - started, 1))
        # The stack went on without the conductor; the poll resumed.
        self.assertEqual('CREATE_COMPLETE', c.status, c.status_reason)
        self.assertTrue(c.api_address)

    def test_heat_api_down_during_polls(self):
        cluster = self._cluster(workers=2)
        self._stack_id(cluster.uuid)
        self._ensure_running('heat-api')
        self.reh.stop_service('heat-api')
        down_at = time.time()

        def unreachable():
            c = self.cluster_or_none(cluster.uuid)
            return c if 'Heat unreachable' in (c.status_reason or '') \
                else None
        c = base.wait_for(unreachable, 3 * POLL_PERIOD, interval=1,
                          what='the poll to report Heat unreachable')
        noticed = time.time() - down_at
        self.assertEqual('CREATE_IN_PROGRESS', c.status)
        time.sleep(max(0.0, HEAT_API_OUTAGE - (time.time() - down_at)))
        self.reh.start_service('heat-api')
        back_at = time.time()
        c = self.wait_settled(cluster.uuid, CREATE_TIMEOUT)
        self._record(outage_noticed=round(noticed, 1),
                     back_to_settled=round(time.time() - back_at, 1))
        self.assertEqual('CREATE_COMPLETE', c.status, c.status_reason)
        # The conductor's poll never raised: Magnum's periodic task logs
        # such errors as "Ignore error"; ours are recorded, not raised.
        log = os.path.join(self.reh.state_dir, 'logs',
                           'magnum-conductor.log')
        if os.path.exists(log):
            with open(log, errors='replace') as f:
                text = f.read()
            self.assertNotIn('status poll failed', text)
