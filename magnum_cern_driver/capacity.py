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
"""Address capacity of a cluster's networks (pure arithmetic, no I/O).

How many nodes the pod network, the node subnet and the service range of
a cluster can hold, from its typed labels (see :mod:`labels`). The driver
refuses a create, resize or nodegroup create that would not fit, before
anything reaches Heat; ``magnum-cern-selftest budget`` reports the same
figures. The arithmetic is written out in docs/labels.md.

Upstream facts this rests on (kubernetes/kubernetes):

* ``cmd/kubeadm/app/apis/kubeadm/validation/validation.go``
  ``ValidatePodSubnetNodeMask``: kubeadm refuses a pod subnet whose prefix
  is longer than the node mask, or more than
  ``constants.PodSubnetNodeMaskMaxDiff`` (16, ``cmd/kubeadm/app/constants/
  constants.go``) bits shorter than it. kube-controller-manager's own
  ``clusterSubnetMaxDiff`` (16) in
  ``pkg/controller/nodeipam/ipam/cidrset/cidr_set.go`` ``NewCIDRSet``
  applies to IPv6 cluster CIDRs only; for IPv4 it is kubeadm's check that
  bites. ``getMaxCIDRs`` there: ``1 << (subNetMaskSize - clusterMaskSize)``
  node subnets, one per node.
* ``ValidateServiceSubnetSize`` (same file, "identical to validation
  performed in the apiserver"): at most ``MaximumBitsForServiceSubnet``
  (20) host bits, i.e. an IPv4 service range of /12 or longer, and
  ``MinimumAddressesInServiceSubnet`` (10) addresses.
* kubernetes/website ``content/en/docs/setup/best-practices/
  cluster-large.md``: Kubernetes supports at most 5,000 nodes and 110 pods
  per node.
"""

import ipaddress

#: Kubernetes' documented limits (cluster-large.md).
KUBERNETES_MAX_NODES = 5000
MAX_PODS_PER_NODE = 110
#: kubeadm's PodSubnetNodeMaskMaxDiff.
POD_SUBNET_NODE_MASK_MAX_DIFF = 16
#: kubeadm's and kube-apiserver's MaximumBitsForServiceSubnet (IPv4: /12).
SERVICE_MAX_HOST_BITS = 20
#: kubeadm's MinimumAddressesInServiceSubnet (IPv4: /28 at most).
SERVICE_MIN_ADDRESSES = 10
#: Addresses of a node's pod subnet no pod gets: network, broadcast and
#: the cni0 bridge (flannel's gateway).
POD_SUBNET_OVERHEAD = 3
#: Addresses of a subnet Neutron never gives a node: network, broadcast,
#: gateway (router interface).
SUBNET_OVERHEAD = 3
#: Ports besides the nodes on the created subnet: DHCP ports (one per
#: DHCP agent, usually 1 to 3), the API VIP, or Octavia's VIP and amphora
#: ports.
SUBNET_OTHER_PORTS = 8


class CapacityError(ValueError):
    """The networks cannot hold the cluster (one line, names the label)."""


def _network(value, label):
    try:
        net = ipaddress.ip_network(str(value), strict=False)
    except ValueError as e:
        raise CapacityError('%s %s is not a valid network: %s'
                            % (label, value, e))
    if net.version != 4:
        raise CapacityError('%s %s: only IPv4 is supported' % (label, value))
    return net


def pod_network_capacity(pod_cidr, subnetlen):
    """Nodes the pod network can give a pod subnet: 2**(subnetlen - prefix).

    :raises CapacityError: if ``subnetlen`` is shorter than the prefix.
    """
    net = _network(pod_cidr, 'flannel_network_cidr')
    if subnetlen < net.prefixlen:
        raise CapacityError(
            'flannel_network_subnetlen /%d is shorter than '
            'flannel_network_cidr %s: each node\'s pod subnet must fit '
            'inside the pod network' % (subnetlen, pod_cidr))
    return 2 ** (subnetlen - net.prefixlen)


def pods_per_node(subnetlen):
    """Pod addresses in one node's pod subnet."""
    return max(0, 2 ** (32 - subnetlen) - POD_SUBNET_OVERHEAD)


def node_subnet_capacity(subnet_cidr):
    """Nodes a created subnet can hold (see SUBNET_* above)."""
    net = _network(subnet_cidr, 'fixed_subnet_cidr')
    return max(0, net.num_addresses - SUBNET_OVERHEAD - SUBNET_OTHER_PORTS)


def service_capacity(service_cidr):
    """Service addresses (network and broadcast excluded)."""
    net = _network(service_cidr, 'service_cluster_ip_range')
    return max(0, net.num_addresses - 2)


def check_networks(values, creates_subnet=True):
    """Refuse networks Kubernetes or kubeadm would refuse, or that overlap.

    :param values: typed labels (``labels.validate``).
    :param creates_subnet: the cluster creates its own node subnet
        (``fixed_subnet_cidr``); otherwise that label is not used.
    :raises CapacityError: one line naming the label.
    """
    pod = _network(values['flannel_network_cidr'], 'flannel_network_cidr')
    subnetlen = values['flannel_network_subnetlen']
    pod_network_capacity(pod, subnetlen)
    if subnetlen - pod.prefixlen > POD_SUBNET_NODE_MASK_MAX_DIFF:
        raise CapacityError(
            'flannel_network_cidr %s is more than %d bits shorter than '
            'flannel_network_subnetlen /%d, which kubeadm refuses: use a '
            'pod network of /%d or longer' % (
                values['flannel_network_cidr'],
                POD_SUBNET_NODE_MASK_MAX_DIFF, subnetlen,
                subnetlen - POD_SUBNET_NODE_MASK_MAX_DIFF))
    service = _network(values['service_cluster_ip_range'],
                       'service_cluster_ip_range')
    if 32 - service.prefixlen > SERVICE_MAX_HOST_BITS:
        raise CapacityError(
            'service_cluster_ip_range %s is too large: the API server '
            'accepts /%d or longer' % (values['service_cluster_ip_range'],
                                       32 - SERVICE_MAX_HOST_BITS))
    if service.num_addresses < SERVICE_MIN_ADDRESSES:
        raise CapacityError(
            'service_cluster_ip_range %s is too small: kubeadm needs at '
            'least %d addresses' % (values['service_cluster_ip_range'],
                                    SERVICE_MIN_ADDRESSES))
    named = [('flannel_network_cidr', pod),
             ('service_cluster_ip_range', service)]
    if creates_subnet:
        named.append(('fixed_subnet_cidr', _network(
            values['fixed_subnet_cidr'], 'fixed_subnet_cidr')))
    for i, (name_a, net_a) in enumerate(named):
        for name_b, net_b in named[i + 1:]:
            if net_a.overlaps(net_b):
                raise CapacityError('%s %s overlaps %s %s' % (
                    name_a, values[name_a], name_b, values[name_b]))


def summary(values, creates_subnet=True):
    """The capacity figures of typed labels, JSON-ready.

    ``max_nodes`` is the smallest of the limits that apply (the pod
    network, the created node subnet, Kubernetes' 5,000 nodes).
    """
    pod_nodes = pod_network_capacity(values['flannel_network_cidr'],
                                     values['flannel_network_subnetlen'])
    result = {
        'pod_network_capacity_nodes': pod_nodes,
        'pod_addresses_per_node': pods_per_node(
            values['flannel_network_subnetlen']),
        'service_addresses': service_capacity(
            values['service_cluster_ip_range']),
        'node_subnet_capacity_nodes': None,
        'kubernetes_max_nodes': KUBERNETES_MAX_NODES,
    }
    limits = [pod_nodes, KUBERNETES_MAX_NODES]
    if creates_subnet:
        subnet = node_subnet_capacity(values['fixed_subnet_cidr'])
        result['node_subnet_capacity_nodes'] = subnet
        limits.append(subnet)
    result['max_nodes'] = min(limits)
    return result


def check_nodes(total, values, creates_subnet=True):
    """Refuse ``total`` nodes (masters included) the networks cannot hold.

    Kubernetes' documented 5,000 is reported, not enforced: a site may
    run beyond it at its own risk; addresses that do not exist cannot.
    :raises CapacityError: one line with the numbers and what to change.
    """
    check_networks(values, creates_subnet)
    pod_nodes = pod_network_capacity(values['flannel_network_cidr'],
                                     values['flannel_network_subnetlen'])
    if total > pod_nodes:
        raise CapacityError(
            'the cluster would have %d nodes (masters included), but the '
            'pod network flannel_network_cidr %s with a /%d per node '
            '(flannel_network_subnetlen) holds %d: use a larger '
            'flannel_network_cidr' % (
                total, values['flannel_network_cidr'],
                values['flannel_network_subnetlen'], pod_nodes))
    if creates_subnet:
        subnet_nodes = node_subnet_capacity(values['fixed_subnet_cidr'])
        if total > subnet_nodes:
            raise CapacityError(
                'the cluster would have %d nodes (masters included), but '
                'its subnet fixed_subnet_cidr %s holds %d: use a larger '
                'fixed_subnet_cidr' % (total, values['fixed_subnet_cidr'],
                                       subnet_nodes))
