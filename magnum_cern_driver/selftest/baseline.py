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
"""Comparison of a run with a baseline run (pure).

Two runs are compared only when their environment fingerprints are
*comparable*: same kind of target (the rehearsal or a cloud), same cloud
(hash of auth URL, region and project), same hollowness of nodes, same
template shape (flavors, network driver, volumes, labels other than
version labels) and same result schema major version. Versions of Magnum,
Heat, the driver and Kubernetes may differ: that is what an upgrade check
compares, and the differences are listed.

A metric regresses only when it is worse than the baseline by both a ratio
and an absolute noise floor (:data:`THRESHOLDS`), so that small sizes whose
times are dominated by fixed polling periods (Magnum's 10 s status task)
do not flap. A size that was built before and fails now is a regression
too. Regressions are reported apart from target misses.
"""

VERSION_LABELS = ('kube_tag', 'containerd_version', 'flannel_tag',
                  'cvmfs_csi_version', 'eos_csi_version')

# metric: (ratio, floor, direction). 'higher' means larger is worse.
THRESHOLDS = {
    'deploy_minutes': {'ratio': 1.25, 'floor': 1.0, 'worse': 'higher',
                       'unit': 'min'},
    'ready_minutes': {'ratio': 1.25, 'floor': 1.0, 'worse': 'higher',
                      'unit': 'min'},
    'accept_ms': {'ratio': 2.0, 'floor': 500.0, 'worse': 'higher',
                  'unit': 'ms'},
    'load_rps': {'ratio': 0.9, 'floor': 1000.0, 'worse': 'lower',
                 'unit': 'req/s'},
    'load_p99_ms': {'ratio': 1.5, 'floor': 5.0, 'worse': 'higher',
                    'unit': 'ms'},
}


def comparable_key(fingerprint):
    """The parts of a fingerprint that must match for a comparison."""
    fp = fingerprint or {}
    target = fp.get('target') or {}
    tmpl = dict(fp.get('template') or {})
    labels = dict(tmpl.get('labels') or {})
    for name in VERSION_LABELS:
        labels.pop(name, None)
    shape = {k: tmpl.get(k) for k in ('coe', 'image_os_distro', 'flavor',
                                      'master_flavor', 'network_driver',
                                      'docker_volume_size', 'driver')}
    shape['labels'] = labels
    return {
        'target_kind': target.get('kind'),
        'cloud_id': target.get('cloud_id'),
        'hollow': fp.get('hollow'),
        'template': shape,
        'rehearsal': fp.get('rehearsal'),
        'schema_major': str(fp.get('schema_version', '1')).split('.')[0],
    }


def comparability(current_fp, baseline_fp):
    """(comparable, [reasons]) for two fingerprints."""
    a = comparable_key(current_fp)
    b = comparable_key(baseline_fp)
    reasons = []
    for key in sorted(a):
        if a[key] != b[key]:
            if key == 'template':
                for sub in sorted(set(a[key]) | set(b[key])):
                    if a[key].get(sub) != b[key].get(sub):
                        reasons.append('template %s differs: %r vs %r' % (
                            sub, b[key].get(sub), a[key].get(sub)))
            else:
                reasons.append('%s differs: %r vs %r' % (key, b[key],
                                                         a[key]))
    return not reasons, reasons


def version_changes(current_fp, baseline_fp):
    a = (current_fp or {}).get('versions') or {}
    b = (baseline_fp or {}).get('versions') or {}
    return {k: [b.get(k), a.get(k)] for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k)}


def judge(metric, baseline, current):
    """Compare one number; returns a row dict (regression True/False)."""
    th = THRESHOLDS[metric]
    row = {'metric': metric, 'baseline': baseline, 'current': current,
           'ratio_threshold': th['ratio'], 'floor': th['floor'],
           'unit': th['unit'], 'ratio': None, 'delta': None,
           'regression': False}
    if baseline is None or current is None:
        row['note'] = 'missing in one run'
        return row
    row['delta'] = round(current - baseline, 3)
    row['ratio'] = round(current / baseline, 3) if baseline else None
    if th['worse'] == 'higher':
        row['regression'] = (current > baseline * th['ratio'] and
                             current - baseline > th['floor'])
    else:
        row['regression'] = (current < baseline * th['ratio'] and
                             baseline - current > th['floor'])
    return row


def _sizes(result):
    """{size: step result}; of two steps of one size (fleets), the last."""
    return {s['size']: s for s in result.get('sizes', [])}


def _built(size_result):
    return size_result.get('status') in ('pass', 'target missed')


def _load_best(load):
    steps = [s for s in (load or {}).get('steps') or [] if s.get('valid')]
    if not steps:
        return None, None
    best = max(steps, key=lambda s: s.get('achieved_rps') or 0)
    return best.get('achieved_rps'), best.get('p99_ms')


def compare(current, baseline):
    """Compare two result documents (as written by report.jsonfmt)."""
    ok, reasons = comparability(current.get('fingerprint'),
                                baseline.get('fingerprint'))
    out = {'baseline_run_id': baseline.get('run_id'),
           'baseline_started_at': baseline.get('started_at'),
           'comparable': ok, 'reasons': reasons,
           'version_changes': version_changes(current.get('fingerprint'),
                                              baseline.get('fingerprint')),
           'thresholds': THRESHOLDS, 'sizes': [], 'load': [],
           'regressions': []}
    if not ok:
        return out
    cur_sizes = _sizes(current)
    base_sizes = _sizes(baseline)
    for size in sorted(set(cur_sizes) & set(base_sizes)):
        cur, base = cur_sizes[size], base_sizes[size]
        entry = {'size': size, 'rows': [], 'note': None}
        if cur.get('concurrency') != base.get('concurrency'):
            entry['note'] = ('not compared: concurrency %s vs %s'
                             % (base.get('concurrency'),
                                cur.get('concurrency')))
            out['sizes'].append(entry)
            continue
        if cur.get('clusters', cur.get('concurrency')) != \
                base.get('clusters', base.get('concurrency')):
            # Fleets: 100 clusters are not 1000 of the same size.
            entry['note'] = ('not compared: %s clusters vs %s'
                             % (base.get('clusters'), cur.get('clusters')))
            out['sizes'].append(entry)
            continue
        if cur.get('status') == 'skipped':
            entry['note'] = 'not run this time'
            out['sizes'].append(entry)
            continue
        if _built(base) and cur.get('status') in ('fail', 'timeout',
                                                  'stalled'):
            entry['note'] = 'built in the baseline, %s now' % cur['status']
            out['regressions'].append('size %d: %s' % (size, entry['note']))
        if _built(base) and _built(cur):
            cs, bs = cur.get('summary') or {}, base.get('summary') or {}
            for metric, key in (('deploy_minutes', 'median_minutes'),
                                ('ready_minutes', 'ready_median_minutes'),
                                ('accept_ms', 'accept_ms_median')):
                if bs.get(key) is None and cs.get(key) is None:
                    continue
                row = judge(metric, bs.get(key), cs.get(key))
                entry['rows'].append(row)
                if row['regression']:
                    out['regressions'].append(
                        'size %d: %s %s -> %s %s (x%s)' % (
                            size, metric, row['baseline'], row['current'],
                            row['unit'], row['ratio']))
        out['sizes'].append(entry)
    cur_rps, cur_p99 = _load_best(current.get('load'))
    base_rps, base_p99 = _load_best(baseline.get('load'))
    if base_rps is not None:
        for metric, b, c in (('load_rps', base_rps, cur_rps),
                             ('load_p99_ms', base_p99, cur_p99)):
            row = judge(metric, b, c)
            out['load'].append(row)
            if row['regression']:
                out['regressions'].append('load: %s %s -> %s %s' % (
                    metric, b, c, row['unit']))
    return out


def baseline_deploy_minutes(baseline):
    """{size: median minutes} of a baseline (for plots)."""
    return {s['size']: (s.get('summary') or {}).get('median_minutes')
            for s in (baseline or {}).get('sizes', [])
            if (s.get('summary') or {}).get('median_minutes') is not None}
