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
"""A fleet step of the self-test on the rehearsal, measured from outside.

``magnum-cern-selftest rehearsal bench --fleet N --size S --concurrency C``
runs the real ``magnum-cern-selftest run --fleet ...`` (a child process)
and meanwhile watches the rehearsal's own records:

* where each cluster's time went, from the databases (sampled every
  ``WATCH_INTERVAL`` s): Magnum API (the request until Magnum's row
  exists), conductor (row until Heat's stack row: certificates,
  application credential, rendering, the POST), Heat (stack row until
  Heat's CREATE COMPLETE), status sync (Heat's COMPLETE until Magnum's
  CREATE_COMPLETE);
* CPU seconds per service (utime + stime of the service's processes);
* peak RSS of magnum-conductor and heat-engine (all their processes);
* Heat API requests per cluster per status sync (heat-api's access log;
  Magnum syncs every in-progress cluster every 10 s);
* database growth (the files of each database directory).

The split and the sums are pure functions below; the watching is thin.
"""

import json
import os
import statistics
import subprocess
import sys
import threading
import time

from magnum_cern_driver.selftest.rehearsal import bench
from magnum_cern_driver.selftest.rehearsal import procs

WATCH_INTERVAL = 2.0
SYNC_INTERVAL = bench.POLL_INTERVAL     # Magnum's sync_cluster_status
SERVICES = ('keystone', 'glance', 'heat-api', 'heat-engine', 'magnum-api',
            'magnum-conductor', 'mariadb', 'rabbitmq', 'cloud-standin')
PHASES = ('api', 'conductor', 'heat', 'sync')


# -- pure ----------------------------------------------------------------

def phases(requested, magnum_created, stack_created, stack_complete,
           magnum_complete):
    """Seconds spent in each phase of one create (None where unknown)."""
    marks = (requested, magnum_created, stack_created, stack_complete,
             magnum_complete)
    out = {}
    for name, (a, b) in zip(PHASES, zip(marks, marks[1:])):
        out[name] = None if a is None or b is None else max(0.0, b - a)
    return out


def median_phases(rows):
    """``{phase: median seconds}`` over the rows that know the phase."""
    out = {}
    for name in PHASES:
        values = [r[name] for r in rows if r.get(name) is not None]
        out[name] = round(statistics.median(values), 1) if values else None
    return out


def poll_requests(kinds):
    """The status poll's requests: stack reads and resource lists."""
    return sum(n for kind, n in kinds.items()
               if kind.startswith('GET ') and '/stacks/{name}/{id}' in kind)


def cpu_seconds(before, after, ticks=None):
    """CPU seconds per service between two ``{service: ticks}`` reads."""
    ticks = ticks or os.sysconf('SC_CLK_TCK')
    return {name: round((after.get(name, 0) - before.get(name, 0)) / ticks,
                        1) for name in after}


def sync_rounds(in_progress_seconds, interval=SYNC_INTERVAL):
    """Status syncs Magnum made: one per cluster per interval in progress."""
    return sum(max(1.0, s / interval) for s in in_progress_seconds)


def in_progress_seconds(created, complete, delete_seen, last_seen):
    """Seconds a cluster was IN_PROGRESS (creating, then deleting)."""
    creating = (complete or last_seen) - created
    deleting = last_seen - delete_seen if delete_seen else 0.0
    return max(0.0, creating) + max(0.0, deleting)


class NoResult(Exception):
    """The self-test ended without writing its result (e.g. killed)."""


def load_result(output_dir, rc):
    """The self-test's result.json, or :class:`NoResult` saying why not."""
    path = os.path.join(output_dir, 'result.json')
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise NoResult('the self-test (exit %s) left no readable %s (%s); '
                       'nothing to measure: clean up with the command it '
                       'printed' % (rc, path, e.__class__.__name__))


def growth(before, after):
    """Bytes added per database (and in all)."""
    out = {db: after.get(db, 0) - before.get(db, 0) for db in after}
    out['all'] = sum(out.values())
    return out


# -- thin edges ----------------------------------------------------------

def _family_ticks(pid):
    total = 0
    for p in [pid] + procs.descendants(pid):
        try:
            with open('/proc/%d/stat' % p) as f:
                fields = f.read().rsplit(')', 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total


def _cpu(reh):
    out = {}
    for name in SERVICES:
        rec = reh.state.processes.get(name)
        if rec:
            out[name] = _family_ticks(rec['pid'])
    return out


def _db_sizes(reh):
    data = reh.layout.path('data', 'mysql')
    out = {}
    for db in ('heat', 'magnum', 'keystone'):
        total = 0
        for root, _, files in os.walk(os.path.join(data, db)):
            for name in files:
                try:
                    total += os.path.getsize(os.path.join(root, name))
                except OSError:
                    pass
        out[db] = total
    # InnoDB's shared tablespace (undo, change buffer) grows too.
    out['shared'] = sum(os.path.getsize(os.path.join(data, name))
                        for name in ('ibdata1',)
                        if os.path.exists(os.path.join(data, name)))
    return out


def _iso_epoch(text):
    import datetime
    return datetime.datetime.fromisoformat(text).timestamp()


def _epoch(dt):
    # Magnum and Heat store naive UTC datetimes.
    import calendar
    return None if dt is None else calendar.timegm(dt.timetuple())


class Watcher(threading.Thread):
    """Samples Magnum's and Heat's rows for the clusters of one run."""

    def __init__(self, reh, prefix, interval=WATCH_INTERVAL):
        super().__init__(daemon=True)
        self.reh = reh
        self.prefix = prefix
        self.interval = interval
        self.clusters = {}   # name -> facts
        self.stacks = {}     # id -> facts
        self._stop_event = threading.Event()

    def sample(self):
        now = time.time()
        with self.reh.db_connection('magnum') as conn:
            with conn.cursor() as cur:
                cur.execute('SELECT name, status, stack_id, created_at, '
                            'updated_at FROM cluster WHERE name LIKE %s',
                            (self.prefix + '%',))
                rows = cur.fetchall()
        for name, status, stack_id, created, updated in rows:
            c = self.clusters.setdefault(name, {
                'created': _epoch(created), 'stack_id': None,
                'delete_seen': None})
            c['stack_id'] = stack_id or c['stack_id']
            if status == 'DELETE_IN_PROGRESS' and c['delete_seen'] is None:
                c['delete_seen'] = now
            c['last_seen'] = now
        with self.reh.db_connection('heat') as conn:
            with conn.cursor() as cur:
                cur.execute('SELECT id, action, status, created_at, '
                            'updated_at FROM stack WHERE owner_id IS NULL '
                            'AND name LIKE %s', (self.prefix + '%',))
                rows = cur.fetchall()
        for sid, action, status, created, updated in rows:
            s = self.stacks.setdefault(sid, {'created': _epoch(created),
                                             'complete': None})
            if (action, status) == ('CREATE', 'COMPLETE') and \
                    s['complete'] is None:
                # Heat leaves updated_at empty on a create: first seen.
                s['complete'] = _epoch(updated) or now

    def run(self):
        while not self._stop_event.is_set():
            try:
                self.sample()
            except Exception as e:  # noqa: a missed sample is not fatal
                print('bench: sample failed: %s' % e, file=sys.stderr)
            self._stop_event.wait(self.interval)

    def stop(self):
        self._stop_event.set()
        self.join()


def _selftest_command(args, output_dir):
    return [sys.executable, '-c',
            'import sys; from magnum_cern_driver.selftest import cli; '
            'sys.exit(cli.main())',
            '--rehearsal-state-dir', args['state_dir'], 'run',
            '--fleet', str(args['fleet']), '--size', str(args['size']),
            '--concurrency', str(args['concurrency']), '--skip-load',
            '--output-dir', output_dir] + list(args.get('extra') or ())


def _request_kinds(entries):
    import re
    kinds = {}
    for _, method, path in entries:
        key = '%s %s' % (method, re.sub(r'[0-9a-f-]{32,36}', '{id}',
                                        path.split('?')[0]))
        key = re.sub(r'/stacks/mcst-[^/]+', '/stacks/{name}', key)
        kinds[key] = kinds.get(key, 0) + 1
    return kinds


def run(reh, fleet, size, concurrency, output_dir, extra=(), out=print):
    """Run the fleet step through the real CLI and measure; a dict."""
    engine = reh.state.processes['heat-engine']['pid']
    conductor = reh.state.processes['magnum-conductor']['pid']
    rss = {'heat-engine': bench.RssSampler(engine),
           'magnum-conductor': bench.RssSampler(conductor)}
    for sampler in rss.values():
        sampler.sample()
    rss_before = {k: s.peak_total for k, s in rss.items()}
    for sampler in rss.values():
        sampler.start()
    db_before = _db_sizes(reh)
    cpu_before = _cpu(reh)
    watcher = Watcher(reh, 'mcst-')
    t0 = time.time()
    watcher.start()
    os.makedirs(output_dir, exist_ok=True)
    cmd = _selftest_command({'state_dir': reh.state_dir, 'fleet': fleet,
                             'size': size, 'concurrency': concurrency,
                             'extra': extra}, output_dir)
    rc = subprocess.call(cmd)
    wall = time.time() - t0
    watcher.stop()
    cpu_after = _cpu(reh)
    for sampler in rss.values():
        sampler.stop()
    db_after = _db_sizes(reh)
    result = load_result(output_dir, rc)
    step = result['sizes'][0]
    start = _iso_epoch(result['started_at']) + step['started_at']
    rows, in_progress = [], []
    for r in step['results']:
        c = watcher.clusters.get(r['name']) or {}
        s = watcher.stacks.get(c.get('stack_id')) or {}
        requested = start + r['requested_at']
        # Magnum's CREATE_COMPLETE as the self-test saw it (the row may
        # hold it for under a second before the delete).
        seen = (requested + r['create_seconds']
                if r.get('outcome') == 'pass'
                or r.get('create_seconds') and s.get('complete') else None)
        rows.append(phases(requested, c.get('created'), s.get('created'),
                           s.get('complete'), seen))
        if c.get('created') is not None:
            in_progress.append(in_progress_seconds(
                c['created'], seen, c.get('delete_seen'), c['last_seen']))
    with open(reh.layout.log('heat-api-access')) as f:
        entries = [e for e in bench.parse_access_times(f)
                   if t0 <= e[0] <= t0 + wall]
    syncs = sync_rounds(in_progress)
    kinds = _request_kinds(entries)
    polls = poll_requests(kinds)
    summary = step['summary']
    return {
        'command': ' '.join(cmd[3:]),
        'exit_code': rc,
        'wall_seconds': round(wall, 1),
        'built': summary.get('complete'),
        'requested': summary.get('requested'),
        'median_minutes': summary.get('median_minutes'),
        'accept_ms_median': summary.get('accept_ms_median'),
        'phase_medians_s': median_phases(rows),
        'cpu_seconds': cpu_seconds(cpu_before, cpu_after),
        'rss_before_mib': {k: round(v / 1024) for k, v in rss_before.items()},
        'rss_peak_mib': {k: round(s.peak_total / 1024)
                         for k, s in rss.items()},
        'heat_requests': len(entries),
        'heat_requests_by_kind': kinds,
        'status_syncs': round(syncs),
        'heat_requests_per_cluster_per_sync':
            round(len(entries) / syncs, 2) if syncs else None,
        'heat_poll_requests': polls,
        'heat_poll_requests_per_cluster_per_sync':
            round(polls / syncs, 2) if syncs else None,
        'db_growth_bytes': growth(db_before, db_after),
        'cleanup': result.get('cleanup', {}).get('status')
        if isinstance(result.get('cleanup'), dict) else result.get('cleanup'),
    }
