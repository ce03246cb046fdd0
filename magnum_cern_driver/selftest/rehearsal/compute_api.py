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
"""The stand-in compute (Nova) API: routes and formats (pure).

Only what the clients that drive Magnum call: flavors, quotas, keypairs
(create, import, list, show, delete, per user), servers (list, detail,
show) of the hollow servers Heat made. Everything else answers 404 or 501
in Nova's fault format. Formats and status codes follow the Compute API
reference (docs.openstack.org/api-ref/compute: "Create Or Import Keypair",
"List Servers Detailed", microversions 2.2, 2.10, 2.47, 2.92) and Nova's
own controller, read in openstack/nova at commit 00e50cbd5a38 (Liberty):

* ``nova/api/openstack/compute/keypairs.py``: create answers 200 at 2.1
  and 201 from 2.2; delete 202 at 2.1 and 204 from 2.2; a list item is
  ``{"keypair": {name, public_key, fingerprint[, type]}}``; show adds
  ``user_id``, ``id``, ``created_at``, ``deleted``...; ``type`` from 2.2,
  ``user_id`` as a query or body field (admins) from 2.10; "Key pair 'x'
  already exists." (409), "Quota exceeded, too many key pairs." (403).
  From 2.92 (api-ref) Nova no longer generates keys: ``public_key`` is
  required.
* ``nova/api/openstack/wsgi.py`` ``Fault._fault_names``: a fault body is
  ``{name: {"code": N, "message": ...}}`` with name ``badRequest`` (400),
  ``forbidden`` (403), ``itemNotFound`` (404), ``badMethod`` (405),
  ``conflictingRequest`` (409), ``notImplemented`` (501)...; novaclient
  and openstacksdk read the message from there.
* ``nova/crypto.py``: a keypair's fingerprint is the MD5 of the decoded
  OpenSSH key blob, as colon-separated hex; generated keys are RSA 2048.

Each handler takes a :class:`Call` and returns ``(status, body)``; the
stores (``hollow_store``) are passed in, so this module is unit tested
without a server.
"""

import base64
import dataclasses
import hashlib
import re
import uuid

from magnum_cern_driver.selftest.rehearsal import hollow_store

MIN_VERSION = (2, 1)
MAX_VERSION = (2, 96)
FLAVORS = (
    # name, vcpus, ram MiB, disk GiB
    ('m1.small', 1, 2048, 20),
    ('m1.medium', 2, 4096, 40),
    ('m1.large', 4, 8192, 80),
    ('m1.xlarge', 8, 16384, 160),
)
# Generous quotas with nothing in use: the data plane is hollow, and the
# self-test's preflight reads them.
QUOTA_LIMIT = 10 ** 9
QUOTAS = ('cores', 'instances', 'ram', 'key_pairs', 'metadata_items',
          'server_groups', 'server_group_members')
FAULT_NAMES = {400: 'badRequest', 401: 'unauthorized', 403: 'forbidden',
               404: 'itemNotFound', 405: 'badMethod',
               406: 'notAcceptable', 409: 'conflictingRequest',
               501: 'notImplemented'}
STATUS_LINES = {200: '200 OK', 201: '201 Created', 202: '202 Accepted',
                204: '204 No Content', 400: '400 Bad Request',
                401: '401 Unauthorized', 403: '403 Forbidden',
                404: '404 Not Found', 405: '405 Method Not Allowed',
                406: '406 Not Acceptable', 409: '409 Conflict',
                501: '501 Not Implemented'}
# Keypair names (Nova's schema: 1-255 characters; '@' and '.' are
# accepted from 2.92, which the stand-in accepts at every version).
KEYPAIR_NAME = re.compile(r'^[a-zA-Z0-9 _.@-]{1,255}$')
# Server states (Nova's vm_state, power_state) by status.
VM_STATES = {'BUILD': ('building', 0, 'spawning'),
             'ACTIVE': ('active', 1, None),
             'ERROR': ('error', 0, None)}


@dataclasses.dataclass
class Call:
    """One request, as the handlers see it."""
    method: str
    parts: list                  # path below /compute/v2.1
    query: dict                  # {name: [values]}
    base: str                    # http://host:port/compute/v2.1
    version: tuple = MIN_VERSION
    body: object = None
    user_id: str = ''
    project_id: str = ''
    is_admin: bool = False
    quotas: dict = dataclasses.field(default_factory=dict)

    def at_least(self, major, minor):
        return self.version >= (major, minor)

    def arg(self, name, default=None):
        values = self.query.get(name)
        return values[-1] if values else default


def status(code):
    return STATUS_LINES.get(code, '%d Error' % code)


def fault(code, message):
    """A Nova fault body (``nova.api.openstack.wsgi.Fault``)."""
    return status(code), {FAULT_NAMES.get(code, 'computeFault'): {
        'code': code, 'message': message}}


def parse_version(header_values):
    """``(major, minor)`` asked for, or None; ``latest`` is the maximum.

    :param header_values: the ``OpenStack-API-Version`` value (``compute
        2.47``) or ``X-OpenStack-Nova-API-Version`` (``2.47``), or ''.
    :raises ValueError: malformed or unsupported.
    """
    text = (header_values or '').strip()
    if not text:
        return MIN_VERSION
    words = text.split()
    if len(words) == 2 and words[0].lower() == 'compute':
        text = words[1]
    elif len(words) != 1:
        raise ValueError('Invalid API version request: %s' % text)
    if text.lower() == 'latest':
        return MAX_VERSION
    match = re.match(r'^([1-9]\d*)\.(\d+)$', text)
    if not match:
        raise ValueError('Invalid API version request: %s' % text)
    version = (int(match.group(1)), int(match.group(2)))
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise ValueError('Version %d.%d is not supported by the API. '
                         'Minimum is %d.%d and maximum is %d.%d.'
                         % (version + MIN_VERSION + MAX_VERSION))
    return version


def version_text(version):
    return '%d.%d' % version


def version_document(root):
    return {'id': 'v2.1', 'status': 'CURRENT',
            'version': version_text(MAX_VERSION),
            'min_version': version_text(MIN_VERSION),
            'updated': '2013-07-23T11:33:21Z',
            'links': [{'rel': 'self', 'href': root + '/v2.1/'}],
            'media-types': [{
                'base': 'application/json',
                'type': 'application/vnd.openstack.compute+json;version=2.1'
            }]}


def stable_id(kind, name):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, 'rehearsal/%s/%s'
                          % (kind, name)))


# Flavors ------------------------------------------------------------------

def flavors(base):
    out = []
    for name, vcpus, ram, disk in FLAVORS:
        fid = stable_id('flavor', name)
        out.append({'id': fid, 'name': name, 'vcpus': vcpus, 'ram': ram,
                    'disk': disk, 'swap': 0, 'rxtx_factor': 1.0,
                    'OS-FLV-EXT-DATA:ephemeral': 0,
                    'OS-FLV-DISABLED:disabled': False,
                    'os-flavor-access:is_public': True,
                    'description': None, 'extra_specs': {},
                    'links': [{'rel': 'self',
                               'href': '%s/flavors/%s' % (base, fid)}]})
    return out


def find_flavor(base, key):
    for flavor in flavors(base):
        if key in (flavor['id'], flavor['name']):
            return flavor
    return None


def filter_items(items, query):
    """Items whose fields equal the query's values (Neutron-style)."""
    out = []
    for item in items:
        ok = True
        for key, values in query.items():
            if key in ('fields', 'limit', 'marker', 'sort_key', 'sort_dir',
                       'page_reverse'):
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


def _flavors(call):
    items = flavors(call.base)
    rest = call.parts[1:]
    if not rest or rest == ['detail']:
        if not rest:
            items = [{'id': f['id'], 'name': f['name'],
                      'description': f['description'], 'links': f['links']}
                     for f in items]
        return status(200), {'flavors': filter_items(items, call.query)}
    if len(rest) == 1:
        flavor = find_flavor(call.base, rest[0])
        if flavor:
            return status(200), {'flavor': flavor}
        return fault(404, 'Flavor %s could not be found.' % rest[0])
    if len(rest) == 2 and rest[1] == 'os-extra_specs' and \
            find_flavor(call.base, rest[0]):
        return status(200), {'extra_specs': {}}
    return fault(404, 'The resource could not be found.')


def _quotas(call):
    if len(call.parts) < 2:
        return fault(404, 'The resource could not be found.')
    detail = call.parts[-1] == 'detail'
    quota = {'id': call.parts[1]}
    for name in QUOTAS:
        limit = call.quotas.get(name, QUOTA_LIMIT)
        quota[name] = ({'limit': limit, 'in_use': 0, 'reserved': 0}
                       if detail else limit)
    return status(200), {'quota_set': quota}


# Keypairs -----------------------------------------------------------------

def fingerprint(public_key):
    """Nova's fingerprint of an OpenSSH public key (MD5, colon hex).

    :raises ValueError: not a public key.
    """
    from cryptography.hazmat.primitives import serialization
    try:
        key = serialization.load_ssh_public_key(
            public_key.strip().encode('utf-8'))
    except Exception as e:  # noqa: any parse failure is invalid data
        raise ValueError(str(e) or type(e).__name__)
    blob = key.public_bytes(serialization.Encoding.OpenSSH,
                            serialization.PublicFormat.OpenSSH).split()[1]
    digest = hashlib.md5(base64.b64decode(blob),
                         usedforsecurity=False).hexdigest()
    return ':'.join(digest[i:i + 2] for i in range(0, len(digest), 2))


def generate_keypair(comment='Generated-by-Nova'):
    """``(public OpenSSH line, private PEM)`` of a new RSA 2048 key."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives import serialization
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()).decode('ascii')
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH,
        serialization.PublicFormat.OpenSSH).decode('ascii')
    return '%s %s\n' % (public, comment), private


def keypair_view(call, record, show=False):
    view = {'name': record['name'], 'public_key': record['public_key'],
            'fingerprint': record['fingerprint']}
    if call.at_least(2, 2):
        view['type'] = record.get('type', 'ssh')
    if show:
        view.update({'user_id': record['user_id'], 'id': record['id'],
                     'created_at': record['created_at'], 'deleted': False,
                     'deleted_at': None, 'updated_at': None})
    return view


def _keypair_user(call, asked):
    """The user whose keypairs are meant; a fault if not allowed."""
    if not asked or asked == call.user_id:
        return call.user_id, None
    if not call.at_least(2, 10):
        return call.user_id, None
    if not call.is_admin:
        return None, fault(403, "Policy doesn't allow "
                           "os_compute_api:os-keypairs to be performed.")
    return asked, None


def _keypair_create(call, keypairs):
    body = call.body if isinstance(call.body, dict) else {}
    params = body.get('keypair')
    if not isinstance(params, dict) or not isinstance(params.get('name'),
                                                      str):
        return fault(400, "Invalid input for field/attribute keypair. "
                     "'name' is a required property")
    name = params['name']
    if not KEYPAIR_NAME.match(name) or name != name.strip():
        return fault(400, 'Keypair data is invalid: Keypair name contains '
                     'unsafe characters')
    key_type = params.get('type', 'ssh') if call.at_least(2, 2) else 'ssh'
    if key_type != 'ssh':
        return fault(400, 'Keypair data is invalid: the rehearsal stand-in '
                     'keeps ssh keypairs only, not %s' % key_type)
    user_id, refused = _keypair_user(
        call, params.get('user_id') if call.at_least(2, 10) else None)
    if refused:
        return refused
    private = None
    if 'public_key' in params:
        public = params['public_key']
        try:
            print_ = fingerprint(public if isinstance(public, str) else '')
        except ValueError as e:
            return fault(400, 'Keypair data is invalid: failed to generate '
                         'fingerprint (%s)' % e)
    elif call.at_least(2, 92):
        return fault(400, "Invalid input for field/attribute keypair. "
                     "'public_key' is a required property")
    else:
        public, private = generate_keypair()
        print_ = fingerprint(public)
    record = keypairs.add({'name': name, 'public_key': public,
                           'fingerprint': print_, 'type': key_type,
                           'user_id': user_id,
                           'created_at': hollow_store.now()},
                          limit=call.quotas.get('key_pairs'))
    if record == 'exists':
        return fault(409, "Key pair '%s' already exists." % name)
    if record == 'over-limit':
        return fault(403, 'Quota exceeded, too many key pairs.')
    view = keypair_view(call, record)
    view['user_id'] = user_id
    if private:
        view['private_key'] = private
    return status(201 if call.at_least(2, 2) else 200), {'keypair': view}


def _keypairs(call, keypairs):
    rest = call.parts[1:]
    user_id, refused = _keypair_user(call, call.arg('user_id'))
    if refused:
        return refused
    if not rest:
        if call.method == 'GET':
            return status(200), {'keypairs': [
                {'keypair': keypair_view(call, k)}
                for k in keypairs.list(user_id)]}
        if call.method == 'POST':
            return _keypair_create(call, keypairs)
        return fault(405, 'The method %s is not allowed on keypairs.'
                     % call.method)
    if len(rest) != 1:
        return fault(404, 'The resource could not be found.')
    missing = fault(404, 'Keypair %s not found for user %s'
                    % (rest[0], user_id))
    if call.method == 'GET':
        record = keypairs.get(user_id, rest[0])
        if record is None:
            return missing
        return status(200), {'keypair': keypair_view(call, record,
                                                     show=True)}
    if call.method == 'DELETE':
        if not keypairs.delete(user_id, rest[0]):
            return missing
        return status(204 if call.at_least(2, 2) else 202), None
    return fault(405, 'The method %s is not allowed on a keypair.'
                 % call.method)


# Servers ------------------------------------------------------------------

def server_links(call, server_id):
    return [{'rel': 'self', 'href': '%s/servers/%s' % (call.base,
                                                       server_id)},
            {'rel': 'bookmark', 'href': '%s/servers/%s' % (
                call.base.rsplit('/v2.1', 1)[0], server_id)}]


def _flavor_view(call, key):
    flavor = find_flavor(call.base, key or '') or {
        'id': key or '', 'name': key or '', 'vcpus': 0, 'ram': 0,
        'disk': 0}
    if call.at_least(2, 47):
        return {'original_name': flavor['name'], 'vcpus': flavor['vcpus'],
                'ram': flavor['ram'], 'disk': flavor['disk'],
                'ephemeral': 0, 'swap': 0, 'extra_specs': {}}
    return {'id': flavor['id'], 'links': [{
        'rel': 'bookmark', 'href': '%s/flavors/%s' % (call.base,
                                                      flavor['id'])}]}


def server_view(call, record, detail=True):
    """A server as Nova's ``servers/detail`` shows it, by microversion."""
    sid = record['id']
    brief = {'id': sid, 'name': record['name'],
             'links': server_links(call, sid)}
    if not detail:
        return brief
    state = record.get('status', 'ACTIVE')
    vm_state, power, task = VM_STATES.get(state, ('error', 0, None))
    project = record.get('project_id', '')
    host = record.get('host', 'rehearsal')
    view = dict(brief, **{
        'status': state,
        'tenant_id': project,
        'user_id': record.get('user_id', ''),
        'metadata': record.get('metadata') or {},
        'hostId': hashlib.sha224(('%s%s' % (project, host)).encode()
                                 ).hexdigest() if project else '',
        'image': ({'id': record['image'], 'links': []}
                  if record.get('image') else ''),
        'flavor': _flavor_view(call, record.get('flavor')),
        'created': record.get('created', ''),
        'updated': record.get('updated', record.get('created', '')),
        'addresses': record.get('addresses') or {},
        'accessIPv4': '', 'accessIPv6': '',
        'key_name': record.get('key_name'),
        'config_drive': '',
        'progress': 100 if state == 'ACTIVE' else 0,
        'OS-DCF:diskConfig': 'MANUAL',
        'OS-EXT-AZ:availability_zone': 'nova',
        'OS-EXT-STS:vm_state': vm_state,
        'OS-EXT-STS:power_state': power,
        'OS-EXT-STS:task_state': task,
        'OS-SRV-USG:launched_at': record.get('launched_at'),
        'OS-SRV-USG:terminated_at': None,
        'os-extended-volumes:volumes_attached': [],
        'security_groups': [{'name': 'default'}],
    })
    if state == 'ERROR' and record.get('fault'):
        view['fault'] = {'code': 500, 'message': record['fault'],
                         'created': view['updated']}
    if call.is_admin:
        view.update({'OS-EXT-SRV-ATTR:host': host,
                     'OS-EXT-SRV-ATTR:hypervisor_hostname': host,
                     'OS-EXT-SRV-ATTR:instance_name':
                         record.get('instance_name', '')})
    for since, key, value in (((2, 9), 'locked', False),
                              ((2, 19), 'description', None),
                              ((2, 26), 'tags', []),
                              ((2, 63), 'trusted_image_certificates', None),
                              ((2, 73), 'locked_reason', None),
                              ((2, 96), 'pinned_availability_zone', None)):
        if call.at_least(*since):
            view[key] = value
    return view


def visible_servers(call, records):
    """Scoped to the caller's project unless an admin asks all_tenants."""
    everyone = call.is_admin and str(call.arg('all_tenants', call.arg(
        'all_projects', '0'))).lower() not in ('0', 'false', 'no', 'off')
    out = []
    for rec in records:
        project = rec.get('project_id', '')
        if not everyone and project != call.project_id:
            continue
        wanted = call.arg('project_id', call.arg('tenant_id'))
        if everyone and wanted and project != wanted:
            continue
        out.append(rec)
    return out


def _matches(call, rec):
    name = call.arg('name')
    if name:
        try:
            if not re.search(name, rec.get('name', '')):
                return False
        except re.error:
            return False
    wanted = call.arg('status')
    if wanted and rec.get('status', '').upper() != wanted.upper():
        return False
    flavor = call.arg('flavor')
    if flavor:
        found = find_flavor(call.base, rec.get('flavor') or '')
        if flavor not in (rec.get('flavor'), found and found['id']):
            return False
    for key in ('image', 'key_name'):
        if call.arg(key) and call.arg(key) != rec.get(key):
            return False
    if call.is_admin and call.arg('user_id') and \
            call.arg('user_id') != rec.get('user_id'):
        return False
    ip = call.arg('ip')
    if ip:
        addrs = [a['addr'] for nets in (rec.get('addresses') or {}).values()
                 for a in nets]
        if not any(re.search(ip, a) for a in addrs):
            return False
    return True


def _page(call, records):
    """Newest first (Nova's default sort); ``marker`` and ``limit``."""
    records = sorted(records, key=lambda r: (r.get('created', ''),
                                             r['id']), reverse=True)
    marker = call.arg('marker')
    if marker:
        ids = [r['id'] for r in records]
        if marker not in ids:
            return None, fault(400, 'marker [%s] not found' % marker)
        records = records[ids.index(marker) + 1:]
    limit = call.arg('limit')
    links = []
    if limit is not None:
        try:
            limit = int(limit)
            if limit < 0:
                raise ValueError(limit)
        except ValueError:
            return None, fault(400, 'limit param must be an integer')
        if len(records) > limit:
            records = records[:limit]
            if records:
                links = [{'rel': 'next', 'href': '%s/servers?limit=%d'
                          '&marker=%s' % (call.base, limit,
                                          records[-1]['id'])}]
    return (records, links), None


def _servers(call, servers):
    rest = call.parts[1:]
    if call.method != 'GET':
        if call.method == 'POST' and not rest:
            what = 'creating servers (Heat makes the hollow servers)'
        else:
            what = '%s %s' % (call.method, '/'.join(call.parts))
        return fault(501, 'The rehearsal stand-in compute API does not '
                     'implement %s.' % what)
    if not rest or rest == ['detail']:
        records = [r for r in visible_servers(call, servers.all())
                   if _matches(call, r)]
        paged, refused = _page(call, records)
        if refused:
            return refused
        records, links = paged
        body = {'servers': [server_view(call, r, detail=bool(rest))
                            for r in records]}
        if links:
            body['servers_links'] = links
        return status(200), body
    record = servers.get(rest[0]) if len(rest) == 1 else None
    if record is not None and not call.is_admin and \
            record.get('project_id', '') != call.project_id:
        record = None      # as Nova: another project's server is not found
    if len(rest) == 1:
        if record is None:
            return fault(404, 'Instance %s could not be found.' % rest[0])
        return status(200), {'server': server_view(call, record)}
    return fault(404, 'The resource could not be found.')


class _NoServers(object):
    """A server store with nothing in it (no state directory)."""

    def all(self):
        return []

    def get(self, server_id):
        return None


NO_SERVERS = _NoServers()


def route(call, keypairs=None, servers=None):
    """``(status, body)`` of one compute call below ``/v2.1``."""
    head = call.parts[0] if call.parts else ''
    if head == 'flavors' and call.method == 'GET':
        return _flavors(call)
    if head == 'os-quota-sets' and call.method == 'GET':
        return _quotas(call)
    if head == 'os-keypairs' and keypairs is not None:
        return _keypairs(call, keypairs)
    if head == 'servers':
        return _servers(call, servers or NO_SERVERS)
    if head in ('flavors', 'os-quota-sets'):
        return fault(501, 'The rehearsal stand-in compute API does not '
                     'implement %s /%s.' % (call.method,
                                            '/'.join(call.parts)))
    return fault(404, 'The resource could not be found.')
