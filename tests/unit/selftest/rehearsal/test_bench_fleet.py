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
"""The fleet benchmark's arithmetic (the watching runs on the rehearsal)."""

import os

import fixtures
import testtools

from magnum_cern_driver.selftest.rehearsal import bench_fleet


class TestPhases(testtools.TestCase):

    def test_split_of_one_create(self):
        p = bench_fleet.phases(100.0, 101.5, 104.0, 160.0, 171.0)
        self.assertEqual({'api': 1.5, 'conductor': 2.5, 'heat': 56.0,
                          'sync': 11.0}, p)

    def test_unknown_marks_leave_their_phases_unknown(self):
        p = bench_fleet.phases(100.0, 101.0, None, None, 171.0)
        self.assertEqual(1.0, p['api'])
        self.assertIsNone(p['conductor'])
        self.assertIsNone(p['heat'])
        self.assertIsNone(p['sync'])

    def test_second_resolution_rows_never_give_negative_time(self):
        # Magnum and Heat store whole seconds; the request time is exact.
        self.assertEqual(0.0, bench_fleet.phases(100.4, 100.0, 103.0,
                                                 110.0, 111.0)['api'])

    def test_medians_skip_unknowns(self):
        rows = [bench_fleet.phases(0, 1, 3, 60, 70),
                bench_fleet.phases(0, 2, 5, 90, 95),
                bench_fleet.phases(0, 4, None, None, 99)]
        self.assertEqual({'api': 2.0, 'conductor': 2.5, 'heat': 71.0,
                          'sync': 7.5}, bench_fleet.median_phases(rows))
        self.assertEqual({'api': None, 'conductor': None, 'heat': None,
                          'sync': None}, bench_fleet.median_phases([]))


class TestSums(testtools.TestCase):

    def test_in_progress_is_creating_plus_deleting(self):
        # created at 0, complete at 60, delete seen at 500, gone at 530
        self.assertEqual(90.0, bench_fleet.in_progress_seconds(
            0.0, 60.0, 500.0, 530.0))
        # never completed: in progress until last seen
        self.assertEqual(530.0, bench_fleet.in_progress_seconds(
            0.0, None, None, 530.0))

    def test_sync_rounds_count_one_per_interval_at_least_one(self):
        self.assertEqual(6 + 1, bench_fleet.sync_rounds([60.0, 3.0],
                                                        interval=10.0))

    def test_poll_requests_are_stack_reads_and_resource_lists(self):
        kinds = {'GET /v1/{id}/stacks/{name}/{id}': 40,
                 'GET /v1/{id}/stacks/{name}/{id}/resources': 4,
                 'POST /v1/{id}/stacks': 10,
                 'DELETE /v1/{id}/stacks/{name}/{id}': 10,
                 'GET /v1/{id}/stacks': 2}
        self.assertEqual(44, bench_fleet.poll_requests(kinds))

    def test_cpu_and_growth(self):
        self.assertEqual({'heat-engine': 2.0, 'keystone': 0.5},
                         bench_fleet.cpu_seconds(
                             {'heat-engine': 100, 'keystone': 50},
                             {'heat-engine': 300, 'keystone': 100},
                             ticks=100))
        self.assertEqual({'heat': 4096, 'magnum': 0, 'all': 4096},
                         bench_fleet.growth({'heat': 4096, 'magnum': 8192},
                                            {'heat': 8192, 'magnum': 8192}))

    def test_missing_result_is_a_clear_error(self):
        tmp = self.useFixture(fixtures.TempDir()).path
        e = self.assertRaises(bench_fleet.NoResult,
                              bench_fleet.load_result, tmp, -2)
        self.assertIn('exit -2', str(e))
        self.assertIn('result.json', str(e))
        with open(os.path.join(tmp, 'result.json'), 'w') as f:
            f.write('{"sizes": []}')
        self.assertEqual({'sizes': []}, bench_fleet.load_result(tmp, 0))
