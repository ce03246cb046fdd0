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
"""Rendering of node user data (magnum_cern_driver.userdata)."""

import base64
import itertools
import os
import random
import subprocess

import testtools
import yaml

from magnum_cern_driver import labels
from magnum_cern_driver import userdata
from tests.unit.fragments import sandbox

# Feature switches: every combination renders, for both roles.
SWITCHES = {
    'cvmfs_enabled': ('false', 'true'),
    'eos_enabled': ('false', 'true'),
    'cloud_provider_enabled': ('false', 'true'),
    'master_lb_enabled': ('false', 'true'),
    'registry_mirror': ('', 'registry.example.org:5000/mirror/path'),
}
# Other choices, each rendered once with every role.
CHOICES = [
    {'flannel_backend': 'vxlan'}, {'flannel_backend': 'udp'},
    {'kube_proxy_mode': 'ipvs'}, {'network_mtu': '1450'},
    {'container_storage_device': 'root'},
    {'container_storage_device': '/dev/nvme0n1'},
]
# A site CA bundle of this many certificates is the largest the tests
# require to fit (a real bundle: a few roots and intermediates).
BUNDLE_CERTS = 8


def _bundle(count=BUNDLE_CERTS):
    """``count`` distinct certificates' worth of PEM.

    The bundle travels compressed: copies of one certificate would
    compress to nothing.
    """
    rng = random.Random(count)
    blocks = [sandbox.shared_ca()[0]]
    for _ in range(count - 1):
        body = base64.encodebytes(rng.randbytes(800)).decode('ascii')
        blocks.append('-----BEGIN CERTIFICATE-----\n%s'
                      '-----END CERTIFICATE-----\n' % body)
    return ''.join(blocks)


def _files(text):
    """The cloud-config and every file the node gets (archive unpacked)."""
    config = yaml.safe_load(text)
    return config, userdata.written_files(text)


def _source_env(env_text, names):
    """Values of ``names`` after bash sources the environment file."""
    script = 'set -eu\n. /dev/stdin\nprintf "%s\\0"' + ''.join(
        ' "${%s}"' % name for name in names) + '\n'
    proc = subprocess.run(['bash', '-c', script], input=env_text,
                          capture_output=True, text=True, check=True)
    return proc.stdout.split('\0')[:-1]


class RenderCombinationsTest(testtools.TestCase):

    def test_every_combination_renders_under_nova_limit(self):
        sizes = {}
        combos = [dict(zip(SWITCHES, values))
                  for values in itertools.product(*SWITCHES.values())]
        combos += CHOICES
        for role in userdata.ROLES:
            for combo in combos:
                for extra in ({}, {'docker_volume_size': 100,
                                   'server_type': 'baremetal',
                                   'master_count': 3}):
                    text = sandbox.render(role, combo, ca_bundle=_bundle(),
                                          **extra)
                    self.assertTrue(text.startswith('#cloud-config\n'))
                    config, files = _files(text)
                    self.assertNotIn('runcmd', config)
                    self.assertEqual(userdata.PER_BOOT_SCRIPT,
                                     files[userdata.PER_BOOT][1])
                    self.assertIn(userdata.RUNNER, files)
                    size = userdata.encoded_size(text)
                    self.assertLessEqual(size, userdata.NOVA_USER_DATA_LIMIT)
                    sizes[(role, tuple(sorted(combo.items())))] = size
        self.assertEqual(2 * (2 ** len(SWITCHES) + len(CHOICES)),
                         len(sizes))
        largest = max(sizes.values())
        # Keep room for a larger site bundle: report if this ever shrinks.
        self.assertLess(largest, 59 * 1024, 'largest user data %d' % largest)
        print('largest user data (base64, with %d-certificate CA bundle '
              'and run-time allowance): %d bytes' % (BUNDLE_CERTS, largest))

    def test_render_is_deterministic(self):
        first = sandbox.render('master', ca_bundle=_bundle(1))
        self.assertEqual(first, sandbox.render('master', ca_bundle=_bundle(1)))

    def test_too_large_ca_bundle_is_refused(self):
        e = self.assertRaises(userdata.UserDataError, sandbox.render,
                              'worker', ca_bundle=_bundle(60))
        self.assertIn("Nova's limit", str(e))

    def test_fragments_per_role(self):
        self.assertEqual(('10-site-ca.sh', '20-container-storage.sh',
                          '30-runtime.sh', '40-kubeadm.sh'),
                         userdata.fragments_for('worker'))
        master = userdata.fragments_for('master')
        self.assertEqual('90-ready.sh', master[-1])
        self.assertIn('35-api-vip.sh', master)
        self.assertEqual(sorted(master), list(master))

    def test_every_packaged_fragment_is_used(self):
        here = os.path.dirname(userdata.__file__)
        shipped = set(os.listdir(os.path.join(here, 'templates',
                                              'fragments')))
        used = {name for name, _roles in userdata.FRAGMENTS}
        used |= {userdata.LIBRARY, userdata.RUNNER_SOURCE,
                 userdata.GUARD_SOURCE}
        self.assertEqual(used, shipped)

    def test_unknown_role(self):
        self.assertRaises(userdata.UserDataError, userdata.render, 'etcd',
                          labels.validate({}), sandbox.facts(),
                          sandbox.secrets())


class PlaceholderTest(testtools.TestCase):

    def test_placeholders(self):
        self.assertEqual(('__API_ADDRESS__', '__NODE_INDEX__',
                          '__WAIT_ENDPOINT__', '__WAIT_TOKEN__',
                          '__API_PUBLIC_ADDRESS__'),
                         userdata.PLACEHOLDERS)

    def test_master_has_each_placeholder_once_in_its_own_file(self):
        text = sandbox.render('master')
        _config, files = _files(text)
        expected = {
            '/etc/magnum-cern/runtime/api_address': '__API_ADDRESS__\n',
            '/etc/magnum-cern/runtime/node_index': '__NODE_INDEX__\n',
            '/etc/magnum-cern/runtime/wait_endpoint': '__WAIT_ENDPOINT__\n',
            '/etc/magnum-cern/secrets/wait_token': '__WAIT_TOKEN__\n',
            '/etc/magnum-cern/runtime/api_public_address':
                '__API_PUBLIC_ADDRESS__\n',
        }
        for path, content in expected.items():
            self.assertEqual(content, files[path][1])
        for placeholder in userdata.PLACEHOLDERS:
            self.assertEqual(1, text.count(placeholder))

    def test_worker_has_only_the_api_address(self):
        text = sandbox.render('worker')
        self.assertEqual(1, text.count('__API_ADDRESS__'))
        for placeholder in ('__NODE_INDEX__', '__WAIT_ENDPOINT__',
                            '__WAIT_TOKEN__', '__API_PUBLIC_ADDRESS__'):
            self.assertNotIn(placeholder, text)

    def test_label_value_containing_a_placeholder_is_refused(self):
        typed = labels.validate(
            {'registry_mirror': 'reg.example.org/__API_ADDRESS__'})
        self.assertRaises(labels.InvalidLabel, userdata.render, 'worker',
                          typed, sandbox.facts(), sandbox.secrets('worker'))

    def test_fact_containing_a_placeholder_is_refused(self):
        self.assertRaises(userdata.UserDataError, sandbox.render, 'worker',
                          cluster_name='x__WAIT_TOKEN__')

    def test_substituted_user_data_is_still_valid_yaml(self):
        text = sandbox.render('master')
        for key, value in sandbox.runtime_values(2).items():
            text = text.replace(key, value)
        _config, files = _files(text)
        self.assertEqual(
            '2\n', files['/etc/magnum-cern/runtime/node_index'][1])


class SecretsTest(testtools.TestCase):

    def test_worker_never_gets_the_ca_key_or_credentials(self):
        cert, key = sandbox.shared_ca()
        text = sandbox.render('worker', {'cloud_provider_enabled': 'true'})
        _config, files = _files(text)
        body = key.split('-----')[2].strip().splitlines()[1]
        self.assertNotIn(body, text)
        self.assertNotIn('PRIVATE KEY', text)
        self.assertNotIn('/etc/magnum-cern/secrets/ca.key', files)
        self.assertNotIn('/etc/magnum-cern/secrets/cloud.conf', files)
        self.assertNotIn('Sup3r-secret', text)

    def test_worker_with_a_ca_key_is_refused(self):
        self.assertRaises(userdata.UserDataError, sandbox.render, 'worker',
                          secret_values=sandbox.secrets('master'))
        for name in userdata.MASTER_ONLY_SECRETS:
            secrets = sandbox.secrets('worker')
            secrets[name] = sandbox.secrets('master')[name]
            self.assertRaises(userdata.UserDataError, sandbox.render,
                              'worker', secret_values=secrets)

    def test_master_gets_the_shared_control_plane_keys(self):
        other_cert, other_key = sandbox.shared_ca('other')
        _config, files = _files(sandbox.render('master'))
        for name, content in (('etcd-ca.crt', other_cert),
                              ('etcd-ca.key', other_key),
                              ('front-proxy-ca.crt', other_cert),
                              ('front-proxy-ca.key', other_key),
                              ('sa.key', other_key)):
            self.assertEqual(('0600', content),
                             files['/etc/magnum-cern/secrets/' + name])
        self.assertNotIn('/etc/magnum-cern/secrets/certificate_key', files)
        for name in ('etcd_ca_key', 'sa_key'):
            secrets = sandbox.secrets('master', **{name: 'not a key'})
            self.assertRaises(userdata.UserDataError, sandbox.render,
                              'master', secret_values=secrets)

    def test_master_gets_ca_key_and_cloud_conf(self):
        _cert, key = sandbox.shared_ca()
        _config, files = _files(sandbox.render('master'))
        self.assertEqual(('0600', key),
                         files['/etc/magnum-cern/secrets/ca.key'])
        conf = files['/etc/magnum-cern/secrets/cloud.conf'][1]
        self.assertIn('application-credential-secret='
                      '"Sup3r-secret_app-cred"', conf)
        self.assertIn('auth-url="https://keystone.example.org:5000/v3"',
                      conf)

    def test_cloud_conf_values_are_escaped(self):
        secrets = sandbox.secrets('master', app_cred_secret='a"b\\c')
        _config, files = _files(sandbox.render('master',
                                               secret_values=secrets))
        self.assertIn('application-credential-secret="a\\"b\\\\c"\n',
                      files['/etc/magnum-cern/secrets/cloud.conf'][1])

    def test_cloud_provider_needs_an_application_credential(self):
        secrets = sandbox.secrets('master')
        del secrets['app_cred_secret']
        self.assertRaises(userdata.UserDataError, sandbox.render, 'master',
                          secret_values=secrets)
        text = sandbox.render('master', {'cloud_provider_enabled': 'false'},
                              secret_values=secrets)
        self.assertNotIn('cloud.conf', text)

    def test_secret_files_are_private_and_scripts_executable(self):
        for role in userdata.ROLES:
            _config, files = _files(sandbox.render(role,
                                                   ca_bundle=_bundle(1)))
            for path, (mode, _content) in files.items():
                if path.startswith(userdata.SECRETS_DIR) or \
                        path == userdata.ENV_FILE:
                    self.assertEqual('0600', mode, path)
                elif path.endswith('.sh') and 'common' not in path:
                    self.assertEqual('0755', mode, path)

    def test_malformed_secrets_are_refused(self):
        bad = {
            'bootstrap_token': 'abcdef.0123456789abcdeg; reboot',
            'ca_cert_hash': 'sha256:xyz',
            'ca_cert': 'not a certificate',
            'ca_key': 'not a key',
            'auth_url': 'ftp://keystone',
            'app_cred_secret': 'line\nbreak',
        }
        for name, value in bad.items():
            secrets = sandbox.secrets('master', **{name: value})
            self.assertRaises(userdata.UserDataError, sandbox.render,
                              'master', secret_values=secrets)

    def test_missing_secret_is_refused(self):
        for name in ('bootstrap_token', 'ca_cert', 'ca_cert_hash'):
            secrets = sandbox.secrets('worker')
            del secrets[name]
            self.assertRaises(userdata.UserDataError, sandbox.render,
                              'worker', secret_values=secrets)

    def test_crlf_pem_is_normalised(self):
        cert, key = sandbox.shared_ca()
        secrets = sandbox.secrets('master',
                                  ca_cert=cert.replace('\n', '\r\n'),
                                  ca_key=key.replace('\n', '\r\n'))
        _config, files = _files(sandbox.render('master',
                                               secret_values=secrets))
        self.assertEqual(cert, files['/etc/magnum-cern/secrets/ca.crt'][1])
        self.assertEqual(key, files['/etc/magnum-cern/secrets/ca.key'][1])


class EnvironmentFileTest(testtools.TestCase):

    def _env(self, role='worker', label_values=None, **facts):
        _config, files = _files(sandbox.render(role, label_values, **facts))
        return files[userdata.ENV_FILE][1]

    def test_labels_arrive_typed_and_rendered(self):
        env = self._env(label_values={'cvmfs_enabled': 'yes',
                                      'eos_instances': 'user, project',
                                      'network_mtu': '1450'})
        self.assertEqual(['true', 'user,project', '1450', 'v1.31.4'],
                         _source_env(env, ['CVMFS_ENABLED', 'EOS_INSTANCES',
                                           'NETWORK_MTU', 'KUBE_TAG']))

    def test_every_line_is_a_quoted_assignment(self):
        env = self._env(cluster_name="it's $(x) `y` \"z\" \\ ;&|")
        for line in env.splitlines():
            if line.startswith('#'):
                continue
            self.assertRegex(line, r"^[A-Z][A-Z0-9_]*='.*'$")

    def test_hostile_text_facts_arrive_literally(self):
        values = ["it's", '$(touch /tmp/x)', '`id`', '"; reboot; "',
                  '\\', "'", "''", "a'\"'\"'b", '${PATH}', '$HOME',
                  'ｃ1-ünïcode', '*', '~root', '-rf', ' lead']
        for value in values:
            env = self._env(cluster_name=value, nodegroup_name=value + '!')
            self.assertEqual([value, value + '!'],
                             _source_env(env, ['CLUSTER_NAME',
                                               'NODEGROUP_NAME']))

    def test_control_characters_in_facts_are_refused(self):
        for value in ('a\nb', 'a\rb', 'a\x00b', 'a\tb', '\x1b[31m'):
            self.assertRaises(userdata.UserDataError, sandbox.render,
                              'worker', cluster_name=value)

    def test_bad_facts_are_refused(self):
        bad = [
            {'kube_api_port': '6443'}, {'kube_api_port': 0},
            {'kube_api_port': 70000}, {'docker_volume_size': -1},
            {'docker_volume_size': True}, {'server_type': 'container'},
            {'master_count': 0}, {'cluster_uuid': 'abc;reboot'},
            {'cluster_name': None}, {'cluster_name': 'x' * 300},
            {'master_lb_enabled': 'yes'},
        ]
        for fact in bad:
            self.assertRaises(userdata.UserDataError, sandbox.render,
                              'worker', **fact)

    def test_unset_docker_volume_size_means_none(self):
        env = self._env(docker_volume_size=None)
        self.assertEqual(['0'], _source_env(env, ['DOCKER_VOLUME_SIZE']))

    def test_load_balancer_fact_wins_over_label(self):
        env = self._env('master', {'master_lb_enabled': 'false'},
                        master_lb_enabled=True)
        self.assertEqual(['true'], _source_env(env, ['MASTER_LB_ENABLED']))
        env = self._env('master', {'master_lb_enabled': 'true'})
        self.assertEqual(['true'], _source_env(env, ['MASTER_LB_ENABLED']))

    def test_unvalidated_label_value_is_refused(self):
        typed = labels.validate({})
        typed['kube_tag'] = 'v1.31.4; reboot'
        self.assertRaises(labels.InvalidLabel, userdata.render, 'worker',
                          typed, sandbox.facts(), sandbox.secrets('worker'))

    def test_shell_quote(self):
        for value in ("", "a", "'", "a'b", "$(x)", "\\'", "'\"'\"'"):
            self.assertEqual([value],
                             _source_env('V=%s\n' % userdata.shell_quote(
                                 value), ['V']))

    def test_vrrp_router_id(self):
        ids = {userdata.vrrp_router_id('%032x' % i) for i in range(2000)}
        self.assertEqual(set(range(1, 256)), ids)
