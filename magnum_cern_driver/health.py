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
"""The health monitor Magnum's periodic health sync asks for.

Magnum (23.0.0) polls every cluster's health every
``[kubernetes] health_polling_interval`` (60 s) with its ``K8sMonitor``,
which builds a Kubernetes client first (the cluster's CA and Magnum's
client key read from the database, the encrypted key decrypted, files
written) and only then asks whether it can reach the cluster at all: a
cluster whose API has no floating IP it marks UNKNOWN, "not accessible",
and saves that, every minute. With 1000 clusters that was a quarter of
the conductor's busy time during a fleet (py-spy on the rehearsal,
docs/benchmarks.md). This monitor answers the unreachable case without
the client and reports it only when it changes (Magnum saves the
cluster whenever a monitor reports a status).
"""

from magnum.drivers.common import k8s_monitor
from magnum.objects import fields

UNKNOWN = fields.ClusterHealthStatus.UNKNOWN


def unreachable_reason(cluster_name):
    """The reason Magnum's monitor gives for a cluster it cannot reach."""
    return {'api': 'The cluster %s is not accessible.' % cluster_name}


class Monitor(k8s_monitor.K8sMonitor):
    """Magnum's Kubernetes monitor, minus the client it cannot use."""

    def poll_health_status(self):
        if (self._is_magnum_auto_healer_running()
                or self._is_cluster_accessible()):
            return super().poll_health_status()
        reason = unreachable_reason(self.cluster.name)
        if (self.cluster.health_status == UNKNOWN
                and dict(self.cluster.health_status_reason or {}) == reason):
            return
        self.data['health_status'] = UNKNOWN
        self.data['health_status_reason'] = reason
