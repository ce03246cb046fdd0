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
"""The ladder: clusters of growing size, timed against the reference.

For each step of the plan, ``concurrency`` clusters are requested at once
(each written to the journal first), then polled together with one list
call per round. The poll interval grows with the time waited (5 % of it,
between ``min_poll`` and ``max_poll`` seconds), so a 20-minute wait costs
few calls while a 2-minute one stays precise. Per cluster: API accept
latency, time to CREATE_COMPLETE, time in each status, time until every
node is Ready (skipped with a reason where nodes are hollow), and the
failure reason. A failed, timed-out or stalled size stops the climb
unless ``continue_on_failure``.

Stalls: the driver's status poll writes a cluster ``status_reason``
starting with :data:`magnum_cern_driver.status.STALLED_PREFIX` when Heat
has made no progress for ``[cern_driver] stall_after`` (the status stays
CREATE_IN_PROGRESS; the prefix goes away when progress resumes). The
ladder lists clusters with their details (``/clusters/detail``, still one
call per round) to see it. A stalled cluster is marked stalled but kept
under watch; once every unsettled cluster of the size is stalled, the
size ends at once (instead of waiting for its timeout, three times the
target) and those clusters get the outcome ``stalled`` with the driver's
text (the stuck resources). A cluster whose prefix disappears before that
goes on as usual. A set ``stop`` event (SIGINT/SIGTERM) stops
creating at once; the caller then deletes everything.
"""

import os
import statistics
import threading
import time

from magnum_cern_driver.selftest import cleanup as cleanup_mod
from magnum_cern_driver.selftest import cloud as cloud_mod
from magnum_cern_driver.selftest import fleet as fleet_mod
from magnum_cern_driver.selftest import journal as journal_mod

COMPLETE = 'CREATE_COMPLETE'
# A round asks for each building cluster by itself when there are at most
# this many, and the run has at least RATIO times as many (see _statuses).
SINGLE_GETS_MAX = 20
SINGLE_GETS_RATIO = 4
FAILED = ('CREATE_FAILED', 'ERROR')
HOLLOW_REASON = ('nodes are hollow stand-ins (local rehearsal): no '
                 'Kubernetes API to ask')

# Step and cluster outcomes.
PASS = 'pass'
TARGET_MISSED = 'target missed'
FAIL = 'fail'
TIMEOUT = 'timeout'
STALLED = 'stalled'
INTERRUPTED = 'interrupted'
SKIPPED = 'skipped'


def cluster_name(run_id, size, index, step=None):
    """``mcst-<run>-s0016-03``; a fleet step's ``mcst-<run>-f1-s0002-0042``.

    Fleet steps carry their number: two steps of one size (the CNCF
    reference) must not share names.
    """
    if step is not None and step.fleet:
        return '%sf%d-s%04d-%04d' % (journal_mod.name_prefix(run_id),
                                     step.number, size, index)
    return '%ss%04d-%02d' % (journal_mod.name_prefix(run_id), size, index)


def is_stalled(reason):
    """True if a cluster's status_reason says its stack is stalled.

    The driver's own test (:func:`magnum_cern_driver.status.is_stalled`),
    imported on first use: the driver's status module pulls in Magnum,
    which the self-test's other commands do not need at start-up.
    """
    if not reason:
        return False
    from magnum_cern_driver import status as status_mod
    return status_mod.is_stalled(reason)


def _quantile(values, q):
    values = sorted(values)
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    pos = (len(values) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def _r(value, digits=2):
    return None if value is None else round(value, digits)


def time_in_status(transitions, end):
    """{status: seconds} from [{'status', 'at'}] (offsets) up to ``end``."""
    out = {}
    for cur, nxt in zip(transitions, transitions[1:] + [{'at': end}]):
        out[cur['status']] = round(out.get(cur['status'], 0) +
                                   max(0.0, nxt['at'] - cur['at']), 2)
    return out


def summarize_step(step, results):
    """Aggregate a step's cluster results into its verdict (pure).

    The size passes when every cluster reached CREATE_COMPLETE (and, where
    checked, all its nodes Ready) within its timeout and the *median* time
    to CREATE_COMPLETE is within the target. Any failure makes the size
    'fail'; otherwise any stalled cluster makes it 'stalled' (with the
    stuck resources in the reason); otherwise any timeout makes it
    'timeout'; an interrupted size is 'interrupted'.
    """
    minutes = [r['create_seconds'] / 60.0 for r in results
               if r.get('create_seconds') is not None]
    accept = [r['accept_ms'] for r in results
              if r.get('accept_ms') is not None]
    ready = [r['ready_seconds'] / 60.0 for r in results
             if r.get('ready_seconds') is not None]
    counts = {}
    for r in results:
        counts[r['outcome']] = counts.get(r['outcome'], 0) + 1
    summary = {
        'requested': len(results),
        'complete': counts.get(PASS, 0),
        'failed': counts.get(FAIL, 0),
        'timeout': counts.get(TIMEOUT, 0),
        'stalled': counts.get(STALLED, 0),
        'interrupted': counts.get(INTERRUPTED, 0),
        'median_minutes': _r(_quantile(minutes, 0.5)),
        'p90_minutes': _r(_quantile(minutes, 0.9)),
        'min_minutes': _r(min(minutes) if minutes else None),
        'max_minutes': _r(max(minutes) if minutes else None),
        'mean_minutes': _r(statistics.fmean(minutes) if minutes else None),
        'accept_ms_median': _r(_quantile(accept, 0.5), 1),
        'accept_ms_max': _r(max(accept) if accept else None, 1),
        'ready_median_minutes': _r(_quantile(ready, 0.5)),
    }
    target = step.target_minutes
    if summary['interrupted']:
        status, reason = INTERRUPTED, 'interrupted by a signal'
    elif summary['failed']:
        reasons = sorted(set(r.get('status_reason') or r['status']
                             for r in results if r['outcome'] == FAIL))
        status = FAIL
        reason = '%d of %d clusters failed: %s' % (
            summary['failed'], len(results), '; '.join(reasons)[:400])
    elif summary['stalled']:
        reasons = sorted(set(r.get('status_reason') or r['status']
                             for r in results if r['outcome'] == STALLED))
        status = STALLED
        reason = '%d of %d clusters stalled: %s' % (
            summary['stalled'], len(results), '; '.join(reasons)[:600])
    elif summary['timeout']:
        status = TIMEOUT
        reason = '%d of %d clusters not ready within %.1f min' % (
            summary['timeout'], len(results),
            results[0].get('timeout_minutes') or 0)
    elif not results:
        status, reason = SKIPPED, 'no clusters requested'
    elif summary['median_minutes'] > target:
        status = TARGET_MISSED
        reason = 'median %.2f min > target %.2f min' % (
            summary['median_minutes'], target)
    else:
        status = PASS
        reason = 'median %.2f min <= target %.2f min' % (
            summary['median_minutes'], target)
    return summary, status, reason


class _Tracked(object):
    """Mutable state of one cluster while the ladder waits for it."""

    def __init__(self, name, step, masters, timeout_minutes):
        self.name = name
        self.size = step.size
        self.masters = masters
        self.timeout_minutes = timeout_minutes
        self.uuid = None
        # Handed to the create pool (its request may not be sent yet).
        self.submitted = False
        self.status = 'NOT_CREATED'
        self.reason = None
        self.outcome = None
        self.accept_ms = None
        self.requested_at = None
        self.complete_at = None
        self.ready_at = None
        self.ready_skipped = None
        self.ready_progress = None
        self.kubeconfig = None
        self.transitions = []
        self.samples = []
        self.polls = 0
        self.stack_id = None
        self.coe_version = None
        self.ended_at = None
        # Stall periods the driver reported: [{'since', 'until'}] (ladder
        # seconds; 'until' None while it lasts).
        self.stalls = []

    @property
    def stalled(self):
        return bool(self.stalls) and self.stalls[-1]['until'] is None

    def observe_stall(self, reason, at):
        """Record the driver's stall report (or its end) at ``at``."""
        if is_stalled(reason):
            if not self.stalled:
                self.stalls.append({'since': round(at, 2), 'until': None})
            self.reason = reason
        elif self.stalled:
            self.stalls[-1]['until'] = round(at, 2)
            self.reason = reason

    @property
    def done(self):
        return self.outcome is not None

    def observe(self, status, at):
        if status != self.status:
            self.transitions.append({'status': status, 'at': round(at, 2)})
            self.status = status
        self.samples.append([round(at, 2), status])

    def as_dict(self, now):
        end = self.ended_at if self.ended_at is not None else now
        return {
            'name': self.name, 'uuid': self.uuid, 'size': self.size,
            'masters': self.masters, 'status': self.status,
            'status_reason': self.reason, 'outcome': self.outcome,
            'accept_ms': _r(self.accept_ms, 1),
            'requested_at': _r(self.requested_at),
            'create_seconds': _r(None if self.complete_at is None else
                                 self.complete_at - self.requested_at),
            'ready_seconds': _r(None if self.ready_at is None else
                                self.ready_at - self.requested_at),
            'ready_skipped': self.ready_skipped,
            'ready_progress': self.ready_progress,
            'timeout_minutes': _r(self.timeout_minutes),
            'transitions': list(self.transitions),
            'time_in_status': time_in_status(self.transitions, end),
            'samples': list(self.samples),
            'ended_at': _r(end),
            'polls': self.polls, 'stack_id': self.stack_id,
            'coe_version': self.coe_version,
            'stalls': [dict(p) for p in self.stalls],
        }


class Ladder(object):
    """Runs the plan against a cloud adapter; returns plain data.

    :param cloud: :class:`cloud.Cloud` or a fake with the same methods.
    :param journal: :class:`journal.Journal` of the run.
    :param steps: list of :class:`plan.Step`.
    :param template_id: the cluster template every cluster uses.
    :param stop: ``threading.Event`` set on SIGINT/SIGTERM.
    :param view: progress sink (see report.terminal.LiveView); optional.
    :param keep_for_load: keep one healthy cluster of the last step (the
        load phase runs on it); the caller deletes it afterwards.
    """

    def __init__(self, cloud, journal, steps, template_id, run_id,
                 masters=1, labels=None, timeout_scale=1.0,
                 continue_on_failure=False, keep=False, keep_for_load=False,
                 stop=None, view=None, clock=time.monotonic,
                 min_poll=2.0, max_poll=30.0, workdir=None,
                 sleep=time.sleep, wall=time.time):
        self.cloud = cloud
        # Wall-clock epoch seconds, for the journal (accepted_at).
        self.wall = wall
        self.journal = journal
        self.steps = steps
        self.template_id = template_id
        self.run_id = run_id
        self.masters = masters
        self.labels = labels or {}
        self.timeout_scale = timeout_scale
        self.continue_on_failure = continue_on_failure
        self.keep = keep
        self.keep_for_load = keep_for_load
        self.stop = stop or threading.Event()
        self.view = view
        self.clock = clock
        # Deletes go on after a signal, so their waits must not wake on
        # ``stop`` (the cleaner would poll the APIs without pause).
        self.sleep = sleep
        self.min_poll = min_poll
        self.max_poll = max_poll
        self.workdir = workdir
        self.t0 = clock()
        self.kept = None
        self.deleted = []
        self.leftovers = []

    # -- helpers --------------------------------------------------------------
    def _now(self):
        return self.clock() - self.t0

    def _emit(self, method, *args):
        if self.view is not None and hasattr(self.view, method):
            getattr(self.view, method)(*args)

    def _wait(self, seconds):
        """Sleep, waking at once when stop is set; True if stopped."""
        return self.stop.wait(seconds)

    def poll_interval(self, waited):
        return min(self.max_poll, max(self.min_poll, 0.05 * waited))

    # -- one step -------------------------------------------------------------
    def _create(self, step, tracked):
        # Queued in the pool when a signal came: never sent.
        if self.stop.is_set():
            return
        meta = {'size': step.size, 'masters': self.masters,
                'template': self.template_id}
        self.journal.record('cluster', tracked.name, meta)
        tracked.requested_at = self._now()
        tracked.observe('REQUESTED', tracked.requested_at)
        t0 = self.clock()
        try:
            uuid = self.cloud.create_cluster(
                tracked.name, self.template_id, node_count=step.size,
                master_count=self.masters,
                create_timeout=max(1, int(tracked.timeout_minutes + 0.999)),
                labels=self.labels or None)
        except cloud_mod.CloudError as e:
            tracked.accept_ms = (self.clock() - t0) * 1000.0
            tracked.outcome = FAIL
            tracked.reason = 'create refused: %s' % e
            tracked.observe('REFUSED', self._now())
            tracked.ended_at = self._now()
            return
        tracked.accept_ms = (self.clock() - t0) * 1000.0
        if not uuid:
            tracked.outcome = FAIL
            tracked.reason = 'create accepted without a cluster uuid'
            tracked.ended_at = self._now()
            return
        # accepted_at (epoch): the cleanup waits for a cluster accepted
        # recently that Magnum has not made yet (cleanup.py).
        self.journal.record('cluster', tracked.name,
                            {'uuid': uuid,
                             'accepted_at': round(self.wall(), 1)})
        tracked.uuid = uuid

    def _finish(self, tracked, outcome, reason=None):
        tracked.outcome = outcome
        if reason:
            tracked.reason = reason
        tracked.ended_at = self._now()

    def _check_nodes(self, tracked, deadline_at):
        expected = tracked.size + tracked.masters
        try:
            if tracked.kubeconfig is None:
                info = self.cloud.get_cluster(tracked.uuid) or {}
                tracked.kubeconfig = self.cloud.write_kubeconfig(
                    info, self.workdir)
            ready, total = self.cloud.count_ready_nodes(tracked.kubeconfig)
            tracked.ready_progress = '%d/%d Ready' % (ready, expected)
            if ready >= expected:
                tracked.ready_at = self._now()
                self._finish(tracked, PASS)
                return
        except cloud_mod.CloudError as e:
            tracked.ready_progress = 'Kubernetes API: %s' % e
        if self._now() >= deadline_at:
            self._finish(tracked, TIMEOUT, 'nodes not Ready in time (%s)'
                         % tracked.ready_progress)

    def _poll(self, tracked_list, step_start):
        # Clusters whose create call has not returned are not polled yet.
        live = [t for t in tracked_list if not t.done and t.uuid]
        try:
            listed = self._statuses(tracked_list, live)
        except cloud_mod.CloudError as e:
            self._emit('message', 'poll failed, will retry: %s' % e)
            listed = None
        now = self._now()
        for t in live:
            deadline_at = t.requested_at + t.timeout_minutes * 60.0
            if t.complete_at is not None:
                self._check_nodes(t, deadline_at)
                continue
            if listed is None:
                continue
            t.polls += 1
            c = listed.get(t.uuid)
            if c is None and t.status == 'REQUESTED':
                # Magnum's API only casts a create: the conductor makes
                # the cluster's row when it gets to it (magnum/conductor/
                # handlers/cluster_conductor.py cluster_create), seconds
                # or, behind a queue of creates, minutes later.
                if now >= deadline_at:
                    self._finish(t, TIMEOUT, 'Magnum accepted the create '
                                 'but never showed the cluster (the '
                                 'conductor did not make it)')
                continue
            if c is None:
                t.observe('MISSING', now)
                self._finish(t, FAIL, 'cluster vanished from Magnum')
                continue
            if t.status == 'REQUESTED':
                # Magnum made the row: from now on a 404 means gone.
                self.journal.record('cluster', t.name, {'seen': True})
            t.observe(c.get('status'), now)
            t.stack_id = c.get('stack_id') or t.stack_id
            if t.stack_id:
                entry = self.journal.get('cluster', t.name)
                if entry is not None and \
                        entry.meta.get('stack_id') != t.stack_id:
                    self.journal.record('cluster', t.name,
                                        {'stack_id': t.stack_id})
            if c.get('status') == COMPLETE:
                t.complete_at = now
                t.coe_version = c.get('coe_version')
                if self.cloud.hollow:
                    t.ready_skipped = HOLLOW_REASON
                    self._finish(t, PASS)
                else:
                    self._check_nodes(t, deadline_at)
            elif c.get('status') in FAILED:
                detail = self.cloud.get_cluster(t.uuid) or {}
                self._finish(t, FAIL, detail.get('status_reason') or
                             c.get('status_reason') or c.get('status'))
            else:
                t.observe_stall(c.get('status_reason'), now)
                if now >= deadline_at:
                    self._timed_out(t, c)
        self._end_stalled(tracked_list)

    def _statuses(self, tracked_list, live):
        """``{uuid: cluster}`` of this round, in the cheaper of two ways.

        One ``/clusters/detail`` call carries every cluster of the run,
        settled ones too: in a fleet of 1000 at concurrency 10 that is a
        thousand clusters (and their nodegroups) Magnum loads every round
        to learn about ten. When the clusters still building are few
        against those of the run, each is asked for by itself (a missing
        one is left out, as the list would).
        """
        waiting = [t for t in live if t.complete_at is None]
        known = sum(1 for t in tracked_list if t.uuid)
        if waiting and len(waiting) <= SINGLE_GETS_MAX and \
                known >= SINGLE_GETS_RATIO * len(waiting):
            out = {}
            for t in waiting:
                c = self.cloud.get_cluster(t.uuid)
                if c is not None:
                    out[t.uuid] = c
            return out
        prefix = journal_mod.name_prefix(self.run_id)
        return {c['uuid']: c for c in self.cloud.list_clusters(
            prefix, detail=True)}

    def _timed_out(self, t, listed):
        if t.stalled:
            self._finish(t, STALLED)
            return
        detail = self.cloud.get_cluster(t.uuid) or {}
        self._finish(t, TIMEOUT, 'still %s after %.1f min%s' % (
            listed.get('status'), t.timeout_minutes,
            (': %s' % detail['status_reason'])
            if detail.get('status_reason') else ''))

    def _end_stalled(self, tracked_list):
        """End the size early once every unsettled cluster is stalled.

        Waiting longer would only wait for the timeout: Heat has made no
        progress on any of them for the driver's ``stall_after``.
        """
        pending = [t for t in tracked_list if t.uuid and not t.done]
        if pending and all(t.stalled for t in pending):
            for t in pending:
                self._finish(t, STALLED)

    def run_step(self, step):
        """Build a step's clusters, ``step.concurrency`` in flight at once.

        The first ``concurrency`` creates are sent together (a bounded
        thread pool); each later one is sent when a cluster settles, so a
        fleet larger than its concurrency keeps that many building.
        """
        timeout = step.timeout_minutes(self.timeout_scale)
        tracked = [_Tracked(cluster_name(self.run_id, step.size, i, step),
                            step, self.masters, timeout)
                   for i in range(step.clusters)]
        started = self._now()
        self._emit('step_started', step, tracked)
        waiting = list(reversed(tracked))
        submitter = fleet_mod.Submitter(
            lambda t: self._create(step, t), step.concurrency)
        step_start = self.clock()
        try:
            self._build(step, tracked, waiting, submitter, step_start)
        finally:
            # Creates in flight end first: their ids reach the journal.
            submitter.close()
        for t in submitter.settled():
            self._emit('cluster_update', step, t)
        now = self._now()
        for t in tracked:
            if not t.done:
                if t.uuid or t.requested_at is not None:
                    self._finish(t, INTERRUPTED, 'interrupted')
                else:
                    self._finish(t, INTERRUPTED, 'never requested '
                                 '(interrupted)')
        results = [t.as_dict(now) for t in tracked]
        summary, status, reason = summarize_step(step, results)
        summary['submission'] = fleet_mod.submission(results,
                                                     step.concurrency)
        if step.reference_built is not None:
            summary['reference_built'] = step.reference_built
        out = dict(step.as_dict())
        out.update({'timeout_minutes': round(timeout, 2), 'status': status,
                    'reason': reason, 'summary': summary,
                    'results': results, 'started_at': round(started, 2),
                    'ended_at': round(now, 2)})
        self._emit('fleet_progress', step, tracked, True)
        self._emit('step_done', step, out)
        return out, tracked

    def _build(self, step, tracked, waiting, submitter, step_start):
        """Submit and poll until every cluster settled (or a stop)."""
        submitted = []
        last_poll = self.clock()
        while not self.stop.is_set():
            # Keep ``concurrency`` clusters in flight: submitted (the call
            # may still run) and not settled.
            flying = sum(1 for t in submitted if not t.done)
            while waiting and flying < step.concurrency and \
                    not self.stop.is_set():
                t = waiting.pop()
                t.submitted = True
                submitted.append(t)
                submitter.submit(t)
                flying += 1
            for t in submitter.settled():
                self._emit('cluster_update', step, t)
            building = any(t.uuid and not t.done for t in tracked)
            if not waiting and submitter.running == 0 and not building:
                break
            self._emit('fleet_progress', step, tracked, False)
            live = [t.requested_at for t in tracked
                    if t.requested_at is not None and not t.done]
            waited = (self._now() - min(live)) if live else \
                self.clock() - step_start
            due = last_poll + self.poll_interval(waited) - self.clock()
            if submitter.running:
                # Creates in flight: wake when one returns, to refill.
                if due > 0 or not building:
                    submitter.wait(min(max(due, 0.05), 1.0))
                    continue
            elif due > 0 and self._wait(due):
                break
            if self.stop.is_set():
                break
            self._poll(tracked, step_start)
            last_poll = self.clock()
            for t in tracked:
                self._emit('cluster_update', step, t)

    # -- the climb ---------------------------------------------------------
    def _release(self, tracked, keep_one):
        """Delete a finished step's clusters (keeping one healthy one)."""
        names = set(t.name for t in tracked if t.uuid)
        if keep_one is not None:
            names.discard(keep_one.name)
        if not names or self.keep:
            return
        self._emit('message', 'deleting %d cluster(s) of size %d'
                   % (len(names), tracked[0].size))
        result = cleanup_mod.Cleaner(
            self.cloud, journal=self.journal,
            prefix=journal_mod.name_prefix(self.run_id),
            timeout_scale=self.timeout_scale, clock=self.clock,
            sleep=self.sleep, names=names, wall=self.wall, name_each=False,
            progress=lambda text: self._emit('message', text)).run()
        self.deleted.extend(result.deleted)
        self.leftovers.extend(result.leftovers)

    def run(self):
        sizes = []
        stopped_reason = None
        for index, step in enumerate(self.steps):
            if self.stop.is_set():
                stopped_reason = 'interrupted'
            if stopped_reason:
                sizes.append(self._skipped(step, stopped_reason))
                continue
            out, tracked = self.run_step(step)
            sizes.append(out)
            last = index == len(self.steps) - 1
            healthy = [t for t in tracked if t.outcome == PASS]
            keep_one = None
            if self.keep_for_load and out['status'] in (PASS, TARGET_MISSED) \
                    and healthy and not self.stop.is_set():
                if last:
                    keep_one = healthy[0]
            if self.stop.is_set():
                stopped_reason = 'interrupted'
                break
            self._release(tracked, keep_one)
            if keep_one is not None:
                self.kept = keep_one.as_dict(self._now())
            if out['status'] in (FAIL, TIMEOUT, STALLED) and \
                    not self.continue_on_failure:
                stopped_reason = ('stopped climbing: size %d %s'
                                  % (step.size, out['status']))
        for step in self.steps[len(sizes):]:
            sizes.append(self._skipped(step, stopped_reason or 'skipped'))
        return {'sizes': sizes, 'interrupted': self.stop.is_set(),
                'kept': self.kept, 'deleted': list(self.deleted),
                'leftovers': list(self.leftovers)}

    def _skipped(self, step, reason):
        out = dict(step.as_dict())
        out.update({'timeout_minutes': round(
            step.timeout_minutes(self.timeout_scale), 2),
            'status': SKIPPED, 'reason': reason, 'results': [],
            'summary': summarize_step(step, [])[0]})
        return out


def default_workdir(run_id):
    base = os.environ.get('XDG_RUNTIME_DIR') or os.path.join(
        os.path.expanduser('~'), '.cache')
    return os.path.join(base, 'magnum-cern-selftest', run_id)
