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
"""The node supply chain: every external artifact a node or image uses.

``templates/artifacts.yaml`` is the only place where images, charts,
package repositories and URLs are named. :func:`resolve` turns it into
:class:`Artifact` values for one cluster shape (typed labels and the
registry mirror applied); the user data, the elements' defaults, the
``artifacts`` command and the preflight's artifact check all take their
artifacts from there. Nothing here does I/O except reading the packaged
manifest.
"""

import dataclasses
import functools
import importlib.resources
import re

import yaml

KINDS = ('rpm', 'image', 'chart', 'url')

# What a node or an image build may be told to fetch. Every resolved value
# must match: values reach shell scripts on the nodes.
_HOST = r'[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]' \
        r'([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*(:[0-9]{1,5})?'
PATTERNS = {
    'registry': re.compile(_HOST),
    'repository': re.compile(r'[a-z0-9]+([._/-][a-z0-9]+)*'),
    'tag': re.compile(r'[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}'),
    'digest': re.compile(r'(sha256:[0-9a-f]{64})?'),
    'url': re.compile(r'(https?|oci)://' + _HOST +
                      r'(/[A-Za-z0-9._~%:/$+-]*)?'),
    'name': re.compile(r'[A-Za-z0-9][A-Za-z0-9._+-]{0,127}'),
    'version': re.compile(r'[A-Za-z0-9][A-Za-z0-9._+~-]{0,63}'),
    'sha256': re.compile(r'([0-9a-f]{64})?'),
}


class ManifestError(ValueError):
    """The manifest, a label or the mirror gives an impossible artifact."""


@dataclasses.dataclass(frozen=True)
class Artifact:
    """One resolved artifact.

    ``kind`` is one of :data:`KINDS`; ``name`` the manifest key (unique
    within a kind); ``label`` the label or option that chose its version
    or location (None: only the manifest); ``source`` where its existence
    was read upstream. The other fields depend on the kind:

    * image: ``registry``, ``repository``, ``tag``, ``digest`` ('' if not
      pinned); ``ref`` is ``registry/repository:tag[@digest]``.
    * chart: ``url`` (``https://`` repository whose ``index.yaml`` lists
      it, or ``oci://registry/path``), ``chart``, ``version``.
    * rpm: ``repo`` (the repository's name), ``url`` (its base URL, dnf
      variables expanded with :data:`RPM_VARS`), ``gpgkey``, ``package``,
      ``version`` ('' if any).
    * url: ``url``, ``sha256`` ('' if not pinned).
    """

    kind: str
    name: str
    label: str = None
    source: str = ''
    registry: str = ''
    repository: str = ''
    tag: str = ''
    digest: str = ''
    url: str = ''
    chart: str = ''
    version: str = ''
    package: str = ''
    repo: str = ''
    gpgkey: str = ''
    # rpm only: the repository is the distribution's, configured on the
    # image (checked, never written by the nodes)
    on_image: bool = False
    # used only when a node image is built (elements/), not by nodes
    image_build_only: bool = False
    # False: its existence could not be read upstream (see source)
    verified: bool = True
    sha256: str = ''
    # chart only: {values key path: image name} of the images it pulls
    images: tuple = ()

    @property
    def ref(self):
        if self.kind == 'image':
            text = '%s/%s:%s' % (self.registry, self.repository, self.tag)
            return text + ('@' + self.digest if self.digest else '')
        if self.kind == 'chart':
            return '%s %s %s' % (self.url, self.chart, self.version)
        if self.kind == 'rpm':
            pkg = self.package + ('-' + self.version if self.version else '')
            return '%s %s' % (self.url, pkg)
        return self.url

    @property
    def image_repository(self):
        """``registry/repository`` (what a chart's ``repository`` wants)."""
        return '%s/%s' % (self.registry, self.repository)

    def as_dict(self):
        data = {'kind': self.kind, 'name': self.name, 'ref': self.ref,
                'label': self.label, 'source': self.source}
        for field in ('registry', 'repository', 'tag', 'digest', 'url',
                      'chart', 'version', 'package', 'repo', 'gpgkey',
                      'sha256'):
            value = getattr(self, field)
            if value:
                data[field] = value
        if self.images:
            data['images'] = dict(self.images)
        for flag in ('on_image', 'image_build_only'):
            if getattr(self, flag):
                data[flag] = True
        data['verified'] = self.verified
        return data


#: dnf variables in package repository URLs, as the nodes expand them
#: (AlmaLinux 9 on x86_64).
RPM_VARS = {'releasever': '9', 'basearch': 'x86_64'}


@functools.lru_cache(maxsize=None)
def _manifest_text():
    res = importlib.resources.files('magnum_cern_driver') / 'templates'
    return (res / 'artifacts.yaml').read_text(encoding='utf-8')


def load_manifest(path=None):
    """The parsed manifest (a fresh copy): the packaged one, or ``path``.

    ``path`` is for the self-test's ``--artifact-manifest`` (tests, and
    sites that check a manifest of their own before shipping it).
    """
    if path is None:
        text = _manifest_text()
    else:
        with open(path, encoding='utf-8') as f:
            text = f.read()
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or data.get('version') != 1:
        raise ManifestError('%s: expected version: 1'
                            % (path or 'artifacts.yaml'))
    return data


def template_values(labels):
    """Values the manifest's ``{name}`` fields may use, from typed labels.

    Every label is offered under its own name; ``kube_version`` (the
    kube_tag without its v) and ``kube_minor`` (X.Y) are derived.
    """
    values = {name: str(value) for name, value in labels.items()
              if isinstance(value, (str, int)) and
              not isinstance(value, bool)}
    tag = str(labels.get('kube_tag', ''))
    version = tag[1:] if tag.startswith('v') else tag
    values['kube_version'] = version
    values['kube_minor'] = '.'.join(version.split('.')[:2])
    flannel = str(labels.get('flannel_tag', ''))
    values['flannel_version'] = flannel[1:] if flannel.startswith('v') \
        else flannel
    return values


def _fill(text, values, where):
    def sub(match):
        key = match.group(1)
        if key not in values:
            raise ManifestError('%s: unknown value {%s}' % (where, key))
        return values[key]
    return re.sub(r'\{([a-z_]+)\}', sub, str(text))


def _expand_rpm_vars(text):
    for key, value in RPM_VARS.items():
        text = text.replace('$' + key, value)
    return text


def _check(where, field, value):
    if not PATTERNS[field].fullmatch(value):
        raise ManifestError('%s: %s %r is not allowed' % (where, field, value))
    return value


def mirror_image(registry, repository, mirror):
    """``(registry, repository)`` pulled through ``mirror``.

    The mirror is ``host[:port][/path]``: its host replaces the registry,
    its path (if any) is put before the repository, as ``registry_mirror``
    documents.
    """
    if not mirror:
        return registry, repository
    host, _, path = mirror.partition('/')
    if path:
        repository = path.strip('/') + '/' + repository
    return host, repository


def _source(entry, where):
    src = entry.get('source')
    if not src:
        raise ManifestError('%s: no upstream source recorded' % where)
    if isinstance(src, dict):
        return '%s %s @ %s' % (src.get('repo'), src.get('path'),
                               src.get('ref'))
    return str(src)


def _flags(entry):
    return {'verified': entry.get('verified', True) is not False,
            'image_build_only': bool(entry.get('image_build_only'))}


def _image(name, entry, values, mirror):
    where = 'image %s' % name
    registry = _fill(entry['registry'], values, where)
    repository = _fill(entry['repository'], values, where)
    registry, repository = mirror_image(registry, repository, mirror)
    return Artifact(
        kind='image', name=name, label=entry.get('label'),
        source=_source(entry, where), **_flags(entry),
        registry=_check(where, 'registry', registry),
        repository=_check(where, 'repository', repository),
        tag=_check(where, 'tag', _fill(entry['tag'], values, where)),
        digest=_check(where, 'digest', entry.get('digest') or ''))


def _chart(name, entry, values, mirror, image_names):
    where = 'chart %s' % name
    url = _fill(entry['url'], values, where)
    if url.startswith('oci://') and mirror:
        host, _, path = url[len('oci://'):].partition('/')
        mhost, mpath = mirror_image(host, path, mirror)
        url = 'oci://%s/%s' % (mhost, mpath)
    images = []
    for key, image in sorted((entry.get('images') or {}).items()):
        if image not in image_names:
            raise ManifestError('%s: values key %s names unknown image %s'
                                % (where, key, image))
        images.append((key, image))
    return Artifact(
        kind='chart', name=name, label=entry.get('label'),
        source=_source(entry, where), **_flags(entry),
        url=_check(where, 'url', url),
        chart=_check(where, 'name', _fill(entry['chart'], values, where)),
        version=_check(where, 'version',
                       _fill(entry['version'], values, where)),
        images=tuple(images))


def _rpms(repo_name, repo, values):
    where = 'rpm repository %s' % repo_name
    url = _expand_rpm_vars(_fill(repo['baseurl'], values, where))
    gpgkey = _expand_rpm_vars(_fill(repo.get('gpgkey') or '', values, where))
    _check(where, 'url', url)
    if gpgkey:
        _check(where, 'url', gpgkey)
    result = []
    for pkg, spec in sorted((repo.get('packages') or {}).items()):
        spec = spec or {}
        pwhere = '%s package %s' % (where, pkg)
        version = _fill(spec.get('version') or '', values, pwhere)
        if version:
            _check(pwhere, 'version', version)
        result.append(Artifact(
            kind='rpm', name=pkg, label=spec.get('label'),
            source=_source(spec if spec.get('source') else repo, pwhere),
            url=url, package=_check(pwhere, 'name', pkg), version=version,
            repo=_check(where, 'name', repo_name), gpgkey=gpgkey,
            on_image=bool(repo.get('on_image')), **_flags(repo)))
    return result


def _url(name, entry, values):
    where = 'url %s' % name
    return Artifact(
        kind='url', name=name, label=entry.get('label'),
        source=_source(entry, where), **_flags(entry),
        url=_check(where, 'url', _fill(entry['url'], values, where)),
        sha256=_check(where, 'sha256', entry.get('sha256') or ''))


def resolve(labels, mirror='', manifest=None):
    """Every artifact of the manifest for typed ``labels``.

    :param labels: typed label values (:func:`labels.validate`).
    :param mirror: the registry mirror (label ``registry_mirror``, else
        ``[cern_driver] registry_mirror``); '' for the upstream registries.
    :param manifest: path of another manifest (default: the packaged one).
    :returns: list of :class:`Artifact`, in manifest order by kind.
    :raises ManifestError: naming the artifact and the field.
    """
    data = load_manifest(manifest)
    values = template_values(labels)
    result = []
    for repo_name, repo in (data.get('rpm_repositories') or {}).items():
        result.extend(_rpms(repo_name, repo, values))
    images = data.get('images') or {}
    for name, entry in images.items():
        result.append(_image(name, entry, values, mirror))
    for name, entry in (data.get('charts') or {}).items():
        result.append(_chart(name, entry, values, mirror, images))
    for name, entry in (data.get('urls') or {}).items():
        result.append(_url(name, entry, values))
    return result


def for_nodes(artifacts):
    """The artifacts a booting node uses (not those of image builds)."""
    return [a for a in artifacts if not a.image_build_only]


def by_name(artifacts):
    """{(kind, name): Artifact}."""
    return {(a.kind, a.name): a for a in artifacts}
