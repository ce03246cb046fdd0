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
"""Processes: start in their own session, find their descendants, stop.

Everything is addressed by the process ids ``up`` recorded; nothing here
looks processes up by name.
"""

import os
import signal
import subprocess
import time


class ServiceError(RuntimeError):
    """A service or step failed; the message names it and shows its log."""

    def __init__(self, name, reason, log_path=None, lines=30, redact=None):
        self.name = name
        self.reason = reason
        self.log_path = log_path
        self.tail = tail(log_path, lines) if log_path else ''
        if redact is not None:
            # A log may echo a generated password (a connection URL).
            self.tail = redact(self.tail)
        msg = '%s: %s' % (name, reason)
        if log_path:
            msg += '\n--- last lines of %s ---\n%s' % (log_path, self.tail)
        super().__init__(msg)


def tail(path, lines=30):
    try:
        with open(path, 'rb') as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read().decode('utf-8', 'replace')
    except OSError:
        return ''
    return '\n'.join(data.splitlines()[-lines:])


def child_env(extra=None):
    env = dict(os.environ)
    # Never let a caller's OS_* credentials leak into a service.
    for key in list(env):
        if key.startswith('OS_') or key.startswith('RABBITMQ_'):
            del env[key]
    env.update(extra or {})
    return env


def start(argv, log_path, env=None, cwd=None):
    """Start ``argv`` in a new session; return its pid (== its pgid)."""
    with open(log_path, 'ab') as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, cwd=cwd,
                                env=child_env(env), start_new_session=True,
                                close_fds=True)
    return proc


def run(argv, log_path, env=None, timeout=300):
    """Run a one-shot command; return its exit code (output to the log)."""
    with open(log_path, 'ab') as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, env=child_env(env),
                                start_new_session=True)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return -9


def start_time(pid):
    """The process start time (clock ticks since boot), or None."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(')') + 2:].split()
    return int(fields[19])


def _ppid_and_state(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            stat = f.read()
    except OSError:
        return None, None
    fields = stat[stat.rindex(')') + 2:].split()
    return int(fields[1]), fields[0]


def alive(pid, started=None):
    """True if ``pid`` runs, is no zombie, and (if given) started then."""
    if not pid:
        return False
    ppid, state = _ppid_and_state(pid)
    if state is None or state in ('Z', 'X'):
        return False
    return started is None or start_time(pid) == started


def descendants(pid):
    """All live descendants of ``pid`` (any session), from /proc."""
    children = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        ppid, state = _ppid_and_state(int(entry))
        if ppid is not None:
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.append(child)
            todo.append(child)
    return found


def rss_kib(pid):
    """Resident memory of one process in KiB (0 once it is gone)."""
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def family_rss_kib(pid):
    """Resident memory of ``pid`` and all its descendants in KiB."""
    return sum(rss_kib(p) for p in [pid] + descendants(pid))


def _scan_children(pid):
    found = []
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            ppid, state = _ppid_and_state(int(entry))
            if ppid == pid and state not in ('Z', 'X'):
                found.append(int(entry))
    return found


def children(pid):
    """Live direct children of ``pid``, oldest first.

    Read from ``/proc/PID/task/*/children`` (one line per thread), or, on
    a kernel without it, by scanning every process's parent. Order: start
    time, then pid (pids wrap; start times do not). Worker N of a service
    is ``children(pid)[N]``: after a respawn the new worker is the last.
    """
    kids = set()
    try:
        tasks = os.listdir('/proc/%d/task' % pid)
    except OSError:
        return []
    for task in tasks:
        try:
            with open('/proc/%d/task/%s/children' % (pid, task)) as f:
                kids.update(int(x) for x in f.read().split())
        except FileNotFoundError:
            if not os.path.exists('/proc/%d/task/%s' % (pid, task)):
                continue    # the thread ended meanwhile
            kids.update(_scan_children(pid))
            break
        except OSError:
            continue
    return order_oldest_first(
        (k, start_time(k)) for k in kids if alive(k))


def order_oldest_first(entries):
    """Pids of ``[(pid, start time)]`` ordered by start time, then pid."""
    return [pid for pid, started in sorted(
        (e for e in entries if e[1] is not None),
        key=lambda e: (e[1], e[0]))]


def pick_worker(name, workers, index):
    """The pid of worker ``index`` of ``workers`` (oldest first).

    :raises IndexError: with a message naming the workers there are.
    """
    if not workers:
        raise IndexError('%s has no worker processes (it runs as one '
                         'process: kill it without --worker)' % name)
    if not 0 <= index < len(workers):
        raise IndexError(
            '%s has %d worker(s): --worker must be 0..%d (oldest first: '
            'pids %s)' % (name, len(workers), len(workers) - 1,
                          ', '.join(map(str, workers))))
    return workers[index]


def kill(pid, started=None, wait=5.0):
    """SIGKILL one process (never its group) if it is the recorded one.

    Returns True if the signal was sent; waits up to ``wait`` seconds for
    it to be gone (a zombie counts as gone).
    """
    if not alive(pid, started):
        return False
    _signal(pid, signal.SIGKILL, group=False)
    end = time.monotonic() + wait
    while time.monotonic() < end and alive(pid, started):
        time.sleep(0.05)
    return True


def _signal(pid, sig, group):
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop(pid, started, grace):
    """Stop a recorded process, its group and its descendants.

    SIGTERM to the process group and to descendants that left it, then
    SIGKILL to whatever is left after ``grace`` seconds. Returns True if
    something had to be killed.
    """
    if not alive(pid, started):
        return False
    family = [pid] + descendants(pid)
    family_started = {p: start_time(p) for p in family}
    # A service leads its own group; a worker left behind by a killed
    # parent (see ``kill``) does not: signal it alone.
    try:
        group = os.getpgid(pid) == pid
    except OSError:
        group = False
    _signal(pid, signal.SIGTERM, group=group)
    for p in family[1:]:
        _signal(p, signal.SIGTERM, group=False)
    deadline = time.monotonic() + grace
    killed = False
    while time.monotonic() < deadline:
        if not any(alive(p, s) for p, s in family_started.items()):
            break
        time.sleep(0.1)
    else:
        killed = True
        _signal(pid, signal.SIGKILL, group=group)
        for p, s in family_started.items():
            if alive(p, s):
                _signal(p, signal.SIGKILL, group=False)
        end = time.monotonic() + 5
        while time.monotonic() < end and any(
                alive(p, s) for p, s in family_started.items()):
            time.sleep(0.1)
    return killed


def listening_ports(ports, host='127.0.0.1'):
    """The subset of ``ports`` something listens on (TCP, from /proc)."""
    wanted = set(ports)
    found = set()
    for path in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    local, state = fields[1], fields[3]
                    if state != '0A':   # LISTEN
                        continue
                    port = int(local.rsplit(':', 1)[1], 16)
                    if port in wanted:
                        found.add(port)
        except OSError:
            continue
    return sorted(found)
