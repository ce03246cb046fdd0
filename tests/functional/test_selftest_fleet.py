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
"""A fleet of clusters through the self-test, on the rehearsal.

``magnum-cern-selftest --fleet 30 --size 1 --concurrency 10
--fixed-network private`` (a real subprocess) builds 30 one-worker
clusters on the rehearsal's shared network, 10 in flight at a time; all
must reach CREATE_COMPLETE, and after the run Magnum, Heat and Keystone
are asked directly whether anything of it is left (by the run's names,
and against a snapshot taken before the run).

The 1000-cluster fleet (``--reference cncf``) is a benchmark, not a test
(docs/benchmarks.md).
"""

import json
import os
import subprocess
import time

import fixtures
from testtools import content

from magnum_cern_driver.selftest import exitcodes
from tests.functional import base

CLUSTERS = 30
CONCURRENCY = 10
# The whole run (30 creates, 30 deletes). Its time is recorded (detail
# run_seconds; docs/benchmarks.md), not asserted: on a shared 2-core
# machine it depends on the neighbours.
RUN_TIMEOUT = 900


class TestFleet(base.RehearsalTestCase):

    def setUp(self):
        super().setUp()
        self.workdir = self.useFixture(fixtures.TempDir()).path
        self.journal_dir = os.path.join(self.workdir, 'journals')
        self.before = self._inventory()

    def _inventory(self):
        stacks = {s.stack_name for s in self.heat.stacks.list()
                  if s.stack_status != 'DELETE_COMPLETE'}
        return {'clusters': {c.name for c in self.magnum.clusters.list()},
                'templates': {t.name
                              for t in self.magnum.cluster_templates.list()},
                'stacks': stacks,
                'app_creds': self.app_cred_names()}

    def test_fleet_of_30_built_at_concurrency_10_and_nothing_left(self):
        out = os.path.join(self.workdir, 'reports')
        cmd = base.selftest_command(
            'run', '--rehearsal-state-dir', self.reh.state_dir,
            '--journal-dir', self.journal_dir, '--output-dir', out,
            '--fleet', str(CLUSTERS), '--size', '1',
            '--concurrency', str(CONCURRENCY),
            '--fixed-network', 'private', '--skip-load')
        start = time.monotonic()
        done = subprocess.run(cmd, capture_output=True, text=True,
                              env=base.selftest_env(), cwd=self.workdir,
                              timeout=RUN_TIMEOUT)
        elapsed = time.monotonic() - start
        self.addDetail('run_output', content.text_content(
            done.stdout + done.stderr))
        self.addDetail('run_seconds', content.text_content(
            '%.1f' % elapsed))
        self.assertEqual(exitcodes.OK, done.returncode)
        with open(os.path.join(out, 'result.json')) as f:
            doc = json.load(f)
        size, = doc['sizes']
        results = size['results']
        self.assertEqual(CLUSTERS, len(results))
        self.assertEqual(CLUSTERS, len({r['name'] for r in results}))
        self.assertEqual([('pass', 'CREATE_COMPLETE')] * CLUSTERS,
                         [(r['outcome'], r['status']) for r in results])
        self.assertEqual('private', doc['options']['fixed_network'])
        # The first 10 were asked for together, and never more than 10
        # were in flight.
        sub = size['summary']['submission']
        self.assertEqual(CONCURRENCY, sub['batch'])
        self.assertLess(sub['first_batch_seconds'], 10.0)
        self.assertEqual(CONCURRENCY, _peak_in_flight(results))
        # The progress was a count line, not a line per cluster.
        self.assertIn('fleet 1x30 c10: 30 complete, 0 building, 0 failed, '
                      '0 waiting', done.stderr)
        self.assertNotIn(' REQUESTED\n', done.stderr)
        # Nothing of the run is left in Magnum, Heat or Keystone.
        prefix = 'mcst-%s-' % doc['run_id']
        now = self._inventory()
        uuids = [r['uuid'] for r in results]
        of_run = {k: sorted(n for n in v if n.startswith(prefix))
                  for k, v in now.items() if k != 'app_creds'}
        of_run['app_creds'] = sorted(
            n for n in now['app_creds']
            if any(n.startswith('magnum-%s' % u) for u in uuids))
        self.assertEqual({'clusters': [], 'templates': [], 'stacks': [],
                          'app_creds': []}, of_run)
        self.assertEqual({}, {k: sorted(now[k] - self.before[k])
                              for k in now if now[k] - self.before[k]})
        # The run's journal says it ended with nothing pending.
        self.assertTrue(_ended(os.path.join(
            self.journal_dir, '%s.jsonl' % doc['run_id'])))


def _peak_in_flight(results):
    """Most clusters between their request and their CREATE_COMPLETE."""
    events = []
    for r in results:
        events.append((r['requested_at'], 1))
        events.append((r['requested_at'] + r['create_seconds'], -1))
    peak = live = 0
    for _, delta in sorted(events, key=lambda e: (e[0], e[1])):
        live += delta
        peak = max(peak, live)
    return peak


def _ended(path):
    with open(path) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    return bool(lines) and lines[-1].get('op') == 'end'
