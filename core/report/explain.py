"""The comparison in words: the "What it means" lines of the app and of the HTML report.

Every sentence states what was measured or found (the data used, the core's one
recommendation, warnings, failures, the benchmark's explanations); nothing here
ranks or measures again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.report.comparison import ComparisonRun
from core.report.outputs import run_models, task_lines, unscored_lines
from core.units import human_count

if TYPE_CHECKING:
    from core.optimize.results import OptimizeResult


def compression_text(report: dict) -> str:
    """One line for a pruning or distillation step's report."""
    step = report.get("step", "")
    if step == "magnitude_prune":
        return (
            f"magnitude pruning: {report.get('overall_sparsity', 0) * 100:.1f}% of "
            f"{human_count(report.get('prunable_weights'))} weights zeroed"
        )
    before_after = (
        f"params {human_count(report.get('params_before', report.get('params_teacher')))} -> "
        f"{human_count(report.get('params_after', report.get('params_student')))}, FLOPs "
        f"{human_count(report.get('flops_before', report.get('flops_teacher')))} -> "
        f"{human_count(report.get('flops_after', report.get('flops_student')))}"
    )
    if step == "structured_prune":
        return f"structured pruning: {before_after}"
    if step == "distill":
        return f"distilled into {report.get('student_kind', 'a student')}: {before_after}"
    return step


def _compression_text(report: dict) -> str:
    try:
        return compression_text(report)
    except Exception:  # noqa: BLE001 - an unexpected report shape: show it raw rather than nothing
        return ", ".join(f"{k}: {v}" for k, v in report.items() if not isinstance(v, (list, dict)))


def free_input_sizes(result: OptimizeResult) -> str:
    """ "frames (20, 6)": the per-sample shape each input with free dimensions was evaluated at; "" for none."""
    interface = getattr(result.source, "interface", None)
    free = {spec.name for spec in getattr(interface, "inputs", ()) or () if spec.free_dims}
    shapes = [(name, shape) for name, shape in getattr(result.data, "input_shapes", ()) or () if name in free]
    return ", ".join(f"{name} ({', '.join(str(d) for d in shape)})" for name, shape in shapes)


def explanation_lines(run: ComparisonRun) -> list[tuple[str, str]]:
    """(heading, sentence) pairs for the "what it means" text: data, recommendation, warnings, explanations."""
    result = run.optimize

    lines: list[tuple[str, str]] = []
    models = run_models(result)
    lines += task_lines(result.source, [e for _, e in models])
    data = result.data
    sizes = free_input_sizes(result)
    if data.synthetic_data:
        lines.append(
            (
                "Data",
                "No data was given: inputs were synthesized"
                f"{f' at the Input sizes {sizes}' if sizes else ''}. Accuracy is unknown, and int8 "
                "calibration on random inputs can mislead; choose a data file for trustworthy results.",
            )
        )
    else:
        lines.append(
            (
                "Data",
                f"calibrated on {data.calibration_samples} samples from {data.calibration_source}"
                f"{' (class-stratified)' if data.stratified else ''}; evaluated on {data.eval_samples} "
                f"samples{'' if data.labelled else ' (no labels: fidelity only)'}"
                f"{f' at the data sizes {sizes}' if sizes else ''}.",
            )
        )
    bench = run.benchmark
    if bench is not None:
        rec = bench.recommendation
        lines.append(
            (
                "Recommendation",
                f"{rec.headline()}."
                if rec.label is None
                else f"{rec.headline()}. {rec.reason}." + (f" Chosen by: {rec.criterion}." if rec.criterion else ""),
            )
        )
        if rec.why_not_fastest:
            lines.append(("Not the fastest p50", rec.why_not_fastest + "."))
    if run.benchmark_error is not None:
        lines.append(("Benchmark", f"not measured: {run.benchmark_error.one_line()}"))
    for warning in result.warnings:
        lines.append(("Warning", warning))
    for v in result.variants:
        for warning in v.warnings:
            lines.append((v.name, warning))
        if v.float_layers:
            lines.append((v.name, f"kept in float: {', '.join(v.float_layers)}"))
        for report in getattr(v, "compression", ()) or ():
            lines.append((v.name, _compression_text(report)))
    lines += unscored_lines(models)
    for failure in result.failures:
        lines.append((failure.name, f"failed: {failure.message}"))
    if bench is not None:
        for text in bench.explanations:
            lines.append(("Benchmark", text))
        for note in bench.notes:
            lines.append(("Note", note))
    return lines


__all__ = ["compression_text", "explanation_lines", "free_input_sizes"]
