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
"""templates/artifacts.yaml is the only place artifacts are named.

Scans the templates, the fragments, userdata.py and the elements for
container image references (``registry.host/path:tag``), chart references
(``oci://...``, any ``helm --repo`` URL), other http(s) URLs and, in code,
the bare registry hosts of the manifest's images (``image_repo
registry.k8s.io pause``). The generated element files
(``environment.d/05-*-artifacts.sh``, kept in sync by test_elements_env)
are derived from the manifest and not scanned.

The allowlist is deliberately tiny:

* node-local endpoints (127.0.0.1, localhost, [::1]) and URLs whose host
  is a shell variable (``https://$host``: built from a value that came
  from the manifest or the node);
* Heat's run-time placeholders (userdata.PLACEHOLDERS) standing for a
  URL;
* in comments and README prose only: example.org/.com/.net hosts and the
  Apache license URL of the file header.

Citations of upstream sources belong in the manifest or docs/.
"""

import os
import re

import testtools

from magnum_cern_driver import artifacts
from magnum_cern_driver import elements_env
from magnum_cern_driver import labels
from magnum_cern_driver import userdata

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
PKG = os.path.join(REPO, 'magnum_cern_driver')
TEMPLATES = os.path.join(PKG, 'templates')
MANIFEST = os.path.join(TEMPLATES, 'artifacts.yaml')

URL = re.compile(r'\b(https?|oci)://([^\s\'"<>()\[\]{}`|;,]*)')
_HOSTNAME = r'(?:[a-z0-9-]+\.)+[a-z0-9-]+(?::[0-9]{1,5})?'
IMAGE = re.compile(
    r'(?<![\w./:@$-])(%s|localhost(?::[0-9]{1,5})?)/[a-z0-9._-]+'
    r'(?:/[a-z0-9._-]+)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}'
    r'|@sha256:[0-9a-f]{64})' % _HOSTNAME)
# Kubernetes taints look like images (key/path:Effect).
TAINT_EFFECTS = ('NoSchedule', 'PreferNoSchedule', 'NoExecute')
LOOPBACK = ('127.0.0.1', 'localhost', '[::1]')
EXAMPLE_HOST = re.compile(r'(^|\.)example\.(org|com|net)(:[0-9]+)?$')
LICENSE_URL = 'http://www.apache.org/licenses/LICENSE-2.0'


def registry_hosts():
    """Registry hosts the manifest's images and OCI charts come from."""
    arts = artifacts.resolve(labels.validate({}))
    hosts = {a.registry for a in arts if a.kind == 'image'}
    hosts |= {a.url[len('oci://'):].split('/')[0] for a in arts
              if a.kind == 'chart' and a.url.startswith('oci://')}
    return sorted(h for h in hosts if h)


def scanned_files():
    """Every file the rule covers (repository-relative paths)."""
    out = []
    for root, _dirs, files in os.walk(TEMPLATES):
        for name in files:
            path = os.path.join(root, name)
            if os.path.samefile(path, MANIFEST):
                continue
            if name.endswith('.yaml') or (
                    name.endswith('.sh') and
                    os.path.basename(root) == 'fragments'):
                out.append(path)
    out.append(os.path.join(PKG, 'userdata.py'))
    generated = {os.path.realpath(elements_env.path_for(e))
                 for e in elements_env.ELEMENTS}
    for root, _dirs, files in os.walk(os.path.join(REPO, 'elements')):
        for name in files:
            path = os.path.join(root, name)
            if os.path.realpath(path) not in generated:
                out.append(path)
    return sorted(os.path.relpath(p, REPO) for p in out)


def _comment_start(line, path):
    """Index where a comment starts on ``line`` (len(line) if none)."""
    if path.endswith('.rst'):
        return 0                # README prose: all of it
    m = re.search(r'(^|\s)#', line)
    return m.start() if m else len(line)


def _url_allowed(scheme, rest, in_comment):
    host = rest.split('/', 1)[0]
    path = rest[len(host):]
    if host[:1] not in ('$', '[') and '.' not in host.split(':')[0]:
        # no host name: a scheme in a check or a format (``https://*``,
        # ``http://host:port``), not a location
        return True
    if host in LOOPBACK or host.split(':')[0] in LOOPBACK:
        return True
    if any(p in host for p in userdata.PLACEHOLDERS):
        return True
    if host.startswith('$'):
        # built from a variable; an oci:// chart path after it is still a
        # literal chart reference
        return scheme != 'oci' or not re.search(r'/[A-Za-z0-9]', path)
    if in_comment:
        if EXAMPLE_HOST.search(host):
            return True
        if '%s://%s' % (scheme, rest) == LICENSE_URL:
            return True
    return False


def find_literals(text, path, hosts=()):
    """[(line number, kind, literal)] of the artifact literals in text."""
    found = []
    host_re = None
    if hosts:
        host_re = re.compile(r'(?<![\w.-])(%s)(?![\w-]|\.[\w])'
                             % '|'.join(re.escape(h) for h in hosts))
    for number, line in enumerate(text.splitlines(), 1):
        comment = _comment_start(line, path)
        spans = []
        for m in URL.finditer(line):
            spans.append(m.span())
            if not _url_allowed(m.group(1), m.group(2),
                                m.start() >= comment):
                found.append((number, 'chart' if m.group(1) == 'oci'
                              else 'url', m.group(0)))
        for m in IMAGE.finditer(line):
            if any(s <= m.start() < e for s, e in spans):
                continue
            if m.group(0).rsplit(':', 1)[-1] in TAINT_EFFECTS:
                continue
            if EXAMPLE_HOST.search(m.group(1)) and m.start() >= comment:
                continue
            spans.append(m.span())
            found.append((number, 'image', m.group(0)))
        if host_re is not None:
            for m in host_re.finditer(line[:comment]):
                if any(s <= m.start() < e for s, e in spans):
                    continue
                found.append((number, 'registry host', m.group(0)))
    return found


class DetectorTest(testtools.TestCase):
    """The scanner finds what it should and nothing else."""

    def find(self, text, path='x.sh', hosts=('registry.k8s.io',)):
        return [(kind, lit) for _n, kind, lit in
                find_literals(text, path, hosts)]

    def test_finds_images_charts_urls_and_hosts(self):
        self.assertEqual([('image', 'ghcr.io/flannel-io/flannel:v0.26.2')],
                         self.find('image: ghcr.io/flannel-io/flannel:'
                                   'v0.26.2'))
        self.assertEqual([('chart', 'oci://$reg/kubernetes/charts/x')],
                         self.find('helm install "oci://$reg/kubernetes/'
                                   'charts/x"'))
        self.assertEqual([('url', 'https://flannel-io.github.io/flannel/')],
                         self.find('  --repo https://flannel-io.github.io/'
                                   'flannel/ \\'))
        self.assertEqual([('registry host', 'registry.k8s.io')],
                         self.find('x=$(image_repo registry.k8s.io pause)'))
        self.assertEqual([('url', 'https://upstream.example.com.evil/x')],
                         self.find('# https://upstream.example.com.evil/x'))
        # a citation in a comment is still a literal
        self.assertEqual([('url', 'https://github.com/a/b')],
                         self.find('# see https://github.com/a/b'))

    def test_allows_the_tiny_list(self):
        for text in (
                'curl -sf https://127.0.0.1:$PORT/livez',
                'curl "https://$endpoint/readyz"',
                'server = "https://$host"',
                'helm install "$CHART_URL"',
                'apiVersion: kubeadm.k8s.io/v1beta3',
                '- key: node-role.kubernetes.io/control-plane:NoSchedule',
                'pod-security.kubernetes.io/enforce=privileged',
                '# e.g. registry_mirror=mirror.example.org/cache',
                '# e.g. https://mirror.example.org/repo/',
                '#         %s' % LICENSE_URL,
                'name: eoshome.cern.ch',
                'x=registry.k8s.io.example',
                '# pulled from registry.k8s.io by kubeadm'):
            self.assertEqual([], self.find(text), text)
        for text in ('case "$u" in https://*) ;; esac',
                     'entries like http://host:port',
                     'echo "refusing plain http:// for $x"'):
            self.assertEqual([], self.find(text), text)
        self.assertEqual([], self.find('Default: ``https://x.example.org``',
                                       'README.rst'))
        self.assertNotEqual([], self.find('https://x.example.org/', 'a.sh'))


class NoArtifactLiteralsTest(testtools.TestCase):

    def test_artifacts_are_named_only_in_the_manifest(self):
        hosts = registry_hosts()
        problems = []
        for rel in scanned_files():
            with open(os.path.join(REPO, rel), encoding='utf-8') as f:
                text = f.read()
            for number, kind, literal in find_literals(text, rel, hosts):
                problems.append('%s:%d: %s %s' % (rel, number, kind,
                                                  literal))
        self.assertEqual(
            [], problems, 'artifact literals outside templates/artifacts.'
            'yaml (name them in the manifest and take them from the '
            'resolved values):\n' + '\n'.join(problems))
