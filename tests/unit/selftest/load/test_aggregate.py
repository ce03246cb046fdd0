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

import json
import random

from oslotest import base

from magnum_cern_driver.selftest.load import aggregate


def bot(name, samples, target=100.0, window=10.0, successes=None,
        requests=None, sent=None, hist_bounds=None):
    lat = {'samples_ms': list(samples)}
    if hist_bounds is not None:
        lat = aggregate.histogram(samples, hist_bounds)
    requests = len(samples) if requests is None else requests
    return {'bot': name, 'target_rps': target, 'window_s': window,
            'requests': requests,
            'sent': requests if sent is None else sent,
            'successes': requests if successes is None else successes,
            'latency': lat}


class TestPercentiles(base.BaseTestCase):

    def test_nearest_rank_on_samples(self):
        samples = list(range(1, 101))  # 1..100
        random.Random(1).shuffle(samples)
        self.assertEqual(50, aggregate.percentile_of_samples(samples, 50))
        self.assertEqual(90, aggregate.percentile_of_samples(samples, 90))
        self.assertEqual(99, aggregate.percentile_of_samples(samples, 99))
        self.assertEqual(100, aggregate.percentile_of_samples(samples, 100))
        self.assertIsNone(aggregate.percentile_of_samples([], 50))

    def test_histogram_percentile_stays_in_the_right_bucket(self):
        bounds = [1.0, 2.0, 4.0, 8.0]
        # 90 values in (0, 1], 9 in (2, 4], 1 in (4, 8]
        hist = aggregate.histogram([0.5] * 90 + [3.0] * 9 + [5.0], bounds)
        self.assertEqual([90, 0, 9, 1, 0], hist['counts'])
        p50 = aggregate.percentile_of_histogram(hist, 50)
        p99 = aggregate.percentile_of_histogram(hist, 99)
        p100 = aggregate.percentile_of_histogram(hist, 100)
        self.assertTrue(0 < p50 <= 1.0, p50)
        self.assertTrue(2.0 < p99 <= 4.0, p99)
        self.assertTrue(4.0 < p100 <= 8.0, p100)
        # values above the last bound: the last bound (a lower bound)
        over = aggregate.histogram([100.0] * 10, bounds)
        self.assertEqual(8.0, aggregate.percentile_of_histogram(over, 50))

    def test_histogram_close_to_exact_on_large_sample(self):
        rng = random.Random(7)
        samples = [rng.lognormvariate(0, 1) for _ in range(20000)]
        hist = aggregate.histogram(samples, aggregate.default_bounds_ms())
        for q in (50, 90, 99):
            exact = aggregate.percentile_of_samples(samples, q)
            approx = aggregate.percentile_of_histogram(hist, q)
            self.assertLess(abs(approx - exact) / exact, 0.05, q)

    def test_default_bounds_are_increasing_and_cover_minutes(self):
        bounds = aggregate.default_bounds_ms()
        self.assertEqual(sorted(set(bounds)), bounds)
        self.assertLessEqual(bounds[0], 0.01)
        self.assertGreaterEqual(bounds[-1], 120000.0)


class TestMerge(base.BaseTestCase):

    def skewed(self, hist_bounds=None):
        # A fast busy bot and a slow quiet one: averaging their p99s says
        # (1 + 500) / 2 = 250.5 ms; the merged p99 is 1 ms because the
        # slow bot's 100 requests are under 1 % of all 20100.
        fast = bot('fast', [1.0] * 20000, hist_bounds=hist_bounds)
        slow = bot('slow', [500.0] * 100, hist_bounds=hist_bounds)
        return fast, slow

    def test_skewed_bots_merged_not_averaged(self):
        fast, slow = self.skewed()
        step = aggregate.aggregate_step(200.0, ['fast', 'slow'],
                                        [fast, slow])
        self.assertEqual(1.0, step['p99_ms'])
        self.assertEqual(1.0, step['p50_ms'])
        self.assertNotEqual(250.5, step['p99_ms'])

    def test_skewed_tail_shows_in_merged_p99(self):
        # Two equal bots, one with 4 % slow requests: per-bot p99s are
        # 300 ms and 1 ms (average 150.5 ms, a latency no request had);
        # merged, 2 % of all requests are slow, so p99 is 300 ms and p90
        # is 1 ms.
        a = bot('a', [1.0] * 9600 + [300.0] * 400)
        b = bot('b', [1.0] * 10000)
        per_bot = [aggregate.percentile_of_samples(
            x['latency']['samples_ms'], 99) for x in (a, b)]
        self.assertEqual([300.0, 1.0], per_bot)
        step = aggregate.aggregate_step(200.0, ['a', 'b'], [a, b])
        self.assertEqual(300.0, step['p99_ms'])
        self.assertEqual(1.0, step['p90_ms'])
        self.assertNotEqual(sum(per_bot) / 2, step['p99_ms'])
        # 1 % slow overall: exactly at the p99 rank boundary, still fast
        a1 = bot('a', [1.0] * 9800 + [300.0] * 200)
        step = aggregate.aggregate_step(200.0, ['a', 'b'], [a1, b])
        self.assertEqual(1.0, step['p99_ms'])

    def test_histograms_merge_like_samples(self):
        bounds = aggregate.default_bounds_ms()
        fast, slow = self.skewed(hist_bounds=bounds)
        step = aggregate.aggregate_step(200.0, ['fast', 'slow'],
                                        [fast, slow])
        self.assertLess(abs(step['p99_ms'] - 1.0), 0.1)
        a = bot('a', [1.0] * 9600 + [300.0] * 400, hist_bounds=bounds)
        b = bot('b', [1.0] * 10000, hist_bounds=bounds)
        step = aggregate.aggregate_step(200.0, ['a', 'b'], [a, b])
        self.assertLess(abs(step['p99_ms'] - 300.0) / 300.0, 0.1)
        self.assertEqual(20000, step['samples'])

    def test_mixed_samples_and_histogram(self):
        bounds = aggregate.default_bounds_ms()
        a = bot('a', [1.0] * 9600 + [300.0] * 400, hist_bounds=bounds)
        b = bot('b', [1.0] * 10000)
        merged = aggregate.merge_latency([a['latency'], b['latency']])
        self.assertIn('counts', merged)
        self.assertEqual(20000, sum(merged['counts']))

    def test_different_bounds_refused(self):
        a = bot('a', [1.0], hist_bounds=[1.0, 2.0])
        b = bot('b', [1.0], hist_bounds=[1.0, 3.0])
        self.assertRaises(ValueError, aggregate.merge_latency,
                          [a['latency'], b['latency']])


class TestStep(base.BaseTestCase):

    def test_throughput_is_successes_per_window_summed(self):
        a = bot('a', [1.0] * 1000, target=100, window=10, successes=990)
        b = bot('b', [1.0] * 500, target=50, window=10, successes=500)
        step = aggregate.aggregate_step(150.0, ['a', 'b'], [a, b])
        self.assertAlmostEqual(149.0, step['achieved_rps'])
        self.assertAlmostEqual(1490 / 1500.0, step['success_ratio'])
        self.assertTrue(step['valid'], step['reason'])
        self.assertEqual(2, step['bots'])

    def test_missing_bot_invalidates(self):
        a = bot('a', [1.0] * 1000)
        step = aggregate.aggregate_step(200.0, ['a', 'b'], [a])
        self.assertFalse(step['valid'])
        self.assertEqual(['b'], step['missing_bots'])
        self.assertIn('missing', step['reason'])

    def test_saturated_bot_invalidates(self):
        # asked for 100 rps for 10 s, managed to send 900 requests
        a = bot('a', [1.0] * 1000)
        b = bot('b', [1.0] * 900, sent=900)
        step = aggregate.aggregate_step(200.0, ['a', 'b'], [a, b])
        self.assertFalse(step['valid'])
        self.assertEqual(['b'], step['saturated_bots'])
        # within tolerance: 96 % sent is fine
        c = bot('b', [1.0] * 960)
        step = aggregate.aggregate_step(200.0, ['a', 'b'], [a, c])
        self.assertTrue(step['valid'], step['reason'])

    def test_no_bots(self):
        step = aggregate.aggregate_step(100.0, [], [])
        self.assertFalse(step['valid'])

    def test_step_is_json_serialisable(self):
        a = bot('a', [1.0] * 10)
        json.dumps(aggregate.aggregate_step(1.0, ['a'], [a]))

    def test_judge(self):
        a = bot('a', [1.0] * 1000)
        step = aggregate.aggregate_step(100.0, ['a'], [a])
        self.assertTrue(aggregate.judge_step(step)[0])
        slow = aggregate.aggregate_step(200.0, ['a'], [a])
        ok, msg = aggregate.judge_step(slow)
        self.assertFalse(ok)
        self.assertIn('achieved', msg)
        errs = bot('a', [1.0] * 1000, successes=900)
        ok, msg = aggregate.judge_step(
            aggregate.aggregate_step(90.0, ['a'], [errs]))
        self.assertFalse(ok)
        self.assertIn('success ratio', msg)
        ok, msg = aggregate.judge_step(step, max_p99_ms=0.5)
        self.assertFalse(ok)


class TestPlanAndVerdict(base.BaseTestCase):

    def test_plan_full_target(self):
        rates, eff, reason = aggregate.plan(1000, (10, 50, 100), 5000)
        self.assertEqual([100, 500, 1000], rates)
        self.assertEqual('', reason)

    def test_plan_too_small_scales_down(self):
        rates, eff, reason = aggregate.plan(1000000, (50, 100), 8000)
        self.assertEqual([4000, 8000], rates)
        self.assertIn('too small', reason)

    def test_plan_rejects_bad_steps(self):
        self.assertRaises(ValueError, aggregate.plan, 100, (0,), None)
        self.assertRaises(ValueError, aggregate.plan, 100, (150,), None)
        self.assertRaises(ValueError, aggregate.plan, 0, (50,), None)

    def test_capacity(self):
        # 2 cores, both sides 10k per core, 80 %: 8000 rps
        self.assertAlmostEqual(8000.0,
                               aggregate.capacity_rps(2, 10000, 10000))
        self.assertEqual(0.0, aggregate.capacity_rps(0, 10000, 10000))

    def _step(self, valid=True, ok=True):
        return {'target_rps': 100.0, 'achieved_rps': 100.0, 'p99_ms': 1.0,
                'valid': valid, 'ok': ok, 'reason': '' if valid else 'x',
                'message': 'm'}

    def test_verdicts(self):
        self.assertEqual('pass', aggregate.verdict([self._step()])[0])
        self.assertEqual('fail', aggregate.verdict(
            [self._step(), self._step(ok=False)])[0])
        self.assertEqual('not validated', aggregate.verdict(
            [self._step(), self._step(valid=False, ok=False)])[0])
        verdict, reason = aggregate.verdict([self._step()], 'too small')
        self.assertEqual('not validated', verdict)
        self.assertIn('too small', reason)
        self.assertEqual('not validated', aggregate.verdict([])[0])
        self.assertEqual('fail', aggregate.verdict(
            [self._step()], error='boom')[0])
        self.assertEqual('not validated', aggregate.verdict(
            [self._step()], incomplete='time budget')[0])
