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
"""The status poll (poller.py), called as Magnum's periodic task does,
through ``Driver.update_cluster_status``: real Magnum objects (SQLite), a
fake Heat/Keystone at the HTTP boundary (tests/unit/fakes_heat.py)."""

import datetime
import threading
import time

import fixtures
from magnum import objects

from magnum_cern_driver import poller
from magnum_cern_driver import stall as stall_mod
from magnum_cern_driver import status
from tests.unit import fakes_heat
from tests.unit.test_driver import CLUSTER_UUID
from tests.unit.test_driver import DriverTestBase


class StatusTest(DriverTestBase):

    def grow(self, count):
        """Make the default worker nodegroup ``count`` nodes large."""
        ng = self.nodegroup('default-worker')
        ng.max_node_count = max(count, ng.max_node_count)
        ng.node_count = count
        ng.save()

    def test_large_stack_polled_without_outputs(self):
        self.create()
        self.grow(poller.POLL_OUTPUTS_MAX_NODES)     # + 1 master: above
        for _ in range(3):
            cluster = self.poll()
        self.assertEqual('CREATE_IN_PROGRESS', cluster.status)
        self.assertEqual(3, self.cloud.count('GET', 'show_no_outputs'))
        self.assertEqual(0, self.cloud.count('GET', 'show_outputs'))
        self.assertEqual(3, self.cloud.count('GET', 'heat_show'))

    def test_large_stack_complete_reads_outputs_once(self):
        stack = self.create()
        self.grow(poller.POLL_OUTPUTS_MAX_NODES)
        self.outputs(stack)
        self.cloud.set_status(stack.id, 'CREATE_COMPLETE')
        cluster = self.poll()
        self.assertEqual('CREATE_COMPLETE', cluster.status)
        self.assertEqual('https://10.0.0.5:6443', cluster.api_address)
        self.assertEqual(1, self.cloud.count('GET', 'show_outputs'))
        self.assertEqual(1, self.cloud.count('GET', 'show_no_outputs'))

    def test_small_stack_polled_with_outputs(self):
        # 1 master + 3 workers: each poll is one request, outputs included
        self.create()
        for _ in range(3):
            cluster = self.poll()
        self.assertEqual('CREATE_IN_PROGRESS', cluster.status)
        self.assertEqual(3, self.cloud.count('GET', 'show_outputs'))
        self.assertEqual(0, self.cloud.count('GET', 'show_no_outputs'))

    def test_complete_reads_outputs_with_the_poll(self):
        stack, cluster = self.complete()
        self.assertIsNone(cluster.status_reason)
        self.assertEqual('https://10.0.0.5:6443', cluster.api_address)
        self.assertEqual('v1.31.4', cluster.coe_version)
        self.assertEqual(['10.0.0.2'], cluster.master_addresses)
        self.assertEqual(['10.0.1.0', '10.0.1.1', '10.0.1.2'],
                         cluster.node_addresses)
        self.assertEqual(3, cluster.node_count)
        for ng in cluster.nodegroups:
            self.assertEqual('CREATE_COMPLETE', ng.status)
            self.assertEqual(stack.id, ng.stack_id)
        # one request for the poll that saw it complete, nothing more
        self.assertEqual(1, self.cloud.count('GET', 'heat_show'))
        self.assertEqual(1, self.cloud.count('GET', 'show_outputs'))

    def test_delete_polled_without_outputs(self):
        stack = self.create()
        self.cloud.set_status(stack.id, 'DELETE_IN_PROGRESS', 'deleting')
        cluster = objects.Cluster.get_by_uuid(self.admin, CLUSTER_UUID)
        cluster.status = 'DELETE_IN_PROGRESS'
        cluster.save()
        cluster = self.poll()
        self.assertEqual('DELETE_IN_PROGRESS', cluster.status)
        self.assertEqual(1, self.cloud.count('GET', 'show_no_outputs'))
        self.assertEqual(0, self.cloud.count('GET', 'show_outputs'))

    def test_nested_failure_reason(self):
        stack = self.create()
        shard, group = ('aaaaaaaa-0000-0000-0000-000000000001',
                        'aaaaaaaa-0000-0000-0000-000000000002')
        stack.resources = [
            fakes_heat.failed_resource(
                'ng_default_worker_shard_0', 'worker_shard.yaml',
                'ResourceInError: resources.workers.resources[2]',
                stack.name, stack.id, nested=shard),
            fakes_heat.failed_resource(
                'workers', 'OS::Heat::ResourceGroup',
                'ResourceInError: resources[2]', 's', shard, nested=group,
                parent='ng_default_worker_shard_0', depth=1),
            fakes_heat.failed_resource(
                '2', 'OS::Nova::Server', 'Went to status ERROR due to '
                '"Message: No valid host was found. Code: 500"', 'g', group,
                physical_id='server-2', parent='workers', depth=2),
        ]
        self.cloud.set_status(stack.id, 'CREATE_FAILED',
                              'Resource CREATE failed: ResourceInError')
        cluster = self.poll()
        self.assertEqual('CREATE_FAILED', cluster.status)
        self.assertTrue(cluster.status_reason.startswith(
            'workers/2 (OS::Nova::Server)'), cluster.status_reason)
        self.assertIn('No valid host was found', cluster.status_reason)
        for ng in cluster.nodegroups:
            self.assertEqual('CREATE_FAILED', ng.status)
        # the failure is read from the resources, no second stack read
        self.assertEqual(1, self.cloud.count('GET', 'heat_show'))

    def test_stack_vanishes(self):
        stack = self.create()
        del self.cloud.stacks[stack.id]
        cluster = self.poll()
        self.assertEqual('CREATE_FAILED', cluster.status)
        self.assertIn('no longer exists', cluster.status_reason)

    def test_heat_unreachable_during_poll(self):
        self.create()
        self.cloud.stop()
        cluster = self.poll()               # must not raise
        self.assertEqual('CREATE_IN_PROGRESS', cluster.status)
        self.assertIn('will retry', cluster.status_reason)
        self.assertIn('unreachable', cluster.status_reason)

    def test_heat_server_error_during_poll(self):
        self.create()
        self.cloud.fail_with = 503
        cluster = self.poll()
        self.assertEqual('CREATE_IN_PROGRESS', cluster.status)
        self.assertIn('503', cluster.status_reason)
        # recovers on the next poll
        self.cloud.fail_with = None
        self.outputs(self.cloud.stack())
        self.cloud.set_status(self.cluster.stack_id, 'CREATE_COMPLETE')
        self.assertEqual('CREATE_COMPLETE', self.poll().status)

    def test_unexpected_error_never_escapes_the_poll(self):
        self.create()
        self.cloud.set_status(self.cluster.stack_id, 'CREATE_COMPLETE')
        self.useFixture(fixtures.MockPatch(
            'magnum_cern_driver.status.from_outputs',
            side_effect=RuntimeError('bug')))
        cluster = self.poll()
        self.assertEqual('CREATE_IN_PROGRESS', cluster.status)
        self.assertIn('RuntimeError', cluster.status_reason)

    def test_create_without_stack_fails_in_poll_after_grace(self):
        cluster = objects.Cluster.get_by_uuid(self.admin, CLUSTER_UUID)
        cluster.created_at = (datetime.datetime.now(datetime.timezone.utc)
                              - datetime.timedelta(
                                  seconds=poller.STACKLESS_GRACE_SECONDS + 5))
        cluster.save()
        cluster = self.poll()
        self.assertEqual('CREATE_FAILED', cluster.status)
        self.assertIn('No Heat stack', cluster.status_reason)

    def test_poll_during_create_waits_for_the_stack(self):
        # The periodic task may poll before the conductor saved stack_id.
        self.assertEqual('CREATE_IN_PROGRESS', self.poll().status)

    def test_create_saves_the_stack_id_before_the_conductor_does(self):
        self.driver.create_cluster(self.ctx, self.cluster, 60)
        stack_id = self.cluster.stack_id
        # the conductor has not saved the cluster yet; the poll reads the DB
        cluster = self.poll()
        self.assertEqual(stack_id, cluster.stack_id)
        self.assertEqual('CREATE_IN_PROGRESS', cluster.status)

    def test_stackless_poll_sends_heat_nothing(self):
        # Heat denies listing stacks across projects to everyone by
        # default: the poll waits for create_cluster to save the id.
        def heat_requests():
            return [p for _, p in self.cloud.log if p.startswith('/heat/')]
        before = heat_requests()
        cluster = self.poll()
        self.assertEqual('CREATE_IN_PROGRESS', cluster.status)
        self.assertIsNone(cluster.status_reason)
        self.assertEqual(before, heat_requests())


class DeleteRaceTest(DriverTestBase):
    """A delete that raced the create, reconciled by the poll."""

    def _age(self, cluster, field, seconds):
        setattr(cluster, field, datetime.datetime.now(datetime.timezone.utc)
                - datetime.timedelta(seconds=seconds))
        cluster.save()

    def _marked_deleting(self, cluster):
        """What the conductor does after delete_cluster returned."""
        cluster.status = 'DELETE_IN_PROGRESS'
        cluster.save()

    def test_delete_without_stack(self):
        self._age(self.cluster, 'created_at',
                  poller.CREATE_REACH_SECONDS + 5)
        self.driver.delete_cluster(self.ctx, self.cluster)
        self._marked_deleting(self.cluster)
        self.assertEqual('DELETE_COMPLETE', self.poll().status)

    def _delete_then_create(self, record_delete_first=True):
        """The create's (unsaved) cluster, its stack made after the delete.

        The race: the delete ran before the create made the stack (so it
        found none), and was recorded (DELETE_IN_PROGRESS) before the
        create's stack existed, or only after create_cluster looked.
        """
        creating = objects.Cluster.get_by_uuid(self.ctx, CLUSTER_UUID)
        deleting = objects.Cluster.get_by_uuid(self.ctx, CLUSTER_UUID)
        self.driver.delete_cluster(self.ctx, deleting)
        if record_delete_first:
            self._marked_deleting(deleting)
        self.driver.create_cluster(self.ctx, creating, 60)
        if not record_delete_first:
            self._marked_deleting(deleting)
        return creating

    def test_stackless_delete_of_new_cluster_waits_for_the_create(self):
        # The create may still be making the stack: not finished yet.
        self.driver.delete_cluster(self.ctx, self.cluster)
        self._marked_deleting(self.cluster)
        self.assertEqual('DELETE_IN_PROGRESS', self.poll().status)

    def test_create_after_a_recorded_delete_deletes_its_stack(self):
        # Seen on the rehearsal: DELETE accepted while the conductor was
        # inside create_cluster; the delete found no stack, the create
        # then made it, and deletes it itself as soon as Heat answers.
        creating = self._delete_then_create()
        stack = self.cloud.stack(creating.stack_id)
        self.assertEqual('DELETE_IN_PROGRESS', stack.status)
        cluster = self.poll()
        self.assertEqual('DELETE_IN_PROGRESS', cluster.status)
        self.assertEqual(stack.id, cluster.stack_id)
        del self.cloud.stacks[stack.id]
        self.assertEqual('DELETE_COMPLETE', self.poll().status)
        self.assertEqual({}, self.cloud.app_creds)

    def test_create_of_a_removed_cluster_deletes_its_stack(self):
        creating = objects.Cluster.get_by_uuid(self.ctx, CLUSTER_UUID)
        creating.nodegroups    # loaded, as the conductor's object has them
        gone = objects.Cluster.get_by_uuid(self.admin, CLUSTER_UUID)
        gone.destroy()
        self.driver.create_cluster(self.ctx, creating, 60)
        stack = self.cloud.stack(creating.stack_id)
        self.assertEqual('DELETE_IN_PROGRESS', stack.status)
        self.assertEqual({}, self.cloud.app_creds)

    def test_stack_missed_by_the_delete_is_deleted_after_grace(self):
        # The delete was recorded only after create_cluster looked.
        creating = self._delete_then_create(record_delete_first=False)
        stack = self.cloud.stack(creating.stack_id)
        self.cloud.set_status(stack.id, 'CREATE_COMPLETE')
        deletes = self.cloud.count('DELETE', 'heat_delete')
        self.assertEqual(0, deletes)
        # Just after a delete Heat may still show the old action: wait.
        cluster = self.poll()
        self.assertEqual('DELETE_IN_PROGRESS', cluster.status)
        self.assertEqual(deletes, self.cloud.count('DELETE', 'heat_delete'))
        self._age(cluster, 'updated_at', poller.DELETE_REACH_SECONDS + 5)
        cluster = self.poll()
        self.assertEqual('DELETE_IN_PROGRESS', cluster.status)
        self.assertEqual(deletes + 1,
                         self.cloud.count('DELETE', 'heat_delete'))
        self.assertEqual('DELETE_IN_PROGRESS', stack.status)
        # Even if Heat still showed the old status, the next polls do not
        # send another DELETE (it would cancel the first) for a while.
        self.cloud.set_status(stack.id, 'CREATE_COMPLETE')
        self.poll()
        self.assertEqual(deletes + 1,
                         self.cloud.count('DELETE', 'heat_delete'))
        del self.cloud.stacks[stack.id]
        self.assertEqual('DELETE_COMPLETE', self.poll().status)

    def test_stack_still_in_progress_is_not_deleted_again(self):
        # Heat may be cancelling an update for the delete: no DELETE.
        stack, cluster = self.complete()
        self.driver.delete_cluster(self.ctx, cluster)
        self._marked_deleting(cluster)
        self.cloud.set_status(stack.id, 'UPDATE_IN_PROGRESS')
        deletes = self.cloud.count('DELETE', 'heat_delete')
        self._age(cluster, 'updated_at', poller.DELETE_REACH_SECONDS + 5)
        self.assertEqual('DELETE_IN_PROGRESS', self.poll().status)
        self.assertEqual(deletes, self.cloud.count('DELETE', 'heat_delete'))

    def test_stale_poll_changing_only_the_reason_keeps_the_delete(self):
        stack = self.create()
        stale = objects.Cluster.get_by_uuid(self.admin, CLUSTER_UUID)
        self.driver.delete_cluster(self.ctx, self.cluster)
        self._marked_deleting(self.cluster)
        self.cloud.set_status(stack.id, 'CREATE_IN_PROGRESS',
                              'Stack CREATE still going')
        self.assertEqual('DELETE_IN_PROGRESS', self.poll(stale).status)

    def test_cancelled_update_does_not_overwrite_a_started_delete(self):
        # resize, then delete at once: Heat cancels the update
        # (UPDATE_FAILED) and deletes. A poll that loaded the cluster just
        # before the conductor recorded DELETE_IN_PROGRESS must not write
        # UPDATE_FAILED over it (polling would stop, the cluster stay).
        stack, cluster = self.complete()
        cluster.status = 'UPDATE_IN_PROGRESS'
        cluster.save()
        stale = objects.Cluster.get_by_uuid(self.admin, CLUSTER_UUID)
        self.driver.delete_cluster(self.ctx, cluster)
        self._marked_deleting(cluster)
        self.cloud.set_status(stack.id, 'UPDATE_FAILED',
                              'Stack UPDATE cancelled')
        cluster = self.poll(stale)
        self.assertEqual('DELETE_IN_PROGRESS', cluster.status)
        del self.cloud.stacks[stack.id]
        self.assertEqual('DELETE_COMPLETE', self.poll().status)


class OverlapTest(DriverTestBase):
    """Magnum starts a poll every 10 s without waiting for the last one."""

    def test_second_poll_while_the_first_runs_does_nothing(self):
        self.create()
        self.cloud.slow_show_answer = 1.0
        first = threading.Thread(target=self.poll)
        first.start()
        self.addCleanup(first.join, 10)
        for _ in range(500):                # the first one's show is sent
            if self.cloud.count('GET', 'heat_show'):
                break
            time.sleep(0.01)
        started = time.monotonic()
        self.poll()
        self.assertLess(time.monotonic() - started, 0.9)
        first.join(10)
        self.assertEqual(1, self.cloud.count('GET', 'heat_show'))
        # once the first is done, the next poll runs
        self.cloud.slow_show_answer = 0.0
        self.poll()
        self.assertEqual(2, self.cloud.count('GET', 'heat_show'))

    def test_stale_poll_of_a_removed_cluster_leaves_it_removed(self):
        # Two polls listed the cluster; the first finished the delete and
        # Magnum removed it. The second must not report DELETE_COMPLETE
        # (Magnum would remove it again: ClusterNotFound).
        stack = self.create()
        cluster = objects.Cluster.get_by_uuid(self.admin, CLUSTER_UUID)
        cluster.status = 'DELETE_IN_PROGRESS'
        cluster.save()
        stale = objects.Cluster.get_by_uuid(self.admin, CLUSTER_UUID)
        del self.cloud.stacks[stack.id]
        for ng in objects.NodeGroup.list(self.admin, CLUSTER_UUID):
            ng.destroy()
        cluster.destroy()
        self.driver.update_cluster_status(self.admin, stale)
        self.assertEqual('DELETE_IN_PROGRESS', stale.status)


class SocketsTest(DriverTestBase):

    def test_sockets_stay_flat_over_500_polls(self):
        self.create()
        cluster = objects.Cluster.get_by_uuid(self.admin, CLUSTER_UUID)
        self.driver.update_cluster_status(self.admin, cluster)   # warm up
        before = fakes_heat.open_sockets()
        conns = self.cloud.connections
        for _ in range(500):
            self.driver.update_cluster_status(self.admin, cluster)
        after = fakes_heat.open_sockets()
        self.assertEqual(501, self.cloud.count('GET', 'heat_show'))
        self.assertEqual('CREATE_IN_PROGRESS', cluster.status)
        # Flat: the same kept-alive connection served every poll (both of
        # its ends live in this process).
        self.assertLessEqual(after - before, 2, (before, after))
        self.assertLessEqual(self.cloud.connections - conns, 2)
        self.assertEqual(1, self.cloud.count('POST', 'ks_token'))

    def test_sockets_flat_with_a_new_user_token_per_call(self):
        self.create()
        before = fakes_heat.open_sockets()
        conns = self.cloud.connections
        for _ in range(150):
            ctx = self.fx.user_context()
            self.driver.update_cluster_status(ctx, self.cluster)
        after = fakes_heat.open_sockets()
        self.assertLessEqual(after - before, 2, (before, after))
        self.assertLessEqual(self.cloud.connections - conns, 2)


class StallTest(DriverTestBase):
    """Stall detection in the poll: fake Heat, fake clocks, real objects."""

    def setUp(self):
        super().setUp()
        self.now = [1000.0]
        self.monitor = stall_mod.Monitor(clock=lambda: self.now[0],
                                         mono=lambda: self.now[0])
        self.useFixture(fixtures.MonkeyPatch(
            'magnum_cern_driver.stall.MONITOR', self.monitor))
        self.config(group='cern_driver', stall_after=300,
                    stall_check_interval=60)

    def busy(self, stack, *servers):
        group = 'aaaaaaaa-0000-0000-0000-000000000002'
        stack.resources = [
            fakes_heat.listed_resource('workers', 'OS::Heat::ResourceGroup',
                                       stack.name, stack.id, nested=group)]
        stack.resources += [
            fakes_heat.listed_resource(str(i), 'OS::Nova::Server', 'g',
                                       group, physical_id='server-%d' % i,
                                       parent='workers', depth=1)
            for i in servers]

    def poll_at(self, t):
        self.now[0] = t
        return self.poll()

    def test_stall_reported_and_cleared(self):
        stack = self.create()
        self.busy(stack, 1, 2)
        self.cloud.set_status(stack.id, 'CREATE_IN_PROGRESS',
                              'Stack CREATE started')
        for t in range(1000, 1360, 10):
            cluster = self.poll_at(t)
            self.assertEqual('Stack CREATE started', cluster.status_reason)
        # 36 polls, one resource list per minute from a minute after the
        # first poll (at 1060, 1120, 1180, 1240, 1300): the first look
        # starts the clock, so the stall is due at 1060 + 300
        self.assertEqual(5, self.cloud.count('GET', 'heat_resources'))
        cluster = self.poll_at(1360)
        self.assertEqual('CREATE_IN_PROGRESS', cluster.status)
        self.assertTrue(status.is_stalled(cluster.status_reason),
                        cluster.status_reason)
        self.assertIn('workers/1 (OS::Nova::Server)', cluster.status_reason)
        # between looks the verdict stands, without Heat calls
        lists = self.cloud.count('GET', 'heat_resources')
        cluster = self.poll_at(1390)
        self.assertTrue(status.is_stalled(cluster.status_reason))
        self.assertEqual(lists, self.cloud.count('GET', 'heat_resources'))
        # progress resumes: server 1 finished
        self.busy(stack, 2)
        cluster = self.poll_at(1420)
        self.assertEqual('Stack CREATE started', cluster.status_reason)
        self.assertEqual('CREATE_IN_PROGRESS', cluster.status)

    def test_stall_of_a_delete(self):
        stack = self.create()
        self.busy(stack, 1)
        self.cloud.set_status(stack.id, 'DELETE_IN_PROGRESS', 'deleting')
        cluster = objects.Cluster.get_by_uuid(self.admin, CLUSTER_UUID)
        cluster.status = 'DELETE_IN_PROGRESS'
        cluster.save()
        self.poll_at(1000)
        self.poll_at(1060)
        cluster = self.poll_at(1360)
        self.assertEqual('DELETE_IN_PROGRESS', cluster.status)
        self.assertTrue(status.is_stalled(cluster.status_reason))

    def test_settled_stack_forgets_and_keeps_heat_result(self):
        stack = self.create()
        self.busy(stack, 1)
        self.poll_at(1000)
        self.poll_at(1400)
        self.assertIsNotNone(self.monitor.get(stack.id))
        self.outputs(stack)
        self.cloud.set_status(stack.id, 'CREATE_COMPLETE')
        cluster = self.poll_at(1410)
        self.assertEqual('CREATE_COMPLETE', cluster.status)
        self.assertIsNone(cluster.status_reason)
        self.assertIsNone(self.monitor.get(stack.id))

    def test_listing_fails_keeps_polling(self):
        stack = self.create()
        self.busy(stack, 1)
        self.poll_at(1000)
        self.poll_at(1060)
        self.cloud.fail_with = 503
        cluster = self.poll_at(1370)       # the stack show fails too
        self.assertIn('will retry', cluster.status_reason)
        self.cloud.fail_with = None
        cluster = self.poll_at(1380)
        self.assertTrue(status.is_stalled(cluster.status_reason))

    def test_stack_settling_within_an_interval_is_never_listed(self):
        stack = self.create()
        self.busy(stack, 1)
        self.poll_at(1000)
        self.poll_at(1010)
        self.poll_at(1050)
        self.outputs(stack)
        self.cloud.set_status(stack.id, 'CREATE_COMPLETE')
        cluster = self.poll_at(1059)
        self.assertEqual('CREATE_COMPLETE', cluster.status)
        self.assertEqual(0, self.cloud.count('GET', 'heat_resources'))
        self.assertIsNone(self.monitor.get(stack.id))

    def test_turned_off(self):
        self.config(group='cern_driver', stall_after=0)
        stack = self.create()
        self.busy(stack, 1)
        self.poll_at(1000)
        cluster = self.poll_at(5000)
        self.assertFalse(status.is_stalled(cluster.status_reason))
        self.assertEqual(0, self.cloud.count('GET', 'heat_resources'))
