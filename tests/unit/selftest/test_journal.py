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
"""The journal of a run."""

import json
import os

import fixtures
import testtools

from magnum_cern_driver.selftest import journal as journal_mod

RUN_ID = 'r2611220300-abcd'
PREFIX = journal_mod.name_prefix(RUN_ID)


class TestJournal(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.path = os.path.join(self.tmp, 'sub', 'run.jsonl')

    def test_record_is_on_disk_and_fsynced_before_returning(self):
        synced = []
        real_fsync = os.fsync
        self.useFixture(fixtures.MonkeyPatch(
            'os.fsync', lambda fd: (synced.append(fd), real_fsync(fd))))
        j = journal_mod.Journal(self.path, RUN_ID)
        self.addCleanup(j.close)
        before = len(synced)
        j.record('cluster', PREFIX + 's0002-00', {'size': 2})
        self.assertEqual(before + 1, len(synced))
        # Another reader (another process, after a crash) sees it.
        other = journal_mod.Journal.read(self.path)
        self.assertEqual([PREFIX + 's0002-00'],
                         [e.name for e in other.pending()])
        self.assertEqual(RUN_ID, other.run_id)

    def test_meta_merges_and_forget_removes(self):
        j = journal_mod.Journal(self.path, RUN_ID)
        j.record('cluster', 'a', {'size': 2})
        j.record('cluster', 'a', {'uuid': 'u-1'})
        j.record('template', 't', {})
        self.assertEqual({'size': 2, 'uuid': 'u-1'}, j.get('cluster',
                                                           'a').meta)
        j.forget('cluster', 'a')
        j.close()
        again = journal_mod.Journal.read(self.path)
        self.assertEqual([('template', 't')],
                         [(e.kind, e.name) for e in again.pending()])

    def test_torn_last_line_is_ignored(self):
        j = journal_mod.Journal(self.path, RUN_ID)
        j.record('cluster', 'a', {'size': 2})
        j.close()
        with open(self.path, 'a') as f:
            f.write('{"op": "record", "kind": "clu')
        again = journal_mod.Journal.read(self.path)
        self.assertEqual(['a'], [e.name for e in again.pending()])

    def test_is_active_for_this_process_until_ended(self):
        j = journal_mod.Journal(self.path, RUN_ID)
        self.assertTrue(journal_mod.Journal.read(self.path).is_active())
        j.end()
        j.close()
        self.assertFalse(journal_mod.Journal.read(self.path).is_active())

    def test_dead_pid_is_not_active(self):
        with open(self.path.replace('sub/', ''), 'w') as f:
            f.write(json.dumps({'op': 'start', 'run_id': RUN_ID,
                                'pid': 2 ** 22 + 7, 'host': os.uname()[1]})
                    + '\n')
        j = journal_mod.Journal.read(self.path.replace('sub/', ''))
        self.assertFalse(j.is_active())

    def test_run_ids_and_names(self):
        rid = journal_mod.new_run_id()
        self.assertTrue(journal_mod.valid_run_id(rid))
        self.assertFalse(journal_mod.valid_run_id('r1-x'))
        name = journal_mod.name_prefix(rid) + 's0016-03'
        self.assertEqual(rid, journal_mod.run_id_of(name))
        self.assertIsNone(journal_mod.run_id_of('prod-cluster'))
        self.assertIsNone(journal_mod.run_id_of('mcst-notarun-x'))

    def test_unreadable_journal(self):
        self.assertRaises(journal_mod.JournalError,
                          journal_mod.Journal.read,
                          os.path.join(self.tmp, 'missing.jsonl'))
