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

import dataclasses
import inspect

import testtools

from magnum_cern_driver import budget
from magnum_cern_driver import conf as conf_mod
from magnum_cern_driver import params
from magnum_cern_driver import render

OPTIONS = params.BuildOptions(
    unknown_labels='reject',
    environment_files=('/etc/magnum/site-env.yaml',))


def recording_user_data(calls):
    def render_(role, labels, facts, secrets, ca_bundle=None, **options):
        calls.append((role, labels, facts, secrets, options))
        return 'user-data-for-%s' % role
    return render_


SECRETS = params.Secrets(ca_cert='CERT', ca_key='CAKEY-SECRET',
                         bootstrap_token='abcdef.0123456789abcdef',
                         app_cred_id='ID', app_cred_secret='APPCRED-SECRET',
                         auth_url='http://keystone')


class TestNames(testtools.TestCase):

    def test_stack_name(self):
        self.assertEqual('my-cluster-0123abcd', params.stack_name_for(
            'My_Cluster', '0123abcd-ef00-0000-0000-000000000000'))
        self.assertEqual('x-0123abcd',
                         params.stack_name_for('***', '0123abcd-ef'))
        self.assertLessEqual(len(params.stack_name_for('x' * 200, 'a' * 36)),
                             49)

    def test_parse_node_name_round_trip(self):
        prefix = params.server_prefix('c-0123abcd', 'default-worker')
        self.assertEqual((3, 17), params.parse_node_name(
            'c-0123abcd', 'default-worker', '%s-3-17' % prefix))
        self.assertIsNone(params.parse_node_name(
            'c-0123abcd', 'default-worker', 'c-0123abcd-other-3-17'))
        self.assertIsNone(params.parse_node_name(
            'c-0123abcd', 'default-worker', '%s-3' % prefix))
        self.assertIsNone(params.parse_node_name(
            'c-0123abcd', 'default-worker', None))

    def test_nodegroup_key(self):
        self.assertEqual('ng_default_worker',
                         params.nodegroup_key('Default-Worker'))


class TestLayout(testtools.TestCase):

    def test_fresh_layout(self):
        self.assertEqual([50] * 20, params.fresh_layout(1000, 50))
        self.assertEqual([50, 50, 3], params.fresh_layout(103, 50))
        self.assertEqual([], params.fresh_layout(0, 50))
        self.assertRaises(params.InvalidInput, params.fresh_layout, -1, 50)
        self.assertRaises(params.InvalidInput, params.fresh_layout, 5, 0)
        self.assertRaises(params.InvalidInput, params.fresh_layout, 5, 501)

    def test_grow_fills_last_shard_then_opens_new(self):
        self.assertEqual([50, 50, 50, 10],
                         params.plan_resize([50, 50, 3], 160, None, 50))

    def test_shrink_takes_from_last_shards(self):
        self.assertEqual([50, 20, 0],
                         params.plan_resize([50, 50, 3], 70, None, 50))

    def test_removals_only_touch_their_shards(self):
        counts = params.plan_resize([50, 50, 50], 148, {1: [4, 7]}, 50)
        self.assertEqual([50, 48, 50], counts)

    def test_removals_with_growth(self):
        # the shard that lost a node is touched anyway: refill it there
        counts = params.plan_resize([50, 50], 100, {0: [1]}, 50)
        self.assertEqual([50, 50], counts)

    def test_bad_removals(self):
        self.assertRaises(params.InvalidInput, params.plan_resize,
                          [5], 4, {3: [0]}, 50)
        self.assertRaises(params.InvalidInput, params.plan_resize,
                          [1], 0, {0: [0, 1]}, 50)
        self.assertRaises(params.InvalidInput, params.plan_resize,
                          [1], -1, None, 50)


class TestSecrets(testtools.TestCase):

    def test_repr_hides_values(self):
        text = repr(SECRETS) + str(SECRETS)
        for value in ('CAKEY-SECRET', 'APPCRED-SECRET', '0123456789abcdef'):
            self.assertNotIn(value, text)

    def test_workers_never_get_the_ca_key(self):
        worker = SECRETS.for_role('worker')
        self.assertNotIn('ca_key', worker)
        self.assertNotIn('app_cred_secret', worker)
        self.assertEqual('abcdef.0123456789abcdef',
                         worker['bootstrap_token'])
        self.assertEqual('CAKEY-SECRET',
                         SECRETS.for_role('master')['ca_key'])

    def test_unknown_field(self):
        self.assertRaises(TypeError, params.Secrets, password='x')


class TestBuildStack(testtools.TestCase):

    def build(self, inputs=None, options=OPTIONS, **kw):
        calls = []
        inputs = inputs or budget.example_inputs(3, 120, 2)
        spec = params.build_stack(inputs, SECRETS, options,
                                  user_data=recording_user_data(calls), **kw)
        return spec, calls

    def test_parameters(self):
        inputs = budget.example_inputs(
            3, 120, 2, labels={'flannel_network_cidr': '10.200.0.0/16',
                               'availability_zone': 'az-2'})
        spec, calls = self.build(inputs)
        p = spec.parameters
        self.assertEqual('10.200.0.0/16', p['pod_cidr'])
        self.assertEqual(3, p['master_count'])
        self.assertEqual('az-2', p['master_availability_zone'])
        self.assertEqual('az-2', p['ng_default_worker_availability_zone'])
        self.assertEqual(50, p['ng_default_worker_shard_0_count'])
        self.assertEqual(10, p['ng_default_worker_shard_1_count'])
        self.assertEqual(10, p['ng_nodegroup_1_shard_1_count'])
        self.assertEqual('user-data-for-master', p['master_user_data'])
        self.assertEqual({'master_user_data', 'ng_default_worker_user_data',
                          'ng_nodegroup_1_user_data'},
                         spec.hidden_parameters)
        self.assertEqual(['/etc/magnum/site-env.yaml'],
                         spec.environment_files)
        self.assertEqual(set(render.NESTED), set(spec.files))
        # every parameter we pass is declared by the root template
        self.assertEqual(set(), set(p) - set(spec.template['parameters']))

    def test_user_data_once_per_nodegroup_with_role_secrets(self):
        spec, calls = self.build()
        self.assertEqual(['master', 'worker', 'worker'],
                         [c[0] for c in calls])
        for role, labels, facts, secrets, _options in calls:
            if role == 'worker':
                self.assertNotIn('ca_key', secrets)
            self.assertEqual(3, facts['master_count'])
            self.assertEqual('budget-00000000', facts['cluster_name'])

    def test_masters_never_wait_for_a_container_volume(self):
        # master.yaml makes no volume: a docker_volume_size reaching the
        # masters' user data would have them wait for a disk that never
        # comes (29b3f2f). Workers get theirs.
        inputs = budget.example_inputs(3, 4, 1)
        for ng in inputs.nodegroups:
            ng.docker_volume_size = 50
        spec, calls = self.build(inputs)
        sizes = {c[0]: c[2]['docker_volume_size'] for c in calls}
        self.assertEqual({'master': 0, 'worker': 50}, sizes)

    def test_site_mirror_and_region_reach_the_user_data(self):
        options = dataclasses.replace(
            OPTIONS, registry_mirror='mirror.example.org/k8s',
            region_name='cern')
        spec, calls = self.build(options=options)
        for _role, _labels, _facts, _secrets, options in calls:
            self.assertEqual({'registry_mirror': 'mirror.example.org/k8s',
                              'region_name': 'cern'}, options)

    def test_nodegroup_labels_override_cluster_labels(self):
        inputs = budget.example_inputs(1, 4, 2,
                                       labels={'kube_proxy_mode': 'ipvs'})
        inputs.nodegroups[2].labels = {'kube_proxy_mode': 'iptables'}
        spec, calls = self.build(inputs)
        self.assertEqual('ipvs', spec.labels['default-worker'][
            'kube_proxy_mode'])
        self.assertEqual('iptables', spec.labels['nodegroup-1'][
            'kube_proxy_mode'])

    def test_master_lb_from_label_or_cluster(self):
        octavia = {'master_lb_type': 'octavia'}
        spec, calls = self.build(budget.example_inputs(
            1, 1, labels=dict(octavia, master_lb_enabled='true')))
        self.assertTrue(spec.parameters['master_lb_enabled'])
        self.assertTrue(calls[0][2]['master_lb_enabled'])
        spec, calls = self.build(budget.example_inputs(
            1, 1, labels=octavia, master_lb_enabled=True))
        self.assertTrue(spec.parameters['master_lb_enabled'])
        self.assertTrue(calls[0][2]['master_lb_enabled'])
        # Octavia chosen but no HA endpoint asked for: the VIP port
        spec, calls = self.build(budget.example_inputs(1, 1, labels=octavia))
        self.assertFalse(spec.parameters['master_lb_enabled'])
        self.assertFalse(calls[0][2]['master_lb_enabled'])

    def test_ha_endpoint_is_a_vip_by_default(self):
        # Magnum requires master_lb_enabled for 3 masters; without
        # master_lb_type=octavia that is the keepalived VIP, not Octavia:
        # Heat's parameter and the nodes' fact both say "no load balancer".
        for inputs in (budget.example_inputs(3, 2, master_lb_enabled=True),
                       budget.example_inputs(
                           3, 2, labels={'master_lb_enabled': 'true'})):
            spec, calls = self.build(inputs)
            self.assertFalse(spec.parameters['master_lb_enabled'])
            self.assertEqual([False, False],
                             [c[2]['master_lb_enabled'] for c in calls])

    def test_site_default_chooses_octavia(self):
        options = dataclasses.replace(
            OPTIONS, default_labels={'master_lb_type': 'octavia'})
        spec = params.build_stack(
            budget.example_inputs(3, 2, master_lb_enabled=True), SECRETS,
            options, user_data=recording_user_data([]))
        self.assertTrue(spec.parameters['master_lb_enabled'])

    def test_created_subnet_cidr_from_label(self):
        spec, _ = self.build(budget.example_inputs(1, 1))
        self.assertEqual('10.0.0.0/19', spec.parameters['fixed_subnet_cidr'])
        spec, _ = self.build(budget.example_inputs(
            1, 1, labels={'fixed_subnet_cidr': '192.168.0.0/18'}))
        self.assertEqual('192.168.0.0/18',
                         spec.parameters['fixed_subnet_cidr'])

    def test_capacity_refused_before_heat_counting_every_node(self):
        small = {'flannel_network_cidr': '10.100.0.0/16'}
        # 3 masters + 253 workers in two nodegroups = 256: fits a /16
        self.build(budget.example_inputs(3, 253, 2, labels=small))
        e = self.assertRaises(params.InvalidInput, self.build,
                              budget.example_inputs(3, 254, 2, labels=small))
        self.assertIn('257 nodes (masters included)', str(e))
        self.assertIn('holds 256', str(e))

    def test_capacity_of_created_subnet_only(self):
        tiny = {'fixed_subnet_cidr': '10.0.0.0/24'}
        self.assertRaises(params.InvalidInput, self.build,
                          budget.example_inputs(1, 245, labels=tiny))
        inputs = budget.example_inputs(1, 245, labels=tiny)
        inputs.fixed_network = 'net-1'
        inputs.fixed_subnet = 'subnet-1'
        self.build(inputs)

    def test_check_capacity_alone(self):
        inputs = budget.example_inputs(
            1, 300, labels={'flannel_network_cidr': '10.100.0.0/16'})
        self.assertRaises(params.InvalidInput, params.check_capacity,
                          inputs, OPTIONS)
        inputs.nodegroups[1].node_count = 255
        params.check_capacity(inputs, OPTIONS)
        self.assertEqual(256, params.total_nodes(inputs))

    def test_5000_nodes_with_the_defaults(self):
        spec, _ = self.build(budget.example_inputs(3, 4997))
        self.assertEqual(4997, sum(spec.shard_counts['default-worker']))

    def test_bad_label_names_nodegroup_and_label(self):
        inputs = budget.example_inputs(1, 2, 2)
        inputs.nodegroups[2].labels = {'flannel_backend': 'gre'}
        e = self.assertRaises(params.InvalidInput, self.build, inputs)
        self.assertIn('nodegroup-1', str(e))
        self.assertIn('flannel_backend', str(e))

    def test_nodegroup_checks(self):
        inputs = budget.example_inputs(1, 2, 2)
        inputs.nodegroups[2].name = 'default_worker'   # same key
        self.assertRaises(params.InvalidInput, self.build, inputs)
        inputs = budget.example_inputs(1, 2)
        inputs.nodegroups[1].max_node_count = 1
        self.assertRaises(params.InvalidInput, self.build, inputs)
        inputs = budget.example_inputs(1, 2)
        inputs.nodegroups[1].min_node_count = 3
        self.assertRaises(params.InvalidInput, self.build, inputs)
        inputs = budget.example_inputs(8, 2)
        self.assertRaises(params.InvalidInput, self.build, inputs)
        inputs = budget.example_inputs(1, 2)
        inputs.nodegroups[1].role = 'master'
        self.assertRaises(params.InvalidInput, self.build, inputs)

    def test_missing_flavor_or_image_named_before_heat(self):
        inputs = budget.example_inputs(1, 2)
        inputs.nodegroups[0].flavor_id = None
        e = self.assertRaises(params.InvalidInput, self.build, inputs)
        self.assertIn('master_flavor_id', str(e))
        inputs = budget.example_inputs(1, 2)
        inputs.nodegroups[1].image_id = ''
        e = self.assertRaises(params.InvalidInput, self.build, inputs)
        self.assertIn('default-worker has no image', str(e))

    def test_resize_keeps_layout_and_sets_removal(self):
        inputs = budget.example_inputs(1, 148)
        current = {'default-worker': [50, 50, 50]}
        spec, _ = self.build(inputs, shard_counts=current,
                             removals={'default-worker': {1: [4, 7]}})
        p = spec.parameters
        self.assertEqual([50, 48, 50], spec.shard_counts['default-worker'])
        self.assertEqual([{'resource_list': ['4', '7']}],
                         p['ng_default_worker_shard_1_removal'])
        self.assertNotIn('ng_default_worker_shard_0_removal', p)

    def test_current_shard_counts_round_trip(self):
        spec, _ = self.build(budget.example_inputs(1, 120, 2))
        stack_params = {k: str(v) for k, v in spec.parameters.items()}
        self.assertEqual(spec.shard_counts, params.current_shard_counts(
            stack_params, ['default-worker', 'nodegroup-1', 'absent']))

    def test_create_timeout_bounds_master_wait(self):
        inputs = budget.example_inputs(1, 1)
        inputs.create_timeout = 30
        spec, _ = self.build(inputs)
        self.assertEqual(1800, spec.parameters['master_ready_timeout'])

    def test_ca_bundle_text_reaches_every_nodegroup(self):
        # The caller reads the file (the driver: test_driver); build_stack
        # does no I/O.
        seen = []

        def ud(role, labels, facts, secrets, ca_bundle=None, **options):
            seen.append(ca_bundle)
            return ''
        params.build_stack(budget.example_inputs(1, 1), SECRETS,
                           dataclasses.replace(OPTIONS, ca_bundle='BUNDLE'),
                           user_data=ud)
        self.assertEqual(['BUNDLE', 'BUNDLE'], seen)
        self.assertNotIn('open(', inspect.getsource(params))

    def test_node_count_bounds(self):
        params.check_node_count('ng', 0)
        params.check_node_count('ng', 5, 5, 5)
        for args, message in (
                ((-1,), 'nodegroup ng: node_count must be >= 0'),
                ((4, 5, None), 'nodegroup ng: node_count 4 below '
                               'min_node_count 5'),
                ((6, 0, 5), 'nodegroup ng: node_count 6 above '
                            'max_node_count 5')):
            e = self.assertRaises(params.InvalidInput,
                                  params.check_node_count, 'ng', *args)
            self.assertEqual(message, str(e))


class TestBuildOptions(testtools.TestCase):

    def test_defaults_are_the_options_defaults(self):
        group = conf_mod.CONF.cern_driver
        self.assertEqual(params.BuildOptions(),
                         params.BuildOptions.from_conf(group))

    def test_from_conf(self):
        class Group:
            worker_shard_size = 7
            default_labels = {'kube_proxy_mode': 'ipvs'}
            unknown_labels = 'reject'
            environment_files = ['/etc/a.yaml']
            registry_mirror = None
            region_name = None
            ca_bundle_file = '/never/read.pem'
        options = params.BuildOptions.from_conf(Group, ca_bundle='PEM')
        self.assertEqual(params.BuildOptions(
            worker_shard_size=7, default_labels={'kube_proxy_mode': 'ipvs'},
            unknown_labels='reject', environment_files=('/etc/a.yaml',),
            registry_mirror='', region_name='RegionOne', ca_bundle='PEM'),
            options)


class TestKeepBuilt(testtools.TestCase):

    def test_stack_values_win_over_defaults(self):
        inputs = budget.example_inputs(3, 2, master_lb_enabled=True)
        params.keep_built(inputs, {'pod_cidr': '10.100.0.0/16',
                                   'fixed_subnet_cidr': '10.0.0.0/20',
                                   'master_lb_enabled': 'True'})
        self.assertEqual({'flannel_network_cidr': '10.100.0.0/16',
                          'fixed_subnet_cidr': '10.0.0.0/20',
                          'master_lb_type': 'octavia'}, inputs.labels)
        spec = params.build_stack(inputs, SECRETS, OPTIONS,
                                  user_data=recording_user_data([]))
        self.assertEqual('10.100.0.0/16', spec.parameters['pod_cidr'])
        self.assertEqual('10.0.0.0/20', spec.parameters['fixed_subnet_cidr'])
        self.assertTrue(spec.parameters['master_lb_enabled'])

    def test_vip_stack_stays_vip(self):
        inputs = budget.example_inputs(3, 2, master_lb_enabled=True)
        params.keep_built(inputs, {'master_lb_enabled': 'false'})
        self.assertEqual('vip', inputs.labels['master_lb_type'])

    def test_cluster_labels_win(self):
        inputs = budget.example_inputs(
            1, 1, labels={'flannel_network_cidr': '10.200.0.0/16'})
        params.keep_built(inputs, {'pod_cidr': '10.100.0.0/16'})
        self.assertEqual('10.200.0.0/16',
                         inputs.labels['flannel_network_cidr'])

    def test_new_stack_unchanged(self):
        inputs = budget.example_inputs(1, 1)
        params.keep_built(inputs, {})
        self.assertEqual({}, inputs.labels)


class TestChangedParameters(testtools.TestCase):
    """What an update sends: only what differs from what Heat shows."""

    @staticmethod
    def spec(parameters, hidden=(), shard_counts=None):
        return params.StackSpec(
            stack_name='c', template={}, files={}, parameters=parameters,
            environment_files=[], hidden_parameters=frozenset(hidden),
            shard_counts=shard_counts or {}, labels={})

    def test_values_compared_as_heat_shows_them(self):
        spec = self.spec({'flag': True, 'count': 3, 'ratio': 0.5,
                          'names': ['a', 'b'], 'name': 'x', 'new': 'y'})
        current = {'flag': 'true', 'count': '3', 'ratio': '0.50',
                   'names': '["a", "b"]', 'name': 'x'}
        self.assertEqual({'new': 'y'},
                         params.changed_parameters(spec, current))
        current.update({'flag': 'False', 'count': 'three',
                        'names': 'not json', 'name': 'z'})
        self.assertEqual({'flag', 'count', 'names', 'name', 'new'},
                         set(params.changed_parameters(spec, current)))

    def test_hidden_sent_only_when_new_or_resent(self):
        spec = self.spec({'master_user_data': 'u', 'ng_gpu_user_data': 'g'},
                         hidden=('master_user_data', 'ng_gpu_user_data'))
        current = {'master_user_data': '******'}
        self.assertEqual({'ng_gpu_user_data': 'g'},
                         params.changed_parameters(spec, current))
        self.assertEqual({'master_user_data': 'u', 'ng_gpu_user_data': 'g'},
                         params.changed_parameters(spec, current,
                                                   resend_hidden=True))

    def test_layout_changed(self):
        spec = self.spec({}, shard_counts={'default-worker': [2, 1]})
        current = {'ng_default_worker_shard_0_count': '2',
                   'ng_default_worker_shard_1_count': '1'}
        layout = params.current_shard_counts(current, ['default-worker'])
        self.assertFalse(params.layout_changed(layout, spec, current,
                                               ['default-worker']))
        spec.shard_counts = {'default-worker': [2, 2, 1]}
        self.assertTrue(params.layout_changed(layout, spec, current,
                                              ['default-worker']))
        spec.shard_counts = {'default-worker': [2, 1], 'gpu': [1]}
        self.assertTrue(params.layout_changed(
            layout, spec, current, ['default-worker', 'gpu']))
