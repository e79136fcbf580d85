"""The queue simulation against closed forms of queueing theory and against hand-counted batches."""

from __future__ import annotations

import numpy as np
import pytest

from core.serving.api import BatchPolicy
from core.serving.cache_sim import cache_effect, lru_hits
from core.serving.generator import poisson_schedule
from core.serving.simulate import service_model, simulate
from core.serving.sweep import Arrivals, best_policy, sustainable


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


def test_overhead_and_handback_drawn_together():
    # Calibration pairs (overhead, hand-back) = (0, 3) and (3, 0): a stall lands in one part or the other,
    # never both. Requests 10 ms apart (service 1 ms) never queue, so each one's wait + hand-back is 3 ms.
    arrivals = np.arange(200) * 0.010
    model = service_model({1: [1.0] * 5}, overhead_ms=[0.0, 3.0], handback_ms=[3.0, 0.0])
    run = simulate(arrivals, BatchPolicy(), model, seed=2)
    assert np.allclose(run.wait_ms + run.handback_ms, 3.0)
    assert {0.0, 3.0} <= set(np.round(run.handback_ms, 9).tolist())
