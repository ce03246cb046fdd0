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
"""The cloud a command works on: a clouds.yaml cloud, or the rehearsal.

The choice follows OpenStack habits (--os-cloud, $OS_CLOUD, the OS_*
environment, the only cloud of clouds.yaml); with none of them, or when a
rehearsal is named (--rehearsal-state-dir, or a run made on one), it is
the local rehearsal, started if needed. This module also holds what a
run needs to know of its target: the rehearsal's facts for the preflight,
the image and flavors of the template it creates, and how to stop the
rehearsal afterwards.
"""

import dataclasses
import json
import os
import shlex
import sys

from magnum_cern_driver.selftest import cloud as cloud_mod
from magnum_cern_driver.selftest import rehearsal
from magnum_cern_driver.selftest.report import redact

# The rehearsal's stand-in compute offers m1.* flavors; the driver needs a
# flavor for masters and workers.
REHEARSAL_FLAVOR = 'm1.small'


def open_target(options, journal_target=None, out=None):
    """(cloud adapter, secrets, target dict) for the chosen cloud.

    :param options: :class:`.options.RunOptions`.
    :param journal_target: the target a journal recorded (cleanup of a
        run uses the cloud the run used).
    :param out: callable for the rehearsal's progress lines (default:
        stderr).
    """
    os_cloud = options.os_cloud
    region = options.os_region_name
    if os_cloud is None and journal_target and \
            journal_target.get('kind') == 'cloud':
        os_cloud = journal_target.get('name')
    if os_cloud is None and (
            options.rehearsal_state_dir or
            (journal_target or {}).get('kind') == 'rehearsal'):
        # Naming a rehearsal (or a run made on one) means the rehearsal,
        # even when a clouds.yaml with a single cloud is around.
        kind, name = 'rehearsal', None
    else:
        kind, name = cloud_mod.resolve_target(os_cloud)
    if kind == 'rehearsal':
        say = out or (lambda msg: sys.stderr.write('%s\n' % msg))
        state_dir = options.rehearsal_state_dir or (
            journal_target or {}).get('state_dir')
        try:
            reh = rehearsal.ensure_up(state_dir, out=say)
            config = reh.cloud_config()
        except Exception as e:
            raise cloud_mod.ConfigError(
                'no cloud configured and the local rehearsal did not come '
                'up: %s' % cloud_mod.one_line(e))
        conn = cloud_mod.connect(config=config, region=region)
        adapter = cloud_mod.Cloud(conn, name='rehearsal', hollow=True,
                                  kind='rehearsal')
        adapter.rehearsal = reh
        target = {'kind': 'rehearsal', 'name': 'rehearsal'}
        if state_dir:
            target['state_dir'] = os.path.abspath(state_dir)
        return adapter, redact.secrets_of(config), target
    conn = cloud_mod.connect(cloud=name, region=region)
    adapter = cloud_mod.Cloud(conn, name=name or 'envvars', kind='cloud')
    try:
        secrets = redact.secrets_of(conn.config.config)
    except Exception:
        secrets = []
    return adapter, secrets, {'kind': kind, 'name': name}


def rehearsal_facts(adapter):
    """What the preflight reports of a rehearsal target, or None."""
    reh = getattr(adapter, 'rehearsal', None)
    if reh is None:
        return None
    facts = {'image': getattr(reh, 'image_name', None)}
    try:
        path = reh.layout.standin_config
        with open(path) as f:
            facts['standins'] = json.load(f)
    except Exception:
        pass
    return facts


def image_for(options, adapter):
    """The Glance image of the template a run creates."""
    if options.image:
        return options.image
    preferred = None
    reh = getattr(adapter, 'rehearsal', None)
    if reh is not None:
        preferred = getattr(reh, 'image_name', None)
    images = adapter.find_images_by_distro(cloud_mod.DRIVER_OS_DISTRO)
    if not images:
        raise cloud_mod.CloudError(
            'no image with os_distro=%s in Glance: give --image or '
            '--cluster-template' % cloud_mod.DRIVER_OS_DISTRO)
    for img in images:
        if preferred and img['name'] == preferred:
            return img['id']
    return sorted(images, key=lambda i: i['name'] or '')[0]['id']


def template_options(options, adapter=None):
    """``options`` with the rehearsal's default flavor filled in.

    With ``--fixed-network`` and no ``--fixed-subnet``, the network's
    only subnet is filled in (the nodes' ports need one).
    """
    if adapter is not None and options.fixed_network and \
            not options.fixed_subnet:
        subnets = adapter.network_subnets(options.fixed_network)
        if len(subnets) != 1:
            raise cloud_mod.CloudError(
                'network %s has %d subnets: give --fixed-subnet'
                % (options.fixed_network, len(subnets)))
        options = dataclasses.replace(options, fixed_subnet=subnets[0])
    if adapter is not None and adapter.kind == 'rehearsal' and \
            not options.flavor and not options.master_flavor:
        if adapter.find_flavor(REHEARSAL_FLAVOR):
            return dataclasses.replace(options, flavor=REHEARSAL_FLAVOR,
                                       master_flavor=REHEARSAL_FLAVOR)
    return options


# Above this, heat-engine is told to restart before the next run: Heat
# 27.0.1 keeps its memory after clusters are deleted (operator guide,
# section 8; a fresh engine of the rehearsal holds about 430 MiB, one 1000
# two-node fleet leaves it at 4-6 GiB).
HEAT_ENGINE_RESTART_MIB = 2048


def rehearsal_memory(target):
    """``{service: MiB}`` of the rehearsal ``target`` now, or None.

    Only a hint: a state directory that cannot be read gives None.
    """
    if target.get('kind') != 'rehearsal':
        return None
    try:
        return rehearsal.get(target.get('state_dir'),
                             out=None).memory_mib() or None
    except (OSError, ValueError, KeyError):
        return None


def _gib(mib):
    return '%.1f GB' % (mib / 1024.0)


def rehearsal_hint(target, memory_mib=None):
    """What to tell about the local rehearsal a run leaves up, or None.

    ``memory_mib`` is ``{service: MiB}`` measured now (see
    ``Rehearsal.memory_mib``); without it nothing is said about memory.
    """
    if target.get('kind') != 'rehearsal':
        return None
    where = ''
    if target.get('state_dir'):
        where = ' --state-dir %s' % shlex.quote(target['state_dir'])
    using = ''
    if memory_mib:
        using = ' (using %s of memory now)' % _gib(sum(memory_mib.values()))
    lines = ['the local rehearsal stays up for the next run%s; stop it '
             'with: magnum-cern-selftest rehearsal%s down' % (using, where)]
    engine = (memory_mib or {}).get('heat-engine', 0)
    if engine > HEAT_ENGINE_RESTART_MIB:
        lines.append(
            'heat-engine holds %s (Heat keeps it after clusters are '
            'deleted: known defect, operator guide section 8); restart it '
            'before the next run: magnum-cern-selftest rehearsal%s restart '
            'heat-engine' % (_gib(engine), where))
    return '\n'.join(lines)
