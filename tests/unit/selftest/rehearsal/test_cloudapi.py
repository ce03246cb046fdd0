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
"""The stand-in Nova/Neutron APIs: keypairs, servers, ports, faults.

Routing and formats are pure (``cloudapi.route`` with stores in a temporary
directory); the WSGI adapter is driven with a WSGI environ and a fake
Keystone answer. The real clients are driven against the rehearsal in
tests/functional/test_clients.py.
"""

import io
import json
import os
import threading
from unittest import mock

import fixtures
import testtools

from magnum_cern_driver.selftest.rehearsal import cloudapi
from magnum_cern_driver.selftest.rehearsal import compute_api
from magnum_cern_driver.selftest.rehearsal import hollow_store

BASE = 'http://127.0.0.1:1'
ALICE = cloudapi.Identity('alice-id', 'proj-a', ['member', 'reader'])
BOB = cloudapi.Identity('bob-id', 'proj-b', ['member'])
ADMIN = cloudapi.Identity('admin-id', 'proj-admin', ['admin'])
# ssh-keygen -t ed25519 (a throw-away public key for the import path).
PUBLIC_KEY = ('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBmS3vL0cj2rn0rJ0Yx5Pz8Wn'
              'f1xHcRVA7r9m8nFz3zT test@rehearsal')


def server_record(sid, project='proj-a', name='c1-master-0', **extra):
    record = {'id': sid, 'name': name, 'status': 'ACTIVE',
              'addresses': {'private': [{
                  'addr': '10.0.0.10', 'version': 4,
                  'OS-EXT-IPS:type': 'fixed',
                  'OS-EXT-IPS-MAC:mac_addr': 'fa:16:3e:00:00:00'}]},
              'flavor': 'm1.small', 'image': 'img-1', 'key_name': 'k1',
              'metadata': {'cern_role': 'master'}, 'project_id': project,
              'user_id': 'alice-id', 'created': '2026-01-01T00:00:00Z',
              'updated': '2026-01-01T00:00:00Z'}
    record.update(extra)
    return record


class StoreTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path
        self.keypairs = hollow_store.KeypairStore(self.dir)
        self.servers = hollow_store.ServerStore(self.dir)
        self.networks = hollow_store.NetworkStore(self.dir)

    def call(self, method, path, identity=ALICE, query=None, body=None,
             version=(2, 1), quotas=None):
        return cloudapi.route(method, path, query or {}, BASE,
                              quotas=quotas, body=body, identity=identity,
                              version=version, keypairs=self.keypairs,
                              servers=self.servers, networks=self.networks)


class TestKeypairs(StoreTestCase):

    def test_generate_at_2_1(self):
        status, body = self.call('POST', '/compute/v2.1/os-keypairs',
                                 body={'keypair': {'name': 'k1'}})
        self.assertEqual('200 OK', status)
        kp = body['keypair']
        self.assertIn('PRIVATE KEY', kp['private_key'])
        self.assertTrue(kp['public_key'].startswith('ssh-rsa '))
        self.assertEqual(compute_api.fingerprint(kp['public_key']),
                         kp['fingerprint'])
        self.assertEqual(47, len(kp['fingerprint']))
        self.assertEqual('alice-id', kp['user_id'])
        self.assertNotIn('type', kp)            # from 2.2
        # The private key is never stored.
        with open(os.path.join(self.dir, 'keypairs.json')) as f:
            self.assertNotIn('PRIVATE', f.read())

    def test_import_list_show_delete_by_version(self):
        status, body = self.call(
            'POST', '/compute/v2.1/os-keypairs', version=(2, 92),
            body={'keypair': {'name': 'k1', 'public_key': PUBLIC_KEY}})
        self.assertEqual('201 Created', status)
        self.assertNotIn('private_key', body['keypair'])
        self.assertEqual('ssh', body['keypair']['type'])
        status, body = self.call('GET', '/compute/v2.1/os-keypairs',
                                 version=(2, 2))
        self.assertEqual(['k1'], [k['keypair']['name']
                                  for k in body['keypairs']])
        self.assertEqual('ssh', body['keypairs'][0]['keypair']['type'])
        status, body = self.call('GET', '/compute/v2.1/os-keypairs/k1')
        self.assertEqual('200 OK', status)
        for key in ('user_id', 'id', 'created_at', 'deleted'):
            self.assertIn(key, body['keypair'])
        status, body = self.call('DELETE', '/compute/v2.1/os-keypairs/k1',
                                 version=(2, 2))
        self.assertEqual(('204 No Content', None), (status, body))
        status, body = self.call('DELETE', '/compute/v2.1/os-keypairs/k1')
        self.assertEqual('404 Not Found', status)
        self.assertEqual(404, body['itemNotFound']['code'])

    def test_delete_at_2_1_is_accepted(self):
        self.call('POST', '/compute/v2.1/os-keypairs',
                  body={'keypair': {'name': 'k1', 'public_key': PUBLIC_KEY}})
        status, _ = self.call('DELETE', '/compute/v2.1/os-keypairs/k1')
        self.assertEqual('202 Accepted', status)

    def test_per_user(self):
        self.call('POST', '/compute/v2.1/os-keypairs',
                  body={'keypair': {'name': 'k1', 'public_key': PUBLIC_KEY}})
        status, _ = self.call('GET', '/compute/v2.1/os-keypairs/k1',
                              identity=BOB)
        self.assertEqual('404 Not Found', status)
        _, body = self.call('GET', '/compute/v2.1/os-keypairs',
                            identity=BOB)
        self.assertEqual([], body['keypairs'])
        # Bob may have his own k1.
        status, _ = self.call(
            'POST', '/compute/v2.1/os-keypairs', identity=BOB,
            body={'keypair': {'name': 'k1', 'public_key': PUBLIC_KEY}})
        self.assertEqual('200 OK', status)

    def test_other_users_keypairs_admin_only_from_2_10(self):
        self.call('POST', '/compute/v2.1/os-keypairs',
                  body={'keypair': {'name': 'k1', 'public_key': PUBLIC_KEY}})
        _, body = self.call('GET', '/compute/v2.1/os-keypairs',
                            identity=ADMIN, version=(2, 10),
                            query={'user_id': ['alice-id']})
        self.assertEqual(1, len(body['keypairs']))
        status, body = self.call('GET', '/compute/v2.1/os-keypairs',
                                 identity=BOB, version=(2, 10),
                                 query={'user_id': ['alice-id']})
        self.assertEqual('403 Forbidden', status)
        self.assertIn('forbidden', body)

    def test_errors_in_nova_format(self):
        body = {'keypair': {'name': 'k1', 'public_key': PUBLIC_KEY}}
        self.call('POST', '/compute/v2.1/os-keypairs', body=body)
        status, out = self.call('POST', '/compute/v2.1/os-keypairs',
                                body=body)
        self.assertEqual('409 Conflict', status)
        self.assertEqual("Key pair 'k1' already exists.",
                         out['conflictingRequest']['message'])
        for bad in ({}, {'keypair': {}}, {'keypair': {'name': 'a/b'}},
                    {'keypair': {'name': 'x', 'public_key': 'nonsense'}}):
            status, out = self.call('POST', '/compute/v2.1/os-keypairs',
                                    body=bad)
            self.assertEqual('400 Bad Request', status, bad)
            self.assertEqual(400, out['badRequest']['code'])
        # From 2.92 Nova generates no keys.
        status, out = self.call('POST', '/compute/v2.1/os-keypairs',
                                version=(2, 92),
                                body={'keypair': {'name': 'gen'}})
        self.assertEqual('400 Bad Request', status)
        self.assertIn('public_key', out['badRequest']['message'])

    def test_quota(self):
        for i in range(2):
            status, _ = self.call(
                'POST', '/compute/v2.1/os-keypairs', quotas={'key_pairs': 2},
                body={'keypair': {'name': 'k%d' % i,
                                  'public_key': PUBLIC_KEY}})
            self.assertEqual('200 OK', status)
        status, body = self.call(
            'POST', '/compute/v2.1/os-keypairs', quotas={'key_pairs': 2},
            body={'keypair': {'name': 'k9', 'public_key': PUBLIC_KEY}})
        self.assertEqual('403 Forbidden', status)
        self.assertIn('too many key pairs', body['forbidden']['message'])

    def test_concurrent_creates_keep_every_keypair(self):
        def create(i):
            self.call('POST', '/compute/v2.1/os-keypairs',
                      body={'keypair': {'name': 'k%d' % i,
                                        'public_key': PUBLIC_KEY}})
        threads = [threading.Thread(target=create, args=(i,))
                   for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        _, body = self.call('GET', '/compute/v2.1/os-keypairs')
        self.assertEqual(20, len(body['keypairs']))
        ids = {json.load(open(os.path.join(self.dir, 'keypairs.json')))[
            'users']['alice-id'][k]['id'] for k in
            ['k%d' % i for i in range(20)]}
        self.assertEqual(20, len(ids))


class TestServers(StoreTestCase):

    def setUp(self):
        super().setUp()
        self.servers.put(server_record('s-a1'))
        self.servers.put(server_record(
            's-a2', name='c1-default-worker-0-0', status='BUILD',
            created='2026-01-02T00:00:00Z'))
        self.servers.put(server_record('s-b1', project='proj-b',
                                       name='other'))

    def test_list_is_per_project_newest_first(self):
        status, body = self.call('GET', '/compute/v2.1/servers')
        self.assertEqual('200 OK', status)
        self.assertEqual(['s-a2', 's-a1'], [s['id'] for s in
                                            body['servers']])
        self.assertEqual({'id', 'name', 'links'},
                         set(body['servers'][0]))

    def test_detail_by_microversion(self):
        _, body = self.call('GET', '/compute/v2.1/servers/detail')
        server = body['servers'][1]
        self.assertEqual('ACTIVE', server['status'])
        self.assertEqual('10.0.0.10',
                         server['addresses']['private'][0]['addr'])
        self.assertIn('id', server['flavor'])
        self.assertNotIn('locked', server)
        self.assertNotIn('OS-EXT-SRV-ATTR:host', server)
        _, body = self.call('GET', '/compute/v2.1/servers/detail',
                            version=(2, 96))
        server = body['servers'][1]
        self.assertEqual('m1.small', server['flavor']['original_name'])
        self.assertEqual(2048, server['flavor']['ram'])
        self.assertEqual([], server['tags'])
        self.assertIsNone(server['pinned_availability_zone'])
        self.assertEqual('building',
                         body['servers'][0]['OS-EXT-STS:vm_state'])

    def test_filters(self):
        _, body = self.call('GET', '/compute/v2.1/servers/detail',
                            query={'name': ['worker']})
        self.assertEqual(['s-a2'], [s['id'] for s in body['servers']])
        _, body = self.call('GET', '/compute/v2.1/servers/detail',
                            query={'status': ['active']})
        self.assertEqual(['s-a1'], [s['id'] for s in body['servers']])

    def test_all_tenants_is_for_admins(self):
        _, body = self.call('GET', '/compute/v2.1/servers',
                            query={'all_tenants': ['True']})
        self.assertEqual(2, len(body['servers']))
        _, body = self.call('GET', '/compute/v2.1/servers/detail',
                            identity=ADMIN, query={'all_tenants': ['1']})
        self.assertEqual(3, len(body['servers']))
        self.assertIn('OS-EXT-SRV-ATTR:host', body['servers'][0])
        _, body = self.call('GET', '/compute/v2.1/servers', identity=ADMIN,
                            query={'all_tenants': ['1'],
                                   'project_id': ['proj-b']})
        self.assertEqual(['s-b1'], [s['id'] for s in body['servers']])

    def test_pagination(self):
        _, body = self.call('GET', '/compute/v2.1/servers',
                            query={'limit': ['1']})
        self.assertEqual(['s-a2'], [s['id'] for s in body['servers']])
        self.assertIn('marker=s-a2', body['servers_links'][0]['href'])
        _, body = self.call('GET', '/compute/v2.1/servers',
                            query={'limit': ['1'], 'marker': ['s-a2']})
        self.assertEqual(['s-a1'], [s['id'] for s in body['servers']])

    def test_show_and_not_found(self):
        status, body = self.call('GET', '/compute/v2.1/servers/s-a1')
        self.assertEqual('s-a1', body['server']['id'])
        status, body = self.call('GET', '/compute/v2.1/servers/s-b1')
        self.assertEqual('404 Not Found', status)
        self.assertEqual('Instance s-b1 could not be found.',
                         body['itemNotFound']['message'])
        status, _ = self.call('GET', '/compute/v2.1/servers/s-b1',
                              identity=ADMIN)
        self.assertEqual('200 OK', status)

    def test_error_carries_the_fault(self):
        self.servers.update('s-a1', status='ERROR', fault='injected')
        _, body = self.call('GET', '/compute/v2.1/servers/s-a1')
        self.assertEqual('ERROR', body['server']['status'])
        self.assertEqual('injected', body['server']['fault']['message'])

    def test_deleted_record_is_gone(self):
        self.assertTrue(self.servers.delete('s-a1'))
        self.assertFalse(self.servers.delete('s-a1'))
        _, body = self.call('GET', '/compute/v2.1/servers')
        self.assertEqual(['s-a2'], [s['id'] for s in body['servers']])
        self.assertRaises(ValueError, self.servers.put,
                          server_record('../x'))

    def test_unknown_calls(self):
        status, body = self.call('GET', '/compute/v2.1/os-hypervisors')
        self.assertEqual('404 Not Found', status)
        self.assertIn('itemNotFound', body)
        status, body = self.call('POST',
                                 '/compute/v2.1/servers/s-a1/action')
        self.assertEqual('501 Not Implemented', status)
        self.assertIn('notImplemented', body)

    def test_ports_of_the_servers(self):
        _, body = self.call('GET', '/network/v2.0/ports')
        self.assertEqual({'s-a1', 's-a2'},
                         {p['device_id'] for p in body['ports']})
        port = [p for p in body['ports'] if p['device_id'] == 's-a1'][0]
        self.assertEqual('compute:nova', port['device_owner'])
        self.assertEqual('10.0.0.10', port['fixed_ips'][0]['ip_address'])
        _, nets = self.call('GET', '/network/v2.0/networks',
                            query={'name': ['private']})
        self.assertEqual(nets['networks'][0]['id'], port['network_id'])
        _, body = self.call('GET', '/network/v2.0/ports.json',
                            query={'device_id': ['s-a2']})
        self.assertEqual(1, len(body['ports']))
        status, body = self.call('GET', '/network/v2.0/ports/%s'
                                 % port['id'])
        self.assertEqual(port, body['port'])
        status, body = self.call('GET', '/network/v2.0/ports/nope')
        self.assertEqual('404 Not Found', status)
        self.assertEqual('PortNotFound', body['NeutronError']['type'])
        _, body = self.call('GET', '/network/v2.0/ports', identity=ADMIN)
        self.assertEqual(3, len(body['ports']))

    def test_networks_heat_made_are_listed_per_project(self):
        self.networks.put({'id': 'net-a', 'name': 'c1-private',
                           'project_id': 'proj-a'})
        self.servers.put(server_record('s-a3', addresses={'c1-private': [{
            'addr': '10.0.0.99', 'version': 4,
            'OS-EXT-IPS-MAC:mac_addr': 'fa:16:3e:00:00:63'}]}))
        _, body = self.call('GET', '/network/v2.0/networks')
        self.assertIn('c1-private', [n['name'] for n in body['networks']])
        _, body = self.call('GET', '/network/v2.0/networks', identity=BOB)
        self.assertNotIn('c1-private', [n['name'] for n in body['networks']])
        _, body = self.call('GET', '/network/v2.0/ports',
                            query={'device_id': ['s-a3']})
        self.assertEqual('net-a', body['ports'][0]['network_id'])


class TestMicroversions(testtools.TestCase):

    def test_parse(self):
        self.assertEqual((2, 1), compute_api.parse_version(''))
        self.assertEqual((2, 47), compute_api.parse_version('compute 2.47'))
        self.assertEqual((2, 10), compute_api.parse_version('2.10'))
        self.assertEqual(compute_api.MAX_VERSION,
                         compute_api.parse_version('compute latest'))
        for bad in ('compute 3.0', '2.200', 'volume 2.1 x', 'two'):
            self.assertRaises(ValueError, compute_api.parse_version, bad)


class TestWsgi(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path
        self.useFixture(fixtures.EnvironmentVariable(
            'MAGNUM_CERN_REHEARSAL_STANDINS',
            os.path.join(self.dir, 'config.json')))
        self.useFixture(fixtures.EnvironmentVariable(
            cloudapi.ENV_AUTH_URL, 'http://127.0.0.1:9/v3'))
        cloudapi._token_cache.clear()

    def request(self, method, path, token='tok', body=None, headers=None):
        data = json.dumps(body).encode() if body is not None else b''
        environ = {'REQUEST_METHOD': method, 'PATH_INFO': path,
                   'QUERY_STRING': '', 'wsgi.input': io.BytesIO(data),
                   'CONTENT_LENGTH': str(len(data)),
                   'HTTP_HOST': '127.0.0.1:1'}
        if token:
            environ['HTTP_X_AUTH_TOKEN'] = token
        environ.update(headers or {})
        seen = {}

        def start(status, hdrs):
            seen['status'], seen['headers'] = status, dict(hdrs)
        out = b''.join(cloudapi.application(environ, start))
        return seen['status'], seen['headers'], (json.loads(out)
                                                 if out else None)

    def keystone_says(self, identity_or_code):
        def answer(req, timeout):
            self.assertEqual(req.get_header('X-auth-token'),
                             req.get_header('X-subject-token'))
            if isinstance(identity_or_code, int):
                raise cloudapi.urllib.error.HTTPError(
                    req.full_url, identity_or_code, 'no', {}, None)
            ident = identity_or_code
            return io.BytesIO(json.dumps({'token': {
                'user': {'id': ident.user_id},
                'project': {'id': ident.project_id},
                'roles': [{'name': r} for r in ident.roles]}}).encode())
        return mock.patch.object(cloudapi.urllib.request, 'urlopen',
                                 side_effect=answer)

    def test_keypair_round_trip_as_the_token_user(self):
        with self.keystone_says(ALICE) as urlopen:
            status, headers, body = self.request(
                'POST', '/compute/v2.1/os-keypairs',
                body={'keypair': {'name': 'k1', 'public_key': PUBLIC_KEY}},
                headers={'HTTP_OPENSTACK_API_VERSION': 'compute 2.2'})
            self.assertEqual('201 Created', status)
            self.assertEqual('compute 2.2', headers['OpenStack-API-Version'])
            status, _, body = self.request('GET',
                                           '/compute/v2.1/os-keypairs/k1')
            self.assertEqual('alice-id', body['keypair']['user_id'])
            status, headers, body = self.request(
                'DELETE', '/compute/v2.1/os-keypairs/k1',
                headers={'HTTP_X_OPENSTACK_NOVA_API_VERSION': '2.10'})
            self.assertEqual('204 No Content', status)
            self.assertIsNone(body)
        # One validation per token (cached).
        self.assertEqual(1, urlopen.call_count)

    def test_bad_token_is_refused(self):
        with self.keystone_says(404):
            status, _, body = self.request('GET', '/compute/v2.1/servers')
        self.assertEqual('401 Unauthorized', status)
        self.assertEqual(401, body['unauthorized']['code'])
        status, _, body = self.request('GET', '/network/v2.0/ports',
                                       token=None)
        self.assertEqual('401 Unauthorized', status)
        self.assertIn('NeutronError', body)

    def test_version_documents_are_open(self):
        status, _, body = self.request('GET', '/compute', token=None)
        self.assertEqual('200 OK', status)
        self.assertEqual('2.96', body['versions'][0]['version'])

    def test_unsupported_version(self):
        status, _, body = self.request(
            'GET', '/compute/v2.1/flavors',
            headers={'HTTP_OPENSTACK_API_VERSION': 'compute 2.999'})
        self.assertEqual('406 Not Acceptable', status)
        self.assertIn('maximum is 2.96', body['notAcceptable']['message'])

    def test_malformed_body(self):
        with self.keystone_says(ALICE):
            environ_body = '{not json'
            environ = {'REQUEST_METHOD': 'POST',
                       'PATH_INFO': '/compute/v2.1/os-keypairs',
                       'wsgi.input': io.BytesIO(environ_body.encode()),
                       'CONTENT_LENGTH': str(len(environ_body)),
                       'HTTP_X_AUTH_TOKEN': 'tok'}
            seen = []
            out = b''.join(cloudapi.application(
                environ, lambda s, h: seen.append(s)))
        self.assertEqual(['400 Bad Request'], seen)
        self.assertIn(b'badRequest', out)
