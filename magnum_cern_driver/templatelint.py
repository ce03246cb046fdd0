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
"""A check Heat does not make: ``get_attr`` through groups and templates.

Heat accepts any attribute name in ``get_attr`` on a ResourceGroup (it is
resolved per member at run time), and does not check attributes of a
template resource against the nested template's outputs when it validates
the parent. A typo there only shows when the stack is created. This lint
checks both, for every template in the set.
"""

from magnum_cern_driver import render

GROUP = 'OS::Heat::ResourceGroup'
GROUP_ATTRS = ('refs', 'refs_map', 'attributes', 'removed_rsrc_list')
TEMPLATE_ATTRS = ('OS::stack_id',)


def _get_attrs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == 'get_attr' and isinstance(value, list):
                yield value
            yield from _get_attrs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _get_attrs(item)


def _outputs(files, name):
    tmpl = render.parse(files[name])
    return set(tmpl.get('outputs') or {}) | set(TEMPLATE_ATTRS)


def _member_attr_ok(mtype, attr, files, native_attributes, errors, where):
    if mtype in files:
        if attr not in _outputs(files, mtype):
            errors.append('%s: %s has no output %r' % (where, mtype, attr))
    elif native_attributes is not None:
        known = native_attributes(mtype)
        if known is not None and attr not in known:
            errors.append('%s: %s has no attribute %r' % (where, mtype, attr))


def check_template(name, tmpl, files, native_attributes=None):
    """Errors (strings) for bad ``get_attr`` uses in one template.

    :param native_attributes: callable(resource type) -> set of attribute
        names, or None to skip native types.
    """
    errors = []
    resources = tmpl.get('resources') or {}
    for args in _get_attrs(tmpl):
        target, attr = args[0], args[1] if len(args) > 1 else None
        where = '%s: get_attr %s' % (name, args)
        if not isinstance(target, str) or not isinstance(attr, str):
            continue
        res = resources.get(target)
        if res is None:
            errors.append('%s: no resource %s' % (where, target))
            continue
        rtype = res.get('type')
        if rtype == GROUP:
            mtype = res['properties']['resource_def']['type']
            if attr in GROUP_ATTRS:
                continue
            if attr.startswith('resource.'):
                parts = attr.split('.')
                if len(parts) < 3:
                    continue
                attr = parts[2]
            _member_attr_ok(mtype, attr, files, native_attributes, errors,
                            where)
        else:
            _member_attr_ok(rtype, attr, files, native_attributes, errors,
                            where)
    return errors


def check(template, files, native_attributes=None):
    """Errors for the root template and every template in ``files``."""
    errors = check_template('root', template, files, native_attributes)
    for name in sorted(files):
        errors += check_template(name, render.parse(files[name]), files,
                                 native_attributes)
    return errors
