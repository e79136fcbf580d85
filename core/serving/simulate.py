"""Discrete-event simulation of the load test's queue, driven by measured service times.

The same rules as the real batcher (`core.serving.batcher`): one FIFO queue; a batch is
taken when a worker is free and closes at `max_batch` requests or `max_wait` after its first
request, whichever first (at once when that moment passed while every worker was busy);
batches form one after another; W workers. A batch of n requests occupies its worker for a
service time drawn from the measured samples at batch n (quantile-interpolated between the
measured sizes) plus a measured per-batch overhead (dispatch to a worker and the slowdown
under load, from a calibration run), and each batch a measured hand-back time (the same
draw as its overhead, so a stall of the machine is counted once).

The event loop steps per batch, not per request (arrival counting is a bisection on the
arrival times), and a sweep reuses one unit-rate Poisson stream scaled to each rate (common
random numbers), so a sweep of a few thousand configurations takes seconds.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from core.serving.api import BatchPolicy, LoadPoint
from core.serving.points import is_saturated, latency_parts, served_rate

QUANTILES = 256  # points of each batch size's service-time quantile table


@dataclass(frozen=True)
class ServiceModel:
    """Service-time quantile tables per batch size (ms), and overhead samples (ms).

    `tables[n]` (n = 1..max_size) holds `QUANTILES` sorted service times for a batch of n;
    `overhead_ms` is added per batch (it occupies the worker), `handback_ms` per batch (the collector
    receives a batch at once; drawn with the same index as the overhead when both have one length);
    `batcher_ms` + n x `request_ms` is the harness's own serial time for a batch of n (the
    generator, batcher and hand-back are Python threads sharing one interpreter lock): a batch
    closes no sooner than that after the one before; measured without a model. `wake_ms`: how
    long the batcher takes to wake when a request arrives while it sleeps (it is added to a batch
    that closes on an arrival or a max-wait deadline, not to one a busy worker held back).
    """

    tables: dict[int, np.ndarray]
    overhead_ms: np.ndarray = field(default_factory=lambda: np.zeros(1))
    handback_ms: np.ndarray = field(default_factory=lambda: np.zeros(1))
    batcher_ms: float = 0.0
    request_ms: float = 0.0
    wake_ms: np.ndarray = field(default_factory=lambda: np.zeros(1))

    @property
    def max_size(self) -> int:
        return max(self.tables)

    def mean_ms(self, n: int) -> float:
        return float(self.tables[n].mean() + self.overhead_ms.mean())


def service_model(samples_ms: Mapping[int, Sequence[float]], overhead_ms: Sequence[float] | None = None,
                  handback_ms: Sequence[float] | None = None, batcher_ms: float = 0.0,
                  request_ms: float = 0.0, wake_ms: Sequence[float] | None = None) -> ServiceModel:
    """Quantile tables for every batch size from 1 to the largest measured one.

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

    def arr(v: Sequence[float] | None) -> np.ndarray:
        a = np.asarray(v if v is not None and len(v) else [0.0], dtype=np.float64)
        return np.clip(a, 0.0, None)

    return ServiceModel(tables, arr(overhead_ms), arr(handback_ms), max(0.0, float(batcher_ms)),
                        max(0.0, float(request_ms)), arr(wake_ms))


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

    wait = batch close - arrival + the batch's overhead; compute = the batch's service time.
    Raises ValueError when `policy.max_batch` exceeds the largest measured batch size.
    """
    if policy.max_batch > model.max_size:
        raise ValueError(f"batch {policy.max_batch} was not measured (largest: {model.max_size})")
    arr = [float(a) * 1000.0 for a in arrivals_s]  # ms, as Python floats: the loop is pure Python
    n = len(arr)
    rng = np.random.default_rng(seed)
    qidx = rng.integers(0, QUANTILES, size=n).tolist()
    # Overhead and hand-back drawn together when they come from the same batches (one calibration
    # request each): a stall of the machine hits one batch once, in one part or the other. Drawn
    # apart, each part's stalls land on other batches and the tails add up (issue 14: the unbatched
    # simulation's p99 counted the calibration's stalls about twice as often as they happen).
    joint = len(model.overhead_ms) == len(model.handback_ms)
    pick = rng.integers(0, len(model.overhead_ms), size=n)
    over = model.overhead_ms[pick].tolist()
    hand_batch = model.handback_ms[pick] if joint else rng.choice(model.handback_ms, size=n)
    wake = rng.choice(model.wake_ms, size=n).tolist()
    tables = {k: v.tolist() for k, v in model.tables.items()}
    limit, wait, workers = policy.max_batch, policy.max_wait_ms, policy.workers
    per_batch, per_request = model.batcher_ms, model.request_ms
    gap = 0.0
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
        ready = free[k] if free[k] > prev_close + gap else prev_close + gap
        if ready > close:
            close = ready          # a worker (or the batcher) was busy: the batch goes when it is free
        else:
            close += wake[b]       # the batcher slept until this arrival or deadline: it takes a moment to wake
        m = bisect_right(arr, close, i, min(n, i + limit)) - i
        s = tables[m][qidx[b]]
        o = over[b]
        free[k] = close + o + s
        prev_close = close
        gap = per_batch + m * per_request
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
    hand = per_req(hand_batch[:len(sizes)], size_arr)  # the collector receives a batch at once
    done_last = float(np.max(arrivals + wait_ms + compute_ms + hand))
    served = served_rate(arrivals[0] / 1000.0, done_last / 1000.0, n)
    busy = float(np.sum(services) + np.sum(overheads))
    return SimRun(wait_ms, compute_ms, hand, size_arr, served, busy, done_last - arrivals[0])


def sim_point(arrivals_s: np.ndarray, policy: BatchPolicy, model: ServiceModel, *, variant: str,
              offered_rps: float, seed: int = 0) -> LoadPoint:
    """A simulated LoadPoint (the generator is perfect in a simulation: late 0, kept up)."""
    run = simulate(arrivals_s, policy, model, seed)
    n = len(arrivals_s)
    realized = (n - 1) / float(arrivals_s[-1] - arrivals_s[0]) if n > 1 and arrivals_s[-1] > arrivals_s[0] \
        else offered_rps
    return LoadPoint(variant=variant, policy=policy, offered_rps=float(offered_rps), achieved_rps=float(realized),
                     generator_late_p99_ms=0.0, generator_kept_up=True, requests=n,
                     latency=latency_parts(run.wait_ms, run.compute_ms, run.handback_ms), simulated=True,
                     saturated=is_saturated(realized, run.served_rps),
                     mean_batch=float(run.batch_sizes.mean()),
                     utilization=run.busy_ms / (policy.workers * run.span_ms) if run.span_ms > 0 else math.nan)


def holds(point: LoadPoint, p99_ms: float) -> bool:
    """The point holds the budget: not saturated and total p99 within `p99_ms`."""
    return not point.saturated and point.latency.total.p99 <= p99_ms


__all__ = ["QUANTILES", "ServiceModel", "SimRun", "holds", "service_model", "sim_point", "simulate"]
