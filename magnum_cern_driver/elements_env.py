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
"""The diskimage-builder elements' artifact defaults, from the manifest.

Each element in :data:`ELEMENTS` gets ``environment.d/05-<element>-
artifacts.sh``: the package repositories, versions, URLs and images it
uses by default, taken from ``templates/artifacts.yaml`` (resolved for the
label defaults, no registry mirror). The element's own scripts use the
variables; a user still overrides any of them in the build environment.
A variable whose manifest entry does not exist is left out (the file says
which entry it waits for).

Regenerate after changing the manifest (a unit test fails until then)::

    python -m magnum_cern_driver.elements_env --write
"""

import argparse
import os
import re
import sys
import textwrap

from magnum_cern_driver import artifacts as artifacts_mod
from magnum_cern_driver import labels as labels_mod

HEADER = ('# Generated from magnum_cern_driver/templates/artifacts.yaml; '
          'do not edit.\n'
          '# Regenerate: python -m magnum_cern_driver.elements_env --write\n')

#: In MAGNUM_K8S_KUBE_REPO_TEMPLATE: the element puts the X.Y of
#: DIB_KUBE_VERSION here (the manifest's ``{kube_minor}``).
KUBE_MINOR_TOKEN = '@KUBE_MINOR@'

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
ELEMENTS_DIR = os.path.join(REPO, 'elements')


class _Manifest:
    """The manifest, raw and resolved for the label defaults."""

    def __init__(self, path=None):
        self.path = path
        self.raw = artifacts_mod.load_manifest(path)
        self.labels = labels_mod.validate({})
        self.values = artifacts_mod.template_values(self.labels)
        self.resolved = artifacts_mod.by_name(
            artifacts_mod.resolve(self.labels, mirror='', manifest=path))

    def get(self, kind, name):
        return self.resolved.get((kind, name))

    def repo_of(self, package):
        """(name, raw entry) of the rpm repository that has ``package``."""
        for name, repo in (self.raw.get('rpm_repositories') or {}).items():
            if package in (repo.get('packages') or {}):
                return name, repo
        return None, None

    def repo(self, name):
        return (self.raw.get('rpm_repositories') or {}).get(name)

    def fill(self, text, keep=()):
        """``{name}`` fields filled from the label defaults.

        Fields in ``keep`` are left for the element to fill; dnf's
        ``$variables`` stay.
        """
        def sub(match):
            key = match.group(1)
            if key in keep:
                return match.group(0)
            if key not in self.values:
                raise artifacts_mod.ManifestError(
                    'unknown value {%s} in %s' % (key, text))
            return self.values[key]
        return re.sub(r'\{([a-z_]+)\}', sub, str(text))


def _checked_url(text, what):
    """A repository URL as dnf reads it ($releasever and $basearch kept)."""
    probe = text.replace(KUBE_MINOR_TOKEN, '1.0')
    for key, value in artifacts_mod.RPM_VARS.items():
        probe = probe.replace('$' + key, value)
    if not artifacts_mod.PATTERNS['url'].fullmatch(probe):
        raise artifacts_mod.ManifestError('%s: URL %r is not allowed'
                                          % (what, text))
    return text


# -- what each element takes ---------------------------------------------
# Each entry: (variable, comment, getter(manifest) -> value or None,
# manifest entry it needs (for the "waiting for" note)).

def _rpm_version(package):
    def get(m):
        art = m.get('rpm', package)
        return art.version if art and art.version else None
    return get


def _kube_repo_template(m):
    name, repo = m.repo_of('kubelet')
    if repo is None:
        return None
    text = m.fill(repo['baseurl'], keep=('kube_minor',))
    text = text.replace('{kube_minor}', KUBE_MINOR_TOKEN)
    return _checked_url(text, 'rpm repository %s' % name)


def _kube_gpgkey_template(m):
    name, repo = m.repo_of('kubelet')
    if repo is None or not repo.get('gpgkey'):
        return None
    text = m.fill(repo['gpgkey'], keep=('kube_minor',))
    text = text.replace('{kube_minor}', KUBE_MINOR_TOKEN)
    return _checked_url(text, 'rpm repository %s' % name)


def _repo_field(package, field, repo_name=None):
    def get(m):
        if repo_name:
            name, repo = repo_name, m.repo(repo_name)
        else:
            name, repo = m.repo_of(package)
        if not repo or not repo.get(field):
            return None
        return _checked_url(m.fill(repo[field]), 'rpm repository %s' % name)
    return get


def _url(name, field='url'):
    def get(m):
        art = m.get('url', name)
        if art is None:
            return None
        return getattr(art, field)
    return get


def _images(m):
    refs = [a.ref for a in m.resolved.values() if a.kind == 'image']
    return ' '.join(refs)


ELEMENTS = {
    'magnum-k8s-node': [
        ('DIB_KUBE_VERSION',
         'kubelet, kubeadm and kubectl version (the kube_tag label default '
         'without its v).', _rpm_version('kubelet'),
         'rpm_repositories.*.packages.kubelet'),
        ('DIB_CONTAINERD_VERSION',
         'containerd.io version (the containerd_version label default).',
         _rpm_version('containerd.io'),
         'rpm_repositories.*.packages.containerd.io'),
        ('MAGNUM_K8S_KUBE_REPO_TEMPLATE',
         'Kubernetes package repository when DIB_KUBE_REPO_URL is empty; '
         '%s is the X.Y of DIB_KUBE_VERSION.' % KUBE_MINOR_TOKEN,
         _kube_repo_template, 'rpm_repositories.*.packages.kubelet'),
        ('MAGNUM_K8S_KUBE_REPO_GPGKEY_TEMPLATE',
         'Its signing key (same %s).' % KUBE_MINOR_TOKEN,
         _kube_gpgkey_template,
         'rpm_repositories.*.packages.kubelet gpgkey'),
        ('DIB_CONTAINERD_REPO_URL',
         'Repository of containerd.io (dnf expands $releasever and '
         '$basearch).', _repo_field('containerd.io', 'baseurl'),
         'rpm_repositories.*.packages.containerd.io'),
        ('DIB_CONTAINERD_REPO_GPGKEY', 'Its signing key.',
         _repo_field('containerd.io', 'gpgkey'),
         'rpm_repositories.*.packages.containerd.io gpgkey'),
        ('DIB_MAGNUM_K8S_HELM_URL',
         'helm release tarball installed as /usr/local/bin/helm (empty: '
         'no helm in the image).', _url('helm'), 'urls.helm'),
        ('DIB_MAGNUM_K8S_HELM_SHA256',
         'Its sha256 (required when the URL is set).',
         _url('helm', 'sha256'), 'urls.helm'),
        ('DIB_MAGNUM_K8S_PREPULL_IMAGES',
         'Images pulled at build time (skopeo on the build host) and '
         'imported at first boot: every image of the manifest for the '
         'label defaults. Set it to an empty string to pull none.',
         _images, 'images'),
    ],
    'cvmfs': [
        ('DIB_CVMFS_RELEASE_RPM',
         'RPM that configures the CVMFS package repository.',
         _url('cvmfs-release'), 'urls.cvmfs-release'),
    ],
    'eos-client': [
        ('DIB_EOS_REPO_URL', 'Repository of the EOS client (eos-fusex).',
         _repo_field('eos-fusex', 'baseurl'),
         'rpm_repositories.eos-client (packages: eos-fusex)'),
        ('DIB_EOS_DEPS_REPO_URL', 'Repository of its dependencies.',
         _repo_field(None, 'baseurl', 'eos-client-deps'),
         'rpm_repositories.eos-client-deps'),
        ('DIB_EOS_REPO_GPGKEY', 'Signing key of both repositories.',
         _repo_field('eos-fusex', 'gpgkey'),
         'rpm_repositories.eos-client gpgkey'),
    ],
}

# Variables whose empty value is a choice the user can make (``-``, not
# ``:-``): an empty DIB_MAGNUM_K8S_PREPULL_IMAGES pulls nothing.
EMPTY_IS_A_CHOICE = ('DIB_MAGNUM_K8S_PREPULL_IMAGES',
                     'DIB_MAGNUM_K8S_HELM_URL')


_SAFE = re.compile(r'[A-Za-z0-9_./:%+,=@~-]')


def shell_word(value):
    """``value`` as the word of ``${VAR:-word}`` (bash, unquoted context).

    Safe text stays as it is; a list with spaces is double-quoted; any
    other unsafe character is escaped with a backslash.
    """
    if all(_SAFE.fullmatch(c) for c in value):
        return value
    if all(_SAFE.fullmatch(c) or c == ' ' for c in value):
        return '"%s"' % value
    return ''.join(c if _SAFE.fullmatch(c) else '\\' + c for c in value)


def file_name(element):
    return '05-%s-artifacts.sh' % element


def path_for(element, elements_dir=ELEMENTS_DIR):
    return os.path.join(elements_dir, element, 'environment.d',
                        file_name(element))


def generate(element, manifest=None):
    """Text of the element's generated environment file."""
    m = manifest if isinstance(manifest, _Manifest) else _Manifest(manifest)
    lines = ['# shellcheck shell=bash', HEADER.rstrip('\n')]
    missing = []
    for var, comment, get, needs in ELEMENTS[element]:
        value = get(m)
        if value is None:
            missing.append((var, needs))
            continue
        op = '-' if var in EMPTY_IS_A_CHOICE else ':-'
        lines.append('')
        lines += textwrap.wrap(comment, 72, initial_indent='# ',
                               subsequent_indent='# ')
        lines.append('export %s=${%s%s%s}' % (var, var, op,
                                              shell_word(value)))
    if missing:
        lines.append('')
        lines.append('# Not in the manifest, or empty there (the element '
                     'keeps its own default):')
        for var, needs in missing:
            lines.append('#   %s <- %s' % (var, needs))
    return '\n'.join(lines) + '\n'


def generate_all(manifest=None):
    """{element: text}."""
    m = _Manifest(manifest)
    return {element: generate(element, m) for element in ELEMENTS}


def out_of_sync(elements_dir=ELEMENTS_DIR, manifest=None):
    """Paths of generated files that differ from what the manifest gives."""
    stale = []
    for element, text in generate_all(manifest).items():
        path = path_for(element, elements_dir)
        try:
            with open(path, encoding='utf-8') as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current != text:
            stale.append(path)
    return stale


def write_all(elements_dir=ELEMENTS_DIR, manifest=None):
    written = []
    for element, text in generate_all(manifest).items():
        path = path_for(element, elements_dir)
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)
        os.chmod(path, 0o644)
        written.append(path)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='python -m magnum_cern_driver.elements_env',
        description=__doc__.split('\n\n')[0])
    parser.add_argument('--write', action='store_true',
                        help='write the files (default: print them)')
    parser.add_argument('--check', action='store_true',
                        help='exit 1 when a file is out of date')
    parser.add_argument('--elements-dir', default=ELEMENTS_DIR)
    parser.add_argument('--manifest', help='another manifest')
    args = parser.parse_args(argv)
    if args.check:
        stale = out_of_sync(args.elements_dir, args.manifest)
        for path in stale:
            sys.stderr.write('out of date: %s\n' % path)
        return 1 if stale else 0
    if args.write:
        for path in write_all(args.elements_dir, args.manifest):
            sys.stdout.write('wrote %s\n' % path)
        return 0
    for element, text in generate_all(args.manifest).items():
        sys.stdout.write('### %s\n%s' % (path_for(element, args.elements_dir),
                                         text))
    return 0


if __name__ == '__main__':
    sys.exit(main())
