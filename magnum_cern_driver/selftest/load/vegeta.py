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
"""vegeta as the load bot of the Kubernetes runner (pure).

Each bot pod runs the shell script below in a public vegeta image: it waits
for the step's common start time, sends a warm-up attack whose results are
discarded, then the steady attack at a constant rate (open loop: vegeta's
pacer schedules requests at fixed times and starts more workers when
responses are slow, up to ``-max-workers``), and prints two reports of the
steady attack to its log: ``vegeta report -type=json`` (totals) and
``-type=hist[...]`` over fixed buckets (the latency distribution, which is
merged across bots). Nothing else is needed from the pod.

The script always exits 0, so one failing bot never makes the Job kill
the others; a bot that started late (out of step with the others) or
whose attack failed prints no report and counts as missing.
"""

import json
import re

TOOL = 'vegeta'
JSON_MARK = '=== vegeta-json'
HIST_MARK = '=== vegeta-hist'
END_MARK = '=== vegeta-end'

SCRIPT = r"""set -u
printf 'GET %s\n' "$TARGET" > /tmp/targets
now=$(date +%s)
if [ "$now" -gt $((START_AT + LATE_S)) ]; then
  echo "late start: $now > $START_AT + $LATE_S"; exit 0
fi
if [ "$START_AT" -gt "$now" ]; then sleep $((START_AT - now)); fi
if [ "$WARMUP" -gt 0 ]; then
  vegeta attack -targets=/tmp/targets -rate="$RATE/1s" -duration="${WARMUP}s" \
    -timeout=10s -max-workers="$MAX_WORKERS" > /dev/null \
    || { echo "warm-up attack failed: $?"; exit 0; }
fi
vegeta attack -targets=/tmp/targets -rate="$RATE/1s" -duration="${STEADY}s" \
  -timeout=10s -max-workers="$MAX_WORKERS" > /tmp/results.bin \
  || { echo "attack failed: $?"; exit 0; }
echo '@JSON@'
vegeta report -type=json < /tmp/results.bin
echo
echo '@HIST@'
vegeta report -type="hist[$BUCKETS]" < /tmp/results.bin
echo '@END@'
""".replace('@JSON@', JSON_MARK).replace('@HIST@', HIST_MARK).replace(
    '@END@', END_MARK)


def bot_script(rates):
    """The bot's ``sh -c`` script for per-index rates ``rates``.

    An indexed Job gives each pod ``JOB_COMPLETION_INDEX``; the script
    picks its own rate from the list.
    """
    return ('set -- %s; shift "$JOB_COMPLETION_INDEX"; RATE=$1; '
            'export RATE\n%s' % (' '.join('%d' % r for r in rates), SCRIPT))


_UNITS_NS = {'ns': 1, 'us': 1e3, '\u00b5s': 1e3, '\u03bcs': 1e3,
             'ms': 1e6, 's': 1e9, 'm': 60e9, 'h': 3600e9}
_DURATION = re.compile(r'([0-9]*\.?[0-9]+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)')
_HIST_ROW = re.compile(r'^\[\s*([^,\]]+),\s*([^\]]+?)\s*\]\s+(\d+)\s')


def buckets_arg(bounds_ms):
    """The ``hist[...]`` bucket list: 0 then our bounds in microseconds."""
    return ','.join(['0'] + ['%dus' % round(b * 1000) for b in bounds_ms])


def parse_go_duration_ms(text):
    """Milliseconds of a Go duration (``1.5ms``, ``1m0s``); None: +Inf."""
    text = text.strip()
    if text in ('+Inf', 'Inf', 'inf'):
        return None
    if text in ('0', '0s'):
        return 0.0
    pos = 0
    total_ns = 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            raise ValueError('bad duration %r' % text)
        total_ns += float(match.group(1)) * _UNITS_NS[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise ValueError('bad duration %r' % text)
    return total_ns / 1e6


def parse_hist(text):
    """Our histogram dict from ``vegeta report -type=hist[...]`` output."""
    bounds = []
    counts = []
    for line in text.splitlines():
        match = _HIST_ROW.match(line.strip() + ' ')
        if not match:
            continue
        upper = parse_go_duration_ms(match.group(2))
        counts.append(int(match.group(3)))
        if upper is not None:
            bounds.append(upper)
    if not counts:
        return None
    if len(counts) == len(bounds):
        counts.append(0)  # no open bucket printed: nothing above the last
    return {'bounds_ms': bounds, 'counts': counts}


def split_log(log):
    """``(json_text, hist_text)`` sections of a bot's log, or Nones."""
    if not log or END_MARK not in log:
        return None, None
    try:
        json_part = log.split(JSON_MARK, 1)[1].split(HIST_MARK, 1)[0]
        hist_part = log.split(HIST_MARK, 1)[1].split(END_MARK, 1)[0]
    except IndexError:
        return None, None
    return json_part.strip(), hist_part


def bot_result(name, target_rps, steady_s, log):
    """A bot result dict (see ``aggregate``) from a bot's log, or None."""
    json_text, hist_text = split_log(log)
    if json_text is None:
        return None
    try:
        report = json.loads(json_text)
    except ValueError:
        return None
    hist = parse_hist(hist_text)
    requests = int(report.get('requests', 0))
    codes = report.get('status_codes') or {}
    successes = sum(int(n) for code, n in codes.items()
                    if str(code).isdigit() and 200 <= int(code) < 400)
    return {
        'bot': name,
        'target_rps': float(target_rps),
        'window_s': float(steady_s),
        'requests': requests,
        'sent': requests,
        'successes': successes,
        'latency': hist,
        'tool': {'requests': requests,
                 'rate': report.get('rate'),
                 'throughput': report.get('throughput'),
                 'success': report.get('success'),
                 'status_codes': codes,
                 'latencies_ns': report.get('latencies'),
                 'duration_ns': report.get('duration'),
                 'wait_ns': report.get('wait'),
                 'errors': (report.get('errors') or [])[:10]},
    }
