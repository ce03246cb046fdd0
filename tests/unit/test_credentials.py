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
"""Application credentials against a fake Keystone over real HTTP."""

import re
import types

from magnum.tests import base

from magnum_cern_driver import credentials
from tests.unit import fakes_heat

UUID = '5d12f6fd-a196-4bf0-ae4c-1f639a523a52'


def _cluster(uuid=UUID, user='fake_user'):
    return types.SimpleNamespace(uuid=uuid, user_id=user)


class CredentialsTest(fakes_heat.FakeCloudMixin, base.TestCase):

    def test_create_list_delete(self):
        cred_id, secret = credentials.create(self.ctx, _cluster())
        stored = self.cloud.app_creds[cred_id]
        self.assertEqual(secret, stored['secret'])
        self.assertEqual('fake_user', stored['user_id'])
        self.assertFalse(stored['unrestricted'])
        self.assertNotIn(secret, self.logs.output)
        # another cluster of the same user is not touched
        other_id, _ = credentials.create(self.ctx, _cluster(uuid='x' * 36))
        self.assertEqual([cred_id], [c for c, _ in credentials.list_for(
            self.ctx, _cluster())])
        self.assertEqual(1, credentials.delete_all(self.ctx, _cluster()))
        self.assertEqual([other_id], list(self.cloud.app_creds))
        # idempotent
        self.assertEqual(0, credentials.delete_all(self.ctx, _cluster()))

    def test_keystone_lists_only_the_clusters_credentials(self):
        # An owner of many clusters: Keystone builds only this cluster's
        # rows, not every credential of the user, for each delete.
        mine, _ = credentials.create(self.ctx, _cluster())
        for i in range(20):
            credentials.create(self.ctx, _cluster(uuid='%036d' % i))
        self.cloud.app_creds_listed = 0
        self.assertEqual([mine], [c for c, _ in credentials.list_for(
            self.ctx, _cluster())])
        self.assertEqual(1, self.cloud.app_creds_listed)

    def test_delete_keeps_what_is_asked(self):
        first, _ = credentials.create(self.ctx, _cluster())
        second, _ = credentials.create(self.ctx, _cluster())
        self.assertNotEqual(first, second)
        credentials.delete_all(self.ctx, _cluster(), keep=[second])
        self.assertEqual([second], list(self.cloud.app_creds))

    def test_other_user_falls_back_to_service_credentials(self):
        credentials.create(self.ctx, _cluster())
        other = self.fx.user_context(user='someone_else')
        self.assertRaises(credentials.CredentialError,
                          credentials.delete_all, other, _cluster())
        self.assertEqual(1, credentials.delete_all(
            other, _cluster(), service_context=self.fx.admin_context()))
        self.assertEqual({}, self.cloud.app_creds)

    def test_errors_carry_no_body(self):
        self.cloud.stop()
        e = self.assertRaises(credentials.CredentialError,
                              credentials.create, self.ctx, _cluster())
        self.assertIn('unreachable', str(e))

    def test_bootstrap_token(self):
        key = '-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n'
        token = credentials.bootstrap_token(key, UUID)
        self.assertTrue(re.fullmatch(r'[a-z0-9]{6}\.[a-z0-9]{16}', token))
        self.assertEqual(token, credentials.bootstrap_token(key, UUID))
        self.assertNotEqual(token, credentials.bootstrap_token(key, 'other'))
        self.assertNotEqual(token, credentials.bootstrap_token(key + 'x',
                                                               UUID))

    def test_auth_url_from_catalog(self):
        self.assertEqual(self.cloud.identity_url,
                         credentials.auth_url(self.ctx))
