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
"""Stall detection's pure parts (stall.py)."""

import testtools

from magnum_cern_driver import stall
from magnum_cern_driver import status
from tests.unit import fakes_heat

ROOT = ('demo-stack', 'ffffffff-0000-0000-0000-000000000000')
SHARD = 'aaaaaaaa-0000-0000-0000-000000000001'
GROUP = 'aaaaaaaa-0000-0000-0000-000000000002'


def tree(*servers, status='CREATE_IN_PROGRESS'):
    """Root -> shard -> group -> servers, all in progress."""
    out = [fakes_heat.listed_resource('ng_default_worker_shard_0',
                                      'worker_shard.yaml', *ROOT,
                                      nested=SHARD),
           fakes_heat.listed_resource('workers', 'OS::Heat::ResourceGroup',
                                      's', SHARD, nested=GROUP,
                                      parent='ng_default_worker_shard_0',
                                      depth=1)]
    for i in servers:
        out.append(fakes_heat.listed_resource(
            str(i), 'OS::Nova::Server', 'g', GROUP, status=status,
            physical_id='server-%d' % i, parent='workers', depth=2))
    return out


def wait_condition():
    return fakes_heat.listed_resource('ready', 'OS::Heat::WaitCondition',
                                      'm', 'bbbbbbbb-0000-0000-0000-0000000'
                                      '00001', parent='kube_masters',
                                      depth=2)


class LeavesTest(testtools.TestCase):

    def test_leaves_are_the_members_not_their_groups(self):
        names = [r['resource_name'] for r in stall.leaves(tree(3, 4))]
        self.assertEqual(['3', '4'], names)

    def test_group_without_busy_members_is_a_leaf(self):
        names = [r['resource_name'] for r in stall.leaves(tree())]
        self.assertEqual(['workers'], names)

    def test_wait_conditions_are_not_watched(self):
        res = tree(3) + [wait_condition()]
        self.assertEqual(['3'], [r['resource_name']
                                 for r in stall.watched(res)])
        self.assertTrue(stall.only_waiting([wait_condition()]))
        self.assertFalse(stall.only_waiting(res))
        self.assertFalse(stall.only_waiting([]))


class ObserveTest(testtools.TestCase):

    def test_same_set_keeps_its_first_time(self):
        seen = stall.observe(None, tree(1, 2), 1000.0, 10.0)
        later = stall.observe(seen, tree(1, 2), 1100.0, 110.0)
        self.assertEqual(1000.0, later.since)
        self.assertEqual(110.0, later.checked)
        self.assertFalse(stall.is_stalled(later, 1100.0, 300))
        self.assertTrue(stall.is_stalled(later, 1300.0, 300))

    def test_any_change_restarts_the_clock(self):
        seen = stall.observe(None, tree(1, 2), 1000.0, 10.0)
        # server 1 finished: the set changed, that is progress.
        moved = stall.observe(seen, tree(2), 1200.0, 210.0)
        self.assertEqual(1200.0, moved.since)
        self.assertFalse(stall.is_stalled(moved, 1400.0, 300))
        # a status change of the same resource is progress too.
        failed = stall.observe(moved, tree(2, status='DELETE_IN_PROGRESS'),
                               1450.0, 460.0)
        self.assertEqual(1450.0, failed.since)

    def test_nothing_in_progress_is_watched(self):
        # An engine that died between two resources leaves none in
        # progress; that state is watched like any other.
        seen = stall.observe(None, [], 1000.0, 10.0)
        seen = stall.observe(seen, [], 1400.0, 410.0)
        self.assertTrue(stall.is_stalled(seen, 1400.0, 300))

    def test_only_wait_conditions_never_stall(self):
        seen = stall.observe(None, [wait_condition()], 1000.0, 10.0)
        seen = stall.observe(seen, [wait_condition()], 5000.0, 4010.0)
        self.assertFalse(stall.is_stalled(seen, 5000.0, 300))

    def test_due(self):
        self.assertTrue(stall.due(None, 0, 0, 60, 300))
        seen = stall.observe(None, tree(1), 1000.0, 10.0)
        self.assertFalse(stall.due(seen, 1030.0, 40.0, 60, 300))
        self.assertTrue(stall.due(seen, 1070.0, 70.0, 60, 300))
        # reaching stall_after makes a look due at once, not a minute on
        self.assertTrue(stall.due(seen._replace(checked=295.0), 1300.0,
                                  300.0, 60, 300))
        # once reported, only the interval counts
        reported = seen._replace(checked=295.0, reason='Stalled: x')
        self.assertFalse(stall.due(reported, 1300.0, 300.0, 60, 300))

    def test_first_sight_holds_the_first_look_one_interval(self):
        seen = stall.first_sight(1000.0, 10.0)
        self.assertFalse(stall.is_stalled(seen, 9000.0, 300))
        self.assertFalse(stall.due(seen, 1059.0, 69.0, 60, 300))
        self.assertTrue(stall.due(seen, 1060.0, 70.0, 60, 300))
        # the first look starts the clock: no stall from first sight on
        seen = stall.observe(seen, tree(1), 1060.0, 70.0)
        self.assertEqual(1060.0, seen.since)
        self.assertFalse(stall.is_stalled(seen, 1359.0, 300))
        self.assertTrue(stall.is_stalled(seen, 1360.0, 300))


class ReasonTest(testtools.TestCase):

    def test_reason_names_the_stuck_resources(self):
        text = stall.reason(tree(0, 1, 2, 3, 4) + [wait_condition()],
                            1000.0, 1400.0, timeout_minutes=60)
        self.assertTrue(status.is_stalled(text), text)
        self.assertIn('no Heat progress for 6 min', text)
        self.assertIn('1970-01-01T00:16:40Z', text)
        self.assertIn('workers/0 (OS::Nova::Server)', text)
        self.assertIn('and 2 more', text)
        self.assertNotIn('ready', text)
        self.assertIn('heat-engine', text)
        self.assertIn('stack timeout (60 min)', text)
        self.assertLessEqual(len(text), stall.MAX_REASON)

    def test_reason_without_resources(self):
        text = stall.reason([], 1000.0, 1400.0)
        self.assertIn('no resource in progress', text)
        self.assertNotIn('stack timeout', text)


class MonitorTest(testtools.TestCase):

    def test_forgets_stacks_not_looked_at(self):
        clock = [0.0]
        mon = stall.Monitor(clock=lambda: clock[0], mono=lambda: clock[0])
        mon.put('s1', stall.Seen('fp', 0.0, 0.0, None))
        self.assertIsNotNone(mon.get('s1'))
        clock[0] = stall.FORGET_SECONDS + 1
        self.assertIsNone(mon.get('s1'))
        mon.put('s2', stall.Seen('fp', 0.0, clock[0], None))
        mon.drop('s2')
        self.assertIsNone(mon.get('s2'))
