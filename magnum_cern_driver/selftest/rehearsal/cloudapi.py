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
"""A read-only stand-in for the Nova and Neutron APIs Magnum's API asks.

Magnum's API validates a template's or cluster's flavors, keypair and
networks against Nova and Neutron before the driver runs. This WSGI app
answers those lookups (flavors, keypairs, networks, subnets) so templates
can name flavors and networks as in production; everything that builds
servers and networks goes through Heat and its stand-in resources. It
needs a token header like the real services, but does not validate it
(loopback only, no data behind it). Quota limits come from the stand-in
config file's ``quotas`` (see ``standin_config``); nothing is ever in use.
"""

import json
import uuid

from magnum_cern_driver.selftest.rehearsal import standin_config

FLAVORS = (
    # name, vcpus, ram MiB, disk GiB
    ('m1.small', 1, 2048, 20),
    ('m1.medium', 2, 4096, 40),
    ('m1.large', 4, 8192, 80),
    ('m1.xlarge', 8, 16384, 160),
)
NETWORKS = (('public', True, '172.24.0.0/16'),
            ('private', False, '10.0.0.0/16'))
NOVA_MAX_MICROVERSION = '2.96'
# Generous quotas with nothing in use: the data plane is hollow, and the
# self-test's preflight reads them.
QUOTA_LIMIT = 10 ** 9
NOVA_QUOTAS = ('cores', 'instances', 'ram', 'key_pairs', 'metadata_items',
               'server_groups', 'server_group_members')
NEUTRON_QUOTAS = ('network', 'subnet', 'port', 'router', 'floatingip',
                  'security_group', 'security_group_rule', 'rbac_policy',
                  'subnetpool')


def _id(kind, name):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, 'rehearsal/%s/%s'
                          % (kind, name)))


def flavors(base):
    out = []
    for name, vcpus, ram, disk in FLAVORS:
        fid = _id('flavor', name)
        out.append({'id': fid, 'name': name, 'vcpus': vcpus, 'ram': ram,
                    'disk': disk, 'swap': 0, 'rxtx_factor': 1.0,
                    'OS-FLV-EXT-DATA:ephemeral': 0,
                    'OS-FLV-DISABLED:disabled': False,
                    'os-flavor-access:is_public': True,
                    'description': None, 'extra_specs': {},
                    'links': [{'rel': 'self',
                               'href': '%s/flavors/%s' % (base, fid)}]})
    return out


def networks():
    nets, subnets = [], []
    for name, external, cidr in NETWORKS:
        nid, sid = _id('network', name), _id('subnet', name)
        nets.append({'id': nid, 'name': name, 'status': 'ACTIVE',
                     'admin_state_up': True, 'shared': external,
                     'router:external': external, 'subnets': [sid],
                     'mtu': 1500, 'project_id': '', 'tenant_id': ''})
        subnets.append({'id': sid, 'name': name, 'network_id': nid,
                        'cidr': cidr, 'ip_version': 4,
                        'enable_dhcp': not external,
                        'project_id': '', 'tenant_id': ''})
    return nets, subnets


def _filter(items, query):
    out = []
    for item in items:
        ok = True
        for key, values in query.items():
            if key in ('fields', 'limit', 'marker', 'sort_key', 'sort_dir'):
                continue
            have = item.get(key)
            if isinstance(have, bool):
                have = str(have).lower()
                values = [v.lower() for v in values]
            if key in item and str(have) not in values:
                ok = False
        if ok:
            out.append(item)
    return out


def _respond(start_response, status, body, headers=()):
    data = json.dumps(body).encode('utf-8')
    start_response(status, [('Content-Type', 'application/json'),
                            ('Content-Length', str(len(data)))] +
                   list(headers))
    return [data]


def _not_found(start_response, what):
    return _respond(start_response, '404 Not Found',
                    {'itemNotFound': {'code': 404,
                                      'message': '%s not found' % what}})


def route(method, path, query, base, quotas=None):
    """Return ``(status, body)`` for a request (pure, unit tested).

    :param quotas: ``{name: limit}`` overriding the generous default.
    """
    quotas = quotas or {}
    parts = [p for p in path.split('/') if p]
    if method != 'GET':
        return '405 Method Not Allowed', {'error': 'read-only stand-in'}
    if parts[:1] == ['compute']:
        rest = parts[1:]
        version = {'id': 'v2.1', 'status': 'CURRENT',
                   'version': NOVA_MAX_MICROVERSION, 'min_version': '2.1',
                   'updated': '2013-07-23T11:33:21Z',
                   'links': [{'rel': 'self',
                              'href': base + '/compute/v2.1/'}]}
        if not rest:
            return '200 OK', {'versions': [version]}
        if rest == ['v2.1']:
            return '200 OK', {'version': version}
        if rest[0] != 'v2.1':
            return '404 Not Found', {}
        rest = rest[1:]
        if rest and len(rest[0]) == 32 and rest[0].isalnum():
            rest = rest[1:]     # /v2.1/{project_id}/...
        items = flavors(base + '/compute/v2.1')
        if rest in (['flavors'], ['flavors', 'detail']):
            return '200 OK', {'flavors': _filter(items, query)}
        if len(rest) == 2 and rest[0] == 'flavors':
            for f in items:
                if rest[1] in (f['id'], f['name']):
                    return '200 OK', {'flavor': f}
            return '404 Not Found', {'itemNotFound': {
                'code': 404, 'message': 'Flavor %s could not be found.'
                % rest[1]}}
        if len(rest) >= 2 and rest[0] == 'os-quota-sets':
            detail = rest[-1] == 'detail'
            quota = {'id': rest[1]}
            for name in NOVA_QUOTAS:
                limit = quotas.get(name, QUOTA_LIMIT)
                quota[name] = ({'limit': limit, 'in_use': 0,
                                'reserved': 0} if detail else limit)
            return '200 OK', {'quota_set': quota}
        if rest == ['os-keypairs']:
            return '200 OK', {'keypairs': []}
        if len(rest) == 2 and rest[0] == 'os-keypairs':
            # Any keypair exists: nothing ever logs in to a hollow node.
            return '200 OK', {'keypair': {
                'name': rest[1], 'type': 'ssh', 'user_id': '',
                'public_key': 'ssh-ed25519 AAAArehearsal rehearsal',
                'fingerprint': '00:00:00:00:00:00:00:00:00:00:00:00:00:00:'
                               '00:00'}}
        return '404 Not Found', {}
    if parts[:1] == ['network']:
        rest = parts[1:]
        if not rest:
            return '200 OK', {'versions': [{
                'id': 'v2.0', 'status': 'CURRENT',
                'links': [{'rel': 'self',
                           'href': base + '/network/v2.0/'}]}]}
        if rest[0] != 'v2.0':
            return '404 Not Found', {}
        rest = [r[:-5] if r.endswith('.json') else r for r in rest[1:]]
        nets, subnets = networks()
        table = {'networks': ('network', nets),
                 'subnets': ('subnet', subnets)}
        if rest and rest[0] in table:
            single, items = table[rest[0]]
            if len(rest) == 1:
                return '200 OK', {rest[0]: _filter(items, query)}
            for item in items:
                if item['id'] == rest[1]:
                    return '200 OK', {single: item}
            return '404 Not Found', {'NeutronError': {
                'type': 'NotFound', 'message': '%s not found' % rest[1]}}
        if len(rest) >= 2 and rest[0] == 'quotas':
            detail = rest[-1] == 'details'
            quota = {}
            for name in NEUTRON_QUOTAS:
                limit = quotas.get(name, QUOTA_LIMIT)
                quota[name] = ({'limit': limit, 'used': 0,
                                'reserved': 0} if detail else limit)
            return '200 OK', {'quota': quota}
        if rest and rest[0] in ('ports', 'routers', 'floatingips',
                                'security-groups', 'extensions'):
            return '200 OK', {rest[0].replace('-', '_'): []}
        return '404 Not Found', {}
    return '404 Not Found', {}


def application(environ, start_response):
    from urllib.parse import parse_qs
    if not environ.get('HTTP_X_AUTH_TOKEN') and environ.get(
            'PATH_INFO', '/').strip('/') not in ('', 'compute', 'network',
                                                 'compute/v2.1'):
        return _respond(start_response, '401 Unauthorized',
                        {'error': 'X-Auth-Token required'})
    base = '%s://%s' % (environ.get('wsgi.url_scheme', 'http'),
                        environ.get('HTTP_HOST', '127.0.0.1'))
    query = parse_qs(environ.get('QUERY_STRING', ''))
    status, body = route(environ['REQUEST_METHOD'],
                         environ.get('PATH_INFO', '/'), query, base,
                         quotas=standin_config.quota_limits())
    headers = []
    if environ.get('PATH_INFO', '').startswith('/compute'):
        asked = environ.get('HTTP_OPENSTACK_API_VERSION', '').split()
        version = asked[-1] if asked else '2.1'
        headers = [('OpenStack-API-Version', 'compute %s' % version),
                   ('X-OpenStack-Nova-API-Version', version),
                   ('Vary', 'OpenStack-API-Version')]
    return _respond(start_response, status, body, headers)
