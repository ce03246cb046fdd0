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
"""Keystone and Glance contents of the rehearsal (idempotent REST calls).

Users, projects, roles, the Heat stack-user domain, the service catalog
and the image Magnum looks up.
"""

from keystoneauth1.identity import v3
from keystoneauth1 import session as ks_session

from magnum_cern_driver.selftest.rehearsal import configs

SERVICE_USERS = (('glance', 'glance_svc'), ('heat', 'heat_svc'),
                 ('magnum', 'magnum_svc'))
# A few bytes stand for the image: nothing boots it.
IMAGE_DATA = b'rehearsal image: the data plane is hollow\n'


def admin_session(layout, timeout=30):
    auth = v3.Password(auth_url=layout.auth_url,
                       username=configs.ADMIN_USER,
                       password=layout.secrets['admin'],
                       project_name=configs.ADMIN_PROJECT,
                       user_domain_name='Default',
                       project_domain_name='Default')
    return ks_session.Session(auth=auth, timeout=timeout)


def catalog(layout):
    """``[(name, type, url)]`` of the services in the catalog."""
    return [
        # Registered by keystone-manage bootstrap; kept in step here when
        # the port changes.
        ('keystone', 'identity', layout.auth_url),
        ('glance', 'image', layout.url('glance')),
        ('heat', 'orchestration', layout.url('heat', '/v1/%(tenant_id)s')),
        ('magnum', 'container-infra', layout.url('magnum', '/v1')),
        # Read-only stand-ins for the lookups Magnum's API makes.
        ('nova', 'compute', layout.url('cloudapi', '/compute/v2.1')),
        ('neutron', 'network', layout.url('cloudapi', '/network')),
    ]


class Identity(object):
    def __init__(self, sess, layout):
        self.s = sess
        self.layout = layout
        self.url = layout.auth_url

    def _get(self, path, key, **params):
        resp = self.s.get(self.url + path, params=params)
        return resp.json()[key]

    def _find_or_create(self, path, key, body, **query):
        found = self._get(path, key, **query)
        if found:
            return found[0]
        resp = self.s.post(self.url + path, json={key[:-1]: body})
        return resp.json()[key[:-1]]

    def domain(self, name):
        return self._find_or_create('/domains', 'domains',
                                    {'name': name, 'enabled': True},
                                    name=name)

    def project(self, name, domain_id='default'):
        return self._find_or_create(
            '/projects', 'projects',
            {'name': name, 'domain_id': domain_id, 'enabled': True},
            name=name, domain_id=domain_id)

    def role(self, name):
        return self._find_or_create('/roles', 'roles', {'name': name},
                                    name=name)

    def user(self, name, password, domain_id='default', project_id=None):
        found = self._get('/users', 'users', name=name, domain_id=domain_id)
        if found:
            user = found[0]
            # Keep the password in step with state.json (idempotent up).
            self.s.patch(self.url + '/users/%s' % user['id'],
                         json={'user': {'password': password}})
            return user
        body = {'name': name, 'password': password, 'domain_id': domain_id,
                'enabled': True}
        if project_id:
            body['default_project_id'] = project_id
        return self.s.post(self.url + '/users',
                           json={'user': body}).json()['user']

    def grant(self, user_id, role_id, project_id=None, domain_id=None):
        if project_id:
            path = '/projects/%s/users/%s/roles/%s' % (project_id, user_id,
                                                       role_id)
        else:
            path = '/domains/%s/users/%s/roles/%s' % (domain_id, user_id,
                                                      role_id)
        self.s.put(self.url + path)

    def service(self, name, type_):
        return self._find_or_create('/services', 'services',
                                    {'name': name, 'type': type_,
                                     'enabled': True}, type=type_)

    def endpoints(self, service_id, url):
        existing = self._get('/endpoints', 'endpoints',
                             service_id=service_id)
        have = {e['interface']: e for e in existing}
        for interface in ('public', 'internal', 'admin'):
            body = {'service_id': service_id, 'interface': interface,
                    'url': url, 'region_id': configs.REGION,
                    'enabled': True}
            if interface in have:
                if have[interface]['url'] != url:
                    self.s.patch(self.url + '/endpoints/%s'
                                 % have[interface]['id'],
                                 json={'endpoint': body})
            else:
                self.s.post(self.url + '/endpoints',
                            json={'endpoint': body})


def setup_identity(layout, sess=None):
    """Create (or update) everything the services and users need."""
    sess = sess or admin_session(layout)
    idt = Identity(sess, layout)
    roles = {name: idt.role(name)['id'] for name in
             ('admin', 'member', 'reader', 'service', 'heat_stack_user')}
    service_project = idt.project(configs.SERVICE_PROJECT)['id']
    for user_name, secret in SERVICE_USERS:
        user = idt.user(user_name, layout.secrets[secret],
                        project_id=service_project)
        for role in ('admin', 'service'):
            idt.grant(user['id'], roles[role], project_id=service_project)
    member_project = idt.project(configs.MEMBER_PROJECT)['id']
    member = idt.user(configs.MEMBER_USER, layout.secrets['member'],
                      project_id=member_project)
    idt.grant(member['id'], roles['member'], project_id=member_project)
    # Heat's domain for stack users (wait condition handles).
    heat_domain = idt.domain(configs.HEAT_DOMAIN)['id']
    domain_admin = idt.user(configs.HEAT_DOMAIN_ADMIN,
                            layout.secrets['heat_domain_admin'],
                            domain_id=heat_domain)
    idt.grant(domain_admin['id'], roles['admin'], domain_id=heat_domain)
    for name, type_, url in catalog(layout):
        svc = idt.service(name, type_)
        idt.endpoints(svc['id'], url)
    return {'member_project_id': member_project}


def ensure_image(layout, sess=None):
    """Register the image Magnum looks up (``os_distro`` = the driver's)."""
    sess = sess or admin_session(layout)
    base = layout.url('glance', '/v2')
    found = sess.get(base + '/images',
                     params={'name': configs.IMAGE_NAME}).json()['images']
    if found and found[0]['status'] == 'active':
        return found[0]
    for image in found:
        sess.delete(base + '/images/%s' % image['id'])
    image = sess.post(base + '/images', json={
        'name': configs.IMAGE_NAME,
        'disk_format': 'raw',
        'container_format': 'bare',
        'visibility': 'public',
        'os_distro': configs.IMAGE_OS_DISTRO,
        'os_version': '9',
    }).json()
    sess.put(base + '/images/%s/file' % image['id'], data=IMAGE_DATA,
             headers={'Content-Type': 'application/octet-stream'})
    return sess.get(base + '/images/%s' % image['id']).json()


class RpcPing(object):
    """Round trip to a service's RPC server through the private RabbitMQ.

    This is the readiness check of the engines: a message reached a
    consumer and an answer came back. (Their service records are only
    written by a periodic task, up to a minute after start.)
    """

    def __init__(self, layout):
        import warnings

        from oslo_config import cfg
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            import oslo_messaging
        self._messaging = oslo_messaging
        # oslo.messaging registers some options on the global CONF only.
        conf = cfg.CONF
        self.transport = oslo_messaging.get_rpc_transport(
            conf, url=layout.transport_url)

    def call(self, exchange, topic, method, version='1.0', timeout=3):
        target = self._messaging.Target(exchange=exchange, topic=topic,
                                        version=version)
        client = self._messaging.get_rpc_client(self.transport, target,
                                                timeout=timeout)
        try:
            client.call({}, method)
        except self._messaging.MessagingTimeout:
            return False
        return True

    def close(self):
        self.transport.cleanup()


def heat_engine_answers(ping):
    # get_revision exists since engine API 1.11 and needs no stack.
    return ping.call('heat', 'engine', 'get_revision', version='1.11')


def magnum_conductor_answers(ping):
    return ping.call('magnum', 'magnum-conductor', 'ping_conductor')
