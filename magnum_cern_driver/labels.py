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
"""The label schema: every label the driver understands, and validation.

Label values are typed by any cloud user and end up in shell on every node,
so each label has a type and a whitelist (a choice list or a full-match
pattern over a small alphabet). Each label is declared here once: whether
it reaches the nodes, and the pattern the nodes check its value against
again before use (:func:`node_labels`, :func:`shell_checks`; userdata
generates the node's environment and checks from them). Nothing here does
I/O.
"""

import dataclasses
import re

from magnum_cern_driver import capacity

# Upper bound on any single label value: long enough for every legitimate
# value, short enough that nothing can smuggle a script through.
MAX_VALUE_LENGTH = 255

_VERSION = r'v?[0-9]+\.[0-9]+\.[0-9]+'
_DNS_NAME = r'[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
_HOST = r'%s(\.%s)*' % (_DNS_NAME, _DNS_NAME)
_CIDR4 = r'([0-9]{1,3}\.){3}[0-9]{1,3}/[0-9]{1,2}'
_STORAGE_DEVICE = r'auto|root|/dev/[a-z][a-z0-9]{1,15}'

# Node-side patterns (POSIX ERE for bash's [[ =~ ]]): no wider than the
# alphabet of the value, never wider than the shell can take literally.
_SH_VERSION = r'^v?[0-9]+\.[0-9]+\.[0-9]+$'
_SH_CIDR4 = '^%s$' % _CIDR4
# What a node-side pattern may hold: it travels as one word of a data file
# (no white space, no quotes, nothing else the shell would interpret).
_SHELL_SAFE = re.compile(r'\^[A-Za-z0-9^$()\[\]{}|.*+?,:;/\\_-]*\$')

#: Kubernetes minors the nodes support (kube_tag), inclusive. The nodes
#: write kubeadm's v1beta4 configuration, which kubeadm serves from 1.31
#: (v1beta3 is deprecated there and goes in 1.36); 1.33 is the newest
#: minor the pinned node artifacts and charts were checked against.
KUBE_MINORS = ((1, 31), (1, 33))


#: The EOS instances eosxd-csi 1.3.1 configures (fuse.<name>.conf in
#: ConfigMap eos-csi-dir-etc-eos; cern-eos/eosxd-csi
#: deployments/helm/eosxd-csi/values.yaml @ 0086e638).
EOS_CHART_INSTANCES = (
    'ams', 'atlas', 'cms', 'experiment', 'geant4', 'home-i00', 'home-i01',
    'home-i02', 'home-i03', 'home-i04', 'lhcb', 'media', 'project-i00',
    'project-i01', 'project-i02', 'theory', 'web', 'workspace', 'user',
    'project',
)


class InvalidLabel(ValueError):
    """A label value does not match the schema (names the label)."""

    def __init__(self, name, reason):
        self.label = name
        self.reason = reason
        super().__init__('label %s: %s' % (name, reason))


class UnknownLabel(InvalidLabel):
    def __init__(self, name):
        super().__init__(name, 'unknown label (see docs/labels.md for the '
                               'supported labels)')


@dataclasses.dataclass(frozen=True)
class Label:
    name: str
    kind: str                   # 'str', 'int', 'bool', 'list'
    default: object
    help: str
    choices: tuple = ()
    pattern: str = ''           # full match, for 'str' and each 'list' item
    minimum: int = None
    maximum: int = None
    # Extra check of a parsed 'str' value: raises ValueError (the reason).
    check: object = None
    # Shown in docs/labels.md after the allowed values.
    note: str = ''
    # The value reaches the nodes (a line of their environment file, in
    # schema order), where it is checked again before use.
    node: bool = False
    # Node labels: the anchored POSIX ERE (bash's [[ =~ ]]) the node checks
    # the rendered value against. Bool and single-choice labels derive it
    # (see shell_pattern()); others state it.
    shell: str = ''

    def shell_pattern(self):
        """The node-side pattern of a node label ('' for the others).

        :raises ValueError: a node label without one, or one that is not
            anchored or holds a character a data file cannot carry as is.
        """
        if not self.node:
            return ''
        if self.shell:
            pattern = self.shell
        elif self.kind == 'bool':
            pattern = '^(true|false)$'
        elif self.kind == 'str' and self.choices:
            pattern = '^(%s)$' % '|'.join(_ere_escape(c)
                                          for c in self.choices)
        else:
            raise ValueError('label %s reaches the nodes but has no shell '
                             'pattern' % self.name)
        if not _SHELL_SAFE.fullmatch(pattern):
            raise ValueError('label %s: shell pattern %r is not anchored or '
                             'holds a character a data file cannot carry as '
                             'is' % (self.name, pattern))
        return pattern

    def parse(self, raw):
        """Return the typed value of ``raw`` (a string) or raise."""
        if not isinstance(raw, str):
            raw = str(raw)
        if len(raw) > MAX_VALUE_LENGTH:
            raise InvalidLabel(self.name, 'value longer than %d characters'
                               % MAX_VALUE_LENGTH)
        if not raw.isascii() or not raw.isprintable():
            raise InvalidLabel(self.name, 'value must be printable ASCII')
        if self.kind == 'bool':
            low = raw.strip().lower()
            if low in ('true', 'yes', '1', 'on'):
                return True
            if low in ('false', 'no', '0', 'off'):
                return False
            raise InvalidLabel(self.name, 'expected true or false')
        if self.kind == 'int':
            if not re.fullmatch(r'-?[0-9]{1,9}', raw.strip()):
                raise InvalidLabel(self.name, 'expected an integer')
            value = int(raw)
            if self.minimum is not None and value < self.minimum:
                raise InvalidLabel(self.name, 'must be >= %d' % self.minimum)
            if self.maximum is not None and value > self.maximum:
                raise InvalidLabel(self.name, 'must be <= %d' % self.maximum)
            return value
        if self.kind == 'list':
            items = [i.strip() for i in raw.split(',') if i.strip()]
            for item in items:
                self._check_str(item)
            return tuple(items)
        self._check_str(raw)
        if self.check is not None:
            try:
                self.check(raw)
            except ValueError as e:
                raise InvalidLabel(self.name, str(e))
        return raw

    def _check_str(self, value):
        if self.choices:
            if value not in self.choices:
                raise InvalidLabel(self.name, 'must be one of %s'
                                   % ', '.join(self.choices))
            return
        if self.pattern and not re.fullmatch(self.pattern, value):
            raise InvalidLabel(self.name, 'value does not match %s'
                               % self.pattern)

    def render(self, value):
        """The string form of a typed value (as nodes receive it)."""
        if self.kind == 'bool':
            return 'true' if value else 'false'
        if self.kind == 'list':
            return ','.join(value)
        return str(value)


def _ere_escape(text):
    """``text`` as a literal inside a POSIX ERE."""
    return re.sub(r'([.\[\]()*+?{}|^$\\])', r'\\\1', text)


def parse_version(text):
    """``v1.32.4`` -> (1, 32, 4)."""
    m = re.fullmatch(r'v?([0-9]+)\.([0-9]+)\.([0-9]+)', text or '')
    if not m:
        raise ValueError('%r is not a version like v1.32.4' % (text,))
    return tuple(int(g) for g in m.groups())


def _check_kube_minor(text):
    version = parse_version(text)
    (lo, hi) = KUBE_MINORS
    if not lo <= version[:2] <= hi:
        raise ValueError(
            'Kubernetes %d.%d is not supported: kube_tag must be a %d.%d to '
            '%d.%d release (the nodes use kubeadm\'s v1beta4 configuration, '
            'served from 1.31)' % (version[0], version[1], lo[0], lo[1],
                                   hi[0], hi[1]))


_ALL = [
    Label('kube_tag', 'str', 'v1.31.4',
          'Kubernetes version (kubelet, kubeadm, control plane images). An '
          'upgrade moves one minor at a time, never back.',
          pattern=_VERSION, check=_check_kube_minor,
          note='minor %d.%d to %d.%d' % (KUBE_MINORS[0] + KUBE_MINORS[1]),
          node=True, shell=_SH_VERSION),
    Label('containerd_version', 'str', '1.7.24',
          'containerd version installed on nodes.',
          pattern=r'[0-9]+\.[0-9]+\.[0-9]+', node=True, shell=_SH_VERSION),
    Label('flannel_backend', 'str', 'host-gw',
          'flannel backend. host-gw routes pod traffic without '
          'encapsulation (workers need allowed address pairs, which the '
          'templates set); vxlan and udp encapsulate.',
          choices=('host-gw', 'vxlan', 'udp'), node=True),
    Label('flannel_tag', 'str', 'v0.26.4',
          'flannel chart and image version (the first release whose '
          'chart, image and registry, ghcr.io, agree).',
          pattern=_VERSION, node=True, shell=_SH_VERSION),
    Label('flannel_network_cidr', 'str', '10.64.0.0/11',
          'Pod network (also the allowed address pair on every port). '
          'Holds 2^(flannel_network_subnetlen - prefix) nodes (see '
          'Capacity below).',
          pattern=_CIDR4, node=True, shell=_SH_CIDR4),
    Label('flannel_network_subnetlen', 'int', 24,
          'Prefix length of each node\'s pod subnet (kube-controller-'
          'manager\'s node-cidr-mask-size). /25 is the longest that still '
          'gives the kubelet\'s 110 pods an address each.', minimum=16,
          maximum=25, node=True, shell=r'^[1-9][0-9]$'),
    Label('service_cluster_ip_range', 'str', '10.254.0.0/16',
          'Kubernetes service network (/12 to /28).', pattern=_CIDR4,
          node=True, shell=_SH_CIDR4),
    Label('fixed_subnet_cidr', 'str', '10.0.0.0/19',
          'Node subnet the cluster creates when it is given no '
          'fixed_network (unused otherwise).', pattern=_CIDR4),
    Label('kube_proxy_mode', 'str', 'iptables', 'kube-proxy mode.',
          choices=('iptables', 'ipvs'), node=True),
    Label('network_mtu', 'int', 0,
          'MTU of the node interface; 0 means detect it on the node.',
          minimum=0, maximum=9000, node=True,
          shell=r'^(0|[1-9][0-9]{0,3})$'),
    Label('container_storage_device', 'str', 'auto',
          'Where containerd and kubelet keep their data when the template '
          'has no docker_volume_size: auto (the ephemeral or a spare local '
          'disk, else the root disk), root, or a /dev path.',
          pattern=_STORAGE_DEVICE, node=True,
          shell='^(%s)$' % _STORAGE_DEVICE),
    Label('cvmfs_enabled', 'bool', False,
          'Deploy the CVMFS CSI driver (cvmfs-csi chart).', node=True),
    Label('cvmfs_csi_version', 'str', '2.5.0', 'cvmfs-csi chart version.',
          pattern=_VERSION, node=True, shell=_SH_VERSION),
    Label('cvmfs_repositories', 'list',
          ('cvmfs-config.cern.ch', 'sft.cern.ch'),
          'Comma-separated CVMFS repositories to mount.',
          pattern=_HOST, node=True, shell=r'^[A-Za-z0-9.,-]*$'),
    Label('cvmfs_http_proxy', 'str', 'DIRECT',
          'CVMFS_HTTP_PROXY value: DIRECT or http://host:port entries '
          'separated by ; or |.',
          pattern=r'DIRECT|(http://%s(:[0-9]{1,5})?)([;|]http://%s'
                  r'(:[0-9]{1,5})?)*' % (_HOST, _HOST),
          node=True, shell=r'^(DIRECT|http://[A-Za-z0-9.:;|/-]+)$'),
    Label('eos_enabled', 'bool', False,
          'Deploy the EOS CSI driver (eosxd-csi chart).', node=True),
    Label('eos_csi_version', 'str', '1.3.1', 'eosxd-csi chart version.',
          pattern=_VERSION, node=True, shell=_SH_VERSION),
    Label('eos_instances', 'list', (),
          'Comma-separated EOS instances to mount under /eos, by the names '
          'the eosxd-csi chart configures (its fuse.<name>.conf); empty '
          'means the chart\'s own autofs map.',
          choices=EOS_CHART_INSTANCES, node=True, shell=r'^[a-z0-9,-]*$'),
    Label('registry_mirror', 'str', '',
          'Registry prefix for every image the nodes pull (host[:port]'
          '[/path]); empty means the upstream registries.',
          pattern=r'(%s(:[0-9]{1,5})?(/[A-Za-z0-9._-]+)*)?' % _HOST,
          node=True, shell=r'^[A-Za-z0-9.:/_-]*$'),
    Label('master_lb_enabled', 'bool', False,
          'An HA API endpoint is wanted (like the cluster or template field '
          'of that name, which Magnum requires for master_count > 1); '
          'master_lb_type says how it is provided.'),
    Label('master_lb_type', 'str', 'vip',
          'How the HA API endpoint is provided: vip (a Neutron port that '
          'keepalived moves between the masters; no Octavia needed) or '
          'octavia (an Octavia load balancer in front of the masters).',
          choices=('vip', 'octavia')),
    Label('availability_zone', 'str', '',
          'Nova availability zone of the nodegroup; empty means any.',
          pattern=r'[A-Za-z0-9_.:-]{0,63}'),
    Label('max_batch_size', 'int', 10,
          'Nodes replaced at once by a rolling upgrade.', minimum=1,
          maximum=500),
    Label('cloud_provider_enabled', 'bool', True,
          'Run the OpenStack cloud controller manager with the cluster\'s '
          'application credential.', node=True),
]

SCHEMA = {label.name: label for label in _ALL}

#: Labels the nodes get, in schema order (the order of their environment
#: file).
NODE_LABELS = tuple(label.name for label in _ALL if label.node)


def shell_checks():
    """[(VARIABLE, pattern)]: what each node label is checked against.

    ``VARIABLE`` is the label's environment variable on the node (its name
    upper-cased), ``pattern`` its anchored POSIX ERE; the node's
    ``load_env`` checks every value again before any fragment uses it.
    """
    return [(name.upper(), SCHEMA[name].shell_pattern())
            for name in NODE_LABELS]


def validate(labels, defaults=None, unknown='warn', warn=None):
    """Validate and type labels.

    :param labels: mapping of label name to string value (the cluster's or
        nodegroup's labels; they win).
    :param defaults: site defaults (``[cern_driver] default_labels``), used
        for labels ``labels`` does not set; validated the same way.
    :param unknown: 'warn' (drop, call ``warn(name)``) or 'reject'.
    :returns: dict of every schema label to its typed value.
    :raises InvalidLabel: naming the first bad label (sorted by name).
    """
    merged = dict(defaults or {})
    merged.update(labels or {})
    values = {name: label.default for name, label in SCHEMA.items()}
    for name in sorted(merged):
        raw = merged[name]
        label = SCHEMA.get(name)
        if label is None:
            if unknown == 'reject':
                raise UnknownLabel(name)
            if warn is not None:
                warn(name)
            continue
        values[name] = label.parse(raw)
    return values


def render(values):
    """Typed values -> {NAME: string} as nodes receive them."""
    return {name.upper(): SCHEMA[name].render(value)
            for name, value in values.items() if name in SCHEMA}


def markdown():
    """docs/labels.md, generated from the schema (a test keeps it in sync)."""
    lines = [
        '# Labels',
        '',
        'Generated from `magnum_cern_driver/labels.py` by '
        '`python -m magnum_cern_driver.labels > docs/labels.md`.',
        'Every value is checked against its type and whitelist before '
        'anything reaches Heat or a node; a bad value fails the request '
        'with an error naming the label. Unknown labels are ignored with '
        'a warning or rejected (`[cern_driver] unknown_labels`). Site '
        'defaults come from `[cern_driver] default_labels`; nodegroup '
        'labels override cluster labels.',
        '',
        '| label | type | default | allowed | meaning |',
        '|---|---|---|---|---|',
    ]
    for label in _ALL:
        if label.choices:
            allowed = ', '.join('`%s`' % c for c in label.choices)
        elif label.kind == 'bool':
            allowed = 'true/false'
        elif label.kind == 'int':
            allowed = '%s..%s' % (label.minimum, label.maximum)
        else:
            allowed = 'pattern `%s`' % label.pattern.replace('|', '\\|')
        if label.kind == 'list':
            allowed = 'comma-separated, each: ' + allowed
        if label.note:
            allowed += '; ' + label.note
        lines.append('| `%s` | %s | `%s` | %s | %s |' % (
            label.name, label.kind, label.render(label.default), allowed,
            label.help))
    lines += _capacity_markdown()
    return '\n'.join(lines) + '\n'


def _capacity_markdown():
    """The capacity section of docs/labels.md, from the defaults."""
    d = {name: label.default for name, label in SCHEMA.items()}
    pod_prefix = int(d['flannel_network_cidr'].split('/')[1])
    sub = d['flannel_network_subnetlen']
    fig = capacity.summary(d)
    return [
        '',
        '## Capacity',
        '',
        'The driver refuses a cluster create, resize or nodegroup create '
        'whose total node count (every nodegroup, masters included, after '
        'the change) the networks cannot hold, in one line and before '
        'anything reaches Heat. `magnum-cern-selftest budget --format json` '
        'reports the same figures for the labels given '
        '(`pod_network_capacity_nodes`, ...). Kubernetes supports at most '
        '{:,} nodes and {} pods per node (kubernetes/website '
        '`content/en/docs/setup/best-practices/cluster-large.md`); the '
        'defaults hold that:'.format(capacity.KUBERNETES_MAX_NODES,
                                     capacity.MAX_PODS_PER_NODE),
        '',
        '- Pod network: every node gets one /`flannel_network_subnetlen` '
        'out of `flannel_network_cidr`, so it holds '
        '2^(subnetlen - prefix) nodes: 2^(%d - %d) = %d with the defaults. '
        'kubeadm refuses a pod network more than %d bits shorter than the '
        'node mask (`ValidatePodSubnetNodeMask`, `PodSubnetNodeMaskMaxDiff` '
        'in kubernetes/kubernetes `cmd/kubeadm`; kube-controller-manager\'s '
        '`clusterSubnetMaxDiff` in `pkg/controller/nodeipam/ipam/cidrset/'
        'cidr_set.go` applies to IPv6 only), so the driver refuses that too.'
        % (sub, pod_prefix, fig['pod_network_capacity_nodes'],
           capacity.POD_SUBNET_NODE_MASK_MAX_DIFF),
        '- Pods per node: a /%d gives 2^(32 - %d) - %d = %d pod addresses '
        '(network, broadcast and flannel\'s cni0 gateway excluded). A /25 '
        '(125) would fit the kubelet\'s %d pods too, but a /24 keeps '
        'about twice the addresses a node can use at once, so the address '
        'of a deleted pod is not handed out again at once; /25 is the '
        'longest allowed.' % (sub, sub, capacity.POD_SUBNET_OVERHEAD,
                              fig['pod_addresses_per_node'],
                              capacity.MAX_PODS_PER_NODE),
        '- Node subnet (only when the cluster creates its network): '
        '`fixed_subnet_cidr` %s has 2^(32 - prefix) addresses, less %d '
        '(network, broadcast, gateway) and %d for other ports (DHCP, the '
        'API VIP or Octavia): %d nodes.' % (
            d['fixed_subnet_cidr'], capacity.SUBNET_OVERHEAD,
            capacity.SUBNET_OTHER_PORTS, fig['node_subnet_capacity_nodes']),
        '- Services: `service_cluster_ip_range` %s gives %d addresses; '
        'the API server and kubeadm accept /%d to /28 '
        '(`ValidateServiceSubnetSize`).' % (
            d['service_cluster_ip_range'], fig['service_addresses'],
            32 - capacity.SERVICE_MAX_HOST_BITS),
        '- The pod network, the service range and the created node subnet '
        'must not overlap.',
        '',
        'A cluster keeps the networks it was built with: on later changes '
        'the driver reads `pod_cidr`, `fixed_subnet_cidr` and the API '
        'endpoint type back from the stack, so new defaults apply only to '
        'new clusters.',
    ]


if __name__ == '__main__':
    print(markdown(), end='')
