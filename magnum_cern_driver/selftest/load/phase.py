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
"""Entry point of the self-test load phase.

``run(kind, options, journal=None, progress=None)`` runs the ramp on a
runner (``'local'`` or ``'kubernetes'``), aggregates every step, judges it
and always cleans up (success, failure, KeyboardInterrupt). The result is
JSON-serialisable; see ``docs/load.md``.
"""

import time
import uuid

from magnum_cern_driver.selftest.load import aggregate
from magnum_cern_driver.selftest.load import kube
from magnum_cern_driver.selftest.load import local
from magnum_cern_driver.selftest.load import procs

DEFAULTS = {
    'target_rps': 1000000,
    'steps': aggregate.DEFAULT_STEPS,
    'warmup_s': 5,
    'steady_s': 30,
    'per_core_rps': 10000,        # nginx, per core (the demo's figure)
    'bot_per_core_rps': 10000,    # load generator, per core
    'bot_rps': 10000,             # rate of one bot
    'headroom': 0.8,              # usable share of the cores
    'max_duration_s': 3600,
    'max_requests': 200000000,
    'bot_grace_s': 15,
    'bots': None,
    'run_id': None,
    'namespace_prefix': 'mcd-load',
    'kubeconfig': None,
    'load_image': 'docker.io/peterevans/vegeta:6.8.1-vegeta12.8.3',
    'nginx_image': 'docker.io/library/nginx:1.27-alpine',
    'pause_image': 'registry.k8s.io/pause:3.9',
    'nginx_cpu': 1.0,
    'pod_startup_pods': 30,
    'pod_startup_rate': 5.0,      # pods created per second
    'pod_startup_slo_s': 5.0,
    'ready_timeout_s': 600,
    'send_tolerance': aggregate.SEND_TOLERANCE,
    'rate_tolerance': aggregate.RATE_TOLERANCE,
    'min_success_ratio': aggregate.MIN_SUCCESS_RATIO,
    'max_p99_ms': None,
}

# Local runs: short windows and a few bots; the target still defaults to
# 1M rps, which a small machine cannot validate.
LOCAL_DEFAULTS = {
    'warmup_s': 2,
    'steady_s': 5,
    'bots': 2,
    'max_duration_s': 300,
    'max_requests': 5000000,
}


def options_for(kind, options=None):
    opts = dict(DEFAULTS)
    if kind == 'local':
        opts.update(LOCAL_DEFAULTS)
    for key, value in (options or {}).items():
        if value is not None:
            opts[key] = value
    if not opts.get('run_id'):
        opts['run_id'] = uuid.uuid4().hex[:8]
    opts['steps'] = tuple(float(s) for s in opts['steps'])
    for key in ('warmup_s', 'steady_s'):
        opts[key] = int(opts[key])
    if opts['steady_s'] < 1 or opts['warmup_s'] < 0:
        raise ValueError('steady_s must be >= 1 and warmup_s >= 0')
    return opts


def make_runner(kind, opts, journal, progress):
    if kind == 'local':
        return local.LocalRunner(opts, journal, progress)
    if kind == 'kubernetes':
        return kube.KubernetesRunner(opts, journal, progress)
    raise ValueError('unknown load runner kind: %r' % (kind,))


def _raw_bot(res):
    """A bot result for the report: samples replaced by a histogram."""
    out = dict(res)
    lat = res.get('latency') or {}
    if 'samples_ms' in lat:
        out['latency'] = aggregate.histogram(lat['samples_ms'],
                                             aggregate.default_bounds_ms())
    return out


def run(kind, options=None, journal=None, progress=None, runner=None):
    """Run the load phase; see the module docstring and docs/load.md."""
    say = progress or (lambda line: None)
    opts = options_for(kind, options)
    runner = runner or make_runner(kind, opts, journal, progress)
    result = {
        'kind': kind,
        'verdict': 'not validated',
        'reason': '',
        'steps': [],
        'checks': [],
        'pod_startup': None,
        'api_latency': None,
        'tool': {'name': 'unknown', 'version': 'unknown'},
        'raw': {'options': _jsonable(opts), 'bots': []},
    }
    missing = getattr(runner, 'missing_tools', lambda: [])()
    if missing:
        result['verdict'] = 'skipped'
        result['reason'] = 'missing tools: %s' % ', '.join(missing)
        return result
    result['tool'] = runner.tool()
    started = time.monotonic()
    error = None
    incomplete = ''
    too_small = ''
    try:
        runner.prepare()
        capacity = runner.capacity()
        rates, effective, too_small = aggregate.plan(
            opts['target_rps'], opts['steps'], capacity)
        result['raw'].update({'capacity_rps': capacity,
                              'effective_target_rps': effective,
                              'rates': rates})
        if too_small:
            say('load: %s' % too_small)
        if hasattr(runner, 'check_budget'):
            runner.check_budget(rates)
        if hasattr(runner, 'before_steps'):
            runner.before_steps(result)
        step_s = runner.step_seconds()
        for index, rate in enumerate(rates):
            elapsed = time.monotonic() - started
            if elapsed + step_s > opts['max_duration_s']:
                incomplete = ('time budget max_duration_s=%s exhausted '
                              'after %d of %d steps'
                              % (opts['max_duration_s'], index, len(rates)))
                say('load: %s' % incomplete)
                break
            say('load: step %d/%d: %.0f rps for %ds (+%ds warm-up)'
                % (index + 1, len(rates), rate, opts['steady_s'],
                   opts['warmup_s']))
            expected, results, raw = runner.run_step(index, rate)
            step = aggregate.aggregate_step(
                rate, expected, results,
                send_tolerance=opts['send_tolerance'])
            if step['valid']:
                ok, message = aggregate.judge_step(
                    step, rate_tolerance=opts['rate_tolerance'],
                    min_success_ratio=opts['min_success_ratio'],
                    max_p99_ms=opts['max_p99_ms'])
                step['ok'] = ok
                step['message'] = message
            else:
                step['ok'] = False
                step['message'] = step['reason']
            result['steps'].append(step)
            result['checks'].append({
                'name': 'load.step.%d' % (index + 1),
                'ok': bool(step['valid'] and step['ok']),
                'message': ('%.0f rps: %s' % (rate, step['message'])
                            if step['valid'] else
                            '%.0f rps invalid: %s' % (rate, step['reason']))})
            result['raw']['bots'].append({
                'step': index + 1, 'target_rps': rate,
                'results': [_raw_bot(r) for r in results],
                'runner': raw})
            say('load: step %d: %.0f rps achieved, success %.5f, '
                'p50 %s ms, p99 %s ms%s'
                % (index + 1, step['achieved_rps'], step['success_ratio'],
                   aggregate._fmt(step['p50_ms']),
                   aggregate._fmt(step['p99_ms']),
                   '' if step['valid'] else ' (INVALID: %s)' % step['reason']))
        if hasattr(runner, 'after_steps'):
            runner.after_steps(result)
    except Exception as e:  # noqa: the verdict carries any failure
        error = '%s: %s' % (type(e).__name__, e)
        say('load: error: %s' % error)
    finally:
        try:
            runner.cleanup()
        except Exception as e:  # noqa: reported, never hides the result
            cleanup_error = 'cleanup failed: %s: %s' % (type(e).__name__, e)
            result['checks'].append({'name': 'load.cleanup', 'ok': False,
                                     'message': cleanup_error})
            error = '; '.join(x for x in (error, cleanup_error) if x)
    for key in ('pod_startup', 'api_latency'):
        found = result[key]
        if not found:
            continue
        if found.get('error'):
            incomplete = '; '.join(
                x for x in (incomplete, '%s: %s' % (key, found['error']))
                if x)
        elif not found.get('ok'):
            error = '; '.join(
                x for x in (error, '%s: %s' % (key, found['message'])) if x)
    result['verdict'], result['reason'] = aggregate.verdict(
        result['steps'], too_small, error=error, incomplete=incomplete)
    result['raw']['duration_s'] = round(time.monotonic() - started, 3)
    say('load: verdict %s: %s' % (result['verdict'], result['reason']))
    return result


def cleanup_resource(kind, name, meta):
    """Remove one journaled resource of this phase (for ``cleanup``).

    ``kind`` is ``'process'`` (stopped by its recorded pid, only if that
    pid still runs the recorded program) or ``'namespace'`` (deleted
    through the recorded kubeconfig). Returns True if it is gone.
    """
    if kind == procs.JOURNAL_KIND:
        argv = meta.get('argv') or [None]
        pid = meta.get('pid')
        if pid:
            procs.stop_pid(int(pid), argv[0])
        return not pid or not procs.alive(int(pid), argv[0])
    if kind == 'namespace':
        return kube.delete_namespace(meta.get('kubeconfig'), name,
                                     wait_s=meta.get('wait_s', 120))
    raise ValueError('not a load-phase resource kind: %r' % (kind,))


def _jsonable(opts):
    out = {}
    for key, value in opts.items():
        out[key] = list(value) if isinstance(value, tuple) else value
    return out
