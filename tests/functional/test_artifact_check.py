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
"""The preflight's artifact check against real servers on 127.0.0.1.

A distribution registry (open, and one behind the token flow), a private
nginx serving createrepo_c repositories of rpmbuild packages, Helm
index.yaml files and plain files, and a server that never answers. A
test manifest names artifacts on them; some are left unpublished.

The command-line tests run ``magnum-cern-selftest`` in this process on
the unit tests' fake cloud (``preflight`` and ``run`` need a cloud; the
rehearsal is not started for this): the artifact check itself talks to
the real servers.
"""

import hashlib
import io
import json
import os
import shutil
import tempfile
import time
import types

import fixtures
import yaml

from magnum_cern_driver import artifacts as artifacts_mod
from magnum_cern_driver.selftest import artifact_check
from magnum_cern_driver.selftest import cli
from magnum_cern_driver.selftest import exitcodes
from magnum_cern_driver.selftest import preflight as preflight_mod
from tests.functional import artifact_servers as servers
from tests.functional import base
from tests.unit.selftest import fakes

LABELS = {'kube_tag': 'v1.31.4', 'flannel_tag': 'v0.26.2',
          'containerd_version': '1.7.24'}
# What a complete publication lacks when the three are left out.
LEFT_OUT = {('image', 'flannel'), ('rpm', 'kubectl'),
            ('chart', 'openstack-cloud-controller-manager')}
CCM = 'provider-os/openstack-cloud-controller-manager'


class TestArtifactCheck(base.FunctionalTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.workdir = tempfile.mkdtemp(prefix='artifact-check-')
        cls.stoppable = []
        try:
            cls._start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def _start(cls):
        for tool in servers.TOOLS:
            servers.find_tool(tool)
        cls.registry = cls._up(servers.Registry(cls.workdir))
        cls.tokens = cls._up(servers.TokenServer(cls.workdir))
        cls.token_registry = cls._up(servers.Registry(
            cls.workdir, token=cls.tokens))
        cls.web = cls._up(servers.Nginx(cls.workdir))
        cls.slow = cls._up(servers.SlowServer())
        cls.rpms = {}
        for name, version, release in (
                ('kubelet', '1.31.4', '150500.1.1'),
                ('kubeadm', '1.31.4', '150500.1.1'),
                ('kubectl', '1.31.4', '150500.1.1'),
                ('kubectl', '1.31.3', '150500.1.1'),
                ('containerd.io', '1.7.24', '3.1.el9'),
                ('cri-tools', '1.31.1', '150500.1.1')):
            cls.rpms['%s-%s' % (name, version)] = servers.build_rpm(
                cls.workdir, name, version, release)

    @classmethod
    def _up(cls, server):
        cls.stoppable.append(server)
        return server.start()

    @classmethod
    def tearDownClass(cls):
        for server in reversed(cls.stoppable):
            try:
                server.stop()
            except Exception:   # noqa: stop the others
                pass
        shutil.rmtree(cls.workdir, ignore_errors=True)
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        for var in ('no_proxy', 'NO_PROXY'):
            self.useFixture(fixtures.EnvironmentVariable(
                var, '127.0.0.1,localhost'))

    # -- publishing --------------------------------------------------------
    def publish(self, prefix, complete):
        """Publish a test manifest's artifacts under ``prefix``.

        Without ``complete`` the flannel image tag v0.26.2, the kubectl
        1.31.4 package and the openstack-cloud-controller-manager chart
        version 2.31.1 are left out. Returns the manifest's path.
        """
        reg, web = self.registry, self.web
        reg.push_image('%s/pause' % prefix, '3.10')
        reg.push_image('%s/flannel-io/flannel' % prefix, 'v0.26.1')
        ccm_digest = reg.push_image('%s/%s' % (prefix, CCM), 'v1.31.2')
        reg.push_chart('%s/charts/tiny' % prefix, 'tiny', '0.1.0+build.1')
        self.publish_kubernetes(prefix, complete)
        servers.make_repo(web.path(prefix, 'rpm', 'runtime', 'x86_64'), [
            self.rpms['containerd.io-1.7.24'],
            self.rpms['cri-tools-1.31.1']], compress='xz')
        web.write('%s/charts/flannel/index.yaml' % prefix, yaml.safe_dump(
            _index('flannel', ['v0.26.2', 'v0.26.1'])))
        self.publish_ccm_chart(prefix, complete)
        helm = b'not really helm\n' * 100
        web.write('%s/files/helm.tar.gz' % prefix, helm)
        web.write('nohead/%s/tool.bin' % prefix, b'tool\n')
        if complete:
            self.publish_left_out(prefix)
        return self.write_manifest(prefix, ccm_digest,
                                   hashlib.sha256(helm).hexdigest())

    def publish_kubernetes(self, prefix, complete):
        rpms = [self.rpms['kubelet-1.31.4'], self.rpms['kubeadm-1.31.4']]
        if complete:
            rpms.append(self.rpms['kubectl-1.31.4'])
        servers.make_repo(self.web.path(prefix, 'rpm', 'kubernetes'), rpms)

    def publish_ccm_chart(self, prefix, complete):
        versions = ['2.31.0', '2.30.2'] + (['2.31.1'] if complete else [])
        self.web.write('%s/charts/cpo/index.yaml' % prefix, yaml.safe_dump(
            _index('openstack-cloud-controller-manager', versions)))

    def publish_left_out(self, prefix):
        self.registry.push_image('%s/flannel-io/flannel' % prefix,
                                 'v0.26.2')
        self.publish_kubernetes(prefix, True)
        self.publish_ccm_chart(prefix, True)

    def write_manifest(self, prefix, ccm_digest, helm_sha):
        reg, web = self.registry.host, self.web.base
        src = 'functional test'
        doc = {
            'version': 1,
            'rpm_repositories': {
                'kubernetes': {
                    'baseurl': '%s/%s/rpm/kubernetes/' % (web, prefix),
                    'source': src,
                    'packages': {
                        name: {'version': '{kube_version}',
                               'label': 'kube_tag'}
                        for name in ('kubelet', 'kubeadm', 'kubectl')}},
                'runtime': {
                    'baseurl': '%s/%s/rpm/runtime/$basearch' % (web, prefix),
                    'source': src,
                    'packages': {
                        'containerd.io': {
                            'version': '{containerd_version}',
                            'label': 'containerd_version'},
                        'cri-tools': {'version': '1.31.1-150500.1.1'}}}},
            'images': {
                'pause': {'registry': reg, 'repository': '%s/pause'
                          % prefix, 'tag': '3.10', 'source': src},
                'flannel': {'registry': reg, 'repository':
                            '%s/flannel-io/flannel' % prefix,
                            'tag': '{flannel_tag}', 'label': 'flannel_tag',
                            'source': src},
                'openstack-cloud-controller-manager': {
                    'registry': reg, 'repository': '%s/%s' % (prefix, CCM),
                    'tag': 'v1.31.2', 'digest': ccm_digest,
                    'source': src}},
            'charts': {
                'flannel': {'url': '%s/%s/charts/flannel/' % (web, prefix),
                            'chart': 'flannel', 'version': '{flannel_tag}',
                            'label': 'flannel_tag', 'source': src},
                'openstack-cloud-controller-manager': {
                    'url': '%s/%s/charts/cpo' % (web, prefix),
                    'chart': 'openstack-cloud-controller-manager',
                    'version': '2.31.1', 'source': src},
                'tiny': {'url': 'oci://%s/%s/charts' % (reg, prefix),
                         'chart': 'tiny', 'version': '0.1.0+build.1',
                         'source': src}},
            'urls': {
                'helm': {'url': '%s/%s/files/helm.tar.gz' % (web, prefix),
                         'sha256': helm_sha, 'source': src},
                'tool': {'url': '%s/nohead/%s/tool.bin' % (web, prefix),
                         'source': src}},
        }
        return self.write_yaml('%s-manifest.yaml' % prefix, doc)

    def write_yaml(self, name, doc):
        path = os.path.join(self.workdir, name)
        with open(path, 'w') as f:
            yaml.safe_dump(doc, f)
        return path

    def image_manifest(self, name, images, charts=None):
        doc = {'version': 1, 'images': {}, 'charts': charts or {}}
        for key, (registry, repository, tag) in images.items():
            doc['images'][key] = {'registry': registry,
                                  'repository': repository, 'tag': tag,
                                  'source': 'functional test'}
        return self.write_yaml(name, doc)

    # -- the tests ---------------------------------------------------------
    def test_names_what_is_missing_then_passes_once_published(self):
        path = self.publish('set1', complete=False)
        doc = {'checks': []}
        cloud = types.SimpleNamespace(kind='cloud')
        template = {'labels': {'kube_tag': LABELS['kube_tag']}}
        labels = {k: v for k, v in LABELS.items() if k != 'kube_tag'}
        e = self.assertRaises(
            preflight_mod.PreflightError, preflight_mod.artifact_check,
            doc, cloud, template, labels, manifest=path, timeout=30)
        check = doc['checks'][-1]
        self.addDetail('check', _text(json.dumps(doc, indent=2)))
        self.assertEqual('node artifacts', check['name'])
        self.assertFalse(check['ok'])
        self.assertEqual('error', check['severity'])
        self.assertEqual(13, len(doc['artifacts']))
        bad = {(a['kind'], a['name']): a['message']
               for a in doc['artifacts'] if not a['ok']}
        self.assertEqual(LEFT_OUT, set(bad))
        self.assertIn('tag v0.26.2 not found (HTTP 404',
                      bad[('image', 'flannel')])
        self.assertEqual('package kubectl not in the repository',
                         bad[('rpm', 'kubectl')])
        self.assertEqual('version 2.31.1 not in index.yaml (newest listed: '
                         '2.31.0, 2.30.2)',
                         bad[('chart', 'openstack-cloud-controller-manager')])
        msg = check['message']
        self.assertTrue(msg.startswith('3 of 13 missing'), msg)
        for needle in (
                'image flannel %s/set1/flannel-io/flannel:v0.26.2 (label '
                'flannel_tag=v0.26.2): tag v0.26.2 not found'
                % self.registry.host,
                'package kubectl 1.31.4 from %s/set1/rpm/kubernetes/ '
                '(label kube_tag=v1.31.4): package kubectl not in the '
                'repository' % self.web.base,
                'chart openstack-cloud-controller-manager 2.31.1 from '
                '%s/set1/charts/cpo: version 2.31.1 not in index.yaml'
                % self.web.base):
            self.assertIn(needle, msg)
        self.assertIn(check['message'], str(e))
        found = {(a['kind'], a['name']): a['message']
                 for a in doc['artifacts'] if a['ok']}
        self.assertIn('sha256 pinned', found[('url', 'helm')])
        self.assertIn('no sha256 pinned', found[('url', 'tool')])
        self.assertEqual('cri-tools-1.31.1-150500.1.1 found',
                         found[('rpm', 'cri-tools')])
        self.assertEqual('containerd.io-1.7.24-3.1.el9 found',
                         found[('rpm', 'containerd.io')])

        self.publish_left_out('set1')
        doc = {'checks': []}
        check = preflight_mod.artifact_check(
            doc, cloud, template, labels, manifest=path, timeout=30)
        self.assertTrue(check['ok'], check['message'])
        self.assertFalse(check['skipped'])
        self.assertTrue(check['message'].startswith(
            'all 13 found (3 images, 3 charts, 5 packages, 2 URLs)'),
            check['message'])
        self.assertEqual([], [a for a in doc['artifacts'] if not a['ok']])

    def test_cli_preflight_fails_and_run_creates_nothing(self):
        path = self.publish('set2', complete=False)
        cloud, run = self._cli(kind='cloud')
        label_args = []
        for k, v in sorted(LABELS.items()):
            label_args += ['--label', '%s=%s' % (k, v)]
        code, out, err = run('preflight', '--sizes', '1', '--format',
                             'json', '--artifact-manifest', path,
                             '--artifact-timeout', '30', *label_args)
        self.assertEqual(exitcodes.ERROR, code, err)
        doc = json.loads(out)
        check = doc['checks'][-1]
        self.assertEqual('node artifacts', check['name'])
        self.assertFalse(check['ok'])
        self.assertEqual(LEFT_OUT, {(a['kind'], a['name'])
                                    for a in doc['artifacts']
                                    if not a['ok']})
        self.assertIn('node artifacts: 3 of 13 missing', err)

        code, out, err = run('--sizes', '1', '--skip-load', '--output-dir',
                             os.path.join(self.workdir, 'set2-out'),
                             '--artifact-manifest', path, *label_args)
        self.assertEqual(exitcodes.ERROR, code, err)
        self.assertEqual(1, len(err.splitlines()), err)
        for needle in ('image flannel', 'package kubectl',
                       'chart openstack-cloud-controller-manager 2.31.1'):
            self.assertIn(needle, err)
        self.assertEqual([], [c for c in cloud.calls
                              if c[0].startswith('create')])
        self.assertTrue(cloud.empty(), cloud.everything())

        # Air-gapped: skipped on request, and the report says so.
        code, out, err = run('preflight', '--sizes', '1', '--format',
                             'json', '--artifact-manifest', path,
                             '--skip-artifact-check', *label_args)
        self.assertEqual(exitcodes.OK, code, err)
        check = json.loads(out)['checks'][-1]
        self.assertEqual(('node artifacts', True),
                         (check['name'], check['skipped']))
        self.assertIn('skipped on request (--skip-artifact-check)',
                      check['message'])

        # The rehearsal has no network: skipped, never passed.
        _cloud, run = self._cli(kind='rehearsal')
        code, out, err = run('preflight', '--sizes', '1', '--format',
                             'json', '--artifact-manifest', path,
                             *label_args)
        self.assertEqual(exitcodes.OK, code, err)
        check = json.loads(out)['checks'][-1]
        self.assertTrue(check['skipped'])
        self.assertEqual(artifact_check.REHEARSAL_REASON, check['message'])
        self.assertEqual([], json.loads(out)['artifacts'])

    def _cli(self, kind):
        """(fake cloud, run(argv) -> (code, stdout, stderr)) in-process."""
        cloud = fakes.FakeCloud(time.monotonic, kind=kind,
                                create_seconds=lambda size: 0.0,
                                delete_seconds=0.0)
        state = os.path.join(self.workdir, 'state-%s' % kind)
        self.useFixture(fixtures.FakeLogger())
        self.useFixture(fixtures.EnvironmentVariable(
            'XDG_STATE_HOME', state))
        self.useFixture(fixtures.EnvironmentVariable(
            'XDG_RUNTIME_DIR', os.path.join(state, 'run')))
        self.useFixture(fixtures.MonkeyPatch(
            'magnum_cern_driver.selftest.cli.open_target',
            lambda args, journal_target=None, out=None: (
                cloud, [], {'kind': 'cloud', 'name': 'fake'})))

        def run(*argv):
            stdout, stderr = io.StringIO(), io.StringIO()
            with fixtures.MonkeyPatch('sys.stdout', stdout), \
                    fixtures.MonkeyPatch('sys.stderr', stderr):
                code = cli.main(list(argv))
            return code, stdout.getvalue(), stderr.getvalue()
        return cloud, run

    def test_registry_with_token_flow(self):
        reg = self.token_registry
        reg.push_image('tok/pause', '3.10')
        path = self.image_manifest('token-manifest.yaml', {
            'present': (reg.host, 'tok/pause', '3.10'),
            'absent': (reg.host, 'tok/pause', '3.9')})
        before = len(self.tokens.requests)
        check, results = artifact_check.preflight_check(
            {}, manifest=path, timeout=30)
        by_name = {r.artifact.name: r for r in results}
        self.assertTrue(by_name['present'].ok, by_name['present'].message)
        self.assertFalse(by_name['absent'].ok)
        self.assertIn('tag 3.9 not found (HTTP 404',
                      by_name['absent'].message)
        asked = self.tokens.requests[before:]
        self.assertTrue(asked)
        for query in asked:
            self.assertEqual([self.tokens.service], query['service'])
            self.assertEqual(['repository:tok/pause:pull'], query['scope'])
        # No token is ever shown.
        text = json.dumps(check) + json.dumps(
            [r.as_dict() for r in results])
        for token in self.tokens.issued:
            self.assertNotIn(token, text)
            self.assertNotIn(token.split('.')[2], text)

    def test_slow_server_does_not_outlast_the_deadline(self):
        slow, reg = self.slow.host, self.registry
        reg.push_image('fast/pause', '3.10')
        doc = {'version': 1,
               'images': {
                   'slow': {'registry': slow, 'repository': 'pause',
                            'tag': '3.10', 'source': 't'},
                   'fast': {'registry': reg.host,
                            'repository': 'fast/pause', 'tag': '3.10',
                            'source': 't'}},
               'rpm_repositories': {'slow': {
                   'baseurl': self.slow.base + '/rpm/', 'source': 't',
                   'packages': {'kubelet': {'version': '1.31.4'}}}},
               'charts': {'slow': {'url': self.slow.base + '/charts/',
                                   'chart': 'x', 'version': '1.0.0',
                                   'source': 't'}}}
        path = self.write_yaml('slow-manifest.yaml', doc)
        start = time.monotonic()
        check, results = artifact_check.preflight_check(
            {}, manifest=path, timeout=3)
        took = time.monotonic() - start
        self.assertLess(took, 3 + 1.5)
        by_name = {(r.artifact.kind, r.artifact.name): r for r in results}
        self.assertTrue(by_name[('image', 'fast')].ok)
        for key in (('image', 'slow'), ('rpm', 'kubelet'),
                    ('chart', 'slow')):
            self.assertFalse(by_name[key].ok)
            self.assertEqual('no answer within 3 s', by_name[key].message)
        self.assertFalse(check['ok'])
        self.assertIn('3 of 4 missing or not answering', check['message'])

    def test_mirror_lacking_one_image(self):
        reg = self.registry
        mirror = '%s/mirror' % reg.host
        reg.push_image('mirror/pause', '3.10')
        reg.push_image('mirror/flannel-io/flannel', 'v0.26.2')
        reg.push_chart('mirror/charts/tiny', 'tiny', '0.1.0')
        path = self.image_manifest('mirror-manifest.yaml', {
            'pause': ('registry.k8s.io', 'pause', '3.10'),
            'flannel': ('ghcr.io', 'flannel-io/flannel', 'v0.26.2'),
            'ccm': ('registry.k8s.io', CCM, 'v1.31.2')}, charts={
            'tiny': {'url': 'oci://ghcr.io/charts', 'chart': 'tiny',
                     'version': '0.1.0', 'source': 't'}})
        check, results = artifact_check.preflight_check(
            {'registry_mirror': mirror}, manifest=path, timeout=30)
        bad = [r for r in results if not r.ok]
        self.assertEqual(['ccm'], [r.artifact.name for r in bad],
                         check['message'])
        self.assertEqual('%s/mirror/%s:v1.31.2' % (reg.host, CCM),
                         bad[0].artifact.ref)
        self.assertIn('%s/mirror/%s:v1.31.2' % (reg.host, CCM),
                      check['message'])
        self.assertIn('tag v1.31.2 not found', check['message'])
        self.assertEqual(4, len(results))

    def test_pinned_checksum_against_the_published_one(self):
        # Release sites publish <url>.sha256sum beside a tarball (helm's
        # Makefile): the pinned digest must equal it.
        body = b'a release tarball\n' * 50
        digest = hashlib.sha256(body).hexdigest()
        self.web.write('sums/good.tar.gz', body)
        self.web.write('sums/good.tar.gz.sha256sum',
                       ('%s  good.tar.gz\n' % digest).encode())
        self.web.write('sums/bad.tar.gz', body)
        self.web.write('sums/bad.tar.gz.sha256sum',
                       ('%s  bad.tar.gz\n' % ('0' * 64)).encode())
        self.web.write('sums/bare.tar.gz', body)
        arts = [artifacts_mod.Artifact(
            kind='url', name=name, source='t', sha256=digest,
            url='%s/sums/%s.tar.gz' % (self.web.base, name))
            for name in ('good', 'bad', 'bare')]
        results = {r.artifact.name: r
                   for r in artifact_check.Checker(timeout=30).check(arts)}
        self.assertTrue(results['good'].ok, results['good'].message)
        self.assertIn('equal to the published .sha256sum',
                      results['good'].message)
        self.assertFalse(results['bad'].ok)
        self.assertIn('the pinned sha256 differs from the one published',
                      results['bad'].message)
        self.assertTrue(results['bare'].ok)
        self.assertIn('none published', results['bare'].message)


def _index(chart, versions):
    return {'apiVersion': 'v1', 'entries': {chart: [
        {'name': chart, 'version': v, 'apiVersion': 'v2',
         'urls': ['%s-%s.tgz' % (chart, v)]} for v in versions]}}


def _text(value):
    from testtools import content
    return content.text_content(value)
