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
"""End to end through Magnum's REST API, on the local rehearsal.

The real Magnum API and conductor run our driver; the real Heat engine
builds our templates with stand-in servers. Sizes stay small (at most 32
workers) so CI can afford them.
"""

import uuid

from magnumclient import exceptions as magnum_exc

from tests.functional import base

CREATE_TIMEOUT = 300
UPDATE_TIMEOUT = 300
DELETE_TIMEOUT = 300
FAIL_PATTERN = '-failme-'


class TestClusterLifecycle(base.RehearsalTestCase):
    """One class: the tests share the rehearsal and run one after another."""

    # helpers --------------------------------------------------------------
    def _app_creds(self, cluster_uuid):
        """The member user's application credentials of this cluster."""
        return sorted(n for n in self.app_cred_names()
                      if n.startswith('magnum-%s' % cluster_uuid))

    def _name(self, kind):
        return 'e2e-%s-%s' % (kind, uuid.uuid4().hex[:8])

    def _template(self, **extra):
        return self.make_template(self._name('ct'), **extra)

    def _cluster(self, template, name=None, masters=1, workers=2):
        cluster = self.magnum.clusters.create(
            name=name or self._name('c'), cluster_template_id=template.uuid,
            master_count=masters, node_count=workers)
        self.addCleanup(self.delete_cluster, cluster.uuid, DELETE_TIMEOUT,
                        UPDATE_TIMEOUT)

        # The API casts the create to the conductor: on a busy machine the
        # cluster may not be there yet right after the call.
        def visible():
            try:
                return self.magnum.clusters.get(cluster.uuid)
            except magnum_exc.NotFound:
                return None
        base.wait_for(visible, 60, interval=0.5,
                      what='cluster %s to appear' % cluster.uuid)
        return cluster

    def _resize(self, cluster, count, **kwargs):
        before = self.magnum.clusters.get(cluster.uuid).updated_at
        self.magnum.clusters.resize(cluster.uuid, count, **kwargs)
        return self.wait_settled(cluster.uuid, UPDATE_TIMEOUT, since=before)

    def _servers(self, cluster):
        """``{physical id: resource}`` of the cluster's stand-in servers."""
        resources = self.heat.resources.list(cluster.stack_id,
                                             nested_depth=5)
        return {r.physical_resource_id: r for r in resources
                if r.resource_type == 'OS::Nova::Server'
                and r.physical_resource_id}

    def _wait_nodegroup(self, cluster_uuid, name, timeout):
        def settled():
            ng = self.magnum.nodegroups.get(cluster_uuid, name)
            return None if ng.status.endswith('IN_PROGRESS') else ng
        return base.wait_for(settled, timeout, what='nodegroup %s' % name)

    # tests ----------------------------------------------------------------
    def test_create_resize_nodegroups_delete(self):
        ct = self._template()
        cluster = self._cluster(ct, masters=1, workers=3)
        c = self.wait_settled(cluster.uuid, CREATE_TIMEOUT)
        self.assertEqual('CREATE_COMPLETE', c.status, c.status_reason)
        self.assertEqual(3, c.node_count)
        self.assertEqual(3, len(c.node_addresses))
        self.assertEqual(1, len(c.master_addresses))
        self.assertTrue(c.api_address)
        self.assertEqual(1, len(self._app_creds(c.uuid)))
        servers = self._servers(c)
        self.assertEqual(4, len(servers))

        # A refused CA rotation (HTTP 400) leaves the cluster as it was:
        # its CA, and (after Magnum's conductor recorded UPDATE_FAILED)
        # its status.
        pem = self.magnum.certificates.get(c.uuid).pem
        e = self.assertRaises(magnum_exc.BadRequest,
                              self.magnum.certificates.rotate_ca,
                              cluster_uuid=c.uuid)
        self.assertIn('Rotating the CA', str(e))

        def restored():
            now = self.magnum.clusters.get(c.uuid)
            return now if now.status == 'CREATE_COMPLETE' else None
        c = base.wait_for(restored, 60, interval=0.5,
                          what='status restored after the refusal')
        self.assertIn('Refused, nothing changed', c.status_reason)
        self.assertEqual(pem, self.magnum.certificates.get(c.uuid).pem)

        # Scale down, naming the node to remove.
        # Workers are ResourceGroup members (named by their index); a
        # master is the resource 'server' of its master.yaml stack.
        workers = [sid for sid, r in servers.items()
                   if r.resource_name.isdigit()]
        self.assertEqual(3, len(workers))
        victim = sorted(workers)[0]
        c = self._resize(c, 2, nodes_to_remove=[victim])
        self.assertEqual('UPDATE_COMPLETE', c.status, c.status_reason)
        self.assertEqual(2, c.node_count)
        self.assertEqual(2, len(c.node_addresses))
        after = self._servers(c)
        self.assertNotIn(victim, after)
        self.assertEqual(3, len(after))

        # Scale up again.
        c = self._resize(c, 5)
        self.assertEqual('UPDATE_COMPLETE', c.status, c.status_reason)
        self.assertEqual(5, len(c.node_addresses))

        # A second worker nodegroup, then its removal.
        self.magnum.nodegroups.create(c.uuid, name='extra', node_count=2,
                                      flavor_id='m1.large')
        ng = self._wait_nodegroup(c.uuid, 'extra', UPDATE_TIMEOUT)
        self.assertEqual('CREATE_COMPLETE', ng.status, ng.status_reason)
        self.assertEqual(2, ng.node_count)
        self.assertEqual(5 + 2 + 1, len(self._servers(c)))
        self.magnum.nodegroups.delete(c.uuid, 'extra')

        def ng_gone():
            names = [n.name for n in self.magnum.nodegroups.list(c.uuid)]
            return 'extra' not in names
        base.wait_for(ng_gone, UPDATE_TIMEOUT, what='nodegroup deleted')
        self.assertEqual(5 + 1, len(self._servers(c)))

        # Delete: the cluster and its stack go away.
        stack_id = c.stack_id
        self.magnum.clusters.delete(c.uuid)
        self.wait_gone(c.uuid, DELETE_TIMEOUT)
        self.wait_stack_gone(stack_id, 60)
        # ... and its application credential is gone from Keystone.
        self.assertEqual([], self._app_creds(c.uuid))

    def test_injected_failure_reaches_status_reason(self):
        ct = self._template()
        self.reh.configure_standins(fail_names=[FAIL_PATTERN])
        self.addCleanup(self.reh.configure_standins, fail_names=[])
        cluster = self._cluster(ct, name=self._name('c') + FAIL_PATTERN +
                                'x', masters=1, workers=2)
        c = self.wait_settled(cluster.uuid, CREATE_TIMEOUT)
        self.assertEqual('CREATE_FAILED', c.status)
        self.assertIn('injected failure', c.status_reason or '')

    def test_small_cluster_32_workers(self):
        # Three masters need the API load balancer (stand-in Octavia).
        ct = self._template(master_lb_enabled=True)
        cluster = self._cluster(ct, masters=3, workers=32)
        c = self.wait_settled(cluster.uuid, CREATE_TIMEOUT)
        self.assertEqual('CREATE_COMPLETE', c.status, c.status_reason)
        self.assertEqual(32, len(c.node_addresses))
        self.assertEqual(3, len(c.master_addresses))
        self.assertEqual(32, len(set(c.node_addresses)))
