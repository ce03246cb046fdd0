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
"""The ``[cern_driver]`` option group.

Options are registered on import on ``oslo_config.cfg.CONF`` (Magnum's global
config object) and listed for ``oslo-config-generator`` by :func:`list_opts`.
"""

from oslo_config import cfg

from magnum_cern_driver import params

GROUP = 'cern_driver'

cern_driver_group = cfg.OptGroup(
    name=GROUP,
    title='Options for the magnum-cern-driver Heat cluster driver')

heat_opts = [
    cfg.StrOpt('heat_endpoint_interface',
               default='public',
               choices=['public', 'internal', 'admin'],
               help='Endpoint interface used to reach Heat (orchestration) '
                    'from the Magnum conductor.'),
    cfg.StrOpt('heat_region_name',
               help='Region of the Heat endpoint. Unset means the region of '
                    'the Keystone catalog entry found first.'),
    cfg.IntOpt('stack_timeout',
               default=60,
               min=1,
               help='Heat stack timeout in minutes, used when Magnum passes '
                    'no create timeout of its own (cluster create_timeout).'),
    cfg.ListOpt('environment_files',
                default=[],
                help='Extra Heat environment files (absolute paths) appended '
                     'to every stack after the driver\'s own environments, '
                     'so that they win. Sites use them for resource '
                     'registry overrides; the local rehearsal uses one to '
                     'map Nova/Neutron/Cinder/Octavia types to stand-ins.'),
    cfg.IntOpt('heat_api_retries',
               default=3,
               min=0,
               help='Retries of a failed Heat API call (connection errors '
                    'and 5xx) inside one driver call, with back-off.'),
    cfg.IntOpt('stall_after',
               default=300,
               min=0,
               help='Seconds without Heat progress (the same resources in '
                    'progress, none started or finished) after which the '
                    'status poll reports a stack in progress as stalled in '
                    'the cluster\'s status_reason, naming the stuck '
                    'resources (the status stays IN_PROGRESS; the reason '
                    'clears when progress resumes). Wait conditions are '
                    'not counted: they time out by themselves. 0 turns '
                    'stall detection off. See docs/lifecycle.md.'),
    cfg.IntOpt('stall_check_interval',
               default=60,
               min=1,
               help='Seconds between two looks at a stack\'s in-progress '
                    'resources by the status poll (one extra Heat call per '
                    'stack in progress; the poll itself runs about every '
                    '10 s). The first look comes one interval after the '
                    'poll first sees the stack, so a stack that settles '
                    'sooner is never listed. A stall is reported between '
                    'stall_after and '
                    'stall_after + stall_check_interval after Heat\'s '
                    'last progress.'),
]

node_opts = [
    cfg.StrOpt('ca_bundle_file',
               help='PEM file with the site CA bundle installed into the '
                    'trust store of every node (and containerd\'s registry '
                    'trust). Unset means no site CA is installed.'),
    cfg.IntOpt('worker_shard_size',
               default=50,
               min=1,
               max=params.MAX_SHARD_SIZE,
               help='Workers per Heat ResourceGroup shard. Heat creates the '
                    'members of one group nearly one at a time while shards '
                    'proceed in parallel, so many small shards are fast; '
                    'Heat 27.0.1 also leaks per-stack threads (about 500 '
                    'resource actions per stack per engine lifetime), so '
                    'keep this well under 500. See docs/benchmarks.md.'),
    cfg.DictOpt('default_labels',
                default={},
                help='Label values used when neither the cluster nor its '
                     'template sets the label (site defaults), for example '
                     'cvmfs_enabled:true,registry_mirror:registry.example.'
                     'org/mirror. Validated against the label schema like '
                     'user labels.'),
    cfg.StrOpt('registry_mirror',
               default='',
               regex=r'^([A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._-]+)*)?$',
               help='Registry every node pulls its images (and the OCI '
                    'charts) through: host[:port][/path] replaces the '
                    'registry host of every image in the artifact manifest, '
                    'chart values included. The registry_mirror label of a '
                    'cluster wins. Empty: the upstream registries. '
                    '`magnum-cern-selftest artifacts` lists what the mirror '
                    'must hold.'),
    cfg.StrOpt('region_name',
               default='RegionOne',
               regex=r'^[A-Za-z0-9_.-]{1,64}$',
               help='OpenStack region the cloud controller manager on the '
                    'nodes uses (cloud.conf [Global] region).'),
    cfg.StrOpt('unknown_labels',
               default='warn',
               choices=[('warn', 'ignore unknown labels with a warning'),
                        ('reject', 'fail the request that carries them')],
               help='What to do with labels the driver does not know.'),
]

lifecycle_opts = [
    cfg.IntOpt('drain_timeout',
               default=120,
               min=0,
               help='Seconds to wait for Kubernetes to drain nodes before '
                    'they are removed by a resize; after this the removal '
                    'proceeds and the status reason says so. 0 disables '
                    'draining.'),
    cfg.BoolOpt('application_credentials',
                default=True,
                help='Create a per-cluster Keystone application credential '
                     'for the in-cluster OpenStack integrations (cloud '
                     'provider, CSI). Deleted with the cluster.'),
]

ALL_OPTS = heat_opts + node_opts + lifecycle_opts


def register_opts(conf):
    conf.register_group(cern_driver_group)
    conf.register_opts(ALL_OPTS, group=cern_driver_group)


def list_opts():
    """Entry point for oslo-config-generator."""
    return [(cern_driver_group, ALL_OPTS)]


CONF = cfg.CONF
register_opts(CONF)
