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
"""magnum-cern-selftest: the scale self-test of magnum-cern-driver.

``magnum-cern-selftest --max-nodes 1000`` (the ``run`` subcommand is the
default) checks the cloud, climbs the ladder of cluster sizes, runs the
HTTP load phase on the largest healthy cluster, deletes everything, and
writes the reports. See docs/selftest.md.

Bad input gives one line on stderr and exit code 1, before anything is
created.
"""

import argparse
import datetime
import json
import logging
import os
import shlex
import shutil
import sys
import time

from magnum_cern_driver.selftest import cloud as cloud_mod
from magnum_cern_driver.selftest import exitcodes
from magnum_cern_driver.selftest import journal as journal_mod
from magnum_cern_driver.selftest import plan as plan_mod
from magnum_cern_driver.selftest import preflight as preflight_mod
from magnum_cern_driver.selftest.report import jsonfmt
from magnum_cern_driver.selftest.report import redact
from magnum_cern_driver.selftest.report import terminal

PROG = 'magnum-cern-selftest'
SUBCOMMANDS = ('run', 'preflight', 'budget', 'cleanup', 'report', 'compare',
               'rehearsal', 'artifacts', 'render')
DEFAULT_OUTPUT_ROOT = 'selftest-results'
DEFAULT_STALE_HOURS = 6.0
# Ladder poll interval bounds (seconds) and the sleep of delete waits;
# module attributes so that tests can make them fast.
POLL = (2.0, 30.0)
SLEEP = time.sleep
CLOCK = time.monotonic


class UsageError(Exception):
    """Bad command line; str() is one line."""


class Parser(argparse.ArgumentParser):
    """argparse that reports errors as one line and exit code 1."""

    def error(self, message):
        raise UsageError(message)


# -- argument types ----------------------------------------------------------

def _positive_int(what):
    def conv(text):
        try:
            return plan_mod.parse_positive_int(text, what)
        except plan_mod.PlanError:
            raise argparse.ArgumentTypeError(
                'must be a positive whole number, got %r' % text)
    return conv


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = -1
    if not value > 0 or value == float('inf'):
        raise argparse.ArgumentTypeError('must be a positive number, got %r'
                                         % text)
    return value


def _non_negative_float(text):
    try:
        value = float(text)
    except ValueError:
        value = -1
    if value < 0 or value == float('inf'):
        raise argparse.ArgumentTypeError('must be a number >= 0, got %r'
                                         % text)
    return value


def _sizes(text):
    try:
        return plan_mod.parse_sizes(text)
    except plan_mod.PlanError as e:
        raise argparse.ArgumentTypeError(str(e))


def _label(text):
    if '=' not in text or not text.split('=', 1)[0]:
        raise argparse.ArgumentTypeError('labels are key=value, got %r'
                                         % text)
    return tuple(text.split('=', 1))


def _run_id(text):
    if not journal_mod.valid_run_id(text):
        raise argparse.ArgumentTypeError(
            'not a run id (like r2611220313-a1b2): %r' % text)
    return text


# -- the parser --------------------------------------------------------------

def _common(p):
    g = p.add_argument_group('cloud (OpenStack habits)')
    g.add_argument('--os-cloud', default=argparse.SUPPRESS,
                   help='cloud name in clouds.yaml (default: $OS_CLOUD, the '
                   'OS_* environment, the only cloud of clouds.yaml, else '
                   'the local rehearsal, started if needed)')
    g.add_argument('--os-region-name', default=argparse.SUPPRESS,
                   help='region (default: the cloud\'s)')
    g.add_argument('--rehearsal-state-dir', default=argparse.SUPPRESS,
                   help='state directory of the local rehearsal')
    g.add_argument('--journal-dir', default=argparse.SUPPRESS,
                   help='where run journals live (default: '
                   '~/.local/state/magnum-cern-selftest/journals)')
    g.add_argument('-v', '--verbose', action='store_true',
                   default=argparse.SUPPRESS, help='debug logging')


def _plan_args(p):
    g = p.add_argument_group('the ladder')
    g.add_argument('--max-nodes', type=_positive_int('--max-nodes'),
                   help='largest cluster (worker nodes); the reference '
                   'sizes up to it, and it')
    g.add_argument('--sizes', type=_sizes,
                   help='explicit comma-separated sizes instead')
    g.add_argument('--concurrency', type=_positive_int('--concurrency'),
                   help='clusters built at once at every size (default: '
                   'the reference\'s per size)')
    g.add_argument('--masters', type=_positive_int('--masters'), default=1,
                   help='masters per cluster (default 1)')
    g.add_argument('--reference', metavar='FILE',
                   help='reference table (YAML/JSON) instead of the '
                   'packaged CERN 2017 figures')
    g.add_argument('--timeout-scale', type=_positive_float, default=1.0,
                   help='multiply every timeout (default 1.0)')
    t = p.add_argument_group('cluster template')
    t.add_argument('--cluster-template', metavar='NAME_OR_ID',
                   help='use this template (default: create one from the '
                   'flags below and delete it at the end)')
    t.add_argument('--image', help='Glance image (default: the first with '
                   'os_distro=%s)' % cloud_mod.DRIVER_OS_DISTRO)
    t.add_argument('--flavor', help='worker flavor')
    t.add_argument('--master-flavor', help='master flavor')
    t.add_argument('--keypair', help='Nova keypair')
    t.add_argument('--external-network', help='external network (enables '
                   'floating IPs)')
    t.add_argument('--network-driver', default='flannel')
    t.add_argument('--docker-volume-size', type=int, default=None)
    t.add_argument('--master-lb', action='store_true',
                   help='master load balancer')
    t.add_argument('--label', dest='label_list', action='append',
                   type=_label, default=[], metavar='KEY=VALUE',
                   help='template label (repeat)')
    v = p.add_argument_group('versions the APIs cannot tell')
    v.add_argument('--heat-version', help='Heat release (for the known '
                   'defects table and the fingerprint)')
    v.add_argument('--magnum-version', help='Magnum release')
    a = p.add_argument_group('node artifacts (images, charts, packages, '
                             'URLs the nodes fetch)')
    a.add_argument('--skip-artifact-check', action='store_true',
                   help='do not check that they exist (air-gapped clouds: '
                   'the report says it was skipped)')
    a.add_argument('--artifact-manifest', metavar='PATH',
                   help='check this artifact manifest instead of the '
                   'packaged one')
    a.add_argument('--artifact-timeout', type=_positive_float, default=60.0,
                   metavar='SECONDS', help='the whole artifact check ends '
                   'after this (default 60)')


def build_parser(rehearsal_hook=None):
    top = Parser(prog=PROG, description=__doc__.split('\n\n')[0],
                 formatter_class=argparse.RawDescriptionHelpFormatter,
                 epilog='Exit codes: 0 ok, 1 error, 2 timeout, 3 target '
                 'missed, 4 regression, 5 resources left behind.')
    _common(top)
    sub = top.add_subparsers(dest='command', metavar='COMMAND',
                             parser_class=Parser)

    run = sub.add_parser('run', help='preflight, ladder, load, cleanup, '
                         'reports (the default command)')
    _common(run)
    _plan_args(run)
    run.add_argument('--output-dir', help='reports go here (default: '
                     '%s/<run id>)' % DEFAULT_OUTPUT_ROOT)
    run.add_argument('--baseline', metavar='RESULT_JSON',
                     help='compare with this earlier result.json')
    run.add_argument('--keep', action='store_true',
                     help='keep every cluster and the template')
    run.add_argument('--dry-run', action='store_true',
                     help='print the plan and create nothing')
    run.add_argument('--continue-on-failure', action='store_true',
                     help='climb on after a size failed')
    run.add_argument('--skip-load', action='store_true',
                     help='no HTTP load phase')
    run.add_argument('--load-target-rps', type=_positive_int(
        '--load-target-rps'), help='load phase target (default 1000000)')
    run.set_defaults(func=cmd_run)

    pre = sub.add_parser('preflight', help='check the cloud for the '
                         'ladder; creates nothing')
    _common(pre)
    _plan_args(pre)
    pre.add_argument('--keep', action='store_true',
                     help='size quotas as if nothing were deleted')
    pre.add_argument('--format', choices=('text', 'json'), default='text')
    pre.set_defaults(func=cmd_preflight)

    bud = sub.add_parser('budget', help='Heat resources of a cluster shape '
                         'and the Heat setting it needs')
    bud.add_argument('--masters', type=_positive_int('--masters'),
                     default=1)
    bud.add_argument('--workers', type=_positive_int('--workers'),
                     required=True)
    bud.add_argument('--nodegroups', type=_positive_int('--nodegroups'),
                     default=1)
    bud.add_argument('--shard-size', type=_positive_int('--shard-size'))
    bud.add_argument('--label', dest='label_list', action='append',
                     type=_label, default=[], metavar='KEY=VALUE')
    bud.add_argument('--format', choices=('table', 'json'),
                     default='table')
    bud.set_defaults(func=cmd_budget)

    art = sub.add_parser('artifacts', help='images, charts, packages and '
                         'URLs a cluster shape fetches (for pre-seeding a '
                         'mirror; no cloud needed)')
    art.add_argument('--label', dest='label_list', action='append',
                     type=_label, default=[], metavar='KEY=VALUE')
    art.add_argument('--registry-mirror', metavar='HOST[/PATH]', default='',
                     help='mirror every image goes through (the '
                     'registry_mirror label wins)')
    art.add_argument('--format', choices=('table', 'json'), default='table')
    art.set_defaults(func=cmd_artifacts)

    ren = sub.add_parser('render', help='the user data the driver sends a '
                         'node, secrets replaced (no cloud needed)')
    ren.add_argument('--role', choices=('master', 'worker'), required=True)
    ren.add_argument('--masters', type=_positive_int('--masters'),
                     default=1)
    ren.add_argument('--workers', type=_positive_int('--workers'),
                     default=1)
    ren.add_argument('--label', dest='label_list', action='append',
                     type=_label, default=[], metavar='KEY=VALUE')
    ren.add_argument('--format', choices=('text', 'json'), default='text')
    ren.set_defaults(func=cmd_render)

    cl = sub.add_parser('cleanup', help='delete what a run left behind')
    _common(cl)
    which = cl.add_mutually_exclusive_group(required=True)
    which.add_argument('--run-id', type=_run_id,
                       help='the run (from its journal, else by name)')
    which.add_argument('--stale', action='store_true',
                       help='every finished or crashed run: journals '
                       'here, and mcst-* names older than --older-than')
    which.add_argument('--journal', metavar='FILE',
                       help='a journal file copied from another machine')
    cl.add_argument('--older-than', type=_non_negative_float,
                    default=DEFAULT_STALE_HOURS, metavar='HOURS',
                    help='--stale: age of resources found by name only '
                    '(default %g h)' % DEFAULT_STALE_HOURS)
    cl.add_argument('--timeout-scale', type=_positive_float, default=1.0)
    cl.set_defaults(func=cmd_cleanup)

    rep = sub.add_parser('report', help='render a saved result.json')
    rep.add_argument('result', metavar='RESULT_JSON')
    rep.add_argument('--output-dir', help='write report.html, junit.xml '
                     'and result.json here (default: print the summary)')
    rep.set_defaults(func=cmd_report)

    cmp_ = sub.add_parser('compare', help='compare two result.json files')
    cmp_.add_argument('baseline', metavar='BASELINE_JSON')
    cmp_.add_argument('current', metavar='CURRENT_JSON')
    cmp_.add_argument('--format', choices=('text', 'json'), default='text')
    cmp_.set_defaults(func=cmd_compare)

    hook = rehearsal_hook
    if hook is None:
        try:
            from magnum_cern_driver.selftest.rehearsal import cli as reh_cli
            hook = reh_cli.add_parser
        except ImportError as e:
            err = str(e)

            def hook(subparsers):
                p = subparsers.add_parser('rehearsal', help='(unavailable)')
                p.add_argument('rest', nargs=argparse.REMAINDER)
                p.set_defaults(func=lambda args: _fail(
                    'the rehearsal is not available: %s' % err))
    hook(sub)
    return top


def _value_options(parser):
    out = set()
    for action in parser._actions:
        if action.option_strings and action.nargs != 0:
            out.update(action.option_strings)
    return out


def with_default_command(argv, parser):
    """Insert 'run' when no subcommand is named (``--max-nodes 10``)."""
    takes_value = _value_options(parser)
    # Options of 'run' count too: the user writes them without 'run'.
    for action in parser._subparsers._group_actions[0].choices[
            'run']._actions:
        if action.option_strings and action.nargs != 0:
            takes_value.update(action.option_strings)
    skip = False
    for tok in argv:
        if skip:
            skip = False
            continue
        if tok in ('-h', '--help'):
            return argv
        if tok.startswith('-'):
            if '=' not in tok and tok in takes_value:
                skip = True
            continue
        if tok in SUBCOMMANDS:
            return argv
        break
    return ['run'] + list(argv)


# -- helpers -----------------------------------------------------------------

def _fail(message):
    sys.stderr.write('%s: error: %s\n' % (PROG, cloud_mod.one_line(
        message, 1000)))
    return exitcodes.ERROR


def _opt(args, name, default=None):
    return getattr(args, name, default)


def _labels(args):
    return dict(_opt(args, 'label_list') or [])


def _steps(args):
    reference = plan_mod.load_reference(_opt(args, 'reference'))
    if not args.max_nodes and not args.sizes:
        raise UsageError('give --max-nodes N (or --sizes A,B,...)')
    steps = plan_mod.build(args.max_nodes, reference, sizes=args.sizes,
                           concurrency=args.concurrency)
    return steps, reference


def open_target(args, journal_target=None, out=None):
    """(cloud adapter, secrets, target dict) for the chosen cloud."""
    os_cloud = _opt(args, 'os_cloud')
    region = _opt(args, 'os_region_name')
    if os_cloud is None and journal_target and \
            journal_target.get('kind') == 'cloud':
        os_cloud = journal_target.get('name')
    if os_cloud is None and (
            _opt(args, 'rehearsal_state_dir') or
            (journal_target or {}).get('kind') == 'rehearsal'):
        # Naming a rehearsal (or a run made on one) means the rehearsal,
        # even when a clouds.yaml with a single cloud is around.
        kind, name = 'rehearsal', None
    else:
        kind, name = cloud_mod.resolve_target(os_cloud)
    if kind == 'rehearsal':
        try:
            from magnum_cern_driver.selftest import rehearsal
        except ImportError as e:
            raise cloud_mod.ConfigError(
                'no cloud configured (--os-cloud, OS_CLOUD, clouds.yaml) '
                'and the local rehearsal is not available: %s' % e)
        say = out or (lambda msg: sys.stderr.write('%s\n' % msg))
        state_dir = _opt(args, 'rehearsal_state_dir') or (
            journal_target or {}).get('state_dir')
        try:
            reh = rehearsal.ensure_up(state_dir, out=say)
            config = reh.cloud_config()
        except Exception as e:
            raise cloud_mod.ConfigError(
                'no cloud configured and the local rehearsal did not come '
                'up: %s' % cloud_mod.one_line(e))
        conn = cloud_mod.connect(config=config, region=region)
        adapter = cloud_mod.Cloud(conn, name='rehearsal', hollow=True,
                                  kind='rehearsal')
        adapter.rehearsal = reh
        target = {'kind': 'rehearsal', 'name': 'rehearsal'}
        if state_dir:
            target['state_dir'] = os.path.abspath(state_dir)
        return adapter, redact.secrets_of(config), target
    conn = cloud_mod.connect(cloud=name, region=region)
    adapter = cloud_mod.Cloud(conn, name=name or 'envvars', kind='cloud')
    try:
        secrets = redact.secrets_of(conn.config.config)
    except Exception:
        secrets = []
    return adapter, secrets, {'kind': kind, 'name': name}


def _rehearsal_facts(adapter):
    reh = getattr(adapter, 'rehearsal', None)
    if reh is None:
        return None
    facts = {'image': getattr(reh, 'image_name', None)}
    try:
        path = reh.layout.standin_config
        with open(path) as f:
            facts['standins'] = json.load(f)
    except Exception:
        pass
    return facts


def _image_for(args, adapter):
    if args.image:
        return args.image
    preferred = None
    reh = getattr(adapter, 'rehearsal', None)
    if reh is not None:
        preferred = getattr(reh, 'image_name', None)
    images = adapter.find_images_by_distro(cloud_mod.DRIVER_OS_DISTRO)
    if not images:
        raise cloud_mod.CloudError(
            'no image with os_distro=%s in Glance: give --image or '
            '--cluster-template' % cloud_mod.DRIVER_OS_DISTRO)
    for img in images:
        if preferred and img['name'] == preferred:
            return img['id']
    return sorted(images, key=lambda i: i['name'] or '')[0]['id']


REHEARSAL_FLAVOR = 'm1.small'


class _TemplateArgs(object):
    """Template flags, with the rehearsal's default flavor filled in."""

    def __init__(self, args, adapter=None):
        self.__dict__.update(vars(args))
        if adapter is not None and adapter.kind == 'rehearsal' and \
                not self.flavor and not self.master_flavor:
            # The rehearsal's stand-in compute offers m1.* flavors; the
            # driver needs a flavor for masters and workers.
            if adapter.find_flavor(REHEARSAL_FLAVOR):
                self.flavor = self.master_flavor = REHEARSAL_FLAVOR


# -- subcommands -------------------------------------------------------------

def cmd_run(args):
    steps, reference = _steps(args)
    base = None
    if args.baseline:
        base = jsonfmt.load(args.baseline)
    if args.dry_run:
        _print_plan(args, steps, reference)
        return exitcodes.OK
    run_id = journal_mod.new_run_id()
    output_dir = args.output_dir or os.path.join(DEFAULT_OUTPUT_ROOT,
                                                 run_id)
    created_dir = not os.path.exists(output_dir)
    _writable_dir(output_dir)
    try:
        return _run(args, steps, reference, base, run_id, output_dir)
    except Exception:
        if created_dir:
            try:
                os.rmdir(output_dir)    # only if still empty
            except OSError:
                pass
        raise


def _run(args, steps, reference, base, run_id, output_dir):
    from magnum_cern_driver.selftest import session as session_mod

    adapter, secrets, target = open_target(args)
    view = terminal.LiveView()
    sess = session_mod.Session(
        adapter, args, steps, reference, run_id=run_id, secrets=secrets,
        target=target, view=view, baseline=base,
        journal_dir=_opt(args, 'journal_dir'),
        rehearsal_facts=_rehearsal_facts(adapter), poll=POLL, sleep=SLEEP)

    def spec():
        return session_mod.template_spec(_TemplateArgs(args, adapter),
                                         run_id, _image_for(args, adapter))

    try:
        sess.preflight(spec)
        _artifact_check(args, adapter, sess.template, sess.preflight_doc)
    except preflight_mod.PreflightError as e:
        raise preflight_mod.PreflightError('preflight: %s' % e)
    for c in sess.preflight_doc['checks']:
        if not c['ok'] or c['severity'] == 'warning':
            view.message('preflight %s: %s' % (c['name'], c['message']))
    view.message('run %s on %s; reports in %s; cleanup if needed: %s' % (
        run_id, target.get('name') or target.get('kind'), output_dir,
        sess.cleanup_command()))
    sess.guard.install()
    try:
        result = sess.run()
    finally:
        sess.guard.restore()
    paths = sess.write_reports(output_dir)
    sys.stdout.write(redact.scrub_text(terminal.summary(result), secrets))
    sys.stdout.write('reports: %s\n' % ', '.join(
        paths[k] for k in ('html', 'json', 'junit')))
    hint = rehearsal_hint(target)
    if hint:
        sys.stdout.write(hint + '\n')
    return result['exit_code']


def rehearsal_hint(target):
    """How to stop the local rehearsal a run leaves up, or None."""
    if target.get('kind') != 'rehearsal':
        return None
    where = ''
    if target.get('state_dir'):
        where = ' --state-dir %s' % shlex.quote(target['state_dir'])
    return ('the local rehearsal stays up for the next run (about 2 GB of '
            'memory); stop it with: magnum-cern-selftest rehearsal%s down'
            % where)


def _writable_dir(path):
    """Create the output directory now, before anything else is."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise UsageError('cannot create --output-dir %s: %s'
                         % (path, e.strerror or e))
    if not os.access(path, os.W_OK):
        raise UsageError('--output-dir %s is not writable' % path)


def _artifact_check(args, adapter, template, doc):
    """The preflight's node artifact check (raises PreflightError)."""
    preflight_mod.artifact_check(
        doc, adapter, template, args.labels,
        skip=args.skip_artifact_check, manifest=args.artifact_manifest,
        timeout=args.artifact_timeout)


def _print_plan(args, steps, reference):
    out = sys.stdout
    out.write('plan (reference %s), %d master(s) per cluster, timeouts x%g:'
              '\n' % (reference.name, args.masters, args.timeout_scale))
    out.write('%6s %5s %8s %10s %12s  %s\n' % (
        'size', 'conc', 'clusters', 'target min', 'timeout min', 'source'))
    for s in steps:
        out.write('%6d %5d %8d %10.2f %12.1f  %s\n' % (
            s.size, s.concurrency, s.clusters, s.target_minutes,
            s.timeout_minutes(args.timeout_scale), s.target_source))
    need = plan_mod.quota_need(steps, masters=args.masters, keep=args.keep)
    out.write('peak quota need: %s\n' % ', '.join(
        '%s %d' % kv for kv in sorted(need.items())))
    bud = preflight_mod.heat_budget(steps, args.masters, args.labels)
    if 'total_resources' in bud:
        out.write('Heat: %d workers -> %s resources; heat.conf '
                  'max_resources_per_stack >= %s (or -1)\n' % (
                      bud['workers'], bud['total_resources'],
                      bud['max_resources_per_stack']))
    else:
        out.write('Heat budget: %s\n' % (bud.get('skipped') or
                                         bud.get('error')))
    out.write('dry run: nothing created\n')


def cmd_preflight(args):
    from magnum_cern_driver.selftest import session as session_mod

    steps, _reference = _steps(args)
    adapter, secrets, target = open_target(args)
    run_id = journal_mod.new_run_id()

    def spec():
        return session_mod.template_spec(_TemplateArgs(args, adapter),
                                         run_id, _image_for(args, adapter))
    pf = preflight_mod.Preflight(
        adapter, steps, template=args.cluster_template,
        template_spec=None if args.cluster_template else spec,
        masters=args.masters, keep=args.keep,
        versions={'heat': args.heat_version,
                  'magnum': args.magnum_version},
        rehearsal=_rehearsal_facts(adapter))
    fatal = None
    doc = None
    try:
        doc = pf.run()
        _artifact_check(args, adapter, pf.template, doc)
    except preflight_mod.PreflightError as e:
        doc = doc or pf.document()
        fatal = str(e)
    doc = redact.scrub(doc, secrets)
    if args.format == 'json':
        sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True) + '\n')
    else:
        for c in doc['checks']:
            mark = ('skip' if c['skipped'] else 'ok' if c['ok'] else
                    'FAIL' if c['severity'] == 'error' else 'warn')
            sys.stdout.write('%-5s %-28s %s\n'
                             % (mark, c['name'], c['message']))
        for d in doc.get('defects') or []:
            sys.stdout.write('defect %s (%s %s): %s\n  fix: %s\n' % (
                d['id'], d['component'], d['version'], d.get('symptom'),
                d.get('fix')))
    if fatal:
        return _fail('preflight: %s' % fatal)
    return exitcodes.OK


def cmd_budget(args):
    try:
        from magnum_cern_driver import budget
    except ImportError as e:
        return _fail('budget module not available: %s' % e)
    try:
        res = budget.count(args.masters, args.workers,
                           nodegroups=args.nodegroups,
                           labels=args.labels or None,
                           shard_size=args.shard_size)
    except ValueError as e:
        return _fail(str(e))
    if args.format == 'json':
        sys.stdout.write(json.dumps(res, indent=2, sort_keys=True) + '\n')
    else:
        sys.stdout.write(budget.format_table(res).rstrip('\n') + '\n')
    return exitcodes.OK


def cmd_artifacts(args):
    from magnum_cern_driver.selftest import artifacts_cmd
    try:
        out = artifacts_cmd.run(args.labels, args.registry_mirror,
                                args.format)
    except artifacts_cmd.ArtifactsError as e:
        return _fail(str(e))
    sys.stdout.write(out)
    return exitcodes.OK


def cmd_render(args):
    from magnum_cern_driver.selftest import render_cmd
    try:
        out = render_cmd.run(args.role, args.masters, args.workers,
                             args.labels, args.format)
    except render_cmd.RenderError as e:
        return _fail(str(e))
    sys.stdout.write(out)
    return exitcodes.OK


def _age_filter(hours, now=None):
    now = now or datetime.datetime.now(datetime.timezone.utc)

    def select(item):
        created = cloud_mod.parse_time(item.get('created_at') or
                                       item.get('creation_time'))
        if created is None:
            return hours == 0
        return (now - created).total_seconds() >= hours * 3600.0
    return select


def _report_cleanup(label, res):
    for d in res.deleted:
        sys.stdout.write('deleted %s %s\n' % (d['kind'], d.get('name') or
                                              d.get('id')))
    for x in res.leftovers:
        sys.stdout.write('LEFT %s %s (%s): %s\n' % (
            x['kind'], x.get('name') or '', x.get('id') or '',
            x.get('reason')))
    for e in res.errors:
        sys.stderr.write('%s: %s: %s\n' % (PROG, label, e))


def cmd_cleanup(args):
    from magnum_cern_driver.selftest import cleanup as cleanup_mod

    jdir = _opt(args, 'journal_dir')
    if args.stale:
        return _cleanup_stale(args, jdir)
    journal = None
    if args.journal:
        try:
            journal = journal_mod.Journal.read(args.journal)
        except journal_mod.JournalError as e:
            return _fail(str(e))
        run_id = journal.run_id
        journal = journal_mod.Journal(args.journal, run_id)
    else:
        run_id = args.run_id
        path = journal_mod.path_for(run_id, jdir)
        if os.path.exists(path):
            journal = journal_mod.Journal(path, run_id)
    if journal is not None and journal.is_active() and \
            journal.header.get('pid') != os.getpid():
        return _fail('run %s is still running (pid %s); stop it first '
                     '(Ctrl-C cleans up)' % (run_id,
                                             journal.header.get('pid')))
    adapter, _secrets, _target = open_target(
        args, journal_target=journal.target if journal else None)
    adapter.authenticate()
    res = cleanup_mod.Cleaner(
        adapter, journal=journal, prefix=journal_mod.name_prefix(run_id),
        timeout_scale=args.timeout_scale, sleep=SLEEP,
        clock=CLOCK,
        progress=lambda m: sys.stderr.write(m + '\n')).run()
    _report_cleanup(run_id, res)
    if journal is not None:
        if not res.leftovers:
            journal.end()
        journal.close()
    if not res.leftovers:
        # The run's kubeconfigs (client keys of its clusters) go too.
        from magnum_cern_driver.selftest import ladder as ladder_mod
        shutil.rmtree(ladder_mod.default_workdir(run_id), ignore_errors=True)
    if res.leftovers:
        sys.stderr.write('%s: %d resource(s) left behind\n'
                         % (PROG, len(res.leftovers)))
        return exitcodes.LEFTOVERS
    sys.stdout.write('run %s: nothing left\n' % run_id)
    return exitcodes.OK


def _cleanup_stale(args, jdir):
    from magnum_cern_driver.selftest import cleanup as cleanup_mod

    adapter, _secrets, target = open_target(args)
    adapter.authenticate()
    leftovers = 0
    active = set()
    done = set()
    for path in journal_mod.find_journals(jdir):
        try:
            j = journal_mod.Journal.read(path)
        except journal_mod.JournalError as e:
            sys.stderr.write('%s: %s\n' % (PROG, e))
            continue
        if j.is_active():
            active.add(j.run_id)
            continue
        if j.ended and not j.pending():
            continue
        if (j.target or {}).get('kind') != target.get('kind') or \
                (j.target or {}).get('name') != target.get('name'):
            continue
        journal = journal_mod.Journal(path, j.run_id)
        res = cleanup_mod.Cleaner(
            adapter, journal=journal,
            prefix=journal_mod.name_prefix(j.run_id),
            timeout_scale=args.timeout_scale, sleep=SLEEP,
            clock=CLOCK).run()
        _report_cleanup(j.run_id, res)
        if not res.leftovers:
            journal.end()
        journal.close()
        leftovers += len(res.leftovers)
        done.add(j.run_id)
    found = set()
    for c in adapter.list_clusters(journal_mod.NAME_PREFIX):
        found.add(journal_mod.run_id_of(c.get('name')))
    for t in adapter.list_templates(journal_mod.NAME_PREFIX):
        found.add(journal_mod.run_id_of(t.get('name')))
    for s in adapter.list_stacks(journal_mod.NAME_PREFIX):
        found.add(journal_mod.run_id_of(s.get('stack_name')))
    for run_id in sorted(r for r in found if r):
        if run_id in active or run_id in done:
            continue
        res = cleanup_mod.Cleaner(
            adapter, prefix=journal_mod.name_prefix(run_id),
            timeout_scale=args.timeout_scale, sleep=SLEEP,
            clock=CLOCK,
            select=_age_filter(args.older_than)).run()
        _report_cleanup(run_id, res)
        leftovers += len(res.leftovers)
    if leftovers:
        sys.stderr.write('%s: %d resource(s) left behind\n'
                         % (PROG, leftovers))
        return exitcodes.LEFTOVERS
    return exitcodes.OK


def cmd_report(args):
    from magnum_cern_driver.selftest import report as report_mod

    doc = jsonfmt.load(args.result)
    if args.output_dir:
        paths = report_mod.write_all(doc, args.output_dir)
        sys.stdout.write('reports: %s\n' % ', '.join(
            paths[k] for k in ('html', 'json', 'junit')))
    sys.stdout.write(terminal.summary(doc))
    return exitcodes.OK


def cmd_compare(args):
    from magnum_cern_driver.selftest import baseline as baseline_mod

    base = jsonfmt.load(args.baseline)
    cur = jsonfmt.load(args.current)
    res = baseline_mod.compare(cur, base)
    if args.format == 'json':
        sys.stdout.write(json.dumps(res, indent=2, sort_keys=True) + '\n')
    if not res['comparable']:
        return _fail('runs not comparable: %s' % '; '.join(res['reasons']))
    if args.format == 'text':
        for k, (old, new) in sorted(res['version_changes'].items()):
            sys.stdout.write('version %s: %s -> %s\n' % (k, old, new))
        for entry in res['sizes']:
            for row in entry['rows']:
                sys.stdout.write('%6d %-15s %10s -> %-10s x%-6s %s\n' % (
                    entry['size'], row['metric'], row['baseline'],
                    row['current'], row['ratio'],
                    'REGRESSION' if row['regression'] else 'ok'))
            if entry.get('note'):
                sys.stdout.write('%6d %s\n' % (entry['size'],
                                               entry['note']))
        for row in res['load']:
            sys.stdout.write('  load %-15s %10s -> %-10s x%-6s %s\n' % (
                row['metric'], row['baseline'], row['current'],
                row['ratio'], 'REGRESSION' if row['regression'] else 'ok'))
    if res['regressions']:
        return exitcodes.REGRESSION
    return exitcodes.OK


# -- main --------------------------------------------------------------------

def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        parser = build_parser()
        args = parser.parse_args(with_default_command(argv, parser))
        # --label K=V (repeated) as one dict, for the template and the
        # options recorded in the result.
        args.labels = _labels(args)
        # Libraries (keystoneauth, openstacksdk) warn on stderr about what
        # our own one-line errors already say: quiet unless -v.
        logging.basicConfig(
            level=logging.DEBUG if _opt(args, 'verbose') else
            logging.ERROR, format='%(levelname)s %(name)s: %(message)s')
        if not getattr(args, 'func', None):
            parser.print_help()
            return exitcodes.ERROR
        return args.func(args)
    except (UsageError, plan_mod.PlanError, jsonfmt.ReportError,
            cloud_mod.CloudError, journal_mod.JournalError,
            preflight_mod.PreflightError) as e:
        return _fail(str(e))
    except KeyboardInterrupt:
        sys.stderr.write('%s: interrupted\n' % PROG)
        return exitcodes.ERROR


if __name__ == '__main__':
    sys.exit(main())
