"""The real load test: an open-loop generator, the dynamic batcher and 1..N LiteRT workers.

Threads: the generator issues requests on its schedule into a `BatchQueue`; each worker (its
own interpreter, its own `ModelWorker`), when free, forms the next batch itself under one lock
(so batches close one at a time, in order, as a single batcher would close them), runs it and
hands each request's output back into that request's response slot. Per request (ms): queue
wait = compute start - arrival (batch forming and waiting for a worker), compute = the batch's
run, hand-back = output stored for the requester - compute end (in-process: no transport).

Why no batcher or collector thread of its own: with the generator, every extra Python thread on
a request's path waits for the interpreter lock at each hand-off. Measured on the digits sample
without batching at 2,946/s (2 cores, six 3 s runs each): with a batcher and a collector thread,
p99 3.7-7.9 ms; workers that batch and hand back themselves, p99 0.65-1.3 ms. The first measured
the harness, not the model.

Python's thread switch interval is lowered for the run (the generator and the workers are
Python threads that must wake on time; LiteRT's invoke releases the GIL) and the garbage
collector is off during it (a collection would pause every thread); both are restored after.
"""

from __future__ import annotations

import gc
import math
import sys
import threading
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from core.errors import Cancelled
from core.serving.api import BatchPolicy, CancelFlag, LoadPoint
from core.serving.batcher import POLL_SECONDS, BatchQueue
from core.serving.generator import Schedule, kept_up, run_generator
from core.serving.points import is_saturated, latency_parts, served_rate
from core.serving.service_times import ModelWorker

SWITCH_INTERVAL_S = 0.0002


@dataclass
class RunRecord:
    """Raw per-request times of a real run (seconds, perf_counter), for the report and the tests."""

    arrival: np.ndarray
    closed: np.ndarray
    start: np.ndarray
    done: np.ndarray
    received: np.ndarray
    batch_sizes: list[int]
    late_ms: np.ndarray


def run_load_test(
    workers: Sequence[ModelWorker],
    policy: BatchPolicy,
    schedule: Schedule,
    *,
    variant: str,
    offered_rps: float,
    p99_budget_ms: float,
    cancel: CancelFlag,
    sample_of: np.ndarray | None = None,
    drain_seconds: float | None = None,
) -> tuple[LoadPoint, RunRecord]:
    """Run `schedule` through the dynamic batcher and `policy.workers` of `workers`; a real LoadPoint.

    `sample_of[i]` is the sample request i carries (default: i modulo the samples). The
    run stops issuing early when the backlog passes 5 s of offered load (saturated); requests
    still unfinished `drain_seconds` after the last issue are dropped (counted, saturated).
    Cancel: every thread stops within about `POLL_SECONDS`, then Cancelled is raised.
    """
    if len(workers) < policy.workers:
        raise ValueError(f"{policy.workers} workers asked for, {len(workers)} given")
    n = len(schedule.times)
    samples = sample_of if sample_of is not None else np.arange(n)
    arrival = np.full(n, np.nan)
    closed = np.full(n, np.nan)
    start = np.full(n, np.nan)
    done = np.full(n, np.nan)
    received = np.full(n, np.nan)
    batch_sizes: list[int] = []
    bq = BatchQueue(policy)
    responses: list[object] = [None] * n  # each request's output, where its requester reads it
    stop = threading.Event()  # set on cancel or failure: every thread leaves its loop
    errors: list[BaseException] = []
    counts = {"issued": 0}
    busy: list[float] = []  # seconds each batch ran, for the workers' utilization
    either = _Either(cancel, stop)
    max_backlog = max(1000, int(5 * offered_rps))

    take = threading.Lock()  # one worker forms a batch at a time: the batcher's role, serial as in a server
    received_by = [0] * policy.workers  # per worker: no shared counter to race on

    def worker(k: int, model: ModelWorker) -> None:
        try:
            while not stop.is_set():
                if not take.acquire(timeout=POLL_SECONDS):
                    continue
                try:
                    got = bq.next_batch(either)
                    if got is not None:
                        batch_sizes.append(len(got[1]))
                        ids = [i for _, i in got[1]]
                        closed[ids] = got[0]
                finally:
                    take.release()
                if got is None:
                    return
                t0 = time.perf_counter()
                outputs = model.compute(samples[ids])
                t1 = time.perf_counter()
                start[ids] = t0
                done[ids] = t1
                busy.append(t1 - t0)
                for i, out in zip(ids, outputs):
                    responses[i] = out
                received[ids] = time.perf_counter()
                received_by[k] += len(ids)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            errors.append(exc)
            stop.set()

    def submit(i: int) -> None:
        arrival[i] = bq.put(i)
        counts["issued"] += 1

    threads = [
        threading.Thread(target=worker, args=(k, workers[k]), name=f"serving-worker-{k}", daemon=True)
        for k in range(policy.workers)
    ]
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    gc_was_on = gc.isenabled()
    gc.collect()
    gc.disable()  # a collection mid-run would stall every thread: a pause of the harness, not the model's
    issued_stats = None
    try:
        for t in threads:
            t.start()
        issued_stats = run_generator(
            schedule, submit, cancel=either, should_stop=lambda: counts["issued"] - sum(received_by) > max_backlog
        )
        bq.close()
        limit = drain_seconds if drain_seconds is not None else max(2.0, 20 * p99_budget_ms / 1000.0)
        deadline = time.perf_counter() + limit
        while sum(received_by) < issued_stats.issued and time.perf_counter() < deadline and not stop.is_set():
            if cancel.cancelled:
                raise Cancelled()
            time.sleep(0.002)
    except Cancelled:
        stop.set()
        if errors and not cancel.cancelled:
            raise errors[0] from None
        raise
    finally:
        stop.set()
        bq.close()
        for t in threads:
            t.join(timeout=5.0)
        sys.setswitchinterval(old_interval)
        if gc_was_on:
            gc.enable()
    if cancel.cancelled:
        raise Cancelled()
    if errors:
        raise errors[0]
    issued = issued_stats.issued
    ok = ~np.isnan(received[:issued])
    dropped = int(issued - ok.sum())
    wait_ms = (start[:issued][ok] - arrival[:issued][ok]) * 1000.0
    compute_ms = (done[:issued][ok] - start[:issued][ok]) * 1000.0
    hand_ms = (received[:issued][ok] - done[:issued][ok]) * 1000.0
    served = (
        served_rate(float(np.nanmin(arrival[:issued])), float(np.nanmax(received)), int(ok.sum()))
        if ok.sum() > 1
        else 0.0
    )
    late_p99 = float(np.percentile(issued_stats.late_ms, 99)) if issued else math.nan
    kept = kept_up(issued_stats, offered_rps, p99_budget_ms)
    note = ""
    if not kept:
        note = (
            f"the generator could not keep {offered_rps:g}/s (achieved {issued_stats.achieved_rps:.0f}/s, "
            f"late p99 {late_p99:.2f} ms): these latencies are not the model's"
        )
    point = LoadPoint(
        variant=variant,
        policy=policy,
        offered_rps=float(offered_rps),
        achieved_rps=float(issued_stats.achieved_rps),
        generator_late_p99_ms=late_p99,
        generator_kept_up=kept,
        requests=int(ok.sum()),
        latency=latency_parts(wait_ms, compute_ms, hand_ms),
        simulated=False,
        saturated=issued_stats.stopped_early or is_saturated(issued_stats.achieved_rps, served, dropped),
        mean_batch=float(np.mean(batch_sizes)) if batch_sizes else math.nan,
        utilization=_utilization(busy, policy.workers, arrival[:issued], received[:issued]),
        dropped=dropped,
        note=note,
    )
    return point, RunRecord(
        arrival[:issued],
        closed[:issued],
        start[:issued],
        done[:issued],
        received[:issued],
        batch_sizes,
        issued_stats.late_ms,
    )


def _utilization(busy: list[float], workers: int, arrival: np.ndarray, received: np.ndarray) -> float:
    """Fraction of the run's span the workers spent running batches."""
    if not busy or np.all(np.isnan(received)):
        return math.nan
    span = float(np.nanmax(received) - np.nanmin(arrival))
    return float(sum(busy) / (workers * span)) if span > 0 else math.nan


class _Either:
    """A cancel token that reads as cancelled when the user's token or the run's own stop is set."""

    def __init__(self, cancel: CancelFlag, stop: threading.Event) -> None:
        self._cancel, self._stop = cancel, stop

    @property
    def cancelled(self) -> bool:
        return self._cancel.cancelled or self._stop.is_set()


__all__ = ["RunRecord", "run_load_test"]
