"""The serving study behind `core.serving.api.study_serving`: measure, calibrate, sweep, confirm.

Per variant: (1) service time per batch size, isolated (`service_times`); (2) a light real run
without batching, whose per-batch harness costs (`overheads`: dispatch to a worker, slowdown under
load, hand-back, the batcher's wake-up and turn-around) start both simulation models; (3) the
unbatched model is refined by real runs at the sustainable rate it finds (`calibrate.refine`), and
so is the batched model, with the best batching policy's own runs: the simulation draws every cost
at the offered rate, mixed between the real runs measured around it; (4) the simulated sweep over
the policy grid (`sweep`) gives each policy's sustainable rate and the recommendation; (5) real
load tests at the baseline (no batching) and at the recommended policy, each at 80% of its
sustainable rate (or the target rate when lower), with the simulation's p99 on the very same
arrivals for the error (`calibrate.RealRuns.confirm`); runs that do not hold the budget over all their
requests cap the rate claimed (`_confirmed`), and only then is the policy recommended; (6) the curves
and the knee, simulated; (7) the prediction cache over a keyed trace.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from core.engine.context import CancelToken, Reporter
from core.errors import BadInputError, UsageError
from core.serving import sweep as sw
from core.serving.api import PARTIAL_KIND, BatchPolicy, CacheEffect, LoadPoint, ServingStudy, VariantServing
from core.serving.calibrate import CAP_FRACTION, Calibration, RealRuns, capped, confirming_rate, light_rate, refine
from core.serving.generator import Schedule, read_trace
from core.serving.service_times import ModelWorker, measure_service_times
from core.serving.simulate import ServiceModel, holds, service_model
from core.tf_runtime import wait_for_tensorflow_preload

BASELINE = BatchPolicy(1, 0.0, 1)


def _read_model(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise BadInputError(f"cannot read the model: {exc.strerror or exc}", path=path) from None


def study_variant(
    name: str,
    path: str,
    *,
    p99_ms: float,
    rates: Sequence[float] | None,
    max_batch: Sequence[int],
    max_wait_ms: Sequence[float],
    workers: Sequence[int],
    trace: Schedule | None,
    seconds: float,
    samples_path: str | None,
    cache_sizes: Sequence[int],
    progress: Reporter,
    cancel: CancelToken,
) -> VariantServing:
    """The study of one variant (see the module docstring). BadInputError for a model that cannot run."""
    content = _read_model(path)
    pool = [ModelWorker(content, path=path, samples_path=samples_path)]
    pool += [ModelWorker(content, pool[0].samples, path=path) for _ in range(max(workers) - 1)]
    progress(0.02, f"{name}: measuring service time per batch size", stage="service")
    times = measure_service_times(pool[0], list(max_batch), cancel=cancel, progress=progress.scaled(0.02, 0.2))
    isolated = service_model(times.samples_ms)
    runs = RealRuns(pool, trace, name, p99_ms, seconds, progress, cancel)
    light = light_rate(isolated.median_ms(1))
    progress(0.2, f"{name}: calibration run at {light:,.0f}/s", stage="calibrate")
    _, costs, _ = runs.calibrate(BASELINE, light, isolated)
    baseline = BatchPolicy(1, 0.0, min(workers))  # no batching: one request at a time, the fewest workers
    arrivals = sw.Arrivals(sw.SEARCH_REQUESTS, trace)
    grid = [p for p in sw.policies(max_batch, max_wait_ms, workers, isolated.max_size) if p != baseline]

    def one(policy: BatchPolicy, model: ServiceModel) -> sw.PolicyResult:
        return sw.sustainable(policy, model, p99_ms, arrivals, variant=name, check=cancel.raise_if_cancelled)

    def say(stage: str, at: float) -> Callable[[float, BatchPolicy], None]:
        return lambda rate, policy: progress(
            at, f"{name}: real run at {rate:,.0f}/s with {policy.label()} to calibrate the simulation", stage=stage
        )

    target = max(rates) if rates else None
    unbatched = refine(isolated.with_load(costs), lambda m: one(baseline, m), runs, say("refine", 0.3), target)
    batched_results: list[sw.PolicyResult] = []

    def search(model: ServiceModel) -> sw.PolicyResult | None:
        batched_results[:] = [one(p, model) for p in grid]
        return sw.best_policy(batched_results)

    batched = refine(isolated.with_load(costs), search, runs, say("refine", 0.45), target) if grid else None
    model_u = unbatched.model
    model_b = batched.model if batched is not None else model_u
    notes = [_calibration_note("without batching", unbatched.model)]
    if batched is not None and batched.runs:
        notes.append(_calibration_note("with batching", batched.model))
    for cal in (unbatched, batched):
        if cal is not None and math.isfinite(cal.ceiling):
            notes.append(
                f"a real calibration run did not hold (saturated, its generator fell behind or over the "
                f"budget): rates are claimed up to {cal.ceiling:,.0f}/s ({CAP_FRACTION:.0%} of its rate)"
            )
    progress(0.6, f"{name}: real load test without batching", stage="confirm")
    base = _confirmed(runs, unbatched, baseline, unbatched.result, model_u, target, notes)
    top = base.result
    claim = batched.result if batched is not None else None
    batched_best = Confirmation(claim)
    if batched is not None and claim is not None and sw.best_policy([r for r in (top, claim) if r]) is claim:
        # The batched policy claims more than the baseline: confirmed for real too, before it is recommended.
        progress(0.7, f"{name}: real load test at {claim.policy.label()}", stage="confirm")
        batched_best = _confirmed(runs, batched, claim.policy, claim, model_b, target, notes)
    best = sw.best_policy([r for r in (top, batched_best.result) if r is not None])
    recommended = best.policy if best is not None else None
    sustained = best.sustainable_rps if best is not None else None
    reason = None if best is not None else f"no policy tried holds p99 <= {p99_ms:g} ms at any rate (simulated)"
    chosen = batched_best if best is not None and best is batched_best.result else base
    shown = recommended or baseline
    shown_model, shown_cal = (model_u, unbatched) if chosen is base else (model_b, batched or unbatched)

    progress(0.8, f"{name}: simulating the curves", stage="simulate")
    emit = lambda p: progress.partial(PARTIAL_KIND, p)  # noqa: E731 - one-line sink
    curve_rates = _curve_rates(rates, sustained, shown, shown_model)
    curve_arrivals = sw.Arrivals(sw.CURVE_REQUESTS, trace, seed=1)
    curves = [(baseline, model_u, unbatched)]
    if recommended is not None and recommended != baseline:
        curves.append((recommended, model_b, batched or unbatched))
    points: list[LoadPoint] = []
    for policy, model, cal in curves:
        points += sw.curve(
            policy,
            model,
            _supported_rates(curve_rates, policy, cal, notes),
            curve_arrivals,
            variant=name,
            emit=emit,
            check=cancel.raise_if_cancelled,
        )
    knee_rps = sw.knee(shown, shown_model, arrivals, variant=name, check=cancel.raise_if_cancelled)
    if not knee_supported(knee_rps, shown_cal.ceiling):
        notes.append(
            f"the simulated knee, {knee_rps:,.0f}/s, lies beyond a rate a real run did not hold "
            f"({shown_cal.unheld_rps:,.0f}/s): not shown"
        )
        knee_rps = None
    caches = _caches(trace, cache_sizes, shown, shown_model, target)
    calibration_runs = unbatched.runs + (batched.runs if batched is not None else [])
    return VariantServing(
        variant=name,
        model_path=path,
        service_ms_by_batch=dict(times.samples_ms),
        curve=tuple(points),
        knee_rps=knee_rps,
        sustainable_rps_unbatched=top.sustainable_rps if top is not None else None,
        recommended=recommended,
        sustainable_rps=sustained,
        confirmed=chosen.point,
        simulation_error=chosen.error,
        cache=caches[-1] if caches else None,
        reason=reason,
        batch_note=times.batch_note,
        confirmed_unbatched=base.point,
        simulation_error_unbatched=base.error,
        caches=tuple(caches),
        refine_run=calibration_runs[-1] if calibration_runs else None,
        notes=tuple(notes),
        repeat_error=chosen.repeat,
        repeat_error_unbatched=base.repeat,
    )


@dataclass(frozen=True)
class Confirmation:
    """A policy's claim after its real confirming runs: `result` capped where they did not hold; their
    pooled point, the simulation's p99 error against them and the real-against-real floor (None: no runs)."""

    result: sw.PolicyResult | None
    point: LoadPoint | None = None
    error: float | None = None
    repeat: float | None = None


def _confirmed(
    runs: RealRuns,
    cal: Calibration,
    policy: BatchPolicy,
    result: sw.PolicyResult | None,
    model: ServiceModel,
    target: float | None,
    notes: list[str],
) -> Confirmation:
    """Real load tests of `policy` at its confirming rate (for a policy that holds at no simulated rate, at
    the lightest rate tried: the report then shows what a real run gets rather than only a verdict).

    A real run outranks the simulation here as in calibration: when the confirming runs, over all their
    requests, did not hold the budget (or saturated, or their generator fell behind), the rates claimed
    are capped at `CAP_FRACTION` of their rate and `cal.ceiling` with them (notes say so)."""
    if result is None:
        return Confirmation(None)
    if result.sustainable_rps is not None:
        rate = confirming_rate(cal, policy, result.sustainable_rps, target)
    elif result.grid:
        rate = result.grid[0].offered_rps
    else:
        return Confirmation(result)
    point, error, account, repeat = runs.confirm(policy, rate, model)
    notes.append(f"confirmed {account}")
    if result.sustainable_rps is not None and not holds_for_real(point, runs.p99_ms):
        cal.not_held_at(rate)
        result = capped(result, cal.ceiling)
        notes.append(
            f"the real runs with {policy.label()} at {rate:,.0f}/s did not hold p99 <= {runs.p99_ms:g} ms over "
            f"all their requests (p99 {point.latency.total.p99:.2f} ms"
            f"{', saturated' if point.saturated else ''}"
            f"{', generator fell behind' if not point.generator_kept_up else ''}): its rates are claimed "
            f"up to {cal.ceiling:,.0f}/s ({CAP_FRACTION:.0%} of that rate), not confirmed there"
        )
    return Confirmation(result, point, error, repeat)


def holds_for_real(point: LoadPoint, p99_ms: float) -> bool:
    """Whether a real point held the budget: not saturated, its generator kept the rate, p99 within `p99_ms`."""
    return holds(point, p99_ms) and point.generator_kept_up


def knee_supported(knee_rps: float | None, ceiling: float) -> bool:
    """False when the simulated knee lies beyond the rate a real run already failed to hold (`ceiling` is
    `CAP_FRACTION` of that rate): the simulation's costs stop at the last run kept, so past that rate its
    curve has no real support, and a knee there would contradict the real run."""
    return knee_rps is None or not math.isfinite(ceiling) or knee_rps <= ceiling / CAP_FRACTION


def _calibration_note(label: str, model: ServiceModel) -> str:
    """Which real loads the simulation's costs were measured at (rate and requests of each run)."""
    loads = ", ".join(f"{o.rate_rps:,.0f}/s ({o.requests:,} requests)" for o in model.loads)
    return f"simulation {label} calibrated by real runs at {loads}"


def _supported_rates(rates: list[float], policy: BatchPolicy, cal: Calibration, notes: list[str]) -> list[float]:
    """The curve's rates a real run supports: none beyond the rate a real run with these costs did not hold
    (`cal.unheld_rps`), where the simulation's costs have no measurement behind them (a note names the rates
    left out)."""
    limit = cal.unheld_rps
    kept = [r for r in rates if r <= limit]
    if len(kept) < len(rates):
        notes.append(
            f"the simulated curve of {policy.label()} stops at {limit:,.0f}/s, a rate a real run did not hold: "
            f"{len(rates) - len(kept)} rate(s) beyond it not simulated"
        )
    return kept


def _curve_rates(
    rates: Sequence[float] | None, sustained: float | None, policy: BatchPolicy, model: ServiceModel
) -> list[float]:
    if rates:
        return sorted(float(r) for r in rates)
    top = sustained * 1.3 if sustained else sw.capacity_rps(policy, model)
    return [float(r) for r in np.geomspace(top * 0.1, top, 8)]


def _caches(
    trace: Schedule | None, sizes: Sequence[int], policy: BatchPolicy, model: ServiceModel, target: float | None
) -> list[CacheEffect]:
    from core.serving.cache_sim import cache_effect

    if trace is None or trace.keys is None or not sizes:
        return []
    arrivals = trace.times if target is None else trace.scaled_to(target).times
    return [cache_effect(arrivals, trace.keys, int(n), policy, model) for n in sorted(set(sizes))]


def run_study(
    models: Sequence[tuple[str, str]],
    *,
    p99_ms: float,
    rates: Sequence[float] | None,
    max_batch: Sequence[int],
    max_wait_ms: Sequence[float],
    workers: Sequence[int],
    trace: str | None,
    seconds: float,
    samples_path: str | None,
    cache_sizes: Sequence[int],
    progress: Reporter,
    cancel: CancelToken,
) -> ServingStudy:
    """See `core.serving.api.study_serving`."""
    if not models:
        raise UsageError("no models to study")
    if not p99_ms > 0 or not math.isfinite(p99_ms):
        raise UsageError(f"the p99 budget must be a positive number of ms, got {p99_ms}")
    if rates is not None and (not rates or min(rates) <= 0):
        raise UsageError("request rates must be positive")
    if (
        not max_batch
        or min(max_batch) < 1
        or not workers
        or min(workers) < 1
        or not max_wait_ms
        or min(max_wait_ms) < 0
        or seconds <= 0
    ):
        raise UsageError("max_batch and workers must be >= 1, max_wait_ms >= 0, seconds > 0")
    # The engine child's background TensorFlow import holds the interpreter lock for seconds: timings taken
    # meanwhile read up to 9x slow (fraud fp32 batch 1: 0.68 against 0.077 ms, issue 14).
    wait_for_tensorflow_preload(check=cancel.raise_if_cancelled)
    schedule = read_trace(trace) if trace is not None else None
    notes: list[str] = []
    if schedule is not None and schedule.keys is None and cache_sizes:
        notes.append(f"the trace {trace} carries no request keys, so no cache was simulated")
    if schedule is not None:
        notes.append(
            f"arrivals follow the trace {trace} ({len(schedule.times)} requests, {schedule.rate:.0f}/s), "
            f"{'scaled to each rate' if rates else 'at its own rate'}"
        )
        if not rates:
            rates = [schedule.rate]
    results = []
    for k, (name, path) in enumerate(models):
        cancel.raise_if_cancelled()
        results.append(
            study_variant(
                name,
                path,
                p99_ms=p99_ms,
                rates=rates,
                max_batch=max_batch,
                max_wait_ms=max_wait_ms,
                workers=workers,
                trace=schedule,
                seconds=seconds,
                samples_path=samples_path,
                cache_sizes=cache_sizes,
                progress=progress.scaled(k / len(models), (k + 1) / len(models)),
                cancel=cancel,
            )
        )
    held = [(v, v.sustainable_rps) for v in results if v.sustainable_rps is not None]
    best, top = max(held, key=lambda h: h[1]) if held else (None, None)
    target = max(rates) if rates else None
    headroom = (top / target - 1.0) if top is not None and target else None
    if best is not None and top is not None and target and top < target:
        notes.append(
            f"no variant holds p99 <= {p99_ms:g} ms at {target:g}/s (simulated); the best, {best.variant}, "
            f"holds it up to {top:.0f}/s"
        )
    for v in results:
        if v.confirmed is not None and not v.confirmed.generator_kept_up:
            notes.append(
                f"{v.variant}: the load generator could not keep the offered rate in the real run; its "
                "latencies are not the model's"
            )
    notes.append(
        "sustainable rates and curves are simulated from service times measured on this machine, with "
        "the load harness's costs measured in real runs at about those rates; the confirmed points are "
        "real load tests"
    )
    progress(1.0, "serving study done")
    return ServingStudy(
        p99_budget_ms=float(p99_ms),
        rates=tuple(float(r) for r in rates or ()),
        variants=tuple(results),
        recommended_variant=best.variant if best else None,
        recommended_policy=best.recommended if best else None,
        headroom=headroom,
        notes=tuple(notes),
        target_rps=target,
    )


__all__ = ["BASELINE", "run_study", "study_variant"]
