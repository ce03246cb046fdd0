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
"""The driver with real Magnum objects (SQLite) and a fake Heat/Keystone
at the HTTP boundary (tests/unit/fakes_heat.py)."""

import inspect
import logging
import socket

import fixtures
from magnum.common import exception
from magnum.conductor.handlers.common import cert_manager
from magnum.drivers.common import driver as base_driver
from magnum.drivers.common import k8s_monitor
from magnum.drivers.common import k8s_scale_manager
from magnum import objects
from magnum.tests.unit.db import base as db_base
from magnum.tests.unit.db import utils as db_utils

from magnum_cern_driver import driver
from magnum_cern_driver import heat
from magnum_cern_driver import params
from magnum_cern_driver import status
from magnum_cern_driver import userdata
from tests.unit import fakes_heat

CLUSTER_UUID = '5d12f6fd-a196-4bf0-ae4c-1f639a523a52'
CT_UUID = 'e74c40e0-d825-11e2-a28f-0800200c9a66'


def _holds(text, value):
    return value in text


class DriverTestBase(db_base.DbTestCase):

    def setUp(self):
        super().setUp()
        base_driver.Driver.definitions = None
        self.addCleanup(setattr, base_driver.Driver, 'definitions', None)
        self.fx = fakes_heat.CloudFixture(self)
        self.cloud = self.fx.cloud
        self.config(group='certificates', cert_manager_type='x509keypair')
        self.config(group='cern_driver', drain_timeout=2)
        self.ctx = self.fx.user_context()
        self.admin = self.fx.admin_context()
        db_utils.create_test_cluster_template(
            uuid=CT_UUID, coe='kubernetes', cluster_distro='almalinux',
            server_type='vm', image_id='alma-9', flavor_id='m1.large',
            master_flavor_id='m1.large', labels={}, apiserver_port=6443,
            docker_volume_size=0, master_lb_enabled=False)
        db_utils.create_test_cluster(
            uuid=CLUSTER_UUID, name='demo', cluster_template_id=CT_UUID,
            stack_id=None, status='CREATE_IN_PROGRESS', status_reason=None,
            labels={}, api_address=None, master_lb_enabled=False,
            floating_ip_enabled=False, keypair='kp')
        db_utils.create_test_nodegroup(
            uuid='11111111-0000-0000-0000-000000000001',
            name='default-master', role='master', node_count=1,
            cluster_id=CLUSTER_UUID, stack_id=None, node_addresses=[],
            status='CREATE_IN_PROGRESS', status_reason=None,
            min_node_count=1, image_id='alma-9', flavor_id='m1.large')
        db_utils.create_test_nodegroup(
            uuid='11111111-0000-0000-0000-000000000002',
            name='default-worker', role='worker', node_count=3,
            cluster_id=CLUSTER_UUID, stack_id=None, node_addresses=[],
            status='CREATE_IN_PROGRESS', status_reason=None,
            min_node_count=0, max_node_count=10, image_id='alma-9',
            flavor_id='m1.large')
        self.cluster = objects.Cluster.get_by_uuid(self.ctx, CLUSTER_UUID)
        cert_manager.generate_certificates_to_cluster(self.cluster,
                                                      context=self.ctx)
        self.cluster.save()
        self.driver = driver.Driver()
        # No waiting between looks for a stack whose create answer was lost.
        self.useFixture(fixtures.MockPatch(
            'magnum_cern_driver.driver.CREATE_LOOKUP_DELAYS', (0, 0, 0)))

    # -- helpers

    def create(self, timeout=60):
        """Conductor-like create; returns the fake stack."""
        self.driver.create_cluster(self.ctx, self.cluster, timeout)
        self.cluster.save()
        for ng in self.cluster.nodegroups:
            ng.stack_id = self.cluster.stack_id
            ng.save()
        return self.cloud.stack(self.cluster.stack_id)

    def poll(self, cluster=None):
        cluster = cluster or objects.Cluster.get_by_uuid(self.admin,
                                                         CLUSTER_UUID)
        self.driver.update_cluster_status(self.admin, cluster)
        return objects.Cluster.get_by_uuid(self.admin, CLUSTER_UUID)

    def outputs(self, stack, workers=3, extra=None):
        stack.outputs = {
            'api_address': '10.0.0.5',
            'master_addresses': ['10.0.0.2'],
            'ng_default_worker_addresses': ['10.0.1.%d' % i
                                            for i in range(workers)],
            'ng_default_worker_refs_maps': [
                {str(i): 'server-%d' % i for i in range(workers)}],
        }
        stack.outputs.update(extra or {})

    def complete(self, status='CREATE_COMPLETE', workers=3):
        stack = self.create()
        self.outputs(stack, workers)
        self.cloud.set_status(stack.id, status)
        cluster = self.poll()
        self.assertEqual(status, cluster.status)
        return stack, cluster

    def nodegroup(self, name):
        return objects.NodeGroup.get(self.admin, CLUSTER_UUID, name)


class CreateTest(DriverTestBase):

    def test_create_sets_stack_and_secrets_by_role(self):
        logs = self.useFixture(fixtures.FakeLogger(level=logging.DEBUG))
        fakes_heat.debug_logging(self)
        stack = self.create(timeout=42)
        self.poll()
        self.assertIn('REQ: curl', logs.output)    # keystoneauth at DEBUG
        self.assertEqual(stack.id, self.cluster.stack_id)
        self.assertEqual(params.stack_name_for('demo', CLUSTER_UUID),
                         stack.name)
        self.assertEqual(42, stack.timeout_mins)
        p = stack.parameters
        self.assertEqual(3, p['ng_default_worker_shard_0_count'])
        self.assertEqual({'master_user_data', 'ng_default_worker_user_data'},
                         stack.hidden())
        # One application credential, owned by the user, named for us.
        creds = list(self.cloud.app_creds.values())
        self.assertEqual(1, len(creds))
        self.assertEqual('fake_user', creds[0]['user_id'])
        self.assertTrue(creds[0]['name'].startswith(
            'magnum-%s-' % CLUSTER_UUID))
        secret = creds[0]['secret']
        ca = cert_manager.get_cluster_ca_certificate(self.cluster, self.ctx)
        ca_key = ca.get_decrypted_private_key().decode()
        key_body = ca_key.splitlines()[1]
        # What the nodes get, the archive unpacked.
        master, worker = (
            '\n'.join(body for _perm, body in
                      userdata.written_files(p[name]).values())
            for name in ('master_user_data', 'ng_default_worker_user_data'))
        # (not assertIn: a failure must not print the secret)
        self.assertTrue(_holds(master, key_body), 'CA key missing on masters')
        self.assertFalse(_holds(worker, key_body), 'CA key sent to workers')
        self.assertTrue(_holds(master, secret), 'credential missing on '
                        'masters')
        self.assertFalse(_holds(worker, secret), 'credential sent to workers')
        # Nothing secret in any log line, even at DEBUG, nor the archive
        # that carries the secrets compressed.
        blobs = userdata.archive_blobs(p['master_user_data'])
        self.assertEqual(1, len(blobs))
        for value in [secret, key_body] + blobs:
            self.assertFalse(_holds(logs.output, value), 'secret in logs')

    def test_create_rejected_by_heat(self):
        self.cloud.reject_create = (400, 'Property error: flavor m1.large '
                                    'not found')
        e = self.assertRaises(exception.MagnumException,
                              self.driver.create_cluster, self.ctx,
                              self.cluster, 60)
        self.assertIn('flavor m1.large not found', str(e))
        self.assertIsNone(self.cluster.stack_id)
        # The credential made for the stack is gone again.
        self.assertEqual({}, self.cloud.app_creds)
        self.assertNotIn('appcred-', str(e))
        self.assertNotIn('PRIVATE KEY', str(e))

    def test_create_adopts_stack_when_heat_answer_is_lost(self):
        self.cloud.lose_create_answer = True
        self.driver.create_cluster(self.ctx, self.cluster, 60)
        self.assertEqual(self.cloud.stack().id, self.cluster.stack_id)
        self.assertEqual(1, len(self.cloud.app_creds))

    def test_create_whose_answer_is_lost_is_sent_once(self):
        self.config(group='cern_driver', heat_api_retries=3)
        self.cloud.lose_create_answer = True
        self.driver.create_cluster(self.ctx, self.cluster, 60)
        self.assertEqual(1, self.cloud.count('POST', 'heat_create'))
        self.assertEqual(self.cloud.stack().id, self.cluster.stack_id)

    def test_create_whose_answer_times_out_is_sent_once(self):
        # keystoneauth counts a read time-out as a connect failure and its
        # connect retries would re-send the POST Heat is working on.
        self.config(group='cern_driver', heat_api_retries=3)
        self.config(group='keystone_auth', timeout=1)
        heat.reset_sessions()
        self.cloud.slow_create_answer = 2.0
        self.driver.create_cluster(self.ctx, self.cluster, 60)
        self.assertEqual(1, self.cloud.count('POST', 'heat_create'))
        self.assertEqual(self.cloud.stack().id, self.cluster.stack_id)

    def test_create_sent_again_only_when_heat_has_no_stack(self):
        self.config(group='cern_driver', heat_api_retries=2)
        self.cloud.reject_create = (503, 'engine busy')
        self.cloud.reject_creates_left = 1
        self.driver.create_cluster(self.ctx, self.cluster, 60)
        self.assertEqual(2, self.cloud.count('POST', 'heat_create'))
        self.assertEqual(self.cloud.stack().id, self.cluster.stack_id)
        self.assertEqual(1, len(self.cloud.stacks))

    def test_create_gives_up_after_the_retries(self):
        self.config(group='cern_driver', heat_api_retries=2)
        self.cloud.reject_create = (503, 'engine busy')
        e = self.assertRaises(exception.MagnumException,
                              self.driver.create_cluster, self.ctx,
                              self.cluster, 60)
        self.assertIn('did not create', str(e))
        self.assertEqual(3, self.cloud.count('POST', 'heat_create'))
        self.assertEqual({}, self.cloud.app_creds)

    def test_create_adopts_stack_on_conflict_from_retried_post(self):
        # A POST whose answer timed out was retried and met 409: the first
        # one created the stack, which is ours (the name holds our uuid).
        self.driver.create_cluster(self.ctx, self.cluster, 60)
        first = self.cluster.stack_id
        self.cluster.stack_id = None
        self.cloud.reject_create = (409, 'The Stack already exists')
        self.driver.create_cluster(self.ctx, self.cluster, 60)
        self.assertEqual(first, self.cluster.stack_id)

    def test_create_transient_failure_without_stack(self):
        self.cloud.fail_with = 503
        e = self.assertRaises(exception.MagnumException,
                              self.driver.create_cluster, self.ctx,
                              self.cluster, 60)
        self.assertIn('503', str(e))
        self.assertIsNone(self.cluster.stack_id)
        self.assertEqual({}, self.cloud.app_creds)

    def test_invalid_input_message_shown_as_is(self):
        self.useFixture(fixtures.MockPatch(
            'magnum_cern_driver.params.build_stack',
            side_effect=params.InvalidInput('at most 50% of the quota')))
        e = self.assertRaises(exception.InvalidParameterValue,
                              self.driver.create_cluster, self.ctx,
                              self.cluster, 60)
        self.assertIn('at most 50% of the quota', str(e))

    def test_site_ca_bundle_file_reaches_every_node(self):
        # The driver reads [cern_driver] ca_bundle_file (params reads no
        # file) and every nodegroup's user data carries the text.
        pem = ('-----BEGIN CERTIFICATE-----\nU0lURUNB\n'
               '-----END CERTIFICATE-----\n')
        path = self.useFixture(fixtures.TempDir()).join('site-ca.pem')
        with open(path, 'w') as f:
            f.write(pem)
        self.config(group='cern_driver', ca_bundle_file=path)
        stack = self.create()
        for name in ('master_user_data', 'ng_default_worker_user_data'):
            files = userdata.written_files(stack.parameters[name])
            self.assertEqual(('0644', pem), files[userdata.SITE_CA_FILE])

    def test_create_with_invalid_label_creates_nothing(self):
        self.cluster.labels = {'flannel_backend': 'carrier-pigeon'}
        self.cluster.save()
        ng = self.nodegroup('default-worker')
        ng.labels = {'flannel_backend': 'carrier-pigeon'}
        ng.save()
        self.assertRaises(exception.InvalidParameterValue,
                          self.driver.create_cluster, self.ctx,
                          self.cluster, 60)
        self.assertEqual({}, self.cloud.app_creds)
        self.assertEqual({}, self.cloud.stacks)

    def test_create_over_network_capacity_creates_nothing(self):
        # 1 master + 3 workers; a /23 pod network holds 2 nodes of /24
        self.cluster.labels = {'flannel_network_cidr': '10.100.0.0/23'}
        self.cluster.save()
        e = self.assertRaises(exception.InvalidParameterValue,
                              self.driver.create_cluster, self.ctx,
                              self.cluster, 60)
        self.assertIn('4 nodes (masters included)', str(e))
        self.assertIn('holds 2', str(e))
        self.assertEqual({}, self.cloud.app_creds)
        self.assertEqual({}, self.cloud.stacks)

    def test_create_without_application_credentials(self):
        self.config(group='cern_driver', application_credentials=False)
        # the cloud provider needs one: refused before anything is made
        self.assertRaises(exception.InvalidParameterValue,
                          self.driver.create_cluster, self.ctx,
                          self.cluster, 60)
        self.cluster.labels = {'cloud_provider_enabled': 'false'}
        self.cluster.save()
        self.create()
        self.assertEqual({}, self.cloud.app_creds)
        self.assertNotIn('placeholder',
                         self.cloud.stack().parameters['master_user_data'])


class SecretValuesTest(DriverTestBase):

    def test_every_key_and_credential_is_redacted(self):
        secrets = params.Secrets(ca_key='-----BEGIN KEY-----\nabc\n',
                                 bootstrap_token='abcdef.0123456789abcdef',
                                 app_cred_secret='s3cr3t-s3cr3t',
                                 sa_key='-----BEGIN KEY-----\nsa\n')
        values = driver.Driver._secret_values(secrets)
        for value in (secrets.ca_key, secrets.bootstrap_token,
                      secrets.app_cred_secret, secrets.sa_key):
            self.assertIn(value, values)
        self.assertNotIn('', values)


class DeleteTest(DriverTestBase):

    def test_delete_then_poll(self):
        stack, cluster = self.complete()
        self.driver.delete_cluster(self.ctx, cluster)
        self.assertEqual('DELETE_IN_PROGRESS', stack.status)
        self.assertEqual({}, self.cloud.app_creds)
        cluster.status = 'DELETE_IN_PROGRESS'
        cluster.save()
        self.assertEqual('DELETE_IN_PROGRESS', self.poll().status)
        del self.cloud.stacks[stack.id]
        self.assertEqual('DELETE_COMPLETE', self.poll().status)

    def test_delete_of_missing_stack_twice(self):
        stack, cluster = self.complete()
        del self.cloud.stacks[stack.id]
        self.driver.delete_cluster(self.ctx, cluster)
        self.driver.delete_cluster(self.ctx, cluster)
        self.assertEqual({}, self.cloud.app_creds)
        cluster.status = 'DELETE_IN_PROGRESS'
        cluster.save()
        self.assertEqual('DELETE_COMPLETE', self.poll().status)

    def test_delete_by_another_user_removes_owner_credential(self):
        stack, cluster = self.complete()
        other = self.fx.user_context(user='other_user')
        self.driver.delete_cluster(other, cluster)
        self.assertEqual({}, self.cloud.app_creds)

    def test_delete_racing_the_create_deletes_the_stack(self):
        # the DELETE's cluster was read before the create saved stack_id
        cluster = objects.Cluster.get_by_uuid(self.admin, CLUSTER_UUID)
        self.driver.create_cluster(self.ctx, self.cluster, 60)
        stack = self.cloud.stack(self.cluster.stack_id)
        self.assertIsNone(cluster.stack_id)
        self.driver.delete_cluster(self.ctx, cluster)
        self.assertEqual('DELETE_IN_PROGRESS', stack.status)

    def test_stackless_delete_keeps_an_id_the_create_saved_meanwhile(self):
        deleting = objects.Cluster.get_by_uuid(self.admin, CLUSTER_UUID)
        self.driver.delete_cluster(self.ctx, deleting)   # finds no stack
        self.driver.create_cluster(self.ctx, self.cluster, 60)
        deleting.status = 'DELETE_IN_PROGRESS'
        deleting.save()                     # what the conductor does next
        stored = objects.Cluster.get_by_uuid(self.admin, CLUSTER_UUID)
        self.assertEqual(self.cluster.stack_id, stored.stack_id)

    def test_second_delete_leaves_running_delete_alone(self):
        stack, cluster = self.complete()
        self.driver.delete_cluster(self.ctx, cluster)
        deletes = self.cloud.count('DELETE', 'heat_delete')
        self.driver.delete_cluster(self.ctx, cluster)
        self.assertEqual(deletes, self.cloud.count('DELETE', 'heat_delete'))
        self.assertEqual('DELETE_IN_PROGRESS', stack.status)

    def test_heat_refuses_delete(self):
        stack, cluster = self.complete()
        self.cloud.fail_with = 503
        self.assertRaises(exception.MagnumException,
                          self.driver.delete_cluster, self.ctx, cluster)
        # DELETE_FAILED: the cluster runs on, its credential still valid.
        self.cloud.fail_with = None
        self.assertEqual(1, len(self.cloud.app_creds))


class ResizeTest(DriverTestBase):

    def resize(self, cluster, count, remove=None, ng='default-worker'):
        nodegroup = self.nodegroup(ng)
        nodegroup.node_count = count              # as the conductor does
        nodegroup.status = 'UPDATE_IN_PROGRESS'
        nodegroup.save()
        self.driver.resize_cluster(self.ctx, cluster, None, count, remove,
                                   nodegroup)
        return self.nodegroup(ng)

    def test_resize_up_patches_only_the_count(self):
        stack, cluster = self.complete()
        self.resize(cluster, 5)
        patch = stack.patches[-1]
        self.assertEqual({'ng_default_worker_shard_0_count': 5},
                         patch['parameters'])
        self.assertNotIn('template', patch)
        self.cloud.set_status(stack.id, 'UPDATE_COMPLETE')
        cluster.status = 'UPDATE_IN_PROGRESS'
        cluster.save()
        self.outputs(stack, workers=5)
        cluster = self.poll()
        self.assertEqual('UPDATE_COMPLETE', cluster.status)
        self.assertEqual(5, len(cluster.node_addresses))
        self.assertEqual('UPDATE_COMPLETE',
                         self.nodegroup('default-worker').status)

    def test_resize_across_shards_touches_only_new_shards(self):
        self.config(group='cern_driver', worker_shard_size=2)
        stack, cluster = self.complete()
        p = stack.parameters
        self.assertEqual(2, p['ng_default_worker_shard_0_count'])
        self.assertEqual(1, p['ng_default_worker_shard_1_count'])
        self.resize(cluster, 6)
        patch = stack.patches[-1]
        self.assertEqual({'ng_default_worker_shard_1_count': 2,
                          'ng_default_worker_shard_2_count': 2},
                         patch['parameters'])
        self.assertIn('ng_default_worker_shard_2',
                      patch['template']['resources'])

    def test_resize_down_by_name_and_server_id(self):
        stack, cluster = self.complete()
        cluster.api_address = None
        cluster.save()
        prefix = params.server_prefix(stack.name, 'default-worker')
        ng = self.resize(cluster, 1, ['%s-0-1' % prefix, 'server-2'])
        patch = stack.patches[-1]
        self.assertEqual(1, patch['parameters'][
            'ng_default_worker_shard_0_count'])
        self.assertEqual([{'resource_list': ['1', '2']}], patch['parameters'][
            'ng_default_worker_shard_0_removal'])
        self.assertIn('Drain skipped', ng.status_reason)

    def test_resize_with_unknown_nodes_to_remove(self):
        stack, cluster = self.complete()
        e = self.assertRaises(exception.InvalidParameterValue, self.resize,
                              cluster, 2, ['no-such-node', 'server-1'])
        self.assertIn('no-such-node', str(e))
        self.assertNotIn('server-1', str(e))
        self.assertEqual([], stack.patches)

    def test_unknown_node_with_a_percent_sign_shown_as_is(self):
        # InvalidParameterValue substitutes err once: escaping '%' before
        # showed users '%%' (as build errors once did).
        stack, cluster = self.complete()
        e = self.assertRaises(exception.InvalidParameterValue, self.resize,
                              cluster, 2, ['node-50%-full'])
        self.assertIn('not nodes of nodegroup default-worker: '
                      'node-50%-full', str(e))
        self.assertNotIn('%%', str(e))
        self.assertEqual([], stack.patches)

    def test_resize_respects_bounds(self):
        stack, cluster = self.complete()
        e = self.assertRaises(exception.InvalidParameterValue, self.resize,
                              cluster, 11)
        # the bounds' one check (params.check_node_count) names them
        self.assertIn('nodegroup default-worker: node_count 11 above '
                      'max_node_count 10', str(e))
        self.assertEqual([], stack.patches)

    def test_resize_over_network_capacity_refused_before_drain(self):
        # a /22 pod network holds 4 nodes: 1 master + 3 workers fit
        self.cluster.labels = {'flannel_network_cidr': '10.100.0.0/22'}
        self.cluster.save()
        stack, cluster = self.complete()
        prefix = params.server_prefix(stack.name, 'default-worker')
        e = self.assertRaises(exception.InvalidParameterValue, self.resize,
                              cluster, 4, ['%s-0-1' % prefix])
        self.assertIn('5 nodes (masters included)', str(e))
        self.assertEqual([], stack.patches)
        self.assertNotIn(status.DRAIN_NOTE, self.nodegroup(
            'default-worker').status_reason or '')
        self.resize(cluster, 3)     # within capacity: fine

    def test_update_keeps_the_networks_the_stack_was_built_with(self):
        self.cluster.master_lb_enabled = True      # an HA endpoint
        self.cluster.save()
        stack, cluster = self.complete()
        self.assertFalse(stack.parameters['master_lb_enabled'])   # a VIP
        # a stack built before the defaults changed (pod network /16,
        # the template's /20 subnet, Octavia in front of the API)
        stack.parameters.update({'pod_cidr': '10.100.0.0/16',
                                 'fixed_subnet_cidr': '10.0.0.0/20',
                                 'master_lb_enabled': True})
        self.resize(cluster, 5)
        self.assertEqual({'ng_default_worker_shard_0_count': 5},
                         stack.patches[-1]['parameters'])
        # ... and its capacity is what counts (256 nodes)
        ng = self.nodegroup('default-worker')
        ng.max_node_count = 1000
        ng.save()
        e = self.assertRaises(exception.InvalidParameterValue, self.resize,
                              cluster, 256)
        self.assertIn('10.100.0.0/16', str(e))

    def test_resize_master_not_supported(self):
        stack, cluster = self.complete()
        self.assertRaises(exception.MasterNGResizeNotSupported, self.resize,
                          cluster, 3, None, 'default-master')

    def test_resize_when_stack_is_gone(self):
        stack, cluster = self.complete()
        del self.cloud.stacks[stack.id]
        e = self.assertRaises(exception.MagnumException, self.resize,
                              cluster, 4)
        self.assertIn('no longer exists', str(e))

    def test_drain_unreachable_api_is_bounded(self):
        stack, cluster = self.complete()
        sock = socket.socket()
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
        sock.close()                      # nothing listens there
        cluster.api_address = 'https://127.0.0.1:%d' % port
        cluster.save()
        prefix = params.server_prefix(stack.name, 'default-worker')
        ng = self.resize(cluster, 2, ['%s-0-0' % prefix])
        self.assertIn('Drain skipped', ng.status_reason)
        self.assertIn('not reachable', ng.status_reason)
        self.assertEqual(1, len(stack.patches))

    def test_update_cluster_changes_default_worker(self):
        stack, cluster = self.complete()
        ng = self.nodegroup('default-worker')
        ng.node_count = 4
        ng.save()
        self.driver.update_cluster(self.ctx, cluster)
        self.assertEqual({'ng_default_worker_shard_0_count': 4},
                         stack.patches[-1]['parameters'])


class NodeGroupTest(DriverTestBase):

    def add_gpu(self, cluster):
        ng = objects.NodeGroup(self.ctx, uuid='22222222-0000-0000-0000-'
                               '000000000003', name='gpu',
                               cluster_id=CLUSTER_UUID,
                               project_id='fake_project', role='worker',
                               node_count=2, flavor_id='g1.xlarge',
                               image_id='alma-9', labels={
                                   'availability_zone': 'zone-b'},
                               min_node_count=0, is_default=False,
                               node_addresses=[],
                               status='CREATE_IN_PROGRESS')
        ng.create()
        self.driver.create_nodegroup(self.ctx, cluster, ng)
        ng.save()
        return ng

    def test_create_and_delete_nodegroup(self):
        stack, cluster = self.complete()
        ng = self.add_gpu(cluster)
        self.assertEqual(stack.id, ng.stack_id)
        patch = stack.patches[-1]
        self.assertIn('ng_gpu_shard_0', patch['template']['resources'])
        p = patch['parameters']
        self.assertEqual(2, p['ng_gpu_shard_0_count'])
        self.assertEqual('g1.xlarge', p['ng_gpu_flavor'])
        self.assertEqual('zone-b', p['ng_gpu_availability_zone'])
        self.assertIn('ng_gpu_user_data', p)           # new: sent once
        self.assertNotIn('master_user_data', p)        # kept by Heat
        self.assertNotIn('ng_default_worker_shard_0_count', p)
        # the stack finishes
        cluster.status = 'UPDATE_IN_PROGRESS'
        cluster.save()
        self.outputs(stack, extra={'ng_gpu_addresses': ['10.0.2.1',
                                                        '10.0.2.2']})
        self.cloud.set_status(stack.id, 'UPDATE_COMPLETE')
        cluster = self.poll()
        self.assertEqual('UPDATE_COMPLETE', cluster.status)
        gpu = self.nodegroup('gpu')
        self.assertEqual('CREATE_COMPLETE', gpu.status)
        self.assertEqual(['10.0.2.1', '10.0.2.2'], gpu.node_addresses)
        self.assertEqual('CREATE_COMPLETE',
                         self.nodegroup('default-worker').status)
        # and delete it again
        self.driver.delete_nodegroup(self.ctx, cluster, gpu)
        patch = stack.patches[-1]
        self.assertNotIn('ng_gpu_shard_0', patch['template']['resources'])
        # Its hidden user data stays declared, emptied: Heat 27.0.1 with
        # encrypted parameters fails on a hidden parameter leaving the
        # template (params.retire_hidden).
        self.assertEqual({'type': 'string', 'hidden': True, 'default': ''},
                         {k: v for k, v in patch['template']['parameters'][
                             'ng_gpu_user_data'].items()
                          if k != 'description'})
        self.assertEqual('', patch['parameters']['ng_gpu_user_data'])
        self.assertNotIn('ng_gpu_flavor', patch['template']['parameters'])
        self.assertEqual('DELETE_IN_PROGRESS', self.nodegroup('gpu').status)
        self.cloud.set_status(stack.id, 'UPDATE_COMPLETE')
        cluster.status = 'UPDATE_IN_PROGRESS'
        cluster.save()
        self.poll()
        self.assertRaises(exception.NodeGroupNotFound, self.nodegroup, 'gpu')

    def test_nodegroup_over_network_capacity_refused(self):
        # a /22 pod network holds 4 nodes: 1 master + 3 workers, no more
        self.cluster.labels = {'flannel_network_cidr': '10.100.0.0/22'}
        self.cluster.save()
        stack, cluster = self.complete()
        e = self.assertRaises(exception.InvalidParameterValue, self.add_gpu,
                              cluster)
        self.assertIn('6 nodes (masters included)', str(e))
        self.assertEqual([], stack.patches)

    def test_nodegroup_failure(self):
        stack, cluster = self.complete()
        self.add_gpu(cluster)
        cluster.status = 'UPDATE_IN_PROGRESS'
        cluster.save()
        self.cloud.set_status(stack.id, 'UPDATE_FAILED', 'quota exceeded')
        cluster = self.poll()
        self.assertEqual('UPDATE_FAILED', cluster.status)
        self.assertEqual('CREATE_FAILED', self.nodegroup('gpu').status)
        self.assertEqual('CREATE_COMPLETE',
                         self.nodegroup('default-worker').status)

    def test_update_nodegroup_without_change(self):
        stack, cluster = self.complete()
        ng = self.nodegroup('default-worker')
        ng.max_node_count = 20
        ng.status = 'UPDATE_IN_PROGRESS'
        cluster.status = 'UPDATE_IN_PROGRESS'
        cluster.save()
        self.driver.update_nodegroup(self.ctx, cluster, ng)
        self.assertEqual([], stack.patches)
        self.assertEqual('UPDATE_COMPLETE', self.nodegroup(
            'default-worker').status)
        self.assertEqual('UPDATE_COMPLETE', objects.Cluster.get_by_uuid(
            self.admin, CLUSTER_UUID).status)

    def test_master_and_default_nodegroups_are_protected(self):
        stack, cluster = self.complete()
        self.assertRaises(exception.NotSupported,
                          self.driver.delete_nodegroup, self.ctx, cluster,
                          self.nodegroup('default-worker'))
        master = objects.NodeGroup(self.ctx, name='m2', role='master',
                                   node_count=1)
        self.assertRaises(exception.NotSupported,
                          self.driver.create_nodegroup, self.ctx, cluster,
                          master)


class OtherOperationsTest(DriverTestBase):

    def _template_v132(self):
        new_ct = db_utils.create_test_cluster_template(
            uuid='f74c40e0-d825-11e2-a28f-0800200c9a66', name='v132',
            coe='kubernetes', cluster_distro='almalinux', server_type='vm',
            image_id='alma-9', labels={'kube_tag': 'v1.32.0'},
            apiserver_port=6443)
        return objects.ClusterTemplate.get_by_uuid(self.ctx, new_ct.uuid)

    def test_upgrade_resends_user_data_with_new_version(self):
        self.assertTrue(self.driver._rolling_updates_supported())
        stack, cluster = self.complete()
        old_master = stack.parameters['master_user_data']
        ct = self._template_v132()
        self.driver.upgrade_cluster(self.ctx, cluster, ct, 3,
                                    self.nodegroup('default-worker'))
        patch = stack.patches[-1]['parameters']
        # new user data everywhere, the batch size Magnum asked for, and a
        # new generation of masters: Heat waits for each new master's
        # readiness signal before it replaces the next
        self.assertEqual({'master_user_data', 'ng_default_worker_user_data',
                          'ng_default_worker_max_batch_size',
                          'master_generation'}, set(patch))
        self.assertEqual(3, patch['ng_default_worker_max_batch_size'])
        self.assertEqual(2, patch['master_generation'])
        self.assertNotEqual(old_master, patch['master_user_data'])
        self.assertNotIn('placeholder', patch['master_user_data'])
        self.assertEqual(ct.uuid, cluster.cluster_template_id)
        self.assertEqual('v1.32.0', cluster.labels['kube_tag'])
        # a fresh credential for the new master user data
        self.assertEqual(2, len(self.cloud.app_creds))
        cluster.save()
        cluster.status = 'UPDATE_IN_PROGRESS'
        cluster.save()
        self.cloud.set_status(stack.id, 'UPDATE_COMPLETE')
        self.assertEqual('v1.32.0', self.poll().coe_version)

    def _template_with(self, kube_tag, uuid):
        new_ct = db_utils.create_test_cluster_template(
            uuid=uuid, name='ct-%s' % kube_tag, coe='kubernetes',
            cluster_distro='almalinux', server_type='vm', image_id='alma-9',
            labels={'kube_tag': kube_tag}, apiserver_port=6443)
        return objects.ClusterTemplate.get_by_uuid(self.ctx, new_ct.uuid)

    def test_upgrade_refuses_skipped_minor_downgrade_and_bounds(self):
        stack, cluster = self.complete()      # v1.31.4 (the default)
        cases = [
            ('v1.33.0', 'skips a minor'),     # 1.31 -> 1.33
            ('v1.31.3', 'goes back'),         # a patch downgrade
            ('v1.34.0', '1.31 to 1.33'),      # beyond the supported minors
            ('v1.30.9', '1.31 to 1.33'),
        ]
        for i, (tag, why) in enumerate(cases):
            ct = self._template_with(
                tag, 'a74c40e0-d825-11e2-a28f-0800200c9a6%d' % i)
            e = self.assertRaises(exception.NotSupported,
                                  self.driver.upgrade_cluster, self.ctx,
                                  cluster, ct, 3,
                                  self.nodegroup('default-worker'))
            self.assertIn(why, str(e))
            self.assertIn(tag, str(e))
        # nothing changed: no PATCH, no new credential, same template
        self.assertEqual([], stack.patches)
        self.assertEqual(1, len(self.cloud.app_creds))
        self.assertEqual(CT_UUID, cluster.cluster_template_id)

    def test_upgrade_from_the_cluster_label_version(self):
        self.cluster.labels = {'kube_tag': 'v1.32.1'}
        self.cluster.save()
        stack, cluster = self.complete()
        self.assertRaises(exception.NotSupported,
                          self.driver.upgrade_cluster, self.ctx, cluster,
                          self._template_v132(), 3,
                          self.nodegroup('default-worker'))   # v1.32.0
        ct = self._template_with('v1.33.2',
                                 'b74c40e0-d825-11e2-a28f-0800200c9a66')
        self.driver.upgrade_cluster(self.ctx, cluster, ct, 3,
                                    self.nodegroup('default-worker'))
        self.assertEqual('v1.33.2', cluster.labels['kube_tag'])
        self.assertEqual(1, len(stack.patches))

    def test_upgrade_by_another_user_is_refused(self):
        # The new credential would be that user's, and escape cleanup.
        stack, cluster = self.complete()
        ct = self._template_v132()
        other = self.fx.user_context(user='other_user')
        e = self.assertRaises(exception.MagnumException,
                              self.driver.upgrade_cluster, other, cluster,
                              ct, 3, self.nodegroup('default-worker'))
        self.assertIn('owner', str(e))
        self.assertEqual(1, len(self.cloud.app_creds))
        self.assertEqual([], stack.patches)

    def test_rotate_ca_not_supported_and_keeps_the_ca(self):
        spawned = []
        self.useFixture(fixtures.MonkeyPatch(
            'magnum_cern_driver.refusal._spawn',
            lambda fn, *args: spawned.append(fn)))
        stack, cluster = self.complete()
        old = {f: getattr(cluster, f) for f in driver._CERT_REFS}
        cert_manager.generate_certificates_to_cluster(cluster,
                                                      context=self.ctx)
        new = {f: getattr(cluster, f) for f in driver._CERT_REFS}
        self.assertNotEqual(old, new)
        self.assertRaises(exception.NotSupported,
                          self.driver.rotate_ca_certificate, self.ctx,
                          cluster)
        self.assertEqual(old, {f: getattr(cluster, f)
                               for f in driver._CERT_REFS})
        for f in driver._CERT_REFS:
            self.assertRaises(exception.X509KeyPairNotFound,
                              objects.X509KeyPair.get_by_uuid, self.admin,
                              new[f])
        # the conductor's UPDATE_FAILED is undone afterwards (test_refusal)
        self.assertEqual(1, len(spawned))

    def test_rotate_credential_not_supported(self):
        self.assertRaises(exception.NotSupported,
                          self.driver.rotate_credential, self.ctx,
                          self.cluster)

    def test_federation_not_supported(self):
        for name in ('create_federation', 'update_federation',
                     'delete_federation'):
            self.assertRaises(exception.NotSupported,
                              getattr(self.driver, name), self.ctx, None)

    def test_monitor_and_scale_manager(self):
        stack, cluster = self.complete()
        self.assertTrue(cluster.ca_cert_ref)
        self.assertIsInstance(self.driver.get_monitor(self.ctx, cluster),
                              k8s_monitor.K8sMonitor)
        self.assertIsInstance(
            self.driver.get_scale_manager(self.ctx, None, cluster),
            k8s_scale_manager.K8sScaleManager)


class EntryPointTest(db_base.DbTestCase):

    def setUp(self):
        super().setUp()
        base_driver.Driver.definitions = None
        self.addCleanup(setattr, base_driver.Driver, 'definitions', None)

    def test_both_tuples_load_our_class(self):
        for server_type in ('vm', 'baremetal'):
            found = base_driver.Driver.get_driver(server_type, 'almalinux',
                                                  'kubernetes')
            self.assertIsInstance(found, driver.Driver)
        info = base_driver.Driver.get_drivers()[
            ('vm', 'almalinux', 'kubernetes')]
        self.assertEqual('k8s_cern_heat_v1', info['entry_point_name'])

    def test_no_abstract_method_left(self):
        self.assertEqual(frozenset(), driver.Driver.__abstractmethods__)
        for name in dir(base_driver.Driver):
            member = getattr(base_driver.Driver, name)
            if callable(member) and 'NotImplementedError' in (
                    inspect.getsource(member) if inspect.isfunction(member)
                    else ''):
                self.assertIsNot(member, getattr(driver.Driver, name), name)

    def test_no_not_implemented_in_our_code(self):
        source = inspect.getsource(driver)
        self.assertNotIn('NotImplementedError', source)
