#!/usr/bin/env python3
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
"""Turn an example cluster template (etc/cluster-templates/*.yaml) into
command-line arguments, one per output line.

    cluster-template.py name FILE
    cluster-template.py create-args FILE [--set field=value ...]
    cluster-template.py budget-args FILE

``create-args`` prints the arguments of ``openstack coe cluster template
create`` (the template name last), ``budget-args`` those of
``magnum-cern-selftest budget`` for the template's ``sizing``. Labels are
validated with the driver's label schema first, so a bad example fails
here and not half-way through a devstack run. ``--set field=value``
overrides a template field; an empty value removes it.
"""

import argparse
import sys

import yaml

from magnum_cern_driver import labels as labels_mod

# template field -> option of `openstack coe cluster template create`
VALUE_FIELDS = {
    'coe': '--coe',
    'server_type': '--server-type',
    'image': '--image',
    'external_network': '--external-network',
    'keypair': '--keypair',
    'fixed_network': '--fixed-network',
    'fixed_subnet': '--fixed-subnet',
    'network_driver': '--network-driver',
    'volume_driver': '--volume-driver',
    'dns_nameserver': '--dns-nameserver',
    'flavor': '--flavor',
    'master_flavor': '--master-flavor',
    'docker_volume_size': '--docker-volume-size',
    'docker_storage_driver': '--docker-storage-driver',
    'http_proxy': '--http-proxy',
    'https_proxy': '--https-proxy',
    'no_proxy': '--no-proxy',
}
# boolean template field -> (option when true, option when false)
BOOL_FIELDS = {
    'public': ('--public', None),
    'master_lb_enabled': ('--master-lb-enabled', None),
    'floating_ip_enabled': ('--floating-ip-enabled',
                            '--floating-ip-disabled'),
    'tls_disabled': ('--tls-disabled', None),
    'registry_enabled': ('--registry-enabled', None),
    'hidden': ('--hidden', None),
}
REQUIRED_FIELDS = ('coe', 'image', 'external_network')


class TemplateError(ValueError):
    pass


def _bool(field, value):
    if isinstance(value, bool):
        return value
    low = str(value).strip().lower()
    if low in ('true', 'yes', '1'):
        return True
    if low in ('false', 'no', '0'):
        return False
    raise TemplateError('%s: expected true or false, not %r'
                        % (field, value))


def _text(what, value):
    text = str(value)
    if not text or not text.isprintable():
        raise TemplateError('%s: empty or not printable: %r' % (what, value))
    return text


def load(path, overrides=()):
    """Read and check one example template; apply ``field=value``s."""
    with open(path) as f:
        doc = yaml.safe_load(f)
    if not isinstance(doc, dict):
        raise TemplateError('%s: not a mapping' % path)
    unknown = set(doc) - {'name', 'sizing', 'template'}
    if unknown:
        raise TemplateError('%s: unknown keys %s' % (path, sorted(unknown)))
    _text('name', doc.get('name', ''))
    template = dict(doc.get('template') or {})
    for item in overrides:
        field, sep, value = item.partition('=')
        if not sep:
            raise TemplateError('--set needs field=value, not %r' % item)
        if value == '':
            template.pop(field, None)
        else:
            template[field] = value
    labels = template.pop('labels', None) or {}
    if not isinstance(labels, dict):
        raise TemplateError('%s: labels must be a mapping' % path)
    labels = {str(k): str(v).lower() if isinstance(v, bool) else str(v)
              for k, v in labels.items()}
    try:
        labels_mod.validate(labels, unknown='reject')
    except labels_mod.InvalidLabel as e:
        raise TemplateError('%s: %s' % (path, e))
    for field in template:
        if field not in VALUE_FIELDS and field not in BOOL_FIELDS:
            raise TemplateError('%s: unknown template field %s'
                                % (path, field))
    for field in REQUIRED_FIELDS:
        if field not in template:
            raise TemplateError('%s: template field %s is required'
                                % (path, field))
    sizing = doc.get('sizing') or {}
    for key in ('masters', 'workers'):
        if not isinstance(sizing.get(key), int) or sizing[key] < 0:
            raise TemplateError('%s: sizing.%s must be an integer >= 0'
                                % (path, key))
    if sizing['masters'] < 1:
        raise TemplateError('%s: sizing.masters must be >= 1' % path)
    return doc['name'], template, labels, sizing


def create_args(name, template, labels):
    args = []
    for field, option in VALUE_FIELDS.items():
        if field in template:
            args += [option, _text(field, template[field])]
    for field, (on, off) in BOOL_FIELDS.items():
        if field in template:
            option = on if _bool(field, template[field]) else off
            if option:
                args.append(option)
    for key in sorted(labels):
        args += ['--labels', '%s=%s' % (key, _text(key, labels[key]))]
    args.append(_text('name', name))
    return args


def budget_args(template, labels, sizing):
    args = ['--masters', str(sizing['masters']),
            '--workers', str(sizing['workers'])]
    if sizing.get('nodegroups'):
        args += ['--nodegroups', str(int(sizing['nodegroups']))]
    labels = dict(labels)
    if _bool('master_lb_enabled', template.get('master_lb_enabled', False)):
        labels['master_lb_enabled'] = 'true'
    for key in sorted(labels):
        args += ['--label', '%s=%s' % (key, labels[key])]
    return args


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('command',
                        choices=('name', 'create-args', 'budget-args'))
    parser.add_argument('file')
    parser.add_argument('--set', action='append', default=[],
                        metavar='FIELD=VALUE')
    args = parser.parse_args(argv)
    try:
        name, template, labels, sizing = load(args.file, args.set)
        if args.command == 'name':
            out = [name]
        elif args.command == 'create-args':
            out = create_args(name, template, labels)
        else:
            out = budget_args(template, labels, sizing)
    except (OSError, yaml.YAMLError, TemplateError) as e:
        print('cluster-template.py: %s' % e, file=sys.stderr)
        return 1
    for arg in out:
        print(arg)
    return 0


if __name__ == '__main__':
    sys.exit(main())
