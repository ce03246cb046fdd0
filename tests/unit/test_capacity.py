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

import testtools

from magnum_cern_driver import capacity
from magnum_cern_driver import labels


def values(**overrides):
    typed = labels.validate({})
    typed.update(overrides)
    return typed


class TestArithmetic(testtools.TestCase):

    def test_pod_network_capacity(self):
        self.assertEqual(256, capacity.pod_network_capacity(
            '10.100.0.0/16', 24))
        self.assertEqual(8192, capacity.pod_network_capacity(
            '10.64.0.0/11', 24))
        self.assertEqual(16384, capacity.pod_network_capacity(
            '10.64.0.0/11', 25))
        self.assertEqual(1, capacity.pod_network_capacity('10.1.2.0/24', 24))
        e = self.assertRaises(capacity.CapacityError,
                              capacity.pod_network_capacity,
                              '10.1.2.0/25', 24)
        self.assertIn('flannel_network_subnetlen', str(e))

    def test_pods_per_node(self):
        self.assertEqual(253, capacity.pods_per_node(24))
        self.assertEqual(125, capacity.pods_per_node(25))
        self.assertGreaterEqual(capacity.pods_per_node(
            labels.SCHEMA['flannel_network_subnetlen'].maximum),
            capacity.MAX_PODS_PER_NODE)

    def test_node_subnet_and_services(self):
        self.assertEqual(8192 - 11, capacity.node_subnet_capacity(
            '10.0.0.0/19'))
        self.assertEqual(4096 - 11, capacity.node_subnet_capacity(
            '10.0.0.0/20'))
        self.assertEqual(0, capacity.node_subnet_capacity('10.0.0.0/30'))
        self.assertEqual(65534, capacity.service_capacity('10.254.0.0/16'))

    def test_not_a_network(self):
        self.assertRaises(capacity.CapacityError,
                          capacity.pod_network_capacity, '10.300.0.0/16', 24)
        self.assertRaises(capacity.CapacityError,
                          capacity.node_subnet_capacity, '10.0.0.0/33')


class TestCheckNetworks(testtools.TestCase):

    def test_defaults_pass(self):
        capacity.check_networks(values())

    def test_kubeadm_16_bit_rule(self):
        capacity.check_networks(values(
            flannel_network_cidr='10.0.0.0/8',
            fixed_subnet_cidr='192.168.0.0/19',
            service_cluster_ip_range='172.16.0.0/16'))
        e = self.assertRaises(
            capacity.CapacityError, capacity.check_networks,
            values(flannel_network_cidr='8.0.0.0/7',
                   fixed_subnet_cidr='192.168.0.0/19'))
        self.assertIn('more than 16 bits', str(e))
        self.assertIn('/8 or longer', str(e))

    def test_service_range_size(self):
        capacity.check_networks(values(
            service_cluster_ip_range='10.240.0.0/12'))
        e = self.assertRaises(capacity.CapacityError,
                              capacity.check_networks,
                              values(service_cluster_ip_range='10.224.0.0/11'))
        self.assertIn('/12 or longer', str(e))
        self.assertRaises(capacity.CapacityError, capacity.check_networks,
                          values(service_cluster_ip_range='10.254.0.0/29'))
        capacity.check_networks(values(
            service_cluster_ip_range='10.254.0.0/28'))

    def test_overlaps(self):
        e = self.assertRaises(
            capacity.CapacityError, capacity.check_networks,
            values(service_cluster_ip_range='10.80.0.0/16'))
        self.assertIn('flannel_network_cidr 10.64.0.0/11 overlaps '
                      'service_cluster_ip_range 10.80.0.0/16', str(e))
        e = self.assertRaises(
            capacity.CapacityError, capacity.check_networks,
            values(fixed_subnet_cidr='10.65.0.0/19'))
        self.assertIn('fixed_subnet_cidr', str(e))
        # an existing network: the created subnet's label is not used
        capacity.check_networks(values(fixed_subnet_cidr='10.65.0.0/19'),
                                creates_subnet=False)


class TestCheckNodes(testtools.TestCase):

    def test_pod_network_limit(self):
        small = values(flannel_network_cidr='10.100.0.0/16')
        capacity.check_nodes(256, small)
        e = self.assertRaises(capacity.CapacityError, capacity.check_nodes,
                              257, small)
        msg = str(e)
        self.assertNotIn('\n', msg)
        self.assertIn('257 nodes', msg)
        self.assertIn('holds 256', msg)
        self.assertIn('flannel_network_cidr 10.100.0.0/16', msg)

    def test_node_subnet_limit_only_when_created(self):
        small = values(fixed_subnet_cidr='10.0.0.0/24')
        capacity.check_nodes(245, small)
        e = self.assertRaises(capacity.CapacityError, capacity.check_nodes,
                              246, small)
        self.assertIn('fixed_subnet_cidr 10.0.0.0/24 holds 245', str(e))
        capacity.check_nodes(246, small, creates_subnet=False)

    def test_kubernetes_maximum_fits_the_defaults(self):
        capacity.check_nodes(5000, values())
        self.assertEqual(5000, capacity.KUBERNETES_MAX_NODES)

    def test_summary(self):
        fig = capacity.summary(values())
        self.assertEqual(8192, fig['pod_network_capacity_nodes'])
        self.assertEqual(8181, fig['node_subnet_capacity_nodes'])
        self.assertEqual(253, fig['pod_addresses_per_node'])
        self.assertEqual(65534, fig['service_addresses'])
        self.assertEqual(5000, fig['max_nodes'])
        fig = capacity.summary(values(flannel_network_cidr='10.100.0.0/16'),
                               creates_subnet=False)
        self.assertIsNone(fig['node_subnet_capacity_nodes'])
        self.assertEqual(256, fig['max_nodes'])
