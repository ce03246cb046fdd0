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
"""Fleets: the CNCF reference, --fleet, concurrent creates and deletes."""

import io
import os
import threading
import time

import fixtures
import testtools

from magnum_cern_driver import budget
from magnum_cern_driver.selftest import cleanup as cleanup_mod
from magnum_cern_driver.selftest import fleet as fleet_mod
from magnum_cern_driver.selftest import journal as journal_mod
from magnum_cern_driver.selftest import ladder as ladder_mod
from magnum_cern_driver.selftest import options as options_mod
from magnum_cern_driver.selftest import plan as plan_mod
from magnum_cern_driver.selftest.report import histogram
from magnum_cern_driver.selftest.report import html
from magnum_cern_driver.selftest.report import terminal
from magnum_cern_driver.selftest import target as target_mod
from tests.unit.selftest import fakes
from tests.unit.selftest import test_cli

RUN_ID = 'r2611220300-abcd'
PREFIX = journal_mod.name_prefix(RUN_ID)


class TestCncfReference(testtools.TestCase):
    def test_packaged_by_name_with_the_talks_figures(self):
        ref = plan_mod.load_reference('cncf')
        self.assertTrue(ref.fleet)
        self.assertEqual('cncf-2017', ref.name)
        self.assertEqual(
            [(2, 10, 100, 3.02, None), (2, 10, 1000, 3.02, 219),
             (32, 5, 100, 4.0, 28)],
            [(s['nodes'], s['concurrency'], s['clusters'],
              s['target_minutes'], s.get('built')) for s in ref.steps])
        self.assertIn('CNCF', ref.source)
        # CERN stays the default and is not a fleet reference.
        self.assertFalse(plan_mod.load_reference().fleet)
        self.assertEqual(plan_mod.load_reference().points,
                         plan_mod.load_reference('cern').points)

    def test_steps_run_as_written_and_named_apart(self):
        steps = plan_mod.build(None, plan_mod.load_reference('cncf'))
        self.assertEqual([(2, 10, 100), (2, 10, 1000), (32, 5, 100)],
                         [(s.size, s.concurrency, s.clusters)
                          for s in steps])
        self.assertEqual([None, 219, 28],
                         [s.reference_built for s in steps])
        names = {ladder_mod.cluster_name(RUN_ID, s.size, 7, s)
                 for s in steps}
        self.assertEqual(3, len(names))
        self.assertIn('mcst-%s-f2-s0002-0007' % RUN_ID, names)
        # --max-nodes cuts the larger clusters; --concurrency replaces.
        cut = plan_mod.build(16, plan_mod.load_reference('cncf'),
                             concurrency=20)
        self.assertEqual([(2, 20, 100), (2, 20, 1000)],
                         [(s.size, s.concurrency, s.clusters) for s in cut])

    def test_concurrency_above_a_steps_clusters_is_refused(self):
        e = self.assertRaises(plan_mod.PlanError, plan_mod.build, None,
                              plan_mod.load_reference('cncf'),
                              concurrency=101)
        self.assertIn('more than the 100 clusters', str(e))
        e = self.assertRaises(plan_mod.PlanError,
                              plan_mod.reference_from_data,
                              {'steps': [{'nodes': 2, 'concurrency': 5,
                                          'clusters': 4,
                                          'target_minutes': 1}]})
        self.assertIn('more than its 4 clusters', str(e))

    def test_custom_fleet_step(self):
        step, = plan_mod.fleet(30, 2, concurrency=10)
        self.assertEqual((2, 10, 30, 2.5, True),
                         (step.size, step.concurrency, step.clusters,
                          step.target_minutes, step.fleet))
        # Default concurrency: the reference's for the size, at most N.
        self.assertEqual(5, plan_mod.fleet(5, 2)[0].concurrency)
        self.assertEqual(10, plan_mod.fleet(100, 16)[0].concurrency)
        e = self.assertRaises(plan_mod.PlanError, plan_mod.fleet, 3, 2,
                              concurrency=4)
        self.assertIn('more than the --fleet of 3', str(e))


class TestFleetArguments(test_cli.CliBase):
    def test_bad_fleet_input_is_one_line(self):
        for argv, needle in (
                (('--fleet', '0', '--size', '2'), '--fleet'),
                (('--fleet', '3', '--size', '-1'), '--size'),
                (('--fleet', '3'), 'go together'),
                (('--size', '3'), 'go together'),
                (('--fleet', '3', '--size', '2', '--max-nodes', '4'),
                 'not with --max-nodes'),
                (('--fleet', '3', '--size', '2', '--concurrency', '4'),
                 'more than the --fleet of 3'),
                (('--max-nodes', '2', '--fixed-subnet', 's'),
                 '--fixed-subnet needs --fixed-network'),
                (('--reference', 'nosuch'), 'cannot read reference')):
            self.stderr.seek(0)
            self.stderr.truncate()
            self.assertOneLineError(self.main(*argv), needle)
        self.assertNothingCreated()
        self.assertEqual([], self.opened)

    def test_dry_run_of_the_cncf_reference(self):
        self.assertEqual(0, self.main('--reference', 'cncf', '--dry-run'))
        out = self.stdout.getvalue()
        self.assertIn('reference cncf-2017', out)
        self.assertIn('     2    10     1000       3.02', out)
        self.assertIn('clusters 1000', out)

    def test_fleet_run_end_to_end_on_fake_cloud(self):
        out = os.path.join(self.tmp, 'o')
        code = self.main('--fleet', '25', '--size', '2', '--concurrency',
                         '5', '--skip-load', '--output-dir', out)
        self.assertEqual(0, code, self.stderr.getvalue())
        self.assertTrue(self.cloud.empty(), self.cloud.everything())
        err = self.stderr.getvalue()
        self.assertIn('fleet 2x25 c5: 25 complete, 0 building, 0 failed, '
                      '0 waiting', err)
        # A count line, not a line per cluster and state.
        self.assertNotIn('f1-s0002-0003 REQUESTED', err)
        self.assertIn('requests over', err)


class TestConcurrentCreates(testtools.TestCase):
    def setUp(self):
        super().setUp()
        tmp = self.useFixture(fixtures.TempDir()).path
        self.journal = journal_mod.Journal(os.path.join(tmp, 'j.jsonl'),
                                           RUN_ID)
        self.addCleanup(self.journal.close)

    def _ladder(self, cloud, steps, clock=time.monotonic, **kw):
        if clock is not time.monotonic:
            kw.setdefault('wall', clock)
        return ladder_mod.Ladder(cloud, self.journal, steps, 't', RUN_ID,
                                 clock=clock, min_poll=0.01, max_poll=0.02,
                                 **kw)

    def _fleet_on_fake_clock(self, cloud, step, clock):
        """Run one fleet step on a fake clock; the step's result."""
        out = self._ladder(cloud, [step], clock=clock,
                           stop=fakes.FakeEvent(clock),
                           sleep=clock.sleep).run()
        return out['sizes'][0]

    def test_creates_of_a_step_are_in_flight_together(self):
        # Each create waits until all 8 are in flight: sent one after
        # the other, the first would wait forever (the barrier breaks).
        cloud = fakes.FakeCloud(time.monotonic,
                                create_seconds=lambda size: 0.0)
        barrier = threading.Barrier(8, timeout=10)
        cloud.on_create = lambda name: barrier.wait()
        step = plan_mod.Step(size=2, concurrency=8, clusters=8,
                             target_minutes=1.0)
        out = self._ladder(cloud, [step]).run()
        size = out['sizes'][0]
        self.assertEqual('pass', size['status'], size['reason'])
        sub = size['summary']['submission']
        self.assertEqual(8, sub['requests'])
        self.assertLess(sub['first_batch_seconds'], 5.0)
        # Each cluster is timed from its own request.
        for r in size['results']:
            self.assertEqual('REQUESTED', r['transitions'][0]['status'])
            self.assertEqual(r['requested_at'], r['transitions'][0]['at'])

    def test_fleet_keeps_concurrency_in_flight(self):
        clock = fakes.FakeClock()
        cloud = fakes.FakeCloud(clock, create_seconds=lambda size: 30.0)
        step, = plan_mod.fleet(23, 2, concurrency=5)
        peak = []

        def on_create(name):
            building = [c for c in cloud.clusters.values()
                        if c['status'] == 'CREATE_IN_PROGRESS' and
                        clock() - c['created'] < 30.0]
            peak.append(len(building) + 1)
        cloud.on_create = on_create
        size = self._fleet_on_fake_clock(cloud, step, clock)
        self.assertEqual('pass', size['status'], size['reason'])
        self.assertEqual(23, size['summary']['complete'])
        self.assertEqual(5, max(peak))
        self.assertEqual(23, len(set(r['name'] for r in size['results'])))
        sub = size['summary']['submission']
        self.assertEqual(5, sub['batch'])
        # Later creates wait for earlier clusters: 23 at 5 in flight of
        # 30 s each take at least 4 rounds.
        self.assertGreaterEqual(sub['all_seconds'], 4 * 30.0)
        for r in size['results']:
            self.assertAlmostEqual(30.0, r['create_seconds'], delta=3.0)

    def test_large_fleet_asks_only_for_the_building_clusters(self):
        # 40 clusters, 4 in flight: once 16 are known, a round asks for
        # the 4 building ones, not for all the run's clusters.
        clock = fakes.FakeClock()
        cloud = fakes.FakeCloud(clock, create_seconds=lambda size: 30.0)
        step, = plan_mod.fleet(40, 2, concurrency=4)
        gets = []
        real_get = cloud.get_cluster

        def get_cluster(ident):
            gets.append(ident)
            return real_get(ident)
        cloud.get_cluster = get_cluster
        size = self._fleet_on_fake_clock(cloud, step, clock)
        self.assertEqual('pass', size['status'], size['reason'])
        self.assertEqual(40, size['summary']['complete'])
        lists = [c for c in cloud.calls if c[0] == 'list_clusters']
        self.assertGreater(len(gets), 0)
        # the list is used only while few clusters are known
        rounds_with_gets = len(gets) / 4.0
        self.assertGreater(rounds_with_gets, len(lists))
        for r in size['results']:
            self.assertAlmostEqual(30.0, r['create_seconds'], delta=3.0)

    def test_cluster_shown_late_by_magnum_is_not_vanished(self):
        # Magnum's API casts the create; the conductor makes the row when
        # it gets to it. A poll between the two must wait, not fail.
        clock = fakes.FakeClock()
        cloud = fakes.FakeCloud(clock, create_seconds=lambda size: 30.0,
                                made_after=8.0)
        step, = plan_mod.fleet(12, 2, concurrency=3)
        size = self._fleet_on_fake_clock(cloud, step, clock)
        self.assertEqual('pass', size['status'], size['reason'])
        self.assertEqual(12, size['summary']['complete'])
        self.assertEqual([], cloud.everything()['clusters'])

    def _signalled_fleet(self, after, **cloud_kw):
        """40 x 2 at concurrency 4, a signal after ``after`` creates.

        Returns (clock, cloud, run result, names created).
        """
        clock = fakes.FakeClock()
        cloud = fakes.FakeCloud(clock, create_seconds=lambda size: 30.0,
                                **cloud_kw)
        stop = fakes.FakeEvent(clock)
        step, = plan_mod.fleet(40, 2, concurrency=4)
        made = []

        def on_create(name):
            made.append(name)
            if len(made) == after:
                stop.set()
        cloud.on_create = on_create
        out = self._ladder(cloud, [step], clock=clock, stop=stop,
                           sleep=clock.sleep).run()
        return clock, cloud, out, made

    def test_signal_stops_submitting_the_fleet(self):
        clock, cloud, out, made = self._signalled_fleet(6)
        self.assertLessEqual(len(made), 6 + 4)
        size = out['sizes'][0]
        self.assertEqual('interrupted', size['status'])
        never = [r for r in size['results']
                 if r['status_reason'] == 'never requested (interrupted)']
        self.assertEqual(40 - len(made), len(never))

    def test_release_of_a_fleet_shows_its_progress(self):
        # Deleting a fleet takes minutes: the run says how far it is.
        clock = fakes.FakeClock()
        cloud = fakes.FakeCloud(clock, create_seconds=lambda size: 30.0,
                                delete_seconds=90.0)
        step, = plan_mod.fleet(30, 2, concurrency=10)

        class View(object):
            messages = []

            def message(self, text):
                self.messages.append(text)
        view = View()
        out = self._ladder(cloud, [step], clock=clock, view=view,
                           stop=fakes.FakeEvent(clock),
                           sleep=clock.sleep).run()
        self.assertEqual('pass', out['sizes'][0]['status'])
        self.assertTrue(cloud.empty(), cloud.everything())
        self.assertIn('deleting 30 clusters, at most %d at a time'
                      % cleanup_mod.DELETES_IN_PROGRESS, view.messages)
        counts = [m for m in view.messages if m.startswith('clusters: ')]
        self.assertTrue(counts, view.messages)
        self.assertIn('of 30 deleted', counts[0])

    def test_signal_before_magnum_made_the_clusters_leaves_nothing(self):
        # Stopped right after the creates were accepted: Magnum makes the
        # rows seconds later, after the first delete requests got 404.
        clock, cloud, out, made = self._signalled_fleet(4, made_after=40.0)
        self.assertEqual('interrupted', out['sizes'][0]['status'])
        self.assertEqual(4, len(made))
        # the session's cleanup after a signal, at once
        res = cleanup_mod.Cleaner(
            cloud, journal=self.journal, prefix=PREFIX, clock=clock,
            sleep=clock.sleep, wall=clock).run()
        self.assertEqual([], res.leftovers)
        self.assertEqual([], cloud.everything()['clusters'])
        self.assertEqual([], self.journal.pending('cluster'))


class TestFleetProgress(testtools.TestCase):
    def _tracked(self, states):
        step = plan_mod.Step(size=2, concurrency=10, clusters=len(states),
                             target_minutes=2.5, fleet=True, number=1)
        out = []
        for i, state in enumerate(states):
            t = ladder_mod._Tracked('c%d' % i, step, 1, 10)
            if state != 'waiting':
                t.requested_at = 1.0
            if state in ('pass', 'fail', 'timeout'):
                t.outcome = state
            out.append(t)
        return step, out

    def test_count_line(self):
        states = ['pass'] * 412 + ['building'] * 10 + ['waiting'] * 578
        step, tracked = self._tracked(states)
        self.assertEqual(
            'fleet 2x1000 c10: 412 complete, 10 building, 0 failed, '
            '578 waiting, 6:12 elapsed',
            fleet_mod.progress_line(step, tracked, 372))
        step, tracked = self._tracked(['fail', 'timeout', 'pass'])
        self.assertIn('1 complete, 0 building, 2 failed, 0 waiting, '
                      '1:01:01 elapsed',
                      fleet_mod.progress_line(step, tracked, 3661))

    def test_throttle(self):
        clock = fakes.FakeClock()
        th = fleet_mod.ProgressThrottle(clock, every=10)
        step, tracked = self._tracked(['building'] * 3)
        self.assertTrue(th.due(step, tracked))
        self.assertFalse(th.due(step, tracked))
        tracked[0].outcome = 'pass'
        self.assertFalse(th.due(step, tracked))     # too soon
        clock.sleep(10)
        self.assertTrue(th.due(step, tracked))
        self.assertTrue(th.due(step, tracked, final=True))

    def test_live_view_counts_a_fleet(self):
        clock = fakes.FakeClock()
        for tty in (False, True):
            stream = io.StringIO()
            view = terminal.LiveView(stream=stream, tty=tty, clock=clock,
                                     min_redraw=0)
            step, tracked = self._tracked(['building'] * 30)
            view.step_started(step, tracked)
            for t in tracked:
                view.cluster_update(step, t)
            view.fleet_progress(step, tracked)
            text = stream.getvalue()
            self.assertIn('30 clusters, 10 at once', text)
            self.assertIn('fleet 2x30 c10: 0 complete, 30 building', text)
            self.assertNotIn('c17', text)

    def test_bounded_map_keeps_order_and_bound(self):
        lock = threading.Lock()
        live = [0]
        peak = [0]

        def call(i):
            with lock:
                live[0] += 1
                peak[0] = max(peak[0], live[0])
            time.sleep(0.01)
            with lock:
                live[0] -= 1
            return i * 2
        self.assertEqual([i * 2 for i in range(40)],
                         fleet_mod.bounded_map(call, range(40), bound=7))
        self.assertLessEqual(peak[0], 7)
        self.assertGreater(peak[0], 1)


class TestFleetReports(testtools.TestCase):
    def _result(self, n):
        results = [{'name': 'mcst-%s-f1-s0002-%04d' % (RUN_ID, i),
                    'requested_at': float(i),
                    'create_seconds': 60.0 + i % 90 if i % 50 else None,
                    'outcome': 'pass' if i % 50 else 'fail',
                    'ended_at': 200.0 + i,
                    'transitions': [{'status': 'REQUESTED',
                                     'at': float(i)}]}
                   for i in range(n)]
        return {'sizes': [{'size': 2, 'concurrency': 10, 'results': results,
                           'summary': {'submission': {
                               'first_batch_seconds': 9.0,
                               'all_seconds': n - 1.0, 'requests': n,
                               'batch': 10}}}]}

    def test_histogram_above_a_hundred_clusters(self):
        svg = html.timeline_plot(self._result(1000))
        self.assertIn('clusters by minutes to CREATE_COMPLETE', svg)
        self.assertIn('980 built, 20 not', svg)
        # No row per cluster.
        self.assertNotIn('s0002-0999', svg)
        self.assertLess(len(svg), 60000)
        small = html.timeline_plot(self._result(20))
        self.assertIn('per-cluster status timeline', small)

    def test_histogram_bins_hold_every_built_cluster(self):
        label, done, missing = histogram.series(self._result(300))[0]
        self.assertEqual(294, len(done))
        self.assertEqual(6, missing)
        width, n = histogram.bins(done)
        self.assertGreaterEqual(width * n, max(done))

    def test_spread_in_the_html_sizes_table(self):
        self.assertEqual('9.0 (first 10); 999.0 (all 1000)',
                         html._spread(self._result(1000)['sizes'][0][
                             'summary']['submission']))


class TestConcurrentDeletes(testtools.TestCase):
    def test_fleet_deleted_with_bounded_concurrency(self):
        cloud = fakes.FakeCloud(time.monotonic, delete_seconds=0.0)
        prefix = journal_mod.name_prefix(RUN_ID)
        for i in range(60):
            cloud.create_cluster('%sf1-s0002-%04d' % (prefix, i), 't', 2)
        lock = threading.Lock()
        live = [0]
        peak = [0]
        delete = cloud.delete_cluster

        def slow_delete(ident):
            with lock:
                live[0] += 1
                peak[0] = max(peak[0], live[0])
            time.sleep(0.005)
            try:
                return delete(ident)
            finally:
                with lock:
                    live[0] -= 1
        self.useFixture(fixtures.MockPatchObject(cloud, 'delete_cluster',
                                                 slow_delete))
        lines = []
        res = cleanup_mod.Cleaner(cloud, prefix=prefix, sleep=lambda s: None,
                                  progress=lines.append).run()
        self.assertEqual([], res.leftovers)
        self.assertTrue(cloud.empty(), cloud.everything())
        self.assertGreater(peak[0], 1)
        self.assertLessEqual(peak[0], fleet_mod.DELETE_CONCURRENCY)
        self.assertIn('deleting 60 clusters, at most %d at a time'
                      % cleanup_mod.DELETES_IN_PROGRESS, lines)
        self.assertFalse([ln for ln in lines if 'deleting cluster' in ln])

    def test_fleet_deletes_in_progress_are_bounded(self):
        # Magnum answers a delete at once: the bound is on clusters being
        # deleted, not on requests.
        clock = fakes.FakeClock()
        cloud = fakes.FakeCloud(clock, delete_seconds=30.0)
        prefix = journal_mod.name_prefix(RUN_ID)
        for i in range(70):
            cloud.create_cluster('%sf1-s0002-%04d' % (prefix, i), 't', 2)
        peak = [0]
        delete = cloud.delete_cluster

        def counted(ident):
            out = delete(ident)
            deleting = sum(1 for c in cloud.clusters.values()
                           if c['status'] == 'DELETE_IN_PROGRESS')
            peak[0] = max(peak[0], deleting)
            return out
        cloud.delete_cluster = counted
        res = cleanup_mod.Cleaner(cloud, prefix=prefix, clock=clock,
                                  sleep=clock.sleep).run()
        self.assertEqual([], res.leftovers)
        self.assertTrue(cloud.empty(), cloud.everything())
        self.assertEqual(cleanup_mod.DELETES_IN_PROGRESS, peak[0])

    def test_last_clusters_of_a_long_fleet_delete_are_not_given_up(self):
        # 200 clusters, 20 at a time, 2 minutes each: 20 minutes in all.
        # Each cluster's time counts from its own delete request.
        clock = fakes.FakeClock()
        cloud = fakes.FakeCloud(clock, delete_seconds=120.0)
        for i in range(200):
            cloud.create_cluster('%sf1-s0002-%04d' % (PREFIX, i), 't', 2)
        start = clock()
        res = cleanup_mod.Cleaner(cloud, prefix=PREFIX, clock=clock,
                                  sleep=clock.sleep).run()
        self.assertEqual([], res.leftovers)
        self.assertTrue(cloud.empty(), cloud.everything())
        self.assertGreater(clock() - start, 200 / 20 * 120.0)

    def test_stacks_left_are_deleted_at_most_in_progress_at_once(self):
        # Stacks without their clusters (found by the prefix): deleted in
        # Heat directly, bounded as clusters are.
        clock = fakes.FakeClock()
        cloud = fakes.FakeCloud(clock)
        cloud.stack_delete_seconds = 60.0
        for i in range(70):
            sid = 'stack-left-%02d' % i
            cloud.stacks[sid] = {
                'id': sid, 'stack_name': '%sf1-s0002-%04d-x' % (PREFIX, i),
                'stack_status': 'CREATE_COMPLETE'}
        peak = [0]
        delete = cloud.delete_stack

        def counted(ident):
            out = delete(ident)
            peak[0] = max(peak[0], sum(
                1 for st in cloud.stacks.values()
                if st['stack_status'] == 'DELETE_IN_PROGRESS'))
            return out
        cloud.delete_stack = counted
        res = cleanup_mod.Cleaner(cloud, prefix=PREFIX, clock=clock,
                                  sleep=clock.sleep).run()
        self.assertEqual([], res.leftovers)
        self.assertEqual([], cloud.everything()['stacks'])
        self.assertEqual(cleanup_mod.DELETES_IN_PROGRESS, peak[0])


class TestFixedNetwork(testtools.TestCase):
    def test_budget_without_network_subnet_router(self):
        own = budget.count(1, 2, floating_ip_enabled=True)
        fixed = budget.count(1, 2, floating_ip_enabled=True,
                             fixed_network='private')
        # network, subnet, router and its interface
        self.assertEqual(own['total_resources'] - 4,
                         fixed['total_resources'])
        self.assertEqual('private', fixed['fixed_network'])
        self.assertIn('existing network private',
                      budget.format_table(fixed))
        plain = budget.count(1, 2)
        self.assertEqual(plain['total_resources'] - 2,
                         budget.count(1, 2, fixed_network='x')[
                             'total_resources'])

    def test_template_names_the_network_and_its_only_subnet(self):
        cloud = fakes.FakeCloud(time.monotonic)
        cloud.network_subnets = lambda name: {'private': ['sub-1'],
                                              'two': ['a', 'b']}[name]
        opts = target_mod.template_options(
            options_mod.RunOptions(fixed_network='private'), cloud)
        self.assertEqual(('private', 'sub-1'),
                         (opts.fixed_network, opts.fixed_subnet))
        from magnum_cern_driver.selftest import session as session_mod
        spec = session_mod.template_spec(opts, RUN_ID, 'img')
        self.assertEqual(('private', 'sub-1'),
                         (spec['fixed_network'], spec['fixed_subnet']))
        given = options_mod.RunOptions(fixed_network='two',
                                       fixed_subnet='b')
        self.assertEqual('b', target_mod.template_options(
            given, cloud).fixed_subnet)
        from magnum_cern_driver.selftest import cloud as cloud_mod
        e = self.assertRaises(cloud_mod.CloudError,
                              target_mod.template_options,
                              options_mod.RunOptions(fixed_network='two'),
                              cloud)
        self.assertIn('give --fixed-subnet', str(e))


class TestBusyConductor(testtools.TestCase):
    def test_delete_not_started_yet_is_not_asked_again_at_once(self):
        # The conductor starts each delete 40 s after the request (a busy
        # conductor working through 25 deletes): one request per cluster.
        clock = fakes.FakeClock()
        cloud = fakes.FakeCloud(clock)
        prefix = journal_mod.name_prefix(RUN_ID)
        for i in range(25):
            cloud.create_cluster('%sf1-s0001-%04d' % (prefix, i), 't', 1)
        clock.sleep(100)
        asked = []
        queued = {}
        delete, listing = cloud.delete_cluster, cloud.list_clusters

        def late_delete(ident):
            asked.append(ident)
            queued.setdefault(ident, clock())
            return 'deleting'

        def list_clusters(prefix=None, detail=False):
            for ident, at in list(queued.items()):
                if clock() - at >= 40:
                    delete(ident)
                    del queued[ident]
            return listing(prefix, detail=detail)
        self.useFixture(fixtures.MockPatchObject(cloud, 'delete_cluster',
                                                 late_delete))
        self.useFixture(fixtures.MockPatchObject(cloud, 'list_clusters',
                                                 list_clusters))
        res = cleanup_mod.Cleaner(cloud, prefix=prefix, clock=clock,
                                  sleep=clock.sleep).run()
        self.assertEqual([], res.leftovers)
        self.assertTrue(cloud.empty(), cloud.everything())
        self.assertEqual(25, len(asked))
