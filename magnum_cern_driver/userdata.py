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
"""Node user data: cloud-init ``#cloud-config`` built once per nodegroup.

The user data carries, as cloud-init ``write_files`` entries:

* one environment file (0600) with every label and driver fact the node
  needs, each value single-quoted for the shell;
* secret files (0600): bootstrap token, CA key (masters only), application
  credential (masters only), the wait condition token (masters only);
* the shell fragments from ``templates/fragments/`` and the runner that
  runs them in order, started by cloud-init's per-boot scripts (so that a
  reboot during the bootstrap resumes it), and the metadata guard the
  runner runs at every boot;
* the label checks (:data:`LABEL_CHECKS`), generated from the label schema:
  the pattern ``common.sh`` checks each label value against again.

Heat fills run-time values with ``str_replace`` on the rendered text: the
placeholders in :data:`PLACEHOLDERS` each sit alone in a file of their own,
which the fragments read as data and validate (never source).

Nothing here does I/O except reading the packaged fragments.
"""

import base64
import gzip
import hashlib
import importlib.resources
import io
import re
import tarfile

import yaml

from magnum_cern_driver import artifacts as artifacts_mod
from magnum_cern_driver import labels as labels_mod

ROLES = ('master', 'worker')

API_ADDRESS = '__API_ADDRESS__'
NODE_INDEX = '__NODE_INDEX__'
WAIT_ENDPOINT = '__WAIT_ENDPOINT__'
WAIT_TOKEN = '__WAIT_TOKEN__'
# The API's floating IP (a SAN of the API certificate); empty without one.
API_PUBLIC_ADDRESS = '__API_PUBLIC_ADDRESS__'

#: Every placeholder Heat replaces (``str_replace``) in the user data.
PLACEHOLDERS = (API_ADDRESS, NODE_INDEX, WAIT_ENDPOINT, WAIT_TOKEN,
                API_PUBLIC_ADDRESS)

#: The placeholders present in the user data of each role.
ROLE_PLACEHOLDERS = {
    'master': PLACEHOLDERS,
    'worker': (API_ADDRESS,),
}

#: Nova refuses user data larger than this (base64-encoded).
NOVA_USER_DATA_LIMIT = 65535
# Bytes Heat's run-time values may add (URL and token of the wait handle).
_RUNTIME_ALLOWANCE = 4096

#: Where things go on the node.
BASE_DIR = '/etc/magnum-cern'
ENV_FILE = BASE_DIR + '/bootstrap.env'
SECRETS_DIR = BASE_DIR + '/secrets'
RUNTIME_DIR = BASE_DIR + '/runtime'
LIB_DIR = '/usr/local/lib/magnum-cern'
RUNNER = LIB_DIR + '/bootstrap.sh'
#: Data, never sourced: one ``VARIABLE PATTERN`` line per node label,
#: generated from the label schema (:func:`label_checks`); ``load_env``
#: checks each value against its pattern before any fragment runs.
LABEL_CHECKS = LIB_DIR + '/label-checks'
PER_BOOT = '/var/lib/cloud/scripts/per-boot/magnum-cern-bootstrap'
ARCHIVE = LIB_DIR + '/bootstrap.tar'
#: Unpacks the archive (again, at every boot: the same files) and runs the
#: bootstrap. MCD_ROOT is unset on nodes (a sandbox root in the tests).
PER_BOOT_SCRIPT = (
    '#!/bin/sh\n'
    'set -e\n'
    'root="${MCD_ROOT:-}"\n'
    'tar -xf "$root%s" --no-same-owner -C "$root/"\n'
    'exec "$root%s"\n' % (ARCHIVE, RUNNER))
SITE_CA_FILE = BASE_DIR + '/site-ca.pem'

#: Labels the nodes use, in the order they appear in the environment file
#: (the schema's ``node`` labels).
NODE_LABELS = labels_mod.NODE_LABELS

# Fragments in the order they run; the roles that carry them.
FRAGMENTS = (
    ('10-site-ca.sh', ROLES),
    ('20-container-storage.sh', ROLES),
    ('30-runtime.sh', ROLES),
    ('35-api-vip.sh', ('master',)),
    ('40-kubeadm.sh', ROLES),
    ('50-network.sh', ('master',)),
    ('60-cloud-provider.sh', ('master',)),
    ('70-storage-csi.sh', ('master',)),
    ('90-ready.sh', ('master',)),
)
LIBRARY = 'common.sh'
RUNNER_SOURCE = 'bootstrap.sh'
#: Blocks the metadata service for pods and non-root processes; run by the
#: runner at every boot and by a systemd unit before the kubelet.
GUARD_SOURCE = 'metadata-guard.sh'
GUARD = LIB_DIR + '/' + GUARD_SOURCE

_FACT_CHECKS = {
    'cluster_uuid': re.compile(r'[0-9a-fA-F-]{1,64}'),
    'server_type': re.compile(r'vm|baremetal'),
}
_INT_FACTS = {
    # name: (minimum, maximum)
    'kube_api_port': (1, 65535),
    'docker_volume_size': (0, 16384),
    'master_count': (1, 99),
}
_TEXT_FACTS = ('cluster_name', 'nodegroup_name')
_TOKEN = re.compile(r'[a-z0-9]{6}\.[a-z0-9]{16}')
_CA_HASH = re.compile(r'sha256:[0-9a-f]{64}')
_PEM_CERT = re.compile(r'-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+'
                       r'-----END CERTIFICATE-----\n?')
# Masters only: Magnum's per-cluster keys kubeadm's manual certificate
# distribution needs on every control-plane node (secret name, file in
# SECRETS_DIR, PEM kind).
_MASTER_PKI = (
    ('etcd_ca_cert', 'etcd-ca.crt', 'cert'),
    ('etcd_ca_key', 'etcd-ca.key', 'key'),
    ('front_proxy_ca_cert', 'front-proxy-ca.crt', 'cert'),
    ('front_proxy_ca_key', 'front-proxy-ca.key', 'key'),
    ('sa_key', 'sa.key', 'key'),
)
#: Secrets that never go into a worker's user data.
MASTER_ONLY_SECRETS = ('ca_key',) + tuple(n for n, _f, _k in _MASTER_PKI)
_PEM_KEY = re.compile(r'-----BEGIN ((RSA |EC )?PRIVATE KEY)-----\n'
                      r'[A-Za-z0-9+/=\n]+-----END \1-----\n?')


class UserDataError(ValueError):
    """A fact or secret cannot go into user data (names the key)."""


def _fragment_text(name):
    res = importlib.resources.files('magnum_cern_driver') / 'templates'
    return (res / 'fragments' / name).read_text(encoding='utf-8')


def shell_quote(value):
    """Single-quote ``value`` for a POSIX shell (every byte literal)."""
    return "'" + value.replace("'", "'\"'\"'") + "'"


def _check_text(name, value):
    if not isinstance(value, str):
        raise UserDataError('%s: expected a string' % name)
    if not value.isprintable():
        raise UserDataError('%s: control characters are not allowed' % name)
    if len(value) > labels_mod.MAX_VALUE_LENGTH:
        raise UserDataError('%s: longer than %d characters'
                            % (name, labels_mod.MAX_VALUE_LENGTH))
    for placeholder in PLACEHOLDERS:
        if placeholder in value:
            raise UserDataError('%s: must not contain %s'
                                % (name, placeholder))
    return value


def _facts_env(facts):
    env = []
    for name, pattern in sorted(_FACT_CHECKS.items()):
        value = _check_text(name, facts.get(name))
        if not pattern.fullmatch(value):
            raise UserDataError('%s: invalid value' % name)
        env.append((name.upper(), value))
    for name, (low, high) in sorted(_INT_FACTS.items()):
        value = facts.get(name)
        if value is None and name == 'docker_volume_size':
            value = 0   # Magnum leaves it unset when there is no volume
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserDataError('%s: expected an integer' % name)
        if not low <= value <= high:
            raise UserDataError('%s: must be in [%d, %d]'
                                % (name, low, high))
        env.append((name.upper(), str(value)))
    for name in _TEXT_FACTS:
        env.append((name.upper(), _check_text(name, facts.get(name))))
    return env


def label_checks():
    """The text of :data:`LABEL_CHECKS`, from the label schema."""
    lines = ['# Generated by magnum-cern-driver from its label schema.',
             '# Read as data by load_env (common.sh): VARIABLE PATTERN',
             '# (POSIX ERE).']
    lines += ['%s %s' % check for check in labels_mod.shell_checks()]
    return '\n'.join(lines) + '\n'


def _labels_env(labels, registry_mirror):
    env = []
    for name in NODE_LABELS:
        label = labels_mod.SCHEMA[name]
        value = labels.get(name, label.default)
        if name == 'registry_mirror':
            value = effective_mirror(labels, registry_mirror)
        text = label.render(value)
        # labels.validate() has whitelisted the value already; parsing it
        # again keeps a caller that skipped validation from slipping through.
        label.parse(text)
        try:
            _check_text(name, text)
        except UserDataError as e:
            raise labels_mod.InvalidLabel(name, str(e)) from None
        env.append((name.upper(), text))
    return env


def _lb_env(labels, facts):
    # The driver knows whether the API is behind a load balancer (the label
    # or the cluster template's field); without that fact, the label says.
    lb = facts.get('master_lb_enabled')
    if lb is None:
        lb = labels.get('master_lb_enabled', False)
    if not isinstance(lb, bool):
        raise UserDataError('master_lb_enabled: expected a boolean')
    return [('MASTER_LB_ENABLED', 'true' if lb else 'false')]


def _env_name(name):
    return re.sub(r'[^A-Z0-9]', '_', name.upper())


def artifacts_env(artifacts):
    """Environment entries of the resolved artifacts the nodes fetch.

    ``IMAGE_<NAME>_REPO``/``_TAG``, ``CHART_<NAME>_URL``/``_NAME``/
    ``_VERSION``, ``RPM_REPO_<REPO>_URL``/``_GPGKEY`` and ``PKG_<NAME>``
    (``name-version``), ``URL_<NAME>``/``SHA256_<NAME>``. ``common.sh``
    validates each prefix against its own pattern again.
    """
    env = []
    repos = {}
    packages = []
    for art in artifacts:
        key = _env_name(art.name)
        if art.kind == 'image':
            tag = art.tag + ('@' + art.digest if art.digest else '')
            env += [('IMAGE_%s_REPO' % key, art.image_repository),
                    ('IMAGE_%s_TAG' % key, tag)]
        elif art.kind == 'chart':
            env += [('CHART_%s_URL' % key, art.url),
                    ('CHART_%s_NAME' % key, art.chart),
                    ('CHART_%s_VERSION' % key, art.version)]
        elif art.kind == 'rpm':
            if not art.on_image:
                repos[art.repo] = (art.url, art.gpgkey)
            pkg = art.package + ('-' + art.version if art.version else '')
            packages.append(('PKG_%s' % key, pkg))
        elif art.kind == 'url':
            env += [('URL_%s' % key, art.url),
                    ('SHA256_%s' % key, art.sha256)]
    for name, (url, gpgkey) in repos.items():
        env += [('RPM_REPO_%s_URL' % _env_name(name), url),
                ('RPM_REPO_%s_GPGKEY' % _env_name(name), gpgkey)]
    return env + packages


def effective_mirror(labels, registry_mirror=''):
    """The cluster's registry mirror: its label, else the site option."""
    return labels.get('registry_mirror') or registry_mirror or ''


def _env_file(role, labels, facts, has_ca_bundle, artifacts,
              registry_mirror):
    lines = ['# Generated by magnum-cern-driver. Sourced by the bootstrap',
             '# fragments; every value is single-quoted and literal.']
    env = [('MCD_ROLE', role),
           ('SITE_CA_ENABLED', 'true' if has_ca_bundle else 'false')]
    env += _facts_env(facts)
    env.append(('VRRP_ROUTER_ID',
                str(vrrp_router_id(facts['cluster_uuid']))))
    env += _labels_env(labels, registry_mirror)
    env += _lb_env(labels, facts)
    env += artifacts_env(artifacts)
    for key, value in env:
        lines.append('%s=%s' % (key, shell_quote(value)))
    return '\n'.join(lines) + '\n'


def _secret(secrets, name, pattern=None):
    value = secrets.get(name)
    if not isinstance(value, str) or not value:
        raise UserDataError('secret %s is missing' % name)
    if pattern is not None and not pattern.fullmatch(value):
        raise UserDataError('secret %s is malformed' % name)
    for placeholder in PLACEHOLDERS:
        if placeholder in value:
            raise UserDataError('secret %s must not contain %s'
                                % (name, placeholder))
    return value


def _ini_value(name, value):
    if not value.isprintable():
        raise UserDataError('secret %s: control characters are not '
                            'allowed' % name)
    return '"%s"' % value.replace('\\', '\\\\').replace('"', '\\"')


#: The node's CA bundle (update-ca-trust's extract, the site CA included
#: after 10-site-ca.sh), as the cloud controller manager's pod sees it:
#: 60-cloud-provider.sh mounts the host's /etc/pki/ca-trust/extracted/pem
#: read-only on /etc/magnum-cern/ca.
NODE_CA_FILE = '/etc/magnum-cern/ca/tls-ca-bundle.pem'
_REGION = re.compile(r'[A-Za-z0-9_.-]{1,64}')


def _cloud_conf(secrets, region_name):
    """cloud.conf of the cloud controller manager.

    Keys from kubernetes/cloud-provider-openstack
    docs/openstack-cloud-controller-manager/
    using-openstack-cloud-controller-manager.md @ 9f51bac7: [Global]
    auth-url and region are required; ca-file, application-credential-id
    and -secret.
    """
    auth_url = _secret(secrets, 'auth_url', re.compile(r'https?://\S+'))
    cred_id = _secret(secrets, 'app_cred_id')
    cred_secret = _secret(secrets, 'app_cred_secret')
    if not isinstance(region_name, str) or \
            not _REGION.fullmatch(region_name):
        raise UserDataError('region_name: invalid value')
    return ('[Global]\n'
            'auth-url=%s\n'
            'region=%s\n'
            'ca-file=%s\n'
            'application-credential-id=%s\n'
            'application-credential-secret=%s\n'
            % (_ini_value('auth_url', auth_url), _ini_value('region',
                                                            region_name),
               _ini_value('ca_file', NODE_CA_FILE),
               _ini_value('app_cred_id', cred_id),
               _ini_value('app_cred_secret', cred_secret)))


def _pem(secrets, name, kind):
    """Secret ``name``: one PEM certificate or private key, normalised."""
    value = _secret(secrets, name).replace('\r\n', '\n').strip() + '\n'
    pattern = _PEM_CERT if kind == 'cert' else _PEM_KEY
    if not pattern.fullmatch(value):
        raise UserDataError('secret %s is not one PEM %s' % (
            name, 'certificate' if kind == 'cert' else 'private key'))
    return value


def vrrp_router_id(cluster_uuid):
    """keepalived's virtual_router_id (1-255) for a cluster's API VIP."""
    digest = hashlib.sha256(cluster_uuid.encode('utf-8')).digest()
    return 1 + digest[0] % 255


def _file(path, content, permissions='0600'):
    return {'path': path, 'owner': 'root:root',
            'permissions': permissions, 'content': content}


def _archive(role, files):
    """Every file without a run-time value, and the scripts, as one tar.

    One gzip stream over the environment file, the secrets and all the
    scripts is far smaller than each file on its own (PEM and base64 text
    compress too), which leaves room for the control plane's CAs under
    Nova's limit. cloud-init writes the tar (``gz+b64`` decodes and
    decompresses, 0600); the per-boot script unpacks it over ``/``. Files
    with a placeholder stay plain ``write_files`` entries: Heat replaces
    text, and cannot inside a compressed archive.
    """
    members = [(BASE_DIR, None, 0o700), (SECRETS_DIR, None, 0o700)]
    members += [(f['path'], f['content'], int(f['permissions'], 8))
                for f in files]
    members += [(LIB_DIR + '/' + LIBRARY, _fragment_text(LIBRARY), 0o644),
                (LABEL_CHECKS, label_checks(), 0o644),
                (RUNNER, _fragment_text(RUNNER_SOURCE), 0o755),
                (GUARD, _fragment_text(GUARD_SOURCE), 0o755)]
    members += [(LIB_DIR + '/fragments/' + name, _fragment_text(name),
                 0o755) for name in fragments_for(role)]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=tarfile.USTAR_FORMAT) \
            as tar:
        for path, text, mode in members:
            info = tarfile.TarInfo(path.lstrip('/'))
            info.mode = mode
            info.uname = info.gname = 'root'
            if text is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
                continue
            data = text.encode('utf-8')
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    data = gzip.compress(buf.getvalue(), compresslevel=9, mtime=0)
    return {'path': ARCHIVE, 'owner': 'root:root', 'permissions': '0600',
            'encoding': 'gz+b64',
            'content': base64.b64encode(data).decode('ascii')}


def archive_blobs(text):
    """The base64 archive(s) in user data ``text`` (they hold secrets)."""
    if not text.startswith('#cloud-config'):
        return []
    config = yaml.safe_load(text.split('\n', 1)[1]) or {}
    return [entry['content'] for entry in config.get('write_files') or []
            if entry.get('path') == ARCHIVE]


def written_files(text):
    """{path: (permissions, text)} of what a node gets from user data.

    The files cloud-init writes, with the archive unpacked as the per-boot
    script does (for tests and ``magnum-cern-selftest render``).
    """
    body = text.split('\n', 1)[1] if text.startswith('#cloud-config') \
        else text
    config = yaml.safe_load(body)
    files = {}
    for entry in config['write_files']:
        content = entry['content']
        if entry.get('encoding') == 'gz+b64':
            raw = gzip.decompress(base64.b64decode(content))
            if entry['path'] == ARCHIVE:
                with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
                    for member in tar.getmembers():
                        if member.isfile():
                            files['/' + member.name] = (
                                '%04o' % member.mode,
                                tar.extractfile(member).read().decode(
                                    'utf-8'))
                continue
            content = raw.decode('utf-8')
        files[entry['path']] = (entry['permissions'], content)
    return files


class _Dumper(yaml.SafeDumper):
    pass


def _str_representer(dumper, value):
    style = '|' if '\n' in value else None
    return dumper.represent_scalar('tag:yaml.org,2002:str', value,
                                   style=style)


_Dumper.add_representer(str, _str_representer)


def fragments_for(role):
    """File names of the fragments ``role`` runs, in order."""
    return tuple(name for name, roles in FRAGMENTS if role in roles)


def render(role, labels, facts, secrets, ca_bundle=None,
           registry_mirror='', region_name='RegionOne'):
    """Return the cloud-init user data (text) of one nodegroup.

    :param role: 'master' or 'worker'.
    :param labels: typed values from :func:`labels.validate`.
    :param facts: driver-made, non-secret values: cluster_uuid,
        cluster_name, nodegroup_name, kube_api_port, docker_volume_size,
        server_type, master_count; optionally master_lb_enabled (bool:
        the API is behind a load balancer; defaults to the label).
    :param secrets: bootstrap_token, ca_cert, ca_cert_hash; masters also
        ca_key, etcd_ca_cert, etcd_ca_key, front_proxy_ca_cert,
        front_proxy_ca_key, sa_key (PEM) and, with the cloud provider,
        app_cred_id, app_cred_secret and auth_url.
    :param ca_bundle: site CA bundle (PEM text) or None.
    :param registry_mirror: ``[cern_driver] registry_mirror`` (the
        label wins); every image of the artifact manifest is pulled
        through it.
    :raises UserDataError: a fact or secret is missing or malformed.
    :raises labels.InvalidLabel: a label value is not valid.
    """
    if role not in ROLES:
        raise UserDataError('role must be one of %s' % ', '.join(ROLES))
    if ca_bundle is not None and not ca_bundle.strip():
        ca_bundle = None
    if ca_bundle is not None and not _PEM_CERT.search(ca_bundle):
        raise UserDataError('ca_bundle holds no PEM certificate')

    # Labels first: a bad value is named as the label it is.
    _labels_env(labels, registry_mirror)
    mirror = effective_mirror(labels, registry_mirror)
    try:
        artifacts = artifacts_mod.for_nodes(
            artifacts_mod.resolve(labels, mirror=mirror))
    except artifacts_mod.ManifestError as e:
        raise UserDataError(str(e)) from None
    files = [_file(ENV_FILE, _env_file(role, labels, facts,
                                       ca_bundle is not None, artifacts,
                                       registry_mirror))]
    if ca_bundle is not None:
        files.append(_file(SITE_CA_FILE, ca_bundle.replace('\r\n', '\n'),
                           '0644'))

    ca_cert = _secret(secrets, 'ca_cert').replace('\r\n', '\n')
    if not _PEM_CERT.fullmatch(ca_cert.strip() + '\n'):
        raise UserDataError('secret ca_cert is not one PEM certificate')
    files.append(_file(SECRETS_DIR + '/ca.crt', ca_cert.strip() + '\n'))
    files.append(_file(SECRETS_DIR + '/bootstrap_token',
                       _secret(secrets, 'bootstrap_token', _TOKEN)))
    files.append(_file(SECRETS_DIR + '/ca_cert_hash',
                       _secret(secrets, 'ca_cert_hash', _CA_HASH)))
    files.append(_file(RUNTIME_DIR + '/api_address', API_ADDRESS + '\n'))

    if role == 'master':
        ca_key = _secret(secrets, 'ca_key').replace('\r\n', '\n')
        ca_key = ca_key.strip() + '\n'
        if not _PEM_KEY.fullmatch(ca_key):
            raise UserDataError('secret ca_key is not one PEM private key')
        files.append(_file(SECRETS_DIR + '/ca.key', ca_key))
        for name, filename, kind in _MASTER_PKI:
            files.append(_file(SECRETS_DIR + '/' + filename,
                               _pem(secrets, name, kind)))
        if labels.get('cloud_provider_enabled',
                      labels_mod.SCHEMA['cloud_provider_enabled'].default):
            files.append(_file(SECRETS_DIR + '/cloud.conf',
                               _cloud_conf(secrets, region_name)))
        files.append(_file(RUNTIME_DIR + '/node_index', NODE_INDEX + '\n'))
        files.append(_file(RUNTIME_DIR + '/api_public_address',
                           API_PUBLIC_ADDRESS + '\n'))
        files.append(_file(RUNTIME_DIR + '/wait_endpoint',
                           WAIT_ENDPOINT + '\n'))
        files.append(_file(SECRETS_DIR + '/wait_token', WAIT_TOKEN + '\n'))
    else:
        # Never let a caller's mistake put a CA key on workers: their user
        # data is readable from the metadata service of every worker.
        for name in MASTER_ONLY_SECRETS:
            if secrets.get(name):
                raise UserDataError('secret %s must not be given for '
                                    'workers' % name)

    # Heat replaces text: files with a placeholder stay plain, the rest go
    # into the compressed archive.
    plain = [f for f in files
             if any(p in f['content'] for p in PLACEHOLDERS)]
    packed = [f for f in files if f not in plain]
    files = plain + [_archive(role, packed)]
    # cloud-init runs the per-boot scripts at the end of every boot, the
    # first included (canonical/cloud-init cc_scripts_per_boot.py,
    # frequency PER_ALWAYS, <cloud_dir>/scripts/per-boot; cloud_dir is
    # /var/lib/cloud/ on RHEL variants, config/cloud.cfg.tmpl @ 0167c1b9):
    # a reboot in the middle of the bootstrap resumes it, and the runner
    # skips what completed.
    files.append(_file(PER_BOOT, PER_BOOT_SCRIPT, '0755'))

    config = {'write_files': files}
    text = '#cloud-config\n' + yaml.dump(
        config, Dumper=_Dumper, default_flow_style=False, sort_keys=False,
        allow_unicode=True, width=1000)
    for placeholder in PLACEHOLDERS:
        expected = 1 if placeholder in ROLE_PLACEHOLDERS[role] else 0
        if text.count(placeholder) != expected:
            raise UserDataError('placeholder %s appears %d times'
                                % (placeholder, text.count(placeholder)))
    if encoded_size(text) > NOVA_USER_DATA_LIMIT:
        raise UserDataError(
            'user data is %d bytes base64-encoded, over Nova\'s limit of %d '
            '(is the site CA bundle very large?)'
            % (encoded_size(text), NOVA_USER_DATA_LIMIT))
    return text


def encoded_size(text):
    """Size of user data as Nova counts it (base64 of the UTF-8 bytes).

    Heat's run-time values replace the placeholders: allow for them.
    """
    return len(base64.b64encode(text.encode('utf-8'))) + _RUNTIME_ALLOWANCE
