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
"""The plan of the rehearsal: which processes, in which order (pure).

Each :class:`Service` is one long-running process with the command line,
environment and health check ``up`` uses. :func:`plan` lists them in start
order; :func:`migrations` lists the one-shot database commands run before.
"""

import dataclasses
import os
import shutil

from magnum_cern_driver.selftest.rehearsal import configs

WSGI = 'magnum_cern_driver.selftest.rehearsal.wsgi'
# The services of :func:`plan`, in start order (names the CLI accepts).
SERVICE_NAMES = ('mariadb', 'epmd', 'rabbitmq', 'keystone', 'cloud-standin',
                 'glance', 'heat-api', 'heat-engine', 'magnum-api',
                 'magnum-conductor')
ENV_CONF = 'MAGNUM_CERN_REHEARSAL_CONF'
ENV_STANDIN_CONFIG = 'MAGNUM_CERN_REHEARSAL_STANDINS'
ENV_AUTH_URL = 'MAGNUM_CERN_REHEARSAL_AUTH_URL'


@dataclasses.dataclass
class Service:
    name: str
    argv: list
    check: tuple                 # ('tcp', port) | ('http', url) | (name,)
    env: dict = dataclasses.field(default_factory=dict)
    timeout: float = 60.0
    # Seconds between SIGTERM and SIGKILL of the process group at stop.
    grace: float = 5.0
    # Ports the service listens on (checked free after stop).
    ports: tuple = ()


@dataclasses.dataclass
class Step:
    """A one-shot command (database migration, key setup)."""
    name: str
    argv: list
    env: dict = dataclasses.field(default_factory=dict)


def _find(name, *extra):
    for path in extra:
        if os.path.exists(path):
            return path
    return shutil.which(name) or name


def mariadbd_argv(layout):
    return [
        _find('mariadbd', '/usr/sbin/mariadbd'),
        '--no-defaults',
        '--user=%s' % _user(),
        '--datadir=%s' % layout.path('data', 'mysql'),
        '--bind-address=%s' % configs.HOST,
        '--port=%d' % layout.ports['mysql'],
        '--socket=%s' % layout.mysql_socket,
        '--pid-file=%s' % layout.path('run', 'mysqld.pid'),
        '--skip-name-resolve',
        '--skip-log-bin',
        # A rehearsal needs no durability across a power cut.
        '--innodb-flush-log-at-trx-commit=0',
        '--innodb-doublewrite=0',
        '--innodb-buffer-pool-size=256M',
        '--max-connections=1000',
        '--character-set-server=utf8mb4',
        '--collation-server=utf8mb4_general_ci',
    ]


def mariadb_install_argv(layout):
    return [
        _find('mariadb-install-db', '/usr/bin/mariadb-install-db'),
        '--no-defaults',
        '--user=%s' % _user(),
        '--datadir=%s' % layout.path('data', 'mysql'),
        '--auth-root-authentication-method=socket',
        '--skip-test-db',
    ]


def _user():
    import pwd
    return pwd.getpwuid(os.getuid()).pw_name


def gunicorn_argv(layout, port, factory, workers=1, threads=8,
                  access_log=None):
    extra = []
    if access_log:
        # Time (epoch s), request line, status, user agent: the benchmark
        # counts the driver's Heat calls per status poll from it.
        extra = ['--access-logfile', access_log, '--access-logformat',
                 '%(t)s "%(r)s" %(s)s "%(a)s"']
    if threads > 1:
        extra += ['--worker-class', 'gthread', '--threads', str(threads)]
    else:
        extra += ['--worker-class', 'sync']
    return [layout.bin('gunicorn')] + extra + [
        '--bind', '%s:%d' % (configs.HOST, port),
        '--workers', str(workers),
        '--timeout', '300',
        '--graceful-timeout', '5',
        '--no-control-socket',
        '%s:%s()' % (WSGI, factory),
    ]


def plan(layout):
    """Return the services in start order."""
    p = layout.ports
    conf = layout.conf
    return [
        Service('mariadb', mariadbd_argv(layout), ('mysql',),
                timeout=60, grace=20, ports=(p['mysql'],)),
        Service('epmd', [_find('epmd', '/usr/bin/epmd'), '-port',
                         str(p['epmd']), '-address', configs.HOST],
                ('tcp', p['epmd']), timeout=10, ports=(p['epmd'],)),
        Service('rabbitmq',
                [_find('rabbitmq-server',
                       '/usr/lib/rabbitmq/bin/rabbitmq-server')],
                ('tcp', p['rabbit']), env=configs.rabbitmq_env(layout),
                timeout=60, grace=15, ports=(p['rabbit'], p['rabbit_dist'])),
        # Processes, not threads: under 50 concurrent cluster creates,
        # Keystone with threads handled requests with another request's
        # token (domain-scoped or admin roles in a member's request).
        Service('keystone',
                gunicorn_argv(layout, p['keystone'], 'keystone', workers=4,
                              threads=1),
                ('http', layout.url('keystone', '/v3')),
                env={ENV_CONF: conf('keystone')}, ports=(p['keystone'],)),
        Service('cloud-standin',
                gunicorn_argv(layout, p['cloudapi'], 'cloudapi', threads=4),
                ('http', layout.url('cloudapi', '/compute')),
                # Keystone validates the callers' tokens (keypairs are
                # per user, servers per project).
                env={ENV_STANDIN_CONFIG: layout.standin_config,
                     ENV_AUTH_URL: layout.auth_url},
                timeout=30, ports=(p['cloudapi'],)),
        Service('glance',
                gunicorn_argv(layout, p['glance'], 'glance'),
                ('http', layout.url('glance', '/versions')),
                env={ENV_CONF: layout.path('etc', 'glance',
                                           'glance-api.conf')},
                ports=(p['glance'],)),
        Service('heat-api',
                gunicorn_argv(layout, p['heat'], 'heat_api', workers=2,
                              threads=4,
                              access_log=layout.log('heat-api-access')),
                ('http', layout.url('heat', '/')),
                env={ENV_CONF: conf('heat')}, ports=(p['heat'],)),
        Service('heat-engine',
                [layout.bin('heat-engine'), '--config-file', conf('heat')],
                ('heat-engine',),
                env={ENV_STANDIN_CONFIG: layout.standin_config},
                timeout=90, grace=10),
        Service('magnum-api',
                [layout.bin('magnum-api'), '--config-file', conf('magnum')],
                ('http', layout.url('magnum', '/')),
                ports=(p['magnum'],)),
        # The conductor's parent ignores SIGTERM: its group gets SIGKILL
        # after the grace period.
        Service('magnum-conductor',
                [layout.bin('magnum-conductor'), '--config-file',
                 conf('magnum')],
                ('magnum-conductor',), timeout=90, grace=5),
    ]


def migrations(layout):
    """One-shot steps run (in parallel) once the database answers."""
    conf = layout.conf
    keystone_manage = [layout.bin('keystone-manage'), '--config-file',
                       conf('keystone')]
    user = _user()
    return [
        Step('keystone-db', keystone_manage + ['db_sync']),
        Step('keystone-keys', keystone_manage + [
            'fernet_setup', '--keystone-user', user,
            '--keystone-group', user]),
        Step('keystone-credential-keys', keystone_manage + [
            'credential_setup', '--keystone-user', user,
            '--keystone-group', user]),
        Step('glance-db', [layout.bin('glance-manage'), '--config-file',
                           layout.path('etc', 'glance', 'glance-api.conf'),
                           'db_sync']),
        Step('heat-db', [layout.bin('heat-manage'), '--config-file',
                         conf('heat'), 'db_sync']),
        Step('magnum-db', [layout.bin('magnum-db-manage'), '--config-file',
                           conf('magnum'), 'upgrade']),
    ]


def bootstrap_step(layout):
    """keystone-manage bootstrap: admin user, roles, identity endpoint.

    The password goes through the environment, never the command line.
    """
    return Step('keystone-bootstrap', [
        layout.bin('keystone-manage'), '--config-file',
        layout.conf('keystone'),
        'bootstrap',
        '--bootstrap-username', configs.ADMIN_USER,
        '--bootstrap-project-name', configs.ADMIN_PROJECT,
        '--bootstrap-role-name', 'admin',
        '--bootstrap-service-name', 'keystone',
        '--bootstrap-region-id', configs.REGION,
        '--bootstrap-admin-url', layout.auth_url,
        '--bootstrap-internal-url', layout.auth_url,
        '--bootstrap-public-url', layout.auth_url,
    ], env={'OS_BOOTSTRAP_PASSWORD': layout.secrets['admin']})


def all_ports(layout):
    return sorted(port for svc in plan(layout) for port in svc.ports)
