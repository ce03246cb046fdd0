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
"""A histogram of completion times: the timeline of a large fleet.

Above :data:`OVER` clusters a row per cluster is unreadable; the report
draws how many clusters reached CREATE_COMPLETE after how many minutes,
stacked by step, with the clusters that never did counted apart. Inline
SVG, no script (the report opens without a network).
"""

import html as html_mod
import math

# More clusters than this in a run: the histogram replaces the timeline.
OVER = 100
BINS = 40
PALETTE = ('#1e88e5', '#43a047', '#8e24aa', '#fb8c00', '#00897b',
           '#6d4c41')


def _esc(value):
    return html_mod.escape('' if value is None else str(value), quote=True)


def bins(minutes, count=BINS):
    """(width, edges) of ``count`` equal bins from 0 over ``minutes``."""
    top = max(minutes or [1.0])
    width = max(top / count, 0.05)
    # Round the width up to a readable step (0.05, 0.1, 0.25, 0.5, 1 ...).
    for step in (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60):
        if width <= step:
            width = step
            break
    n = int(math.floor(top / width)) + 1
    return width, n


def series(result):
    """[(label, [minutes...], not_built)] per step with clusters (pure)."""
    out = []
    for s in result.get('sizes') or []:
        results = s.get('results') or []
        if not results:
            continue
        done = [r['create_seconds'] / 60.0 for r in results
                if r.get('create_seconds') is not None]
        label = '%d x %d nodes, %s at once' % (
            len(results), s.get('size'), s.get('concurrency'))
        out.append((label, done, len(results) - len(done)))
    return out


def plot(result, width=1000, height=320):
    """SVG: clusters per completion-time bin, stacked by step."""
    data = series(result)
    every = [m for _, done, _ in data for m in done]
    if not data:
        return '<p class="muted">No cluster was requested.</p>'
    bw, n = bins(every)
    counts = [[0] * n for _ in data]
    for i, (_, done, _) in enumerate(data):
        for m in done:
            counts[i][min(int(m / bw), n - 1)] += 1
    totals = [sum(c[b] for c in counts) for b in range(n)]
    ymax = max(totals + [1])
    left, right, top, bottom = 60, 20, 20, 70
    pw, ph = width - left - right, height - top - bottom
    slot = pw / float(n)

    def Y(v):
        return top + ph - v / float(ymax) * ph

    out = ['<svg role="img" aria-label="clusters by minutes to '
           'CREATE_COMPLETE" width="%d" height="%d" viewBox="0 0 %d %d">'
           % (width, height, width, height),
           '<rect x="%d" y="%d" width="%d" height="%d" fill="#fff" '
           'stroke="#bbb"/>' % (left, top, pw, ph)]
    for i in range(5):
        v = ymax * i / 4.0
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" '
                   'stroke="#eee"/><text x="%d" y="%.1f" '
                   'text-anchor="end">%d</text>'
                   % (left, left + pw, Y(v), Y(v), left - 5, Y(v) + 4,
                      round(v)))
    for b in range(n):
        base = 0
        for i, c in enumerate(counts):
            if not c[b]:
                continue
            y0, y1 = Y(base), Y(base + c[b])
            out.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" '
                       'fill="%s"><title>%s: %d cluster(s) in %.2f-%.2f '
                       'min</title></rect>'
                       % (left + b * slot + 1, y1, max(slot - 2, 1),
                          y0 - y1, PALETTE[i % len(PALETTE)],
                          _esc(data[i][0]), c[b], b * bw, (b + 1) * bw))
            base += c[b]
    ticks = max(1, n // 10)
    for b in range(0, n + 1, ticks):
        x = left + b * slot
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>'
                   % (x, top + ph + 15, ('%g' % round(b * bw, 2))))
    out.append('<text x="%d" y="%d" text-anchor="middle">minutes from a '
               'cluster\'s create request to CREATE_COMPLETE (bins of %g '
               'min)</text>' % (left + pw / 2, top + ph + 32, bw))
    out.append('<text transform="translate(14,%d) rotate(-90)" '
               'text-anchor="middle">clusters</text>' % (top + ph / 2))
    lx = left
    for i, (label, done, missing) in enumerate(data):
        text = '%s: %d built%s' % (label, len(done),
                                   ', %d not' % missing if missing else '')
        out.append('<rect x="%d" y="%d" width="10" height="10" fill="%s"/>'
                   '<text x="%d" y="%d">%s</text>'
                   % (lx, height - 19, PALETTE[i % len(PALETTE)], lx + 14,
                      height - 10, _esc(text)))
        lx += 24 + 6 * len(text)
    out.append('</svg>')
    return '\n'.join(out)
