"""Discrete-event simulation of the load test's queue, driven by measured service times.

The same rules as the real batcher (`core.serving.batcher`): one FIFO queue; a batch is
taken when a worker is free and closes at `max_batch` requests or `max_wait` after its first
request, whichever first (at once when that moment passed while every worker was busy);
batches form one after another; W workers. A batch of n requests occupies its worker for a
service time plus the harness's costs measured in real runs (`core.serving.overheads`):

- service time: without real runs, a draw from the isolated samples at batch n
  (quantile-interpolated between the measured sizes); with them, the isolated median at n plus
  the slowdown a real batch showed. The spread under load replaces the isolated spread, never adds
  to it (a real run's compute already holds its own variation);
- dispatch (close -> compute start) and hand-back (compute end -> outputs stored) occupy the
  worker too (it forms and hands back its own batches); both drawn with the slowdown from one
  real batch;
- a batch due while a free worker waits closes a wake-up after it is due; a batch due before a
  worker could take it (all busy, or one closing the previous batch) closes a turn-around after
  it could.

Every cost is drawn at the offered rate of the arrivals being simulated (their count over their
span), mixed between the real runs measured at the rates around it (`overheads.draw`).

The event loop steps per batch, not per request (arrival counting is a bisection on the
arrival times), and a sweep reuses one unit-rate Poisson stream scaled to each rate (common
random numbers), so a sweep of a few thousand configurations takes seconds.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, replace
from typing import Mapping, Sequence

import numpy as np

from core.serving.api import BatchPolicy, LoadPoint
from core.serving.overheads import Overheads, draw, realized_rate
from core.serving.points import is_saturated, latency_parts, served_rate

QUANTILES = 256  # points of each batch size's service-time quantile table


@dataclass(frozen=True)
class ServiceModel:
    """Service-time quantile tables per batch size (ms) and the harness costs of real runs.

    `tables[n]` (n = 1..max_size) holds `QUANTILES` sorted isolated service times for a batch of n;
    `loads`: the per-batch costs of real runs, sorted by their rate (none: a bare queue with the
    isolated service times, as in the closed-form tests).
    """

    tables: dict[int, np.ndarray]
    loads: tuple[Overheads, ...] = ()

    @property
    def max_size(self) -> int:
        """The largest batch size with a service-time table."""
        return max(self.tables)

    def median_ms(self, n: int) -> float:
        """Isolated median service time of a batch of n (the largest measured size beyond it)."""
        return float(np.median(self.tables[min(max(1, n), self.max_size)]))

    def with_load(self, load: Overheads) -> "ServiceModel":
        """This model with one more real run's costs."""
        return replace(self, loads=tuple(sorted(self.loads + (load,), key=lambda o: o.rate_rps)))

    def cycle_ms(self, n: int) -> float:
        """Mean time a batch of n holds a worker and the batcher at the most loaded real run (ms): for
        the sweep's rate grid, not a figure that is reported."""
        if not self.loads:
            return float(self.tables[n].mean())
        top = self.loads[-1]

        def mean(a: np.ndarray) -> float:
            return float(a.mean()) if len(a) else 0.0

        return max(1e-6, self.median_ms(n) + mean(top.slowdown_ms) + mean(top.dispatch_ms) + mean(top.turn_ms))

    def turn_ms(self) -> float:
        """Mean batcher turn-around at the most loaded real run (ms; 0 without one)."""
        return float(self.loads[-1].turn_ms.mean()) if self.loads and len(self.loads[-1].turn_ms) else 0.0


def service_model(
    samples_ms: Mapping[int, Sequence[float] | np.ndarray], loads: Sequence[Overheads] = ()
) -> ServiceModel:
    """Quantile tables for every batch size from 1 to the largest measured one, with `loads`.

    A size between two measured sizes takes, at each quantile, the linear interpolation of
    their quantiles (service time grows about linearly with the batch between measured points).
    Raises ValueError without a measured batch 1.
    """
    measured = sorted(int(b) for b, v in samples_ms.items() if len(v))
    if not measured or measured[0] != 1:
        raise ValueError("the service times need samples at batch 1")
    grid = (np.arange(QUANTILES) + 0.5) / QUANTILES
    q = {b: np.quantile(np.asarray(samples_ms[b], dtype=np.float64), grid) for b in measured}
    tables: dict[int, np.ndarray] = {}
    for lo, hi in zip(measured, measured[1:] + [measured[-1]]):
        for n in range(lo, hi + 1 if hi == measured[-1] else hi):
            f = 0.0 if hi == lo else (n - lo) / (hi - lo)
            tables[n] = (1 - f) * q[lo] + f * q[hi]
    tables[measured[-1]] = q[measured[-1]]
    return ServiceModel(tables, tuple(sorted(loads, key=lambda o: o.rate_rps)))


@dataclass
class SimRun:
    """Per-request results of one simulation (ms), and per-batch sizes."""

    wait_ms: np.ndarray
    compute_ms: np.ndarray
    handback_ms: np.ndarray
    batch_sizes: np.ndarray
    served_rps: float
    busy_ms: float
    span_ms: float


def simulate(arrivals_s: np.ndarray, policy: BatchPolicy, model: ServiceModel, seed: int = 0) -> SimRun:
    """Run the queue on `arrivals_s` (sorted seconds); per-request wait/compute/hand-back in ms.

    wait = batch close - arrival + the batch's dispatch; compute = the batch's service time.
    Raises ValueError when `policy.max_batch` exceeds the largest measured batch size.
    """
    if policy.max_batch > model.max_size:
        raise ValueError(f"batch {policy.max_batch} was not measured (largest: {model.max_size})")
    arr = [float(a) * 1000.0 for a in arrivals_s]  # ms, as Python floats: the loop is pure Python
    n = len(arr)
    rng = np.random.default_rng(seed)
    qidx = rng.integers(0, QUANTILES, size=n).tolist()
    rates = [o.rate_rps for o in model.loads]
    rate = realized_rate(np.asarray(arrivals_s, dtype=np.float64))
    over, slow, hand_batch = draw(
        [(o.dispatch_ms, o.slowdown_ms, o.handback_ms) for o in model.loads], rates, rate, n, rng, parts=3
    )
    (wake_l,) = draw([(o.wake_ms,) for o in model.loads], rates, rate, n, rng)
    (turn_l,) = draw([(o.turn_ms,) for o in model.loads], rates, rate, n, rng)
    over_l, slow_l, hand_l = over.tolist(), slow.tolist(), hand_batch.tolist()
    wake, turn = wake_l.tolist(), turn_l.tolist()
    calibrated = bool(model.loads)
    tables = {k: v.tolist() for k, v in model.tables.items()}
    medians = {k: model.median_ms(k) for k in model.tables}
    limit, wait, workers = policy.max_batch, policy.max_wait_ms, policy.workers
    free = [-math.inf] * workers
    closes: list[float] = []
    sizes: list[int] = []
    services: list[float] = []
    overheads: list[float] = []
    prev_close = -math.inf
    i = b = 0
    while i < n:
        k = free.index(min(free)) if workers > 1 else 0
        a0 = arr[i]
        last = i + limit - 1
        close = a0 + wait
        if last < n and arr[last] < close:
            close = arr[last]
        ready = free[k] if free[k] > prev_close else prev_close
        if ready > close:
            close = ready + turn[b]  # due before the batcher could take it: it turns around, then closes
        else:
            close += wake[b]  # the batcher slept until this arrival or deadline: it takes a moment to wake
        m = bisect_right(arr, close, i, min(n, i + limit)) - i
        s = max(0.0, medians[m] + slow_l[b]) if calibrated else tables[m][qidx[b]]
        o = over_l[b]
        free[k] = close + o + s + hand_l[b]  # the worker hands its batch back before it takes the next
        prev_close = close
        closes.append(close)
        sizes.append(m)
        services.append(s)
        overheads.append(o)
        i += m
        b += 1
    size_arr = np.asarray(sizes)
    per_req = np.repeat
    arrivals = np.asarray(arr)
    wait_ms = per_req(np.asarray(closes) + np.asarray(overheads), size_arr) - arrivals
    compute_ms = per_req(np.asarray(services), size_arr)
    hand = per_req(hand_batch[: len(sizes)], size_arr)  # a batch's outputs are handed back together
    done_last = float(np.max(arrivals + wait_ms + compute_ms + hand))
    served = served_rate(arrivals[0] / 1000.0, done_last / 1000.0, n)
    busy = float(np.sum(services) + np.sum(overheads))
    return SimRun(wait_ms, compute_ms, hand, size_arr, served, busy, done_last - arrivals[0])


def sim_point(
    arrivals_s: np.ndarray, policy: BatchPolicy, model: ServiceModel, *, variant: str, offered_rps: float, seed: int = 0
) -> LoadPoint:
    """A simulated LoadPoint (the generator is perfect in a simulation: late 0, kept up)."""
    return point_of(
        simulate(arrivals_s, policy, model, seed), arrivals_s, policy, variant=variant, offered_rps=offered_rps
    )


def point_of(
    run: SimRun, arrivals_s: np.ndarray, policy: BatchPolicy, *, variant: str, offered_rps: float
) -> LoadPoint:
    """The LoadPoint of a simulation `run` of `arrivals_s` (sorted seconds) under `policy`."""
    n = len(arrivals_s)
    realized = (
        (n - 1) / float(arrivals_s[-1] - arrivals_s[0]) if n > 1 and arrivals_s[-1] > arrivals_s[0] else offered_rps
    )
    return LoadPoint(
        variant=variant,
        policy=policy,
        offered_rps=float(offered_rps),
        achieved_rps=float(realized),
        generator_late_p99_ms=0.0,
        generator_kept_up=True,
        requests=n,
        latency=latency_parts(run.wait_ms, run.compute_ms, run.handback_ms),
        simulated=True,
        saturated=is_saturated(realized, run.served_rps),
        mean_batch=float(run.batch_sizes.mean()),
        utilization=run.busy_ms / (policy.workers * run.span_ms) if run.span_ms > 0 else math.nan,
    )


def holds(point: LoadPoint, p99_ms: float) -> bool:
    """The point holds the budget: not saturated and total p99 within `p99_ms`."""
    return not point.saturated and point.latency.total.p99 <= p99_ms


__all__ = ["QUANTILES", "ServiceModel", "SimRun", "holds", "point_of", "service_model", "sim_point", "simulate"]
