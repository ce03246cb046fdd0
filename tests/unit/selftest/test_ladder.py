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
"""The ladder and its aggregation against a fake cloud."""

import os

import fixtures
import testtools

from magnum_cern_driver.selftest import journal as journal_mod
from magnum_cern_driver.selftest import ladder as ladder_mod
from magnum_cern_driver.selftest import plan as plan_mod
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


class TestStalled(LadderBase):
    """The driver's 'Stalled: ' reason: verdict, early end, resumption."""

    step = plan_mod.Step(size=2, concurrency=2, clusters=2,
                         target_minutes=2.5)

    def one(self):
        return [plan_mod.Step(size=2, concurrency=1, clusters=1,
                              target_minutes=2.5)]

    def test_stalled_cluster_ends_the_size_early(self):
        name = ladder_mod.cluster_name(RUN_ID, 2, 0)
        cloud = fakes.FakeCloud(self.clock)
        text = cloud.stall(name, since=30)
        steps = self.one() + [plan_mod.Step(size=4, concurrency=1,
                                            clusters=1, target_minutes=3)]
        out = self.ladder(cloud, steps).run()
        size = out['sizes'][0]
        self.assertEqual('stalled', size['status'])
        r = size['results'][0]
        self.assertEqual('stalled', r['outcome'])
        self.assertEqual(text, r['status_reason'])
        self.assertEqual('CREATE_IN_PROGRESS', r['status'])
        self.assertIn('worker-shard-0 (OS::Heat::ResourceGroup)',
                      size['reason'])
        # Ended at the first poll that saw the stall, not at the timeout
        # (10 min here): polls are 2 s apart this early.
        self.assertLess(size['ended_at'], 35)
        self.assertEqual(steps[0].timeout_minutes(), r['timeout_minutes'])
        self.assertGreaterEqual(r['timeout_minutes'], 10)
        self.assertEqual(1, len(r['stalls']))
        self.assertIsNone(r['stalls'][0]['until'])
        # The climb stops; the stalled cluster is deleted like the others.
        self.assertEqual('skipped', out['sizes'][1]['status'])
        self.assertIn('stopped climbing: size 2 stalled',
                      out['sizes'][1]['reason'])
        self.assertTrue(cloud.empty())
        self.assertIn(name, [d['name'] for d in out['deleted']])

    def test_size_waits_for_clusters_still_progressing(self):
        stuck = ladder_mod.cluster_name(RUN_ID, 2, 0)
        cloud = fakes.FakeCloud(self.clock)
        cloud.stall(stuck, since=10)
        out = self.ladder(cloud, [self.step]).run()
        size = out['sizes'][0]
        outcomes = [r['outcome'] for r in size['results']]
        self.assertEqual(['stalled', 'pass'], outcomes)
        self.assertEqual('stalled', size['status'])
        # The healthy one completes at 62 s; the size ends with it.
        self.assertGreaterEqual(size['ended_at'], 62)
        self.assertLess(size['ended_at'], 70)
        self.assertTrue(cloud.empty())

    def test_progress_resuming_goes_on_normally(self):
        stuck = ladder_mod.cluster_name(RUN_ID, 2, 0)
        cloud = fakes.FakeCloud(self.clock,
                                create_seconds=lambda size: 90)
        cloud.stall(stuck, since=10, until=40)
        out = self.ladder(cloud, [self.step]).run()
        size = out['sizes'][0]
        self.assertEqual('pass', size['status'])
        r = size['results'][0]
        self.assertEqual('pass', r['outcome'])
        self.assertIsNotNone(r['create_seconds'])
        self.assertEqual(1, len(r['stalls']))
        self.assertGreaterEqual(r['stalls'][0]['until'], 40)
        self.assertFalse(ladder_mod.is_stalled(r['status_reason']))

    def test_transient_reason_is_not_a_stall(self):
        from magnum_cern_driver import status as status_mod
        name = ladder_mod.cluster_name(RUN_ID, 2, 0)
        cloud = fakes.FakeCloud(self.clock, never_names=[name])
        cloud.progress_reasons[name] = status_mod.transient_reason(
            'Unable to establish connection to http://127.0.0.1:8004')
        out = self.ladder(cloud, self.one()).run()
        size = out['sizes'][0]
        self.assertEqual('timeout', size['status'])
        r = size['results'][0]
        self.assertEqual('timeout', r['outcome'])
        self.assertEqual([], r['stalls'])
        self.assertIn('Heat unreachable', r['status_reason'])
        self.assertGreaterEqual(size['ended_at'],
                                self.one()[0].timeout_minutes() * 60)

    def test_still_stalled_at_the_deadline_is_stalled(self):
        # Another cluster keeps the size open until the timeout.
        stuck = ladder_mod.cluster_name(RUN_ID, 2, 0)
        slow = ladder_mod.cluster_name(RUN_ID, 2, 1)
        cloud = fakes.FakeCloud(self.clock, never_names=[slow])
        cloud.stall(stuck, since=10)
        out = self.ladder(cloud, [self.step]).run()
        size = out['sizes'][0]
        self.assertEqual(['stalled', 'timeout'],
                         [r['outcome'] for r in size['results']])
        self.assertEqual('stalled', size['status'])

    def test_stalled_counts_in_the_summary(self):
        stalled = _result('stalled', status='CREATE_IN_PROGRESS')
        stalled['status_reason'] = 'Stalled: master-0 (OS::Nova::Server)'
        summary, status, reason = ladder_mod.summarize_step(self.step, [
            _result('pass', 60), _result('timeout'), stalled])
        self.assertEqual('stalled', status)
        self.assertEqual(1, summary['stalled'])
        self.assertIn('master-0 (OS::Nova::Server)', reason)
        failed = _result('fail', status='CREATE_FAILED')
        _, status, _ = ladder_mod.summarize_step(self.step, [
            stalled, failed])
        self.assertEqual('fail', status)
