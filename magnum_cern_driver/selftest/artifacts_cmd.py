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
"""``magnum-cern-selftest artifacts``: what a cluster shape fetches.

Resolves ``templates/artifacts.yaml`` for the labels given (validated like
the driver validates them) and the registry mirror, and prints the list,
so that an operator can pre-seed a mirror before the first cluster boots.
No service is asked.
"""

import json

from magnum_cern_driver import artifacts as artifacts_mod
from magnum_cern_driver import labels as labels_mod

COLUMNS = ('kind', 'name', 'reference', 'chosen by (label)', 'source')


class ArtifactsError(ValueError):
    """Bad labels, mirror or manifest; str() is one line."""


def _site_conf():
    from magnum_cern_driver import conf as conf_mod
    return conf_mod.CONF.cern_driver


def typed_labels(raw, conf=None):
    """Labels as the driver types them (site defaults, unknown rejected)."""
    if conf is None:
        conf = _site_conf()
    try:
        return labels_mod.validate(raw or {},
                                   defaults=getattr(conf, 'default_labels',
                                                    None),
                                   unknown='reject')
    except labels_mod.InvalidLabel as e:
        raise ArtifactsError(str(e))


def choose_mirror(typed, option='', conf=None):
    """The registry mirror: the label wins, then ``option``, then the site.

    ``option`` is ``--registry-mirror`` (checked like the label);
    ``[cern_driver] registry_mirror`` is used when the driver has it.
    """
    label = typed.get('registry_mirror') or ''
    if label:
        return label
    if option:
        try:
            return labels_mod.SCHEMA['registry_mirror'].parse(option)
        except labels_mod.InvalidLabel as e:
            raise ArtifactsError('--registry-mirror: %s' % e.reason)
    if conf is None:
        conf = _site_conf()
    return getattr(conf, 'registry_mirror', None) or ''


def resolve(raw_labels, mirror_option='', manifest=None, conf=None):
    """(list of Artifact, mirror used) for a cluster shape."""
    typed = typed_labels(raw_labels, conf)
    mirror = choose_mirror(typed, mirror_option, conf)
    try:
        return artifacts_mod.resolve(typed, mirror=mirror,
                                     manifest=manifest), mirror
    except artifacts_mod.ManifestError as e:
        raise ArtifactsError('artifact manifest: %s' % e)
    except (OSError, ValueError) as e:
        raise ArtifactsError('artifact manifest: %s' % e)


def document(arts, mirror=''):
    """The JSON document: every artifact, and the plain image references."""
    return {
        'registry_mirror': mirror,
        'artifacts': [a.as_dict() for a in arts],
        # for `skopeo copy` loops
        'images': [a.ref for a in arts if a.kind == 'image'],
    }


def table(arts, mirror=''):
    """A plain-text table (one artifact per line)."""
    rows = [COLUMNS]
    for a in arts:
        rows.append((a.kind, a.name, a.ref, a.label or '-',
                     a.source or '-'))
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS) - 1)]
    lines = []
    for r in rows:
        cells = ['%-*s' % (w, c) for w, c in zip(widths, r)] + [r[-1]]
        lines.append('  '.join(cells).rstrip())
    lines.append('')
    lines.append('%d artifacts; registry mirror: %s' % (
        len(arts), mirror or 'none (upstream registries)'))
    return '\n'.join(lines) + '\n'


def run(raw_labels, mirror_option='', fmt='table', manifest=None,
        conf=None):
    """The command's output text; raises :class:`ArtifactsError`."""
    arts, mirror = resolve(raw_labels, mirror_option, manifest, conf)
    if fmt == 'json':
        return json.dumps(document(arts, mirror), indent=2,
                          sort_keys=True) + '\n'
    return table(arts, mirror)
