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
"""The local runner: nginx and h2load as processes on 127.0.0.1.

Bounded in time (every h2load run is timed by h2load itself and killed by
us after a grace period) and in requests (each bot's rate times its
duration, checked against ``max_requests`` before anything starts). Every
process is journaled and stopped by its PID; the temporary directory is
removed afterwards.
"""

import math
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

from magnum_cern_driver.selftest.load import aggregate
from magnum_cern_driver.selftest.load import h2load
from magnum_cern_driver.selftest.load import procs

LOOPBACK = '127.0.0.1'

NGINX_CONF = """\
worker_processes %(workers)d;
daemon off;
pid %(dir)s/nginx.pid;
error_log %(dir)s/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000000;
    keepalive_timeout 300s;
    client_body_temp_path %(dir)s/tmp;
    proxy_temp_path %(dir)s/tmp;
    fastcgi_temp_path %(dir)s/tmp;
    uwsgi_temp_path %(dir)s/tmp;
    scgi_temp_path %(dir)s/tmp;
    server {
        listen %(host)s:%(port)d;
        location / { return 200 "ok\\n"; }
    }
}
"""


def find_binary(name, extra=('/usr/sbin', '/usr/bin')):
    path = shutil.which(name)
    if path:
        return path
    for d in extra:
        candidate = os.path.join(d, name)
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port(host=LOOPBACK):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


class LocalRunner(object):
    kind = 'local'

    def __init__(self, options, journal=None, progress=None):
        self.options = options
        self.journal = journal
        self.progress = progress or (lambda line: None)
        self.run_id = options['run_id']
        self.nginx_bin = options.get('nginx_binary') or find_binary('nginx')
        self.h2load_bin = (options.get('h2load_binary')
                           or find_binary('h2load'))
        self.cores = options.get('cores') or os.cpu_count() or 1
        self.workdir = None
        self.nginx = None
        self.url = None
        self._procs = []

    # -- facts -------------------------------------------------------------

    def missing_tools(self):
        missing = []
        if not self.nginx_bin:
            missing.append('nginx (Debian package nginx-light or nginx)')
        if not self.h2load_bin:
            missing.append('h2load (Debian package nghttp2-client)')
        return missing

    def tool(self):
        version = 'unknown'
        if self.h2load_bin:
            try:
                out = subprocess.run([self.h2load_bin, '--version'],
                                     capture_output=True, timeout=10,
                                     text=True).stdout
                version = h2load.parse_version(out)
            except (OSError, subprocess.SubprocessError):
                pass
        return {'name': h2load.TOOL, 'version': version}

    def capacity(self):
        return aggregate.capacity_rps(
            self.cores, self.options['per_core_rps'],
            self.options['bot_per_core_rps'], self.options['headroom'])

    def bots_for(self, rate):
        if self.options.get('bots'):
            return int(self.options['bots'])
        return max(1, min(self.cores,
                          int(math.ceil(rate / self.options['bot_rps']))))

    def step_seconds(self):
        return self.options['warmup_s'] + self.options['steady_s']

    def check_budget(self, rates):
        planned = sum(rates) * self.step_seconds()
        if planned > self.options['max_requests']:
            raise ValueError('the ramp would send about %d requests, more '
                             'than max_requests=%d' %
                             (planned, self.options['max_requests']))

    # -- lifecycle ---------------------------------------------------------

    def prepare(self):
        missing = self.missing_tools()
        if missing:
            raise RuntimeError('missing tools: %s' % ', '.join(missing))
        self.workdir = tempfile.mkdtemp(prefix='mcd-load-%s-' % self.run_id)
        os.mkdir(os.path.join(self.workdir, 'tmp'))
        port = self.options.get('port') or free_port()
        workers = self.options.get('nginx_workers') or max(
            1, self.cores // 2)
        conf = os.path.join(self.workdir, 'nginx.conf')
        with open(conf, 'w') as f:
            f.write(NGINX_CONF % {'workers': workers, 'dir': self.workdir,
                                  'host': LOOPBACK, 'port': port})
        self.url = 'http://%s:%d/' % (LOOPBACK, port)
        self.nginx = procs.Process(
            'load-nginx-%s' % self.run_id,
            [self.nginx_bin, '-c', conf, '-p', self.workdir,
             '-e', os.path.join(self.workdir, 'error.log')],
            journal=self.journal,
            stdout=os.path.join(self.workdir, 'nginx.out'),
            meta={'workdir': self.workdir})
        self._procs.append(self.nginx)
        self.nginx.start()
        self._wait_ready()
        self.progress('load: nginx (%d workers) on %s' % (workers, self.url))

    def _wait_ready(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.nginx.poll() is not None:
                break
            try:
                with urllib.request.urlopen(self.url, timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError as e:
                last = e
            time.sleep(0.1)
        log = ''
        try:
            with open(os.path.join(self.workdir, 'error.log')) as f:
                log = f.read()[-500:]
        except OSError:
            pass
        raise RuntimeError('nginx did not serve %s: %s %s'
                           % (self.url, last, log.strip()))

    def run_step(self, index, rate):
        """Run one step; ``(expected_bots, results, raw)``."""
        warmup = int(self.options['warmup_s'])
        steady = int(self.options['steady_s'])
        nbots = self.bots_for(rate)
        per_bot = rate / nbots
        bots = []
        for b in range(nbots):
            name = 'step%d-bot%d' % (index, b)
            log = os.path.join(self.workdir, '%s.tsv' % name)
            out = os.path.join(self.workdir, '%s.out' % name)
            argv = h2load.command(self.h2load_bin, self.url, per_bot,
                                  warmup, steady, log)
            proc = procs.Process('load-%s-%s' % (self.run_id, name), argv,
                                 journal=self.journal, stdout=out)
            bots.append((name, proc, log, out))
        try:
            for name, proc, _log, _out in bots:
                self._procs.append(proc)
                proc.start()
            deadline = time.monotonic() + warmup + steady + \
                self.options['bot_grace_s']
            codes = {}
            for name, proc, _log, _out in bots:
                left = max(0.1, deadline - time.monotonic())
                codes[name] = proc.wait(left)
        finally:
            for _name, proc, _log, _out in bots:
                proc.stop()
                if proc in self._procs:
                    self._procs.remove(proc)
        results = []
        raw = {}
        for name, _proc, log, out in bots:
            stdout = _read(out)
            summary = h2load.parse_summary(stdout)
            raw[name] = {'argv': _proc.argv, 'exit': codes.get(name),
                         'summary': summary}
            if codes.get(name) != 0:
                continue
            res = h2load.bot_result(name, per_bot, steady, stdout,
                                    _read(log))
            if res is not None:
                results.append(res)
        return [b[0] for b in bots], results, raw

    def cleanup(self):
        for proc in reversed(self._procs):
            try:
                proc.stop()
            except Exception:  # noqa: keep cleaning up the rest
                pass
        self._procs = []
        self.nginx = None
        if self.workdir and not self.options.get('keep_workdir'):
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir = None


def _read(path):
    try:
        with open(path, errors='replace') as f:
            return f.read()
    except OSError:
        return ''
