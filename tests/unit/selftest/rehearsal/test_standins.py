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
"""Stand-in behaviour (delays, failures), the plugin's registry, the
read-only Nova/Neutron stand-in API."""

import json
import os
import random
import re
import subprocess
import sys
import tempfile

import fixtures
import testtools

from magnum_cern_driver.selftest.rehearsal import cloudapi
from magnum_cern_driver.selftest.rehearsal import configs
from magnum_cern_driver.selftest.rehearsal import standin_config as sc


class TestStandinConfig(testtools.TestCase):

    def test_default_validates(self):
        sc.validate(configs.default_standin_config())
        sc.validate(configs.default_standin_config(
            boot_delay={'dist': 'uniform', 'min': 1, 'max': 2},
            failure_rate=0.5))

    def test_invalid(self):
        for bad in ({'types': {'X': {'failure_rate': 2}}},
                    {'types': {'X': {'boot_delay': -1}}},
                    {'types': {'X': {'boot_delay': {'dist': 'zipf'}}}},
                    {'types': {'X': {'boot_delay': {'dist': 'uniform',
                                                    'min': 1}}}},
                    {'fail_names': ['(']},
                    {'quotas': {'instances': -2}},
                    {'quotas': {'instances': '10'}},
                    {'quotas': {'instances': True}},
                    {'quotas': ['instances']}):
            self.assertRaises((ValueError, re.error), sc.validate, bad)
        sc.validate({'quotas': {'instances': -1, 'port': 0}})

    def test_quota_limits_from_file(self):
        d = self.useFixture(fixtures.TempDir()).path
        path = os.path.join(d, 'standins.json')
        self.assertEqual({}, sc.quota_limits(path))
        with open(path, 'w') as f:
            json.dump({'quotas': {'instances': 7}}, f)
        self.assertEqual({'instances': 7}, sc.quota_limits(path))
        self.useFixture(fixtures.EnvironmentVariable(sc.ENV_CONFIG, path))
        self.assertEqual({'instances': 7}, sc.quota_limits())

    def test_sample(self):
        rng = random.Random(3)
        self.assertEqual(0.0, sc.sample_delay(None))
        self.assertEqual(4.0, sc.sample_delay(4))
        self.assertEqual(0.0, sc.sample_delay(-4))
        for _ in range(100):
            v = sc.sample_delay({'dist': 'uniform', 'min': 2, 'max': 3}, rng)
            self.assertTrue(2 <= v <= 3)
            v = sc.sample_delay({'dist': 'normal', 'mean': 1, 'stddev': 5,
                                 'max': 4}, rng)
            self.assertTrue(0 <= v <= 4)
            v = sc.sample_delay({'dist': 'exponential', 'mean': 2}, rng)
            self.assertGreaterEqual(v, 0)
        self.assertEqual(7.0, sc.sample_delay({'dist': 'fixed',
                                               'value': 7}))

    def test_decide_per_type_and_names(self):
        config = {'default': {'boot_delay': 1},
                  'types': {'OS::Nova::Server': {'failure_rate': 1.0,
                                                 'boot_delay': 5}},
                  'fail_names': ['-failme-']}
        delay, failure = sc.decide(config, 'OS::Neutron::Net', ['net'])
        self.assertEqual((1.0, None), (delay, failure))
        delay, failure = sc.decide(config, 'OS::Nova::Server', ['a'])
        self.assertEqual(5.0, delay)
        self.assertIn('failure_rate 1', failure)
        delay, failure = sc.decide(config, 'OS::Neutron::Net',
                                   ['x-failme-y'])
        self.assertIn("matches '-failme-'", failure)

    def test_fail_names_per_type(self):
        config = {'types': {'OS::Nova::Server': {'fail_names': ['bad']}}}
        self.assertIsNone(sc.decide(config, 'OS::Neutron::Net',
                                    ['bad-net'])[1])
        self.assertIn('injected failure', sc.decide(
            config, 'OS::Nova::Server', ['bad-server'])[1])
        self.assertRaises(re.error, sc.validate,
                          {'types': {'T': {'fail_names': ['(']}}})

    def test_decide_rate_is_a_probability(self):
        config = {'types': {'T': {'failure_rate': 0.25}}}
        rng = random.Random(7)
        fails = sum(1 for _ in range(4000)
                    if sc.decide(config, 'T', (), rng)[1])
        self.assertTrue(800 < fails < 1200, fails)

    def test_read_follows_changes(self):
        d = tempfile.mkdtemp()
        path = os.path.join(d, 'c.json')
        self.assertIsNone(sc.read(path))
        with open(path, 'w') as f:
            json.dump({'default': {'boot_delay': 1}}, f)
        self.assertEqual(1, sc.read(path)['default']['boot_delay'])
        with open(path, 'w') as f:
            json.dump({'default': {'boot_delay': 22}}, f)
        os.utime(path, ns=(1, 1))
        self.assertEqual(22, sc.read(path)['default']['boot_delay'])


# Heat and Magnum register clashing options on oslo.config's global CONF,
# so the plugin (which imports Heat) is checked in a fresh interpreter.
_PLUGIN_PROBE = """
import json
from magnum_cern_driver.selftest.rehearsal.standins import \
    rehearsal_standins as p
from heat.engine.resources.openstack.nova import server
mapping = p.resource_mapping()
cls = mapping['Rehearsal::Nova::Server']
constraints = p.constraint_mapping()
print(json.dumps({
    'mapping': {k: v.standin_type for k, v in mapping.items()},
    'subclass': issubclass(cls, server.Server),
    'same_schema': cls.properties_schema is server.Server.properties_schema
    and cls.attributes_schema is server.Server.attributes_schema,
    'constraints': sorted(constraints),
    'accepts': all(c().validate('anything', None)
                   for c in constraints.values()),
}))
"""


class TestPlugin(testtools.TestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        out = subprocess.run([sys.executable, '-c', _PLUGIN_PROBE],
                             capture_output=True, text=True, check=True)
        cls.probe = json.loads(out.stdout.strip().splitlines()[-1])

    def test_mapping_matches_environment(self):
        mapping = self.probe['mapping']
        self.assertEqual(sorted(configs.STANDIN_TYPES.values()),
                         sorted(mapping))
        for real, standin in configs.STANDIN_TYPES.items():
            self.assertEqual(real, mapping[standin])

    def test_standins_keep_real_schemas(self):
        self.assertTrue(self.probe['subclass'])
        self.assertTrue(self.probe['same_schema'])

    def test_cloud_constraints_accept_all(self):
        for name in ('nova.flavor', 'glance.image', 'nova.keypair',
                     'neutron.network', 'neutron.subnet'):
            self.assertIn(name, self.probe['constraints'])
        self.assertTrue(self.probe['accepts'])


class TestIdentities(testtools.TestCase):

    def test_ids_and_addresses(self):
        rid = sc.new_id(300)
        self.assertEqual(36, len(rid))
        self.assertEqual(300, sc.index_of(rid))
        self.assertEqual('10.0.1.54', sc.fixed_ip(rid))
        self.assertEqual('172.24.1.54', sc.floating_ip(rid))
        self.assertEqual('fa:16:3e:00:01:2c', sc.mac(rid))

    def test_allocator_counts(self):
        d = tempfile.mkdtemp()
        path = os.path.join(d, 'config.json')
        got = [sc.allocate('fixed', path) for _ in range(3)]
        self.assertEqual([0, 1, 2], got)
        self.assertEqual(0, sc.allocate('floating', path))


class TestCloudApi(testtools.TestCase):
    base = 'http://127.0.0.1:1'

    def test_flavors(self):
        status, body = cloudapi.route('GET', '/compute/v2.1/flavors/detail',
                                      {}, self.base)
        self.assertEqual('200 OK', status)
        names = [f['name'] for f in body['flavors']]
        self.assertIn('m1.small', names)
        status, body = cloudapi.route('GET', '/compute/v2.1/flavors/m1.large',
                                      {}, self.base)
        self.assertEqual(80, body['flavor']['disk'])
        status, _ = cloudapi.route('GET', '/compute/v2.1/flavors/nope', {},
                                   self.base)
        self.assertEqual('404 Not Found', status)

    def test_version_document(self):
        status, body = cloudapi.route('GET', '/compute/v2.1', {}, self.base)
        self.assertEqual('v2.1', body['version']['id'])

    def test_networks_filter(self):
        status, body = cloudapi.route('GET', '/network/v2.0/networks',
                                      {'router:external': ['True']},
                                      self.base)
        self.assertEqual(['public'], [n['name'] for n in body['networks']])
        status, body = cloudapi.route('GET', '/network/v2.0/networks',
                                      {'name': ['private']}, self.base)
        self.assertEqual(['private'], [n['name'] for n in body['networks']])

    def test_quotas(self):
        status, body = cloudapi.route(
            'GET', '/compute/v2.1/os-quota-sets/p1/detail', {}, self.base)
        self.assertEqual(0, body['quota_set']['cores']['in_use'])
        self.assertGreater(body['quota_set']['instances']['limit'], 1000)
        status, body = cloudapi.route(
            'GET', '/network/v2.0/quotas/p1/details', {}, self.base)
        self.assertEqual(0, body['quota']['port']['used'])

    def test_quotas_set_limits_others_stay(self):
        quotas = {'instances': 5, 'cores': -1, 'port': 12}
        _, body = cloudapi.route(
            'GET', '/compute/v2.1/os-quota-sets/p1/detail', {}, self.base,
            quotas=quotas)
        self.assertEqual(5, body['quota_set']['instances']['limit'])
        self.assertEqual(-1, body['quota_set']['cores']['limit'])
        self.assertEqual(cloudapi.QUOTA_LIMIT,
                         body['quota_set']['ram']['limit'])
        _, body = cloudapi.route('GET', '/compute/v2.1/os-quota-sets/p1',
                                 {}, self.base, quotas=quotas)
        self.assertEqual(5, body['quota_set']['instances'])
        _, body = cloudapi.route(
            'GET', '/network/v2.0/quotas/p1/details', {}, self.base,
            quotas=quotas)
        self.assertEqual(12, body['quota']['port']['limit'])
        self.assertEqual(cloudapi.QUOTA_LIMIT,
                         body['quota']['network']['limit'])

    def test_writes_not_served_answer_in_the_apis_format(self):
        status, body = cloudapi.route('POST', '/compute/v2.1/servers', {},
                                      self.base)
        self.assertEqual('501 Not Implemented', status)
        self.assertEqual(501, body['notImplemented']['code'])
        status, body = cloudapi.route('POST', '/network/v2.0/ports', {},
                                      self.base)
        self.assertEqual('501 Not Implemented', status)
        self.assertEqual('NotImplemented', body['NeutronError']['type'])

    def test_wsgi_needs_token(self):
        seen = []
        out = cloudapi.application(
            {'REQUEST_METHOD': 'GET',
             'PATH_INFO': '/compute/v2.1/flavors'},
            lambda status, headers: seen.append(status))
        self.assertEqual(['401 Unauthorized'], seen)
        self.assertTrue(out)
