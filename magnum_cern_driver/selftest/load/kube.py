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
"""The Kubernetes runner: nginx and vegeta bots inside a cluster.

Everything lives in one namespace of the run (journaled before it is
created, deleted at the end whatever happens): a DaemonSet that pre-pulls
the images on every node, the pod-startup probe pods, an nginx Deployment
with CPU requests behind a ClusterIP Service, and one indexed Job of
vegeta bots per step. Every bot's result is read from its pod log.
"""

import math
import re
import time

from kubernetes import client as k8s
from kubernetes.client import exceptions as k8s_exc
from kubernetes import config as k8s_config

from magnum_cern_driver.selftest.load import aggregate
from magnum_cern_driver.selftest.load import checks
from magnum_cern_driver.selftest.load import vegeta

JOURNAL_KIND = 'namespace'
MANAGED_BY = 'magnum-cern-selftest'

NGINX_CONF = """\
worker_processes %(workers)d;
events { worker_connections 8192; }
http {
    access_log off;
    keepalive_requests 1000000000;
    keepalive_timeout 300s;
    server {
        listen 80 reuseport;
        location / { return 200 "ok\\n"; }
    }
}
"""


def api_client(kubeconfig):
    return k8s_config.new_client_from_config(config_file=kubeconfig)


def namespace_name(prefix, run_id):
    name = re.sub(r'[^a-z0-9-]+', '-', ('%s-%s' % (prefix, run_id)).lower())
    return name.strip('-')[:63].rstrip('-')


def parse_cpu(quantity):
    """Cores of a Kubernetes CPU quantity (``'4'``, ``'3900m'``)."""
    q = str(quantity or '0').strip()
    if q.endswith('m'):
        return float(q[:-1]) / 1000.0
    if q.endswith('n'):
        return float(q[:-1]) / 1e9
    if q.endswith('u'):
        return float(q[:-1]) / 1e6
    return float(q)


def schedulable_cores(nodes):
    """Allocatable cores of Ready, schedulable, untainted nodes."""
    total = 0.0
    count = 0
    for node in nodes:
        if node.spec and node.spec.unschedulable:
            continue
        taints = (node.spec and node.spec.taints) or []
        if any(t.effect in ('NoSchedule', 'NoExecute') for t in taints):
            continue
        ready = any(c.type == 'Ready' and c.status == 'True'
                    for c in (node.status.conditions or []))
        if not ready:
            continue
        total += parse_cpu((node.status.allocatable or {}).get('cpu'))
        count += 1
    return total, count


def split_rate(rate, nbots):
    """Integer per-bot rates (vegeta takes whole requests per second)."""
    total = max(nbots, int(round(rate)))
    base, rest = divmod(total, nbots)
    return [base + 1 if i < rest else base for i in range(nbots)]


def delete_namespace(kubeconfig, name, wait_s=120, api=None):
    """Delete a namespace and wait until it is gone; True if gone."""
    core = k8s.CoreV1Api(api or api_client(kubeconfig))
    try:
        core.delete_namespace(name, propagation_policy='Foreground')
    except k8s_exc.ApiException as e:
        if e.status != 404:
            raise
    deadline = time.monotonic() + wait_s
    while True:
        try:
            core.read_namespace(name)
        except k8s_exc.ApiException as e:
            if e.status == 404:
                return True
            raise
        if time.monotonic() >= deadline:
            return False
        time.sleep(1.0)


class KubernetesRunner(object):
    kind = 'kubernetes'

    def __init__(self, options, journal=None, progress=None):
        self.options = options
        self.journal = journal
        self.progress = progress or (lambda line: None)
        self.run_id = options['run_id']
        self.namespace = namespace_name(options['namespace_prefix'],
                                        self.run_id)
        self.labels = {'app.kubernetes.io/managed-by': MANAGED_BY,
                       'mcd-load/run': str(self.run_id)[:63]}
        self.api = None
        self.cores = 0.0
        self.nodes = 0
        self.metrics_before = None
        self.metrics_error = None
        self.ns_created = False
        self.url = None
        self.bounds_ms = aggregate.default_bounds_ms()
        self.poll_s = float(options.get('poll_s', 2.0))

    # -- facts -------------------------------------------------------------

    def missing_tools(self):
        if not self.options.get('kubeconfig'):
            return ['kubeconfig (options["kubeconfig"])']
        return []

    def tool(self):
        image = self.options['load_image']
        tag = image.rsplit(':', 1)[1] if ':' in image.split('/')[-1] \
            else 'latest'
        # peterevans/vegeta tags read "<image version>-vegeta<version>"
        version = tag.split('-vegeta', 1)[1] if '-vegeta' in tag else tag
        return {'name': vegeta.TOOL, 'version': version, 'image': image}

    def capacity(self):
        return aggregate.capacity_rps(
            self.cores, self.options['per_core_rps'],
            self.options['bot_per_core_rps'], self.options['headroom'])

    def step_seconds(self):
        return (self.options.get('bot_start_delay_s', 30)
                + self.options['warmup_s'] + self.options['steady_s'])

    def bots_for(self, rate):
        if self.options.get('bots'):
            return int(self.options['bots'])
        return max(1, int(math.ceil(rate / self.options['bot_rps'])))

    # -- helpers -----------------------------------------------------------

    @property
    def core(self):
        return k8s.CoreV1Api(self.api)

    @property
    def apps(self):
        return k8s.AppsV1Api(self.api)

    @property
    def batch(self):
        return k8s.BatchV1Api(self.api)

    def _meta(self, name, extra=None):
        labels = dict(self.labels)
        labels.update(extra or {})
        return {'name': name, 'labels': labels}

    def _wait(self, what, done, timeout):
        deadline = time.monotonic() + timeout
        while True:
            state = done()
            if state is True:
                return
            if isinstance(state, str):
                raise RuntimeError('%s failed: %s' % (what, state))
            if time.monotonic() >= deadline:
                raise RuntimeError('%s not ready after %ds'
                                   % (what, timeout))
            time.sleep(self.poll_s)

    # -- lifecycle ---------------------------------------------------------

    def prepare(self):
        self.api = api_client(self.options['kubeconfig'])
        try:
            self.metrics_before = checks.read_metrics(self.api)
        except Exception as e:  # noqa: reported in api_latency
            self.metrics_error = 'cannot read apiserver metrics: %s' % e
        self.cores, self.nodes = schedulable_cores(
            self.core.list_node().items)
        self.progress('load: %d schedulable nodes, %.1f allocatable cores'
                      % (self.nodes, self.cores))
        if self.journal is not None:
            self.journal.record(JOURNAL_KIND, self.namespace, {
                'kubeconfig': self.options['kubeconfig'],
                'run_id': self.run_id})
        self.ns_created = True
        self.core.create_namespace({
            'apiVersion': 'v1', 'kind': 'Namespace',
            'metadata': self._meta(self.namespace)})
        self.progress('load: namespace %s created' % self.namespace)
        self._prepull()

    def _prepull(self):
        o = self.options
        name = 'prepull'
        sel = {'mcd-load/role': 'prepull'}
        init = [{'name': 'pull-%d' % i, 'image': image,
                 'imagePullPolicy': 'IfNotPresent',
                 'command': ['sh', '-c', 'true'],
                 'resources': {'requests': {'cpu': '1m', 'memory': '8Mi'}}}
                for i, image in enumerate((o['nginx_image'],
                                           o['load_image']))]
        body = {
            'apiVersion': 'apps/v1', 'kind': 'DaemonSet',
            'metadata': self._meta(name, sel),
            'spec': {
                'selector': {'matchLabels': sel},
                'template': {
                    'metadata': {'labels': dict(self.labels, **sel)},
                    'spec': {
                        'initContainers': init,
                        'containers': [{
                            'name': 'pause', 'image': o['pause_image'],
                            'imagePullPolicy': 'IfNotPresent',
                            'resources': {'requests': {
                                'cpu': '1m', 'memory': '8Mi'}}}],
                        'terminationGracePeriodSeconds': 0}}}}
        self.apps.create_namespaced_daemon_set(self.namespace, body)

        def done():
            ds = self.apps.read_namespaced_daemon_set(name, self.namespace)
            st = ds.status
            return bool(st and st.desired_number_scheduled
                        and st.number_ready == st.desired_number_scheduled)
        self._wait('image pre-pull DaemonSet', done,
                   o['ready_timeout_s'])
        self.progress('load: images pre-pulled on all nodes')
        self.apps.delete_namespaced_daemon_set(name, self.namespace)

    def before_steps(self, result):
        o = self.options
        if o.get('pod_startup_pods'):
            startup = checks.measure_pod_startup(
                self.core, self.namespace, int(o['pod_startup_pods']),
                float(o['pod_startup_rate']), o['pause_image'],
                o['ready_timeout_s'], slo_p99_s=o['pod_startup_slo_s'],
                labels=self.labels, progress=self.progress)
            result['pod_startup'] = startup
            result['checks'].append({'name': 'pod_startup.p99',
                                     'ok': startup['ok'],
                                     'message': startup['message']})
            self.progress('load: pod startup %s' % startup['message'])
        effective = result['raw'].get('effective_target_rps',
                                      o['target_rps'])
        self._nginx(effective)

    def _nginx(self, rate):
        o = self.options
        cpu = float(o['nginx_cpu'])
        replicas = max(1, int(math.ceil(rate / (o['per_core_rps'] * cpu))))
        workers = max(1, int(math.ceil(cpu)))
        sel = {'mcd-load/role': 'nginx'}
        self.core.create_namespaced_config_map(self.namespace, {
            'apiVersion': 'v1', 'kind': 'ConfigMap',
            'metadata': self._meta('nginx-conf'),
            'data': {'nginx.conf': NGINX_CONF % {'workers': workers}}})
        self.apps.create_namespaced_deployment(self.namespace, {
            'apiVersion': 'apps/v1', 'kind': 'Deployment',
            'metadata': self._meta('nginx', sel),
            'spec': {
                'replicas': replicas,
                'selector': {'matchLabels': sel},
                'template': {
                    'metadata': {'labels': dict(self.labels, **sel)},
                    'spec': {
                        'containers': [{
                            'name': 'nginx', 'image': o['nginx_image'],
                            'imagePullPolicy': 'IfNotPresent',
                            'ports': [{'containerPort': 80}],
                            'resources': {
                                'requests': {'cpu': '%dm' % (cpu * 1000),
                                             'memory': '64Mi'},
                                'limits': {'memory': '256Mi'}},
                            'readinessProbe': {'httpGet': {
                                'path': '/', 'port': 80}},
                            'volumeMounts': [{
                                'name': 'conf',
                                'mountPath': '/etc/nginx/nginx.conf',
                                'subPath': 'nginx.conf'}]}],
                        'volumes': [{'name': 'conf', 'configMap': {
                            'name': 'nginx-conf'}}]}}}})
        self.core.create_namespaced_service(self.namespace, {
            'apiVersion': 'v1', 'kind': 'Service',
            'metadata': self._meta('nginx'),
            'spec': {'type': 'ClusterIP', 'selector': sel,
                     'ports': [{'port': 80, 'targetPort': 80}]}})
        self.progress('load: nginx Deployment of %d replicas x %.1f cores'
                      % (replicas, cpu))

        def done():
            dep = self.apps.read_namespaced_deployment('nginx',
                                                       self.namespace)
            return (dep.status is not None
                    and (dep.status.ready_replicas or 0) >= replicas)
        self._wait('nginx Deployment', done, o['ready_timeout_s'])
        # The bots run in the same namespace: the short name resolves on
        # the first search domain whatever the cluster domain is.
        self.url = 'http://nginx/'

    def run_step(self, index, rate):
        o = self.options
        nbots = self.bots_for(rate)
        rates = split_rate(rate, nbots)
        name = 'bots-step%d' % (index + 1)
        start_at = int(time.time() + o.get('bot_start_delay_s', 30))
        bot_cpu = max(0.1, max(rates) / float(o['bot_per_core_rps']))
        script = vegeta.bot_script(rates)
        env = {'TARGET': self.url, 'START_AT': str(start_at),
               'LATE_S': str(o.get('bot_late_s', 5)),
               'WARMUP': str(o['warmup_s']), 'STEADY': str(o['steady_s']),
               'MAX_WORKERS': str(o.get('bot_max_workers', 10000)),
               'BUCKETS': vegeta.buckets_arg(self.bounds_ms)}
        sel = {'mcd-load/role': 'bot', 'mcd-load/step': str(index + 1)}
        body = {
            'apiVersion': 'batch/v1', 'kind': 'Job',
            'metadata': self._meta(name, sel),
            'spec': {
                'completions': nbots, 'parallelism': nbots,
                'completionMode': 'Indexed', 'backoffLimit': 0,
                'activeDeadlineSeconds': int(self.step_seconds()
                                             + o['bot_grace_s'] + 60),
                'template': {
                    'metadata': {'labels': dict(self.labels, **sel)},
                    'spec': {
                        'restartPolicy': 'Never',
                        'terminationGracePeriodSeconds': 0,
                        'containers': [{
                            'name': 'bot', 'image': o['load_image'],
                            'imagePullPolicy': 'IfNotPresent',
                            'command': ['sh', '-c', script],
                            'env': [{'name': k, 'value': v}
                                    for k, v in sorted(env.items())],
                            'resources': {'requests': {
                                'cpu': '%dm' % (bot_cpu * 1000),
                                'memory': '128Mi'}}}]}}}}
        self.batch.create_namespaced_job(self.namespace, body)
        deadline_s = (start_at - time.time() + o['warmup_s']
                      + o['steady_s'] + o['bot_grace_s'] + 30)

        def done():
            job = self.batch.read_namespaced_job(name, self.namespace)
            st = job.status
            finished = (st.succeeded or 0) + (st.failed or 0)
            return finished >= nbots
        try:
            self._wait('bots of step %d' % (index + 1), done,
                       max(self.poll_s, deadline_s))
        except RuntimeError as e:
            self.progress('load: %s (collecting what exists)' % e)
        selector = 'mcd-load/role=bot,mcd-load/step=%d' % (index + 1)
        pods = self.core.list_namespaced_pod(
            self.namespace, label_selector=selector).items
        results = []
        raw = {'job': name, 'pods': {}}
        for pod in pods:
            ann = pod.metadata.annotations or {}
            idx = ann.get('batch.kubernetes.io/job-completion-index')
            if idx is None or not idx.isdigit() or int(idx) >= nbots:
                continue
            bot = 'step%d-bot%s' % (index + 1, idx)
            try:
                log = self.core.read_namespaced_pod_log(
                    pod.metadata.name, self.namespace, container='bot')
            except k8s_exc.ApiException as e:
                raw['pods'][bot] = {'pod': pod.metadata.name,
                                    'error': 'log: %s' % e.status}
                continue
            res = vegeta.bot_result(bot, rates[int(idx)], o['steady_s'],
                                    log)
            raw['pods'][bot] = {'pod': pod.metadata.name,
                                'phase': pod.status and pod.status.phase,
                                'parsed': res is not None}
            if res is not None and bot not in [r['bot'] for r in results]:
                results.append(res)
        try:
            self.batch.delete_namespaced_job(
                name, self.namespace, propagation_policy='Background')
        except k8s_exc.ApiException as e:
            if e.status != 404:
                raise
        expected = ['step%d-bot%d' % (index + 1, i) for i in range(nbots)]
        return expected, results, raw

    def after_steps(self, result):
        if self.metrics_error:
            result['api_latency'] = {'error': self.metrics_error}
            return
        try:
            after = checks.read_metrics(self.api)
        except Exception as e:  # noqa: reported in api_latency
            result['api_latency'] = {
                'error': 'cannot read apiserver metrics: %s' % e}
            return
        latency = checks.api_latency_result(self.metrics_before, after)
        result['api_latency'] = latency
        if latency.get('error'):
            return
        result['checks'].append({'name': 'api_latency.p99',
                                 'ok': latency['ok'],
                                 'message': latency['message']})

    def cleanup(self):
        if not self.ns_created or self.api is None:
            return
        gone = delete_namespace(None, self.namespace,
                                wait_s=self.options.get('delete_wait_s',
                                                        300),
                                api=self.api)
        if not gone:
            raise RuntimeError('namespace %s still terminating'
                               % self.namespace)
        self.ns_created = False
        if self.journal is not None:
            self.journal.forget(JOURNAL_KIND, self.namespace)
        self.progress('load: namespace %s deleted' % self.namespace)
