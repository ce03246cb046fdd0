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
"""h2load (Debian ``nghttp2-client``) as a constant-rate load bot (pure).

One bot is one ``h2load`` process in timing mode (``-D`` with
``--warm-up-time``) over HTTP/1.1 (``--h1``) with ``-c`` connections, each
sending ``--rps`` requests per second on a timer (open loop: a slow
response does not delay the schedule; requests that cannot be written
because the connection is busy queue in h2load and are sent as soon as it
is free, so a bot that cannot keep up shows as ``started`` below its rate).
Only the main window is counted and logged (``--log-file``: start time in
microseconds since the epoch, status, microseconds until the end of the
response).
"""

import math
import re

TOOL = 'h2load'

# Connection budget: one HTTP/1.1 connection carries one request at a time,
# so keep each connection's rate far below 1 / latency.
PER_CONNECTION_RPS = 250.0
MAX_CONNECTIONS = 512

_SUMMARY = re.compile(
    r'^requests:\s+(?P<total>\d+) total,\s+(?P<started>\d+) started,\s+'
    r'(?P<done>\d+) done,\s+(?P<succeeded>\d+) succeeded,\s+'
    r'(?P<failed>\d+) failed,\s+(?P<errored>\d+) errored,\s+'
    r'(?P<timeout>\d+) timeout', re.M)
_FINISHED = re.compile(
    r'^finished in (?P<secs>[0-9.]+)s, (?P<rps>[0-9.]+) req/s', re.M)
_STATUS = re.compile(
    r'^status codes:\s+(?P<s2>\d+) 2xx,\s+(?P<s3>\d+) 3xx,\s+'
    r'(?P<s4>\d+) 4xx,\s+(?P<s5>\d+) 5xx', re.M)
_VERSION = re.compile(r'nghttp2/(\S+)')


def connections_for(rate, per_connection=PER_CONNECTION_RPS,
                    max_connections=MAX_CONNECTIONS):
    return int(min(max_connections,
                   max(1, math.ceil(rate / per_connection))))


def command(binary, url, rate, warmup_s, steady_s, log_file,
            connections=None):
    """argv for one bot sending ``rate`` requests/s to ``url``."""
    conns = connections or connections_for(rate)
    per_conn = rate / conns
    return [binary, '--h1', '-t', '1', '-c', str(conns),
            '--rps', '%.6g' % per_conn,
            '-D', '%ds' % steady_s,
            '--warm-up-time', '%ds' % warmup_s,
            '-N', '10s',
            '--log-file', log_file,
            url]


def parse_version(text):
    match = _VERSION.search(text or '')
    return match.group(1) if match else 'unknown'


def parse_summary(stdout):
    """h2load's own report: counters, duration and req/s, or None."""
    summary = _SUMMARY.search(stdout or '')
    finished = _FINISHED.search(stdout or '')
    if not summary or not finished:
        return None
    out = {k: int(v) for k, v in summary.groupdict().items()}
    status = _STATUS.search(stdout)
    if status:
        out.update({k: int(v) for k, v in status.groupdict().items()})
    out['finished_s'] = float(finished.group('secs'))
    out['rps'] = float(finished.group('rps'))
    return out


def parse_log(text):
    """``(statuses, latencies_ms)`` from an h2load ``--log-file``."""
    statuses = []
    latencies = []
    for line in (text or '').splitlines():
        parts = line.split('\t')
        if len(parts) < 3:
            continue
        try:
            status = int(parts[1])
            micros = int(parts[2])
        except ValueError:
            continue
        statuses.append(status)
        latencies.append(micros / 1000.0)
    return statuses, latencies


def bot_result(name, target_rps, steady_s, stdout, log_text):
    """A bot result dict (see ``aggregate``) of one h2load run.

    None if h2load reported nothing usable (the bot then counts as
    missing).
    """
    summary = parse_summary(stdout)
    if summary is None:
        return None
    statuses, latencies = parse_log(log_text)
    successes = sum(1 for s in statuses if 200 <= s < 400)
    failures = summary['errored'] + summary['timeout']
    requests = max(summary['done'], successes + failures, len(statuses))
    return {
        'bot': name,
        'target_rps': float(target_rps),
        'window_s': float(steady_s),
        'requests': requests,
        'sent': summary['started'],
        'successes': successes,
        'latency': {'samples_ms': latencies},
        'tool': summary,
    }
