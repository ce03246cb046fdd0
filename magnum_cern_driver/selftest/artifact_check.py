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
"""The artifact check: does every artifact a node fetches exist, now?

Before anything is created the preflight asks the servers themselves, as
a node would (anonymously, through the proxies of this environment):

* an image: ``HEAD /v2/<repository>/manifests/<tag or digest>`` with the
  OCI and Docker manifest media types, following the anonymous Bearer
  token flow when the registry answers 401;
* a chart: ``<url>/index.yaml`` lists the version (https repositories),
  or the same manifest request on ``<path>/<chart>:<version>`` (oci://);
* a package: the repository's ``repodata/repomd.xml`` names its primary
  metadata, which lists the package and version (read once per
  repository and check);
* a URL: ``HEAD`` (``GET`` when HEAD is refused), nothing downloaded; a
  pinned sha256 is verified on the node.

Every artifact is checked in parallel (a bounded pool of threads), every
request has a timeout, and the whole check has a deadline: what has not
answered by then fails with "no answer within N s". Registries on a
loopback address are spoken to over http, every other one over https.
Nothing here prints a token or a credential: messages hold the status,
the server's error code or the connection error.
"""

import bz2
import dataclasses
import ipaddress
import json
import lzma
import queue
import re
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
import zlib

import requests
import yaml

try:
    import zstandard
except ImportError:     # optional: only for zstd-compressed repodata
    zstandard = None

CHECK_NAME = 'node artifacts'
DEFAULT_TIMEOUT = 60.0
# One request never waits longer than this (nor past the deadline).
REQUEST_TIMEOUT = 20.0
WORKERS = 8
# Metadata larger than this is not read (index.yaml, primary.xml).
MAX_METADATA_BYTES = 512 * 1024 * 1024
CHUNK = 256 * 1024

MANIFEST_TYPES = (
    'application/vnd.oci.image.index.v1+json',
    'application/vnd.oci.image.manifest.v1+json',
    'application/vnd.docker.distribution.manifest.list.v2+json',
    'application/vnd.docker.distribution.manifest.v2+json',
)
ACCEPT = ', '.join(MANIFEST_TYPES)

REPO_NS = '{http://linux.duke.edu/metadata/repo}'
COMMON_NS = '{http://linux.duke.edu/metadata/common}'

REHEARSAL_REASON = 'the rehearsal has no network: artifacts not checked'
SKIPPED_REASON = ('skipped on request (--skip-artifact-check): the images, '
                  'charts, packages and URLs the nodes fetch were not '
                  'checked')

# Answers that say nothing about the artifact, only about the way there.
UNREACHABLE = ('cannot reach ', 'no answer within ')

_KIND_WORDS = {'image': ('image', 'images'), 'chart': ('chart', 'charts'),
               'rpm': ('package', 'packages'), 'url': ('URL', 'URLs')}


class Missing(Exception):
    """The artifact is not there; str() is the server's answer."""


@dataclasses.dataclass
class Result(object):
    """What the check found for one artifact."""

    artifact: object
    ok: bool
    message: str
    seconds: float = 0.0

    def as_dict(self):
        data = self.artifact.as_dict()
        data.update({'ok': self.ok, 'message': self.message,
                     'seconds': round(self.seconds, 3)})
        return data


# -- pure helpers ------------------------------------------------------------

_PARAM = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*'
                    r'("(?:[^"\\]|\\.)*"|[^,\s]*)\s*,?')


def parse_challenge(header):
    """``WWW-Authenticate`` -> ``(scheme lower-cased, {param: value})``.

    Quoted values may hold commas (``scope="repository:a:pull,push"``).
    ``('', {})`` when there is no challenge.
    """
    header = (header or '').strip()
    if not header:
        return '', {}
    scheme, _, rest = header.partition(' ')
    params = {}
    pos = 0
    while pos < len(rest):
        m = _PARAM.match(rest, pos)
        if not m:
            break
        value = m.group(2)
        if value.startswith('"') and value.endswith('"') and \
                len(value) >= 2:
            value = re.sub(r'\\(.)', r'\1', value[1:-1])
        params[m.group(1).lower()] = value
        pos = m.end()
    return scheme.lower(), params


def is_loopback(host):
    """True for localhost, 127.0.0.0/8 and ::1 (``host[:port]``)."""
    name = host
    if name.startswith('['):
        name = name[1:].partition(']')[0]
    elif name.count(':') == 1:
        name = name.rsplit(':', 1)[0]
    if name == 'localhost':
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def registry_base(registry):
    """Base URL of a registry: http on loopback, https anywhere else.

    ``docker.io`` is served by ``registry-1.docker.io``, as containerd
    knows.
    """
    if registry in ('docker.io', 'index.docker.io'):
        registry = 'registry-1.docker.io'
    scheme = 'http' if is_loopback(registry) else 'https'
    return '%s://%s' % (scheme, registry)


def api_repository(registry, repository):
    """Docker Hub's official images live under ``library/``."""
    if registry in ('docker.io', 'index.docker.io') and \
            '/' not in repository:
        return 'library/' + repository
    return repository


def manifest_path(repository, reference):
    return '/v2/%s/manifests/%s' % (repository, reference)


def oci_chart_ref(url, chart, version):
    """``(registry, repository, tag)`` of an ``oci://`` chart.

    Helm stores a chart at ``<path>/<chart>:<version>``, with ``+`` in the
    version written ``_`` (tags cannot hold ``+``).
    """
    rest = url[len('oci://'):] if url.startswith('oci://') else url
    registry, _, path = rest.partition('/')
    path = path.strip('/')
    repository = '%s/%s' % (path, chart) if path else chart
    return registry, repository, version.replace('+', '_')


def _version_key(text):
    parts = re.split(r'[^A-Za-z0-9]+', str(text).lstrip('vV'))
    key = []
    for p in parts:
        for piece in re.findall(r'\d+|[A-Za-z]+', p):
            key.append((1, int(piece), '') if piece.isdigit()
                       else (0, 0, piece))
    return tuple(key)


def newest(versions, count=3):
    """The ``count`` highest of ``versions`` (newest first), unique."""
    return sorted(set(str(v) for v in versions), key=_version_key,
                  reverse=True)[:count]


def chart_version_matches(want, have):
    """Helm reads versions as SemVer: a leading ``v`` does not matter."""
    want, have = str(want), str(have)
    return want == have or want.lstrip('vV') == have.lstrip('vV')


def index_versions(index, chart):
    """Versions of ``chart`` in a parsed Helm ``index.yaml``, or None.

    :raises Missing: when the document is not a chart repository index.
    """
    if not isinstance(index, dict) or not isinstance(
            index.get('entries'), dict):
        raise Missing('index.yaml has no entries: not a Helm chart '
                      'repository')
    entries = index['entries'].get(chart)
    if entries is None:
        return None
    return [str(e.get('version')) for e in entries or ()
            if isinstance(e, dict) and e.get('version') is not None]


def check_index(index, chart, version):
    """Raise :class:`Missing` unless ``index`` lists chart ``version``."""
    versions = index_versions(index, chart)
    if versions is None:
        raise Missing('chart %s not in index.yaml' % chart)
    if any(chart_version_matches(version, v) for v in versions):
        return 'version %s listed in index.yaml' % version
    latest = newest(versions)
    raise Missing('version %s not in index.yaml (%s)' % (
        version, 'newest listed: %s' % ', '.join(latest) if latest
        else 'no versions listed'))


def parse_repomd(data):
    """The ``href`` of the primary metadata in ``repomd.xml`` bytes.

    :raises Missing: when it is not repository metadata or names no
        primary.
    """
    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        raise Missing('repodata/repomd.xml is not XML (%s)' % e)
    for node in root.iter():
        if node.tag in (REPO_NS + 'data', 'data') and \
                node.get('type') == 'primary':
            loc = node.find(REPO_NS + 'location')
            if loc is None:
                loc = node.find('location')
            if loc is not None and loc.get('href'):
                base = loc.get('{http://www.w3.org/XML/1998/namespace}base')
                return (base.rstrip('/') + '/' if base else '') + \
                    loc.get('href')
    raise Missing('repodata/repomd.xml names no primary metadata')


class _Identity(object):
    def decompress(self, data):
        return data


def decompressor(href):
    """An object with ``decompress(bytes)`` for the metadata file ``href``.

    :raises Missing: zstd without the ``zstandard`` module.
    """
    name = href.rsplit('/', 1)[-1].lower()
    if name.endswith('.gz'):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if name.endswith('.xz'):
        return lzma.LZMADecompressor()
    if name.endswith('.bz2'):
        return bz2.BZ2Decompressor()
    if name.endswith('.zst') or name.endswith('.zstd'):
        if zstandard is None:
            raise Missing('%s is zstd-compressed and the Python module '
                          'zstandard is not installed here: cannot read '
                          'it (pip install zstandard)' % name)
        return zstandard.ZstdDecompressor().decompressobj()
    if name.endswith('.xml'):
        return _Identity()
    raise Missing('%s: unknown compression' % name)


def parse_primary(chunks, href, names):
    """Versions of the packages ``names`` in primary metadata.

    :param chunks: iterable of the compressed file's bytes.
    :param href: its name (chooses the decompression).
    :returns: ``{name: [(epoch, ver, rel)]}`` for the names found.
    """
    names = set(names)
    dec = decompressor(href)
    parser = ET.XMLPullParser(events=('end',))
    found = {}
    pkg_tag = COMMON_NS + 'package'

    def events():
        for _event, elem in parser.read_events():
            if elem.tag != pkg_tag:
                continue
            name = elem.findtext(COMMON_NS + 'name')
            if name in names:
                v = elem.find(COMMON_NS + 'version')
                if v is not None:
                    found.setdefault(name, []).append(
                        (v.get('epoch') or '0', v.get('ver') or '',
                         v.get('rel') or ''))
            elem.clear()
    try:
        for chunk in chunks:
            parser.feed(dec.decompress(chunk))
            events()
        parser.close()
        events()
    except ET.ParseError as e:
        raise Missing('%s is not readable XML (%s)' % (href, e))
    except (OSError, EOFError, zlib.error, lzma.LZMAError) as e:
        raise Missing('%s cannot be decompressed (%s)' % (href, e))
    return found


def rpm_version_matches(want, evr):
    """``want`` ('' any, 'ver', 'ver-rel' or 'epoch:ver-rel') vs evr."""
    epoch, ver, rel = evr
    if not want:
        return True
    return want in (ver, '%s-%s' % (ver, rel),
                    '%s:%s-%s' % (epoch, ver, rel), '%s:%s' % (epoch, ver))


def check_package(found, package, version):
    """Raise :class:`Missing` unless ``found`` has the package version."""
    evrs = found.get(package)
    if not evrs:
        raise Missing('package %s not in the repository' % package)
    for evr in evrs:
        if rpm_version_matches(version, evr):
            return '%s-%s-%s found' % (package, evr[1], evr[2])
    latest = newest(['%s-%s' % (e[1], e[2]) for e in evrs])
    raise Missing('%s version %s not in the repository (newest: %s)'
                  % (package, version, ', '.join(latest)))


def error_text(exc):
    """A short, credential-free text of a requests exception."""
    text = str(exc)
    if isinstance(exc, requests.exceptions.SSLError) or \
            'CERTIFICATE_VERIFY_FAILED' in text:
        m = re.search(r'certificate verify failed: ([^(\'")]+)', text)
        return 'TLS error: %s' % (m.group(1).strip() if m else
                                  'certificate not trusted')
    m = re.search(r'\[Errno (-?\d+)\] ([^\'")]+)', text)
    if m:
        return '[Errno %s] %s' % (m.group(1), m.group(2).strip())
    for needle in ('Connection refused', 'Name or service not known',
                   'Temporary failure in name resolution',
                   'Connection reset by peer', 'Remote end closed'):
        if needle in text:
            return needle
    return re.sub(r'<[^>]*object at 0x[0-9a-f]+>', '',
                  text.split('(Caused by')[0]).strip()[:200] or \
        type(exc).__name__


def describe(artifact, labels=None):
    """One artifact, for a human: kind, name, reference, the label."""
    a = artifact
    if a.kind == 'image':
        text = 'image %s %s' % (a.name, a.ref)
    elif a.kind == 'chart':
        text = 'chart %s %s from %s' % (a.chart, a.version, a.url)
    elif a.kind == 'rpm':
        text = 'package %s%s from %s' % (
            a.package, ' ' + a.version if a.version else '', a.url)
    else:
        text = 'url %s %s' % (a.name, a.url)
    if a.label:
        value = (labels or {}).get(a.label)
        if value is None or value == '':
            text += ' (label %s)' % a.label
        else:
            text += ' (label %s=%s)' % (a.label, value)
    return text


def _count_words(artifacts):
    counts = {}
    for a in artifacts:
        counts[a.kind] = counts.get(a.kind, 0) + 1
    parts = []
    for kind in ('image', 'chart', 'rpm', 'url'):
        n = counts.get(kind)
        if n:
            one, many = _KIND_WORDS[kind]
            parts.append('%d %s' % (n, one if n == 1 else many))
    return ', '.join(parts)


def summarize(results, labels=None, seconds=None):
    """The preflight check of ``results`` (``{'name', 'ok', ...}``).

    Severity error when anything is missing; the message names each
    missing artifact, the label that chose it and the server's answer.
    """
    bad = [r for r in results if not r.ok]
    took = '' if seconds is None else ' in %.1f s' % seconds
    if not results:
        return {'name': CHECK_NAME, 'ok': True, 'severity': 'info',
                'skipped': True, 'message': 'the manifest resolves to no '
                'artifact: nothing to check'}
    if not bad:
        return {'name': CHECK_NAME, 'ok': True, 'severity': 'error',
                'skipped': False, 'message': 'all %d found (%s)%s' % (
                    len(results), _count_words(
                        [r.artifact for r in results]), took)}
    # One answer shared by several artifacts (a server down) is said once.
    groups = {}
    for r in bad:
        groups.setdefault(r.message, []).append(describe(r.artifact, labels))
    items = []
    for answer, names in groups.items():
        if len(names) == 1:
            items.append('%s: %s' % (names[0], answer))
        else:
            items.append('%s: %s' % (answer, ', '.join(names)))
    message = '%d of %d missing or not answering%s: %s' % (
        len(bad), len(results), took, '; '.join(items))
    if len(bad) == len(results) and all(
            r.message.startswith(UNREACHABLE) for r in bad):
        message += ('. Nothing answered: is this machine on the nodes\' '
                    'network and behind their proxy? (--skip-artifact-check '
                    'for air-gapped clouds)')
    return {'name': CHECK_NAME, 'ok': False, 'severity': 'error',
            'skipped': False, 'message': message}


def skipped_check(reason, severity='info'):
    return {'name': CHECK_NAME, 'ok': True, 'severity': severity,
            'skipped': True, 'message': reason}


def failed_check(reason):
    return {'name': CHECK_NAME, 'ok': False, 'severity': 'error',
            'skipped': False, 'message': reason}


# -- the checker -------------------------------------------------------------

class Checker(object):
    """Check artifacts against their servers within ``timeout`` seconds.

    :param timeout: the deadline of the whole check (seconds).
    :param workers: threads at most.
    :param request_timeout: one request at most (also bounded by the
        deadline).
    """

    def __init__(self, timeout=DEFAULT_TIMEOUT, workers=WORKERS,
                 request_timeout=REQUEST_TIMEOUT, clock=time.monotonic):
        self.timeout = float(timeout)
        self.workers = workers
        self.request_timeout = request_timeout
        self.clock = clock
        self.deadline = None
        self._local = threading.local()
        self._lock = threading.Lock()
        self._repo_locks = {}
        self._repos = {}
        self._wanted = {}

    # -- HTTP ------------------------------------------------------------
    def _session(self):
        s = getattr(self._local, 'session', None)
        if s is None:
            s = self._local.session = requests.Session()
            s.headers['User-Agent'] = 'magnum-cern-selftest artifact check'
        return s

    def _left(self):
        return self.deadline - self.clock()

    def _request(self, method, url, headers=None, params=None,
                 stream=False):
        left = self._left()
        if left <= 0:
            raise Missing(self._no_answer())
        wait = max(0.2, min(self.request_timeout, left))
        try:
            return self._session().request(
                method, url, headers=headers, params=params,
                timeout=(wait, wait), stream=stream, allow_redirects=True)
        except requests.exceptions.Timeout:
            # Cut short by the deadline, or a request on its own too slow.
            raise Missing(self._no_answer(
                None if left <= self.request_timeout else wait))
        except requests.exceptions.RequestException as e:
            host = urllib.parse.urlsplit(url).netloc
            raise Missing('cannot reach %s: %s' % (host, error_text(e)))

    def _no_answer(self, wait=None):
        if wait is None:
            return 'no answer within %g s' % self.timeout
        return 'no answer within %g s (one request)' % wait

    def _read(self, resp, what):
        """The body of a streamed response, within the deadline."""
        return b''.join(self._chunks(resp, what))

    def _chunks(self, resp, what):
        size = 0
        try:
            for chunk in resp.iter_content(CHUNK):
                size += len(chunk)
                if size > MAX_METADATA_BYTES:
                    raise Missing('%s is larger than %d MB: not read'
                                  % (what, MAX_METADATA_BYTES >> 20))
                if self._left() <= 0:
                    raise Missing(self._no_answer())
                yield chunk
        except requests.exceptions.RequestException as e:
            raise Missing('reading %s: %s' % (what, error_text(e)))
        finally:
            resp.close()

    # -- registries --------------------------------------------------------
    def _token(self, params, repository):
        realm = params.get('realm')
        if not realm:
            raise Missing('registry asks for a token but names no realm')
        query = {'scope': params.get('scope') or
                 'repository:%s:pull' % repository}
        if params.get('service'):
            query['service'] = params['service']
        key = ('token', realm, query.get('service'), query['scope'])
        return self._cached(key, lambda: self._fetch_token(realm, query))

    def _fetch_token(self, realm, query):
        where = urllib.parse.urlsplit(realm).netloc
        resp = self._request('GET', realm, params=query)
        status = resp.status_code
        try:
            body = resp.json() if status == 200 else {}
            token = body.get('token') or body.get('access_token')
        except (ValueError, AttributeError):
            token = None
        finally:
            resp.close()
        if status != 200:
            raise Missing('token service %s answered HTTP %d'
                          % (where, status))
        if not token or not isinstance(token, str):
            raise Missing('token service %s gave no token' % where)
        return token

    def _registry(self, method, registry, repository, reference):
        repository = api_repository(registry, repository)
        url = registry_base(registry) + manifest_path(repository,
                                                      reference)
        headers = {'Accept': ACCEPT}
        resp = self._request(method, url, headers=headers)
        if resp.status_code == 401:
            scheme, params = parse_challenge(
                resp.headers.get('WWW-Authenticate'))
            resp.close()
            if scheme != 'bearer':
                raise Missing('%s asks for credentials (%s): no anonymous '
                              'pull' % (registry, scheme or 'HTTP 401'))
            token = self._token(params, repository)
            headers = dict(headers, Authorization='Bearer ' + token)
            resp = self._request(method, url, headers=headers)
            if resp.status_code == 401:
                resp.close()
                raise Missing('HTTP 401 with an anonymous token: private '
                              'repository or credentials needed')
        return resp

    def manifest(self, registry, repository, reference, what=None):
        """Message if the manifest exists, else raise :class:`Missing`."""
        what = what or ('digest' if reference.startswith('sha256:')
                        else 'tag')
        resp = self._registry('HEAD', registry, repository, reference)
        if resp.status_code == 405:
            resp.close()
            resp = self._registry('GET', registry, repository, reference)
        status = resp.status_code
        digest = resp.headers.get('Docker-Content-Digest')
        resp.close()
        if status == 200:
            return 'manifest found (%s)' % (digest or 'HTTP 200')
        if status == 404:
            code = self._error_code(registry, repository, reference)
            if code == 'NAME_UNKNOWN':
                raise Missing('repository %s not found (HTTP 404 %s)'
                              % (repository, code))
            raise Missing('%s %s not found (HTTP 404%s)' % (
                what, reference, ' ' + code if code else ''))
        raise Missing('HTTP %d for the manifest' % status)

    def _error_code(self, registry, repository, reference):
        """The registry's error code for a missing manifest, or ''."""
        try:
            resp = self._registry('GET', registry, repository, reference)
            body = self._read(resp, 'the error') if resp.status_code == 404 \
                else b''
            errors = json.loads(body or b'{}') or {}
            return str(((errors.get('errors') or [{}])[0]).get('code')
                       or '')
        except Exception:
            return ''

    # -- the kinds -----------------------------------------------------------
    def image(self, a):
        return self.manifest(a.registry, a.repository, a.digest or a.tag)

    def chart(self, a):
        if a.url.startswith('oci://'):
            registry, repository, tag = oci_chart_ref(a.url, a.chart,
                                                      a.version)
            return self.manifest(registry, repository, tag,
                                 what='version')
        url = a.url.rstrip('/') + '/index.yaml'
        index = self._cached(('index', url), lambda: self._index(url))
        return check_index(index, a.chart, a.version)

    def _index(self, url):
        resp = self._request('GET', url, stream=True)
        if resp.status_code != 200:
            resp.close()
            raise Missing('index.yaml: HTTP %d' % resp.status_code)
        body = self._read(resp, 'index.yaml')
        loader = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)
        try:
            return yaml.load(body, Loader=loader)
        except yaml.YAMLError as e:
            raise Missing('index.yaml is not YAML (%s)'
                          % ' '.join(str(e).split())[:100])

    def rpm(self, a):
        found = self._cached(('rpm', a.url), lambda: self._repo(a.url))
        return check_package(found, a.package, a.version)

    def _repo(self, base):
        base = base.rstrip('/') + '/'
        resp = self._request('GET', base + 'repodata/repomd.xml',
                             stream=True)
        if resp.status_code != 200:
            resp.close()
            raise Missing('repodata/repomd.xml: HTTP %d' % resp.status_code)
        href = parse_repomd(self._read(resp, 'repodata/repomd.xml'))
        url = urllib.parse.urljoin(base, href)
        resp = self._request('GET', url, stream=True)
        if resp.status_code != 200:
            resp.close()
            raise Missing('%s: HTTP %d' % (href, resp.status_code))
        return parse_primary(self._chunks(resp, href), href,
                             self._wanted.get(base.rstrip('/'), ()))

    def url(self, a):
        if not a.url.startswith(('http://', 'https://')):
            raise Missing('only http(s) URLs can be checked')
        resp = self._request('HEAD', a.url)
        if resp.status_code in (405, 501):
            resp.close()
            resp = self._request('GET', a.url, stream=True)
        status = resp.status_code
        length = resp.headers.get('Content-Length')
        resp.close()
        if not 200 <= status < 300:
            raise Missing('HTTP %d' % status)
        size = ''
        if length and length.isdigit():
            size = ', %.1f MB' % (int(length) / 1e6)
        pinned = 'no sha256 pinned'
        if a.sha256:
            pinned = self._published_sha256(a)
        return 'found (HTTP %d%s); %s' % (status, size, pinned)

    def _published_sha256(self, a):
        """Compare the pinned SHA-256 with the one published beside the URL.

        Release sites publish ``<url>.sha256sum`` (``<hex>  <file>``) or
        ``<url>.sha256`` (the hex alone): helm/helm Makefile, checksum
        target. A mismatch fails the check; none published is said.
        """
        for suffix in ('.sha256sum', '.sha256'):
            resp = self._request('GET', a.url + suffix, stream=True)
            if resp.status_code != 200:
                resp.close()
                continue
            words = self._read(resp, 'checksum')[:4096].decode(
                'ascii', 'replace').split()
            published = words[0].lower() if words else ''
            if published != a.sha256:
                raise Missing('the pinned sha256 differs from the one '
                              'published at %s%s' % (a.url, suffix))
            return 'sha256 pinned, equal to the published %s' % suffix
        return ('sha256 pinned (none published beside it): verified on the '
                'node')

    def _cached(self, key, fetch):
        """``fetch()`` once per key within this check (errors too)."""
        with self._lock:
            lock = self._repo_locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._repos:
                try:
                    self._repos[key] = (True, fetch())
                except Missing as e:
                    self._repos[key] = (False, e)
            ok, value = self._repos[key]
        if not ok:
            raise Missing(str(value))
        return value

    def one(self, artifact):
        start = self.clock()
        try:
            message = getattr(self, artifact.kind)(artifact)
            ok = True
        except Missing as e:
            ok, message = False, str(e)
        except Exception as e:  # noqa: a bug must not hang the preflight
            ok, message = False, 'check failed: %s: %s' % (
                type(e).__name__, error_text(e))
        return Result(artifact, ok, message, self.clock() - start)

    def check(self, artifacts):
        """A :class:`Result` per artifact, in order, within the deadline."""
        artifacts = list(artifacts)
        self.deadline = self.clock() + self.timeout
        for a in artifacts:
            if a.kind == 'rpm':
                key = a.url.rstrip('/')
                self._wanted.setdefault(key, set()).add(a.package)
        todo = queue.Queue()
        for item in enumerate(artifacts):
            todo.put(item)
        results = [None] * len(artifacts)
        cond = threading.Condition()

        def work():
            while True:
                try:
                    i, a = todo.get_nowait()
                except queue.Empty:
                    return
                if self._left() <= 0:
                    return
                res = self.one(a)
                with cond:
                    results[i] = res
                    cond.notify_all()

        for n in range(min(self.workers, len(artifacts))):
            # Daemons: a server that never answers must not keep the
            # process alive after the deadline.
            t = threading.Thread(target=work, daemon=True,
                                 name='artifact-check-%d' % n)
            t.start()
        with cond:
            while any(r is None for r in results):
                left = self._left()
                if left <= 0:
                    break
                cond.wait(left)
            final = list(results)
        return [r if r is not None else
                Result(a, False, 'no answer within %g s' % self.timeout,
                       self.timeout)
                for r, a in zip(final, artifacts)]


def run(artifacts, labels=None, timeout=DEFAULT_TIMEOUT, checker=None):
    """Check ``artifacts``; ``(preflight check dict, [Result])``."""
    checker = checker or Checker(timeout=timeout)
    start = time.monotonic()
    results = checker.check(artifacts)
    return summarize(results, labels, time.monotonic() - start), results


def preflight_check(labels, mirror=None, manifest=None,
                    timeout=DEFAULT_TIMEOUT, skip=False, rehearsal=False):
    """The artifact check of the preflight, for string labels.

    :param labels: the cluster's labels (strings; the template's with the
        command line's over them), typed with the driver's label schema.
    :param mirror: the registry mirror (default: label registry_mirror).
    :returns: ``(check dict, [Result])``.
    """
    if skip:
        return skipped_check(SKIPPED_REASON, severity='warning'), []
    if rehearsal:
        return skipped_check(REHEARSAL_REASON), []
    from magnum_cern_driver import artifacts as artifacts_mod
    from magnum_cern_driver import labels as labels_mod
    try:
        typed = labels_mod.validate(labels or {}, unknown='warn')
    except labels_mod.InvalidLabel as e:
        return failed_check('labels: %s' % e), []
    if mirror is None:
        mirror = typed.get('registry_mirror') or ''
    try:
        resolved = artifacts_mod.resolve(typed, mirror=mirror,
                                         manifest=manifest)
    except (artifacts_mod.ManifestError, OSError, yaml.YAMLError,
            KeyError, TypeError) as e:
        return failed_check('artifact manifest %s: %s' % (
            manifest or '(packaged)', ' '.join(str(e).split()))), []
    return run(resolved, typed, timeout=timeout)
