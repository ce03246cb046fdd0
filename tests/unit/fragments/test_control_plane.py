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
"""Control plane: init or join, replacement, join order, upgrade, ready."""

import os

import yaml

from tests.unit.fragments import sandbox
from tests.unit.fragments import test_sandbox

NAME = 'c1-5d12f6fd-master-%d'
SERVER_ID = '0b6a4c52-7f0e-4d7e-9a43-3c2f4f1d2e10'
OLD_MEMBER = '8211f1d0f64f3269'


class ControlPlaneTest(test_sandbox.SandboxTestCase):

    def boot_master(self, index, master_count=3, public='', **kw):
        self.sb.add_rule('cloud-init', args=['query', 'ds.meta_data.name'],
                         stdout=NAME % index + '\n')
        return self.boot('master', node_index=index,
                         master_count=master_count,
                         runtime={'__API_PUBLIC_ADDRESS__': public}, **kw)

    def api_answers(self):
        self.sb.add_rule('curl', contains=['--connect-timeout'], rc=0)

    def kubeadm_config(self, result):
        return list(yaml.safe_load_all(
            self.config_of(result, 'kubeadm', 'kubeadm.yaml')))

    def test_first_master_init_is_v1beta4_with_name_and_provider_id(self):
        result = self.boot_master(0)
        self.assertOk(result)
        self.assertTrue(result.called('kubeadm', 'init'))
        init, cluster = self.kubeadm_config(result)[:2]
        self.assertEqual('kubeadm.k8s.io/v1beta4', init['apiVersion'])
        self.assertEqual('kubeadm.k8s.io/v1beta4', cluster['apiVersion'])
        reg = init['nodeRegistration']
        self.assertEqual(NAME % 0, reg['name'])
        self.assertIn({'name': 'provider-id',
                       'value': 'openstack:///' + SERVER_ID},
                      reg['kubeletExtraArgs'])
        self.assertEqual(['10.0.0.10'], cluster['apiServer']['certSANs'])

    def test_v1beta3_is_refused_by_the_kubeadm_shim(self):
        path = self.sb.root + '/kubeadm.yaml'
        os.makedirs(self.sb.root, exist_ok=True)
        with open(path, 'w') as f:
            f.write('apiVersion: kubeadm.k8s.io/v1beta3\n'
                    'kind: InitConfiguration\n')
        script = self.sb.root + '/run.sh'
        with open(script, 'w') as f:
            f.write('kubeadm init --config %s\n' % path)
        text = sandbox.render('worker')
        self.sb.unpack(text, sandbox.runtime_values())
        result = self.sb.run('/run.sh')
        self.assertNotEqual(0, result.returncode)
        self.assertIn('v1beta3', result.stderr)

    def test_floating_ip_is_a_certificate_san(self):
        result = self.boot_master(0, public='172.24.4.20')
        self.assertOk(result)
        cluster = self.kubeadm_config(result)[1]
        self.assertEqual(['10.0.0.10', '172.24.4.20'],
                         cluster['apiServer']['certSANs'])

    def test_public_address_is_validated(self):
        result = self.boot_master(0, public='1.2.3.4; reboot')
        self.assertFailed(result)
        self.assertIn('api_public_address: invalid value', result.stderr)
        self.assertFalse(result.called('kubeadm'))

    def test_replace_master_0_of_3_joins_and_removes_its_stale_member(self):
        self.api_answers()
        self.sb.add_rule('kubectl', contains=['get', 'node', NAME % 0],
                         stdout='node/%s\n' % (NAME % 0))
        self.sb.add_rule('kubectl', contains=['component=etcd'],
                         stdout='etcd-%s etcd-%s etcd-%s' % (
                             NAME % 0, NAME % 1, NAME % 2))
        self.sb.add_rule('kubectl', contains=['member', 'list'], stdout=(
            '%s, started, %s, https://10.0.0.5:2380, https://10.0.0.5:2379, '
            'false\n91bc3c398fb3c146, started, %s, https://10.0.0.6:2380, '
            'https://10.0.0.6:2379, false\n'
            % (OLD_MEMBER, NAME % 0, NAME % 1)))
        result = self.boot_master(0)
        self.assertOk(result)
        self.assertFalse(result.called('kubeadm', 'init'))
        self.assertTrue(result.called('kubeadm', 'join'))
        remove = [c for c in result.commands('kubectl') if 'remove' in c]
        self.assertEqual(1, len(remove))
        self.assertEqual(['member', 'remove', OLD_MEMBER], remove[0][-3:])
        # asked through a healthy member, not the stale one
        self.assertIn('etcd-' + NAME % 1, remove[0])
        self.assertBefore(result, ('kubectl', '--server'),
                          ('kubeadm', 'join'))
        self.assertLess(
            result.index(*remove[0]), result.index('kubeadm', 'join'))
        self.assertTrue([c for c in result.commands('kubectl')
                         if 'delete' in c and NAME % 0 in c])
        join = self.kubeadm_config(result)[0]
        self.assertEqual(NAME % 0, join['nodeRegistration']['name'])
        self.assertNoSecretsOnCommandLines(result)

    def test_the_last_etcd_member_is_never_removed(self):
        self.api_answers()
        self.sb.add_rule('kubectl', contains=['component=etcd'],
                         stdout='etcd-%s etcd-other' % (NAME % 0))
        self.sb.add_rule('kubectl', contains=['member', 'list'], stdout=(
            '%s, started, %s, https://10.0.0.5:2380, https://10.0.0.5:2379, '
            'false\n' % (OLD_MEMBER, NAME % 0)))
        result = self.boot_master(0, master_count=1)
        self.assertFailed(result)
        self.assertFalse([c for c in result.commands('kubectl')
                          if 'remove' in c])
        self.assertFalse(result.called('kubeadm', 'join'))

    def test_replace_master_2_after_3_hours_needs_no_uploaded_certs(self):
        result = self.boot_master(2)
        self.assertOk(result)
        join = self.kubeadm_config(result)[0]
        self.assertEqual('kubeadm.k8s.io/v1beta4', join['apiVersion'])
        self.assertNotIn('certificateKey', join['controlPlane'])
        for call in result.commands('kubeadm'):
            self.assertNotIn('--certificate-key', call)
            self.assertNotIn('--upload-certs', call)
        cert, key = sandbox.shared_ca()
        other_cert, other_key = sandbox.shared_ca('other')
        expected = {'ca.crt': cert, 'ca.key': key,
                    'etcd/ca.crt': other_cert, 'etcd/ca.key': other_key,
                    'front-proxy-ca.crt': other_cert,
                    'front-proxy-ca.key': other_key, 'sa.key': other_key}
        for name, content in expected.items():
            self.assertEqual(content,
                             result.read('/etc/kubernetes/pki/' + name))
        self.assertTrue(result.called(
            'openssl', 'pkey', '-in', self.sb.root +
            '/etc/kubernetes/pki/sa.key', '-pubout', '-out',
            self.sb.root + '/etc/kubernetes/pki/sa.pub'))
        self.assertBefore(result, ('openssl', 'pkey'), ('kubeadm', 'join'))

    def test_workers_get_no_control_plane_keys(self):
        result = self.boot('worker')
        self.assertOk(result)
        self.assertFalse(result.exists('/etc/kubernetes/pki/ca.key'))
        self.assertFalse(result.exists('/etc/magnum-cern/secrets/sa.key'))
        join = self.kubeadm_config(result)[0]
        self.assertEqual('kubeadm.k8s.io/v1beta4', join['apiVersion'])
        self.assertNotIn('controlPlane', join)

    def test_masters_join_one_at_a_time(self):
        # Two probes see only master 0 Ready, then master 1 too.
        self.sb.add_rule('kubectl',
                         contains=['node-role.kubernetes.io/control-plane'],
                         stdout='%s True\n%s False\n' % (NAME % 0, NAME % 1),
                         times=2)
        result = self.boot_master(2)
        self.assertOk(result)
        waits = [c for c in result.commands('kubectl')
                 if 'node-role.kubernetes.io/control-plane' in c]
        self.assertEqual(3, len(waits))
        self.assertLess(result.index(*waits[-1]),
                        result.index('kubeadm', 'join'))

    def test_join_wait_is_bounded(self):
        self.sb.add_rule('kubectl',
                         contains=['node-role.kubernetes.io/control-plane'],
                         stdout='%s True\n' % (NAME % 0))
        text = sandbox.render('master', master_count=3)
        self.sb.add_rule('cloud-init', args=['query', 'ds.meta_data.name'],
                         stdout=NAME % 2 + '\n')
        self.sb.unpack(text, sandbox.runtime_values(2))
        result = self.sb.run(extra_env={'MCD_JOIN_WAIT_TRIES': '3'})
        self.assertFailed(result)
        self.assertFalse(result.called('kubeadm', 'join'))

    def test_ready_signal_only_after_the_node_is_ready(self):
        result = self.boot_master(0)
        self.assertOk(result)
        wait = ('kubectl', '--kubeconfig',
                self.sb.root + '/etc/kubernetes/admin.conf', 'wait',
                'node/' + NAME % 0, '--for=condition=Ready')
        self.assertBefore(result, wait, ('curl', '-sS', '--fail'))

    def test_no_signal_when_the_node_never_gets_ready(self):
        self.sb.add_rule('kubectl', contains=['--for=condition=Ready'], rc=1)
        result = self.boot_master(0)
        self.assertFailed(result)
        posts = [c for c in result.commands('curl') if 'POST' in c]
        self.assertEqual(1, len(posts))
        self.assertIn('FAILURE', ' '.join(posts[0]))

    def test_upgrade_runs_kubeadm_upgrade_apply_once(self):
        self.api_answers()
        self.sb.add_rule('kubectl', contains=['kubeadm-config'],
                         stdout='kubernetesVersion: v1.31.4\n')
        first = self.boot_master(0, label_values={'kube_tag': 'v1.32.2'})
        self.assertOk(first)
        join = self.kubeadm_config(first)[0]
        self.assertEqual(['KubeletVersion'],
                         join['nodeRegistration']['ignorePreflightErrors'])
        applies = [c for c in first.commands('kubeadm') if 'apply' in c]
        self.assertEqual([['kubeadm', 'upgrade', 'apply', 'v1.32.2', '-y']],
                         applies)
        self.assertBefore(first, ('kubeadm', 'join'),
                          ('kubeadm', 'upgrade', 'apply'))

    def test_later_upgraded_master_waits_and_upgrades_its_node(self):
        self.api_answers()
        # Another master holds the upgrade marker; the cluster reaches
        # v1.32.2 on the second look.
        self.sb.add_rule('kubectl', contains=['kubeadm-config'],
                         stdout='kubernetesVersion: v1.32.2\n')
        self.sb.add_rule('kubectl', contains=['kubeadm-config'],
                         stdout='kubernetesVersion: v1.31.4\n', times=2)
        self.sb.add_rule('kubectl', contains=['create', 'configmap'], rc=1)
        manifests = self.sb.root + '/etc/kubernetes/manifests'
        os.makedirs(manifests)
        with open(manifests + '/kube-apiserver.yaml', 'w') as f:
            f.write('    image: registry.k8s.io/kube-apiserver:v1.31.4\n')
        result = self.boot_master(1, label_values={'kube_tag': 'v1.32.2'})
        self.assertOk(result)
        self.assertFalse([c for c in result.commands('kubeadm')
                          if 'apply' in c])
        self.assertTrue(result.called('kubeadm', 'upgrade', 'node'))

    def test_minor_version_skip_is_refused(self):
        self.sb.add_rule('kubectl', contains=['kubeadm-config'],
                         stdout='kubernetesVersion: v1.31.4\n')
        result = self.boot_master(1, label_values={'kube_tag': 'v1.33.0'})
        self.assertFailed(result)
        self.assertFalse(result.called('kubeadm', 'join'))
        self.assertIn('skips a minor version', result.stderr)

    def test_worker_failure_is_written_to_the_console(self):
        os.makedirs(self.sb.root + '/dev')
        self.sb.add_rule('kubeadm', contains=['join'], rc=1)
        result = self.boot('worker')
        self.assertFailed(result)
        console = result.read('/dev/console')
        self.assertEqual('magnum-cern-bootstrap: FAILED at 40-kubeadm.sh; '
                         'details in /var/log/cloud-init-output.log\n',
                         console)
