"""Auto mode in the window: `core.auto.auto_optimize` through the window's `JobRunner`, and its rows.

`AutoController` runs one search (one engine job). Candidates stream in as
``partial("auto_candidate", AutoCandidate.summary() + {done, total, best})``;
the controller re-emits them as ``candidate(payload)``. On Cancel the engine job
returns the partial `AutoResult` (``cancelled=True``), so a cancelled search
ends with ``auto_finished`` too and the rows measured so far stay.

Signals (GUI thread): ``candidate(payload: dict)``, ``auto_finished(result: AutoResult)``,
``auto_failed(error: JobError)``, ``auto_cancelled()`` (cancelled before the first candidate).

`candidate_rows` turns the payloads (or a finished result) into `core.report.comparison.Row`
objects, so the comparison table and the charts show them like a Run's variants.
"""

from __future__ import annotations

import logging
import os
import time
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtCore import QObject, Signal

from core.cache import BUILT_NOTE_SHORT, MEASURED_NOTE_SHORT
from core.errors import JobError
import gui.pyside_fixes  # noqa: F401 - PySide6 6.12 emit() bug: must be fixed before any emit
from core.report.cells import CACHE_MARK, RECOMMENDED_MARK  # noqa: F401 - re-exported (tests read them here)
from core.report.comparison import (
    FORMAT_TEXT,
    Metric,
    Row,
    accuracy_of,
    mark_best,
    metric_for,
    output_count,
    set_fidelity,
)
from gui.recipe import RunSettings
from gui.workers import JobKindController, JobRunner

if TYPE_CHECKING:
    from core.auto.results import AutoCandidate, AutoResult
    from core.evaluation import Evaluation

log = logging.getLogger("litesmith.gui.auto")

CANDIDATE_KIND = "auto_candidate"
STATUS_TEXT = {
    "measured": ".tflite",
    "misses_budget": "misses budget",
    "skipped": "skipped",
    "failed": "failed",
    "pending": "not reached",
}


def default_auto_job() -> Callable[..., Any]:
    """The job an auto search submits: `core.cache_index.auto_cached` (imported late: the GUI thread stays light)."""
    from core.cache_index import auto_cached

    return auto_cached  # auto_optimize, with a completed search served from the cache before the child starts


def _ns(value: Any) -> Any:
    """A summary dict as attributes (missing ones read None), so `accuracy_of`/`fidelity_of` read it."""
    if isinstance(value, dict):
        return _Attrs(**{k: _ns(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_ns(v) for v in value]
    return value


class _Attrs(SimpleNamespace):
    def __getattr__(self, name: str) -> Any:  # only called for missing attributes
        if name.startswith("__"):
            raise AttributeError(name)
        return None


def payload_of(candidate: AutoCandidate) -> dict[str, Any]:
    """A finished result's candidate as the same dict the stream sends."""
    return candidate.summary()


def task_of_payloads(payloads: list[dict], original: Evaluation | None = None) -> str | None:
    """The primary output's task: the original's evaluation's, else the first candidate payload that names one."""
    if original is not None:
        return getattr(original, "task", None)
    for p in payloads:
        evaluation = p.get("evaluation") or {}
        if evaluation.get("task"):
            return evaluation["task"]
    return None


def auto_metric(payloads: list[dict], result: AutoResult | None = None) -> Metric:
    """The comparison columns' metric: the primary output's task; several outputs read the worst one's fidelity."""
    task = task_of_payloads(payloads, result.original_evaluation if result is not None else None)
    count, primary = 1, ""
    if result is not None:
        count, primary = output_count(result.source, [result.original_evaluation])
    else:
        for p in payloads:
            evaluation = p.get("evaluation") or {}
            if evaluation.get("outputs"):
                count = len(evaluation["outputs"]) + len(evaluation.get("unscored") or ())
                primary = evaluation.get("primary") or ""
                break
    return metric_for(task, count, primary)


def candidate_rows(
    payloads: list[dict], *, recommended: str | None = None, result: AutoResult | None = None
) -> list[Row]:
    """Rows for the comparison table: the original (when the result is in), then every candidate."""
    metric = auto_metric(payloads, result)
    rows: list[Row] = []
    baseline = None
    if result is not None:
        baseline = result.baseline_size_bytes
        source = result.source
        rows.append(
            Row(
                name="original",
                is_original=True,
                format=FORMAT_TEXT.get(source.format, source.format),
                size_bytes=source.size_bytes,
                size_ratio=source.size_bytes / baseline if baseline else None,
                accuracy=accuracy_of(result.original_evaluation),
                fidelity=1.0,
            )
        )
    for p in payloads:
        evaluation = _ns(p.get("evaluation"))
        status = p.get("status", "")
        warnings = [p["reason"]] if p.get("reason") else []
        if p.get("from_cache"):
            warnings.append(BUILT_NOTE_SHORT)
        if p.get("bench_from_cache"):
            warnings.append(MEASURED_NOTE_SHORT)
        row = Row(
            name=p["name"],
            is_original=False,
            format=STATUS_TEXT.get(status, status),
            size_bytes=p.get("size_bytes") or 0,
            size_ratio=p.get("size_ratio"),
            p50_ms=p.get("latency_ms"),
            # the row names one configuration (its p50's): the best throughput of the sweep only when it is that one
            throughput=p.get("throughput") if p.get("throughput_config") == p.get("latency_config") else None,
            accuracy=accuracy_of(evaluation) if evaluation else None,
            config_label=p.get("latency_config", ""),
            warnings=tuple(warnings),
        )
        if evaluation:
            set_fidelity(row, evaluation, metric)
        if result is not None and p.get("latency_config"):
            bench = next((c.bench for c in result.candidates if c.name == p["name"]), None)
            config = next(
                (c for c in (bench.configs if bench is not None else ()) if c.label == p["latency_config"] and c.ok),
                None,
            )
            if config is not None:
                row.p99_ms = config.stats.p99
                row.throughput = config.stats.throughput
        row.status = status
        row.recommended = p["name"] == recommended
        row.from_cache = bool(p.get("from_cache"))
        row.quality_label = p.get("quality_label", "")
        rows.append(row)
    mark_best([r for r in rows if r.size_bytes], metric)
    return rows


def auto_explanation_lines(result: AutoResult, settings: RunSettings | None = None) -> list[tuple[str, str]]:
    """(heading, sentence) pairs for "What it means" after an auto search."""
    lines: list[tuple[str, str]] = []
    lines.append(("Budget", result.budget.effective().describe()))
    rec = getattr(result, "recommendation", None)  # the core's one Recommendation (None: an older result)
    if rec is not None and rec.label is not None:
        lines.append(("Recommended", f"{rec.headline()}; chosen by: {rec.criterion}"))
        if rec.why_not_fastest:
            lines.append(("Not the fastest p50", rec.why_not_fastest))
    elif result.recommended:
        lines.append(("Recommended", f"{result.recommended}"))
    for reason in result.reasons:
        lines.append(("Why", reason))
    if result.cancelled:
        lines.append(("Cancelled", "the search stopped early; the candidates measured before the cancel are shown"))
    data = result.data
    if data.synthetic_data:
        lines.append(
            (
                "Data",
                "No data was given: inputs were synthesized; only agreement with the original model "
                "can be judged. Choose a data file for an accuracy budget.",
            )
        )
    else:
        lines.append(
            (
                "Data",
                f"evaluated on {data.eval_samples} samples{'' if data.labelled else ' (no labels: agreement only)'}.",
            )
        )
    cached = [c.name for c in result.candidates if c.from_cache]
    if result.all_from_cache:
        lines.append(
            (
                "Cache",
                "every result came from the cache (nothing was converted or measured again); "
                "Tools > Clear Cache… forces fresh measurements",
            )
        )
    elif cached:
        lines.append(("Cache", f"served from the cache: {', '.join(cached)} (marked ⟲)"))
    for c in result.candidates:
        if c.reason:
            lines.append((c.name, c.reason))
        for warning in c.warnings:
            lines.append((c.name, warning))
    for warning in result.warnings:
        lines.append(("Warning", warning))
    return lines


class AutoController(JobKindController):
    """One auto search at a time through the window's `JobRunner` (signals: see the module's docstring)."""

    candidate = Signal(object)
    auto_finished = Signal(object)
    auto_failed = Signal(object)
    auto_cancelled = Signal()

    def __init__(self, runner: JobRunner, parent: QObject | None = None, job: Callable[..., Any] | None = None) -> None:
        super().__init__(runner, parent, job)
        self.model_path = ""
        self.settings: RunSettings | None = None
        self.payloads: list[dict] = []
        self.started_at = 0.0

    def start(self, model_path: str, settings: RunSettings) -> bool:
        """Start a search; False when another job runs. ValueError/BadInputError for a bad budget."""
        if self.runner.busy:
            return False
        budget = settings.auto_budget()
        auto_settings = settings.auto_settings()
        data = settings.data_spec()
        job = self._job or default_auto_job()
        self.model_path, self.settings, self.payloads = model_path, settings, []
        self.started_at = time.perf_counter()
        return self._submit(job, model_path, budget, data, auto_settings, subject=model_path)

    def _on_partial(self, kind: str, payload: Any) -> None:
        if self.active and kind == CANDIDATE_KIND and isinstance(payload, dict):
            self.payloads.append(payload)
            self.candidate.emit(payload)

    def _job_finished(self, result: Any) -> None:
        self.auto_finished.emit(result)

    def _job_failed(self, error: JobError) -> None:
        self.auto_failed.emit(error)

    def _job_cancelled(self) -> None:
        self.auto_cancelled.emit()

    @property
    def name(self) -> str:
        """The searched model's file or folder name."""
        return os.path.basename(os.path.normpath(self.model_path))
