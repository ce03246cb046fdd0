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
"""Remove what a run created: from its journal, or from its name prefix.

Clusters go first (Magnum deletes their stacks), then stacks Magnum left
behind, application credentials named after our clusters, and cluster
templates (only deletable once no cluster uses them). Deletes are retried
with back-off, ``DELETE_FAILED`` is retried, the wait for each cluster is
scaled by its size, and whatever is still there at the end is returned as
leftovers for the report and exit code 5. :func:`sweep_stale` does this
for every finished or crashed run (``cleanup --stale``).
"""

import datetime
import time

from magnum_cern_driver.selftest import cloud as cloud_mod
from magnum_cern_driver.selftest import fleet as fleet_mod
from magnum_cern_driver.selftest import journal as journal_mod
from magnum_cern_driver.selftest.load import phase as load_phase

# Seconds a cluster delete may take: BASE + PER_NODE * nodes, times
# --timeout-scale.
DELETE_BASE_SECONDS = 300
DELETE_PER_NODE_SECONDS = 3
MAX_DELETE_ATTEMPTS = 5
# A cluster not deleting this long after its delete request is asked
# again; plus REASK_PER_CLUSTER for each other cluster deleted with it (the
# conductor works through the deletes one after another), at most
# REASK_MAX_SECONDS.
REASK_SECONDS = 20
REASK_PER_CLUSTER = 2
REASK_MAX_SECONDS = 120
# Deletes queue in Magnum and Heat: each other cluster being deleted at
# the same time adds this to a cluster's deadline.
FLEET_DELETE_SECONDS = 2
# Clusters being deleted at once. Magnum casts a delete and answers at
# once, so bounding the requests alone bounds nothing: the 1000-cluster
# fleet's cleanup started 1000 Heat deletes together, and Heat and
# Keystone timed out under them (DELETE_FAILED by the hundred).
DELETES_IN_PROGRESS = 20
# A fleet's delete progress: a count line this often.
FLEET_PROGRESS_SECONDS = 30
# Magnum's API only casts a create; the conductor makes the cluster's row
# when it gets to it (magnum/conductor/handlers/cluster_conductor.py
# cluster_create, magnum 23.0.0), behind the creates queued before it. A
# cluster accepted this recently (times --timeout-scale) that Magnum does
# not know and the run never saw may still be made: it is asked for again
# every NOT_MADE_RETRY_SECONDS, not called gone (a delete answered 404
# would leave the cluster the conductor makes afterwards behind).
NOT_MADE_GRACE_SECONDS = 300
NOT_MADE_RETRY_SECONDS = 10


class Backoff(object):
    """Poll intervals: initial, times factor, capped at maximum."""

    def __init__(self, initial=2.0, factor=1.5, maximum=30.0):
        self.initial = initial
        self.factor = factor
        self.maximum = maximum
        self.current = initial

    def next(self):
        value = self.current
        self.current = min(self.current * self.factor, self.maximum)
        return value

    def reset(self):
        self.current = self.initial


class Result(object):
    def __init__(self):
        self.deleted = []
        self.leftovers = []
        self.errors = []

    def as_dict(self):
        return {'deleted': list(self.deleted),
                'leftovers': list(self.leftovers),
                'errors': list(self.errors)}


def delete_timeout(size, scale=1.0):
    return (DELETE_BASE_SECONDS + DELETE_PER_NODE_SECONDS * (size or 0)) \
        * scale


class Cleaner(object):
    """Deletes a set of resources and waits until they are gone.

    :param cloud: the adapter (:class:`cloud.Cloud` or a fake).
    :param journal: the run's journal (entries are forgotten when gone).
    :param prefix: the run's name prefix (``mcst-<run id>-``), or the bare
        ``mcst-`` for --stale; resources found by it are removed too.
    """

    def __init__(self, cloud, journal=None, prefix=None, timeout_scale=1.0,
                 clock=time.monotonic, sleep=time.sleep, progress=None,
                 max_attempts=MAX_DELETE_ATTEMPTS, select=None, names=None,
                 wall=time.time, name_each=True):
        self.cloud = cloud
        # A line per cluster asked to delete (a few clusters); off when the
        # caller has said how many it deletes (a ladder step).
        self.name_each = name_each
        # Wall-clock epoch seconds: the journal's accepted_at is one.
        self.wall = wall
        # names: delete only these clusters (a finished ladder step);
        # templates, and stacks or credentials found by prefix, stay.
        self.names = set(names) if names is not None else None
        self.journal = journal
        self.prefix = prefix
        self.scale = timeout_scale
        self.clock = clock
        self.sleep = sleep
        self.progress = progress or (lambda msg: None)
        self.max_attempts = max_attempts
        self.select = select or (lambda item: True)
        # Delete requests sent together (fleets of clusters), and
        # clusters being deleted at once.
        self.concurrency = fleet_mod.DELETE_CONCURRENCY
        self.in_progress = DELETES_IN_PROGRESS
        self.result = Result()
        self._start = clock()

    def _forget(self, kind, name):
        if self.journal is not None and name and \
                self.journal.get(kind, name) is not None:
            self.journal.forget(kind, name)

    def _gone(self, kind, name, ident):
        self.result.deleted.append({'kind': kind, 'name': name, 'id': ident,
                                    'seconds': round(
                                        self.clock() - self._start, 1)})
        self._forget(kind, name)

    def _left(self, kind, name, ident, status, reason):
        self.result.leftovers.append({'kind': kind, 'name': name,
                                      'id': ident, 'status': status,
                                      'reason': cloud_mod.one_line(reason)})

    def _unlisted(self, kind, error):
        """A kind that could not be listed: it cannot be called clean."""
        self.result.errors.append(str(error))
        self._left(kind, '%s*' % (self.prefix or ''), None, 'unknown',
                   'cannot list %ss: %s' % (kind, error))

    def _listed(self, kind, lister, id_key, name_key, into):
        """Add the run's items ``lister(prefix)`` finds to ``into``."""
        try:
            for item in lister(self.prefix):
                if self.select(item):
                    into.setdefault(item[id_key], item.get(name_key))
        except cloud_mod.CloudError as e:
            self._unlisted(kind, e)

    # -- collecting ---------------------------------------------------------
    def _journal_entries(self, kind):
        if self.journal is None:
            return []
        return self.journal.pending(kind)

    def _clusters(self):
        found = {}
        listed = []
        if self.prefix:
            listed = [c for c in self.cloud.list_clusters(self.prefix)
                      if self.select(c) and (self.names is None or
                                             c.get('name') in self.names)]
        by_name = {c.get('name'): c for c in listed}
        for entry in self._journal_entries('cluster'):
            if self.names is not None and entry.name not in self.names:
                continue
            uuid = entry.meta.get('uuid')
            if not uuid and entry.name in by_name:
                uuid = by_name[entry.name]['uuid']
            if not uuid and not self.prefix:
                # Created under a name we can look up even without a
                # prefix listing.
                match = [c for c in self.cloud.list_clusters(entry.name)
                         if c.get('name') == entry.name]
                uuid = match[0]['uuid'] if match else None
            if not uuid:
                # The create never reached Magnum (or its answer was lost
                # and the listing does not show it): nothing to delete.
                self._gone('cluster', entry.name, None)
                continue
            found[uuid] = {'name': entry.name, 'uuid': uuid,
                           'size': entry.meta.get('size') or 0,
                           'stack_id': entry.meta.get('stack_id'),
                           'accepted_at': entry.meta.get('accepted_at'),
                           'seen': bool(entry.meta.get('seen')
                                        or entry.meta.get('stack_id')
                                        or entry.name in by_name)}
        for c in listed:
            if c['uuid'] not in found:
                found[c['uuid']] = {'name': c.get('name'), 'uuid': c['uuid'],
                                    'size': c.get('node_count') or 0,
                                    'stack_id': c.get('stack_id'),
                                    'seen': True}
        return found

    def _may_be_made(self, c):
        """True if Magnum may still make this cluster it does not know.

        Accepted by the API recently and never seen in Magnum: the
        conductor has not made its row yet (see NOT_MADE_GRACE_SECONDS).
        """
        accepted = c.get('accepted_at')
        return (not c.get('seen') and accepted is not None and
                self.wall() - accepted < NOT_MADE_GRACE_SECONDS * self.scale)

    # -- clusters -----------------------------------------------------------
    def _delete_clusters(self, clusters):
        state = {}
        start = self.clock()
        # A cluster's time starts when its delete is first asked: with at
        # most in_progress being deleted, the last of a fleet wait their
        # turn first (the 1000-cluster cleanup gave its last 72 up, never
        # asked, when every deadline counted from the start). Each may
        # queue behind the others being deleted with it.
        queued = FLEET_DELETE_SECONDS * max(
            0, min(len(clusters), self.in_progress) - 1)
        for uuid, c in clusters.items():
            c['attempts'] = 0
            c['deadline'] = None
            c['next_try'] = start
            state[uuid] = c
        # One list call a round, whatever the number of clusters.
        backoff = Backoff(maximum=10.0)
        reask = min(REASK_SECONDS + REASK_PER_CLUSTER * (len(clusters) - 1),
                    REASK_MAX_SECONDS)
        told = start
        compact = len(clusters) > fleet_mod.COMPACT_OVER
        if compact:
            self.progress('deleting %d clusters, at most %d at a time'
                          % (len(clusters), self.in_progress))
        while state:
            now = self.clock()
            # Asked and not due again: being deleted (or given up).
            deleting = sum(1 for c in state.values()
                           if c['attempts'] and c['next_try'] is None)
            due = sorted((u for u, c in state.items()
                          if c['next_try'] is not None
                          and now >= c['next_try']),
                         key=lambda u: state[u]['next_try'])
            due = due[:max(0, self.in_progress - deleting)]
            # Many clusters (a fleet): the requests go out together,
            # bounded, and the progress is a count.
            outcomes = dict(zip(due, fleet_mod.bounded_map(
                self._ask_delete, due, self.concurrency)))
            for uuid, c in list(state.items()):
                if uuid in outcomes:
                    outcome, error = outcomes[uuid]
                    if outcome == 'gone' and self._may_be_made(c):
                        # Not an attempt: nothing was there to delete.
                        if not c.get('waiting'):
                            c['waiting'] = True
                            self.progress(
                                'cluster %s accepted but not made by '
                                'Magnum yet; waiting to delete it'
                                % c['name'])
                        c['next_try'] = now + NOT_MADE_RETRY_SECONDS
                        continue
                    c['attempts'] += 1
                    c['asked_at'] = now
                    if c['deadline'] is None:
                        c['deadline'] = now + (delete_timeout(
                            c['size'], self.scale) + queued * self.scale)
                    if error:
                        c['last_error'] = error
                    if outcome == 'gone':
                        self._gone('cluster', c['name'], uuid)
                        del state[uuid]
                        continue
                    if outcome == 'deleting':
                        c['seen'] = True
                    if outcome == 'error' and \
                            c['attempts'] < self.max_attempts:
                        c['next_try'] = now + min(
                            2.0 * 2 ** c['attempts'], 60)
                    else:
                        c['next_try'] = None
                    if not compact and self.name_each:
                        self.progress('deleting cluster %s' % c['name'])
            if not state:
                break
            self.sleep(backoff.next())
            now = self.clock()
            if len(clusters) > fleet_mod.COMPACT_OVER and \
                    now - told >= FLEET_PROGRESS_SECONDS:
                told = now
                self.progress('clusters: %d of %d deleted, %d to go'
                              % (len(clusters) - len(state),
                                 len(clusters), len(state)))
            try:
                statuses = self._cluster_statuses(state)
            except cloud_mod.CloudError as e:
                self.result.errors.append(str(e))
                statuses = None
            for uuid, c in list(state.items()):
                if statuses is not None:
                    cur = statuses.get(uuid)
                    if cur is None and self._may_be_made(c):
                        continue
                    if cur is None:
                        self._gone('cluster', c['name'], uuid)
                        del state[uuid]
                        continue
                    c['seen'] = True
                    c['status'] = cur.get('status') or ''
                    c['reason'] = cur.get('status_reason')
                    # DELETE_FAILED, or a cluster that is not deleting
                    # although we asked (Magnum or the driver dropped the
                    # request, e.g. while the create was still running):
                    # ask again, with back-off.
                    # A busy conductor takes its time to start a delete:
                    # asking again too soon would restart Heat's delete.
                    again = c['status'] == 'DELETE_FAILED' or (
                        c['status'] not in ('DELETE_IN_PROGRESS',
                                            'DELETE_COMPLETE') and
                        now - c.get('asked_at', start) >= reask)
                    if again and c['next_try'] is None and \
                            c['attempts'] < self.max_attempts:
                        c['next_try'] = now + min(
                            2.0 * 2 ** c['attempts'], 60)
                        self.progress('cluster %s is %s after a delete '
                                      'request; asking again'
                                      % (c['name'], c['status']))
                given_up = (c['next_try'] is None and
                            c['attempts'] >= self.max_attempts and
                            c.get('status') not in (None,
                                                    'DELETE_IN_PROGRESS'))
                if given_up or (c['deadline'] is not None
                                and now >= c['deadline']):
                    self._left('cluster', c['name'], uuid,
                               c.get('status') or 'unknown',
                               c.get('reason') or c.get('last_error') or
                               'not deleted in time')
                    del state[uuid]

    def _ask_delete(self, uuid):
        """(outcome, error) of one delete request (runs in a thread)."""
        try:
            return self.cloud.delete_cluster(uuid), None
        except cloud_mod.CloudError as e:
            return 'error', str(e)

    def _cluster_statuses(self, state):
        if self.prefix:
            # With details: a leftover's reason is Magnum's status_reason.
            return {c['uuid']: c for c in self.cloud.list_clusters(
                self.prefix, detail=True)}
        out = {}
        for uuid in state:
            c = self.cloud.get_cluster(uuid)
            if c is not None:
                out[uuid] = c
        return out

    # -- stacks -------------------------------------------------------------
    def _delete_stacks(self, clusters):
        stacks = {}
        for c in clusters.values():
            if c.get('stack_id'):
                stacks[c['stack_id']] = c['name']
        for entry in self._journal_entries('stack'):
            if self.names is None:
                stacks[entry.meta.get('id') or entry.name] = entry.name
        if self.prefix and self.names is None:
            self._listed('stack', self.cloud.list_stacks, 'id', 'stack_name',
                         stacks)
        if not stacks:
            return
        # As for clusters: at most in_progress stacks being deleted (72
        # stack deletes sent together stalled Heat's engines on the
        # rehearsal), each stack's time from its first delete request.
        attempts = dict.fromkeys(stacks, 0)
        deadlines = {}
        backoff = Backoff()
        pending = dict(stacks)
        while pending:
            looked = dict(zip(pending, fleet_mod.bounded_map(
                self._look_stack, list(pending), self.concurrency)))
            now = self.clock()
            deleting = sum(1 for sid in pending if looked[sid] is not None
                           and looked[sid].get('stack_status')
                           == 'DELETE_IN_PROGRESS')
            for sid, name in list(pending.items()):
                stack = looked[sid]
                if stack is None:
                    self._gone('stack', name, sid)
                    del pending[sid]
                    continue
                status = stack.get('stack_status')
                if status == 'DELETE_IN_PROGRESS':
                    # Being deleted already (by Magnum, or asked before).
                    deadlines.setdefault(
                        sid, now + delete_timeout(0, self.scale))
                late = sid in deadlines and now >= deadlines[sid]
                if status == 'DELETE_IN_PROGRESS' and not late:
                    continue
                if late or attempts[sid] >= self.max_attempts:
                    self._left('stack', name, sid, status,
                               stack.get('stack_status_reason') or
                               'not deleted in time')
                    del pending[sid]
                    continue
                if deleting >= self.in_progress:
                    continue
                attempts[sid] += 1
                deadlines.setdefault(sid, now + delete_timeout(0, self.scale))
                try:
                    if self.cloud.delete_stack(sid) == 'gone':
                        self._gone('stack', name, sid)
                        del pending[sid]
                    else:
                        deleting += 1
                except cloud_mod.CloudError as e:
                    self.result.errors.append(str(e))
            if pending:
                self.sleep(backoff.next())

    def _look_stack(self, sid):
        """A stack, None when gone (runs in a thread)."""
        try:
            return self.cloud.get_stack(sid)
        except cloud_mod.CloudError as e:
            self.result.errors.append(str(e))
            return {'stack_status': 'UNKNOWN'}

    # -- application credentials ---------------------------------------------
    def _delete_app_credentials(self, clusters):
        marks = set(c['uuid'] for c in clusters.values())
        journaled = {}
        prefix = self.prefix
        if self.names is None:
            journaled = {e.meta.get('id') or e.name: e.name
                         for e in self._journal_entries('appcred')}
        else:
            prefix = None
        if not (marks or journaled or prefix):
            return
        try:
            creds = self.cloud.list_app_credentials()
        except cloud_mod.CloudError as e:
            self._unlisted('appcred', 'application credentials: %s' % e)
            return
        for cred in creds:
            text = '%s %s' % (cred.get('name') or '',
                              cred.get('description') or '')
            ours = (cred['id'] in journaled or
                    cred.get('name') in journaled.values() or
                    any(m in text for m in marks) or
                    (prefix and (cred.get('name') or '').startswith(
                        prefix)))
            if not ours:
                continue
            try:
                self.cloud.delete_app_credential(cred['id'])
                self._gone('appcred', cred.get('name'), cred['id'])
            except cloud_mod.CloudError as e:
                self._left('appcred', cred.get('name'), cred['id'],
                           'present', str(e))
        failed = {x['name'] for x in self.result.leftovers
                  if x['kind'] == 'appcred'}
        for entry in self._journal_entries('appcred'):
            if self.names is None and entry.name not in failed:
                # Journaled but not listed any more: gone.
                self._forget('appcred', entry.name)

    # -- templates -----------------------------------------------------------
    def _delete_templates(self):
        templates = {}
        for entry in self._journal_entries('template'):
            templates[entry.meta.get('uuid') or entry.name] = entry.name
        if self.prefix:
            self._listed('template', self.cloud.list_templates, 'uuid',
                         'name', templates)
        backoff = Backoff()
        deadline = self.clock() + 120 * self.scale
        pending = dict(templates)
        while pending:
            last = {}
            for ident, name in list(pending.items()):
                try:
                    if self.cloud.delete_template(ident):
                        self._gone('template', name, ident)
                        del pending[ident]
                except cloud_mod.CloudError as e:
                    last[ident] = str(e)
            if not pending:
                break
            if self.clock() >= deadline:
                for ident, name in pending.items():
                    self._left('template', name, ident, 'present',
                               last.get(ident, 'not deleted in time'))
                break
            self.sleep(backoff.next())

    # -- everything -----------------------------------------------------------
    def _other_kinds(self, final=False):
        """Remove resources of other phases through their own code.

        These are the load phase's processes and Kubernetes namespaces.
        Called before the clusters are deleted (a namespace needs its
        cluster) and again after (what lived in a deleted cluster is gone
        with it).
        """
        if self.journal is None or self.names is not None:
            return
        known = ('cluster', 'stack', 'appcred', 'template')
        others = [e for e in self.journal.pending() if e.kind not in known]
        if not others:
            return
        clusters_left = any(x['kind'] == 'cluster'
                            for x in self.result.leftovers)
        for entry in others:
            try:
                gone = load_phase.cleanup_resource(entry.kind, entry.name,
                                                   entry.meta)
                error = 'still present'
            except Exception as e:
                gone = False
                error = cloud_mod.one_line(e)
            if not gone and final and entry.kind == 'namespace' and \
                    not clusters_left:
                # It lived in one of the run's clusters, all deleted now.
                gone = True
            if gone:
                self._gone(entry.kind, entry.name, entry.meta.get('id'))
            elif final:
                self._left(entry.kind, entry.name, entry.meta.get('pid') or
                           entry.meta.get('id'), 'unknown',
                           '%s; remove it by hand' % error)

    def run(self):
        self._other_kinds()
        try:
            clusters = self._clusters()
        except cloud_mod.CloudError as e:
            # Nothing can be called clean: everything journaled stays (and
            # is listed), and the unlisted clusters are a leftover too.
            self._unlisted('cluster', e)
            for entry in (self.journal.pending() if self.journal else []):
                self._left(entry.kind, entry.name,
                           entry.meta.get('uuid') or entry.meta.get('id'),
                           'unknown', 'not checked: cannot list clusters')
            return self.result
        self._delete_clusters(dict(clusters))
        self._delete_stacks(clusters)
        self._delete_app_credentials(clusters)
        if self.names is not None:
            return self.result
        if not any(x['kind'] == 'cluster' for x in self.result.leftovers):
            self._delete_templates()
        else:
            for entry in self._journal_entries('template'):
                self._left('template', entry.name, entry.meta.get('uuid'),
                           'present', 'kept: clusters using it are left')
        self._other_kinds(final=True)
        return self.result


def cleanup(cloud, journal=None, prefix=None, **kwargs):
    """Delete everything of a run; returns a :class:`Result`."""
    return Cleaner(cloud, journal=journal, prefix=prefix, **kwargs).run()


# -- every stale run ---------------------------------------------------------

def age_filter(hours, now=None):
    """Select items created ``hours`` ago or earlier.

    An item of unknown age is selected only when ``hours`` is 0.
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)

    def select(item):
        created = cloud_mod.parse_time(item.get('created_at') or
                                       item.get('creation_time'))
        if created is None:
            return hours == 0
        return (now - created).total_seconds() >= hours * 3600.0
    return select


def sweep_stale(cloud, target, journal_dir=None, older_than=6.0,
                timeout_scale=1.0, clock=time.monotonic, sleep=time.sleep,
                report=None, warn=None):
    """Clean every finished or crashed run on ``target``.

    First the runs whose journals (in ``journal_dir``) name this target
    and still list resources; then the runs found only by their ``mcst-``
    names, for what is older than ``older_than`` hours. Runs still active
    are left alone.

    :param report: ``report(run_id, result)`` after each run's cleanup.
    :param warn: ``warn(message)`` for a journal that cannot be read.
    :returns: the number of resources left behind.
    """
    report = report or (lambda run_id, result: None)
    warn = warn or (lambda message: None)
    leftovers = 0
    active = set()
    done = set()
    for path in journal_mod.find_journals(journal_dir):
        try:
            j = journal_mod.Journal.read(path)
        except journal_mod.JournalError as e:
            warn(str(e))
            continue
        if j.is_active():
            active.add(j.run_id)
            continue
        if j.ended and not j.pending():
            continue
        if (j.target or {}).get('kind') != target.get('kind') or \
                (j.target or {}).get('name') != target.get('name'):
            continue
        journal = journal_mod.Journal(path, j.run_id)
        res = Cleaner(
            cloud, journal=journal,
            prefix=journal_mod.name_prefix(j.run_id),
            timeout_scale=timeout_scale, sleep=sleep, clock=clock).run()
        report(j.run_id, res)
        if not res.leftovers:
            journal.end()
        journal.close()
        leftovers += len(res.leftovers)
        done.add(j.run_id)
    found = set()
    for c in cloud.list_clusters(journal_mod.NAME_PREFIX):
        found.add(journal_mod.run_id_of(c.get('name')))
    for t in cloud.list_templates(journal_mod.NAME_PREFIX):
        found.add(journal_mod.run_id_of(t.get('name')))
    for s in cloud.list_stacks(journal_mod.NAME_PREFIX):
        found.add(journal_mod.run_id_of(s.get('stack_name')))
    for run_id in sorted(r for r in found if r):
        if run_id in active or run_id in done:
            continue
        res = Cleaner(
            cloud, prefix=journal_mod.name_prefix(run_id),
            timeout_scale=timeout_scale, sleep=sleep, clock=clock,
            select=age_filter(older_than)).run()
        report(run_id, res)
        leftovers += len(res.leftovers)
    return leftovers
