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
"""Configuration files of the rehearsal's services (pure rendering).

:class:`Layout` names every path, port and secret; the ``render_*``
functions turn it into file contents. Nothing here touches the disk or the
network, so all of it is unit tested.
"""

import hashlib
import json
import os
import sys

import yaml

HOST = '127.0.0.1'
# heat-engine loads the stand-ins from the package itself.
PLUGIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          'standins')
REGION = 'RegionOne'
PORT_NAMES = ('mysql', 'epmd', 'rabbit', 'rabbit_dist', 'keystone', 'glance',
              'heat', 'magnum', 'cloudapi')
DATABASES = ('keystone', 'glance', 'heat', 'magnum')
DB_USER = 'rehearsal'
RABBIT_USER = 'rehearsal'
ADMIN_USER = 'admin'
ADMIN_PROJECT = 'admin'
MEMBER_USER = 'rehearsal-member'
MEMBER_PROJECT = 'rehearsal'
SERVICE_PROJECT = 'service'
HEAT_DOMAIN = 'heat'
HEAT_DOMAIN_ADMIN = 'heat_domain_admin'
IMAGE_NAME = 'rehearsal-almalinux-9'
IMAGE_OS_DISTRO = 'almalinux'
CLOUD_MEMBER = 'rehearsal'
CLOUD_ADMIN = 'rehearsal-admin'

# Heat's max_resources_per_stack for the rehearsal. The driver's budget is
# one resource per worker plus a small fixed part (network, masters, shards,
# wait condition), about 1,100 for 3 masters + 1000 workers. 2,048 leaves
# room for that and for a second nodegroup, while a template that regressed
# to several resources per node (the upstream templates needed ~11,000 for
# 1000 workers) still fails here as it would on a production cloud.
DEFAULT_MAX_RESOURCES_PER_STACK = 2048
# One engine worker per core; on 2 cores a second worker did not make a
# single stack faster, but it serves API reads while the first is busy.
DEFAULT_HEAT_ENGINE_WORKERS = 2
# Heat's max_stacks_per_tenant on the rehearsal (Heat's default: 512).
HEAT_MAX_STACKS_PER_PROJECT = 2000
# [cern_driver] stall_after and stall_check_interval of the rehearsal's
# conductor (seconds): the production defaults are 300 and 60.
REHEARSAL_STALL_AFTER = 90
REHEARSAL_STALL_CHECK_INTERVAL = 30

# Stand-in resource types: real type -> the stand-in type the plugin
# registers (same property and attribute schema).
STANDIN_TYPES = {
    'OS::Nova::Server': 'Rehearsal::Nova::Server',
    'OS::Neutron::Net': 'Rehearsal::Neutron::Net',
    'OS::Neutron::Subnet': 'Rehearsal::Neutron::Subnet',
    'OS::Neutron::Router': 'Rehearsal::Neutron::Router',
    'OS::Neutron::RouterInterface': 'Rehearsal::Neutron::RouterInterface',
    'OS::Neutron::SecurityGroup': 'Rehearsal::Neutron::SecurityGroup',
    'OS::Neutron::SecurityGroupRule':
        'Rehearsal::Neutron::SecurityGroupRule',
    'OS::Neutron::Port': 'Rehearsal::Neutron::Port',
    'OS::Neutron::FloatingIP': 'Rehearsal::Neutron::FloatingIP',
    'OS::Neutron::FloatingIPAssociation':
        'Rehearsal::Neutron::FloatingIPAssociation',
    'OS::Octavia::LoadBalancer': 'Rehearsal::Octavia::LoadBalancer',
    'OS::Octavia::Listener': 'Rehearsal::Octavia::Listener',
    'OS::Octavia::Pool': 'Rehearsal::Octavia::Pool',
    'OS::Octavia::PoolMember': 'Rehearsal::Octavia::PoolMember',
    'OS::Octavia::HealthMonitor': 'Rehearsal::Octavia::HealthMonitor',
    'OS::Cinder::Volume': 'Rehearsal::Cinder::Volume',
    'OS::Cinder::VolumeAttachment': 'Rehearsal::Cinder::VolumeAttachment',
}


class Layout(object):
    """Every path, port and secret of one rehearsal."""

    def __init__(self, state_dir, ports, secrets, settings=None,
                 prefix=None):
        self.state_dir = os.path.abspath(state_dir)
        self.ports = dict(ports)
        self.secrets = dict(secrets)
        self.settings = dict(settings or {})
        self.prefix = prefix or sys.prefix

    def path(self, *parts):
        return os.path.join(self.state_dir, *parts)

    # Directories ----------------------------------------------------------
    @property
    def etc(self):
        return self.path('etc')

    @property
    def logs(self):
        return self.path('logs')

    @property
    def run(self):
        return self.path('run')

    @property
    def data(self):
        return self.path('data')

    @property
    def standin_dir(self):
        return self.path('standins')

    @property
    def standin_config(self):
        return self.path('standins', 'config.json')

    @property
    def standin_environment(self):
        return self.path('standins', 'environment.yaml')

    @property
    def mysql_socket(self):
        path = self.path('run', 'mysqld.sock')
        if len(path) < 100:
            return path
        # A Unix socket path has at most 107 bytes: deep state directories
        # get a short, stable name in /tmp instead.
        digest = hashlib.sha1(self.state_dir.encode()).hexdigest()[:12]
        return '/tmp/magnum-cern-rehearsal-%s.sock' % digest

    @property
    def clouds_yaml(self):
        return self.path('clouds.yaml')

    def conf(self, service):
        return self.path('etc', service, '%s.conf' % service)

    def log(self, name):
        return self.path('logs', '%s.log' % name)

    def bin(self, name):
        return os.path.join(self.prefix, 'bin', name)

    def venv_etc(self, *parts):
        return os.path.join(self.prefix, 'etc', *parts)

    # URLs -----------------------------------------------------------------
    def url(self, service, path=''):
        return 'http://%s:%d%s' % (HOST, self.ports[service], path)

    @property
    def auth_url(self):
        return self.url('keystone', '/v3')

    def db_url(self, database):
        return 'mysql+pymysql://%s:%s@%s:%d/%s?charset=utf8' % (
            DB_USER, self.secrets['db'], HOST, self.ports['mysql'], database)

    @property
    def transport_url(self):
        return 'rabbit://%s:%s@%s:%d/' % (
            RABBIT_USER, self.secrets['rabbit'], HOST, self.ports['rabbit'])

    def setting(self, name, default):
        value = self.settings.get(name)
        return default if value is None else value


def render_ini(sections):
    """Render ``{section: {key: value}}`` as INI text, in the given order.

    Lists become comma-separated values, booleans ``true``/``false``.
    """
    out = []
    for section, values in sections.items():
        out.append('[%s]' % section)
        for key, value in values.items():
            if isinstance(value, bool):
                value = 'true' if value else 'false'
            elif isinstance(value, (list, tuple)):
                value = ','.join(str(v) for v in value)
            out.append('%s = %s' % (key, value))
        out.append('')
    return '\n'.join(out)


def _service_auth(layout, user, secret):
    """Keystone password auth for a service user (keystoneauth options)."""
    return {
        'auth_type': 'password',
        'auth_url': layout.auth_url,
        'username': user,
        'password': layout.secrets[secret],
        'user_domain_name': 'Default',
        'project_name': SERVICE_PROJECT,
        'project_domain_name': 'Default',
        'region_name': REGION,
    }


def _authtoken(layout, user, secret):
    opts = {'www_authenticate_uri': layout.url('keystone'),
            'memcached_servers': '',
            'token_cache_time': 300,
            'service_token_roles_required': True}
    opts.update(_service_auth(layout, user, secret))
    return opts


def _common(layout, service):
    return {
        'debug': False,
        'use_stderr': True,
        'transport_url': layout.transport_url,
    }


def render_keystone(layout):
    keys = layout.path('data', 'keystone')
    return render_ini({
        'DEFAULT': {'debug': False, 'use_stderr': True,
                    'max_token_size': 255},
        'database': {'connection': layout.db_url('keystone'),
                     'max_pool_size': 10, 'max_overflow': 20},
        'token': {'provider': 'fernet', 'expiration': 86400},
        'fernet_tokens': {'key_repository': os.path.join(keys, 'fernet')},
        'fernet_receipts': {'key_repository': os.path.join(keys, 'fernet')},
        'credential': {'key_repository': os.path.join(keys, 'credential')},
        # Fast enough for a rehearsal; production uses the default rounds.
        'identity': {'password_hash_algorithm': 'bcrypt',
                     'password_hash_rounds': 4},
        # In-process cache (no memcached), copied in and out. Several
        # worker processes each have their own and none sees another's
        # invalidations, so what up adds while services start (the
        # catalog) and revocations are read from the database every time.
        # Roles and projects are cached (Keystone's default): up never
        # changes one once made, a lookup that fails is not cached, and
        # without it token validation spent most of Keystone's CPU
        # loading them row by row (py-spy during a 1000-cluster delete:
        # get_role and get_project 55 % of a worker's samples, Keystone
        # the busiest service of the rehearsal).
        'cache': {'enabled': True, 'backend': 'dogpile.cache.memory_pickle'},
        'catalog': {'caching': False},
        'revoke': {'caching': False},
        'oslo_messaging_notifications': {'driver': 'noop'},
    })


def render_glance(layout):
    return render_ini({
        'DEFAULT': {'debug': False, 'use_stderr': True,
                    'enabled_backends': 'file:file',
                    'bind_host': HOST, 'bind_port': layout.ports['glance'],
                    'public_endpoint': layout.url('glance'),
                    'worker_self_reference_url': layout.url('glance')},
        'database': {'connection': layout.db_url('glance')},
        'glance_store': {'default_backend': 'file'},
        'file': {'filesystem_store_datadir':
                 layout.path('data', 'glance', 'images')},
        'os_glance_staging_store': {
            'filesystem_store_datadir': layout.path('data', 'glance',
                                                    'staging')},
        'os_glance_tasks_store': {
            'filesystem_store_datadir': layout.path('data', 'glance',
                                                    'tasks')},
        'keystone_authtoken': _authtoken(layout, 'glance', 'glance_svc'),
        'paste_deploy': {'flavor': 'keystone'},
        'oslo_messaging_notifications': {'driver': 'noop'},
        'oslo_concurrency': {'lock_path': layout.path('data', 'locks')},
    })


def render_heat(layout):
    default = _common(layout, 'heat')
    default.update({
        'plugin_dirs': [PLUGIN_DIR],
        'environment_dir': layout.path('etc', 'heat', 'environment.d'),
        'template_dir': layout.path('etc', 'heat', 'templates'),
        'max_resources_per_stack': layout.setting(
            'max_resources_per_stack', DEFAULT_MAX_RESOURCES_PER_STACK),
        'num_engine_workers': layout.setting(
            'heat_engine_workers', DEFAULT_HEAT_ENGINE_WORKERS),
        'region_name_for_services': REGION,
        'heat_stack_user_role': 'heat_stack_user',
        'stack_user_domain_name': HEAT_DOMAIN,
        'stack_domain_admin': HEAT_DOMAIN_ADMIN,
        'stack_domain_admin_password': layout.secrets['heat_domain_admin'],
        'deferred_auth_method': 'trusts',
        'auth_encryption_key': layout.secrets['heat_svc'][:32],
        # Hidden parameters (the nodes' user data, which holds the cluster
        # CA keys) and every resource property go to Heat's database
        # encrypted with auth_encryption_key: heat/objects/raw_template.py
        # (RawTemplate.encrypt_hidden_parameters) and
        # heat/objects/resource_properties_data.py
        # (ResourcePropertiesData.encrypt_properties_data). Off by default.
        'encrypt_parameters_and_properties': True,
        # Root stacks one project may have (heat/common/config.py,
        # default 512): a fleet of 1000 clusters in one project needs
        # more (the preflight checks it against the plan).
        'max_stacks_per_tenant': HEAT_MAX_STACKS_PER_PROJECT,
        'heat_metadata_server_url': layout.url('heat'),
        'heat_waitcondition_server_url': layout.url('heat', '/v1/'
                                                    'waitcondition'),
        'host': 'rehearsal',
    })
    trustee = _service_auth(layout, 'heat', 'heat_svc')
    for key in ('project_name', 'project_domain_name', 'region_name'):
        trustee.pop(key)
    return render_ini({
        'DEFAULT': default,
        'database': {'connection': layout.db_url('heat'),
                     # Many resources progress at once on 1000-node stacks:
                     # the default pool (5 + 10) overflows (seen at CERN).
                     'max_pool_size': 20, 'max_overflow': 40,
                     'pool_timeout': 60},
        'keystone_authtoken': _authtoken(layout, 'heat', 'heat_svc'),
        'trustee': trustee,
        'clients_keystone': {'auth_uri': layout.url('keystone')},
        'clients': {'endpoint_type': 'public'},
        'clients_heat': {'url': layout.url('heat', '/v1/%(tenant_id)s')},
        'oslo_messaging_notifications': {'driver': 'noop'},
        'oslo_messaging_rabbit': {'heartbeat_timeout_threshold': 0},
        'oslo_concurrency': {'lock_path': layout.path('data', 'locks')},
        'paste_deploy': {'api_paste_config':
                         layout.venv_etc('heat', 'api-paste.ini')},
    })


def render_magnum(layout):
    default = _common(layout, 'magnum')
    default.update({'host': 'rehearsal',
                    'state_path': layout.path('data', 'magnum')})
    return render_ini({
        'DEFAULT': default,
        'api': {'host': HOST, 'port': layout.ports['magnum'], 'workers': 1,
                'api_paste_config': layout.venv_etc('magnum',
                                                    'api-paste.ini')},
        'conductor': {'workers': 1},
        # The self-test's ladder runs many clusters at once (default 20).
        'quotas': {'max_clusters_per_project': HEAT_MAX_STACKS_PER_PROJECT},
        'database': {'connection': layout.db_url('magnum'),
                     'max_pool_size': 10, 'max_overflow': 20},
        'keystone_authtoken': _authtoken(layout, 'magnum', 'magnum_svc'),
        'keystone_auth': _service_auth(layout, 'magnum', 'magnum_svc'),
        # Barbican, the default, would be called during cluster create.
        'certificates': {'cert_manager_type': 'x509keypair'},
        # At 0 Magnum asks Nova for the flavor's disk.
        'cinder': {'default_boot_volume_size': 10},
        'glance_client': {'region_name': REGION,
                          'endpoint_type': 'publicURL'},
        'oslo_messaging_notifications': {'driver': 'noop'},
        'oslo_concurrency': {'lock_path': layout.path('data', 'locks')},
        'cern_driver': {
            'environment_files': [layout.standin_environment],
            # `up --worker-shard-size N` (benchmarks, docs/benchmarks.md);
            # by default the driver's own default.
            **({'worker_shard_size': layout.settings['worker_shard_size']}
               if layout.settings.get('worker_shard_size') else {}),
            'heat_endpoint_interface': 'public',
            'heat_region_name': REGION,
            # Hollow nodes: Heat moves on every few seconds here, so a
            # stall shows in minutes; the fault tests rely on it
            # (docs/rehearsal.md).
            'stall_after': REHEARSAL_STALL_AFTER,
            'stall_check_interval': REHEARSAL_STALL_CHECK_INTERVAL,
        },
    })


def render_rabbitmq_conf(layout):
    return '\n'.join([
        'listeners.tcp.1 = %s:%d' % (HOST, layout.ports['rabbit']),
        'loopback_users = none',
        'default_user = %s' % RABBIT_USER,
        'default_pass = %s' % layout.secrets['rabbit'],
        'default_vhost = /',
        'log.console = true',
        'log.file = false',
        'log.console.level = warning',
        '',
    ])


def rabbitmq_env(layout):
    """Environment of the private RabbitMQ node (no system paths)."""
    base = layout.path('data', 'rabbitmq')
    return {
        'HOME': base,
        'ERL_EPMD_PORT': str(layout.ports['epmd']),
        'ERL_EPMD_ADDRESS': HOST,
        'RABBITMQ_NODENAME': 'rehearsal@localhost',
        'RABBITMQ_USE_LONGNAME': 'false',
        'RABBITMQ_NODE_IP_ADDRESS': HOST,
        'RABBITMQ_NODE_PORT': str(layout.ports['rabbit']),
        'RABBITMQ_DIST_PORT': str(layout.ports['rabbit_dist']),
        'RABBITMQ_MNESIA_BASE': os.path.join(base, 'mnesia'),
        'RABBITMQ_LOG_BASE': os.path.join(base, 'log'),
        'RABBITMQ_PID_FILE': os.path.join(base, 'rabbitmq.pid'),
        'RABBITMQ_CONFIG_FILE': layout.path('etc', 'rabbitmq',
                                            'rabbitmq.conf'),
        'RABBITMQ_ADVANCED_CONFIG_FILE': layout.path('etc', 'rabbitmq',
                                                     'advanced.config'),
        'RABBITMQ_CONF_ENV_FILE': layout.path('etc', 'rabbitmq',
                                              'rabbitmq-env.conf'),
        'RABBITMQ_ENABLED_PLUGINS_FILE': layout.path('etc', 'rabbitmq',
                                                     'enabled_plugins'),
        'RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS':
            '-kernel inet_dist_use_interface {127,0,0,1}',
    }


def render_standin_environment(layout):
    return yaml.safe_dump(
        {'resource_registry': dict(sorted(STANDIN_TYPES.items()))},
        default_flow_style=False)


def default_standin_config(boot_delay=0.0, failure_rate=0.0):
    """The stand-ins' behaviour file (read by the plugin on every create).

    ``boot_delay`` is a number (seconds, fixed) or a distribution dict, see
    :mod:`magnum_cern_driver.selftest.rehearsal.standin_config`.
    """
    return {
        'default': {'boot_delay': 0.0, 'failure_rate': 0.0},
        'types': {
            'OS::Nova::Server': {'boot_delay': boot_delay,
                                 'failure_rate': failure_rate},
        },
        'fail_names': [],
    }


def render_standin_config(config):
    return json.dumps(config, indent=2, sort_keys=True) + '\n'


def cloud_entry(layout, user, secret, project):
    return {
        'auth': {'auth_url': layout.auth_url,
                 'username': user,
                 'password': layout.secrets[secret],
                 'project_name': project,
                 'user_domain_name': 'Default',
                 'project_domain_name': 'Default'},
        'region_name': REGION,
        'interface': 'public',
        'identity_api_version': 3,
    }


def render_clouds_yaml(layout):
    return yaml.safe_dump({'clouds': {
        CLOUD_MEMBER: cloud_entry(layout, MEMBER_USER, 'member',
                                  MEMBER_PROJECT),
        CLOUD_ADMIN: cloud_entry(layout, ADMIN_USER, 'admin',
                                 ADMIN_PROJECT),
    }}, default_flow_style=False)


def render_all(layout):
    """Return ``{path: (text, secret)}`` for every file ``up`` writes."""
    return {
        layout.conf('keystone'): (render_keystone(layout), True),
        layout.path('etc', 'glance', 'glance-api.conf'): (
            render_glance(layout), True),
        layout.conf('heat'): (render_heat(layout), True),
        layout.conf('magnum'): (render_magnum(layout), True),
        layout.path('etc', 'rabbitmq', 'rabbitmq.conf'): (
            render_rabbitmq_conf(layout), True),
        layout.path('etc', 'rabbitmq', 'enabled_plugins'): ('[].\n', False),
        layout.path('etc', 'rabbitmq', 'rabbitmq-env.conf'): ('', False),
        layout.path('etc', 'rabbitmq', 'advanced.config'): ('[].\n', False),
        layout.standin_environment: (render_standin_environment(layout),
                                     False),
        layout.clouds_yaml: (render_clouds_yaml(layout), True),
    }
