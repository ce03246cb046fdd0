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
"""Magnum's driver contract, for Heat-built Kubernetes clusters.

Thin on purpose: Magnum objects go to ``params`` (pure) for the stack
definition, to ``heat`` for the calls, back through ``status`` (pure);
the periodic status sync is ``poller``'s.
Magnum makes a new instance for every call and instantiates every driver
just to read ``provides``, so the class keeps no state and ``__init__``
does nothing.

One Heat stack per cluster; nodegroups are resources of that stack (see
docs/lifecycle.md). Every change after create is a PATCH of that stack
with only the parameters that changed, and the template only when the
shard layout changed, so Heat leaves every other shard alone.
"""

import time

from magnum.common import exception
from magnum.drivers.common import driver
from magnum.drivers.common import k8s_scale_manager
from magnum import objects
from magnum.objects import fields
from oslo_config import cfg
from oslo_log import log as logging

from magnum_cern_driver import cluster_secrets
from magnum_cern_driver import conf as cern_conf
from magnum_cern_driver import credentials
from magnum_cern_driver import drain
from magnum_cern_driver import health
from magnum_cern_driver import heat
from magnum_cern_driver import labels as labels_mod
from magnum_cern_driver import params
from magnum_cern_driver import poller
from magnum_cern_driver import refusal as refusal_mod
from magnum_cern_driver import render
from magnum_cern_driver import status as status_mod
from magnum_cern_driver import userdata

LOG = logging.getLogger(__name__)
CONF = cfg.CONF
CS = fields.ClusterStatus
# Seconds before each look for a stack whose create answer was lost:
# Heat stores a stack only after validating its template (seconds for a
# large one on a busy engine).
CREATE_LOOKUP_DELAYS = (0, 5, 10)

_CERT_REFS = cluster_secrets.CERT_REFS


def _opts():
    return CONF[cern_conf.GROUP]


def _error(message):
    """A Magnum exception (allowed over RPC) carrying ``message`` as is."""
    return exception.MagnumException(message=str(message).replace('%', '%%'))


def _warn_label(name):
    LOG.warning('Ignoring unknown label %s', name)


class Driver(driver.Driver):
    """Kubernetes on AlmaLinux, built by Heat, for VMs and baremetal."""

    @property
    def provides(self):
        return [
            {'server_type': 'vm', 'os': 'almalinux', 'coe': 'kubernetes'},
            {'server_type': 'baremetal', 'os': 'almalinux',
             'coe': 'kubernetes'},
        ]

    # ------------------------------------------------------------------
    # helpers

    @staticmethod
    def _stack_name(cluster):
        return params.stack_name_for(cluster.name, cluster.uuid)

    @staticmethod
    def _inputs(cluster, cluster_template=None, exclude=()):
        ct = cluster_template or cluster.cluster_template
        inputs = params.inputs_from_magnum(cluster, ct)
        if exclude:
            inputs.nodegroups = [ng for ng in inputs.nodegroups
                                 if ng.name not in exclude]
        return inputs

    # Secrets for the nodes, and what must never be shown (cluster_secrets).
    _secrets = staticmethod(cluster_secrets.gather)
    _secret_values = staticmethod(cluster_secrets.redaction_values)

    @staticmethod
    def _build(inputs, secrets, shard_counts=None, removals=None):
        opts = _opts()
        ca_bundle = None
        if opts.ca_bundle_file:
            # Read at the edge: params builds the stack without any I/O.
            with open(opts.ca_bundle_file) as f:
                ca_bundle = f.read()
        options = params.BuildOptions.from_conf(opts, ca_bundle=ca_bundle)
        try:
            return params.build_stack(inputs, secrets, options,
                                      shard_counts=shard_counts,
                                      removals=removals, warn=_warn_label)
        except (params.InvalidInput, labels_mod.InvalidLabel,
                userdata.UserDataError) as e:
            # Messages name the field, never a secret value.
            raise exception.InvalidParameterValue(err=str(e))

    @staticmethod
    def _coe_version(cluster):
        try:
            values = labels_mod.validate(
                cluster.labels or {}, defaults=_opts().default_labels,
                unknown='warn')
        except labels_mod.InvalidLabel:
            return None, None
        return values['kube_tag'], values['containerd_version']

    # ------------------------------------------------------------------
    # create

    def create_cluster(self, context, cluster, cluster_create_timeout):
        inputs = self._inputs(cluster)
        if cluster_create_timeout:
            inputs.create_timeout = cluster_create_timeout
        timeout = cluster_create_timeout or _opts().stack_timeout
        # Validate everything (labels, counts, user data) before creating
        # anything.
        secrets = self._secrets(context, cluster)
        self._build(inputs, secrets)
        cred = self._new_credential(context, cluster)
        try:
            secrets.app_cred_id, secrets.app_cred_secret = cred
            spec = self._build(inputs, secrets)
            cluster.stack_id = self._create_stack(context, cluster, spec,
                                                  timeout, secrets)
        except heat.HeatError as e:
            if cred[0]:
                self._forget_credentials(context, cluster)
            if not isinstance(e, heat.HeatTransient) and e.code != 409:
                raise _error('Heat refused to create the cluster stack: %s'
                             % e)
            raise _error('Heat did not create the cluster stack: %s' % e)
        except Exception:
            # Anything else (a HeatError is handled above): no stack, so
            # no credential either.
            if cred[0]:
                self._forget_credentials(context, cluster)
            raise
        LOG.info('Cluster %s: stack %s created (%s)', cluster.uuid,
                 cluster.stack_id, spec.stack_name)
        self._publish_stack_id(context, cluster)

    def _publish_stack_id(self, context, cluster):
        """Save the new stack's id now; delete it if a delete came first.

        Magnum saves the cluster only after create_cluster returns, and the
        status poll (another thread or conductor) follows the stack by this
        id: Heat finds no stack by name across projects
        (``stacks:global_index`` is ``deny_everybody`` by default,
        openstack/heat heat/policies/stacks.py). A DELETE accepted while
        the stack was being made found none to delete and was recorded:
        the stack is deleted here, by the only thread that knows it.
        """
        admin = self._service_context()
        try:
            stored = objects.Cluster.get_by_uuid(admin, cluster.uuid)
        except exception.ClusterNotFound:
            stored = None
        if stored is not None:
            stored.stack_id = cluster.stack_id
            stored.save()
            if stored.status != CS.DELETE_IN_PROGRESS:
                return
        LOG.warning('Cluster %s: deleted while its stack was being made; '
                    'deleting stack %s now', cluster.uuid, cluster.stack_id)
        try:
            self._delete_stack(context, cluster)
        except exception.MagnumException as e:
            # The poll re-sends a missed delete (poller.DELETE_REACH).
            LOG.warning('Cluster %s: %s', cluster.uuid, e)
        if stored is None:
            # Already removed from Magnum: no poll will come for it.
            self._forget_credentials(context, cluster)

    @staticmethod
    def _new_credential(context, cluster):
        """(id, secret) of a new application credential (or Nones if off)."""
        if not _opts().application_credentials:
            return None, None
        try:
            return credentials.create(context, cluster)
        except credentials.CredentialError as e:
            raise _error('Cannot create the cluster\'s application '
                         'credential: %s' % e)

    def _create_stack(self, context, cluster, spec, timeout, secrets):
        """Create the cluster's stack; its id. Sent again only if lost.

        The create may reach Heat and its answer be lost (a time-out while
        Heat validates, a proxy error; a re-sent POST then meets 409
        'already exists'): the stack is then looked up by name (ours: the
        name holds the cluster's uuid) a few times, as Heat stores it only
        after validating, and adopted. Only when Heat shows none is the
        create sent again, at most [cern_driver] heat_api_retries times.
        """
        api = heat.Heat(context)
        attempts = 1 + _opts().heat_api_retries
        for attempt in range(1, attempts + 1):
            try:
                return api.create_stack(
                    spec.stack_name, spec.template, files=spec.files,
                    parameters=spec.parameters,
                    environment_files=spec.environment_files,
                    timeout_mins=timeout,
                    tags=['magnum', 'magnum-cluster-%s' % cluster.uuid],
                    secrets=self._secret_values(secrets, spec))
            except heat.HeatError as e:
                if not isinstance(e, heat.HeatTransient) and e.code != 409:
                    raise
                stack_id = self._await_stack(context, spec.stack_name)
                if stack_id is not None:
                    LOG.warning('Cluster %s: stack create answered %s, but '
                                'stack %s exists; using it', cluster.uuid,
                                e.code or e, stack_id)
                    return stack_id
                if attempt == attempts or e.code == 409:
                    raise
                LOG.warning('Cluster %s: stack create failed (%s) and Heat '
                            'has no stack %s; sending it again (%d of %d)',
                            cluster.uuid, e, spec.stack_name, attempt + 1,
                            attempts)

    def _await_stack(self, context, stack_name):
        """The id of ``stack_name`` once Heat shows it, or None."""
        for delay in CREATE_LOOKUP_DELAYS:
            time.sleep(delay)
            stack_id = self._find_stack(context, stack_name)
            if stack_id is not None:
                return stack_id
        return None

    @staticmethod
    def _find_stack(context, stack_name):
        try:
            return heat.Heat(context).find_stack_id(stack_name)
        except heat.HeatError:
            return None

    def _forget_credentials(self, context, cluster, keep=()):
        if not _opts().application_credentials:
            return
        try:
            credentials.delete_all(context, cluster, keep=keep,
                                   service_context=self._service_context())
        except credentials.CredentialError as e:
            LOG.warning('Cluster %s: application credentials not deleted: '
                        '%s', cluster.uuid, e)

    @staticmethod
    def _service_context():
        from magnum.common import context as m_context
        return m_context.make_admin_context(all_tenants=True)

    # ------------------------------------------------------------------
    # status

    def update_cluster_status(self, context, cluster, use_admin_ctx=False):
        """Sync the cluster with its stack (``poller.py``). Never raises."""
        poller.HeatPoller(context, cluster, self._delete_stack,
                          self._forget_credentials, self._coe_version).poll()

    # ------------------------------------------------------------------
    # updates (one PATCH of the cluster stack)

    def _current(self, api, cluster):
        try:
            return api.get_stack(cluster.stack_id, self._stack_name(cluster),
                                 outputs=False)
        except heat.StackNotFound:
            raise _error('The cluster\'s Heat stack %s no longer exists'
                         % cluster.stack_id)
        except heat.HeatError as e:
            raise _error(e)

    def _members(self, api, cluster, nodegroup):
        """{(shard, member): server id} of a worker nodegroup."""
        key = render.refs_output(params.nodegroup_key(nodegroup.name))
        try:
            value = api.get_output(cluster.stack_id,
                                   self._stack_name(cluster), key)
        except heat.HeatError as e:
            raise _error('Cannot list the nodes of nodegroup %s: %s'
                         % (nodegroup.name, e))
        members = {}
        for shard, refs in enumerate(value or ()):
            for member, server_id in (refs or {}).items():
                members[(shard, int(member))] = server_id
        return members

    def _removals(self, api, cluster, nodegroup, nodes_to_remove):
        """Map nodes_to_remove (names or server ids) onto shard members.

        :returns: ({shard: [member index]}, [node names]).
        :raises InvalidParameterValue: naming every node not found.
        """
        wanted = []
        for node in nodes_to_remove or ():
            if node not in wanted:
                wanted.append(node)
        if not wanted:
            return {}, []
        stack_name = self._stack_name(cluster)
        members = self._members(api, cluster, nodegroup)
        by_id = {server_id: where for where, server_id in members.items()}
        removals, names, unknown = {}, [], []
        for node in wanted:
            where = params.parse_node_name(stack_name, nodegroup.name, node)
            if where is None or where not in members:
                where = by_id.get(node)
            if where is None:
                unknown.append(node)
                continue
            removals.setdefault(where[0], []).append(where[1])
            names.append('%s-%d-%d' % (params.server_prefix(
                stack_name, nodegroup.name), where[0], where[1]))
        if unknown:
            # InvalidParameterValue substitutes err once: no escaping.
            raise exception.InvalidParameterValue(
                err='nodes_to_remove: not nodes of nodegroup %s: %s'
                    % (nodegroup.name, ', '.join(unknown)))
        return removals, names

    def _update_stack(self, context, cluster, inputs, removals=None,
                      api=None, stack=None, secrets=None,
                      resend_hidden=False, new_master_generation=False):
        """PATCH the cluster stack towards ``inputs``; True if sent.

        :param new_master_generation: the masters will be replaced (an
            upgrade): raise ``master_generation`` so that Heat waits for
            each new master's readiness signal before the next.
        """
        api = api or heat.Heat(context)
        stack = stack or self._current(api, cluster)
        current = stack.get('parameters') or {}
        params.keep_built(inputs, current)
        if new_master_generation:
            inputs.master_generation = params.master_generation(current) + 1
        names = [ng.name for ng in inputs.worker_nodegroups()]
        layout = params.current_shard_counts(current, names)
        if secrets is None:
            secrets = self._secrets(context, cluster)
        spec = self._build(inputs, secrets, shard_counts=layout,
                           removals=removals)
        changed = params.changed_parameters(spec, current, resend_hidden)
        for name in spec.hidden_parameters & set(changed):
            if cluster_secrets.PLACEHOLDER[1] in str(changed[name]):
                raise _error('Internal error: parameter %s would carry a '
                             'placeholder credential' % name)
        template_changed = params.layout_changed(layout, spec, current,
                                                 names)
        if not changed and not template_changed:
            return False
        kwargs = {}
        if template_changed:
            changed.update(params.retire_hidden(spec.template,
                                                spec.parameters, current))
            kwargs = dict(template=spec.template, files=spec.files,
                          environment_files=spec.environment_files)
        try:
            api.update_stack(cluster.stack_id, self._stack_name(cluster),
                             parameters=changed,
                             secrets=self._secret_values(secrets, spec),
                             **kwargs)
        except heat.HeatError as e:
            raise _error('Heat refused the update of the cluster stack: %s'
                         % e)
        LOG.info('Cluster %s: stack update sent (%d parameters%s)',
                 cluster.uuid, len(changed),
                 ', new layout' if template_changed else '')
        return True

    @staticmethod
    def _nothing_to_do(cluster, nodegroup=None):
        # No stack update: nothing for the poll to wait for.
        if nodegroup is not None:
            action, _ = status_mod.split(nodegroup.status)
            nodegroup.status = '%s_COMPLETE' % (action or 'UPDATE')
            nodegroup.save()
        cluster.status = CS.UPDATE_COMPLETE
        cluster.save()

    def _check_counts(self, nodegroup, node_count):
        if nodegroup.role == 'master':
            self.validate_master_resize(node_count)
        try:
            params.check_node_count(nodegroup.name, node_count,
                                    nodegroup.min_node_count,
                                    nodegroup.max_node_count)
        except params.InvalidInput as e:
            raise exception.InvalidParameterValue(err=str(e))

    @staticmethod
    def _check_capacity(inputs):
        try:
            params.check_capacity(inputs, params.BuildOptions.from_conf(
                _opts()), warn=_warn_label)
        except params.InvalidInput as e:
            raise exception.InvalidParameterValue(err=str(e))

    def resize_cluster(self, context, cluster, resize_manager, node_count,
                       nodes_to_remove, nodegroup=None):
        nodegroup = nodegroup or cluster.default_ng_worker
        self._check_counts(nodegroup, node_count)
        api = heat.Heat(context)
        stack = self._current(api, cluster)
        inputs = self._inputs(cluster)
        for ng in inputs.nodegroups:
            if ng.name == nodegroup.name:
                ng.node_count = node_count
        # Refuse what the networks cannot hold before draining anything.
        self._check_capacity(
            params.keep_built(inputs, stack.get('parameters') or {}))
        removals, names = self._removals(api, cluster, nodegroup,
                                         nodes_to_remove)
        if names:
            result = drain.drain(context, cluster, names,
                                 _opts().drain_timeout)
            LOG.info('Cluster %s: %s', cluster.uuid, result.message)
            nodegroup.status_reason = status_mod.DRAIN_NOTE + result.message
            nodegroup.save()
        sent = self._update_stack(
            context, cluster, inputs,
            removals={nodegroup.name: removals} if removals else None,
            api=api, stack=stack)
        if not sent:
            LOG.info('Cluster %s: resize of %s changes nothing',
                     cluster.uuid, nodegroup.name)

    def update_cluster(self, context, cluster, scale_manager=None,
                       rollback=False):
        # Magnum's cluster update changes the default worker count only.
        nodegroup = cluster.default_ng_worker
        self._check_counts(nodegroup, nodegroup.node_count)
        self._update_stack(context, cluster, self._inputs(cluster))

    # ------------------------------------------------------------------
    # nodegroups

    def create_nodegroup(self, context, cluster, nodegroup):
        if nodegroup.role == 'master':
            raise exception.NotSupported(
                operation='Adding a master nodegroup (a cluster has exactly '
                          'one)')
        self._check_counts(nodegroup, nodegroup.node_count)
        nodegroup.stack_id = cluster.stack_id
        self._update_stack(context, cluster, self._inputs(cluster))

    def update_nodegroup(self, context, cluster, nodegroup):
        # Magnum's nodegroup update changes min/max only; node counts go
        # through resize. Check the bounds and change Heat only if the
        # stack differs.
        self._check_counts(nodegroup, nodegroup.node_count)
        if not self._update_stack(context, cluster, self._inputs(cluster)):
            self._nothing_to_do(cluster, nodegroup)

    def delete_nodegroup(self, context, cluster, nodegroup):
        if nodegroup.role == 'master' or nodegroup.is_default:
            raise exception.NotSupported(
                operation='Deleting a default nodegroup')
        nodegroup.status = CS.DELETE_IN_PROGRESS
        nodegroup.save()
        if not self._update_stack(context, cluster,
                                  self._inputs(cluster,
                                               exclude=(nodegroup.name,))):
            # Never reached Heat (e.g. created and failed before): gone.
            nodegroup.destroy()
            self._nothing_to_do(cluster)

    # ------------------------------------------------------------------
    # upgrade, rotation

    @staticmethod
    def _rolling_updates_supported():
        """True when the masters and worker groups replace in batches.

        Without a ``rolling_update`` policy Heat replaces every member of
        a group at once when its user data changes: all masters (etcd
        quorum lost) or a whole shard.
        """
        groups = ((render.ROOT, 'masters'),
                  (render.SHARD_TEMPLATE, 'workers'))
        for template, name in groups:
            group = (render.load(template).get('resources') or {}).get(
                name) or {}
            if 'rolling_update' not in (group.get('update_policy') or {}):
                return False
        return True

    def upgrade_cluster(self, context, cluster, cluster_template,
                        max_batch_size, nodegroup, scale_manager=None,
                        rollback=False):
        if not self._rolling_updates_supported():
            raise exception.NotSupported(
                operation='Upgrading: the templates have no rolling update '
                          'policy for masters and workers, so Heat would '
                          'replace every node of a group at once; create a '
                          'new nodegroup or cluster instead. Upgrading')
        kube_tag = (cluster_template.labels or {}).get('kube_tag')
        if kube_tag:
            self._check_upgrade_version(cluster, kube_tag)
        # Returns once Heat accepted the PATCH; the status poll finishes.
        # New user data for the masters needs a credential secret, which
        # is not kept: a fresh credential is made, old ones are deleted
        # when the cluster is deleted or rotated.
        cred = self._new_credential(context, cluster)
        inputs = self._inputs(cluster, cluster_template)
        for ng in inputs.nodegroups:
            ng.labels['max_batch_size'] = str(max_batch_size)
            if kube_tag:
                ng.labels['kube_tag'] = kube_tag
        try:
            secrets = self._secrets(context, cluster, cred)
            self._update_stack(context, cluster, inputs, secrets=secrets,
                               resend_hidden=True, new_master_generation=True)
        except Exception:
            if cred[0]:
                try:
                    credentials.delete(context, cluster, cred[0])
                except credentials.CredentialError as e:
                    LOG.warning('Cluster %s: unused credential not '
                                'deleted: %s', cluster.uuid, e)
            raise
        cluster.cluster_template_id = cluster_template.uuid
        if kube_tag:
            labels = dict(cluster.labels or {})
            labels['kube_tag'] = kube_tag
            cluster.labels = labels

    def _check_upgrade_version(self, cluster, kube_tag):
        """Refuse an unsupported, older or minor-skipping kube_tag.

        Kubernetes' version skew policy: the control plane is upgraded one
        minor at a time, never back. Raises NotSupported: Magnum's
        conductor then leaves the cluster as it was (any other error would
        mark it UPDATE_FAILED).
        """
        try:
            labels_mod.SCHEMA['kube_tag'].parse(kube_tag)
        except labels_mod.InvalidLabel as e:
            raise exception.NotSupported(
                operation='Upgrading to kube_tag %s (%s); such an upgrade'
                          % (kube_tag, e.reason))
        current = ((cluster.labels or {}).get('kube_tag')
                   or cluster.coe_version or self._coe_version(cluster)[0])
        try:
            old = labels_mod.parse_version(current)
        except ValueError:
            LOG.warning('Cluster %s: current Kubernetes version %r unknown; '
                        'not checking the upgrade path', cluster.uuid,
                        current)
            return
        new = labels_mod.parse_version(kube_tag)
        if new < old:
            raise exception.NotSupported(
                operation='Upgrading from Kubernetes %s to %s goes back; '
                          'a downgrade' % (current, kube_tag))
        if new[:2] > (old[0], old[1] + 1):
            raise exception.NotSupported(
                operation='Upgrading from Kubernetes %s to %s skips a minor '
                          '(the control plane moves one minor at a time: '
                          'upgrade to %d.%d first); skipping a minor'
                          % (current, kube_tag, old[0], old[1] + 1))

    def rotate_ca_certificate(self, context, cluster):
        # The conductor stored a new CA before calling us; the nodes cannot
        # follow, so put the references back and drop the new certificates.
        self._undo_new_ca(context, cluster)
        refusal = exception.NotSupported(
            operation='Rotating the CA of a Heat-built cluster (every node '
                      'and kubeconfig would need new certificates; the '
                      'templates install the CA once at boot). CA '
                      'rotation')
        # The conductor records UPDATE_FAILED on any error: undo that too.
        refusal_mod.restore_after_refusal(context, cluster, refusal)
        raise refusal

    _undo_new_ca = staticmethod(cluster_secrets.undo_new_ca)

    def rotate_credential(self, context, cluster):
        raise exception.NotSupported(
            operation='Rotating the application credential of a Heat-built '
                      'cluster (it reaches the masters through their user '
                      'data; changing it would make Heat replace every '
                      'master). Credential rotation')

    # ------------------------------------------------------------------
    # delete

    def delete_cluster(self, context, cluster):
        if not cluster.stack_id:
            # A delete that races the create: the stack may exist already
            # without its id saved on the cluster.
            try:
                stack_id = heat.Heat(context).find_stack_id(
                    self._stack_name(cluster))
            except heat.HeatError as e:
                raise _error('Cannot look up the cluster stack: %s' % e)
            if not stack_id:
                LOG.info('Cluster %s has no stack; nothing to delete in '
                         'Heat', cluster.uuid)
            else:
                # Assign only a found id: the conductor saves this object
                # after we return, and a None would erase the id a create
                # may have saved meanwhile.
                cluster.stack_id = stack_id
        if cluster.stack_id:
            self._delete_stack(context, cluster)
        # Only once Heat took the delete: a refused delete (DELETE_FAILED)
        # must leave the cluster's cloud credential working.
        self._forget_credentials(context, cluster)

    def _delete_stack(self, context, cluster, api=None, current=None):
        """Ask Heat to delete the cluster's stack (unless it is already).

        ``api`` and ``current`` (the stack as just read) spare a caller
        that has them a second client and a second GET.
        """
        try:
            api = api or heat.Heat(context)
            # A second delete request would cancel Heat's running delete
            # ('Stack DELETE cancelled'): leave a running delete alone.
            if current is None:
                try:
                    current = api.get_stack(cluster.stack_id,
                                            self._stack_name(cluster))
                except heat.StackNotFound:
                    current = {}
            if current.get('stack_status') == 'DELETE_IN_PROGRESS':
                LOG.info('Cluster %s: stack %s is already being deleted',
                         cluster.uuid, cluster.stack_id)
                return
            started = api.delete_stack(
                cluster.stack_id, self._stack_name(cluster))
        except heat.HeatError as e:
            raise _error('Heat refused to delete the cluster stack: %s' % e)
        if not started:
            LOG.info('Cluster %s: stack %s already gone', cluster.uuid,
                     cluster.stack_id)

    # ------------------------------------------------------------------
    # Magnum's common helpers; federation

    def get_monitor(self, context, cluster):
        # Magnum's health sync asks every minute for every cluster, also
        # those whose certificates the conductor has not made yet (queued
        # creates): its monitor would fail on the missing CA and log a
        # traceback per cluster. None tells Magnum there is nothing to ask.
        if not cluster.ca_cert_ref:
            return None
        return health.Monitor(context, cluster)

    def get_scale_manager(self, context, osclient, cluster):
        return k8s_scale_manager.K8sScaleManager(context, osclient, cluster)

    def create_federation(self, context, federation):
        raise exception.NotSupported(operation='Federation')

    def update_federation(self, context, federation):
        raise exception.NotSupported(operation='Federation')

    def delete_federation(self, context, federation):
        raise exception.NotSupported(operation='Federation')
