"""Binary figures: one probability per sample against 0/1 labels (pure numpy).

Shapes: scores ``(n,)`` or ``(n, 1)``; labels the same, all 0 or 1. A sample is
positive when ``score > threshold`` (strictly, like ``keras.metrics.BinaryAccuracy``).

Sources: ROC-AUC is the Mann-Whitney U statistic over P*N pairs with ties counted
one half (sklearn's ``roc_auc_score``); PR-AUC is average precision, the step-wise
sum ``sum_n (R_n - R_{n-1}) * P_n`` over the distinct score thresholds (sklearn's
``average_precision_score``, no trapezoid interpolation).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.evaluation.common import BINARY, AccuracyMetrics, as_array, ratio, same_n

__all__ = [
    "roc_auc",
    "average_precision",
    "precision_recall",
    "binary_accuracy",
    "binary_metrics",
    "binary_fidelity",
    "decisions",
]


def binary_scores(scores: Any, name: str = "scores") -> np.ndarray:
    """Binary scores as float64 of shape (n,), from (n,) or (n, 1); ValueError naming `name` otherwise."""
    s = as_array(scores, name)
    if s.ndim == 2 and s.shape[1] == 1:
        s = s[:, 0]
    if s.ndim != 1:
        raise ValueError(f"binary {name} must have shape (n,) or (n, 1), got {s.shape}")
    return s.astype(np.float64)


def binary_labels(y_true: Any) -> np.ndarray:
    """0/1 labels as bool of shape (n,), from (n,) or (n, 1); ValueError for another shape or value."""
    y = as_array(y_true, "y_true")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"binary labels must have shape (n,) or (n, 1), got {y.shape}")
    values = np.unique(y)
    if not np.all(np.isin(values, (0, 1))):
        raise ValueError(f"binary labels must be 0 or 1, got values {values[:10].tolist()}")
    return y.astype(bool)


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing the mean of the ranks they span."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    n = len(values)
    # Start index of each run of equal values.
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], n]  # exclusive
    run_rank = (starts + 1 + ends) / 2.0  # mean of ranks starts+1 .. ends
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = np.repeat(run_rank, ends - starts)
    return ranks


def roc_auc(y_true: Any, scores: Any) -> float:
    """Area under the ROC curve (Mann-Whitney U / (P*N)); ties count one half. NaN if one class."""
    y = binary_labels(y_true)
    s = binary_scores(scores)
    same_n(y, s, "roc_auc")
    pos = int(y.sum())
    neg = len(y) - pos
    if pos == 0 or neg == 0 or not np.all(np.isfinite(s)):
        return float("nan")
    ranks = _average_ranks(s)
    u = ranks[y].sum() - pos * (pos + 1) / 2.0
    return float(u / (pos * neg))


def average_precision(y_true: Any, scores: Any) -> float:
    """PR-AUC as average precision (sklearn's definition). NaN if there is no positive."""
    y = binary_labels(y_true)
    s = binary_scores(scores)
    same_n(y, s, "average_precision")
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


def decisions(scores: np.ndarray, threshold: float) -> np.ndarray:
    """The positive decisions: ``scores > threshold`` (strictly; NaN is never positive)."""
    return scores > threshold


def precision_recall(y_true: Any, scores: Any, threshold: float = 0.5) -> tuple[float, float]:
    """Precision and recall when `score > threshold` is called positive (NaN where 0/0)."""
    y = binary_labels(y_true)
    s = binary_scores(scores)
    same_n(y, s, "precision_recall")
    pred = decisions(s, threshold)
    tp = int(np.sum(pred & y))
    return ratio(tp, int(pred.sum())), ratio(tp, int(y.sum()))


def binary_accuracy(y_true: Any, scores: Any, threshold: float = 0.5) -> float:
    """Fraction of samples whose decision (`score > threshold`) equals the 0/1 label; ValueError on bad shapes."""
    y = binary_labels(y_true)
    s = binary_scores(scores)
    same_n(y, s, "binary_accuracy")
    return float(np.mean(decisions(s, threshold) == y))


def binary_metrics(y_true: Any, scores: Any, threshold: float = 0.5) -> AccuracyMetrics:
    """Accuracy, ROC-AUC, PR-AUC, precision and recall of probabilities against 0/1 labels."""
    y = binary_labels(y_true)
    s = binary_scores(scores)
    same_n(y, s, "binary_metrics")
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
        predicted_positives=int(decisions(s, threshold).sum()),
        threshold=float(threshold),
    )


def binary_fidelity(out: np.ndarray, ref: np.ndarray, threshold: float) -> dict[str, Any]:
    """Flipped decisions of two (n, 1) float arrays: the binary fields of FidelityMetrics."""
    if out.shape[1] != 1:
        raise ValueError("binary fidelity needs (n,) or (n, 1) outputs")
    n = out.shape[0]
    flipped = int(np.sum(decisions(out[:, 0], threshold) != decisions(ref[:, 0], threshold)))
    return {
        "flipped": flipped,
        "flipped_fraction": flipped / n,
        "agreement": 1.0 - flipped / n,
        "threshold": float(threshold),
    }
