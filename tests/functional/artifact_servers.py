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
"""Real artifact servers on 127.0.0.1 for the artifact check's tests.

* :class:`Registry`: the CNCF distribution registry (Debian package
  ``docker-registry``), open or behind :class:`TokenServer` (its token
  auth: RS256 JWTs whose ``x5c`` certificate is the registry's
  ``rootcertbundle``); images and OCI charts are pushed with its HTTP API.
* :class:`Nginx`: a private nginx serving a directory: RPM repositories
  (``rpmbuild`` packages, ``createrepo_c`` metadata), Helm ``index.yaml``
  files, plain files.
* :class:`SlowServer`: accepts connections and never answers.

Processes run in their own session and are stopped by the pid recorded
at start. A missing tool fails the test with the package to install
(``tools/setup.sh`` installs them).
"""

import base64
import datetime
import gzip
import hashlib
import http.server
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.parse
import uuid

from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography import x509
from cryptography.x509.oid import NameOID
import requests

LOOPBACK = '127.0.0.1'

TOOLS = {
    'docker-registry': 'docker-registry',
    'nginx': 'nginx',
    'rpmbuild': 'rpm',
    'createrepo_c': 'createrepo-c',
}


def find_tool(name):
    """Path of ``name``; AssertionError naming the Debian package."""
    path = shutil.which(name)
    if not path:
        for d in ('/usr/sbin', '/usr/bin', '/sbin'):
            if os.access(os.path.join(d, name), os.X_OK):
                path = os.path.join(d, name)
                break
    if not path:
        raise AssertionError(
            '%s is not installed: install the Debian package %s (tools/'
            'setup.sh does)' % (name, TOOLS.get(name, name)))
    return path


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def _wait(check, timeout, what, proc=None, log=None):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.popen.poll() is not None:
            break
        try:
            if check():
                return
        except (OSError, requests.RequestException) as e:
            last = e
        time.sleep(0.1)
    tail = ''
    if log:
        try:
            with open(log, errors='replace') as f:
                tail = f.read()[-1500:]
        except OSError:
            pass
    raise AssertionError('%s did not come up: %s\n%s' % (what, last, tail))


class Proc(object):
    """A child process in its own session, stopped by its recorded pid."""

    def __init__(self, argv, log):
        self.argv = list(argv)
        self.log = log
        self.popen = None
        self.pid = None

    def start(self):
        with open(self.log, 'ab') as out:
            self.popen = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
                close_fds=True)
        self.pid = self.popen.pid
        return self

    def stop(self, grace=5.0):
        if self.pid is None:
            return
        pid, self.pid = self.pid, None
        if self.popen.poll() is not None:
            return
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.popen.wait(timeout=grace)


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode('ascii')


# -- the token server --------------------------------------------------------

class TokenServer(object):
    """The registry token service: anonymous pull tokens, RS256 JWTs.

    ``rootcertbundle`` is the certificate the registry trusts; every token
    carries it in its ``x5c`` header. ``requests`` records the query of
    every token request.
    """

    def __init__(self, workdir, service='artifact-test-registry',
                 issuer='artifact-test-issuer'):
        self.service = service
        self.issuer = issuer
        self.key = rsa.generate_private_key(public_exponent=65537,
                                            key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                             'artifact-test-token')])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name)
                .issuer_name(name).public_key(self.key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True,
                                                     path_length=None),
                               critical=True)
                .sign(self.key, hashes.SHA256()))
        self.cert_der = cert.public_bytes(serialization.Encoding.DER)
        self.rootcertbundle = os.path.join(workdir, 'token-root.pem')
        with open(self.rootcertbundle, 'wb') as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        self.requests = []
        self.issued = []
        self.port = free_port()
        self.realm = 'http://%s:%d/token' % (LOOPBACK, self.port)
        self._server = None

    def mint(self, access):
        """A signed token granting ``[(repository, [actions])]``."""
        now = int(time.time())
        header = {'typ': 'JWT', 'alg': 'RS256',
                  'x5c': [base64.b64encode(self.cert_der).decode('ascii')]}
        claims = {'iss': self.issuer, 'sub': '', 'aud': self.service,
                  'exp': now + 600, 'nbf': now - 10, 'iat': now,
                  'jti': uuid.uuid4().hex,
                  'access': [{'type': 'repository', 'name': name,
                              'actions': list(actions)}
                             for name, actions in access]}
        signing = '%s.%s' % (
            _b64url(json.dumps(header, separators=(',', ':')).encode()),
            _b64url(json.dumps(claims, separators=(',', ':')).encode()))
        sig = self.key.sign(signing.encode('ascii'), padding.PKCS1v15(),
                            hashes.SHA256())
        token = '%s.%s' % (signing, _b64url(sig))
        self.issued.append(token)
        return token

    def _grant(self, query):
        """Anonymous users get pull on what they ask for, nothing else."""
        access = []
        for scope in query.get('scope', []):
            parts = scope.split(':')
            if len(parts) >= 3 and parts[0] == 'repository':
                actions = [a for a in parts[-1].split(',') if a == 'pull']
                access.append((':'.join(parts[1:-1]), actions))
        return self.mint(access)

    def start(self):
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                owner.requests.append(query)
                if url.path != '/token' or \
                        query.get('service') != [owner.service]:
                    self.send_response(400)
                    self.end_headers()
                    return
                body = json.dumps({'token': owner._grant(query),
                                   'expires_in': 600}).encode()
                self.send_response(200)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(
            (LOOPBACK, self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True,
                         name='token-server').start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


# -- the registry ------------------------------------------------------------

REGISTRY_CONF = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %(storage)s
  delete:
    enabled: true
http:
  addr: %(host)s:%(port)d
  secret: artifact-check-functional-test
%(auth)s"""

TOKEN_AUTH = """\
auth:
  token:
    realm: %(realm)s
    service: %(service)s
    issuer: %(issuer)s
    rootcertbundle: %(bundle)s
"""


class Registry(object):
    """A distribution registry on 127.0.0.1 (``token``: a TokenServer)."""

    def __init__(self, workdir, token=None):
        self.workdir = tempfile.mkdtemp(prefix='registry-', dir=workdir)
        self.token = token
        self.port = free_port()
        self.host = '%s:%d' % (LOOPBACK, self.port)
        self.base = 'http://%s' % self.host
        self.proc = None

    def start(self):
        binary = find_tool('docker-registry')
        auth = ''
        if self.token is not None:
            auth = TOKEN_AUTH % {'realm': self.token.realm,
                                 'service': self.token.service,
                                 'issuer': self.token.issuer,
                                 'bundle': self.token.rootcertbundle}
        conf = os.path.join(self.workdir, 'config.yml')
        with open(conf, 'w') as f:
            f.write(REGISTRY_CONF % {
                'storage': os.path.join(self.workdir, 'storage'),
                'host': LOOPBACK, 'port': self.port, 'auth': auth})
        log = os.path.join(self.workdir, 'registry.log')
        self.proc = Proc([binary, 'serve', conf], log).start()
        _wait(lambda: requests.get(self.base + '/v2/', timeout=1)
              .status_code in (200, 401), 20, 'docker-registry',
              self.proc, log)
        return self

    def stop(self):
        if self.proc is not None:
            self.proc.stop()

    def _headers(self, repository, extra=None):
        headers = dict(extra or {})
        if self.token is not None:
            headers['Authorization'] = 'Bearer ' + self.token.mint(
                [(repository, ['pull', 'push'])])
        return headers

    def put_blob(self, repository, data):
        digest = 'sha256:' + hashlib.sha256(data).hexdigest()
        resp = requests.post('%s/v2/%s/blobs/uploads/' % (
            self.base, repository), headers=self._headers(repository),
            timeout=10)
        assert resp.status_code == 202, (resp.status_code, resp.text)
        location = urllib.parse.urljoin(self.base + '/',
                                        resp.headers['Location'])
        sep = '&' if '?' in location else '?'
        resp = requests.put(
            location + sep + urllib.parse.urlencode({'digest': digest}),
            data=data, headers=self._headers(repository, {
                'Content-Type': 'application/octet-stream'}), timeout=10)
        assert resp.status_code == 201, (resp.status_code, resp.text)
        return {'digest': digest, 'size': len(data)}

    def put_manifest(self, repository, reference, manifest, media_type):
        body = json.dumps(manifest, indent=2).encode()
        resp = requests.put('%s/v2/%s/manifests/%s' % (
            self.base, repository, reference), data=body,
            headers=self._headers(repository, {'Content-Type': media_type}),
            timeout=10)
        assert resp.status_code == 201, (resp.status_code, resp.text)
        return resp.headers.get('Docker-Content-Digest') or \
            'sha256:' + hashlib.sha256(body).hexdigest()

    def push_image(self, repository, tag):
        """A one-layer image (Docker schema 2); returns its digest."""
        layer = _targz({'hello.txt': ('%s:%s\n' % (repository, tag))
                        .encode()})
        diff_id = 'sha256:' + hashlib.sha256(gzip.decompress(layer)) \
            .hexdigest()
        config = json.dumps({
            'architecture': 'amd64', 'os': 'linux',
            'config': {'Cmd': ['/hello']},
            'rootfs': {'type': 'layers', 'diff_ids': [diff_id]}}).encode()
        cfg = self.put_blob(repository, config)
        lay = self.put_blob(repository, layer)
        manifest = {
            'schemaVersion': 2,
            'mediaType':
                'application/vnd.docker.distribution.manifest.v2+json',
            'config': dict(cfg, mediaType='application/vnd.docker.'
                           'container.image.v1+json'),
            'layers': [dict(lay, mediaType='application/vnd.docker.'
                            'image.rootfs.diff.tar.gzip')]}
        return self.put_manifest(repository, tag, manifest,
                                 manifest['mediaType'])

    def push_chart(self, repository, name, version):
        """A Helm chart as Helm pushes it (OCI manifest, tag + -> _)."""
        chart = _targz({'%s/Chart.yaml' % name: (
            'apiVersion: v2\nname: %s\nversion: %s\n' % (name, version))
            .encode()})
        config = json.dumps({'apiVersion': 'v2', 'name': name,
                             'version': version}).encode()
        cfg = self.put_blob(repository, config)
        lay = self.put_blob(repository, chart)
        manifest = {
            'schemaVersion': 2,
            'mediaType': 'application/vnd.oci.image.manifest.v1+json',
            'config': dict(cfg, mediaType='application/vnd.cncf.helm.'
                           'config.v1+json'),
            'layers': [dict(lay, mediaType='application/vnd.cncf.helm.'
                            'chart.content.v1.tar+gzip')]}
        return self.put_manifest(repository, version.replace('+', '_'),
                                 manifest, manifest['mediaType'])


def _targz(files):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode='w') as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


# -- nginx -------------------------------------------------------------------

NGINX_CONF = """\
worker_processes 1;
daemon off;
pid %(dir)s/nginx.pid;
error_log %(dir)s/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    default_type application/octet-stream;
    types { application/xml xml; application/yaml yaml; }
    client_body_temp_path %(dir)s/tmp;
    proxy_temp_path %(dir)s/tmp;
    fastcgi_temp_path %(dir)s/tmp;
    uwsgi_temp_path %(dir)s/tmp;
    scgi_temp_path %(dir)s/tmp;
    server {
        listen %(host)s:%(port)d;
        root %(root)s;
        location /nohead/ {
            if ($request_method = HEAD) { return 405; }
        }
    }
}
"""


class Nginx(object):
    """A private nginx serving ``root`` (a fresh directory)."""

    def __init__(self, workdir):
        self.workdir = tempfile.mkdtemp(prefix='nginx-', dir=workdir)
        self.root = os.path.join(self.workdir, 'www')
        os.makedirs(os.path.join(self.workdir, 'tmp'))
        os.makedirs(self.root)
        # Workers of a root-started nginx run as nobody: let them read.
        for d in (workdir, self.workdir, self.root):
            os.chmod(d, 0o755)
        self.port = free_port()
        self.base = 'http://%s:%d' % (LOOPBACK, self.port)
        self.proc = None

    def start(self):
        binary = find_tool('nginx')
        conf = os.path.join(self.workdir, 'nginx.conf')
        with open(conf, 'w') as f:
            f.write(NGINX_CONF % {'dir': self.workdir, 'host': LOOPBACK,
                                  'port': self.port, 'root': self.root})
        log = os.path.join(self.workdir, 'error.log')
        self.proc = Proc([binary, '-c', conf, '-p', self.workdir, '-e',
                          log], os.path.join(self.workdir, 'nginx.out'))
        self.proc.start()
        _wait(lambda: requests.get(self.base + '/', timeout=1)
              .status_code in (200, 403, 404), 20, 'nginx', self.proc, log)
        return self

    def stop(self):
        if self.proc is not None:
            self.proc.stop()

    def path(self, *parts):
        path = os.path.join(self.root, *parts)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return path

    def write(self, rel, data):
        path = self.path(rel)
        with open(path, 'wb' if isinstance(data, bytes) else 'w') as f:
            f.write(data)
        os.chmod(path, 0o644)
        return self.base + '/' + rel


# -- RPM packages and repositories -------------------------------------------

SPEC = """\
Name: %(name)s
Version: %(version)s
Release: %(release)s
Summary: artifact check test package
License: ASL 2.0
BuildArch: noarch

%%description
An empty package for the artifact check's tests.

%%files
"""


def build_rpm(workdir, name, version, release):
    """Build an empty noarch RPM with rpmbuild; returns its path."""
    rpmbuild = find_tool('rpmbuild')
    top = tempfile.mkdtemp(prefix='rpmbuild-', dir=workdir)
    spec = os.path.join(top, '%s.spec' % name)
    with open(spec, 'w') as f:
        f.write(SPEC % {'name': name, 'version': version,
                        'release': release})
    out = os.path.join(top, 'RPMS')
    done = subprocess.run(
        [rpmbuild, '-bb', '--quiet', '--define', '_topdir %s' % top,
         '--define', '_rpmdir %s' % out, '--define',
         '_build_id_links none', spec],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, 'rpmbuild %s: %s' % (name, done.stderr)
    path = os.path.join(out, 'noarch', '%s-%s-%s.noarch.rpm' % (
        name, version, release))
    assert os.path.exists(path), os.listdir(out)
    return path


def make_repo(directory, rpms, compress='gz'):
    """Copy ``rpms`` into ``directory`` and write its repodata."""
    createrepo = find_tool('createrepo_c')
    os.makedirs(directory, exist_ok=True)
    os.chmod(directory, 0o755)
    for rpm in rpms:
        shutil.copy(rpm, directory)
    done = subprocess.run(
        [createrepo, '--quiet', '--no-database',
         '--general-compress-type=%s' % compress, directory],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, 'createrepo_c: %s' % done.stderr
    for base, dirs, files in os.walk(directory):
        for d in dirs:
            os.chmod(os.path.join(base, d), 0o755)
        for f in files:
            os.chmod(os.path.join(base, f), 0o644)


# -- a server that never answers ---------------------------------------------

class SlowServer(object):
    """Accepts TCP connections on 127.0.0.1 and never answers."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.host = '%s:%d' % (LOOPBACK, self.port)
        self.base = 'http://%s' % self.host
        self.held = []
        self.stopped = threading.Event()

    def start(self):
        def accept():
            self.sock.settimeout(0.2)
            while not self.stopped.is_set():
                try:
                    conn, _ = self.sock.accept()
                except socket.timeout:
                    continue
                except OSError:
                    return
                self.held.append(conn)
        threading.Thread(target=accept, daemon=True,
                         name='slow-server').start()
        return self

    def stop(self):
        self.stopped.set()
        for conn in self.held:
            conn.close()
        self.sock.close()
