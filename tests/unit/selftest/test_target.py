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
"""The target cloud: the choice, the template's image and flavors, hints."""

import shlex
import time

import fixtures
import testtools

from magnum_cern_driver.selftest import cli
from magnum_cern_driver.selftest import cloud as cloud_mod
from magnum_cern_driver.selftest import options as options_mod
from magnum_cern_driver.selftest import target as target_mod
from tests.unit.selftest import fakes


class TestOpenTarget(testtools.TestCase):
    def test_rehearsal_state_dir_wins_over_a_single_cloud(self):
        # With one cloud in clouds.yaml, naming a rehearsal must still
        # target the rehearsal (the functional tests rely on it).
        self.useFixture(fixtures.MockPatch(
            'magnum_cern_driver.selftest.cloud.resolve_target',
            return_value=('cloud', 'prod')))
        self.useFixture(fixtures.MockPatch(
            'magnum_cern_driver.selftest.rehearsal.ensure_up',
            side_effect=RuntimeError('rehearsal asked for')))
        opts = options_mod.RunOptions.from_namespace(
            cli.build_parser().parse_args(
                ['--rehearsal-state-dir', '/tmp/x', 'preflight']))
        e = self.assertRaises(cloud_mod.ConfigError, target_mod.open_target,
                              opts)
        self.assertIn('rehearsal asked for', str(e))


class TestTemplateOptions(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.cloud = fakes.FakeCloud(time.monotonic)
        self.cloud.flavors[target_mod.REHEARSAL_FLAVOR] = {
            'name': target_mod.REHEARSAL_FLAVOR}

    def test_rehearsal_flavor_filled_in(self):
        opts = target_mod.template_options(options_mod.RunOptions(),
                                           self.cloud)
        self.assertEqual((target_mod.REHEARSAL_FLAVOR,
                          target_mod.REHEARSAL_FLAVOR),
                         (opts.flavor, opts.master_flavor))

    def test_given_flavor_or_other_cloud_kept(self):
        given = options_mod.RunOptions(flavor='big')
        self.assertIs(given,
                      target_mod.template_options(given, self.cloud))
        self.cloud.kind = 'cloud'
        plain = options_mod.RunOptions()
        self.assertIs(plain,
                      target_mod.template_options(plain, self.cloud))

    def test_image_given_or_found_by_distro(self):
        self.assertEqual('mine', target_mod.image_for(
            options_mod.RunOptions(image='mine'), self.cloud))
        self.assertEqual('img-1', target_mod.image_for(
            options_mod.RunOptions(), self.cloud))


class TestRehearsalHint(testtools.TestCase):
    def test_only_for_the_rehearsal(self):
        self.assertIsNone(target_mod.rehearsal_hint({'kind': 'cloud',
                                                     'name': 'prod'}))

    def test_names_the_state_dir_quoted(self):
        hint = target_mod.rehearsal_hint({'kind': 'rehearsal',
                                          'state_dir': '/tmp/a b'})
        command = hint.split('stop it with: ', 1)[1]
        self.assertEqual(['magnum-cern-selftest', 'rehearsal', '--state-dir',
                          '/tmp/a b', 'down'], shlex.split(command))
        hint = target_mod.rehearsal_hint({'kind': 'rehearsal'})
        self.assertTrue(hint.endswith(
            'stop it with: magnum-cern-selftest rehearsal down'), hint)

    def test_says_the_memory_measured_not_a_guess(self):
        target = {'kind': 'rehearsal'}
        self.assertNotIn('GB', target_mod.rehearsal_hint(target))
        hint = target_mod.rehearsal_hint(
            target, {'heat-engine': 1500, 'keystone': 600, 'mariadb': 460})
        self.assertIn('(using 2.5 GB of memory now)', hint)
        self.assertNotIn('restart', hint)

    def test_tells_to_restart_a_swollen_heat_engine(self):
        limit = target_mod.HEAT_ENGINE_RESTART_MIB
        target = {'kind': 'rehearsal', 'state_dir': '/tmp/a b'}
        self.assertNotIn('restart', target_mod.rehearsal_hint(
            target, {'heat-engine': limit}))
        hint = target_mod.rehearsal_hint(
            target, {'heat-engine': 5800, 'keystone': 600})
        first, second = hint.split('\n')
        self.assertIn('(using 6.2 GB of memory now)', first)
        self.assertIn('heat-engine holds 5.7 GB', second)
        command = second.split('before the next run: ', 1)[1]
        self.assertEqual(['magnum-cern-selftest', 'rehearsal', '--state-dir',
                          '/tmp/a b', 'restart', 'heat-engine'],
                         shlex.split(command))

    def test_memory_of_a_rehearsal_that_is_not_there(self):
        self.assertIsNone(target_mod.rehearsal_memory(
            {'kind': 'rehearsal', 'state_dir': self.useFixture(
                fixtures.TempDir()).path}))
        self.assertIsNone(target_mod.rehearsal_memory({'kind': 'cloud'}))
