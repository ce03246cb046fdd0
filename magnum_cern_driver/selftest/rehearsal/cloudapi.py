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
"""The stand-in Nova and Neutron APIs of the rehearsal (WSGI).

Magnum's API checks a template's or cluster's flavors, keypair and
networks against Nova and Neutron before the driver runs, and the clients
operators drive Magnum with (the openstack CLI, Rally, openstacksdk) make
keypairs and list servers. This WSGI app answers those calls in the real
APIs' formats (``compute_api``, ``network_api``); servers and networks
themselves are made through Heat by its stand-in resources, which record
each hollow server in the state directory (``hollow_store``).

Every call below the version documents needs a token, validated with the
rehearsal's Keystone (``GET /v3/auth/tokens``, a token may validate
itself, so no service password is needed here) to learn the caller's
user, project and roles: keypairs are per user, servers and ports per
project, as in Nova and Neutron. Quota limits come from the stand-in
config file's ``quotas`` (see ``standin_config``); nothing is ever in use.
"""

import hashlib
import json
import os
import threading
import time
import urllib.error
import urllib.request

from magnum_cern_driver.selftest.rehearsal import compute_api
from magnum_cern_driver.selftest.rehearsal import hollow_store
from magnum_cern_driver.selftest.rehearsal import network_api
from magnum_cern_driver.selftest.rehearsal import standin_config

ENV_AUTH_URL = 'MAGNUM_CERN_REHEARSAL_AUTH_URL'
NOVA_MAX_MICROVERSION = compute_api.version_text(compute_api.MAX_VERSION)
FLAVORS = compute_api.FLAVORS
NETWORKS = network_api.NETWORKS
QUOTA_LIMIT = compute_api.QUOTA_LIMIT
NOVA_QUOTAS = compute_api.QUOTAS
NEUTRON_QUOTAS = network_api.QUOTAS
# Seconds a validated token's identity is remembered.
TOKEN_CACHE_SECONDS = 120
ADMIN_ROLES = ('admin',)
OPEN_PATHS = ('', 'compute', 'network', 'compute/v2.1', 'network/v2.0')


def flavors(base):
    return compute_api.flavors(base)


def networks():
    return network_api.networks()


class Identity(object):
    """Who is calling: from Keystone's answer about the token."""

    def __init__(self, user_id='', project_id='', roles=()):
        self.user_id = user_id
        self.project_id = project_id
        self.roles = tuple(roles)

    @property
    def is_admin(self):
        return any(r in ADMIN_ROLES for r in self.roles)

    @classmethod
    def from_token_body(cls, body):
        token = body.get('token') or {}
        return cls(user_id=(token.get('user') or {}).get('id', ''),
                   project_id=(token.get('project') or {}).get('id', ''),
                   roles=[r.get('name') for r in token.get('roles') or ()])


def route(method, path, query, base, quotas=None, body=None,
          identity=None, version=compute_api.MIN_VERSION, keypairs=None,
          servers=None, networks=None):
    """Return ``(status, body)`` for a request (pure, unit tested).

    :param quotas: ``{name: limit}`` overriding the generous default.
    :param identity: the caller (:class:`Identity`); anonymous if None.
    :param version: the compute microversion asked, ``(2, 47)``.
    :param keypairs: a ``hollow_store.KeypairStore`` (or alike).
    :param servers: a ``hollow_store.ServerStore`` (or alike).
    :param networks: a ``hollow_store.NetworkStore`` (or alike).
    """
    quotas = quotas or {}
    identity = identity or Identity()
    parts = [p for p in path.split('/') if p]
    if parts[:1] == ['compute']:
        rest = parts[1:]
        root = base + '/compute'
        if not rest and method == 'GET':
            return '200 OK', {'versions': [
                compute_api.version_document(root)]}
        if rest == ['v2.1'] and method == 'GET':
            return '200 OK', {
                'version': compute_api.version_document(root)}
        if not rest or rest[0] != 'v2.1':
            return compute_api.fault(404, 'The resource could not be '
                                     'found.')
        rest = rest[1:]
        if rest and len(rest[0]) == 32 and rest[0].isalnum():
            rest = rest[1:]     # /v2.1/{project_id}/...
        call = compute_api.Call(
            method=method, parts=rest, query=query,
            base=root + '/v2.1', version=version, body=body,
            user_id=identity.user_id, project_id=identity.project_id,
            is_admin=identity.is_admin, quotas=quotas)
        return compute_api.route(call, keypairs=keypairs, servers=servers)
    if parts[:1] == ['network']:
        return network_api.route(method, parts[1:], query, base,
                                 quotas=quotas, servers=servers,
                                 project_id=identity.project_id,
                                 is_admin=identity.is_admin,
                                 hollow_networks=networks)
    return compute_api.fault(404, 'The resource could not be found.')


# The WSGI adapter ---------------------------------------------------------

_token_cache = {}
_token_lock = threading.Lock()


def _validate(auth_url, token):
    """The token's :class:`Identity` per Keystone, or None if invalid."""
    key = hashlib.sha256(token.encode('utf-8')).hexdigest()
    now = time.monotonic()
    with _token_lock:
        hit = _token_cache.get(key)
        if hit and hit[0] > now:
            return hit[1]
    req = urllib.request.Request(
        auth_url.rstrip('/') + '/auth/tokens',
        headers={'X-Auth-Token': token, 'X-Subject-Token': token,
                 'Accept': 'application/json'})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            identity = Identity.from_token_body(json.load(resp))
    except urllib.error.HTTPError as e:
        if e.code in (401, 403, 404):
            return None
        raise
    with _token_lock:
        if len(_token_cache) > 10000:
            _token_cache.clear()
        _token_cache[key] = (now + TOKEN_CACHE_SECONDS, identity)
    return identity


def _respond(start_response, status, body, headers=()):
    data = b'' if body is None else json.dumps(body).encode('utf-8')
    hdrs = [('Content-Length', str(len(data)))]
    if body is not None:
        hdrs.append(('Content-Type', 'application/json'))
    start_response(status, hdrs + list(headers))
    return [data]


def _read_body(environ):
    try:
        length = int(environ.get('CONTENT_LENGTH') or 0)
    except ValueError:
        length = 0
    if not length:
        return None
    raw = environ['wsgi.input'].read(length)
    try:
        return json.loads(raw.decode('utf-8'))
    except ValueError:
        return ValueError('malformed request body')


def _unauthorized(path):
    message = 'The request you have made requires authentication.'
    if path.startswith('network'):
        return network_api.error(401, 'HTTPUnauthorized', message)
    return compute_api.fault(401, message)


def application(environ, start_response):
    from urllib.parse import parse_qs
    path = environ.get('PATH_INFO', '/')
    method = environ['REQUEST_METHOD']
    token = environ.get('HTTP_X_AUTH_TOKEN')
    auth_url = os.environ.get(ENV_AUTH_URL)
    compute = path.strip('/').startswith('compute')
    headers = []
    version = compute_api.MIN_VERSION
    if compute:
        asked = environ.get('HTTP_OPENSTACK_API_VERSION') or environ.get(
            'HTTP_X_OPENSTACK_NOVA_API_VERSION', '')
        try:
            version = compute_api.parse_version(asked)
        except ValueError as e:
            status, body = compute_api.fault(406, str(e))
            return _respond(start_response, status, body)
        text = compute_api.version_text(version)
        headers = [('OpenStack-API-Version', 'compute %s' % text),
                   ('X-OpenStack-Nova-API-Version', text),
                   ('Vary', 'OpenStack-API-Version, '
                            'X-OpenStack-Nova-API-Version')]
    identity = None
    if path.strip('/') not in OPEN_PATHS:
        if not token:
            status, body = _unauthorized(path.strip('/'))
            return _respond(start_response, status, body)
        if auth_url:
            identity = _validate(auth_url, token)
            if identity is None:
                status, body = _unauthorized(path.strip('/'))
                return _respond(start_response, status, body)
    body = _read_body(environ)
    if isinstance(body, ValueError):
        status, out = (compute_api.fault(400, str(body)) if compute else
                       network_api.error(400, 'HTTPBadRequest', str(body)))
        return _respond(start_response, status, out, headers)
    config = os.environ.get(standin_config.ENV_CONFIG)
    keypairs = servers = networks = None
    if config:
        directory = hollow_store.store_dir(config)
        keypairs = hollow_store.KeypairStore(directory)
        servers = hollow_store.ServerStore(directory)
        networks = hollow_store.NetworkStore(directory)
    base = '%s://%s' % (environ.get('wsgi.url_scheme', 'http'),
                        environ.get('HTTP_HOST', '127.0.0.1'))
    status, out = route(method, path,
                        parse_qs(environ.get('QUERY_STRING', '')),
                        base, quotas=standin_config.quota_limits(),
                        body=body, identity=identity, version=version,
                        keypairs=keypairs, servers=servers,
                        networks=networks)
    return _respond(start_response, status, out, headers)
