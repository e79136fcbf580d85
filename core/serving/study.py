"""The serving study behind `core.serving.api.study_serving`: measure, simulate, refine, confirm.

Per variant: (1) service time per batch size (`service_times`); (2) short real calibration runs
without batching at a light load: the per-batch overhead of handing a batch to a worker thread,
the hand-back and the batcher's wake-up, which isolated timings cannot show; (3) the simulated
sweep (`sweep`); (4) refining runs: a real run at the best policy's rate, whose overheads under
load replace the light ones before searching again (until the answer lies within a load a real
run kept up with; a run that does not hold the budget caps the rates); (5) real load tests at the
baseline (no batching) and at the recommended policy, each at 80% of its sustainable rate (or the
target rate when lower), with the simulation's p99 on the very same arrivals for the error; (6) the
prediction cache over a keyed trace.
"""

from __future__ import annotations

import math
import zlib
from typing import Sequence

import numpy as np

from core.engine.context import CancelToken, Reporter
from core.errors import BadInputError, UsageError
from core.serving.api import (PARTIAL_KIND, BatchPolicy, CacheEffect, LoadPoint, ServingStudy, VariantServing)
from core.serving.generator import Schedule, poisson_schedule, read_trace
from core.serving.loadtest import RunRecord, run_load_test
from core.serving.service_times import ModelWorker, measure_service_times
from core.serving.simulate import ServiceModel, service_model, sim_point
from core.serving import sweep as sw

BASELINE = BatchPolicy(1, 0.0, 1)
CONFIRM_FRACTION = 0.8
CALIBRATION_SECONDS = 2.0
CALIBRATION_SLICES = 3
REFINE_ATTEMPTS = 4
HARNESS_OVERLOAD = 40000.0  # requests/s: more than a Python batcher serves one at a time


def _read_model(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise BadInputError(f"cannot read the model: {exc.strerror or exc}", path=path) from None


def _calibration(workers: list[ModelWorker], service: dict[int, tuple[float, ...]], *, variant: str,
                 p99_ms: float, seconds: float, cancel: CancelToken) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-batch overhead, per-request hand-back and batcher wake-up samples (ms) from light real runs
    without batching (wake-up: arrival to batch close for requests that found the worker idle).

    `CALIBRATION_SLICES` runs of `seconds` / slices each; the one with the lowest p99 overhead is kept.
    Why: a stall of the whole process (another program takes the cores for some ms) hits a burst of
    requests at once; in a short run it is there or not, and drawn per request it would set the
    simulated p99 of every rate. The simulation models the serving system in its usual state; the
    real load tests, which do meet such stalls, show by the simulation error how far that holds.
    """
    median1 = float(np.median(service[1]))
    rate = max(20.0, min(500.0, 0.2 * 1000.0 / max(median1, 1e-3)))
    best = None
    for k in range(CALIBRATION_SLICES):
        schedule = poisson_schedule(rate, seconds / CALIBRATION_SLICES, seed=11 + k)
        _, rec = run_load_test(workers, BASELINE, schedule, variant=variant, offered_rps=rate,
                               p99_budget_ms=p99_ms, cancel=cancel)
        ok = ~np.isnan(rec.received)
        dispatch = (rec.start[ok] - rec.closed[ok]) * 1000.0
        slower = np.clip((rec.done[ok] - rec.start[ok]) * 1000.0 - median1, 0.0, None)
        overhead, handback = dispatch + slower, (rec.received[ok] - rec.done[ok]) * 1000.0
        idle = np.concatenate([[True], rec.arrival[1:] > rec.done[:-1]]) & ok
        wake = (rec.closed[idle] - rec.arrival[idle]) * 1000.0
        tail = float(np.percentile((rec.received[ok] - rec.arrival[ok]) * 1000.0, 99)) if ok.any() else math.inf
        if best is None or tail < best[0]:
            best = (tail, overhead, handback, wake)
    return best[1], best[2], best[3]


class _NullWorker:
    """A worker without a model: measures the load-test harness itself (generator, batcher, threads)."""

    size = 1

    def compute(self, indices) -> list[None]:
        return [None] * len(indices)


def _served(rec: RunRecord) -> tuple[float, float]:
    """(requests served per second from the first arrival to the last hand-back, mean batch size)."""
    ok = ~np.isnan(rec.received)
    span = float(np.max(rec.received[ok]) - np.min(rec.arrival[ok])) if ok.sum() > 1 else 0.0
    return ((ok.sum() - 1) / span if span > 0 else math.inf), (float(np.mean(rec.batch_sizes)) if rec.batch_sizes
                                                                else 1.0)


def harness_limits(p99_ms: float, cancel: CancelToken, seconds: float = 0.3) -> tuple[float, float]:
    """The load-test harness's own serial costs on this machine, measured with null workers (no model):
    (ms per batch, ms per request). Two overload runs: without batching, 1 / served rate = per batch +
    per request; with batches of up to 64, 1 / served rate = per request + per batch / mean batch."""
    nulls = [_NullWorker()]
    _, rec1 = run_load_test(nulls, BASELINE, poisson_schedule(HARNESS_OVERLOAD, seconds, seed=5), variant="harness",
                            offered_rps=HARNESS_OVERLOAD, p99_budget_ms=p99_ms, cancel=cancel, drain_seconds=1.0)
    _, rec64 = run_load_test(nulls, BatchPolicy(64, 0.0, 1), poisson_schedule(4 * HARNESS_OVERLOAD, seconds, seed=6),
                             variant="harness", offered_rps=4 * HARNESS_OVERLOAD, p99_budget_ms=p99_ms,
                             cancel=cancel, drain_seconds=1.0)
    s1, _ = _served(rec1)
    s64, m64 = _served(rec64)
    one, many = 1000.0 / s1, 1000.0 / s64
    per_request = max(0.0, (many - one / m64) / (1.0 - 1.0 / m64)) if m64 > 1 else 0.0
    per_request = min(per_request, one)
    return max(0.0, one - per_request), per_request


def _sample_of(schedule: Schedule, size: int) -> np.ndarray:
    """Which sample each request carries: by key (same key, same sample) or in turn."""
    if schedule.keys is None:
        return np.arange(len(schedule.times)) % size
    return np.array([zlib.crc32(k.encode("utf-8")) % size for k in schedule.keys], dtype=np.int64)


def _schedule(trace: Schedule | None, rate: float, seconds: float, seed: int) -> Schedule:
    if trace is None:
        return poisson_schedule(rate, seconds, seed)
    return trace.scaled_to(rate).tiled(seconds=seconds)  # a short trace is replayed to fill the run


def _confirm(workers: list[ModelWorker], policy: BatchPolicy, rate: float, model: ServiceModel,
             trace: Schedule | None, *, variant: str, p99_ms: float, seconds: float, progress: Reporter,
             cancel: CancelToken, seed: int = 7) -> tuple[LoadPoint, float | None, RunRecord]:
    """A real run at `rate`, the simulation's relative p99 error on the same arrivals, and the run's record."""
    schedule = _schedule(trace, rate, seconds, seed=seed)
    real, rec = run_load_test(workers, policy, schedule, variant=variant, offered_rps=rate, p99_budget_ms=p99_ms,
                              cancel=cancel, sample_of=_sample_of(schedule, workers[0].size))
    progress.partial(PARTIAL_KIND, real)
    error = None
    arrived = _arrivals(rec)
    if len(arrived) > 1:
        twin = sim_point(arrived, policy, model, variant=variant, offered_rps=rate, seed=3)
        progress.partial(PARTIAL_KIND, twin)
        # The twin runs on the very arrivals the real run got (a late generator's bursts included), so
        # the comparison holds even when the generator fell behind. Both saturated: p99 is only how long
        # the run lasted, no figure; one saturated and not the other: a large error, as it should be.
        if not (real.saturated and twin.saturated) and real.latency.total.p99 > 0:
            error = abs(twin.latency.total.p99 - real.latency.total.p99) / real.latency.total.p99
    return real, error, rec


def overheads_from_run(rec: RunRecord, model: ServiceModel) -> tuple[np.ndarray, np.ndarray]:
    """Per-batch overhead and hand-back samples (ms, one of each per batch) of a real run under load.

    A batch is the requests that share a close time; its overhead is the hand-off to the worker
    (compute start - close) plus how much longer it ran than the isolated median at its size (the
    slowdown under load: the interpreter lock, the cores shared with the other threads).
    """
    ok = ~np.isnan(rec.received)
    closed, first = np.unique(rec.closed[ok], return_index=True)
    start, done = rec.start[ok][first], rec.done[ok][first]
    sizes = np.bincount(np.unique(rec.closed[ok], return_inverse=True)[1])
    medians = {n: float(np.median(model.tables[min(n, model.max_size)])) for n in set(sizes.tolist())}
    slower = np.clip((done - start) * 1000.0 - np.array([medians[n] for n in sizes]), 0.0, None)
    return (start - closed) * 1000.0 + slower, (rec.received[ok][first] - done) * 1000.0


def _arrivals(rec: RunRecord) -> np.ndarray:
    a = rec.arrival[~np.isnan(rec.arrival)]
    return np.sort(a - a.min()) if len(a) else a


def study_variant(name: str, path: str, *, batcher_ms: float, request_ms: float, p99_ms: float,
                  rates: Sequence[float] | None, max_batch: Sequence[int], max_wait_ms: Sequence[float],
                  workers: Sequence[int], trace: Schedule | None, seconds: float,
                  samples_path: str | None, cache_sizes: Sequence[int], progress: Reporter,
                  cancel: CancelToken) -> VariantServing:
    """The study of one variant (see the module docstring). BadInputError for a model that cannot run."""
    content = _read_model(path)
    pool = [ModelWorker(content, path=path, samples_path=samples_path)]
    pool += [ModelWorker(content, pool[0].samples, path=path) for _ in range(max(workers) - 1)]
    progress(0.02, f"{name}: measuring service time per batch size", stage="service")
    times = measure_service_times(pool[0], list(max_batch), cancel=cancel, progress=progress.scaled(0.02, 0.2))
    progress(0.2, f"{name}: calibration run", stage="calibrate")
    overhead, handback, wake = _calibration(pool, times.samples_ms, variant=name, p99_ms=p99_ms,
                                     seconds=min(CALIBRATION_SECONDS, max(0.3, seconds / 2)), cancel=cancel)
    # The calibration's overhead holds the compute slowdown of a real run, stalls of the machine included;
    # the isolated samples' own stalls are capped at their 95th percentile so they are not counted twice.
    capped = {b: np.minimum(v, np.percentile(v, 95)) for b, v in times.samples_ms.items()}
    model = service_model(capped, overhead, handback, batcher_ms, request_ms, wake)
    # The calibration runs are unbatched at a light load: their overheads stay the model of every
    # unbatched policy. A refining run's overheads (batches under a heavy load: GIL contention, a
    # busier batcher) describe its own policy's regime, and applied to one request at a time at a
    # few hundred per second they made the unbatched simulation 1.5-4x too pessimistic (issue 14).
    light = model
    baseline = BatchPolicy(1, 0.0, min(workers))
    model_for = lambda p: light if p.max_batch == 1 else model  # noqa: E731 - one-line choice  # no batching: one request at a time, the fewest workers
    arrivals = sw.Arrivals(sw.SEARCH_REQUESTS, trace)

    def search(model: ServiceModel, start: float, end: float):
        grid = sw.policies(max_batch, max_wait_ms, workers, model.max_size)
        if baseline not in grid:
            grid.insert(0, baseline)
        results = []
        for i, policy in enumerate(grid):
            progress(start + (end - start) * i / len(grid), f"{name}: simulating {policy.label()}", stage="simulate")
            results.append(sw.sustainable(policy, light if policy.max_batch == 1 else model, p99_ms, arrivals,
                                          variant=name,
                                          check=cancel.raise_if_cancelled))
        last_results[:] = results
        return next((r for r in results if r.policy == baseline), None), sw.best_policy(results)

    last_results: list[sw.PolicyResult] = []

    def best_under(cap: float) -> sw.PolicyResult | None:
        """Under a cap many policies reach it: the one with the lowest simulated p99 at the cap wins."""
        reaching = [r for r in last_results if r.sustainable_rps is not None and r.sustainable_rps >= cap]
        if not reaching:
            return sw.best_policy([_capped(r, cap) for r in last_results])
        p99 = {r.policy: sim_point(arrivals.at(cap), r.policy, model_for(r.policy), variant=name,
                                   offered_rps=cap).latency.total.p99 for r in reaching}
        return _capped(min(reaching, key=lambda r: p99[r.policy]), cap)

    base, best = search(model, 0.3, 0.45)
    target = max(rates) if rates else None
    refined = None
    cap = None
    variant_notes: list[str] = []
    base_cap = math.inf   # the unbatched rate a real run did not hold: later searches stay under it
    if base is not None and base.sustainable_rps is not None:
        # The unbatched overheads grow with the rate (the generator, batcher and collector threads share
        # the interpreter and the cores with the worker): the light calibration cannot show them at
        # thousands per second. Refine the unbatched model with one real run at its own load, as below.
        rate = _confirm_rate(base.sustainable_rps, target)
        progress(0.45, f"{name}: real run at {rate:,.0f}/s to refine the unbatched simulation", stage="refine")
        run, _, rec = _confirm(pool, baseline, rate, light, trace, variant=name, p99_ms=p99_ms, seconds=seconds,
                               progress=progress, cancel=cancel, seed=4)
        if len(rec.batch_sizes) > 1:
            light = service_model(capped, *overheads_from_run(rec, light), batcher_ms, request_ms, wake)
            base = sw.sustainable(baseline, light, p99_ms, arrivals, variant=name, check=cancel.raise_if_cancelled)
        if run.saturated or run.achieved_rps < 0.95 * run.offered_rps or not run.latency.total.p99 <= p99_ms:
            base_cap = CONFIRM_FRACTION * rate
    tested = 0.0   # the highest rate a refining run kept up with, and its policy
    verified: BatchPolicy | None = None
    for attempt in range(REFINE_ATTEMPTS):
        if best is None or _confirm_rate(best.sustainable_rps, target) <= 1.1 * tested:
            break   # the answer lies within a load a real run has shown
        # The light calibration run cannot show how much slower everything gets under load (the
        # interpreter lock, two cores shared by the generator, batcher and workers): measure it in a
        # real run at the load in question and search again with those overheads. A run that cannot
        # keep up caps every rate at 80% of its own, and the next try goes lower. The error reported
        # below comes from other real runs (other arrivals, other moments), not from these.
        rate = _confirm_rate(best.sustainable_rps, target)
        progress(0.45 + 0.05 * attempt, f"{name}: real run at {rate:,.0f}/s to refine the simulation", stage="refine")
        refined, _, rec = _confirm(pool, best.policy, rate, model, trace, variant=name, p99_ms=p99_ms,
                                   seconds=seconds, progress=progress, cancel=cancel, seed=5 + attempt)
        behind = refined.achieved_rps < 0.95 * refined.offered_rps
        over_budget = not refined.latency.total.p99 <= p99_ms
        if refined.saturated or behind or over_budget:
            cap = CONFIRM_FRACTION * rate if cap is None else min(cap, CONFIRM_FRACTION * rate)
            why = ("saturated" if refined.saturated else "the generator fell behind" if behind
                   else f"p99 {refined.latency.total.p99:.2f} ms")
            variant_notes.append(f"a real run at {rate:,.0f}/s with {best.policy.label()} did not hold ({why}): "
                                 f"sustainable rates are capped at {cap:,.0f}/s")
            base, best = _capped(base, cap), best_under(cap)
            continue
        if rate > tested:
            tested, verified = rate, best.policy
        over, hand = overheads_from_run(rec, model)
        model = service_model(capped, over, hand, batcher_ms, request_ms, wake)
        base, best = search(model, 0.5 + 0.05 * attempt, 0.55 + 0.05 * attempt)
        if cap is not None:
            base, best = _capped(base, cap), best_under(cap)
    if best is not None and tested > 0 and _confirm_rate(best.sustainable_rps, target) > 1.1 * tested:
        # Still climbing after the last try: claim no more than a little past the load a real run kept up with.
        cap = 1.1 * tested / CONFIRM_FRACTION if cap is None else min(cap, 1.1 * tested / CONFIRM_FRACTION)
        variant_notes.append(f"the simulation kept finding more than real runs had shown; sustainable rates are "
                             f"capped at {cap:,.0f}/s (real runs kept up with {tested:,.0f}/s)")
        base, best = _capped(base, cap), best_under(cap)
    if cap is not None and verified is not None:
        # Under a cap the simulation over-rates every policy alike; recommend the one a real run showed.
        mine = next((r for r in last_results if r.policy == verified), None)
        best = _capped(mine, cap) if mine is not None and mine.sustainable_rps is not None else best
    base = _capped(base, base_cap)
    recommended = best.policy if best is not None else None
    sustained = best.sustainable_rps if best is not None else None
    reason = None if best is not None else \
        f"no policy tried holds p99 <= {p99_ms:g} ms at any rate (simulated)"
    emit = lambda p: progress.partial(PARTIAL_KIND, p)  # noqa: E731 - one-line sink
    curve_rates = _curve_rates(rates, sustained, recommended or baseline, model_for(recommended or baseline))
    curve_arrivals = sw.Arrivals(sw.CURVE_REQUESTS, trace, seed=1)
    points = sw.curve(baseline, light, curve_rates, curve_arrivals, variant=name, emit=emit,
                      check=cancel.raise_if_cancelled)
    if recommended is not None and recommended != baseline:
        points += sw.curve(recommended, model_for(recommended), curve_rates, curve_arrivals, variant=name, emit=emit,
                           check=cancel.raise_if_cancelled)
    knee_rps = sw.knee(recommended or baseline, model_for(recommended or baseline), arrivals, variant=name, check=cancel.raise_if_cancelled)
    progress(0.65, f"{name}: real load test without batching", stage="confirm")
    confirmed_base = error_base = None
    if base is not None and base.sustainable_rps is not None:
        confirmed_base, error_base, _ = _confirm(pool, baseline, _confirm_rate(base.sustainable_rps, target), light,
                                              trace, variant=name, p99_ms=p99_ms, seconds=seconds,
                                              progress=progress, cancel=cancel)
    elif base is not None:
        # Nothing holds in the simulation: still measure for real, at the lightest rate tried (2% of the
        # baseline's capacity), so the report shows what a real run gets rather than only a verdict.
        light_rate = base.grid[0].offered_rps if base.grid else None
        if light_rate:
            confirmed_base, error_base, _ = _confirm(pool, baseline, light_rate, light, trace, variant=name, p99_ms=p99_ms,
                                                  seconds=seconds, progress=progress, cancel=cancel)
    confirmed, error = confirmed_base, error_base
    if recommended is not None and recommended != baseline:
        progress(0.8, f"{name}: real load test at {recommended.label()}", stage="confirm")
        confirmed, error, _ = _confirm(pool, recommended, _confirm_rate(sustained, target), model_for(recommended),
                                    trace, variant=name,
                                    p99_ms=p99_ms, seconds=seconds, progress=progress, cancel=cancel)
    caches = _caches(trace, cache_sizes, recommended or baseline, model_for(recommended or baseline), target)
    return VariantServing(
        variant=name, model_path=path, service_ms_by_batch=dict(times.samples_ms), curve=tuple(points),
        knee_rps=knee_rps, sustainable_rps_unbatched=base.sustainable_rps if base is not None else None,
        recommended=recommended, sustainable_rps=sustained, confirmed=confirmed, simulation_error=error,
        cache=caches[-1] if caches else None, reason=reason, batch_note=times.batch_note,
        confirmed_unbatched=confirmed_base, simulation_error_unbatched=error_base, caches=tuple(caches),
        refine_run=refined, notes=tuple(variant_notes))


def _capped(result: sw.PolicyResult | None, limit: float) -> sw.PolicyResult | None:
    """`result` with its sustainable rate no higher than `limit` (what real runs showed)."""
    if result is None or result.sustainable_rps is None or result.sustainable_rps <= limit:
        return result
    return sw.PolicyResult(result.policy, limit, result.grid)


def _confirm_rate(sustainable: float, target: float | None) -> float:
    """80% of the sustainable rate, or the target when lower."""
    rate = CONFIRM_FRACTION * sustainable
    return min(rate, target) if target is not None else rate


def _curve_rates(rates: Sequence[float] | None, sustained: float | None, policy: BatchPolicy,
                 model: ServiceModel) -> list[float]:
    if rates:
        return sorted(float(r) for r in rates)
    top = sustained * 1.3 if sustained else sw.capacity_rps(policy, model)
    return [float(r) for r in np.geomspace(top * 0.1, top, 8)]


def _caches(trace: Schedule | None, sizes: Sequence[int], policy: BatchPolicy, model: ServiceModel,
            target: float | None) -> list[CacheEffect]:
    from core.serving.cache_sim import cache_effect

    if trace is None or trace.keys is None or not sizes:
        return []
    arrivals = trace.times if target is None else trace.scaled_to(target).times
    return [cache_effect(arrivals, trace.keys, int(n), policy, model) for n in sorted(set(sizes))]


def run_study(models: Sequence[tuple[str, str]], *, p99_ms: float, rates: Sequence[float] | None,
              max_batch: Sequence[int], max_wait_ms: Sequence[float], workers: Sequence[int], trace: str | None,
              seconds: float, samples_path: str | None, cache_sizes: Sequence[int], progress: Reporter,
              cancel: CancelToken) -> ServingStudy:
    """See `core.serving.api.study_serving`."""
    if not models:
        raise UsageError("no models to study")
    if not p99_ms > 0 or not math.isfinite(p99_ms):
        raise UsageError(f"the p99 budget must be a positive number of ms, got {p99_ms}")
    if rates is not None and (not rates or min(rates) <= 0):
        raise UsageError("request rates must be positive")
    if not max_batch or min(max_batch) < 1 or not workers or min(workers) < 1 or \
            not max_wait_ms or min(max_wait_ms) < 0 or seconds <= 0:
        raise UsageError("max_batch and workers must be >= 1, max_wait_ms >= 0, seconds > 0")
    schedule = read_trace(trace) if trace is not None else None
    notes: list[str] = []
    if schedule is not None and schedule.keys is None and cache_sizes:
        notes.append(f"the trace {trace} carries no request keys, so no cache was simulated")
    if schedule is not None:
        notes.append(f"arrivals follow the trace {trace} ({len(schedule.times)} requests, {schedule.rate:.0f}/s), "
                     f"{'scaled to each rate' if rates else 'at its own rate'}")
        if not rates:
            rates = [schedule.rate]
    progress(0.0, "measuring the load-test harness", stage="harness")
    batcher_ms, request_ms = harness_limits(p99_ms, cancel, seconds=min(0.3, seconds / 2))
    notes.append(f"this machine's load harness (generator, batcher and hand-back threads, measured without a "
                 f"model): {batcher_ms * 1000:.0f} us per batch + {request_ms * 1000:.1f} us per request")
    results = []
    for k, (name, path) in enumerate(models):
        cancel.raise_if_cancelled()
        results.append(study_variant(
            name, path, batcher_ms=batcher_ms, request_ms=request_ms, p99_ms=p99_ms, rates=rates,
            max_batch=max_batch, max_wait_ms=max_wait_ms, workers=workers, trace=schedule, seconds=seconds,
            samples_path=samples_path, cache_sizes=cache_sizes,
            progress=progress.scaled(k / len(models), (k + 1) / len(models)), cancel=cancel))
    held = [v for v in results if v.sustainable_rps is not None]
    best = max(held, key=lambda v: v.sustainable_rps) if held else None
    target = max(rates) if rates else None
    headroom = (best.sustainable_rps / target - 1.0) if best is not None and target else None
    if best is not None and target and best.sustainable_rps < target:
        notes.append(f"no variant holds p99 <= {p99_ms:g} ms at {target:g}/s (simulated); the best, {best.variant}, "
                     f"holds it up to {best.sustainable_rps:.0f}/s")
    for v in results:
        if v.confirmed is not None and not v.confirmed.generator_kept_up:
            notes.append(f"{v.variant}: the load generator could not keep the offered rate in the real run; its "
                         "latencies are not the model's")
    notes.append("sustainable rates and curves are simulated from service times measured on this machine; "
                 "the confirmed points are real load tests")
    progress(1.0, "serving study done")
    return ServingStudy(p99_budget_ms=float(p99_ms), rates=tuple(float(r) for r in rates or ()),
                        variants=tuple(results), recommended_variant=best.variant if best else None,
                        recommended_policy=best.recommended if best else None, headroom=headroom,
                        notes=tuple(notes), target_rps=target)


__all__ = ["BASELINE", "run_study", "study_variant"]
