"""Multilabel figures: K independent sigmoid scores per sample against multi-hot labels (pure numpy).

Shapes: scores ``(n, k)`` with ``k > 1``; labels ``(n, k)``, all 0 or 1. Each of the
``n * k`` scores is one decision, positive when ``score > threshold`` (strictly, as
for binary outputs).

Definitions (each checked against scikit-learn in tests/core/test_tasks.py):

* ``accuracy``: element-wise (Hamming) accuracy, the fraction of the ``n * k``
  decisions equal to the labels, i.e. ``1 - sklearn.metrics.hamming_loss``.
* ``micro_f1``: ``2 TP / (2 TP + FP + FN)`` with the counts summed over all labels
  (``f1_score(average="micro")``); NaN when there is no positive label and no
  positive decision.
* ``macro_f1``: the mean over labels of each label's ``2 tp / (2 tp + fp + fn)``,
  leaving out the labels where that is 0/0 (``f1_score(average="macro",
  zero_division=np.nan)``); NaN when every label is 0/0.
* ``label_precision`` / ``label_recall``: per label ``tp / (tp + fp)`` and
  ``tp / (tp + fn)``, NaN where 0/0 (``precision_score(average=None,
  zero_division=np.nan)``).
* ``mean_average_precision``: the mean, over the labels with at least one
  positive, of each label's average precision (``average_precision_score`` on that
  label's column). Labels with no positive have no defined AP: they are left out
  of the mean and counted in ``labels_without_positive``. NaN when no label has a
  positive, or when a score is NaN or infinite.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.evaluation.binary import average_precision, decisions
from core.evaluation.common import MULTILABEL, AccuracyMetrics, as_array, is_zero_one, same_n

__all__ = ["multilabel_metrics", "multilabel_fidelity"]


def multilabel_scores(scores: Any, name: str = "scores") -> np.ndarray:
    """Per-label scores as float64 of shape (n, k) with k > 1; ValueError naming `name` otherwise."""
    s = as_array(scores, name)
    if s.ndim != 2 or s.shape[1] < 2:
        raise ValueError(f"multilabel {name} must have shape (n, k) with k > 1, got {s.shape}")
    return s.astype(np.float64)


def multilabel_labels(y_true: Any, k: int) -> np.ndarray:
    """Multi-hot labels as bool of shape (n, k); ValueError for another shape or a value other than 0/1."""
    y = as_array(y_true, "y_true")
    if y.ndim != 2 or y.shape[1] != k:
        raise ValueError(f"multilabel labels must be multi-hot of shape (n, {k}), got {y.shape}")
    if not is_zero_one(y):
        raise ValueError("multilabel labels must be 0 or 1")
    return y.astype(bool)


def _nan_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def multilabel_metrics(y_true: Any, scores: Any, threshold: float = 0.5) -> AccuracyMetrics:
    """Hamming accuracy, micro/macro F1, mAP and per-label precision/recall (see the module docstring)."""
    s = multilabel_scores(scores)
    y = multilabel_labels(y_true, s.shape[1])
    same_n(y, s, "multilabel_metrics")
    pred = decisions(s, threshold)
    tp = np.sum(pred & y, axis=0).astype(np.float64)
    fp = np.sum(pred & ~y, axis=0).astype(np.float64)
    fn = np.sum(~pred & y, axis=0).astype(np.float64)

    micro_den = 2 * tp.sum() + fp.sum() + fn.sum()
    micro_f1 = float(2 * tp.sum() / micro_den) if micro_den else float("nan")
    label_f1 = _nan_ratio(2 * tp, 2 * tp + fp + fn)
    macro_f1 = float(np.mean(label_f1[~np.isnan(label_f1)])) if np.any(~np.isnan(label_f1)) else float("nan")

    with_positive = [j for j in range(s.shape[1]) if y[:, j].any()]
    aps = [average_precision(y[:, j], s[:, j]) for j in with_positive]
    mean_ap = float(np.mean(aps)) if aps else float("nan")

    return AccuracyMetrics(
        task=MULTILABEL,
        samples=int(s.shape[0]),
        accuracy=float(np.mean(pred == y)),
        positives=int(y.sum()),
        predicted_positives=int(pred.sum()),
        threshold=float(threshold),
        micro_f1=micro_f1,
        macro_f1=macro_f1,
        mean_average_precision=mean_ap,
        labels_without_positive=int(s.shape[1] - len(with_positive)),
        label_precision=tuple(float(v) for v in _nan_ratio(tp, tp + fp)),
        label_recall=tuple(float(v) for v in _nan_ratio(tp, tp + fn)),
    )


def multilabel_fidelity(out: np.ndarray, ref: np.ndarray, threshold: float) -> dict[str, Any]:
    """Flipped label decisions of two (n, k) float arrays: the multilabel fields of FidelityMetrics.

    ``flipped`` counts the (sample, label) decisions on the other side of `threshold`
    from the reference's, out of ``n * k``; ``agreement = 1 - flipped / (n * k)``.
    """
    if out.ndim != 2 or out.shape[1] < 2:
        raise ValueError(f"multilabel fidelity needs (n, k) outputs with k > 1, got {out.shape}")
    changed = decisions(out, threshold) != decisions(ref, threshold)
    flipped = int(changed.sum())
    fraction = flipped / changed.size
    return {
        "flipped": flipped,
        "flipped_fraction": fraction,
        "agreement": 1.0 - fraction,
        "flipped_per_label": tuple(int(v) for v in changed.sum(axis=0)),
        "threshold": float(threshold),
    }
