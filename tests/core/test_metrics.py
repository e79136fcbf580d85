"""core.evaluation.metrics against scikit-learn, plus hand-made fidelity cases and edge cases."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import FrozenInstanceError
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    mean_absolute_error,
    mean_squared_error,
    precision_score,
    recall_score,
    roc_auc_score,
)

from core.evaluation import metrics as M
from core.evaluation import AccuracyMetrics, Evaluation, FidelityMetrics, detect_task, evaluate_outputs

REPO = Path(__file__).resolve().parents[2]


def _binary_case(seed: int, n: int = 300, decimals: int = 1, rate: float = 0.3):
    """Random labels and scores rounded to `decimals`, so many scores tie (also across classes)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < rate).astype(np.int64)
    scores = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0.0, 1.0)
    return y, np.round(scores, decimals)


# ---------------------------------------------------------------------------
# Binary figures against sklearn


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("decimals", [1, 2, 6])
def test_binary_ranking_figures_match_sklearn(seed, decimals):
    y, s = _binary_case(seed, decimals=decimals)
    assert len(np.unique(s)) < len(s) or decimals == 6  # ties are really there
    assert M.roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert M.average_precision(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_rare_positives_match_sklearn(seed):
    y, s = _binary_case(seed, n=5000, decimals=3, rate=0.005)
    assert 0 < y.sum() < 60
    assert M.roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert M.average_precision(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)


def test_all_scores_tied_gives_half_auc_and_prevalence_ap():
    y = np.array([0, 1, 0, 1, 1, 0, 0, 0])
    s = np.full(8, 0.7)
    assert M.roc_auc(y, s) == 0.5 == roc_auc_score(y, s)
    assert M.average_precision(y, s) == pytest.approx(3 / 8) == average_precision_score(y, s)


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
@pytest.mark.parametrize("seed", range(4))
def test_threshold_figures_match_sklearn(seed, threshold):
    y, s = _binary_case(seed, decimals=1)
    pred = (s > threshold).astype(int)  # the documented rule: strictly above the threshold
    m = M.binary_metrics(y, s.reshape(-1, 1), threshold=threshold)
    assert m.task == M.BINARY and m.samples == len(y) and m.threshold == threshold
    assert m.accuracy == pytest.approx(accuracy_score(y, pred))
    assert m.precision == pytest.approx(precision_score(y, pred, zero_division=np.nan))
    assert m.recall == pytest.approx(recall_score(y, pred))
    assert m.roc_auc == pytest.approx(roc_auc_score(y, s))
    assert m.pr_auc == pytest.approx(average_precision_score(y, s))
    assert m.positives == int(y.sum()) and m.predicted_positives == int(pred.sum())


def test_score_equal_to_threshold_is_negative():
    m = M.binary_metrics([1, 0, 1], [0.5, 0.5, 0.9])
    assert m.predicted_positives == 1
    assert m.precision == 1.0 and m.recall == 0.5
    assert m.accuracy == pytest.approx(2 / 3)


def test_perfect_and_inverted_rankings():
    y = np.array([0, 0, 1, 1])
    assert M.roc_auc(y, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert M.average_precision(y, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert M.roc_auc(y, [0.9, 0.8, 0.2, 0.1]) == 0.0


# ---------------------------------------------------------------------------
# Undefined figures are NaN (the documented rule)


@pytest.mark.parametrize("label", [0, 1])
def test_single_class_roc_auc_is_nan(label):
    y = np.full(10, label)
    s = np.linspace(0, 1, 10)
    assert math.isnan(M.roc_auc(y, s))
    m = M.binary_metrics(y, s)
    assert math.isnan(m.roc_auc)
    assert m.accuracy is not None and not math.isnan(m.accuracy)


def test_no_positive_makes_pr_auc_and_recall_nan_but_all_positive_is_defined():
    s = np.linspace(0, 1, 10)
    m = M.binary_metrics(np.zeros(10, int), s)
    assert math.isnan(m.pr_auc) and math.isnan(m.recall)
    assert m.precision == 0.0  # 5 predicted positives, all wrong
    m = M.binary_metrics(np.ones(10, int), s)
    assert m.pr_auc == 1.0 == average_precision_score(np.ones(10, int), s)
    assert m.precision == 1.0 and m.recall == 0.5


def test_nothing_predicted_positive_makes_precision_nan():
    m = M.binary_metrics([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4])
    assert math.isnan(m.precision)
    assert m.recall == 0.0
    assert m.roc_auc == pytest.approx(0.75)


def test_non_finite_scores_make_ranking_figures_nan():
    y = [0, 1, 0, 1]
    s = [0.1, np.nan, 0.3, 0.9]
    assert math.isnan(M.roc_auc(y, s))
    assert math.isnan(M.average_precision(y, s))


def test_nan_becomes_none_in_to_dict():
    d = M.binary_metrics(np.zeros(4, int), [0.1, 0.2, 0.6, 0.7]).to_dict()
    assert d["roc_auc"] is None and d["pr_auc"] is None
    assert "mae" not in d  # not applicable: omitted
    json.dumps(d, allow_nan=False)


@pytest.mark.parametrize(
    "y, s, message",
    [
        ([0, 1, 2], [0.1, 0.2, 0.3], "0 or 1"),
        ([0, 1], [0.1, 0.2, 0.3], "samples"),
        ([0, 1], [[0.1, 0.2], [0.3, 0.4]], "shape"),
        ([], [], "empty"),
    ],
)
def test_bad_binary_input_is_a_clear_value_error(y, s, message):
    with pytest.raises(ValueError, match=message):
        M.binary_metrics(y, s)


# ---------------------------------------------------------------------------
# Multiclass and regression


def test_top1_accuracy_with_index_and_one_hot_labels():
    rng = np.random.default_rng(3)
    scores = rng.random((200, 5))
    y = rng.integers(0, 5, 200)
    expected = accuracy_score(y, scores.argmax(1))
    assert M.classification_metrics(y, scores).accuracy == pytest.approx(expected)
    assert M.classification_metrics(np.eye(5)[y], scores).accuracy == pytest.approx(expected)
    assert M.classification_metrics(y.reshape(-1, 1), scores).accuracy == pytest.approx(expected)
    m = M.classification_metrics(scores.argmax(1), scores)
    assert m.accuracy == 1.0 and m.task == M.MULTICLASS and m.samples == 200
    assert m.to_dict() == {"task": "multiclass", "samples": 200, "accuracy": 1.0}


def test_multiclass_rejects_labels_out_of_range():
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        M.classification_metrics([0, 3], np.zeros((2, 3)))
    with pytest.raises(ValueError, match="k > 1"):
        M.classification_metrics([0, 1], np.zeros((2, 1)))


@pytest.mark.parametrize("shape", [(50,), (50, 1), (50, 3)])
def test_regression_matches_sklearn(shape):
    rng = np.random.default_rng(5)
    y = rng.normal(size=shape)
    p = y + rng.normal(scale=0.3, size=shape)
    m = M.regression_metrics(y, p)
    assert m.mae == pytest.approx(mean_absolute_error(y, p))
    assert m.rmse == pytest.approx(math.sqrt(mean_squared_error(y, p)))
    assert m.accuracy is None and m.roc_auc is None


# ---------------------------------------------------------------------------
# Fidelity


def test_identical_outputs_are_perfectly_faithful():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(10), size=64).astype(np.float32)
    f = M.fidelity_metrics(probs, probs.copy())
    assert f.task == M.MULTICLASS
    assert f.top1_agreement == 1.0
    assert f.max_abs_diff == 0.0 and f.mean_abs_diff == 0.0
    assert f.cosine_similarity == pytest.approx(1.0)
    assert f.cosine_over == "sample"
    assert f.flipped is None

    p = rng.random((64, 1))
    f = M.fidelity_metrics(p, p.copy())
    assert f.task == M.BINARY and f.flipped == 0 and f.flipped_fraction == 0.0
    assert f.cosine_similarity == pytest.approx(1.0) and f.cosine_over == "array"


def test_known_binary_perturbation():
    ref = np.array([[0.10], [0.40], [0.49], [0.60], [0.90]])
    out = np.array([[0.10], [0.40], [0.52], [0.45], [0.80]])  # 0.49 and 0.60 cross 0.5
    f = M.fidelity_metrics(out, ref)
    assert f.task == M.BINARY and f.threshold == 0.5
    assert f.flipped == 2 and f.flipped_fraction == pytest.approx(0.4)
    assert f.max_abs_diff == pytest.approx(0.15)
    assert f.mean_abs_diff == pytest.approx((0 + 0 + 0.03 + 0.15 + 0.10) / 5)
    a, b = out.ravel(), ref.ravel()
    assert f.cosine_similarity == pytest.approx(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    assert M.fidelity_metrics(out, ref, threshold=0.3).flipped == 0


def test_known_multiclass_perturbation():
    ref = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [1.0, 0.0, 0.0]])
    out = ref.copy()
    out[2] = [0.4, 0.3, 0.3]  # arg-max moves from 2 to 0
    out[3] = [0.0, 1.0, 0.0]  # orthogonal: cosine 0, arg-max moves
    f = M.fidelity_metrics(out, ref)
    assert f.top1_agreement == 0.5
    assert f.max_abs_diff == pytest.approx(1.0)
    assert f.mean_abs_diff == pytest.approx((0.1 + 0.1 + 2.0) / 12)
    cos2 = (0.4 * 0.3 + 0.3 * 0.3 + 0.3 * 0.4) / (0.34**0.5 * 0.34**0.5)
    assert f.cosine_similarity == pytest.approx((1 + 1 + cos2 + 0) / 4)


def test_cosine_of_zero_vectors():
    zeros = np.zeros((2, 3))
    assert M.fidelity_metrics(zeros, zeros).cosine_similarity == 1.0
    ones = np.ones((2, 3))
    assert M.fidelity_metrics(zeros, ones).cosine_similarity == 0.0
    assert M.fidelity_metrics(ones, -ones).cosine_similarity == pytest.approx(-1.0)


def test_nan_outputs_show_up_as_nan_fidelity():
    ref = np.array([[0.2], [0.8]])
    f = M.fidelity_metrics(np.array([[np.nan], [0.8]]), ref, task=M.BINARY)
    assert math.isnan(f.max_abs_diff) and math.isnan(f.mean_abs_diff)


def test_fidelity_shape_mismatch_is_a_value_error():
    with pytest.raises(ValueError, match="shape"):
        M.fidelity_metrics(np.zeros((3, 2)), np.zeros((3, 3)))


# ---------------------------------------------------------------------------
# Task detection and evaluate_outputs


@pytest.mark.parametrize(
    "outputs, labels, task",
    [
        (np.array([[0.1], [0.9]]), np.array([0, 1]), M.BINARY),
        (np.array([0.1, 0.9]), None, M.BINARY),
        (np.array([[0.1], [0.9]]), np.array([0.5, 2.0]), M.REGRESSION),
        (np.array([[1.5], [-2.0]]), np.array([0, 1]), M.REGRESSION),  # logits are not probabilities
        (np.array([[3.2], [7.1]]), None, M.REGRESSION),
        (np.zeros((4, 10)), None, M.MULTICLASS),
        (np.zeros((4, 10)), np.array([0, 1, 2, 9]), M.MULTICLASS),
        (np.zeros((2, 3)), np.eye(3)[[0, 2]], M.MULTICLASS),
        (np.zeros((2, 3)), np.array([[0.5, 1.0, 2.0], [1.0, 1.0, 1.0]]), M.REGRESSION),
        (np.zeros((2, 4, 4, 3)), None, M.REGRESSION),
    ],
)
def test_detect_task(outputs, labels, task):
    assert detect_task(outputs, labels) == task


def test_evaluate_outputs_without_labels_or_reference():
    probs = np.array([[0.2, 0.8], [0.9, 0.1]])
    e = evaluate_outputs(probs)
    assert e == Evaluation(task=M.MULTICLASS, accuracy=None, fidelity=None)
    assert e.to_dict() == {"task": "multiclass"}


def test_evaluate_outputs_binary_with_both():
    y = np.array([0, 1, 1, 0, 1])
    ref = np.array([[0.1], [0.8], [0.6], [0.4], [0.9]], dtype=np.float32)
    out = ref + np.array([[0.0], [0.0], [-0.2], [0.0], [0.0]], dtype=np.float32)
    e = evaluate_outputs(out, labels=y, reference_outputs=ref, threshold=0.5)
    assert e.task == M.BINARY
    assert isinstance(e.accuracy, AccuracyMetrics) and isinstance(e.fidelity, FidelityMetrics)
    assert e.accuracy.accuracy == pytest.approx(0.8)
    assert e.accuracy.recall == pytest.approx(2 / 3) and e.accuracy.precision == 1.0
    assert e.fidelity.flipped == 1
    d = e.to_dict()
    assert d["accuracy"]["recall"] == pytest.approx(2 / 3) and d["fidelity"]["flipped"] == 1
    json.dumps(d, allow_nan=False)
    with pytest.raises(FrozenInstanceError):
        e.task = "regression"  # type: ignore[misc]


def test_evaluate_outputs_takes_the_task_from_the_reference():
    # A broken variant whose outputs left [0, 1] is still judged as a binary model.
    ref = np.array([[0.1], [0.9]])
    out = np.array([[-3.0], [4.0]])
    e = evaluate_outputs(out, labels=[0, 1], reference_outputs=ref)
    assert e.task == M.BINARY and e.fidelity.flipped == 0 and e.accuracy.accuracy == 1.0


def test_evaluate_outputs_task_override_and_unknown_task():
    out = np.array([[0.1], [0.9]])
    assert evaluate_outputs(out, labels=[0.1, 0.8], task=M.REGRESSION).accuracy.mae == pytest.approx(0.05)
    with pytest.raises(ValueError, match="unknown task"):
        evaluate_outputs(out, task="ranking")


def test_metrics_module_does_not_import_tensorflow():
    code = (
        "import sys\n"
        "import core.evaluation\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'sklearn')]\n"
        "sys.exit(1 if bad else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
