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
"""The self-test's only door to the cloud (openstacksdk, Magnum, Heat,
Keystone, quotas, and the Kubernetes API of a built cluster).

Everything else in the self-test takes a :class:`Cloud` (or a fake with the
same methods) and never imports openstacksdk. Calls are plain REST through
openstacksdk's per-service adapters so that every Magnum field (``driver``,
nodegroups at API 1.9+) is reachable. Errors become :class:`CloudError`
whose message is one line for the operator.
"""

import datetime
import os
import time

DRIVER_NAME = 'k8s_cern_heat_v1'
DRIVER_OS_DISTRO = 'almalinux'
COE = 'kubernetes'
MAGNUM_MICROVERSION = '1.9'          # nodegroups
_MAGNUM_HEADERS = {'OpenStack-API-Version':
                   'container-infra %s' % MAGNUM_MICROVERSION,
                   'Accept': 'application/json'}

SERVICES = (('identity', 'Keystone', 'identity'),
            ('container-infra', 'Magnum',
             'container_infrastructure_management'),
            ('orchestration', 'Heat', 'orchestration'))


class CloudError(Exception):
    """A cloud call failed; str() is one line."""


class NotFound(CloudError):
    pass


class Conflict(CloudError):
    pass


class ConfigError(CloudError):
    """No usable cloud configuration (credentials, clouds.yaml)."""


def one_line(text, limit=300):
    text = ' '.join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + '...'


# -- choosing the target -----------------------------------------------------

def resolve_target(os_cloud=None, env=None, config_loader=None):
    """Which cloud to use.

    Returns ('cloud', name), ('envvars', None), or ('rehearsal', None) when
    nothing is configured. Order: --os-cloud, OS_CLOUD, OS_AUTH_URL
    (environment credentials), the only cloud of clouds.yaml. Several
    clouds in clouds.yaml and none chosen is an error (we do not guess
    which cloud to fill with clusters).
    """
    env = os.environ if env is None else env
    if os_cloud:
        return 'cloud', os_cloud
    if env.get('OS_CLOUD'):
        return 'cloud', env['OS_CLOUD']
    if env.get('OS_AUTH_URL'):
        return 'envvars', None
    if config_loader is None:
        def config_loader():
            from openstack import config as os_config
            return os_config.OpenStackConfig(
                load_envvars=False).get_cloud_names()
    try:
        names = [n for n in config_loader() if n not in ('envvars',
                                                         'defaults')]
    except Exception as e:
        raise ConfigError('cannot read clouds.yaml: %s' % one_line(e))
    if len(names) == 1:
        return 'cloud', names[0]
    if len(names) > 1:
        raise ConfigError('clouds.yaml defines %d clouds (%s): choose one '
                          'with --os-cloud or OS_CLOUD'
                          % (len(names), ', '.join(sorted(names))))
    return 'rehearsal', None


def connect(cloud=None, config=None, region=None):
    """An openstacksdk Connection.

    For a named cloud, the environment, or a cloud config dict (the
    rehearsal's).
    """
    try:
        import openstack
        from openstack import config as os_config
        if config is not None:
            config = dict(config)
            if region:
                config['region_name'] = region
            region_obj = os_config.get_cloud_region(
                load_yaml_config=False, load_envvars=False, **config)
            return openstack.connection.Connection(config=region_obj)
        if cloud is None:
            return openstack.connect(cloud='envvars', region_name=region)
        return openstack.connect(cloud=cloud, region_name=region)
    except Exception as e:
        raise ConfigError('cannot configure cloud %s: %s'
                          % (cloud or 'from environment', one_line(e)))


# -- the adapter -------------------------------------------------------------

def _error_text(resp):
    try:
        body = resp.json()
    except ValueError:
        return one_line(resp.text or resp.reason or '')
    if isinstance(body, dict):
        if body.get('errors'):                          # Magnum
            err = body['errors'][0]
            return one_line(err.get('detail') or err.get('title') or err)
        if isinstance(body.get('error'), dict):         # Heat, Keystone
            err = body['error']
            return one_line(err.get('message') or err.get('title') or err)
        for key in ('explanation', 'message', 'title'):
            if body.get(key):
                return one_line(body[key])
    return one_line(body)


class Cloud(object):
    """Adapter over an openstacksdk Connection.

    :param conn: an ``openstack.connection.Connection`` (or a fake offering
        the same attributes: per-service proxies with ``request``).
    :param hollow: nodes are stand-ins (the rehearsal): no Kubernetes checks.
    """

    def __init__(self, conn, name=None, hollow=False, kind='cloud'):
        self.conn = conn
        self.name = name
        self.hollow = hollow
        self.kind = kind
        self._user_id = None
        self._project_id = None

    # -- plumbing ---------------------------------------------------------
    def _proxy(self, attr):
        return getattr(self.conn, attr)

    def _req(self, attr, method, url, ok=(200,), what=None, **kwargs):
        service = attr.replace('_', ' ')
        try:
            resp = self._proxy(attr).request(url, method, **kwargs)
        except CloudError:
            raise
        except Exception as e:
            raise CloudError('%s %s %s: %s' % (service, method, url,
                                               one_line(e)))
        if resp.status_code in ok:
            return resp
        text = _error_text(resp)
        what = what or '%s %s' % (method, url)
        if resp.status_code == 404:
            raise NotFound('%s: not found (%s)' % (what, text))
        if resp.status_code == 409:
            raise Conflict('%s: conflict (%s)' % (what, text))
        raise CloudError('%s: HTTP %s from %s (%s)'
                         % (what, resp.status_code, service, text))

    def _magnum(self, method, url, ok=(200,), **kwargs):
        headers = dict(_MAGNUM_HEADERS)
        headers.update(kwargs.pop('headers', {}))
        return self._req('container_infrastructure_management', method, url,
                         ok=ok, headers=headers, **kwargs)

    def _heat(self, method, url, ok=(200,), **kwargs):
        return self._req('orchestration', method, url, ok=ok, **kwargs)

    def _keystone(self, method, url, ok=(200,), **kwargs):
        return self._req('identity', method, url, ok=ok, **kwargs)

    # -- identity and endpoints -------------------------------------------
    def authenticate(self):
        """Get a token; returns {'user_id', 'project_id', 'auth_url'}."""
        try:
            self.conn.authorize()
            self._user_id = self.conn.current_user_id
            self._project_id = self.conn.current_project_id
            auth = self.conn.config.config.get('auth', {})
        except Exception as e:
            raise ConfigError('authentication failed for cloud %s: %s'
                              % (self.name or 'from environment',
                                 one_line(e)))
        return {'user_id': self._user_id, 'project_id': self._project_id,
                'auth_url': auth.get('auth_url'),
                'region': self.conn.config.get_region_name()}

    def endpoint(self, service_type):
        try:
            return self.conn.endpoint_for(service_type)
        except Exception:
            return None

    def has_service(self, service_type):
        return bool(self.endpoint(service_type))

    def probe(self):
        """Reach Keystone, Magnum and Heat; never raises.

        Returns {service: {'ok', 'message', 'url', 'latency_ms'}}.
        """
        out = {}
        calls = {'identity': lambda: self._keystone(
                     'GET', '/auth/projects'),
                 'container-infra': lambda: self._magnum(
                     'GET', '/clusters?limit=1'),
                 'orchestration': lambda: self._heat(
                     'GET', '/stacks?limit=1')}
        for stype, label, _attr in SERVICES:
            url = self.endpoint(stype)
            if not url:
                out[stype] = {'ok': False, 'url': None, 'latency_ms': None,
                              'message': '%s (%s) is not in the service '
                                         'catalog' % (label, stype)}
                continue
            t0 = time.monotonic()
            try:
                calls[stype]()
                out[stype] = {'ok': True, 'url': url, 'message': 'reachable',
                              'latency_ms': round(
                                  (time.monotonic() - t0) * 1000, 1)}
            except CloudError as e:
                out[stype] = {'ok': False, 'url': url, 'latency_ms': None,
                              'message': '%s at %s: %s' % (label, url, e)}
        return out

    # -- versions -------------------------------------------------------
    def magnum_api_versions(self):
        """{'min': '1.1', 'max': '1.14'} from Magnum's response headers."""
        resp = self._magnum('GET', '/clusters?limit=1')
        out = {}
        for key, name in (('min', 'OpenStack-API-Minimum-Version'),
                          ('max', 'OpenStack-API-Maximum-Version')):
            value = resp.headers.get(name, '')
            out[key] = value.split()[-1] if value else None
        return out

    def heat_build_info(self):
        """Heat's /build_info (revisions as configured by the operator)."""
        try:
            return self._heat('GET', '/build_info').json()
        except CloudError as e:
            return {'error': str(e)}

    # -- Glance and Nova --------------------------------------------------
    def find_image(self, name_or_id):
        try:
            image = self.conn.image.find_image(name_or_id,
                                               ignore_missing=True)
        except Exception as e:
            raise CloudError('image %s: %s' % (name_or_id, one_line(e)))
        if image is None:
            return None
        props = dict(getattr(image, 'properties', None) or {})
        os_distro = getattr(image, 'os_distro', None) or props.get(
            'os_distro')
        return {'id': image.id, 'name': image.name, 'os_distro': os_distro,
                'magnum_driver': props.get('magnum_driver')}

    def find_images_by_distro(self, os_distro):
        try:
            images = list(self.conn.image.images(os_distro=os_distro))
        except Exception as e:
            raise CloudError('listing images: %s' % one_line(e))
        return [{'id': i.id, 'name': i.name, 'os_distro': os_distro}
                for i in images]

    def find_flavor(self, name_or_id):
        if not self.has_service('compute'):
            return None
        try:
            fl = self.conn.compute.find_flavor(name_or_id,
                                               ignore_missing=True)
        except Exception as e:
            raise CloudError('flavor %s: %s' % (name_or_id, one_line(e)))
        if fl is None:
            return None
        return {'id': fl.id, 'name': fl.name, 'vcpus': fl.vcpus,
                'ram': fl.ram, 'disk': fl.disk,
                'ephemeral': getattr(fl, 'ephemeral', 0)}

    def network_subnets(self, name_or_id):
        """Ids of the subnets of a network (CloudError when not found)."""
        if not self.has_service('network'):
            raise CloudError('no network service to find network %s in'
                             % name_or_id)
        try:
            net = self.conn.network.find_network(name_or_id,
                                                 ignore_missing=True)
        except Exception as e:
            raise CloudError('network %s: %s' % (name_or_id, one_line(e)))
        if net is None:
            raise CloudError('network %s not found' % name_or_id)
        return list(net.subnet_ids or [])

    # -- quotas -------------------------------------------------------------
    def quotas(self):
        """Quotas as the cloud tells them.

        Returns {resource: {'limit': int (-1 unlimited), 'in_use': int}};
        a service missing from the catalog is left out, a failing one is
        reported under 'errors'.
        """
        project = self._project_id or self.conn.current_project_id
        out = {'errors': {}}

        def usage(d, name):
            u = d.get('usage') or {}
            return u.get(name, 0) if isinstance(u, dict) else 0

        if self.has_service('compute'):
            try:
                qs = self.conn.compute.get_quota_set(project, usage=True)
                d = qs.to_dict()
                for name, key in (('instances', 'instances'),
                                  ('cores', 'cores'), ('ram', 'ram')):
                    out[name] = {'limit': d.get(key),
                                 'in_use': usage(d, key)}
            except Exception as e:
                out['errors']['compute'] = one_line(e)
        if self.has_service('network'):
            try:
                q = self.conn.network.get_quota(project, details=True)
                d = q.to_dict()
                for name, key in (('ports', 'ports'),
                                  ('networks', 'networks'),
                                  ('routers', 'routers'),
                                  ('security_groups', 'security_groups')):
                    v = d.get(key) or {}
                    if isinstance(v, dict):
                        out[name] = {'limit': v.get('limit'),
                                     'in_use': (v.get('used') or 0)
                                     + (v.get('reserved') or 0)}
            except Exception as e:
                out['errors']['network'] = one_line(e)
        if self.has_service('block-storage') or self.has_service('volumev3'):
            try:
                qs = self.conn.block_storage.get_quota_set(project,
                                                           usage=True)
                d = qs.to_dict()
                for name in ('volumes', 'gigabytes'):
                    out[name] = {'limit': d.get(name),
                                 'in_use': usage(d, name)}
            except Exception as e:
                out['errors']['block-storage'] = one_line(e)
        try:
            q = self._magnum('GET', '/quotas/%s/Cluster' % project).json()
            limit = q.get('hard_limit')
        except CloudError as e:
            limit = None
            out['errors']['container-infra'] = str(e)
        if limit is not None:
            try:
                in_use = len(self.list_clusters())
            except CloudError:
                in_use = 0
            out['clusters'] = {'limit': limit, 'in_use': in_use}
        return out

    # -- cluster templates --------------------------------------------------
    def find_template(self, name_or_id):
        try:
            return self._magnum('GET', '/clustertemplates/%s'
                                % name_or_id).json()
        except NotFound:
            return None

    def create_template(self, spec):
        body = dict(spec)
        return self._magnum('POST', '/clustertemplates', ok=(201, 200),
                            json=body).json()

    def delete_template(self, ident):
        """True when gone (deleted now or already)."""
        try:
            self._magnum('DELETE', '/clustertemplates/%s' % ident,
                         ok=(204, 200, 202))
        except NotFound:
            return True
        return self.find_template(ident) is None

    def list_templates(self, prefix=None):
        body = self._magnum('GET', '/clustertemplates').json()
        items = body.get('clustertemplates', [])
        return [t for t in items
                if not prefix or (t.get('name') or '').startswith(prefix)]

    # -- clusters -----------------------------------------------------------
    def create_cluster(self, name, template_id, node_count, master_count=1,
                       create_timeout=None, labels=None, merge_labels=True):
        """POST the cluster; returns its uuid (202 Accepted)."""
        body = {'name': name, 'cluster_template_id': template_id,
                'node_count': node_count, 'master_count': master_count}
        if create_timeout:
            body['create_timeout'] = int(create_timeout)
        if labels:
            body['labels'] = dict(labels)
            body['merge_labels'] = bool(merge_labels)
        resp = self._magnum('POST', '/clusters', ok=(202, 201, 200),
                            json=body)
        return resp.json().get('uuid')

    def get_cluster(self, ident):
        try:
            return self._magnum('GET', '/clusters/%s' % ident).json()
        except NotFound:
            return None

    def list_clusters(self, prefix=None, detail=False):
        """The clusters (named ``prefix``...), one page of 1000 per call.

        ``detail``: ``/clusters/detail``, whose entries also carry
        ``status_reason`` (the plain list leaves it out), still one call.
        """
        out = []
        marker = None
        while True:
            url = '/clusters%s?limit=1000' % ('/detail' if detail else '')
            if marker:
                url += '&marker=%s' % marker
            body = self._magnum('GET', url).json()
            items = body.get('clusters', [])
            out.extend(items)
            if not body.get('next') or not items:
                break
            marker = items[-1]['uuid']
        return [c for c in out
                if not prefix or (c.get('name') or '').startswith(prefix)]

    def delete_cluster(self, ident):
        """Ask for the delete; 'gone' when it no longer exists."""
        try:
            self._magnum('DELETE', '/clusters/%s' % ident,
                         ok=(204, 202, 200))
        except NotFound:
            return 'gone'
        return 'deleting'

    # -- Heat -----------------------------------------------------------------
    def list_stacks(self, prefix=None):
        body = self._heat('GET', '/stacks').json()
        return [s for s in body.get('stacks', [])
                if not prefix or (s.get('stack_name') or '').startswith(
                    prefix)]

    def get_stack(self, ident):
        """A stack without resolving outputs (cheap for Heat)."""
        try:
            body = self._heat('GET', '/stacks/%s?resolve_outputs=False'
                              % ident, ok=(200, 302)).json()
        except NotFound:
            return None
        stack = body.get('stack', body)
        if stack.get('stack_status') == 'DELETE_COMPLETE':
            return None
        return stack

    def delete_stack(self, ident):
        stack = self.get_stack(ident)
        if stack is None:
            return 'gone'
        try:
            self._heat('DELETE', '/stacks/%s/%s' % (stack['stack_name'],
                                                    stack['id']),
                       ok=(204, 200, 202))
        except NotFound:
            return 'gone'
        return 'deleting'

    # -- Keystone application credentials -----------------------------------
    def list_app_credentials(self):
        uid = self._user_id or self.conn.current_user_id
        body = self._keystone('GET', '/users/%s/application_credentials'
                              % uid).json()
        return [{'id': a['id'], 'name': a.get('name'),
                 'description': a.get('description')}
                for a in body.get('application_credentials', [])]

    def delete_app_credential(self, ident):
        uid = self._user_id or self.conn.current_user_id
        try:
            self._keystone('DELETE', '/users/%s/application_credentials/%s'
                           % (uid, ident), ok=(204,))
        except NotFound:
            pass
        return 'gone'

    # -- Kubernetes of a built cluster ---------------------------------------
    def write_kubeconfig(self, cluster, directory):
        """Sign a client certificate through Magnum; write a kubeconfig.

        Files are mode 0600 in ``directory``; returns the kubeconfig path.
        Secrets stay in that directory, never in reports.
        """
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives import serialization
        from cryptography import x509
        from cryptography.x509.oid import NameOID
        import yaml

        uuid = cluster['uuid']
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        csr = x509.CertificateSigningRequestBuilder().subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'admin'),
                       x509.NameAttribute(NameOID.ORGANIZATION_NAME,
                                          'system:masters')])).sign(
            key, hashes.SHA256())
        csr_pem = csr.public_bytes(serialization.Encoding.PEM).decode()
        cert = self._magnum('POST', '/certificates', ok=(201, 200),
                            json={'cluster_uuid': uuid,
                                  'csr': csr_pem}).json()['pem']
        ca = self._magnum('GET', '/certificates/%s' % uuid).json()['pem']
        os.makedirs(directory, mode=0o700, exist_ok=True)
        files = {}
        for fname, data in (('ca.pem', ca), ('cert.pem', cert), (
                'key.pem', key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.TraditionalOpenSSL,
                    serialization.NoEncryption()).decode())):
            path = os.path.join(directory, '%s-%s' % (uuid, fname))
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, 'w') as f:
                f.write(data)
            files[fname] = path
        api = cluster.get('api_address') or ''
        kubeconfig = {
            'apiVersion': 'v1', 'kind': 'Config',
            'clusters': [{'name': uuid, 'cluster': {
                'server': api, 'certificate-authority': files['ca.pem']}}],
            'users': [{'name': 'admin', 'user': {
                'client-certificate': files['cert.pem'],
                'client-key': files['key.pem']}}],
            'contexts': [{'name': 'default', 'context': {
                'cluster': uuid, 'user': 'admin'}}],
            'current-context': 'default'}
        path = os.path.join(directory, '%s.kubeconfig' % uuid)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as f:
            yaml.safe_dump(kubeconfig, f)
        return path

    def count_ready_nodes(self, kubeconfig):
        """(ready, total) nodes seen by the cluster's Kubernetes API."""
        from kubernetes import client
        from kubernetes import config as kconfig
        try:
            api = client.CoreV1Api(kconfig.new_client_from_config(
                config_file=kubeconfig))
            nodes = api.list_node(_request_timeout=30).items
        except Exception as e:
            raise CloudError('Kubernetes API: %s' % one_line(e))
        ready = 0
        for node in nodes:
            for cond in (node.status.conditions or []):
                if cond.type == 'Ready' and cond.status == 'True':
                    ready += 1
        return ready, len(nodes)


def parse_time(text):
    """Magnum/Heat timestamps -> aware datetime (None when missing)."""
    if not text:
        return None
    text = text.replace('Z', '+00:00')
    try:
        value = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value
