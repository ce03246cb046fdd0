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
"""The elements' generated artifact defaults (magnum_cern_driver.elements_env).
"""

import os
import subprocess

import fixtures
import testtools
import yaml

from magnum_cern_driver import artifacts
from magnum_cern_driver import elements_env
from magnum_cern_driver import labels

ELEMENTS = elements_env.ELEMENTS_DIR
K8S = os.path.join(ELEMENTS, 'magnum-k8s-node')


def _source(element, extra=None):
    """The element's environment.d, sourced by bash as dib does."""
    d = os.path.join(ELEMENTS, element, 'environment.d')
    script = ''.join('source %s\n' % os.path.join(d, n)
                     for n in sorted(os.listdir(d))) + 'env -0\n'
    env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin')}
    env.update(extra or {})
    out = subprocess.run(['bash', '-c', script], env=env, check=True,
                         capture_output=True).stdout.decode()
    return dict(item.split('=', 1) for item in out.split('\0') if item)


def _resolved():
    return artifacts.by_name(artifacts.resolve(labels.validate({})))


class GeneratedFilesTest(testtools.TestCase):

    def test_generated_files_are_in_sync_with_the_manifest(self):
        stale = elements_env.out_of_sync()
        self.assertEqual(
            [], stale, 'out of date with templates/artifacts.yaml: run '
            '"python -m magnum_cern_driver.elements_env --write"')

    def test_files_say_they_are_generated(self):
        for element in elements_env.ELEMENTS:
            with open(elements_env.path_for(element)) as f:
                text = f.read()
            self.assertIn('# Generated from magnum_cern_driver/templates/'
                          'artifacts.yaml; do not edit', text)
            self.assertFalse(os.access(elements_env.path_for(element),
                                       os.X_OK))

    def test_k8s_node_defaults_are_the_resolved_artifacts(self):
        env = _source('magnum-k8s-node')
        arts = _resolved()
        kubelet = arts[('rpm', 'kubelet')]
        self.assertEqual(kubelet.version, env['DIB_KUBE_VERSION'])
        self.assertEqual(arts[('rpm', 'containerd.io')].version,
                         env['DIB_CONTAINERD_VERSION'])
        minor = '.'.join(env['DIB_KUBE_VERSION'].split('.')[:2])
        self.assertEqual(kubelet.url, env['MAGNUM_K8S_KUBE_REPO_TEMPLATE']
                         .replace(elements_env.KUBE_MINOR_TOKEN, minor))
        self.assertEqual(kubelet.gpgkey,
                         env['MAGNUM_K8S_KUBE_REPO_GPGKEY_TEMPLATE']
                         .replace(elements_env.KUBE_MINOR_TOKEN, minor))
        containerd = arts[('rpm', 'containerd.io')]
        url = env['DIB_CONTAINERD_REPO_URL']
        for key, value in artifacts.RPM_VARS.items():
            url = url.replace('$' + key, value)
        self.assertEqual(containerd.url, url)
        self.assertEqual(containerd.gpgkey, env['DIB_CONTAINERD_REPO_GPGKEY'])
        self.assertEqual([a.ref for a in arts.values() if a.kind == 'image'],
                         env['DIB_MAGNUM_K8S_PREPULL_IMAGES'].split())
        helm = arts.get(('url', 'helm'))
        if helm is not None:
            self.assertEqual(helm.url, env['DIB_MAGNUM_K8S_HELM_URL'])
            self.assertEqual(helm.sha256, env['DIB_MAGNUM_K8S_HELM_SHA256'])

    def test_the_build_environment_wins(self):
        env = _source('magnum-k8s-node', {
            'DIB_KUBE_VERSION': '1.30.2',
            'DIB_CONTAINERD_REPO_URL': 'https://mirror.example.org/ctr/',
            'DIB_MAGNUM_K8S_PREPULL_IMAGES': '',
            'DIB_MAGNUM_K8S_HELM_URL': ''})
        self.assertEqual('1.30.2', env['DIB_KUBE_VERSION'])
        self.assertEqual('https://mirror.example.org/ctr/',
                         env['DIB_CONTAINERD_REPO_URL'])
        self.assertEqual('', env['DIB_MAGNUM_K8S_PREPULL_IMAGES'])
        self.assertEqual('', env['DIB_MAGNUM_K8S_HELM_URL'])

    def test_entries_the_manifest_lacks_are_named_not_invented(self):
        data = artifacts.load_manifest()
        data.get('urls', {}).pop('cvmfs-release', None)
        for name in ('eos-client', 'eos-client-deps'):
            data.get('rpm_repositories', {}).pop(name, None)
        self.assertIn('#   DIB_CVMFS_RELEASE_RPM <- urls.cvmfs-release',
                      elements_env.generate('cvmfs', self._write(data)))
        data.setdefault('urls', {})['cvmfs-release'] = {
            'url': 'https://cvmfs.example.org/cvmfs-release-latest.noarch.'
                   'rpm', 'source': 'test'}
        data.setdefault('rpm_repositories', {})['eos-client'] = {
            'baseurl': 'https://eos.example.org/el-$releasever/$basearch/',
            'gpgkey': 'https://eos.example.org/key', 'source': 'test',
            'packages': {'eos-fusex': None}}
        path = self._write(data)
        texts = elements_env.generate_all(path)
        self.assertIn('export DIB_CVMFS_RELEASE_RPM=${DIB_CVMFS_RELEASE_RPM'
                      ':-https://cvmfs.example.org/cvmfs-release-latest.'
                      'noarch.rpm}', texts['cvmfs'])
        self.assertIn('https://eos.example.org/el-\\$releasever/\\$basearch/',
                      texts['eos-client'])
        self.assertIn('#   DIB_EOS_DEPS_REPO_URL <- ', texts['eos-client'])
        self.assertNotIn('Not in the manifest yet', texts['cvmfs'])

    def _write(self, data):
        tmp = self.useFixture(fixtures.TempDir()).path
        path = os.path.join(tmp, 'artifacts.yaml')
        with open(path, 'w') as f:
            yaml.safe_dump(data, f)
        return path

    def test_shell_words_survive_bash(self):
        for value in ('plain', 'a b c', 'https://h/$releasever/x',
                      'x}y', "it's"):
            word = elements_env.shell_word(value)
            out = subprocess.run(
                ['bash', '-c', 'unset V; X=${V:-%s}; printf %%s "$X"'
                 % word], check=True, capture_output=True, text=True).stdout
            self.assertEqual(value, out)


class ElementScriptsTest(testtools.TestCase):
    """The element scripts use the generated variables."""

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path

    def _run_repos(self, extra=None):
        # pre-install.d writes /etc/yum.repos.d: run a copy that writes
        # under a temporary directory instead.
        with open(os.path.join(K8S, 'pre-install.d',
                               '20-magnum-k8s-repos')) as f:
            script = f.read().replace('/etc/', self.tmp + '/etc/')
        os.makedirs(os.path.join(self.tmp, 'etc', 'yum.repos.d'))
        env = _source('magnum-k8s-node', extra)
        subprocess.run(['bash', '-c', script], env=env, check=True,
                       capture_output=True)
        with open(os.path.join(self.tmp, 'etc', 'yum.repos.d',
                               'kubernetes.repo')) as f:
            return f.read()

    def test_kubernetes_repo_follows_the_kube_version(self):
        repo = self._run_repos({'DIB_KUBE_VERSION': '1.32.3'})
        data = artifacts.resolve(labels.validate({'kube_tag': 'v1.32.3'}))
        kubelet = artifacts.by_name(data)[('rpm', 'kubelet')]
        self.assertIn('baseurl=%s\n' % kubelet.url, repo)
        self.assertIn('gpgkey=%s\n' % kubelet.gpgkey, repo)

    def test_kubernetes_repo_mirror(self):
        repo = self._run_repos({'DIB_KUBE_REPO_URL':
                                'https://mirror.example.org/k8s/'})
        self.assertIn('baseurl=https://mirror.example.org/k8s/\n', repo)
        self.assertIn('gpgkey=https://mirror.example.org/k8s/repodata/'
                      'repomd.xml.key\n', repo)

    def _helm(self, extra):
        env = _source('magnum-k8s-node', extra)
        env['TMP_HOOKS_PATH'] = self.tmp
        return subprocess.run(
            ['bash', os.path.join(K8S, 'extra-data.d', '61-magnum-k8s-helm')],
            env=env, capture_output=True, text=True)

    def test_helm_is_never_fetched_unverified(self):
        proc = self._helm({'DIB_MAGNUM_K8S_HELM_URL':
                           'https://helm.example.org/helm.tar.gz',
                           'DIB_MAGNUM_K8S_HELM_SHA256': 'not-a-sha256'})
        self.assertEqual(1, proc.returncode)
        self.assertIn('DIB_MAGNUM_K8S_HELM_SHA256 must be the sha256',
                      proc.stderr)

    def test_no_helm_url_no_helm(self):
        proc = self._helm({'DIB_MAGNUM_K8S_HELM_URL': ''})
        self.assertEqual(0, proc.returncode, proc.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp,
                                                     'magnum-k8s-helm')))
