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
"""The reference ladder as data, cut at --max-nodes (pure)."""

import json
import os

import fixtures
import testtools

from magnum_cern_driver.selftest import plan


class TestReference(testtools.TestCase):
    def test_packaged_reference_is_the_cern_table(self):
        ref = plan.load_reference()
        self.assertEqual(((2, 50, 2.5), (16, 10, 4.0), (32, 10, 4.0),
                          (128, 5, 5.5), (512, 1, 14.0), (1000, 1, 23.0)),
                         ref.points)

    def test_override_file_yaml_and_json(self):
        tmp = self.useFixture(fixtures.TempDir()).path
        data = {'name': 'mine', 'steps': [
            {'nodes': 10, 'concurrency': 2, 'target_minutes': 3},
            {'nodes': 5, 'concurrency': 4, 'target_minutes': 2}]}
        for fname, text in (('r.json', json.dumps(data)),
                            ('r.yaml', 'name: mine\nsteps:\n'
                             '  - {nodes: 10, concurrency: 2, '
                             'target_minutes: 3}\n'
                             '  - {nodes: 5, concurrency: 4, '
                             'target_minutes: 2}\n')):
            path = os.path.join(tmp, fname)
            with open(path, 'w') as f:
                f.write(text)
            ref = plan.load_reference(path)
            self.assertEqual('mine', ref.name)
            self.assertEqual(((5, 4, 2.0), (10, 2, 3.0)), ref.points)

    def test_bad_reference_files(self):
        tmp = self.useFixture(fixtures.TempDir()).path
        self.assertRaises(plan.PlanError, plan.load_reference,
                          os.path.join(tmp, 'missing.yaml'))
        for text in ('steps: 3\n', 'steps:\n  - {nodes: 0, concurrency: 1, '
                     'target_minutes: 1}\n', 'steps:\n  - {nodes: 2}\n',
                     'steps: [\n', 'steps:\n  - {nodes: 2, concurrency: 1, '
                     'target_minutes: -1}\n'):
            path = os.path.join(tmp, 'bad.yaml')
            with open(path, 'w') as f:
                f.write(text)
            self.assertRaises(plan.PlanError, plan.load_reference, path)


class TestBuild(testtools.TestCase):
    def sizes(self, steps):
        return [s.size for s in steps]

    def test_cut_at_max_nodes(self):
        self.assertEqual([2], self.sizes(plan.build(2)))
        self.assertEqual([2, 16], self.sizes(plan.build(16)))
        self.assertEqual([2, 16, 32, 128, 512, 1000],
                         self.sizes(plan.build(1000)))

    def test_max_nodes_between_reference_sizes_is_the_top_rung(self):
        steps = plan.build(100)
        self.assertEqual([2, 16, 32, 100], self.sizes(steps))
        top = steps[-1]
        self.assertEqual('interpolated', top.target_source)
        self.assertTrue(4.0 < top.target_minutes < 5.5)
        self.assertEqual(5, top.concurrency)

    def test_below_and_above_the_table(self):
        one = plan.build(1)
        self.assertEqual([1], self.sizes(one))
        self.assertEqual(2.5, one[0].target_minutes)
        big = plan.build(1500)[-1]
        self.assertEqual('extrapolated', big.target_source)
        self.assertGreater(big.target_minutes, 23.0)

    def test_reference_concurrency_and_override(self):
        self.assertEqual([50, 10], [s.concurrency for s in plan.build(16)])
        self.assertEqual([3, 3], [s.clusters for s in
                                  plan.build(16, concurrency=3)])

    def test_explicit_sizes(self):
        steps = plan.build(None, sizes=[16, 2, 64])
        self.assertEqual([2, 16, 64], self.sizes(steps))
        self.assertRaises(plan.PlanError, plan.build, 10, sizes=[2, 16])

    def test_bad_max_nodes(self):
        for bad in (0, -1, '0', '-5', 'abc', '1.5', '', None, True):
            if bad is None:
                self.assertRaises(plan.PlanError, plan.build, None)
                continue
            self.assertRaises(plan.PlanError, plan.build, bad)

    def test_parse_sizes(self):
        self.assertEqual([2, 16], plan.parse_sizes('16, 2,2'))
        self.assertRaises(plan.PlanError, plan.parse_sizes, '2,x')
        self.assertRaises(plan.PlanError, plan.parse_sizes, ',')

    def test_timeouts_scale(self):
        step = plan.build(1000)[-1]
        self.assertEqual(69.0, step.timeout_minutes())
        self.assertEqual(138.0, step.timeout_minutes(2.0))
        self.assertEqual(plan.MIN_TIMEOUT_MINUTES,
                         plan.build(2)[0].timeout_minutes())


class TestQuotaNeed(testtools.TestCase):
    def test_peak_is_the_largest_step(self):
        need = plan.quota_need(plan.build(1000), masters=1)
        # 50 clusters of 2+1 (150) < one cluster of 1000+1.
        self.assertEqual(1001, need['instances'])
        self.assertEqual(50, need['clusters'])

    def test_keep_adds_everything(self):
        need = plan.quota_need(plan.build(16), masters=1, keep=True)
        self.assertEqual(50 * 3 + 10 * 17, need['instances'])
        self.assertEqual(60, need['clusters'])

    def test_cores_ram_and_volumes(self):
        flavor = {'vcpus': 4, 'ram': 8192}
        master = {'vcpus': 2, 'ram': 4096}
        need = plan.quota_need(plan.build(2, concurrency=1), masters=3,
                               flavor=flavor, master_flavor=master,
                               volumes_per_node=1, volume_gb=20)
        self.assertEqual(2 * 4 + 3 * 2, need['cores'])
        self.assertEqual(2 * 8192 + 3 * 4096, need['ram'])
        self.assertEqual(5, need['volumes'])
        self.assertEqual(100, need['gigabytes'])
