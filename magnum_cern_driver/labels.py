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
pattern over a small alphabet). Nothing here does I/O.
"""

import dataclasses
import re

# Upper bound on any single label value: long enough for every legitimate
# value, short enough that nothing can smuggle a script through.
MAX_VALUE_LENGTH = 255

_VERSION = r'v?[0-9]+\.[0-9]+\.[0-9]+'
_DNS_NAME = r'[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
_HOST = r'%s(\.%s)*' % (_DNS_NAME, _DNS_NAME)
_CIDR4 = r'([0-9]{1,3}\.){3}[0-9]{1,3}/[0-9]{1,2}'


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


_ALL = [
    Label('kube_tag', 'str', 'v1.31.4',
          'Kubernetes version (kubelet, kubeadm, control plane images).',
          pattern=_VERSION),
    Label('containerd_version', 'str', '1.7.24',
          'containerd version installed on nodes.',
          pattern=r'[0-9]+\.[0-9]+\.[0-9]+'),
    Label('flannel_backend', 'str', 'host-gw',
          'flannel backend. host-gw routes pod traffic without '
          'encapsulation (workers need allowed address pairs, which the '
          'templates set); vxlan and udp encapsulate.',
          choices=('host-gw', 'vxlan', 'udp')),
    Label('flannel_tag', 'str', 'v0.26.2', 'flannel image version.',
          pattern=_VERSION),
    Label('flannel_network_cidr', 'str', '10.100.0.0/16',
          'Pod network (also the allowed address pair on every port).',
          pattern=_CIDR4),
    Label('flannel_network_subnetlen', 'int', 24,
          'Prefix length of each node\'s pod subnet.', minimum=16,
          maximum=28),
    Label('service_cluster_ip_range', 'str', '10.254.0.0/16',
          'Kubernetes service network.', pattern=_CIDR4),
    Label('kube_proxy_mode', 'str', 'iptables', 'kube-proxy mode.',
          choices=('iptables', 'ipvs')),
    Label('network_mtu', 'int', 0,
          'MTU of the node interface; 0 means detect it on the node.',
          minimum=0, maximum=9000),
    Label('container_storage_device', 'str', 'auto',
          'Where containerd and kubelet keep their data when the template '
          'has no docker_volume_size: auto (the ephemeral or a spare local '
          'disk, else the root disk), root, or a /dev path.',
          pattern=r'auto|root|/dev/[a-z][a-z0-9]{1,15}'),
    Label('cvmfs_enabled', 'bool', False,
          'Deploy the CVMFS CSI driver (cvmfs-csi chart).'),
    Label('cvmfs_csi_version', 'str', '2.5.0', 'cvmfs-csi chart version.',
          pattern=_VERSION),
    Label('cvmfs_repositories', 'list',
          ('cvmfs-config.cern.ch', 'sft.cern.ch'),
          'Comma-separated CVMFS repositories to mount.',
          pattern=_HOST),
    Label('cvmfs_http_proxy', 'str', 'DIRECT',
          'CVMFS_HTTP_PROXY value: DIRECT or http://host:port entries '
          'separated by ; or |.',
          pattern=r'DIRECT|(http://%s(:[0-9]{1,5})?)([;|]http://%s'
                  r'(:[0-9]{1,5})?)*' % (_HOST, _HOST)),
    Label('eos_enabled', 'bool', False,
          'Deploy the EOS CSI driver (eosxd-csi chart).'),
    Label('eos_csi_version', 'str', '1.3.1', 'eosxd-csi chart version.',
          pattern=_VERSION),
    Label('eos_instances', 'list', ('eoshome', 'eosproject'),
          'Comma-separated EOS instances to configure.',
          pattern=r'[a-z][a-z0-9-]{0,62}'),
    Label('registry_mirror', 'str', '',
          'Registry prefix for every image the nodes pull (host[:port]'
          '[/path]); empty means the upstream registries.',
          pattern=r'(%s(:[0-9]{1,5})?(/[A-Za-z0-9._-]+)*)?' % _HOST),
    Label('master_lb_enabled', 'bool', False,
          'Put an Octavia load balancer in front of the API. Without it, '
          'a multi-master cluster uses a VIP port.'),
    Label('availability_zone', 'str', '',
          'Nova availability zone of the nodegroup; empty means any.',
          pattern=r'[A-Za-z0-9_.:-]{0,63}'),
    Label('max_batch_size', 'int', 10,
          'Nodes replaced at once by a rolling upgrade.', minimum=1,
          maximum=500),
    Label('cloud_provider_enabled', 'bool', True,
          'Run the OpenStack cloud controller manager with the cluster\'s '
          'application credential.'),
]

SCHEMA = {label.name: label for label in _ALL}


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
        lines.append('| `%s` | %s | `%s` | %s | %s |' % (
            label.name, label.kind, label.render(label.default), allowed,
            label.help))
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    print(markdown(), end='')
