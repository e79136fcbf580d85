"""What every task module shares: the task names, the result types and the array helpers (pure numpy).

The conventions these types follow are written once, in ``core.evaluation.metrics``'s
docstring: samples on axis 0, undefined figures are NaN, ``to_dict()`` writes NaN as None.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

MULTICLASS = "multiclass"
BINARY = "binary"
REGRESSION = "regression"
MULTILABEL = "multilabel"
CLASS_ID = "class_id"
SEQUENCE = "sequence"
SEGMENTATION = "segmentation"
EMBEDDING = "embedding"
TASKS = (MULTICLASS, BINARY, REGRESSION, MULTILABEL, CLASS_ID, SEQUENCE, SEGMENTATION, EMBEDDING)

__all__ = [
    "MULTICLASS",
    "BINARY",
    "REGRESSION",
    "MULTILABEL",
    "CLASS_ID",
    "SEQUENCE",
    "SEGMENTATION",
    "EMBEDDING",
    "TASKS",
    "AccuracyMetrics",
    "FidelityMetrics",
    "Evaluation",
    "json_safe",
    "undefined_reason",
]


# ---------------------------------------------------------------------------
# Result types


def json_safe(value: Any) -> Any:
    """`value` with NaN and infinities (also inside tuples and lists) as None and tuples as lists: valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (tuple, list)):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    return value


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    return isinstance(value, (tuple, list)) and any(_has_non_finite(v) for v in value)


def undefined_reason(metrics: Any, name: str) -> str:
    """Why figure `name` of `metrics` is NaN (or, for a per-label tuple, holds NaN), in words.

    The rules are the ones in ``core.evaluation.metrics``' docstring (and the binary and
    multilabel modules'): each reason is read from the counts beside the figure, so it
    names the case that happened, not every case that could.
    """
    positives = getattr(metrics, "positives", None)
    samples = getattr(metrics, "samples", None)
    score = "undefined: a score is NaN or infinite"
    if name == "roc_auc":
        return "undefined: the labels hold one class" if positives in (0, samples) else score
    if name == "pr_auc":
        return "undefined: the labels hold no positive" if positives == 0 else score
    if name == "precision" and getattr(metrics, "predicted_positives", None) == 0:
        return "undefined (0/0): nothing is predicted positive"
    if name == "recall" and positives == 0:
        return "undefined (0/0): the labels hold no positive"
    if name == "micro_f1":
        return "undefined (0/0): no positive label and no positive decision"
    if name == "macro_f1":
        return "undefined (0/0): every label has neither a positive nor a positive decision"
    if name == "mean_average_precision":
        labels = len(getattr(metrics, "label_precision", None) or ())
        if labels and getattr(metrics, "labels_without_positive", None) == labels:
            return "undefined: no label has a positive"
        return score
    if name == "label_precision":
        return "null where 0/0: nothing is predicted positive for that label"
    if name == "label_recall":
        return "null where 0/0: that label has no positive"
    if isinstance(metrics, FidelityMetrics) or name in ("mae", "rmse", "max_error"):
        return "not a finite number: the outputs compared hold NaN or infinite values"
    return "not a finite number"


class _ToDict:
    def to_dict(self) -> dict[str, Any]:
        """The figures that apply, as a JSON-safe dict (fields left at None are omitted, NaN -> None).

        A figure that is undefined (NaN) is written as None with ``"<name>_reason"``
        beside it (`undefined_reason`): ``"roc_auc": None, "roc_auc_reason":
        "undefined: the labels hold one class"``.
        """
        out: dict[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, _ToDict):
                value = value.to_dict()
            out[f.name] = json_safe(value)
            if _has_non_finite(value):
                out[f.name + "_reason"] = undefined_reason(self, f.name)
        return out


@dataclass(frozen=True)
class AccuracyMetrics(_ToDict):
    """How well outputs match labels. Figures that do not apply to the task stay None.

    `accuracy` is the task's headline fraction of correct decisions: top-1 (multiclass),
    at `threshold` (binary), element-wise / Hamming (multilabel), equal ids (class_id),
    per position (sequence), per pixel (segmentation).
    """

    task: str
    samples: int
    accuracy: float | None = None  # see the class docstring
    roc_auc: float | None = None  # binary
    pr_auc: float | None = None  # binary, average precision
    precision: float | None = None  # binary, at `threshold`
    recall: float | None = None  # binary, at `threshold`
    positives: int | None = None  # binary, multilabel: positive labels
    predicted_positives: int | None = None  # binary, multilabel: scores above `threshold`
    threshold: float | None = None  # binary, multilabel, sigmoid segmentation
    mae: float | None = None  # regression
    rmse: float | None = None  # regression
    max_error: float | None = None  # regression: largest |prediction - target|
    micro_f1: float | None = None  # multilabel
    macro_f1: float | None = None  # multilabel
    mean_average_precision: float | None = None  # multilabel, over labels with a positive
    labels_without_positive: int | None = None  # multilabel: labels left out of the mAP
    label_precision: tuple[float, ...] | None = None  # multilabel, per label at `threshold`
    label_recall: tuple[float, ...] | None = None  # multilabel, per label at `threshold`
    mean_iou: float | None = None  # segmentation
    iou_classes: int | None = None  # segmentation: classes in the mean IoU


@dataclass(frozen=True)
class FidelityMetrics(_ToDict):
    """How close a variant's outputs are to the reference (original) model's outputs.

    `agreement` is the fraction of the task's decisions that agree with the reference
    (top-1, 1 - flipped fraction, per position, per pixel, equal ids); None for
    regression and embedding, which make no decisions.
    """

    task: str
    samples: int
    max_abs_diff: float
    mean_abs_diff: float
    cosine_similarity: float
    cosine_over: str  # "sample" (mean of per-sample cosines) or "array"
    top1_agreement: float | None = None  # multiclass: fraction with the same arg-max
    flipped: int | None = None  # binary, multilabel: decisions that changed side of `threshold`
    flipped_fraction: float | None = None  # binary, multilabel: flipped / decisions
    threshold: float | None = None  # binary, multilabel, sigmoid segmentation
    agreement: float | None = None  # see the class docstring
    flipped_per_label: tuple[int, ...] | None = None  # multilabel
    clipped: int | None = None  # regression: outputs pinned at the variant's own max/min


@dataclass(frozen=True)
class Evaluation(_ToDict):
    """The verdict on one output: accuracy (needs labels) and fidelity (needs a reference).

    `output` is the output's name ("" when the caller judged a bare array); `to_dict()`
    leaves it out when empty.
    """

    task: str
    accuracy: AccuracyMetrics | None = None
    fidelity: FidelityMetrics | None = None
    output: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The figures as a JSON-safe dict (see `_ToDict.to_dict`); `output` is left out when empty."""
        out = super().to_dict()
        if not self.output:
            out.pop("output", None)
        return out


# ---------------------------------------------------------------------------
# Array helpers


def as_array(x: Any, name: str) -> np.ndarray:
    """`x` as a numeric array with a non-empty samples axis, else a ValueError naming `name`."""
    a = np.asarray(x)
    if a.ndim == 0:
        raise ValueError(f"{name} must have a samples axis, got a scalar")
    if a.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise ValueError(f"{name} must be numeric, got dtype {a.dtype}")
    return a


def same_n(a: np.ndarray, b: np.ndarray, what: str) -> None:
    """ValueError naming `what` unless `a` and `b` have the same number of samples (axis 0)."""
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"{what}: {a.shape[0]} samples against {b.shape[0]}")


def ratio(num: float, den: float) -> float:
    """num / den, NaN when den is 0."""
    return float(num) / float(den) if den else float("nan")


def is_whole(a: np.ndarray) -> bool:
    """True when every value is a finite whole number (any integer dtype is)."""
    if np.issubdtype(a.dtype, np.integer) or a.dtype == bool:
        return True
    return bool(np.all(np.isfinite(a)) and np.all(np.equal(np.mod(a, 1), 0)))


def is_in_unit(a: np.ndarray) -> bool:
    """True when every value is finite and in [0, 1] (probabilities)."""
    return bool(np.all(np.isfinite(a)) and a.min() >= 0.0 and a.max() <= 1.0)


def is_zero_one(a: np.ndarray) -> bool:
    """True when every value is 0 or 1."""
    return bool(np.all(np.isin(np.unique(a), (0, 1))))


def class_ids(labels: np.ndarray, k: int, what: str) -> np.ndarray:
    """Whole-number class ids in [0, k) as int64, else a ValueError."""
    if not is_whole(labels):
        raise ValueError(f"{what} must be whole-number class ids")
    ids = labels.astype(np.int64)
    if ids.min() < 0 or ids.max() >= k:
        raise ValueError(f"{what} must lie in [0, {k}), got [{ids.min()}, {ids.max()}]")
    return ids


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine of two (m, d) float64 arrays; both rows zero -> 1, one zero -> 0."""
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    dot = np.sum(a * b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = dot / (na * nb)
    both_zero = (na == 0) & (nb == 0)
    one_zero = (na == 0) ^ (nb == 0)
    cos = np.where(both_zero, 1.0, np.where(one_zero, 0.0, cos))
    return np.clip(cos, -1.0, 1.0)
