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

This module parses the command line and dispatches: the options are a
:class:`.options.RunOptions`, the cloud is chosen in :mod:`.target`, the
stale-run sweep is :func:`.cleanup.sweep_stale` and the text output is
:mod:`.report.terminal`.
"""

import argparse
import json
import logging
import os
import shutil
import sys
import time

from magnum_cern_driver import budget
from magnum_cern_driver.selftest import artifacts_cmd
from magnum_cern_driver.selftest import baseline as baseline_mod
from magnum_cern_driver.selftest import cleanup as cleanup_mod
from magnum_cern_driver.selftest import cloud as cloud_mod
from magnum_cern_driver.selftest import exitcodes
from magnum_cern_driver.selftest import journal as journal_mod
from magnum_cern_driver.selftest import ladder as ladder_mod
from magnum_cern_driver.selftest import options as options_mod
from magnum_cern_driver.selftest import plan as plan_mod
from magnum_cern_driver.selftest import preflight as preflight_mod
from magnum_cern_driver.selftest.rehearsal import cli as reh_cli
from magnum_cern_driver.selftest import render_cmd
from magnum_cern_driver.selftest import report as report_mod
from magnum_cern_driver.selftest.report import jsonfmt
from magnum_cern_driver.selftest.report import redact
from magnum_cern_driver.selftest.report import terminal
from magnum_cern_driver.selftest import session as session_mod
from magnum_cern_driver.selftest import target as target_mod

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
    g.add_argument('--max-nodes',
                   type=options_mod.positive_int('--max-nodes'),
                   help='largest cluster (worker nodes); the reference '
                   'sizes up to it, and it')
    g.add_argument('--sizes', type=options_mod.sizes,
                   help='explicit comma-separated sizes instead')
    g.add_argument('--concurrency',
                   type=options_mod.positive_int('--concurrency'),
                   help='clusters built at once at every size (default: '
                   'the reference\'s per size)')
    g.add_argument('--masters', type=options_mod.positive_int('--masters'),
                   default=1, help='masters per cluster (default 1)')
    g.add_argument('--reference', metavar='NAME_OR_FILE',
                   help='reference table: "cern" (CERN 2017 ladder, the '
                   'default), "cncf" (CNCF 2017 fleets), or a YAML/JSON '
                   'file of the same format')
    g.add_argument('--fleet', metavar='N',
                   type=options_mod.positive_int('--fleet'),
                   help='one custom fleet step: N clusters of --size '
                   'nodes, --concurrency of them in flight at once')
    g.add_argument('--size', metavar='S',
                   type=options_mod.positive_int('--size'),
                   help='worker nodes per cluster of --fleet')
    g.add_argument('--timeout-scale', type=options_mod.positive_float,
                   default=1.0, help='multiply every timeout (default 1.0)')
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
    t.add_argument('--fixed-network', metavar='NAME_OR_ID',
                   help='existing network for every cluster (no '
                   'per-cluster network, subnet or router)')
    t.add_argument('--fixed-subnet', metavar='NAME_OR_ID',
                   help='subnet of --fixed-network (default: its only '
                   'subnet)')
    t.add_argument('--label', dest='label_list', action='append',
                   type=options_mod.label, default=[], metavar='KEY=VALUE',
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
    a.add_argument('--artifact-timeout', type=options_mod.positive_float,
                   default=60.0, metavar='SECONDS',
                   help='the whole artifact check ends after this (default '
                   '60)')


def build_parser():
    top = Parser(prog=PROG, description=__doc__.split('\n\n')[0],
                 formatter_class=argparse.RawDescriptionHelpFormatter,
                 epilog='Exit codes: 0 ok, 1 error, 2 timeout or stalled, 3 '
                 'target missed, 4 regression, 5 resources left behind.')
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
    run.add_argument('--load-target-rps', type=options_mod.positive_int(
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
    bud.add_argument('--masters', type=options_mod.positive_int('--masters'),
                     default=1)
    bud.add_argument('--workers', type=options_mod.positive_int('--workers'),
                     required=True)
    bud.add_argument('--nodegroups',
                     type=options_mod.positive_int('--nodegroups'), default=1)
    bud.add_argument('--shard-size',
                     type=options_mod.positive_int('--shard-size'))
    bud.add_argument('--label', dest='label_list', action='append',
                     type=options_mod.label, default=[], metavar='KEY=VALUE')
    bud.add_argument('--fixed-network', metavar='NAME_OR_ID',
                     help='the cluster uses this existing network (no '
                     'network, subnet or router of its own)')
    bud.add_argument('--format', choices=('table', 'json'),
                     default='table')
    bud.set_defaults(func=cmd_budget)

    art = sub.add_parser('artifacts', help='images, charts, packages and '
                         'URLs a cluster shape fetches (for pre-seeding a '
                         'mirror; no cloud needed)')
    art.add_argument('--label', dest='label_list', action='append',
                     type=options_mod.label, default=[], metavar='KEY=VALUE')
    art.add_argument('--registry-mirror', metavar='HOST[/PATH]', default='',
                     help='mirror every image goes through (the '
                     'registry_mirror label wins)')
    art.add_argument('--format', choices=('table', 'json'), default='table')
    art.set_defaults(func=cmd_artifacts)

    ren = sub.add_parser('render', help='the user data the driver sends a '
                         'node, secrets replaced (no cloud needed)')
    ren.add_argument('--role', choices=('master', 'worker'), required=True)
    ren.add_argument('--masters', type=options_mod.positive_int('--masters'),
                     default=1)
    ren.add_argument('--workers', type=options_mod.positive_int('--workers'),
                     default=1)
    ren.add_argument('--label', dest='label_list', action='append',
                     type=options_mod.label, default=[], metavar='KEY=VALUE')
    ren.add_argument('--format', choices=('text', 'json'), default='text')
    ren.set_defaults(func=cmd_render)

    cl = sub.add_parser('cleanup', help='delete what a run left behind')
    _common(cl)
    which = cl.add_mutually_exclusive_group(required=True)
    which.add_argument('--run-id', type=options_mod.run_id,
                       help='the run (from its journal, else by name)')
    which.add_argument('--stale', action='store_true',
                       help='every finished or crashed run: journals '
                       'here, and mcst-* names older than --older-than')
    which.add_argument('--journal', metavar='FILE',
                       help='a journal file copied from another machine')
    cl.add_argument('--older-than', type=options_mod.non_negative_float,
                    default=DEFAULT_STALE_HOURS, metavar='HOURS',
                    help='--stale: age of resources found by name only '
                    '(default %g h)' % DEFAULT_STALE_HOURS)
    cl.add_argument('--timeout-scale', type=options_mod.positive_float,
                    default=1.0)
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

    # The rehearsal's subcommands take their argparse namespace.
    reh_cli.add_parser(sub)
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


def _steps(opts):
    reference = plan_mod.load_reference(opts.reference)
    if opts.fixed_subnet and not opts.fixed_network:
        raise UsageError('--fixed-subnet needs --fixed-network')
    if opts.fleet is not None or opts.size is not None:
        if opts.fleet is None or opts.size is None:
            raise UsageError('--fleet N and --size S go together')
        if opts.max_nodes or opts.sizes:
            raise UsageError('--fleet runs one fleet step: not with '
                             '--max-nodes or --sizes')
        return plan_mod.fleet(opts.fleet, opts.size, reference,
                              concurrency=opts.concurrency), reference
    if reference.fleet:
        steps = plan_mod.build(opts.max_nodes, reference, sizes=opts.sizes,
                               concurrency=opts.concurrency)
        return steps, reference
    if not opts.max_nodes and not opts.sizes:
        raise UsageError('give --max-nodes N (or --sizes A,B,...), '
                         '--reference cncf, or --fleet N --size S')
    steps = plan_mod.build(opts.max_nodes, reference, sizes=opts.sizes,
                           concurrency=opts.concurrency)
    return steps, reference


# The target cloud; a module attribute so that tests can replace it.
open_target = target_mod.open_target


def _template_spec(opts, adapter, run_id):
    """The template_spec callable of the preflight (run and preflight)."""
    def spec():
        return session_mod.template_spec(
            target_mod.template_options(opts, adapter), run_id,
            target_mod.image_for(opts, adapter))
    return spec


def _writable_dir(path):
    """Create the output directory now, before anything else is."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise UsageError('cannot create --output-dir %s: %s'
                         % (path, e.strerror or e))
    if not os.access(path, os.W_OK):
        raise UsageError('--output-dir %s is not writable' % path)


def _artifact_check(opts, adapter, template, doc):
    """The preflight's node artifact check (raises PreflightError)."""
    preflight_mod.artifact_check(
        doc, adapter, template, opts.labels,
        skip=opts.skip_artifact_check, manifest=opts.artifact_manifest,
        timeout=opts.artifact_timeout)


def _report_cleanup(label, res):
    sys.stdout.write(terminal.cleanup(res))
    for e in res.errors:
        sys.stderr.write('%s: %s: %s\n' % (PROG, label, e))


def _left_behind(count):
    sys.stderr.write('%s: %d resource(s) left behind\n' % (PROG, count))
    return exitcodes.LEFTOVERS


# -- subcommands -------------------------------------------------------------

def cmd_run(opts):
    steps, reference = _steps(opts)
    base = None
    if opts.baseline:
        base = jsonfmt.load(opts.baseline)
    if opts.dry_run:
        sys.stdout.write(terminal.plan(
            steps, reference.name, opts.masters, opts.timeout_scale,
            plan_mod.quota_need(steps, masters=opts.masters,
                                keep=opts.keep),
            preflight_mod.heat_budget(steps, opts.masters, opts.labels)))
        sys.stdout.write('dry run: nothing created\n')
        return exitcodes.OK
    run_id = journal_mod.new_run_id()
    output_dir = opts.output_dir or os.path.join(DEFAULT_OUTPUT_ROOT,
                                                 run_id)
    created_dir = not os.path.exists(output_dir)
    _writable_dir(output_dir)
    try:
        return _run(opts, steps, reference, base, run_id, output_dir)
    except Exception:
        if created_dir:
            try:
                os.rmdir(output_dir)    # only if still empty
            except OSError:
                pass
        raise


def _run(opts, steps, reference, base, run_id, output_dir):
    adapter, secrets, target = open_target(opts)
    view = terminal.LiveView()
    sess = session_mod.Session(
        adapter, opts, steps, reference, run_id=run_id, secrets=secrets,
        target=target, view=view, baseline=base,
        journal_dir=opts.journal_dir,
        rehearsal_facts=target_mod.rehearsal_facts(adapter), poll=POLL,
        sleep=SLEEP)
    try:
        sess.preflight(_template_spec(opts, adapter, run_id))
        _artifact_check(opts, adapter, sess.template, sess.preflight_doc)
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
    hint = target_mod.rehearsal_hint(
        target, target_mod.rehearsal_memory(target))
    if hint:
        sys.stdout.write(hint + '\n')
    return result['exit_code']


def cmd_preflight(opts):
    steps, _reference = _steps(opts)
    adapter, secrets, target = open_target(opts)
    run_id = journal_mod.new_run_id()
    pf = preflight_mod.Preflight(
        adapter, steps, template=opts.cluster_template,
        template_spec=None if opts.cluster_template else _template_spec(
            opts, adapter, run_id),
        masters=opts.masters, keep=opts.keep,
        versions={'heat': opts.heat_version,
                  'magnum': opts.magnum_version},
        rehearsal=target_mod.rehearsal_facts(adapter))
    fatal = None
    doc = None
    try:
        doc = pf.run()
        _artifact_check(opts, adapter, pf.template, doc)
    except preflight_mod.PreflightError as e:
        doc = doc or pf.document()
        fatal = str(e)
    doc = redact.scrub(doc, secrets)
    if opts.format == 'json':
        sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True) + '\n')
    else:
        sys.stdout.write(terminal.preflight(doc))
    if fatal:
        return _fail('preflight: %s' % fatal)
    return exitcodes.OK


def cmd_budget(opts):
    try:
        res = budget.count(opts.masters, opts.workers,
                           nodegroups=opts.nodegroups,
                           labels=opts.labels or None,
                           shard_size=opts.shard_size,
                           fixed_network=opts.fixed_network or '')
    except ValueError as e:
        return _fail(str(e))
    if opts.format == 'json':
        sys.stdout.write(json.dumps(res, indent=2, sort_keys=True) + '\n')
    else:
        sys.stdout.write(budget.format_table(res).rstrip('\n') + '\n')
    return exitcodes.OK


def cmd_artifacts(opts):
    try:
        out = artifacts_cmd.run(opts.labels, opts.registry_mirror,
                                opts.format)
    except artifacts_cmd.ArtifactsError as e:
        return _fail(str(e))
    sys.stdout.write(out)
    return exitcodes.OK


def cmd_render(opts):
    try:
        out = render_cmd.run(opts.role, opts.masters, opts.workers,
                             opts.labels, opts.format)
    except render_cmd.RenderError as e:
        return _fail(str(e))
    sys.stdout.write(out)
    return exitcodes.OK


def cmd_cleanup(opts):
    jdir = opts.journal_dir
    if opts.stale:
        adapter, _secrets, target = open_target(opts)
        adapter.authenticate()
        left = cleanup_mod.sweep_stale(
            adapter, target, journal_dir=jdir, older_than=opts.older_than,
            timeout_scale=opts.timeout_scale, sleep=SLEEP, clock=CLOCK,
            report=_report_cleanup,
            warn=lambda msg: sys.stderr.write('%s: %s\n' % (PROG, msg)))
        return _left_behind(left) if left else exitcodes.OK
    journal = None
    if opts.journal:
        try:
            journal = journal_mod.Journal.read(opts.journal)
        except journal_mod.JournalError as e:
            return _fail(str(e))
        run_id = journal.run_id
        journal = journal_mod.Journal(opts.journal, run_id)
    else:
        run_id = opts.run_id
        path = journal_mod.path_for(run_id, jdir)
        if os.path.exists(path):
            journal = journal_mod.Journal(path, run_id)
    if journal is not None and journal.is_active() and \
            journal.header.get('pid') != os.getpid():
        return _fail('run %s is still running (pid %s); stop it first '
                     '(Ctrl-C cleans up)' % (run_id,
                                             journal.header.get('pid')))
    adapter, _secrets, _target = open_target(
        opts, journal_target=journal.target if journal else None)
    adapter.authenticate()
    res = cleanup_mod.Cleaner(
        adapter, journal=journal, prefix=journal_mod.name_prefix(run_id),
        timeout_scale=opts.timeout_scale, sleep=SLEEP,
        clock=CLOCK,
        progress=lambda m: sys.stderr.write(m + '\n')).run()
    _report_cleanup(run_id, res)
    if journal is not None:
        if not res.leftovers:
            journal.end()
        journal.close()
    if res.leftovers:
        return _left_behind(len(res.leftovers))
    # The run's kubeconfigs (client keys of its clusters) go too.
    shutil.rmtree(ladder_mod.default_workdir(run_id), ignore_errors=True)
    sys.stdout.write('run %s: nothing left\n' % run_id)
    return exitcodes.OK


def cmd_report(opts):
    doc = jsonfmt.load(opts.result)
    if opts.output_dir:
        paths = report_mod.write_all(doc, opts.output_dir)
        sys.stdout.write('reports: %s\n' % ', '.join(
            paths[k] for k in ('html', 'json', 'junit')))
    sys.stdout.write(terminal.summary(doc))
    return exitcodes.OK


def cmd_compare(opts):
    base = jsonfmt.load(opts.baseline)
    cur = jsonfmt.load(opts.current)
    res = baseline_mod.compare(cur, base)
    if opts.format == 'json':
        sys.stdout.write(json.dumps(res, indent=2, sort_keys=True) + '\n')
    if not res['comparable']:
        return _fail('runs not comparable: %s' % '; '.join(res['reasons']))
    if opts.format == 'text':
        sys.stdout.write(terminal.comparison(res))
    if res['regressions']:
        return exitcodes.REGRESSION
    return exitcodes.OK


# -- main --------------------------------------------------------------------

def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        parser = build_parser()
        args = parser.parse_args(with_default_command(argv, parser))
        opts = options_mod.RunOptions.from_namespace(args)
        # Libraries (keystoneauth, openstacksdk) warn on stderr about what
        # our own one-line errors already say: quiet unless -v.
        logging.basicConfig(
            level=logging.DEBUG if opts.verbose else logging.ERROR,
            format='%(levelname)s %(name)s: %(message)s')
        func = vars(args).get('func')
        if func is None:
            parser.print_help()
            return exitcodes.ERROR
        if opts.command == 'rehearsal':
            return func(args)
        return func(opts)
    except (UsageError, plan_mod.PlanError, jsonfmt.ReportError,
            cloud_mod.CloudError, journal_mod.JournalError,
            preflight_mod.PreflightError) as e:
        return _fail(str(e))
    except KeyboardInterrupt:
        sys.stderr.write('%s: interrupted\n' % PROG)
        return exitcodes.ERROR


if __name__ == '__main__':
    sys.exit(main())
