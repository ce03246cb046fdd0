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
"""One offline HTML file: tables and inline SVG plots, no external URL.

Plots: deploy time against size (this run's clusters and medians, the
reference, the baseline), and a per-cluster status timeline. Everything
is inline (CSS, SVG); the file opens without a network.
"""

import html as html_mod
import math

from magnum_cern_driver.selftest.report import histogram

STATUS_COLORS = {
    'REQUESTED': '#9e9e9e',
    'CREATE_IN_PROGRESS': '#1e88e5',
    'CREATE_COMPLETE': '#43a047',
    'CREATE_FAILED': '#e53935',
    'REFUSED': '#b71c1c',
    'DELETE_IN_PROGRESS': '#8e24aa',
    'MISSING': '#6d4c41',
}
OTHER_COLOR = '#fb8c00'
VERDICT_COLORS = {'pass': '#2e7d32', 'target missed': '#ef6c00',
                  'fail': '#c62828', 'timeout': '#ad1457',
                  'stalled': '#ad1457',
                  'interrupted': '#6a1b9a', 'skipped': '#757575'}
MAX_TIMELINE_ROWS = 400

CSS = """
body{font-family:sans-serif;margin:1.5em;color:#212121;max-width:1200px}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;
vertical-align:top}
th{background:#f5f5f5}.ok{color:#2e7d32}.bad{color:#c62828}
.warn{color:#ef6c00}.muted{color:#757575}
.verdict{display:inline-block;padding:.2em .6em;color:#fff;border-radius:3px}
svg text{font-family:sans-serif;font-size:11px}
"""


def esc(value):
    return html_mod.escape('' if value is None else str(value), quote=True)


def _fmt(value, digits=2):
    if value is None:
        return '-'
    if isinstance(value, float):
        return ('%.' + str(digits) + 'f') % value
    return str(value)


# -- plots -------------------------------------------------------------------

def _nice_max(value):
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for m in (1, 2, 2.5, 5, 10):
        if value <= m * exp:
            return m * exp
    return 10 * exp


def deploy_plot(result, width=760, height=380):
    """SVG: minutes to CREATE_COMPLETE against cluster size (log axis)."""
    sizes = result.get('sizes') or []
    ref = [(s['nodes'], s['target_minutes'])
           for s in (result.get('reference') or {}).get('steps', [])]
    top_size = max([s['size'] for s in sizes] or [1])
    ref_in = [p for p in ref if p[0] <= top_size]
    # Targets actually used (interpolated sizes included).
    targets = [(s['size'], s['target_minutes']) for s in sizes]
    base = sorted(((int(k), v) for k, v in (
        (result.get('baseline') or {}).get('deploy_minutes') or {}).items()
        if v is not None))
    points = []
    medians = []
    failed = {}
    for s in sizes:
        for r in s.get('results') or []:
            if r.get('create_seconds') is not None:
                points.append((s['size'], r['create_seconds'] / 60.0))
            elif r.get('outcome') in ('fail', 'timeout', 'stalled'):
                failed[s['size']] = failed.get(s['size'], 0) + 1
        m = (s.get('summary') or {}).get('median_minutes')
        if m is not None:
            medians.append((s['size'], m))
    xs = [p[0] for p in ref_in + targets + base + points] or [1, 2]
    ys = [p[1] for p in ref_in + targets + base + points] or [1]
    left, right, top, bottom = 60, 20, 20, 60
    pw, ph = width - left - right, height - top - bottom
    xmin, xmax = math.log2(max(min(xs), 1)) - 0.5, math.log2(max(xs)) + 0.5
    ymax = _nice_max(max(ys) * 1.1)

    def X(size):
        return left + (math.log2(max(size, 1)) - xmin) / (xmax - xmin) * pw

    def Y(minutes):
        return top + ph - minutes / ymax * ph

    out = ['<svg role="img" aria-label="deploy time against cluster size" '
           'width="%d" height="%d" viewBox="0 0 %d %d">'
           % (width, height, width, height),
           '<rect x="%d" y="%d" width="%d" height="%d" fill="#fff" '
           'stroke="#bbb"/>' % (left, top, pw, ph)]
    for i in range(6):
        v = ymax * i / 5
        y = Y(v)
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" '
                   'stroke="#eee"/>' % (left, left + pw, y, y))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>'
                   % (left - 5, y + 4, _fmt(v, 1)))
    for size in sorted(set(xs)):
        x = X(size)
        out.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" '
                   'stroke="#eee"/>' % (x, x, top, top + ph))
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%d</text>'
                   % (x, top + ph + 15, size))
        if failed.get(size):
            out.append('<text x="%.1f" y="%d" text-anchor="middle" '
                       'fill="#c62828">%d failed</text>'
                       % (x, top + ph + 28, failed[size]))
    out.append('<text x="%d" y="%d" text-anchor="middle">cluster size '
               '(worker nodes, log scale)</text>'
               % (left + pw / 2, height - 12))
    out.append('<text transform="translate(14,%d) rotate(-90)" '
               'text-anchor="middle">minutes to CREATE_COMPLETE</text>'
               % (top + ph / 2))

    def line(pts, color, dash=None, name=None):
        if not pts:
            return
        path = ' '.join('%.1f,%.1f' % (X(a), Y(b)) for a, b in sorted(pts))
        out.append('<polyline fill="none" stroke="%s" stroke-width="2"%s '
                   'points="%s"><title>%s</title></polyline>'
                   % (color, ' stroke-dasharray="6 4"' if dash else '',
                      path, esc(name)))
        for a, b in pts:
            out.append('<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s">'
                       '<title>%s: %d nodes, %s min</title></circle>'
                       % (X(a), Y(b), color, esc(name), a, _fmt(b)))

    line(ref_in, '#757575', dash=True, name='reference')
    extra = [t for t in targets if t not in ref_in]
    for a, b in extra:
        out.append('<circle cx="%.1f" cy="%.1f" r="3.5" fill="none" '
                   'stroke="#757575"><title>target %d nodes: %s min'
                   '</title></circle>' % (X(a), Y(b), a, _fmt(b)))
    line(base, '#fb8c00', name='baseline')
    for a, b in points:
        out.append('<circle cx="%.1f" cy="%.1f" r="2.5" fill="#1e88e5" '
                   'fill-opacity="0.35"><title>cluster: %d nodes, %s min'
                   '</title></circle>' % (X(a), Y(b), a, _fmt(b)))
    line(medians, '#1e88e5', name='this run (median)')
    legend = [('#1e88e5', 'this run: clusters and median'),
              ('#757575', 'reference target (dashed)'),
              ('#fb8c00', 'baseline median')]
    for i, (color, text) in enumerate(legend):
        y = top + 12 + i * 16
        out.append('<rect x="%d" y="%d" width="12" height="4" fill="%s"/>'
                   '<text x="%d" y="%d">%s</text>'
                   % (left + 10, y - 4, color, left + 28, y, esc(text)))
    out.append('</svg>')
    return '\n'.join(out)


def timeline_plot(result, width=1000):
    """SVG: one row per cluster, coloured by Magnum status over time."""
    rows = []
    for s in result.get('sizes') or []:
        for r in s.get('results') or []:
            if r.get('transitions'):
                rows.append(r)
    if len(rows) > histogram.OVER:
        # A fleet: a row per cluster would be unreadable.
        return histogram.plot(result, width=width)
    rows.sort(key=lambda r: (r.get('requested_at') or 0, r['name']))
    clipped = len(rows) > MAX_TIMELINE_ROWS
    rows = rows[:MAX_TIMELINE_ROWS]
    if not rows:
        return '<p class="muted">No cluster was requested.</p>'
    ends = [r.get('ended_at') or r['transitions'][-1]['at'] for r in rows]
    tmax = max(ends + [1.0])
    left, right, top, rh = 120, 20, 20, 12
    pw = width - left - right
    height = top + len(rows) * rh + 50

    def X(t):
        return left + t / tmax * pw

    out = ['<svg role="img" aria-label="per-cluster status timeline" '
           'width="%d" height="%d" viewBox="0 0 %d %d">'
           % (width, height, width, height)]
    for i in range(6):
        t = tmax * i / 5
        out.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" '
                   'stroke="#eee"/><text x="%.1f" y="%d" '
                   'text-anchor="middle">%s</text>'
                   % (X(t), X(t), top, top + len(rows) * rh, X(t),
                      top + len(rows) * rh + 14, _fmt(t / 60.0, 1)))
    out.append('<text x="%d" y="%d" text-anchor="middle">minutes since '
               'the run started</text>'
               % (left + pw / 2, top + len(rows) * rh + 30))
    seen = []
    for i, (r, end) in enumerate(zip(rows, ends)):
        y = top + i * rh
        short = r['name'].split('-')[-2:] if r.get('name') else ['?']
        out.append('<text x="%d" y="%d" text-anchor="end">%s</text>'
                   % (left - 4, y + rh - 2, esc('-'.join(short))))
        tr = r['transitions']
        for cur, nxt in zip(tr, tr[1:] + [{'at': end}]):
            color = STATUS_COLORS.get(cur['status'], OTHER_COLOR)
            if cur['status'] not in seen:
                seen.append(cur['status'])
            w = max(X(nxt['at']) - X(cur['at']), 1.0)
            out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" '
                       'fill="%s"><title>%s %s: %.0f s</title></rect>'
                       % (X(cur['at']), y + 1, w, rh - 2, color,
                          esc(r['name']), esc(cur['status']),
                          nxt['at'] - cur['at']))
    lx = left
    ly = height - 8
    for status in seen:
        out.append('<rect x="%d" y="%d" width="10" height="10" fill="%s"/>'
                   '<text x="%d" y="%d">%s</text>'
                   % (lx, ly - 9, STATUS_COLORS.get(status, OTHER_COLOR),
                      lx + 14, ly, esc(status)))
        lx += 20 + 7 * len(status)
    out.append('</svg>')
    if clipped:
        out.append('<p class="muted">Only the first %d clusters are drawn.'
                   '</p>' % MAX_TIMELINE_ROWS)
    return '\n'.join(out)


# -- tables ------------------------------------------------------------------

def _table(headers, rows):
    out = ['<table><tr>%s</tr>' % ''.join('<th>%s</th>' % esc(h)
                                          for h in headers)]
    for row in rows:
        out.append('<tr>%s</tr>' % ''.join(
            '<td>%s</td>' % cell for cell in row))
    out.append('</table>')
    return '\n'.join(out)


def _spread(sub):
    """First batch (and whole step) from first to last create request."""
    if not sub or sub.get('first_batch_seconds') is None:
        return '-'
    text = '%s (first %s)' % (_fmt(sub['first_batch_seconds'], 1),
                              sub.get('batch'))
    if sub.get('all_seconds') != sub['first_batch_seconds']:
        text += '; %s (all %s)' % (_fmt(sub.get('all_seconds'), 1),
                                   sub.get('requests'))
    return text


def _status_cell(status, like=None):
    """``status`` coloured as ``like`` (default: as itself)."""
    cls = {'pass': 'ok', 'fail': 'bad', 'error': 'bad',
           'skipped': 'muted'}.get(like or status, 'warn')
    return '<span class="%s">%s</span>' % (cls, esc(status))


# A cluster's outcome, coloured as the check it makes.
OUTCOME_LIKE = {'timeout': 'fail', 'stalled': 'fail',
                'interrupted': 'skipped'}


def render(result):
    sizes = result.get('sizes') or []
    outcome = result.get('outcome') or '-'
    color = '#2e7d32' if result.get('exit_code') == 0 else '#c62828'
    fp = result.get('fingerprint') or {}
    versions = fp.get('versions') or {}
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<title>magnum-cern-selftest %s</title>' % esc(result.get('run_id')),
        '<style>%s</style></head><body>' % CSS,
        '<h1>magnum-cern-selftest run %s</h1>' % esc(result.get('run_id')),
        '<p><span class="verdict" style="background:%s">%s (exit %s)'
        '</span></p>' % (color, esc(outcome), esc(result.get('exit_code'))),
        _table(['started', 'finished', 'target', 'max nodes', 'versions'], [[
            esc(result.get('started_at')), esc(result.get('finished_at')),
            esc('%s %s' % ((result.get('target') or {}).get('kind', ''),
                           (result.get('target') or {}).get('name') or '')),
            esc((result.get('options') or {}).get('max_nodes')),
            esc(', '.join('%s %s' % (k, v) for k, v in
                          sorted(versions.items()) if v))]]),
        '<h2>Deploy time against size</h2>', deploy_plot(result),
        '<h2>Sizes</h2>',
        _table(['size', 'concurrency', 'verdict', 'median min',
                'p90 min', 'max min', 'target min', 'accept ms (median)',
                'built', 'submission spread s', 'reason'],
               [[esc(s['size']), esc(s.get('concurrency')),
                 '<span style="color:%s">%s</span>' % (
                     VERDICT_COLORS.get(s.get('status'), '#000'),
                     esc(s.get('status'))),
                 esc(_fmt((s.get('summary') or {}).get('median_minutes'))),
                 esc(_fmt((s.get('summary') or {}).get('p90_minutes'))),
                 esc(_fmt((s.get('summary') or {}).get('max_minutes'))),
                 esc('%s (%s)' % (_fmt(s.get('target_minutes')),
                                  s.get('target_source'))),
                 esc(_fmt((s.get('summary') or {}).get('accept_ms_median'),
                          1)),
                 esc('%s/%s' % ((s.get('summary') or {}).get('complete', 0),
                                (s.get('summary') or {}).get('requested',
                                                             0))),
                 esc(_spread((s.get('summary') or {}).get('submission'))),
                 esc(s.get('reason'))] for s in sizes]),
        '<h2>Cluster status timeline</h2>', timeline_plot(result),
    ]
    clusters = [r for s in sizes for r in s.get('results') or []]
    if clusters:
        parts.append('<h2>Clusters</h2>')
        parts.append(_table(
            ['name', 'outcome', 'status', 'accept ms', 'create min',
             'nodes Ready min', 'time in status (s)', 'reason'],
            [[esc(r['name']), _status_cell(
                r.get('outcome'), OUTCOME_LIKE.get(r.get('outcome'))),
              esc(r.get('status')), esc(_fmt(r.get('accept_ms'), 1)),
              esc(_fmt(None if r.get('create_seconds') is None
                       else r['create_seconds'] / 60.0)),
              esc(_fmt(None if r.get('ready_seconds') is None
                       else r['ready_seconds'] / 60.0) if not r.get(
                  'ready_skipped') else 'skipped: %s' % r['ready_skipped']),
              esc(', '.join('%s %s' % (k, _fmt(v, 0)) for k, v in (
                  r.get('time_in_status') or {}).items())),
              esc(r.get('status_reason'))] for r in clusters]))
    load = result.get('load')
    if load:
        parts.append('<h2>HTTP load</h2>')
        tool = load.get('tool')
        if isinstance(tool, dict):
            tool = ' '.join(str(v) for v in tool.values() if v)
        parts.append('<p>verdict: <b>%s</b> (%s); tool %s</p>' % (
            esc(load.get('verdict')), esc(load.get('reason')), esc(tool)))
        parts.append(_table(
            ['target req/s', 'achieved req/s', 'success', 'p50 ms',
             'p90 ms', 'p99 ms', 'bots', 'valid', 'reason'],
            [[esc(st.get('target_rps')), esc(st.get('achieved_rps')),
              esc(st.get('success_ratio')), esc(st.get('p50_ms')),
              esc(st.get('p90_ms')), esc(st.get('p99_ms')),
              esc(st.get('bots')), esc(st.get('valid')),
              esc(st.get('reason'))] for st in load.get('steps') or []]))
    base = result.get('baseline')
    if base:
        parts.append('<h2>Baseline %s</h2>' % esc(base.get(
            'baseline_run_id')))
        if not base.get('comparable'):
            parts.append('<p class="warn">Not comparable: %s</p>' % esc(
                '; '.join(base.get('reasons') or [])))
        if base.get('version_changes'):
            parts.append('<p>Version changes: %s</p>' % esc(', '.join(
                '%s %s -> %s' % (k, v[0], v[1])
                for k, v in sorted(base['version_changes'].items()))))
        rows = []
        for entry in base.get('sizes') or []:
            for row in entry.get('rows') or []:
                rows.append([esc(entry['size']), esc(row['metric']),
                             esc(row['baseline']), esc(row['current']),
                             esc(row['ratio']),
                             _status_cell('fail' if row['regression']
                                          else 'pass')])
            if entry.get('note'):
                rows.append([esc(entry['size']), '', '', '', '',
                             esc(entry['note'])])
        for row in base.get('load') or []:
            rows.append(['load', esc(row['metric']), esc(row['baseline']),
                         esc(row['current']), esc(row['ratio']),
                         _status_cell('fail' if row['regression']
                                      else 'pass')])
        if rows:
            parts.append(_table(['size', 'metric', 'baseline', 'current',
                                 'ratio', 'verdict'], rows))
    pre = result.get('preflight') or {}
    parts.append('<h2>Preflight</h2>')
    parts.append(_table(['check', 'result', 'message'], [
        [esc(c['name']), _status_cell(
            'skipped' if c.get('skipped') else
            'pass' if c.get('ok') else
            'fail' if c.get('severity') == 'error' else 'warning'),
         esc(c.get('message'))] for c in pre.get('checks') or []]))
    for d in pre.get('defects') or []:
        parts.append('<p><b>%s</b> (%s %s): %s. <i>Consequence:</i> %s '
                     '<i>Workaround:</i> %s <i>Fix:</i> %s</p>' % (
                         esc(d.get('id')), esc(d.get('component')),
                         esc(d.get('version')), esc(d.get('title')),
                         esc(d.get('consequence')), esc(d.get('workaround')),
                         esc(d.get('fix'))))
    clean = result.get('cleanup') or {}
    parts.append('<h2>Cleanup</h2>')
    if clean.get('leftovers'):
        parts.append('<p class="bad">Left behind (run <code>%s</code>):'
                     '</p>' % esc(clean.get('command')))
        parts.append(_table(['kind', 'name', 'id', 'status', 'reason'], [
            [esc(x.get('kind')), esc(x.get('name')), esc(x.get('id')),
             esc(x.get('status')), esc(x.get('reason'))]
            for x in clean['leftovers']]))
    elif clean.get('kept'):
        parts.append('<p class="warn">Kept on request (--keep): %s. Remove '
                     'with <code>%s</code></p>' % (
                         esc(', '.join(k.get('name') or '' for k in
                                       clean['kept'])),
                         esc(clean.get('command'))))
    else:
        parts.append('<p class="ok">Nothing left behind (%d resources '
                     'deleted).</p>' % len(clean.get('deleted') or []))
    parts.append('<h2>Checks</h2>')
    parts.append(_table(['check', 'result', 'message'], [
        [esc(c['name']), _status_cell(c['status']), esc(c.get('message'))]
        for c in result.get('checks') or []]))
    parts.append('</body></html>\n')
    return '\n'.join(parts)
