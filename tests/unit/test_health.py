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
"""The health monitor, driven by Magnum's own periodic health job."""

import fixtures
from magnum import objects
from magnum.service import periodic
from oslo_service import loopingcall

from magnum_cern_driver import health
from tests.unit import test_driver

CLUSTER_UUID = test_driver.CLUSTER_UUID


class HealthTest(test_driver.DriverTestBase):

    def setUp(self):
        super().setUp()
        # The Kubernetes client Magnum's monitor builds: a spy that stops
        # there (no Kubernetes API in unit tests).
        self.clients = []

        def client(context, cluster):
            self.clients.append(cluster.uuid)
            raise RuntimeError('no Kubernetes API here')
        self.useFixture(fixtures.MockPatch(
            'magnum.conductor.k8s_api.KubernetesAPI', side_effect=client))

    def job(self):
        """Magnum's health job for the cluster, run once; the cluster."""
        cluster = objects.Cluster.get_by_uuid(self.admin, CLUSTER_UUID)
        job = periodic.ClusterHealthUpdateJob(self.admin, cluster)
        self.assertRaises(loopingcall.LoopingCallDone,
                          job.update_health_status)
        return objects.Cluster.get_by_uuid(self.admin, CLUSTER_UUID)

    def test_unreachable_cluster_needs_no_kubernetes_client(self):
        self.complete()
        cluster = self.job()
        self.assertEqual('UNKNOWN', cluster.health_status)
        self.assertEqual(health.unreachable_reason('demo'),
                         cluster.health_status_reason)
        self.assertEqual([], self.clients)

    def test_unchanged_unknown_is_not_reported_again(self):
        self.complete()
        cluster = self.job()
        monitor = self.driver.get_monitor(self.admin, cluster)
        monitor.poll_health_status()
        self.assertIsNone(monitor.data.get('health_status'))
        # a different reason is reported
        cluster.health_status_reason = {'api': 'something else'}
        monitor = self.driver.get_monitor(self.admin, cluster)
        monitor.poll_health_status()
        self.assertEqual('UNKNOWN', monitor.data.get('health_status'))

    def test_reachable_cluster_is_asked_as_magnum_does(self):
        self.complete()
        cluster = objects.Cluster.get_by_uuid(self.admin, CLUSTER_UUID)
        cluster.floating_ip_enabled = True
        cluster.save()
        self.job()
        self.assertEqual([CLUSTER_UUID], self.clients)

    def test_no_monitor_and_no_error_before_the_cluster_has_a_ca(self):
        cluster = objects.Cluster.get_by_uuid(self.admin, CLUSTER_UUID)
        cluster.ca_cert_ref = None
        cluster.save()
        cluster = self.job()
        self.assertIsNone(cluster.health_status)
        self.assertEqual([], self.clients)
