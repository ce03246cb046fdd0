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
"""The real OpenStack clients, in their own virtual environment.

python-openstackclient, python-magnumclient and Rally (with
rally-openstack) do not co-install with Magnum, so
``tools/client-venv.sh`` builds them an environment of their own, once,
in the functional directory (``$MAGNUM_CERN_FUNCTIONAL_DIR/clients``);
a later run reuses it. Commands run with a clean ``OS_*`` environment and
their output has the rehearsal's passwords replaced before it is shown.
"""

import fcntl
import json
import os
import subprocess
import sys
import time

from tests.functional import base

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
VENV_SCRIPT = os.path.join(TOP, 'tools', 'client-venv.sh')
RALLY_TASK = os.path.join(TOP, 'tests', 'functional', 'rally', 'magnum.yaml')


def client_bin():
    """``(bin directory, seconds it took)``; built once, under a lock."""
    root = base.functional_dir()
    os.makedirs(root, mode=0o700, exist_ok=True)
    t0 = time.monotonic()
    with open(os.path.join(root, 'clients.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = subprocess.run(
            ['bash', VENV_SCRIPT, os.path.join(root, 'clients')],
            capture_output=True, text=True, timeout=900,
            env=dict(os.environ, PYTHON=sys.executable))
    if proc.returncode != 0:
        raise AssertionError('tools/client-venv.sh failed:\n%s'
                             % proc.stderr[-3000:])
    return proc.stdout.strip().splitlines()[-1], time.monotonic() - t0


class Runner(object):
    """Runs one client's commands against the rehearsal."""

    def __init__(self, bindir, reh, extra_env=None, cwd=None):
        self.bindir = bindir
        self.secrets = [s for s in reh.state.secrets.values() if s]
        env = {k: v for k, v in os.environ.items()
               if not k.startswith('OS_')}
        # magnumclient's `coe cluster config` reads $SHELL to choose the
        # export syntax it prints (KeyError without it); tox passes no
        # SHELL, a login shell would have one.
        env.setdefault('SHELL', '/bin/bash')
        env.update(extra_env or {})
        self.env = env
        self.cwd = cwd

    def redact(self, text):
        for secret in self.secrets:
            text = text.replace(secret, '***')
        return text

    def __call__(self, program, *args, check=True, timeout=600):
        """``(returncode, stdout, stderr)``, redacted."""
        argv = [os.path.join(self.bindir, program)] + list(args)
        proc = subprocess.run(argv, capture_output=True, text=True,
                              env=self.env, cwd=self.cwd, timeout=timeout)
        out, err = self.redact(proc.stdout), self.redact(proc.stderr)
        if check and proc.returncode != 0:
            raise AssertionError('%s %s: exit %d\n%s\n%s' % (
                program, ' '.join(args), proc.returncode, out[-3000:],
                err[-3000:]))
        return proc.returncode, out, err

    def json(self, program, *args, **kwargs):
        _, out, _ = self(program, *(list(args) + ['-f', 'json']), **kwargs)
        return json.loads(out)
