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
"""The root template and its worker shards (magnum_cern_driver.render).

Heat's own validation of every combination is in test_templates.
"""

import testtools

from magnum_cern_driver import budget
from magnum_cern_driver import conf as conf_mod
from magnum_cern_driver import params
from magnum_cern_driver import render


def _no_user_data(role, labels, facts, secrets, ca_bundle=None, **options):
    return ''


class TestNames(testtools.TestCase):

    def test_nodegroup_key_and_params(self):
        key = render.nodegroup_key('GPU-Workers.a')
        self.assertEqual('ng_gpu_workers_a', key)
        self.assertEqual('ng_gpu_workers_a_shard_3',
                         render.shard_resource(key, 3))
        self.assertEqual('ng_gpu_workers_a_shard_3_count',
                         render.shard_param(key, 3, 'count'))
        self.assertEqual('ng_gpu_workers_a_flavor',
                         render.nodegroup_param(key, 'flavor'))

    def test_host_safe(self):
        self.assertEqual('my-cluster-1', render.host_safe('My_Cluster 1'))
        self.assertEqual('x', render.host_safe('***'))

    def test_parse_keeps_dates_as_heat_does(self):
        self.assertEqual({'heat_template_version': '2021-04-16'},
                         render.parse('heat_template_version: 2021-04-16'))


class TestShardLimit(testtools.TestCase):
    """The shard limit has one home: params.MAX_SHARD_SIZE."""

    def test_template_constraint_is_the_constant(self):
        count = render.load(render.SHARD_TEMPLATE)['parameters']['count']
        self.assertEqual([{'range': {'min': 0,
                                     'max': params.MAX_SHARD_SIZE}}],
                         count['constraints'])

    def test_option_bound_is_the_constant(self):
        opts = {opt.name: opt for opt in conf_mod.ALL_OPTS}
        self.assertEqual(params.MAX_SHARD_SIZE,
                         opts['worker_shard_size'].type.max)
        self.assertRaises(params.InvalidInput, params.fresh_layout, 1,
                          params.MAX_SHARD_SIZE + 1)
        self.assertEqual([params.MAX_SHARD_SIZE], params.fresh_layout(
            params.MAX_SHARD_SIZE, params.MAX_SHARD_SIZE))

    def test_every_shard_parameter_is_named_by_shard_param(self):
        spec = params.build_stack(
            budget.example_inputs(1, 5, 2), params.Secrets(),
            params.BuildOptions(worker_shard_size=2),
            removals={'default-worker': {0: [1]}}, user_data=_no_user_data)
        named = set()
        for ng, counts in spec.shard_counts.items():
            key = render.nodegroup_key(ng)
            for i in range(len(counts)):
                named |= {render.shard_param(key, i, 'count'),
                          render.shard_param(key, i, 'removal')}
        shard_params = {p for p in spec.template['parameters']
                        if '_shard_' in p}
        self.assertEqual(named, shard_params)
        self.assertEqual(set(), {p for p in spec.parameters
                                 if '_shard_' in p} - named)


class TestRenderedLayout(testtools.TestCase):

    def test_worker_member_is_a_server(self):
        shard = render.load('worker_shard.yaml')
        member = shard['resources']['workers']['properties']['resource_def']
        self.assertEqual('OS::Nova::Server', member['type'])
        self.assertEqual(['workers', 'workers_with_volume'],
                         sorted(shard['resources']))

    def test_no_software_deployments_or_per_node_signals(self):
        forbidden = ('OS::Heat::SoftwareDeployment',
                     'OS::Heat::SoftwareDeploymentGroup',
                     'OS::Heat::StructuredDeployment',
                     'OS::Heat::WaitCondition', 'OS::Keystone::User',
                     'OS::Neutron::Port')
        for name in ('worker_shard.yaml', 'master.yaml'):
            text = render.load(name)
            types = [r['type'] for r in text['resources'].values()]
            if name == 'master.yaml':
                # Masters (at most 7) signal their own readiness once, so
                # that a rolling upgrade waits for each: one condition.
                self.assertEqual(1, types.count('OS::Heat::WaitCondition'))
                types.remove('OS::Heat::WaitCondition')
            self.assertEqual(set(), set(types) & set(forbidden), name)

    def test_shards_per_nodegroup(self):
        spec = params.build_stack(
            budget.example_inputs(1, 5, 2), params.Secrets(),
            params.BuildOptions(worker_shard_size=2, unknown_labels='reject'),
            user_data=_no_user_data)
        self.assertEqual({'default-worker': [2, 1], 'nodegroup-1': [2]},
                         spec.shard_counts)
        shards = sorted(k for k in spec.template['resources']
                        if '_shard_' in k)
        self.assertEqual(['ng_default_worker_shard_0',
                          'ng_default_worker_shard_1',
                          'ng_nodegroup_1_shard_0'], shards)
        self.assertEqual(
            'budget-00000000-default-worker-1',
            spec.template['resources']['ng_default_worker_shard_1'][
                'properties']['name_prefix'])

    def test_load_is_a_fresh_copy(self):
        first = render.load(render.ROOT)
        first['resources'].clear()
        self.assertNotEqual({}, render.load(render.ROOT)['resources'])
