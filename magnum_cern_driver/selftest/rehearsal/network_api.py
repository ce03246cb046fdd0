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
"""The stand-in network (Neutron) API: routes and formats (pure).

Read-only: networks (``public``, ``private`` and those Heat made for the
clusters), subnets, ports (one per address of each hollow server, as Nova
would have made them), quotas, and
empty lists of routers, floating IPs and security groups. Errors use
Neutron's body ``{"NeutronError": {"type", "message", "detail"}}`` (the
Networking API reference, and python-neutronclient's
``exception_handler_v20``, which reads it), so clients can parse them;
anything else is 404 (unknown resource) or 501 (a write).
"""

import uuid

from magnum_cern_driver.selftest.rehearsal import compute_api

NETWORKS = (('public', True, '172.24.0.0/16'),
            ('private', False, '10.0.0.0/16'))
QUOTAS = ('network', 'subnet', 'port', 'router', 'floatingip',
          'security_group', 'security_group_rule', 'rbac_policy',
          'subnetpool')
EMPTY = ('routers', 'floatingips', 'security-groups',
         'security-group-rules', 'extensions', 'subnetpools',
         'trunks', 'qos-policies', 'rbac-policies')


def error(code, kind, message):
    return compute_api.status(code), {'NeutronError': {
        'type': kind, 'message': message, 'detail': ''}}


def networks():
    nets, subnets = [], []
    for name, external, cidr in NETWORKS:
        nid = compute_api.stable_id('network', name)
        sid = compute_api.stable_id('subnet', name)
        nets.append({'id': nid, 'name': name, 'status': 'ACTIVE',
                     'admin_state_up': True, 'shared': external,
                     'router:external': external, 'subnets': [sid],
                     'mtu': 1500, 'project_id': '', 'tenant_id': ''})
        subnets.append({'id': sid, 'name': name, 'network_id': nid,
                        'cidr': cidr, 'ip_version': 4,
                        'enable_dhcp': not external,
                        'project_id': '', 'tenant_id': ''})
    return nets, subnets


def hollow_network(record):
    """A network Heat made (``hollow_store.NetworkStore`` record)."""
    project = record.get('project_id', '')
    return {'id': record['id'], 'name': record.get('name', ''),
            'status': 'ACTIVE', 'admin_state_up': True, 'shared': False,
            'router:external': False, 'subnets': [], 'mtu': 1450,
            'project_id': project, 'tenant_id': project}


def server_ports(record, nets=None):
    """The ports of one hollow server (one per network it is on).

    :param nets: the networks its addresses may name (by name or id).
    """
    by_name = {}
    for network in nets if nets is not None else networks()[0]:
        if network.get('project_id') in ('', record.get('project_id')):
            by_name.setdefault(network['name'], network)
            by_name.setdefault(network['id'], network)
    out = []
    for net, addrs in sorted((record.get('addresses') or {}).items()):
        network = by_name.get(net)
        network_id = network['id'] if network else net
        subnet_id = network['subnets'][0] if network and \
            network['subnets'] else None
        first = addrs[0] if addrs else {}
        project = record.get('project_id', '')
        out.append({
            'id': str(uuid.uuid5(uuid.NAMESPACE_URL, 'rehearsal/port/%s/%s'
                                 % (record['id'], net))),
            'name': '', 'description': '',
            'network_id': network_id,
            'project_id': project, 'tenant_id': project,
            'mac_address': first.get('OS-EXT-IPS-MAC:mac_addr', ''),
            'admin_state_up': True,
            'status': 'ACTIVE' if record.get('status') == 'ACTIVE'
            else 'DOWN',
            'device_id': record['id'],
            'device_owner': 'compute:nova',
            'fixed_ips': [{'subnet_id': subnet_id, 'ip_address': a['addr']}
                          for a in addrs],
            'allowed_address_pairs': [],
            'security_groups': [],
            'binding:vnic_type': 'normal',
            'port_security_enabled': True,
            'tags': [], 'revision_number': 1,
            'created_at': record.get('created', ''),
            'updated_at': record.get('updated', record.get('created', '')),
        })
    return out


def route(method, parts, query, base, quotas=None, servers=None,
          project_id='', is_admin=False, hollow_networks=None):
    """``(status, body)`` of one network call below ``/network``.

    :param servers: the hollow servers (``hollow_store.ServerStore``).
    :param hollow_networks: the networks Heat made (``NetworkStore``).
    """
    quotas = quotas or {}
    if not parts:
        return compute_api.status(200), {'versions': [{
            'id': 'v2.0', 'status': 'CURRENT',
            'links': [{'rel': 'self', 'href': base + '/network/v2.0/'}]}]}
    if parts[0] != 'v2.0':
        return error(404, 'HTTPNotFound', 'The resource could not be '
                     'found.')
    rest = [r[:-5] if r.endswith('.json') else r for r in parts[1:]]
    if not rest:
        return compute_api.status(200), {'resources': [
            {'name': n, 'collection': n + 's', 'links': []}
            for n in ('network', 'subnet', 'port')]}
    if method != 'GET':
        return error(501, 'NotImplemented', 'The rehearsal stand-in '
                     'network API is read-only: %s /%s is not implemented.'
                     % (method, '/'.join(rest)))
    nets, subnets = networks()
    all_nets = nets + [hollow_network(r) for r in (
        hollow_networks.all() if hollow_networks is not None else [])]
    nets = [n for n in all_nets if is_admin or n['shared'] or
            n['project_id'] in ('', project_id)]
    ports = []
    if rest[0] == 'ports':
        for record in (servers.all() if servers is not None else []):
            if is_admin or record.get('project_id', '') == project_id:
                ports.extend(server_ports(record, all_nets))
    table = {'networks': ('network', nets, 'Network'),
             'subnets': ('subnet', subnets, 'Subnet'),
             'ports': ('port', ports, 'Port')}
    if rest[0] in table:
        single, items, kind = table[rest[0]]
        if len(rest) == 1:
            return compute_api.status(200), {
                rest[0]: compute_api.filter_items(items, query)}
        for item in items:
            if item['id'] == rest[1] and len(rest) == 2:
                return compute_api.status(200), {single: item}
        return error(404, '%sNotFound' % kind, '%s %s could not be found.'
                     % (kind, rest[1]))
    if len(rest) >= 2 and rest[0] == 'quotas':
        detail = rest[-1] == 'details'
        quota = {}
        for name in QUOTAS:
            limit = quotas.get(name, compute_api.QUOTA_LIMIT)
            quota[name] = ({'limit': limit, 'used': 0, 'reserved': 0}
                           if detail else limit)
        return compute_api.status(200), {'quota': quota}
    if rest[0] in EMPTY and len(rest) == 1:
        return compute_api.status(200), {rest[0].replace('-', '_'): []}
    return error(404, 'HTTPNotFound', 'The resource could not be found.')
