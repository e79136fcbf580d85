"""The load-test harness's own costs, measured per batch in real runs, and how they grow with the load.

An isolated timing of `ModelWorker.compute` (`service_times`) misses what the threads of a real
load test add: the batcher waking on an arrival, the hand-off of a batch to a worker thread, the
compute running slower while the generator, batcher and collector threads share the interpreter
lock and the cores with it, the batcher turning around to close the next batch, and the hand-back
to the collector. A real run (`loadtest.run_load_test`) records every request's arrival, batch
close, compute start and end and receipt; `measure_overheads` turns one run into per-batch samples
(ms) of each part:

- dispatch: batch close -> compute start (the worker thread wakes);
- slowdown: compute time - the isolated median at the batch's size (negative when faster);
- hand-back: compute end -> received by the collector;
- wake: for a batch that closed while the batcher waited for it, its due moment (its first
  request's arrival + max_wait, or the arrival that filled it) -> close;
- turn: for a batch that was due before the batcher could take it (a worker was busy or the
  batcher was closing the previous batch), the moment it could -> close. This holds the batcher's
  own serial cost, so a Python batcher's capacity limit shows where it binds and nowhere else.

These parts grow with the load: at a few hundred requests per second they are tens of
microseconds; at thousands per second another thread holds the interpreter lock at most hand-offs
and each waits for a thread switch. Measured at 200-2,500/s without batching on the fraud sample
(2 cores), p99 of the batcher's queueing went from 0.7 to 4.4 ms at a worker utilization under 40%.
A cost measured at one load is wrong at another (issue 14), so the simulation keeps the samples
of each real run with its rate and, at an offered rate between two measured ones, draws each
batch's costs from the run just below or just above it, the upper one with probability
(rate - lower) / (upper - lower). Why a mixture: the costs come from collisions with the other
threads, whose frequency grows about in proportion to the rate while each collision costs about
the same (one thread switch, another thread's work), so the share of slow hand-offs, not their
size, interpolates. Below the lowest measured rate the lowest run's samples hold, above the
highest the highest's (never extrapolated: the study measures a run at the rate it reports).
Dispatch, slowdown and hand-back are drawn together from one real batch, so a stall of the
process that hit one batch counts once.

Limits, measured: far below the light run the costs rise again (at 30/s a worker thread wakes
cold: digits' compute p50 0.54 ms against 0.21 ms at 491/s), and the light run's costs, held
there, make the simulation's p50 too low; and a stall of the machine (another program taking the
cores for milliseconds) lands in one run and not in another: two runs at 491/s ten seconds apart
gave p99 2.85 and 1.00 ms at a load average of 1.6. Below that noise no model of this harness can
agree with a single real run, so compare on a quiet machine.
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
    # When could the batcher take batch j? Once it had closed batch j - 1 and one of the W worker
    # slots was free: slots are taken in order and freed at compute ends, so batch j gets the j-th
    # earliest of (W slots free from the start, then every compute end).
    workers = policy.workers
    slots = np.sort(np.concatenate([np.full(workers, -np.inf), end]))[: len(closes)]
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
    one array of n draws per part, each draw taking every part from one entry of one run. The run of
    each draw is chosen independently; within a run, successive draws take successive batches from a
    random start, `BLOCK` at a time (a block bootstrap), so slow batches that came in bursts in the
    real run (a stall of the machine, a thread convoy) come in bursts in the simulation too: drawn one
    by one they would spread out and the queue would never see the burst. All zeros when no run has
    samples.
    """
    have = [i for i, p in enumerate(pools) if len(p[0])]
    if not have:
        return [np.zeros(n) for _ in range(parts)]
    w = load_weights([rates[i] for i in have], rate)
    run = rng.choice(len(have), size=n, p=w)
    out = [np.empty(n) for _ in range(parts)]
    for k, i in enumerate(have):
        mask = run == k
        pick = _blocks(len(pools[i][0]), int(mask.sum()), rng)
        for part in range(parts):
            out[part][mask] = np.asarray(pools[i][part], dtype=np.float64)[pick]
    return out


__all__ = ["Overheads", "draw", "load_weights", "measure_overheads", "realized_rate"]
