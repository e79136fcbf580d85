"""Accuracy and fidelity figures for one model output, in pure numpy.

The quantization pipeline runs the original model and each optimized variant on
the same inputs and judges each output of the variant twice:

* **accuracy** against labels (when the user gave labelled data), and
* **fidelity** against the original model's outputs (always possible).

No TensorFlow here: outputs arrive as numpy arrays, whoever produced them. A
whole model (several named outputs, one task each) is judged by
``core.evaluation.model.evaluate_model``; which task an output is, by
``core.evaluation.tasks.infer_task``.

Tasks and where their figures are defined:

* ``binary`` (``core.evaluation.binary``), ``multilabel``
  (``core.evaluation.multilabel``), ``class_id``, ``sequence`` and
  ``segmentation`` (``core.evaluation.positions``);
* ``multiclass``, ``regression`` and ``embedding`` here.

Conventions (the rules the tests pin down):

* Outputs have the samples on axis 0. A binary model's scores are probabilities
  of shape ``(n,)`` or ``(n, 1)``; a multiclass model's are ``(n, k)`` with
  ``k > 1`` (probabilities or logits, only the arg-max matters for accuracy).
* Binary decision rule: a sample is *positive* when ``score > threshold``
  (strictly greater, like ``keras.metrics.BinaryAccuracy``). Multilabel outputs
  and one-channel segmentation masks use the same rule for each value.
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
* Regression: MAE, RMSE and max error over every value of every sample
  (sklearn's ``mean_absolute_error``, ``sqrt(mean_squared_error)`` with the
  default uniform average over equal-size outputs, and ``max_error`` on the
  flattened arrays).
* Fidelity cosine similarity: each sample's outputs are flattened and the
  per-sample cosines are averaged (``cosine_over == "sample"``). When a sample
  has a single output value (binary, scalar regression) a per-sample cosine
  only compares signs, so the cosine is taken over the whole flattened array
  instead (``cosine_over == "array"``). Two all-zero vectors have cosine 1;
  a zero vector against a non-zero one has cosine 0.
* Fidelity ``agreement``: the fraction of the task's decisions that agree with
  the reference (top-1, 1 - flipped fraction, per position, equal ids); None
  for regression and embedding. Regression fidelity also counts ``clipped``
  outputs (see ``clipped_outputs``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.evaluation.binary import (
    average_precision,
    binary_accuracy,
    binary_fidelity,
    binary_metrics,
    precision_recall,
    roc_auc,
)
from core.evaluation.common import (
    BINARY,
    CLASS_ID,
    EMBEDDING,
    MULTICLASS,
    MULTILABEL,
    REGRESSION,
    SEGMENTATION,
    SEQUENCE,
    TASKS,
    AccuracyMetrics,
    Evaluation,
    FidelityMetrics,
    as_array,
    cosine_rows,
    is_zero_one,
    same_n,
)
from core.evaluation.multilabel import multilabel_fidelity, multilabel_metrics
from core.evaluation.positions import (
    class_id_fidelity,
    class_id_metrics,
    position_fidelity,
    segmentation_metrics,
    sequence_metrics,
)

# Its own API; the task names and result types it imports from `common` stay reachable here too.
__all__ = [
    "detect_task",
    "evaluate_outputs",
    "accuracy_metrics",
    "fidelity_metrics",
    "classification_metrics",
    "binary_metrics",
    "regression_metrics",
    "roc_auc",
    "average_precision",
    "precision_recall",
    "binary_accuracy",
    "top1_accuracy",
    "mean_absolute_error",
    "root_mean_squared_error",
    "max_error",
    "clipped_outputs",
]

CLIP_RELATIVE_TOLERANCE = 1e-6  # "at the variant's own max/min": within this fraction of it
CLIP_REFERENCE_MARGIN = 0.01  # ... while the reference goes beyond by more than this share of its range


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")


# ---------------------------------------------------------------------------
# Multiclass figures


def _class_scores(scores: Any) -> np.ndarray:
    s = as_array(scores, "scores")
    if s.ndim != 2 or s.shape[1] < 2:
        raise ValueError(f"multiclass scores must have shape (n, k) with k > 1, got {s.shape}")
    return s


def _class_labels(y_true: Any, k: int) -> np.ndarray:
    y = as_array(y_true, "y_true")
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


def top1_accuracy(y_true: Any, scores: Any) -> float:
    """Fraction of samples whose argmax score is the label.

    `scores` (n, k) with k > 1; `y_true` class ids (n,) or (n, 1), or one-hot (n, k).
    ValueError on bad shapes or labels outside [0, k).
    """
    s = _class_scores(scores)
    y = _class_labels(y_true, s.shape[1])
    same_n(y, s, "top1_accuracy")
    return float(np.mean(np.argmax(s, axis=1) == y))


def classification_metrics(y_true: Any, scores: Any) -> AccuracyMetrics:
    """Multiclass top-1 accuracy; `scores` has shape (n, k), labels are indices or one-hot."""
    s = _class_scores(scores)
    return AccuracyMetrics(task=MULTICLASS, samples=int(s.shape[0]), accuracy=top1_accuracy(y_true, s))


# ---------------------------------------------------------------------------
# Regression figures


def _regression_pair(y_true: Any, predictions: Any) -> tuple[np.ndarray, np.ndarray]:
    y = as_array(y_true, "y_true").astype(np.float64)
    p = as_array(predictions, "predictions").astype(np.float64)
    same_n(y, p, "regression")
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


def max_error(y_true: Any, predictions: Any) -> float:
    """Largest |prediction - target| over all samples and outputs (sklearn's max_error, flattened)."""
    y, p = _regression_pair(y_true, predictions)
    return float(np.max(np.abs(p - y)))


def regression_metrics(y_true: Any, predictions: Any) -> AccuracyMetrics:
    """MAE, RMSE and max error of `predictions` against `y_true` (equal shapes, flattened per sample; ValueError otherwise)."""
    y, p = _regression_pair(y_true, predictions)
    return AccuracyMetrics(
        task=REGRESSION,
        samples=int(len(y)),
        mae=mean_absolute_error(y, p),
        rmse=root_mean_squared_error(y, p),
        max_error=max_error(y, p),
    )


def clipped_outputs(outputs: Any, reference_outputs: Any) -> int:
    """Count variant values pinned at the variant's own extreme while the reference goes past it.

    The symptom of int8 output quantization clipping to the calibrated range. With
    ``hi``/``lo`` the largest/smallest finite value of the whole variant output (one
    range per tensor, as int8 output quantization has) and ``r`` the reference's
    range (max - min of its finite values), a value counts when it is within
    ``1e-6 * |hi|`` of ``hi`` and its reference value exceeds ``hi + 0.01 * r``, or
    within ``1e-6 * |lo|`` of ``lo`` and its reference value is below ``lo - 0.01 * r``.
    Shapes: any, the same for both.
    """
    o = np.asarray(outputs, dtype=np.float64).ravel()
    r = np.asarray(reference_outputs, dtype=np.float64).ravel()
    if o.shape != r.shape:
        raise ValueError(f"outputs {o.shape} and reference outputs {r.shape} differ in shape")
    finite_o, finite_r = o[np.isfinite(o)], r[np.isfinite(r)]
    if finite_o.size == 0 or finite_r.size == 0:
        return 0
    hi, lo = finite_o.max(), finite_o.min()
    margin = CLIP_REFERENCE_MARGIN * (finite_r.max() - finite_r.min())
    with np.errstate(invalid="ignore"):
        at_hi = np.abs(o - hi) <= CLIP_RELATIVE_TOLERANCE * abs(hi)
        at_lo = np.abs(o - lo) <= CLIP_RELATIVE_TOLERANCE * abs(lo)
        return int(np.sum(at_hi & (r > hi + margin)) + np.sum(at_lo & (r < lo - margin)))


# ---------------------------------------------------------------------------
# Legacy task detection and the entry points


def _is_binary_labels(labels: np.ndarray) -> bool:
    flat = labels.reshape(len(labels), -1)
    return flat.shape[1] == 1 and is_zero_one(flat)


def detect_task(outputs: Any, labels: Any = None) -> str:
    """Guess an output's task among the first three: "multiclass", "binary" or "regression".

    Kept for callers that judge a single array without its TensorSpec; new code uses
    ``core.evaluation.tasks.infer_task``, which knows every task.

    * ``(n,)`` or ``(n, 1)`` outputs, all within [0, 1], with labels absent or all 0/1
      -> "binary"; other single-value outputs -> "regression".
    * ``(n, k)`` outputs with ``k > 1`` -> "multiclass", unless labels are given and
      look like regression targets (same shape as the outputs and not one-hot).
    * Any other shape (images, sequences) -> "regression" (compared element-wise).
    """
    out = as_array(outputs, "outputs")
    lab = None if labels is None else as_array(labels, "labels")
    if lab is not None:
        same_n(out, lab, "detect_task")
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
            one_hot = bool(is_zero_one(lab) and np.all(lab.sum(axis=1) == 1))
            return MULTICLASS if one_hot else REGRESSION
        raise ValueError(f"labels of shape {lab.shape} do not fit outputs of shape {out.shape} (k={k})")
    return REGRESSION


def accuracy_metrics(outputs: Any, labels: Any, task: str, threshold: float = 0.5) -> AccuracyMetrics:
    """The task's accuracy figures of `outputs` against `labels` (ValueError for "embedding": it has none)."""
    _check_task(task)
    if task == MULTICLASS:
        return classification_metrics(labels, outputs)
    if task == BINARY:
        return binary_metrics(labels, outputs, threshold)
    if task == REGRESSION:
        return regression_metrics(labels, outputs)
    if task == MULTILABEL:
        return multilabel_metrics(labels, outputs, threshold)
    if task == CLASS_ID:
        return class_id_metrics(labels, outputs)
    if task == SEQUENCE:
        return sequence_metrics(labels, outputs)
    if task == SEGMENTATION:
        return segmentation_metrics(labels, outputs, threshold)
    raise ValueError("embedding outputs have no accuracy figures")


def _task_fidelity(
    task: str, out: np.ndarray, ref: np.ndarray, a: np.ndarray, b: np.ndarray, threshold: float
) -> dict[str, Any]:
    """The task's own fidelity fields; `out`/`ref` keep their shape, `a`/`b` are (n, -1)."""
    if task == MULTICLASS:
        if a.shape[1] < 2:
            raise ValueError("multiclass fidelity needs (n, k) outputs with k > 1")
        top1 = float(np.mean(np.argmax(a, axis=1) == np.argmax(b, axis=1)))
        return {"top1_agreement": top1, "agreement": top1}
    if task == BINARY:
        return binary_fidelity(a, b, threshold)
    if task == MULTILABEL:
        return multilabel_fidelity(out, ref, threshold)
    if task == CLASS_ID:
        return class_id_fidelity(out, ref)
    if task in (SEQUENCE, SEGMENTATION):
        return position_fidelity(out, ref, task, threshold)
    if task == REGRESSION:
        return {"clipped": clipped_outputs(out, ref)}
    return {}


def fidelity_metrics(
    outputs: Any, reference_outputs: Any, task: str | None = None, threshold: float = 0.5
) -> FidelityMetrics:
    """Compare a variant's outputs with the original model's outputs on the same inputs (same shape)."""
    out = as_array(outputs, "outputs")
    ref = as_array(reference_outputs, "reference_outputs")
    if out.shape != ref.shape:
        raise ValueError(f"outputs {out.shape} and reference outputs {ref.shape} differ in shape")
    task = task or detect_task(ref)
    _check_task(task)
    n = out.shape[0]
    out64, ref64 = out.astype(np.float64), ref.astype(np.float64)
    a, b = out64.reshape(n, -1), ref64.reshape(n, -1)
    diff = np.abs(a - b)
    if a.shape[1] == 1:
        cosine = float(cosine_rows(a.reshape(1, -1), b.reshape(1, -1))[0])
        cosine_over = "array"
    else:
        cosine = float(np.mean(cosine_rows(a, b)))
        cosine_over = "sample"
    return FidelityMetrics(
        task=task,
        samples=int(n),
        max_abs_diff=float(diff.max()),
        mean_abs_diff=float(diff.mean()),
        cosine_similarity=cosine,
        cosine_over=cosine_over,
        **_task_fidelity(task, out64, ref64, a, b, threshold),
    )


def evaluate_outputs(
    outputs: Any,
    labels: Any = None,
    reference_outputs: Any = None,
    threshold: float = 0.5,
    task: str | None = None,
    output: str = "",
) -> Evaluation:
    """Judge one output: accuracy against `labels`, fidelity against `reference_outputs`.

    The task is detected (``detect_task``) from the reference outputs when given (a
    variant's broken outputs should not change what the task is), else from
    `outputs`, with the labels as a hint; pass `task` to override. An "embedding"
    output gets no accuracy even with labels. `output` names the output.
    """
    if task is None:
        basis = reference_outputs if reference_outputs is not None else outputs
        task = detect_task(basis, labels)
    _check_task(task)
    accuracy = None
    if labels is not None and task != EMBEDDING:
        accuracy = accuracy_metrics(outputs, labels, task, threshold)
    fidelity = None if reference_outputs is None else fidelity_metrics(outputs, reference_outputs, task, threshold)
    return Evaluation(task=task, accuracy=accuracy, fidelity=fidelity, output=output)
