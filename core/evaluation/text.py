"""Text for evaluation figures: one line per output, per-output tables, the headline (no Qt, no CLI).

A `ModelEvaluation` (core.evaluation) holds one `Evaluation` per output; the
headline figures are the primary output's accuracy and the worst output's
fidelity. These helpers never compute figures, they only format them. The CLI
(`core.cli.figures` re-exports them) and the GUI share them.
"""

from __future__ import annotations

import math
from typing import Any


def fmt(value: Any, spec: str = ".4f") -> str:
    """A figure, or "-" when it is missing or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def accuracy_text(evaluation: Any) -> str:
    """The accuracy figures of one output's `Evaluation` (or a ModelEvaluation's headline)."""
    acc = evaluation.accuracy if evaluation is not None else None
    if acc is None:
        return "-"
    task = acc.task
    if task == "binary":
        return (
            f"PR-AUC {fmt(acc.pr_auc)} ROC-AUC {fmt(acc.roc_auc)} P {fmt(acc.precision, '.3f')} "
            f"R {fmt(acc.recall, '.3f')}"
        )
    if task == "multiclass":
        return f"top-1 {fmt(acc.accuracy)}"
    if task == "multilabel":
        return (
            f"mAP {fmt(acc.mean_average_precision)} micro-F1 {fmt(acc.micro_f1)} macro-F1 {fmt(acc.macro_f1)} "
            f"label acc {fmt(acc.accuracy)}"
        )
    if task == "class_id":
        return f"accuracy {fmt(acc.accuracy)}"
    if task == "sequence":
        return f"per-position acc {fmt(acc.accuracy)}"
    if task == "segmentation":
        return f"pixel acc {fmt(acc.accuracy)} mIoU {fmt(acc.mean_iou)}"
    if task == "regression":
        return f"MAE {fmt(acc.mae, '.4g')} RMSE {fmt(acc.rmse, '.4g')} max {fmt(acc.max_error, '.4g')}"
    return "-"


def fidelity_text(evaluation: Any) -> str:
    """The fidelity figures of one output's `Evaluation` (or a ModelEvaluation's worst output)."""
    fid = evaluation.fidelity if evaluation is not None else None
    if fid is None:
        return "-"
    parts = []
    agreement = getattr(fid, "agreement", None)
    if agreement is None:
        agreement = fid.top1_agreement
    if agreement is not None:
        parts.append(f"agree {agreement * 100:.2f}%")
    if fid.flipped is not None:
        parts.append(f"flipped {fid.flipped}")
    parts.append(f"cos {fmt(fid.cosine_similarity, '.5f')}")
    parts.append(f"max|d| {fmt(fid.max_abs_diff, '.3g')}")
    return " ".join(parts)


def headline_fidelity(evaluation: Any) -> str:
    """The worst output's fidelity, naming that output when the model has several."""
    text = fidelity_text(evaluation)
    outputs = getattr(evaluation, "outputs", ())
    worst = getattr(evaluation, "fidelity_output", "")
    return f"{text} [{worst}]" if len(outputs) > 1 and worst and text != "-" else text


def headline_accuracy(evaluation: Any) -> str:
    """The accuracy text of `evaluation` (`accuracy_text`), tagged `[primary output]` when the model has several."""
    text = accuracy_text(evaluation)
    outputs = getattr(evaluation, "outputs", ())
    primary = getattr(evaluation, "primary", "")
    return f"{text} [{primary}]" if len(outputs) > 1 and primary and text != "-" else text


def output_evaluation(evaluation: Any, name: str) -> Any:
    """The evaluation of the output `name` in `evaluation` (a ModelEvaluation), or None when it has none."""
    if evaluation is None or not hasattr(evaluation, "output"):
        return None
    try:
        return evaluation.output(name)
    except KeyError:
        return None


def per_output_table(source: Any, original: Any, variants: list[Any]) -> list[str]:
    """Rows per output (task, then the original and each variant), for a model with several outputs.

    `source` is a SourceInfo (its `tasks` name each output's task and reason).
    """
    tasks = list(getattr(source, "tasks", ()) or ())
    if len(tasks) < 2:
        return []
    rows = [("output", "task", "variant", "fidelity vs original", "accuracy")]
    for task in tasks:
        primary = " (primary)" if task.output == getattr(source, "primary_output", "") else ""
        first = True
        for name, evaluation in [("original", original)] + [(v.name, v.evaluation) for v in variants]:
            ev = output_evaluation(evaluation, task.output)
            fidelity = "(reference)" if name == "original" else fidelity_text(ev) if ev is not None else "not scored"
            rows.append(
                (task.output + primary if first else "", task.task if first else "", name, fidelity, accuracy_text(ev))
            )
            first = False
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def task_lines(source: Any) -> list[str]:
    """`output 'aa_weight': regression (linear activation, 1 value)` per output."""
    return [f"output {t.output!r}: {t.task} ({t.reason})" for t in getattr(source, "tasks", ()) or ()]
