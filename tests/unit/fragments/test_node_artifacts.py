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
"""What a node fetches: packages, helm, charts and images, by upstream fact.

The sandbox's dnf and helm shims fail the way the real tools would (see
shim.py): a package no configured repository provides, a chart version or
values key the pinned chart does not have, an image the manifest does not
pin, a helm install that does not wait.
"""

import io
import os
import subprocess
import tarfile

import yaml

from magnum_cern_driver import artifacts
from magnum_cern_driver import labels
from magnum_cern_driver import userdata
from tests.unit.fragments import sandbox
from tests.unit.fragments import test_sandbox

ADMIN = '/etc/kubernetes/admin.conf'


class PackagesTest(test_sandbox.SandboxTestCase):

    def test_packages_come_from_the_repositories_the_node_writes(self):
        result = self.boot('worker', {'kube_proxy_mode': 'ipvs'})
        self.assertOk(result)
        repos = sorted(os.listdir(self.sb.root + '/etc/yum.repos.d'))
        self.assertEqual(['magnum-cern-docker-ce.repo',
                          'magnum-cern-kubernetes.repo'], repos)
        kube = result.read('/etc/yum.repos.d/magnum-cern-kubernetes.repo')
        self.assertIn('baseurl=https://pkgs.k8s.io/core:/stable:/v1.31/rpm/\n',
                      kube)
        self.assertIn('gpgcheck=1\ngpgkey=https://pkgs.k8s.io/core:/stable:'
                      '/v1.31/rpm/repodata/repomd.xml.key\n', kube)
        self.assertTrue(result.called(
            'dnf', 'install', '-y', 'containerd.io-1.7.24', 'kubelet-1.31.4',
            'kubeadm-1.31.4', 'kubectl-1.31.4', 'ipset', 'ipvsadm'))

    def test_dnf_refuses_what_no_repository_provides(self):
        # The shim knows what each repository holds: asking for helm (not
        # in AlmaLinux's repositories nor in any the node configures) fails
        # as dnf does.
        self.boot('worker')
        self.sb.unpack(sandbox.render('worker'), sandbox.runtime_values())
        script = self.sb.root + '/dnf-helm.sh'
        with open(script, 'w') as f:
            f.write('dnf install -y helm\n')
        result = self.sb.run(script[len(self.sb.root):])
        self.assertFailed(result)
        self.assertIn('No match for argument: helm', result.stderr)

    def test_kubernetes_repository_follows_kube_tag(self):
        result = self.boot('worker', {'kube_tag': 'v1.32.1'})
        self.assertOk(result)
        self.assertIn('/core:/stable:/v1.32/rpm/', result.read(
            '/etc/yum.repos.d/magnum-cern-kubernetes.repo'))
        self.assertTrue(result.called('dnf', 'install', '-y',
                                      'containerd.io-1.7.24',
                                      'kubelet-1.32.1'))


def _helm_tarball(path):
    data = b'#!/bin/sh\necho fake helm\n'
    with tarfile.open(path, 'w:gz') as tar:
        info = tarfile.TarInfo('linux-amd64/helm')
        info.size = len(data)
        info.mode = 0o755
        tar.addfile(info, io.BytesIO(data))


class HelmTest(test_sandbox.SandboxTestCase):

    def _without_helm(self, tarball_ok):
        os.unlink(os.path.join(self.sb.bin, 'helm'))
        tarball = os.path.join(self.sb.base, 'helm.tar.gz')
        _helm_tarball(tarball)
        if tarball_ok:
            # Pretend the manifest pins this tarball's digest.
            digest = subprocess.run(['sha256sum', tarball], check=True,
                                    capture_output=True,
                                    text=True).stdout.split()[0]
            env = self.sb.root + userdata.ENV_FILE
            return tarball, digest, env
        return tarball, None, None

    def test_helm_is_never_asked_of_dnf(self):
        result = self.boot('master')
        self.assertOk(result)
        self.assertFalse([c for c in result.commands('dnf') if 'helm' in c])

    def test_missing_helm_comes_from_the_manifest_tarball(self):
        tarball, digest, env = self._without_helm(True)
        self.sb.add_rule('curl', contains=['-o'], output_file=tarball)
        helm = artifacts.by_name(artifacts.resolve(labels.validate({})))[
            ('url', 'helm')]
        self.sb.unpack(sandbox.render('master'), sandbox.runtime_values())
        with open(env) as f:
            text = f.read()
        self.assertIn(helm.sha256, text)
        with open(env, 'w') as f:
            f.write(text.replace(helm.sha256, digest))
        result = self.sb.run()
        self.assertOk(result)
        self.assertIn(['curl', '-sSfL', '--max-time', '300', '-o'],
                      [c[:5] for c in result.commands('curl')])
        fetched = [c for c in result.commands('curl') if '-sSfL' in c][0]
        self.assertEqual(helm.url, fetched[-1])
        self.assertTrue(os.path.exists(self.sb.root + '/usr/local/bin/helm'))

    def test_tarball_with_another_checksum_is_refused(self):
        tarball, _digest, _env = self._without_helm(False)
        self.sb.add_rule('curl', contains=['-o'], output_file=tarball)
        result = self.boot('master')
        self.assertFailed(result)
        self.assertIn('helm: checksum mismatch', result.stderr)
        self.assertFalse(os.path.exists(self.sb.root + '/usr/local/bin/helm'))
        self.assertIn('50-network.sh: failed', result.stderr)


CVMFS_CHART = ('cvmfs-csi oci://registry.cern.ch/kubernetes/charts/cvmfs-csi '
               '--version 2.5.0')
FLANNEL_CHART = ('flannel flannel --repo '
                 'https://flannel-io.github.io/flannel/ --version v0.26.4')


class ChartsTest(test_sandbox.SandboxTestCase):

    def helm(self, chart, values=None, options='--wait', labels=None):
        """Run one ``helm upgrade --install`` in the sandbox's node."""
        self.sb.unpack(sandbox.render('master', labels),
                       sandbox.runtime_values())
        command = 'helm upgrade --install %s %s' % (chart, options)
        if values is not None:
            path = os.path.join(self.sb.base, 'values.yaml')
            with open(path, 'w') as f:
                yaml.safe_dump(values, f)
            command += ' --values %s' % path
        script = self.sb.root + '/helm.sh'
        with open(script, 'w') as f:
            f.write(command + '\n')
        return self.sb.run(script[len(self.sb.root):])

    def test_every_install_waits_and_uses_only_pinned_images(self):
        result = self.boot('master', {'cvmfs_enabled': 'true',
                                      'eos_enabled': 'true'})
        self.assertOk(result)
        helm = result.commands('helm')
        self.assertEqual(4, len(helm))
        for call in helm:
            self.assertIn('--wait', call)
            self.assertIn('--timeout', call)

    def test_pinned_chart_with_its_own_keys_passes(self):
        result = self.helm(CVMFS_CHART, {'automountStorageClass': {
            'create': True}}, labels={'cvmfs_enabled': 'true'})
        self.assertOk(result)

    def test_unknown_values_key_fails_like_helm(self):
        # The shim holds the chart's own values keys.
        result = self.helm(CVMFS_CHART, {'nodeplugin': {'plugin': {
            'imageX': 'x'}}}, labels={'cvmfs_enabled': 'true'})
        self.assertFailed(result)
        self.assertIn('unknown key nodeplugin.plugin.imageX', result.stderr)

    def test_list_shaped_config_maps_fail(self):
        # 29b3f2f wrote cvmfs-csi's extraConfigMaps as a list of
        # {name, data}; chart 2.5.0 ranges over a map keyed by name.
        result = self.helm(CVMFS_CHART, {'extraConfigMaps': [
            {'name': 'cvmfs-csi-default-local',
             'data': {'default.local': 'CVMFS_HTTP_PROXY=DIRECT\n'}}]},
            labels={'cvmfs_enabled': 'true'})
        self.assertFailed(result)
        self.assertIn('extraConfigMaps is a list where cvmfs-csi 2.5.0 has a '
                      'map', result.stderr)

    def test_unpinned_image_fails_like_a_pull(self):
        # 29b3f2f's image: a tag ghcr.io never had for flannel.
        result = self.helm(FLANNEL_CHART, {'flannel': {'image': {
            'repository': 'ghcr.io/flannel-io/flannel', 'tag': 'v0.26.2'}}})
        self.assertFailed(result)
        self.assertIn('ErrImagePull: ghcr.io/flannel-io/flannel:v0.26.2',
                      result.stderr)

    def test_unpinned_chart_version_fails(self):
        result = self.helm(FLANNEL_CHART.replace('v0.26.4', 'v0.26.2'))
        self.assertFailed(result)
        self.assertIn('version "v0.26.2" not found', result.stderr)

    def test_missing_wait_fails(self):
        result = self.helm(FLANNEL_CHART, options='')
        self.assertFailed(result)
        self.assertIn('without --wait', result.stderr)


class CloudProviderTest(test_sandbox.SandboxTestCase):

    def test_cloud_conf_has_region_and_ca_file_the_pod_can_read(self):
        result = self.boot('master')
        self.assertOk(result)
        conf = result.read('/etc/magnum-cern/secrets/cloud.conf')
        self.assertIn('region="RegionOne"\n', conf)
        self.assertIn('ca-file="%s"\n' % userdata.NODE_CA_FILE, conf)
        values = yaml.safe_load(self.config_of(result, 'helm',
                                               'ccm-values.yaml'))
        mounts = {m['name']: m['mountPath']
                  for m in values['extraVolumeMounts']}
        volumes = {v['name']: v['hostPath']['path']
                   for v in values['extraVolumes']}
        self.assertEqual('/etc/magnum-cern/ca', mounts['node-ca-bundle'])
        self.assertEqual('/etc/pki/ca-trust/extracted/pem',
                         volumes['node-ca-bundle'])
        self.assertTrue(userdata.NODE_CA_FILE.startswith(
            mounts['node-ca-bundle'] + '/'))
        # The chart's own volumes are kept (lists replace, not merge).
        self.assertEqual({'flexvolume-dir', 'k8s-certs', 'node-ca-bundle'},
                         set(mounts))
        self.assertEqual(
            {'repository': 'registry.k8s.io/provider-os/'
                           'openstack-cloud-controller-manager',
             'tag': 'v1.31.0'}, values['image'])


class RebootTest(test_sandbox.SandboxTestCase):

    def test_bootstrap_runs_at_every_boot_until_done(self):
        config = yaml.safe_load(sandbox.render('worker').split('\n', 1)[1])
        self.assertNotIn('runcmd', config)
        per_boot = [f for f in config['write_files']
                    if f['path'] == userdata.PER_BOOT]
        self.assertEqual(1, len(per_boot))
        self.assertEqual('0755', per_boot[0]['permissions'])
        self.assertEqual(userdata.PER_BOOT_SCRIPT, per_boot[0]['content'])
        self.assertIn('tar -xf "$root%s"' % userdata.ARCHIVE,
                      userdata.PER_BOOT_SCRIPT)
        self.assertIn('exec "$root%s"' % userdata.RUNNER,
                      userdata.PER_BOOT_SCRIPT)

    def test_reboot_mid_bootstrap_resumes(self):
        self.sb.add_rule('dnf', rc=1, times=3)
        first = self.boot('worker')
        self.assertFailed(first)
        self.assertIn('30-runtime.sh: failed', first.stderr)
        # The "reboot": cloud-init runs the per-boot script again.
        second = self.sb.run(userdata.PER_BOOT)
        self.assertOk(second)
        self.assertIn('20-container-storage.sh: completed before, skipped',
                      second.stderr)
        self.assertTrue(second.called('dnf', 'install'))
        self.assertTrue(second.called('kubeadm', 'join'))
