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
"""Many clusters at once: bounded concurrent calls and fleet counts.

"C at once" means C create requests in flight together: a step's creates
go through a bounded thread pool (:class:`Submitter`), each cluster timed
from its own request. A fleet of N > C clusters keeps C of them in
flight: the next create is sent when one settles (built, failed, refused
or timed out), as Rally's constant runner does. Deletes of many clusters
go through the same kind of bound (:func:`bounded_map`).

A fleet's progress is one line of state counts (:func:`progress_line`),
not a line per cluster; the submission spread of a step is
:func:`submission`.
"""

import concurrent.futures
import threading

# Threads sending creates or deletes together, at most.
MAX_THREADS = 50
# Deletes sent together by a cleanup.
DELETE_CONCURRENCY = 10
# Above this many clusters a step's progress is counted, not listed.
COMPACT_OVER = 20


class Submitter(object):
    """Runs ``create(tracked)`` for clusters, ``bound`` calls at a time.

    The caller decides when to submit (it keeps ``concurrency`` clusters
    in flight); this only bounds the threads and tells which calls ended.
    """

    def __init__(self, create, bound):
        self.create = create
        self.bound = max(1, min(int(bound), MAX_THREADS))
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.bound, thread_name_prefix='mcst-create')
        self._running = {}
        self._lock = threading.Lock()

    def submit(self, tracked):
        future = self._pool.submit(self.create, tracked)
        with self._lock:
            self._running[future] = tracked
        return future

    @property
    def running(self):
        with self._lock:
            return len(self._running)

    def settled(self):
        """Clusters whose create call returned since the last call.

        The exception of a call that failed is raised (a bug in create
        must not be lost silently); cancelled calls (queued when the pool
        closed) are dropped.
        """
        out = []
        failed = None
        with self._lock:
            for future in [f for f in self._running if f.done()]:
                tracked = self._running.pop(future)
                if future.cancelled():
                    continue
                if future.exception() is not None:
                    failed = failed or future.exception()
                    continue
                out.append(tracked)
        if failed is not None:
            raise failed
        return out

    def wait(self, timeout):
        """Until a create call returns or ``timeout`` seconds pass."""
        with self._lock:
            futures = list(self._running)
        if futures:
            concurrent.futures.wait(
                futures, timeout=timeout,
                return_when=concurrent.futures.FIRST_COMPLETED)

    def close(self):
        """Wait for the calls in flight (their ids reach the journal)."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def bounded_map(fn, items, bound=DELETE_CONCURRENCY):
    """``[fn(item) for item in items]`` with ``bound`` calls at a time.

    Results keep the order of ``items``; an exception of ``fn`` is
    raised only after every call ended.
    """
    items = list(items)
    if len(items) <= 1 or bound <= 1:
        return [fn(item) for item in items]
    bound = min(int(bound), MAX_THREADS, len(items))
    with concurrent.futures.ThreadPoolExecutor(
            max_workers=bound, thread_name_prefix='mcst-call') as pool:
        futures = [pool.submit(fn, item) for item in items]
        concurrent.futures.wait(futures)
    return [f.result() for f in futures]


# -- counting ----------------------------------------------------------------

def counts(tracked):
    """{complete, building, failed, waiting} of a step's clusters (pure).

    ``failed`` holds refusals, failures and timeouts; ``building`` is
    submitted (its request sent or about to be) and not settled;
    ``waiting`` not yet submitted.
    """
    out = {'complete': 0, 'building': 0, 'failed': 0, 'waiting': 0}
    for t in tracked:
        if t.outcome == 'pass':
            out['complete'] += 1
        elif t.outcome in ('fail', 'timeout'):
            out['failed'] += 1
        elif t.outcome is not None:
            out.setdefault(t.outcome, 0)
            out[t.outcome] += 1
        elif t.requested_at is None and not getattr(t, 'submitted', False):
            out['waiting'] += 1
        else:
            out['building'] += 1
    return out


def _elapsed(seconds):
    seconds = int(max(0, seconds))
    if seconds >= 3600:
        return '%d:%02d:%02d' % (seconds // 3600, seconds // 60 % 60,
                                 seconds % 60)
    return '%d:%02d' % (seconds // 60, seconds % 60)


def progress_line(step, tracked, elapsed):
    """``fleet 2x1000 c10: 412 complete, 10 building, ...`` (pure)."""
    c = counts(tracked)
    parts = ['%d complete' % c.pop('complete'),
             '%d building' % c.pop('building'),
             '%d failed' % c.pop('failed'),
             '%d waiting' % c.pop('waiting')]
    parts.extend('%d %s' % (v, k) for k, v in sorted(c.items()))
    return 'fleet %dx%d c%d: %s, %s elapsed' % (
        step.size, len(tracked), step.concurrency, ', '.join(parts),
        _elapsed(elapsed))


def compact(step):
    """True when a step's progress is counted rather than listed."""
    return step.clusters > COMPACT_OVER


def submission(results, concurrency):
    """Submission spread of a step's results (pure).

    ``first_batch_seconds``: from the first to the last create request of
    the first ``concurrency`` clusters (those asked for "at once");
    ``all_seconds``: from the first to the last request of the step.
    """
    times = sorted(r['requested_at'] for r in results
                   if r.get('requested_at') is not None)
    if not times:
        return {'first_batch_seconds': None, 'all_seconds': None,
                'requests': 0, 'batch': 0}
    batch = times[:max(1, concurrency)]
    return {'first_batch_seconds': round(batch[-1] - batch[0], 2),
            'all_seconds': round(times[-1] - times[0], 2),
            'requests': len(times), 'batch': len(batch)}


class ProgressThrottle(object):
    """When a fleet's count line is worth printing (plain output).

    A line when the counts changed and ``every`` seconds passed since the
    last one, and always the final one: a 1000-cluster fleet prints a few
    hundred lines at most, not one per cluster and state.
    """

    def __init__(self, clock, every=10.0):
        self.clock = clock
        self.every = every
        self._last = None
        self._last_at = None

    def due(self, step, tracked, final=False):
        key = (step.number, step.size, tuple(sorted(
            counts(tracked).items())))
        now = self.clock()
        if key == self._last and not final:
            return False
        if not final and self._last_at is not None and \
                now - self._last_at < self.every:
            return False
        self._last, self._last_at = key, now
        return True


def spread_text(summary):
    """``, first 50 requests over 0.8 s`` for a step summary, or ''."""
    sub = (summary or {}).get('submission') or {}
    if sub.get('first_batch_seconds') is None:
        return ''
    text = ', first %d requests over %.1f s' % (
        sub.get('batch') or 0, sub['first_batch_seconds'])
    if sub.get('all_seconds') is not None and \
            sub.get('all_seconds') != sub['first_batch_seconds']:
        text += ', all %d over %.1f s' % (sub.get('requests') or 0,
                                          sub['all_seconds'])
    if summary.get('reference_built') is not None:
        text += ', reference built %d' % summary['reference_built']
    return text
