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
"""The files a node gets, checked by the real tools Debian ships.

The sandbox's shims know only what the tests taught them; here the real
parsers read what the fragments wrote: ``cloud-init schema`` the rendered
user data, ``containerd config dump`` config.toml, ``keepalived -t``
keepalived.conf, ``systemd-analyze verify`` the metadata guard unit, and
``iptables`` loads the metadata guard's rules in a network namespace of
our own.
Only these check commands run (with timeouts), never a daemon, and only on
copies in temporary directories. A missing tool fails the test and names
its Debian package (tools/setup.sh installs them all); each tool also gets
a broken copy, to show that the check can fail.

Debian 12's versions are older than the node's (containerd 1.6 there,
1.7 on the nodes; cloud-init 22.4): what they accept, a newer release
accepts too, barring removals.
"""

import os
import re
import shutil
import subprocess
import sys
import tomllib

import fixtures
import testtools
import yaml

from magnum_cern_driver import userdata
from tests.unit.fragments import sandbox

TIMEOUT = 60
# Where Debian installs the tools (/usr/sbin is not on every user's PATH).
SEARCH_PATH = os.pathsep.join(
    [os.environ.get('PATH', ''), '/usr/sbin', '/usr/bin', '/sbin', '/bin'])

# Every feature a label can switch on (the sandbox matrix's "on" set).
ALL_ON = {'cvmfs_enabled': 'true', 'eos_enabled': 'true',
          'eos_instances': 'atlas,cms', 'cloud_provider_enabled': 'true',
          'kube_proxy_mode': 'ipvs', 'network_mtu': '1400',
          'flannel_backend': 'vxlan', 'registry_mirror': 'mirror.example.org'}
MIRROR = 'reg.example.org:5000/mirror'
GUARD = '/etc/systemd/system/magnum-cern-metadata-guard.service'


def run(argv, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True,
                          timeout=TIMEOUT, stdin=subprocess.DEVNULL,
                          **kwargs)


def leaves(table, prefix=()):
    """{(key, ...): value} of every non-table value in a TOML document."""
    result = {}
    for key, value in table.items():
        if isinstance(value, dict):
            result.update(leaves(value, prefix + (key,)))
        else:
            result[prefix + (key,)] = value
    return result


class RealToolTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path

    def tool(self, name, package):
        found = shutil.which(name, path=SEARCH_PATH)
        if found is None:
            self.fail('%s not found: install the Debian package %s '
                      '(tools/setup.sh does)' % (name, package))
        return found

    def require_file(self, path, package, why):
        if not os.path.exists(path):
            self.fail('%s is missing (%s): install the Debian package %s '
                      '(tools/setup.sh does)' % (path, why, package))

    def boot(self, role, label_values=None, **facts):
        """Run the bootstrap in a sandbox; its root (files it wrote)."""
        sb = self.useFixture(sandbox.Sandbox())
        sb.unpack(sandbox.render(role, label_values, **facts),
                  sandbox.runtime_values())
        result = sb.run()
        self.assertEqual(0, result.returncode, result.stderr)
        return result

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)
        return path


class CloudInitSchemaTest(RealToolTestCase):
    """cloud-init (Debian package cloud-init) on the rendered user data."""

    def user_data(self, role):
        # What Nova serves: Heat has replaced the placeholders.
        text = sandbox.render(role, ALL_ON, ca_bundle=sandbox.shared_ca()[0],
                              master_count=3)
        values = sandbox.runtime_values(public_address='188.184.10.20')
        for key, value in values.items():
            text = text.replace(key, value)
        return text

    def schema(self, path):
        return run([self.tool('cloud-init', 'cloud-init'), 'schema',
                    '--config-file', path])

    def test_user_data_is_valid(self):
        for role in ('master', 'worker'):
            path = self.write(role + '.yaml', self.user_data(role))
            proc = self.schema(path)
            self.assertEqual(0, proc.returncode,
                             role + ': ' + proc.stdout + proc.stderr)
            self.assertIn('Valid cloud-config', proc.stdout, role)
            # No deprecation notes either.
            self.assertEqual('', proc.stderr, role)

    def test_wrong_value_type_is_rejected(self):
        # An unquoted mode: YAML reads an integer where cloud-init wants a
        # string.
        config = yaml.safe_load(self.user_data('worker'))
        config['write_files'][0]['permissions'] = 0o600
        path = self.write('bad.yaml',
                          '#cloud-config\n' + yaml.safe_dump(config))
        proc = self.schema(path)
        self.assertNotEqual(0, proc.returncode, proc.stdout)
        self.assertIn("write_files.0.permissions: 384 is not of type "
                      "'string'", proc.stdout + proc.stderr)


class ContainerdConfigTest(RealToolTestCase):
    """containerd (Debian package containerd) on 30-runtime.sh's config."""

    def dump(self, text):
        path = self.write('config.toml', text)
        return run([self.tool('containerd', 'containerd'), '--config', path,
                    'config', 'dump'])

    def dropped(self, text, dumped):
        """Keys of ``text`` containerd ignored or read differently.

        ``config dump`` prints the configuration containerd would run
        with: a key it does not know (a typo, a wrong table) is silently
        left out, so every value written must come back unchanged.
        """
        got = leaves(tomllib.loads(dumped))
        wrote = leaves(tomllib.loads(text))
        return {key: value for key, value in wrote.items()
                if got.get(key) != value}

    def test_config_is_read_as_written(self):
        for mirror in ('', MIRROR):
            result = self.boot('worker', {'registry_mirror': mirror})
            text = result.read('/etc/containerd/config.toml')
            proc = self.dump(text)
            self.assertEqual(0, proc.returncode, proc.stderr)
            self.assertEqual({}, self.dropped(text, proc.stdout), mirror)
            cri = tomllib.loads(proc.stdout)['plugins'][
                'io.containerd.grpc.v1.cri']
            self.assertTrue(cri['sandbox_image'].startswith(
                (mirror or 'registry.k8s.io') + '/pause:'),
                cri['sandbox_image'])
            self.assertIs(True, cri['containerd']['runtimes']['runc'][
                'options']['SystemdCgroup'])

    def test_malformed_toml_is_rejected(self):
        text = self.boot('worker').read('/etc/containerd/config.toml')
        broken = text.replace('.registry]', '.registry', 1)
        self.assertNotEqual(text, broken)
        proc = self.dump(broken)
        self.assertNotEqual(0, proc.returncode, proc.stdout)
        self.assertIn('failed to load TOML', proc.stderr)

    def test_unknown_key_is_caught(self):
        # containerd accepts it (rc 0) and drops it: dropped() sees that.
        text = self.boot('worker').read('/etc/containerd/config.toml')
        broken = text.replace('sandbox_image =', 'sandbox_imag =', 1)
        proc = self.dump(broken)
        self.assertEqual(0, proc.returncode, proc.stderr)
        self.assertIn(('plugins', 'io.containerd.grpc.v1.cri',
                       'sandbox_imag'), self.dropped(broken, proc.stdout))


class KeepalivedConfigTest(RealToolTestCase):
    """keepalived (Debian package keepalived) on 35-api-vip.sh's config.

    ``keepalived -t`` parses the whole configuration and, beyond syntax,
    checks what the daemon would need: the VRRP interface must exist (and
    must not be a loopback), the track script's program must exist and
    be safe to run as ``script_user root`` (which needs real root: as
    another user, or as root in a user namespace, it refuses the script
    as insecure). It starts nothing; any message counts as a failure.
    """

    def conf(self):
        result = self.boot('master', master_count=3)
        return result.read('/etc/keepalived/keepalived.conf')

    def check(self, text):
        keepalived = self.tool('keepalived', 'keepalived')
        self.require_file('/usr/bin/curl', 'curl',
                          'the track script runs it; keepalived -t checks '
                          'that it exists')
        if os.geteuid() != 0:
            self.fail('keepalived -t checks script_user root: run the '
                      'tests as root (CI does)')
        iface = re.search(r'^\s*interface (\S+)$', text, re.M).group(1)
        # The node's interface (eth0), unchanged, in a network namespace
        # of our own that has it (a veth pair, gone with the namespace).
        unshare = shutil.which('unshare', path=SEARCH_PATH)
        ip = self.tool('ip', 'iproute2')
        netns = [unshare, '--net', '--', 'sh', '-ec',
                 '"$1" link add "$2" type veth peer name mcd-peer0; '
                 'shift 2; exec "$@"', 'sh', ip, iface]
        if unshare and run(netns + ['true']).returncode == 0:
            return run(netns + [keepalived, '-t',
                                '-f', self.write('keepalived.conf', text)])
        # No namespaces here (no CAP_SYS_ADMIN): keepalived -t needs the
        # interface to exist and refuses lo for VRRP, so the copy names an
        # interface this machine has instead of eth0.
        names = sorted(n for n in os.listdir('/sys/class/net') if n != 'lo')
        if not names:
            self.fail('keepalived -t needs a network interface other than '
                      'lo, or network namespaces')
        if iface not in names:
            text = re.sub(r'(?m)^(\s*interface) \S+$',
                          r'\1 ' + names[0], text)
        return run([keepalived, '-t',
                    '-f', self.write('keepalived.conf', text)])

    def test_config_passes(self):
        proc = self.check(self.conf())
        self.assertEqual(0, proc.returncode, proc.stdout + proc.stderr)
        self.assertEqual('', proc.stdout + proc.stderr)

    def test_unknown_keyword_is_rejected(self):
        text = self.conf()
        broken = text.replace('advert_int 1', 'advert_interval 1', 1)
        self.assertNotEqual(text, broken)
        proc = self.check(broken)
        self.assertNotEqual(0, proc.returncode, proc.stderr)
        self.assertIn("Unknown keyword 'advert_interval'", proc.stderr)


class SystemdUnitTest(RealToolTestCase):
    """systemd-analyze (Debian package systemd) on the metadata guard.

    ``systemd-analyze verify`` exits non-zero only for fatal problems
    (no ExecStart=, a relative program path, a program that does not
    exist); an unknown key or a value it cannot parse is printed and
    ignored, exit code 0. Both count as failures here: the unit must pass
    with no message at all. It checks that the ExecStart= program exists
    on this machine: /bin/bash, which runs metadata-guard.sh.
    """

    def verify(self, text):
        tool = self.tool('systemd-analyze', 'systemd')
        self.require_file('/bin/bash', 'bash',
                          'the unit runs it; systemd-analyze verify checks '
                          'that it exists')
        # The file name is the unit name systemd reads it as.
        path = self.write('units/' + os.path.basename(GUARD), text)
        proc = run([tool, 'verify', '--man=no', path])
        return proc, (proc.stdout + proc.stderr).strip()

    def unit(self):
        result = self.boot('worker', {'flannel_network_cidr':
                                      '10.9.0.0/16'})
        return result.read(GUARD)

    def test_unit_passes(self):
        proc, messages = self.verify(self.unit())
        self.assertEqual(0, proc.returncode, messages)
        self.assertEqual('', messages)

    def test_unknown_key_is_reported(self):
        text = self.unit()
        broken = text.replace('RemainAfterExit=', 'RemainAfterExits=', 1)
        self.assertNotEqual(text, broken)
        proc, messages = self.verify(broken)
        # systemd only warns (exit code 0): the message is the failure.
        self.assertIn("Unknown key 'RemainAfterExits'", messages)

    def test_relative_program_is_rejected(self):
        text = self.unit()
        broken = text.replace('ExecStart=/bin/', 'ExecStart=bin/', 1)
        self.assertNotEqual(text, broken)
        proc, messages = self.verify(broken)
        self.assertNotEqual(0, proc.returncode, messages)
        self.assertIn('bad unit file setting', messages)


# Run inside a network namespace of our own (unshare --net): a listener on
# the metadata address, then one connection as root and one as nobody,
# before the guard, after `early` (no pods' cgroup) and after `final` with
# the pods' cgroup "/" (every process: root included).
NETNS_SCRIPT = r"""
set -u
ip link set lo up
ip addr add 169.254.169.254/32 dev lo
"$PY" -c '
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("169.254.169.254", 8080))
s.listen(64)
while True:
    s.accept()[0].close()
' &
server=$!
trap 'kill $server' EXIT
probe() {
    if timeout 5 "$@" bash -c 'exec 3<>/dev/tcp/169.254.169.254/8080' \
        2>/dev/null; then echo ok; else echo refused; fi
}
nobody="setpriv --reuid 65534 --regid 65534 --clear-groups"
for i in $(seq 50); do [ "$(probe)" = ok ] && break; sleep 0.1; done
echo "before root=$(probe) nobody=$(probe $nobody)"
MCD_POD_CGROUP=mcd-absent.slice bash "$GUARD" early >/dev/null 2>&1
echo "early root=$(probe) nobody=$(probe $nobody)"
MCD_POD_CGROUP=/ bash "$GUARD" final >/dev/null 2>&1
MCD_POD_CGROUP=/ bash "$GUARD" final >/dev/null 2>&1
echo "final root=$(probe) nobody=$(probe $nobody)"
iptables-save
"""


class MetadataGuardRulesTest(RealToolTestCase):
    """iptables (Debian package iptables) loads metadata-guard.sh's rules.

    The real script runs against a sandbox node root (its environment and
    label files), with the real iptables, in a network namespace made for
    the test (unshare --net; gone when it ends): the kernel checks every
    match as it would on a node (an owner match reachable from PREROUTING,
    a cgroup path that does not exist, an unknown target: all refused).
    ``iptables-restore --test`` alone is no check: with the nf_tables
    backend it accepted all three here.
    """

    def setUp(self):
        super().setUp()
        for name, package in (('iptables', 'iptables'),
                              ('iptables-restore', 'iptables'),
                              ('unshare', 'util-linux'),
                              ('setpriv', 'util-linux'),
                              ('ip', 'iproute2')):
            self.tool(name, package)
        if os.geteuid() != 0:
            self.fail('network namespaces and iptables need root: run the '
                      'tests as root (CI does)')
        self.root = self.boot('worker', {
            'flannel_network_cidr': '10.9.0.0/16'}).root

    def netns(self, script, **env):
        environ = dict(os.environ, PATH=SEARCH_PATH, MCD_ROOT=self.root,
                       GUARD=self.root + userdata.GUARD,
                       PY=shutil.which('python3', path='/usr/bin') or
                       sys.executable, **env)
        return run([shutil.which('unshare', path=SEARCH_PATH), '--net',
                    '--', 'bash', '-c', script], env=environ)

    def test_only_root_outside_the_pods_reaches_the_service(self):
        proc = self.netns(NETNS_SCRIPT)
        self.assertEqual(0, proc.returncode, proc.stderr)
        lines = proc.stdout.splitlines()
        # Without the guard anyone connects: the probe can tell.
        self.assertIn('before root=ok nobody=ok', lines)
        self.assertIn('early root=ok nobody=refused', lines)
        self.assertIn('final root=refused nobody=refused', lines)
        saved = [line for line in lines if line.startswith('-A ')]
        meta = '-d 169.254.169.254/32 -j MAGNUM-CERN-METADATA'
        # Run three times: one jump each, one copy of each rule.
        self.assertEqual(['-A PREROUTING ' + meta, '-A OUTPUT ' + meta],
                         [line for line in saved if meta in line])
        self.assertEqual(
            ['-A MAGNUM-CERN-METADATA -s 10.9.0.0/16 -j DROP',
             '-A MAGNUM-CERN-METADATA -m owner ! --uid-owner 0 '
             '-j REJECT --reject-with icmp-port-unreachable',
             '-A MAGNUM-CERN-METADATA -m cgroup --path "/" '
             '-j REJECT --reject-with icmp-port-unreachable'],
            [line for line in saved if line.startswith(
                '-A MAGNUM-CERN-METADATA')])

    def test_missing_cgroup_is_refused_by_the_kernel(self):
        # The script sees the directory in the sandbox; the kernel has no
        # such cgroup: why `final` waits for the kubelet's.
        os.makedirs(self.root + '/sys/fs/cgroup/mcd-absent.slice')
        proc = self.netns('bash "$GUARD" early',
                          MCD_POD_CGROUP='mcd-absent.slice')
        self.assertNotEqual(0, proc.returncode, proc.stderr)
        self.assertIn('metadata guard: rules refused', proc.stderr)

    def load(self, rules):
        path = self.write('rules', rules)
        return self.netns(
            'iptables-restore --noflush <"$RULES" && iptables -t raw -I '
            'PREROUTING 1 -d 169.254.169.254/32 -j MAGNUM-CERN-METADATA',
            RULES=path)

    def test_broken_rules_are_rejected(self):
        rules = self.read_rules()
        proc = self.load(rules)
        self.assertEqual(0, proc.returncode, proc.stderr)
        # An owner match reachable from PREROUTING (why two tables).
        broken = rules.replace('-s 10.9.0.0/16 -j DROP',
                               '-m owner ! --uid-owner 0 -j DROP')
        self.assertNotEqual(rules, broken)
        self.assertNotEqual(0, self.load(broken).returncode)
        # A typo in a target.
        broken = rules.replace('-j DROP', '-j DORP')
        self.assertNotEqual(0, self.load(broken).returncode)

    def read_rules(self):
        with open(self.root + '/var/lib/magnum-cern/metadata-guard.rules',
                  encoding='utf-8') as f:
            return f.read().replace('kubepods.slice', '/')
