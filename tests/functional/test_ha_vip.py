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
"""Several masters without Octavia, through Magnum's real API.

Magnum's API refuses ``master_count > 1`` unless ``master_lb_enabled`` is
true (``magnum/api/attr_validator.py: validate_master_count``). The driver
reads that as "an HA API endpoint is wanted" and, with ``master_lb_type``
``vip`` (the default), provides it as a Neutron port that keepalived holds
on the masters: the stack has no Octavia resource and the cluster's
``api_address`` is that port's address.
"""

import json
import uuid


from tests.functional import base

CREATE_TIMEOUT = 300
DELETE_TIMEOUT = 300
API_PORT = 6443


class TestHighlyAvailableVip(base.RehearsalTestCase):

    def _name(self, kind):
        return 'havip-%s-%s' % (kind, uuid.uuid4().hex[:8])

    def _template(self, kind, labels):
        """A template for several masters with the HA endpoint wanted."""
        return self.make_template(self._name(kind), master_lb_enabled=True,
                                  labels=labels)

    def test_three_masters_behind_a_vip_without_octavia(self):
        ct = self._template('ct', {'master_lb_type': 'vip'})
        cluster = self.magnum.clusters.create(
            name=self._name('c'), cluster_template_id=ct.uuid,
            master_count=3, node_count=2)
        self.addCleanup(self.delete_cluster, cluster.uuid, DELETE_TIMEOUT,
                        CREATE_TIMEOUT)

        c = self.wait_settled(cluster.uuid, CREATE_TIMEOUT)
        self.assertEqual('CREATE_COMPLETE', c.status, c.status_reason)
        self.assertTrue(c.master_lb_enabled)
        self.assertEqual(3, c.master_count)
        self.assertEqual(3, len(c.master_addresses))
        self.assertEqual(2, len(c.node_addresses))

        # The stack tree: a VIP port, nothing of Octavia.
        resources = self.heat.resources.list(c.stack_id, nested_depth=5)
        octavia = sorted('%s (%s)' % (r.resource_name, r.resource_type)
                         for r in resources
                         if r.resource_type.startswith('OS::Octavia::'))
        self.assertEqual([], octavia)
        names = {r.resource_name: r.resource_type for r in resources}
        self.assertEqual('OS::Neutron::Port', names.get('api_vip'))
        self.assertNotIn('api_lb', names)
        stack = self.heat.stacks.get(c.stack_id)
        self.assertEqual('False', str(stack.parameters['master_lb_enabled']))

        # api_address is the VIP port's fixed IP.
        vip = self.heat.resources.get(c.stack_id, 'api_vip')
        vip_ip = vip.attributes['fixed_ips'][0]['ip_address']
        self.assertTrue(vip_ip)
        self.assertEqual('https://%s:%d' % (vip_ip, API_PORT),
                         c.api_address)
        self.assertNotIn(vip_ip, c.master_addresses)

        # Delete: the cluster, its stack and its credential go away.
        stack_id = c.stack_id
        self.magnum.clusters.delete(c.uuid)
        self.wait_gone(c.uuid, DELETE_TIMEOUT)

        self.wait_stack_gone(stack_id, 60)
        self.assertEqual([], sorted(
            n for n in self.app_cred_names()
            if n.startswith('magnum-%s' % c.uuid)))

    def _master_stacks(self, stack_id):
        """{master member name: (nested stack id, server id)}."""
        resources = self.heat.resources.list(stack_id, nested_depth=5)
        out = {}
        for r in resources:
            if r.resource_type != 'OS::Nova::Server' or \
                    r.resource_name != 'server':
                continue
            nested = [link['href'].rstrip('/').rsplit('/', 1)[-1]
                      for link in r.links if link.get('rel') == 'stack'][0]
            out[nested] = r.physical_resource_id
        return out

    def test_upgrade_replaces_masters_one_ready_master_at_a_time(self):
        ct = self._template('ct', {'kube_tag': 'v1.31.4'})
        # Made before the cluster, so deleted after it (the upgraded
        # cluster refers to it).
        new_ct = self._template('ct132', {'kube_tag': 'v1.32.0'})
        cluster = self.magnum.clusters.create(
            name=self._name('c'), cluster_template_id=ct.uuid,
            master_count=3, node_count=1)
        self.addCleanup(self.delete_cluster, cluster.uuid, DELETE_TIMEOUT,
                        CREATE_TIMEOUT)
        c = self.wait_settled(cluster.uuid, CREATE_TIMEOUT)
        self.assertEqual('CREATE_COMPLETE', c.status, c.status_reason)
        before = self._master_stacks(c.stack_id)
        self.assertEqual(3, len(before))

        self.magnum.clusters.upgrade(c.uuid, new_ct.uuid, max_batch_size=1)
        c = self.wait_settled(c.uuid, CREATE_TIMEOUT)
        self.assertEqual('UPDATE_COMPLETE', c.status, c.status_reason)

        stack = self.heat.stacks.get(c.stack_id)
        self.assertEqual('2', str(stack.parameters['master_generation']))
        after = self._master_stacks(c.stack_id)
        # Same member stacks, every server replaced (new user data).
        self.assertEqual(sorted(before), sorted(after))
        for nested, server in after.items():
            self.assertNotEqual(before[nested], server)
            # Each master's wait condition now holds two readiness signals:
            # Heat waited for the new server's before it went on.
            ready = self.heat.resources.get(nested, 'ready')
            self.assertEqual('UPDATE_COMPLETE', ready.resource_status)
            data = ready.attributes['data']
            if isinstance(data, str):
                data = json.loads(data)
            self.assertEqual(2, len(data), data)
