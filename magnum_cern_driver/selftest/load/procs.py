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
"""Journaled local processes, stopped by their recorded PID.

Every process is started in a session of its own, so its PID is also its
process group id; stopping it signals that group (the process and any
children, e.g. nginx workers) and nothing else.
"""

import os
import signal
import subprocess
import time

JOURNAL_KIND = 'process'


def _cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return f.read().split(b'\0')
    except OSError:
        return None


def alive(pid, argv0=None):
    """Whether ``pid`` runs and (if given) still runs ``argv0``."""
    cmd = _cmdline(pid)
    if not cmd or cmd == [b'']:
        return False
    if argv0 is None:
        return True
    return os.path.basename(cmd[0].decode(errors='replace')) == \
        os.path.basename(argv0)


def stop_pid(pid, argv0=None, grace_s=5.0):
    """Stop the process group of ``pid`` (TERM, then KILL after grace).

    Does nothing if the pid no longer runs ``argv0`` (a recycled pid is
    never signalled). Returns True if something was signalled.
    """
    if not pid or not alive(pid, argv0):
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    except PermissionError:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    return True


class Process(object):
    """One journaled child process."""

    def __init__(self, name, argv, journal=None, stdout=None, meta=None):
        self.name = name
        self.argv = list(argv)
        self.journal = journal
        self.stdout = stdout
        self.meta = dict(meta or {})
        self.popen = None

    @property
    def pid(self):
        return self.popen.pid if self.popen else None

    def _record(self, pid):
        if self.journal is None:
            return
        meta = dict(self.meta, argv=self.argv, pid=pid, host='localhost')
        self.journal.record(JOURNAL_KIND, self.name, meta)

    def start(self):
        # Journaled before it exists (pid unknown yet), then with its pid.
        self._record(None)
        out = open(self.stdout, 'wb') if self.stdout else subprocess.DEVNULL
        try:
            self.popen = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
                close_fds=True)
        except BaseException:
            self._forget()
            raise
        finally:
            if self.stdout:
                out.close()
        self._record(self.popen.pid)
        return self

    def wait(self, timeout):
        """Exit code, or None if it ran past ``timeout`` (then stopped)."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            return None

    def poll(self):
        return self.popen.poll() if self.popen else None

    def stop(self, grace_s=5.0):
        if self.popen is None:
            return
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.popen.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.popen.wait(timeout=grace_s)
        self._forget()

    def _forget(self):
        if self.journal is not None:
            self.journal.forget(JOURNAL_KIND, self.name)
