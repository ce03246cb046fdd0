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
"""The devstack plugin, run phase by phase against recording stubs.

``devstack/plugin.sh`` is sourced by bash exactly as devstack's
``run_phase`` does (``source plugin.sh stack post-config``) after
``devstack/settings``, with devstack's functions (``iniset``,
``is_service_enabled``, ``setup_develop``, ``get_extra_file``, ...) and
the commands it runs (``openstack``, ``sudo``, ``systemctl``,
``magnum-cern-selftest``, ``disk-image-create``) replaced by stubs that
record their arguments. ``sudo`` runs its command for real, inside a
temporary directory, so the files the plugin writes can be checked.
The example-template tool (``devstack/tools/cluster-template.py``) runs
for real with this Python. No network, no devstack checkout.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import textwrap

import testtools

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
PLUGIN = os.path.join(REPO, 'devstack', 'plugin.sh')
SETTINGS = os.path.join(REPO, 'devstack', 'settings')
TEMPLATE_DIR = os.path.join(REPO, 'etc', 'cluster-templates')

SECRET = 'sentinel-secret-3f9c1a'

STUBS = r'''
record() {
    local out="" arg
    for arg in "$@"; do
        out+="$(printf '%q' "$arg") "
    done
    echo "$out" >> "$RECORD"
}
iniset() { record iniset "$@"; }
iniget() {
    record iniget "$@"
    if [[ "$2 $3" == "DEFAULT max_resources_per_stack" ]]; then
        echo "${STUB_HEAT_MAX_RESOURCES:-}"
    fi
}
is_service_enabled() {
    local s
    for s in "$@"; do
        if [[ " $STUB_SERVICES " == *" $s "* ]]; then
            return 0
        fi
    done
    return 1
}
trueorfalse() {
    local default=$1 value=${!2:-}
    case "$value" in
        1|yes|Yes|YES|true|True|TRUE|on|On|ON) echo True ;;
        0|no|No|NO|false|False|FALSE|off|Off|OFF) echo False ;;
        *) echo "$default" ;;
    esac
}
setup_develop() { record setup_develop "$@"; }
pip_install() { record pip_install "$@"; }
echo_summary() { echo "summary: $*"; }
die() { echo "DIE: $*" >&2; exit 1; }
get_python_exec_prefix() { echo "$STUB_BIN"; }
get_extra_file() {
    record get_extra_file "$@"
    echo "$FILES/$(basename "$1")"
}
openstack() {
    record openstack "$@"
    if [[ " $* " == *" show "* ]]; then
        return "${STUB_SHOW_RC:-1}"
    fi
}
systemctl() { record systemctl "$@"; }
sudo() {
    record sudo "$@"
    "$@"
}
'''

SELFTEST_STUB = r'''#!/bin/bash
# Records its arguments; answers like `budget --format json` with
# max_resources_per_stack = workers + 10 * masters.
out=""
for arg in "$@"; do
    out+="$(printf '%q' "$arg") "
done
echo "magnum-cern-selftest $out" >> "$RECORD"
if [[ -n "${STUB_BUDGET_FAIL:-}" ]]; then
    echo "budget: failed" >&2
    exit 2
fi
masters=0
workers=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --masters) masters=$2; shift ;;
        --workers) workers=$2; shift ;;
    esac
    shift
done
total=$((workers + 10 * masters))
echo "{\"total_resources\": $total, \"largest_template_resources\": 50,"
echo " \"max_resources_per_stack\": $total}"
'''

DIB_STUB = r'''#!/bin/bash
out="ELEMENTS_PATH=$ELEMENTS_PATH DIB_RELEASE=$DIB_RELEASE "
for arg in "$@"; do
    out+="$(printf '%q' "$arg") "
done
echo "disk-image-create $out" >> "$RECORD"
'''

ALL_SERVICES = 'key g-api magnum-api magnum-cond h-eng h-api'


class PluginRun(object):
    """One sourced phase: its records, output and exit status."""

    def __init__(self, rc, out, err, records):
        self.rc = rc
        self.out = out
        self.err = err
        self.records = records

    def calls(self, name):
        return [r[1:] for r in self.records if r[0] == name]

    def inisets(self, path):
        return {(r[1], r[2]): r[3] for r in self.calls('iniset')
                if r[0] == path}


class DevstackPluginTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix='ds-plugin-')
        self.addCleanup(shutil.rmtree, self.tmp)
        self.bin = self._mkdir('bin')
        self.files = self._mkdir('files')
        self.systemd = os.path.join(self.tmp, 'systemd')
        self.magnum_conf = os.path.join(self.tmp, 'magnum.conf')
        self.heat_conf = os.path.join(self.tmp, 'heat.conf')
        self.ca_dest = os.path.join(self.tmp, 'etc', 'magnum', 'ca.pem')
        # a wrapper, not a symlink: a symlinked venv python loses its venv
        self._script('bin/python3', '#!/bin/sh\nexec %s "$@"\n'
                     % shlex.quote(sys.executable))
        self._script('bin/magnum-cern-selftest', SELFTEST_STUB)
        self._script('bin/disk-image-create', DIB_STUB)
        with open(os.path.join(self.tmp, 'stubs.sh'), 'w') as f:
            f.write(STUBS)

    def _mkdir(self, name):
        path = os.path.join(self.tmp, name)
        os.makedirs(path)
        return path

    def _script(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, 'w') as f:
            f.write(text)
        os.chmod(path, 0o755)

    def run_phase(self, *phase, **env):
        record = os.path.join(self.tmp, 'record')
        if os.path.exists(record):
            os.unlink(record)
        script = textwrap.dedent('''\
            set -o errexit
            source "$TMP/stubs.sh"
            source "$REPO/devstack/settings"
            source "$REPO/devstack/plugin.sh" %s
            ''') % ' '.join(shlex.quote(p) for p in phase)
        environ = {
            'PATH': os.environ.get('PATH', '/usr/bin:/bin'),
            'HOME': self.tmp,
            'TMP': self.tmp,
            'REPO': REPO,
            'RECORD': record,
            'STUB_BIN': self.bin,
            'STUB_SERVICES': ALL_SERVICES,
            'DEST': os.path.join(self.tmp, 'dest'),
            'FILES': self.files,
            'MAGNUM_CONF': self.magnum_conf,
            'HEAT_CONF': self.heat_conf,
            'MAGNUM_CERN_DIR': REPO,
            'MAGNUM_CERN_SYSTEMD_DIR': self.systemd,
            'MAGNUM_CERN_CA_BUNDLE_DEST': self.ca_dest,
            # must never reach the output
            'ADMIN_PASSWORD': SECRET,
            'SERVICE_PASSWORD': SECRET,
        }
        environ.update(env)
        proc = subprocess.run(['bash', '-c', script], env=environ,
                              capture_output=True, text=True, timeout=120)
        records = []
        if os.path.exists(record):
            with open(record) as f:
                records = [shlex.split(line) for line in f if line.strip()]
        run = PluginRun(proc.returncode, proc.stdout, proc.stderr, records)
        self.assertNotIn(SECRET, run.out + run.err)
        return run

    def assertOk(self, run):
        self.assertEqual(0, run.rc, 'stdout:\n%s\nstderr:\n%s'
                         % (run.out, run.err))

    # -- stack install ----------------------------------------------------

    def test_install_develops_the_package_into_magnums_environment(self):
        run = self.run_phase('stack', 'install')
        self.assertOk(run)
        self.assertEqual([[REPO]], run.calls('setup_develop'))
        self.assertEqual([], run.calls('pip_install'))
        self.assertEqual([], run.calls('iniset'))
        self.assertEqual([], run.calls('openstack'))

    def test_install_adds_diskimage_builder_when_building_the_image(self):
        run = self.run_phase('stack', 'install',
                             MAGNUM_CERN_BUILD_IMAGE='True')
        self.assertOk(run)
        self.assertEqual([['diskimage-builder']], run.calls('pip_install'))

    # -- stack post-config ------------------------------------------------

    def test_post_config_writes_magnum_conf(self):
        run = self.run_phase('stack', 'post-config')
        self.assertOk(run)
        magnum = run.inisets(self.magnum_conf)
        self.assertEqual({
            ('drivers', 'default_driver'): 'k8s_cern_heat_v1',
            ('cern_driver', 'worker_shard_size'): '50',
            ('cern_driver', 'stack_timeout'): '60',
            ('cern_driver', 'unknown_labels'): 'reject',
            ('cern_driver', 'application_credentials'): 'True',
        }, magnum)

    def test_post_config_passes_settings_through(self):
        ca = os.path.join(self.tmp, 'site-ca.pem')
        with open(ca, 'w') as f:
            f.write('-----BEGIN CERTIFICATE-----\n')
        run = self.run_phase(
            'stack', 'post-config',
            MAGNUM_CERN_DEFAULT_DRIVER='False',
            MAGNUM_CERN_WORKER_SHARD_SIZE='25',
            MAGNUM_CERN_DEFAULT_LABELS='cvmfs_enabled:true',
            MAGNUM_CERN_CA_BUNDLE=ca)
        self.assertOk(run)
        magnum = run.inisets(self.magnum_conf)
        self.assertNotIn(('drivers', 'default_driver'), magnum)
        self.assertEqual('25', magnum[('cern_driver', 'worker_shard_size')])
        self.assertEqual('cvmfs_enabled:true',
                         magnum[('cern_driver', 'default_labels')])
        self.assertEqual(self.ca_dest,
                         magnum[('cern_driver', 'ca_bundle_file')])
        with open(self.ca_dest) as f:
            self.assertIn('BEGIN CERTIFICATE', f.read())

    def test_post_config_dies_on_a_missing_ca_bundle(self):
        run = self.run_phase('stack', 'post-config',
                             MAGNUM_CERN_CA_BUNDLE='/nonexistent/ca.pem')
        self.assertNotEqual(0, run.rc)
        self.assertIn('MAGNUM_CERN_CA_BUNDLE', run.err)

    def _budget_calls(self, run):
        return run.calls('magnum-cern-selftest')

    def test_post_config_sizes_heat_from_the_budget_command(self):
        run = self.run_phase('stack', 'post-config')
        self.assertOk(run)
        calls = self._budget_calls(run)
        # one budget per example template, with its sizing and labels
        self.assertEqual(3, len(calls))
        for call in calls:
            self.assertEqual('budget', call[0])
            self.assertEqual(['--format', 'json'], call[-2:])
        huge = [c for c in calls if '1000' in c]
        self.assertEqual(1, len(huge))
        self.assertIn('--masters', huge[0])
        self.assertEqual('3', huge[0][huge[0].index('--masters') + 1])
        self.assertIn('master_lb_enabled=true', huge[0])
        heat = run.inisets(self.heat_conf)
        # the stub answers workers + 10 * masters; the largest is 1030
        self.assertEqual('1030', heat[('DEFAULT', 'max_resources_per_stack')])
        self.assertEqual('16', heat[('database', 'max_pool_size')])
        self.assertEqual('112', heat[('database', 'max_overflow')])
        self.assertEqual('180', heat[('DEFAULT', 'rpc_response_timeout')])
        self.assertEqual('10', heat[('DEFAULT', 'engine_life_check_timeout')])
        self.assertEqual(
            'True', heat[('DEFAULT', 'encrypt_parameters_and_properties')])

    def test_post_config_only_ever_raises_max_resources(self):
        for current in ('5000', '-1'):
            run = self.run_phase('stack', 'post-config',
                                 STUB_HEAT_MAX_RESOURCES=current)
            self.assertOk(run)
            heat = run.inisets(self.heat_conf)
            self.assertNotIn(('DEFAULT', 'max_resources_per_stack'), heat)
            self.assertIn(('database', 'max_pool_size'), heat)

    def test_post_config_explicit_max_resources_skips_the_budget(self):
        run = self.run_phase('stack', 'post-config',
                             MAGNUM_CERN_HEAT_MAX_RESOURCES='-1')
        self.assertOk(run)
        self.assertEqual([], self._budget_calls(run))
        heat = run.inisets(self.heat_conf)
        self.assertEqual('-1', heat[('DEFAULT', 'max_resources_per_stack')])

    def test_post_config_small_templates_keep_heats_default(self):
        run = self.run_phase('stack', 'post-config',
                             MAGNUM_CERN_TEMPLATES='k8s-cern-small')
        self.assertOk(run)
        self.assertEqual(1, len(self._budget_calls(run)))
        heat = run.inisets(self.heat_conf)
        self.assertNotIn(('DEFAULT', 'max_resources_per_stack'), heat)

    def test_post_config_fails_when_the_budget_fails(self):
        run = self.run_phase('stack', 'post-config', STUB_BUDGET_FAIL='1')
        self.assertNotEqual(0, run.rc)
        self.assertIn('budget', run.err)
        heat = run.inisets(self.heat_conf)
        self.assertNotIn(('DEFAULT', 'max_resources_per_stack'), heat)

    def test_post_config_without_heat_leaves_heat_alone(self):
        run = self.run_phase('stack', 'post-config',
                             STUB_SERVICES='key g-api magnum-api magnum-cond')
        self.assertOk(run)
        self.assertEqual({}, run.inisets(self.heat_conf))
        self.assertEqual([], self._budget_calls(run))
        self.assertTrue(run.inisets(self.magnum_conf))

    def _dropin(self, unit):
        return os.path.join(self.systemd, 'devstack@%s.service.d' % unit,
                            '50-magnum-cern-nofile.conf')

    def test_post_config_raises_the_open_file_limit(self):
        run = self.run_phase('stack', 'post-config',
                             STUB_SERVICES='g-api magnum-api magnum-cond')
        self.assertOk(run)
        for unit in ('magnum-cond', 'magnum-api'):
            with open(self._dropin(unit)) as f:
                self.assertEqual('[Service]\nLimitNOFILE=65536\n', f.read())
        # h-eng is not enabled here: no drop-in for it
        self.assertFalse(os.path.exists(self._dropin('h-eng')))
        self.assertIn(['daemon-reload'], run.calls('systemctl'))

    # -- stack extra ------------------------------------------------------

    def _openstack(self, run, *prefix):
        return [c[2:] for c in run.calls('openstack')
                if c[:2] == ['--os-cloud', 'devstack-admin']
                and c[2:2 + len(prefix)] == list(prefix)]

    def test_extra_uploads_the_image_and_creates_templates(self):
        run = self.run_phase('stack', 'extra')
        self.assertOk(run)
        url = ('https://repo.almalinux.org/almalinux/9/cloud/x86_64/images/'
               'AlmaLinux-9-GenericCloud-latest.x86_64.qcow2')
        self.assertEqual([[url]], run.calls('get_extra_file'))
        create = self._openstack(run, 'image', 'create')
        self.assertEqual(1, len(create))
        args = create[0]
        self.assertEqual('almalinux-9-k8s', args[-1])
        self.assertEqual(os.path.join(self.files, os.path.basename(url)),
                         args[args.index('--file') + 1])
        props = [args[i + 1] for i, a in enumerate(args) if a == '--property']
        self.assertEqual(['os_distro=almalinux',
                          'magnum_driver=k8s_cern_heat_v1'], props)
        self.assertIn('--public', args)

        creates = self._openstack(run, 'coe', 'cluster', 'template',
                                  'create')
        names = [c[-1] for c in creates]
        self.assertEqual(['k8s-cern-small', 'k8s-cern-large',
                          'k8s-cern-huge'], names)
        huge = creates[2]
        self.assertEqual('almalinux-9-k8s', huge[huge.index('--image') + 1])
        self.assertEqual('public',
                         huge[huge.index('--external-network') + 1])
        self.assertIn('--master-lb-enabled', huge)
        self.assertIn('--public', huge)
        labels = [huge[i + 1] for i, a in enumerate(huge) if a == '--labels']
        self.assertIn('cvmfs_enabled=true', labels)
        self.assertIn('flannel_backend=host-gw', labels)
        self.assertNotIn('--master-lb-enabled', creates[0])

    def test_extra_is_idempotent(self):
        run = self.run_phase('stack', 'extra', STUB_SHOW_RC='0')
        self.assertOk(run)
        self.assertEqual([], self._openstack(run, 'image', 'create'))
        self.assertEqual([], run.calls('get_extra_file'))
        image_set = self._openstack(run, 'image', 'set')
        self.assertEqual(1, len(image_set))
        self.assertIn('os_distro=almalinux', image_set[0])
        self.assertEqual([], self._openstack(run, 'coe', 'cluster',
                                             'template', 'create'))

    def test_extra_overrides_network_and_flavors(self):
        run = self.run_phase('stack', 'extra',
                             MAGNUM_CERN_TEMPLATES='k8s-cern-huge',
                             MAGNUM_CERN_EXTERNAL_NETWORK='ext',
                             MAGNUM_CERN_FLAVOR='ds2G',
                             MAGNUM_CERN_MASTER_FLAVOR='ds4G',
                             MAGNUM_CERN_IMAGE_NAME='my-image')
        self.assertOk(run)
        (create,) = self._openstack(run, 'coe', 'cluster', 'template',
                                    'create')
        self.assertEqual('ext', create[create.index('--external-network')
                                       + 1])
        self.assertEqual('ds2G', create[create.index('--flavor') + 1])
        self.assertEqual('ds4G', create[create.index('--master-flavor') + 1])
        self.assertEqual('my-image', create[create.index('--image') + 1])

    def test_extra_builds_the_image_with_our_elements(self):
        run = self.run_phase('stack', 'extra', MAGNUM_CERN_BUILD_IMAGE='True',
                             MAGNUM_CERN_TEMPLATES='')
        self.assertOk(run)
        (dib,) = run.calls('disk-image-create')
        self.assertEqual('ELEMENTS_PATH=%s/elements' % REPO, dib[0])
        self.assertEqual('DIB_RELEASE=9', dib[1])
        self.assertEqual(['almalinux-container', 'vm', 'magnum-k8s-node'],
                         dib[-3:])
        self.assertEqual([], run.calls('get_extra_file'))
        (create,) = self._openstack(run, 'image', 'create')
        self.assertEqual(os.path.join(self.files, 'almalinux-9-k8s.qcow2'),
                         create[create.index('--file') + 1])

    def test_extra_rejects_a_bad_example_template(self):
        bad_dir = self._mkdir('templates')
        with open(os.path.join(bad_dir, 'bad.yaml'), 'w') as f:
            f.write('name: bad\nsizing: {masters: 1, workers: 1}\n'
                    'template: {coe: kubernetes, image: i, '
                    'external_network: e, labels: {no_such_label: x}}\n')
        run = self.run_phase('stack', 'extra', MAGNUM_CERN_TEMPLATES='bad',
                             MAGNUM_CERN_TEMPLATE_DIR=bad_dir)
        self.assertNotEqual(0, run.rc)
        self.assertIn('no_such_label', run.err)
        self.assertEqual([], self._openstack(run, 'coe', 'cluster',
                                             'template', 'create'))

    # -- unstack / clean --------------------------------------------------

    def test_unstack_does_nothing(self):
        run = self.run_phase('unstack')
        self.assertOk(run)
        self.assertEqual([], run.records)

    def test_clean_removes_what_post_config_wrote(self):
        ca = os.path.join(self.tmp, 'site-ca.pem')
        with open(ca, 'w') as f:
            f.write('-----BEGIN CERTIFICATE-----\n')
        self.assertOk(self.run_phase('stack', 'post-config',
                                     MAGNUM_CERN_CA_BUNDLE=ca))
        self.assertTrue(os.path.exists(self._dropin('magnum-cond')))
        self.assertTrue(os.path.exists(self.ca_dest))
        built = os.path.join(self.files, 'almalinux-9-k8s.qcow2')
        open(built, 'w').close()

        run = self.run_phase('clean')
        self.assertOk(run)
        for unit in ('magnum-cond', 'magnum-api', 'h-eng'):
            self.assertFalse(os.path.exists(os.path.dirname(
                self._dropin(unit))))
        self.assertFalse(os.path.exists(self.ca_dest))
        self.assertFalse(os.path.exists(built))
        self.assertIn(['daemon-reload'], run.calls('systemctl'))
        self.assertEqual([], run.calls('iniset'))

    def test_nothing_happens_without_magnum(self):
        for phase in (('stack', 'install'), ('stack', 'post-config'),
                      ('stack', 'extra'), ('unstack',), ('clean',)):
            run = self.run_phase(*phase, STUB_SERVICES='key g-api h-eng')
            self.assertOk(run)
            self.assertEqual([], run.records, phase)

    def test_settings_default_every_variable_the_plugin_reads(self):
        # Every MAGNUM_CERN_* the plugin reads is given a value by
        # settings (or by the plugin itself), so no phase depends on the
        # caller's environment.
        with open(PLUGIN) as f:
            plugin = f.read()
        with open(SETTINGS) as f:
            settings = f.read()
        used = set(re.findall(r'\$\{?(MAGNUM_CERN_[A-Z_]+)', plugin))
        defined = set(re.findall(r'^(MAGNUM_CERN_[A-Z_]+)=', settings,
                                 re.M))
        defined |= set(re.findall(r'^(MAGNUM_CERN_[A-Z_]+)=', plugin,
                                  re.M))
        self.assertTrue(used)
        self.assertEqual(set(), used - defined)


class ShellStyleTest(testtools.TestCase):
    """bashate and shellcheck over the devstack plugin and element scripts."""

    def _shell_files(self):
        files = [PLUGIN, SETTINGS,
                 os.path.join(REPO, 'tools', 'dib-lint.sh')]
        elements = os.path.join(REPO, 'elements')
        for root, dirs, names in os.walk(elements):
            if os.path.basename(root).endswith('.d'):
                files += [os.path.join(root, n) for n in sorted(names)]
        return files

    def test_there_are_scripts_to_check(self):
        files = self._shell_files()
        self.assertGreater(len(files), 15)
        for path in files:
            with open(path) as f:
                head = f.read(200)
            self.assertTrue(head.startswith('#!/bin/bash')
                            or 'shellcheck shell=bash' in head, path)

    def test_bashate(self):
        bashate = os.path.join(os.path.dirname(sys.executable), 'bashate')
        if not os.path.exists(bashate):
            bashate = shutil.which('bashate')
        if not bashate:
            self.skipTest('bashate is not installed (test-requirements)')
        # DevStack's own settings: E006 (long lines) off, E005 and E042
        # as errors.
        proc = subprocess.run(
            [bashate, '-i', 'E006', '-e', 'E005,E042']
            + self._shell_files(), capture_output=True, text=True)
        self.assertEqual(0, proc.returncode, proc.stdout + proc.stderr)
        self.assertNotIn('warning', proc.stdout + proc.stderr)

    def test_shellcheck(self):
        shellcheck = shutil.which('shellcheck')
        if not shellcheck:
            self.skipTest('shellcheck is not installed (Debian package '
                          'shellcheck)')
        proc = subprocess.run([shellcheck, '--shell=bash']
                              + self._shell_files(),
                              capture_output=True, text=True)
        self.assertEqual(0, proc.returncode, proc.stdout + proc.stderr)

    def test_cluster_template_tool_compiles_and_is_executable(self):
        tool = os.path.join(REPO, 'devstack', 'tools', 'cluster-template.py')
        with open(tool) as f:
            compile(f.read(), tool, 'exec')
        self.assertTrue(os.access(tool, os.X_OK))
