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
"""Pure parts of the rehearsal: ports, config rendering, the plan."""

import configparser
import json
import os
import random
import stat
import tempfile

import testtools
import yaml

from magnum_cern_driver.selftest.rehearsal import configs
from magnum_cern_driver.selftest.rehearsal import ports
from magnum_cern_driver.selftest.rehearsal import rally_spec
from magnum_cern_driver.selftest.rehearsal import services
from magnum_cern_driver.selftest.rehearsal import state


def _layout(state_dir='/srv/reh'):
    port_map = {name: 21000 + i for i, name in
                enumerate(configs.PORT_NAMES)}
    secrets = {name: 'S3CRET-%s-0123456789abcdef' % name
               for name in state.SECRET_NAMES}
    return configs.Layout(state_dir, port_map, secrets, prefix='/venv')


class TestPorts(testtools.TestCase):

    def test_candidates_cover_range_once(self):
        got = list(ports.candidates(random.Random(1), 100, 110,
                                    exclude={105}))
        self.assertEqual(sorted(got), [p for p in range(100, 110)
                                       if p != 105])

    def test_pick_skips_busy_and_excluded(self):
        busy = {20001, 20003}
        got = ports.pick(['a', 'b', 'c'], exclude={20002},
                         rng=random.Random(0), low=20000, high=20006,
                         probe=lambda p: p not in busy)
        self.assertEqual(3, len(set(got.values())))
        for port in got.values():
            self.assertNotIn(port, busy | {20002})
            self.assertTrue(20000 <= port < 20006)

    def test_pick_runs_out(self):
        self.assertRaises(RuntimeError, ports.pick, ['a', 'b'],
                          low=20000, high=20001, probe=lambda p: True)

    def test_pick_stays_below_ephemeral_range(self):
        self.assertLessEqual(ports.DEFAULT_LOW, ports.ephemeral_low())

    def test_ephemeral_low_fallback(self):
        self.assertEqual(32768, ports.ephemeral_low('/nonexistent'))

    def test_is_free_sees_a_listener(self):
        import socket
        sock = socket.socket()
        sock.bind(('127.0.0.1', 0))
        sock.listen()
        self.addCleanup(sock.close)
        self.assertFalse(ports.is_free(sock.getsockname()[1]))


class TestRender(testtools.TestCase):

    def _ini(self, text):
        parser = configparser.RawConfigParser()
        parser.read_string(text)
        return parser

    def test_render_ini(self):
        text = configs.render_ini({'a': {'x': True, 'y': [1, 2], 'z': 's'}})
        self.assertEqual('[a]\nx = true\ny = 1,2\nz = s\n', text)

    def test_heat(self):
        layout = _layout()
        ini = self._ini(configs.render_heat(layout))
        self.assertEqual(configs.PLUGIN_DIR, ini['DEFAULT']['plugin_dirs'])
        self.assertTrue(os.path.isdir(configs.PLUGIN_DIR))
        self.assertEqual(str(configs.DEFAULT_MAX_RESOURCES_PER_STACK),
                         ini['DEFAULT']['max_resources_per_stack'])
        self.assertEqual('2', ini['DEFAULT']['num_engine_workers'])
        self.assertEqual('heat', ini['DEFAULT']['stack_user_domain_name'])
        self.assertEqual(
            'true', ini['DEFAULT']['encrypt_parameters_and_properties'])
        self.assertEqual(32, len(ini['DEFAULT']['auth_encryption_key']))
        self.assertIn('127.0.0.1:%d' % layout.ports['mysql'],
                      ini['database']['connection'])
        self.assertEqual('20', ini['database']['max_pool_size'])
        self.assertEqual(layout.auth_url,
                         ini['keystone_authtoken']['auth_url'])
        self.assertEqual('heat', ini['trustee']['username'])
        self.assertEqual('noop',
                         ini['oslo_messaging_notifications']['driver'])

    def test_heat_settings(self):
        layout = _layout()
        layout.settings['max_resources_per_stack'] = -1
        layout.settings['heat_engine_workers'] = 1
        ini = self._ini(configs.render_heat(layout))
        self.assertEqual('-1', ini['DEFAULT']['max_resources_per_stack'])
        self.assertEqual('1', ini['DEFAULT']['num_engine_workers'])

    def test_magnum(self):
        layout = _layout()
        ini = self._ini(configs.render_magnum(layout))
        self.assertEqual('x509keypair',
                         ini['certificates']['cert_manager_type'])
        self.assertNotEqual('0', ini['cinder']['default_boot_volume_size'])
        self.assertEqual('noop',
                         ini['oslo_messaging_notifications']['driver'])
        self.assertEqual('magnum', ini['keystone_auth']['username'])
        self.assertEqual(layout.standin_environment,
                         ini['cern_driver']['environment_files'])
        self.assertEqual(str(layout.ports['magnum']), ini['api']['port'])
        self.assertIn('mysql+pymysql://', ini['database']['connection'])

    def test_magnum_shard_size_setting(self):
        layout = _layout()
        ini = self._ini(configs.render_magnum(layout))
        self.assertNotIn('worker_shard_size', ini['cern_driver'])
        layout.settings['worker_shard_size'] = 25
        ini = self._ini(configs.render_magnum(layout))
        self.assertEqual('25', ini['cern_driver']['worker_shard_size'])

    def test_keystone_fast_and_cached(self):
        ini = self._ini(configs.render_keystone(_layout()))
        self.assertEqual('true', ini['cache']['enabled'])
        # Several worker processes: what up adds while services start
        # (the catalog) and revocations are never cached; roles and
        # projects are (Keystone's default, True).
        for section in ('catalog', 'revoke'):
            self.assertEqual('false', ini[section]['caching'])
        for section in ('role', 'resource', 'assignment'):
            self.assertNotIn(section, ini)
        plan = {s.name: s for s in services.plan(_layout())}
        argv = plan['keystone'].argv
        self.assertEqual('sync', argv[argv.index('--worker-class') + 1])
        self.assertEqual('4', ini['identity']['password_hash_rounds'])
        self.assertEqual('fernet', ini['token']['provider'])

    def test_standin_environment_maps_every_type(self):
        env = yaml.safe_load(configs.render_standin_environment(_layout()))
        registry = env['resource_registry']
        for real in ('OS::Nova::Server', 'OS::Neutron::Net',
                     'OS::Neutron::Subnet', 'OS::Neutron::Router',
                     'OS::Neutron::RouterInterface',
                     'OS::Neutron::SecurityGroup', 'OS::Neutron::Port',
                     'OS::Neutron::FloatingIP', 'OS::Octavia::LoadBalancer',
                     'OS::Octavia::Listener', 'OS::Octavia::Pool',
                     'OS::Octavia::PoolMember', 'OS::Octavia::HealthMonitor',
                     'OS::Cinder::Volume'):
            self.assertEqual('Rehearsal::' + real.split('::', 1)[1],
                             registry[real])

    def test_clouds_yaml(self):
        layout = _layout()
        clouds = yaml.safe_load(configs.render_clouds_yaml(layout))['clouds']
        member = clouds[configs.CLOUD_MEMBER]
        self.assertEqual(configs.MEMBER_USER, member['auth']['username'])
        self.assertEqual(configs.MEMBER_PROJECT,
                         member['auth']['project_name'])
        self.assertEqual(layout.auth_url, member['auth']['auth_url'])
        self.assertEqual(configs.REGION, member['region_name'])
        self.assertEqual(configs.ADMIN_USER,
                         clouds[configs.CLOUD_ADMIN]['auth']['username'])

    def test_rally_env_spec_is_the_member_of_clouds_yaml(self):
        layout = _layout()
        member = configs.cloud_entry(layout, configs.MEMBER_USER, 'member',
                                     configs.MEMBER_PROJECT)
        spec = json.loads(rally_spec.render_env(member))['openstack']
        self.assertEqual(layout.auth_url, spec['auth_url'])
        self.assertEqual(configs.REGION, spec['region_name'])
        self.assertEqual('public', spec['endpoint_type'])
        (user,) = spec['users']
        self.assertEqual({'username': configs.MEMBER_USER,
                          'password': layout.secrets['member'],
                          'project_name': configs.MEMBER_PROJECT,
                          'user_domain_name': 'Default',
                          'project_domain_name': 'Default'}, user)
        self.assertNotIn('admin', spec)

    def test_secret_files_flagged(self):
        layout = _layout()
        for path, (text, secret) in configs.render_all(layout).items():
            holds = any(s in text for s in layout.secrets.values())
            if holds:
                self.assertTrue(secret, path)

    def test_mysql_socket_fits(self):
        self.assertEqual('/srv/reh/run/mysqld.sock', _layout().mysql_socket)
        deep = _layout('/x' * 60).mysql_socket
        self.assertLess(len(deep), 100)
        self.assertEqual(deep, _layout('/x' * 60).mysql_socket)

    def test_rabbitmq_env_private(self):
        env = configs.rabbitmq_env(_layout())
        self.assertEqual('127.0.0.1', env['RABBITMQ_NODE_IP_ADDRESS'])
        self.assertTrue(env['HOME'].startswith('/srv/reh/'))
        self.assertIn('inet_dist_use_interface',
                      env['RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS'])
        for key, value in env.items():
            if key.endswith(('_BASE', '_FILE')):
                self.assertTrue(value.startswith('/srv/reh/'), key)


class TestPlan(testtools.TestCase):

    def test_order(self):
        names = [s.name for s in services.plan(_layout())]
        self.assertEqual(['mariadb', 'epmd', 'rabbitmq', 'keystone',
                          'cloud-standin', 'glance', 'heat-api',
                          'heat-engine', 'magnum-api', 'magnum-conductor'],
                         names)

    def test_ports_distinct_and_loopback(self):
        layout = _layout()
        all_ports = services.all_ports(layout)
        self.assertEqual(len(all_ports), len(set(all_ports)))
        for svc in services.plan(layout):
            if svc.check[0] == 'http':
                self.assertTrue(svc.check[1].startswith('http://127.0.0.1:'))

    def test_no_secret_on_a_command_line(self):
        layout = _layout()
        argvs = [s.argv for s in services.plan(layout)]
        argvs += [s.argv for s in services.migrations(layout)]
        argvs.append(services.bootstrap_step(layout).argv)
        for argv in argvs:
            joined = ' '.join(argv)
            for secret in layout.secrets.values():
                self.assertNotIn(secret, joined)
        self.assertEqual(layout.secrets['admin'], services.bootstrap_step(
            layout).env['OS_BOOTSTRAP_PASSWORD'])

    def test_conductor_killed_after_grace(self):
        plan = {s.name: s for s in services.plan(_layout())}
        self.assertLessEqual(plan['magnum-conductor'].grace, 10)
        self.assertIn('magnum-conductor', plan)

    def test_gunicorn_shim(self):
        argv = services.gunicorn_argv(_layout(), 1234, 'keystone')
        self.assertIn('--no-control-socket', argv)
        self.assertEqual('%s:keystone()' % services.WSGI, argv[-1])
        self.assertIn('127.0.0.1:1234', argv)

    def test_migrations(self):
        names = [s.name for s in services.migrations(_layout())]
        for db in ('keystone-db', 'glance-db', 'heat-db', 'magnum-db'):
            self.assertIn(db, names)


class TestState(testtools.TestCase):

    def test_default_dir(self):
        self.assertEqual('/x/y', state.default_state_dir(
            {state.ENV_STATE_DIR: '/x/y'}))
        self.assertEqual(
            '/h/magnum-cern-selftest/rehearsal',
            state.default_state_dir({'XDG_STATE_HOME': '/h'}))

    def test_save_is_private(self):
        d = tempfile.mkdtemp()
        self.addCleanup(__import__('shutil').rmtree, d)
        st = state.State(os.path.join(d, 'reh'))
        st.secrets.update(state.new_secrets())
        st.ports['mysql'] = 1
        st.save()
        mode = stat.S_IMODE(os.stat(st.path).st_mode)
        self.assertEqual(0o600, mode)
        again = state.State.load(st.state_dir)
        self.assertEqual(st.secrets, again.secrets)
        self.assertEqual({'mysql': 1}, again.ports)
