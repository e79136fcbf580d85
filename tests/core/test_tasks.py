"""Per-output tasks and their figures (core.evaluation), against scikit-learn and hand counts.

Every accuracy figure is compared with scikit-learn on seeded random data; fidelity
flips, agreements and clipping are counted by hand on small arrays.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    hamming_loss,
    jaccard_score,
    max_error,
    mean_absolute_error,
    precision_score,
    recall_score,
)

from core.evaluation import (
    BINARY,
    CLASS_ID,
    EMBEDDING,
    MULTICLASS,
    MULTILABEL,
    REGRESSION,
    SEGMENTATION,
    SEQUENCE,
    TASKS,
    Evaluation,
    ModelEvaluation,
    TaskChoice,
    accuracy_metrics,
    check_task,
    evaluate_model,
    evaluate_outputs,
    fidelity_metrics,
    infer_task,
    nonfinite_samples,
)
from core.models.interface import OUTPUT, TensorSpec


def _spec(shape, dtype="float32", activation="", name="out") -> TensorSpec:
    return TensorSpec(shape=(None, *shape[1:]), dtype=dtype, name=name, role=OUTPUT, activation=activation)


def _same_with_nan(a, b) -> bool:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.all((np.isnan(a) & np.isnan(b)) | np.isclose(a, b, rtol=0, atol=1e-12)))


# ---------------------------------------------------------------------------
# Multilabel


def _multilabel_case(seed: int, n: int = 240, k: int = 6):
    """Multi-hot labels (label 4 never positive), scores rounded to 0.1 so they tie and sit on thresholds."""
    rng = np.random.default_rng(seed)
    rates = np.array([0.5, 0.3, 0.1, 0.02, 0.0, 0.7])[:k]
    y = (rng.random((n, k)) < rates).astype(np.int64)
    scores = np.clip(rng.normal(0.3 + 0.35 * y, 0.2), 0.0, 1.0)
    return y, np.round(scores, 1)


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
@pytest.mark.parametrize("seed", range(4))
def test_multilabel_figures_match_sklearn(seed, threshold):
    y, s = _multilabel_case(seed)
    pred = (s > threshold).astype(np.int64)  # the documented rule, strictly above
    m = accuracy_metrics(s, y, MULTILABEL, threshold)
    assert m.task == MULTILABEL and m.samples == len(y) and m.threshold == threshold
    assert m.accuracy == pytest.approx(1 - hamming_loss(y, pred), abs=1e-12)
    assert m.accuracy == pytest.approx(accuracy_score(y.ravel(), pred.ravel()), abs=1e-12)
    assert m.micro_f1 == pytest.approx(f1_score(y, pred, average="micro", zero_division=np.nan), abs=1e-12)
    assert m.macro_f1 == pytest.approx(f1_score(y, pred, average="macro", zero_division=np.nan), abs=1e-12)
    assert _same_with_nan(m.label_precision, precision_score(y, pred, average=None, zero_division=np.nan))
    assert _same_with_nan(m.label_recall, recall_score(y, pred, average=None, zero_division=np.nan))
    with_positive = [j for j in range(y.shape[1]) if y[:, j].sum() > 0]
    expected_map = np.mean([average_precision_score(y[:, j], s[:, j]) for j in with_positive])
    assert m.mean_average_precision == pytest.approx(expected_map, abs=1e-12)
    assert m.labels_without_positive == y.shape[1] - len(with_positive) >= 1
    assert m.positives == y.sum() and m.predicted_positives == pred.sum()
    json.dumps(m.to_dict(), allow_nan=False)


def test_multilabel_undefined_figures_are_nan():
    y = np.zeros((3, 2), dtype=int)
    s = np.array([[0.1, 0.2], [0.5, 0.3], [0.0, 0.4]])  # 0.5 is not above 0.5: nothing predicted
    m = accuracy_metrics(s, y, MULTILABEL)
    assert m.accuracy == 1.0
    assert math.isnan(m.micro_f1) and math.isnan(m.macro_f1) and math.isnan(m.mean_average_precision)
    assert m.labels_without_positive == 2
    assert all(math.isnan(v) for v in m.label_precision + m.label_recall)
    d = m.to_dict()
    assert d["micro_f1"] is None and d["label_precision"] == [None, None]
    json.dumps(d, allow_nan=False)


def test_macro_f1_leaves_out_labels_that_are_zero_over_zero():
    y = np.array([[1, 0], [0, 0], [1, 0]])
    s = np.array([[0.9, 0.1], [0.2, 0.3], [0.4, 0.2]])  # label 1: no positive, none predicted
    pred = (s > 0.5).astype(int)
    m = accuracy_metrics(s, y, MULTILABEL)
    assert m.macro_f1 == pytest.approx(2 / 3) == f1_score(y, pred, average="macro", zero_division=np.nan)
    assert m.mean_average_precision == pytest.approx(1.0) and m.labels_without_positive == 1


def test_multilabel_rejects_bad_labels():
    with pytest.raises(ValueError, match="0 or 1"):
        accuracy_metrics(np.zeros((2, 3)), np.full((2, 3), 2), MULTILABEL)
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        accuracy_metrics(np.zeros((2, 3)), np.zeros(2), MULTILABEL)


def test_multilabel_flips_by_hand():
    ref = np.array([[0.9, 0.1, 0.6], [0.2, 0.4, 0.7], [0.8, 0.3, 0.2]])
    out = np.array([[0.9, 0.1, 0.4], [0.2, 0.4, 0.7], [0.3, 0.3, 0.55]])
    # flips: (0, 2) 0.6 -> 0.4, (2, 0) 0.8 -> 0.3, (2, 2) 0.2 -> 0.55
    f = fidelity_metrics(out, ref, MULTILABEL)
    assert f.flipped == 3 and f.flipped_per_label == (1, 0, 2)
    assert f.flipped_fraction == pytest.approx(3 / 9) and f.agreement == pytest.approx(6 / 9)
    assert f.top1_agreement is None
    assert fidelity_metrics(out, ref, MULTILABEL, threshold=0.35).flipped_per_label == (1, 0, 1)


# ---------------------------------------------------------------------------
# class_id


@pytest.mark.parametrize("shape", [(300,), (300, 1), (300, 7)])
def test_class_id_accuracy_matches_sklearn(shape):
    rng = np.random.default_rng(11)
    y = rng.integers(0, 4, shape)
    ids = np.where(rng.random(shape) < 0.7, y, rng.integers(0, 4, shape)).astype(np.int32)
    m = accuracy_metrics(ids, y, CLASS_ID)
    assert m.task == CLASS_ID and m.samples == 300
    assert m.accuracy == pytest.approx(accuracy_score(y.ravel(), ids.ravel()), abs=1e-12)


def test_class_id_labels_of_n_match_n_by_1_ids():
    ids = np.array([[2], [0], [1], [1]], dtype=np.int64)
    assert accuracy_metrics(ids, np.array([2, 0, 0, 1]), CLASS_ID).accuracy == 0.75


def test_class_id_agreement_by_hand():
    ref = np.array([[1, 2, 3], [0, 0, 5]], dtype=np.int32)
    out = np.array([[1, 2, 4], [0, 1, 5]], dtype=np.int32)
    f = fidelity_metrics(out, ref, CLASS_ID)
    assert f.agreement == pytest.approx(4 / 6) and f.flipped is None and f.clipped is None


def test_class_id_rejects_fractional_ids_and_other_shapes():
    with pytest.raises(ValueError, match="whole-number"):
        accuracy_metrics(np.array([0.5, 1.0]), np.array([0, 1]), CLASS_ID)
    with pytest.raises(ValueError, match="do not match"):
        accuracy_metrics(np.array([0, 1]), np.array([[0, 1], [1, 1]]), CLASS_ID)


# ---------------------------------------------------------------------------
# Regression: max error and clipping


@pytest.mark.parametrize("seed", range(3))
def test_regression_max_error_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=80)
    p = y + rng.normal(scale=0.4, size=80)
    m = accuracy_metrics(p, y, REGRESSION)
    assert m.max_error == pytest.approx(max_error(y, p), abs=1e-12)
    assert m.mae == pytest.approx(mean_absolute_error(y, p), abs=1e-12)
    y2, p2 = y.reshape(40, 2), p.reshape(40, 2)  # several outputs: the largest over all of them
    m2 = accuracy_metrics(p2, y2, REGRESSION)
    assert m2.max_error == pytest.approx(max(max_error(y2[:, j], p2[:, j]) for j in range(2)), abs=1e-12)


def test_clipping_counted_by_hand():
    ref = np.array([-2.0, -1.0, 0.0, 1.0, 2.0, 3.0]).reshape(-1, 1)  # range 5: margin 0.05
    out = np.clip(ref, -1.5, 2.0)
    # at the max 2.0: ref 2.0 (not beyond) and ref 3.0 (beyond); at the min -1.5: ref -2.0 (beyond)
    f = fidelity_metrics(out, ref, REGRESSION)
    assert f.clipped == 2 and f.agreement is None
    assert fidelity_metrics(ref, ref, REGRESSION).clipped == 0


def test_clipping_margin_and_tolerance():
    ref = np.array([0.0, 1.0, 2.0, 5.0, 2.04, 2.06]).reshape(-1, 1)  # range 5: margin 0.05
    out = np.array([0.0, 1.0, 2.0, 2.0, 2.0, 2.0 * (1 - 5e-7)]).reshape(-1, 1)
    # 5.0 beyond by 3 (counts), 2.04 by 0.04 (< margin), 2.06 by 0.06 with a value within 1e-6 of 2.0 (counts)
    assert fidelity_metrics(out, ref, REGRESSION).clipped == 2
    out[5, 0] = 2.0 * (1 - 2e-6)  # no longer at the max
    assert fidelity_metrics(out, ref, REGRESSION).clipped == 1


def test_clipping_uses_one_range_for_the_whole_output():
    ref = np.array([[0.0, 10.0], [1.0, 20.0], [2.0, 30.0]])
    out = np.array([[0.0, 10.0], [1.0, 20.0], [2.0, 25.0]])  # 25 is the variant's max, ref 30
    assert fidelity_metrics(out, ref, REGRESSION).clipped == 1
    assert fidelity_metrics(out, ref, EMBEDDING).clipped is None


# ---------------------------------------------------------------------------
# Sequence and segmentation


def test_sequence_accuracy_matches_sklearn_and_one_hot_labels():
    rng = np.random.default_rng(21)
    scores = rng.random((30, 12, 5))
    y = rng.integers(0, 5, (30, 12))
    expected = accuracy_score(y.ravel(), scores.argmax(-1).ravel())
    assert accuracy_metrics(scores, y, SEQUENCE).accuracy == pytest.approx(expected, abs=1e-12)
    assert accuracy_metrics(scores, np.eye(5)[y], SEQUENCE).accuracy == pytest.approx(expected, abs=1e-12)


def test_sequence_agreement_by_hand():
    ref = np.zeros((2, 3, 4))
    ref[..., 1] = 1.0
    out = ref.copy()
    out[0, 0] = [0, 0, 2, 0]
    out[1, 2] = [3, 0, 0, 0]
    f = fidelity_metrics(out, ref, SEQUENCE)
    assert f.agreement == pytest.approx(4 / 6) and f.top1_agreement is None


def test_segmentation_figures_match_sklearn():
    rng = np.random.default_rng(31)
    scores = rng.random((6, 8, 8, 5))
    scores[..., 4] = -1.0  # class 4 is never predicted ...
    y = rng.integers(0, 4, (6, 8, 8))  # ... and never labelled: left out
    p = scores.argmax(-1)
    m = accuracy_metrics(scores, y, SEGMENTATION)
    assert m.accuracy == pytest.approx(accuracy_score(y.ravel(), p.ravel()), abs=1e-12)
    assert m.mean_iou == pytest.approx(jaccard_score(y.ravel(), p.ravel(), average="macro"), abs=1e-12)
    assert m.iou_classes == 4 and m.threshold is None


def test_mean_iou_by_hand():
    y = np.array([[[0, 0], [1, 2]]])
    scores = np.eye(3)[np.array([[[0, 1], [1, 1]]])]
    # class 0: 1 / 2, class 1: 1 / 3, class 2: 0 / 1
    m = accuracy_metrics(scores, y, SEGMENTATION)
    assert m.mean_iou == pytest.approx((1 / 2 + 1 / 3 + 0) / 3) and m.accuracy == 0.5


@pytest.mark.parametrize("label_shape", [(5, 6, 6), (5, 6, 6, 1)])
def test_sigmoid_mask_segmentation_matches_sklearn(label_shape):
    rng = np.random.default_rng(41)
    y = rng.integers(0, 2, (5, 6, 6))
    scores = np.round(np.clip(rng.normal(0.3 + 0.4 * y, 0.25), 0, 1), 1)[..., None]
    p = (scores[..., 0] > 0.4).astype(int)
    m = accuracy_metrics(scores, y.reshape(label_shape), SEGMENTATION, threshold=0.4)
    assert m.accuracy == pytest.approx(accuracy_score(y.ravel(), p.ravel()), abs=1e-12)
    assert m.mean_iou == pytest.approx(jaccard_score(y.ravel(), p.ravel(), average="macro"), abs=1e-12)
    assert m.threshold == 0.4


def test_segmentation_agreement_by_hand():
    ref = np.array([0.2, 0.7, 0.9, 0.4]).reshape(1, 2, 2, 1)
    out = np.array([0.6, 0.7, 0.3, 0.4]).reshape(1, 2, 2, 1)
    assert fidelity_metrics(out, ref, SEGMENTATION).agreement == pytest.approx(0.5)


# ---------------------------------------------------------------------------
# Embedding and the agreement of the existing tasks


def test_embedding_has_fidelity_only():
    ref = np.array([[1.0, 0.0], [0.0, 2.0]])
    out = np.array([[1.0, 1.0], [0.0, 2.0]])
    e = evaluate_outputs(out, labels=np.zeros((2, 2)), reference_outputs=ref, task=EMBEDDING, output="emb")
    assert e.accuracy is None and e.output == "emb"
    assert e.fidelity.agreement is None and e.fidelity.flipped is None and e.fidelity.clipped is None
    assert e.fidelity.cosine_similarity == pytest.approx((1 / math.sqrt(2) + 1) / 2)
    assert e.fidelity.max_abs_diff == 1.0
    with pytest.raises(ValueError, match="no accuracy"):
        accuracy_metrics(out, np.zeros((2, 2)), EMBEDDING)


def test_agreement_of_binary_and_multiclass():
    ref = np.array([[0.1], [0.6], [0.7], [0.2]])
    out = np.array([[0.1], [0.4], [0.7], [0.2]])
    assert fidelity_metrics(out, ref, BINARY).agreement == pytest.approx(0.75)
    ref = np.array([[0.7, 0.3], [0.2, 0.8], [0.6, 0.4]])
    out = np.array([[0.3, 0.7], [0.2, 0.8], [0.6, 0.4]])
    f = fidelity_metrics(out, ref, MULTICLASS)
    assert f.agreement == pytest.approx(2 / 3) == f.top1_agreement
    assert fidelity_metrics(out, ref, REGRESSION).agreement is None


def test_evaluation_to_dict_names_the_output():
    e = evaluate_outputs(np.array([[0.2, 0.8]]), output="head")
    assert e.to_dict() == {"task": MULTICLASS, "output": "head"}
    assert Evaluation(task=BINARY).to_dict() == {"task": BINARY}


# ---------------------------------------------------------------------------
# infer_task: one test per rule


def _infer(reference, labels=None, activation="", dtype=None, name="out") -> TaskChoice:
    reference = np.asarray(reference)
    spec = _spec(reference.shape, dtype=dtype or str(reference.dtype), activation=activation, name=name)
    return infer_task(spec, reference, labels)


def test_rule_integer_output_is_class_id():
    c = _infer(np.array([0, 2, 1], dtype=np.int32))
    assert c == TaskChoice(CLASS_ID, "integer output")
    assert _infer(np.zeros((3, 5), dtype=np.int64), labels=np.ones((3, 5), dtype=int)).task == CLASS_ID


def test_rule_single_value_in_unit_is_binary():
    assert _infer(np.array([[0.1], [0.9], [0.5]])).task == BINARY
    assert _infer(np.array([0.1, 0.9]), labels=np.array([0, 1])).task == BINARY


def test_rule_single_value_with_non_binary_labels_is_regression():
    c = _infer(np.array([[0.1], [0.9]]), labels=np.array([0.5, 2.0]))
    assert c.task == REGRESSION and "not 0/1" in c.reason


@pytest.mark.parametrize(
    ("labels", "activation", "shown"),
    [
        (np.array([-1, 1, 1, -1]), "sigmoid", "-1, 1"),  # +-1 labels beside a sigmoid
        (np.array([0, 2, 1, 2]), "sigmoid", "0, 1, 2"),  # class ids beside a sigmoid
        (np.array([0.0, 2.5, 0.3, 1.0]), "sigmoid", "0, 0.3, 1, 2.5"),  # a target a sigmoid never reaches
        (np.array([0, 2, 1, 2]), "", "0, 1, 2"),  # no known activation, but values all in [0, 1]
    ],
)
def test_rule_single_value_refuses_class_labels_beside_a_score(labels, activation, shown):
    """A score in [0, 1] against labels outside [0, 1] is not a regression: MAE against -1/+1 would be a
    figure about nothing. Refused, naming the values and the override."""
    reference = np.array([[0.1], [0.9], [0.6], [0.2]])
    with pytest.raises(ValueError, match="binary labels must be 0 or 1") as caught:
        _infer(reference, labels=labels, activation=activation, name="prob")
    assert f"hold {shown}, outside [0, 1]" in str(caught.value) and "--task prob=regression" in str(caught.value)
    assert check_task("regression", _spec(reference.shape, name="prob"), reference, labels) is None


def test_rule_single_value_soft_or_linear_labels_stay_regression():
    reference = np.array([[0.1], [0.9], [0.6], [0.2]])
    soft = _infer(reference, labels=np.array([0.2, 0.8, 0.5, 0.1]), activation="sigmoid")
    assert soft.task == REGRESSION  # targets in [0, 1]: what a sigmoid regression head is for
    linear = _infer(reference, labels=np.array([0, 2, 1, 2]), activation="linear")
    assert linear.task == REGRESSION  # an unbounded head: its values may well be near 2


def test_rule_single_value_outside_unit_is_regression():
    assert _infer(np.array([[1.5], [-2.0]]), labels=np.array([0, 1])).task == REGRESSION
    assert _infer(np.array([3.2, 7.1])).task == REGRESSION


def test_rule_single_value_activation_beats_values():
    assert _infer(np.array([[0.2], [0.7]]), activation="sigmoid").reason.startswith("sigmoid activation")
    c = _infer(np.array([[0.2], [0.7]]), activation="linear", name="score")
    assert c.task == REGRESSION and "--task score=binary" in c.reason


def test_rule_softmax_is_multiclass():
    c = _infer(np.array([[0.2, 0.3, 0.5], [0.1, 0.1, 0.2]]), activation="softmax")  # activation beats values
    assert c == TaskChoice(MULTICLASS, "softmax activation, 3 classes")


def test_rule_probability_rows_are_multiclass():
    rng = np.random.default_rng(0)
    c = _infer(rng.dirichlet(np.ones(4), size=20) * (1 + 5e-4))
    assert c.task == MULTICLASS and "4 classes" in c.reason


def test_rule_sigmoid_is_multilabel():
    assert _infer(np.full((3, 4), 0.25), activation="sigmoid").task == MULTILABEL  # rows sum to 1, yet sigmoid


def test_rule_unit_values_not_summing_to_one_are_multilabel():
    c = _infer(np.array([[0.9, 0.8, 0.1, 0.0, 0.3], [0.1, 0.2, 0.3, 0.4, 0.5]]))
    assert c == TaskChoice(MULTILABEL, "values in [0,1] and rows do not sum to 1, 5 labels")


def test_rule_multi_hot_labels_are_multilabel():
    probs = np.array([[0.2, 0.8], [0.6, 0.4], [0.5, 0.5]])
    c = _infer(probs, labels=np.array([[1, 1], [1, 0], [0, 0]]), activation="softmax")  # labels beat activation
    assert c.task == MULTILABEL and "multi-hot" in c.reason


def test_rule_class_id_labels_are_multiclass():
    c = _infer(np.array([[0.9, 0.8, 0.1], [0.1, 0.2, 0.3]]), labels=np.array([0, 2]))  # labels beat values
    assert c.task == MULTICLASS and "3 classes" in c.reason


def test_class_ids_that_look_like_another_outputs_labels_are_not_scored():
    # A 16-wide unbounded output (an embedding) with class ids 0-2 (another output's labels): the ids use
    # 3 of its 16 columns and, by construction, the top-1 of 90 of the 100 samples lies in columns 3-15.
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 100)
    embedding = rng.normal(size=(100, 16))
    top = np.where(np.arange(100) < 90, 3 + np.arange(100) % 13, y)
    embedding[np.arange(100), top] = 10.0
    c = _infer(embedding, labels=y, name="embedding")
    assert c.task == EMBEDDING and "3 of its 16 columns" in c.reason and "90% of samples" in c.reason
    assert "--task embedding=multiclass" in c.reason
    # Logits of a classifier evaluated on 3 of its 16 classes: its top-1 lies inside them (90 of 100).
    logits = embedding.copy()
    logits[np.arange(100), top] = 0.0
    logits[np.arange(100), np.where(np.arange(100) < 90, y, 3 + np.arange(100) % 13)] = 10.0
    assert _infer(logits, labels=y).task == MULTICLASS
    # A softmax (or probability rows) is a classifier whatever its top-1: scored against the labels.
    assert _infer(embedding, labels=y, activation="softmax").task == MULTICLASS
    probs = np.exp(embedding) / np.exp(embedding).sum(axis=1, keepdims=True)
    assert _infer(probs, labels=y).task == MULTICLASS
    # Ids using more than half the columns: a classifier's labels, scored.
    assert _infer(embedding[:, :5], labels=y).task == MULTICLASS
    # The user's --task outranks the doubt.
    check_task(MULTICLASS, _spec(embedding.shape), embedding, y)


def test_rule_one_hot_labels_are_multiclass_unless_sigmoid():
    out, y = np.array([[0.9, 0.8], [0.1, 0.2]]), np.array([[1, 0], [0, 1]])
    assert _infer(out, labels=y).task == MULTICLASS
    assert _infer(out, labels=y, activation="sigmoid").task == MULTILABEL


def test_rule_float_labels_of_the_output_shape_are_regression():
    c = _infer(np.zeros((2, 3)), labels=np.array([[0.5, 1.0, 2.0], [1.0, 1.0, 1.0]]))
    assert c.task == REGRESSION


def test_rule_unbounded_unlabelled_is_embedding():
    c = _infer(np.array([[2.5, -1.0, 0.3], [0.1, 4.0, -2.0]]), name="logits")
    assert c.task == EMBEDDING and "use --task logits=multiclass if these are logits" in c.reason
    assert _infer(np.array([[0.2, 0.3], [0.5, 0.1]]), activation="linear").task == EMBEDDING


def test_rule_sequence():
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(6), size=(4, 10))
    assert _infer(probs).task == SEQUENCE
    logits = rng.normal(size=(4, 10, 6))
    assert _infer(logits, labels=rng.integers(0, 6, (4, 10)), activation="linear").task == SEQUENCE
    c = _infer(logits, name="tags")
    assert c.task == EMBEDDING and "--task tags=sequence" in c.reason


def test_rule_segmentation():
    rng = np.random.default_rng(2)
    assert _infer(rng.dirichlet(np.ones(3), size=(2, 4, 4))).task == SEGMENTATION
    assert _infer(rng.normal(size=(2, 4, 4, 3)), labels=rng.integers(0, 3, (2, 4, 4))).task == SEGMENTATION


@pytest.mark.parametrize("label_shape", [(2, 4, 4), (2, 4, 4, 1)])
def test_rule_sigmoid_mask_with_binary_labels_is_segmentation(label_shape):
    rng = np.random.default_rng(3)
    mask = rng.random((2, 4, 4, 1))
    y = rng.integers(0, 2, label_shape)
    assert _infer(mask, labels=y, activation="sigmoid").task == SEGMENTATION


def test_rule_anything_else():
    rng = np.random.default_rng(4)
    img = rng.normal(size=(2, 4, 4, 3))
    assert _infer(img, labels=rng.normal(size=(2, 4, 4, 3))).task == REGRESSION
    assert _infer(rng.random((2, 3, 2, 2, 2))).task == EMBEDDING
    assert _infer(rng.random((2, 5, 1)), labels=rng.random((2, 5))).task == REGRESSION


def test_labels_that_fit_no_rule_are_an_error():
    with pytest.raises(ValueError, match="fit no task"):
        _infer(np.zeros((4, 3)), labels=np.zeros((4, 7)))
    with pytest.raises(ValueError, match="samples"):
        _infer(np.zeros((4, 3)), labels=np.zeros(5))
    with pytest.raises(ValueError, match="do not fit"):
        _infer(np.array([0, 1, 2], dtype=np.int32), labels=np.zeros((3, 2)))


def test_check_task_refuses_what_cannot_apply():
    single = np.array([[0.2], [0.9]])
    with pytest.raises(ValueError, match=r"multiclass.*'score'.*\(\?, 1\) float32"):
        check_task(MULTICLASS, _spec(single.shape, name="score"), single)
    with pytest.raises(ValueError, match="binary"):
        check_task(BINARY, _spec((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="sequence"):
        check_task(SEQUENCE, _spec((2, 3, 4)), np.zeros((2, 3, 4)), labels=np.full((2, 3), 4))
    with pytest.raises(ValueError, match="class_id"):
        check_task(CLASS_ID, _spec((2,)), np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="unknown task"):
        check_task("ranking", _spec((2,)), np.zeros(2))
    for task in (REGRESSION, EMBEDDING, MULTILABEL, MULTICLASS):
        check_task(task, _spec((2, 3)), np.zeros((2, 3)))
    check_task(BINARY, _spec((2, 1)), single, labels=np.array([0, 1]))
    assert set(TASKS) == {BINARY, MULTICLASS, MULTILABEL, CLASS_ID, REGRESSION, SEQUENCE, SEGMENTATION, EMBEDDING}


# ---------------------------------------------------------------------------
# ModelEvaluation


def _two_outputs():
    ref = {
        "cls": np.array([[0.7, 0.3], [0.2, 0.8], [0.6, 0.4], [0.1, 0.9]]),
        "reg": np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0]]),
    }
    out = {"cls": ref["cls"].copy(), "reg": ref["reg"].copy()}
    out["cls"][0] = [0.3, 0.7]  # one of four top-1 decisions moves: 0.75
    return ref, out


def test_worst_output_is_the_lowest_score():
    ref, out = _two_outputs()
    out["reg"][1] = [1.0, 0.0]  # orthogonal to [0, 1]: cosine 0
    out["reg"][2] = [1.0, -1.0]  # orthogonal to [1, 1]: cosine 0; mean 0.5 < 0.75
    m = evaluate_model(out, reference=ref, tasks={"cls": MULTICLASS, "reg": REGRESSION}, primary="cls")
    assert m.output("cls").fidelity.agreement == pytest.approx(0.75)
    assert m.output("reg").fidelity.cosine_similarity == pytest.approx(0.5)
    assert m.fidelity_output == "reg" and m.fidelity is m.output("reg").fidelity
    assert m.task == MULTICLASS  # headline task stays the primary's


def test_worst_output_when_the_classifier_is_worse():
    ref, out = _two_outputs()
    out["reg"] = out["reg"] * 1.01  # cosine stays 1
    m = evaluate_model(out, reference=ref, tasks={"cls": MULTICLASS, "reg": REGRESSION}, primary="reg")
    assert m.fidelity_output == "cls" and m.fidelity.top1_agreement == pytest.approx(0.75)
    out["reg"][0, 0] = np.nan  # NaN cosine counts as the worst
    m = evaluate_model(out, reference=ref, tasks={"cls": MULTICLASS, "reg": REGRESSION}, primary="reg")
    assert m.fidelity_output == "reg"


def test_primary_drives_task_and_accuracy():
    ref, out = _two_outputs()
    labels = {"cls": np.array([1, 1, 0, 1]), "reg": np.array([[1.0, 0.5], [0.0, 1.0], [1.0, 2.0], [2.0, 0.0]])}
    tasks = {"cls": MULTICLASS, "reg": REGRESSION}
    m = evaluate_model(out, labels=labels, reference=ref, tasks=tasks, primary="reg")
    assert m.task == REGRESSION and m.primary == "reg"
    assert m.accuracy.mae == pytest.approx(mean_absolute_error(labels["reg"], out["reg"]))
    m = evaluate_model(out, labels=labels, reference=ref, tasks=tasks, primary="cls")
    assert m.task == MULTICLASS
    assert m.accuracy.accuracy == pytest.approx(accuracy_score(labels["cls"], out["cls"].argmax(1)))
    assert [e.output for e in m.outputs] == ["cls", "reg"]
    d = m.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["primary"] == "cls" and d["task"] == MULTICLASS and d["fidelity_output"] == "cls"
    assert [o["output"] for o in d["outputs"]] == ["cls", "reg"] and d["unscored"] == []


def test_missing_output_goes_to_unscored_and_is_never_paired_by_position():
    ref = {"a": np.array([[0.9], [0.1]]), "b": np.array([[0.2], [0.8]])}
    out = {"b": np.array([[0.2], [0.8]]), "c": np.array([[0.9], [0.1]])}  # "a" missing, "c" is extra
    m = evaluate_model(out, reference=ref, tasks={"a": BINARY, "b": BINARY}, primary="a")
    assert [e.output for e in m.outputs] == ["b"] and m.output("b").fidelity.flipped == 0
    assert [name for name, _ in m.unscored] == ["a", "c"]
    assert "no output" in dict(m.unscored)["a"]
    assert m.task is None and m.accuracy is None and m.fidelity_output == "b"
    with pytest.raises(KeyError):
        m.output("a")
    m = evaluate_model(out, reference={"b": ref["b"]}, tasks={"b": BINARY, "c": BINARY}, primary="b")
    assert dict(m.unscored)["c"] == "the original model has no output of that name"


def test_shape_mismatch_goes_to_unscored():
    ref = {"x": np.zeros((3, 4)), "y": np.zeros((3, 2))}
    out = {"x": np.zeros((3, 5)), "y": np.zeros((3, 2))}
    m = evaluate_model(out, reference=ref, tasks={"x": EMBEDDING, "y": EMBEDDING}, primary="y")
    assert isinstance(m, ModelEvaluation) and m.names == ("y",)
    assert m.unscored[0][0] == "x" and "(3, 5)" in m.unscored[0][1]


def test_evaluate_model_refuses_bad_arguments():
    out = {"x": np.zeros((2, 1))}
    with pytest.raises(ValueError, match="primary"):
        evaluate_model(out, tasks={"x": BINARY}, primary="y")
    with pytest.raises(ValueError, match="unknown task"):
        evaluate_model(out, tasks={"x": "ranking"}, primary="x")
    with pytest.raises(ValueError, match="'z'"):
        evaluate_model(out, labels={"z": np.zeros(2)}, tasks={"x": BINARY}, primary="x")
    with pytest.raises(ValueError, match=r"output 'x' \(binary\): .*0 or 1"):
        evaluate_model(out, labels={"x": np.array([0, 2])}, tasks={"x": BINARY}, primary="x")


def test_nonfinite_samples_counted_by_hand():
    a = np.zeros((5, 2))
    b = np.zeros((5, 3, 2))
    a[1, 0] = np.nan
    b[1, 2, 1] = np.inf
    b[3, 0, 0] = -np.inf
    ids = np.arange(5, dtype=np.int32)
    assert nonfinite_samples({"a": a, "b": b, "ids": ids}) == 2
    assert nonfinite_samples({"ids": ids}) == 0 and nonfinite_samples({}) == 0
    with pytest.raises(ValueError, match="samples"):
        nonfinite_samples({"a": a, "short": np.zeros(4)})


def test_class_ids_beyond_the_output_s_classes_are_named():
    reference = np.full((4, 3), 1 / 3)
    with pytest.raises(ValueError, match=r"class ids 0\.\.5, but it has 3 classes \(ids 0\.\.2\)"):
        _infer(reference, labels=np.array([0, 5, 1, 2]), activation="softmax", name="probs")
