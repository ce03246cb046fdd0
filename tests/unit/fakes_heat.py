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
"""A fake cloud at the HTTP boundary: Keystone (tokens, catalog,
application credentials) and Heat (stacks, resources, outputs).

A real HTTP/1.1 server on 127.0.0.1 in a thread, so python-heatclient,
keystoneauth and requests run unmodified, with real sockets and keep-alive.
It keeps what it was sent (stack parameters, PATCH bodies) for the tests to
inspect, answers the shapes Heat 27 and Keystone answer, and counts
requests and TCP connections.
"""

import collections
import copy
import functools
import http.server
import json
import logging
import os
import re
import socket
import threading
import time
import urllib.parse
import uuid

ADMIN_PROJECT = 'service-project'
ADMIN_USER = 'magnum-service'
HIDDEN = '******'


class Stack(object):
    def __init__(self, tenant, name, body):
        self.id = str(uuid.uuid4())
        self.tenant = tenant
        self.name = name
        self.status = 'CREATE_IN_PROGRESS'
        self.reason = 'Stack CREATE started'
        self.template = body.get('template')
        self.files = body.get('files') or {}
        self.environment = body.get('environment') or {}
        self.parameters = dict(body.get('parameters') or {})
        self.timeout_mins = body.get('timeout_mins')
        self.tags = body.get('tags')
        self.outputs = {}
        self.resources = []          # what a resource list returns
        self.patches = []

    def hidden(self):
        params = (self.template or {}).get('parameters') or {}
        return {k for k, v in params.items() if v.get('hidden')}

    def shown_parameters(self):
        hidden = self.hidden()
        shown = {'OS::stack_id': self.id, 'OS::stack_name': self.name,
                 'OS::project_id': self.tenant}
        for k, v in self.parameters.items():
            if k in hidden:
                shown[k] = HIDDEN
            elif isinstance(v, (dict, list)):
                shown[k] = json.dumps(v)
            else:
                shown[k] = str(v)
        return shown


class FakeCloud(object):
    """State plus a threaded HTTP server. Use start()/stop()."""

    def __init__(self):
        self.lock = threading.Lock()
        self.stacks = {}
        self.app_creds = {}                 # id -> dict (with user_id)
        self.requests = collections.Counter()
        self.log = []                       # (method, path) in order
        self.connections = 0
        self.reject_create = None           # (code, message)
        self.reject_creates_left = None     # that many times (None: all)
        self.lose_create_answer = False     # create, then answer 503
        self.slow_create_answer = 0.0       # create, then answer this late
        self.slow_show_answer = 0.0         # a stack show answers this late
        self.app_creds_listed = 0           # rows Keystone's lists returned
        self.fail_with = None               # status code for every call
        self.tokens = {}
        self.k8s_nodes = {}                 # name -> {'unschedulable': bool}
        self.k8s_pods = []                  # pod dicts (see k8s_pod)
        self.open_conns = set()
        self.server = None
        self.thread = None

    # -- server lifecycle

    def start(self):
        cloud = self

        class Handler(_Handler):
            pass
        Handler.cloud = cloud

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def process_request(self, request, client_address):
                with cloud.lock:
                    cloud.connections += 1
                    cloud.open_conns.add(request)
                super().process_request(request, client_address)

            def shutdown_request(self, request):
                with cloud.lock:
                    cloud.open_conns.discard(request)
                super().shutdown_request(request)

        self.server = Server(('127.0.0.1', 0), Handler)
        self.port = self.server.server_address[1]
        self.base = 'http://127.0.0.1:%d' % self.port
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={'poll_interval': 0.05},
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            # Kept-alive connections too: a stopped cloud is unreachable.
            with self.lock:
                conns, self.open_conns = list(self.open_conns), set()
            for conn in conns:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                conn.close()
            self.thread.join(5)
            self.server = None

    # -- URLs and tokens

    @property
    def identity_url(self):
        return self.base + '/identity/v3'

    def heat_url(self, project):
        return '%s/heat/v1/%s' % (self.base, project)

    def catalog(self, project):
        def svc(stype, name, url):
            return {'type': stype, 'name': name, 'id': name,
                    'endpoints': [{'id': name + i, 'interface': i,
                                   'region': 'RegionOne',
                                   'region_id': 'RegionOne', 'url': url}
                                  for i in ('public', 'internal', 'admin')]}
        return [svc('orchestration', 'heat', self.heat_url(project)),
                svc('identity', 'keystone', self.identity_url)]

    def token_info(self, project, user, roles=('member',)):
        return {'token': {
            'methods': ['password'],
            'expires_at': '2099-01-01T00:00:00.000000Z',
            'issued_at': '2026-01-01T00:00:00.000000Z',
            'project': {'id': project, 'name': project,
                        'domain': {'id': 'default', 'name': 'Default'}},
            'user': {'id': user, 'name': user,
                     'domain': {'id': 'default', 'name': 'Default'}},
            'roles': [{'id': r, 'name': r} for r in roles],
            'catalog': self.catalog(project),
        }}

    def user_token(self, project='fake_project', user='fake_user'):
        token = 'user-token-' + uuid.uuid4().hex
        self.tokens[token] = (project, user)
        return token, self.token_info(project, user)

    # -- helpers for tests

    def stack(self, stack_id=None):
        if stack_id is None:
            return list(self.stacks.values())[-1]
        return self.stacks[stack_id]

    def set_status(self, stack_id, status, reason=''):
        with self.lock:
            s = self.stacks[stack_id]
            s.status = status
            s.reason = reason or 'Stack %s' % status

    def count(self, method, kind):
        return self.requests[(method, kind)]


def _error(code, title, message):
    return code, {'code': code, 'title': title,
                  'explanation': title,
                  'error': {'message': message, 'type': title,
                            'traceback': None}}


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    # One buffered write per response (flushed after each request) and no
    # Nagle: otherwise every keep-alive answer waits for a delayed ACK.
    wbufsize = -1
    disable_nagle_algorithm = True
    cloud = None

    def log_message(self, fmt, *args):   # quiet
        pass

    def _body(self):
        length = int(self.headers.get('Content-Length') or 0)
        if not length:
            return {}
        raw = self.rfile.read(length)
        try:
            return json.loads(raw)
        except ValueError:
            return {}

    def _send(self, code, body=None, headers=None):
        data = b'' if body is None else json.dumps(body).encode()
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body is not None:
            self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _dispatch(self, method):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        body = self._body() if method in ('POST', 'PATCH', 'PUT') else {}
        cloud = self.cloud
        with cloud.lock:
            cloud.log.append((method, url.path))
        if cloud.fail_with and url.path.startswith('/heat/'):
            kind = 'heat-error'
            with cloud.lock:
                cloud.requests[(method, kind)] += 1
            return self._send(*_error(cloud.fail_with, 'Service Unavailable',
                                      'The server is currently unavailable'))
        for pattern, handler in ROUTES:
            m = re.fullmatch(pattern, url.path)
            if m and method in handler:
                kind = handler[method].__name__
                with cloud.lock:
                    cloud.requests[(method, kind)] += 1
                code, resp, headers = _unpack(
                    handler[method](cloud, self, m, query, body))
                return self._send(code, resp, headers)
        return self._send(*_error(404, 'Not Found',
                                  'no route %s %s' % (method, url.path)))

    def do_GET(self):
        self._dispatch('GET')

    def do_POST(self):
        self._dispatch('POST')

    def do_PATCH(self):
        self._dispatch('PATCH')

    def do_PUT(self):
        self._dispatch('PUT')

    def do_DELETE(self):
        self._dispatch('DELETE')


def _unpack(result):
    if len(result) == 2:
        return result[0], result[1], None
    return result


def _caller(cloud, handler):
    token = handler.headers.get('X-Auth-Token')
    return cloud.tokens.get(token)


# -- Keystone


def ks_discovery(cloud, handler, m, query, body):
    return 200, {'version': {
        'id': 'v3.14', 'status': 'stable', 'updated': '2020-04-07T00:00:00Z',
        'links': [{'rel': 'self', 'href': cloud.identity_url + '/'}],
        'media-types': [{'base': 'application/json',
                         'type': 'application/vnd.openstack.identity-v3+json'}
                        ]}}


def ks_token(cloud, handler, m, query, body):
    auth = body.get('auth') or {}
    ident = auth.get('identity') or {}
    pw = (ident.get('password') or {}).get('user') or {}
    if pw.get('name') != ADMIN_USER or pw.get('password') != 'secretpw':
        return _error(401, 'Unauthorized', 'The request you have made '
                      'requires authentication.')
    token = 'svc-token-' + uuid.uuid4().hex
    cloud.tokens[token] = (ADMIN_PROJECT, ADMIN_USER)
    info = cloud.token_info(ADMIN_PROJECT, ADMIN_USER, roles=('admin',))
    return 201, info, {'X-Subject-Token': token}


def ks_appcred_create(cloud, handler, m, query, body):
    caller = _caller(cloud, handler)
    user = m.group(1)
    if caller is None or caller[1] != user:
        return _error(403, 'Forbidden', 'not the owner')
    req = body.get('application_credential') or {}
    for cred in cloud.app_creds.values():
        if cred['user_id'] == user and cred['name'] == req.get('name'):
            return _error(409, 'Conflict', 'duplicate name')
    cred = {'id': uuid.uuid4().hex, 'name': req.get('name'),
            'description': req.get('description'), 'user_id': user,
            'project_id': caller[0], 'secret': 'appcred-' + uuid.uuid4().hex,
            'unrestricted': req.get('unrestricted', False)}
    with cloud.lock:
        cloud.app_creds[cred['id']] = cred
    return 201, {'application_credential': dict(cred)}


def _may_manage(cloud, handler, user):
    caller = _caller(cloud, handler)
    return caller is not None and (caller[1] == user
                                   or caller[1] == ADMIN_USER)


def ks_appcred_list(cloud, handler, m, query, body):
    user = m.group(1)
    if not _may_manage(cloud, handler, user):
        return _error(403, 'Forbidden', 'not allowed')
    # Keystone's 'name' filter, exact or inexact (keystone/server/flask/
    # common.py build_driver_hints); every row listed is counted, as
    # Keystone builds each one (roles, access rules) it returns.
    exact = (query.get('name') or [None])[0]
    prefix = (query.get('name__istartswith') or [None])[0]
    creds = []
    for c in cloud.app_creds.values():
        if c['user_id'] != user:
            continue
        if exact is not None and c['name'] != exact:
            continue
        if prefix is not None and \
                not c['name'].lower().startswith(prefix.lower()):
            continue
        creds.append({k: v for k, v in c.items() if k != 'secret'})
    cloud.app_creds_listed += len(creds)
    return 200, {'application_credentials': creds}


def ks_appcred_delete(cloud, handler, m, query, body):
    user, cred_id = m.group(1), m.group(2)
    if not _may_manage(cloud, handler, user):
        return _error(403, 'Forbidden', 'not allowed')
    with cloud.lock:
        cred = cloud.app_creds.get(cred_id)
        if cred is None or cred['user_id'] != user:
            return _error(404, 'Not Found', 'no such credential')
        del cloud.app_creds[cred_id]
    return 204, None


# -- Heat


def _heat_caller(cloud, handler, tenant):
    caller = _caller(cloud, handler)
    if caller is None:
        return None, _error(401, 'Unauthorized', 'bad token')
    if caller[0] != tenant:
        return None, _error(403, 'Forbidden', 'wrong project in URL')
    return caller, None


def _find(cloud, caller, name, stack_id):
    s = cloud.stacks.get(stack_id)
    if s is None or (name and s.name != name):
        return None
    if caller[1] != ADMIN_USER and s.tenant != caller[0]:
        return None
    return s


def _not_found(what):
    return _error(404, 'Not Found', 'The Stack (%s) could not be found.'
                  % what)


def _stack_handler(fn):
    """A handler of ``/stacks/<name>/<id>...``: called with the stack.

    Checks the token and the project in the URL like Heat does, and
    answers 404 for a stack the caller may not see.
    """
    @functools.wraps(fn)
    def handler(cloud, handler_, m, query, body):
        caller, err = _heat_caller(cloud, handler_, m.group(1))
        if err:
            return err
        s = _find(cloud, caller, m.group(2), m.group(3))
        if s is None:
            return _not_found(m.group(2))
        return fn(cloud, s, m, query, body)
    return handler


def heat_create(cloud, handler, m, query, body):
    caller, err = _heat_caller(cloud, handler, m.group(1))
    if err:
        return err
    if cloud.reject_create and cloud.reject_creates_left != 0:
        if cloud.reject_creates_left is not None:
            cloud.reject_creates_left -= 1
        code, message = cloud.reject_create
        # Heat echoes parameter values in some validation errors.
        params = body.get('parameters') or {}
        echo = ' '.join(str(v)[:60] for v in params.values())
        return _error(code, 'Bad Request', '%s (%s)' % (message, echo))
    s = Stack(m.group(1), body.get('stack_name'), body)
    with cloud.lock:
        cloud.stacks[s.id] = s
    if cloud.lose_create_answer:
        return _error(503, 'Service Unavailable', 'proxy time-out')
    if cloud.slow_create_answer:
        time.sleep(cloud.slow_create_answer)
    href = '%s/stacks/%s/%s' % (cloud.heat_url(s.tenant), s.name, s.id)
    return 201, {'stack': {'id': s.id, 'links': [{'href': href,
                                                  'rel': 'self'}]}}


def _stack_body(cloud, s, outputs):
    body = {
        'id': s.id, 'stack_name': s.name, 'stack_status': s.status,
        'stack_status_reason': s.reason,
        'parameters': s.shown_parameters(),
        'timeout_mins': s.timeout_mins, 'tags': s.tags,
        'links': [{'href': '%s/stacks/%s/%s' % (cloud.heat_url(s.tenant),
                                                s.name, s.id),
                   'rel': 'self'}],
        'creation_time': '2026-01-01T00:00:00Z',
    }
    if outputs:
        body['outputs'] = [{'output_key': k, 'output_value': v,
                            'description': k}
                           for k, v in s.outputs.items()]
    return body


def heat_lookup(cloud, handler, m, query, body):
    caller, err = _heat_caller(cloud, handler, m.group(1))
    if err:
        return err
    s = _find(cloud, caller, None, m.group(2))
    if s is None:
        # As Heat: a lookup by name searches the caller's project only,
        # for admins too.
        for candidate in list(cloud.stacks.values()):
            if (candidate.name == m.group(2)
                    and candidate.tenant == caller[0]):
                s = candidate
    if s is None:
        return _not_found(m.group(2))
    loc = '%s/stacks/%s/%s' % (cloud.heat_url(m.group(1)), s.name, s.id)
    return 302, {'location': loc}, {'Location': loc}


def heat_list(cloud, handler, m, query, body):
    caller, err = _heat_caller(cloud, handler, m.group(1))
    if err:
        return err
    every = (query.get('global_tenant') or ['False'])[0] == 'True'
    if every:
        # stacks:global_index is deny_everybody by default, admin too
        # (openstack/heat heat/policies/stacks.py).
        return _error(403, 'Forbidden', 'global_index is denied')
    names = query.get('name')
    found = [x for x in list(cloud.stacks.values())
             if (every or x.tenant == caller[0])
             and (not names or x.name in names)]
    return 200, {'stacks': [
        {'id': x.id, 'stack_name': x.name, 'project': x.tenant,
         'stack_status': x.status, 'links': []} for x in found]}


@_stack_handler
def heat_show(cloud, s, m, query, body):
    outputs = (query.get('resolve_outputs') or ['True'])[0] != 'False'
    if cloud.slow_show_answer:
        time.sleep(cloud.slow_show_answer)
    with cloud.lock:
        cloud.requests[('GET', 'show_outputs' if outputs
                        else 'show_no_outputs')] += 1
        return 200, {'stack': copy.deepcopy(_stack_body(cloud, s, outputs))}


@_stack_handler
def heat_patch(cloud, s, m, query, body):
    with cloud.lock:
        s.patches.append(body)
        if body.get('template') is not None:
            s.template = body['template']
            s.files.update(body.get('files') or {})
        s.parameters.update(body.get('parameters') or {})
        known = ((s.template or {}).get('parameters') or {})
        s.parameters = {k: v for k, v in s.parameters.items() if k in known}
        s.status = 'UPDATE_IN_PROGRESS'
        s.reason = 'Stack UPDATE started'
    return 202, None


@_stack_handler
def heat_delete(cloud, s, m, query, body):
    with cloud.lock:
        s.status = 'DELETE_IN_PROGRESS'
        s.reason = 'Stack DELETE started'
    return 204, None


@_stack_handler
def heat_resources(cloud, s, m, query, body):
    wanted = (query.get('status') or [None])[0]
    depth = int((query.get('nested_depth') or ['0'])[0])
    found = []
    for r in s.resources:
        if r.get('_depth', 0) > depth:
            continue
        if wanted and not r['resource_status'].endswith(wanted):
            continue
        found.append({k: v for k, v in r.items() if not k.startswith('_')})
    return 200, {'resources': found}


@_stack_handler
def heat_output(cloud, s, m, query, body):
    key = m.group(4)
    if key not in s.outputs:
        return _error(404, 'Not Found', 'output %s' % key)
    return 200, {'output': {'output_key': key,
                            'output_value': s.outputs[key]}}


# -- Kubernetes (just what a drain uses)


def k8s_pod(name, node, namespace='default', daemonset=False,
            blocked=False):
    owners = [{'apiVersion': 'apps/v1', 'kind': 'DaemonSet', 'name': 'ds',
               'uid': 'u', 'controller': True}] if daemonset else []
    return {'metadata': {'name': name, 'namespace': namespace,
                         'ownerReferences': owners,
                         'annotations': {'blocked': 'yes'} if blocked
                         else {}},
            'spec': {'nodeName': node, 'containers': [{'name': 'c'}]},
            'status': {'phase': 'Running'}}


def k8s_patch_node(cloud, handler, m, query, body):
    node = cloud.k8s_nodes.get(m.group(1))
    if node is None:
        return 404, {'kind': 'Status', 'apiVersion': 'v1', 'code': 404,
                     'reason': 'NotFound', 'status': 'Failure'}
    node['unschedulable'] = bool((body.get('spec') or {}).get(
        'unschedulable'))
    return 200, {'kind': 'Node', 'apiVersion': 'v1',
                 'metadata': {'name': m.group(1)},
                 'spec': {'unschedulable': node['unschedulable']}}


def k8s_list_pods(cloud, handler, m, query, body):
    selector = (query.get('fieldSelector') or [''])[0]
    node = selector.split('=', 1)[1] if '=' in selector else None
    with cloud.lock:
        items = [p for p in cloud.k8s_pods
                 if node is None or p['spec']['nodeName'] == node]
        return 200, {'kind': 'PodList', 'apiVersion': 'v1',
                     'metadata': {}, 'items': copy.deepcopy(items)}


def k8s_evict(cloud, handler, m, query, body):
    ns, name = m.group(1), m.group(2)
    with cloud.lock:
        for pod in cloud.k8s_pods:
            meta = pod['metadata']
            if meta['name'] == name and meta['namespace'] == ns:
                if meta['annotations'].get('blocked'):
                    return 429, {'kind': 'Status', 'apiVersion': 'v1',
                                 'code': 429, 'status': 'Failure',
                                 'reason': 'TooManyRequests'}
                cloud.k8s_pods.remove(pod)
                return 201, {'kind': 'Status', 'apiVersion': 'v1',
                             'status': 'Success'}
    return 404, {'kind': 'Status', 'apiVersion': 'v1', 'code': 404,
                 'status': 'Failure', 'reason': 'NotFound'}


_T = r'/heat/v1/([^/]+)'
ROUTES = [
    (r'/api/v1/nodes/([^/]+)', {'PATCH': k8s_patch_node}),
    (r'/api/v1/pods', {'GET': k8s_list_pods}),
    (r'/api/v1/namespaces/([^/]+)/pods/([^/]+)/eviction',
     {'POST': k8s_evict}),
    (r'/identity/v3/?', {'GET': ks_discovery}),
    (r'/identity/v3/auth/tokens', {'POST': ks_token}),
    (r'/identity/v3/users/([^/]+)/application_credentials',
     {'POST': ks_appcred_create, 'GET': ks_appcred_list}),
    (r'/identity/v3/users/([^/]+)/application_credentials/([^/]+)',
     {'DELETE': ks_appcred_delete}),
    (_T + r'/stacks', {'POST': heat_create, 'GET': heat_list}),
    (_T + r'/stacks/([0-9a-f-]{36})', {'GET': heat_lookup}),
    (_T + r'/stacks/([^/]+)', {'GET': heat_lookup}),
    (_T + r'/stacks/([^/]+)/([0-9a-f-]{36})',
     {'GET': heat_show, 'PATCH': heat_patch, 'DELETE': heat_delete}),
    (_T + r'/stacks/([^/]+)/([0-9a-f-]{36})/resources',
     {'GET': heat_resources}),
    (_T + r'/stacks/([^/]+)/([0-9a-f-]{36})/outputs/([^/]+)',
     {'GET': heat_output}),
]


def open_sockets():
    """Number of sockets this process holds open (Linux /proc)."""
    count = 0
    for fd in os.listdir('/proc/self/fd'):
        try:
            if os.readlink('/proc/self/fd/%s' % fd).startswith('socket:'):
                count += 1
        except OSError:
            pass
    return count


def failed_resource(name, rtype, reason, stack_name, stack_id,
                    physical_id=None, parent=None, depth=0, nested=None):
    """A failed resource as Heat lists it (with links to its stack)."""
    return listed_resource(name, rtype, stack_name, stack_id,
                           status='CREATE_FAILED', reason=reason,
                           physical_id=physical_id, parent=parent,
                           depth=depth, nested=nested)


def listed_resource(name, rtype, stack_name, stack_id,
                    status='CREATE_IN_PROGRESS', reason='state changed',
                    physical_id=None, parent=None, depth=0, nested=None):
    """A resource as Heat lists it (with links to its stack)."""
    links = [{'rel': 'stack', 'href': 'http://heat/v1/p/stacks/%s/%s'
              % (stack_name, stack_id)}]
    if nested:
        links.append({'rel': 'nested', 'href': 'http://heat/v1/p/stacks/'
                      'n/%s' % nested})
    r = {'resource_name': name, 'resource_type': rtype,
         'resource_status': status,
         'resource_status_reason': reason,
         'physical_resource_id': physical_id or nested or '',
         'links': links, 'stack_name': stack_name, '_depth': depth}
    if parent:
        r['parent_resource'] = parent
    return r


class CloudFixture(object):
    """Start a :class:`FakeCloud` and point Magnum's config at it.

    ``setUp(test)`` with a Magnum ``TestCase`` (it has ``config``).
    """

    def __init__(self, test):
        from keystoneauth1 import loading as ka_loading
        from oslo_config import cfg

        from magnum_cern_driver import heat

        self.cloud = FakeCloud().start()
        test.addCleanup(self.cloud.stop)
        heat.reset_sessions()
        test.addCleanup(heat.reset_sessions)
        conf = cfg.CONF
        # The password plugin's options (auth_url is required) exist only
        # for this test: a later test's CONF() must not demand them.
        added = [opt for opt in
                 ka_loading.get_auth_plugin_conf_options('password')
                 if conf.register_opt(opt, group='keystone_auth')]

        def unregister():
            conf.reset()
            for opt in added:
                conf.unregister_opt(opt, group='keystone_auth')
        test.addCleanup(unregister)
        for key, value in (('auth_type', 'password'),
                           ('auth_url', self.cloud.identity_url),
                           ('username', ADMIN_USER),
                           ('password', 'secretpw'),
                           ('project_name', ADMIN_PROJECT),
                           ('user_domain_id', 'default'),
                           ('project_domain_id', 'default'),
                           ('timeout', 5)):
            test.config(group='keystone_auth', **{key: value})
        test.config(group='cern_driver', heat_api_retries=0)

    def user_context(self, project='fake_project', user='fake_user'):
        from magnum.common import context as m_context
        token, info = self.cloud.user_token(project, user)
        return m_context.RequestContext(
            auth_token=token, auth_token_info=info, project_id=project,
            user_id=user, is_admin=False)

    @staticmethod
    def admin_context():
        from magnum.common import context as m_context
        return m_context.make_admin_context(all_tenants=True)


class FakeCloudMixin(object):
    """For a Magnum ``TestCase``: a started :class:`FakeCloud`.

    Sets ``fx`` (the :class:`CloudFixture`), ``cloud``, ``ctx`` (a user's
    request context) and ``logs`` (everything logged, DEBUG on).
    """

    def setUp(self):
        super().setUp()
        import fixtures

        self.fx = CloudFixture(self)
        self.cloud = self.fx.cloud
        self.ctx = self.fx.user_context()
        self.logs = self.useFixture(fixtures.FakeLogger(level=logging.DEBUG))
        debug_logging(self)


def debug_logging(test, prefixes=('keystoneauth', 'urllib3',
                                  'magnum_cern_driver', 'magnum')):
    """Turn DEBUG on for these loggers (and re-enable them) for one test.

    Magnum's DB test base runs alembic, whose logging set-up disables every
    logger that existed then; a test about what is logged must undo that.
    Our own body-less logger for secret-carrying calls stays as it is.
    """
    from magnum_cern_driver import heat

    manager = logging.Logger.manager
    names = [n for n in list(manager.loggerDict)
             if any(n == p or n.startswith(p + '.') for p in prefixes)]
    for name in set(names) | set(prefixes):
        logger = logging.getLogger(name)
        if logger is heat.QUIET_LOG:
            continue
        test.addCleanup(setattr, logger, 'disabled', logger.disabled)
        test.addCleanup(logger.setLevel, logger.level)
        test.addCleanup(setattr, logger, 'propagate', logger.propagate)
        logger.disabled = False
        logger.propagate = True
        logger.setLevel(logging.DEBUG)
