"""Judging a whole model: every named output with its own task (pure numpy).

Outputs are always paired **by name**, never by position: an output missing on
one side, or whose shape differs from the reference's, is listed in
``ModelEvaluation.unscored`` with the reason instead of being judged.

Headlines, so callers that knew one output keep working:

* ``task`` and ``accuracy`` are the **primary** output's (the one the user or the
  pipeline chose to drive accuracy headlines and automatic budgets);
* ``fidelity`` is the **worst** output's fidelity and ``fidelity_output`` its name.
  Each output with a fidelity gets one score: its ``agreement`` when the task
  makes decisions (classification, positions, ids), else its
  ``cosine_similarity`` (regression, embedding). The worst output is the one with
  the lowest score; a NaN score counts as lowest of all; ties go to the first
  output in model order. Agreements and cosines are compared as plain numbers in
  [0, 1] (a cosine can go down to -1), so a regression output with cosine 0.98 is
  worse than a classifier with 99% agreement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from core.evaluation.common import TASKS, AccuracyMetrics, Evaluation, FidelityMetrics, json_safe
from core.evaluation.metrics import evaluate_outputs

__all__ = ["ModelEvaluation", "evaluate_model", "fidelity_score", "nonfinite_samples"]


def fidelity_score(fidelity: FidelityMetrics) -> float:
    """The number outputs are ranked by: `agreement` when defined, else `cosine_similarity`."""
    return fidelity.agreement if fidelity.agreement is not None else fidelity.cosine_similarity


@dataclass(frozen=True)
class ModelEvaluation:
    """The verdict on every output of one model (or variant), in model order."""

    outputs: tuple[Evaluation, ...]
    primary: str
    unscored: tuple[tuple[str, str], ...] = ()  # (output name, why it was not judged)

    def output(self, name: str) -> Evaluation:
        """The evaluation of the output called `name` (KeyError when it was not scored)."""
        for evaluation in self.outputs:
            if evaluation.output == name:
                return evaluation
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        """The scored outputs' names, in model order."""
        return tuple(e.output for e in self.outputs)

    @property
    def _primary(self) -> Evaluation | None:
        try:
            return self.output(self.primary)
        except KeyError:
            return None

    @property
    def task(self) -> str | None:
        """The primary output's task (None when the primary output could not be scored)."""
        primary = self._primary
        return None if primary is None else primary.task

    @property
    def accuracy(self) -> AccuracyMetrics | None:
        """The primary output's accuracy figures (None without labels or when it was not scored)."""
        primary = self._primary
        return None if primary is None else primary.accuracy

    @property
    def fidelity_output(self) -> str | None:
        """The name of the output with the worst fidelity (module docstring), None when none has one."""
        worst: tuple[float, str] | None = None
        for evaluation in self.outputs:
            if evaluation.fidelity is None:
                continue
            score = fidelity_score(evaluation.fidelity)
            score = -math.inf if math.isnan(score) else score
            if worst is None or score < worst[0]:
                worst = (score, evaluation.output)
        return None if worst is None else worst[1]

    @property
    def fidelity(self) -> FidelityMetrics | None:
        """The worst output's fidelity figures."""
        name = self.fidelity_output
        return None if name is None else self.output(name).fidelity

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe (NaN -> None): the headlines, every output, and the outputs not scored."""
        out: dict[str, Any] = {"primary": self.primary}
        if self.task is not None:
            out["task"] = self.task
        if self.accuracy is not None:
            out["accuracy"] = self.accuracy.to_dict()
        if self.fidelity is not None:
            out["fidelity"] = self.fidelity.to_dict()
            out["fidelity_output"] = self.fidelity_output
        out["outputs"] = [e.to_dict() for e in self.outputs]
        out["unscored"] = [{"output": name, "reason": reason} for name, reason in self.unscored]
        return json_safe(out)


def _shape(a: Any) -> tuple[int, ...]:
    return tuple(np.shape(a))


def evaluate_model(
    outputs: Mapping[str, Any],
    *,
    labels: Mapping[str, Any] | None = None,
    reference: Mapping[str, Any] | None = None,
    tasks: Mapping[str, str],
    threshold: float = 0.5,
    primary: str,
) -> ModelEvaluation:
    """Judge each named output with its task; pair outputs, labels and reference by name only.

    `outputs`: output name -> array ``(n, ...)`` of the model being judged;
    `labels`: output name -> labels, for the outputs that have some (None: no labels);
    `reference`: output name -> the original model's array on the same inputs (None:
    no fidelity); `tasks`: output name -> task, in the model's output order; it names
    the outputs judged. Outputs missing from `outputs` or `reference`, outputs whose
    shape differs from the reference's and outputs without a task go to ``unscored``
    with the reason. Raises ValueError for an unknown task, a `primary` that is not
    in `tasks`, labels for an output that is not in `tasks`, or figures that cannot
    be computed (labels that do not fit the task; the message names the output).
    """
    for name, task in tasks.items():
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r} for output {name!r}; expected one of {', '.join(TASKS)}")
    if primary not in tasks:
        raise ValueError(f"primary output {primary!r} is not among the outputs {', '.join(map(repr, tasks))}")
    labels = labels or {}
    stray = [name for name in labels if name not in tasks]
    if stray:
        raise ValueError(
            f"labels for {', '.join(map(repr, stray))}, which is not an output being judged "
            f"({', '.join(map(repr, tasks))})"
        )

    judged: list[Evaluation] = []
    unscored: list[tuple[str, str]] = []
    for name, task in tasks.items():
        if name not in outputs:
            unscored.append((name, "the model being judged has no output of that name"))
            continue
        ref = None
        if reference is not None:
            if name not in reference:
                unscored.append((name, "the original model has no output of that name"))
                continue
            ref = reference[name]
            if _shape(outputs[name]) != _shape(ref):
                unscored.append((name, f"shape {_shape(outputs[name])} differs from the original's {_shape(ref)}"))
                continue
        try:
            judged.append(
                evaluate_outputs(
                    outputs[name],
                    labels=labels.get(name),
                    reference_outputs=ref,
                    threshold=threshold,
                    task=task,
                    output=name,
                )
            )
        except ValueError as exc:
            raise ValueError(f"output {name!r} ({task}): {exc}") from None
    extra = [n for n in outputs if n not in tasks]
    extra += [n for n in (reference or {}) if n not in tasks and n not in outputs]
    unscored += [(name, "no task was given for this output") for name in extra]
    return ModelEvaluation(outputs=tuple(judged), primary=primary, unscored=tuple(unscored))


def nonfinite_samples(outputs: Mapping[str, Any]) -> int:
    """How many samples (axis 0) have a NaN or infinite value in any of the outputs.

    Every output must have the same number of samples (ValueError otherwise).
    """
    bad: np.ndarray | None = None
    for name, values in outputs.items():
        a = np.asarray(values)
        if a.ndim == 0:
            raise ValueError(f"output {name!r} has no samples axis")
        row_bad = ~np.all(np.isfinite(a.reshape(a.shape[0], -1)), axis=1)
        if bad is None:
            bad = row_bad
        elif len(bad) != len(row_bad):
            raise ValueError(f"output {name!r} has {len(row_bad)} samples, another output {len(bad)}")
        else:
            bad = bad | row_bad
    return 0 if bad is None else int(bad.sum())
