"""Accuracy and fidelity figures for a model's outputs, in pure numpy.

The quantization pipeline runs the original model and each optimized variant on
the same inputs and judges the variant twice:

* **accuracy** against labels (when the user gave labelled data), and
* **fidelity** against the original model's outputs (always possible).

No TensorFlow here: outputs arrive as numpy arrays, whoever produced them.

Conventions (the rules the tests pin down):

* Outputs have the samples on axis 0. A binary model's scores are probabilities
  of shape ``(n,)`` or ``(n, 1)``; a multiclass model's are ``(n, k)`` with
  ``k > 1`` (probabilities or logits, only the arg-max matters for accuracy).
* Binary decision rule: a sample is *positive* when ``score > threshold``
  (strictly greater, like ``keras.metrics.BinaryAccuracy``).
* Multiclass labels are class indices ``(n,)`` (or ``(n, 1)``) or one-hot
  ``(n, k)``. Arg-max ties go to the lowest index (numpy's rule).
* **Undefined figures are NaN**, never an exception and never a silent 0:
  ROC-AUC when ``y_true`` holds a single class; PR-AUC when it holds no
  positive; precision when nothing is predicted positive; recall when there is
  no positive; any ranking figure when a score is NaN or infinite.
  ``to_dict()`` writes NaN as ``None`` so the dict is valid JSON.
* PR-AUC is *average precision*, the step-wise sum
  ``sum_n (R_n - R_{n-1}) * P_n`` over the distinct score thresholds, exactly
  sklearn's ``average_precision_score`` (no trapezoid interpolation).
* ROC-AUC counts a tied (positive, negative) pair as one half (average ranks),
  like sklearn's ``roc_auc_score``.
* Fidelity cosine similarity: each sample's outputs are flattened and the
  per-sample cosines are averaged (``cosine_over == "sample"``). When a sample
  has a single output value (binary, scalar regression) a per-sample cosine
  only compares signs, so the cosine is taken over the whole flattened array
  instead (``cosine_over == "array"``). Two all-zero vectors have cosine 1;
  a zero vector against a non-zero one has cosine 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

MULTICLASS = "multiclass"
BINARY = "binary"
REGRESSION = "regression"
TASKS = (MULTICLASS, BINARY, REGRESSION)

__all__ = [
    "MULTICLASS", "BINARY", "REGRESSION", "TASKS",
    "AccuracyMetrics", "FidelityMetrics", "Evaluation",
    "detect_task", "evaluate_outputs", "accuracy_metrics", "fidelity_metrics",
    "classification_metrics", "binary_metrics", "regression_metrics",
    "roc_auc", "average_precision", "precision_recall", "binary_accuracy", "top1_accuracy",
    "mean_absolute_error", "root_mean_squared_error",
]


# ---------------------------------------------------------------------------
# Result types


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


class _ToDict:
    def to_dict(self) -> dict[str, Any]:
        """The figures that apply, as a JSON-safe dict (fields left at None are omitted, NaN -> None)."""
        out: dict[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, _ToDict):
                value = value.to_dict()
            out[f.name] = _json_value(value)
        return out


@dataclass(frozen=True)
class AccuracyMetrics(_ToDict):
    """How well outputs match labels. Figures that do not apply to the task stay None."""

    task: str
    samples: int
    accuracy: float | None = None          # multiclass top-1; binary at `threshold`
    roc_auc: float | None = None           # binary
    pr_auc: float | None = None            # binary, average precision
    precision: float | None = None         # binary, at `threshold`
    recall: float | None = None            # binary, at `threshold`
    positives: int | None = None           # binary: positive labels
    predicted_positives: int | None = None  # binary: scores above `threshold`
    threshold: float | None = None         # binary
    mae: float | None = None               # regression
    rmse: float | None = None              # regression


@dataclass(frozen=True)
class FidelityMetrics(_ToDict):
    """How close a variant's outputs are to the reference (original) model's outputs."""

    task: str
    samples: int
    max_abs_diff: float
    mean_abs_diff: float
    cosine_similarity: float
    cosine_over: str                       # "sample" (mean of per-sample cosines) or "array"
    top1_agreement: float | None = None    # multiclass: fraction with the same arg-max
    flipped: int | None = None             # binary: decisions that changed side of `threshold`
    flipped_fraction: float | None = None  # binary
    threshold: float | None = None         # binary


@dataclass(frozen=True)
class Evaluation(_ToDict):
    """The verdict on one set of outputs: accuracy (needs labels) and fidelity (needs a reference)."""

    task: str
    accuracy: AccuracyMetrics | None = None
    fidelity: FidelityMetrics | None = None


# ---------------------------------------------------------------------------
# Input handling


def _array(x: Any, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim == 0:
        raise ValueError(f"{name} must have a samples axis, got a scalar")
    if a.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise ValueError(f"{name} must be numeric, got dtype {a.dtype}")
    return a


def _same_n(a: np.ndarray, b: np.ndarray, what: str) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"{what}: {a.shape[0]} samples against {b.shape[0]}")


def _binary_scores(scores: Any, name: str = "scores") -> np.ndarray:
    s = _array(scores, name)
    if s.ndim == 2 and s.shape[1] == 1:
        s = s[:, 0]
    if s.ndim != 1:
        raise ValueError(f"binary {name} must have shape (n,) or (n, 1), got {s.shape}")
    return s.astype(np.float64)


def _binary_labels(y_true: Any) -> np.ndarray:
    y = _array(y_true, "y_true")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"binary labels must have shape (n,) or (n, 1), got {y.shape}")
    values = np.unique(y)
    if not np.all(np.isin(values, (0, 1))):
        raise ValueError(f"binary labels must be 0 or 1, got values {values[:10].tolist()}")
    return y.astype(bool)


def _class_labels(y_true: Any, k: int) -> np.ndarray:
    y = _array(y_true, "y_true")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 2:
        if y.shape[1] != k:
            raise ValueError(f"one-hot labels have {y.shape[1]} classes, the scores {k}")
        return np.argmax(y, axis=1)
    if y.ndim != 1:
        raise ValueError(f"class labels must have shape (n,) or (n, {k}), got {y.shape}")
    if not np.all(np.equal(np.mod(y, 1), 0)):
        raise ValueError("class labels must be whole numbers")
    y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= k:
        raise ValueError(f"class labels must lie in [0, {k}), got [{y.min()}, {y.max()}]")
    return y


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else float("nan")


# ---------------------------------------------------------------------------
# Binary figures


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing the mean of the ranks they span."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    n = len(values)
    # Start index of each run of equal values.
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], n]                      # exclusive
    run_rank = (starts + 1 + ends) / 2.0              # mean of ranks starts+1 .. ends
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = np.repeat(run_rank, ends - starts)
    return ranks


def roc_auc(y_true: Any, scores: Any) -> float:
    """Area under the ROC curve (Mann-Whitney U / (P*N)); ties count one half. NaN if one class."""
    y = _binary_labels(y_true)
    s = _binary_scores(scores)
    _same_n(y, s, "roc_auc")
    pos = int(y.sum())
    neg = len(y) - pos
    if pos == 0 or neg == 0 or not np.all(np.isfinite(s)):
        return float("nan")
    ranks = _average_ranks(s)
    u = ranks[y].sum() - pos * (pos + 1) / 2.0
    return float(u / (pos * neg))


def average_precision(y_true: Any, scores: Any) -> float:
    """PR-AUC as average precision (sklearn's definition). NaN if there is no positive."""
    y = _binary_labels(y_true)
    s = _binary_scores(scores)
    _same_n(y, s, "average_precision")
    pos = int(y.sum())
    if pos == 0 or not np.all(np.isfinite(s)):
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s_sorted = s[order]
    y_sorted = y[order]
    # Last index of each run of equal scores: one threshold per distinct score.
    last = np.r_[np.flatnonzero(s_sorted[1:] != s_sorted[:-1]), len(s) - 1]
    tps = np.cumsum(y_sorted)[last].astype(np.float64)
    predicted = (last + 1).astype(np.float64)
    precision = tps / predicted
    recall = tps / pos
    recall_steps = np.diff(np.r_[0.0, recall])
    return float(np.sum(recall_steps * precision))


def _decisions(scores: np.ndarray, threshold: float) -> np.ndarray:
    return scores > threshold


def precision_recall(y_true: Any, scores: Any, threshold: float = 0.5) -> tuple[float, float]:
    """Precision and recall when `score > threshold` is called positive (NaN where 0/0)."""
    y = _binary_labels(y_true)
    s = _binary_scores(scores)
    _same_n(y, s, "precision_recall")
    pred = _decisions(s, threshold)
    tp = int(np.sum(pred & y))
    return _ratio(tp, int(pred.sum())), _ratio(tp, int(y.sum()))


def binary_accuracy(y_true: Any, scores: Any, threshold: float = 0.5) -> float:
    y = _binary_labels(y_true)
    s = _binary_scores(scores)
    _same_n(y, s, "binary_accuracy")
    return float(np.mean(_decisions(s, threshold) == y))


def binary_metrics(y_true: Any, scores: Any, threshold: float = 0.5) -> AccuracyMetrics:
    """Accuracy, ROC-AUC, PR-AUC, precision and recall of probabilities against 0/1 labels."""
    y = _binary_labels(y_true)
    s = _binary_scores(scores)
    _same_n(y, s, "binary_metrics")
    precision, recall = precision_recall(y, s, threshold)
    return AccuracyMetrics(
        task=BINARY,
        samples=int(len(y)),
        accuracy=binary_accuracy(y, s, threshold),
        roc_auc=roc_auc(y, s),
        pr_auc=average_precision(y, s),
        precision=precision,
        recall=recall,
        positives=int(y.sum()),
        predicted_positives=int(_decisions(s, threshold).sum()),
        threshold=float(threshold),
    )


# ---------------------------------------------------------------------------
# Multiclass and regression figures


def _class_scores(scores: Any) -> np.ndarray:
    s = _array(scores, "scores")
    if s.ndim != 2 or s.shape[1] < 2:
        raise ValueError(f"multiclass scores must have shape (n, k) with k > 1, got {s.shape}")
    return s


def top1_accuracy(y_true: Any, scores: Any) -> float:
    s = _class_scores(scores)
    y = _class_labels(y_true, s.shape[1])
    _same_n(y, s, "top1_accuracy")
    return float(np.mean(np.argmax(s, axis=1) == y))


def classification_metrics(y_true: Any, scores: Any) -> AccuracyMetrics:
    """Multiclass top-1 accuracy; `scores` has shape (n, k), labels are indices or one-hot."""
    s = _class_scores(scores)
    return AccuracyMetrics(task=MULTICLASS, samples=int(s.shape[0]), accuracy=top1_accuracy(y_true, s))


def _regression_pair(y_true: Any, predictions: Any) -> tuple[np.ndarray, np.ndarray]:
    y = _array(y_true, "y_true").astype(np.float64)
    p = _array(predictions, "predictions").astype(np.float64)
    _same_n(y, p, "regression")
    y = y.reshape(len(y), -1)
    p = p.reshape(len(p), -1)
    if y.shape != p.shape:
        raise ValueError(f"regression targets {y.shape} do not match predictions {p.shape}")
    return y, p


def mean_absolute_error(y_true: Any, predictions: Any) -> float:
    """Mean over all samples and outputs (sklearn's default 'uniform_average' for equal-size outputs)."""
    y, p = _regression_pair(y_true, predictions)
    return float(np.mean(np.abs(p - y)))


def root_mean_squared_error(y_true: Any, predictions: Any) -> float:
    """Square root of the mean squared error over all samples and outputs."""
    y, p = _regression_pair(y_true, predictions)
    return float(np.sqrt(np.mean((p - y) ** 2)))


def regression_metrics(y_true: Any, predictions: Any) -> AccuracyMetrics:
    y, p = _regression_pair(y_true, predictions)
    return AccuracyMetrics(
        task=REGRESSION,
        samples=int(len(y)),
        mae=mean_absolute_error(y, p),
        rmse=root_mean_squared_error(y, p),
    )


# ---------------------------------------------------------------------------
# Task detection and the entry points


def _is_binary_labels(labels: np.ndarray) -> bool:
    flat = labels.reshape(len(labels), -1)
    return flat.shape[1] == 1 and bool(np.all(np.isin(np.unique(flat), (0, 1))))


def detect_task(outputs: Any, labels: Any = None) -> str:
    """Guess what a model's outputs are: "multiclass", "binary" or "regression".

    * ``(n,)`` or ``(n, 1)`` outputs, all within [0, 1], with labels absent or all 0/1
      -> "binary"; other single-value outputs -> "regression".
    * ``(n, k)`` outputs with ``k > 1`` -> "multiclass", unless labels are given and
      look like regression targets (same shape as the outputs and not one-hot).
    * Any other shape (images, sequences) -> "regression" (compared element-wise).
    """
    out = _array(outputs, "outputs")
    lab = None if labels is None else _array(labels, "labels")
    if lab is not None:
        _same_n(out, lab, "detect_task")
    per_sample = int(np.prod(out.shape[1:])) if out.ndim > 1 else 1

    if per_sample == 1:
        values = out.astype(np.float64)
        in_unit = bool(np.all(np.isfinite(values)) and values.min() >= 0.0 and values.max() <= 1.0)
        if in_unit and (lab is None or _is_binary_labels(lab)):
            return BINARY
        return REGRESSION

    if out.ndim == 2:
        if lab is None:
            return MULTICLASS
        k = out.shape[1]
        if lab.ndim == 1 or (lab.ndim == 2 and lab.shape[1] == 1):
            return MULTICLASS
        if lab.shape == out.shape:
            one_hot = bool(np.all(np.isin(np.unique(lab), (0, 1))) and np.all(lab.sum(axis=1) == 1))
            return MULTICLASS if one_hot else REGRESSION
        raise ValueError(f"labels of shape {lab.shape} do not fit outputs of shape {out.shape} (k={k})")
    return REGRESSION


def accuracy_metrics(outputs: Any, labels: Any, task: str, threshold: float = 0.5) -> AccuracyMetrics:
    if task == MULTICLASS:
        return classification_metrics(labels, outputs)
    if task == BINARY:
        return binary_metrics(labels, outputs, threshold)
    if task == REGRESSION:
        return regression_metrics(labels, outputs)
    raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine of two (m, d) float64 arrays; 0/0 rules as in the module docstring."""
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    dot = np.sum(a * b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = dot / (na * nb)
    both_zero = (na == 0) & (nb == 0)
    one_zero = (na == 0) ^ (nb == 0)
    cos = np.where(both_zero, 1.0, np.where(one_zero, 0.0, cos))
    return np.clip(cos, -1.0, 1.0)


def fidelity_metrics(outputs: Any, reference_outputs: Any, task: str | None = None,
                     threshold: float = 0.5) -> FidelityMetrics:
    """Compare a variant's outputs with the original model's outputs on the same inputs."""
    out = _array(outputs, "outputs")
    ref = _array(reference_outputs, "reference_outputs")
    if out.shape != ref.shape:
        raise ValueError(f"outputs {out.shape} and reference outputs {ref.shape} differ in shape")
    task = task or detect_task(ref)
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    n = out.shape[0]
    a = out.astype(np.float64).reshape(n, -1)
    b = ref.astype(np.float64).reshape(n, -1)
    diff = np.abs(a - b)
    if a.shape[1] == 1:
        cosine = float(_cosine(a.reshape(1, -1), b.reshape(1, -1))[0])
        cosine_over = "array"
    else:
        cosine = float(np.mean(_cosine(a, b)))
        cosine_over = "sample"
    kwargs: dict[str, Any] = {}
    if task == MULTICLASS:
        if a.shape[1] < 2:
            raise ValueError("multiclass fidelity needs (n, k) outputs with k > 1")
        kwargs["top1_agreement"] = float(np.mean(np.argmax(a, axis=1) == np.argmax(b, axis=1)))
    elif task == BINARY:
        if a.shape[1] != 1:
            raise ValueError("binary fidelity needs (n,) or (n, 1) outputs")
        flipped = int(np.sum(_decisions(a[:, 0], threshold) != _decisions(b[:, 0], threshold)))
        kwargs.update(flipped=flipped, flipped_fraction=flipped / n, threshold=float(threshold))
    return FidelityMetrics(
        task=task,
        samples=int(n),
        max_abs_diff=float(diff.max()),
        mean_abs_diff=float(diff.mean()),
        cosine_similarity=cosine,
        cosine_over=cosine_over,
        **kwargs,
    )


def evaluate_outputs(outputs: Any, labels: Any = None, reference_outputs: Any = None,
                     threshold: float = 0.5, task: str | None = None) -> Evaluation:
    """Judge one set of outputs: accuracy against `labels`, fidelity against `reference_outputs`.

    The task is detected from the reference outputs when given (a variant's broken
    outputs should not change what the task is), else from `outputs`, with the
    labels as a hint; pass `task` to override.
    """
    if task is None:
        basis = reference_outputs if reference_outputs is not None else outputs
        task = detect_task(basis, labels)
    elif task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    accuracy = None if labels is None else accuracy_metrics(outputs, labels, task, threshold)
    fidelity = None if reference_outputs is None else fidelity_metrics(outputs, reference_outputs, task, threshold)
    return Evaluation(task=task, accuracy=accuracy, fidelity=fidelity)
