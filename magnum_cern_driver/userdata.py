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
  runs them in order (``runcmd``).

Heat fills run-time values with ``str_replace`` on the rendered text: the
placeholders in :data:`PLACEHOLDERS` each sit alone in a file of their own,
which the fragments read as data and validate (never source).

Nothing here does I/O except reading the packaged fragments.
"""

import base64
import gzip
import hashlib
import importlib.resources
import re

import yaml

from magnum_cern_driver import labels as labels_mod

ROLES = ('master', 'worker')

API_ADDRESS = '__API_ADDRESS__'
NODE_INDEX = '__NODE_INDEX__'
WAIT_ENDPOINT = '__WAIT_ENDPOINT__'
WAIT_TOKEN = '__WAIT_TOKEN__'

#: Every placeholder Heat replaces (``str_replace``) in the user data.
PLACEHOLDERS = (API_ADDRESS, NODE_INDEX, WAIT_ENDPOINT, WAIT_TOKEN)

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
SITE_CA_FILE = BASE_DIR + '/site-ca.pem'

#: Chart version of the OpenStack cloud controller manager (no label yet).
CCM_CHART_VERSION = '2.31.1'

#: Labels the nodes use, in the order they appear in the environment file.
NODE_LABELS = (
    'kube_tag',
    'containerd_version',
    'flannel_backend',
    'flannel_tag',
    'flannel_network_cidr',
    'flannel_network_subnetlen',
    'service_cluster_ip_range',
    'kube_proxy_mode',
    'network_mtu',
    'container_storage_device',
    'cvmfs_enabled',
    'cvmfs_csi_version',
    'cvmfs_repositories',
    'cvmfs_http_proxy',
    'eos_enabled',
    'eos_csi_version',
    'eos_instances',
    'registry_mirror',
    'cloud_provider_enabled',
)

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


def _labels_env(labels):
    env = []
    for name in NODE_LABELS:
        label = labels_mod.SCHEMA[name]
        value = labels.get(name, label.default)
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


def _env_file(role, labels, facts, has_ca_bundle):
    lines = ['# Generated by magnum-cern-driver. Sourced by the bootstrap',
             '# fragments; every value is single-quoted and literal.']
    env = [('MCD_ROLE', role),
           ('SITE_CA_ENABLED', 'true' if has_ca_bundle else 'false'),
           ('CCM_CHART_VERSION', CCM_CHART_VERSION)]
    env += _facts_env(facts)
    env.append(('VRRP_ROUTER_ID',
                str(vrrp_router_id(facts['cluster_uuid']))))
    env += _labels_env(labels)
    env += _lb_env(labels, facts)
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


def _cloud_conf(secrets):
    auth_url = _secret(secrets, 'auth_url', re.compile(r'https?://\S+'))
    cred_id = _secret(secrets, 'app_cred_id')
    cred_secret = _secret(secrets, 'app_cred_secret')
    return ('[Global]\n'
            'auth-url=%s\n'
            'application-credential-id=%s\n'
            'application-credential-secret=%s\n'
            % (_ini_value('auth_url', auth_url),
               _ini_value('app_cred_id', cred_id),
               _ini_value('app_cred_secret', cred_secret)))


def certificate_key(ca_key):
    """kubeadm's --certificate-key for the masters, derived from the CA key.

    The first master uploads the control plane certificates encrypted with
    this key; the other masters download them. Deriving it from the CA key
    (which only masters get) keeps it stable across renders and secret.
    """
    digest = hashlib.sha256(b'magnum-cern-driver kubeadm-certs\0')
    digest.update(ca_key.encode('utf-8'))
    return digest.hexdigest()


def vrrp_router_id(cluster_uuid):
    """keepalived's virtual_router_id (1-255) for a cluster's API VIP."""
    digest = hashlib.sha256(cluster_uuid.encode('utf-8')).digest()
    return 1 + digest[0] % 255


def _file(path, content, permissions='0600'):
    return {'path': path, 'owner': 'root:root',
            'permissions': permissions, 'content': content}


def _script(path, content, permissions):
    """A packaged script, gzip-compressed (cloud-init's gz+b64 encoding).

    Compression keeps the user data well under Nova's limit; the scripts
    hold no values (those are in the environment file), so the compressed
    text is the same for every cluster.
    """
    data = gzip.compress(content.encode('utf-8'), compresslevel=9, mtime=0)
    return {'path': path, 'owner': 'root:root', 'permissions': permissions,
            'encoding': 'gz+b64',
            'content': base64.b64encode(data).decode('ascii')}


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


def render(role, labels, facts, secrets, ca_bundle=None):
    """Return the cloud-init user data (text) of one nodegroup.

    :param role: 'master' or 'worker'.
    :param labels: typed values from :func:`labels.validate`.
    :param facts: driver-made, non-secret values: cluster_uuid,
        cluster_name, nodegroup_name, kube_api_port, docker_volume_size,
        server_type, master_count; optionally master_lb_enabled (bool:
        the API is behind a load balancer; defaults to the label).
    :param secrets: bootstrap_token, ca_cert, ca_cert_hash; masters also
        ca_key and, with the cloud provider, app_cred_id, app_cred_secret
        and auth_url.
    :param ca_bundle: site CA bundle (PEM text) or None.
    :raises UserDataError: a fact or secret is missing or malformed.
    :raises labels.InvalidLabel: a label value is not valid.
    """
    if role not in ROLES:
        raise UserDataError('role must be one of %s' % ', '.join(ROLES))
    if ca_bundle is not None and not ca_bundle.strip():
        ca_bundle = None
    if ca_bundle is not None and not _PEM_CERT.search(ca_bundle):
        raise UserDataError('ca_bundle holds no PEM certificate')

    files = [_file(ENV_FILE, _env_file(role, labels, facts,
                                       ca_bundle is not None))]
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
        files.append(_file(SECRETS_DIR + '/certificate_key',
                           certificate_key(ca_key)))
        if labels.get('cloud_provider_enabled',
                      labels_mod.SCHEMA['cloud_provider_enabled'].default):
            files.append(_file(SECRETS_DIR + '/cloud.conf',
                               _cloud_conf(secrets)))
        files.append(_file(RUNTIME_DIR + '/node_index', NODE_INDEX + '\n'))
        files.append(_file(RUNTIME_DIR + '/wait_endpoint',
                           WAIT_ENDPOINT + '\n'))
        files.append(_file(SECRETS_DIR + '/wait_token', WAIT_TOKEN + '\n'))
    elif 'ca_key' in secrets and secrets['ca_key']:
        # Never let a caller's mistake put the CA key on workers: their user
        # data is readable from the metadata service of every worker.
        raise UserDataError('secret ca_key must not be given for workers')

    files.append(_script(LIB_DIR + '/' + LIBRARY, _fragment_text(LIBRARY),
                         '0644'))
    for name in fragments_for(role):
        files.append(_script(LIB_DIR + '/fragments/' + name,
                             _fragment_text(name), '0755'))
    files.append(_script(RUNNER, _fragment_text(RUNNER_SOURCE), '0755'))

    config = {'write_files': files, 'runcmd': [[RUNNER]]}
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
