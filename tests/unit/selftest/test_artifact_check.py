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
"""The artifact check's pure parts (the servers: tests/functional)."""

import bz2
import gzip
import lzma
import threading
import time
import types

import fixtures
import requests
import testtools

from magnum_cern_driver import artifacts
from magnum_cern_driver.selftest import artifact_check as ac
from magnum_cern_driver.selftest import preflight

A = artifacts.Artifact

REPOMD = b"""<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo"
        xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1700000000</revision>
  <data type="filelists">
    <location href="repodata/abc-filelists.xml.gz"/>
  </data>
  <data type="primary">
    <checksum type="sha256">abc</checksum>
    <location href="repodata/abc-primary.xml.gz"/>
  </data>
</repomd>
"""

PRIMARY = b"""<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common"
          xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="4">
<package type="rpm">
  <name>kubelet</name><arch>x86_64</arch>
  <version epoch="0" ver="1.31.3" rel="150500.1.1"/>
</package>
<package type="rpm">
  <name>kubelet</name><arch>x86_64</arch>
  <version epoch="0" ver="1.31.4" rel="150500.1.1"/>
</package>
<package type="rpm">
  <name>kubeadm</name><arch>x86_64</arch>
  <version epoch="0" ver="1.31.4" rel="150500.1.1"/>
</package>
<package type="rpm">
  <name>containerd.io</name><arch>x86_64</arch>
  <version epoch="0" ver="1.7.24" rel="3.1.el9"/>
</package>
</metadata>
"""


def _chunks(data, size=50):
    return [data[i:i + size] for i in range(0, len(data), size)]


class TestChallenge(testtools.TestCase):
    def test_bearer(self):
        scheme, params = ac.parse_challenge(
            'Bearer realm="https://auth.docker.io/token",'
            'service="registry.docker.io",'
            'scope="repository:library/ubuntu:pull"')
        self.assertEqual('bearer', scheme)
        self.assertEqual({'realm': 'https://auth.docker.io/token',
                          'service': 'registry.docker.io',
                          'scope': 'repository:library/ubuntu:pull'},
                         params)

    def test_quoted_commas_spaces_and_escapes(self):
        scheme, params = ac.parse_challenge(
            'bearer realm="https://r/t", scope="repository:a/b:pull,push",'
            ' error="insufficient_scope", note="say \\"hi\\""')
        self.assertEqual('bearer', scheme)
        self.assertEqual('repository:a/b:pull,push', params['scope'])
        self.assertEqual('insufficient_scope', params['error'])
        self.assertEqual('say "hi"', params['note'])

    def test_unquoted_basic_and_empty(self):
        self.assertEqual(('basic', {'realm': 'Registry'}),
                         ac.parse_challenge('Basic realm=Registry'))
        self.assertEqual(('', {}), ac.parse_challenge(None))
        self.assertEqual(('', {}), ac.parse_challenge('  '))


class TestRefs(testtools.TestCase):
    def test_loopback_registries_use_http(self):
        self.assertEqual('http://127.0.0.1:5000',
                         ac.registry_base('127.0.0.1:5000'))
        self.assertEqual('http://localhost', ac.registry_base('localhost'))
        self.assertEqual('https://registry.k8s.io',
                         ac.registry_base('registry.k8s.io'))
        self.assertEqual('https://127.example.org:443',
                         ac.registry_base('127.example.org:443'))
        self.assertTrue(ac.is_loopback('[::1]:5000'))

    def test_docker_hub(self):
        self.assertEqual('https://registry-1.docker.io',
                         ac.registry_base('docker.io'))
        self.assertEqual('library/nginx',
                         ac.api_repository('docker.io', 'nginx'))
        self.assertEqual('bitnami/nginx',
                         ac.api_repository('docker.io', 'bitnami/nginx'))
        self.assertEqual('pause', ac.api_repository('registry.k8s.io',
                                                    'pause'))

    def test_oci_chart_ref(self):
        self.assertEqual(('ghcr.io', 'org/charts/tiny', '1.0.0_build.1'),
                         ac.oci_chart_ref('oci://ghcr.io/org/charts/',
                                          'tiny', '1.0.0+build.1'))
        self.assertEqual(('reg:5000', 'tiny', '1.0'),
                         ac.oci_chart_ref('oci://reg:5000', 'tiny', '1.0'))
        self.assertEqual('/v2/a/b/manifests/sha256:ab',
                         ac.manifest_path('a/b', 'sha256:ab'))


class TestHelmIndex(testtools.TestCase):
    INDEX = {'apiVersion': 'v1', 'entries': {
        'flannel': [{'name': 'flannel', 'version': 'v0.26.1'},
                    {'name': 'flannel', 'version': 'v0.26.2'},
                    {'name': 'flannel', 'version': 'v0.25.7'},
                    {'name': 'flannel', 'version': 'v0.9.0'}],
        'empty': []}}

    def test_found_with_or_without_v(self):
        self.assertEqual('version v0.26.2 listed in index.yaml',
                         ac.check_index(self.INDEX, 'flannel', 'v0.26.2'))
        ac.check_index(self.INDEX, 'flannel', '0.26.1')

    def test_version_missing_names_the_newest(self):
        e = self.assertRaises(ac.Missing, ac.check_index, self.INDEX,
                              'flannel', 'v0.26.3')
        self.assertEqual('version v0.26.3 not in index.yaml (newest '
                         'listed: v0.26.2, v0.26.1, v0.25.7)', str(e))
        e = self.assertRaises(ac.Missing, ac.check_index, self.INDEX,
                              'empty', '1.0')
        self.assertIn('no versions listed', str(e))

    def test_chart_missing_or_not_an_index(self):
        e = self.assertRaises(ac.Missing, ac.check_index, self.INDEX,
                              'calico', '1.0')
        self.assertEqual('chart calico not in index.yaml', str(e))
        e = self.assertRaises(ac.Missing, ac.check_index,
                              '<html>', 'calico', '1.0')
        self.assertIn('not a Helm chart repository', str(e))


class TestRepodata(testtools.TestCase):
    def test_repomd_primary(self):
        self.assertEqual('repodata/abc-primary.xml.gz',
                         ac.parse_repomd(REPOMD))

    def test_repomd_xml_base(self):
        data = REPOMD.replace(
            b'<location href="repodata/abc-primary.xml.gz"/>',
            b'<location xml:base="https://mirror/x/" '
            b'href="repodata/p.xml.xz"/>')
        self.assertEqual('https://mirror/x/repodata/p.xml.xz',
                         ac.parse_repomd(data))

    def test_repomd_errors(self):
        e = self.assertRaises(ac.Missing, ac.parse_repomd, b'<html')
        self.assertIn('is not XML', str(e))
        e = self.assertRaises(ac.Missing, ac.parse_repomd, REPOMD.replace(
            b'type="primary"', b'type="other"'))
        self.assertEqual('repodata/repomd.xml names no primary metadata',
                         str(e))

    def test_primary_every_compression(self):
        want = {'kubelet': [('0', '1.31.3', '150500.1.1'),
                            ('0', '1.31.4', '150500.1.1')],
                'containerd.io': [('0', '1.7.24', '3.1.el9')]}
        for href, data in (('p-primary.xml.gz', gzip.compress(PRIMARY)),
                           ('p-primary.xml.xz', lzma.compress(PRIMARY)),
                           ('p-primary.xml.bz2', bz2.compress(PRIMARY)),
                           ('p-primary.xml', PRIMARY)):
            found = ac.parse_primary(_chunks(data), href,
                                     {'kubelet', 'containerd.io', 'nope'})
            self.assertEqual(want, found, href)

    def test_zstd_without_the_module_is_a_clear_failure(self):
        self.useFixture(fixtures.MonkeyPatch(
            'magnum_cern_driver.selftest.artifact_check.zstandard', None))
        e = self.assertRaises(ac.Missing, ac.parse_primary, [b'x'],
                              'repodata/abc-primary.xml.zst', {'kubelet'})
        self.assertIn('abc-primary.xml.zst is zstd-compressed', str(e))
        self.assertIn('zstandard is not installed', str(e))

    def test_corrupt_primary(self):
        e = self.assertRaises(ac.Missing, ac.parse_primary,
                              [b'not gzip at all'], 'p.xml.gz', {'a'})
        self.assertIn('p.xml.gz cannot be decompressed', str(e))
        e = self.assertRaises(ac.Missing, ac.parse_primary,
                              [b'<metadata><package>'], 'p.xml', {'a'})
        self.assertIn('p.xml is not readable XML', str(e))

    def test_package_versions(self):
        found = ac.parse_primary([PRIMARY], 'p.xml', {'kubelet',
                                                      'containerd.io'})
        self.assertEqual('kubelet-1.31.4-150500.1.1 found',
                         ac.check_package(found, 'kubelet', '1.31.4'))
        ac.check_package(found, 'kubelet', '1.31.3-150500.1.1')
        ac.check_package(found, 'kubelet', '0:1.31.3-150500.1.1')
        ac.check_package(found, 'kubelet', '')
        ac.check_package(found, 'containerd.io', '1.7.24')
        e = self.assertRaises(ac.Missing, ac.check_package, found,
                              'kubelet', '1.31.5')
        self.assertEqual('kubelet version 1.31.5 not in the repository '
                         '(newest: 1.31.4-150500.1.1, 1.31.3-150500.1.1)',
                         str(e))
        e = self.assertRaises(ac.Missing, ac.check_package, found,
                              'kubectl', '1.31.4')
        self.assertEqual('package kubectl not in the repository', str(e))
        # 1.31.4 is not 1.31.40, nor a prefix match.
        self.assertFalse(ac.rpm_version_matches(
            '1.31.4', ('0', '1.31.40', '1')))
        self.assertFalse(ac.rpm_version_matches(
            '1.31', ('0', '1.31.4', '1')))


class TestSummary(testtools.TestCase):
    IMG = A(kind='image', name='flannel', label='flannel_tag',
            registry='ghcr.io', repository='flannel-io/flannel',
            tag='v0.26.2')
    RPM = A(kind='rpm', name='kubectl', label='kube_tag',
            url='https://pkgs.k8s.io/core:/stable:/v1.31/rpm/',
            package='kubectl', version='1.31.4')
    CHART = A(kind='chart', name='ccm', url='https://charts.example/',
              chart='openstack-cloud-controller-manager', version='2.31.1')
    URL = A(kind='url', name='helm', url='https://get.helm.sh/h.tgz')
    LABELS = {'flannel_tag': 'v0.26.2', 'kube_tag': 'v1.31.4'}

    def test_all_found(self):
        results = [ac.Result(a, True, 'found') for a in (
            self.IMG, self.RPM, self.CHART, self.URL, self.URL)]
        check = ac.summarize(results, self.LABELS, 1.23)
        self.assertEqual({'name': 'node artifacts', 'ok': True,
                          'severity': 'error', 'skipped': False,
                          'message': 'all 5 found (1 image, 1 chart, '
                          '1 package, 2 URLs) in 1.2 s'}, check)

    def test_missing_names_artifact_label_and_answer(self):
        results = [
            ac.Result(self.IMG, False, 'tag v0.26.2 not found (HTTP 404)'),
            ac.Result(self.RPM, False, 'package kubectl not in the '
                      'repository'),
            ac.Result(self.CHART, False, 'version 2.31.1 not in '
                      'index.yaml'),
            ac.Result(self.URL, True, 'found')]
        check = ac.summarize(results, self.LABELS)
        self.assertFalse(check['ok'])
        self.assertEqual('error', check['severity'])
        self.assertEqual(
            '3 of 4 missing or not answering: '
            'image flannel ghcr.io/flannel-io/flannel:v0.26.2 (label '
            'flannel_tag=v0.26.2): tag v0.26.2 not found (HTTP 404); '
            'package kubectl 1.31.4 from https://pkgs.k8s.io/core:/stable:'
            '/v1.31/rpm/ (label kube_tag=v1.31.4): package kubectl not in '
            'the repository; chart openstack-cloud-controller-manager '
            '2.31.1 from https://charts.example/: version 2.31.1 not in '
            'index.yaml', check['message'])

    def test_one_answer_for_many_is_said_once(self):
        down = 'cannot reach ghcr.io: [Errno -2] Name or service not known'
        flannel_cni = A(kind='image', name='cni', registry='ghcr.io',
                        repository='flannel-io/cni', tag='v1')
        results = [ac.Result(self.IMG, False, down),
                   ac.Result(flannel_cni, False, down),
                   ac.Result(self.URL, False, 'HTTP 403')]
        check = ac.summarize(results, self.LABELS)
        self.assertEqual(
            '3 of 3 missing or not answering: %s: image flannel ghcr.io/'
            'flannel-io/flannel:v0.26.2 (label flannel_tag=v0.26.2), image '
            'cni ghcr.io/flannel-io/cni:v1; url helm https://get.helm.sh/'
            'h.tgz: HTTP 403' % down, check['message'])

    def test_nothing_answered_gives_a_hint(self):
        results = [ac.Result(self.IMG, False, 'no answer within 60 s'),
                   ac.Result(self.URL, False, 'cannot reach get.helm.sh: '
                             'timed out')]
        check = ac.summarize(results, self.LABELS)
        self.assertIn("Nothing answered: is this machine on the nodes' "
                      "network", check['message'])
        self.assertIn('--skip-artifact-check', check['message'])

    def test_nothing_to_check_is_skipped(self):
        check = ac.summarize([])
        self.assertTrue(check['skipped'])

    def test_describe_label_without_value(self):
        self.assertEqual('url helm https://get.helm.sh/h.tgz (label x)',
                         ac.describe(A(kind='url', name='helm', label='x',
                                       url='https://get.helm.sh/h.tgz')))

    def test_result_as_dict(self):
        d = ac.Result(self.IMG, False, 'gone', 0.12345).as_dict()
        self.assertEqual(('image', 'flannel', False, 'gone', 0.123),
                         (d['kind'], d['name'], d['ok'], d['message'],
                          d['seconds']))

    def test_error_text_is_short(self):
        e = requests.exceptions.ConnectionError(
            "HTTPConnectionPool(host='127.0.0.1', port=1): Max retries "
            "exceeded with url: /v2/ (Caused by NewConnectionError('<urllib3"
            ".connection.HTTPConnection object at 0x7f00>: Failed to "
            "establish a new connection: [Errno 111] Connection refused'))")
        self.assertEqual('[Errno 111] Connection refused', ac.error_text(e))
        e = requests.exceptions.SSLError(
            "... [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed:"
            " self-signed certificate (_ssl.c:1006)')))")
        self.assertEqual('TLS error: self-signed certificate',
                         ac.error_text(e))


class TestDeadline(testtools.TestCase):
    def test_what_is_not_done_at_the_deadline_fails(self):
        release = threading.Event()
        self.addCleanup(release.set)
        checker = ac.Checker(timeout=0.3, workers=2)

        def one(artifact):
            if artifact.name == 'slow':
                release.wait(30)
            return ac.Result(artifact, True, 'found')
        checker.one = one
        arts = [A(kind='url', name=n, url='https://x/%s' % n)
                for n in ('a', 'slow', 'b', 'c')]
        start = time.monotonic()
        results = checker.check(arts)
        self.assertLess(time.monotonic() - start, 1.5)
        self.assertEqual(['a', 'slow', 'b', 'c'],
                         [r.artifact.name for r in results])
        self.assertEqual([True, False, True, True],
                         [r.ok for r in results])
        self.assertEqual('no answer within 0.3 s', results[1].message)

    def test_timeout_messages(self):
        class Slow(object):
            def request(self, *args, **kwargs):
                raise requests.exceptions.ReadTimeout('read timed out')
        checker = ac.Checker(timeout=60, request_timeout=20)
        checker._local.session = Slow()
        checker.deadline = time.monotonic() + 50
        e = self.assertRaises(ac.Missing, checker._request, 'GET', 'http://x')
        self.assertEqual('no answer within 20 s (one request)', str(e))
        checker.deadline = time.monotonic() + 5
        e = self.assertRaises(ac.Missing, checker._request, 'GET', 'http://x')
        self.assertEqual('no answer within 60 s', str(e))
        checker.deadline = time.monotonic() - 1
        e = self.assertRaises(ac.Missing, checker._request, 'GET', 'http://x')
        self.assertEqual('no answer within 60 s', str(e))

    def test_a_bug_is_a_failed_artifact_not_a_crash(self):
        checker = ac.Checker(timeout=5)
        checker.deadline = time.monotonic() + 5

        def boom(artifact):
            raise KeyError('x')
        checker.url = boom
        res = checker.one(A(kind='url', name='u', url='https://x/'))
        self.assertFalse(res.ok)
        self.assertIn('check failed: KeyError', res.message)


class TestPreflightCheck(testtools.TestCase):
    def test_skipped_on_request(self):
        check, results = ac.preflight_check({}, skip=True)
        self.assertEqual([], results)
        self.assertTrue(check['skipped'])
        self.assertEqual('warning', check['severity'])
        self.assertIn('--skip-artifact-check', check['message'])

    def test_rehearsal_is_skipped_never_passed(self):
        doc = {'checks': []}
        check = preflight.artifact_check(
            doc, types.SimpleNamespace(kind='rehearsal'), None, {})
        self.assertTrue(check['skipped'])
        self.assertEqual(ac.REHEARSAL_REASON, check['message'])
        self.assertEqual([check], doc['checks'])
        self.assertEqual([], doc['artifacts'])

    def test_bad_label_or_manifest_fails_the_preflight(self):
        cloud = types.SimpleNamespace(kind='cloud')
        doc = {'checks': []}
        e = self.assertRaises(preflight.PreflightError,
                              preflight.artifact_check, doc, cloud,
                              {'labels': {'kube_tag': 'not a tag!'}}, {})
        self.assertIn('node artifacts: labels:', str(e))
        self.assertFalse(doc['checks'][-1]['ok'])
        e = self.assertRaises(preflight.PreflightError,
                              preflight.artifact_check, doc, cloud, None,
                              {}, manifest='/nonexistent/m.yaml')
        self.assertIn('artifact manifest /nonexistent/m.yaml', str(e))

    def test_command_line_labels_win_and_choose_the_mirror(self):
        seen = {}

        def run(resolved, typed, timeout):
            seen['refs'] = [a.ref for a in resolved if a.kind == 'image']
            seen['typed'] = typed
            seen['timeout'] = timeout
            return ac.summarize([ac.Result(a, True, 'found')
                                 for a in resolved]), []
        self.useFixture(fixtures.MonkeyPatch(
            'magnum_cern_driver.selftest.artifact_check.run', run))
        preflight.artifact_check(
            {}, types.SimpleNamespace(kind='cloud'),
            {'labels': {'flannel_tag': 'v0.25.0',
                        'registry_mirror': 'mirror.example:5000/m'}},
            {'flannel_tag': 'v0.26.9'}, timeout=7)
        self.assertEqual('v0.26.9', seen['typed']['flannel_tag'])
        self.assertEqual(7, seen['timeout'])
        self.assertIn('mirror.example:5000/m/flannel-io/flannel:v0.26.9',
                      seen['refs'])
        self.assertTrue(all(r.startswith('mirror.example:5000/m/')
                            for r in seen['refs']))
