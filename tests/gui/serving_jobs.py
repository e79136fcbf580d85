"""Stand-ins for the serving study the GUI tests run in the engine (importable by the engine's child)."""

from __future__ import annotations

import time

from core.serving.api import BatchPolicy, LatencyParts, LoadPoint, Percentiles

SEEN: dict = {}


def pct(p50: float, p99: float) -> Percentiles:
    return Percentiles(p50=p50, p90=(p50 + p99) / 2, p99=p99, max=p99 * 1.2, mean=p50)


def point(
    variant: str,
    rate: float,
    p50: float,
    p99: float,
    *,
    policy: BatchPolicy = BatchPolicy(),
    simulated: bool = True,
    kept_up: bool = True,
    saturated: bool = False,
) -> LoadPoint:
    """A LoadPoint with the total latency's p50/p99 as given (the parts are not what the chart reads)."""
    zero = Percentiles(0.0, 0.0, 0.0, 0.0, 0.0)
    parts = LatencyParts(queue_wait=zero, compute=pct(p50, p99), handback=zero, total=pct(p50, p99))
    return LoadPoint(
        variant=variant,
        policy=policy,
        offered_rps=rate,
        achieved_rps=rate if kept_up else rate / 2,
        generator_late_p99_ms=0.1 if kept_up else 50.0,
        generator_kept_up=kept_up,
        requests=int(rate),
        latency=parts,
        simulated=simulated,
        saturated=saturated,
    )


def streaming_until_cancelled(models, *, progress, cancel, **kwargs):
    """Streams one point per model, then waits for the cancel (it never finishes on its own)."""
    SEEN["models"] = list(models)
    SEEN["kwargs"] = dict(kwargs)
    SEEN["cancelled"] = False
    for index, (name, _model) in enumerate(models):
        progress.partial("serving_point", point(name, 100.0 * (index + 1), 1.0, 2.0))
    start = time.monotonic()
    while time.monotonic() - start < 60:
        if cancel.cancelled:
            SEEN["cancelled"] = True
        cancel.raise_if_cancelled()
        progress(min(1.0, (time.monotonic() - start) / 60), "simulating", stage="serving")
        time.sleep(0.02)
    raise AssertionError("the cancel never came")


def finished_study(models, *, progress, cancel, **kwargs):
    """A finished study by hand: one variant per model, no variant holding the budget (nothing measured)."""
    from core.serving.api import ServingStudy, VariantServing

    SEEN["models"] = list(models)
    variants = tuple(
        VariantServing(
            variant=name,
            model_path=f"/m/{name}.tflite",
            service_ms_by_batch={1: (0.2,)},
            curve=(point(name, 100.0, 1.0, 2.0),),
            knee_rps=None,
            sustainable_rps_unbatched=None,
            recommended=None,
            sustainable_rps=None,
            confirmed=None,
            simulation_error=None,
            cache=None,
            reason=None,
        )
        for name, _model in models
    )
    return ServingStudy(
        p99_budget_ms=kwargs["p99_ms"],
        rates=(),
        variants=variants,
        recommended_variant=None,
        recommended_policy=None,
        headroom=None,
    )


def refusing_study(models, *, progress, cancel, **kwargs):
    from core.errors import BadInputError

    raise BadInputError("line 3: the timestamp 'abc' is not a number", path=kwargs.get("trace") or "trace.csv")


__all__ = ["point", "pct", "streaming_until_cancelled", "finished_study", "refusing_study"]
