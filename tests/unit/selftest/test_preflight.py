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
"""Preflight checks and the known defects table."""

import os
from unittest import mock

import fixtures
import testtools

from magnum_cern_driver.selftest import plan as plan_mod
from magnum_cern_driver.selftest import preflight
from magnum_cern_driver.selftest.rehearsal import configs
from magnum_cern_driver.selftest.rehearsal import state as state_mod
from tests.unit.selftest import fakes


class TestDefects(testtools.TestCase):
    def test_table_first_entry_is_the_heat_thread_leak(self):
        d = preflight.load_defects()[0]
        self.assertEqual('heat-per-stack-thread-leak', d['id'])
        for key in ('symptom', 'consequence', 'workaround', 'fix'):
            self.assertTrue(d.get(key), key)

    def test_version_matching(self):
        m = preflight.version_matches
        self.assertTrue(m('27.0.1', ['27.0.1']))
        self.assertTrue(m('v27.0.1', ['27.0.1']))
        self.assertFalse(m('27.0.2', ['27.0.1']))
        self.assertFalse(m('27.0.10', ['27.0.1']))
        self.assertTrue(m('27.0.5', ['27.0.0..27.1']))
        self.assertFalse(m('28.0.0', ['27.0.0..27.1']))
        self.assertFalse(m('unknown', ['27.0.1']))

    def test_match_by_component(self):
        found = preflight.match_defects({'heat': '27.0.1',
                                         'magnum': '27.0.1'})
        ids = [d['id'] for d in found]
        self.assertIn('heat-per-stack-thread-leak', ids)
        self.assertEqual({'heat'}, set(d['component'] for d in found))
        self.assertNotIn('heat-per-stack-thread-leak', [
            d['id'] for d in preflight.match_defects({'heat': '26.0.0'})])


class TestPreflight(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self._fresh()

    def _fresh(self):
        self.cloud = fakes.FakeCloud(fakes.FakeClock(), hollow=False,
                                     kind='cloud')
        self.spec = {'name': 'mcst-t', 'coe': 'kubernetes',
                     'image_id': 'img-1', 'driver': 'k8s_cern_heat_v1',
                     'flavor_id': 'm1', 'labels': {}}
        self.cloud.services['compute'] = 'http://nova'
        self.cloud.flavors['m1'] = {'id': 'm1', 'name': 'm1', 'vcpus': 4,
                                    'ram': 8192, 'disk': 40}

    def pf(self, max_nodes=1000, **kw):
        return preflight.Preflight(self.cloud, plan_mod.build(max_nodes),
                                   template_spec=self.spec, **kw)

    def test_full_preflight(self):
        self.cloud.quota.update({'instances': {'limit': 2000, 'in_use': 10},
                                 'cores': {'limit': -1, 'in_use': 0}})
        doc = self.pf().run()
        names = [c['name'] for c in doc['checks']]
        for name in ('credentials', 'endpoint orchestration',
                     'magnum api version', 'image', 'flavor_id',
                     'quota instances', 'quota cores', 'heat budget',
                     'known defect heat-per-stack-thread-leak'):
            self.assertIn(name, names)
        self.assertEqual(1000, doc['budget']['workers'])
        self.assertGreater(doc['budget']['max_resources_per_stack'], 1000)
        fp = doc['fingerprint']
        self.assertEqual('27.0.1', fp['versions']['heat'])
        self.assertEqual('1.14', fp['versions']['magnum_api_max'])
        self.assertEqual('almalinux', fp['template']['image_os_distro'])
        # No master flavor: masters use the worker flavor.
        self.assertEqual(1001 * 4, doc['quota']['need']['cores'])
        self.assertEqual(16, len(fp['target']['cloud_id']))

    def test_fatal_findings(self):
        cases = [
            (lambda: self.cloud.quota.update(
                {'instances': {'limit': 500, 'in_use': 0}}),
             'instances needs 1001, 500 available'),
            (lambda: self.spec.update(driver='k8s_capi_helm_v1'),
             "template driver is 'k8s_capi_helm_v1'"),
            (lambda: self.spec.update(coe='swarm'), "coe is 'swarm'"),
            (lambda: self.spec.update(image_id='nope'),
             'image nope not found'),
            (lambda: self.spec.update(flavor_id='m9'),
             'flavor m9 not found'),
        ]
        for change, needle in cases:
            self._fresh()
            change()
            e = self.assertRaises(preflight.PreflightError,
                                  self.pf().run)
            self.assertIn(needle, str(e))

    def test_cloud_id(self):
        a = {'auth_url': 'http://k:5000/v3', 'region': 'R',
             'project_id': 'p'}
        b = dict(a, auth_url='http://k:6000/v3', project_id='q')
        self.assertNotEqual(preflight.cloud_id(a), preflight.cloud_id(b))
        # A rebuilt rehearsal (new ports, new project) is the same target.
        self.assertEqual(preflight.cloud_id(a, 'rehearsal'),
                         preflight.cloud_id(b, 'rehearsal'))

    def test_versions_given_win_and_rehearsal_has_no_flavor_check(self):
        del self.cloud.services['compute']
        self.cloud.build_info = {'engine': {'revision': 'unknown'}}
        doc = self.pf(max_nodes=2, versions={'heat': '27.0.1'}).run()
        fp = doc['fingerprint']
        self.assertEqual('given on the command line',
                         fp['version_sources']['heat'])
        flavor = [c for c in doc['checks'] if c['name'] == 'flavor_id'][0]
        self.assertTrue(flavor['skipped'])


def _heat_conf(test, text):
    """A heat.conf holding ``text`` in a temporary directory; its path."""
    path = os.path.join(test.useFixture(fixtures.TempDir()).path,
                        'heat.conf')
    with open(path, 'w') as f:
        f.write(text)
    return path


class TestHeatEncryption(testtools.TestCase):
    def _conf(self, text):
        return _heat_conf(self, text)

    def test_state(self):
        on = self._conf('[DEFAULT]\nencrypt_parameters_and_properties = '
                        'True\n[database]\nconnection = x\n')
        off = self._conf('[DEFAULT]\nencrypt_parameters_and_properties = '
                         'false\n')
        unset = self._conf('[DEFAULT]\ndebug = true\n')
        self.assertIs(True, preflight.heat_encryption_state(on))
        self.assertIs(False, preflight.heat_encryption_state(off))
        self.assertIs(False, preflight.heat_encryption_state(unset))
        self.assertIsNone(preflight.heat_encryption_state(
            os.path.join(os.path.dirname(on), 'missing.conf')))

    def test_rehearsal_heat_conf_turns_it_on(self):
        layout = configs.Layout('/tmp/x', {n: 1 for n in configs.PORT_NAMES},
                                state_mod.new_secrets())
        path = self._conf(configs.render_heat(layout))
        self.assertIs(True, preflight.heat_encryption_state(path))

    def _check(self, cloud):
        pf = preflight.Preflight(cloud, plan_mod.build(2))
        pf.heat_encryption_check()
        return pf.checks[-1]

    def test_check_on_a_cloud_is_unknown(self):
        cloud = fakes.FakeCloud(fakes.FakeClock(), hollow=False,
                                kind='cloud')
        check = self._check(cloud)
        self.assertTrue(check['skipped'])
        self.assertIn('unknown, check your heat.conf', check['message'])

    def test_check_on_the_rehearsal(self):
        for text, ok in (('encrypt_parameters_and_properties = true', True),
                         ('debug = false', False)):
            path = self._conf('[DEFAULT]\n%s\n' % text)
            cloud = fakes.FakeCloud(fakes.FakeClock(), hollow=True,
                                    kind='rehearsal')
            cloud.rehearsal = mock.Mock()
            cloud.rehearsal.layout.conf.return_value = path
            check = self._check(cloud)
            self.assertEqual(ok, check['ok'])
            self.assertFalse(check['skipped'])
            self.assertIn(path, check['message'])


class TestHeatStackLimit(testtools.TestCase):
    """Heat's max_stacks_per_tenant against the run's clusters at once."""

    def _conf(self, text):
        return _heat_conf(self, text)

    def test_limit_as_heat_reads_it(self):
        self.assertEqual(512, preflight.heat_stack_limit(
            self._conf('[DEFAULT]\ndebug = true\n')))
        self.assertEqual(-1, preflight.heat_stack_limit(
            self._conf('[DEFAULT]\nmax_stacks_per_tenant = -1\n')))
        self.assertIsNone(preflight.heat_stack_limit(
            self._conf('[DEFAULT]\nmax_stacks_per_tenant = many\n')))
        self.assertIsNone(preflight.heat_stack_limit('/nonexistent/heat.conf'))

    def test_rehearsal_heat_conf_holds_a_fleet_of_1000(self):
        layout = configs.Layout('/tmp/x', {n: 1 for n in configs.PORT_NAMES},
                                state_mod.new_secrets())
        path = self._conf(configs.render_heat(layout))
        self.assertGreaterEqual(preflight.heat_stack_limit(path), 1000)

    def _run(self, cloud, clusters, keep=False):
        steps = plan_mod.fleet(clusters, 2, concurrency=10)
        pf = preflight.Preflight(cloud, steps, keep=keep)
        try:
            pf.heat_stack_limit_check()
        except preflight.PreflightError as e:
            return pf.checks[-1], e
        return pf.checks[-1], None

    def _rehearsal(self, text):
        cloud = fakes.FakeCloud(fakes.FakeClock(), hollow=True,
                                kind='rehearsal')
        cloud.rehearsal = mock.Mock()
        cloud.rehearsal.layout.conf.return_value = self._conf(
            '[DEFAULT]\n%s\n' % text)
        return cloud

    def test_fleet_over_heats_default_stops_on_the_rehearsal(self):
        check, error = self._run(self._rehearsal('debug = false'), 1000)
        self.assertFalse(check['ok'])
        self.assertIn('need 1000', check['message'])
        self.assertIn('512', str(error))
        check, error = self._run(self._rehearsal('debug = false'), 512)
        self.assertTrue(check['ok'])
        self.assertIsNone(error)
        check, error = self._run(
            self._rehearsal('max_stacks_per_tenant = -1'), 5000)
        self.assertTrue(check['ok'])

    def test_on_a_cloud_a_warning_above_the_default(self):
        cloud = fakes.FakeCloud(fakes.FakeClock(), hollow=False,
                                kind='cloud')
        check, error = self._run(cloud, 1000)
        self.assertIsNone(error)
        self.assertTrue(check['skipped'])
        self.assertEqual('warning', check['severity'])
        self.assertIn('max_stacks_per_tenant', check['message'])
        check, _ = self._run(cloud, 100)
        self.assertEqual('info', check['severity'])
