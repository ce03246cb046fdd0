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
"""The periodic status sync of one cluster with its Heat stack.

Magnum's periodic task calls ``Driver.update_cluster_status`` for every
cluster in progress; the driver makes a :class:`HeatPoller` for that one
call (as upstream Magnum's Heat drivers did) and throws it away, so nothing
is kept between polls. The poller reads the stack through ``heat.py``,
maps it through ``status.py`` (pure) and writes the cluster and its
nodegroups; it also reconciles a delete that raced the create (see
docs/lifecycle.md, *Status*).
"""

import datetime
import threading

from magnum.common import exception
from magnum import objects
from magnum.objects import fields
from oslo_config import cfg
from oslo_log import log as logging

from magnum_cern_driver import heat
from magnum_cern_driver import params
from magnum_cern_driver import stall
from magnum_cern_driver import status as status_mod

LOG = logging.getLogger(__name__)
CONF = cfg.CONF
CS = fields.ClusterStatus

# How long a cluster may sit in CREATE_IN_PROGRESS with no Heat stack (the
# conductor crashed between accepting the create and creating the stack)
# before the poll fails it.
STACKLESS_GRACE_SECONDS = 600
# A delete can race the create: Magnum's API accepts a DELETE while the
# conductor is still inside create_cluster, before the stack exists, so
# delete_cluster finds nothing to delete and the stack is created after
# it. The poll reconciles: a stackless cluster being deleted is finished
# only once a create can no longer be making its stack (this long after
# the cluster was created), and a stack that is still not being deleted
# this long after the delete was recorded is deleted then. (Right after
# Heat accepts a DELETE the stack may still show its previous action for
# a moment; a second DELETE would cancel the running one.)
CREATE_REACH_SECONDS = 120
DELETE_REACH_SECONDS = 60
# A stack of at most this many servers is polled with its outputs: Heat
# resolves them from a few resources, cheaper than a second request (a
# token validation, a stack load) when the stack completes, and a small
# stack completes within a few polls, so that second request was a third
# to a half of its Heat traffic. Resolving early caches nothing: Heat
# stores attribute values only once a resource is COMPLETE (heat
# engine/resource.py Resource.store_attributes, openstack-heat 27.0.1).
# Larger stacks are polled without: their outputs load every shard.
POLL_OUTPUTS_MAX_NODES = 10

# Clusters being polled in this process. Magnum's sync starts a new job
# for every cluster in progress every 10 s without waiting for the last
# one (magnum/service/periodic.py sync_cluster_status, magnum 23.0.0): a
# poll slower than that (a loaded Heat or Keystone) ran twice at once,
# doubling its Heat requests, and both saw the stack gone, so Magnum
# destroyed the cluster twice (434 ClusterNotFound tracebacks in the
# 1000-cluster delete). A poll finds its cluster taken and returns.
_POLLING = set()
_POLLING_LOCK = threading.Lock()


def _age_seconds(cluster, field='created_at'):
    """Seconds since the cluster's ``created_at`` (or ``updated_at``)."""
    when = getattr(cluster, field, None)
    if when is None and field == 'updated_at':
        when = getattr(cluster, 'created_at', None)
    if when is None:
        return 0
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return (datetime.datetime.now(datetime.timezone.utc)
            - when).total_seconds()


class HeatPoller:
    """One status poll of one cluster; made per call, keeps nothing.

    :param delete_stack: ``f(context, cluster, api=None, current=None)``
        asks Heat to delete the cluster's stack (the driver's, shared with
        ``delete_cluster``).
    :param forget_credentials: ``f(context, cluster)`` deletes the
        cluster's application credentials (best effort).
    :param coe_version: ``f(cluster)`` -> (kube_tag, containerd_version)
        or (None, None).
    """

    def __init__(self, context, cluster, delete_stack, forget_credentials,
                 coe_version):
        self.context = context
        self.cluster = cluster
        self._delete_stack = delete_stack
        self._forget_credentials = forget_credentials
        self._coe_version = coe_version

    def poll(self):
        """Sync the cluster with its stack. Never raises on trouble.

        Does nothing while another poll of the same cluster runs here.
        """
        uuid = self.cluster.uuid
        with _POLLING_LOCK:
            if uuid in _POLLING:
                LOG.debug('Cluster %s: already being polled', uuid)
                return
            _POLLING.add(uuid)
        try:
            self._poll_once()
        finally:
            with _POLLING_LOCK:
                _POLLING.discard(uuid)

    def _poll_once(self):
        cluster = self.cluster
        try:
            self._poll()
        except Exception as e:
            # Anything escaping here would leave the cluster IN_PROGRESS
            # forever; record it and let the next poll try again.
            LOG.exception('Cluster %s: status poll failed', cluster.uuid)
            try:
                cluster.status_reason = status_mod.transient_reason(
                    type(e).__name__)
                cluster.save()
            except Exception:
                LOG.exception('Cluster %s: cannot save status reason',
                              cluster.uuid)

    def _stack_name(self):
        return params.stack_name_for(self.cluster.name, self.cluster.uuid)

    def _poll(self):
        context, cluster = self.context, self.cluster
        if not cluster.stack_id:
            # create_cluster saves the id as soon as Heat answers the
            # create (driver._publish_stack_id) and deletes the stack
            # itself if a delete was recorded meanwhile; Heat finds no
            # stack by name across projects, so the poll only waits.
            if cluster.status == CS.DELETE_IN_PROGRESS:
                if _age_seconds(cluster) >= CREATE_REACH_SECONDS:
                    self._finish_delete()
            elif (cluster.status == CS.CREATE_IN_PROGRESS
                    and _age_seconds(cluster) >= STACKLESS_GRACE_SECONDS):
                cluster.status = CS.CREATE_FAILED
                cluster.status_reason = status_mod.no_stack_reason(
                    STACKLESS_GRACE_SECONDS)
                cluster.save()
            return
        name = self._stack_name()
        with_outputs = self._outputs_with_poll()
        try:
            api = heat.Heat(context, retries=0)
            stack = api.get_stack(cluster.stack_id, name,
                                  outputs=with_outputs)
        except heat.StackNotFound:
            self._stack_gone()
            return
        except heat.HeatError as e:
            self._note_transient(e)
            return
        stack_status = stack.get('stack_status')
        if (cluster.status == CS.DELETE_IN_PROGRESS
                and not (stack_status or '').startswith('DELETE_')
                and not status_mod.is_in_progress(stack_status)
                and _age_seconds(cluster, 'updated_at')
                >= DELETE_REACH_SECONDS):
            # Settled, not deleting, long after the delete: it was missed.
            # (A stack still in progress may be cancelling for the delete.)
            LOG.warning('Cluster %s: stack %s is %s %d s after the delete; '
                        'the delete missed it, deleting it now',
                        cluster.uuid, cluster.stack_id, stack_status,
                        DELETE_REACH_SECONDS)
            self._delete_stack(context, cluster, api=api, current=stack)
            # Saving moves updated_at: no second DELETE for a while.
            cluster.status_reason = status_mod.DELETE_RESENT_REASON
            cluster.save()
            return
        if stack_status == 'DELETE_COMPLETE':
            self._stack_gone()
            return
        new = status_mod.resolve(cluster.status, stack_status)
        if new is None:
            return
        if status_mod.is_in_progress(new):
            reason = (self._stall_reason(api, stack)
                      or stack.get('stack_status_reason'))
            # Assign only what differs: an assigned field is saved even
            # when equal, and could overwrite a status just recorded by
            # the conductor (e.g. DELETE_IN_PROGRESS).
            if cluster.status != new:
                cluster.status = new
            if cluster.status_reason != reason:
                cluster.status_reason = reason
            if cluster.obj_what_changed():
                cluster.save()
            return
        stall.MONITOR.drop(cluster.stack_id)
        if new.endswith('_FAILED'):
            reason = api.failure_reason(cluster.stack_id, name, stack)
            self._apply_result(new, stack_status, reason, None)
            return
        # Complete: the outputs came with the poll, or are read once now.
        full = stack
        if not with_outputs:
            try:
                full = api.get_stack(cluster.stack_id, name, outputs=True)
            except heat.HeatError as e:
                self._note_transient(e)
                return
        port = int(cluster.cluster_template.apiserver_port or 6443)
        observed = status_mod.from_outputs(
            status_mod.output_map(full),
            [(ng.name, ng.role) for ng in cluster.nodegroups], port)
        self._apply_result(new, stack_status, None, observed)

    def _outputs_with_poll(self):
        """True when this poll should ask Heat for the outputs too.

        Only a small stack that may complete into a state whose outputs
        are read (not a delete): see POLL_OUTPUTS_MAX_NODES.
        """
        cluster = self.cluster
        if (cluster.status or '').startswith('DELETE_'):
            return False
        nodes = sum(ng.node_count or 0 for ng in cluster.nodegroups)
        return nodes <= POLL_OUTPUTS_MAX_NODES

    def _stall_reason(self, api, stack):
        """A 'Stalled: ...' reason if Heat has stopped moving, else None.

        Looks at the in-progress resources only every
        ``stall_check_interval`` (see stall.py); between looks the last
        verdict stands. Heat trouble during a look keeps the last verdict.
        """
        stall_after = CONF.cern_driver.stall_after
        if not stall_after:
            return None
        cluster, monitor = self.cluster, stall.MONITOR
        seen = monitor.get(cluster.stack_id)
        now, now_mono = monitor.clock(), monitor.mono()
        if seen is None:
            # First sight: the first look comes one interval later, so a
            # stack that completes sooner (any small cluster) costs Heat no
            # resource list at all (see stall.first_sight).
            monitor.put(cluster.stack_id, stall.first_sight(now, now_mono))
            return None
        if not stall.due(seen, now, now_mono,
                         CONF.cern_driver.stall_check_interval, stall_after):
            return seen.reason
        try:
            resources = api.in_progress_resources(cluster.stack_id,
                                                  self._stack_name())
        except heat.HeatError as e:
            LOG.warning('Cluster %s: cannot list the resources in progress '
                        'of stack %s: %s', cluster.uuid, cluster.stack_id, e)
            return seen.reason if seen else None
        was_stalled = bool(seen and seen.reason)
        seen = stall.observe(seen, resources, now, now_mono)
        if stall.is_stalled(seen, now, stall_after):
            seen = seen._replace(reason=stall.reason(
                resources, seen.since, now, stack.get('timeout_mins')))
            if not was_stalled:
                LOG.warning('Cluster %s: %s', cluster.uuid, seen.reason)
        elif was_stalled:
            LOG.info('Cluster %s: Heat progresses again on stack %s',
                     cluster.uuid, cluster.stack_id)
        monitor.put(cluster.stack_id, seen)
        return seen.reason

    def _mark_failed(self, reason):
        action, _ = status_mod.split(self.cluster.status)
        new = '%s_FAILED' % (action or 'UPDATE')
        if new not in CS.ALL:
            new = CS.UPDATE_FAILED
        self._apply_result(new, new, reason, None)

    def _delete_began(self):
        """True if a delete started since this poll loaded the cluster.

        Deleting a stack that is being updated makes Heat cancel the update
        ('UPDATE_FAILED') first; a poll that loaded the cluster before the
        conductor recorded DELETE_IN_PROGRESS must not overwrite that with
        the cancelled update's result (Magnum would then stop polling a
        cluster whose stack is going away).
        """
        cluster = self.cluster
        try:
            current = objects.Cluster.get_by_uuid(cluster._context,
                                                  cluster.uuid)
        except exception.ClusterNotFound:
            return True
        return (current.status or '').startswith('DELETE_')

    def _apply_result(self, new, stack_status, reason, observed):
        cluster = self.cluster
        if (not (cluster.status or '').startswith('DELETE_')
                and self._delete_began()):
            LOG.info('Cluster %s: a delete began during this poll; not '
                     'recording %s', cluster.uuid, new)
            return
        for ng in cluster.nodegroups:
            ng_new = status_mod.nodegroup_status(ng.status, stack_status)
            if (ng.status == CS.DELETE_IN_PROGRESS
                    and ng_new == CS.DELETE_COMPLETE):
                ng.destroy()
                continue
            if ng_new:
                ng.status = ng_new
                if ng_new.endswith('_FAILED'):
                    ng.status_reason = reason
                elif not (ng.status_reason or '').startswith(
                        status_mod.DRAIN_NOTE):
                    ng.status_reason = None
            if observed is not None:
                if ng.role == 'master':
                    ng.node_addresses = observed.master_addresses
                elif ng.name in observed.node_addresses:
                    ng.node_addresses = observed.node_addresses[ng.name]
            if not ng.stack_id and cluster.stack_id:
                ng.stack_id = cluster.stack_id
            if ng.obj_what_changed():
                ng.save()
        cluster.status = new
        cluster.status_reason = reason
        if observed is not None:
            cluster.api_address = observed.api_address
            kube, containerd = self._coe_version(cluster)
            if kube:
                cluster.coe_version = kube
                cluster.container_version = containerd
        cluster.save()

    def _note_transient(self, error):
        """Record Heat trouble in the reason; the next poll retries."""
        cluster = self.cluster
        reason = status_mod.transient_reason(error)
        if cluster.status_reason != reason:
            cluster.status_reason = reason
            cluster.save()

    def _stack_gone(self):
        """The stack no longer exists: the delete is done, else a failure."""
        if self.cluster.status == CS.DELETE_IN_PROGRESS:
            self._finish_delete()
        else:
            self._mark_failed(status_mod.missing_stack_reason(
                self.cluster.stack_id))

    def _finish_delete(self):
        # The request user's delete already removed the credentials; this
        # catches any made later (best effort, service credentials).
        cluster = self.cluster
        try:
            objects.Cluster.get_by_uuid(self.context, cluster.uuid)
        except exception.ClusterNotFound:
            # Another poll (a conductor's, or ours from a stale list)
            # finished it and Magnum removed it: nothing left to do, and
            # DELETE_COMPLETE here would make Magnum remove it again.
            LOG.debug('Cluster %s: already removed', cluster.uuid)
            return
        self._forget_credentials(self.context, cluster)
        cluster.status = CS.DELETE_COMPLETE
        cluster.status_reason = None
        cluster.save()
