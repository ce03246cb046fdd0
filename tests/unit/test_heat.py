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
"""The Heat adapter against a fake Heat/Keystone over real HTTP."""

import logging
import socket
import threading

import fixtures

from magnum.tests import base

from magnum_cern_driver import heat
from tests.unit import fakes_heat

TEMPLATE = {'heat_template_version': '2021-04-16',
            'parameters': {'count': {'type': 'number'},
                           'user_data': {'type': 'string', 'hidden': True}},
            'resources': {}}
SECRET = 'bootstrap.0123456789abcdef'


class HeatAdapterTest(fakes_heat.FakeCloudMixin, base.TestCase):

    def _create(self, ctx=None, name='c1-12345678'):
        api = heat.Heat(ctx or self.ctx)
        return api.create_stack(name, TEMPLATE, parameters={
            'count': 2, 'user_data': 'token=%s' % SECRET},
            timeout_mins=30, secrets=[SECRET])

    def test_create_and_get_with_one_request(self):
        stack_id = self._create()
        stack = heat.Heat(self.ctx).get_stack(stack_id, 'c1-12345678')
        self.assertEqual('CREATE_IN_PROGRESS', stack['stack_status'])
        # name/id: no redirect, and no outputs resolved
        self.assertEqual(1, self.cloud.count('GET', 'heat_show'))
        self.assertEqual(0, self.cloud.count('GET', 'heat_lookup'))
        self.assertEqual(1, self.cloud.count('GET', 'show_no_outputs'))
        self.assertEqual(30, self.cloud.stack(stack_id).timeout_mins)
        self.assertEqual('******', stack['parameters']['user_data'])

    def test_concurrent_requests_keep_their_connections(self):
        # As many requests at once as the conductor has RPC threads: none
        # of their connections is discarded for a full pool.
        stack_id = self._create()
        self.cloud.slow_show_answer = 0.3
        logger = self.useFixture(fixtures.FakeLogger(
            name='urllib3.connectionpool', level=logging.WARNING))
        api = heat.Heat(self.ctx)
        threads = [threading.Thread(target=api.get_stack,
                                    args=(stack_id, 'c1-12345678'))
                   for _ in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(40, self.cloud.count('GET', 'heat_show'))
        self.assertNotIn('Connection pool is full', logger.output)

    def test_admin_context_uses_service_credentials(self):
        stack_id = self._create()
        admin = self.fx.admin_context()
        self.assertIsNone(admin.auth_token)
        for _ in range(3):
            stack = heat.Heat(admin).get_stack(stack_id, 'c1-12345678')
            self.assertEqual(stack_id, stack['id'])
        # one token for the service user, reused by every call
        self.assertEqual(1, self.cloud.count('POST', 'ks_token'))
        # the URL carried the service project, Heat let the admin read
        paths = [p for m, p in self.cloud.log if m == 'GET'
                 and '/stacks/' in p]
        self.assertTrue(all(fakes_heat.ADMIN_PROJECT in p for p in paths))

    def test_sessions_cached_per_identity_sharing_one_pool(self):
        s1 = heat.get_session(self.ctx)
        self.assertIs(s1, heat.get_session(self.ctx))
        other = self.fx.user_context()
        s2 = heat.get_session(other)
        self.assertIsNot(s1, s2)
        self.assertIs(s1.session, s2.session)
        admin = heat.get_session(self.fx.admin_context())
        self.assertIs(admin, heat.get_session(self.fx.admin_context()))
        self.assertIs(s1.session, admin.session)

    def test_not_found(self):
        self.assertRaises(heat.StackNotFound, heat.Heat(self.ctx).get_stack,
                          '047c6319-7abd-4bd9-a033-8c6af0173cd0', 'x')

    def test_server_error_is_transient(self):
        stack_id = self._create()
        self.cloud.fail_with = 503
        e = self.assertRaises(heat.HeatTransient,
                              heat.Heat(self.ctx).get_stack, stack_id, 'x')
        self.assertEqual(503, e.code)

    def test_unreachable_is_transient(self):
        stack_id = self._create()
        self.cloud.stop()
        e = self.assertRaises(heat.HeatTransient,
                              heat.Heat(self.ctx).get_stack, stack_id, 'x')
        self.assertIn('unreachable', str(e))

    def test_read_timeout_is_transient(self):
        # A socket that accepts connections (backlog) but never answers.
        sock = socket.socket()
        self.addCleanup(sock.close)
        sock.bind(('127.0.0.1', 0))
        sock.listen(8)
        port = sock.getsockname()[1]
        ctx = self.fx.user_context()
        for svc in ctx.auth_token_info['token']['catalog']:
            if svc['type'] == 'orchestration':
                for ep in svc['endpoints']:
                    ep['url'] = 'http://127.0.0.1:%d/heat/v1/p' % port
        self.config(group='keystone_auth', timeout=0.3)
        heat.reset_sessions()
        self.assertRaises(heat.HeatTransient, heat.Heat(ctx).get_stack,
                          '047c6319-7abd-4bd9-a033-8c6af0173cd0', 'x')

    def test_rejected_create_names_reason_without_secret(self):
        self.cloud.reject_create = (400, 'Parameter user_data is invalid')
        # keystoneauth logs requests at DEBUG here (a call without secrets)
        self.assertRaises(heat.StackNotFound, heat.Heat(self.ctx).get_stack,
                          '047c6319-7abd-4bd9-a033-8c6af0173cd0', 'x')
        self.assertIn('REQ: curl', self.logs.output)
        e = self.assertRaises(heat.HeatError, self._create)
        self.assertNotIsInstance(e, heat.HeatTransient)
        self.assertEqual(400, e.code)
        self.assertIn('Parameter user_data is invalid', str(e))
        self.assertNotIn(SECRET, str(e))
        self.assertNotIn(SECRET, self.logs.output)

    def test_patch_sends_only_what_is_given(self):
        stack_id = self._create()
        heat.Heat(self.ctx).update_stack(stack_id, 'c1-12345678',
                                         parameters={'count': 5})
        patch = self.cloud.stack(stack_id).patches[-1]
        self.assertEqual({'count': 5}, patch['parameters'])
        self.assertNotIn('template', patch)
        self.assertEqual('token=%s' % SECRET,
                         self.cloud.stack(stack_id).parameters['user_data'])

    def test_delete_missing_stack_is_not_an_error(self):
        stack_id = self._create()
        api = heat.Heat(self.ctx)
        self.assertTrue(api.delete_stack(stack_id, 'c1-12345678'))
        del self.cloud.stacks[stack_id]
        self.assertFalse(api.delete_stack(stack_id, 'c1-12345678'))

    def test_deepest_failure_reason(self):
        stack_id = self._create()
        s = self.cloud.stack(stack_id)
        s.status = 'CREATE_FAILED'
        shard_id, group_id = ('11111111-1111-1111-1111-111111111111',
                              '22222222-2222-2222-2222-222222222222')
        s.resources = [
            fakes_heat.failed_resource(
                'ng_default_worker_shard_0', 'worker_shard.yaml',
                'Resource CREATE failed: ResourceInError: resources.workers'
                '.resources[3]', s.name, s.id, nested=shard_id),
            fakes_heat.failed_resource(
                'workers', 'OS::Heat::ResourceGroup',
                'ResourceInError: resources[3]', 'shard', shard_id,
                nested=group_id, parent='ng_default_worker_shard_0',
                depth=1),
            fakes_heat.failed_resource(
                '3', 'OS::Nova::Server',
                'Went to status ERROR due to "No valid host was found"',
                'group', group_id, physical_id='server-3',
                parent='workers', depth=2),
        ]
        reason = heat.Heat(self.ctx).failure_reason(stack_id, s.name)
        self.assertTrue(reason.startswith('workers/3 (OS::Nova::Server)'),
                        reason)
        self.assertIn('No valid host was found', reason)
        self.assertNotIn('shard_0', reason)

    def test_failure_reason_falls_back_to_stack_reason(self):
        stack_id = self._create()
        self.cloud.stop()
        reason = heat.Heat(self.ctx).failure_reason(
            stack_id, 'c1-12345678',
            stack={'stack_status_reason': 'Timed out'})
        self.assertEqual('Timed out', reason)


class DeepestFailuresTest(base.TestCase):

    def test_leaves_only(self):
        root = fakes_heat.failed_resource('a', 'T', 'r', 'root', 'R',
                                          nested='N1')
        mid = fakes_heat.failed_resource('b', 'T', 'r', 'n1', 'N1',
                                         nested='N2')
        leaf = fakes_heat.failed_resource('c', 'S', 'r', 'n2', 'N2',
                                          physical_id='srv')
        other = fakes_heat.failed_resource('d', 'S', 'r', 'root', 'R')
        self.assertEqual(['c', 'd'], [r['resource_name'] for r in
                                      heat.deepest_failures(
                                          [root, mid, leaf, other])])

    def test_redact(self):
        self.assertEqual('x *** y', heat.redact('x abcdef y', ['abcdef']))
        self.assertEqual('x ab y', heat.redact('x ab y', ['ab', None]))

    def test_redact_reindented_pem(self):
        key = ('-----BEGIN PRIVATE KEY-----\n'
               'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n'
               'BKcwggSjAgEAAoIBAQC7VJTUt9Us8cKB\n'
               '-----END PRIVATE KEY-----\n')
        echoed = 'bad value:\n    ' + '\n    '.join(key.splitlines())
        out = heat.redact(echoed, [key])
        self.assertNotIn('MIIEvQIBADANBgkqhkiG9w0BAQEFAASC', out)
        self.assertNotIn('BKcwggSjAgEAAoIBAQC7VJTUt9Us8cKB', out)
        self.assertIn('bad value:', out)
