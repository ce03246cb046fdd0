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
"""A refused CA rotation through Magnum's own conductor handlers
(magnum.conductor.handlers.ca_conductor / credential_conductor), the real
x509keypair certificate store and Magnum's DB test base: the cluster keeps
its status and its certificates."""

import fixtures
from magnum.common import exception
from magnum.conductor.handlers import ca_conductor
from magnum.conductor.handlers import credential_conductor
from magnum import objects

from magnum_cern_driver import driver
from magnum_cern_driver import refusal
from tests.unit.test_driver import CLUSTER_UUID
from tests.unit.test_driver import DriverTestBase


class RefusedRotationTest(DriverTestBase):

    def setUp(self):
        super().setUp()
        self.spawned = []
        self.useFixture(fixtures.MonkeyPatch(
            'magnum_cern_driver.refusal._spawn',
            lambda fn, *args: self.spawned.append((fn, args))))

    def load(self):
        return objects.Cluster.get_by_uuid(self.admin, CLUSTER_UUID)

    def run_spawned(self):
        self.assertEqual(1, len(self.spawned))
        fn, args = self.spawned.pop()
        return fn(*args, sleep=lambda s: None)

    def ca_pem(self, cluster):
        return ca_conductor.Handler().get_ca_certificate(
            self.ctx, cluster).pem

    def test_refused_ca_rotation_leaves_the_cluster_as_it_was(self):
        stack, cluster = self.complete()
        refs = {f: getattr(cluster, f) for f in driver._CERT_REFS}
        pem = self.ca_pem(cluster)
        e = self.assertRaises(exception.NotSupported,
                              ca_conductor.Handler().rotate_ca_certificate,
                              self.ctx, self.load())
        # What Magnum's conductor recorded: the harm to undo.
        cluster = self.load()
        self.assertEqual('UPDATE_FAILED', cluster.status)
        self.assertEqual(str(e), cluster.status_reason)
        self.assertTrue(self.run_spawned())
        cluster = self.load()
        self.assertEqual('CREATE_COMPLETE', cluster.status)
        self.assertTrue(cluster.status_reason.startswith(
            refusal.REFUSED_PREFIX), cluster.status_reason)
        self.assertEqual(refs, {f: getattr(cluster, f)
                                for f in driver._CERT_REFS})
        self.assertEqual(pem, self.ca_pem(cluster))
        self.assertEqual([], stack.patches)     # Heat was not touched
        # ... and a second attempt is refused the same way (the restored
        # status is one Magnum allows rotating from).
        self.assertRaises(exception.NotSupported,
                          ca_conductor.Handler().rotate_ca_certificate,
                          self.ctx, self.load())
        self.assertTrue(self.run_spawned())
        self.assertEqual('CREATE_COMPLETE', self.load().status)

    def test_restore_yields_to_another_action(self):
        self.complete()
        self.assertRaises(exception.NotSupported,
                          ca_conductor.Handler().rotate_ca_certificate,
                          self.ctx, self.load())
        # A resize began before the restore ran: it wins.
        cluster = self.load()
        cluster.status = 'UPDATE_IN_PROGRESS'
        cluster.status_reason = None
        cluster.save()
        self.assertFalse(self.run_spawned())
        self.assertEqual('UPDATE_IN_PROGRESS', self.load().status)

    def test_restore_gives_up_when_the_conductor_never_records(self):
        self.complete()
        clock = iter(range(0, 1000, 10))
        fn = refusal.restore
        self.assertFalse(fn(self.admin, CLUSTER_UUID, 'CREATE_COMPLETE',
                            None, 'never recorded', wait=30,
                            sleep=lambda s: None,
                            clock=lambda: next(clock)))
        self.assertEqual('CREATE_COMPLETE', self.load().status)

    def test_refused_credential_rotation_changes_nothing(self):
        self.complete()
        before = self.load()
        self.assertRaises(exception.NotSupported,
                          credential_conductor.Handler().credential_rotate,
                          self.ctx, self.load())
        after = self.load()
        self.assertEqual(before.status, after.status)
        self.assertEqual(before.status_reason, after.status_reason)
        self.assertEqual([], self.spawned)
