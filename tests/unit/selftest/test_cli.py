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
"""The command line: errors are one line and exit 1; subcommands."""

import io
import json
import os
import time

import fixtures
import testtools

from magnum_cern_driver.selftest import cli
from magnum_cern_driver.selftest import cloud as cloud_mod
from magnum_cern_driver.selftest import exitcodes
from magnum_cern_driver.selftest import journal as journal_mod
from magnum_cern_driver.selftest import ladder as ladder_mod
from tests.unit.selftest import fakes


class CliBase(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.stdout = io.StringIO()
        self.stderr = io.StringIO()
        self.useFixture(fixtures.MonkeyPatch('sys.stdout', self.stdout))
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', self.stderr))
        # main() configures logging; keep that out of other tests.
        self.useFixture(fixtures.FakeLogger())
        self.useFixture(fixtures.EnvironmentVariable(
            'XDG_STATE_HOME', os.path.join(self.tmp, 'state')))
        self.useFixture(fixtures.EnvironmentVariable(
            'XDG_RUNTIME_DIR', os.path.join(self.tmp, 'run')))
        self.useFixture(fixtures.MonkeyPatch(
            'magnum_cern_driver.selftest.cli.DEFAULT_OUTPUT_ROOT',
            os.path.join(self.tmp, 'results')))
        self.useFixture(fixtures.MonkeyPatch(
            'magnum_cern_driver.selftest.cli.POLL', (0.01, 0.02)))
        self.useFixture(fixtures.MonkeyPatch(
            'magnum_cern_driver.selftest.cli.SLEEP', lambda s: None))
        self.cloud = fakes.FakeCloud(time.monotonic,
                                     create_seconds=lambda size: 0.0,
                                     delete_seconds=0.0)
        self.opened = []

        def open_target(args, journal_target=None, out=None):
            self.opened.append(journal_target)
            return self.cloud, ['pw-secret-1'], {'kind': 'cloud',
                                                 'name': 'fake'}
        self.useFixture(fixtures.MonkeyPatch(
            'magnum_cern_driver.selftest.cli.open_target', open_target))

    def main(self, *argv):
        return cli.main(list(argv))

    def assertOneLineError(self, code, needle=None):
        self.assertEqual(exitcodes.ERROR, code)
        err = self.stderr.getvalue()
        self.assertEqual(1, len(err.splitlines()), err)
        self.assertTrue(err.startswith('magnum-cern-selftest: error: '),
                        err)
        if needle:
            self.assertIn(needle, err)

    def assertNothingCreated(self):
        self.assertEqual([], [c for c in self.cloud.calls
                              if c[0].startswith('create')])


class TestArgumentErrors(CliBase):
    def test_bad_max_nodes(self):
        for bad in ('0', '-1', 'abc', '1.5', '', '1e3'):
            self.stderr.seek(0)
            self.stderr.truncate()
            self.assertOneLineError(self.main('--max-nodes', bad),
                                    'max-nodes')
        self.assertNothingCreated()
        self.assertEqual([], self.opened)

    def test_missing_max_nodes(self):
        self.assertOneLineError(self.main('run'), '--max-nodes')

    def test_unknown_option(self):
        self.assertOneLineError(self.main('--max-nodez', '3'),
                                'unrecognized')

    def test_bad_timeout_scale_and_sizes(self):
        self.assertOneLineError(self.main('--max-nodes', '2',
                                          '--timeout-scale', '0'))
        self.stderr.truncate(0)
        self.stderr.seek(0)
        self.assertOneLineError(self.main('--sizes', '2,x'))

    def test_unreadable_baseline(self):
        missing = os.path.join(self.tmp, 'nope.json')
        self.assertOneLineError(self.main('--max-nodes', '2', '--baseline',
                                          missing), 'nope.json')
        self.assertNothingCreated()

    def test_baseline_not_a_result(self):
        path = os.path.join(self.tmp, 'b.json')
        with open(path, 'w') as f:
            f.write('{"hello": 1}')
        self.assertOneLineError(self.main('--max-nodes', '2', '--baseline',
                                          path), 'not a magnum-cern')

    def test_unusable_output_dir(self):
        afile = os.path.join(self.tmp, 'a-file')
        with open(afile, 'w') as f:
            f.write('x')
        self.assertOneLineError(self.main('--max-nodes', '2', '--output-dir',
                                          os.path.join(afile, 'sub')),
                                'cannot create --output-dir')
        self.assertEqual([], self.opened)

    def test_unknown_template(self):
        out = os.path.join(self.tmp, 'reports')
        self.assertOneLineError(self.main('--max-nodes', '2',
                                          '--cluster-template', 'nope',
                                          '--output-dir', out),
                                "preflight: unknown cluster template "
                                "'nope'")
        self.assertNothingCreated()
        self.assertFalse(os.path.exists(out))

    def test_missing_credentials(self):
        self.cloud.auth_error = ('authentication failed for cloud fake: '
                                 'The request you have made requires '
                                 'authentication.\n(HTTP 401)')
        self.assertOneLineError(self.main('--max-nodes', '2'),
                                'authentication failed')
        self.assertNothingCreated()

    def test_unreachable_endpoint(self):
        self.cloud.unreachable.add('orchestration')
        self.assertOneLineError(self.main('--max-nodes', '2'),
                                'connection refused')
        self.assertNothingCreated()

    def test_wrong_image(self):
        self.cloud.images['img-1']['os_distro'] = 'ubuntu'
        self.assertOneLineError(self.main('--max-nodes', '2', '--image',
                                          'img-1'), "os_distro 'ubuntu'")
        self.stderr.seek(0)
        self.stderr.truncate()
        self.assertOneLineError(self.main('--max-nodes', '2'),
                                'no image with os_distro=almalinux')
        self.assertNothingCreated()

    def test_quota_too_small(self):
        self.cloud.quota['clusters'] = {'limit': 20, 'in_use': 0}
        self.assertOneLineError(self.main('--max-nodes', '2'),
                                'clusters needs 50, 20 available')
        self.assertNothingCreated()

    def test_several_clouds_and_none_chosen(self):
        e = self.assertRaises(
            cloud_mod.ConfigError, cloud_mod.resolve_target, None, env={},
            config_loader=lambda: ['a', 'b'])
        self.assertIn('choose one with --os-cloud', str(e))


class TestDefaultCommand(testtools.TestCase):
    def test_run_is_inserted(self):
        parser = cli.build_parser()
        w = cli.with_default_command
        self.assertEqual(['run', '--max-nodes', '1000'],
                         w(['--max-nodes', '1000'], parser))
        self.assertEqual(['run'], w([], parser))
        self.assertEqual(['budget', '--workers', '3'],
                         w(['budget', '--workers', '3'], parser))
        self.assertEqual(['--os-cloud', 'prod', 'preflight'],
                         w(['--os-cloud', 'prod', 'preflight'], parser))
        # An option value that looks like a subcommand is a value.
        self.assertEqual(['run', '--output-dir', 'report', '--max-nodes',
                          '2'], w(['--output-dir', 'report', '--max-nodes',
                                   '2'], parser))
        self.assertEqual(['--help'], w(['--help'], parser))


class TestSubcommands(CliBase):
    def test_dry_run_creates_nothing(self):
        self.assertEqual(0, self.main('--max-nodes', '1000', '--dry-run'))
        out = self.stdout.getvalue()
        self.assertIn('  1000     1        1      23.00', out)
        self.assertIn('nothing created', out)
        self.assertEqual([], self.opened)

    def test_run_end_to_end_on_fake_cloud(self):
        out = os.path.join(self.tmp, 'o')
        code = self.main('--max-nodes', '2', '--concurrency', '3',
                         '--skip-load', '--output-dir', out)
        self.assertEqual(0, code, self.stderr.getvalue())
        self.assertTrue(self.cloud.empty(), self.cloud.everything())
        for fname in ('result.json', 'junit.xml', 'report.html'):
            self.assertTrue(os.path.exists(os.path.join(out, fname)))
        with open(os.path.join(out, 'result.json')) as f:
            doc = json.load(f)
        self.assertEqual(3, len(doc['sizes'][0]['results']))
        self.assertIn('ok (exit 0)', self.stdout.getvalue())
        for fname in os.listdir(out):
            with open(os.path.join(out, fname)) as f:
                self.assertNotIn('pw-secret-1', f.read())
        # report and compare on the saved result
        self.assertEqual(0, self.main('report', os.path.join(
            out, 'result.json'), '--output-dir', os.path.join(self.tmp,
                                                              'r2')))
        path = os.path.join(out, 'result.json')
        self.assertEqual(0, self.main('compare', path, path))

    def test_labels_reach_the_template_and_the_recorded_options(self):
        out = os.path.join(self.tmp, 'o')
        made = []
        create = self.cloud.create_template

        def record(spec):
            made.append(spec)
            return create(spec)
        self.useFixture(fixtures.MockPatchObject(
            self.cloud, 'create_template', record))
        code = self.main('--max-nodes', '2', '--concurrency', '1',
                         '--skip-load', '--label', 'kube_tag=v1.31.4',
                         '--output-dir', out)
        self.assertEqual(0, code, self.stderr.getvalue())
        with open(os.path.join(out, 'result.json')) as f:
            doc = json.load(f)
        self.assertEqual({'kube_tag': 'v1.31.4'}, doc['options']['labels'])
        self.assertEqual({'kube_tag': 'v1.31.4'}, made[0]['labels'])

    def test_compare_not_comparable(self):
        out = os.path.join(self.tmp, 'o')
        self.main('--max-nodes', '2', '--concurrency', '1', '--skip-load',
                  '--output-dir', out)
        path = os.path.join(out, 'result.json')
        with open(path) as f:
            doc = json.load(f)
        doc['fingerprint']['hollow'] = not doc['fingerprint']['hollow']
        other = os.path.join(self.tmp, 'other.json')
        with open(other, 'w') as f:
            json.dump(doc, f)
        self.stderr.seek(0)
        self.stderr.truncate()
        self.assertOneLineError(self.main('compare', path, other),
                                'not comparable')

    def test_budget_json(self):
        code = self.main('budget', '--masters', '1', '--workers', '100',
                         '--format', 'json')
        self.assertEqual(0, code, self.stderr.getvalue())
        doc = json.loads(self.stdout.getvalue())
        self.assertGreater(doc['total_resources'], 100)
        self.assertIn('max_resources_per_stack', doc)

    def test_budget_table_and_bad_label(self):
        self.assertEqual(0, self.main('budget', '--workers', '10'))
        self.assertIn('Heat resource budget', self.stdout.getvalue())
        self.assertOneLineError(self.main('budget', '--workers', '10',
                                          '--label', 'flannel_backend=x'))

    def test_cleanup_by_run_id_without_journal(self):
        rid = 'r2611220300-abcd'
        prefix = journal_mod.name_prefix(rid)
        self.cloud.create_cluster(prefix + 's0002-00', 't', 2)
        self.cloud.create_cluster('prod', 't', 2)
        self.assertEqual(0, self.main('cleanup', '--run-id', rid))
        self.assertEqual(['prod'], self.cloud.everything()['clusters'])

    def test_cleanup_from_journal_and_leftovers_exit_5(self):
        clock = fakes.FakeClock()
        self.cloud.clock = clock
        self.useFixture(fixtures.MonkeyPatch(
            'magnum_cern_driver.selftest.cli.CLOCK', clock))
        self.useFixture(fixtures.MonkeyPatch(
            'magnum_cern_driver.selftest.cli.SLEEP', clock.sleep))
        rid = 'r2611220300-beef'
        prefix = journal_mod.name_prefix(rid)
        j = journal_mod.Journal(journal_mod.path_for(rid), rid)
        j.header['pid'] = 0
        for i in range(2):
            name = '%ss0002-%02d' % (prefix, i)
            j.record('cluster', name, {'size': 2})
            uuid = self.cloud.create_cluster(name, 't', 2)
            j.record('cluster', name, {'uuid': uuid})
        j.close()
        self.cloud.stuck_delete_names.add(prefix + 's0002-01')
        self.useFixture(fixtures.MonkeyPatch(
            'magnum_cern_driver.selftest.journal.Journal.is_active',
            lambda self: False))
        code = self.main('cleanup', '--run-id', rid)
        self.assertEqual(exitcodes.LEFTOVERS, code)
        self.assertIn('LEFT cluster %ss0002-01' % prefix,
                      self.stdout.getvalue())
        # A crashed run's kubeconfig dir (client keys) stays while
        # something is left, and goes with the last of it.
        workdir = ladder_mod.default_workdir(rid)
        os.makedirs(workdir)
        self.cloud.stuck_delete_names.clear()
        self.assertEqual(0, self.main('cleanup', '--run-id', rid))
        self.assertTrue(self.cloud.empty())
        self.assertFalse(os.path.exists(workdir))
        self.assertTrue(journal_mod.Journal.read(
            journal_mod.path_for(rid)).ended)

    def test_cleanup_stale(self):
        old = 'r2611220100-0001'
        self.cloud.create_cluster(journal_mod.name_prefix(old) + 's0002-00',
                                  't', 2)
        self.assertEqual(0, self.main('cleanup', '--stale',
                                      '--older-than', '0'))
        self.assertTrue(self.cloud.empty())

    def test_cleanup_bad_run_id(self):
        self.assertOneLineError(self.main('cleanup', '--run-id', 'x; rm'),
                                'not a run id')
