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
"""Aggregation of load-bot results (pure: no I/O, no clock).

A *bot result* is a plain dict, the same for every runner and tool::

    {'bot': 'b0',               # unique name within the step
     'target_rps': 5000.0,      # the rate this bot was asked to send
     'window_s': 10.0,          # length of its measurement window
     'requests': 50000,         # requests completed or failed in the window
     'sent': 50010,             # requests it managed to send in the window
     'successes': 49990,        # responses with a 2xx/3xx status
     'latency': {'samples_ms': [...]}            # raw samples, or
                {'bounds_ms': [...], 'counts': [...]},   # a histogram
     'tool': {...}}             # the tool's own summary, kept for the report

A histogram has ``len(counts) == len(bounds_ms) + 1``: bucket ``i`` holds
values in ``(bounds_ms[i-1], bounds_ms[i]]`` (the first starts at 0) and the
last bucket holds everything above the last bound.

Throughput is successful responses per second of window, summed over bots.
Latency percentiles come from the *merged* distribution of all bots, never
from an average of per-bot percentiles. The success ratio is over all
requests. A bot that is missing or could not send its rate (saturated)
makes the step invalid.
"""

import math

PERCENTILES = (50, 90, 99)

# Default step fractions of the target rate (percent).
DEFAULT_STEPS = (10, 25, 50, 75, 100)

# A bot that sent less than (1 - SEND_TOLERANCE) of its rate is saturated;
# a step that delivered less than (1 - RATE_TOLERANCE) of its target fails.
SEND_TOLERANCE = 0.05
RATE_TOLERANCE = 0.05
MIN_SUCCESS_RATIO = 0.999


def default_bounds_ms(low_ms=0.01, high_ms=120000.0, per_octave=8):
    """Geometric bucket upper bounds, rounded to whole microseconds.

    With 8 buckets per doubling a bucket is about 9 % wide; interpolation
    inside it keeps percentile errors well below that.
    """
    bounds = []
    ratio = 2.0 ** (1.0 / per_octave)
    value = low_ms
    while value < high_ms * ratio:
        us = max(1, int(round(value * 1000.0)))
        ms = us / 1000.0
        if not bounds or ms > bounds[-1]:
            bounds.append(ms)
        value *= ratio
    return bounds


def histogram(samples_ms, bounds_ms):
    """Counts of ``samples_ms`` in the buckets of ``bounds_ms``."""
    counts = [0] * (len(bounds_ms) + 1)
    ordered = sorted(samples_ms)
    i = 0
    for value in ordered:
        while i < len(bounds_ms) and value > bounds_ms[i]:
            i += 1
        counts[i] += 1
    return {'bounds_ms': list(bounds_ms), 'counts': counts}


def _rank(total, q):
    """Nearest-rank position (1-based) of percentile ``q`` in ``total``."""
    return max(1, int(math.ceil(q / 100.0 * total - 1e-9)))


def percentile_of_samples(samples_ms, q):
    ordered = sorted(samples_ms)
    if not ordered:
        return None
    return ordered[min(len(ordered), _rank(len(ordered), q)) - 1]


def percentile_of_histogram(hist, q):
    """Percentile ``q`` of a histogram, interpolated inside its bucket.

    The answer lies inside the bucket that holds the nearest-rank sample;
    for the open last bucket the last bound is returned (a lower bound).
    """
    bounds = hist['bounds_ms']
    counts = hist['counts']
    total = sum(counts)
    if total == 0:
        return None
    rank = _rank(total, q)
    seen = 0
    for i, count in enumerate(counts):
        if count and seen + count >= rank:
            if i >= len(bounds):
                return bounds[-1]
            low = bounds[i - 1] if i else 0.0
            high = bounds[i]
            return low + (high - low) * (rank - seen) / count
        seen += count
    return bounds[-1]


def merge_latency(latencies):
    """Merge per-bot latency distributions into one.

    All raw samples: the concatenation (exact percentiles). Otherwise one
    histogram; samples are binned into the histograms' bounds, which must
    be the same for every histogram.
    """
    latencies = [lat for lat in latencies if lat]
    if all('samples_ms' in lat for lat in latencies):
        merged = []
        for lat in latencies:
            merged.extend(lat['samples_ms'])
        return {'samples_ms': merged}
    bounds = None
    for lat in latencies:
        if 'bounds_ms' in lat:
            if bounds is None:
                bounds = list(lat['bounds_ms'])
            elif list(lat['bounds_ms']) != bounds:
                raise ValueError('latency histograms with different bounds '
                                 'cannot be merged')
    counts = [0] * (len(bounds) + 1)
    for lat in latencies:
        if 'samples_ms' in lat:
            lat = histogram(lat['samples_ms'], bounds)
        for i, count in enumerate(lat['counts']):
            counts[i] += count
    return {'bounds_ms': bounds, 'counts': counts}


def percentiles(latency, qs=PERCENTILES):
    """``{q: value_ms}`` for a merged latency distribution."""
    out = {}
    for q in qs:
        if not latency:
            out[q] = None
        elif 'samples_ms' in latency:
            out[q] = percentile_of_samples(latency['samples_ms'], q)
        else:
            out[q] = percentile_of_histogram(latency, q)
    return out


def latency_count(latency):
    if not latency:
        return 0
    if 'samples_ms' in latency:
        return len(latency['samples_ms'])
    return sum(latency['counts'])


def aggregate_step(target_rps, expected_bots, results,
                   send_tolerance=SEND_TOLERANCE):
    """One step's figures from its bots' results.

    :param target_rps: the step's total target rate.
    :param expected_bots: names of every bot that was started.
    :param results: bot result dicts (see the module docstring); a bot
        whose result could not be collected is simply absent.
    :returns: the step dict of the phase result (without pass/fail).
    """
    by_name = {}
    for res in results:
        by_name[res['bot']] = res
    missing = sorted(set(expected_bots) - set(by_name))
    unexpected = sorted(set(by_name) - set(expected_bots))
    saturated = []
    achieved = 0.0
    requests = 0
    successes = 0
    for name in sorted(by_name):
        res = by_name[name]
        window = float(res['window_s'])
        if window <= 0:
            saturated.append(name)
            continue
        achieved += res['successes'] / window
        requests += res['requests']
        successes += res['successes']
        sent_rps = res.get('sent', res['requests']) / window
        if sent_rps < (1.0 - send_tolerance) * res['target_rps']:
            saturated.append(name)
    merged = merge_latency([by_name[n].get('latency') for n in by_name])
    pct = percentiles(merged)
    reasons = []
    if not expected_bots:
        reasons.append('no bots were started')
    if missing:
        reasons.append('missing bot results: %s' % ', '.join(missing))
    if unexpected:
        reasons.append('results from unknown bots: %s'
                       % ', '.join(unexpected))
    if saturated:
        reasons.append('saturated bots (sent less than %d %% of their '
                       'rate): %s' % (round(100 * (1 - send_tolerance)),
                                      ', '.join(saturated)))
    if requests == 0 and not reasons:
        reasons.append('no requests were completed')
    return {
        'target_rps': float(target_rps),
        'achieved_rps': achieved,
        'requests': requests,
        'successes': successes,
        'success_ratio': (successes / requests) if requests else 0.0,
        'p50_ms': pct[50],
        'p90_ms': pct[90],
        'p99_ms': pct[99],
        'samples': latency_count(merged),
        'bots': len(expected_bots),
        'bots_reported': len(by_name),
        'missing_bots': missing,
        'saturated_bots': saturated,
        'valid': not reasons,
        'reason': '; '.join(reasons),
    }


def judge_step(step, rate_tolerance=RATE_TOLERANCE,
               min_success_ratio=MIN_SUCCESS_RATIO, max_p99_ms=None):
    """``(ok, message)`` for a *valid* step: did the target deliver?"""
    problems = []
    floor = (1.0 - rate_tolerance) * step['target_rps']
    if step['achieved_rps'] < floor:
        problems.append('achieved %.0f rps < %.0f rps (%d %% of target)'
                        % (step['achieved_rps'], floor,
                           round(100 * (1 - rate_tolerance))))
    if step['success_ratio'] < min_success_ratio:
        problems.append('success ratio %.5f < %.5f'
                        % (step['success_ratio'], min_success_ratio))
    if (max_p99_ms is not None and step['p99_ms'] is not None
            and step['p99_ms'] > max_p99_ms):
        problems.append('p99 %.3f ms > %.3f ms'
                        % (step['p99_ms'], max_p99_ms))
    if problems:
        return False, '; '.join(problems)
    return True, ('%.0f rps of %.0f, success %.5f, p99 %s ms'
                  % (step['achieved_rps'], step['target_rps'],
                     step['success_ratio'], _fmt(step['p99_ms'])))


def _fmt(value):
    return 'n/a' if value is None else '%.3f' % value


def plan(target_rps, steps_pct, capacity_rps):
    """The rates to run and whether the full target can be validated.

    :returns: ``(rates, effective_target, too_small_reason)``; when the
        capacity is below the target the ramp is scaled to the capacity and
        the reason says why the result cannot validate the target.
    """
    if target_rps <= 0:
        raise ValueError('target_rps must be positive')
    effective = float(target_rps)
    reason = ''
    if capacity_rps is not None and capacity_rps < target_rps:
        effective = float(max(1, int(capacity_rps)))
        reason = ('too small for the target: estimated capacity %.0f rps '
                  '< target %.0f rps; ramp scaled to %.0f rps'
                  % (capacity_rps, target_rps, effective))
    rates = []
    for pct in steps_pct:
        if not 0 < pct <= 100:
            raise ValueError('step percentages must be in (0, 100]: %r'
                             % (pct,))
        rates.append(max(1.0, round(effective * pct / 100.0, 3)))
    return rates, effective, reason


def capacity_rps(cores, per_core_rps, bot_per_core_rps, headroom=0.8):
    """Rate that ``cores`` can serve *and* generate at once.

    Every request costs ``1/per_core_rps`` core-seconds in the server and
    ``1/bot_per_core_rps`` in the load generator.
    """
    if cores <= 0:
        return 0.0
    cost = 1.0 / per_core_rps + 1.0 / bot_per_core_rps
    return cores * headroom / cost


def verdict(steps, too_small_reason='', error=None, incomplete=''):
    """The phase verdict from judged steps.

    Each step carries ``valid`` and, when valid, ``ok``/``message``.
    """
    if error:
        return 'fail', error
    failed = [s for s in steps if s['valid'] and not s.get('ok')]
    invalid = [s for s in steps if not s['valid']]
    if failed:
        return 'fail', '; '.join(
            'step %.0f rps: %s' % (s['target_rps'], s.get('message', ''))
            for s in failed)
    reasons = []
    if too_small_reason:
        reasons.append(too_small_reason)
    if invalid:
        reasons.extend('step %.0f rps invalid: %s'
                       % (s['target_rps'], s['reason']) for s in invalid)
    if incomplete:
        reasons.append(incomplete)
    if not steps:
        reasons.append('no step was run')
    if reasons:
        return 'not validated', '; '.join(reasons)
    top = steps[-1]
    return 'pass', ('%.0f rps sustained (target %.0f), p99 %s ms'
                    % (top['achieved_rps'], top['target_rps'],
                       _fmt(top['p99_ms'])))
