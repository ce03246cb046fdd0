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
"""Our templates, every feature combination, validated by Heat's engine."""

import copy
import itertools
import os

import testtools

from magnum_cern_driver import budget
from magnum_cern_driver import params
from magnum_cern_driver import render
from tests.unit import heat_harness

ENV_DIR = os.path.join(render.TEMPLATE_DIR, 'environments')
SWITCHES = ('master_lb_enabled', 'floating_ip_enabled', 'external_network',
            'fixed_network', 'multi_master', 'docker_volume',
            'lb_by_label', 'keypair_and_az')


SMALL = params.BuildOptions(worker_shard_size=2, unknown_labels='reject')


def fake_user_data(role, labels, facts, secrets, ca_bundle=None, **options):
    # The real user data is tested in test_userdata; here only its place.
    return '#cloud-config\n# %s __API_ADDRESS__ __NODE_INDEX__\n' % role


def spec_for(combo, workers=5, nodegroups=2):
    on = dict(zip(SWITCHES, combo))
    labels = {}
    if on['lb_by_label']:
        # the Octavia endpoint; master_lb_enabled alone is the VIP
        labels['master_lb_enabled'] = 'true'
        labels['master_lb_type'] = 'octavia'
    if on['keypair_and_az']:
        labels['availability_zone'] = 'az-1'
    inputs = budget.example_inputs(
        3 if on['multi_master'] else 1, workers, nodegroups, labels,
        master_lb_enabled=on['master_lb_enabled'],
        floating_ip_enabled=on['floating_ip_enabled'])
    inputs.external_network = 'public' if on['external_network'] else ''
    if on['fixed_network']:
        inputs.fixed_network = 'net-1'
        inputs.fixed_subnet = 'subnet-1'
    if on['docker_volume']:
        for ng in inputs.worker_nodegroups():
            ng.docker_volume_size = 50
    if on['keypair_and_az']:
        inputs.keypair = 'ops-key'
    return params.build_stack(inputs, params.Secrets(), SMALL,
                              user_data=fake_user_data)


def job(job_id, spec, count=False, template=None, files=None):
    return {'id': job_id,
            'template': template or spec.template,
            'files': files or spec.files,
            'parameters': spec.parameters,
            'count': count}


COMBOS = list(itertools.product((False, True), repeat=len(SWITCHES)))


def _replace(files, name, old, new):
    files = dict(files)
    assert old in files[name], (name, old)
    files[name] = files[name].replace(old, new, 1)
    return files


def broken_copies(spec):
    """One deliberately broken copy per class of error Heat must catch."""
    t = spec.template
    root_bad_type = copy.deepcopy(t)
    root_bad_type['resources']['secgroup']['type'] = 'OS::Neutron::SecGroup'
    root_wrong_type = copy.deepcopy(t)
    root_wrong_type['resources']['masters']['properties']['count'] = 'x'
    root_undefined = copy.deepcopy(t)
    root_undefined['resources']['network']['properties']['name'] = {
        'get_param': 'no_such_param'}
    f = spec.files
    return {
        'undefined parameter (root)': (root_undefined, f),
        'undefined parameter (nested shard)': (t, _replace(
            f, 'worker_shard.yaml', '{get_param: name_prefix}',
            '{get_param: name_prefx}')),
        'unknown property (nested master)': (t, _replace(
            f, 'master.yaml', '      flavor: {get_param: flavor}\n',
            '      flavor: {get_param: flavor}\n      flavour: m1\n')),
        'unknown property (group member server)': (t, _replace(
            f, 'worker_shard.yaml', '          user_data_format: RAW\n',
            '          user_data_format: RAW\n          key: x\n')),
        'wrong type (root)': (root_wrong_type, f),
        'wrong type (group member server)': (t, _replace(
            f, 'worker_shard.yaml', '          user_data_format: RAW\n',
            '          user_data_format: RAW\n'
            '          config_drive: maybe\n')),
        'bad resource type (root)': (root_bad_type, f),
        'bad resource type (nested master)': (t, _replace(
            f, 'master.yaml', 'type: OS::Nova::Server',
            'type: OS::Nova::Servr')),
        'bad get_attr (native attribute in an output)': (t, _replace(
            f, 'worker_shard.yaml', '[workers, refs_map]',
            '[workers, refs_mapp]')),
        'bad get_attr (native group member attribute)': (t, _replace(
            f, 'worker_shard.yaml', '[workers, networks,',
            '[workers, netwrks,')),
    }


def lint_only_broken(spec):
    """Errors Heat lets through and our lint must catch."""
    on_group = copy.deepcopy(spec.template)
    on_group['outputs']['typo'] = {
        'value': {'get_attr': ['masters', 'adress']}}
    on_shard = copy.deepcopy(spec.template)
    on_shard['outputs']['typo'] = {
        'value': {'get_attr': ['ng_default_worker_shard_0', 'adresses']}}
    member_tmpl = _replace(spec.files, 'worker_shard.yaml',
                           '[workers_with_volume, address]',
                           '[workers_with_volume, adress]')
    return {
        'get_attr on a group of templates': (on_group, spec.files),
        'get_attr on a template resource': (on_shard, spec.files),
        'get_attr on a group of templates (unused branch)': (
            spec.template, member_tmpl),
    }


class TestTemplatesUnderHeat(testtools.TestCase):
    """Heat's own engine code validates everything in one child process."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        jobs = []
        for i, combo in enumerate(COMBOS):
            # count with Heat for a spread of combinations (every 16th)
            jobs.append(job('combo-%d' % i, spec_for(combo),
                            count=(i % 16 == 0)))
        big = spec_for((False,) * len(SWITCHES), workers=23, nodegroups=3)
        jobs.append(job('big', big, count=True))
        base = spec_for((True, True, True, False, True, False, False,
                         False))
        for name, (tmpl, files) in broken_copies(base).items():
            jobs.append(job('broken:' + name, base, template=tmpl,
                            files=files))
        for name, (tmpl, files) in lint_only_broken(base).items():
            jobs.append(job('lint:' + name, base, template=tmpl,
                            files=files))
        for env_name in os.listdir(ENV_DIR):
            if env_name.endswith('.yaml'):
                with open(os.path.join(ENV_DIR, env_name)) as f:
                    env_job = job('env:' + env_name, big)
                    env_job['environment'] = render.parse(f.read())
                    jobs.append(env_job)
        cls.specs = {'big': big}
        for i, combo in enumerate(COMBOS):
            cls.specs['combo-%d' % i] = None
        cls.results = heat_harness.run_in_subprocess(jobs)
        cls.combo_specs = {'combo-%d' % i: combo
                           for i, combo in enumerate(COMBOS)}

    def test_every_combination_validates_strictly(self):
        self.assertEqual(2 ** len(SWITCHES), len(COMBOS))
        failures = {
            k: (dict(zip(SWITCHES, self.combo_specs[k])), r['error'])
            for k, r in self.results.items()
            if k.startswith('combo-') and r['error']}
        self.assertEqual({}, failures)

    def test_site_environment_files_validate(self):
        envs = {k: r['error'] for k, r in self.results.items()
                if k.startswith('env:')}
        self.assertIn('env:restrict-api.yaml', envs)
        self.assertEqual({}, {k: e for k, e in envs.items() if e})
        big = self.specs['big']
        for name in os.listdir(ENV_DIR):
            if not name.endswith('.yaml'):
                continue
            with open(os.path.join(ENV_DIR, name)) as f:
                env = render.parse(f.read())
            for param in env.get('parameter_defaults') or {}:
                # Heat ignores defaults for unknown parameters, and the
                # driver's own parameters would override them: both are
                # silent mistakes.
                self.assertIn(param, big.template['parameters'], name)
                self.assertNotIn(param, big.parameters, name)

    def test_get_attr_lint_clean_on_real_templates(self):
        lint = {k: r['lint'] for k, r in self.results.items()
                if (k.startswith('combo-') or k == 'big') and r['lint']}
        self.assertEqual({}, lint)

    def test_each_broken_copy_is_caught_by_heat(self):
        broken = [k for k in self.results if k.startswith('broken:')]
        self.assertEqual(10, len(broken))
        missed = [k for k in broken if not self.results[k]['error']]
        self.assertEqual([], missed)

    def test_heat_blind_spots_are_caught_by_lint(self):
        lint = [k for k in self.results if k.startswith('lint:')]
        self.assertEqual(3, len(lint))
        for k in lint:
            self.assertIsNone(self.results[k]['error'],
                              'Heat caught %s after all; move it' % k)
            self.assertNotEqual([], self.results[k]['lint'], k)

    def test_budget_walk_matches_heat_count(self):
        counted = {k: r['heat_count'] for k, r in self.results.items()
                   if r['heat_count'] is not None}
        self.assertGreaterEqual(len(counted), 3)
        for k, heat_count in counted.items():
            if k == 'big':
                spec = self.specs['big']
            else:
                spec = spec_for(self.combo_specs[k])
            ours = budget.count_tree(spec.template, spec.parameters,
                                     spec.files).total()
            self.assertEqual(heat_count, ours, k)
