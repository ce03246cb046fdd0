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
"""Drain with the real kubernetes client against a fake API over HTTP."""

import time
import types

from kubernetes import client as k8s_client
from magnum.tests import base

from magnum_cern_driver import drain
from tests.unit import fakes_heat


class DrainTest(base.TestCase):

    def setUp(self):
        super().setUp()
        self.cloud = fakes_heat.FakeCloud().start()
        self.addCleanup(self.cloud.stop)
        self.cluster = types.SimpleNamespace(
            uuid='c1', api_address=self.cloud.base)
        self.cloud.k8s_nodes = {'n1': {}, 'n2': {}, 'keep': {}}

    def factory(self, context, cluster):
        config = k8s_client.Configuration()
        config.host = cluster.api_address
        config.retries = 0          # as drain._api_client does
        return k8s_client.ApiClient(config)

    def test_cordon_and_evict(self):
        self.cloud.k8s_pods = [
            fakes_heat.k8s_pod('web-1', 'n1'),
            fakes_heat.k8s_pod('web-2', 'n2', namespace='shop'),
            fakes_heat.k8s_pod('flannel', 'n1', daemonset=True),
            fakes_heat.k8s_pod('db', 'keep'),
        ]
        result = drain.drain(None, self.cluster, ['n1', 'n2', 'gone'], 10,
                             api_factory=self.factory)
        self.assertTrue(result.complete, result.message)
        self.assertEqual(['n1', 'n2', 'gone'], result.drained)
        self.assertTrue(self.cloud.k8s_nodes['n1']['unschedulable'])
        self.assertTrue(self.cloud.k8s_nodes['n2']['unschedulable'])
        self.assertNotIn('unschedulable', self.cloud.k8s_nodes['keep'])
        left = sorted(p['metadata']['name'] for p in self.cloud.k8s_pods)
        self.assertEqual(['db', 'flannel'], left)

    def test_disruption_budget_bounds_the_wait(self):
        self.cloud.k8s_pods = [fakes_heat.k8s_pod('quorum', 'n1',
                                                  blocked=True)]
        start = time.monotonic()
        result = drain.drain(None, self.cluster, ['n1'], 1,
                             api_factory=self.factory)
        self.assertLess(time.monotonic() - start, 4)
        self.assertFalse(result.complete)
        self.assertEqual(['n1'], result.not_drained)
        self.assertIn('incomplete after 1s', result.message)

    def test_unreachable_api(self):
        self.cloud.stop()
        result = drain.drain(None, self.cluster, ['n1'], 5,
                             api_factory=self.factory)
        self.assertFalse(result.complete)
        self.assertIn('not reachable', result.message)

    def test_disabled_or_no_address(self):
        self.assertIn('drain_timeout is 0', drain.drain(
            None, self.cluster, ['n1'], 0).message)
        self.cluster.api_address = None
        self.assertIn('no API address', drain.drain(
            None, self.cluster, ['n1'], 5).message)
        self.assertEqual('', drain.drain(None, self.cluster, [], 5).message)
