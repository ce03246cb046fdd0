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
"""A small fake Kubernetes API on 127.0.0.1 for the load runner's tests.

It answers the few REST calls the runner makes, keeps the objects in
memory, makes workloads "ready" at once, runs Jobs by turning each index
into a pod whose log comes from a hook, and serves ``/metrics`` built from
the requests it has seen. Every request is appended to ``events``.
"""

import datetime
import http.server
import json
import os
import re
import threading
import urllib.parse

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def _ts(seconds):
    return (NOW + datetime.timedelta(seconds=seconds)).strftime(
        '%Y-%m-%dT%H:%M:%SZ')


def _status(code, reason, message):
    return {'kind': 'Status', 'apiVersion': 'v1', 'metadata': {},
            'status': 'Failure', 'message': message, 'reason': reason,
            'code': code}


class FakeKubernetes(object):

    def __init__(self, nodes=3, cores_per_node='4', bot_log=None,
                 startup_latency=None, fail=None, metrics=True):
        self.nodes = nodes
        self.cores_per_node = cores_per_node
        self.bot_log = bot_log or (lambda env, index, rate: '')
        self.startup_latency = startup_latency or (lambda i: 1)
        self.fail = dict(fail or {})
        self.metrics = metrics
        self.lock = threading.RLock()
        self.events = []
        self.errors = []
        self.namespaces = {}
        self.objects = {}   # (ns, plural, name) -> object
        self.logs = {}      # (ns, pod) -> text
        self.terminating = set()
        self.server = None
        self.thread = None
        self.counts = {}    # (verb, resource, scope) -> requests seen

    # -- plumbing ----------------------------------------------------------

    def start(self):
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _handle(self, method):
                length = int(self.headers.get('Content-Length') or 0)
                body = self.rfile.read(length) if length else b''
                try:
                    code, ctype, payload = fake.handle(method, self.path,
                                                       body)
                except Exception as e:  # a bug in the fake: make it loud
                    fake.errors.append(repr(e))
                    code, ctype, payload = 500, 'application/json', \
                        _status(500, 'InternalError', repr(e))
                data = payload if isinstance(payload, bytes) else (
                    payload.encode() if isinstance(payload, str)
                    else json.dumps(payload).encode())
                self.send_response(code)
                self.send_header('Content-Type', ctype)
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._handle('GET')

            def do_POST(self):
                self._handle('POST')

            def do_DELETE(self):
                self._handle('DELETE')

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                      Handler)
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(5)

    @property
    def url(self):
        return 'http://127.0.0.1:%d' % self.server.server_address[1]

    def write_kubeconfig(self, directory):
        path = os.path.join(directory, 'kubeconfig')
        with open(path, 'w') as f:
            json.dump({
                'apiVersion': 'v1', 'kind': 'Config',
                'clusters': [{'name': 'fake',
                              'cluster': {'server': self.url}}],
                'users': [{'name': 'u', 'user': {'token': 'secret'}}],
                'contexts': [{'name': 'c', 'context': {
                    'cluster': 'fake', 'user': 'u'}}],
                'current-context': 'c'}, f)
        return path

    def live(self, plural=None):
        with self.lock:
            return sorted(k for k in self.objects
                          if plural is None or k[1] == plural)

    # -- the API -----------------------------------------------------------

    def handle(self, method, raw_path, body):
        parsed = urllib.parse.urlparse(raw_path)
        path = parsed.path
        query = urllib.parse.parse_qs(parsed.query)
        with self.lock:
            self.events.append(('http', method, path))
            if path == '/metrics':
                if not self.metrics:
                    return 403, 'application/json', _status(
                        403, 'Forbidden', 'metrics forbidden')
                return 200, 'text/plain', self.metrics_text()
            try:
                obj = json.loads(body) if body else None
            except ValueError:
                return 400, 'application/json', _status(400, 'BadRequest',
                                                        'bad json')
            return self.route(method, path, query, obj)

    def count(self, verb, resource, scope):
        key = (verb, resource, scope)
        self.counts[key] = self.counts.get(key, 0) + 1

    def metrics_text(self):
        lines = []
        for (verb, resource, scope), n in sorted(self.counts.items()):
            for le in ('0.1', '1', '+Inf'):
                lines.append(
                    'apiserver_request_duration_seconds_bucket{'
                    'resource="%s",scope="%s",subresource="",verb="%s",'
                    'le="%s"} %d' % (resource, scope, verb, le, n))
        return '\n'.join(lines) + '\n'

    def route(self, method, path, query, obj):
        m = re.match(r'^/api/v1/nodes$', path)
        if m and method == 'GET':
            self.count('LIST', 'nodes', 'cluster')
            return 200, 'application/json', self.node_list()
        m = re.match(r'^/api/v1/namespaces(?:/([^/]+))?$', path)
        if m:
            return self.namespace(method, m.group(1), obj)
        m = re.match(r'^/api/v1/namespaces/([^/]+)/pods/([^/]+)/log$', path)
        if m and method == 'GET':
            ns, name = m.groups()
            if (ns, 'pods', name) not in self.objects:
                return 404, 'application/json', _status(
                    404, 'NotFound', 'pod %s not found' % name)
            return 200, 'text/plain', self.logs.get((ns, name), '')
        m = re.match(r'^/(?:api/v1|apis/(?:apps|batch)/v1)/namespaces/'
                     r'([^/]+)/([a-z]+)(?:/([^/]+))?$', path)
        if m:
            ns, plural, name = m.groups()
            return self.namespaced(method, ns, plural, name, query, obj)
        return 404, 'application/json', _status(404, 'NotFound', path)

    def node_list(self):
        items = []
        for i in range(self.nodes):
            items.append({
                'metadata': {'name': 'node-%d' % i},
                'spec': {},
                'status': {
                    'allocatable': {'cpu': self.cores_per_node,
                                    'memory': '8Gi'},
                    'conditions': [{'type': 'Ready', 'status': 'True'}]}})
        items.append({  # cordoned: never counted
            'metadata': {'name': 'cordoned'},
            'spec': {'unschedulable': True},
            'status': {'allocatable': {'cpu': '64'},
                       'conditions': [{'type': 'Ready',
                                       'status': 'True'}]}})
        return {'kind': 'NodeList', 'apiVersion': 'v1', 'metadata': {},
                'items': items}

    def namespace(self, method, name, obj):
        if method == 'POST':
            self.count('POST', 'namespaces', 'cluster')
            name = obj['metadata']['name']
            if name in self.namespaces:
                return 409, 'application/json', _status(
                    409, 'AlreadyExists', 'namespace exists')
            obj.setdefault('status', {'phase': 'Active'})
            self.namespaces[name] = obj
            self.events.append(('created', 'namespaces', name))
            return 201, 'application/json', obj
        if name not in self.namespaces:
            return 404, 'application/json', _status(
                404, 'NotFound', 'namespace %s not found' % name)
        if method == 'GET':
            self.count('GET', 'namespaces', 'resource')
            ns = self.namespaces[name]
            if name in self.terminating:
                # Terminating once, then gone with everything in it.
                del self.namespaces[name]
                for key in [k for k in self.objects if k[0] == name]:
                    del self.objects[key]
                self.events.append(('deleted', 'namespaces', name))
            return 200, 'application/json', ns
        if method == 'DELETE':
            self.count('DELETE', 'namespaces', 'resource')
            self.terminating.add(name)
            self.namespaces[name]['status'] = {'phase': 'Terminating'}
            return 200, 'application/json', self.namespaces[name]
        return 405, 'application/json', _status(405, 'MethodNotAllowed', '')

    def namespaced(self, method, ns, plural, name, query, obj):
        if ns not in self.namespaces or ns in self.terminating:
            return 404, 'application/json', _status(
                404, 'NotFound', 'namespace %s not found' % ns)
        injected = self.fail.get((method, plural))
        if injected:
            return injected, 'application/json', _status(
                injected, 'Forbidden', '%s %s refused by the test'
                % (method, plural))
        scope = 'resource' if name else 'namespace'
        if method == 'POST':
            self.count('POST', plural, 'namespace')
            name = obj['metadata']['name']
            key = (ns, plural, name)
            if key in self.objects:
                return 409, 'application/json', _status(
                    409, 'AlreadyExists', '%s exists' % name)
            obj['metadata'].setdefault('namespace', ns)
            obj['metadata']['creationTimestamp'] = _ts(0)
            self.ready(ns, plural, obj)
            self.objects[key] = obj
            self.events.append(('created', plural, name))
            return 201, 'application/json', obj
        if method == 'GET' and name:
            self.count('GET', plural, scope)
            if (ns, plural, name) not in self.objects:
                return 404, 'application/json', _status(
                    404, 'NotFound', '%s not found' % name)
            return 200, 'application/json', self.objects[(ns, plural, name)]
        if method == 'GET':
            self.count('LIST', plural, scope)
            sel = self.selector(query)
            items = [o for (n, p, _), o in sorted(self.objects.items())
                     if n == ns and p == plural and self.match(o, sel)]
            return 200, 'application/json', {
                'kind': 'List', 'apiVersion': 'v1', 'metadata': {},
                'items': items}
        if method == 'DELETE':
            self.count('DELETE', plural, scope)
            if name:
                if (ns, plural, name) not in self.objects:
                    return 404, 'application/json', _status(
                        404, 'NotFound', '%s not found' % name)
                victims = [(ns, plural, name)]
                if plural == 'jobs':
                    victims += [k for k, o in self.objects.items()
                                if k[0] == ns and k[1] == 'pods'
                                and o['metadata']['labels'].get(
                                    'job-name') == name]
            else:
                sel = self.selector(query)
                victims = [k for k, o in self.objects.items()
                           if k[0] == ns and k[1] == plural
                           and self.match(o, sel)]
            for key in victims:
                del self.objects[key]
                self.events.append(('deleted', key[1], key[2]))
            return 200, 'application/json', {
                'kind': 'Status', 'apiVersion': 'v1', 'metadata': {},
                'status': 'Success'}
        return 405, 'application/json', _status(405, 'MethodNotAllowed', '')

    @staticmethod
    def selector(query):
        sel = {}
        for part in (query.get('labelSelector') or [''])[0].split(','):
            if '=' in part:
                k, v = part.split('=', 1)
                sel[k] = v
        return sel

    @staticmethod
    def match(obj, sel):
        labels = obj.get('metadata', {}).get('labels') or {}
        return all(labels.get(k) == v for k, v in sel.items())

    # -- what the controllers and kubelets would do ------------------------

    def ready(self, ns, plural, obj):
        if plural == 'daemonsets':
            obj['status'] = {'desiredNumberScheduled': self.nodes,
                             'currentNumberScheduled': self.nodes,
                             'numberMisscheduled': 0,
                             'numberReady': self.nodes}
        elif plural == 'deployments':
            n = obj['spec']['replicas']
            obj['status'] = {'replicas': n, 'readyReplicas': n}
        elif plural == 'pods':
            index = len([k for k in self.objects if k[1] == 'pods'])
            obj['status'] = self.running(self.startup_latency(index))
        elif plural == 'jobs':
            self.run_job(ns, obj)

    @staticmethod
    def running(latency_s):
        return {'phase': 'Running', 'containerStatuses': [{
            'name': 'c', 'image': 'x', 'imageID': 'x', 'ready': True,
            'restartCount': 0,
            'state': {'running': {'startedAt': _ts(latency_s)}}}]}

    def run_job(self, ns, job):
        spec = job['spec']
        template = spec['template']
        container = template['spec']['containers'][0]
        env = {e['name']: e['value'] for e in container.get('env', [])}
        script = container['command'][-1]
        rates = re.match(r'set -- ([0-9 ]+);', script).group(1).split()
        succeeded = 0
        for index in range(spec['completions']):
            log = self.bot_log(env, index, int(rates[index]))
            if log is None:
                continue  # this bot's pod never appeared
            name = '%s-%d-x' % (job['metadata']['name'], index)
            labels = dict(template['metadata']['labels'],
                          **{'job-name': job['metadata']['name']})
            pod = {'apiVersion': 'v1', 'kind': 'Pod',
                   'metadata': {
                       'name': name, 'namespace': ns, 'labels': labels,
                       'creationTimestamp': _ts(0),
                       'annotations': {
                           'batch.kubernetes.io/job-completion-index':
                               str(index)}},
                   'spec': template['spec'],
                   'status': {'phase': 'Succeeded'}}
            self.objects[(ns, 'pods', name)] = pod
            self.logs[(ns, name)] = log
            succeeded += 1
        job['status'] = {'succeeded': succeeded,
                         'failed': spec['completions'] - succeeded}
