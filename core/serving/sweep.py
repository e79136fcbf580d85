"""The simulated sweep: rate x max_batch x max_wait x workers, per variant.

For each policy, the highest sustainable rate at the p99 budget: the simulated p99 of
every request (queue wait + compute + hand-back) within the budget and the queue not
saturated. The search tries a geometric grid of rates up to the policy's capacity (workers
x batch / mean service time) and then bisects between the highest rate that holds and the
next one (p99 is not always monotone in the rate with batching: at low rates requests wait
the full max_wait, so a grid comes first, not a plain bisection).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from core.serving.api import BatchPolicy, LoadPoint
from core.serving.generator import Schedule, poisson_schedule
from core.serving.simulate import ServiceModel, holds, sim_point

SEARCH_REQUESTS = 4000  # per simulated point while searching (p99 from the 40 slowest)
CURVE_REQUESTS = 12000  # per simulated point of a reported curve
GRID_POINTS = 10
BISECT_STEPS = 5


def policies(
    max_batch: Sequence[int], max_wait_ms: Sequence[float], workers: Sequence[int], largest_batch: int
) -> list[BatchPolicy]:
    """Every distinct policy of the grid whose batch size was measured (batch 1 ignores max_wait)."""
    seen: list[BatchPolicy] = []
    for b, w, k in itertools.product(sorted(set(max_batch)), sorted(set(max_wait_ms)), sorted(set(workers))):
        if b > largest_batch:
            continue
        p = BatchPolicy(int(b), 0.0 if b == 1 else float(w), int(k))
        if p not in seen:
            seen.append(p)
    return seen


def capacity_rps(policy: BatchPolicy, model: ServiceModel) -> float:
    """The most a policy could serve: workers x max_batch per mean cycle of a full batch, and max_batch
    per batcher turn-around (the batcher is one thread), at the most loaded real run. It only sets the
    top of the search grid: the simulation decides what holds."""
    workers = policy.workers * policy.max_batch / (model.cycle_ms(policy.max_batch) / 1000.0)
    turn = model.turn_ms()
    return min(workers, policy.max_batch / (turn / 1000.0)) if turn > 0 else workers


class Arrivals:
    """Arrival times at any rate from one stream (a unit-rate Poisson stream or a trace's shape)."""

    def __init__(self, count: int, trace: Schedule | None = None, seed: int = 0) -> None:
        if trace is not None:
            self.unit = trace.scaled_to(1.0).tiled(count=count).times
        else:
            self.unit = poisson_schedule(1.0, 0, seed, count=count).times

    def at(self, rate: float) -> np.ndarray:
        """The arrival times (s) at `rate` requests per second: the unit-rate stream scaled (common random numbers)."""
        return self.unit / rate


@dataclass(frozen=True)
class PolicyResult:
    """One policy's sustainable rate (None: it holds the budget at no rate tried) and its grid points."""

    policy: BatchPolicy
    sustainable_rps: float | None
    grid: tuple[LoadPoint, ...]


def sustainable(
    policy: BatchPolicy,
    model: ServiceModel,
    p99_ms: float,
    arrivals: Arrivals,
    *,
    variant: str,
    check: Callable[[], None] = lambda: None,
) -> PolicyResult:
    """The highest simulated rate at which `policy` holds `p99_ms` (grid, then bisection)."""
    top = capacity_rps(policy, model)
    rates = np.geomspace(top * 0.02, top, GRID_POINTS)
    grid: list[LoadPoint] = []
    best = None
    for rate in rates:
        check()
        point = sim_point(arrivals.at(rate), policy, model, variant=variant, offered_rps=float(rate))
        grid.append(point)
        if holds(point, p99_ms):
            best = float(rate)
    if best is None:
        return PolicyResult(policy, None, tuple(grid))
    lo, hi = best, float(rates[min(len(rates) - 1, int(np.searchsorted(rates, best)) + 1)])
    if hi <= lo:
        hi = lo * 1.25
    for _ in range(BISECT_STEPS):
        check()
        mid = (lo * hi) ** 0.5
        if holds(sim_point(arrivals.at(mid), policy, model, variant=variant, offered_rps=mid), p99_ms):
            lo = mid
        else:
            hi = mid
    return PolicyResult(policy, lo, tuple(grid))


def best_policy(results: Sequence[PolicyResult]) -> PolicyResult | None:
    """The policy with the highest sustainable rate; within 3% of it, the simplest (smaller batch,
    shorter wait, fewer workers) wins: the simulation cannot tell closer rates apart."""
    ok = [(r, r.sustainable_rps) for r in results if r.sustainable_rps is not None]
    if not ok:
        return None
    top = max(rate for _, rate in ok)
    near = [r for r, rate in ok if rate >= 0.97 * top]
    return min(near, key=lambda r: (r.policy.max_batch, r.policy.max_wait_ms, r.policy.workers))


def knee(
    policy: BatchPolicy,
    model: ServiceModel,
    arrivals: Arrivals,
    *,
    variant: str,
    check: Callable[[], None] = lambda: None,
) -> float | None:
    """The knee of p99 versus load (`knee_of`) over 16 simulated rates from 5% to 110% of capacity."""
    top = capacity_rps(policy, model)
    points = []
    for rate in np.geomspace(top * 0.05, top * 1.1, 16):
        check()
        p = sim_point(arrivals.at(rate), policy, model, variant=variant, offered_rps=float(rate))
        points.append((float(rate), p.latency.total.p99, p.saturated))
    return knee_of(points)


def knee_of(points: Sequence[tuple[float, float, bool]]) -> float | None:
    """The knee of (rate, p99 ms, saturated) points in rising rate: the highest rate below which p99 stays
    under twice the first point's, and beyond which it never comes back under (the queue, not the model,
    sets the latency from there on). A single high point followed by lower ones is a bump of the measured
    costs (the simulation draws them from the real run nearest each rate), not the knee. None if the
    first point is already over or saturated, or there are no points."""
    if not points or points[0][2]:
        return None
    limit = 2 * points[0][1]
    over = [saturated or p99 > limit for _, p99, saturated in points]
    beyond = len(over)  # the first point from which every later point is over
    while beyond > 0 and over[beyond - 1]:
        beyond -= 1
    return points[beyond - 1][0] if beyond > 0 else None


def curve(
    policy: BatchPolicy,
    model: ServiceModel,
    rates: Sequence[float],
    arrivals: Arrivals,
    *,
    variant: str,
    emit: Callable[[LoadPoint], None],
    check: Callable[[], None] = lambda: None,
) -> list[LoadPoint]:
    """Simulated points of `policy` at each rate, each sent to `emit` as it is ready."""
    points = []
    for rate in rates:
        check()
        p = sim_point(arrivals.at(rate), policy, model, variant=variant, offered_rps=float(rate))
        emit(p)
        points.append(p)
    return points


__all__ = [
    "Arrivals",
    "CURVE_REQUESTS",
    "PolicyResult",
    "SEARCH_REQUESTS",
    "best_policy",
    "capacity_rps",
    "curve",
    "knee",
    "knee_of",
    "policies",
    "sustainable",
]
