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
"""A sandbox that runs the node bootstrap as cloud-init would, harmlessly.

The rendered user data is unpacked under a temporary root (the fragments
prefix every file path with ``MCD_ROOT``). ``PATH`` holds only recording
shims for the system commands and symlinks to a short list of harmless
tools: any other command is not found and stops the script, so nothing on
this machine is touched and nothing reaches the network.
"""

import base64
import gzip
import json
import os
import shutil
import subprocess
import sys

import fixtures
import yaml

from magnum_cern_driver import artifacts
from magnum_cern_driver import labels
from magnum_cern_driver import userdata

# System commands the fragments may call: all replaced by shims.
SHIMMED = (
    'blkid', 'cloud-init', 'curl', 'dnf', 'findmnt', 'helm', 'ip',
    'iptables', 'iptables-restore', 'kubeadm', 'kubectl', 'lsblk',
    'mkfs.xfs', 'modprobe', 'mount',
    'mountpoint', 'openssl', 'rpm', 'sleep', 'swapoff', 'sysctl',
    'systemctl', 'udevadm', 'umount', 'update-ca-trust',
    'wipefs',
)
# Harmless tools the fragments use for files under the sandbox root.
REAL = (
    'awk', 'bash', 'cat', 'chmod', 'cp', 'cut', 'date', 'grep', 'install',
    'ls', 'gzip', 'mkdir', 'mktemp', 'rm', 'sed', 'sha256sum', 'tar', 'touch',
    'wc',
)

POD_CGROUP = '/sys/fs/cgroup/kubepods.slice'
SHIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'shim.py')
CHART_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          'data', 'charts')

DISKS = '/dev/vda 21474836480 disk\n/dev/vdb 107374182400 disk\n'

# What the shims do when no test-specific rule matches first: a VM with a
# root disk (vda, partitioned and mounted) and one blank disk (vdb), no
# packages installed, nothing mounted, every other command succeeds.
DEFAULT_RULES = [
    {'cmd': 'blkid', 'contains': ['-L'], 'rc': 2},
    {'cmd': 'rpm', 'contains': ['-q'], 'rc': 1},
    {'cmd': 'mountpoint', 'rc': 1},
    {'cmd': 'systemctl', 'contains': ['is-active'], 'rc': 3},
    {'cmd': 'findmnt', 'rc': 1},
    {'cmd': 'lsblk', 'args': ['-dnpbo', 'NAME,SIZE,TYPE'], 'stdout': DISKS},
    {'cmd': 'lsblk', 'args': ['-nPpo', 'NAME,FSTYPE,MOUNTPOINT', '/dev/vda'],
     'stdout': 'NAME="/dev/vda" FSTYPE="" MOUNTPOINT=""\n'
               'NAME="/dev/vda1" FSTYPE="xfs" MOUNTPOINT="/"\n'},
    {'cmd': 'lsblk', 'args': ['-nPpo', 'NAME,FSTYPE,MOUNTPOINT', '/dev/vdb'],
     'stdout': 'NAME="/dev/vdb" FSTYPE="" MOUNTPOINT=""\n'},
    {'cmd': 'ip', 'contains': ['route'],
     'stdout': 'default via 10.0.0.1 dev eth0 proto dhcp src 10.0.0.5\n'},
    # This server's identity in cloud-init's instance data.
    {'cmd': 'cloud-init', 'args': ['query', 'ds.meta_data.name'],
     'stdout': 'c1-5d12f6fd-node-0\n'},
    {'cmd': 'cloud-init', 'args': ['query', 'v1.instance_id'],
     'stdout': '0b6a4c52-7f0e-4d7e-9a43-3c2f4f1d2e10\n'},
    # A new cluster: the first master's short probe finds no API.
    {'cmd': 'curl', 'contains': ['--connect-timeout'], 'rc': 7},
    # An existing cluster (for joining masters): its version, and every
    # other control-plane node Ready.
    {'cmd': 'kubectl', 'contains': ['kubeadm-config'],
     'stdout': 'apiVersion: kubeadm.k8s.io/v1beta4\n'
               'kind: ClusterConfiguration\nkubernetesVersion: v1.31.4\n'},
    {'cmd': 'kubectl', 'contains': ['node-role.kubernetes.io/control-plane'],
     'stdout': ''.join('c1-5d12f6fd-master-%d True\n' % i
                       for i in range(7))},
]

API_ADDRESS = '10.0.0.10'
WAIT_ENDPOINT = ('http://heat.example.org:8004/v1/0123abcd/stacks/c1/'
                 '5d12f6fd/resources/api_ready_handle/signal')
WAIT_TOKEN = 'gAAAAABlZ2token_Value-0123456789abcdefXYZ='


def runtime_values(node_index=0, public_address=''):
    return {
        userdata.API_ADDRESS: API_ADDRESS,
        userdata.NODE_INDEX: str(node_index),
        userdata.WAIT_ENDPOINT: WAIT_ENDPOINT,
        userdata.WAIT_TOKEN: WAIT_TOKEN,
        userdata.API_PUBLIC_ADDRESS: public_address,
    }


class Result(object):
    def __init__(self, returncode, stdout, stderr, calls, root):
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.calls = calls
        self.root = root

    def commands(self, name=None):
        """[cmd, arg, ...] of every recorded call (of ``name`` only)."""
        return [[c['cmd']] + c['args'] for c in self.calls
                if name is None or c['cmd'] == name]

    def index(self, *prefix):
        """Position of the first call starting with ``prefix``."""
        for i, call in enumerate(self.commands()):
            if call[:len(prefix)] == list(prefix):
                return i
        raise AssertionError('no call %s in %s' % (prefix, self.commands()))

    def called(self, *prefix):
        try:
            self.index(*prefix)
        except AssertionError:
            return False
        return True

    def read(self, path):
        with open(self.root + path, encoding='utf-8') as f:
            return f.read()

    def exists(self, path):
        return os.path.lexists(self.root + path)


class Sandbox(fixtures.Fixture):
    """A temporary node root, with shims on PATH and the user data unpacked.

    ``unpack(text)`` writes the ``write_files`` of rendered user data (after
    Heat's substitution) under the root; ``run()`` runs the bootstrap
    runner (or one script) there.
    """

    def _setUp(self):
        self.base = self.useFixture(fixtures.TempDir()).path
        self.root = os.path.join(self.base, 'root')
        self.bin = os.path.join(self.base, 'bin')
        os.makedirs(self.root)
        os.makedirs(self.bin)
        # The pods' cgroup, as a running kubelet (systemd cgroup driver)
        # has it; metadata-guard.sh waits for it.
        os.makedirs(os.path.join(self.root, POD_CGROUP.lstrip('/')))
        self.log = os.path.join(self.base, 'calls.jsonl')
        self.rules_file = os.path.join(self.base, 'rules.json')
        self.facts_file = os.path.join(self.base, 'facts.json')
        self.rules = []
        with open(SHIM) as f:
            shim = '#!%s\n' % sys.executable + f.read()
        for name in SHIMMED:
            path = os.path.join(self.bin, name)
            with open(path, 'w') as f:
                f.write(shim)
            os.chmod(path, 0o755)
        for name in REAL:
            real = shutil.which(name)
            if real is None:
                raise RuntimeError('sandbox needs %s' % name)
            os.symlink(real, os.path.join(self.bin, name))

    def add_rule(self, cmd, **rule):
        """Prepend a shim rule (stdout, rc, args, contains, times)."""
        rule['cmd'] = cmd
        self.rules.insert(0, rule)

    def unpack(self, text, replacements=None):
        """Write what cloud-init and the per-boot script would write."""
        for key, value in (replacements or {}).items():
            text = text.replace(key, value)
        config = yaml.safe_load(text)
        for entry in config['write_files']:
            if entry['path'] == userdata.ARCHIVE:
                # The tar itself, as cloud-init writes it (the per-boot
                # script unpacks it again at every boot).
                path = self.root + entry['path']
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, 'wb') as f:
                    f.write(gzip.decompress(base64.b64decode(
                        entry['content'])))
        for path, (mode, content) in userdata.written_files(text).items():
            path = self.root + path
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, 'wb') as f:
                f.write(content.encode('utf-8'))
            os.chmod(path, int(mode, 8))
        return config

    def run(self, script=userdata.RUNNER, extra_env=None, args=()):
        with open(self.rules_file, 'w') as f:
            json.dump(self.rules + DEFAULT_RULES, f)
        facts = shim_facts(self.root)
        if facts is not None:
            with open(self.facts_file, 'w') as f:
                json.dump(facts, f)
        if os.path.exists(self.log):
            os.unlink(self.log)
        env = {
            'PATH': self.bin,
            'MCD_ROOT': self.root,
            'SHIM_LOG': self.log,
            'SHIM_RULES': self.rules_file,
            'SHIM_FACTS': self.facts_file,
            'HOME': self.base,
            'LANG': 'C.UTF-8',
        }
        env.update(extra_env or {})
        proc = subprocess.run(
            [os.path.join(self.bin, 'bash'), self.root + script] +
            list(args),
            env=env, capture_output=True, text=True, timeout=120,
            stdin=subprocess.DEVNULL)
        calls = []
        if os.path.exists(self.log):
            with open(self.log) as f:
                calls = [json.loads(line) for line in f]
        return Result(proc.returncode, proc.stdout, proc.stderr, calls,
                      self.root)


def chart_keys():
    """Recorded values keys of each chart version: {'<chart>-<version>'}."""
    result = {}
    for name in sorted(os.listdir(CHART_DATA)):
        if name.endswith('.yaml'):
            with open(os.path.join(CHART_DATA, name)) as f:
                data = yaml.safe_load(f)
            result['%s-%s' % (data['chart'], data['version'])] = data
    return result


def _node_labels(root):
    """The labels a node got, read back from its environment file."""
    path = root + userdata.ENV_FILE
    if not os.path.exists(path):
        return None, ''
    env = {}
    with open(path) as f:
        for line in f:
            if '=' in line and not line.startswith('#'):
                key, value = line.rstrip('\n').split('=', 1)
                env[key] = value[1:-1].replace("'\"'\"'", "'")
    raw = {name: env[name.upper()] for name in userdata.NODE_LABELS
           if name.upper() in env}
    try:
        return labels.validate(raw), env.get('REGISTRY_MIRROR', '')
    except labels.InvalidLabel:
        # A test planted a bad value: the fragments stop on it themselves.
        return None, ''


def shim_facts(root):
    """What the real dnf and helm would know, for the node under ``root``.

    Package repositories provide what the artifact manifest records for
    them (the distribution's own are always configured); charts, their
    versions and images are the manifest's, resolved for this node's
    labels and mirror; each chart's values keys were read in its own
    values.yaml upstream (data/charts/).
    """
    typed, mirror = _node_labels(root)
    if typed is None:
        return None
    resolved = artifacts.resolve(typed, mirror=mirror)
    rpm = {}
    distro = []
    for art in resolved:
        if art.kind == 'rpm':
            pkg = art.package + ('-' + art.version if art.version else '')
            rpm.setdefault(art.url, []).extend([pkg, art.package])
            if art.on_image and art.url not in distro:
                distro.append(art.url)
    return {
        'rpm': rpm,
        'distro_repos': distro,
        'charts': [{'url': a.url, 'chart': a.chart, 'version': a.version}
                   for a in resolved if a.kind == 'chart'],
        'images': [a.ref for a in resolved if a.kind == 'image'],
        'chart_keys': chart_keys(),
    }


def make_ca(tmpdir):
    """A throwaway CA (certificate PEM, key PEM), made with openssl."""
    key = os.path.join(tmpdir, 'ca.key')
    cert = subprocess.run(
        ['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
         '-keyout', key, '-subj', '/CN=test-ca', '-days', '1'],
        check=True, capture_output=True, text=True).stdout
    with open(key) as f:
        return cert, f.read()


_CA = {}


def shared_ca(which='pair'):
    """One CA for the whole test run (key generation is slow).

    ``shared_ca('other')`` is a second one (the masters' etcd and
    front-proxy CAs and service-account key in these tests).
    """
    if which not in _CA:
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            _CA[which] = make_ca(tmp)
    return _CA[which]


def facts(**overrides):
    values = {
        'cluster_uuid': '5d12f6fd-a196-4bf0-ae4c-1f639a523a52',
        'cluster_name': 'c1',
        'nodegroup_name': 'default-worker',
        'kube_api_port': 6443,
        'docker_volume_size': 0,
        'server_type': 'vm',
        'master_count': 1,
    }
    values.update(overrides)
    return values


def secrets(role='master', **overrides):
    cert, key = shared_ca()
    values = {
        'bootstrap_token': 'abcdef.0123456789abcdef',
        'ca_cert': cert,
        'ca_cert_hash': 'sha256:' + 'ab' * 32,
    }
    if role == 'master':
        values.update({
            'ca_key': key,
            'app_cred_id': 'f00dcafe0123',
            'app_cred_secret': 'Sup3r-secret_app-cred',
            'auth_url': 'https://keystone.example.org:5000/v3',
        })
        other_cert, other_key = shared_ca('other')
        values.update({
            'etcd_ca_cert': other_cert, 'etcd_ca_key': other_key,
            'front_proxy_ca_cert': other_cert,
            'front_proxy_ca_key': other_key, 'sa_key': other_key,
        })
    values.update(overrides)
    return values


def render(role='master', label_values=None, ca_bundle=None,
           secret_values=None, **fact_values):
    typed = labels.validate(label_values or {})
    return userdata.render(role, typed, facts(**fact_values),
                           secret_values or secrets(role), ca_bundle)
