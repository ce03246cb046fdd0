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
"""``magnum-cern-selftest rehearsal up|down|status|logs|kill|restart|...``.

The fault commands (``kill``, ``stop``, ``start``, ``restart``) address
processes by the pids ``up`` recorded, never by name.
"""

import argparse
import json
import os
import sys
import time

from magnum_cern_driver.selftest.rehearsal import services
from magnum_cern_driver.selftest.rehearsal import state as state_mod

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_NOT_UP = 3
LOG_NAMES = services.SERVICE_NAMES


def _delay(text):
    """``5`` -> 5.0; ``uniform:20:40``; ``normal:30:5``; a JSON object."""
    text = text.strip()
    if text.startswith('{'):
        return json.loads(text)
    parts = text.split(':')
    if len(parts) == 1:
        return float(parts[0])
    dist, args = parts[0], [float(a) for a in parts[1:]]
    keys = {'fixed': ('value',), 'uniform': ('min', 'max'),
            'normal': ('mean', 'stddev'), 'lognormal': ('mu', 'sigma'),
            'exponential': ('mean',)}.get(dist)
    if not keys or len(args) != len(keys):
        raise argparse.ArgumentTypeError(
            'expected seconds, or dist:args with dist in fixed:V, '
            'uniform:MIN:MAX, normal:MEAN:SD, lognormal:MU:SIGMA, '
            'exponential:MEAN')
    delay = dict(zip(keys, args))
    delay['dist'] = dist
    return delay


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError('expected a whole number >= 1, '
                                         'got %r' % text)
    return value


def _rate(text):
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError('failure rate must be in [0, 1]')
    return value


def _shard_size(text):
    from magnum_cern_driver import params
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= params.MAX_SHARD_SIZE:
        raise argparse.ArgumentTypeError(
            'worker shard size must be an integer 1..%d'
            % params.MAX_SHARD_SIZE)
    return value


def _quota(text):
    """``instances=40`` -> ('instances', 40); names as the stand-in API's."""
    from magnum_cern_driver.selftest.rehearsal import cloudapi
    name, sep, value = text.partition('=')
    known = cloudapi.NOVA_QUOTAS + cloudapi.NEUTRON_QUOTAS
    if not sep or name not in known:
        raise argparse.ArgumentTypeError(
            'expected NAME=LIMIT with NAME one of %s' % ', '.join(known))
    try:
        limit = int(value)
    except ValueError:
        limit = None
    if limit is None or limit < -1:
        raise argparse.ArgumentTypeError(
            '%s: the limit must be an integer >= -1 (-1: unlimited)' % name)
    return name, limit


def _worker_index(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            'a worker index is an integer >= 0 (0: the oldest worker)')
    return value


def add_parser(subparsers):
    p = subparsers.add_parser(
        'rehearsal', help='the local control plane (real Keystone, Glance, '
        'Heat, Magnum; hollow data plane)',
        description='Run the real Magnum + Heat control plane on 127.0.0.1 '
        'with stand-in Nova/Neutron/Cinder/Octavia resources.')
    p.add_argument('--state-dir', default=None,
                   help='state directory (default: $%s or '
                   '~/.local/state/magnum-cern-selftest/rehearsal)'
                   % state_mod.ENV_STATE_DIR)
    sub = p.add_subparsers(dest='rehearsal_command', metavar='COMMAND')
    sub.required = True

    up = sub.add_parser('up', help='start what is not running (idempotent)')
    up.add_argument('--boot-delay', type=_delay, default=None,
                    help='stand-in server boot delay: seconds, or '
                    'uniform:MIN:MAX, normal:MEAN:SD, exponential:MEAN, ...')
    up.add_argument('--failure-rate', type=_rate, default=None,
                    help='probability that a stand-in server fails to boot')
    up.add_argument('--max-resources-per-stack', type=int, default=None,
                    help="Heat's limit (default 2048; -1 for unlimited); "
                    'takes effect when Heat (re)starts')
    up.add_argument('--heat-engine-workers', type=int, default=None,
                    help='heat-engine worker processes (default 2)')
    up.add_argument('--worker-shard-size', type=_shard_size, default=None,
                    help="the driver's [cern_driver] worker_shard_size "
                    '(default: the driver default, 50); takes effect when '
                    'Magnum (re)starts')
    up.set_defaults(func=cmd_up)

    down = sub.add_parser('down', help='stop exactly what up started')
    down.add_argument('--purge', action='store_true',
                      help='also remove the state directory (all data)')
    down.set_defaults(func=cmd_down)

    status = sub.add_parser('status', help='what runs and answers')
    status.add_argument('--json', action='store_true')
    status.set_defaults(func=cmd_status)

    logs = sub.add_parser('logs', help="show a service's log tail")
    logs.add_argument('service', nargs='?', choices=LOG_NAMES,
                      help='one service (default: all, briefly)')
    logs.add_argument('-n', '--lines', type=int, default=None)
    logs.add_argument('-f', '--follow', action='store_true')
    logs.set_defaults(func=cmd_logs)

    kill = sub.add_parser(
        'kill', help='SIGKILL a service, or one of its workers (fault '
        'injection)', description='Send SIGKILL to the recorded main '
        'process of SERVICE, or with --worker N to its N-th worker child '
        '(0 = the oldest; `status --json` lists them). heat-engine, '
        'magnum-conductor and the gunicorn services (heat-api, keystone, '
        '...) respawn a killed worker; a killed main process stays dead '
        'until `start`, `restart` or `up`.')
    kill.add_argument('service', choices=services.SERVICE_NAMES,
                      metavar='SERVICE', help='one of: %s'
                      % ', '.join(services.SERVICE_NAMES))
    kill.add_argument('--worker', type=_worker_index, default=None,
                      metavar='N', help='the N-th worker child, oldest '
                      'first (start time, then pid)')
    kill.set_defaults(func=cmd_kill)
    for name, what in (
            ('restart', 'stop (SIGTERM, SIGKILL after a grace period) and '
             'start a service again, same config and ports'),
            ('stop', 'stop one service (it stays stopped until start, '
             'restart or up)'),
            ('start', 'start one stopped or killed service and wait until '
             'it answers')):
        cmd = sub.add_parser(name, help=what, description=what + '.')
        cmd.add_argument('service', choices=services.SERVICE_NAMES,
                         metavar='SERVICE', help='one of: %s'
                         % ', '.join(services.SERVICE_NAMES))
        cmd.set_defaults(func=cmd_fault)

    bench = sub.add_parser(
        'bench', help='create one large cluster (or, with --fleet, run a '
        'self-test fleet step) through Magnum and measure')
    bench.add_argument('--masters', type=int, default=3)
    bench.add_argument('--workers', type=int, default=1000)
    bench.add_argument('--keep', action='store_true',
                       help='do not delete the cluster afterwards')
    bench.add_argument('--timeout', type=int, default=1800)
    fleet = bench.add_argument_group(
        'fleet', 'run `magnum-cern-selftest run --fleet N --size S '
        '--concurrency C --skip-load` and measure where the time went '
        '(see docs/benchmarks.md)')
    fleet.add_argument('--fleet', type=_positive, metavar='N')
    fleet.add_argument('--size', type=_positive, default=2, metavar='S')
    fleet.add_argument('--concurrency', type=_positive, default=10,
                       metavar='C')
    fleet.add_argument('--output-dir', default=None,
                       help='the self-test reports and bench.json '
                       '(default: bench-fleet-<time> here)')
    fleet.add_argument('--fixed-network', default=None, metavar='NAME',
                       help='passed to the self-test')
    bench.set_defaults(func=cmd_bench)

    standins = sub.add_parser(
        'standins', help='change stand-in behaviour while running')
    standins.add_argument('--type', default='OS::Nova::Server')
    standins.add_argument('--boot-delay', type=_delay, default=None)
    standins.add_argument('--failure-rate', type=_rate, default=None)
    standins.add_argument('--fail-names', nargs='*', default=None,
                          help='regexes: matching resources always fail')
    standins.add_argument('--quota', type=_quota, action='append',
                          default=None, metavar='NAME=LIMIT',
                          help='a limit the stand-in Nova/Neutron report '
                          '(repeat; replaces all earlier ones)')
    standins.add_argument('--default-quotas', action='store_true',
                          help='back to limits nothing reaches')
    standins.set_defaults(func=cmd_standins)
    return p


def _get(args):
    from magnum_cern_driver.selftest import rehearsal
    return rehearsal.get(args.state_dir)


def cmd_up(args):
    from magnum_cern_driver.selftest.rehearsal import core
    reh = _get(args)
    t0 = time.monotonic()
    try:
        timings = reh.up(boot_delay=args.boot_delay,
                         failure_rate=args.failure_rate,
                         max_resources_per_stack=args.max_resources_per_stack,
                         heat_engine_workers=args.heat_engine_workers,
                         worker_shard_size=args.worker_shard_size)
    except core.ServiceError as e:
        print('rehearsal up failed: %s' % e, file=sys.stderr)
        return EXIT_ERROR
    print('rehearsal up in %.1f s (%s)' % (
        time.monotonic() - t0,
        ', '.join('%s %ss' % kv for kv in timings.items() if kv[0] !=
                  'total')))
    print(reh.describe())
    print('export OS_CLIENT_CONFIG_FILE=%s OS_CLOUD=%s'
          % (reh.clouds_yaml_path, reh.cloud_name))
    return EXIT_OK


def cmd_down(args):
    reh = _get(args)
    leftover = reh.down(purge=args.purge)
    if leftover:
        print('rehearsal down: ports still listening: %s' % leftover,
              file=sys.stderr)
        return EXIT_ERROR
    print('rehearsal down')
    return EXIT_OK


def cmd_status(args):
    reh = _get(args)
    status = reh.status()
    if args.json:
        print(json.dumps(status, indent=2, sort_keys=True))
    elif not status:
        print('rehearsal: never brought up in %s' % reh.state_dir)
    else:
        for name, st in status.items():
            state = ('up' if st['answers'] else 'not answering') \
                if st['running'] else 'stopped'
            print('%-17s %-14s pid %-8s ports %-12s workers %s' % (
                name, state, st['pid'] if st['running'] else '-',
                ','.join(map(str, st['ports'])) or '-',
                ','.join(map(str, st.get('workers') or ())) or '-'))
    ok = bool(status) and all(s['running'] and s['answers']
                              for s in status.values())
    return EXIT_OK if ok else EXIT_NOT_UP


def cmd_logs(args):
    from magnum_cern_driver.selftest.rehearsal import procs
    reh = _get(args)
    names = [args.service] if args.service else list(LOG_NAMES)
    lines = args.lines or (50 if args.service else 5)
    for name in names:
        path = reh.layout.log(name)
        if not args.service:
            print('==> %s <==' % path)
        print(procs.tail(path, lines))
    if args.follow and args.service:
        path = reh.layout.log(args.service)
        with open(path) as f:
            f.seek(0, 2)
            try:
                while True:
                    line = f.readline()
                    if line:
                        sys.stdout.write(line)
                        sys.stdout.flush()
                    else:
                        time.sleep(0.5)
            except KeyboardInterrupt:
                pass
    return EXIT_OK


def _fault_error(command, e):
    print('rehearsal %s: %s' % (command, e), file=sys.stderr)
    return EXIT_NOT_UP if getattr(e, 'not_up', False) else EXIT_ERROR


def cmd_kill(args):
    from magnum_cern_driver.selftest.rehearsal import core
    reh = _get(args)
    try:
        done = reh.kill_service(args.service, worker=args.worker)
    except core.FaultError as e:
        return _fault_error('kill', e)
    if done['worker'] is None:
        print('killed %s (pid %d)' % (done['service'], done['pid']))
    else:
        print('killed %s worker %d (pid %d)' % (
            done['service'], done['worker'], done['pid']))
    return EXIT_OK


def cmd_fault(args):
    from magnum_cern_driver.selftest.rehearsal import core
    command = args.rehearsal_command
    reh = _get(args)
    t0 = time.monotonic()
    try:
        if command == 'stop':
            pid = reh.stop_service(args.service)
            print('%s stopped (pid %s)' % (args.service, pid)
                  if pid else '%s was not running' % args.service)
        elif command == 'start':
            pid = reh.start_service(args.service)
            print('%s up (pid %d) in %.1f s' % (
                args.service, pid, time.monotonic() - t0))
        else:
            old, pid = reh.restart_service(args.service)
            print('%s restarted (pid %s -> %d) in %.1f s' % (
                args.service, old or '-', pid, time.monotonic() - t0))
    except core.FaultError as e:
        return _fault_error(command, e)
    except core.ServiceError as e:
        print('rehearsal %s failed: %s' % (command, e), file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def cmd_bench(args):
    from magnum_cern_driver.selftest.rehearsal import bench
    from magnum_cern_driver.selftest.rehearsal import core
    try:
        reh = core.ensure_up(args.state_dir)
    except core.ServiceError as e:
        print('rehearsal up failed: %s' % e, file=sys.stderr)
        return EXIT_ERROR
    if args.fleet:
        return _bench_fleet(reh, args)
    result = bench.run(reh, masters=args.masters, workers=args.workers,
                       delete=not args.keep, timeout=args.timeout)
    print(json.dumps(result, indent=2, sort_keys=True))
    return EXIT_OK if result['status'] == 'CREATE_COMPLETE' else EXIT_ERROR


def _bench_fleet(reh, args):
    from magnum_cern_driver.selftest.rehearsal import bench_fleet
    out = args.output_dir or 'bench-fleet-%s' % time.strftime(
        '%Y%m%d-%H%M%S', time.gmtime())
    extra = (['--fixed-network', args.fixed_network]
             if args.fixed_network else [])
    try:
        result = bench_fleet.run(reh, args.fleet, args.size,
                                 args.concurrency, out, extra=extra)
    except bench_fleet.NoResult as e:
        sys.stderr.write('bench: %s\n' % e)
        return EXIT_ERROR
    text = json.dumps(result, indent=2, sort_keys=True)
    with open(os.path.join(out, 'bench.json'), 'w') as f:
        f.write(text + '\n')
    print(text)
    return EXIT_OK if result['exit_code'] == 0 else EXIT_ERROR


def cmd_standins(args):
    reh = _get(args)
    quotas = None
    if args.default_quotas:
        quotas = {}
    elif args.quota:
        quotas = dict(args.quota)
    try:
        config = reh.configure_standins(
            boot_delay=args.boot_delay, failure_rate=args.failure_rate,
            resource_type=args.type, fail_names=args.fail_names,
            quotas=quotas)
    except ValueError as e:
        print('rehearsal standins: %s' % e, file=sys.stderr)
        return EXIT_ERROR
    print(json.dumps(config, indent=2, sort_keys=True))
    return EXIT_OK


def main(argv=None):
    """Run ``rehearsal`` alone (python -m ...rehearsal.cli up)."""
    parser = argparse.ArgumentParser(prog='magnum-cern-selftest')
    sub = parser.add_subparsers(dest='command')
    sub.required = True
    add_parser(sub)
    args = parser.parse_args(['rehearsal'] + list(
        sys.argv[1:] if argv is None else argv))
    return args.func(args)


if __name__ == '__main__':
    sys.exit(main())
