"""Decisions per position: class-id outputs, sequences and segmentation maps (pure numpy).

Shapes:

* ``class_id``: an integer output holding predicted class ids, ``(n,)`` or ``(n, 1)``,
  or ``(n, t, ...)`` with one id per position. Labels: ids of the same shape (an
  ``(n, 1)`` side matches an ``(n,)`` one).
* ``sequence``: class scores ``(n, t, k)`` with ``k > 1``; labels class ids ``(n, t)``
  or one-hot ``(n, t, k)``. The decision at each position is the arg-max over the
  last axis (ties to the lowest index, numpy's rule).
* ``segmentation``: class scores ``(n, h, w, k)`` with ``k > 1`` (arg-max as above),
  or a sigmoid mask ``(n, h, w, 1)`` whose pixels are class 1 when
  ``score > threshold`` (strictly), else class 0. Labels: class ids ``(n, h, w)``
  or ``(n, h, w, 1)``, or one-hot ``(n, h, w, k)`` for ``k > 1``; 0/1 for a mask.

Definitions:

* ``accuracy``: the fraction of positions (pixels) whose decision equals the label,
  i.e. ``sklearn.metrics.accuracy_score`` on the flattened arrays.
* ``mean_iou`` (segmentation): with ``y`` and ``p`` the flattened label and
  predicted class of every pixel, ``IoU_c = |y == c and p == c| / |y == c or p == c|``
  for each class ``c`` that occurs in ``y`` or in ``p``, averaged with equal weight
  over those classes (``iou_classes`` of them). Classes in neither are left out
  (their IoU would be 0/0). This is ``jaccard_score(y, p, average="macro")``.
* Fidelity ``agreement``: the fraction of positions whose decision is the same for
  the variant and the reference.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.evaluation.binary import decisions
from core.evaluation.common import (
    CLASS_ID,
    SEGMENTATION,
    SEQUENCE,
    AccuracyMetrics,
    as_array,
    class_ids,
    is_whole,
    is_zero_one,
    same_n,
)

__all__ = [
    "class_id_metrics",
    "class_id_fidelity",
    "sequence_metrics",
    "segmentation_metrics",
    "position_fidelity",
    "mean_iou",
    "position_classes",
]

_SCORE_NDIM = {SEQUENCE: 3, SEGMENTATION: 4}
_SHAPE_TEXT = {SEQUENCE: "(n, t, k)", SEGMENTATION: "(n, h, w, k)"}


def _squeeze_last(a: np.ndarray) -> np.ndarray:
    return a[:, 0] if a.ndim == 2 and a.shape[1] == 1 else a


# ---------------------------------------------------------------------------
# class_id


def class_id_values(outputs: Any, name: str = "outputs") -> np.ndarray:
    """Class ids from an integer output (a trailing axis of 1 dropped); ValueError when they are not whole numbers."""
    ids = _squeeze_last(as_array(outputs, name))
    if not is_whole(ids):
        raise ValueError(f"class_id {name} must hold whole-number class ids (an integer output)")
    return ids


def class_id_metrics(y_true: Any, ids: Any) -> AccuracyMetrics:
    """Fraction of ids equal to the label ids (every position counts once)."""
    p = class_id_values(ids)
    y = _squeeze_last(as_array(y_true, "y_true"))
    if y.shape != p.shape:
        raise ValueError(f"class_id labels {y.shape} do not match the output's shape {p.shape}")
    if not is_whole(y):
        raise ValueError("class_id labels must be whole-number class ids")
    return AccuracyMetrics(task=CLASS_ID, samples=int(p.shape[0]), accuracy=float(np.mean(p == y)))


def class_id_fidelity(out: np.ndarray, ref: np.ndarray) -> dict[str, Any]:
    """agreement: the fraction of ids equal to the reference's."""
    return {"agreement": float(np.mean(out == ref))}


# ---------------------------------------------------------------------------
# sequence and segmentation


def _position_scores(scores: Any, task: str, name: str = "scores") -> np.ndarray:
    s = as_array(scores, name)
    ndim = _SCORE_NDIM[task]
    if s.ndim != ndim:
        raise ValueError(f"{task} {name} must have shape {_SHAPE_TEXT[task]}, got {s.shape}")
    if s.shape[-1] < 2 and task == SEQUENCE:
        raise ValueError(f"sequence {name} need k > 1 classes on the last axis, got {s.shape}")
    return s


def position_classes(scores: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Decided class per position: arg-max over the last axis, or `score > threshold` when it has size 1."""
    if scores.shape[-1] == 1:
        return decisions(scores[..., 0].astype(np.float64), threshold).astype(np.int64)
    return np.argmax(scores, axis=-1)


def _position_labels(y_true: Any, scores: np.ndarray, task: str) -> np.ndarray:
    """Labels as class ids of shape scores.shape[:-1]."""
    y = as_array(y_true, "y_true")
    positions, k = scores.shape[:-1], scores.shape[-1]
    if y.shape == positions + (1,):
        y = y[..., 0]
    elif k > 1 and y.shape == scores.shape:
        if not (is_zero_one(y) and np.all(y.sum(axis=-1) == 1)):
            raise ValueError(f"{task} labels of the scores' shape must be one-hot")
        return np.argmax(y, axis=-1)
    if y.shape != positions:
        raise ValueError(f"{task} labels must have shape {positions} (class ids), got {y.shape}")
    if k == 1:
        if not is_zero_one(y):
            raise ValueError(f"{task} labels for a one-channel mask must be 0 or 1")
        return y.astype(np.int64)
    return class_ids(y, k, f"{task} labels")


def mean_iou(y: np.ndarray, p: np.ndarray) -> tuple[float, int]:
    """(mean IoU, classes averaged) over the classes present in `y` or `p` (see the module docstring)."""
    y = y.ravel().astype(np.int64)
    p = p.ravel().astype(np.int64)
    k = int(max(y.max(), p.max())) + 1
    both = np.bincount(y[y == p], minlength=k).astype(np.float64)
    union = np.bincount(y, minlength=k) + np.bincount(p, minlength=k) - both
    present = union > 0
    return float(np.mean(both[present] / union[present])), int(present.sum())


def sequence_metrics(y_true: Any, scores: Any) -> AccuracyMetrics:
    """Per-position accuracy of (n, t, k) class scores against (n, t) class ids."""
    s = _position_scores(scores, SEQUENCE)
    y = _position_labels(y_true, s, SEQUENCE)
    same_n(y, s, "sequence_metrics")
    return AccuracyMetrics(task=SEQUENCE, samples=int(s.shape[0]), accuracy=float(np.mean(position_classes(s) == y)))


def segmentation_metrics(y_true: Any, scores: Any, threshold: float = 0.5) -> AccuracyMetrics:
    """Per-pixel accuracy and mean IoU of (n, h, w, k) scores or an (n, h, w, 1) mask."""
    s = _position_scores(scores, SEGMENTATION)
    y = _position_labels(y_true, s, SEGMENTATION)
    same_n(y, s, "segmentation_metrics")
    p = position_classes(s, threshold)
    iou, classes = mean_iou(y, p)
    return AccuracyMetrics(
        task=SEGMENTATION,
        samples=int(s.shape[0]),
        accuracy=float(np.mean(p == y)),
        mean_iou=iou,
        iou_classes=classes,
        threshold=float(threshold) if s.shape[-1] == 1 else None,
    )


def position_fidelity(out: np.ndarray, ref: np.ndarray, task: str, threshold: float) -> dict[str, Any]:
    """agreement: the fraction of positions whose decided class is the reference's."""
    _position_scores(ref, task, "outputs")
    same = position_classes(out, threshold) == position_classes(ref, threshold)
    fields: dict[str, Any] = {"agreement": float(np.mean(same))}
    if out.shape[-1] == 1:
        fields["threshold"] = float(threshold)
    return fields
