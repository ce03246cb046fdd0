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
"""Bring the rehearsal up, report on it, take it down."""

import concurrent.futures
import copy
import hashlib
import json
import os
import shutil
import socket
import time
import urllib.error
import urllib.request

from magnum_cern_driver.selftest.rehearsal import bootstrap
from magnum_cern_driver.selftest.rehearsal import configs
from magnum_cern_driver.selftest.rehearsal import ports as port_picker
from magnum_cern_driver.selftest.rehearsal import procs
from magnum_cern_driver.selftest.rehearsal import rally_spec
from magnum_cern_driver.selftest.rehearsal import services
from magnum_cern_driver.selftest.rehearsal import standin_config
from magnum_cern_driver.selftest.rehearsal import state as state_mod

ServiceError = procs.ServiceError


class FaultError(RuntimeError):
    """A fault command cannot do what was asked; str() says why.

    ``not_up``: the rehearsal (or the service) is not running.
    """

    def __init__(self, message, not_up=False):
        super().__init__(message)
        self.not_up = not_up


DIRS = ('etc/keystone', 'etc/glance', 'etc/heat/environment.d',
        'etc/heat/templates', 'etc/magnum', 'etc/rabbitmq', 'logs', 'run',
        'data/keystone', 'data/glance/images', 'data/glance/staging',
        'data/glance/tasks', 'data/magnum', 'data/locks', 'data/rabbitmq',
        'data/done', 'standins')


def _log(msg):
    print(msg, flush=True)


class Rehearsal(object):
    """One local control plane, described by its state directory."""

    def __init__(self, state_dir=None, out=_log):
        self.state_dir = os.path.abspath(
            state_dir or state_mod.default_state_dir())
        self.state = state_mod.State.load(self.state_dir)
        self.out = out or (lambda msg: None)
        self.timings = {}

    # Public facts ---------------------------------------------------------
    @property
    def layout(self):
        return configs.Layout(self.state_dir, self.state.ports,
                              self.state.secrets, self.state.settings)

    @property
    def clouds_yaml_path(self):
        return self.layout.clouds_yaml

    @property
    def rally_env_path(self):
        """Rally's environment spec for the member user (0600)."""
        return self.layout.path(rally_spec.ENV_FILE)

    cloud_name = configs.CLOUD_MEMBER
    admin_cloud_name = configs.CLOUD_ADMIN

    def cloud_config(self, admin=False):
        """The openstacksdk cloud entry (as in clouds.yaml) of a user.

        ``openstack.connect(**rehearsal.cloud_config())`` connects as the
        member user; ``admin=True`` gives the admin.
        """
        layout = self.layout
        if admin:
            return configs.cloud_entry(layout, configs.ADMIN_USER, 'admin',
                                       configs.ADMIN_PROJECT)
        return configs.cloud_entry(layout, configs.MEMBER_USER, 'member',
                                   configs.MEMBER_PROJECT)

    @property
    def image_name(self):
        return configs.IMAGE_NAME

    def url(self, service):
        return self.layout.url(service)

    # Stand-in behaviour ---------------------------------------------------
    def configure_standins(self, boot_delay=None, failure_rate=None,
                           resource_type='OS::Nova::Server',
                           fail_names=None, quotas=None, config=None):
        """Change the stand-ins' behaviour; heat-engine reads it live.

        ``quotas`` (``{API name: limit}``) replaces the limits the stand-in
        Nova and Neutron report; ``{}`` restores the default.
        """
        path = self.layout.standin_config
        if config is None:
            config = standin_config.read(path) or \
                configs.default_standin_config()
            config = copy.deepcopy(config)
            entry = config.setdefault('types', {}).setdefault(
                resource_type, {})
            if boot_delay is not None:
                entry['boot_delay'] = boot_delay
            if failure_rate is not None:
                entry['failure_rate'] = failure_rate
            if fail_names is not None:
                entry['fail_names'] = list(fail_names)
            if quotas is not None:
                config['quotas'] = dict(quotas)
        standin_config.validate(config)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        state_mod.write_private(path, configs.render_standin_config(config))
        return config

    # Up -------------------------------------------------------------------
    def _prepare(self, settings):
        for d in DIRS:
            os.makedirs(os.path.join(self.state_dir, d), exist_ok=True)
        os.chmod(self.state_dir, 0o700)
        st = self.state
        if not st.secrets:
            st.secrets.update(state_mod.new_secrets())
        for key, value in (settings or {}).items():
            if value is not None:
                st.settings[key] = value
        running = any(self._running(name) for name in st.processes)
        wanted = [n for n in configs.PORT_NAMES if n not in st.ports]
        if not running:
            # Nothing of ours runs: re-pick recorded ports taken meanwhile.
            wanted += [n for n, p in st.ports.items()
                       if not port_picker.is_free(p)]
        if wanted:
            keep = {n: p for n, p in st.ports.items() if n not in wanted}
            st.ports.clear()
            st.ports.update(keep)
            st.ports.update(port_picker.pick(wanted,
                                             exclude=set(keep.values())))
        st.save()
        layout = self.layout
        for path, (text, secret) in configs.render_all(layout).items():
            if secret:
                state_mod.write_private(path, text)
            else:
                with open(path, 'w') as f:
                    f.write(text)
        state_mod.write_private(self.rally_env_path, rally_spec.render_env(
            self.cloud_config()))
        paste = layout.venv_etc('glance', 'glance-api-paste.ini')
        shutil.copyfile(paste, layout.path('etc', 'glance',
                                           'glance-api-paste.ini'))
        if not os.path.exists(layout.standin_config):
            self.configure_standins(config=configs.default_standin_config())
        if settings and (settings.get('boot_delay') is not None or
                         settings.get('failure_rate') is not None):
            self.configure_standins(boot_delay=settings.get('boot_delay'),
                                    failure_rate=settings.get(
                                        'failure_rate'))

    def _running(self, name):
        rec = self.state.processes.get(name)
        return bool(rec) and procs.alive(rec['pid'], rec.get('started'))

    def _done(self, step):
        return os.path.exists(self.layout.path('data', 'done', step))

    def _mark(self, step):
        with open(self.layout.path('data', 'done', step), 'w') as f:
            f.write('%s\n' % time.time())

    def _check(self, svc, admin):
        kind = svc.check[0]
        if kind == 'tcp':
            with socket.create_connection((configs.HOST, svc.check[1]),
                                          timeout=1):
                return True
        if kind == 'http':
            try:
                urllib.request.urlopen(svc.check[1], timeout=5).close()
            except urllib.error.HTTPError as e:
                return e.code < 500
            return True
        if kind == 'mysql':
            return self._mysql().close() is None
        if kind == 'heat-engine':
            return bootstrap.heat_engine_answers(self._ping())
        if kind == 'magnum-conductor':
            return bootstrap.magnum_conductor_answers(self._ping())
        raise ValueError(kind)

    def _redact(self, text):
        for secret in self.state.secrets.values():
            text = text.replace(secret, '***')
        return text

    def _close_rpc(self):
        rpc, self._rpc = getattr(self, '_rpc', None), None
        if rpc is not None:
            rpc.close()

    def _ping(self):
        if getattr(self, '_rpc', None) is None:
            self._rpc = bootstrap.RpcPing(self.layout)
        return self._rpc

    def db_connection(self, database):
        """A PyMySQL connection to one of the rehearsal's databases.

        For tests that look at what a service stores (Heat's encrypted
        columns, for example). The caller closes it.
        """
        return self._mysql(database)

    def _mysql(self, database=None):
        import pymysql
        return pymysql.connect(unix_socket=self.layout.mysql_socket,
                               user=services._user(), database=database,
                               connect_timeout=2)

    def _start(self, svc):
        layout = self.layout
        if self._running(svc.name):
            return False
        old = self.state.processes.get(svc.name)
        if old is not None:
            # Killed by ``kill``: what it left behind goes first.
            self._stop_orphans(old)
        busy = procs.listening_ports(svc.ports)
        if busy:
            raise ServiceError(svc.name, 'port(s) %s already in use by '
                               'another process' % busy)
        proc = procs.start(svc.argv, layout.log(svc.name), env=svc.env)
        self.state.processes[svc.name] = {
            'pid': proc.pid, 'started': procs.start_time(proc.pid),
            'grace': svc.grace, 'ports': list(svc.ports),
            'log': layout.log(svc.name)}
        self.state.save()
        return True

    def _wait(self, svc, admin, started_at):
        deadline = time.monotonic() + svc.timeout
        rec = self.state.processes[svc.name]
        last = None
        while True:
            if not procs.alive(rec['pid'], rec['started']):
                raise ServiceError(svc.name, 'exited during start-up',
                                   rec['log'], redact=self._redact)
            try:
                if self._check(svc, admin):
                    break
            except Exception as e:  # noqa: the service is not ready yet
                last = e
            if time.monotonic() > deadline:
                raise ServiceError(
                    svc.name, 'no answer after %ds (%s)' % (
                        svc.timeout, self._redact(
                            '%s: %s' % (type(last).__name__, last))
                        if last else 'not ready'), rec['log'],
                    redact=self._redact)
            time.sleep(0.2)
        self.timings[svc.name] = round(time.monotonic() - started_at, 1)

    def _steps(self, steps, timeout=300):
        todo = [s for s in steps if not self._done(s.name)]
        if not todo:
            return
        layout = self.layout

        def one(step):
            t0 = time.monotonic()
            rc = procs.run(step.argv, layout.log(step.name), env=step.env,
                           timeout=timeout)
            return step, rc, time.monotonic() - t0

        with concurrent.futures.ThreadPoolExecutor(len(todo)) as pool:
            results = list(pool.map(one, todo))
        for step, rc, took in results:
            if rc != 0:
                raise ServiceError(step.name, 'failed with exit code %s'
                                   % rc, layout.log(step.name),
                                   redact=self._redact)
            self.timings[step.name] = round(took, 1)
            self._mark(step.name)

    def _databases(self):
        if self._done('databases'):
            return
        secret = self.state.secrets['db']
        conn = self._mysql()
        try:
            with conn.cursor() as cur:
                for db in configs.DATABASES:
                    cur.execute('CREATE DATABASE IF NOT EXISTS `%s` '
                                'CHARACTER SET utf8mb4' % db)
                for host in ('127.0.0.1', 'localhost'):
                    cur.execute("CREATE USER IF NOT EXISTS %s@%s "
                                "IDENTIFIED BY %s",
                                (configs.DB_USER, host, secret))
                    cur.execute("ALTER USER %s@%s IDENTIFIED BY %s",
                                (configs.DB_USER, host, secret))
                    for db in configs.DATABASES:
                        cur.execute('GRANT ALL PRIVILEGES ON `%s`.* TO '
                                    '%%s@%%s' % db, (configs.DB_USER, host))
            conn.commit()
        finally:
            conn.close()
        self._mark('databases')

    def up(self, **settings):
        """Start whatever is not running; return a dict of timings."""
        t0 = time.monotonic()
        self._prepare(settings)
        layout = self.layout
        plan = {svc.name: svc for svc in services.plan(layout)}
        sess = {}

        def admin():
            if 'admin' not in sess:
                sess['admin'] = bootstrap.admin_session(layout)
            return sess['admin']

        def start_and_wait(name):
            svc = plan[name]
            t = time.monotonic()
            if self._start(svc):
                self.out('  starting %s' % name)
            self._wait(svc, admin, t)

        if not os.path.isdir(layout.path('data', 'mysql', 'mysql')):
            shutil.rmtree(layout.path('data', 'mysql'), ignore_errors=True)
            for marker in os.listdir(layout.path('data', 'done')):
                os.unlink(layout.path('data', 'done', marker))
            rc = procs.run(services.mariadb_install_argv(layout),
                           layout.log('mariadb-install'), timeout=120)
            if rc != 0:
                raise ServiceError('mariadb-install', 'failed with exit '
                                   'code %s' % rc,
                                   layout.log('mariadb-install'),
                                   redact=self._redact)
        start_and_wait('mariadb')
        self._databases()
        start_and_wait('epmd')
        rabbit_t = time.monotonic()
        if self._start(plan['rabbitmq']):
            self.out('  starting rabbitmq')
        todo = [s for s in services.migrations(layout)
                if not self._done(s.name)]
        if todo:
            self.out('  database migrations')
        self._steps(todo)
        self._steps([services.bootstrap_step(layout)])
        self._wait(plan['rabbitmq'], admin, rabbit_t)
        start_and_wait('keystone')
        start_and_wait('cloud-standin')
        # Redone when the catalog changes (ports re-picked, new services).
        marker = 'identity-%s' % hashlib.sha1(json.dumps(
            bootstrap.catalog(layout)).encode()).hexdigest()[:12]
        if not self._done(marker):
            bootstrap.setup_identity(layout, admin())
            self._mark(marker)
        start_and_wait('glance')
        if not self._done('image'):
            bootstrap.ensure_image(layout, admin())
            self._mark('image')
        for name in ('heat-api', 'heat-engine', 'magnum-api',
                     'magnum-conductor'):
            start_and_wait(name)
        self._close_rpc()
        self.timings['total'] = round(time.monotonic() - t0, 1)
        self.state.data['last_up'] = self.timings
        self.state.save()
        return self.timings

    # Faults ---------------------------------------------------------------
    # Every process is addressed by the pid (and start time) ``up``
    # recorded, never by name.
    def _service(self, name):
        """The plan entry of ``name``; FaultError if unknown or not up."""
        if name not in services.SERVICE_NAMES:
            raise FaultError('unknown service %r: one of %s'
                             % (name, ', '.join(services.SERVICE_NAMES)))
        if not self.state.ports or not self.state.processes:
            raise FaultError('the rehearsal in %s is not up (run: '
                             'magnum-cern-selftest rehearsal up)'
                             % self.state_dir, not_up=True)
        return {svc.name: svc for svc in services.plan(self.layout)}[name]

    def _running_record(self, name):
        self._service(name)
        if not self._running(name):
            raise FaultError('%s is not running (start it with: '
                             'magnum-cern-selftest rehearsal start %s)'
                             % (name, name), not_up=True)
        return self.state.processes[name]

    def workers(self, name):
        """Pids of the service's worker children, oldest first."""
        rec = self.state.processes.get(name)
        if not rec or not self._running(name):
            return []
        return procs.children(rec['pid'])

    def kill_service(self, name, worker=None):
        """SIGKILL the service's main process, or its worker ``worker``.

        Worker N is the N-th oldest direct child (start time, then pid;
        0 is the oldest), see :func:`procs.children`. Killing the main
        process records its other processes so that ``start``,
        ``restart`` and ``down`` stop what it leaves behind. Returns
        ``{'service', 'pid', 'worker'}`` of what was killed.
        """
        rec = self._running_record(name)
        if worker is not None:
            try:
                pid = procs.pick_worker(name, self.workers(name), worker)
            except IndexError as e:
                raise FaultError(str(e))
            procs.kill(pid, procs.start_time(pid))
            return {'service': name, 'pid': pid, 'worker': worker}
        family = procs.descendants(rec['pid'])
        rec['orphans'] = [[p, procs.start_time(p)] for p in family]
        self.state.save()
        procs.kill(rec['pid'], rec.get('started'))
        return {'service': name, 'pid': rec['pid'], 'worker': None}

    def _stop_orphans(self, rec):
        for pid, started in rec.pop('orphans', None) or ():
            if procs.alive(pid, started):
                procs.stop(pid, started, 2)

    def stop_service(self, name):
        """Stop one service (SIGTERM, SIGKILL after its grace period).

        Returns the pid stopped, or None if it was not running.
        """
        self._service(name)
        rec = self.state.processes.get(name)
        if rec is None:
            return None
        pid = rec['pid'] if self._running(name) else None
        if pid is not None:
            procs.stop(pid, rec.get('started'), rec.get('grace', 5))
        self._stop_orphans(rec)
        # The record stays (dead pid): ``down`` and ``status`` still know
        # the service, and ``start`` replaces it.
        rec['stopped'] = True
        self.state.save()
        return pid

    def start_service(self, name, port_timeout=30.0):
        """Start one service with its recorded config and ports.

        Waits until it answers; returns its pid (the running one if it
        ran already).
        """
        svc = self._service(name)
        layout = self.layout
        rec = self.state.processes.get(name)
        if rec is not None and not self._running(name):
            # Killed: what it left behind goes first (gunicorn workers
            # may still hold the port).
            self._stop_orphans(rec)
        end = time.monotonic() + port_timeout
        while procs.listening_ports(svc.ports) and \
                time.monotonic() < end and not self._running(name):
            time.sleep(0.2)
        sess = {}

        def admin():
            if 'admin' not in sess:
                sess['admin'] = bootstrap.admin_session(layout)
            return sess['admin']

        t = time.monotonic()
        try:
            self._start(svc)
            self._wait(svc, admin, t)
        finally:
            self._close_rpc()
        return self.state.processes[name]['pid']

    def restart_service(self, name):
        """Stop (if running) and start one service; (old pid, new pid)."""
        old = self.stop_service(name)
        return old, self.start_service(name)

    # Down -----------------------------------------------------------------
    def down(self, purge=False):
        """Stop exactly the recorded processes; return leftover ports."""
        self._close_rpc()
        # A state directory that never came up has no ports (and nothing
        # to stop); the service plan needs the ports.
        names = ([svc.name for svc in services.plan(self.layout)]
                 if self.state.ports else [])
        recorded = list(self.state.processes)
        order = [n for n in reversed(names) if n in recorded] + \
            [n for n in recorded if n not in names]
        ports = set()
        for name in order:
            rec = self.state.processes[name]
            ports.update(rec.get('ports', ()))
            if procs.alive(rec['pid'], rec.get('started')):
                self.out('  stopping %s' % name)
                killed = procs.stop(rec['pid'], rec.get('started'),
                                    rec.get('grace', 5))
                if killed:
                    self.out('  %s needed SIGKILL' % name)
            self._stop_orphans(rec)
            del self.state.processes[name]
            if self.state.exists():
                self.state.save()
        leftover = procs.listening_ports(ports)
        if purge and not leftover:
            shutil.rmtree(self.state_dir, ignore_errors=True)
        return leftover

    # Status ---------------------------------------------------------------
    def status(self):
        """``{service: {'running', 'pid', 'ports', 'answers'}}``."""
        out = {}
        if not self.state.ports:
            return out
        layout = self.layout
        sess = {}

        def admin():
            if 'admin' not in sess:
                sess['admin'] = bootstrap.admin_session(layout, timeout=5)
            return sess['admin']

        for svc in services.plan(layout):
            rec = self.state.processes.get(svc.name) or {}
            running = self._running(svc.name)
            answers = False
            if running:
                try:
                    answers = bool(self._check(svc, admin))
                except Exception:  # noqa: reported as not answering
                    answers = False
            out[svc.name] = {'running': running, 'pid': rec.get('pid'),
                             'ports': list(svc.ports), 'answers': answers,
                             'workers': procs.children(rec['pid'])
                             if running else []}
        self._close_rpc()
        return out

    def is_up(self):
        st = self.status()
        return bool(st) and all(s['running'] and s['answers']
                                for s in st.values())

    def pids(self):
        return {n: r['pid'] for n, r in self.state.processes.items()}

    def memory_mib(self):
        """``{service: MiB}``: resident memory of each running service.

        A service counts with all its processes (workers included); a
        recorded pid that is gone or was reused counts for nothing.
        """
        return {name: procs.family_rss_kib(rec['pid']) // 1024
                for name, rec in self.state.processes.items()
                if procs.alive(rec['pid'], rec.get('started'))}

    def all_ports(self):
        return services.all_ports(self.layout) if self.state.ports else []

    def describe(self):
        """Facts safe to print (no secrets)."""
        return json.dumps({
            'state_dir': self.state_dir,
            'clouds_yaml': self.clouds_yaml_path,
            'rally_env': self.rally_env_path,
            'clouds': [self.cloud_name, self.admin_cloud_name],
            'ports': self.state.ports,
        }, indent=2, sort_keys=True)


def ensure_up(state_dir=None, out=None, **settings):
    """Bring the rehearsal up if it is not (idempotent); return it."""
    reh = Rehearsal(state_dir, out=out)
    reh.up(**settings)
    return reh
