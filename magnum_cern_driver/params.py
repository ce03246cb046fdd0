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
"""Cluster, template, nodegroups and labels -> Heat stack (pure).

:func:`inputs_from_magnum` copies what we need out of Magnum objects into
plain data; :func:`build_stack` turns that and the site's
:class:`BuildOptions` into a :class:`StackSpec` (template, files,
parameters, environment files). Nothing here talks to a service or reads a
file (the caller reads the CA bundle), so every mapping is testable
without one.
"""

import dataclasses
import functools
import json
import re

from magnum_cern_driver import capacity
from magnum_cern_driver import labels as labels_mod
from magnum_cern_driver import render
from magnum_cern_driver import userdata

MASTER_ROLE = 'master'
#: Most workers in one shard: ``[cern_driver] worker_shard_size`` is held
#: to it, and worker_shard.yaml's ``count`` constraint states it for Heat
#: (test_render ties the two).
MAX_SHARD_SIZE = 500


class InvalidInput(ValueError):
    """The cluster request cannot be mapped onto a stack (names the field)."""


@dataclasses.dataclass
class NodeGroupInputs:
    name: str
    role: str
    node_count: int
    flavor_id: str
    image_id: str
    labels: dict = dataclasses.field(default_factory=dict)
    docker_volume_size: int = 0
    min_node_count: int = 0
    max_node_count: int = None
    is_default: bool = False

    @property
    def is_master(self):
        return self.role == MASTER_ROLE


@dataclasses.dataclass
class ClusterInputs:
    name: str
    uuid: str
    stack_name: str
    nodegroups: list
    labels: dict = dataclasses.field(default_factory=dict)
    keypair: str = ''
    external_network: str = ''
    fixed_network: str = ''
    fixed_subnet: str = ''
    dns_nameserver: str = ''
    server_type: str = 'vm'
    master_lb_enabled: bool = False
    floating_ip_enabled: bool = False
    apiserver_port: int = 6443
    create_timeout: int = None      # minutes
    # master.yaml's readiness count (None: as the stack has it; see
    # master_generation())
    master_generation: int = None

    def master_nodegroup(self):
        for ng in self.nodegroups:
            if ng.is_master:
                return ng
        raise InvalidInput('cluster %s has no master nodegroup' % self.name)

    def worker_nodegroups(self):
        return [ng for ng in self.nodegroups if not ng.is_master]


class Secrets:
    """Secret values for node user data. Never printed (see __repr__)."""

    FIELDS = ('ca_cert', 'ca_key', 'ca_cert_hash', 'bootstrap_token',
              'app_cred_id', 'app_cred_secret', 'auth_url',
              # Masters only: the other shared control-plane keys (Magnum's
              # etcd and front-proxy CAs; the key of its client certificate
              # serves as the service-account signing key).
              'etcd_ca_cert', 'etcd_ca_key', 'front_proxy_ca_cert',
              'front_proxy_ca_key', 'sa_key')
    MASTER_ONLY = ('ca_key', 'etcd_ca_cert', 'etcd_ca_key',
                   'front_proxy_ca_cert', 'front_proxy_ca_key', 'sa_key',
                   'app_cred_id', 'app_cred_secret')

    def __init__(self, **kwargs):
        unknown = set(kwargs) - set(self.FIELDS)
        if unknown:
            raise TypeError('unknown secret fields: %s'
                            % ', '.join(sorted(unknown)))
        for field in self.FIELDS:
            setattr(self, field, kwargs.get(field) or '')

    def __repr__(self):
        present = [f for f in self.FIELDS if getattr(self, f)]
        return '<Secrets %s (values hidden)>' % ','.join(present)

    __str__ = __repr__

    def for_role(self, role):
        """The secrets a node of ``role`` may see (no CA key on workers)."""
        values = {f: getattr(self, f) for f in self.FIELDS}
        if role != MASTER_ROLE:
            for f in self.MASTER_ONLY:
                values.pop(f)
        return values


@dataclasses.dataclass(frozen=True)
class BuildOptions:
    """The site's settings :func:`build_stack` uses.

    :meth:`from_conf` takes them from the ``[cern_driver]`` options; the
    CA bundle is the text of ``ca_bundle_file``, read by the caller.
    """
    worker_shard_size: int = 50
    default_labels: dict = dataclasses.field(default_factory=dict)
    unknown_labels: str = 'warn'            # or 'reject'
    environment_files: tuple = ()
    registry_mirror: str = ''
    region_name: str = 'RegionOne'
    ca_bundle: str = None                   # PEM text, or None

    @classmethod
    def from_conf(cls, group, ca_bundle=None):
        """The options of a ``[cern_driver]`` group (no file is read)."""
        return cls(worker_shard_size=group.worker_shard_size,
                   default_labels=dict(group.default_labels or {}),
                   unknown_labels=group.unknown_labels,
                   environment_files=tuple(group.environment_files or ()),
                   registry_mirror=group.registry_mirror or '',
                   region_name=group.region_name or 'RegionOne',
                   ca_bundle=ca_bundle)


@dataclasses.dataclass
class StackSpec:
    stack_name: str
    template: dict
    files: dict
    parameters: dict
    environment_files: list
    hidden_parameters: frozenset
    # nodegroup name -> list of shard counts (the layout built)
    shard_counts: dict
    # nodegroup name -> validated labels
    labels: dict


def stack_name_for(cluster_name, cluster_uuid):
    """``<name>-<uuid prefix>``: unique, hostname-safe, at most 50 chars."""
    base = render.host_safe(cluster_name)[:40].strip('-') or 'cluster'
    return '%s-%s' % (base, cluster_uuid.replace('-', '')[:8])


def nodegroup_key(name):
    return render.nodegroup_key(name)


def server_prefix(stack_name, nodegroup_name):
    return '%s-%s' % (stack_name, render.host_safe(nodegroup_name))


def parse_node_name(stack_name, nodegroup_name, server_name):
    """``(shard, member index)`` of a worker server name, or None."""
    prefix = re.escape(server_prefix(stack_name, nodegroup_name))
    m = re.fullmatch(prefix + r'-([0-9]+)-([0-9]+)', server_name or '')
    if not m:
        return None
    return int(m.group(1)), int(m.group(2))


def fresh_layout(node_count, shard_size):
    """Fresh layout: full shards of ``shard_size`` and one remainder."""
    if node_count < 0:
        raise InvalidInput('node_count must be >= 0')
    if not 1 <= shard_size <= MAX_SHARD_SIZE:
        raise InvalidInput('worker_shard_size must be 1..%d' % MAX_SHARD_SIZE)
    full, rest = divmod(node_count, shard_size)
    counts = [shard_size] * full
    if rest:
        counts.append(rest)
    return counts


def plan_resize(current, new_total, remove=None, shard_size=50):
    """New shard counts for a resize; touches as few shards as possible.

    :param current: current count of every shard.
    :param new_total: the nodegroup's new node count.
    :param remove: {shard index: [member indexes]} named for removal
        (``nodes_to_remove``); those shards shrink by that many first.
    :returns: the new list of shard counts (never shorter than
        ``current``: emptied shards stay, at 0, so their members' names and
        removal history are kept).
    """
    remove = remove or {}
    counts = list(current)
    for shard, members in remove.items():
        if shard >= len(counts):
            raise InvalidInput('no shard %d to remove nodes from' % shard)
        if len(members) > counts[shard]:
            raise InvalidInput('shard %d has only %d nodes'
                               % (shard, counts[shard]))
        counts[shard] -= len(members)
    total = sum(counts)
    if new_total < 0:
        raise InvalidInput('node_count must be >= 0')
    if total > new_total:
        # Shrink from the last shards: they are the youngest.
        excess = total - new_total
        for i in range(len(counts) - 1, -1, -1):
            take = min(excess, counts[i])
            counts[i] -= take
            excess -= take
            if not excess:
                break
    elif total < new_total:
        # Grow: fill shards that have room, last first, then open new ones.
        missing = new_total - total
        for i in range(len(counts) - 1, -1, -1):
            room = max(0, shard_size - counts[i])
            add = min(room, missing)
            counts[i] += add
            missing -= add
            if not missing:
                break
        while missing:
            add = min(shard_size, missing)
            counts.append(add)
            missing -= add
    return counts


def inputs_from_magnum(cluster, cluster_template):
    """Copy what the mapping needs out of Magnum objects.

    No I/O beyond what the objects already hold.
    """
    nodegroups = []
    for ng in cluster.nodegroups:
        nodegroups.append(NodeGroupInputs(
            name=ng.name,
            role=ng.role,
            node_count=ng.node_count,
            flavor_id=ng.flavor_id or (
                cluster.master_flavor_id if ng.role == MASTER_ROLE
                else cluster.flavor_id),
            image_id=ng.image_id or cluster_template.image_id,
            labels=dict(ng.labels or {}),
            docker_volume_size=(ng.docker_volume_size
                                or cluster.docker_volume_size or 0),
            min_node_count=ng.min_node_count or 0,
            max_node_count=ng.max_node_count,
            is_default=bool(ng.is_default),
        ))
    return ClusterInputs(
        name=cluster.name,
        uuid=cluster.uuid,
        stack_name=stack_name_for(cluster.name, cluster.uuid),
        nodegroups=nodegroups,
        labels=dict(cluster.labels or {}),
        keypair=cluster.keypair or '',
        external_network=cluster_template.external_network_id or '',
        fixed_network=cluster.fixed_network or '',
        fixed_subnet=cluster.fixed_subnet or '',
        dns_nameserver=cluster_template.dns_nameserver or '',
        server_type=cluster_template.server_type or 'vm',
        master_lb_enabled=bool(cluster.master_lb_enabled),
        floating_ip_enabled=bool(cluster.floating_ip_enabled),
        apiserver_port=int(cluster_template.apiserver_port or 6443),
        create_timeout=cluster.create_timeout,
    )


def validate_labels(inputs, nodegroup, options, warn=None):
    """Typed labels of one nodegroup: cluster labels, then its own.

    :param options: :class:`BuildOptions` (only ``default_labels`` and
        ``unknown_labels`` are read).
    """
    merged = dict(inputs.labels)
    merged.update(nodegroup.labels)
    try:
        return labels_mod.validate(merged, defaults=options.default_labels,
                                   unknown=options.unknown_labels,
                                   warn=warn)
    except labels_mod.InvalidLabel as e:
        raise InvalidInput('nodegroup %s: %s' % (nodegroup.name, e))


def check_node_count(name, node_count, min_node_count=0,
                     max_node_count=None):
    """Refuse a node count outside nodegroup ``name``'s bounds.

    The one check of the bounds: :func:`build_stack` applies it to every
    nodegroup, the driver to a resize before it drains anything.

    :raises InvalidInput: naming the nodegroup and the bound.
    """
    if node_count < 0:
        raise InvalidInput('nodegroup %s: node_count must be >= 0' % name)
    if max_node_count is not None and node_count > max_node_count:
        raise InvalidInput('nodegroup %s: node_count %d above '
                           'max_node_count %d'
                           % (name, node_count, max_node_count))
    if node_count < (min_node_count or 0):
        raise InvalidInput('nodegroup %s: node_count %d below '
                           'min_node_count %d'
                           % (name, node_count, min_node_count))


def _check_nodegroups(inputs):
    names = set()
    keys = {}
    masters = 0
    for ng in inputs.nodegroups:
        if ng.name in names:
            raise InvalidInput('duplicate nodegroup name %s' % ng.name)
        names.add(ng.name)
        key = nodegroup_key(ng.name)
        if key in keys:
            raise InvalidInput('nodegroup names %s and %s map to the same '
                               'Heat resource key' % (keys[key], ng.name))
        keys[key] = ng.name
        masters += ng.is_master
        if not ng.flavor_id:
            raise InvalidInput(
                'nodegroup %s has no flavor: set %s on the cluster template '
                'or the cluster' % (ng.name, 'master_flavor_id'
                                    if ng.is_master else 'flavor_id'))
        if not ng.image_id:
            raise InvalidInput('nodegroup %s has no image: set image_id on '
                               'the cluster template' % ng.name)
        check_node_count(ng.name, ng.node_count, ng.min_node_count,
                         ng.max_node_count)
    if masters != 1:
        raise InvalidInput('a cluster needs exactly one master nodegroup, '
                           'found %d' % masters)


def total_nodes(inputs):
    """Nodes of every nodegroup, masters included."""
    return sum(max(0, ng.node_count or 0) for ng in inputs.nodegroups)


def _check_capacity(inputs, master_labels):
    try:
        capacity.check_nodes(total_nodes(inputs), master_labels,
                             creates_subnet=not inputs.fixed_network)
    except capacity.CapacityError as e:
        raise InvalidInput(str(e))


def check_capacity(inputs, options, warn=None):
    """Refuse a cluster shape its networks cannot hold (InvalidInput).

    The networks are the master nodegroup's (the cluster's) labels, as
    :func:`build_stack` uses them; a caller that is about to do something
    irreversible (drain nodes) checks this first.

    :param options: as for :func:`validate_labels`.
    """
    master = inputs.master_nodegroup()
    _check_capacity(inputs, validate_labels(inputs, master, options, warn))


def octavia_fronts_api(inputs, master_labels):
    """True if an Octavia load balancer provides the API endpoint.

    ``master_lb_enabled`` (the cluster's field or the label) asks for an
    HA endpoint (Magnum's API requires it for more than one master);
    ``master_lb_type`` says how: a keepalived-held VIP port (``vip``) or
    Octavia (``octavia``).
    """
    ha = master_labels['master_lb_enabled'] or inputs.master_lb_enabled
    return bool(ha) and master_labels['master_lb_type'] == 'octavia'


def _facts(inputs, ng, master_count, master_lb_enabled):
    return {
        'master_lb_enabled': bool(master_lb_enabled),
        'cluster_uuid': inputs.uuid,
        'cluster_name': inputs.stack_name,
        'nodegroup_name': ng.name,
        'kube_api_port': inputs.apiserver_port,
        'docker_volume_size': ng.docker_volume_size,
        'server_type': inputs.server_type,
        'master_count': master_count,
    }


def build_stack(inputs, secrets, options, shard_counts=None, removals=None,
                user_data=None, warn=None):
    """Map ``inputs`` onto a :class:`StackSpec`.

    :param options: the site's :class:`BuildOptions`.
    :param shard_counts: {nodegroup name: [count per shard]} of the stack
        as it is (a resize keeps that layout); None builds a fresh layout.
    :param removals: {nodegroup name: {shard: [member index]}} to remove.
    :param user_data: callable like :func:`userdata.render`; defaults to it
        (a parameter only so the budget can count without rendering).
    """
    if user_data is None:
        user_data = userdata.render
    _check_nodegroups(inputs)
    shard_counts = shard_counts or {}
    removals = removals or {}
    ca_bundle = options.ca_bundle

    master = inputs.master_nodegroup()
    master_labels = validate_labels(inputs, master, options, warn)
    if not 1 <= master.node_count <= 7:
        raise InvalidInput('master count must be 1..7, got %d'
                           % master.node_count)
    _check_capacity(inputs, master_labels)
    layout = []
    counts_by_ng = {}
    labels_by_ng = {master.name: master_labels}
    for ng in inputs.worker_nodegroups():
        current = shard_counts.get(ng.name)
        if current is None:
            counts = fresh_layout(ng.node_count, options.worker_shard_size)
        else:
            counts = plan_resize(current, ng.node_count,
                                 removals.get(ng.name),
                                 options.worker_shard_size)
        counts_by_ng[ng.name] = counts
        layout.append((nodegroup_key(ng.name), ng.name,
                       server_prefix(inputs.stack_name, ng.name),
                       len(counts)))
    template = render.root_template(layout)

    node_options = {'registry_mirror': options.registry_mirror or ''}
    if options.region_name:
        node_options['region_name'] = options.region_name
    # Heat's master_lb_enabled and the nodes' fact both mean "Octavia
    # fronts the API" (else keepalived holds the VIP port on the masters).
    lb = octavia_fronts_api(inputs, master_labels)
    parameters = {
        'cluster_name': inputs.stack_name,
        'cluster_uuid': inputs.uuid,
        'external_network': inputs.external_network,
        'fixed_network': inputs.fixed_network,
        'fixed_subnet': inputs.fixed_subnet,
        'fixed_subnet_cidr': master_labels['fixed_subnet_cidr'],
        'dns_nameservers': inputs.dns_nameserver,
        'pod_cidr': master_labels['flannel_network_cidr'],
        'keypair': inputs.keypair,
        'master_count': master.node_count,
        'master_flavor': master.flavor_id,
        'master_image': master.image_id,
        'master_availability_zone': master_labels['availability_zone'],
        'master_lb_enabled': bool(lb),
        'floating_ip_enabled': bool(inputs.floating_ip_enabled),
        'kube_api_port': inputs.apiserver_port,
        # master.yaml gives masters no container volume: their storage
        # follows container_storage_device whatever docker_volume_size says
        # (a master waiting for a volume that never comes would hang).
        'master_user_data': user_data(
            MASTER_ROLE, master_labels,
            dict(_facts(inputs, master, master.node_count, lb),
                 docker_volume_size=0),
            secrets.for_role(MASTER_ROLE), ca_bundle, **node_options),
    }
    if inputs.create_timeout:
        parameters['master_ready_timeout'] = int(inputs.create_timeout) * 60
    if inputs.master_generation is not None:
        parameters['master_generation'] = int(inputs.master_generation)
    hidden = {'master_user_data'}
    for ng in inputs.worker_nodegroups():
        key = nodegroup_key(ng.name)
        ng_labels = validate_labels(inputs, ng, options, warn)
        labels_by_ng[ng.name] = ng_labels
        p = functools.partial(render.nodegroup_param, key)
        parameters.update({
            p('flavor'): ng.flavor_id,
            p('image'): ng.image_id,
            p('availability_zone'): ng_labels['availability_zone'],
            p('docker_volume_size'): ng.docker_volume_size,
            p('max_batch_size'): ng_labels['max_batch_size'],
            p('user_data'): user_data(
                'worker', ng_labels,
                _facts(inputs, ng, master.node_count, lb),
                secrets.for_role('worker'), ca_bundle, **node_options),
        })
        hidden.add(p('user_data'))
        for i, count in enumerate(counts_by_ng[ng.name]):
            parameters[render.shard_param(key, i, 'count')] = count
        for shard, members in (removals.get(ng.name) or {}).items():
            parameters[render.shard_param(key, shard, 'removal')] = [
                {'resource_list': [str(m) for m in members]}]
    return StackSpec(
        stack_name=inputs.stack_name,
        template=template,
        files=render.nested_files(),
        parameters=parameters,
        environment_files=list(options.environment_files or ()),
        hidden_parameters=frozenset(hidden),
        shard_counts=counts_by_ng,
        labels=labels_by_ng,
    )


#: Labels a built stack keeps: {label: stack parameter}. Changing them
#: would re-address the cluster (a new pod network on every port, a new
#: subnet, or the API endpoint swapped between a VIP port and Octavia).
BUILT_WITH = (('flannel_network_cidr', 'pod_cidr'),
              ('fixed_subnet_cidr', 'fixed_subnet_cidr'))


def keep_built(inputs, stack_parameters):
    """Hold ``inputs`` to the networks and API endpoint of a built stack.

    For labels the cluster does not set itself, the value the stack was
    built with wins over site or package defaults, which may have
    changed since (the defaults of ``flannel_network_cidr`` and
    ``master_lb_type`` did). Changes ``inputs.labels`` in place.
    """
    for label, param in BUILT_WITH:
        value = stack_parameters.get(param)
        if label not in inputs.labels and value:
            inputs.labels[label] = str(value)
    octavia = stack_parameters.get('master_lb_enabled')
    if 'master_lb_type' not in inputs.labels and octavia is not None:
        inputs.labels['master_lb_type'] = (
            'octavia' if str(octavia).lower() == 'true' else 'vip')
    return inputs


# Declaration of a deleted nodegroup's user data (see retire_hidden).
RETIRED_USER_DATA = {
    'type': 'string', 'hidden': True, 'default': '',
    'description': 'User data of a deleted nodegroup, kept declared and '
                   'empty (Heat encrypted-parameter bookkeeping).'}


def retire_hidden(template, spec_parameters, stack_parameters):
    """Keep declaring the hidden user data of deleted nodegroups, emptied.

    With ``encrypt_parameters_and_properties`` on, Heat 27.0.1 lists every
    hidden parameter in the stack environment's ``encrypted_param_names``
    and a PATCH update never prunes that list
    (heat/engine/service.py ``_prepare_stack_updates``); a hidden parameter
    that leaves the template then breaks every later load of the stack
    (``KeyError`` in heat/objects/raw_template.py ``from_db_object``:
    measured, deleting a nodegroup). So ``template`` (changed in place)
    keeps declaring it; returns ``{name: ''}``, the values that wipe the
    deleted nodegroup's secrets.
    """
    retired = {}
    declared = template.setdefault('parameters', {})
    for name in stack_parameters:
        if (name.startswith('ng_') and name.endswith('_user_data')
                and name not in spec_parameters):
            declared[name] = dict(RETIRED_USER_DATA)
            retired[name] = ''
    return retired


def master_generation(stack_parameters):
    """The masters' generation a stack was built with (1 if it has none).

    Each master's readiness wait condition needs this many signals; an
    upgrade raises it by one (cluster.yaml ``master_generation``).
    """
    try:
        return max(1, int(stack_parameters.get('master_generation') or 1))
    except (TypeError, ValueError):
        return 1


def current_shard_counts(stack_parameters, nodegroup_names):
    """Read the shard layout back from a stack's parameters."""
    result = {}
    for name in nodegroup_names:
        key = nodegroup_key(name)
        counts = []
        i = 0
        while True:
            value = stack_parameters.get(render.shard_param(key, i, 'count'))
            if value is None:
                break
            counts.append(int(value))
            i += 1
        if counts:
            result[name] = counts
    return result


# Diffing: which parameters an update sends (only those that changed, so
# Heat leaves every other resource alone).

def _same(new, old):
    """Compare a parameter we would send with what Heat shows."""
    if old is None:
        return False
    if isinstance(new, bool):
        return str(new).lower() == str(old).lower()
    if isinstance(new, (list, dict)):
        if isinstance(old, str):
            try:
                old = json.loads(old)
            except ValueError:
                return False
        return new == old
    if isinstance(new, (int, float)) and not isinstance(new, bool):
        try:
            return float(new) == float(old)
        except (TypeError, ValueError):
            return False
    return str(new) == str(old)


def changed_parameters(spec, current, resend_hidden=False):
    """Parameters of ``spec`` that differ from the stack's ``current`` ones.

    Hidden parameters Heat already holds are not re-sent (Heat shows them
    masked, and re-sending user data would replace servers) unless
    ``resend_hidden`` (an upgrade, which replaces servers on purpose);
    hidden parameters it does not hold yet (a new nodegroup) are sent.
    """
    changed = {}
    for name, value in spec.parameters.items():
        if name in spec.hidden_parameters:
            if resend_hidden or name not in current:
                changed[name] = value
            continue
        if not _same(value, current.get(name)):
            changed[name] = value
    return changed


def _worker_keys(stack_parameters):
    """Nodegroup keys of the worker nodegroups a stack was built with."""
    suffix = render.shard_param('', 0, 'count')
    return {name[:-len(suffix)] for name in stack_parameters
            if name.endswith(suffix)}


def layout_changed(layout, spec, stack_parameters, nodegroup_names):
    """True if ``spec`` needs another template than the stack's.

    :param layout: the stack's shard layout (:func:`current_shard_counts`).
    :param nodegroup_names: the worker nodegroups ``spec`` was built for.
    """
    return (set(layout) != set(spec.shard_counts) or any(
        len(layout[n]) != len(spec.shard_counts[n]) for n in layout)
        or _worker_keys(stack_parameters) != {
            nodegroup_key(n) for n in nodegroup_names})
