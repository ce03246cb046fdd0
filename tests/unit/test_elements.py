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
"""The diskimage-builder elements in elements/.

dib-lint and diskimage-builder's own dependency resolution (the step
``disk-image-create`` runs first; it needs no network and no root) come
from the ``diskimage-builder`` package; those tests are skipped, saying
so, when it is not installed. The layout checks below need nothing.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

import testtools
import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
ELEMENTS = os.path.join(REPO, 'elements')
OURS = ('cern-ca', 'cvmfs', 'eos-client', 'magnum-k8s-node')
# The phases diskimage-builder runs (directories of an element).
PHASES = ('root.d', 'extra-data.d', 'pre-install.d', 'install.d',
          'post-install.d', 'post-root.d', 'block-device.d', 'pre-finalise.d',
          'finalise.d', 'cleanup.d', 'environment.d')
# Phases that run outside the chroot, where the image is not "/".
OUTSIDE_CHROOT = ('root.d', 'extra-data.d', 'block-device.d', 'cleanup.d')
VENV_BIN = os.path.dirname(sys.executable)


def _dib():
    try:
        import diskimage_builder
    except ImportError:
        return None
    return diskimage_builder


def _scripts(element):
    root = os.path.join(ELEMENTS, element)
    for phase in sorted(os.listdir(root)):
        if phase.endswith('.d'):
            for name in sorted(os.listdir(os.path.join(root, phase))):
                yield phase, name, os.path.join(root, phase, name)


class ElementLayoutTest(testtools.TestCase):

    def test_exactly_our_elements(self):
        self.assertEqual(sorted(OURS), sorted(
            d for d in os.listdir(ELEMENTS)
            if os.path.isdir(os.path.join(ELEMENTS, d))))

    def test_each_element_has_readme_deps_and_packages(self):
        for element in OURS:
            root = os.path.join(ELEMENTS, element)
            for name in ('README.rst', 'element-deps',
                         'package-installs.yaml'):
                self.assertTrue(os.path.isfile(os.path.join(root, name)),
                                '%s lacks %s' % (element, name))
            with open(os.path.join(root, 'README.rst')) as f:
                title = f.read().splitlines()[:3]
            self.assertEqual(['=' * len(element), element,
                              '=' * len(element)], title)

    def test_element_deps_are_sorted_and_unique(self):
        for element in OURS:
            with open(os.path.join(ELEMENTS, element, 'element-deps')) as f:
                deps = [line.strip() for line in f
                        if line.strip() and not line.startswith('#')]
            self.assertTrue(deps, element)
            self.assertEqual(sorted(set(deps)), deps, element)
            # package-installs.yaml is only read with that element
            self.assertIn('package-installs', deps, element)

    def test_package_installs_is_a_mapping_of_packages(self):
        for element in OURS:
            path = os.path.join(ELEMENTS, element, 'package-installs.yaml')
            with open(path) as f:
                data = yaml.safe_load(f)
            self.assertIsInstance(data, dict, path)
            self.assertTrue(data, path)
            for pkg, spec in data.items():
                self.assertRegex(pkg, r'^[A-Za-z0-9][A-Za-z0-9._+-]*$')
                self.assertTrue(spec is None or isinstance(spec, dict), pkg)

    def test_scripts_are_in_phases_with_dib_conventions(self):
        for element in OURS:
            count = 0
            for phase, name, path in _scripts(element):
                count += 1
                self.assertIn(phase, PHASES, path)
                self.assertRegex(name, r'^[0-9]{2}-[a-z0-9-]+(\.sh)?$', path)
                with open(path) as f:
                    text = f.read()
                if phase == 'environment.d':
                    self.assertFalse(os.access(path, os.X_OK), path)
                    self.assertNotIn('set -x', text)
                    continue
                self.assertTrue(os.access(path, os.X_OK), path)
                self.assertTrue(text.startswith('#!/bin/bash\n'), path)
                self.assertIn('DIB_DEBUG_TRACE', text, path)
                self.assertRegex(text, r'(?m)^set -eu$', path)
                self.assertRegex(text, r'(?m)^set -o pipefail$', path)
                if phase in OUTSIDE_CHROOT:
                    # outside the chroot "/etc" is the build host's
                    self.assertNotRegex(text, r'(?m)^[^#]*[ >]/etc/', path)
            self.assertGreater(count, 2, element)

    def test_readme_documents_every_dib_variable(self):
        for element in OURS:
            used = set()
            for _phase, _name, path in _scripts(element):
                with open(path) as f:
                    used |= set(re.findall(r'\b(DIB_[A-Z0-9_]+)', f.read()))
            used -= {'DIB_DEBUG_TRACE'}
            with open(os.path.join(ELEMENTS, element, 'README.rst')) as f:
                readme = f.read()
            self.assertTrue(used, element)
            for var in sorted(used):
                self.assertRegex(readme, r'(?m)^%s$' % var,
                                 '%s: %s is not documented' % (element, var))

    def test_environment_defaults_match_the_label_defaults(self):
        # The image and the label defaults describe the same node.
        from magnum_cern_driver import labels
        env = self._environment(('magnum-k8s-node', 'cvmfs', 'eos-client'))
        schema = labels.SCHEMA
        self.assertEqual(schema['kube_tag'].default.lstrip('v'),
                         env['DIB_KUBE_VERSION'])
        self.assertEqual(schema['containerd_version'].default,
                         env['DIB_CONTAINERD_VERSION'])
        self.assertEqual(','.join(schema['cvmfs_repositories'].default),
                         env['DIB_CVMFS_REPOSITORIES'])
        self.assertEqual(schema['cvmfs_http_proxy'].default,
                         env['DIB_CVMFS_HTTP_PROXY'])
        self.assertEqual(','.join(schema['eos_instances'].default),
                         env['DIB_EOS_INSTANCES'])

    def _environment(self, elements, extra=None):
        files = []
        for element in elements:
            d = os.path.join(ELEMENTS, element, 'environment.d')
            files += [os.path.join(d, n) for n in sorted(os.listdir(d))]
        script = ''.join('source %s\n' % f for f in files) + 'env -0\n'
        env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin')}
        env.update(extra or {})
        out = subprocess.run(['bash', '-c', script], env=env, check=True,
                             capture_output=True).stdout.decode()
        return dict(item.split('=', 1) for item in out.split('\0') if item)


class CernCaFetchTest(testtools.TestCase):
    """cern-ca's extra-data.d script runs on the build host: run it."""

    SCRIPT = os.path.join(ELEMENTS, 'cern-ca', 'extra-data.d',
                          '50-cern-ca-fetch')

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)

    def _run(self, bundle):
        env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'),
               'TMP_HOOKS_PATH': self.tmp, 'DIB_CERN_CA_BUNDLE': bundle}
        return subprocess.run(['bash', self.SCRIPT], env=env,
                              capture_output=True, text=True)

    def test_copies_a_pem_bundle(self):
        src = os.path.join(self.tmp, 'ca.pem')
        with open(src, 'w') as f:
            f.write('-----BEGIN CERTIFICATE-----\nMIIB\n'
                    '-----END CERTIFICATE-----\n')
        proc = self._run(src)
        self.assertEqual(0, proc.returncode, proc.stderr)
        with open(os.path.join(self.tmp, 'cern-ca', 'bundle.pem')) as f:
            self.assertIn('BEGIN CERTIFICATE', f.read())

    def test_refuses_missing_unset_plain_http_and_non_pem(self):
        junk = os.path.join(self.tmp, 'junk.txt')
        with open(junk, 'w') as f:
            f.write('not a certificate\n')
        for bundle, message in (('', 'DIB_CERN_CA_BUNDLE is not set'),
                                ('/nonexistent.pem', 'no such file'),
                                ('http://example.org/ca.pem', 'plain http'),
                                (junk, 'no PEM certificate')):
            proc = self._run(bundle)
            self.assertNotEqual(0, proc.returncode, bundle)
            self.assertIn(message, proc.stderr)


class DibToolsTest(testtools.TestCase):
    """dib-lint and element resolution from diskimage-builder itself."""

    def setUp(self):
        super().setUp()
        self.dib = _dib()
        if self.dib is None:
            self.skipTest('diskimage-builder is not installed (pip install '
                          'diskimage-builder; the CI installs it)')

    def _elements_path(self):
        dib_elements = os.path.join(os.path.dirname(self.dib.__file__),
                                    'elements')
        return '%s:%s' % (ELEMENTS, dib_elements)

    def _resolve(self, names):
        from diskimage_builder import element_dependencies as deps
        return dict(deps.get_elements(names, self._elements_path()))

    def test_magnum_k8s_node_resolves_on_almalinux(self):
        got = self._resolve(['almalinux-container', 'magnum-k8s-node'])
        self.assertEqual(os.path.join(ELEMENTS, 'magnum-k8s-node'),
                         got['magnum-k8s-node'])
        for dep in ('almalinux-container', 'cloud-init-datasources',
                    'package-installs', 'redhat-common'):
            self.assertIn(dep, got)
        self.assertNotIn('cvmfs', got)

    def test_the_cern_image_resolves(self):
        # disk-image-create adds block-device-mbr (the virtual element
        # "block-device" that "vm" needs) when no other is given.
        got = self._resolve(['almalinux-container', 'block-device-mbr', 'vm',
                             'magnum-k8s-node', 'cern-ca', 'cvmfs',
                             'eos-client'])
        for element in OURS:
            self.assertEqual(os.path.join(ELEMENTS, element), got[element])

    def test_resolution_needs_an_operating_system(self):
        # The check above can fail: without a distro element it does.
        from diskimage_builder import element_dependencies as deps
        self.assertRaises(deps.MissingOSException, self._resolve,
                          ['magnum-k8s-node'])

    def test_dib_lint(self):
        lint = os.path.join(VENV_BIN, 'dib-lint')
        if not os.path.exists(lint):
            lint = shutil.which('dib-lint')
        if not lint:
            self.skipTest('dib-lint is not installed (diskimage-builder)')
        if not shutil.which('file'):
            self.skipTest('dib-lint needs file(1) (Debian package file)')
        empty = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, empty)
        env = dict(os.environ)
        # dib-lint calls "python" and "flake8": those of this venv
        env['PATH'] = VENV_BIN + os.pathsep + env.get('PATH', '')
        env['ELEMENTS_DIR'] = 'elements'
        env['LIB_DIR'] = empty
        proc = subprocess.run([lint], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=300)
        out = proc.stdout + proc.stderr
        self.assertEqual(0, proc.returncode, out)
        self.assertIn('PASS', out)
        for element in OURS:
            self.assertIn('elements/%s/' % element, out)
