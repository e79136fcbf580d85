"""The queue simulation against closed forms of queueing theory and against hand-counted batches."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.serving.api import BatchPolicy, LoadPoint
from core.serving.cache_sim import cache_effect, lru_hits
from core.serving.calibrate import CONFIRM_REPEATS
from core.serving.generator import poisson_schedule
from core.serving.overheads import BLOCK, Overheads, draw, load_weights, measure_overheads, pooled
from core.serving.simulate import service_model, simulate
from core.serving.sweep import Arrivals, best_policy, knee_of, sustainable


@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_md1_mean_wait_matches_pollaczek_khinchine(rho):
    # M/D/1: Poisson arrivals, deterministic service 1/mu: mean wait W = rho / (2 mu (1 - rho)).
    service_ms = 1.0
    mu = 1.0 / service_ms
    arrivals = poisson_schedule(rho * 1000.0, 0, seed=1, count=60000).times
    run = simulate(arrivals, BatchPolicy(), service_model({1: [service_ms] * 5}))
    expected = rho / (2 * mu * (1 - rho))
    assert run.wait_ms.mean() == pytest.approx(expected, rel=0.05)
    assert np.all(run.compute_ms == service_ms)


def test_mm1_mean_wait():
    # M/M/1: exponential service, mean 1 ms: mean wait W = rho / (mu - lambda) = rho / (1 - rho) ms.
    rho = 0.6
    service = np.random.default_rng(3).exponential(1.0, 50000)
    arrivals = poisson_schedule(rho * 1000.0, 0, seed=2, count=60000).times
    run = simulate(arrivals, BatchPolicy(), service_model({1: service}))
    assert run.wait_ms.mean() == pytest.approx(rho / (1 - rho), rel=0.05)


def test_batches_by_hand():
    # A request every 1 ms, service 0.1 ms per batch; max_batch 4, max_wait 2.5 ms: a batch opens
    # at 0, 3, 6, ... ms and closes 2.5 ms later with the three requests that came meanwhile.
    arrivals = np.arange(12) / 1000.0
    run = simulate(arrivals, BatchPolicy(max_batch=4, max_wait_ms=2.5), service_model({1: [0.1], 4: [0.1]}))
    assert run.batch_sizes.tolist() == [3, 3, 3, 3]
    assert run.wait_ms[:3] == pytest.approx([2.5, 1.5, 0.5])
    # max_batch first: with max_wait 10 ms the batch closes on its 4th request, at 3 ms.
    run = simulate(arrivals, BatchPolicy(max_batch=4, max_wait_ms=10.0), service_model({1: [0.1], 4: [0.1]}))
    assert run.batch_sizes.tolist() == [4, 4, 4]
    assert run.wait_ms[:4] == pytest.approx([3.0, 2.0, 1.0, 0.0])


def test_two_workers_serve_twice_as_fast():
    # Two requests at once, service 1 ms, no batching: with one worker the second waits 1 ms; with two, 0.
    arrivals = np.array([0.0, 0.0])
    model = service_model({1: [1.0]})
    assert simulate(arrivals, BatchPolicy(workers=1), model).wait_ms.tolist() == pytest.approx([0.0, 1.0])
    assert simulate(arrivals, BatchPolicy(workers=2), model).wait_ms.tolist() == pytest.approx([0.0, 0.0])


def test_sustainable_rate_of_deterministic_server():
    # M/D/1 with service 1 ms and a 20 ms p99 budget: utilization must stay below 1, so the sustainable
    # rate lies under 1000/s; and batching (batch of 8 costs 2 ms) must raise it above 1000/s.
    model = service_model({1: [1.0], 8: [2.0]})
    arrivals = Arrivals(4000)
    plain = sustainable(BatchPolicy(), model, 20.0, arrivals, variant="v")
    batched = sustainable(BatchPolicy(8, 1.0, 1), model, 20.0, arrivals, variant="v")
    assert plain.sustainable_rps is not None and 500 < plain.sustainable_rps < 1000
    assert batched.sustainable_rps is not None and batched.sustainable_rps > 1000
    assert best_policy([plain, batched]).policy == BatchPolicy(8, 1.0, 1)


def test_lru_hits_by_hand():
    # capacity 2: a b a c b -> the second a hits; c evicts b (least recently used), so b misses.
    assert lru_hits(list("abacb"), 2).tolist() == [False, False, True, False, False]
    assert lru_hits(list("abab"), 0).tolist() == [False] * 4


def test_cache_effect_says_too_few_repeats():
    arrivals = np.arange(200) / 1000.0
    keys = [str(i) for i in range(200)]  # every key once: nothing to cache
    effect = cache_effect(arrivals, keys, 50, BatchPolicy(), service_model({1: [0.2]}))
    assert effect.hit_rate == 0.0 and effect.too_few_repeats and "too few repeats" in effect.note
    hot = cache_effect(arrivals, ["k"] * 200, 1, BatchPolicy(), service_model({1: [0.2]}))
    assert hot.hit_rate == pytest.approx(199 / 200) and hot.model_load_fraction == pytest.approx(1 / 200)
    assert not hot.too_few_repeats


def _costs(rate, dispatch=(0.0,), handback=None, slowdown=None, wake=(), turn=()):
    dispatch = np.asarray(dispatch, dtype=float)
    return Overheads(
        rate,
        dispatch,
        np.zeros_like(dispatch) if slowdown is None else np.asarray(slowdown, float),
        np.zeros_like(dispatch) if handback is None else np.asarray(handback, float),
        np.asarray(wake, float),
        np.asarray(turn, float),
    )


def test_dispatch_and_handback_drawn_together():
    # Real batches (dispatch, hand-back) = (0, 3) and (3, 0): a stall lands in one part or the other, never
    # both. Requests 10 ms apart (service 1 ms) never queue, so each one's wait + hand-back is 3 ms.
    arrivals = np.arange(200) * 0.010
    model = service_model({1: [1.0] * 5}, [_costs(100.0, dispatch=[0.0, 3.0], handback=[3.0, 0.0])])
    run = simulate(arrivals, BatchPolicy(), model, seed=2)
    assert np.allclose(run.wait_ms + run.handback_ms, 3.0)
    assert {0.0, 3.0} <= set(np.round(run.handback_ms, 9).tolist())


def test_wake_and_turn_by_hand():
    # Service 1 ms (isolated median), the real run's slowdown 0.25 ms: compute 1.25 ms. Two requests at
    # 0 ms: the first closes after a 0.1 ms wake-up; the second was due before the worker was free (at
    # 0.1 + 1.25 ms), so it closes a 0.5 ms turn-around after that: it waits 1.85 ms.
    model = service_model({1: [0.5, 1.0, 1.5]}, [_costs(10.0, slowdown=[0.25], wake=[0.1], turn=[0.5])])
    run = simulate(np.array([0.0, 0.0]), BatchPolicy(), model)
    assert run.compute_ms.tolist() == pytest.approx([1.25, 1.25])
    assert run.wait_ms.tolist() == pytest.approx([0.1, 1.85])


@pytest.mark.parametrize("rate, heavy_share", [(50.0, 0.0), (150.0, 0.25), (250.0, 0.75), (400.0, 1.0)])
def test_costs_mix_the_runs_around_the_rate(rate, heavy_share):
    # Runs measured at 100/s (dispatch 0) and 300/s (dispatch 2 ms). At 150/s a batch takes the 300/s run's
    # cost with probability (150 - 100) / (300 - 100) = 1/4; below 100/s never, above 300/s always.
    # Evenly spaced requests with 0.1 ms service never queue (2.1 ms < 2.5 ms apart), so each request's
    # wait is its own batch's dispatch. The run is chosen per block of BLOCK batches: 1,500 blocks.
    assert load_weights([100.0, 300.0], rate).tolist() == pytest.approx([1 - heavy_share, heavy_share])
    model = service_model({1: [0.1]}, [_costs(300.0, dispatch=[2.0]), _costs(100.0, dispatch=[0.0])])
    arrivals = np.arange(1500 * BLOCK) / rate
    run = simulate(arrivals, BatchPolicy(), model, seed=5)
    heavy = run.wait_ms > 1.0
    assert float(np.mean(heavy)) == pytest.approx(heavy_share, abs=0.035)  # binomial sd <= 0.013 at 1,500 blocks
    # Whole blocks come from one run: a block's batches are all heavy or all light.
    per_block = heavy.reshape(1500, BLOCK)
    assert np.all(per_block.all(axis=1) | ~per_block.any(axis=1))


def test_a_worker_is_busy_until_it_has_handed_its_batch_back():
    # Service 1 ms, hand-back 0.5 ms, no other cost. Two requests at 0 ms, one worker: the second can be
    # taken only once the worker has handed the first back, at 1.5 ms, so it waits 1.5 ms.
    model = service_model({1: [1.0]}, [_costs(10.0, handback=[0.5])])
    run = simulate(np.array([0.0, 0.0]), BatchPolicy(), model)
    assert run.wait_ms.tolist() == pytest.approx([0.0, 1.5])
    assert (run.wait_ms + run.compute_ms + run.handback_ms).tolist() == pytest.approx([1.5, 3.0])


def test_costs_measured_from_a_run_by_hand():
    # One worker, no batching. Times in ms (the record holds seconds). Request 0 arrives at 0 with the
    # batcher idle and closes at 0.1 (wake 0.1); it runs 0.2-1.2 (isolated median 0.8: slowdown 0.2) and
    # is received at 1.5 (hand-back 0.3). Request 1 arrives at 0.5, before the worker is free (it hands
    # request 0 back at 1.5): it closes at 1.6 (turn-around 0.1), runs 1.7-2.5 and is received at 2.6. Request 2 arrives at 5,
    # the batcher idle again: wake 0.05. Request 3 (the last batch) counts only for the per-batch parts.
    ms = np.array
    arrival, closed = ms([0.0, 0.5, 5.0, 9.0]), ms([0.1, 1.6, 5.05, 9.1])
    start, done, received = ms([0.2, 1.7, 5.1, 9.2]), ms([1.2, 2.5, 6.0, 10.0]), ms([1.5, 2.6, 6.1, 10.1])
    costs = measure_overheads(
        arrival / 1000, closed / 1000, start / 1000, done / 1000, received / 1000, BatchPolicy(), lambda n: 0.8
    )
    assert costs.dispatch_ms == pytest.approx([0.1, 0.1, 0.05, 0.1])
    assert costs.slowdown_ms == pytest.approx([0.2, 0.0, 0.1, 0.0])
    assert costs.handback_ms == pytest.approx([0.3, 0.1, 0.1, 0.1])
    assert costs.wake_ms == pytest.approx([0.1, 0.05]) and costs.turn_ms == pytest.approx([0.1])
    assert costs.rate_rps == pytest.approx(3 / 0.009) and costs.requests == 4


def test_batched_costs_measured_with_two_workers():
    # Two workers, batches of up to 2, max_wait 1 ms. Batch A = requests 0, 1 (arrive 0 and 0.2, full at
    # 0.2, closes 0.3: wake 0.1); batch B = requests 2, 3 (arrive 0.4 and 0.5, full at 0.5; the second
    # worker is free, the batcher closed A at 0.3: closes 0.55, wake 0.05); batch C = request 4 (arrives
    # 0.6, due at 1.6 by max_wait; both workers busy until A's worker hands it back at 2.1: closes 2.2,
    # turn-around 0.1);
    # batch D = request 5, the last.
    ms = np.array
    arrival = ms([0.0, 0.2, 0.4, 0.5, 0.6, 8.0])
    closed = ms([0.3, 0.3, 0.55, 0.55, 2.2, 9.0])
    start = ms([0.4, 0.4, 0.6, 0.6, 2.3, 9.1])
    done = ms([2.0, 2.0, 2.5, 2.5, 3.0, 9.5])
    received = done + 0.1
    costs = measure_overheads(
        arrival / 1000,
        closed / 1000,
        start / 1000,
        done / 1000,
        received / 1000,
        BatchPolicy(2, 1.0, 2),
        lambda n: {1: 0.5, 2: 1.5}[n],
    )
    assert costs.dispatch_ms == pytest.approx([0.1, 0.05, 0.1, 0.1])
    assert costs.slowdown_ms == pytest.approx([0.1, 0.4, 0.2, -0.1])
    assert costs.wake_ms == pytest.approx([0.1, 0.05]) and costs.turn_ms == pytest.approx([0.1])


def test_calibration_runs_go_where_the_answer_lies():
    # The search finds 10,000/s from the light run alone; a real run there saturates, serving 4,000/s:
    # its costs are dropped and rates are capped at 80% of 4,000 = 3,200/s. The run at 3,200/s holds
    # and its costs make the search find 3,000/s, within 15% of a measured rate: no further run there;
    # last, CONFIRM_REPEATS runs at the confirming rate, 80% of 3,000 = 2,400/s, as long as those.
    from types import SimpleNamespace

    from core.serving.calibrate import refine
    from core.serving.sweep import PolicyResult

    found = {1: 10000.0, 2: 3000.0, 3: 2900.0}

    def search(model):
        return PolicyResult(BatchPolicy(), found[len(model.loads)], ())

    class FakeRuns:
        rates: list = []

        def calibrate(self, policy, rate, model, repeats=1, **lengths):
            self.rates.append(rate)
            self.repeats.append(repeats)
            p99 = SimpleNamespace(total=SimpleNamespace(p99=1.0))  # within the 5 ms budget
            point = SimpleNamespace(saturated=rate > 5000, offered_rps=rate, achieved_rps=rate, latency=p99)
            return point, _costs(rate), 4000.0

    runs = FakeRuns()
    runs.p99_ms = 5.0
    runs.repeats = []
    cal = refine(service_model({1: [0.1]}, [_costs(500.0)]), search, runs)
    assert runs.rates == pytest.approx([10000.0, 3200.0, 2400.0])
    assert runs.repeats == [1, 1, CONFIRM_REPEATS]
    assert cal.ceiling == pytest.approx(3200.0) and cal.result.sustainable_rps == pytest.approx(2900.0)
    assert [o.rate_rps for o in cal.model.loads] == pytest.approx([500.0, 2400.0, 3200.0])


def test_a_real_run_over_the_budget_caps_the_rate_claimed():
    # The run at 10,000/s keeps up but its real p99 is 6 ms (budget 5): its costs are kept and rates are
    # capped at 8,000/s. The run at 8,000/s holds; the search finds 7,000/s, within 15% of it; the last
    # runs go at the confirming rate, 80% of 7,000 = 5,600/s (or at the user's target rate, when lower).
    from types import SimpleNamespace

    from core.serving.calibrate import refine
    from core.serving.sweep import PolicyResult

    found = {1: 10000.0, 2: 9000.0, 3: 7000.0, 4: 7100.0}

    def search(model):
        return PolicyResult(BatchPolicy(), found[len(model.loads)], ())

    class FakeRuns:
        p99_ms = 5.0
        rates: list = []

        def calibrate(self, policy, rate, model, repeats=1, **lengths):
            self.rates.append(rate)
            p99 = SimpleNamespace(total=SimpleNamespace(p99=6.0 if rate > 9000 else 1.0))
            point = SimpleNamespace(saturated=False, offered_rps=rate, achieved_rps=rate, latency=p99)
            return point, _costs(rate), rate

    runs = FakeRuns()
    cal = refine(service_model({1: [0.1]}, [_costs(500.0)]), search, runs)
    assert runs.rates == pytest.approx([10000.0, 8000.0, 5600.0])
    assert cal.ceiling == pytest.approx(8000.0) and cal.result.sustainable_rps == pytest.approx(7100.0)
    assert len(cal.model.loads) == 4
    runs.rates = []
    refine(service_model({1: [0.1]}, [_costs(500.0)]), search, runs, target=3000.0)
    assert runs.rates[-1] == pytest.approx(3000.0)


def _longest_run(flags: np.ndarray) -> int:
    best = current = 0
    for flag in flags.tolist():
        current = current + 1 if flag else 0
        best = max(best, current)
    return best


def test_a_burst_of_slow_batches_is_replayed_as_a_burst():
    # A real run of 1,000 batches whose batches 500-531 were slow (a 32-batch stall of the machine). Drawn
    # one by one, a slow draw (p = 32/1000) is followed by another only 3% of the time: the longest run in
    # 10,000 draws is a few. Replayed in blocks of 64 successive batches, some block covers the whole stall
    # (any start in 468..500 of 1,000, over ~157 blocks), so 32 slow draws come in a row, as they did.
    dispatch = np.zeros(1000)
    dispatch[500:532] = 5.0
    (drawn,) = draw([(dispatch,)], [100.0], 100.0, 10_000, np.random.default_rng(0))
    assert BLOCK >= 32
    assert _longest_run(drawn > 1.0) == 32
    assert np.mean(drawn > 1.0) == pytest.approx(0.032, abs=0.02)  # the slow share is the run's own


def test_the_knee_is_where_p99_leaves_twice_its_light_load_value_for_good():
    # p99 at light load 1.0 ms: the limit is 2.0 ms. A bump to 3.5 ms at 300/s falls back to 1.5 ms, so it is
    # not the knee; from 700/s on every point is over 2 ms (then saturated): the knee is 600/s, the last rate
    # before that. The first rate over the limit (300/s) would call the knee at 200/s.
    points = [
        (100.0, 1.0, False),
        (200.0, 1.2, False),
        (300.0, 3.5, False),
        (400.0, 1.5, False),
        (500.0, 1.8, False),
        (600.0, 1.9, False),
        (700.0, 4.0, False),
        (800.0, 9.0, False),
        (900.0, 50.0, True),
    ]
    assert knee_of(points) == 600.0
    assert knee_of(points[:6]) == 600.0  # never over for good: the highest rate tried
    assert knee_of([(100.0, 1.0, True)]) is None  # saturated from the start
    assert knee_of([(100.0, 1.0, False), (200.0, 3.0, False)]) == 100.0
    assert knee_of([]) is None


def test_runs_at_one_rate_pool_into_one():
    # Two runs: 100 requests at 1,000/s and 300 at 2,000/s: rate (1,000 x 100 + 2,000 x 300) / 400 = 1,750/s.
    a = Overheads(1000.0, np.array([1.0]), np.array([0.1]), np.array([0.2]), np.array([0.3]), np.array([]), 100)
    b = Overheads(
        2000.0, np.array([2.0, 3.0]), np.array([0.4, 0.5]), np.array([0.6, 0.7]), np.array([]), np.array([0.8]), 300
    )
    both = pooled([a, b])
    assert both.rate_rps == pytest.approx(1750.0) and both.requests == 400
    assert both.dispatch_ms.tolist() == [1.0, 2.0, 3.0] and both.slowdown_ms.tolist() == [0.1, 0.4, 0.5]
    assert both.handback_ms.tolist() == [0.2, 0.6, 0.7]
    assert both.wake_ms.tolist() == [0.3] and both.turn_ms.tolist() == [0.8]
    with pytest.raises(ValueError):
        pooled([])


class _ScriptedRuns:
    """`RealRuns` whose real runs are scripted: run k (from 0) serves 100 requests 10 ms apart in 1 + k ms
    each (no queue), its index in the point's note."""

    def __new__(cls):
        from core.engine.context import CancelToken, null_reporter
        from core.serving.calibrate import RealRuns
        from core.serving.loadtest import RunRecord
        from core.serving.points import latency_parts

        class Runs(RealRuns):
            made = 0

            def run(self, policy, rate, requests, stretch):
                k, self.made = self.made, self.made + 1
                arrival = np.arange(100) * 0.010
                done = arrival + (1 + k) / 1000
                total = np.full(100, 1.0 + k)
                parts = latency_parts(total * 0, total, total * 0)
                point = LoadPoint("v", policy, rate, rate, 0.0, True, 100, parts, False, False, note=str(k))
                return point, RunRecord(arrival, arrival, arrival, done, done, [1] * 100, np.zeros(100))

        return Runs([], None, "v", 5.0, 1.0, null_reporter(), CancelToken())


def test_confirming_runs_held_out_between_calibration_runs_are_the_ones_confirmed():
    # refine's last step: calibration runs at the confirming rate, each after a confirming run held out for
    # `confirm`: runs 0, 2, 4 held out, runs 1, 3, 5 calibrate (slowdowns 1, 3, 5 ms over the 1 ms median).
    # confirm makes no run of its own: real p99 over the held-out runs (1, 3, 5 ms) is 5 ms; the twins draw
    # slowdowns 1, 3 or 5 ms: p99 6 ms, an error of 20%. Real against real: the calibration runs took 2, 4
    # and 6 ms, p99 6 ms, so they differ from the held-out runs by 20% too.
    from core.serving.calibrate import MIN_REQUESTS

    runs = _ScriptedRuns()
    policy, rate = BatchPolicy(), 100.0
    point, costs, _ = runs.calibrate(policy, rate, service_model({1: [1.0]}), 3, MIN_REQUESTS, 4.0, True)
    # The calibration point counts every request: p99 over 2, 4 and 6 ms is 6 ms, not the median run's 4.
    assert point.latency.total.p99 == pytest.approx(6.0) and point.requests == 300
    assert [p.note for p, _ in runs.held[(policy, rate)]] == ["0", "2", "4"]
    assert set(np.round(costs.slowdown_ms, 6).tolist()) == {1.0, 3.0, 5.0} and costs.requests == 300
    real, error, account, repeat = runs.confirm(policy, rate, service_model({1: [1.0]}, [costs]))
    assert runs.made == 6 and (policy, rate) not in runs.held  # no new run: the held-out ones
    # The point confirmed is all three runs as one (300 requests, p99 5 ms), not the median run (3 ms).
    assert real.requests == 300 and real.latency.total.p99 == pytest.approx(5.0)
    assert error == pytest.approx(0.2) and "3 real runs (each made between" in account
    assert repeat == pytest.approx(0.2)
    # Without held-out runs, confirm makes its own, and there is no real-against-real figure.
    *_, repeat = runs.confirm(policy, rate, service_model({1: [1.0]}, [costs]), repeats=2)
    assert runs.made == 8 and repeat is None


def test_a_knee_past_a_rate_a_real_run_failed_is_not_claimed():
    from core.serving.study import knee_supported

    # A real run at 10,000/s did not hold: rates are claimed up to 8,000/s (the ceiling, 80% of it).
    assert knee_supported(9_000.0, 8_000.0) and knee_supported(10_000.0, 8_000.0)
    assert not knee_supported(10_500.0, 8_000.0)
    assert knee_supported(50_000.0, math.inf) and knee_supported(None, 8_000.0)  # no failed run; no knee


@pytest.mark.parametrize("budget_ms, claimed", [(4.0, 80.0), (5.5, 125.0)])
def test_confirming_runs_that_do_not_hold_over_all_requests_cap_the_claim(budget_ms, claimed):
    # The simulation claims 125/s; the confirming runs go at 80% of it, 100/s, where three were held out
    # (real p99 1, 3 and 5 ms: 5 ms over all their requests). Budget 4 ms: the median run (3 ms) held it,
    # all the requests did not: the claim is capped at 80% of 100/s and the note says why. Budget 5.5 ms: held.
    from core.serving.calibrate import MIN_REQUESTS, Calibration
    from core.serving.study import _confirmed
    from core.serving.sweep import PolicyResult

    runs = _ScriptedRuns()
    runs.p99_ms = budget_ms
    policy, rate = BatchPolicy(), 100.0
    model = service_model({1: [1.0]})
    _, costs, _ = runs.calibrate(policy, rate, model, 3, MIN_REQUESTS, 4.0, True)
    cal = Calibration(model.with_load(costs), None, confirm_at=(policy, rate))
    notes: list[str] = []
    done = _confirmed(runs, cal, policy, PolicyResult(policy, 125.0, ()), cal.model, None, notes)
    assert runs.made == 6  # the held-out runs, at 100/s
    assert done.point.latency.total.p99 == pytest.approx(5.0)
    assert done.result.sustainable_rps == pytest.approx(claimed)
    capped_notes = [n for n in notes if "did not hold" in n]
    if claimed < 125.0:
        assert cal.ceiling == pytest.approx(80.0) and len(capped_notes) == 1 and "p99 5.00 ms" in capped_notes[0]
    else:
        assert math.isinf(cal.ceiling) and not capped_notes


def test_the_simulated_curve_stops_at_a_rate_a_real_run_did_not_hold():
    # A real run at 10,000/s did not hold: the ceiling is 8,000/s (80% of it). The curve's 12,000/s point
    # has no measured costs behind it: left out, with a note; 10,000/s (the real run's own rate) stays.
    from core.serving.calibrate import Calibration
    from core.serving.study import _supported_rates

    model = service_model({1: [0.1]})
    notes: list[str] = []
    failed = Calibration(model, None, ceiling=8_000.0)
    assert _supported_rates([5_000.0, 10_000.0, 12_000.0], BatchPolicy(), failed, notes) == [5_000.0, 10_000.0]
    assert len(notes) == 1 and "stops at 10,000/s" in notes[0] and "1 rate(s)" in notes[0]
    notes.clear()
    assert _supported_rates([5_000.0, 12_000.0], BatchPolicy(), Calibration(model, None), notes) == [5_000.0, 12_000.0]
    assert notes == []
