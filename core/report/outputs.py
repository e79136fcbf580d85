"""Every output of a model, as plain rows: the app's "Per output" tab, the report and its JSON share them.

The engine scores each named output with its own task (`SourceInfo.tasks`:
output, task and the reason it was chosen) and gives each variant one
`core.evaluation.ModelEvaluation` (one `Evaluation` per output, plus the outputs
it could not score and why). The comparison table shows the headlines (the
primary output's accuracy, the worst output's fidelity); these rows show them all,
grouped by output: the original first (its accuracy, the reference for fidelity),
then each variant in the order it was made.

The figures are formatted by `core.evaluation.text`, the same text the CLI prints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

from core.evaluation.text import accuracy_text, fidelity_text

ORIGINAL = "original"
NOT_SCORED = "not scored"


@dataclass(frozen=True)
class OutputTaskText:
    """One output's task and why the engine chose it (a `core.optimize.results.OutputTask`, or inferred here)."""

    output: str
    task: str
    reason: str = ""
    primary: bool = False

    def describe(self) -> str:
        """`aa_color: multiclass (class-id labels, 3 classes)`."""
        return f"{self.output}: {self.task}" + (f" ({self.reason})" if self.reason else "")


@dataclass(frozen=True)
class OutputRow:
    """One output of one model (the original or a variant)."""

    output: str
    task: str
    reason: str
    primary: bool
    variant: str
    is_original: bool
    first: bool  # the first row of its output's group (the one that names the output)
    fidelity: str  # "agree 98.50% cos 0.99983 max|d| 0.0604", "reference", "not scored", "—"
    accuracy: str  # "top-1 0.8600", "MAE 0.2292 RMSE ...", "—"
    fidelity_value: float | None = None  # the figure outputs are ranked by (agreement, else cosine)
    worst: bool = False  # the variant's worst output: its headline fidelity
    note: str = ""  # why the output was not scored
    figures: Any = None  # the output's FidelityMetrics (None: the original, or not scored)

    def _figure(self, name: str) -> float | None:
        raw: Any = getattr(self.figures, name, None)
        try:
            value = float(raw)
        except (TypeError, ValueError):
            return None
        return value if math.isfinite(value) else None

    @property
    def agreement(self) -> float | None:
        """The share of the task's decisions that agree with the original's (None: regression, embedding)."""
        value = self._figure("agreement")
        return value if value is not None else self._figure("top1_agreement")

    @property
    def agreement_text(self) -> str:
        """ "98.50 %" (with flipped decisions when the task counts them); "reference", "not scored" or "—"."""
        if self.figures is None:
            return self.fidelity
        if self.agreement is None:
            return "—"
        flipped = getattr(self.figures, "flipped", None)
        return f"{self.agreement * 100:.2f} %" + (f" ({flipped} flipped)" if flipped else "")

    @property
    def cosine_text(self) -> str:
        """The output's cosine similarity to the original (5 decimals); "—" when unknown, "" for the original."""
        value = self._figure("cosine_similarity")
        return "" if self.figures is None else "—" if value is None else f"{value:.5f}"

    @property
    def max_diff_text(self) -> str:
        """The output's largest absolute difference from the original (3 significant digits); "—"/"" as `cosine_text`."""
        value = self._figure("max_abs_diff")
        return "" if self.figures is None else "—" if value is None else f"{value:.3g}"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON: names, task, the texts shown and the raw figures (agreement, cosine, max difference)."""
        return {
            "output": self.output,
            "task": self.task,
            "reason": self.reason,
            "primary": self.primary,
            "variant": self.variant,
            "original": self.is_original,
            "fidelity": self.fidelity,
            "accuracy": self.accuracy,
            "fidelity_score": self.fidelity_value,
            "agreement": self.agreement,
            "cosine": self._figure("cosine_similarity"),
            "max_abs_diff": self._figure("max_abs_diff"),
            "worst": self.worst,
            "note": self.note,
        }


def _dash(text: str) -> str:
    return "—" if text in ("", "-") else text


def evaluation_of(evaluation: Any, name: str) -> Any:
    """The `Evaluation` of output `name` in a ModelEvaluation (or a plain single-output Evaluation); None if none."""
    if evaluation is None:
        return None
    if hasattr(evaluation, "outputs"):
        try:
            return evaluation.output(name)
        except (KeyError, TypeError):
            return None
    own = getattr(evaluation, "output", "")  # a plain Evaluation: its `output` field is a name
    return evaluation if isinstance(own, str) and own in ("", name) else None


def unscored(evaluation: Any) -> list[tuple[str, str]]:
    """(output, why it was not scored) pairs of a ModelEvaluation, or of its summary read as attributes."""
    pairs = []
    for item in getattr(evaluation, "unscored", None) or ():
        if isinstance(item, (tuple, list)) and len(item) == 2:
            pairs.append((str(item[0]), str(item[1])))
        else:  # {"output": ..., "reason": ...} from a summary
            get = item.get if isinstance(item, dict) else lambda key: getattr(item, key, None)
            pairs.append((str(get("output") or ""), str(get("reason") or "")))
    return pairs


def unscored_reason(evaluation: Any, name: str) -> str | None:
    """Why the output `name` was not scored in `evaluation` (`unscored`), or None when it was."""
    return next((reason for output, reason in unscored(evaluation) if output == name), None)


def score_of(fidelity: Any) -> float | None:
    """`core.evaluation.fidelity_score`: agreement when the task makes decisions, else cosine (None: unknown)."""
    if fidelity is None:
        return None
    raw: Any = getattr(fidelity, "agreement", None)
    if raw is None:
        raw = getattr(fidelity, "top1_agreement", None)
    if raw is None:
        raw = getattr(fidelity, "cosine_similarity", None)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def output_tasks(source: Any, evaluations: Iterable[Any] = ()) -> list[OutputTaskText]:
    """Each output's task and reason, in the model's order: `source.tasks`, else what the evaluations show."""
    primary = getattr(source, "primary_output", "") or ""
    tasks = [
        OutputTaskText(t.output, t.task, t.reason, t.output == primary) for t in getattr(source, "tasks", ()) or ()
    ]
    if tasks:
        if not any(t.primary for t in tasks):
            tasks[0] = OutputTaskText(tasks[0].output, tasks[0].task, tasks[0].reason, True)
        return tasks
    seen: dict[str, OutputTaskText] = {}
    for evaluation in evaluations:
        if evaluation is None:
            continue
        parts = getattr(evaluation, "outputs", None)
        if parts is None:
            parts = (evaluation,)
        head = getattr(evaluation, "primary", "") if hasattr(evaluation, "outputs") else ""
        for part in parts:
            name = getattr(part, "output", "") or ""
            if name not in seen:
                seen[name] = OutputTaskText(name, getattr(part, "task", "") or "", "", name == head)
    return list(seen.values())


def output_rows(source: Any, models: list[tuple[str, Any]]) -> list[OutputRow]:
    """Rows grouped by output: for each output (model order), the original then every variant.

    `models`: (name, evaluation) pairs, the original first (named "original"); an
    evaluation is a ModelEvaluation, a plain Evaluation or None (not evaluated).
    """
    tasks = output_tasks(source, [e for _, e in models])
    several = len(tasks) > 1
    rows: list[OutputRow] = []
    for task in tasks:
        first = True
        for name, evaluation in models:
            original = name == ORIGINAL
            part = evaluation_of(evaluation, task.output)
            note = ""
            value = None
            worst = False
            figures = None
            if part is not None:
                accuracy = _dash(accuracy_text(part))
                if original:
                    fidelity = "reference"
                else:
                    fidelity = _dash(fidelity_text(part))
                    value = score_of(part.fidelity)
                    figures = part.fidelity
                    worst = several and getattr(evaluation, "fidelity_output", None) == task.output
            else:
                accuracy = "—"
                reason = unscored_reason(evaluation, task.output)
                if reason is not None:
                    fidelity, note = NOT_SCORED, reason
                elif evaluation is None:
                    fidelity = "reference" if original else "—"
                    note = "" if original else "not evaluated"
                else:
                    fidelity, note = NOT_SCORED, "no figures for this output"
            rows.append(
                OutputRow(
                    output=task.output,
                    task=task.task,
                    reason=task.reason,
                    primary=task.primary,
                    variant=name,
                    is_original=original,
                    first=first,
                    fidelity=fidelity,
                    accuracy=accuracy,
                    fidelity_value=value,
                    worst=worst,
                    note=note,
                    figures=figures,
                )
            )
            first = False
    return rows


def run_models(result: Any) -> list[tuple[str, Any]]:
    """(name, evaluation) of an OptimizeResult: the original, then every variant."""
    return [(ORIGINAL, getattr(result, "original_evaluation", None))] + [
        (v.name, v.evaluation) for v in getattr(result, "variants", ())
    ]


def auto_models(result: Any) -> list[tuple[str, Any]]:
    """(name, evaluation) of an AutoResult: the original, then every candidate that was evaluated."""
    return [(ORIGINAL, getattr(result, "original_evaluation", None))] + [
        (c.name, c.evaluation) for c in getattr(result, "candidates", ()) if c.evaluation is not None
    ]


def headline_output(evaluation: Any) -> str:
    """The output the headline fidelity is about (the worst one), "" when unknown or a single output."""
    if evaluation is None or len(getattr(evaluation, "outputs", ()) or ()) < 2:
        return ""
    return getattr(evaluation, "fidelity_output", None) or ""


def outputs_tooltip(evaluation: Any) -> str:
    """Every output's fidelity, one line each, for the comparison table's tooltip."""
    parts = getattr(evaluation, "outputs", ()) or ()
    if len(parts) < 2:
        return ""
    lines = [f"{p.output}: {_dash(fidelity_text(p))}" for p in parts]
    lines += [f"{name}: not scored ({reason})" for name, reason in unscored(evaluation)]
    return "\n".join(lines)


def task_lines(source: Any, evaluations: Iterable[Any] = ()) -> list[tuple[str, str]]:
    """("Task", "output 'aa_color': multiclass (class-id labels, 3 classes)") per output, for "What it means"."""
    tasks = output_tasks(source, evaluations)
    lines = []
    for t in tasks:
        notes = [t.reason] if t.reason else []
        if t.primary and len(tasks) > 1:
            notes.append("the primary output: it drives the accuracy headline and auto budgets")
        lines.append(("Task", f"output {t.output!r}: {t.task}" + (f" ({'; '.join(notes)})" if notes else "")))
    return lines


def unscored_lines(models: list[tuple[str, Any]]) -> list[tuple[str, str]]:
    """(variant, "output 'x' not scored: why") for every output a model could not score."""
    return [
        (name, f"output {output!r} not scored: {reason}")
        for name, evaluation in models
        for output, reason in unscored(evaluation)
    ]
