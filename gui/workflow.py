"""One "Run": optimize the open model with the chosen recipe, then benchmark the original and its variants.

`RunController` chains two engine jobs through the window's `JobRunner` (one job
at a time, so Cancel and the status bar work as for every other job):

1. `core.optimize.pipeline.optimize_model(model, recipes, data, options=SessionOptions)`: the variants
   stream in as ``partial("variant", Variant)``;
2. `core.benchmark.measure.benchmark_variants({name: tflite bytes}, config, keras_model=model, input_shapes=...)`
   (free dimensions measured at the sizes the variants were evaluated at: the data's, or the recipe's Input
   sizes): latency samples stream in as ``partial("latency_samples", {...})``.

Both go through `core.cache_index` (``optimize_cached``, ``benchmark_variants_cached``): with the result
cache on, a Run whose variants and measurements are all cached is answered in the engine's parent (hashing
in the job's worker thread), and nothing reaches the engine's child; no samples stream then.

Signals (GUI thread):

- ``stage_changed(stage: str)`` — "optimize", "benchmark"
- ``variant_ready(variant)`` and ``samples(payload: dict)`` — the streamed pieces
- ``optimized(result: OptimizeResult)`` — between the two jobs
- ``run_finished(outcome: RunOutcome)``, ``run_failed(error: JobError)``, ``run_cancelled()``
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtCore import QObject, Signal

from core.errors import ErrorKind, JobError
import gui.pyside_fixes  # noqa: F401 - PySide6 6.12 emit() bug: must be fixed before any emit
from gui.recipe import RunSettings
from gui.workers import JobRunner

if TYPE_CHECKING:
    from core.benchmark.results import BenchmarkResult
    from core.optimize.results import OptimizeResult

log = logging.getLogger("litesmith.gui.workflow")

KERAS_FORMATS = ("keras", "h5", "saved_model")
ORIGINAL = "original"


@dataclass(frozen=True)
class RunOutcome:
    """What one run found: the optimization result and the benchmark over the original and the variants."""

    model_path: str
    settings: dict[str, Any]
    optimize: Any  # core.optimize.results.OptimizeResult
    benchmark: Any = None  # core.benchmark.results.BenchmarkResult | None
    benchmark_error: JobError | None = None
    seconds: float = 0.0
    finished_at: float = field(default_factory=time.time)

    @property
    def keras_baseline(self) -> bool:
        """True when the source is a Keras model or SavedModel, measured in TensorFlow as the "before"."""
        return self.optimize.source.format in KERAS_FORMATS

    @property
    def cached_variants(self) -> list[str]:
        """Names of the variants served from the result cache (not built again)."""
        from core.optimize.pipeline import CACHE_NOTE

        return [v.name for v in self.optimize.variants if CACHE_NOTE in v.warnings]


def default_jobs() -> tuple[Callable[..., Any], Callable[..., Any]]:
    """optimize_model and benchmark_variants, looked up in the result cache first (core.cache_index): in this
    process, before the engine's child starts, so a fully cached Run needs no TensorFlow."""
    from core.cache_index import benchmark_variants_cached, optimize_cached

    return optimize_cached, benchmark_variants_cached


def measured_shapes(result: OptimizeResult, settings: RunSettings | None) -> dict[str, tuple[int, ...]]:
    """{input: per-sample shape} the benchmark runs at: the shapes the variants were evaluated at (the data's,
    or the Input sizes given), else the Input sizes in the settings."""
    description = getattr(result, "data", None)
    shapes = tuple(getattr(description, "input_shapes", ()) or ()) or (settings.shapes_given() if settings else ())
    return {str(name): tuple(int(d) for d in shape) for name, shape in shapes}


def _takes(fn: Callable[..., Any], keyword: str) -> bool:
    import inspect

    try:
        return keyword in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def benchmark_inputs(model_path: str, result: OptimizeResult) -> tuple[dict[str, Any], str | None]:
    """(variants to measure, the Keras model to measure as the baseline or None).

    A Keras/SavedModel source is measured in TensorFlow as the "before"; a .tflite
    source is itself the baseline, measured in LiteRT under the name "original".
    """
    from core.report.comparison import benchmark_plan  # the CLI's --report-html measures the same

    variants, keras_model, _ = benchmark_plan(model_path, result)
    return variants, keras_model


class RunController(QObject):
    """Chains one Run's optimize and benchmark jobs through the window's `JobRunner` (signals: module docstring)."""

    stage_changed = Signal(str)
    variant_ready = Signal(object)
    samples = Signal(object)
    optimized = Signal(object)
    run_finished = Signal(object)
    run_failed = Signal(object)
    run_cancelled = Signal()

    def __init__(
        self,
        runner: JobRunner,
        parent: QObject | None = None,
        jobs: tuple[Callable[..., Any], Callable[..., Any]] | None = None,
    ) -> None:
        super().__init__(parent)
        self.runner = runner
        self._jobs = jobs
        self.active = False
        self.stage = ""
        self.model_path = ""
        self.settings: RunSettings | None = None
        self.optimize_result: OptimizeResult | None = None
        self._started = 0.0
        runner.partial.connect(self._on_partial)

    def start(self, model_path: str, settings: RunSettings) -> bool:
        """Start a run; False when another job runs or the settings do not make a recipe."""
        if self.runner.busy:
            return False
        optimize_model, _ = self._jobs or default_jobs()
        recipes = settings.recipes()
        data = settings.data_spec()
        self.model_path = model_path
        self.settings = settings
        self.optimize_result = None
        self._started = time.perf_counter()
        self.active = True
        self.stage = "optimize"
        extra: dict[str, Any] = {}
        if self._jobs is None and settings.use_cache:
            from core.cache import ResultCache

            extra["cache"] = ResultCache()  # as the CLI: a variant built before is not built again
        started = self.runner.submit(
            optimize_model,
            model_path,
            recipes,
            data,
            subject=model_path,
            options=settings.session_options(),
            on_finished=self._on_optimized,
            on_failed=self._on_failed,
            **extra,
        )
        if not started:
            self.active = False
            self.stage = ""
            return False
        self.stage_changed.emit("optimize")
        return True

    def cancel(self) -> None:
        """Cancel the Run's running job (`JobRunner.cancel`); nothing when no Run is active."""
        if self.active:
            self.runner.cancel()

    # -- the chain -----------------------------------------------------------------

    def _on_partial(self, kind: str, payload: Any) -> None:
        if not self.active:
            return
        if kind == "variant":
            self.variant_ready.emit(payload)
        elif kind == "latency_samples":
            self.samples.emit(payload)

    def _on_optimized(self, result: OptimizeResult) -> None:
        self.optimize_result = result
        self.optimized.emit(result)
        if not self.active:
            return
        settings = self.settings
        assert settings is not None  # `start` set it before submitting the job that called back
        _, benchmark_variants = self._jobs or default_jobs()
        variants, keras_model = benchmark_inputs(self.model_path, result)
        try:
            config = settings.bench_config()
        except ValueError as exc:
            self._finish(benchmark_error=JobError(ErrorKind.BAD_INPUT, f"benchmark settings: {exc}"))
            return
        self.stage = "benchmark"
        name = os.path.basename(os.path.normpath(self.model_path))
        extra: dict[str, Any] = {}
        bench_data = settings.bench_data()
        if bench_data is not None:
            extra["data"] = bench_data  # batches from the data file: data-loading vs model time
        if self._jobs is None and settings.use_cache:
            from core.cache import ResultCache

            extra["cache"] = ResultCache()  # the same models, settings and machine: measured before
        shapes = measured_shapes(result, self.settings)
        if shapes and _takes(benchmark_variants, "input_shapes"):
            extra["input_shapes"] = shapes  # free dimensions: measured at the sizes evaluated
        started = self.runner.submit(
            benchmark_variants,
            variants,
            config,
            subject=self.model_path,
            keras_model=keras_model,
            label=name,
            **extra,
            on_finished=lambda bench: self._finish(benchmark=bench),
            on_failed=self._on_failed,
        )
        if not started:  # cannot happen (the runner is idle in its callbacks); be safe anyway
            self._finish(benchmark_error=JobError(ErrorKind.INTERNAL, "could not start the benchmark"))
            return
        self.stage_changed.emit("benchmark")

    def _on_failed(self, error: JobError) -> None:
        stage = self.stage
        self.active = False
        self.stage = ""
        if error.kind == ErrorKind.CANCELLED:
            self.run_cancelled.emit()
            return
        if stage == "benchmark" and self.optimize_result is not None:
            # The variants exist: show them, and say why there are no latencies.
            self.active = True
            self._finish(benchmark_error=error)
            return
        self.run_failed.emit(error)

    def _finish(self, benchmark: BenchmarkResult | None = None, benchmark_error: JobError | None = None) -> None:
        if not self.active:
            return
        self.active = False
        self.stage = ""
        outcome = RunOutcome(
            model_path=self.model_path,
            settings=self.settings.to_dict() if self.settings else {},
            optimize=self.optimize_result,
            benchmark=benchmark,
            benchmark_error=benchmark_error,
            seconds=time.perf_counter() - self._started,
        )
        self.run_finished.emit(outcome)
