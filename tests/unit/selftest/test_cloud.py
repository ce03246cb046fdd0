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
"""The openstacksdk adapter against a fake connection."""

import json

import testtools

from magnum_cern_driver.selftest import cloud as cloud_mod


class Resp(object):
    def __init__(self, status, body=None, headers=None):
        self.status_code = status
        self._body = body
        self.headers = headers or {}
        self.text = json.dumps(body) if body is not None else ''
        self.reason = 'reason'

    def json(self):
        if self._body is None:
            raise ValueError('no body')
        return self._body


class Proxy(object):
    def __init__(self, routes):
        self.routes = routes
        self.calls = []

    def request(self, url, method, **kwargs):
        self.calls.append((method, url, kwargs))
        for (m, prefix), resp in self.routes.items():
            if m == method and url.startswith(prefix):
                if isinstance(resp, Exception):
                    raise resp
                return resp(url, kwargs) if callable(resp) else resp
        return Resp(404, {'errors': [{'detail': 'no route %s' % url}]})


class Conn(object):
    def __init__(self, magnum=None, heat=None, keystone=None,
                 catalog=None):
        self.container_infrastructure_management = Proxy(magnum or {})
        self.orchestration = Proxy(heat or {})
        self.identity = Proxy(keystone or {})
        self.catalog = catalog or {
            'identity': 'http://127.0.0.1:5000/v3',
            'container-infra': 'http://127.0.0.1:9511/v1',
            'orchestration': 'http://127.0.0.1:8004/v1/p1'}
        self.current_user_id = 'u1'
        self.current_project_id = 'p1'

    def endpoint_for(self, stype):
        return self.catalog.get(stype)


class TestRequests(testtools.TestCase):
    def test_magnum_microversion_header_and_create_body(self):
        conn = Conn(magnum={('POST', '/clusters'): Resp(202, {'uuid': 'c1'})})
        c = cloud_mod.Cloud(conn)
        uuid = c.create_cluster('mcst-x', 't1', node_count=16,
                                master_count=1, create_timeout=12.4)
        self.assertEqual('c1', uuid)
        method, url, kw = conn.container_infrastructure_management.calls[0]
        self.assertEqual('container-infra 1.9',
                         kw['headers']['OpenStack-API-Version'])
        self.assertEqual({'name': 'mcst-x', 'cluster_template_id': 't1',
                          'node_count': 16, 'master_count': 1,
                          'create_timeout': 12}, kw['json'])

    def test_errors_are_one_line_and_typed(self):
        conn = Conn(magnum={
            ('GET', '/clusters/gone'): Resp(404, {'errors': [
                {'detail': 'Cluster gone could not be found.'}]}),
            ('DELETE', '/clusters/busy'): Resp(409, {'errors': [
                {'detail': 'in use\nreally'}]}),
            ('POST', '/clusters'): Resp(500, {'errors': [
                {'detail': 'Quota exceeded\nfor clusters'}]}),
            ('GET', '/clustertemplates'): Exception('Connection refused')})
        c = cloud_mod.Cloud(conn)
        self.assertIsNone(c.get_cluster('gone'))
        self.assertRaises(cloud_mod.Conflict, c.delete_cluster, 'busy')
        e = self.assertRaises(cloud_mod.CloudError, c.create_cluster, 'n',
                              't', 1)
        self.assertIn('HTTP 500', str(e))
        self.assertIn('Quota exceeded for clusters', str(e))
        self.assertNotIn('\n', str(e))
        e = self.assertRaises(cloud_mod.CloudError, c.list_templates)
        self.assertIn('Connection refused', str(e))

    def test_delete_of_missing_cluster_is_gone(self):
        conn = Conn(magnum={('DELETE', '/clusters/x'): Resp(404, {})})
        self.assertEqual('gone', cloud_mod.Cloud(conn).delete_cluster('x'))

    def test_list_clusters_pages_and_filters(self):
        pages = [{'clusters': [{'uuid': 'a', 'name': 'mcst-r-1'},
                               {'uuid': 'b', 'name': 'prod'}],
                  'next': 'http://x/v1/clusters?marker=b'},
                 {'clusters': [{'uuid': 'c', 'name': 'mcst-r-2'}]}]

        def page(url, kw):
            return Resp(200, pages[1] if 'marker=b' in url else pages[0])
        conn = Conn(magnum={('GET', '/clusters'): page})
        names = [c['name'] for c in
                 cloud_mod.Cloud(conn).list_clusters('mcst-r-')]
        self.assertEqual(['mcst-r-1', 'mcst-r-2'], names)

    def test_list_clusters_detail_has_the_reason(self):
        seen = []

        def page(url, kw):
            seen.append(url)
            return Resp(200, {'clusters': [
                {'uuid': 'a', 'name': 'mcst-r-1',
                 'status': 'CREATE_IN_PROGRESS',
                 'status_reason': 'Stalled: ...'}]})
        conn = Conn(magnum={('GET', '/clusters'): page})
        listed = cloud_mod.Cloud(conn).list_clusters('mcst-r-', detail=True)
        self.assertEqual('Stalled: ...', listed[0]['status_reason'])
        self.assertEqual(['/clusters/detail?limit=1000'], seen)
        cloud_mod.Cloud(conn).list_clusters('mcst-r-')
        self.assertEqual('/clusters?limit=1000', seen[-1])

    def test_versions_from_headers(self):
        conn = Conn(magnum={('GET', '/clusters'): Resp(200, {
            'clusters': []}, headers={
            'OpenStack-API-Minimum-Version': 'container-infra 1.1',
            'OpenStack-API-Maximum-Version': 'container-infra 1.14'})})
        self.assertEqual({'min': '1.1', 'max': '1.14'},
                         cloud_mod.Cloud(conn).magnum_api_versions())

    def test_stack_polled_without_outputs_and_deleted_is_none(self):
        conn = Conn(heat={('GET', '/stacks/s1'): Resp(200, {'stack': {
            'id': 's1', 'stack_name': 'n', 'stack_status':
            'DELETE_COMPLETE'}})})
        c = cloud_mod.Cloud(conn)
        self.assertIsNone(c.get_stack('s1'))
        self.assertIn('resolve_outputs=False',
                      conn.orchestration.calls[0][1])

    def test_probe(self):
        conn = Conn(magnum={('GET', '/clusters'): Resp(200, {})},
                    heat={('GET', '/stacks'): Exception('refused')},
                    keystone={('GET', '/auth/projects'): Resp(200, {})})
        del conn.catalog['identity']
        res = cloud_mod.Cloud(conn).probe()
        self.assertTrue(res['container-infra']['ok'])
        self.assertFalse(res['orchestration']['ok'])
        self.assertIn('refused', res['orchestration']['message'])
        self.assertFalse(res['identity']['ok'])
        self.assertIn('not in the service catalog',
                      res['identity']['message'])

    def test_app_credentials(self):
        conn = Conn(keystone={
            ('GET', '/users/u1/application_credentials'): Resp(200, {
                'application_credentials': [{'id': 'a1', 'name': 'n',
                                             'secret': 'nope'}]}),
            ('DELETE', '/users/u1/application_credentials/a1'): Resp(204)})
        c = cloud_mod.Cloud(conn)
        creds = c.list_app_credentials()
        self.assertEqual([{'id': 'a1', 'name': 'n', 'description': None}],
                         creds)
        self.assertEqual('gone', c.delete_app_credential('a1'))


class TestResolveTarget(testtools.TestCase):
    def test_order(self):
        r = cloud_mod.resolve_target
        self.assertEqual(('cloud', 'x'), r('x', env={'OS_CLOUD': 'y'}))
        self.assertEqual(('cloud', 'y'), r(None, env={'OS_CLOUD': 'y'}))
        self.assertEqual(('envvars', None),
                         r(None, env={'OS_AUTH_URL': 'http://k'}))
        self.assertEqual(('cloud', 'only'), r(None, env={},
                                              config_loader=lambda: [
                                                  'only']))
        self.assertEqual(('rehearsal', None),
                         r(None, env={}, config_loader=lambda: []))

    def test_parse_time(self):
        t = cloud_mod.parse_time('2026-11-22T03:00:00Z')
        self.assertEqual(3, t.hour)
        self.assertIsNotNone(cloud_mod.parse_time('2026-11-22T03:00:00'
                                                  ).tzinfo)
        self.assertIsNone(cloud_mod.parse_time('nonsense'))
        self.assertIsNone(cloud_mod.parse_time(None))
