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
"""Validate HOT templates with Heat's own engine code, in-process.

No Heat service and no database: Heat's config is parsed empty, messaging
goes to ``fake://``, the resource plugins are initialised, and the custom
constraints that would ask a cloud (``nova.flavor``, ``glance.image``, ...)
accept everything. Then ``Template`` -> ``Stack(strict_validate=True)`` ->
``validate()``, as Heat's stack-create path does, with nested stacks forced
strict too (Heat validates them loosely on its own).

Heat registers its options on oslo.config's global CONF, and so does
Magnum, with clashing names (``host``...). So Heat runs in a child process:
tests call :func:`run_in_subprocess` with a batch of jobs, and this module's
``__main__`` answers them with JSON.
"""

import contextlib
import json
import os
import subprocess
import sys
import threading

_LOCK = threading.Lock()
_READY = False


def _init():
    global _READY
    with _LOCK:
        if _READY:
            return
        from heat.common import config  # noqa: F401  (registers options)
        from heat.common import messaging
        from heat.engine import constraints
        from heat.engine import resources
        from oslo_config import cfg

        conf = cfg.CONF
        if not conf._args:
            conf([], project='heat', default_config_files=[])
        conf.set_override('environment_dir', '/nonexistent/heat-env')
        conf.set_override('plugin_dirs', [])
        messaging.setup('fake://')
        resources.initialise()

        class AcceptAll(constraints.BaseCustomConstraint):
            """A constraint that would need a cloud: accept any value."""

            def validate(self, value, context, template=None):
                return True

        env = resources.global_env()
        for name in list(env.constraints):
            if '.' in name:            # nova.flavor, glance.image, ...
                env.register_constraint(name, AcceptAll)
        _READY = True


@contextlib.contextmanager
def _strict_nested():
    """Make every stack, nested ones included, validate strictly.

    Also treat every service as available: Heat would ask Keystone's
    catalog, and no cloud is here. Nothing else is relaxed.
    """
    from heat.engine.clients.os import nova as nova_client
    from heat.engine import resource as resource_mod
    from heat.engine.resources.openstack.nova import server as server_mod
    from heat.engine.resources import stack_resource
    from heat.engine import stack as stack_mod

    def get(self):
        return True

    def set_(self, value):
        pass

    saved = stack_mod.Stack.__dict__.get('strict_validate')
    stack_mod.Stack.strict_validate = property(get, set_)
    saved_avail = resource_mod.Resource.__dict__[
        '_validate_service_availability']
    resource_mod.Resource._validate_service_availability = classmethod(
        lambda cls, context, resource_type: None)
    saved_validate = stack_resource.StackResource.validate

    def validate_always_nested(self):
        # Heat skips nested stacks below the root when validating strictly
        # (it relies on the loose pass at create time): validate them all.
        resource_mod.Resource.validate(self)
        self.validate_nested_stack()

    stack_resource.StackResource.validate = validate_always_nested
    # The server's image/flavor compatibility check asks Glance and Nova.
    server_cls = server_mod.Server
    saved_flavor_check = server_cls._validate_image_flavor
    server_cls._validate_image_flavor = lambda self, image, flavor: None
    # Nova's limits and microversions come from the cloud too: answer as a
    # default Nova would (metadata items 128, any microversion).
    nova_cls = nova_client.NovaClientPlugin
    saved_limits = nova_cls.absolute_limits
    saved_version = nova_cls.is_version_supported
    nova_cls.absolute_limits = lambda self: {
        'maxServerMeta': 128, 'maxPersonality': 5,
        'maxPersonalitySize': 10240}
    nova_cls.is_version_supported = lambda self, version: True
    try:
        yield
    finally:
        nova_cls.absolute_limits = saved_limits
        nova_cls.is_version_supported = saved_version
        server_cls._validate_image_flavor = saved_flavor_check
        stack_resource.StackResource.validate = saved_validate
        resource_mod.Resource._validate_service_availability = saved_avail
        if saved is None:
            del stack_mod.Stack.strict_validate
        else:
            stack_mod.Stack.strict_validate = saved


def _context():
    from heat.common import context
    return context.RequestContext(
        user_id='u', project_id='p', is_admin=False, auth_token='fake',
        user_domain_id='default', project_domain_id='default')


def make_stack(template, files, parameters, environment=None):
    """A Heat ``Stack`` object for our template (not stored anywhere)."""
    _init()
    from heat.engine import environment as env_mod
    from heat.engine import stack as stack_mod
    from heat.engine import template as tmpl_mod

    env = env_mod.Environment({'parameters': dict(parameters)})
    if environment:
        env.load(environment)
    tmpl = tmpl_mod.Template(template, files=files, env=env)
    return stack_mod.Stack(_context(), 'validate', tmpl, strict_validate=True)


def validate(template, files, parameters, environment=None):
    """Raise Heat's own error if the template set is invalid."""
    stack = make_stack(template, files, parameters, environment)
    with _strict_nested():
        stack.validate()
    return stack


def count_resources(stack):
    """Count a stack tree's resources by walking Heat's own objects.

    Heat evaluates the conditions, resolves the nested templates and
    properties and sizes the groups; we only add up what it builds.
    """
    from heat.engine.resources.openstack.heat import resource_group
    from heat.engine.resources import stack_resource

    total = 0
    for name, res in stack.resources.items():
        total += 1
        if isinstance(res, resource_group.ResourceGroup):
            size = res.get_size()
            if not size:
                continue
            names = list(res._resource_names(size))
            child_tmpl = res._assemble_nested(names, include_all=True)
        elif isinstance(res, stack_resource.StackResource):
            child_tmpl = res.child_template()
        else:
            continue
        nested = res._parse_nested_stack('%s-%s' % (stack.name, name),
                                         child_tmpl, res.child_params())
        total += count_resources(nested)
    return total


def native_attributes(resource_type):
    """Attribute names of a native Heat resource type (None if unknown)."""
    _init()
    from heat.engine import resources
    try:
        cls = resources.global_env().get_class(resource_type)
    except Exception:
        return None
    return set(cls.attributes_schema) | set(
        getattr(cls, 'base_attributes_schema', {}))


def run_job(job):
    """Validate, count and lint one template set; never raises."""
    from magnum_cern_driver import templatelint
    result = {'id': job['id'], 'error': None, 'heat_count': None,
              'lint': []}
    try:
        validate(job['template'], job['files'], job['parameters'],
                 job.get('environment'))
    except Exception as e:
        result['error'] = '%s: %s' % (type(e).__name__, e)
    if job.get('count') and result['error'] is None:
        stack = make_stack(job['template'], job['files'], job['parameters'],
                           job.get('environment'))
        result['heat_count'] = count_resources(stack)
    result['lint'] = templatelint.check(job['template'], job['files'],
                                        native_attributes)
    return result


def run_in_subprocess(jobs, timeout=600):
    """Run jobs in a fresh interpreter (Heat's config stays out of ours)."""
    top = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    proc = subprocess.run(
        [sys.executable, '-m', 'tests.unit.heat_harness'],
        input=json.dumps(jobs), capture_output=True, text=True,
        cwd=top, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError('heat harness failed (%d): %s'
                           % (proc.returncode, proc.stderr[-3000:]))
    marker = proc.stdout.rindex('\n@@RESULTS@@\n')
    return {r['id']: r for r in json.loads(
        proc.stdout[marker + len('\n@@RESULTS@@\n'):])}


def main():
    jobs = json.load(sys.stdin)
    results = [run_job(job) for job in jobs]
    sys.stdout.write('\n@@RESULTS@@\n' + json.dumps(results))
    return 0


if __name__ == '__main__':
    sys.exit(main())
