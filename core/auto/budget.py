"""What "good enough" means in auto mode: an `AutoBudget` and the check of one variant against it.

Budgets (any combination; each given limit must hold):

* ``max_accuracy_drop`` -- how much worse than the original model a variant may
  be on the labelled evaluation data, in the task's own units (needs labels):

  - multiclass, class id, sequence: (top-1 / per-position) accuracy, as a
    fraction (0.01 = one accuracy point);
  - binary: PR-AUC (average precision), as a fraction -- plain accuracy is
    meaningless on rare positives (the fraud sample has 0.5%);
  - multilabel: mean average precision; segmentation: mean IoU;
  - regression: the increase in mean absolute error, in the target's units;
  - embedding: no accuracy figure (use an agreement budget).

  Budgets are checked on the primary output (``--primary-output``).

* ``min_agreement`` -- how close a variant's outputs stay to the original's
  (needs no labels), as a fraction:

  - tasks with decisions: the fraction of decisions that agree (top-1,
    flipped binary or label decisions, per position, class ids);
  - regression, embedding: cosine similarity of the outputs.

* ``max_size_bytes`` -- the .tflite file size.

The "quality" of a variant (the third axis of the Pareto front, higher is
better) is the accuracy figure when an accuracy budget is set, else the
agreement figure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.errors import BadInputError
from core.evaluation import Evaluation

DEFAULT_MIN_AGREEMENT = 0.99


@dataclass(frozen=True)
class AutoBudget:
    """The limits a variant must meet (see the module docstring for each one's units); None = no limit.

    Raises `BadInputError` on construction when a limit is out of range (a negative or non-finite
    accuracy drop, an agreement outside 0..1, a size of 0 bytes or less).
    """

    max_accuracy_drop: float | None = None
    min_agreement: float | None = None
    max_size_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.max_accuracy_drop is not None and not (
            math.isfinite(self.max_accuracy_drop) and self.max_accuracy_drop >= 0
        ):
            raise BadInputError(f"the accuracy budget must be >= 0, got {self.max_accuracy_drop}")
        if self.min_agreement is not None and not 0.0 <= self.min_agreement <= 1.0:
            raise BadInputError(f"the agreement budget must lie in 0..1, got {self.min_agreement}")
        if self.max_size_bytes is not None and self.max_size_bytes <= 0:
            raise BadInputError(f"the size limit must be positive, got {self.max_size_bytes}")

    @property
    def needs_labels(self) -> bool:
        """True when an accuracy budget is set: the evaluation data must carry labels."""
        return self.max_accuracy_drop is not None

    def effective(self) -> "AutoBudget":
        """This budget, with the default agreement (0.99) when no quality limit is given."""
        if self.max_accuracy_drop is None and self.min_agreement is None:
            return AutoBudget(min_agreement=DEFAULT_MIN_AGREEMENT, max_size_bytes=self.max_size_bytes)
        return self

    def describe(self) -> str:
        """The limits in words, e.g. "accuracy drop <= 0.01, size <= 2 MiB"; "no budget" when none is set."""
        parts = []
        if self.max_accuracy_drop is not None:
            parts.append(f"accuracy drop <= {self.max_accuracy_drop:g}")
        if self.min_agreement is not None:
            parts.append(f"agreement >= {self.min_agreement * 100:g}%")
        if self.max_size_bytes is not None:
            parts.append(f"size <= {self.max_size_bytes / 2**20:.3g} MiB")
        return ", ".join(parts) or "no budget"


@dataclass(frozen=True)
class BudgetCheck:
    """One variant against the budget."""

    meets_quality: bool  # accuracy/agreement limits hold
    meets_size: bool
    quality: float  # higher is better (NaN when it cannot be computed)
    quality_label: str  # e.g. "PR-AUC 0.6588 (-0.0012)" or "agreement 99.85%"
    accuracy_drop: float | None  # in the task's units (see the module docstring); None without labels
    agreement: float | None
    misses: tuple[str, ...] = ()  # why it fails, in words

    @property
    def meets(self) -> bool:
        """True when both the quality and the size limits hold."""
        return self.meets_quality and self.meets_size


def accuracy_figure(evaluation: Evaluation | None) -> tuple[str, float] | None:
    """(name, value with higher = better) of the task's accuracy figure; None without labels."""
    acc = evaluation.accuracy if evaluation is not None else None
    if acc is None:
        return None
    if acc.task == "binary":
        return "PR-AUC", _num(acc.pr_auc)
    if acc.task == "multilabel":
        return "mAP", _num(acc.mean_average_precision)
    if acc.task == "segmentation":
        return "mIoU", _num(acc.mean_iou)
    if acc.task in ("multiclass", "class_id", "sequence"):
        return "accuracy", _num(acc.accuracy)
    if acc.task == "regression":
        return "MAE", -_num(acc.mae)  # negated: higher is better
    return None


def agreement_figure(evaluation: Evaluation | None) -> float | None:
    """How close a variant's outputs stay to the original's, as a fraction (the `min_agreement` figure).

    The task's decision agreement when it has one (`FidelityMetrics.agreement`, else top-1 agreement, else
    1 - the flipped fraction), else the cosine similarity; None without a fidelity measurement.
    """
    fid = evaluation.fidelity if evaluation is not None else None
    if fid is None:
        return None
    agreement = getattr(fid, "agreement", None)  # getattr: results cached before the field existed
    if agreement is not None:
        return float(agreement)
    if fid.top1_agreement is not None:
        return float(fid.top1_agreement)
    if fid.flipped_fraction is not None:
        return 1.0 - float(fid.flipped_fraction)
    return float(fid.cosine_similarity)


def _num(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _agreement_name(evaluation: Evaluation | None) -> str:
    fid = evaluation.fidelity if evaluation is not None else None
    if (
        fid is not None
        and getattr(fid, "agreement", None) is None
        and fid.top1_agreement is None
        and fid.flipped_fraction is None
    ):
        return "cosine"
    return "agreement"


def check_budget(
    evaluation: Evaluation | None, original: Evaluation | None, size_bytes: int, budget: AutoBudget
) -> BudgetCheck:
    """Does a variant with `evaluation` (fidelity against the original) and `size_bytes` fit `budget`?

    NaN figures never meet a limit (a model whose outputs are NaN is not good enough). `size_bytes` is the
    .tflite's size in bytes. Raises `BadInputError` when an accuracy budget is set and either evaluation has
    no accuracy figure (no labels).
    """
    budget = budget.effective()
    misses: list[str] = []
    drop = None
    mine, theirs = accuracy_figure(evaluation), accuracy_figure(original)
    if mine is not None and theirs is not None:
        drop = theirs[1] - mine[1]
    agreement = agreement_figure(evaluation)
    if budget.max_accuracy_drop is not None:
        if mine is None or theirs is None:
            raise BadInputError(
                "an accuracy budget needs labelled evaluation data; give --data with labels "
                "or use an agreement budget (--min-agreement)"
            )
        if not (drop is not None and math.isfinite(drop) and drop <= budget.max_accuracy_drop + 1e-12):
            misses.append(f"{mine[0]} drops by {_fmt_drop(mine[0], drop)} (budget {budget.max_accuracy_drop:g})")
    if budget.min_agreement is not None:
        if agreement is None or not math.isfinite(agreement) or agreement < budget.min_agreement - 1e-12:
            shown = "unknown" if agreement is None else f"{agreement * 100:.2f}%"
            misses.append(f"{_agreement_name(evaluation)} {shown} < {budget.min_agreement * 100:g}%")
    meets_quality = not misses
    limit = budget.max_size_bytes
    meets_size = limit is None or size_bytes <= limit
    if limit is not None and not meets_size:
        misses.append(f"size {size_bytes / 2**20:.3g} MiB > {limit / 2**20:.3g} MiB")
    if budget.max_accuracy_drop is not None and mine is not None:
        quality = mine[1]
        value = -mine[1] if mine[0] == "MAE" else mine[1]
        delta = None if drop is None else (drop if mine[0] == "MAE" else -drop)
        label = f"{mine[0]} {value:.4f}" + (
            "" if delta is None or not math.isfinite(delta) else " (±0)" if abs(delta) < 5e-5 else f" ({delta:+.4f})"
        )
    else:
        quality = float("nan") if agreement is None else agreement
        label = (
            f"{_agreement_name(evaluation)} {agreement * 100:.2f}%" if agreement is not None else "agreement unknown"
        )
    return BudgetCheck(
        meets_quality=meets_quality,
        meets_size=meets_size,
        quality=quality,
        quality_label=label,
        accuracy_drop=drop,
        agreement=agreement,
        misses=tuple(misses),
    )


def _fmt_drop(name: str, drop: float | None) -> str:
    if drop is None or not math.isfinite(drop):
        return "an unknown amount"
    return f"{drop:.4f}"


__all__ = ["AutoBudget", "BudgetCheck", "DEFAULT_MIN_AGREEMENT", "accuracy_figure", "agreement_figure", "check_budget"]
