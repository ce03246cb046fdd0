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
"""Preflight: can this cloud run the whole ladder, and what is it?

Checks, in order: credentials; Keystone, Magnum and Heat reachable;
Magnum's API microversion; the cluster template, its image and flavors
against the driver; quotas for the whole ladder at its concurrency; the
Heat resource budget of the largest size and the Heat setting it needs;
whether Heat encrypts the user data it stores (readable on the rehearsal
only).
Then the environment fingerprint (versions, template shape) and the known
upstream defects of the versions found. Last, :func:`artifact_check`:
every image, chart, package and URL the nodes will fetch exists (see
``artifact_check``). Nothing is created.

A check is ``{'name', 'ok', 'severity', 'message', 'skipped'}``; a failed
check of severity 'error' makes the preflight fatal (exit 1, nothing
created), a 'warning' is reported and the run goes on.
"""

import configparser
import hashlib
import importlib.metadata
import os
import re
import socket

import yaml

from magnum_cern_driver import budget
from magnum_cern_driver import labels as labels_mod
from magnum_cern_driver.selftest import artifact_check as check_mod
from magnum_cern_driver.selftest import cloud as cloud_mod
from magnum_cern_driver.selftest import plan as plan_mod

DEFAULT_DEFECTS = os.path.join(os.path.dirname(__file__), 'defects.yaml')
SCHEMA_VERSION = '1'


class PreflightError(Exception):
    """A fatal preflight finding; str() is one line."""


def load_defects(path=None):
    with open(path or DEFAULT_DEFECTS) as f:
        data = yaml.safe_load(f) or {}
    return list(data.get('defects') or [])


def _vtuple(text):
    m = re.match(r'^v?(\d+(?:\.\d+)*)', str(text or '').strip())
    if not m:
        return None
    return tuple(int(x) for x in m.group(1).split('.'))


def version_matches(version, affected):
    """True when ``version`` is in ``affected`` (exact or 'min..max')."""
    v = _vtuple(version)
    if v is None:
        return False
    for spec in affected or ():
        spec = str(spec)
        if '..' in spec:
            lo, hi = (_vtuple(x) for x in spec.split('..', 1))
            width = max(len(v), len(lo or ()), len(hi or ()))

            def pad(t):
                return tuple(t) + (0,) * (width - len(t))
            if lo is not None and hi is not None and \
                    pad(lo) <= pad(v) <= pad(hi):
                return True
            if lo is not None and hi is not None and \
                    pad(v) > pad(hi) and v[:len(hi)] == hi:
                return True     # 27.0.1.dev3 inside ..27.0.1
        else:
            want = _vtuple(spec)
            if want is not None and v[:len(want)] == want:
                return True
    return False


def match_defects(versions, defects=None):
    """Defects whose component version is affected."""
    defects = load_defects() if defects is None else defects
    found = []
    for d in defects:
        version = (versions or {}).get(d.get('component'))
        if version and version_matches(version, d.get('affected')):
            item = dict(d)
            item['version'] = version
            found.append(item)
    return found


def heat_budget(steps, masters=1, labels=None, nodegroups=1):
    """Heat resources of the largest step, via magnum_cern_driver.budget."""
    if not steps:
        return {'skipped': 'no steps'}
    largest = max(s.size for s in steps)
    try:
        res = budget.count(masters, largest, nodegroups=nodegroups,
                           labels=labels)
    except Exception as e:
        return {'error': cloud_mod.one_line(e), 'workers': largest,
                'masters': masters}
    out = dict(res)
    out.update({'workers': largest, 'masters': masters,
                'nodegroups': nodegroups})
    return out


def _local_version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _looks_like_version(text):
    return bool(re.match(r'^v?\d+\.\d+', str(text or '')))


def cloud_id(auth, kind='cloud'):
    """A stable, non-secret identity of the target.

    A cloud is its auth URL, region and project. The rehearsal gets new
    ports and project ids each time it is rebuilt, so it is identified by
    the machine it runs on.
    """
    if kind == 'rehearsal':
        raw = 'rehearsal|%s' % socket.gethostname()
    else:
        raw = '%s|%s|%s' % (auth.get('auth_url'), auth.get('region'),
                            auth.get('project_id'))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


HEAT_ENCRYPTION_OPTION = 'encrypt_parameters_and_properties'
_TRUE = ('1', 'true', 'yes', 'on')


# Root stacks one project may have; Heat's own default
# (heat/common/config.py, openstack-heat 27.0.1). Admins are not counted
# against it (heat/engine/service.py _validate_new_stack).
HEAT_STACK_LIMIT_OPTION = 'max_stacks_per_tenant'
HEAT_STACK_LIMIT_DEFAULT = 512


def _heat_default(path, option, default):
    """``[DEFAULT] option`` of the heat.conf at ``path``, as text.

    ``default`` if unset; None when the file cannot be read.
    """
    parser = configparser.RawConfigParser(strict=False)
    try:
        if not parser.read(path):
            return None
    except (OSError, configparser.Error):
        return None
    return parser.defaults().get(option, default).strip()


def heat_encryption_state(path):
    """Does the heat.conf at ``path`` encrypt parameters and properties?

    True or False as Heat reads ``[DEFAULT]
    encrypt_parameters_and_properties`` (an oslo.config BoolOpt, default
    False: heat/common/config.py); None when the file cannot be read.
    """
    value = _heat_default(path, HEAT_ENCRYPTION_OPTION, 'false')
    return None if value is None else value.lower() in _TRUE


def heat_stack_limit(path):
    """Heat's ``max_stacks_per_tenant`` in the heat.conf at ``path``.

    -1 is unlimited; None when the file cannot be read or the value is
    not a number (Heat itself would refuse to start then).
    """
    value = _heat_default(path, HEAT_STACK_LIMIT_OPTION,
                          str(HEAT_STACK_LIMIT_DEFAULT))
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


class Preflight(object):
    def __init__(self, cloud, steps, template=None, template_spec=None,
                 masters=1, keep=False, labels=None, versions=None,
                 rehearsal=None):
        """Prepare the checks.

        :param template: name or id of an existing cluster template.
        :param template_spec: body of a template the run will create
            (when no template is given), or a callable returning it
            (called after the credentials and endpoint checks).
        :param versions: operator-given versions ({'heat': ..}) that win
            over what the APIs tell.
        :param rehearsal: facts about the local rehearsal (stand-in boot
            delay, failure rate), part of the fingerprint.
        """
        self.cloud = cloud
        self.steps = steps
        self.template_name = template
        self.template_spec = template_spec
        self.masters = masters
        self.keep = keep
        self.labels = labels or {}
        self.given_versions = versions or {}
        self.rehearsal = rehearsal
        self.checks = []
        self.template = None
        self.auth = {}

    def _check(self, name, ok, message, severity='error', skipped=False):
        self.checks.append({'name': name, 'ok': bool(ok),
                            'severity': severity, 'skipped': skipped,
                            'message': cloud_mod.one_line(message, 500)})
        return ok

    def _fatal(self, name, message):
        self._check(name, False, message)
        raise PreflightError(message)

    # -- the checks -----------------------------------------------------------
    def credentials(self):
        try:
            self.auth = self.cloud.authenticate()
        except cloud_mod.CloudError as e:
            self._fatal('credentials', str(e))
        self._check('credentials', True, 'authenticated (project %s)'
                    % self.auth.get('project_id'))

    def endpoints(self):
        probes = self.cloud.probe()
        bad = []
        for stype, res in sorted(probes.items()):
            self._check('endpoint %s' % stype, res['ok'], res['message'])
            if not res['ok']:
                bad.append(res['message'])
        if bad:
            raise PreflightError(bad[0])
        self.probes = probes

    def api_version(self):
        try:
            vers = self.cloud.magnum_api_versions()
        except cloud_mod.CloudError as e:
            self._fatal('magnum api version', str(e))
        self.magnum_api = vers
        top = _vtuple(vers.get('max'))
        need = _vtuple(cloud_mod.MAGNUM_MICROVERSION)
        if top is not None and top < need:
            self._fatal('magnum api version',
                        'Magnum API max microversion %s < %s (nodegroups)'
                        % (vers.get('max'), cloud_mod.MAGNUM_MICROVERSION))
        self._check('magnum api version', True, 'container-infra %s..%s'
                    % (vers.get('min'), vers.get('max')))

    def template_checks(self):
        if self.template_name:
            try:
                tmpl = self.cloud.find_template(self.template_name)
            except cloud_mod.CloudError as e:
                self._fatal('cluster template', str(e))
            if tmpl is None:
                self._fatal('cluster template', 'unknown cluster template '
                            '%r' % self.template_name)
            self._check('cluster template', True, 'found %s (%s)'
                        % (tmpl.get('name'), tmpl.get('uuid')))
        else:
            if callable(self.template_spec):
                # Built only now: it looks images and flavors up.
                try:
                    self.template_spec = self.template_spec()
                except cloud_mod.CloudError as e:
                    self._fatal('cluster template', str(e))
            tmpl = dict(self.template_spec or {})
            self._check('cluster template', True, 'the run creates %s'
                        % tmpl.get('name'), severity='info')
        self.template = tmpl
        if tmpl.get('coe') != cloud_mod.COE:
            self._fatal('template coe', 'template coe is %r, the driver '
                        'builds %r' % (tmpl.get('coe'), cloud_mod.COE))
        driver = tmpl.get('driver')
        if driver and driver != cloud_mod.DRIVER_NAME:
            self._fatal('template driver', 'template driver is %r, not %r'
                        % (driver, cloud_mod.DRIVER_NAME))
        image_id = tmpl.get('image_id')
        if not image_id:
            self._fatal('image', 'the template has no image')
        try:
            image = self.cloud.find_image(image_id)
        except cloud_mod.CloudError as e:
            self._fatal('image', str(e))
        if image is None:
            self._fatal('image', 'image %s not found in Glance' % image_id)
        self.image = image
        if image.get('os_distro') != cloud_mod.DRIVER_OS_DISTRO:
            self._fatal('image', 'image %s has os_distro %r; the driver '
                        'claims %r' % (image.get('name'), image.get(
                            'os_distro'), cloud_mod.DRIVER_OS_DISTRO))
        if image.get('magnum_driver') and \
                image['magnum_driver'] != cloud_mod.DRIVER_NAME and \
                not driver:
            self._fatal('image', 'image %s names driver %r' % (
                image.get('name'), image['magnum_driver']))
        self._check('image', True, '%s (os_distro %s)' % (
            image.get('name'), image.get('os_distro')))
        self.flavors = {}
        for key in ('flavor_id', 'master_flavor_id'):
            fid = tmpl.get(key)
            if not fid:
                self._check(key, True, 'not set (Magnum default)',
                            severity='info', skipped=True)
                continue
            if not self.cloud.has_service('compute'):
                self._check(key, True, 'no compute service in the catalog '
                            '(hollow data plane): not checked',
                            severity='info', skipped=True)
                continue
            try:
                fl = self.cloud.find_flavor(fid)
            except cloud_mod.CloudError as e:
                self._fatal(key, str(e))
            if fl is None:
                self._fatal(key, 'flavor %s not found' % fid)
            self.flavors[key] = fl
            self._check(key, True, '%s: %d vCPU, %d MB RAM' % (
                fl['name'], fl['vcpus'], fl['ram']))

    def quota_checks(self):
        labels = dict(self.template.get('labels') or {})
        labels.update(self.labels)
        volumes = 0
        gb = 0
        try:
            boot = int(labels.get('boot_volume_size') or 0)
        except ValueError:
            boot = 0
        docker = int(self.template.get('docker_volume_size') or 0)
        volumes = (1 if boot else 0) + (1 if docker else 0)
        gb = max(boot, docker)
        flavor = self.flavors.get('flavor_id')
        master_flavor = self.flavors.get('master_flavor_id') or flavor
        need = plan_mod.quota_need(self.steps, masters=self.masters,
                                   keep=self.keep, flavor=flavor,
                                   master_flavor=master_flavor,
                                   volumes_per_node=volumes, volume_gb=gb)
        try:
            have = self.cloud.quotas()
        except cloud_mod.CloudError as e:
            self._check('quotas', False, 'cannot read quotas: %s' % e,
                        severity='warning')
            self.quota = {'need': need, 'have': {}}
            return
        self.quota = {'need': need, 'have': have}
        short = []
        for name in sorted(need):
            q = have.get(name)
            if not isinstance(q, dict) or q.get('limit') is None:
                self._check('quota %s' % name, True, 'need %d; quota not '
                            'known here' % need[name], severity='info',
                            skipped=True)
                continue
            limit = q['limit']
            if limit < 0:
                self._check('quota %s' % name, True, 'need %d; unlimited'
                            % need[name])
                continue
            avail = limit - (q.get('in_use') or 0)
            ok = need[name] <= avail
            self._check('quota %s' % name, ok, 'need %d, available %d '
                        '(limit %d, in use %d)' % (need[name], avail, limit,
                                                   q.get('in_use') or 0))
            if not ok:
                short.append('%s needs %d, %d available' % (
                    name, need[name], avail))
        for service, err in sorted((have.get('errors') or {}).items()):
            self._check('quota %s' % service, True, 'not readable: %s'
                        % err, severity='info' if self.cloud.hollow
                        else 'warning', skipped=True)
        if short:
            raise PreflightError('quota too small for the ladder: %s'
                                 % '; '.join(short))

    def budget_check(self):
        labels = dict(self.template.get('labels') or {})
        labels.update(self.labels)
        self.budget = heat_budget(self.steps, self.masters, labels)
        if 'skipped' in self.budget or 'error' in self.budget:
            self._check('heat budget', True, self.budget.get('skipped') or
                        self.budget.get('error'), severity='warning',
                        skipped=True)
            return
        self._check('heat budget', True, '%d workers: %s Heat resources; '
                    'largest template %s has %s; needs heat.conf '
                    'max_resources_per_stack >= %s (or -1)' % (
                        self.budget['workers'],
                        self.budget.get('total_resources'),
                        self.budget.get('largest_template'),
                        self.budget.get('largest_template_resources'),
                        self.budget.get('max_resources_per_stack')),
                    severity='warning')

    def heat_encryption_check(self):
        """Heat stores the user data (cluster CA keys) encrypted?

        Only the rehearsal's heat.conf is readable here; on a cloud the
        operator has to look.
        """
        name = 'heat encryption'
        reh = getattr(self.cloud, 'rehearsal', None)
        option = '[DEFAULT] %s' % HEAT_ENCRYPTION_OPTION
        if reh is None:
            self._check(name, True, 'unknown, check your heat.conf: %s = '
                        'true keeps the cluster CA keys in the masters\' '
                        'user data out of Heat\'s database in cleartext'
                        % option, severity='info', skipped=True)
            return None
        path = reh.layout.conf('heat')
        state = heat_encryption_state(path)
        if state is None:
            self._check(name, True, 'unknown: cannot read %s' % path,
                        severity='warning', skipped=True)
        elif state:
            self._check(name, True, '%s is on (%s): user data and resource '
                        'properties are stored encrypted' % (option, path))
        else:
            self._check(name, False, '%s is off (%s): the cluster CA keys '
                        'in the masters\' user data are stored in cleartext'
                        % (option, path), severity='warning')
        return state

    def heat_stack_limit_check(self):
        """Can the run's project hold all its clusters' stacks at once?

        Heat refuses a project's stack beyond ``max_stacks_per_tenant``
        (512 by default): a fleet of 1000 clusters would fail from the
        513th on. Only the rehearsal's heat.conf is readable here.
        """
        name = 'heat stacks per project'
        need = plan_mod.quota_need(self.steps, masters=self.masters,
                                   keep=self.keep).get('clusters', 0)
        option = '[DEFAULT] %s' % HEAT_STACK_LIMIT_OPTION
        reh = getattr(self.cloud, 'rehearsal', None)
        if reh is None:
            over = need > HEAT_STACK_LIMIT_DEFAULT
            self._check(name, True, 'need %d root stacks at once in this '
                        'project; unknown here, check your heat.conf: %s '
                        '(Heat\'s default %d)%s' % (
                            need, option, HEAT_STACK_LIMIT_DEFAULT,
                            ' is too small' if over else ' is enough'),
                        severity='warning' if over else 'info',
                        skipped=True)
            return
        path = reh.layout.conf('heat')
        limit = heat_stack_limit(path)
        if limit is None:
            self._check(name, True, 'unknown: cannot read %s in %s'
                        % (option, path), severity='warning', skipped=True)
            return
        ok = limit < 0 or need <= limit
        self._check(name, ok, 'need %d root stacks at once in this project; '
                    '%s = %d (%s)' % (need, option, limit, path))
        if not ok:
            raise PreflightError(
                'Heat allows %d stacks per project (%s in %s) and the run '
                'needs %d at once: raise it, or run fewer clusters'
                % (limit, option, path, need))

    def versions(self):
        v = {'selftest_schema': SCHEMA_VERSION,
             'driver': _local_version('magnum-cern-driver')}
        sources = {'driver': 'local package (the conductor may differ)'}
        build = self.cloud.heat_build_info() or {}
        engine = ((build.get('engine') or {}).get('revision')
                  if isinstance(build, dict) else None)
        if _looks_like_version(engine):
            v['heat'] = engine.lstrip('v')
            sources['heat'] = 'Heat /build_info'
        elif self.cloud.kind == 'rehearsal':
            v['heat'] = _local_version('openstack-heat')
            sources['heat'] = 'local package (rehearsal)'
        if self.cloud.kind == 'rehearsal':
            v['magnum'] = _local_version('magnum')
            sources['magnum'] = 'local package (rehearsal)'
        v['magnum_api_max'] = (getattr(self, 'magnum_api', None) or
                               {}).get('max')
        labels = dict((self.template or {}).get('labels') or {})
        labels.update(self.labels)
        kube = labels.get('kube_tag')
        if not kube:
            kube = labels_mod.SCHEMA['kube_tag'].default
            sources['kubernetes'] = 'driver default kube_tag'
        else:
            sources['kubernetes'] = 'template label kube_tag'
        v['kubernetes'] = kube.lstrip('v')
        for k, val in self.given_versions.items():
            if val:
                v[k] = val
                sources[k] = 'given on the command line'
        self.version_sources = sources
        return v

    def fingerprint(self):
        tmpl = self.template or {}
        labels = dict(tmpl.get('labels') or {})
        labels.update(self.labels)
        return {
            'schema_version': SCHEMA_VERSION,
            'target': {'kind': self.cloud.kind, 'name': self.cloud.name,
                       'cloud_id': cloud_id(self.auth, self.cloud.kind),
                       'region': self.auth.get('region')},
            'hollow': bool(self.cloud.hollow),
            'versions': self.found_versions,
            'version_sources': self.version_sources,
            'template': {
                'name': tmpl.get('name'), 'coe': tmpl.get('coe'),
                'driver': tmpl.get('driver'),
                'image_os_distro': (getattr(self, 'image', None) or
                                    {}).get('os_distro'),
                'flavor': tmpl.get('flavor_id'),
                'master_flavor': tmpl.get('master_flavor_id'),
                'network_driver': tmpl.get('network_driver'),
                'docker_volume_size': tmpl.get('docker_volume_size'),
                'labels': labels},
            'masters': self.masters,
            'rehearsal': self.rehearsal,
        }

    def run(self):
        """Run every check; returns the preflight document.

        Raises PreflightError (after recording the check) on a fatal
        finding; ``self.checks`` then holds what was checked so far.
        """
        self.credentials()
        self.endpoints()
        self.api_version()
        self.template_checks()
        self.quota_checks()
        self.budget_check()
        self.heat_encryption_check()
        self.heat_stack_limit_check()
        self.found_versions = self.versions()
        defects = match_defects(self.found_versions)
        for d in defects:
            self._check('known defect %s' % d['id'], d.get(
                'kind') == 'behaviour', '%s %s: %s. %s Workaround: %s' % (
                    d['component'], d['version'], d.get('title'),
                    d.get('consequence', ''), d.get('workaround', '')),
                severity='info' if d.get('kind') == 'behaviour'
                else 'warning')
        return self.document(defects)

    def document(self, defects=None):
        return {'checks': list(self.checks),
                'fingerprint': self.fingerprint() if hasattr(
                    self, 'found_versions') else None,
                'budget': getattr(self, 'budget', None),
                'quota': getattr(self, 'quota', None),
                'defects': defects or []}


def artifact_check(doc, cloud, template=None, labels=None, skip=False,
                   manifest=None, timeout=None):
    """Add the node artifact check to the preflight document ``doc``.

    The artifacts are those of the template's labels with ``labels`` (the
    command line's) over them; the mirror is label ``registry_mirror``.
    On the local rehearsal the check is reported as skipped (it has no
    network), never as passed. ``doc['artifacts']`` gets what was found
    for each artifact.

    :raises PreflightError: when an artifact is missing or did not answer
        (recorded in ``doc`` first).
    """
    merged = dict((template or {}).get('labels') or {})
    merged.update(labels or {})
    check, results = check_mod.preflight_check(
        merged, manifest=manifest,
        timeout=timeout or check_mod.DEFAULT_TIMEOUT, skip=skip,
        rehearsal=getattr(cloud, 'kind', None) == 'rehearsal')
    check = dict(check, message=cloud_mod.one_line(check['message'], 4000))
    doc.setdefault('checks', []).append(check)
    doc['artifacts'] = [r.as_dict() for r in results]
    if not check['ok'] and check['severity'] == 'error':
        raise PreflightError('%s: %s' % (check['name'], check['message']))
    return check
