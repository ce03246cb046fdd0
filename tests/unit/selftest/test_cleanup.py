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
"""Cleanup: from the journal, from the name prefix, every stale run."""

import datetime
import json
import os

import fixtures
import testtools

from magnum_cern_driver.selftest import cleanup as cleanup_mod
from magnum_cern_driver.selftest import cloud as cloud_mod
from magnum_cern_driver.selftest import journal as journal_mod
from tests.unit.selftest import fakes

RUN_ID = 'r2611220300-abcd'
PREFIX = journal_mod.name_prefix(RUN_ID)


class TestCleanup(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.clock = fakes.FakeClock()
        self.cloud = fakes.FakeCloud(self.clock)
        self.path = os.path.join(self.tmp, 'run.jsonl')

    def _populate(self, journal=None, n=3, size=16):
        tmpl = self.cloud.create_template({'name': PREFIX + 'template'})
        if journal is not None:
            journal.record('template', tmpl['name'], {'uuid': tmpl['uuid']})
        for i in range(n):
            name = '%ss%04d-%02d' % (PREFIX, size, i)
            if journal is not None:
                journal.record('cluster', name, {'size': size})
            uuid = self.cloud.create_cluster(name, tmpl['uuid'], size)
            if journal is not None:
                journal.record('cluster', name, {'uuid': uuid})
        # Somebody else's cluster must survive.
        self.cloud.create_cluster('prod-cluster', 'x', 3)

    def _cleaner(self, **kw):
        return cleanup_mod.Cleaner(self.cloud, clock=self.clock,
                                   sleep=self.clock.sleep, **kw)

    def test_from_journal(self):
        j = journal_mod.Journal(self.path, RUN_ID)
        self._populate(j)
        res = self._cleaner(journal=j, prefix=PREFIX).run()
        left = self.cloud.everything()
        self.assertEqual(['prod-cluster'], left['clusters'])
        self.assertEqual([], left['templates'])
        self.assertEqual(1, len(left['stacks']))
        self.assertEqual([], res.leftovers)
        self.assertEqual([], j.pending())

    def test_from_journal_without_prefix_listing(self):
        j = journal_mod.Journal(self.path, RUN_ID)
        self._populate(j)
        res = self._cleaner(journal=j).run()
        self.assertEqual(['prod-cluster'],
                         self.cloud.everything()['clusters'])
        self.assertEqual([], res.leftovers)

    def test_from_prefix_alone(self):
        # Another machine: no journal, only the run id.
        self._populate(None)
        res = self._cleaner(prefix=PREFIX).run()
        left = self.cloud.everything()
        self.assertEqual(['prod-cluster'], left['clusters'])
        self.assertEqual([], left['templates'])
        self.assertEqual([], res.leftovers)
        self.assertEqual(4, len([d for d in res.deleted
                                 if d['kind'] in ('cluster', 'template')]))

    def test_leaked_application_credentials_are_deleted(self):
        self.cloud.leak_appcreds = True
        j = journal_mod.Journal(self.path, RUN_ID)
        self._populate(j, n=2)
        res = self._cleaner(journal=j, prefix=PREFIX).run()
        self.assertEqual([], res.leftovers)
        left = self.cloud.everything()['appcreds']
        # Only the credential of somebody else's cluster stays.
        self.assertEqual(1, len(left))
        prod = [c['uuid'] for c in self.cloud.list_clusters()
                if c['name'] == 'prod-cluster'][0]
        self.assertIn(prod, left[0])

    def test_entry_whose_create_never_reached_magnum(self):
        j = journal_mod.Journal(self.path, RUN_ID)
        j.record('cluster', PREFIX + 's0002-00', {'size': 2})
        res = self._cleaner(journal=j, prefix=PREFIX).run()
        self.assertEqual([], res.leftovers)
        self.assertEqual([], j.pending())

    def _accepted(self, j, name, accepted_at):
        j.record('cluster', name, {'size': 2})
        uuid = self.cloud.create_cluster(name, 't', 2)
        j.record('cluster', name, {'uuid': uuid,
                                   'accepted_at': accepted_at})
        return uuid

    def test_cluster_accepted_but_not_made_yet_is_deleted(self):
        # Magnum's conductor makes the row 45 s after the API accepted:
        # the first delete requests get 404, the cluster must not stay.
        self.cloud.made_after = 45.0
        j = journal_mod.Journal(self.path, RUN_ID)
        self._accepted(j, PREFIX + 's0002-00', self.clock())
        res = self._cleaner(journal=j, prefix=PREFIX,
                            wall=self.clock).run()
        self.assertEqual([], self.cloud.everything()['clusters'])
        self.assertEqual([], res.leftovers)
        self.assertEqual([], j.pending('cluster'))
        deletes = [c for c in self.cloud.calls if c[0] == 'delete_cluster']
        self.assertGreater(len(deletes), 2)

    def test_cluster_never_made_is_given_up_after_the_grace(self):
        self.cloud.made_after = 1e9
        j = journal_mod.Journal(self.path, RUN_ID)
        self._accepted(j, PREFIX + 's0002-00', self.clock())
        start = self.clock()
        res = self._cleaner(journal=j, prefix=PREFIX,
                            wall=self.clock).run()
        waited = self.clock() - start
        self.assertGreaterEqual(waited, cleanup_mod.NOT_MADE_GRACE_SECONDS)
        self.assertLess(waited, cleanup_mod.NOT_MADE_GRACE_SECONDS + 60)
        self.assertEqual([], res.leftovers)
        self.assertEqual([], j.pending('cluster'))

    def test_cluster_accepted_long_ago_and_unknown_is_gone(self):
        self.cloud.made_after = 1e9
        j = journal_mod.Journal(self.path, RUN_ID)
        self._accepted(j, PREFIX + 's0002-00',
                       self.clock() - cleanup_mod.NOT_MADE_GRACE_SECONDS)
        res = self._cleaner(journal=j, prefix=PREFIX,
                            wall=self.clock).run()
        deletes = [c for c in self.cloud.calls if c[0] == 'delete_cluster']
        self.assertEqual(1, len(deletes))
        self.assertEqual([], res.leftovers)

    def test_cluster_seen_then_unknown_is_gone_at_once(self):
        self.cloud.made_after = 0.0
        j = journal_mod.Journal(self.path, RUN_ID)
        uuid = self._accepted(j, PREFIX + 's0002-00', self.clock())
        j.record('cluster', PREFIX + 's0002-00', {'seen': True})
        del self.cloud.clusters[uuid]
        start = self.clock()
        self._cleaner(journal=j, prefix=PREFIX, wall=self.clock).run()
        self.assertLess(self.clock() - start,
                        cleanup_mod.NOT_MADE_RETRY_SECONDS)
        self.assertEqual([], j.pending('cluster'))

    def test_delete_failed_is_retried(self):
        self.cloud.delete_failures = 2
        self._populate(None, n=2)
        res = self._cleaner(prefix=PREFIX).run()
        self.assertEqual([], res.leftovers)
        deletes = [c for c in self.cloud.calls if c[0] == 'delete_cluster']
        self.assertGreaterEqual(len(deletes), 6)

    def test_dropped_delete_request_is_asked_again(self):
        self._populate(None, n=1)
        self.cloud.dropped_deletes = 2
        start = self.clock()
        res = self._cleaner(prefix=PREFIX).run()
        self.assertEqual([], res.leftovers)
        self.assertEqual(['prod-cluster'],
                         self.cloud.everything()['clusters'])
        # Well before the 300 s delete timeout.
        self.assertLess(self.clock() - start, 120)

    def test_leftovers_listed_when_delete_keeps_failing(self):
        self._populate(None, n=2)
        stuck = PREFIX + 's0016-01'
        self.cloud.stuck_delete_names.add(stuck)
        res = self._cleaner(prefix=PREFIX, max_attempts=3).run()
        names = [x['name'] for x in res.leftovers]
        self.assertIn(stuck, names)
        # Its template cannot go while the cluster stays.
        self.assertIn(PREFIX + 'template',
                      self.cloud.everything()['templates'])

    def _unlistable(self, method):
        def fail(*args, **kwargs):
            raise cloud_mod.CloudError('Magnum 503')
        self.useFixture(fixtures.MockPatchObject(self.cloud, method, fail))

    def test_unlistable_clusters_leave_everything_listed_as_left(self):
        # The step releases already forgot the clusters; only the
        # template is journaled. A failed listing must not say "clean".
        j = journal_mod.Journal(self.path, RUN_ID)
        tmpl = self.cloud.create_template({'name': PREFIX + 'template'})
        j.record('template', tmpl['name'], {'uuid': tmpl['uuid']})
        self._unlistable('list_clusters')
        res = self._cleaner(journal=j, prefix=PREFIX).run()
        kinds = sorted(x['kind'] for x in res.leftovers)
        self.assertEqual(['cluster', 'template'], kinds)
        self.assertEqual([PREFIX + 'template'],
                         [e.name for e in j.pending()])

    def test_unlistable_stacks_and_templates_are_leftovers(self):
        self._populate(None, n=1)
        self._unlistable('list_stacks')
        self._unlistable('list_templates')
        res = self._cleaner(prefix=PREFIX).run()
        self.assertEqual(['stack', 'template'],
                         sorted(x['kind'] for x in res.leftovers))
        self.assertIn('cannot list stacks: Magnum 503',
                      [x['reason'] for x in res.leftovers])

    def test_app_credential_that_could_not_be_deleted_stays_journaled(self):
        j = journal_mod.Journal(self.path, RUN_ID)
        self.cloud.appcreds['ac1'] = {'id': 'ac1', 'name': PREFIX + 'ac'}
        j.record('appcred', PREFIX + 'ac', {'id': 'ac1'})

        def refuse(ident):
            raise cloud_mod.CloudError('Keystone 500')
        self.useFixture(fixtures.MockPatchObject(
            self.cloud, 'delete_app_credential', refuse))
        res = self._cleaner(journal=j, prefix=PREFIX).run()
        self.assertEqual([PREFIX + 'ac'],
                         [x['name'] for x in res.leftovers])
        self.assertEqual([PREFIX + 'ac'], [e.name for e in j.pending()])

    def test_delete_timeout_scales_with_size(self):
        self.assertGreater(cleanup_mod.delete_timeout(1000),
                           cleanup_mod.delete_timeout(2))
        self.assertEqual(2 * cleanup_mod.delete_timeout(16),
                         cleanup_mod.delete_timeout(16, scale=2))

    def test_backoff(self):
        b = cleanup_mod.Backoff(initial=2, factor=2, maximum=10)
        self.assertEqual([2, 4, 8, 10, 10], [b.next() for _ in range(5)])

    def test_partial_release_keeps_other_clusters(self):
        j = journal_mod.Journal(self.path, RUN_ID)
        self._populate(j, n=3)
        keep = PREFIX + 's0016-02'
        names = set(e.name for e in j.pending('cluster')) - {keep}
        self._cleaner(journal=j, prefix=PREFIX, names=names).run()
        left = self.cloud.everything()
        self.assertEqual(sorted([keep, 'prod-cluster']), left['clusters'])
        self.assertEqual([PREFIX + 'template'], left['templates'])
        self.assertEqual([keep], [e.name for e in j.pending('cluster')])

    def test_unknown_kinds_are_leftovers(self):
        j = journal_mod.Journal(self.path, RUN_ID)
        j.record('volume', 'v1', {'id': 'vol-1'})
        res = self._cleaner(journal=j, prefix=PREFIX).run()
        self.assertEqual(['v1'], [x['name'] for x in res.leftovers])


class TestSweepStale(testtools.TestCase):
    """cleanup --stale: journals of crashed runs, then names alone."""

    TARGET = {'kind': 'cloud', 'name': 'fake'}

    def setUp(self):
        super().setUp()
        self.jdir = self.useFixture(fixtures.TempDir()).path
        self.clock = fakes.FakeClock()
        self.cloud = fakes.FakeCloud(self.clock)
        self.reported = []
        self.warnings = []

    def _crashed(self, run_id, target, clusters=1):
        """The journal of a run whose process is gone, and its clusters."""
        path = journal_mod.path_for(run_id, self.jdir)
        with open(path, 'w') as f:
            f.write(json.dumps({'op': 'start', 'run_id': run_id,
                                'target': target, 'pid': None,
                                'host': 'elsewhere'}) + '\n')
        j = journal_mod.Journal(path, run_id)
        for i in range(clusters):
            name = '%ss0002-%02d' % (journal_mod.name_prefix(run_id), i)
            j.record('cluster', name, {'size': 2})
            j.record('cluster', name, {
                'uuid': self.cloud.create_cluster(name, 't', 2)})
        j.close()
        return path

    def _sweep(self, **kw):
        kw.setdefault('older_than', 0)
        return cleanup_mod.sweep_stale(
            self.cloud, self.TARGET, journal_dir=self.jdir,
            clock=self.clock, sleep=self.clock.sleep,
            report=lambda run_id, res: self.reported.append(
                (run_id, len(res.deleted), len(res.leftovers))),
            warn=self.warnings.append, **kw)

    def test_journaled_runs_then_runs_found_by_name(self):
        crashed = 'r2611220100-0001'
        path = self._crashed(crashed, self.TARGET, clusters=2)
        named = 'r2611220100-0002'
        self.cloud.create_cluster(
            journal_mod.name_prefix(named) + 's0002-00', 't', 2)
        self.cloud.create_cluster('prod', 't', 2)
        self.assertEqual(0, self._sweep())
        self.assertEqual(['prod'], self.cloud.everything()['clusters'])
        self.assertEqual([crashed, named], [r[0] for r in self.reported])
        self.assertTrue(journal_mod.Journal.read(path).ended)
        self.assertEqual([], self.warnings)

    def test_active_runs_and_other_targets_are_left_alone(self):
        active = 'r2611220100-0003'
        j = journal_mod.Journal(journal_mod.path_for(active, self.jdir),
                                active, target=self.TARGET)
        self.addCleanup(j.close)
        mine = journal_mod.name_prefix(active) + 's0002-00'
        self.cloud.create_cluster(mine, 't', 2)
        other = self._crashed('r2611220100-0004',
                              {'kind': 'cloud', 'name': 'other'})
        os.mkdir(os.path.join(self.jdir, 'unreadable.jsonl'))
        self._sweep()
        self.assertIn(mine, self.cloud.everything()['clusters'])
        self.assertFalse(journal_mod.Journal.read(other).ended)
        # What the other target's run left here is found by its name.
        self.assertEqual(['r2611220100-0004'],
                         [r[0] for r in self.reported])
        self.assertEqual(1, len(self.warnings), self.warnings)

    def test_leftovers_are_counted(self):
        self._crashed('r2611220100-0005', self.TARGET, clusters=2)
        self.cloud.stuck_delete_names.add(
            journal_mod.name_prefix('r2611220100-0005') + 's0002-01')
        self.assertEqual(1, self._sweep())

    def test_age_filter(self):
        now = datetime.datetime(2026, 11, 22, 9, 0,
                                tzinfo=datetime.timezone.utc)
        item = {'created_at': '2026-11-22T03:00:00Z'}
        self.assertTrue(cleanup_mod.age_filter(6, now)(item))
        self.assertFalse(cleanup_mod.age_filter(6.5, now)(item))
        self.assertFalse(cleanup_mod.age_filter(1, now)({}))
        self.assertTrue(cleanup_mod.age_filter(0, now)({}))
