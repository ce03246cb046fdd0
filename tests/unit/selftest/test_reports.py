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
"""Reports: JSON (versioned), JUnit XML, offline HTML, terminal; secrets."""

import io
import json
import os
import re
from xml.etree import ElementTree

import fixtures
import testtools

from magnum_cern_driver.selftest import exitcodes
from magnum_cern_driver.selftest import options as options_mod
from magnum_cern_driver.selftest import plan as plan_mod
from magnum_cern_driver.selftest import report
from magnum_cern_driver.selftest.report import html
from magnum_cern_driver.selftest.report import jsonfmt
from magnum_cern_driver.selftest.report import junit
from magnum_cern_driver.selftest.report import redact
from magnum_cern_driver.selftest.report import terminal
from magnum_cern_driver.selftest import session as session_mod
from tests.unit.selftest import fakes

RUN_ID = 'r2611220300-abcd'
SECRET = 'S3cr3t-Passw0rd-xyz'


def make_result(tmp, baseline=None, fail=False, max_nodes=16,
                load=None):
    clock = fakes.FakeClock()
    cloud = fakes.FakeCloud(clock)
    if fail:
        cloud.fail_names.add('mcst-%s-s0016-01' % RUN_ID)
        # A reason that leaks the secret must not reach any report.
        cloud.fail_names.add('mcst-%s-s0016-02' % RUN_ID)
    opts = options_mod.RunOptions(
        max_nodes=max_nodes, skip_load=load is None,
        labels={'registry_mirror': 'example.org'})
    steps = plan_mod.build(max_nodes)
    guard = session_mod.SignalGuard('cmd', stream=io.StringIO())
    guard.stop = fakes.FakeEvent(clock)
    sess = session_mod.Session(
        cloud, opts, steps, plan_mod.load_reference(), run_id=RUN_ID,
        guard=guard, out=io.StringIO(), clock=clock, sleep=clock.sleep,
        journal_dir=tmp, baseline=baseline, secrets=[SECRET],
        load_runner=load)
    sess.preflight(lambda: session_mod.template_spec(opts, RUN_ID, 'img-1'))
    result = sess.run()
    return sess, result


class TestReports(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.sess, self.result = make_result(self.tmp)
        self.out = os.path.join(self.tmp, 'out')
        self.paths = self.sess.write_reports(self.out)

    def read(self, kind):
        with open(self.paths[kind]) as f:
            return f.read()

    def test_all_files_written(self):
        self.assertEqual({'json', 'junit', 'html'}, set(self.paths))
        for path in self.paths.values():
            self.assertGreater(os.path.getsize(path), 0)

    def test_json_is_versioned_with_raw_samples(self):
        doc = jsonfmt.load(self.paths['json'])
        self.assertEqual(jsonfmt.SCHEMA_ID, doc['schema'])
        self.assertEqual(jsonfmt.SCHEMA_VERSION, doc['schema_version'])
        self.assertEqual(RUN_ID, doc['run_id'])
        cluster = doc['sizes'][0]['results'][0]
        self.assertTrue(cluster['samples'])
        self.assertEqual(2, len(cluster['samples'][0]))
        self.assertIn('accept_ms', cluster)
        self.assertEqual(exitcodes.OK, doc['exit_code'])
        self.assertEqual('27.0.1', doc['fingerprint']['versions']['heat'])

    def test_json_schema_checks(self):
        bad = os.path.join(self.tmp, 'bad.json')
        for content in ('not json', json.dumps({'schema': 'other'}),
                        json.dumps({'schema': jsonfmt.SCHEMA_ID,
                                    'schema_version': '2.0'}),
                        json.dumps({'schema': jsonfmt.SCHEMA_ID,
                                    'schema_version': '1.3'})):
            with open(bad, 'w') as f:
                f.write(content)
            self.assertRaises(jsonfmt.ReportError, jsonfmt.load, bad)
        self.assertRaises(jsonfmt.ReportError, jsonfmt.load,
                          os.path.join(self.tmp, 'missing.json'))

    def test_junit_parses_with_a_testcase_per_check(self):
        root = ElementTree.fromstring(self.read('junit'))
        cases = root.findall('.//testcase')
        self.assertEqual(len(self.result['checks']), len(cases))
        self.assertEqual(str(len(cases)), root.get('tests'))
        names = [c.get('name') for c in cases]
        self.assertIn('ladder.size_0016', names)
        self.assertIn('cleanup.nothing_left_behind', names)
        self.assertIn('preflight.credentials', names)
        suites = [s.get('name') for s in root.findall('testsuite')]
        self.assertEqual(['preflight', 'ladder', 'load', 'cleanup'], suites)
        skipped = root.findall('.//skipped')
        self.assertTrue(any('hollow' in s.get('message') for s in skipped))

    def test_html_is_offline_with_svg_plots(self):
        text = self.read('html')
        self.assertEqual(2, text.count('<svg '))
        self.assertIn('deploy time against cluster size', text)
        self.assertIn('per-cluster status timeline', text)
        self.assertNotIn('<script', text)
        self.assertNotIn('<link', text)
        self.assertNotIn('@import', text)
        self.assertNotIn('url(', text)
        self.assertIsNone(re.search(r'<[^>]*(src|href)\s*=', text))
        self.assertIsNone(re.search(r'<[^>]*https?://', text))

    def test_svg_plots_are_well_formed_and_inside_their_box(self):
        text = self.read('html')
        for svg in re.findall(r'<svg .*?</svg>', text, re.S):
            root = ElementTree.fromstring(svg)
            width = float(root.get('width'))
            height = float(root.get('height'))
            circles = root.findall('.//circle')
            rects = root.findall('.//rect')
            self.assertTrue(circles or rects)
            for c in circles:
                self.assertTrue(0 <= float(c.get('cx')) <= width)
                self.assertTrue(0 <= float(c.get('cy')) <= height)
            for r in rects:
                self.assertTrue(0 <= float(r.get('x')) <= width)
                self.assertLessEqual(float(r.get('x')) +
                                     float(r.get('width')), width + 1)

    def test_no_secret_in_any_report(self):
        for kind in self.paths:
            self.assertNotIn(SECRET, self.read(kind))

    def test_terminal_summary(self):
        text = terminal.summary(self.result)
        self.assertIn('run %s: ok (exit 0)' % RUN_ID, text)
        self.assertIn('    16', text)

    def test_report_roundtrip_from_saved_json(self):
        doc = jsonfmt.load(self.paths['json'])
        again = report.write_all(doc, os.path.join(self.tmp, 'again'))
        with open(again['html']) as f:
            self.assertIn('<svg ', f.read())


class TestFailuresAndBaseline(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path

    def test_failed_size_in_junit_and_exit_code(self):
        _sess, result = make_result(self.tmp, fail=True)
        self.assertEqual(exitcodes.ERROR, result['exit_code'])
        root = ElementTree.fromstring(junit.render(result))
        failed = [c.get('name') for c in root.findall('.//testcase')
                  if c.find('failure') is not None]
        self.assertIn('ladder.size_0016', failed)
        self.assertIn('ladder.size_0016.mcst-%s-s0016-01' % RUN_ID, failed)
        # The size and its two failed clusters.
        self.assertEqual('3', root.find("testsuite[@name='ladder']").get(
            'failures'))

    def test_regression_reported_apart_with_exit_4(self):
        _sess, base = make_result(self.tmp)
        for s in base['sizes']:
            s['summary']['median_minutes'] = 0.2
        _sess, result = make_result(self.tmp, baseline=base)
        self.assertTrue(result['baseline']['comparable'])
        self.assertTrue(result['baseline']['regressions'])
        self.assertEqual(exitcodes.REGRESSION, result['exit_code'])
        self.assertIn('baseline median', html.render(result))
        self.assertEqual({2: 0.2, 16: 0.2},
                         result['baseline']['deploy_minutes'])
        names = [c['name'] for c in result['checks']
                 if c['status'] == 'fail']
        self.assertIn('baseline.size_0016.deploy_minutes', names)
        self.assertNotIn('ladder.size_0016', names)

    def test_load_phase_in_all_reports(self):
        def fake_load(kind, options, journal=None, progress=None):
            self.assertEqual('local', kind)
            self.assertEqual(RUN_ID, options['run_id'])
            journal.record('process', 'nginx', {'pid': None})
            journal.forget('process', 'nginx')
            return {'verdict': 'not validated', 'reason': 'rig too small',
                    'steps': [{'target_rps': 1000, 'achieved_rps': 990.0,
                               'success_ratio': 1.0, 'p50_ms': 1.0,
                               'p90_ms': 2.0, 'p99_ms': 3.0, 'bots': 2,
                               'valid': True, 'reason': ''}],
                    'checks': [{'name': 'pod_startup', 'ok': True,
                                'message': 'skipped on hollow nodes'}],
                    'tool': 'vegeta', 'raw': {}}
        sess, result = make_result(self.tmp, load=fake_load)
        self.assertEqual('not validated', result['load']['verdict'])
        paths = sess.write_reports(os.path.join(self.tmp, 'o'))
        with open(paths['html']) as f:
            self.assertIn('HTTP load', f.read())
        with open(paths['junit']) as f:
            self.assertIn('load.pod_startup', f.read())
        with open(paths['json']) as f:
            self.assertEqual(990.0, json.load(f)['load']['steps'][0][
                'achieved_rps'])
        self.assertIn('load:', terminal.summary(result))
        self.assertEqual(exitcodes.OK, result['exit_code'])


class TestRedact(testtools.TestCase):
    def test_secret_keys_and_values(self):
        doc = {'auth': {'password': 'pw-1234', 'username': 'bob'},
               'application_credential_secret': 'acs-9999',
               'note': 'failed with pw-1234 in it',
               'url': 'https://bob:hunter22@example.org/v3',
               'keypair': 'default', 'stack_id': 'abc',
               'nested': [{'token': 'tok-5678'}]}
        out = redact.scrub(doc, redact.secrets_of(doc))
        text = json.dumps(out)
        for secret in ('pw-1234', 'acs-9999', 'tok-5678', 'hunter22'):
            self.assertNotIn(secret, text)
        self.assertEqual('bob', out['auth']['username'])
        self.assertEqual('default', out['keypair'])
        self.assertEqual('abc', out['stack_id'])
        self.assertEqual('failed with *** in it', out['note'])

    def test_report_writer_scrubs_secret_values_everywhere(self):
        tmp = self.useFixture(fixtures.TempDir()).path
        _sess, result = make_result(tmp)
        result['sizes'][0]['reason'] = 'boom: password %s' % SECRET
        result['options']['os_password'] = SECRET
        result['error'] = 'https://admin:%s@keystone/v3 refused' % SECRET
        paths = report.write_all(result, os.path.join(tmp, 'r'), [SECRET])
        for path in paths.values():
            with open(path) as f:
                self.assertNotIn(SECRET, f.read())


class TestLiveView(testtools.TestCase):
    def _run(self, tty):
        from magnum_cern_driver.selftest import journal as journal_mod
        from magnum_cern_driver.selftest import ladder as ladder_mod
        tmp = self.useFixture(fixtures.TempDir()).path
        clock = fakes.FakeClock()
        stream = io.StringIO()
        view = terminal.LiveView(stream=stream, tty=tty, clock=clock,
                                 min_redraw=0)
        journal = journal_mod.Journal(os.path.join(tmp, 'j'), RUN_ID)
        self.addCleanup(journal.close)
        ladder_mod.Ladder(fakes.FakeCloud(clock), journal,
                          plan_mod.build(16, concurrency=2), 't', RUN_ID,
                          stop=fakes.FakeEvent(clock), view=view,
                          clock=clock, sleep=clock.sleep).run()
        return stream.getvalue()

    def test_terminal_redraws_in_place(self):
        text = self._run(tty=True)
        self.assertIn('\x1b[', text)
        self.assertIn('== size 16: PASS', text)
        self.assertIn('/ 04:00 [', text)

    def test_log_mode_prints_changes_only(self):
        text = self._run(tty=False)
        self.assertNotIn('\x1b[', text)
        name = 'mcst-%s-s0002-00' % RUN_ID
        lines = [ln for ln in text.splitlines() if name in ln]
        self.assertEqual(['REQUESTED', 'CREATE_IN_PROGRESS',
                          'CREATE_COMPLETE'],
                         [ln.split()[2] for ln in lines])


class TestStalledRun(testtools.TestCase):
    """A stalled cluster: verdict, early end, exit 2, cleanup, reports."""

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        clock = fakes.FakeClock()
        self.cloud = fakes.FakeCloud(clock)
        # Every cluster of the first size (50 of 2 nodes) stalls.
        self.stuck = 'mcst-%s-s0002-00' % RUN_ID
        self.text = self.cloud.stall(self.stuck, since=30)
        for i in range(1, 50):
            self.cloud.stall('mcst-%s-s0002-%02d' % (RUN_ID, i), since=40)
        opts = options_mod.RunOptions(max_nodes=16, skip_load=True)
        guard = session_mod.SignalGuard('cmd', stream=io.StringIO())
        guard.stop = fakes.FakeEvent(clock)
        self.sess = session_mod.Session(
            self.cloud, opts, plan_mod.build(16), plan_mod.load_reference(),
            run_id=RUN_ID, guard=guard, out=io.StringIO(), clock=clock,
            sleep=clock.sleep, journal_dir=self.tmp)
        self.sess.preflight(
            lambda: session_mod.template_spec(opts, RUN_ID, 'img-1'))
        self.result = self.sess.run()
        self.paths = self.sess.write_reports(os.path.join(self.tmp, 'out'))

    def read(self, kind):
        with open(self.paths[kind]) as f:
            return f.read()

    def test_verdict_exit_code_and_early_end(self):
        self.assertEqual(exitcodes.TIMEOUT, self.result['exit_code'])
        self.assertEqual('timeout', self.result['outcome'])
        first, second = self.result['sizes']
        self.assertEqual('stalled', first['status'])
        self.assertEqual('skipped', second['status'])
        # Well before the size's timeout (at least 10 minutes).
        self.assertLess(first['ended_at'], 60)
        stalled = [r for r in first['results'] if r['name'] == self.stuck]
        self.assertEqual('stalled', stalled[0]['outcome'])
        self.assertEqual(self.text, stalled[0]['status_reason'])

    def test_cleanup_deletes_the_stalled_cluster(self):
        self.assertTrue(self.cloud.empty(), self.cloud.everything())
        clean = self.result['cleanup']
        self.assertEqual([], clean['leftovers'])
        self.assertIn(self.stuck, [d['name'] for d in clean['deleted']])
        self.assertIn(('delete_cluster', next(
            r['uuid'] for r in self.result['sizes'][0]['results']
            if r['name'] == self.stuck)), self.cloud.calls)

    def test_stuck_resources_in_every_report(self):
        stuck = 'worker-shard-0 (OS::Heat::ResourceGroup)'
        doc = json.loads(self.read('json'))
        self.assertEqual('stalled', doc['sizes'][0]['status'])
        self.assertIn(stuck, doc['sizes'][0]['reason'])
        text = terminal.summary(self.result)
        self.assertIn('stalled', text)
        self.assertIn(stuck, text)
        page = self.read('html')
        self.assertIn('>stalled</span>', page)
        self.assertIn(html.esc(stuck), page)
        root = ElementTree.fromstring(self.read('junit'))
        failed = {c.get('name'): c.find('failure') for c in
                  root.findall('.//testcase')
                  if c.find('failure') is not None}
        self.assertIn('ladder.size_0002.%s' % self.stuck, failed)
        self.assertIn(stuck, failed['ladder.size_0002.%s' % self.stuck]
                      .get('message'))

    def test_live_view_says_what_is_stuck(self):
        out = io.StringIO()
        view = terminal.LiveView(stream=out, tty=False)
        clock = fakes.FakeClock()
        cloud = fakes.FakeCloud(clock)
        cloud.stall(self.stuck, since=30)
        from magnum_cern_driver.selftest import journal as journal_mod
        from magnum_cern_driver.selftest import ladder as ladder_mod
        journal = journal_mod.Journal(os.path.join(self.tmp, 'j2'), RUN_ID)
        self.addCleanup(journal.close)
        ladder_mod.Ladder(cloud, journal, plan_mod.build(2), 'tmpl-1',
                          RUN_ID, view=view, clock=clock, sleep=clock.sleep,
                          stop=fakes.FakeEvent(clock)).run()
        self.assertIn('%s: Stalled: ' % self.stuck, out.getvalue())
        self.assertIn('STALLED: 1 of 50 clusters stalled', out.getvalue())
