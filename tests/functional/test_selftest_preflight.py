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
"""The self-test's preflight against the rehearsal's APIs.

Quotas are read through openstacksdk from the rehearsal's Nova and Neutron
stand-in (limits set in its config file) and Magnum's own quota API; a
project too small for the ladder stops the run before anything is made.
"""

import json
import subprocess

import fixtures

from magnum_cern_driver.selftest import exitcodes
from tests.functional import base


class TestPreflightQuotas(base.RehearsalTestCase):

    def setUp(self):
        super().setUp()
        self.addCleanup(self.reh.configure_standins, quotas={})

    def _selftest(self, *args):
        argv = base.selftest_command(
            args[0], '--rehearsal-state-dir', self.reh.state_dir, *args[1:])
        done = subprocess.run(argv, capture_output=True, text=True,
                              env=base.selftest_env(), timeout=300)
        self.addDetail('%s_output' % args[0],
                       _text(done.stdout + done.stderr))
        return done

    def _names(self):
        return ({c.name for c in self.magnum.clusters.list()},
                {t.name for t in self.magnum.cluster_templates.list()})

    def _quota_checks(self, stdout):
        doc = json.loads(stdout)
        return {c['name']: c for c in doc['checks']
                if c['name'].startswith('quota ')}

    def test_enough_quota_passes_with_figures(self):
        # 2 clusters of 16 workers + 1 master at once: 34 instances.
        self.reh.configure_standins(quotas={'instances': 34, 'cores': -1})
        done = self._selftest('preflight', '--sizes', '16',
                              '--concurrency', '2', '--format', 'json')
        self.assertEqual(exitcodes.OK, done.returncode, done.stderr)
        checks = self._quota_checks(done.stdout)
        self.assertTrue(checks['quota instances']['ok'])
        self.assertIn('need 34, available 34',
                      checks['quota instances']['message'])
        self.assertIn('unlimited', checks['quota cores']['message'])
        self.assertTrue(checks['quota ports']['ok'])
        # The rehearsal's heat.conf, read by the preflight.
        heat = [c for c in json.loads(done.stdout)['checks']
                if c['name'] == 'heat encryption']
        self.assertEqual(1, len(heat))
        self.assertTrue(heat[0]['ok'], heat[0]['message'])
        self.assertFalse(heat[0]['skipped'])
        self.assertIn('encrypt_parameters_and_properties is on',
                      heat[0]['message'])

    def test_small_project_stops_the_run_creating_nothing(self):
        self.reh.configure_standins(quotas={'instances': 33, 'port': 5})
        done = self._selftest('preflight', '--sizes', '16',
                              '--concurrency', '2', '--format', 'json')
        self.assertEqual(exitcodes.ERROR, done.returncode)
        checks = self._quota_checks(done.stdout)
        self.assertFalse(checks['quota instances']['ok'])
        self.assertIn('need 34, available 33',
                      checks['quota instances']['message'])
        self.assertFalse(checks['quota ports']['ok'])

        before = self._names()
        done = self._selftest('run', '--sizes', '16', '--concurrency', '2',
                              '--skip-load', '--output-dir',
                              self.useFixture(fixtures.TempDir()).path)
        self.assertEqual(exitcodes.ERROR, done.returncode)
        last = done.stderr.strip().splitlines()[-1]
        self.assertIn('quota too small for the ladder', last)
        self.assertIn('instances needs 34, 33 available', last)
        self.assertEqual(before, self._names())


def _text(value):
    from testtools import content
    return content.text_content(value)
