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
"""One self-test run from start to end: the glue between the phases.

preflight -> (template) -> ladder -> load phase -> cleanup -> baseline ->
checks, exit code, reports. Signals: the first SIGINT/SIGTERM stops
creating and deletes everything; a second one exits at once and prints
the cleanup command.
"""

import datetime
import logging
import os
import shlex
import shutil
import signal
import sys
import threading
import time

from magnum_cern_driver.selftest import baseline as baseline_mod
from magnum_cern_driver.selftest import cleanup as cleanup_mod
from magnum_cern_driver.selftest import cloud as cloud_mod
from magnum_cern_driver.selftest import exitcodes
from magnum_cern_driver.selftest import journal as journal_mod
from magnum_cern_driver.selftest import ladder as ladder_mod
from magnum_cern_driver.selftest.load import phase as load_phase
from magnum_cern_driver.selftest import preflight as preflight_mod
from magnum_cern_driver.selftest import report as report_mod
from magnum_cern_driver.selftest.report import jsonfmt

TOOL = 'magnum-cern-selftest'
LOG = logging.getLogger(__name__)


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(
        microsecond=0).isoformat()


def tool_version():
    return preflight_mod._local_version('magnum-cern-driver')


def cleanup_command(run_id, target=None, journal_dir=None):
    """The command that removes what run ``run_id`` left behind.

    It names the target and, when the run kept its journal somewhere else
    than the default, the journal directory, so it works as printed.
    """
    target = target or {}
    cloud = ''
    if target.get('kind') in ('cloud',) and target.get('name'):
        cloud = ' --os-cloud %s' % shlex.quote(target['name'])
    if target.get('kind') == 'rehearsal' and target.get('state_dir'):
        cloud = ' --rehearsal-state-dir %s' % shlex.quote(
            target['state_dir'])
    where = ''
    if journal_dir:
        where = ' --journal-dir %s' % shlex.quote(journal_dir)
    return '%s%s cleanup --run-id %s%s' % (TOOL, cloud, run_id, where)


class SignalGuard(object):
    """Signal handling of a run.

    First signal: set ``stop``. Second: print the cleanup command and exit
    at once (``exit_now``, os._exit by default).
    """

    def __init__(self, command, stream=None, exit_now=None,
                 signals=(signal.SIGINT, signal.SIGTERM)):
        self.stop = threading.Event()
        self.command = command
        self.stream = stream or sys.stderr
        self.exit_now = exit_now or os._exit
        self.signals = signals
        self.count = 0
        self._old = {}
        # While a phase that cannot watch ``stop`` runs (the load phase),
        # the first signal also raises KeyboardInterrupt in it; it cleans
        # up after itself on that.
        self.raise_on_signal = False

    def handle(self, signum, frame=None):
        self.count += 1
        if self.count == 1:
            self.stream.write(
                '\n%s: signal %d: no more creates; deleting everything this '
                'run created (signal again to exit at once)\n'
                % (TOOL, signum))
            self.stream.flush()
            self.stop.set()
            if self.raise_on_signal:
                raise KeyboardInterrupt()
            return
        self.stream.write('\n%s: interrupted twice; exiting without '
                          'cleanup. Remove what is left with:\n  %s\n'
                          % (TOOL, self.command))
        self.stream.flush()
        self.exit_now(exitcodes.LEFTOVERS)

    def install(self):
        for sig in self.signals:
            self._old[sig] = signal.signal(sig, self.handle)
        return self

    def restore(self):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old = {}


def template_spec(options, run_id, image_id):
    """The cluster template a run creates when none is given.

    :param options: :class:`.options.RunOptions`.
    """
    o = options
    labels = dict(o.labels or {})
    spec = {'name': '%stemplate' % journal_mod.name_prefix(run_id),
            'coe': cloud_mod.COE, 'image_id': image_id,
            'driver': cloud_mod.DRIVER_NAME, 'server_type': 'vm',
            'network_driver': o.network_driver, 'labels': labels,
            'public': False, 'master_lb_enabled': bool(o.master_lb),
            'floating_ip_enabled': bool(o.external_network)}
    for key, value in (('flavor_id', o.flavor),
                       ('master_flavor_id', o.master_flavor),
                       ('keypair_id', o.keypair),
                       ('external_network_id', o.external_network),
                       ('docker_volume_size', o.docker_volume_size),
                       ('fixed_network', o.fixed_network),
                       ('fixed_subnet', o.fixed_subnet)):
        if value:
            spec[key] = value
    return spec


def _check(phase, name, status, message='', time_s=0.0, kind=None,
           classname=None):
    return {'phase': phase, 'name': name, 'status': status,
            'message': message or '', 'time': round(time_s or 0.0, 3),
            'kind': kind, 'classname': classname or '%s.%s' % (
                TOOL, phase)}


def build_checks(result):
    """One check per JUnit testcase, derived from the result (pure)."""
    checks = []
    pre = result.get('preflight') or {}
    for c in pre.get('checks') or []:
        if c.get('skipped'):
            status = 'skipped'
        elif c.get('ok') or c.get('severity') != 'error':
            status = 'pass'
        else:
            status = 'fail'
        msg = c.get('message') or ''
        if not c.get('ok') and c.get('severity') == 'warning':
            msg = 'warning: ' + msg
        checks.append(_check('preflight', 'preflight.%s' % c['name'],
                             status, msg))
    for s in result.get('sizes') or []:
        verdict = s.get('status')
        status = {'pass': 'pass', 'skipped': 'skipped',
                  'interrupted': 'error'}.get(verdict, 'fail')
        dur = (s.get('ended_at') or 0) - (s.get('started_at') or 0)
        checks.append(_check('ladder', 'ladder.size_%04d' % s['size'],
                             status, '%s: %s' % (verdict, s.get('reason')),
                             dur, kind=verdict))
        for r in s.get('results') or []:
            outcome = r.get('outcome')
            cstatus = {'pass': 'pass', 'interrupted': 'error'}.get(
                outcome, 'fail')
            msg = 'status %s' % r.get('status')
            if r.get('create_seconds') is not None:
                msg += ', CREATE_COMPLETE after %.1f min (target %.1f)' % (
                    r['create_seconds'] / 60.0, s.get('target_minutes'))
            if r.get('status_reason'):
                msg += ': %s' % r['status_reason']
            checks.append(_check(
                'ladder', 'ladder.size_%04d.%s' % (s['size'], r['name']),
                cstatus, msg, r.get('create_seconds') or 0, kind=outcome))
            if r.get('ready_skipped'):
                checks.append(_check(
                    'ladder', 'ladder.size_%04d.%s.nodes_ready' % (
                        s['size'], r['name']), 'skipped',
                    r['ready_skipped']))
            elif r.get('ready_seconds') is not None:
                checks.append(_check(
                    'ladder', 'ladder.size_%04d.%s.nodes_ready' % (
                        s['size'], r['name']), 'pass',
                    'all nodes Ready after %.1f min' % (
                        r['ready_seconds'] / 60.0)))
    load = result.get('load')
    if load:
        verdict = load.get('verdict')
        status = {'pass': 'pass', 'fail': 'fail'}.get(verdict, 'skipped')
        checks.append(_check('load', 'load.verdict', status, '%s: %s' % (
            verdict, load.get('reason'))))
        for c in load.get('checks') or []:
            checks.append(_check('load', 'load.%s' % c['name'],
                                 'pass' if c.get('ok') else 'fail',
                                 c.get('message')))
    base = result.get('baseline')
    if base:
        if not base.get('comparable'):
            checks.append(_check('baseline', 'baseline.comparable',
                                 'skipped', 'not comparable: %s' % '; '.join(
                                     base.get('reasons') or [])))
        else:
            checks.append(_check('baseline', 'baseline.comparable', 'pass',
                                 'baseline %s' % base.get(
                                     'baseline_run_id')))
            for entry in base.get('sizes') or []:
                for row in entry.get('rows') or []:
                    checks.append(_check(
                        'baseline', 'baseline.size_%04d.%s' % (
                            entry['size'], row['metric']),
                        'fail' if row['regression'] else 'pass',
                        'baseline %s, now %s %s (ratio %s; regression if '
                        '> x%s and > %s %s worse)' % (
                            row['baseline'], row['current'], row['unit'],
                            row['ratio'], row['ratio_threshold'],
                            row['floor'], row['unit'])))
                if entry.get('note') and entry['note'].startswith('built'):
                    checks.append(_check(
                        'baseline', 'baseline.size_%04d.built' %
                        entry['size'], 'fail', entry['note']))
            for row in base.get('load') or []:
                checks.append(_check(
                    'baseline', 'baseline.load.%s' % row['metric'],
                    'fail' if row['regression'] else 'pass',
                    'baseline %s, now %s %s' % (row['baseline'],
                                                row['current'],
                                                row['unit'])))
    clean = result.get('cleanup')
    if clean is not None:
        left = clean.get('leftovers') or []
        checks.append(_check(
            'cleanup', 'cleanup.nothing_left_behind',
            'fail' if left else 'pass',
            ('%d left: %s; run: %s' % (len(left), ', '.join(
                '%s %s' % (x['kind'], x.get('name') or x.get('id'))
                for x in left), clean.get('command'))) if left else
            '%d resources deleted%s' % (
                len(clean.get('deleted') or []),
                '; kept on request: %s' % ', '.join(
                    k.get('name') or '' for k in clean['kept'])
                if clean.get('kept') else '')))
    return checks


def exit_code(result):
    """The exit code of a result document (pure)."""
    codes = []
    if result.get('error'):
        codes.append(exitcodes.ERROR)
    for s in result.get('sizes') or []:
        codes.append({'fail': exitcodes.ERROR,
                      'interrupted': exitcodes.ERROR,
                      'timeout': exitcodes.TIMEOUT,
                      # Heat made no progress: the run would have timed
                      # out, only sooner and with the stuck resources.
                      'stalled': exitcodes.TIMEOUT,
                      'target missed': exitcodes.TARGET_MISSED}.get(
                          s.get('status')))
    if result.get('interrupted'):
        codes.append(exitcodes.ERROR)
    load = result.get('load') or {}
    if load.get('verdict') == 'fail':
        codes.append(exitcodes.TARGET_MISSED)
    if load.get('error'):
        codes.append(exitcodes.ERROR)
    base = result.get('baseline') or {}
    if base.get('regressions'):
        codes.append(exitcodes.REGRESSION)
    if (result.get('cleanup') or {}).get('leftovers'):
        codes.append(exitcodes.LEFTOVERS)
    return exitcodes.combine(*codes)


def finish(result):
    """Fill checks, exit code and outcome (pure)."""
    result['checks'] = build_checks(result)
    code = exit_code(result)
    result['exit_code'] = code
    result['outcome'] = exitcodes.NAMES[code]
    return result


class Session(object):
    """A run of the self-test.

    :param cloud: the adapter (already connected; or a fake).
    :param options: :class:`.options.RunOptions`.
    :param steps: the plan.
    :param reference: plan.Reference used.
    """

    def __init__(self, cloud, options, steps, reference, run_id=None,
                 secrets=(), target=None, guard=None, view=None,
                 baseline=None, out=None, clock=time.monotonic,
                 journal_dir=None, rehearsal_facts=None, load_runner=None,
                 poll=(2.0, 30.0), sleep=time.sleep):
        self.cloud = cloud
        self.options = options
        self.steps = steps
        self.reference = reference
        self.run_id = run_id or journal_mod.new_run_id()
        self.secrets = list(secrets)
        self.target = target or {'kind': cloud.kind, 'name': cloud.name}
        self.journal_dir = journal_dir
        self.guard = guard or SignalGuard(self.cleanup_command())
        self.view = view
        self.baseline = baseline
        self.out = out or sys.stderr
        self.clock = clock
        self.sleep = sleep
        self.rehearsal_facts = rehearsal_facts
        self.load_runner = load_runner
        self.poll = poll
        self.prefix = journal_mod.name_prefix(self.run_id)
        self.result = None

    def cleanup_command(self):
        return cleanup_command(self.run_id, self.target, self.journal_dir)

    def say(self, text):
        if self.view is not None:
            self.view.message(text)
        else:
            self.out.write(text + '\n')

    def new_result(self):
        return {
            'schema': jsonfmt.SCHEMA_ID,
            'schema_version': jsonfmt.SCHEMA_VERSION,
            'tool_version': tool_version(), 'run_id': self.run_id,
            'started_at': utcnow(), 'finished_at': None,
            'target': dict(self.target),
            'options': self.options.recorded(),
            'reference': self.reference.as_dict(),
            'plan': [s.as_dict() for s in self.steps],
            'preflight': None, 'fingerprint': None, 'sizes': [],
            'load': None, 'baseline': None, 'cleanup': None,
            'journal': None, 'checks': [], 'exit_code': None,
            'outcome': None, 'error': None, 'interrupted': False,
        }

    # -- phases ---------------------------------------------------------------
    def preflight(self, template_spec_fn=None):
        o = self.options
        spec = None
        if not o.cluster_template:
            spec = template_spec_fn
        pf = preflight_mod.Preflight(
            self.cloud, self.steps, template=o.cluster_template,
            template_spec=spec, masters=o.masters, keep=o.keep,
            versions={'heat': o.heat_version, 'magnum': o.magnum_version},
            rehearsal=self.rehearsal_facts)
        try:
            doc = pf.run()
        except preflight_mod.PreflightError:
            self.preflight_doc = pf.document()
            raise
        self.preflight_doc = doc
        self.template = pf.template
        return doc

    def _create_template(self, journal):
        spec = dict(self.template)
        journal.record('template', spec['name'], {})
        created = self.cloud.create_template(spec)
        journal.record('template', spec['name'],
                       {'uuid': created.get('uuid')})
        self.template = created
        return created['uuid']

    def _load_phase(self, kept, journal):
        o = self.options
        if o.skip_load:
            return {'verdict': 'skipped', 'reason': '--skip-load',
                    'steps': [], 'checks': []}
        if kept is None:
            return {'verdict': 'skipped', 'reason': 'no healthy cluster of '
                    'the largest size', 'steps': [], 'checks': []}
        if self.guard.stop.is_set():
            return {'verdict': 'skipped', 'reason': 'interrupted',
                    'steps': [], 'checks': []}
        run = self.load_runner or load_phase.run
        options = {'run_id': self.run_id, 'cluster': kept.get('name'),
                   'nodes': kept.get('size')}
        if o.load_target_rps:
            options['target_rps'] = o.load_target_rps
        if self.cloud.hollow:
            kind = 'local'
        else:
            kind = 'kubernetes'
            try:
                info = self.cloud.get_cluster(kept['uuid']) or {}
                options['kubeconfig'] = self.cloud.write_kubeconfig(
                    info, self.workdir)
            except cloud_mod.CloudError as e:
                return {'verdict': 'fail', 'reason': 'no kubeconfig: %s' % e,
                        'steps': [], 'checks': [], 'error': str(e)}
        self.say('load phase (%s) on %s' % (kind, kept.get('name')))
        self.guard.raise_on_signal = True
        try:
            if self.guard.stop.is_set():
                raise KeyboardInterrupt()
            return run(kind, options, journal=journal,
                       progress=self.view or self.say)
        except KeyboardInterrupt:
            self.guard.stop.set()
            return {'verdict': 'skipped', 'reason': 'interrupted',
                    'steps': [], 'checks': []}
        except Exception as e:
            LOG.debug('load phase failed', exc_info=True)
            return {'verdict': 'fail', 'reason': 'load phase error: %s'
                    % cloud_mod.one_line(e), 'steps': [], 'checks': [],
                    'error': cloud_mod.one_line(e)}
        finally:
            self.guard.raise_on_signal = False

    def _cleanup(self, journal):
        result = cleanup_mod.Cleaner(
            self.cloud, journal=journal, prefix=self.prefix,
            timeout_scale=self.options.timeout_scale, clock=self.clock,
            sleep=self.sleep, progress=self.say).run()
        return result

    # -- the run --------------------------------------------------------------
    def run(self, journal=None):
        """Run everything after a successful preflight; returns result."""
        o = self.options
        result = self.new_result()
        self.result = result
        result['preflight'] = self.preflight_doc
        result['fingerprint'] = (self.preflight_doc or {}).get('fingerprint')
        self.workdir = ladder_mod.default_workdir(self.run_id)
        if journal is None:
            journal = journal_mod.Journal(
                journal_mod.path_for(self.run_id, self.journal_dir),
                self.run_id, target=self.target)
        result['journal'] = journal.path
        command = self.cleanup_command()
        ladder = None
        try:
            if o.cluster_template:
                template_id = self.template.get('uuid')
            else:
                template_id = self._create_template(journal)
            ladder = ladder_mod.Ladder(
                self.cloud, journal, self.steps, template_id, self.run_id,
                masters=o.masters, timeout_scale=o.timeout_scale,
                continue_on_failure=o.continue_on_failure, keep=o.keep,
                keep_for_load=not o.skip_load,
                stop=self.guard.stop, view=self.view, clock=self.clock,
                sleep=self.sleep,
                min_poll=self.poll[0], max_poll=self.poll[1],
                workdir=self.workdir)
            out = ladder.run()
            result['sizes'] = out['sizes']
            result['load'] = self._load_phase(out['kept'], journal)
        except cloud_mod.CloudError as e:
            result['error'] = str(e)
            self.say('error: %s' % e)
        except KeyboardInterrupt:
            self.guard.stop.set()
        except Exception as e:
            # A bug must not leave clusters behind: record it, clean up.
            LOG.error('internal error, cleaning up', exc_info=True)
            result['error'] = 'internal error: %s' % cloud_mod.one_line(e)
            self.say(result['error'])
        result['interrupted'] = self.guard.stop.is_set()
        deleted = list(ladder.deleted) if ladder else []
        leftovers = list(ladder.leftovers) if ladder else []
        kept = []
        if o.keep and not self.guard.stop.is_set():
            kept = [e.as_dict() for e in journal.pending()]
            self.say('kept on request: %d resource(s); remove with: %s'
                     % (len(kept), command))
        else:
            self.say('cleanup: deleting everything of run %s'
                     % self.run_id)
            try:
                res = self._cleanup(journal)
                deleted += res.deleted
                leftovers = res.leftovers
                if res.errors:
                    self.say('cleanup errors: %s' % '; '.join(
                        res.errors[:3]))
            except Exception as e:
                LOG.debug('cleanup failed', exc_info=True)
                leftovers = [{'kind': e_.kind, 'name': e_.name,
                              'id': e_.meta.get('uuid'),
                              'status': 'unknown',
                              'reason': 'cleanup failed: %s'
                              % cloud_mod.one_line(e)}
                             for e_ in journal.pending()]
        result['cleanup'] = {'deleted': deleted, 'leftovers': leftovers,
                             'kept': kept, 'command': command}
        if not leftovers and not kept:
            journal.end()
            shutil.rmtree(self.workdir, ignore_errors=True)
        journal.close()
        if self.baseline is not None:
            result['baseline'] = baseline_mod.compare(result, self.baseline)
            result['baseline']['deploy_minutes'] = \
                baseline_mod.baseline_deploy_minutes(self.baseline)
        result['finished_at'] = utcnow()
        return finish(result)

    def write_reports(self, output_dir):
        paths = report_mod.write_all(self.result, output_dir, self.secrets)
        return paths
