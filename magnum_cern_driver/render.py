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
"""Build the root HOT template: ``cluster.yaml`` plus worker shards.

Heat templates cannot grow a variable number of resources with their own
parameters, and we want each worker shard to be its own top-level resource
(so a resize touches only the shards whose count changes). So the root
template is ``cluster.yaml`` with, for every worker nodegroup, one
``worker_shard.yaml`` resource per shard, its parameters and an output.
Everything else is static YAML in ``templates/``.
"""

import copy
import functools
import os
import re

import yaml

TEMPLATE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            'templates')
ROOT = 'cluster.yaml'
NESTED = ('master.yaml', 'worker_shard.yaml', 'worker_volume.yaml', 'lb.yaml')
SHARD_TEMPLATE = 'worker_shard.yaml'


def template_path(name):
    return os.path.join(TEMPLATE_DIR, name)


@functools.lru_cache(maxsize=None)
def _read(name):
    with open(template_path(name)) as f:
        return f.read()


def load(name):
    """A fresh parsed copy of a packaged template."""
    return copy.deepcopy(_load_cached(name))


class _Loader(yaml.SafeLoader):
    """YAML as Heat reads it: dates such as 2021-04-16 stay strings."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers
            if tag != 'tag:yaml.org,2002:timestamp']
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse(text):
    return yaml.load(text, Loader=_Loader)  # nosec: SafeLoader subclass


@functools.lru_cache(maxsize=None)
def _load_cached(name):
    return parse(_read(name))


def nested_files():
    """The ``files`` map Heat needs for our nested templates."""
    return {name: _read(name) for name in NESTED}


def nodegroup_key(name):
    """A resource-name-safe key for a nodegroup name (``ng_<name>``)."""
    return 'ng_' + re.sub(r'[^a-z0-9]', '_', name.lower())


def host_safe(name):
    """A hostname-safe form of a name (lower case, ``[a-z0-9-]``)."""
    safe = re.sub(r'[^a-z0-9-]+', '-', name.lower()).strip('-')
    return safe or 'x'


def shard_resource(key, index):
    return '%s_shard_%d' % (key, index)


def shard_param(key, index, what):
    return '%s_shard_%d_%s' % (key, index, what)


def nodegroup_param(key, what):
    return '%s_%s' % (key, what)


def addresses_output(key):
    return '%s_addresses' % key


def refs_output(key):
    return '%s_refs_maps' % key


def _network_expr():
    return {'if': ['create_network', {'get_resource': 'network'},
                   {'get_param': 'fixed_network'}]}


def _subnet_expr():
    return {'if': ['create_network', {'get_resource': 'subnet'},
                   {'get_param': 'fixed_subnet'}]}


def _api_address_expr():
    return {'if': ['use_vip',
                   {'get_attr': ['api_vip', 'fixed_ips', 0, 'ip_address']},
                   {'get_attr': ['api_lb', 'vip_address']}]}


def worker_nodegroup_parameters(key):
    """Root parameter definitions shared by all shards of a nodegroup."""
    p = functools.partial(nodegroup_param, key)
    return {
        p('flavor'): {'type': 'string',
                      'constraints': [{'custom_constraint': 'nova.flavor'}]},
        p('image'): {'type': 'string',
                     'constraints': [{'custom_constraint': 'glance.image'}]},
        p('availability_zone'): {'type': 'string', 'default': ''},
        p('docker_volume_size'): {'type': 'number', 'default': 0},
        p('max_batch_size'): {'type': 'number', 'default': 10},
        p('user_data'): {'type': 'string', 'hidden': True},
    }


def add_worker_nodegroup(tmpl, key, nodegroup_name, name_prefix, shards):
    """Add ``shards`` shard resources of one nodegroup to ``tmpl``.

    :param name_prefix: server names are ``<name_prefix>-<shard>-<index>``.
    """
    params = tmpl.setdefault('parameters', {})
    params.update(worker_nodegroup_parameters(key))
    resources = tmpl['resources']
    outputs = tmpl.setdefault('outputs', {})
    p = functools.partial(nodegroup_param, key)
    address_lists = []
    refs_maps = []
    for i in range(shards):
        count = shard_param(key, i, 'count')
        removal = shard_param(key, i, 'removal')
        params[count] = {'type': 'number', 'default': 0}
        params[removal] = {'type': 'json', 'default': []}
        name = shard_resource(key, i)
        resources[name] = {
            'type': SHARD_TEMPLATE,
            'properties': {
                'count': {'get_param': count},
                'removal_policies': {'get_param': removal},
                'name_prefix': '%s-%d' % (name_prefix, i),
                'cluster_uuid': {'get_param': 'cluster_uuid'},
                'nodegroup': nodegroup_name,
                'flavor': {'get_param': p('flavor')},
                'image': {'get_param': p('image')},
                'keypair': {'get_param': 'keypair'},
                'availability_zone': {'get_param': p('availability_zone')},
                'docker_volume_size': {'get_param': p('docker_volume_size')},
                'max_batch_size': {'get_param': p('max_batch_size')},
                'network': _network_expr(),
                'subnet': _subnet_expr(),
                'security_group': {'get_resource': 'secgroup'},
                'pod_cidr': {'get_param': 'pod_cidr'},
                'user_data': {'str_replace': {
                    'template': {'get_param': p('user_data')},
                    'params': {'__API_ADDRESS__': _api_address_expr()}}},
            },
        }
        address_lists.append({'get_attr': [name, 'addresses']})
        refs_maps.append({'get_attr': [name, 'refs_map']})
    outputs[addresses_output(key)] = {
        'description': 'Private addresses of nodegroup %s' % nodegroup_name,
        'value': {'list_concat': address_lists} if address_lists else [],
    }
    outputs[refs_output(key)] = {
        'description': 'Per shard: member index -> server id',
        'value': refs_maps,
    }
    return tmpl


def root_template(worker_nodegroups):
    """The root template for ``[(key, ng_name, name_prefix, shards), ...]``."""
    tmpl = load(ROOT)
    for key, ng_name, prefix, shards in worker_nodegroups:
        add_worker_nodegroup(tmpl, key, ng_name, prefix, shards)
    return tmpl
