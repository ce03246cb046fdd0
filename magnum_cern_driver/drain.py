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
"""Drain Kubernetes nodes before Heat removes their servers.

Best effort and bounded: cordon each node, evict its pods (the eviction
API honours PodDisruptionBudgets), wait until they are gone or
``[cern_driver] drain_timeout`` seconds have passed, then let the removal
proceed. When the cluster API does not answer, nothing is drained and the
result says so; a resize never fails because a drain could not finish.

Authentication uses Magnum's client certificate for the cluster (the same
one Magnum's health monitor uses), signed by the cluster CA.
"""

import dataclasses
import time

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

# Per-request time-out (connect, read) towards the cluster API, seconds.
REQUEST_TIMEOUT = (5, 15)
POLL_INTERVAL = 2


@dataclasses.dataclass
class DrainResult:
    drained: list
    not_drained: list
    message: str

    @property
    def complete(self):
        return not self.not_drained


def _skipped(nodes, why):
    return DrainResult([], list(nodes), 'Drain skipped (%s); nodes removed '
                       'without draining: %s' % (why, ', '.join(nodes)))


def _evictable(pod):
    meta = pod.metadata
    if meta.annotations and 'kubernetes.io/config.mirror' in meta.annotations:
        return False
    for owner in meta.owner_references or ():
        if owner.kind == 'DaemonSet':
            return False
    return (pod.status.phase or '') not in ('Succeeded', 'Failed')


def _api_client(context, cluster):
    # Imported here: the kubernetes client is heavy and only a resize that
    # removes named nodes needs it.
    from kubernetes import client as k8s_client
    from magnum.conductor.handlers.common import cert_manager

    ca_file, key_file, cert_file = cert_manager.create_client_files(
        cluster, context)
    config = k8s_client.Configuration()
    config.host = cluster.api_address
    config.ssl_ca_cert = ca_file.name
    config.cert_file = cert_file.name
    config.key_file = key_file.name
    config.retries = 0
    api = k8s_client.ApiClient(config)
    # Keep the files open as long as the client (temp files vanish on
    # close).
    api._cern_files = (ca_file, key_file, cert_file)
    return api


def _close(api):
    try:
        api.close()
    except Exception:  # noqa: S110 (closing a pool must not fail a resize)
        pass
    for f in getattr(api, '_cern_files', ()):
        try:
            f.close()
        except OSError:
            pass


def drain(context, cluster, nodes, timeout, api_factory=None):
    """Cordon and evict ``nodes``; never raises, never waits past timeout.

    :param nodes: Kubernetes node names (our server names).
    :returns: :class:`DrainResult`.
    """
    nodes = list(nodes)
    if not nodes:
        return DrainResult([], [], '')
    if timeout <= 0:
        return _skipped(nodes, 'drain_timeout is 0')
    if not cluster.api_address:
        return _skipped(nodes, 'the cluster has no API address')
    deadline = time.monotonic() + timeout
    try:
        api = (api_factory or _api_client)(context, cluster)
    except Exception as e:
        return _skipped(nodes, 'no client credentials: %s'
                        % type(e).__name__)
    try:
        return _drain(api, nodes, deadline, timeout)
    except Exception as e:
        LOG.warning('Draining nodes of cluster %s failed: %s',
                    cluster.uuid, type(e).__name__)
        return _skipped(nodes, 'cluster API not reachable: %s'
                        % type(e).__name__)
    finally:
        _close(api)


def _drain(api, nodes, deadline, timeout):
    from kubernetes import client as k8s_client
    from kubernetes.client import exceptions as k8s_exc

    core = k8s_client.CoreV1Api(api)
    present = []
    for name in nodes:
        try:
            core.patch_node(name, {'spec': {'unschedulable': True}},
                            _request_timeout=REQUEST_TIMEOUT)
            present.append(name)
        except k8s_exc.ApiException as e:
            if e.status != 404:
                raise
            # Never joined or already gone: nothing to drain.
    pending = set(present)
    while pending and time.monotonic() < deadline:
        for name in sorted(pending):
            pods = core.list_pod_for_all_namespaces(
                field_selector='spec.nodeName=%s' % name,
                _request_timeout=REQUEST_TIMEOUT).items
            movable = [p for p in pods if _evictable(p)]
            if not movable:
                pending.discard(name)
                continue
            for pod in movable:
                body = k8s_client.V1Eviction(metadata=k8s_client.V1ObjectMeta(
                    name=pod.metadata.name,
                    namespace=pod.metadata.namespace))
                try:
                    core.create_namespaced_pod_eviction(
                        pod.metadata.name, pod.metadata.namespace, body,
                        _request_timeout=REQUEST_TIMEOUT)
                except k8s_exc.ApiException as e:
                    # 429: a disruption budget says not now; 404: gone.
                    if e.status not in (404, 429):
                        raise
        if pending:
            time.sleep(min(POLL_INTERVAL,
                           max(0, deadline - time.monotonic())))
    drained = [n for n in nodes if n not in pending]
    if pending:
        return DrainResult(drained, sorted(pending),
                           'Drain incomplete after %ds; removed anyway: %s'
                           % (timeout, ', '.join(sorted(pending))))
    return DrainResult(drained, [], 'Drained %d node(s)' % len(drained))
