"""The before/after comparison of one run as plain rows: the app's table and charts, the report and the CLI share it.

One `Row` for the original model (measured in TensorFlow for a Keras source, in
LiteRT for a .tflite source), then one per variant, in the order they were made.
Latency figures come from the benchmark's primary configuration (the first batch
size and thread count asked for); accuracy and fidelity from the optimizer's
evaluation on the same data for every row. Speed-up is the original's p50 divided
by the variant's; `Row.best` names the columns where a row holds the best value.

A model with several outputs: the accuracy column is the primary output's, the
fidelity column the worst output's (named in the cell); `core.report.outputs` has every
output's figures.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Protocol

from core.report.outputs import ORIGINAL, headline_output, outputs_tooltip, score_of

if TYPE_CHECKING:
    from core.benchmark.results import BenchmarkResult


class ComparisonRun(Protocol):
    """What a report is made of: the app's `gui.workflow.RunOutcome` and the CLI's `RunRecord` both fit
    (frozen dataclasses: read-only members)."""

    @property
    def model_path(self) -> str: ...
    @property
    def settings(self) -> dict[str, Any]: ...
    @property
    def optimize(self) -> Any: ...  # core.optimize.results.OptimizeResult
    @property
    def benchmark(self) -> Any: ...  # core.benchmark.results.BenchmarkResult | None
    @property
    def benchmark_error(self) -> Any: ...  # core.errors.JobError | None
    @property
    def seconds(self) -> float: ...
    @property
    def finished_at(self) -> float: ...  # time.time() when the run ended


@dataclass(frozen=True)
class RunRecord:
    """One run as the CLI has it (the same fields as the app's RunOutcome); `serving`: a ServingStudy or None."""

    model_path: str
    settings: dict[str, Any]
    optimize: Any
    benchmark: Any = None
    benchmark_error: Any = None
    seconds: float = 0.0
    finished_at: float = field(default_factory=time.time)
    serving: Any = None


KERAS_FORMATS = ("keras", "h5", "saved_model")  # measured in TensorFlow as the "before"
FORMAT_TEXT = {"keras": "Keras", "h5": "Keras HDF5", "saved_model": "SavedModel", "tflite": ".tflite"}


@dataclass(frozen=True)
class Metric:
    """How the quality columns read for this task."""

    accuracy_title: str  # "Accuracy", "PR-AUC", "MAE", "mAP", "mIoU"
    accuracy_higher_better: bool
    fidelity_title: str  # "Agreement", "Cosine"; "Fidelity" for a model with several outputs
    outputs: int = 1  # how many outputs the model has
    primary: str = ""  # the output the accuracy column is about (several outputs)

    @property
    def several(self) -> bool:
        """True when the model has more than one output (the fidelity column is then the worst output's)."""
        return self.outputs > 1

    @property
    def accuracy_column(self) -> str:
        """The accuracy column's title: the metric, and below it the primary output's name when there are several."""
        return f"{self.accuracy_title}\n({self.primary})" if self.several and self.primary else self.accuracy_title

    @property
    def fidelity_column(self) -> str:
        """The fidelity column's title: the task's ("Agreement", "Cosine"), or "Fidelity (worst output)"."""
        return "Fidelity\n(worst output)" if self.several else self.fidelity_title


@dataclass
class Row:
    """One row of the comparison table: the original or a variant, with its measured figures.

    Sizes in bytes, latencies in ms and throughput in samples/s come from the benchmark run
    (None when not measured); accuracy and fidelity from the evaluation (`Metric` says how
    to read them). `best` holds the column keys where this row is the best.
    """

    name: str
    is_original: bool
    format: str
    size_bytes: int
    size_ratio: float | None  # / the fp32 .tflite
    p50_ms: float | None = None
    p99_ms: float | None = None
    throughput: float | None = None
    speedup: float | None = None  # original p50 / this p50
    accuracy: float | None = None
    fidelity: float | None = None
    fidelity_cosine: bool = False  # the fidelity figure is a cosine (else an agreement, a fraction)
    fidelity_output: str = ""  # several outputs: the worst one, which the fidelity figure is about
    fidelity_detail: str = ""  # several outputs: every output's fidelity (the tooltip)
    config_label: str = ""
    warnings: tuple[str, ...] = ()
    float_layers: tuple[str, ...] = ()
    best: set[str] = field(default_factory=set)  # column keys where this row is the best
    # auto mode only
    status: str = ""  # the candidate's status ("measured", "skipped", ...)
    recommended: bool = False
    from_cache: bool = False
    quality_label: str = ""

    @property
    def quality(self) -> float | None:
        """The accuracy when there are labels, else the fidelity (None when neither was measured)."""
        return self.accuracy if self.accuracy is not None else self.fidelity


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def metric_for(task: str | None, outputs: int = 1, primary: str = "") -> Metric:
    """The accuracy figure of the (primary output's) task; fidelity as the worst output's when there are several."""
    if task == "binary":
        metric = Metric("PR-AUC", True, "Cosine")
    elif task == "regression":
        metric = Metric("MAE", False, "Cosine")
    elif task == "embedding":
        metric = Metric("Accuracy", True, "Cosine")
    elif task == "multilabel":
        metric = Metric("mAP", True, "Agreement")
    elif task == "segmentation":
        metric = Metric("mIoU", True, "Agreement")
    else:  # multiclass, class_id, sequence: a fraction of right decisions
        metric = Metric("Accuracy", True, "Agreement")
    if outputs > 1:
        metric = Metric(metric.accuracy_title, metric.accuracy_higher_better, "Fidelity", outputs, primary)
    return metric


def accuracy_of(evaluation: Any) -> float | None:
    """The accuracy column's figure: the task's headline metric (the primary output's for a whole model)."""
    acc = getattr(evaluation, "accuracy", None)
    if acc is None:
        return None
    if acc.task == "binary":
        return _finite(acc.pr_auc)
    if acc.task == "regression":
        return _finite(acc.mae)
    if acc.task == "multilabel":
        return _finite(acc.mean_average_precision)
    if acc.task == "segmentation":
        return _finite(acc.mean_iou)
    return _finite(acc.accuracy)


def fidelity_figure(evaluation: Any, metric: Metric | None = None) -> tuple[float | None, bool]:
    """(the fidelity column's figure, whether it is a cosine) of a variant's (worst output's) fidelity.

    Several outputs: the figure the worst output was ranked by (its agreement when its
    task makes decisions, else its cosine). One output: what the task's column shows.
    """
    fid = getattr(evaluation, "fidelity", None)
    if fid is None:
        return None, False
    cosine = _finite(getattr(fid, "cosine_similarity", None))
    if metric is not None and metric.several:
        return score_of(fid), getattr(fid, "agreement", None) is None and getattr(fid, "top1_agreement", None) is None
    if metric is not None and metric.fidelity_title == "Cosine":
        return cosine, True
    agreement = getattr(fid, "agreement", None)
    if agreement is None:
        agreement = getattr(fid, "top1_agreement", None)
    if agreement is None and getattr(fid, "flipped_fraction", None) is not None:
        agreement = 1.0 - fid.flipped_fraction
    if agreement is None:
        return cosine, True
    return _finite(agreement), False


def fidelity_of(evaluation: Any, metric: Metric | None = None) -> float | None:
    """The fidelity column's figure alone (see `fidelity_figure`)."""
    return fidelity_figure(evaluation, metric)[0]


def task_of(run: ComparisonRun) -> str | None:
    """The primary output's task."""
    evaluation = run.optimize.original_evaluation
    if evaluation is not None and evaluation.task is not None:
        return evaluation.task
    source = run.optimize.source
    primary = getattr(source, "primary_output", "")
    for t in getattr(source, "tasks", ()) or ():
        if t.output == primary:
            return t.task
    for v in run.optimize.variants:
        if v.evaluation is not None:
            return v.evaluation.task
    return None


def output_count(source: Any, evaluations: Iterable[Any] = ()) -> tuple[int, str]:
    """(how many outputs, the primary output's name) from a SourceInfo, else from the evaluations."""
    tasks = getattr(source, "tasks", ()) or ()
    if tasks:
        return len(tasks), getattr(source, "primary_output", "") or tasks[0].output
    for evaluation in evaluations:
        outputs = getattr(evaluation, "outputs", None)
        if outputs:
            return len(outputs), getattr(evaluation, "primary", "") or ""
    return 1, ""


def outcome_metric(run: ComparisonRun) -> Metric:
    """How the run's quality columns read: the primary output's task and the number of outputs."""
    result = run.optimize
    count, primary = output_count(result.source, [result.original_evaluation] + [v.evaluation for v in result.variants])
    return metric_for(task_of(run), count, primary)


def set_fidelity(row: Row, evaluation: Any, metric: Metric) -> None:
    """The fidelity figure of a variant's row, and for several outputs which output it is about."""
    row.fidelity, row.fidelity_cosine = fidelity_figure(evaluation, metric)
    if metric.several:
        row.fidelity_output = headline_output(evaluation)
        row.fidelity_detail = outputs_tooltip(evaluation)


def primary_configs(benchmark: BenchmarkResult | None) -> dict[str, Any]:
    """variant name -> its ConfigResult at the first batch size and thread count ("original" for the baseline)."""
    if benchmark is None:
        return {}
    batch = benchmark.config.batch_sizes[0]
    threads = benchmark.config.threads[0]
    chosen: dict[str, Any] = {}
    for r in benchmark.configs:
        if not r.ok or r.batch_size != batch:
            continue
        if r.runner.startswith("keras") or r.runner.startswith("savedmodel"):
            key = ORIGINAL
        elif r.threads not in (threads, None):
            continue
        else:
            key = r.variant
        if key not in chosen or r.stats.p50 < chosen[key].stats.p50:
            chosen[key] = r  # several Keras modes: the fastest is the fair baseline
    return chosen


def benchmark_plan(model_path: str, result: Any) -> tuple[dict[str, Any], str | None, dict[str, tuple[int, ...]]]:
    """What a comparison measures, as (variants, keras_model, input_shapes).

    `variants`: name -> .tflite bytes (or the source's path, named "original", for a .tflite source: it is
    its own baseline); `keras_model`: the Keras/SavedModel source measured in TensorFlow as the "before",
    else None; `input_shapes`: {input: per-sample shape} the variants were evaluated at (free dimensions).
    """
    variants: dict[str, Any] = {}
    keras_model = None
    if result.source.format in KERAS_FORMATS:
        keras_model = model_path
    else:
        variants[ORIGINAL] = model_path
    for variant in result.variants:
        variants[variant.name] = variant.tflite_bytes
    shapes = {str(name): tuple(int(d) for d in shape) for name, shape in getattr(result.data, "input_shapes", ()) or ()}
    return variants, keras_model, shapes


def build_rows(run: ComparisonRun) -> list[Row]:
    """The table's rows: the original first, then each variant, with sizes, the benchmark's p50/p99
    and throughput at its first batch size and thread count, speed-ups over the original's p50,
    quality figures, the recommendation's mark and the best value per column.
    """
    result = run.optimize
    baseline = result.baseline_size_bytes or None
    configs = primary_configs(run.benchmark)
    metric = outcome_metric(run)
    rows = [
        Row(
            name=ORIGINAL,
            is_original=True,
            format=FORMAT_TEXT.get(result.source.format, result.source.format),
            size_bytes=result.source.size_bytes,
            size_ratio=result.source.size_bytes / baseline if baseline else None,
            accuracy=accuracy_of(result.original_evaluation),
            fidelity=1.0 if result.variants else None,
        )
    ]
    for v in result.variants:
        fmt = ".tflite" + (" int8 I/O" if v.io_dtype == "int8" else "")
        row = Row(
            name=v.name,
            is_original=False,
            format=fmt,
            size_bytes=v.size_bytes,
            size_ratio=_finite(v.size_ratio),
            accuracy=accuracy_of(v.evaluation),
            warnings=tuple(v.warnings),
            float_layers=tuple(v.float_layers),
        )
        set_fidelity(row, v.evaluation, metric)
        rows.append(row)
    for row in rows:
        config = configs.get(row.name)
        if config is not None:
            row.p50_ms = _finite(config.stats.p50)
            row.p99_ms = _finite(config.stats.p99)
            row.throughput = _finite(config.stats.throughput)
            row.config_label = config.label
    base = rows[0].p50_ms
    for row in rows:
        if base and row.p50_ms:
            row.speedup = base / row.p50_ms
    # The ✔ (table) and the star (charts) mark the core's one recommendation; nothing here re-ranks.
    chosen = recommended_name(run)
    for row in rows:
        row.recommended = row.name == chosen
    mark_best(rows, metric)
    return rows


def recommended_name(run: ComparisonRun) -> str | None:
    """The row name of the run's recommended variant: the benchmark's `Recommendation.variant` (core)."""
    if run.benchmark is None:
        return None
    from core.benchmark.recommend import recommended_variant

    return recommended_variant(run.benchmark)


def mark_best(rows: list[Row], metric: Metric) -> None:
    """Add each column key to `best` of the row(s) with its best value (ties included); needs two rows with a value."""

    def best(key: str, values: list[tuple[Row, float | None]], higher: bool) -> None:
        present = [(r, v) for r, v in values if v is not None]
        if len(present) < 2:
            return
        target = max(v for _, v in present) if higher else min(v for _, v in present)
        for r, v in present:
            if math.isclose(v, target, rel_tol=1e-9, abs_tol=1e-12):
                r.best.add(key)

    best("size", [(r, float(r.size_bytes)) for r in rows], False)
    best("p50", [(r, r.p50_ms) for r in rows], False)
    best("p99", [(r, r.p99_ms) for r in rows], False)
    best("speedup", [(r, r.speedup) for r in rows if not r.is_original], True)
    best("throughput", [(r, r.throughput) for r in rows], True)
    best("accuracy", [(r, r.accuracy) for r in rows], metric.accuracy_higher_better)
    best("fidelity", [(r, r.fidelity) for r in rows if not r.is_original], True)


def pareto_front(points: list[tuple[str, float, float]], higher_better: bool = True) -> list[str]:
    """Names of the (name, p50 ms, quality) points no other point beats on both latency (lower) and quality.

    Sorted by latency, then name. The rule is `core.auto.pareto.non_dominated`, the auto search's.
    """
    from core.auto.pareto import non_dominated

    front = non_dominated(points, lambda p: (p[1], -p[2] if higher_better else p[2]))
    return [name for _, name in sorted((latency, name) for name, latency, _ in front)]


__all__ = [
    "FORMAT_TEXT",
    "ComparisonRun",
    "Metric",
    "Row",
    "RunRecord",
    "accuracy_of",
    "benchmark_plan",
    "build_rows",
    "fidelity_figure",
    "fidelity_of",
    "mark_best",
    "metric_for",
    "outcome_metric",
    "output_count",
    "pareto_front",
    "primary_configs",
    "recommended_name",
    "set_fidelity",
    "task_of",
]
