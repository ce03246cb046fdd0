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
"""``magnum-cern-selftest render``: the user data a node would get.

The stack is built exactly as the driver builds it
(:func:`params.build_stack`, which calls :func:`userdata.render`) for a
cluster of the shape given, with stand-in secrets: values of the right
form that are obviously not secret. Every stand-in is then replaced in
the output by a placeholder such as ``<secret:bootstrap_token>``, and the
output is checked to hold none of them. No service is asked and no key is
generated.
"""

import dataclasses
import json

import yaml

from magnum_cern_driver import budget as budget_mod
from magnum_cern_driver import labels as labels_mod
from magnum_cern_driver import params as params_mod
from magnum_cern_driver import userdata as userdata_mod

ROLES = ('master', 'worker')
CLUSTER_NAME = 'render'
CLUSTER_UUID = '00000000-0000-0000-0000-000000000000'
HIDDEN = '<hidden: see user_data>'
# The nodegroup whose user data --role worker shows (the first worker
# nodegroup of budget.example_inputs).
WORKER_NODEGROUP = 'default-worker'

# Stand-ins that pass userdata.render's checks, and what replaces each in
# the output. PEM bodies are one base64-alphabet line, so the printed
# blocks keep their PEM frame around the placeholder. Secrets the driver
# adds later get a stand-in by the form of their name (*_cert, *_key).
_FIXED = {
    'ca_cert_hash': ('sha256:' + 'c0ffee00' * 8, 'placeholder'),
    'bootstrap_token': ('render.placeholder00000', 'secret'),
    'auth_url': ('https://render-placeholder.invalid/identity/v3',
                 'keystone'),
}
_PUBLIC = ('ca_cert', 'ca_cert_hash')


def _body(name):
    return 'RENDERxPLACEHOLDERx' + ''.join(
        part.upper() for part in name.split('_'))


def _standin(name):
    """(value given to the driver, text to replace, placeholder)."""
    if name in _FIXED:
        value, kind = _FIXED[name]
        return value, value, '<%s:%s>' % (kind, name)
    body = _body(name)
    kind = 'placeholder' if name.endswith('_cert') else 'secret'
    if name.endswith('_cert'):
        value = ('-----BEGIN CERTIFICATE-----\n%s\n'
                 '-----END CERTIFICATE-----\n' % body)
    elif name.endswith('_key'):
        value = ('-----BEGIN RSA PRIVATE KEY-----\n%s\n'
                 '-----END RSA PRIVATE KEY-----\n' % body)
    else:
        value = body
    return value, body, '<%s:%s>' % (kind, name)


def standins():
    """{secret name: stand-in value} for every secret the driver takes."""
    return {name: _standin(name)[0] for name in params_mod.Secrets.FIELDS}


def _replacements():
    """[(stand-in text, placeholder)], longest first."""
    pairs = [_standin(name)[1:] for name in params_mod.Secrets.FIELDS]
    return sorted(pairs, key=lambda p: -len(p[0]))


def secret_material():
    """Every stand-in text the output must not hold (for tests)."""
    values = set(standins().values())
    values.update(text for text, _p in _replacements())
    return sorted(values)


class RenderError(ValueError):
    """Bad labels or shape, or the driver refused it; str() is one line."""


def site_conf():
    """The :class:`params.BuildOptions` of a render.

    The site's ``[cern_driver]`` options, except: unknown labels are
    refused, no extra environment files and no site CA bundle (the render
    shows SITE_CA_ENABLED='false').
    """
    from magnum_cern_driver import conf as conf_mod
    return dataclasses.replace(
        params_mod.BuildOptions.from_conf(conf_mod.CONF.cern_driver),
        unknown_labels='reject', environment_files=(), ca_bundle=None)


def scrub(text):
    """Replace every stand-in secret in ``text`` by its placeholder."""
    for value, placeholder in _replacements():
        text = text.replace(value, placeholder)
    return text


def _check_scrubbed(text):
    for value, _placeholder in _replacements():
        if value in text:
            # never print a stand-in's value: a real one could follow it
            raise RenderError('internal error: a secret stand-in was left '
                              'in the output')


def build(role, masters=1, workers=1, raw_labels=None, conf=None):
    """The stack spec of the shape and the raw user data of ``role``."""
    if role not in ROLES:
        raise RenderError('--role must be one of %s' % ', '.join(ROLES))
    conf = conf or site_conf()
    try:
        labels_mod.validate(raw_labels or {}, defaults=conf.default_labels,
                            unknown='reject')
    except labels_mod.InvalidLabel as e:
        raise RenderError(str(e))
    try:
        inputs = budget_mod.example_inputs(masters, workers,
                                           labels=raw_labels)
        inputs = dataclasses.replace(
            inputs, name=CLUSTER_NAME, uuid=CLUSTER_UUID,
            stack_name=params_mod.stack_name_for(CLUSTER_NAME, CLUSTER_UUID))
        spec = params_mod.build_stack(inputs, params_mod.Secrets(**standins()),
                                      conf)
    except ValueError as e:
        # InvalidInput, InvalidLabel, UserDataError, ManifestError
        raise RenderError(str(e))
    if role == 'master':
        key = 'master_user_data'
    else:
        from magnum_cern_driver import render as render_mod
        key = render_mod.nodegroup_param(
            params_mod.nodegroup_key(WORKER_NODEGROUP), 'user_data')
    return spec, spec.parameters[key]


def document(role, masters=1, workers=1, raw_labels=None, conf=None):
    """The JSON document (secrets replaced by placeholders)."""
    spec, user_data = build(role, masters, workers, raw_labels, conf)
    parameters = {k: (HIDDEN if k in spec.hidden_parameters else v)
                  for k, v in spec.parameters.items()}
    doc = {
        'role': role,
        'masters': masters,
        'workers': workers,
        'user_data': user_data,
        # What the node has after cloud-init and the per-boot script: the
        # archive's files decoded (secrets replaced by placeholders).
        'node_files': {path: {'permissions': perm, 'content': scrub(body)}
                       for path, (perm, body)
                       in userdata_mod.written_files(user_data).items()},
        'parameters': parameters,
        'template': yaml.safe_dump(spec.template, default_flow_style=False,
                                   sort_keys=False, width=1000),
        'files': dict(spec.files),
        'environment_files': list(spec.environment_files),
        'worker_shards': {k: len(v) for k, v in spec.shard_counts.items()},
    }
    return doc


def _archived(user_data):
    """(blob, [(path, permissions, text)]) of the user data's archive.

    The archive (``userdata.ARCHIVE``) holds every file without a run-time
    value, the scripts included; the node unpacks it at boot.
    """
    config = yaml.safe_load(user_data.split('\n', 1)[1])
    plain = set()
    blob = ''
    for entry in config.get('write_files') or []:
        plain.add(entry['path'])
        if entry['path'] == userdata_mod.ARCHIVE:
            blob = entry['content']
    members = [(path, perm, body) for path, (perm, body)
               in userdata_mod.written_files(user_data).items()
               if path not in plain]
    return blob, members


def text(role, masters=1, workers=1, raw_labels=None, conf=None):
    """The user data for reading: the archive's files decoded after it."""
    _spec, user_data = build(role, masters, workers, raw_labels, conf)
    blob, scripts = _archived(user_data)
    shown = user_data
    if blob:
        shown = shown.replace(
            blob, '<gzip+base64 tar of %d files, decoded below>'
            % len(scripts))
    lines = [
        '# magnum-cern-selftest render: %s user data of a cluster with %d '
        'master(s) and %d worker(s)' % (role, masters, workers),
        '# Secrets are replaced by <secret:...>/<placeholder:...>; Heat '
        'replaces __API_ADDRESS__ and the other __*__ at create time.',
        '# Every file without a run-time value (environment, secrets, '
        'scripts) is sent in one gzip+base64 tar (cloud-init encoding '
        'gz+b64, unpacked at boot); they are decoded for reading after the '
        'user data.',
        '',
        shown.rstrip('\n'),
    ]
    for path, perm, body in scripts:
        lines += [
            '',
            '# ' + '-' * 70,
            '# %s (%s) - decoded for reading; sent in the archive'
            % (path, perm),
            '# ' + '-' * 70,
            body.rstrip('\n'),
        ]
    return '\n'.join(lines) + '\n'


def run(role, masters=1, workers=1, raw_labels=None, fmt='text', conf=None):
    """The command's output; raises :class:`RenderError`."""
    if fmt == 'json':
        out = json.dumps(document(role, masters, workers, raw_labels, conf),
                         indent=2, sort_keys=True) + '\n'
    else:
        out = text(role, masters, workers, raw_labels, conf)
    out = scrub(out)
    _check_scrubbed(out)
    return out
