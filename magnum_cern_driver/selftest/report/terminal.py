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
"""The live terminal view, the end-of-run summary, the subcommands' text.

On a terminal the current size is redrawn in place (one line per cluster:
state, elapsed against target, a progress bar); otherwise (CI logs) only
changes are printed, one line each.
"""

import sys
import time

from magnum_cern_driver.selftest import fleet as fleet_mod

BAR = 20


def _bar(fraction, width=BAR):
    fraction = max(0.0, min(1.0, fraction))
    full = int(round(fraction * width))
    return '[' + '#' * full + '.' * (width - full) + ']'


def _mmss(seconds):
    if seconds is None:
        return '--:--'
    seconds = int(max(0, seconds))
    return '%02d:%02d' % (seconds // 60, seconds % 60)


class LiveView(object):
    """Progress sink for the ladder (and a callable for other phases)."""

    def __init__(self, stream=None, tty=None, clock=time.monotonic,
                 min_redraw=1.0):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.clock = clock
        self.min_redraw = min_redraw
        self._drawn = 0
        self._last_draw = 0.0
        self._last_state = {}
        self._step = None
        self._tracked = []
        self._t0 = clock()
        # A fleet's progress is a count line (fleet.progress_line).
        self._compact = False
        self._fleet = fleet_mod.ProgressThrottle(clock)

    def _write(self, text):
        self.stream.write(text)
        self.stream.flush()

    # -- plain lines (also the load phase's progress callable) -------------
    def __call__(self, line):
        self.message(line)

    def message(self, text):
        self._erase()
        self._write('%s %s\n' % (_mmss(self.clock() - self._t0), text))
        self._redraw(force=True)

    # -- ladder events ------------------------------------------------------
    def step_started(self, step, tracked):
        self._erase()
        self._step = step
        self._tracked = tracked
        self._drawn = 0
        self._compact = fleet_mod.compact(step)
        if step.clusters != step.concurrency:
            self._write('== size %d: %d clusters, %d at once, target %.1f '
                        'min (%s)\n' % (step.size, step.clusters,
                                        step.concurrency,
                                        step.target_minutes,
                                        step.target_source))
        else:
            self._write('== size %d: %d cluster(s) at once, target %.1f '
                        'min (%s)\n' % (step.size, step.clusters,
                                        step.target_minutes,
                                        step.target_source))
        self._redraw(force=True)

    def fleet_progress(self, step, tracked, final=False):
        """A fleet's count line: redrawn on a terminal, else throttled."""
        if not self._compact:
            return
        line = fleet_mod.progress_line(step, tracked,
                                       self.clock() - self._t0)
        if self.tty:
            self._erase()
            self._write('  %s\n' % line)
            self._drawn = 0 if final else 1
        elif self._fleet.due(step, tracked, final):
            self._write('%s %s\n' % (_mmss(self.clock() - self._t0), line))

    def cluster_update(self, step, t):
        stalled = getattr(t, 'stalled', False)
        key = (t.status, t.outcome, t.ready_progress, stalled)
        last = self._last_state.get(t.name)
        if last != key:
            self._last_state[t.name] = key
            if not self.tty and not self._compact:
                self._write('%s %s %s%s%s\n' % (
                    _mmss(self.clock() - self._t0), t.name, t.status,
                    ' (%s)' % t.outcome if t.outcome else '',
                    ' %s' % t.ready_progress if t.ready_progress else ''))
            if stalled and not (last and last[3]):
                # Said once per stall, in both modes: what is stuck.
                self.message('%s: %s' % (t.name, t.reason))
            elif last and last[3] and not stalled and not t.outcome:
                self.message('%s: progress resumed' % t.name)
        if self._compact:
            # A fleet: the count line, no per-cluster lines (stalls are
            # still named above, once each).
            return
        self._redraw()

    def step_done(self, step, out):
        self._erase()
        if self.tty and self._tracked and not self._compact:
            self._write(self._table(final=True))
        s = out.get('summary') or {}
        self._write('== size %d: %s: %s (built %d/%d, median %s min, '
                    'accept median %s ms%s)\n' % (
                        step.size, out['status'].upper(), out['reason'],
                        s.get('complete', 0), s.get('requested', 0),
                        s.get('median_minutes'), s.get('accept_ms_median'),
                        fleet_mod.spread_text(s)))
        self._tracked = []
        self._drawn = 0

    # -- drawing --------------------------------------------------------------
    def _line(self, t):
        now = self.clock()
        if t.requested_at is None:
            elapsed = None
        elif t.ended_at is not None:
            elapsed = t.ended_at - t.requested_at
        else:
            elapsed = (now - self._t0) - t.requested_at
        target = self._step.target_minutes * 60.0
        frac = (elapsed or 0) / target if target else 0
        state = t.outcome.upper() if t.outcome else (
            'STALLED' if getattr(t, 'stalled', False) else t.status)
        return '  %-32s %-20s %s / %s %s %s' % (
            t.name, state[:20], _mmss(elapsed), _mmss(target),
            _bar(frac), t.ready_progress or '')

    def _table(self, final=False):
        lines = [self._line(t) for t in self._tracked]
        return '\n'.join(lines) + ('\n' if lines else '')

    def _erase(self):
        if self.tty and self._drawn:
            self._write('\x1b[%dF\x1b[J' % self._drawn)
            self._drawn = 0

    def _redraw(self, force=False):
        if not self.tty or not self._tracked or self._compact:
            return
        now = self.clock()
        if not force and now - self._last_draw < self.min_redraw:
            return
        self._last_draw = now
        self._erase()
        text = self._table()
        self._write(text)
        self._drawn = text.count('\n')


def summary(result):
    """Text summary of a result document (end of run, ``report``)."""
    lines = ['magnum-cern-selftest run %s: %s (exit %s)' % (
        result.get('run_id'), result.get('outcome'),
        result.get('exit_code'))]
    fp = result.get('fingerprint') or {}
    if fp.get('versions'):
        lines.append('versions: ' + ', '.join(
            '%s %s' % (k, v) for k, v in sorted(fp['versions'].items())
            if v))
    lines.append('%6s %5s %-14s %8s %8s %8s  %s' % (
        'size', 'conc', 'verdict', 'median', 'target', 'built', 'reason'))
    for s in result.get('sizes') or []:
        sm = s.get('summary') or {}
        lines.append('%6d %5s %-14s %8s %8s %8s  %s' % (
            s['size'], s.get('concurrency'), s.get('status'),
            sm.get('median_minutes') if sm.get('median_minutes')
            is not None else '-', s.get('target_minutes'),
            '%s/%s' % (sm.get('complete', 0), sm.get('requested', 0)),
            s.get('reason') or ''))
    load = result.get('load')
    if load:
        lines.append('load: %s: %s' % (load.get('verdict'),
                                       load.get('reason')))
    base = result.get('baseline')
    if base:
        if not base.get('comparable'):
            lines.append('baseline %s not comparable: %s' % (
                base.get('baseline_run_id'), '; '.join(base.get('reasons')
                                                       or [])))
        elif base.get('regressions'):
            lines.append('REGRESSIONS against %s:' % base.get(
                'baseline_run_id'))
            lines.extend('  ' + r for r in base['regressions'])
        else:
            lines.append('no regression against %s' % base.get(
                'baseline_run_id'))
    clean = result.get('cleanup') or {}
    if clean.get('leftovers'):
        lines.append('LEFT BEHIND (%d): %s' % (
            len(clean['leftovers']), ', '.join(
                '%s %s' % (x['kind'], x.get('name') or x.get('id'))
                for x in clean['leftovers'])))
        lines.append('remove with: %s' % clean.get('command'))
    elif clean.get('kept'):
        lines.append('kept on request: %s; remove with: %s' % (
            ', '.join(k.get('name') or '' for k in clean['kept']),
            clean.get('command')))
    for c in result.get('checks') or []:
        if c['status'] in ('fail', 'error'):
            lines.append('FAILED %s: %s' % (c['name'], c.get('message')))
    return '\n'.join(lines) + '\n'


# -- the text output of the subcommands ---------------------------------------

def plan(steps, reference_name, masters, timeout_scale, need, budget):
    """The ladder a dry run would climb.

    :param need: peak quota need (``plan.quota_need``).
    :param budget: Heat budget of the largest size
        (``preflight.heat_budget``).
    """
    lines = ['plan (reference %s), %d master(s) per cluster, timeouts x%g:'
             % (reference_name, masters, timeout_scale),
             '%6s %5s %8s %10s %12s  %s' % (
                 'size', 'conc', 'clusters', 'target min', 'timeout min',
                 'source')]
    for s in steps:
        lines.append('%6d %5d %8d %10.2f %12.1f  %s' % (
            s.size, s.concurrency, s.clusters, s.target_minutes,
            s.timeout_minutes(timeout_scale), s.target_source))
    lines.append('peak quota need: %s' % ', '.join(
        '%s %d' % kv for kv in sorted(need.items())))
    if 'total_resources' in budget:
        lines.append('Heat: %d workers -> %s resources; heat.conf '
                     'max_resources_per_stack >= %s (or -1)' % (
                         budget['workers'], budget['total_resources'],
                         budget['max_resources_per_stack']))
    else:
        lines.append('Heat budget: %s' % (budget.get('skipped') or
                                          budget.get('error')))
    return '\n'.join(lines) + '\n'


def preflight(doc):
    """A preflight document: one line per check, then known defects."""
    lines = []
    for c in doc['checks']:
        mark = ('skip' if c['skipped'] else 'ok' if c['ok'] else
                'FAIL' if c['severity'] == 'error' else 'warn')
        lines.append('%-5s %-28s %s' % (mark, c['name'], c['message']))
    for d in doc.get('defects') or []:
        lines.append('defect %s (%s %s): %s\n  fix: %s' % (
            d['id'], d['component'], d['version'], d.get('symptom'),
            d.get('fix')))
    return ''.join(line + '\n' for line in lines)


def comparison(res):
    """A comparison of two comparable results (``baseline.compare``)."""
    lines = []
    for k, (old, new) in sorted(res['version_changes'].items()):
        lines.append('version %s: %s -> %s' % (k, old, new))
    for entry in res['sizes']:
        for row in entry['rows']:
            lines.append('%6d %-15s %10s -> %-10s x%-6s %s' % (
                entry['size'], row['metric'], row['baseline'],
                row['current'], row['ratio'],
                'REGRESSION' if row['regression'] else 'ok'))
        if entry.get('note'):
            lines.append('%6d %s' % (entry['size'], entry['note']))
    for row in res['load']:
        lines.append('  load %-15s %10s -> %-10s x%-6s %s' % (
            row['metric'], row['baseline'], row['current'], row['ratio'],
            'REGRESSION' if row['regression'] else 'ok'))
    return ''.join(line + '\n' for line in lines)


def cleanup(res):
    """What a cleanup deleted and what it left (``cleanup.Result``)."""
    lines = ['deleted %s %s' % (d['kind'], d.get('name') or d.get('id'))
             for d in res.deleted]
    lines.extend('LEFT %s %s (%s): %s' % (
        x['kind'], x.get('name') or '', x.get('id') or '', x.get('reason'))
        for x in res.leftovers)
    return ''.join(line + '\n' for line in lines)
