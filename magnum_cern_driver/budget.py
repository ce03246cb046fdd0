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
"""Heat resource budget of a cluster, counted from the real templates.

The stack is rendered exactly as the driver would render it, then the tree
of templates is walked: conditions are evaluated from the parameters,
nested templates are entered with their properties, ResourceGroups are
expanded by their count. Every Heat resource counts once, including the
resources that stand for nested stacks, because that is how Heat counts
against ``max_resources_per_stack``. No service is asked; a unit test
checks this walk against one made with Heat's own engine code.
"""

import dataclasses

from magnum_cern_driver import capacity
from magnum_cern_driver import conf as conf_mod
from magnum_cern_driver import labels as labels_mod
from magnum_cern_driver import params as params_mod
from magnum_cern_driver import render

GROUP = 'OS::Heat::ResourceGroup'


class _Unknown:
    """A value only known at run time (get_attr, get_resource, ...)."""

    def __repr__(self):
        return '<unknown>'


UNKNOWN = _Unknown()


@dataclasses.dataclass
class TemplateCount:
    path: str            # e.g. cluster.yaml/masters/0<master.yaml>
    template: str        # template file name, or '<group of TYPE>'
    resources: int       # resources directly in this template
    children: list = dataclasses.field(default_factory=list)

    def total(self):
        return self.resources + sum(c.total() for c in self.children)

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()


class _Evaluator:
    """Resolve the HOT functions that decide how many resources exist."""

    def __init__(self, tmpl, params):
        self.params = {}
        for name, spec in (tmpl.get('parameters') or {}).items():
            if name in params:
                self.params[name] = params[name]
            elif 'default' in spec:
                self.params[name] = spec['default']
            else:
                self.params[name] = UNKNOWN
        self.cond_defs = tmpl.get('conditions') or {}
        self.conds = {}

    def condition(self, name_or_expr):
        if isinstance(name_or_expr, str):
            if name_or_expr not in self.conds:
                self.conds[name_or_expr] = bool(
                    self.cond(self.cond_defs[name_or_expr]))
            return self.conds[name_or_expr]
        return bool(self.cond(name_or_expr))

    def cond(self, expr):
        if isinstance(expr, bool):
            return expr
        if isinstance(expr, str):
            return self.condition(expr)
        (fn, arg), = expr.items()
        if fn == 'equals':
            a, b = (self.value(x) for x in arg)
            if UNKNOWN in (a, b):
                # a run-time value is never the empty default we test for
                return False
            return _norm(a) == _norm(b)
        if fn == 'not':
            return not self.cond(arg)
        if fn == 'and':
            return all(self.cond(x) for x in arg)
        if fn == 'or':
            return any(self.cond(x) for x in arg)
        if fn == 'get_param':
            return bool(self.value(expr))
        raise ValueError('condition function %s not supported' % fn)

    def value(self, expr):
        if isinstance(expr, dict) and len(expr) == 1:
            (fn, arg), = expr.items()
            if fn == 'get_param':
                if isinstance(arg, list):
                    return UNKNOWN
                return self.params.get(arg, UNKNOWN)
            if fn == 'if':
                cond, yes, no = arg
                return self.value(yes if self.condition(cond) else no)
            if fn in ('get_attr', 'get_resource', 'str_replace',
                      'list_join', 'list_concat', 'yaql'):
                return UNKNOWN
            return {k: self.value(v) for k, v in expr.items()}
        if isinstance(expr, dict):
            return {k: self.value(v) for k, v in expr.items()}
        if isinstance(expr, list):
            return [self.value(v) for v in expr]
        return expr


def _norm(value):
    if isinstance(value, str) and value.lower() in ('true', 'false'):
        return value.lower() == 'true'
    return value


def count_tree(template, parameters, files, name='cluster.yaml',
               path='cluster.yaml'):
    """Count the resources of a template tree (see module doc)."""
    ev = _Evaluator(template, parameters)
    node = TemplateCount(path=path, template=name, resources=0)
    for res_name, res in (template.get('resources') or {}).items():
        cond = res.get('condition')
        if cond is not None and not ev.condition(cond):
            continue
        node.resources += 1
        rtype = res['type']
        props = ev.value(res.get('properties') or {})
        if rtype in files:
            node.children.append(count_tree(
                _parse(files[rtype]), props, files, rtype,
                '%s/%s<%s>' % (path, res_name, rtype)))
        elif rtype == GROUP:
            size = props.get('count', 1)
            if size is UNKNOWN:
                raise ValueError('%s: group count unknown before create'
                                 % res_name)
            member = res['properties']['resource_def']
            mtype = member['type']
            group = TemplateCount(path='%s/%s' % (path, res_name),
                                  template='<group of %s>' % mtype,
                                  resources=int(size))
            if mtype in files:
                mprops = ev.value(member.get('properties') or {})
                for i in range(int(size)):
                    group.children.append(count_tree(
                        _parse(files[mtype]), _index(mprops, i), files,
                        mtype, '%s/%s/%d<%s>' % (path, res_name, i, mtype)))
            node.children.append(group)
    return node


def _index(props, i):
    if isinstance(props, str):
        return props.replace('%index%', str(i))
    if isinstance(props, dict):
        return {k: _index(v, i) for k, v in props.items()}
    if isinstance(props, list):
        return [_index(v, i) for v in props]
    return props


_PARSED = {}


def _parse(text):
    if text not in _PARSED:
        _PARSED[text] = render.parse(text)
    return _PARSED[text]


def _no_user_data(role, labels, facts, secrets, ca_bundle=None, **options):
    # User data does not change the resource count; skip rendering it.
    return ''


def example_inputs(masters, workers, nodegroups=1, labels=None,
                   master_lb_enabled=False, floating_ip_enabled=False,
                   fixed_network='', fixed_subnet=''):
    """ClusterInputs for a cluster of that shape (workers split evenly).

    ``fixed_network`` (and its ``fixed_subnet``) name an existing network:
    the stack then makes no network, subnet or router of its own.
    """
    if masters < 1:
        raise params_mod.InvalidInput('masters must be >= 1')
    if workers < 0:
        raise params_mod.InvalidInput('workers must be >= 0')
    if nodegroups < 1:
        raise params_mod.InvalidInput('nodegroups must be >= 1')
    ngs = [params_mod.NodeGroupInputs('default-master', 'master', masters,
                                      'flavor', 'image')]
    base, extra = divmod(workers, nodegroups)
    for i in range(nodegroups):
        name = 'default-worker' if i == 0 else 'nodegroup-%d' % i
        ngs.append(params_mod.NodeGroupInputs(
            name, 'worker', base + (1 if i < extra else 0), 'flavor',
            'image'))
    return params_mod.ClusterInputs(
        name='budget', uuid='00000000-0000-0000-0000-000000000000',
        stack_name='budget-00000000', nodegroups=ngs,
        labels=dict(labels or {}), master_lb_enabled=master_lb_enabled,
        floating_ip_enabled=floating_ip_enabled,
        external_network='public' if floating_ip_enabled else '',
        fixed_network=fixed_network or '',
        fixed_subnet=fixed_subnet or (fixed_network and 'subnet') or '')


def build_options(shard_size=None, site=None):
    """The :class:`params.BuildOptions` of a count.

    The site's default labels and shard size (``site``: the
    ``[cern_driver]`` group, Magnum's configuration by default), unless
    ``shard_size`` is given; unknown labels are refused; no environment
    files and no CA bundle (neither changes the count).
    """
    if site is None:
        site = conf_mod.CONF.cern_driver
    return params_mod.BuildOptions(
        worker_shard_size=shard_size or site.worker_shard_size,
        default_labels=dict(site.default_labels or {}),
        unknown_labels='reject')


def count(masters, workers, nodegroups=1, labels=None, shard_size=None,
          options=None, master_lb_enabled=False, floating_ip_enabled=False,
          fixed_network=''):
    """The budget of a cluster shape, as a JSON-ready dict.

    :param options: :class:`params.BuildOptions`; by default
        :func:`build_options` of ``shard_size``.
    :param fixed_network: the cluster uses this existing network (no
        per-cluster network, subnet or router).
    """
    if options is None:
        options = build_options(shard_size)
    if labels:
        labels_mod.validate(labels, unknown='reject')
    inputs = example_inputs(masters, workers, nodegroups, labels,
                            master_lb_enabled, floating_ip_enabled,
                            fixed_network=fixed_network)
    spec = params_mod.build_stack(inputs, params_mod.Secrets(), options,
                                  user_data=_no_user_data)
    tree = count_tree(spec.template, spec.parameters, spec.files)
    result = summarise(tree, spec, masters, workers, nodegroups)
    # The networks of those labels (build_stack refused the shape already
    # if they cannot hold it).
    master = inputs.master_nodegroup().name
    result['nodes'] = masters + workers
    result['fixed_network'] = inputs.fixed_network or None
    result.update(capacity.summary(spec.labels[master],
                                   creates_subnet=not inputs.fixed_network))
    return result


def summarise(tree, spec, masters, workers, nodegroups):
    per_template = {}
    largest = None
    for node in tree.walk():
        entry = per_template.setdefault(node.template, {
            'stacks': 0, 'resources': 0, 'largest': 0})
        entry['stacks'] += 1
        entry['resources'] += node.resources
        entry['largest'] = max(entry['largest'], node.resources)
        if largest is None or node.resources > largest.resources:
            largest = node
    total = tree.total()
    shards = sum(len(c) for c in spec.shard_counts.values())
    return {
        'masters': masters,
        'workers': workers,
        'nodegroups': nodegroups,
        'worker_shards': shards,
        'shard_size': max([max(c) for c in spec.shard_counts.values()
                           if c] or [0]),
        'total_resources': total,
        'per_template': per_template,
        'largest_template': largest.template,
        'largest_template_path': largest.path,
        'largest_template_resources': largest.resources,
        'resources_per_worker': (
            round((total - count_fixed(tree)) / workers, 3)
            if workers else None),
        # Heat counts the whole tree against the root stack when it
        # validates, so the setting must cover the total.
        'max_resources_per_stack': total,
    }


def count_fixed(tree):
    """Resources that do not grow with workers.

    Everything outside the worker shards: the root's fixed part and the
    masters.
    """
    fixed = 0
    for node in tree.walk():
        if '_shard_' in node.path:
            continue
        fixed += node.resources
    return fixed - sum(1 for n in tree.children
                       if n.template == 'worker_shard.yaml')


def format_table(result):
    """A human-readable table of :func:`count`'s result."""
    lines = [
        'Heat resource budget: %d masters, %d workers in %d nodegroup(s), '
        '%d worker shard(s) of up to %d' % (
            result['masters'], result['workers'], result['nodegroups'],
            result['worker_shards'], result['shard_size']),
        '',
        '%-34s %8s %10s %8s' % ('template', 'stacks', 'resources',
                                'largest'),
    ]
    for name, entry in sorted(result['per_template'].items()):
        lines.append('%-34s %8d %10d %8d' % (
            name, entry['stacks'], entry['resources'], entry['largest']))
    lines += [
        '',
        'total resources in the stack tree: %d' % result['total_resources'],
        'largest single template: %s (%d resources)' % (
            result['largest_template_path'],
            result['largest_template_resources']),
        'resources per worker: %s' % result['resources_per_worker'],
        'heat.conf [DEFAULT] max_resources_per_stack must be >= %d '
        '(or -1)' % result['max_resources_per_stack'],
    ]
    if 'pod_network_capacity_nodes' in result:
        lines += [
            '',
            'nodes (masters included): %d of at most %d (pod network '
            'holds %d, node subnet %s, Kubernetes\' documented limit %d)' % (
                result['nodes'], result['max_nodes'],
                result['pod_network_capacity_nodes'],
                result['node_subnet_capacity_nodes']
                if result.get('node_subnet_capacity_nodes') is not None
                else 'not ours (fixed network)',
                result['kubernetes_max_nodes']),
        ]
    if result.get('fixed_network'):
        lines.insert(1, 'on the existing network %s: no network, subnet '
                     'or router of its own' % result['fixed_network'])
    return '\n'.join(lines)
