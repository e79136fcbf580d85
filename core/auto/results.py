"""Auto mode's settings and results: frozen dataclasses that pickle across the engine boundary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.benchmark.results import BenchmarkResult, Recommendation
from core.data.loaders import DataDescription
from core.evaluation import Evaluation
from core.optimize.recipes import Recipe
from core.optimize.results import SourceInfo, Variant

from core.auto.budget import AutoBudget

if TYPE_CHECKING:
    from core.optimize.session import SessionOptions

# Candidate status values.
MEASURED = "measured"  # built, within the budget, benchmarked
MISSES_BUDGET = "misses_budget"  # built and evaluated; not benchmarked because it misses the budget
SKIPPED = "skipped"  # not built (or not fully measured) for a stated reason
FAILED = "failed"  # conversion or benchmark failed
PENDING = "pending"  # not reached (cancelled)


@dataclass(frozen=True)
class AutoSettings:
    """How hard auto mode searches.

    threads/batch_sizes: the sweep each candidate within budget gets (threads
    beyond the machine's cores are dropped). Latency is the p50 at the smallest
    batch size with the best thread count; throughput the best over the sweep.
    seconds_per_config: measuring time per (batch size, threads) configuration.
    modes: the single-mode candidates, cheapest first.
    selective: try int8 with selective float layers when plain int8 misses the budget.
    pruning: "auto" (try structured pruning unless a stated reason rules it out),
    "always" or "never"; prune_levels the sparsities; prune_epochs fine-tuning epochs.
    prune_floor_ms: in "auto", pruning is skipped when the fastest candidate's p50
    is already below this (per-call overhead dominates; removing compute cannot
    buy a measurable gain, and pruning costs fine-tuning).
    probe: measure batch 1 / 1 thread first and skip the rest of a candidate's
    sweep when even perfect scaling over all threads cannot beat the best so far.
    use_cache: read and write the on-disk result cache (core.cache).
    """

    threads: tuple[int, ...] = (1, 2)
    batch_sizes: tuple[int, ...] = (1,)
    seconds_per_config: float = 0.5
    warmup: int = 5
    modes: tuple[str, ...] = ("fp32", "dynamic", "float16", "int8", "int16x8")
    selective: bool = True
    pruning: str = "auto"
    prune_levels: tuple[float, ...] = (0.3, 0.5)
    prune_epochs: int = 2
    prune_floor_ms: float = 0.05
    probe: bool = True
    threshold: float = 0.5
    use_cache: bool = True
    cache_dir: str | None = None
    signature: str | None = None  # SavedModel/.tflite signature (None: serving_default)
    primary_output: str | None = None  # the output the budget is checked on (None: the first)
    tasks: tuple[tuple[str, str], ...] = ()  # (output, task) overrides
    custom_objects: tuple[str, ...] = ()  # the user's code files for custom layers (--custom-objects)
    input_shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()  # without data: sizes of free dimensions

    def session_options(self) -> SessionOptions:
        """The scoring options every candidate is built and judged with (`core.optimize.session`)."""
        from core.optimize.session import SessionOptions

        return SessionOptions(
            threshold=self.threshold,
            signature=self.signature,
            primary_output=self.primary_output,
            tasks=tuple((name, task) for name, task in self.tasks),
            input_shapes=tuple((n, tuple(shape)) for n, shape in self.input_shapes),
            custom_objects=tuple(str(p) for p in self.custom_objects),
        )

    def __post_init__(self) -> None:
        object.__setattr__(self, "threads", tuple(int(t) for t in self.threads))
        object.__setattr__(self, "batch_sizes", tuple(int(b) for b in self.batch_sizes))
        object.__setattr__(self, "modes", tuple(self.modes))
        object.__setattr__(self, "prune_levels", tuple(float(s) for s in self.prune_levels))
        object.__setattr__(self, "custom_objects", tuple(str(p) for p in self.custom_objects))
        if not self.threads or min(self.threads) < 1:
            raise ValueError("thread counts must be >= 1")
        if not self.batch_sizes or min(self.batch_sizes) < 1:
            raise ValueError("batch sizes must be >= 1")
        if self.seconds_per_config <= 0:
            raise ValueError("seconds_per_config must be > 0")
        if self.pruning not in ("auto", "always", "never"):
            raise ValueError(f"pruning must be auto, always or never, got {self.pruning!r}")
        if any(not 0 < s < 1 for s in self.prune_levels):
            raise ValueError("prune levels must lie strictly between 0 and 1")
        if "fp32" not in self.modes:
            raise ValueError("the candidate modes must include fp32 (the baseline)")


@dataclass(frozen=True)
class AutoCandidate:
    """One candidate recipe and what became of it."""

    name: str
    recipe: Recipe
    status: str  # MEASURED, MISSES_BUDGET, SKIPPED, FAILED, PENDING
    reason: str = ""  # why skipped / failed / missed, in words
    size_bytes: int | None = None
    size_ratio: float | None = None  # size / the fp32 .tflite
    evaluation: Evaluation | None = None
    quality: float | None = None  # the budget's figure, higher is better (see core.auto.budget)
    quality_label: str = ""
    meets_budget: bool | None = None  # None: not known (not built)
    meets_quality: bool | None = None  # the accuracy/agreement part of the budget alone
    latency_ms: float | None = None  # p50 at the smallest batch size with the best thread count
    latency_config: str = ""  # e.g. "int8 b1 t2"
    threads: int | None = None
    batch_size: int | None = None
    throughput: float | None = None  # best samples/s over the sweep
    throughput_config: str = ""
    bench: BenchmarkResult | None = None
    from_cache: bool = False  # the variant came from the cache (no conversion)
    bench_from_cache: bool = False  # the measurement came from the cache
    tflite_sha256: str = ""
    warnings: tuple[str, ...] = ()
    build_seconds: float = 0.0  # this run's time to build/evaluate (0-ish from the cache)
    measure_seconds: float = 0.0

    @property
    def measured(self) -> bool:
        """True when the candidate was benchmarked within the budget (MEASURED with a latency)."""
        return self.status == MEASURED and self.latency_ms is not None

    def summary(self) -> dict[str, Any]:
        """Plain data for JSON and the live stream: the recipe as a dict, no bench or model bytes."""
        return {
            "name": self.name,
            "recipe": self.recipe.to_dict(),
            "status": self.status,
            "reason": self.reason,
            "size_bytes": self.size_bytes,
            "size_ratio": self.size_ratio,
            "evaluation": self.evaluation.to_dict() if self.evaluation is not None else None,
            "quality": self.quality,
            "quality_label": self.quality_label,
            "meets_budget": self.meets_budget,
            "meets_quality": self.meets_quality,
            "latency_ms": self.latency_ms,
            "latency_config": self.latency_config,
            "threads": self.threads,
            "batch_size": self.batch_size,
            "throughput": self.throughput,
            "throughput_config": self.throughput_config,
            "from_cache": self.from_cache,
            "bench_from_cache": self.bench_from_cache,
            "tflite_sha256": self.tflite_sha256,
            "warnings": list(self.warnings),
            "build_seconds": round(self.build_seconds, 3),
            "measure_seconds": round(self.measure_seconds, 3),
        }


@dataclass(frozen=True)
class AutoResult:
    """What auto mode found.

    `cancelled` is True when the user cancelled: the candidates measured until
    then are kept (the others are PENDING) and the recommendation is made from them.
    `recommended_variant` carries the chosen model's bytes for export.
    """

    source: SourceInfo
    data: DataDescription
    budget: AutoBudget
    settings: AutoSettings
    original_evaluation: Evaluation | None
    baseline_size_bytes: int | None
    candidates: tuple[AutoCandidate, ...]
    pareto: tuple[str, ...]  # names on the front of (latency, size, quality)
    recommended: str | None
    recommended_variant: Variant | None
    reasons: tuple[str, ...]  # why the recommendation won, in words
    cancelled: bool = False
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0
    setup_from_cache: bool = False  # the original model's reference came from the cache
    environment: dict[str, str] = field(default_factory=dict)
    recommendation: Recommendation | None = None  # THE recommendation every view reads (None: older results)

    def candidate(self, name: str) -> AutoCandidate:
        """The candidate called `name`; raises KeyError when there is none."""
        for c in self.candidates:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def all_from_cache(self) -> bool:
        """True when the setup and every built candidate (and its measurement, if measured) came from the cache."""
        done = [c for c in self.candidates if c.status in (MEASURED, MISSES_BUDGET)]
        return (
            bool(done)
            and self.setup_from_cache
            and all(c.from_cache and (c.bench_from_cache or c.status != MEASURED) for c in done)
        )

    def summary(self) -> dict[str, Any]:
        """Plain data for the `optimize --auto --json` document (no model bytes)."""
        from dataclasses import asdict

        return {
            "source": asdict(self.source),
            "data": asdict(self.data),
            "synthetic_data": self.data.synthetic_data,
            "budget": asdict(self.budget),
            "budget_text": self.budget.effective().describe(),
            "settings": asdict(self.settings),
            "original_evaluation": self.original_evaluation.to_dict() if self.original_evaluation else None,
            "baseline_size_bytes": self.baseline_size_bytes,
            "candidates": [c.summary() for c in self.candidates],
            "pareto": list(self.pareto),
            "recommended": self.recommended,
            "reasons": list(self.reasons),
            "cancelled": self.cancelled,
            "warnings": list(self.warnings),
            "seconds": round(self.seconds, 3),
            "setup_from_cache": self.setup_from_cache,
            "all_from_cache": self.all_from_cache,
            "environment": dict(self.environment),
            "recommendation": asdict(self.recommendation) if self.recommendation is not None else None,
        }
