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
"""Comparison with a baseline run (pure)."""

import copy

import testtools

from magnum_cern_driver.selftest import baseline


def _fp(**over):
    fp = {'schema_version': '1',
          'target': {'kind': 'cloud', 'cloud_id': 'abc', 'name': 'prod'},
          'hollow': False,
          'versions': {'heat': '27.0.1', 'magnum': '23.0.0'},
          'template': {'coe': 'kubernetes', 'flavor': 'm1',
                       'network_driver': 'flannel',
                       'labels': {'kube_tag': 'v1.31.4',
                                  'flannel_backend': 'host-gw'}}}
    fp.update(over)
    return fp


def _run(medians, statuses=None, concurrency=None, accept=100.0,
         load_rps=None, **fp):
    sizes = []
    for i, (size, median) in enumerate(sorted(medians.items())):
        sizes.append({'size': size,
                      'concurrency': (concurrency or {}).get(size, 10),
                      'status': (statuses or {}).get(size, 'pass'),
                      'summary': {'median_minutes': median,
                                  'accept_ms_median': accept}})
    doc = {'run_id': 'r1', 'fingerprint': _fp(**fp), 'sizes': sizes}
    if load_rps is not None:
        doc['load'] = {'steps': [{'achieved_rps': load_rps, 'p99_ms': 20.0,
                                  'valid': True}]}
    return doc


class TestComparability(testtools.TestCase):
    def test_same_environment_different_versions_is_comparable(self):
        new = _fp(versions={'heat': '28.0.0', 'magnum': '23.0.0'})
        new['template'] = copy.deepcopy(new['template'])
        new['template']['labels']['kube_tag'] = 'v1.32.0'
        ok, reasons = baseline.comparability(new, _fp())
        self.assertTrue(ok, reasons)
        self.assertEqual({'heat': ['27.0.1', '28.0.0']},
                         baseline.version_changes(new, _fp()))

    def test_other_cloud_or_shape_is_not(self):
        for change in ({'target': {'kind': 'cloud', 'cloud_id': 'zzz'}},
                       {'hollow': True},
                       {'template': {'coe': 'kubernetes', 'flavor': 'm2',
                                     'network_driver': 'flannel',
                                     'labels': {}}},
                       {'schema_version': '2'}):
            ok, reasons = baseline.comparability(_fp(**change), _fp())
            self.assertFalse(ok, change)
            self.assertTrue(reasons)

    def test_not_comparable_gives_no_regressions(self):
        res = baseline.compare(_run({2: 20.0}, hollow=True),
                               _run({2: 2.0}))
        self.assertFalse(res['comparable'])
        self.assertEqual([], res['regressions'])


class TestRegressions(testtools.TestCase):
    def test_slower_by_ratio_and_floor_is_a_regression(self):
        res = baseline.compare(_run({128: 8.0}), _run({128: 5.0}))
        self.assertEqual(1, len(res['regressions']))
        self.assertIn('size 128', res['regressions'][0])

    def test_ratio_alone_is_noise(self):
        # 2x slower but only 0.5 min: below the 1 min floor.
        res = baseline.compare(_run({2: 1.0}), _run({2: 0.5}))
        self.assertEqual([], res['regressions'])

    def test_floor_alone_is_noise(self):
        # 2 min slower but only x1.1.
        res = baseline.compare(_run({1000: 22.0}), _run({1000: 20.0}))
        self.assertEqual([], res['regressions'])

    def test_faster_is_fine(self):
        res = baseline.compare(_run({16: 2.0}), _run({16: 4.0}))
        self.assertEqual([], res['regressions'])
        self.assertTrue(res['comparable'])

    def test_built_before_fails_now(self):
        res = baseline.compare(_run({32: None}, statuses={32: 'fail'}),
                               _run({32: 4.0}))
        self.assertEqual(['size 32: built in the baseline, fail now'],
                         res['regressions'])

    def test_target_miss_in_both_is_not_a_regression(self):
        res = baseline.compare(
            _run({16: 5.0}, statuses={16: 'target missed'}),
            _run({16: 5.0}, statuses={16: 'target missed'}))
        self.assertEqual([], res['regressions'])

    def test_different_concurrency_not_compared(self):
        res = baseline.compare(_run({16: 10.0}, concurrency={16: 5}),
                               _run({16: 4.0}))
        self.assertEqual([], res['regressions'])
        self.assertIn('concurrency', res['sizes'][0]['note'])

    def test_accept_latency_regression(self):
        res = baseline.compare(_run({2: 2.0}, accept=2000.0),
                               _run({2: 2.0}, accept=100.0))
        self.assertEqual(1, len(res['regressions']))
        self.assertIn('accept_ms', res['regressions'][0])

    def test_load_regression(self):
        res = baseline.compare(_run({2: 2.0}, load_rps=500000.0),
                               _run({2: 2.0}, load_rps=1000000.0))
        self.assertIn('load: load_rps', res['regressions'][0])

    def test_baseline_deploy_minutes(self):
        self.assertEqual({2: 2.0, 16: 3.0}, baseline.baseline_deploy_minutes(
            _run({2: 2.0, 16: 3.0, 32: None})))
