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
"""The rehearsal's state directory and its ``state.json``.

``state.json`` records the ports, the generated passwords and the process
ids of what ``up`` started, so ``down`` stops exactly those. It holds
passwords: it is written 0600, like every file here that holds a secret.
"""

import json
import os
import secrets

ENV_STATE_DIR = 'MAGNUM_CERN_REHEARSAL_DIR'
STATE_FILE = 'state.json'
SECRET_NAMES = ('db', 'rabbit', 'admin', 'member', 'keystone_svc',
                'glance_svc', 'heat_svc', 'magnum_svc', 'heat_domain_admin')


def default_state_dir(environ=None):
    environ = os.environ if environ is None else environ
    if environ.get(ENV_STATE_DIR):
        return os.path.abspath(os.path.expanduser(environ[ENV_STATE_DIR]))
    base = environ.get('XDG_STATE_HOME') or os.path.join(
        os.path.expanduser('~'), '.local', 'state')
    return os.path.join(base, 'magnum-cern-selftest', 'rehearsal')


def write_private(path, text):
    """Write ``text`` to ``path`` readable by the owner only (0600)."""
    tmp = path + '.tmp'
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def new_secrets():
    # URL-safe without '-' or '_' ambiguity problems in INI or URLs.
    return {name: secrets.token_hex(16) for name in SECRET_NAMES}


class State(object):
    """Ports, secrets, settings and processes of one rehearsal."""

    def __init__(self, state_dir):
        self.state_dir = state_dir
        self.path = os.path.join(state_dir, STATE_FILE)
        self.data = {'ports': {}, 'secrets': {}, 'settings': {},
                     'processes': {}}

    @classmethod
    def load(cls, state_dir):
        st = cls(state_dir)
        if os.path.exists(st.path):
            with open(st.path) as f:
                st.data.update(json.load(f))
        return st

    def exists(self):
        return os.path.exists(self.path)

    def save(self):
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        write_private(self.path, json.dumps(self.data, indent=2,
                                            sort_keys=True))

    @property
    def ports(self):
        return self.data['ports']

    @property
    def secrets(self):
        return self.data['secrets']

    @property
    def settings(self):
        return self.data['settings']

    @property
    def processes(self):
        return self.data['processes']
