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
"""Control-plane checks: pod startup latency and API call latency.

The figures are computed by pure functions (``startup_summary``,
``parse_prometheus_histograms``, ``api_latency_summary``); the two
``measure_*`` functions do the Kubernetes calls.

SLOs (Kubernetes scalability SLOs):

* pod startup, creation to running with images pre-pulled: p99 <= 5 s;
* mutating API calls on single objects: p99 <= 1 s per (resource, verb);
* read-only calls: p99 <= 1 s for scope ``resource``, <= 30 s for
  ``namespace`` and ``cluster`` scope.
"""

import datetime
import math
import re
import time

from magnum_cern_driver.selftest.load import aggregate

METRIC = 'apiserver_request_duration_seconds'
MUTATING = ('POST', 'PUT', 'PATCH', 'DELETE', 'APPLY',
            'DELETECOLLECTION')
READ = ('GET', 'LIST')
SLO_S = {'mutating': 1.0, 'read-resource': 1.0, 'read-namespace': 30.0,
         'read-cluster': 30.0}

_SAMPLE = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)'
                     r'(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


# -- pod startup ----------------------------------------------------------

def _ts(value):
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    return datetime.datetime.fromisoformat(
        str(value).replace('Z', '+00:00')).timestamp()


def pod_started_at(pod):
    """When every container of ``pod`` (a V1Pod) was running, or None."""
    statuses = (pod.status and pod.status.container_statuses) or []
    if not statuses or (pod.status.phase != 'Running'):
        return None
    times = []
    for cs in statuses:
        running = cs.state and cs.state.running
        if not running or running.started_at is None:
            return None
        times.append(_ts(running.started_at))
    return max(times)


def startup_summary(latencies_s, expected, slo_p99_s=5.0):
    """p50/p90/p99 of pod startup latencies (nearest rank)."""
    pct = {q: aggregate.percentile_of_samples(latencies_s, q)
           for q in (50, 90, 99)}
    missing = expected - len(latencies_s)
    ok = bool(latencies_s) and missing == 0 and pct[99] <= slo_p99_s
    if not latencies_s:
        message = 'no pod reached Running'
    else:
        message = ('p50 %.1f s, p90 %.1f s, p99 %.1f s (SLO p99 <= %.1f s)'
                   % (pct[50], pct[90], pct[99], slo_p99_s))
        if missing:
            message += '; %d of %d pods never ran' % (missing, expected)
    return {'pods': expected, 'running': len(latencies_s),
            'p50_s': pct[50], 'p90_s': pct[90], 'p99_s': pct[99],
            'max_s': max(latencies_s) if latencies_s else None,
            'slo_p99_s': slo_p99_s, 'resolution_s': 1.0,
            'samples_s': sorted(latencies_s), 'ok': ok, 'message': message}


def measure_pod_startup(core, namespace, count, rate, image, timeout_s,
                        slo_p99_s=5.0, labels=None, progress=None,
                        clock=time.monotonic, sleep=time.sleep):
    """Measure pod startup latency with ``count`` pause pods.

    Pods are created at ``rate`` per second; once all run (or at the
    timeout) they are deleted and the creation -> running latencies are
    summarised.
    """
    say = progress or (lambda line: None)
    labels = dict(labels or {}, **{'mcd-load/role': 'startup'})
    selector = 'mcd-load/role=startup'
    interval = 1.0 / rate if rate > 0 else 0.0
    for i in range(count):
        body = {'apiVersion': 'v1', 'kind': 'Pod',
                'metadata': {'name': 'startup-%d' % i, 'labels': labels},
                'spec': {'containers': [{
                    'name': 'pause', 'image': image,
                    'imagePullPolicy': 'IfNotPresent',
                    'resources': {'requests': {'cpu': '1m',
                                               'memory': '8Mi'}}}],
                         'terminationGracePeriodSeconds': 0}}
        core.create_namespaced_pod(namespace, body)
        if interval and i + 1 < count:
            sleep(interval)
    say('load: %d startup pods created at %.1f/s' % (count, rate))
    deadline = clock() + timeout_s
    latencies = {}
    while True:
        pods = core.list_namespaced_pod(namespace,
                                        label_selector=selector).items
        for pod in pods:
            started = pod_started_at(pod)
            if started is not None and pod.metadata.name not in latencies:
                created = _ts(pod.metadata.creation_timestamp)
                latencies[pod.metadata.name] = max(0.0, started - created)
        if len(latencies) >= count or clock() >= deadline:
            break
        sleep(1.0)
    core.delete_collection_namespaced_pod(namespace, label_selector=selector,
                                          grace_period_seconds=0)
    return startup_summary(list(latencies.values()), count, slo_p99_s)


# -- API latency ----------------------------------------------------------

def parse_prometheus_histograms(text, metric=METRIC):
    """``{labels-tuple: {le: cumulative count}}`` of one histogram metric.

    The labels tuple is ``(verb, resource, subresource, scope)``; series
    that differ in other labels (component, group, version) are summed.
    """
    out = {}
    bucket = metric + '_bucket'
    for line in (text or '').splitlines():
        if not line.startswith(bucket):
            continue
        match = _SAMPLE.match(line)
        if not match or match.group('name') != bucket:
            continue
        labels = dict(_LABEL.findall(match.group('labels') or ''))
        try:
            value = float(match.group('value'))
            le = float(labels.get('le', 'nan').replace('+Inf', 'inf'))
        except ValueError:
            continue
        key = (labels.get('verb', ''), labels.get('resource', ''),
               labels.get('subresource', ''), labels.get('scope', ''))
        series = out.setdefault(key, {})
        series[le] = series.get(le, 0.0) + value
    return out


def diff_histograms(before, after):
    """Per-series bucket increase between two scrapes."""
    out = {}
    for key, series in after.items():
        prev = before.get(key, {})
        out[key] = {le: max(0.0, n - prev.get(le, 0.0))
                    for le, n in series.items()}
    return out


def prom_quantile(q, cumulative):
    """Quantile ``q`` (0..1) of cumulative buckets.

    Computed the way Prometheus' ``histogram_quantile`` does it (linear
    inside a bucket).
    """
    les = sorted(cumulative)
    if not les or les[-1] != math.inf:
        return None
    total = cumulative[math.inf]
    if total <= 0:
        return None
    rank = q * total
    prev_le, prev_n = 0.0, 0.0
    for le in les:
        n = cumulative[le]
        if n >= rank:
            if le == math.inf:
                return prev_le
            if n == prev_n:
                return le
            return prev_le + (le - prev_le) * (rank - prev_n) / (n - prev_n)
        prev_le, prev_n = le, n
    return les[-2] if len(les) > 1 else None


def fraction_within(cumulative, limit):
    """Share of observations <= ``limit`` (linear inside a bucket)."""
    total = cumulative.get(math.inf, 0.0)
    if total <= 0:
        return None
    prev_le, prev_n = 0.0, 0.0
    for le in sorted(cumulative):
        n = cumulative[le]
        if le >= limit:
            if le == math.inf:
                return prev_n / total
            share = (limit - prev_le) / (le - prev_le) if le > prev_le \
                else 1.0
            return (prev_n + (n - prev_n) * share) / total
        prev_le, prev_n = le, n
    return prev_n / total


def verb_class(verb, scope):
    verb = verb.upper()
    if verb in MUTATING:
        return 'mutating'
    if verb in READ:
        return 'read-%s' % (scope or 'cluster')
    return None


def api_latency_summary(histograms, min_count=1):
    """Per verb class: merged p99, worst (resource, verb) p99, SLO."""
    classes = {}
    for (verb, resource, sub, scope), series in histograms.items():
        cls = verb_class(verb, scope)
        if cls is None or cls not in SLO_S:
            continue
        count = series.get(math.inf, 0.0)
        if count < min_count:
            continue
        entry = classes.setdefault(cls, {'merged': {}, 'pairs': []})
        for le, n in series.items():
            entry['merged'][le] = entry['merged'].get(le, 0.0) + n
        name = resource + ('/' + sub if sub else '')
        within = fraction_within(series, SLO_S[cls])
        entry['pairs'].append({'resource': name, 'verb': verb,
                               'scope': scope, 'count': int(count),
                               'p99_s': prom_quantile(0.99, series),
                               'within_slo': within,
                               'ok': within is not None
                               and within >= 0.99 - 1e-9})
    out = {}
    for cls, entry in sorted(classes.items()):
        worst = min(entry['pairs'],
                    key=lambda p: (p['within_slo'], -(p['p99_s'] or 0.0)))
        slo = SLO_S[cls]
        out[cls] = {
            'count': int(entry['merged'].get(math.inf, 0)),
            'p50_s': prom_quantile(0.50, entry['merged']),
            'p99_s': prom_quantile(0.99, entry['merged']),
            'worst': worst,
            'slo_p99_s': slo,
            'ok': all(p['ok'] for p in entry['pairs']),
        }
    return out


def read_metrics(api_client):
    """The apiserver's ``/metrics`` text through the client's session.

    Works with both generations of the kubernetes client (``call_api``
    changed its signature in the newer, pydantic-based releases).
    """
    if hasattr(api_client, 'param_serialize'):
        params = api_client.param_serialize(
            'GET', '/metrics', auth_settings=['BearerToken'])
        resp = api_client.call_api(*params)
        data = resp.read()
        status = resp.status
    else:
        resp = api_client.call_api(
            '/metrics', 'GET', auth_settings=['BearerToken'],
            _preload_content=False, _return_http_data_only=True)
        data = resp.data
        status = resp.status
    if status >= 400:
        raise RuntimeError('GET /metrics: HTTP %s' % status)
    return data.decode('utf-8', 'replace') if isinstance(data, bytes) \
        else data


def api_latency_result(before_text, after_text):
    """The ``api_latency`` dict of the phase from two scrapes."""
    hist = diff_histograms(parse_prometheus_histograms(before_text),
                           parse_prometheus_histograms(after_text))
    classes = api_latency_summary(hist)
    bad = ['%s p99 > %.0f s (%s %s: %.2f %% within)'
           % (cls, c['slo_p99_s'], c['worst']['verb'],
              c['worst']['resource'], 100 * c['worst']['within_slo'])
           for cls, c in classes.items() if not c['ok']]
    if not classes:
        return {'classes': {}, 'ok': False,
                'error': 'no API requests were recorded between the two '
                         'scrapes'}
    if bad:
        message = '; '.join(bad)
    else:
        message = ', '.join('%s p99 %.3f s' % (cls, c['p99_s'] or 0.0)
                            for cls, c in classes.items())
    return {'classes': classes, 'ok': not bad,
            'message': message}
