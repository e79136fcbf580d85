"""Serving study: will a .tflite variant hold a p99 latency budget at a request rate?

Public, picklable value types (frozen dataclasses, so the engine's restricted
unpickler lets them through as `progress.partial("serving_point", LoadPoint)`)
and the front door `study_serving`, which runs in the engine's child (it loads
and runs .tflite models).

Units: latencies in milliseconds, rates in requests per second. Every figure is
measured on this machine (service times, real load tests) or simulated from those
measured service times (`LoadPoint.simulated` says which).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

from core.engine.context import CancelToken, Reporter

PARTIAL_KIND = "serving_point"
"""`progress.partial(PARTIAL_KIND, LoadPoint)` is sent for every point of the reported curves (simulated,
no batching and the recommended policy, per offered rate), for every real load test, and for the
simulated twin of each real test (same arrivals). The sweep's search points are not sent."""


class CancelFlag(Protocol):
    """What the load test's threads poll to stop: a `CancelToken`, or the run's own token that also
    reads as cancelled once the run stops itself (`loadtest._Either`)."""

    @property
    def cancelled(self) -> bool:
        """True once the run should stop."""
        ...


@dataclass(frozen=True)
class BatchPolicy:
    """A dynamic-batching policy: a batch closes at `max_batch` requests or `max_wait_ms`
    after its first request, whichever comes first; `workers` interpreters run batches."""

    max_batch: int = 1
    max_wait_ms: float = 0.0
    workers: int = 1

    def label(self) -> str:
        """The policy in words, e.g. "batch<=32, wait<=1 ms, 2 workers" or "no batching, 1 worker"."""
        if self.max_batch == 1:
            return f"no batching, {self.workers} worker{'s' if self.workers != 1 else ''}"
        return (
            f"batch<={self.max_batch}, wait<={self.max_wait_ms:g} ms, "
            f"{self.workers} worker{'s' if self.workers != 1 else ''}"
        )


@dataclass(frozen=True)
class Percentiles:
    """p50/p90/p99/max of one latency part, in ms (nan when there were no requests)."""

    p50: float
    p90: float
    p99: float
    max: float
    mean: float = float("nan")


@dataclass(frozen=True)
class LatencyParts:
    """Per-request latency split: waiting for a batch and a worker, running the batch, handing back."""

    queue_wait: Percentiles
    compute: Percentiles
    handback: Percentiles
    total: Percentiles


@dataclass(frozen=True)
class LoadPoint:
    """One (variant, policy, offered rate) run, real or simulated.

    `generator_kept_up` False means the open-loop generator could not issue the
    offered rate (its lateness p99 or achieved rate was off): the latencies are
    then not the model's and must not be reported as such. `saturated` means the
    queue grew without bound (the offered rate exceeds what the policy serves).
    """

    variant: str
    policy: BatchPolicy
    offered_rps: float
    achieved_rps: float
    generator_late_p99_ms: float
    generator_kept_up: bool
    requests: int
    latency: LatencyParts
    simulated: bool
    saturated: bool
    mean_batch: float = float("nan")
    utilization: float = float("nan")
    dropped: int = 0
    note: str = ""


@dataclass(frozen=True)
class CacheEffect:
    """An LRU cache of `capacity` predictions simulated over a keyed trace."""

    capacity: int
    hit_rate: float
    p99_ms_with: float
    p99_ms_without: float
    model_load_fraction: float
    too_few_repeats: bool
    note: str


@dataclass(frozen=True)
class VariantServing:
    """What the serving study found for one variant (one .tflite)."""

    variant: str
    model_path: str
    service_ms_by_batch: dict[int, tuple[float, ...]]
    curve: tuple[LoadPoint, ...]
    knee_rps: float | None
    sustainable_rps_unbatched: float | None
    recommended: BatchPolicy | None
    sustainable_rps: float | None
    confirmed: LoadPoint | None
    simulation_error: float | None
    cache: CacheEffect | None
    reason: str | None
    batch_note: str = ""
    confirmed_unbatched: LoadPoint | None = None
    simulation_error_unbatched: float | None = None
    caches: tuple[CacheEffect, ...] = ()
    refine_run: LoadPoint | None = None  # the last real run whose harness costs calibrated the simulation
    notes: tuple[str, ...] = ()
    # The same relative p99 difference as `simulation_error`, between two sets of real runs at that policy
    # and rate (the calibration runs there and the confirming runs made between them): how well the
    # machine repeats itself, the floor the simulation's error is read against. None without such runs.
    repeat_error: float | None = None
    repeat_error_unbatched: float | None = None


@dataclass(frozen=True)
class ServingStudy:
    """The whole study: the budget, the offered rates, each variant, and the recommendation.

    `headroom` is (sustainable rate / target rate - 1) for the recommended variant
    and policy when a target rate was given (the highest of `rates`), else None.
    """

    p99_budget_ms: float
    rates: tuple[float, ...]
    variants: tuple[VariantServing, ...]
    recommended_variant: str | None
    recommended_policy: BatchPolicy | None
    headroom: float | None
    notes: tuple[str, ...] = field(default_factory=tuple)
    target_rps: float | None = None


def study_serving(
    models: Sequence[tuple[str, str]],
    *,
    p99_ms: float,
    rates: Sequence[float] | None = None,
    max_batch: Sequence[int] = (1, 2, 4, 8, 16, 32),
    max_wait_ms: Sequence[float] = (0, 0.5, 1, 2, 5),
    workers: Sequence[int] = (1, 2),
    trace: str | None = None,
    seconds: float = 3.0,
    samples_path: str | None = None,
    cache_sizes: Sequence[int] = (),
    progress: Reporter,
    cancel: CancelToken,
) -> ServingStudy:
    """Measure, simulate and load-test each (name, .tflite path) at the p99 budget `p99_ms`.

    Steps per variant: measure service time per batch size (`service_times`), measure the
    load harness's costs in real runs at the loads in question (`calibrate`, `overheads`),
    sweep rate x max_batch x max_wait x workers in the discrete-event simulation
    (`simulate`), find the highest sustainable rate at the budget with no batching and
    with the best policy, then confirm both with a real load test (`loadtest`) of
    `seconds` seconds (stretched up to 4x to carry 3,000 requests) and report the
    simulation's error against it. With a keyed
    `trace`, the LRU cache of each size in `cache_sizes` is simulated (`cache_sim`).

    Streams `progress.partial(PARTIAL_KIND, LoadPoint)` as points are ready (see `PARTIAL_KIND`).
    Call it through the engine (`Engine.submit(study_serving, models, p99_ms=..., ...)`): it runs models.
    Raises BadInputError (bad model, data or trace: names the file and line),
    Cancelled when `cancel` is set (promptly; nothing is written).
    """
    from core.serving.study import run_study

    # A pure hand-over: one argument per line would only repeat the signature above.
    # fmt: off
    return run_study(models, p99_ms=p99_ms, rates=rates, max_batch=max_batch, max_wait_ms=max_wait_ms,
                     workers=workers, trace=trace, seconds=seconds, samples_path=samples_path,
                     cache_sizes=cache_sizes, progress=progress, cancel=cancel)
    # fmt: on


__all__ = [
    "BatchPolicy",
    "CancelFlag",
    "CacheEffect",
    "LatencyParts",
    "LoadPoint",
    "PARTIAL_KIND",
    "Percentiles",
    "ServingStudy",
    "VariantServing",
    "study_serving",
]
