"""The comparison table `litesmith optimize` prints: source, data and task lines, size, size ratio to the
fp32 conversion, fidelity and accuracy per variant, notes, per-layer errors and the files written.

Used by `core.cli.optimize`; every figure comes from an `OptimizeResult` measured in the engine's child.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.cli.figures import fmt as _fmt
from core.cli.figures import headline_accuracy, headline_fidelity, per_output_table, task_lines
from core.report.explain import compression_text
from core.text import escape_line
from core.units import human_size

if TYPE_CHECKING:
    from core.optimize.results import OptimizeResult


def format_result(result: OptimizeResult, exports: list[dict] | None = None) -> str:
    """The comparison table for a terminal: source and data lines, then size, size ratio to the fp32
    conversion, fidelity and accuracy per variant (failed variants say why), and the files written.

    Every figure comes from `result` (measured in the engine's child); names from the model are escaped.
    """
    lines = []
    if result.data.synthetic_data:
        lines.append("!" * 78)
        lines.append("!! NO DATA: calibrated and evaluated on RANDOM inputs; figures may mislead (use --data)")
        lines.append("!" * 78)
    lines.append(
        f"{result.source.path}  ({result.source.format}, {human_size(result.source.size_bytes)}, "
        f"fp32 .tflite {human_size(result.baseline_size_bytes)})"
    )
    d = result.data
    if not d.synthetic_data:
        lines.append(
            f"data: calibration {d.calibration_samples} from {d.calibration_source}"
            f"{' (stratified)' if d.stratified else ''}; evaluation {d.eval_samples} from {d.eval_source}"
            f"{'' if d.labelled else ' (no labels: fidelity only)'}"
        )
        lines.extend(f"  {note}" for note in d.notes if "ignored" in note or "->" in note)
    interface = result.source.interface
    free = {spec.name for spec in (interface.inputs if interface is not None else ()) if spec.free_dims}
    shapes = [f"{name!r} (batch, {', '.join(map(str, shape))})" for name, shape in d.input_shapes if name in free]
    if shapes:
        lines.append("inputs with free dimensions evaluated at: " + ", ".join(shapes))
    if interface is not None and interface.signature:
        others = [s for s in interface.signatures if s != interface.signature]
        lines.append(
            f"signature: {interface.signature}"
            + (f" (also: {', '.join(others)}; choose with --signature)" if others else "")
        )
    lines.extend(
        f"custom code: {path}  (sha256 {digest[:16]}…)" for path, digest in getattr(result.source, "custom_objects", ())
    )
    lines.extend(task_lines(result.source))
    several = interface is not None and len(interface.outputs) > 1
    rows = [
        (
            "variant",
            "size",
            "ratio",
            "worst-output fidelity" if several else "fidelity vs original",
            "primary-output accuracy" if several else "accuracy",
        )
    ]
    rows.append(
        (
            "original",
            human_size(result.source.size_bytes),
            "",
            "(reference)",
            headline_accuracy(result.original_evaluation),
        )
    )
    for v in result.variants:
        rows.append(
            (
                v.name,
                human_size(v.size_bytes),
                _fmt(v.size_ratio, ".2f") + "x",
                headline_fidelity(v.evaluation),
                headline_accuracy(v.evaluation),
            )
        )
    for f in result.failures:
        # The whole reason is the `error:` line printed above the table; a cut one says so.
        reason = f.message if len(f.message) <= 60 else f.message[:57].rstrip() + "... (see error: above)"
        rows.append((f.name, "FAILED", "", reason, ""))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    per_output = per_output_table(result.source, result.original_evaluation, list(result.variants))
    if per_output:
        lines.append("per output:")
        lines.extend("  " + row for row in per_output)
    for v in result.variants:
        for w in v.warnings:
            lines.append(f"note: {v.name}: {w}")
        if v.float_layers:
            lines.append(f"note: {v.name}: kept in float: {', '.join(v.float_layers)}")
        for report in v.compression:
            lines.append(f"note: {v.name}: {compression_text(report)}")
    for v in result.variants:
        if v.layer_errors:
            if v.layer_errors[0].mse is not None:
                lines.append(f"per-tensor error of {v.name} (mean squared error against the float model, worst first):")
            else:
                lines.append(f"per-layer int8 error of {v.name} (rmse/scale; ~0.3 is ideal rounding, worst first):")
            for e in v.layer_errors[:12]:
                flag = "  [float]" if e.kept_float else ""
                figure = e.mse if e.mse is not None else e.rmse_over_scale
                lines.append(f"  {figure:8.3g}  {e.op_name:<18} {e.tensor_name[:90]}{flag}")
            if len(v.layer_errors) > 12:
                lines.append(f"  … {len(v.layer_errors) - 12} more (--json lists all)")
    for written in exports or []:
        if "tflite" in written:
            lines.append(f"wrote {written['tflite']}  (report {written['report']})")
    return "\n".join(escape_line(line) for line in lines)  # names come from the model file
