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
"""The Heat resource budget, counted from the rendered templates.

The cross-check against Heat's own count is in test_templates.
"""

import json

import testtools

from magnum_cern_driver import budget
from magnum_cern_driver import labels
from magnum_cern_driver import params


class TestBudget(testtools.TestCase):

    def test_1000_workers_fit_the_target(self):
        result = budget.count(3, 1000, shard_size=50)
        self.assertLessEqual(result['total_resources'], 1100)
        self.assertEqual(20, result['worker_shards'])
        # one server per worker, plus 2 per shard (shard stack + group);
        # 5 fixed (secgroup, VIP port, network, subnet, masters group) and
        # 4 per master (its stack, server, readiness handle and condition)
        self.assertEqual(1000 + 2 * 20 + 5 + 4 * 3,
                         result['total_resources'])
        self.assertEqual(result['total_resources'],
                         result['max_resources_per_stack'])
        json.dumps(result)

    def test_one_resource_per_worker(self):
        small = budget.count(1, 100, shard_size=50)
        big = budget.count(1, 200, shard_size=50)
        # 100 more workers = 100 servers + 2 shards of 2 resources
        self.assertEqual(104, big['total_resources'] -
                         small['total_resources'])

    def test_fixed_part_and_masters_within_budget(self):
        one = budget.count(1, 0)
        three = budget.count(3, 0)
        lb = budget.count(3, 0, master_lb_enabled=True,
                          floating_ip_enabled=True,
                          labels={'master_lb_type': 'octavia'})
        per_master = (three['total_resources'] - one['total_resources']) / 2
        # its nested stack, server, readiness handle and wait condition
        self.assertEqual(4, per_master)
        self.assertLessEqual(one['total_resources'] - per_master, 20)
        lb_per_master = 5   # and its Octavia pool member
        self.assertLessEqual(lb['total_resources'] - 3 * lb_per_master, 20)

    def test_vip_endpoint_has_no_octavia(self):
        vip = budget.count(3, 0, master_lb_enabled=True)
        octavia = budget.count(3, 0, master_lb_enabled=True,
                               labels={'master_lb_type': 'octavia'})
        self.assertNotIn('lb.yaml', vip['per_template'])
        self.assertIn('lb.yaml', octavia['per_template'])

    def test_5000_nodes_budget_and_capacity(self):
        result = budget.count(3, 4997)
        self.assertEqual(5000, result['nodes'])
        self.assertEqual(8192, result['pod_network_capacity_nodes'])
        self.assertEqual(8181, result['node_subnet_capacity_nodes'])
        self.assertEqual(5000, result['max_nodes'])
        json.dumps(result)
        self.assertIn('5000 of at most 5000', budget.format_table(result))

    def test_capacity_for_the_labels_given(self):
        result = budget.count(1, 10, labels={
            'flannel_network_cidr': '10.100.0.0/16'})
        self.assertEqual(256, result['pod_network_capacity_nodes'])
        e = self.assertRaises(params.InvalidInput, budget.count, 1, 256,
                              labels={'flannel_network_cidr':
                                      '10.100.0.0/16'})
        self.assertIn('holds 256', str(e))

    def test_largest_template_is_a_shard_group(self):
        result = budget.count(3, 1000, shard_size=50)
        self.assertEqual('<group of OS::Nova::Server>',
                         result['largest_template'])
        self.assertEqual(50, result['largest_template_resources'])

    def test_docker_volume_costs_three_per_worker(self):
        plain = budget.count(1, 10, shard_size=50)
        inputs = budget.example_inputs(1, 10)
        for ng in inputs.worker_nodegroups():
            ng.docker_volume_size = 20
        spec = params.build_stack(inputs, params.Secrets(),
                                  budget.build_options(50),
                                  user_data=budget._no_user_data)
        total = budget.count_tree(spec.template, spec.parameters,
                                  spec.files).total()
        self.assertEqual(plain['total_resources'] + 20, total)

    def test_nodegroups_split_workers(self):
        result = budget.count(3, 1000, nodegroups=3, shard_size=50)
        # 334 + 333 + 333 -> 7 + 7 + 7 shards
        self.assertEqual(21, result['worker_shards'])

    def test_labels_are_validated(self):
        self.assertRaises(labels.InvalidLabel, budget.count, 1, 1,
                          labels={'flannel_backend': 'gre'})
        self.assertRaises(labels.InvalidLabel, budget.count, 1, 1,
                          labels={'no_such_label': 'x'})

    def test_bad_shapes(self):
        self.assertRaises(params.InvalidInput, budget.count, 0, 1)
        self.assertRaises(params.InvalidInput, budget.count, 1, -1)
        self.assertRaises(params.InvalidInput, budget.count, 1, 1, 0)

    def test_build_options(self):
        # The site's shard size and default labels; unknown labels refused;
        # no environment file, no CA bundle.
        class Site:
            worker_shard_size = 20
            default_labels = {'cvmfs_enabled': 'true'}
            environment_files = ['/etc/site.yaml']
            ca_bundle_file = '/etc/ca.pem'
        self.assertEqual(params.BuildOptions(
            worker_shard_size=20, default_labels={'cvmfs_enabled': 'true'},
            unknown_labels='reject'), budget.build_options(site=Site))
        self.assertEqual(100, budget.build_options(100, Site)
                         .worker_shard_size)
        self.assertEqual(30, budget.count(1, 60, options=budget.build_options(
            30, Site))['shard_size'])

    def test_table_names_the_setting(self):
        text = budget.format_table(budget.count(3, 1000, shard_size=50))
        self.assertIn('max_resources_per_stack must be >= 1057', text)
        self.assertIn('worker_shard.yaml', text)
