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
"""Behaviour of the bootstrap fragments, run in a sandbox with shims."""

import os
import shutil
import stat

import testtools
import yaml

from magnum_cern_driver import userdata
from tests.unit.fragments import sandbox

TOKEN = 'abcdef.0123456789abcdef'
CA_HASH = 'sha256:' + 'ab' * 32


class SandboxTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.sb = self.useFixture(sandbox.Sandbox())

    def boot(self, role='master', label_values=None, node_index=0,
             ca_bundle=None, runtime=None, **facts):
        text = sandbox.render(role, label_values, ca_bundle=ca_bundle,
                              **facts)
        values = sandbox.runtime_values(node_index)
        values.update(runtime or {})
        self.sb.unpack(text, values)
        return self.sb.run()

    def assertOk(self, result):
        self.assertEqual(0, result.returncode, result.stderr)

    def assertFailed(self, result):
        self.assertNotEqual(0, result.returncode, result.stderr)

    def assertBefore(self, result, first, second):
        self.assertLess(result.index(*first), result.index(*second))

    def assertNoSecretsOnCommandLines(self, result):
        _cert, key = sandbox.shared_ca()
        key_line = key.splitlines()[1]
        for call in result.commands():
            line = ' '.join(call)
            for secret in (TOKEN, sandbox.WAIT_TOKEN, key_line,
                           'Sup3r-secret'):
                self.assertNotIn(secret, line)

    def config_of(self, result, cmd, path_suffix):
        for call in result.calls:
            if call['cmd'] != cmd:
                continue
            for path, content in call['files'].items():
                if path.endswith(path_suffix):
                    return content
        raise AssertionError('%s saw no file %s' % (cmd, path_suffix))


class FirstMasterTest(SandboxTestCase):

    def test_order_of_a_full_first_master(self):
        result = self.boot('master', {'cvmfs_enabled': 'true',
                                      'eos_enabled': 'true'},
                           ca_bundle=sandbox.shared_ca()[0], master_count=3)
        self.assertOk(result)
        steps = [
            ('update-ca-trust', 'extract'),
            ('mkfs.xfs', '-f', '-L', 'mcd-storage', '/dev/vdb'),
            ('mount', '/var/lib/container-storage'),
            ('mount', '/var/lib/containerd'),
            ('modprobe', 'br_netfilter'),
            ('dnf', 'install', '-y', 'containerd.io-1.7.24',
             'kubelet-1.31.4', 'kubeadm-1.31.4', 'kubectl-1.31.4'),
            ('systemctl', 'restart', 'containerd'),
            ('systemctl', 'restart', 'keepalived'),
            ('kubeadm', 'init', '--config'),
            ('helm', '--kubeconfig'),
            ('kubectl', '--kubeconfig',
             self.sb.root + '/etc/kubernetes/admin.conf', 'get',
             '--raw=/readyz'),
            ('curl', '-sS', '--fail'),
        ]
        for first, second in zip(steps, steps[1:]):
            self.assertBefore(result, first, second)
        helm = [c for c in result.commands('helm')]
        self.assertEqual(['flannel', 'openstack-ccm', 'cvmfs-csi',
                          'eosxd-csi'], [c[5] for c in helm])
        self.assertNoSecretsOnCommandLines(result)
        self.assertEqual(1, len([c for c in result.commands('curl')
                                 if 'POST' in c]))

    def test_init_uses_magnum_ca_and_config_file(self):
        result = self.boot('master')
        self.assertOk(result)
        cert, key = sandbox.shared_ca()
        self.assertEqual(cert, result.read('/etc/kubernetes/pki/ca.crt'))
        self.assertEqual(key, result.read('/etc/kubernetes/pki/ca.key'))
        mode = os.stat(self.sb.root + '/etc/kubernetes/pki/ca.key').st_mode
        self.assertEqual(0o600, stat.S_IMODE(mode))
        init = result.commands('kubeadm')
        self.assertEqual(1, len(init))
        # Every master has the shared keys: nothing is uploaded.
        self.assertNotIn('--upload-certs', init[0])
        docs = list(yaml.safe_load_all(
            self.config_of(result, 'kubeadm', 'kubeadm.yaml')))
        init_conf, cluster, proxy, kubelet = docs
        self.assertEqual(TOKEN, init_conf['bootstrapTokens'][0]['token'])
        self.assertNotIn('certificateKey', init_conf)
        self.assertIn(
            {'name': 'cloud-provider', 'value': 'external'},
            init_conf['nodeRegistration']['kubeletExtraArgs'])
        self.assertEqual('v1.31.4', cluster['kubernetesVersion'])
        self.assertEqual('10.0.0.10:6443', cluster['controlPlaneEndpoint'])
        self.assertEqual('10.64.0.0/11', cluster['networking']['podSubnet'])
        self.assertEqual('10.254.0.0/16',
                         cluster['networking']['serviceSubnet'])
        self.assertEqual([{'name': 'node-cidr-mask-size-ipv4',
                           'value': '24'}],
                         cluster['controllerManager']['extraArgs'])
        # Control plane images as the manifest pins them.
        self.assertEqual('registry.k8s.io', cluster['imageRepository'])
        self.assertEqual({'imageRepository': 'registry.k8s.io',
                          'imageTag': '3.5.15-0'}, cluster['etcd']['local'])
        self.assertEqual({'imageRepository': 'registry.k8s.io/coredns',
                          'imageTag': 'v1.11.3'}, cluster['dns'])
        self.assertEqual('iptables', proxy['mode'])
        self.assertEqual('systemd', kubelet['cgroupDriver'])
        # The config held the token: it is gone after kubeadm ran.
        self.assertFalse(result.exists('/etc/magnum-cern/secrets/'
                                       'kubeadm.yaml'))

    def test_flannel_values(self):
        result = self.boot('master', {'flannel_backend': 'vxlan',
                                      'flannel_network_cidr': '10.50.0.0/16'})
        self.assertOk(result)
        values = yaml.safe_load(self.config_of(result, 'helm',
                                               'flannel-values.yaml'))
        self.assertEqual('10.50.0.0/16', values['podCidr'])
        self.assertEqual('vxlan', values['flannel']['backend'])
        # Image, CNI image and chart of one release, from the manifest.
        self.assertEqual({'repository': 'ghcr.io/flannel-io/flannel',
                          'tag': 'v0.26.4'}, values['flannel']['image'])
        self.assertEqual({'repository': 'ghcr.io/flannel-io/'
                                        'flannel-cni-plugin',
                          'tag': 'v1.6.2-flannel1'},
                         values['flannel']['image_cni'])
        self.assertTrue(result.called(
            'helm', '--kubeconfig', self.sb.root +
            '/etc/kubernetes/admin.conf', 'upgrade', '--install', 'flannel',
            'flannel', '--repo', 'https://flannel-io.github.io/flannel/',
            '--version', 'v0.26.4'))
        # The chart does not make its namespace: it exists, privileged,
        # before the install.
        self.assertBefore(result, ('kubectl', '--kubeconfig',
                                   self.sb.root + '/etc/kubernetes/admin.conf',
                                   'label', '--overwrite', 'namespace',
                                   'kube-flannel'),
                          ('helm', '--kubeconfig'))

    def test_default_backend_is_host_gw(self):
        result = self.boot('master')
        values = yaml.safe_load(self.config_of(result, 'helm',
                                               'flannel-values.yaml'))
        self.assertEqual('host-gw', values['flannel']['backend'])

    def test_registry_mirror_prefixes_every_image_and_chart(self):
        mirror = 'reg.example.org:5000/mirror'
        result = self.boot('master', {'registry_mirror': mirror,
                                      'cvmfs_enabled': 'true',
                                      'eos_enabled': 'true'},
                           ca_bundle=sandbox.shared_ca()[0])
        self.assertOk(result)
        self.assertIn('sandbox_image = "%s/pause:3.10"' % mirror,
                      result.read('/etc/containerd/config.toml'))
        cluster = list(yaml.safe_load_all(
            self.config_of(result, 'kubeadm', 'kubeadm.yaml')))[1]
        self.assertEqual(mirror, cluster['imageRepository'])
        self.assertEqual(mirror, cluster['etcd']['local']['imageRepository'])
        self.assertEqual(mirror + '/coredns',
                         cluster['dns']['imageRepository'])
        hosts = result.read('/etc/containerd/certs.d/reg.example.org:5000/'
                            'hosts.toml')
        self.assertIn('ca = "/etc/pki/ca-trust/source/anchors/'
                      'magnum-cern-site-ca.pem"', hosts)
        seen = 0
        for suffix in ('flannel-values.yaml', 'ccm-values.yaml',
                       'cvmfs-csi-values.yaml', 'eosxd-csi-values.yaml'):
            text = self.config_of(result, 'helm', suffix)
            repos = [line.split(':', 1)[1].strip().strip('"')
                     for line in text.splitlines()
                     if line.strip().startswith('repository:')]
            self.assertTrue(repos, suffix)
            for repo in repos:
                self.assertTrue(repo.startswith(mirror + '/'), repo)
            seen += len(repos)
        # flannel 2, ccm 1, cvmfs-csi 7, eosxd-csi 6 image keys.
        self.assertEqual(16, seen)
        charts = [c[6] for c in result.commands('helm')
                  if c[5] in ('cvmfs-csi', 'eosxd-csi')]
        self.assertEqual(['oci://%s/kubernetes/charts/cvmfs-csi' % mirror,
                          'oci://%s/kubernetes/charts/eosxd-csi' % mirror],
                         charts)

    def test_cvmfs_and_eos_configuration(self):
        result = self.boot('master', {
            'cvmfs_enabled': 'true',
            'cvmfs_repositories': 'atlas.cern.ch,cms.cern.ch',
            'cvmfs_http_proxy': 'http://squid1.example.org:3128;'
                                'http://squid2.example.org:3128',
            'eos_enabled': 'true',
            'eos_instances': 'user,project-i00'})
        self.assertOk(result)
        self.assertTrue(result.called(
            'helm', '--kubeconfig', self.sb.root +
            '/etc/kubernetes/admin.conf', 'upgrade', '--install',
            'cvmfs-csi', 'oci://registry.cern.ch/kubernetes/charts/cvmfs-csi',
            '--version', '2.5.0'))
        cvmfs = yaml.safe_load(self.config_of(result, 'helm',
                                              'cvmfs-csi-values.yaml'))
        # A map keyed by ConfigMap name (chart 2.5.0), not a list.
        local = cvmfs['extraConfigMaps']['cvmfs-csi-default-local'][
            'default.local']
        self.assertIn('CVMFS_HTTP_PROXY="http://squid1.example.org:3128;'
                      'http://squid2.example.org:3128"\n', local)
        self.assertIn('CVMFS_REPOSITORIES="atlas.cern.ch,cms.cern.ch"\n',
                      local)
        self.assertEqual({'create': True, 'name': 'cvmfs'},
                         cvmfs['automountStorageClass'])
        self.assertEqual('registry.cern.ch/kubernetes/cvmfs-csi',
                         cvmfs['nodeplugin']['plugin']['image']['repository'])
        eos = yaml.safe_load(self.config_of(result, 'helm',
                                            'eosxd-csi-values.yaml'))
        # The autofs map in the ConfigMap the chart mounts on /etc/eos,
        # naming instances whose fuse.<name>.conf the chart ships.
        self.assertEqual(
            {'eos-csi-dir-etc-eos': {
                'auto.eos': 'user -fstype=eosx,fsname=user :eosxd\n'
                            'project-i00 -fstype=eosx,fsname=project-i00 '
                            ':eosxd\n'}},
            eos['extraConfigMaps'])
        self.assertEqual({'enabled': True, 'className': 'eos'},
                         eos['commonStorageClass'])
        self.assertIn('1.3.1', result.commands('helm')[-1])

    def test_eos_without_instances_keeps_the_charts_map(self):
        result = self.boot('master', {'eos_enabled': 'true'})
        self.assertOk(result)
        eos = yaml.safe_load(self.config_of(result, 'helm',
                                            'eosxd-csi-values.yaml'))
        self.assertNotIn('extraConfigMaps', eos)

    def test_features_off(self):
        result = self.boot('master', {'cloud_provider_enabled': 'false',
                                      'master_lb_enabled': 'true',
                                      'master_lb_type': 'octavia'})
        self.assertOk(result)
        self.assertEqual(['flannel'],
                         [c[5] for c in result.commands('helm')])
        self.assertFalse(result.called('update-ca-trust'))
        self.assertFalse(result.called('modprobe', 'fuse'))
        self.assertFalse(result.exists('/etc/keepalived/keepalived.conf'))
        self.assertFalse(result.exists('/etc/magnum-cern/secrets/'
                                       'cloud.conf'))

    def test_keepalived_holds_the_vip_without_load_balancer(self):
        result = self.boot('master', master_count=1)
        self.assertOk(result)
        conf = result.read('/etc/keepalived/keepalived.conf')
        self.assertIn('interface eth0\n', conf)
        self.assertIn('priority 150\n', conf)
        self.assertIn('    10.0.0.10\n', conf)
        self.assertBefore(result, ('systemctl', 'restart', 'keepalived'),
                          ('kubeadm', 'init'))

    def test_cloud_provider_secret_from_file(self):
        result = self.boot('master')
        self.assertOk(result)
        create = [c for c in result.commands('kubectl') if 'create' in c][0]
        self.assertIn('--from-file=cloud.conf=' + self.sb.root +
                      '/etc/magnum-cern/secrets/cloud.conf', create)
        self.assertFalse(result.exists(
            '/var/lib/magnum-cern/cloud-config-secret.yaml'))
        self.assertTrue(result.called(
            'helm', '--kubeconfig', self.sb.root +
            '/etc/kubernetes/admin.conf', 'upgrade', '--install',
            'openstack-ccm', 'openstack-cloud-controller-manager'))

    def test_signal_token_goes_through_a_header_file(self):
        result = self.boot('master')
        self.assertOk(result)
        curl = [c for c in result.commands('curl') if 'POST' in c][0]
        self.assertEqual(sandbox.WAIT_ENDPOINT, curl[-1])
        self.assertIn('{"status": "SUCCESS", "reason": "the first master is '
                      'Ready, the add-ons installed"}', curl)
        post = [c for c in result.calls
                if c['cmd'] == 'curl' and 'POST' in c['args']][0]
        header = list(post['files'].values())[0]
        self.assertEqual('X-Auth-Token: %s\n' % sandbox.WAIT_TOKEN, header)
        leftovers = os.listdir(self.sb.root + '/var/lib/magnum-cern')
        self.assertFalse([f for f in leftovers if f.startswith('signal.')])

    def test_private_directories(self):
        result = self.boot('master')
        self.assertOk(result)
        for path in ('/etc/magnum-cern', '/etc/magnum-cern/secrets'):
            mode = os.stat(self.sb.root + path).st_mode
            self.assertEqual(0o700, stat.S_IMODE(mode), path)
        for name in ('bootstrap_token', 'ca.key', 'cloud.conf',
                     'wait_token', 'etcd-ca.key', 'front-proxy-ca.key',
                     'sa.key'):
            mode = os.stat(self.sb.root + '/etc/magnum-cern/secrets/' +
                           name).st_mode
            self.assertEqual(0o600, stat.S_IMODE(mode), name)


class OtherNodesTest(SandboxTestCase):

    def test_second_master_joins_the_control_plane(self):
        result = self.boot('master', node_index=1, master_count=3)
        self.assertOk(result)
        self.assertFalse(result.called('kubeadm', 'init'))
        self.assertFalse(result.called('helm'))
        # Its own readiness signal (master.yaml's wait condition), once its
        # node is Ready.
        self.assertEqual(1, len([c for c in result.commands('curl')
                                 if 'POST' in c]))
        self.assertBefore(result, ('kubectl', '--kubeconfig',
                                   self.sb.root + '/etc/kubernetes/admin.conf',
                                   'wait'), ('curl', '-sS'))
        # kubeadm's manual certificate distribution: the shared keys are
        # on every master before it joins.
        self.assertTrue(result.exists('/etc/kubernetes/pki/ca.key'))
        self.assertBefore(result, ('curl', '-sf'), ('kubeadm', 'join'))
        self.assertIn('https://10.0.0.10:6443/readyz',
                      result.commands('curl')[0])
        join = yaml.safe_load(self.config_of(result, 'kubeadm',
                                             'kubeadm.yaml'))
        self.assertEqual('JoinConfiguration', join['kind'])
        self.assertEqual({'localAPIEndpoint': {'bindPort': 6443}},
                         join['controlPlane'])
        self.assertIn('priority 100\n',
                      result.read('/etc/keepalived/keepalived.conf'))
        self.assertNoSecretsOnCommandLines(result)

    def test_worker_joins_with_token_and_ca_hash(self):
        result = self.boot('worker')
        self.assertOk(result)
        self.assertEqual(
            ['kubeadm', 'join', '--config',
             self.sb.root + '/etc/magnum-cern/secrets/kubeadm.yaml'],
            result.commands('kubeadm')[0])
        join = yaml.safe_load(self.config_of(result, 'kubeadm',
                                             'kubeadm.yaml'))
        discovery = join['discovery']['bootstrapToken']
        self.assertEqual({'apiServerEndpoint': '10.0.0.10:6443',
                          'token': TOKEN, 'caCertHashes': [CA_HASH]},
                         discovery)
        self.assertNotIn('controlPlane', join)
        self.assertIn(
            {'name': 'node-labels',
             'value': 'magnum.openstack.org/role=worker'},
            join['nodeRegistration']['kubeletExtraArgs'])
        self.assertFalse(result.called('helm'))
        self.assertFalse(result.called('systemctl', 'enable', 'keepalived'))
        self.assertFalse(result.exists('/etc/magnum-cern/secrets/ca.key'))
        self.assertFalse(result.exists('/etc/kubernetes/pki/ca.crt'))
        self.assertNoSecretsOnCommandLines(result)

    def test_worker_waits_for_the_api(self):
        self.sb.add_rule('curl', contains=['-sf'], rc=7, times=2)
        result = self.boot('worker')
        self.assertOk(result)
        self.assertEqual(3, len([c for c in result.commands('curl')]))
        self.assertEqual(2, len(result.commands('sleep')))

    def test_failed_join_is_reset_and_retried(self):
        self.sb.add_rule('kubeadm', contains=['join'], rc=1, times=1)
        result = self.boot('worker')
        self.assertOk(result)
        self.assertEqual([['kubeadm', 'join'], ['kubeadm', 'reset'],
                          ['kubeadm', 'join']],
                         [c[:2] for c in result.commands('kubeadm')])


class StorageTest(SandboxTestCase):

    def test_blank_local_disk(self):
        result = self.boot('worker')
        self.assertOk(result)
        self.assertBefore(result, ('wipefs', '-a', '/dev/vdb'),
                          ('mkfs.xfs', '-f', '-L', 'mcd-storage',
                           '/dev/vdb'))
        fstab = result.read('/etc/fstab').splitlines()
        self.assertEqual(
            ['LABEL=mcd-storage /var/lib/container-storage xfs '
             'defaults,nofail 0 2',
             '/var/lib/container-storage/containerd /var/lib/containerd '
             'none bind,x-systemd.requires-mounts-for='
             '/var/lib/container-storage 0 0',
             '/var/lib/container-storage/kubelet /var/lib/kubelet none '
             'bind,x-systemd.requires-mounts-for=/var/lib/container-storage'
             ' 0 0'], fstab)
        self.assertBefore(result, ('mount', '/var/lib/container-storage'),
                          ('mount', '/var/lib/kubelet'))
        self.assertBefore(result, ('mount', '/var/lib/kubelet'),
                          ('systemctl', 'restart', 'containerd'))

    def test_ephemeral_disk_is_preferred_and_released(self):
        self.sb.add_rule('blkid', args=['-L', 'ephemeral0'],
                         stdout='/dev/vdc\n')
        self.sb.add_rule('findmnt', stdout='/mnt\n')
        os.makedirs(self.sb.root + '/etc')
        with open(self.sb.root + '/etc/fstab', 'w') as f:
            f.write('UUID=1234 / xfs defaults 0 0\n'
                    '/dev/vdc\t/mnt\tauto\tdefaults,nofail,'
                    'comment=cloudconfig\t0\t2\n')
        result = self.boot('worker')
        self.assertOk(result)
        self.assertBefore(result, ('umount', '/mnt'),
                          ('mkfs.xfs', '-f', '-L', 'mcd-storage',
                           '/dev/vdc'))
        self.assertFalse(result.called('lsblk'))
        fstab = result.read('/etc/fstab')
        self.assertNotIn('/mnt', fstab)
        self.assertIn('UUID=1234 / xfs defaults 0 0\n', fstab)

    def test_existing_storage_is_reused_on_reboot(self):
        self.sb.add_rule('blkid', args=['-L', 'mcd-storage'],
                         stdout='/dev/vdb\n')
        result = self.boot('worker')
        self.assertOk(result)
        self.assertFalse(result.called('mkfs.xfs'))
        self.assertFalse(result.called('wipefs'))
        self.assertTrue(result.called('mount', '/var/lib/container-storage'))

    def test_second_run_adds_nothing_twice(self):
        result = self.boot('worker')
        self.assertOk(result)
        fstab = result.read('/etc/fstab')
        for path in ('/etc/magnum-cern/secrets/ca.crt',):
            self.assertTrue(result.exists(path))
        # Run the storage fragment again as after a reboot.
        self.sb.add_rule('blkid', args=['-L', 'mcd-storage'],
                         stdout='/dev/vdb\n')
        self.sb.add_rule('mountpoint', rc=0)
        again = self.sb.run('/usr/local/lib/magnum-cern/fragments/'
                            '20-container-storage.sh')
        self.assertOk(again)
        self.assertEqual(fstab, again.read('/etc/fstab'))
        self.assertFalse(again.called('mkfs.xfs'))
        self.assertFalse(again.called('mount'))

    def test_root_disk_when_no_blank_disk(self):
        self.sb.add_rule('lsblk', args=['-nPpo', 'NAME,FSTYPE,MOUNTPOINT',
                                        '/dev/vdb'],
                         stdout='NAME="/dev/vdb" FSTYPE="ext4" '
                                'MOUNTPOINT=""\n')
        result = self.boot('worker')
        self.assertOk(result)
        self.assertFalse(result.called('mkfs.xfs'))
        self.assertFalse(result.called('mount'))
        self.assertTrue(os.path.isdir(self.sb.root + '/var/lib/containerd'))

    def test_root_label(self):
        result = self.boot('worker', {'container_storage_device': 'root'})
        self.assertOk(result)
        self.assertFalse(result.called('mkfs.xfs'))
        self.assertFalse(result.called('lsblk'))

    def test_named_device_in_use_is_not_wiped(self):
        result = self.boot('worker', {'container_storage_device': '/dev/vda'})
        self.assertFailed(result)
        self.assertFalse(result.called('mkfs.xfs'))
        self.assertFalse(result.called('wipefs'))
        self.assertFalse(result.called('kubeadm'))

    def test_named_blank_device(self):
        result = self.boot('worker', {'container_storage_device': '/dev/vdb'})
        self.assertOk(result)
        self.assertTrue(result.called('mkfs.xfs', '-f', '-L', 'mcd-storage',
                                      '/dev/vdb'))

    def test_cinder_volume_of_the_requested_size(self):
        disks = sandbox.DISKS + '/dev/vdc 53687091200 disk\n'
        # add_rule prepends: the volume shows up on the third look.
        self.sb.add_rule('lsblk', args=['-dnpbo', 'NAME,SIZE,TYPE'],
                         stdout=disks)
        self.sb.add_rule('lsblk', args=['-dnpbo', 'NAME,SIZE,TYPE'],
                         stdout=sandbox.DISKS, times=2)
        self.sb.add_rule('lsblk', args=['-nPpo', 'NAME,FSTYPE,MOUNTPOINT',
                                        '/dev/vdc'],
                         stdout='NAME="/dev/vdc" FSTYPE="" MOUNTPOINT=""\n')
        result = self.boot('worker', docker_volume_size=50)
        self.assertOk(result)
        self.assertTrue(result.called('mkfs.xfs', '-f', '-L', 'mcd-storage',
                                      '/dev/vdc'))
        self.assertFalse(result.called('mkfs.xfs', '-f', '-L', 'mcd-storage',
                                       '/dev/vdb'))
        self.assertEqual(2, len(result.commands('sleep')))

    def test_image_data_is_kept(self):
        os.makedirs(self.sb.root + '/var/lib/containerd/io.containerd')
        with open(self.sb.root + '/var/lib/containerd/io.containerd/img',
                  'w') as f:
            f.write('pre-pulled')
        result = self.boot('worker')
        self.assertOk(result)
        self.assertEqual('pre-pulled', result.read(
            '/var/lib/container-storage/containerd/io.containerd/img'))

    def test_running_services_are_stopped_before_mounting(self):
        self.sb.add_rule('systemctl', args=['is-active', '--quiet',
                                            'containerd'], rc=0)
        result = self.boot('worker')
        self.assertOk(result)
        self.assertBefore(result, ('systemctl', 'stop', 'containerd'),
                          ('mount', '/var/lib/containerd'))
        self.assertFalse(result.called('systemctl', 'stop', 'kubelet'))


class RuntimeTest(SandboxTestCase):

    def test_versions_from_labels(self):
        result = self.boot('worker', {'kube_tag': 'v1.32.2',
                                      'containerd_version': '1.7.20'})
        self.assertOk(result)
        self.assertTrue(result.called(
            'dnf', 'install', '-y', 'containerd.io-1.7.20',
            'kubelet-1.32.2', 'kubeadm-1.32.2', 'kubectl-1.32.2'))
        repo = result.read('/etc/yum.repos.d/magnum-cern-kubernetes.repo')
        self.assertIn('baseurl=https://pkgs.k8s.io/core:/stable:/v1.32/rpm/',
                      repo)

    def test_installed_packages_are_kept(self):
        self.sb.add_rule('rpm', rc=0)
        result = self.boot('worker')
        self.assertOk(result)
        self.assertFalse(result.called('dnf'))
        self.assertFalse(result.exists(
            '/etc/yum.repos.d/magnum-cern-kubernetes.repo'))

    def test_ipvs(self):
        result = self.boot('master', {'kube_proxy_mode': 'ipvs'})
        self.assertOk(result)
        for module in ('ip_vs', 'ip_vs_rr', 'nf_conntrack'):
            self.assertTrue(result.called('modprobe', module))
        self.assertIn('ipvsadm', result.commands('dnf')[0])
        docs = list(yaml.safe_load_all(
            self.config_of(result, 'kubeadm', 'kubeadm.yaml')))
        self.assertEqual('ipvs', docs[2]['mode'])
        self.assertIn('ip_vs\n', result.read(
            '/etc/modules-load.d/magnum-cern.conf'))

    def test_mtu(self):
        result = self.boot('worker', {'network_mtu': '1450'})
        self.assertOk(result)
        self.assertTrue(result.called('ip', 'link', 'set', 'dev', 'eth0',
                                      'mtu', '1450'))
        self.assertIn('ethernet.mtu=1450', result.read(
            '/etc/NetworkManager/conf.d/90-magnum-cern-mtu.conf'))

    def test_mtu_zero_keeps_dhcp(self):
        result = self.boot('worker')
        self.assertOk(result)
        self.assertFalse(result.called('ip', 'link'))

    def test_sysctl_and_swap(self):
        os.makedirs(self.sb.root + '/etc')
        with open(self.sb.root + '/etc/fstab', 'w') as f:
            f.write('/dev/vda2 none swap defaults 0 0\n')
        result = self.boot('worker')
        self.assertOk(result)
        self.assertBefore(result, ('modprobe', 'br_netfilter'),
                          ('sysctl', '--system'))
        self.assertIn('net.ipv4.ip_forward = 1', result.read(
            '/etc/sysctl.d/90-magnum-cern.conf'))
        self.assertTrue(result.called('swapoff', '-a'))
        self.assertIn('#/dev/vda2 none swap', result.read('/etc/fstab'))
        self.assertIn('SystemdCgroup = true',
                      result.read('/etc/containerd/config.toml'))

    def test_metadata_guard_unit_runs_before_the_kubelet(self):
        result = self.boot('worker', {'flannel_network_cidr': '10.9.0.0/16'})
        self.assertOk(result)
        unit = result.read('/etc/systemd/system/'
                           'magnum-cern-metadata-guard.service')
        self.assertIn('ExecStart=/bin/bash /usr/local/lib/magnum-cern/'
                      'metadata-guard.sh early\n', unit)
        self.assertIn('Before=kubelet.service\n', unit)
        self.assertIn('RequiredBy=kubelet.service\n', unit)
        self.assertNotIn('ExecStop', unit)
        self.assertBefore(result, ('systemctl', 'enable', '--now',
                                   'magnum-cern-metadata-guard.service'),
                          ('kubeadm', 'join'))

    def test_site_ca_in_trust_store(self):
        bundle = sandbox.shared_ca()[0]
        result = self.boot('worker', ca_bundle=bundle)
        self.assertOk(result)
        self.assertEqual(bundle, result.read(
            '/etc/pki/ca-trust/source/anchors/magnum-cern-site-ca.pem'))
        self.assertBefore(result, ('update-ca-trust', 'extract'),
                          ('dnf', 'install'))


class FailureTest(SandboxTestCase):

    def test_failed_init_stops_and_signals_failure(self):
        self.sb.add_rule('kubeadm', rc=1)
        result = self.boot('master')
        self.assertFailed(result)
        self.assertFalse(result.called('helm'))
        self.assertFalse(result.called('kubectl'))
        curl = [c for c in result.commands('curl') if 'POST' in c]
        self.assertEqual(1, len(curl))
        self.assertIn('{"status": "FAILURE", "reason": "bootstrap fragment '
                      '40-kubeadm.sh failed"}', curl[0])
        self.assertIn('40-kubeadm.sh: failed', result.stderr)

    def test_failed_mkfs_stops_a_worker(self):
        self.sb.add_rule('mkfs.xfs', rc=1)
        result = self.boot('worker')
        self.assertFailed(result)
        self.assertFalse(result.called('mount'))
        self.assertFalse(result.called('dnf'))
        self.assertFalse(result.called('kubeadm'))
        self.assertFalse(result.called('curl'))

    def test_failed_command_in_a_pipeline_stops(self):
        self.sb.add_rule('lsblk', args=['-dnpbo', 'NAME,SIZE,TYPE'], rc=1)
        result = self.boot('worker')
        self.assertFailed(result)
        self.assertFalse(result.called('kubeadm'))

    def test_rerun_resumes_after_the_last_completed_fragment(self):
        self.sb.add_rule('kubeadm', contains=['join'], rc=1, times=3)
        first = self.boot('worker')
        self.assertFailed(first)
        again = self.sb.run()
        self.assertOk(again)
        self.assertFalse(again.called('mkfs.xfs'))
        self.assertFalse(again.called('dnf'))
        self.assertTrue(again.called('kubeadm', 'join'))
        self.assertIn('30-runtime.sh: completed before, skipped',
                      again.stderr)

    def test_api_never_answers(self):
        self.sb.add_rule('curl', rc=7)
        text = sandbox.render('worker')
        self.sb.unpack(text, sandbox.runtime_values())
        result = self.sb.run(extra_env={'MCD_API_WAIT_TRIES': '4'})
        self.assertFailed(result)
        self.assertEqual(4, len(result.commands('curl')))
        self.assertFalse(result.called('kubeadm'))

    def test_failed_signal_fails_the_bootstrap(self):
        self.sb.add_rule('curl', rc=22)
        result = self.boot('master')
        self.assertFailed(result)
        self.assertIn('ready: could not signal Heat', result.stderr)

    def test_unreplaced_placeholders_stop_before_anything_runs(self):
        text = sandbox.render('master')
        self.sb.unpack(text)
        result = self.sb.run()
        self.assertFailed(result)
        self.assertEqual([], result.calls)
        self.assertIn('api_address: invalid value', result.stderr)


class MatrixTest(SandboxTestCase):
    """Each kind of node with every feature on, and with every feature off."""

    ALL_ON = {'cvmfs_enabled': 'true', 'eos_enabled': 'true',
              'cloud_provider_enabled': 'true', 'kube_proxy_mode': 'ipvs',
              'network_mtu': '1400', 'flannel_backend': 'vxlan',
              'registry_mirror': 'mirror.example.org'}
    ALL_OFF = {'cvmfs_enabled': 'false', 'eos_enabled': 'false',
               'cloud_provider_enabled': 'false',
               'container_storage_device': 'root',
               'master_lb_enabled': 'true'}
    NODES = [('master', 0), ('master', 1), ('worker', 0)]

    def test_matrix(self):
        bundle = sandbox.shared_ca()[0]
        for role, index in self.NODES:
            for name, switches, extra in (
                    ('on', self.ALL_ON, {'ca_bundle': bundle,
                                         'master_count': 3}),
                    ('off', self.ALL_OFF, {})):
                self.sb.rules = []
                for path in ('var/lib/magnum-cern', 'etc', 'usr'):
                    full = os.path.join(self.sb.root, path)
                    if os.path.isdir(full):
                        shutil.rmtree(full)
                result = self.boot(role, switches, node_index=index,
                                   **extra)
                what = '%s %d %s' % (role, index, name)
                self.assertEqual(0, result.returncode,
                                 what + result.stderr)
                self.assertNoSecretsOnCommandLines(result)
                charts = [c[5] for c in result.commands('helm')]
                first = role == 'master' and index == 0
                if not first:
                    self.assertEqual([], charts, what)
                elif name == 'on':
                    self.assertEqual(['flannel', 'openstack-ccm',
                                      'cvmfs-csi', 'eosxd-csi'], charts)
                else:
                    self.assertEqual(['flannel'], charts)
                # Every master signals its own readiness once; workers
                # never signal.
                self.assertEqual(
                    1 if role == 'master' else 0,
                    len([c for c in result.commands('curl')
                         if 'POST' in c]), what)
                self.assertEqual(name == 'on',
                                 result.called('update-ca-trust'), what)
                self.assertEqual(name == 'on', result.called('mkfs.xfs'),
                                 what)
                self.assertEqual(
                    role == 'master' and name == 'on',
                    result.called('systemctl', 'restart', 'keepalived'),
                    what)


GUARD_RULES = '/var/lib/magnum-cern/metadata-guard.rules'


class MetadataGuardTest(SandboxTestCase):
    """metadata-guard.sh: what it loads, when, and again at every boot."""

    def test_rules_of_both_chains(self):
        result = self.boot('worker', {'flannel_network_cidr': '10.9.0.0/16'})
        self.assertOk(result)
        self.assertEqual(
            '*raw\n:MAGNUM-CERN-METADATA - [0:0]\n'
            '-A MAGNUM-CERN-METADATA -s 10.9.0.0/16 -j DROP\nCOMMIT\n'
            '*filter\n:MAGNUM-CERN-METADATA - [0:0]\n'
            '-A MAGNUM-CERN-METADATA -m owner ! --uid-owner 0 -j REJECT\n'
            '-A MAGNUM-CERN-METADATA -m cgroup --path kubepods.slice '
            '-j REJECT\nCOMMIT\n', result.read(GUARD_RULES))
        self.assertTrue(result.called('iptables-restore', '-w',
                                      '--noflush'))

    def test_jumps_are_added_only_when_missing(self):
        # Present (the shim answers -C with 0): nothing inserted.
        result = self.boot('worker')
        self.assertOk(result)
        self.assertTrue(result.called('iptables', '-w', '-t', 'raw', '-C',
                                      'PREROUTING'))
        self.assertFalse([c for c in result.commands('iptables')
                          if '-I' in c])
        # Missing: inserted first in raw PREROUTING and filter OUTPUT.
        self.sb.add_rule('iptables', contains=['-C'], rc=1)
        result = self.sb.run()
        self.assertOk(result)
        inserted = [c[1:] for c in result.commands('iptables') if '-I' in c]
        meta = ['-d', '169.254.169.254/32', '-j', 'MAGNUM-CERN-METADATA']
        self.assertEqual(
            [['-w', '-t', 'raw', '-I', 'PREROUTING', '1'] + meta,
             ['-w', '-t', 'filter', '-I', 'OUTPUT', '1'] + meta], inserted)

    def test_after_the_kubelet_before_the_add_ons(self):
        result = self.boot('master')
        self.assertOk(result)
        self.assertBefore(result, ('kubeadm', 'init'),
                          ('iptables-restore',))
        self.assertBefore(result, ('iptables-restore',), ('helm',))

    def test_again_at_every_boot(self):
        self.assertOk(self.boot('worker'))
        # The next boot: cloud-init's per-boot script runs the runner
        # again; every fragment is skipped, the guard is not.
        again = self.sb.run(userdata.PER_BOOT)
        self.assertOk(again)
        self.assertEqual(['iptables-restore'],
                         [c[0] for c in again.commands()
                          if c[0] not in ('iptables',)])
        self.assertIn('40-kubeadm.sh: completed before, skipped',
                      again.stderr)
        self.assertIn('metadata guard: on (pods\' cgroup: true)',
                      again.stderr)

    def test_final_waits_for_the_pods_cgroup(self):
        os.rmdir(self.sb.root + sandbox.POD_CGROUP)
        text = sandbox.render('worker')
        self.sb.unpack(text, sandbox.runtime_values())
        result = self.sb.run(extra_env={'MCD_GUARD_WAIT_TRIES': '3'})
        self.assertFailed(result)
        # Three tries, 5 s apart.
        self.assertEqual(2, result.commands('sleep').count(['sleep', '5']))
        self.assertIn('metadata guard: no cgroup kubepods.slice',
                      result.stderr)
        self.assertFalse(result.called('iptables-restore'))
        self.assertFalse(result.exists('/var/lib/magnum-cern/done/'
                                       '50-network.sh'))

    def test_early_mode_leaves_out_a_missing_cgroup(self):
        os.rmdir(self.sb.root + sandbox.POD_CGROUP)
        self.sb.unpack(sandbox.render('worker'), sandbox.runtime_values())
        result = self.sb.run(userdata.GUARD, args=['early'])
        self.assertOk(result)
        self.assertNotIn('cgroup', result.read(GUARD_RULES))
        self.assertIn('-m owner ! --uid-owner 0', result.read(GUARD_RULES))
        self.assertFalse(result.called('sleep'))

    def test_mode_and_test_knobs_are_checked(self):
        self.sb.unpack(sandbox.render('worker'), sandbox.runtime_values())
        for args, env in ((['late'], {}), ([], {}),
                          (['early'], {'MCD_POD_CGROUP': 'a b'}),
                          (['early'], {'MCD_POD_CGROUP': '../x'}),
                          (['early'], {'MCD_GUARD_WAIT_TRIES': '0'})):
            result = self.sb.run(userdata.GUARD, extra_env=env, args=args)
            self.assertFailed(result)
            self.assertFalse(result.called('iptables-restore'), args)

    def test_a_failed_fragment_still_installs_the_guard(self):
        self.sb.add_rule('kubeadm', rc=1)
        result = self.boot('worker')
        self.assertFailed(result)
        self.assertIn('40-kubeadm.sh: failed', result.stderr)
        self.assertTrue(result.called('iptables-restore'))
        self.assertIn('metadata guard: on', result.stderr)
