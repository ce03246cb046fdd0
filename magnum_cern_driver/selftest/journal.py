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
"""The run journal: every resource is written down before it is created.

A journal is a JSON-lines file, one per run, appended and fsynced on every
record, so that ``magnum-cern-selftest cleanup`` can remove what a run
created after a crash, a Ctrl-C or a reboot. Without the journal, the run
id in every name is enough (see :func:`name_prefix`).

Lines: ``{"op": "start", "run_id", "target", "pid", "host", "at"}``, then
``{"op": "record", "kind", "name", "meta", "at"}`` (written *before* the
create call; recording the same kind and name again merges the meta, e.g.
to add the id the create returned), ``{"op": "forget", "kind", "name"}``
once the resource is gone, and ``{"op": "end", "at"}``.
"""

import datetime
import json
import os
import re
import secrets
import socket
import threading

NAME_PREFIX = 'mcst-'
# mcst-<run id>-...; a run id is r<yymmddHHMM>-<4 hex>.
RUN_ID_RE = re.compile(r'r[0-9]{10}-[0-9a-f]{4}')
_NAME_RE = re.compile(r'^%s(%s)-' % (NAME_PREFIX, RUN_ID_RE.pattern))


class JournalError(Exception):
    pass


def new_run_id(now=None, token=None):
    now = now or datetime.datetime.now(datetime.timezone.utc)
    token = token or secrets.token_hex(2)
    return 'r%s-%s' % (now.strftime('%y%m%d%H%M'), token)


def valid_run_id(run_id):
    return bool(RUN_ID_RE.fullmatch(run_id or ''))


def name_prefix(run_id):
    """The prefix of every name a run creates: ``mcst-<run id>-``."""
    return '%s%s-' % (NAME_PREFIX, run_id)


def run_id_of(name):
    """The run id a resource name carries, or None."""
    m = _NAME_RE.match(name or '')
    return m.group(1) if m else None


def default_dir():
    base = os.environ.get('XDG_STATE_HOME') or os.path.join(
        os.path.expanduser('~'), '.local', 'state')
    return os.path.join(base, 'magnum-cern-selftest', 'journals')


def path_for(run_id, directory=None):
    return os.path.join(directory or default_dir(), '%s.jsonl' % run_id)


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


class Entry(object):
    def __init__(self, kind, name, meta):
        self.kind = kind
        self.name = name
        self.meta = meta

    def as_dict(self):
        return {'kind': self.kind, 'name': self.name, 'meta': self.meta}

    def __repr__(self):
        return 'Entry(%r, %r, %r)' % (self.kind, self.name, self.meta)


class Journal(object):
    """Append-only journal of one run; safe to share between threads."""

    def __init__(self, path, run_id, target=None, fsync=True):
        self.path = path
        self.run_id = run_id
        self.target = target or {}
        self._fsync = fsync
        self._lock = threading.Lock()
        self._entries = {}
        self._order = []
        self.ended = False
        self.header = {}
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        exists = os.path.exists(path)
        if exists:
            self._replay(path)
        self._file = open(path, 'a')
        if not exists:
            self.header = {'op': 'start', 'run_id': run_id,
                           'target': self.target, 'pid': os.getpid(),
                           'host': socket.gethostname(), 'at': _now()}
            self._write(self.header)

    # -- reading ---------------------------------------------------------
    @classmethod
    def read(cls, path):
        """Read-only view of a journal file (no file handle kept)."""
        self = cls.__new__(cls)
        self.path = path
        self._lock = threading.Lock()
        self._entries = {}
        self._order = []
        self.ended = False
        self.header = {}
        self._file = None
        self._replay(path)
        self.run_id = self.header.get('run_id')
        self.target = self.header.get('target') or {}
        return self

    def _replay(self, path):
        try:
            with open(path) as f:
                lines = f.readlines()
        except OSError as e:
            raise JournalError('cannot read journal %s: %s'
                               % (path, e.strerror or e))
        for line in lines:
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                # A torn last line after a crash: everything before it is
                # intact because each record is one fsynced line.
                continue
            self._apply(rec)

    def _apply(self, rec):
        op = rec.get('op')
        if op == 'start':
            self.header = rec
        elif op == 'record':
            key = (rec['kind'], rec['name'])
            if key in self._entries:
                self._entries[key].meta.update(rec.get('meta') or {})
            else:
                self._entries[key] = Entry(rec['kind'], rec['name'],
                                           dict(rec.get('meta') or {}))
                self._order.append(key)
        elif op == 'forget':
            key = (rec['kind'], rec['name'])
            if key in self._entries:
                del self._entries[key]
                self._order.remove(key)
        elif op == 'end':
            self.ended = True

    # -- writing ---------------------------------------------------------
    def _write(self, rec):
        if self._file is None:
            raise JournalError('journal %s is read-only' % self.path)
        self._file.write(json.dumps(rec, sort_keys=True) + '\n')
        self._file.flush()
        if self._fsync:
            os.fsync(self._file.fileno())

    def record(self, kind, name, meta=None):
        """Write down a resource; returns only once it is on disk."""
        rec = {'op': 'record', 'kind': kind, 'name': name,
               'meta': dict(meta or {}), 'at': _now()}
        with self._lock:
            self._write(rec)
            self._apply(rec)

    def forget(self, kind, name):
        rec = {'op': 'forget', 'kind': kind, 'name': name, 'at': _now()}
        with self._lock:
            self._write(rec)
            self._apply(rec)

    def end(self):
        with self._lock:
            self._write({'op': 'end', 'at': _now()})
            self.ended = True

    def close(self):
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    # -- queries ---------------------------------------------------------
    def pending(self, kind=None):
        """Entries recorded and not forgotten, in record order."""
        with self._lock:
            return [self._entries[k] for k in self._order
                    if kind is None or k[0] == kind]

    def get(self, kind, name):
        with self._lock:
            return self._entries.get((kind, name))

    def is_active(self):
        """True when the run that wrote this journal still runs here."""
        if self.ended:
            return False
        pid = self.header.get('pid')
        if not pid or self.header.get('host') != socket.gethostname():
            return False
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def find_journals(directory=None):
    """Every journal file in the directory, oldest first."""
    directory = directory or default_dir()
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    return [os.path.join(directory, n) for n in names
            if n.endswith('.jsonl')]
