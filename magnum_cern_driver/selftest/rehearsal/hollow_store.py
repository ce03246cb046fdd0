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
"""What the hollow cloud holds: servers and keypairs, in the state dir.

Two small stores under the stand-ins' directory (``standins/`` next to
``config.json``), shared by the processes that need them:

* ``servers/<id>.json``: one record per hollow server, written by the
  Heat stand-in resource (``Rehearsal::Nova::Server``) in whichever
  heat-engine process creates or deletes it, read by the stand-in compute
  API (``openstack server list``). One file per server, replaced
  atomically: writers never contend, a reader never sees half a record.
* ``networks/<id>.json``: the same for the networks Heat made
  (``Rehearsal::Neutron::Net``), so a server's addresses are keyed by its
  network's name, as Nova shows them, and Neutron lists them.
* ``keypairs.json``: every user's keypairs, written and read by the
  stand-in compute API under an exclusive lock (``flock``), so that
  Magnum's API (which checks a cluster's keypair with the user's token),
  Rally and the openstack CLI see the same keypairs.

Records are plain dicts; the API formats are made in ``compute_api``.
"""

import contextlib
import datetime
import fcntl
import json
import os

SERVERS_DIR = 'servers'
NETWORKS_DIR = 'networks'
KEYPAIRS_FILE = 'keypairs.json'


def now():
    """The time as Nova writes it (``2013-09-23T13:53:12Z``)."""
    return datetime.datetime.now(datetime.timezone.utc).strftime(
        '%Y-%m-%dT%H:%M:%SZ')


def store_dir(standin_config_path):
    """The stand-ins' directory for a ``standins/config.json`` path."""
    return os.path.dirname(os.path.abspath(standin_config_path))


def _write_atomic(path, data):
    tmp = '%s.%d.tmp' % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as f:
        json.dump(data, f, sort_keys=True)
    os.replace(tmp, path)


class ServerStore(object):
    """Hollow servers, one JSON file each."""

    def __init__(self, directory):
        self.dir = os.path.join(directory, SERVERS_DIR)

    def _path(self, server_id):
        if not server_id or '/' in server_id or server_id.startswith('.'):
            raise ValueError('bad id %r' % server_id)
        return os.path.join(self.dir, '%s.json' % server_id)

    def put(self, record):
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        _write_atomic(self._path(record['id']), record)

    def update(self, server_id, **fields):
        """Change fields of a record; False if there is none."""
        record = self.get(server_id)
        if record is None:
            return False
        record.update(fields)
        record['updated'] = now()
        self.put(record)
        return True

    def delete(self, server_id):
        try:
            os.unlink(self._path(server_id))
            return True
        except FileNotFoundError:
            return False

    def get(self, server_id):
        try:
            with open(self._path(server_id)) as f:
                return json.load(f)
        except (FileNotFoundError, ValueError):
            return None

    def all(self):
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return []
        out = []
        for name in names:
            if name.endswith('.json'):
                record = self.get(name[:-5])
                if record is not None:
                    out.append(record)
        return out


class NetworkStore(ServerStore):
    """Hollow networks Heat made (id, name, project), one file each."""

    def __init__(self, directory):
        self.dir = os.path.join(directory, NETWORKS_DIR)


class KeypairStore(object):
    """Keypairs per user in one locked JSON file."""

    def __init__(self, directory):
        self.dir = directory
        self.path = os.path.join(directory, KEYPAIRS_FILE)

    @contextlib.contextmanager
    def _locked(self):
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        fd = os.open(self.path + '.lock', os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                with open(self.path) as f:
                    data = json.load(f)
            except (FileNotFoundError, ValueError):
                data = {}
            before = json.dumps(data, sort_keys=True)
            yield data
            if json.dumps(data, sort_keys=True) != before:
                _write_atomic(self.path, data)
        finally:
            os.close(fd)

    def list(self, user_id):
        with self._locked() as data:
            users = data.get('users', {})
            return sorted(users.get(user_id, {}).values(),
                          key=lambda k: k['name'])

    def get(self, user_id, name):
        with self._locked() as data:
            return data.get('users', {}).get(user_id, {}).get(name)

    def add(self, record, limit=None):
        """Add a keypair; 'exists' or 'over-limit' instead of adding."""
        with self._locked() as data:
            mine = data.setdefault('users', {}).setdefault(
                record['user_id'], {})
            if record['name'] in mine:
                return 'exists'
            if limit is not None and 0 <= limit <= len(mine):
                return 'over-limit'
            data['next_id'] = data.get('next_id', 0) + 1
            record = dict(record, id=data['next_id'])
            mine[record['name']] = record
            return record

    def delete(self, user_id, name):
        with self._locked() as data:
            mine = data.get('users', {}).get(user_id, {})
            return mine.pop(name, None) is not None
