"""The before/after comparison of one run as plain rows (no Qt): the table, the charts and the report share it.

One `Row` for the original model (measured in TensorFlow for a Keras source, in
LiteRT for a .tflite source), then one per variant, in the order they were made.
Latency figures come from the benchmark's primary configuration (the first batch
size and thread count asked for); accuracy and fidelity from the optimizer's
evaluation on the same data for every row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from gui.workflow import ORIGINAL, RunOutcome

FORMAT_TEXT = {"keras": "Keras", "h5": "Keras HDF5", "saved_model": "SavedModel", "tflite": ".tflite"}


@dataclass(frozen=True)
class Metric:
    """How the quality columns read for this task."""

    accuracy_title: str        # "Accuracy", "PR-AUC", "MAE"
    accuracy_higher_better: bool
    fidelity_title: str        # "Agreement", "Cosine"


@dataclass
class Row:
    name: str
    is_original: bool
    format: str
    size_bytes: int
    size_ratio: float | None          # / the fp32 .tflite
    p50_ms: float | None = None
    p99_ms: float | None = None
    throughput: float | None = None
    speedup: float | None = None      # original p50 / this p50
    accuracy: float | None = None
    fidelity: float | None = None
    config_label: str = ""
    warnings: tuple[str, ...] = ()
    float_layers: tuple[str, ...] = ()
    best: set[str] = field(default_factory=set)   # column keys where this row is the best
    # auto mode only
    status: str = ""                  # the candidate's status ("measured", "skipped", ...)
    recommended: bool = False
    from_cache: bool = False
    quality_label: str = ""

    @property
    def quality(self) -> float | None:
        return self.accuracy if self.accuracy is not None else self.fidelity


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def metric_for(task: str | None) -> Metric:
    if task == "binary":
        return Metric("PR-AUC", True, "Cosine")
    if task == "regression":
        return Metric("MAE", False, "Cosine")
    return Metric("Accuracy", True, "Agreement")


def accuracy_of(evaluation) -> float | None:
    acc = getattr(evaluation, "accuracy", None)
    if acc is None:
        return None
    if acc.task == "binary":
        return _finite(acc.pr_auc)
    if acc.task == "regression":
        return _finite(acc.mae)
    return _finite(acc.accuracy)


def fidelity_of(evaluation) -> float | None:
    fid = getattr(evaluation, "fidelity", None)
    if fid is None:
        return None
    if fid.top1_agreement is not None:
        return _finite(fid.top1_agreement)
    return _finite(fid.cosine_similarity)


def task_of(outcome: RunOutcome) -> str | None:
    evaluation = outcome.optimize.original_evaluation
    if evaluation is not None:
        return evaluation.task
    for v in outcome.optimize.variants:
        if v.evaluation is not None:
            return v.evaluation.task
    return None


def primary_configs(benchmark) -> dict[str, Any]:
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
            chosen[key] = r   # several Keras modes: the fastest is the fair baseline
    return chosen


def build_rows(outcome: RunOutcome) -> list[Row]:
    result = outcome.optimize
    baseline = result.baseline_size_bytes or None
    configs = primary_configs(outcome.benchmark)
    rows = [Row(name=ORIGINAL, is_original=True, format=FORMAT_TEXT.get(result.source.format, result.source.format),
                size_bytes=result.source.size_bytes,
                size_ratio=result.source.size_bytes / baseline if baseline else None,
                accuracy=accuracy_of(result.original_evaluation), fidelity=1.0 if result.variants else None)]
    for v in result.variants:
        fmt = ".tflite" + (" int8 I/O" if v.io_dtype == "int8" else "")
        rows.append(Row(name=v.name, is_original=False, format=fmt, size_bytes=v.size_bytes,
                        size_ratio=_finite(v.size_ratio), accuracy=accuracy_of(v.evaluation),
                        fidelity=fidelity_of(v.evaluation), warnings=tuple(v.warnings),
                        float_layers=tuple(v.float_layers)))
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
    mark_best(rows, metric_for(task_of(outcome)))
    return rows


def mark_best(rows: list[Row], metric: Metric) -> None:
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
    """Names of the points no other point beats on both latency (lower) and quality; sorted by latency."""
    front = []
    for name, latency, quality in points:
        dominated = False
        for other, lat2, q2 in points:
            if other == name:
                continue
            better_q = q2 >= quality if higher_better else q2 <= quality
            strictly = lat2 < latency or (q2 > quality if higher_better else q2 < quality)
            if lat2 <= latency and better_q and strictly:
                dominated = True
                break
        if not dominated:
            front.append((latency, name))
    return [name for _, name in sorted(front)]


def summary(outcome: RunOutcome) -> dict[str, Any]:
    """The whole comparison, JSON-ready (the report's JSON file)."""
    from core.cli.common import to_jsonable

    result = outcome.optimize
    metric = metric_for(task_of(outcome))
    rows = build_rows(outcome)
    bench = outcome.benchmark
    out: dict[str, Any] = {
        "schema": "litesmith.comparison-report",
        "version": 1,
        "model": outcome.model_path,
        "settings": outcome.settings,
        "task": task_of(outcome),
        "columns": {"accuracy": metric.accuracy_title, "fidelity": metric.fidelity_title},
        "rows": [{
            "name": r.name, "original": r.is_original, "format": r.format, "size_bytes": r.size_bytes,
            "size_ratio_vs_fp32": r.size_ratio, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms,
            "throughput_per_s": r.throughput, "speedup": r.speedup, "accuracy": r.accuracy,
            "fidelity": r.fidelity, "config": r.config_label, "best": sorted(r.best),
            "warnings": list(r.warnings), "float_layers": list(r.float_layers),
        } for r in rows],
        "optimize": result.summary(),
        "benchmark": None,
        "benchmark_error": outcome.benchmark_error.one_line() if outcome.benchmark_error else None,
        "seconds": round(outcome.seconds, 3),
    }
    if bench is not None:
        out["benchmark"] = {
            "config": to_jsonable(bench.config),
            "configs": [to_jsonable(c) for c in bench.configs],
            "recommendation": to_jsonable(bench.recommendation),
            "explanations": list(bench.explanations),
            "delegation": [{"variant": name, **to_jsonable(info)} for name, info in bench.delegation],
            "layer_profile": to_jsonable(bench.layer_profile),
            "data_profile": to_jsonable(bench.data_profile),
            "notes": list(bench.notes),
            "seconds": round(bench.seconds, 3),
        }
    return out


def _compression_text(report: dict) -> str:
    try:
        from core.cli.optimize import compression_text

        return compression_text(report)
    except Exception:  # noqa: BLE001 - an unexpected report shape: show it raw rather than nothing
        return ", ".join(f"{k}: {v}" for k, v in report.items() if not isinstance(v, (list, dict)))


def explanation_lines(outcome: RunOutcome) -> list[tuple[str, str]]:
    """(heading, sentence) pairs for the "what it means" text: data, recommendation, warnings, explanations."""
    result = outcome.optimize
    lines: list[tuple[str, str]] = []
    data = result.data
    if data.synthetic_data:
        lines.append(("Data", "No data was given: inputs were synthesized. Accuracy is unknown, and int8 "
                              "calibration on random inputs can mislead; choose a data file for trustworthy results."))
    else:
        lines.append(("Data", f"calibrated on {data.calibration_samples} samples from {data.calibration_source}"
                              f"{' (class-stratified)' if data.stratified else ''}; evaluated on {data.eval_samples} "
                              f"samples{'' if data.labelled else ' (no labels: fidelity only)'}."))
    bench = outcome.benchmark
    if bench is not None:
        lines.append(("Recommendation", bench.recommendation.reason + "."))
    if outcome.benchmark_error is not None:
        lines.append(("Benchmark", f"not measured: {outcome.benchmark_error.one_line()}"))
    for warning in result.warnings:
        lines.append(("Warning", warning))
    for v in result.variants:
        for warning in v.warnings:
            lines.append((v.name, warning))
        if v.float_layers:
            lines.append((v.name, f"kept in float: {', '.join(v.float_layers)}"))
        for report in getattr(v, "compression", ()) or ():
            lines.append((v.name, _compression_text(report)))
    for failure in result.failures:
        lines.append((failure.name, f"failed: {failure.message}"))
    if bench is not None:
        for text in bench.explanations:
            lines.append(("Benchmark", text))
        for note in bench.notes:
            lines.append(("Note", note))
    return lines
