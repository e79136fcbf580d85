"""The load-test harness's own costs, measured per batch in real runs, and how they grow with the load.

An isolated timing of `ModelWorker.compute` (`service_times`) misses what the threads of a real
load test add: a worker waking on an arrival, forming the batch, the compute running slower while
the generator and the other workers share the interpreter lock and the cores with it, a worker
turning around to close the next batch, and the hand-back of the outputs. A real run
(`loadtest.run_load_test`) records every request's arrival, batch close, compute start and end and
receipt; `measure_overheads` turns one run into per-batch samples (ms) of each part:

- dispatch: batch close -> compute start (gathering the batch's inputs);
- slowdown: compute time - the isolated median at the batch's size (negative when faster);
- hand-back: compute end -> the outputs stored for their requesters (the worker is busy meanwhile);
- wake: for a batch that closed while a free worker waited for it, its due moment (its first
  request's arrival + max_wait, or the arrival that filled it) -> close;
- turn: for a batch that was due before a worker could take it (every worker busy, or another
  closing the previous batch), the moment one could -> close. This holds the serial cost of
  forming batches, so a Python batcher's capacity limit shows where it binds and nowhere else.

These parts grow with the load: at a few hundred requests per second they are tens of
microseconds; at thousands per second another thread holds the interpreter lock at more
hand-offs and each waits for a thread switch. A cost measured at one load is wrong at another
(issue 14), so the simulation keeps the samples of each real run with its rate and, at an offered
rate between two measured ones, draws each block of batches' costs from the run just below or just
above it, the upper one with probability (rate - lower) / (upper - lower). Why a mixture: the costs
come from collisions with the other threads, whose frequency grows about in proportion to the rate
while each collision costs about the same (one thread switch, another thread's work), so the share
of slow hand-offs, not their size, interpolates. Below the lowest measured rate the lowest run's
samples hold, above the highest the highest's (never extrapolated: the study measures a run at the
rate it reports). Dispatch, slowdown and hand-back are drawn together from one real batch, so a
stall of the process that hit one batch counts once.

Limits, measured: the machine itself stalls threads. On the 2-core development machine, idle, a
thread sleeping 0.5 ms at a time overslept by 2.3-4.2 ms about 0.4 times a second, at moments
unrelated to another thread's (`bench/bench_serving.py` measures this floor before it starts). A
p99 of about 1 ms rests on a handful of such stalls per run, which land in one run and not in the
next: real runs 3 s long at one rate gave p99 0.83-1.89 ms. So the study pools several runs,
and no model of this harness can agree with a single real run better than that spread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from core.serving.api import BatchPolicy


@dataclass(frozen=True)
class Overheads:
    """Per-batch harness costs (ms) of one real run whose arrivals came at `rate_rps` (realized rate).

    `dispatch_ms`, `slowdown_ms` and `handback_ms` have one entry per batch, in the same order (drawn
    together); `wake_ms` and `turn_ms` one per batch of each kind (see the module docstring).
    `requests`: how many served requests the samples come from.
    """

    rate_rps: float
    dispatch_ms: np.ndarray
    slowdown_ms: np.ndarray
    handback_ms: np.ndarray
    wake_ms: np.ndarray
    turn_ms: np.ndarray
    requests: int = 0

    def describe(self) -> str:
        """One line: rate, sample counts and the p99 of each part (ms)."""

        def p99(a: np.ndarray) -> str:
            return f"{np.percentile(a, 99):.2f}" if len(a) else "-"

        return (
            f"{self.rate_rps:,.0f}/s ({self.requests:,} requests, {len(self.dispatch_ms):,} batches): p99 ms "
            f"dispatch {p99(self.dispatch_ms)}, slowdown {p99(self.slowdown_ms)}, hand-back "
            f"{p99(self.handback_ms)}, wake {p99(self.wake_ms)}, turn {p99(self.turn_ms)}"
        )


def realized_rate(arrivals_s: np.ndarray) -> float:
    """Requests per second of sorted arrival times: (count - 1) / span (0 when they span no time)."""
    n = len(arrivals_s)
    span = float(arrivals_s[-1] - arrivals_s[0]) if n > 1 else 0.0
    return (n - 1) / span if span > 0 else 0.0


def measure_overheads(
    arrival: np.ndarray,
    closed: np.ndarray,
    start: np.ndarray,
    done: np.ndarray,
    received: np.ndarray,
    policy: BatchPolicy,
    median_ms: Callable[[int], float],
) -> Overheads:
    """Per-batch costs of one real run from its per-request times (seconds, a `RunRecord`'s arrays).

    Requests are in issue order and the batcher is FIFO, so a batch is a run of consecutive requests
    sharing one close time. `median_ms(n)`: the isolated median service time of a batch of n.
    Requests never received (dropped at the end of an overloaded run) are left out; the last batch
    is left out of wake/turn (it may have closed early because the run ended).
    Raises ValueError when no request was received.
    """
    ok = ~(np.isnan(received) | np.isnan(closed))
    arr, close_r = arrival[ok], closed[ok]
    if len(arr) == 0:
        raise ValueError("no request of the run was received")
    closes, first, sizes = np.unique(close_r, return_index=True, return_counts=True)
    begin, end, got = start[ok][first], done[ok][first], received[ok][first]
    medians = np.array([median_ms(int(m)) for m in sizes])
    dispatch = (begin - closes) * 1000.0
    slowdown = (end - begin) * 1000.0 - medians
    handback = (got - end) * 1000.0
    # When could a worker take batch j? Once batch j - 1 was closed (one worker forms a batch at a time)
    # and one of the W workers was free: workers are taken in order and freed when they have handed
    # their batch back, so batch j gets the j-th earliest of (W free from the start, then every receipt).
    workers = policy.workers
    slots = np.sort(np.concatenate([np.full(workers, -np.inf), got]))[: len(closes)]
    ready = np.maximum(slots, np.concatenate([[-np.inf], closes[:-1]]))
    # When was batch j due? max_wait after its first request, or when its max_batch-th request came.
    fill_pos = first + policy.max_batch - 1
    fill = np.where(fill_pos < len(arr), arr[np.minimum(fill_pos, len(arr) - 1)], np.inf)
    due = np.minimum(arr[first] + policy.max_wait_ms / 1000.0, fill)
    held = due < ready
    inner = np.arange(len(closes)) < len(closes) - 1
    wake = (closes - due)[~held & inner] * 1000.0
    turn = (closes - ready)[held & inner] * 1000.0
    return Overheads(
        rate_rps=realized_rate(arr),
        dispatch_ms=np.clip(dispatch, 0.0, None),
        slowdown_ms=slowdown,
        handback_ms=np.clip(handback, 0.0, None),
        wake_ms=np.clip(wake, 0.0, None),
        turn_ms=np.clip(turn, 0.0, None),
        requests=int(len(arr)),
    )


def pooled(runs: Sequence[Overheads]) -> Overheads:
    """Several runs at one rate as one: their samples end to end, the rate their request-weighted mean.
    Raises ValueError without a run."""
    if not runs:
        raise ValueError("no run to pool")
    if len(runs) == 1:
        return runs[0]
    requests = sum(o.requests for o in runs)
    rate = sum(o.rate_rps * o.requests for o in runs) / requests if requests else runs[0].rate_rps

    def joined(name: str) -> np.ndarray:
        return np.concatenate([getattr(o, name) for o in runs])

    return Overheads(
        rate_rps=float(rate),
        dispatch_ms=joined("dispatch_ms"),
        slowdown_ms=joined("slowdown_ms"),
        handback_ms=joined("handback_ms"),
        wake_ms=joined("wake_ms"),
        turn_ms=joined("turn_ms"),
        requests=requests,
    )


def load_weights(rates: Sequence[float], rate: float) -> np.ndarray:
    """Mixture weights of runs measured at sorted `rates` for an offered `rate` (see the docstring):
    all on the lowest below it, all on the highest above it, else linear between the two around it."""
    w = np.zeros(len(rates))
    if not len(rates):
        return w
    if rate <= rates[0]:
        w[0] = 1.0
    elif rate >= rates[-1]:
        w[-1] = 1.0
    else:
        i = int(np.searchsorted(rates, rate, side="right")) - 1
        f = (rate - rates[i]) / (rates[i + 1] - rates[i])
        w[i], w[i + 1] = 1.0 - f, f
    return w


BLOCK = 64  # successive batches replayed together from one real run


def _blocks(size: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` indices into a pool of `size`: runs of `BLOCK` successive indices from random starts."""
    starts = rng.integers(0, size, size=-(-count // BLOCK))
    return ((starts[:, None] + np.arange(BLOCK)[None, :]).ravel()[:count]) % size


def draw(
    pools: Sequence[Sequence[np.ndarray]],
    rates: Sequence[float],
    rate: float,
    n: int,
    rng: np.random.Generator,
    parts: int = 1,
) -> list[np.ndarray]:
    """`n` joint draws from per-run pools mixed by `load_weights` (runs with empty pools are skipped).

    `pools[r]` holds run r's `parts` parallel arrays (equal lengths, in the run's batch order); returns
    one array of n draws per part, each draw taking every part from one entry of one run. Draws go in
    blocks of `BLOCK`: each block's run is chosen independently by the weights, and the block takes that
    run's successive batches from a random start (a block bootstrap), so slow batches that came in bursts
    in the real run (a stall of the machine, a thread convoy) come in bursts in the simulation too: drawn
    one by one they would spread out and the queue would never see the burst. All zeros when no run has
    samples.
    """
    have = [i for i, p in enumerate(pools) if len(p[0])]
    if not have:
        return [np.zeros(n) for _ in range(parts)]
    w = load_weights([rates[i] for i in have], rate)
    # One run per block of BLOCK successive draws, so a block replays one run's successive batches.
    run = np.repeat(rng.choice(len(have), size=-(-n // BLOCK), p=w), BLOCK)[:n]
    out = [np.empty(n) for _ in range(parts)]
    for k, i in enumerate(have):
        mask = run == k
        pick = _blocks(len(pools[i][0]), int(mask.sum()), rng)
        for part in range(parts):
            out[part][mask] = np.asarray(pools[i][part], dtype=np.float64)[pick]
    return out


__all__ = ["Overheads", "draw", "load_weights", "measure_overheads", "pooled", "realized_rate"]
