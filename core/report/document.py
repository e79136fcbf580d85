"""The comparison report's JSON document (`litesmith.comparison-report`, version 1): the app and the CLI write it.

`summary(run)` builds it from a run (`core.report.comparison.ComparisonRun`), `document(run)`
makes it strict JSON data (NaN/Infinity -> null with a `<key>_reason` beside them).
"""

from __future__ import annotations

from typing import Any

from core.jsonout import jsonable
from core.report.comparison import ComparisonRun, build_rows, outcome_metric, task_of
from core.report.outputs import output_rows, output_tasks, run_models
from core.schemas import COMPARISON_REPORT, VERSIONS


def summary(run: ComparisonRun) -> dict[str, Any]:
    """The whole comparison as a `litesmith.comparison-report` document (core/schemas/comparison-report.v1).

    Rows come from `build_rows` (speed-up, best values, the recommendation); the benchmark's and the
    optimizer's figures are copied as measured. Pass the result through `core.jsonout.jsonable` (or
    `document`) before writing: figures may be NaN.
    """
    result = run.optimize
    metric = outcome_metric(run)
    rows = build_rows(run)
    models = run_models(result)
    bench = run.benchmark
    out: dict[str, Any] = {
        "schema": COMPARISON_REPORT,
        "version": VERSIONS[COMPARISON_REPORT],
        "model": run.model_path,
        "settings": run.settings,
        "task": task_of(run),
        "columns": {"accuracy": metric.accuracy_title, "fidelity": metric.fidelity_title},
        "primary_output": metric.primary or getattr(result.source, "primary_output", "") or None,
        "tasks": [
            {"output": t.output, "task": t.task, "reason": t.reason, "primary": t.primary}
            for t in output_tasks(result.source, [e for _, e in models])
        ],
        "outputs": [r.to_dict() for r in output_rows(result.source, models)],
        "rows": [
            {
                "name": r.name,
                "original": r.is_original,
                "format": r.format,
                "size_bytes": r.size_bytes,
                "size_ratio_vs_fp32": r.size_ratio,
                "p50_ms": r.p50_ms,
                "p99_ms": r.p99_ms,
                "throughput_per_s": r.throughput,
                "speedup": r.speedup,
                "accuracy": r.accuracy,
                "fidelity": r.fidelity,
                "fidelity_output": r.fidelity_output or None,
                "config": r.config_label,
                "best": sorted(r.best),
                "recommended": r.recommended,
                "warnings": list(r.warnings),
                "float_layers": list(r.float_layers),
            }
            for r in rows
        ],
        "optimize": result.summary(),
        "benchmark": None,
        "benchmark_error": run.benchmark_error.one_line() if run.benchmark_error else None,
        "seconds": round(run.seconds, 3),
    }
    if bench is not None:
        out["benchmark"] = {
            "config": jsonable(bench.config),
            "configs": [jsonable(c) for c in bench.configs],
            "recommendation": jsonable(bench.recommendation),
            "explanations": list(bench.explanations),
            "explained": [jsonable(e) for e in getattr(bench, "explained", ())],
            "variant_facts": [jsonable(f) for f in getattr(bench, "variant_facts", ())],
            "delegation": [{"variant": name, **jsonable(info)} for name, info in bench.delegation],
            "layer_profile": jsonable(bench.layer_profile),
            "data_profile": jsonable(bench.data_profile),
            "notes": list(bench.notes),
            "seconds": round(bench.seconds, 3),
        }
    serving = getattr(run, "serving", None)  # core.serving.ServingStudy, when the Serving tab ran one
    if serving is not None:
        from core.serving.report import study_document

        out["serving"] = study_document(serving)
    return out


def document(run: ComparisonRun) -> dict[str, Any]:
    """`summary(run)` as strict JSON data, ready for `core.jsonout.dumps`."""
    return jsonable(summary(run))


__all__ = ["document", "summary"]
