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
"""The ladder plan: reference figures as data, cut at --max-nodes (pure).

The reference tables live next to this module, a file per reference
(``reference.yaml``: CERN 2017, the default; ``reference-cncf.yaml``: the
CNCF 2017 fleet runs), chosen by name (``--reference cncf``) or replaced by
a file of the same format. A plan is a list of :class:`Step`; each builds
``clusters`` clusters of ``size`` worker nodes, keeping ``concurrency`` of
them in flight, and is judged against ``target_minutes``.

A step of a reference may give ``clusters`` (a fleet: more clusters than
are built at once); a reference with such a step is a *fleet reference*,
whose steps are run as written instead of a ladder cut at --max-nodes.
"""

import dataclasses
import json
import math
import os

import yaml

DEFAULT_REFERENCE = os.path.join(os.path.dirname(__file__), 'reference.yaml')
# The packaged references, by the name --reference accepts.
REFERENCES = {
    'cern': DEFAULT_REFERENCE,
    'cncf': os.path.join(os.path.dirname(__file__), 'reference-cncf.yaml'),
}

# A cluster may take this many times its target before we call it timed
# out (then scaled by --timeout-scale), and never less than MIN_TIMEOUT.
TIMEOUT_FACTOR = 3.0
MIN_TIMEOUT_MINUTES = 10.0

# Quota units per cluster besides its nodes (network, subnet, router,
# security groups and their ports), used for the preflight's quota sums.
FIXED_PORTS_PER_CLUSTER = 3


class PlanError(ValueError):
    """Bad plan input; the message is one line for the operator."""


@dataclasses.dataclass(frozen=True)
class Step:
    size: int
    concurrency: int
    clusters: int
    target_minutes: float
    target_source: str = 'reference'
    # A fleet step (clusters beyond the concurrency, or given as a fleet):
    # its clusters are named by step number, its progress is counted.
    fleet: bool = False
    number: int = 0
    # What the reference itself built of ``clusters`` (None: all of them).
    reference_built: int | None = None

    def timeout_minutes(self, scale=1.0):
        base = max(self.target_minutes * TIMEOUT_FACTOR, MIN_TIMEOUT_MINUTES)
        return base * scale

    def as_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Reference:
    name: str
    source: str
    points: tuple   # ((nodes, concurrency, target_minutes), ...) sorted
    # The steps as written, each a dict (nodes, concurrency,
    # target_minutes, and for fleets clusters, built, note).
    steps: tuple = ()

    @property
    def fleet(self):
        """True when the reference's steps are fleets, run as written."""
        return any('clusters' in s for s in self.steps)

    def as_dict(self):
        if self.fleet:
            return {'name': self.name, 'source': self.source,
                    'steps': [dict(s) for s in self.steps]}
        return {'name': self.name, 'source': self.source,
                'steps': [{'nodes': n, 'concurrency': c,
                           'target_minutes': t} for n, c, t in self.points]}


def parse_positive_int(text, what):
    """'1000' -> 1000; anything else raises PlanError (one line)."""
    if isinstance(text, bool):
        raise PlanError('%s must be a positive whole number' % what)
    if isinstance(text, int):
        value = text
    else:
        raw = str(text).strip()
        if not raw.isdigit():
            raise PlanError('%s must be a positive whole number, got %r'
                            % (what, text))
        value = int(raw)
    if value <= 0:
        raise PlanError('%s must be a positive whole number, got %r'
                        % (what, text))
    return value


def parse_sizes(text):
    """'2,16,128' -> [2, 16, 128] (sorted, unique)."""
    parts = [p for p in str(text).replace(' ', '').split(',') if p]
    if not parts:
        raise PlanError('--sizes needs a comma-separated list of node counts')
    return sorted(set(parse_positive_int(p, '--sizes entry') for p in parts))


def load_reference(path=None):
    """Read a reference table (YAML or JSON); the packaged CERN one by default.

    :param path: a file, or the name of a packaged reference
        (:data:`REFERENCES`).
    """
    path = REFERENCES.get(path, path) or DEFAULT_REFERENCE
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise PlanError('cannot read reference file %s: %s'
                        % (path, e.strerror or e))
    try:
        if path.endswith('.json'):
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as e:
        raise PlanError('reference file %s is not valid: %s'
                        % (path, str(e).splitlines()[0]))
    return reference_from_data(data, path)


def reference_from_data(data, origin='<data>'):
    if not isinstance(data, dict) or not isinstance(data.get('steps'), list):
        raise PlanError('reference %s: expected a mapping with a "steps" '
                        'list' % origin)
    points = {}
    steps = []
    for i, step in enumerate(data['steps']):
        try:
            nodes = parse_positive_int(step['nodes'], 'nodes')
            conc = parse_positive_int(step['concurrency'], 'concurrency')
            target = float(step['target_minutes'])
        except (KeyError, TypeError, ValueError) as e:
            raise PlanError('reference %s: step %d needs nodes, concurrency '
                            'and target_minutes (%s)' % (origin, i, e))
        if not target > 0 or math.isinf(target):
            raise PlanError('reference %s: step %d: target_minutes must be '
                            'positive' % (origin, i))
        entry = {'nodes': nodes, 'concurrency': conc,
                 'target_minutes': target}
        if 'clusters' in step:
            entry['clusters'] = _fleet_count(step, 'clusters', origin, i)
            if conc > entry['clusters']:
                raise PlanError('reference %s: step %d: concurrency %d is '
                                'more than its %d clusters'
                                % (origin, i, conc, entry['clusters']))
            if step.get('built') is not None:
                entry['built'] = _fleet_count(step, 'built', origin, i,
                                              zero=True)
            if step.get('note'):
                entry['note'] = str(step['note']).strip()
        steps.append(entry)
        # The first step of a size gives its interpolation point.
        points.setdefault(nodes, (nodes, conc, target))
    if not points:
        raise PlanError('reference %s has no steps' % origin)
    return Reference(name=str(data.get('name', os.path.basename(origin))),
                     source=str(data.get('source', '')).strip(),
                     points=tuple(points[k] for k in sorted(points)),
                     steps=tuple(steps))


def _fleet_count(step, key, origin, i, zero=False):
    value = step.get(key)
    if zero and value == 0:
        return 0
    try:
        return parse_positive_int(value, key)
    except PlanError:
        raise PlanError('reference %s: step %d: %s must be a whole number '
                        '> %s, got %r' % (origin, i, key,
                                          -1 if zero else 0, value))


def target_for(size, reference):
    """(target_minutes, concurrency, source) for any size.

    Exact sizes use the table. Between two sizes the target is interpolated
    linearly and the concurrency is the larger size's (the more careful
    one). Below the table the smallest size's figures apply; above it the
    last two points are extrapolated linearly.
    """
    pts = reference.points
    for n, c, t in pts:
        if n == size:
            return t, c, 'reference'
    if size < pts[0][0]:
        return pts[0][2], pts[0][1], 'smallest reference'
    if size > pts[-1][0]:
        if len(pts) == 1:
            n1, c1, t1 = pts[0]
            return t1 * size / n1, c1, 'extrapolated'
        (n0, _, t0), (n1, c1, t1) = pts[-2], pts[-1]
        slope = (t1 - t0) / float(n1 - n0)
        return round(t1 + slope * (size - n1), 2), c1, 'extrapolated'
    for (n0, _, t0), (n1, c1, t1) in zip(pts, pts[1:]):
        if n0 < size < n1:
            frac = (size - n0) / float(n1 - n0)
            return round(t0 + frac * (t1 - t0), 2), c1, 'interpolated'
    raise AssertionError('unreachable')


def build(max_nodes, reference=None, sizes=None, concurrency=None):
    """The ladder: reference sizes up to max_nodes, and max_nodes itself.

    :param sizes: explicit sizes instead of the table's (each <= max_nodes
        when max_nodes is given).
    :param concurrency: replaces every step's concurrency (and cluster
        count) when given.
    """
    reference = reference or load_reference()
    if max_nodes is not None:
        max_nodes = parse_positive_int(max_nodes, '--max-nodes')
    if reference.fleet:
        return fleet_steps(reference, max_nodes, sizes, concurrency)
    if sizes:
        chosen = sorted(set(sizes))
        if max_nodes is not None:
            over = [s for s in chosen if s > max_nodes]
            if over:
                raise PlanError('--sizes %s exceed --max-nodes %d'
                                % (','.join(map(str, over)), max_nodes))
    else:
        if max_nodes is None:
            raise PlanError('give --max-nodes or --sizes')
        chosen = [n for n, _, _ in reference.points if n <= max_nodes]
        if max_nodes not in chosen:
            chosen.append(max_nodes)
    if concurrency is not None:
        concurrency = parse_positive_int(concurrency, '--concurrency')
    steps = []
    for size in chosen:
        target, conc, source = target_for(size, reference)
        if concurrency is not None:
            conc = concurrency
        steps.append(Step(size=size, concurrency=conc, clusters=conc,
                          target_minutes=target, target_source=source))
    return steps


def fleet_steps(reference, max_nodes=None, sizes=None, concurrency=None):
    """The steps of a fleet reference as written (optionally cut).

    :param max_nodes: drop the steps of larger clusters.
    :param sizes: keep only the steps of these sizes.
    :param concurrency: replaces every step's concurrency; at most the
        step's number of clusters.
    """
    if concurrency is not None:
        concurrency = parse_positive_int(concurrency, '--concurrency')
    steps = []
    for number, entry in enumerate(reference.steps, 1):
        size = entry['nodes']
        if max_nodes is not None and size > max_nodes:
            continue
        if sizes and size not in sizes:
            continue
        clusters = entry.get('clusters', entry['concurrency'])
        conc = entry['concurrency'] if concurrency is None else concurrency
        if conc > clusters:
            raise PlanError('--concurrency %d is more than the %d clusters '
                            'of step %d of reference %s'
                            % (conc, clusters, number, reference.name))
        steps.append(Step(size=size, concurrency=conc, clusters=clusters,
                          target_minutes=entry['target_minutes'],
                          target_source='reference', fleet=True,
                          number=number,
                          reference_built=entry.get('built')))
    if not steps:
        raise PlanError('no step of reference %s is within --max-nodes/'
                        '--sizes' % reference.name)
    return steps


def fleet(clusters, size, reference=None, concurrency=None):
    """One custom fleet step: ``clusters`` clusters of ``size`` nodes.

    ``concurrency`` of them are in flight at once (default: the
    reference's concurrency for that size, at most ``clusters``); the
    target is the reference's for the size (interpolated as in
    :func:`target_for`).
    """
    reference = reference or load_reference()
    clusters = parse_positive_int(clusters, '--fleet')
    size = parse_positive_int(size, '--size')
    target, conc, source = target_for(size, reference)
    if concurrency is not None:
        conc = parse_positive_int(concurrency, '--concurrency')
        if conc > clusters:
            raise PlanError('--concurrency %d is more than the --fleet of '
                            '%d clusters' % (conc, clusters))
    conc = min(conc, clusters)
    return [Step(size=size, concurrency=conc, clusters=clusters,
                 target_minutes=target, target_source=source, fleet=True,
                 number=1)]


def quota_need(steps, masters=1, keep=False, master_flavor=None,
               flavor=None, volumes_per_node=0, volume_gb=0):
    """Peak quota use of the whole ladder (steps run one after another).

    Each step's clusters exist together and are deleted before the next
    step starts (the load phase uses a healthy cluster of the last step).
    With ``keep`` nothing is deleted and everything adds up. Flavors are
    dicts with ``vcpus`` and ``ram`` (MB); unknown flavors leave cores and
    RAM out.
    """
    def per_cluster(size):
        need = {'instances': size + masters,
                'ports': size + masters + FIXED_PORTS_PER_CLUSTER,
                'clusters': 1, 'networks': 1, 'routers': 1,
                'security_groups': 2}
        if volumes_per_node:
            need['volumes'] = (size + masters) * volumes_per_node
            need['gigabytes'] = need['volumes'] * volume_gb
        if flavor and master_flavor:
            need['cores'] = (size * flavor['vcpus']
                             + masters * master_flavor['vcpus'])
            need['ram'] = (size * flavor['ram']
                           + masters * master_flavor['ram'])
        return need

    def add(a, b, times=1):
        out = dict(a)
        for k, v in b.items():
            out[k] = out.get(k, 0) + v * times
        return out

    peak = {}
    total = {}
    for step in steps:
        one = per_cluster(step.size)
        total = add(total, one, step.clusters)
        for k, v in add({}, one, step.clusters).items():
            peak[k] = max(peak.get(k, 0), v)
    return total if keep else peak
