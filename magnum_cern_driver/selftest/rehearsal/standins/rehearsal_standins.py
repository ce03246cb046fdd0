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
"""Stand-in Nova/Neutron/Cinder/Octavia resources: the hollow data plane.

Each stand-in subclasses the real Heat resource class, so the property and
attribute schemas (and the template validation) are Heat's own; only the
calls to the clouds' services are replaced: create waits for a boot delay
and may fail on purpose (see ``standin_config``), attributes are made up
consistently (addresses from a deterministic allocator), delete is
immediate. Each master sends its readiness signal (``ready_handle`` of
its own nested stack, master.yaml) when it "boots", as a real master does
when its node is Ready.

A Heat environment maps ``OS::*`` types to the ``Rehearsal::*`` types
registered here; custom constraints that would ask a cloud (``nova.flavor``,
``glance.image``, ...) accept every value.

Each hollow server is also recorded in the state directory
(``hollow_store.ServerStore``: BUILD at create, ACTIVE once booted, ERROR
on an injected failure, removed at delete), so the stand-in compute API
can list the servers Heat made (``openstack server list``); networks too
(``NetworkStore``), so addresses are keyed by network name as in Nova.
The server's image name is resolved to its Glance id as Heat's real
server does (once per engine process and name).
"""

import ipaddress
import os
import time
import uuid

from oslo_log import log as logging

from heat.common import exception
from heat.engine import constraints
from heat.engine import resource
from heat.engine.resources.openstack.cinder import volume
from heat.engine.resources.openstack.neutron import floatingip
from heat.engine.resources.openstack.neutron import net
from heat.engine.resources.openstack.neutron import port
from heat.engine.resources.openstack.neutron import router
from heat.engine.resources.openstack.neutron import security_group
from heat.engine.resources.openstack.neutron import security_group_rule
from heat.engine.resources.openstack.neutron import subnet
from heat.engine.resources.openstack.nova import server
from heat.engine.resources.openstack.octavia import health_monitor
from heat.engine.resources.openstack.octavia import listener
from heat.engine.resources.openstack.octavia import loadbalancer
from heat.engine.resources.openstack.octavia import pool
from heat.engine.resources.openstack.octavia import pool_member
from heat.engine import translation

from magnum_cern_driver.selftest.rehearsal import hollow_store
from magnum_cern_driver.selftest.rehearsal import standin_config

LOG = logging.getLogger(__name__)

ENV_CONFIG = standin_config.ENV_CONFIG
READY_HANDLE = 'ready_handle'
# Constraint name prefixes whose real check asks a cloud service.
CLOUD_CONSTRAINT_PREFIXES = ('nova.', 'neutron.', 'glance.', 'cinder.',
                             'octavia.', 'ip_or_cidr_noop')


def _config():
    path = os.environ.get(ENV_CONFIG)
    if not path:
        return {}
    try:
        return standin_config.read(path) or {}
    except (OSError, ValueError):
        LOG.exception('Rehearsal stand-ins: unreadable config %s', path)
        return {}


_allocate = standin_config.allocate
_new_id = standin_config.new_id
_index = standin_config.index_of
_fixed_ip = standin_config.fixed_ip
_floating_ip = standin_config.floating_ip
_mac = standin_config.mac


class AcceptAll(constraints.BaseCustomConstraint):
    """A custom constraint that accepts every value (no cloud to ask)."""

    def validate(self, value, context, template=None):
        return True


class Standin(object):
    """Mixin placed before the real class: no calls to any cloud service."""

    standin_type = None          # the real type, e.g. OS::Nova::Server
    ip_pool = 'fixed'

    @classmethod
    def is_service_available(cls, context):
        return (True, None)

    def translation_rules(self, props):
        rules = super(Standin, self).translation_rules(props) or []
        return [r for r in rules
                if r.rule != translation.TranslationRule.RESOLVE]

    def validate(self):
        # Heat's schema and constraint validation, without client lookups.
        return resource.Resource.validate(self)

    def _names(self):
        names = [self.name, self.physical_resource_name()]
        try:
            names.append(self.properties.get('name'))
        except Exception:  # noqa: some types have no name property
            pass
        return names

    def handle_create(self):
        config = _config()
        delay, failure = standin_config.decide(config, self.standin_type,
                                               self._names())
        self.resource_id_set(_new_id(_allocate(self.ip_pool)))
        return {'deadline': time.time() + delay, 'failure': failure}

    def check_create_complete(self, token):
        if token and time.time() < token['deadline']:
            return False
        if token and token.get('failure'):
            LOG.info('Rehearsal stand-in %s fails on purpose: %s',
                     self.name, token['failure'])
            raise exception.ResourceInError(
                resource_status='ERROR', status_reason=token['failure'])
        self.standin_ready()
        return True

    def standin_ready(self):
        """Called once the create succeeded (hook for the server)."""

    def handle_update(self, json_snippet, tmpl_diff, prop_diff):
        return None

    def check_update_complete(self, token):
        return True

    def handle_delete(self):
        return None

    def check_delete_complete(self, token):
        return True

    def handle_check(self):
        return None

    def _show_resource(self):
        return self.standin_show()

    def standin_show(self):
        show = {'id': self.resource_id, 'status': 'ACTIVE'}
        try:
            for key, value in self.properties.items():
                show.setdefault(key, value)
        except Exception:  # noqa: properties may not resolve yet
            pass
        return show

    def _resolve_attribute(self, name):
        if self.resource_id is None:
            return None
        show = self.standin_show()
        if name == 'show':
            return show
        return show.get(name)


def _store(kind=hollow_store.ServerStore):
    path = os.environ.get(ENV_CONFIG)
    if not path:
        return None
    return kind(hollow_store.store_dir(path))


def _server_store():
    return _store(hollow_store.ServerStore)


def _network_store():
    return _store(hollow_store.NetworkStore)


# Image names resolved to Glance ids, per engine process: {(project, name):
# id}. Heat's real server resolves the name on every create.
_IMAGE_IDS = {}


class StandinServer(Standin, server.Server):
    standin_type = 'OS::Nova::Server'

    # The record the stand-in compute API lists (never fails the resource).
    def _record(self, **fields):
        store = _server_store()
        if store is None or self.resource_id is None:
            return
        try:
            if fields.get('status') == 'BUILD':
                store.put(self._server_record(fields['status']))
            else:
                store.update(self.resource_id, **fields)
        except Exception:  # noqa: the listing is a convenience
            LOG.exception('Rehearsal stand-in %s: server record not '
                          'written', self.name)

    def _network_name(self, key):
        store = _network_store()
        record = store.get(key) if store is not None else None
        return (record or {}).get('name') or key

    def _image_id(self):
        image = self.properties.get(self.IMAGE)
        if not image:
            return image
        key = (self.context.project_id, image)
        if key not in _IMAGE_IDS:
            try:
                _IMAGE_IDS[key] = self.client_plugin(
                    'glance').find_image_by_name_or_id(image)
            except Exception:  # noqa: the name is shown instead
                LOG.info('Rehearsal stand-in %s: image %s not resolved',
                         self.name, image)
                return image
        return _IMAGE_IDS[key]

    def _server_record(self, status):
        show = self.standin_show()
        addresses = {self._network_name(net):
                     [{k: v for k, v in a.items() if k != 'port'}
                      for a in addrs]
                     for net, addrs in show['addresses'].items()}
        created = hollow_store.now()
        return {'id': self.resource_id, 'name': show['name'],
                'status': status, 'addresses': addresses,
                'flavor': self.properties.get(self.FLAVOR),
                'image': self._image_id(),
                'key_name': self.properties.get(self.KEY_NAME),
                'metadata': show['metadata'],
                'project_id': self.context.project_id or '',
                'user_id': self.context.user_id or '',
                'instance_name': 'instance-%08x' % _index(self.resource_id),
                'host': 'rehearsal', 'created': created,
                'updated': created, 'launched_at': None,
                'stack_id': self.stack.id}

    def handle_create(self):
        token = super(StandinServer, self).handle_create()
        self._record(status='BUILD')
        return token

    def check_create_complete(self, token):
        try:
            return super(StandinServer, self).check_create_complete(token)
        except exception.ResourceInError:
            self._record(status='ERROR', fault=token.get('failure'))
            raise

    def handle_delete(self):
        store = _server_store()
        if store is not None and self.resource_id is not None:
            try:
                store.delete(self.resource_id)
            except (OSError, ValueError):
                LOG.exception('Rehearsal stand-in %s: server record not '
                              'removed', self.name)
        return super(StandinServer, self).handle_delete()

    def _networks(self):
        nets = self.properties.get(self.NETWORKS) or []
        keys = []
        for entry in nets:
            key = (entry.get(self.NETWORK_ID) or entry.get('network') or
                   entry.get(self.NETWORK_UUID) or entry.get('port'))
            if key and key not in keys:
                keys.append(key)
        return keys or ['private']

    def standin_show(self):
        ip = _fixed_ip(self.resource_id)
        nets = self._networks()
        addresses = {}
        for i, key in enumerate(nets):
            addr = ip if i == 0 else str(ipaddress.IPv4Address(ip) +
                                         (i << 20))
            addresses[key] = [{'addr': addr, 'version': 4,
                               'OS-EXT-IPS:type': 'fixed',
                               'OS-EXT-IPS-MAC:mac_addr':
                                   _mac(self.resource_id),
                               'port': None}]
        return {
            'id': self.resource_id,
            'name': self._server_name(),
            'status': 'ACTIVE',
            'addresses': addresses,
            'metadata': self.properties.get(self.METADATA) or {},
            'accessIPv4': '', 'accessIPv6': '',
        }

    def _resolve_attribute(self, name):
        if self.resource_id is None:
            return None
        show = self.standin_show()
        if name == self.FIRST_ADDRESS:
            return _fixed_ip(self.resource_id)
        if name == self.ADDRESSES:
            return show['addresses']
        if name == self.NETWORKS_ATTR:
            return {key: [a['addr'] for a in addrs]
                    for key, addrs in show['addresses'].items()}
        if name == self.NAME_ATTR:
            return show['name']
        if name == self.INSTANCE_NAME:
            return 'instance-%08x' % _index(self.resource_id)
        if name in (self.ACCESSIPV4, self.ACCESSIPV6):
            return ''
        if name == self.CONSOLE_URLS:
            return {}
        if name == self.TAGS_ATTR:
            return self.properties.get(self.TAGS)
        if name == self.OS_COLLECT_CONFIG:
            return {}
        if name == 'show':
            return show
        return None

    def standin_ready(self):
        self._record(status='ACTIVE', launched_at=hollow_store.now())
        meta = self.properties.get(self.METADATA) or {}
        if meta.get('cern_role') == 'master':
            self._signal_ready()

    def _signal_ready(self):
        """Answer this master's readiness wait condition (its own stack)."""
        from heat.engine import stack as parser
        try:
            own = parser.Stack.load(self.context, stack_id=self.stack.id)
            handle = own.resource_get(READY_HANDLE)
            if handle is None:
                LOG.info('Rehearsal stand-in %s: stack %s has no %s',
                         self.name, self.stack.id, READY_HANDLE)
                return
            # No id: Heat numbers the signals, so a replaced master's
            # signal adds to the count (master_generation).
            handle.signal({'status': 'SUCCESS',
                           'reason': 'rehearsal stand-in master ready',
                           'data': self.physical_resource_name()})
            LOG.info('Rehearsal stand-in %s signalled %s of stack %s',
                     self.name, READY_HANDLE, self.stack.id)
        except Exception:  # noqa: the wait condition times out instead
            LOG.exception('Rehearsal stand-in %s could not signal %s',
                          self.name, READY_HANDLE)


class StandinNet(Standin, net.Net):
    standin_type = 'OS::Neutron::Net'

    def handle_create(self):
        token = super(StandinNet, self).handle_create()
        store = _network_store()
        if store is not None:
            try:
                store.put({'id': self.resource_id,
                           'name': self.properties.get(self.NAME) or
                           self.physical_resource_name(),
                           'project_id': self.context.project_id or '',
                           'created': hollow_store.now()})
            except (OSError, ValueError):
                LOG.exception('Rehearsal stand-in %s: network record not '
                              'written', self.name)
        return token

    def handle_delete(self):
        store = _network_store()
        if store is not None and self.resource_id is not None:
            try:
                store.delete(self.resource_id)
            except (OSError, ValueError):
                LOG.exception('Rehearsal stand-in %s: network record not '
                              'removed', self.name)
        return super(StandinNet, self).handle_delete()

    def standin_show(self):
        show = super(StandinNet, self).standin_show()
        show.update({'subnets': [], 'admin_state_up': True, 'mtu': 1450,
                     'port_security_enabled': True})
        return show


class StandinSubnet(Standin, subnet.Subnet):
    standin_type = 'OS::Neutron::Subnet'

    def standin_show(self):
        show = super(StandinSubnet, self).standin_show()
        cidr = self.properties.get(self.CIDR) or '10.0.0.0/8'
        network = ipaddress.ip_network(cidr, strict=False)
        show.update({'network_id': self.properties.get(self.NETWORK),
                     'cidr': str(network), 'ip_version': network.version,
                     'gateway_ip': str(network.network_address + 1),
                     'allocation_pools': [{
                         'start': str(network.network_address + 2),
                         'end': str(network.broadcast_address - 1)}],
                     'enable_dhcp': True})
        return show


class StandinRouter(Standin, router.Router):
    standin_type = 'OS::Neutron::Router'

    def standin_show(self):
        show = super(StandinRouter, self).standin_show()
        show['external_gateway_info'] = self.properties.get(
            self.EXTERNAL_GATEWAY) or {}
        return show


class StandinRouterInterface(Standin, router.RouterInterface):
    standin_type = 'OS::Neutron::RouterInterface'


class StandinSecurityGroup(Standin, security_group.SecurityGroup):
    standin_type = 'OS::Neutron::SecurityGroup'


class StandinSecurityGroupRule(Standin,
                               security_group_rule.SecurityGroupRule):
    standin_type = 'OS::Neutron::SecurityGroupRule'


class StandinPort(Standin, port.Port):
    standin_type = 'OS::Neutron::Port'

    def standin_show(self):
        show = super(StandinPort, self).standin_show()
        fixed = []
        for i, entry in enumerate(self.properties.get(self.FIXED_IPS) or
                                  [{}]):
            ip = entry.get('ip_address') or str(
                ipaddress.IPv4Address(_fixed_ip(self.resource_id)) +
                (i << 20))
            fixed.append({'subnet_id': entry.get('subnet') or
                          entry.get('subnet_id'), 'ip_address': ip})
        show.update({'fixed_ips': fixed, 'mac_address': _mac(
            self.resource_id), 'network_id': self.properties.get(
                self.NETWORK), 'device_id': '', 'device_owner': '',
            'subnets': [f['subnet_id'] for f in fixed],
            'admin_state_up': True})
        return show


class StandinFloatingIP(Standin, floatingip.FloatingIP):
    standin_type = 'OS::Neutron::FloatingIP'
    ip_pool = 'floating'

    def standin_show(self):
        show = super(StandinFloatingIP, self).standin_show()
        show.update({
            'floating_ip_address': self.properties.get(
                self.FLOATING_IP_ADDRESS) or _floating_ip(self.resource_id),
            'floating_network_id': self.properties.get(
                self.FLOATING_NETWORK),
            'fixed_ip_address': self.properties.get(self.FIXED_IP_ADDRESS),
            'port_id': self.properties.get(self.PORT_ID),
            'router_id': None})
        return show


class StandinFloatingIPAssociation(Standin,
                                   floatingip.FloatingIPAssociation):
    standin_type = 'OS::Neutron::FloatingIPAssociation'


class StandinLoadBalancer(Standin, loadbalancer.LoadBalancer):
    standin_type = 'OS::Octavia::LoadBalancer'

    def standin_show(self):
        show = super(StandinLoadBalancer, self).standin_show()
        show.update({
            'vip_address': self.properties.get(self.VIP_ADDRESS) or
            _fixed_ip(self.resource_id),
            'vip_port_id': str(uuid.uuid5(uuid.NAMESPACE_URL,
                                          self.resource_id)),
            'vip_subnet_id': self.properties.get(self.VIP_SUBNET),
            'pools': [], 'provisioning_status': 'ACTIVE',
            'operating_status': 'ONLINE', 'flavor_id': None})
        return show


class StandinListener(Standin, listener.Listener):
    standin_type = 'OS::Octavia::Listener'


class StandinPool(Standin, pool.Pool):
    standin_type = 'OS::Octavia::Pool'

    def standin_show(self):
        show = super(StandinPool, self).standin_show()
        show.update({'members': [], 'listeners': [], 'healthmonitor_id':
                     None, 'provisioning_status': 'ACTIVE'})
        return show


class StandinPoolMember(Standin, pool_member.PoolMember):
    standin_type = 'OS::Octavia::PoolMember'


class StandinHealthMonitor(Standin, health_monitor.HealthMonitor):
    standin_type = 'OS::Octavia::HealthMonitor'


class StandinVolume(Standin, volume.CinderVolume):
    standin_type = 'OS::Cinder::Volume'

    def standin_show(self):
        show = super(StandinVolume, self).standin_show()
        show.update({'status': 'available', 'attachments': [],
                     'attachments_list': [], 'bootable': False,
                     'encrypted': False, 'multiattach': False,
                     'display_name': self.properties.get(self.NAME),
                     'display_description': self.properties.get(
                         self.DESCRIPTION)})
        return show


class StandinVolumeAttachment(Standin, volume.CinderVolumeAttachment):
    standin_type = 'OS::Cinder::VolumeAttachment'


STANDINS = (StandinServer, StandinNet, StandinSubnet, StandinRouter,
            StandinRouterInterface, StandinSecurityGroup,
            StandinSecurityGroupRule, StandinPort, StandinFloatingIP,
            StandinFloatingIPAssociation, StandinLoadBalancer,
            StandinListener, StandinPool, StandinPoolMember,
            StandinHealthMonitor, StandinVolume, StandinVolumeAttachment)


def standin_name(real_type):
    """``OS::Nova::Server`` -> ``Rehearsal::Nova::Server``."""
    return 'Rehearsal::' + real_type.split('::', 1)[1]


def resource_mapping():
    return {standin_name(cls.standin_type): cls for cls in STANDINS}


def _cloud_constraint_names():
    from importlib import metadata
    names = set()
    for ep in metadata.entry_points(group='heat.constraints'):
        if ep.name.startswith(CLOUD_CONSTRAINT_PREFIXES):
            names.add(ep.name)
    return names


def constraint_mapping():
    return {name: AcceptAll for name in _cloud_constraint_names()}
