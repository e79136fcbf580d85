"""Which task one model output is: inferred from its spec, its values and its labels (pure numpy).

``infer_task(spec, reference, labels)`` looks at one output at a time: its
``TensorSpec`` (dtype and the last layer's activation), the original model's
output array on the evaluation data (``reference``, samples on axis 0) and, when
the user gave them, the labels for that output. Evidence ranks
**labels > activation > values**: labels say what the user scores against; the
activation says what the layer computes; the values are the weakest hint.
"Probability rows" below means finite, non-negative values whose last-axis sums
are all within 1e-3 of 1. Activations: "softmax"/"log_softmax" are softmax,
"sigmoid"/"hard_sigmoid" sigmoid; any other known name ("linear", "relu", ...)
says the values are not probabilities; "" is unknown.

Rules, first match wins:

1. Integer dtype -> ``class_id`` ("integer output").
2. One value per sample, ``(n,)`` or ``(n, 1)``: labels present and not all 0/1
   -> ``regression`` (a ValueError when they reach outside [0, 1] on a sigmoid output, or are
   a few whole numbers beside values all in [0, 1]: class labels in another encoding); else
   sigmoid -> ``binary``; else another known activation
   -> ``regression``; else values in [0, 1] -> ``binary``, otherwise ``regression``.
3. ``(n, k)`` with ``k > 1``:
   labels ``(n,)``/``(n, 1)`` class ids in [0, k) -> ``multiclass``, except on an
   output that is neither softmax nor probability rows when the ids use at most half
   its columns and the original's top-1 falls outside them for most samples (the
   labels look like another output's) -> ``embedding``, not scored against them; labels
   ``(n, k)`` multi-hot with some row sum != 1 -> ``multilabel``; labels one-hot
   -> ``multiclass`` (``multilabel`` with a sigmoid activation); other ``(n, k)``
   labels -> ``regression``. Without labels: softmax -> ``multiclass``; sigmoid ->
   ``multilabel``; another known activation -> ``embedding``; probability rows ->
   ``multiclass``; values in [0, 1] whose rows do not sum to 1 -> ``multilabel``;
   unbounded -> ``embedding`` (the reason says to use ``--task NAME=multiclass``
   if these are logits).
4. ``(n, t, k)`` (``sequence``) or ``(n, h, w, k)`` (``segmentation``) with ``k > 1``:
   labels ``(n, t)``/``(n, h, w)`` class ids in [0, k), or one-hot of the output's
   shape -> that task; without labels, softmax or probability rows -> that task.
   ``(n, h, w, 1)`` -> ``segmentation`` when sigmoid (or, with labels and an
   unknown activation, values in [0, 1]) and the labels, if any, are 0/1 of shape
   ``(n, h, w)`` or ``(n, h, w, 1)``. Otherwise rule 5.
5. Anything else: labels with as many values per sample as the output ->
   ``regression``; no labels -> ``embedding``.

Labels that fit none of these (another sample count, another shape) are a
ValueError, never silently dropped. ``check_task`` tests a task the user chose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

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
    as_array,
    is_in_unit,
    is_whole,
    is_zero_one,
    same_n,
)
from core.evaluation.metrics import accuracy_metrics
from core.models.interface import TensorSpec

__all__ = ["TaskChoice", "infer_task", "check_task", "SOFTMAX_ACTIVATIONS", "SIGMOID_ACTIVATIONS"]

SOFTMAX_ACTIVATIONS = ("softmax", "log_softmax")
SIGMOID_ACTIVATIONS = ("sigmoid", "hard_sigmoid")
ROW_SUM_TOLERANCE = 1e-3

_LOGITS_HINT = "use --task {name}=multiclass if these are logits"
_NEEDS = {
    BINARY: "one value per sample, (n,) or (n, 1)",
    MULTICLASS: "(n, k) class scores with k > 1",
    MULTILABEL: "(n, k) label scores with k > 1",
    SEQUENCE: "(n, t, k) class scores with k > 1",
    SEGMENTATION: "(n, h, w, k) class scores or an (n, h, w, 1) mask",
    CLASS_ID: "whole-number class ids (an integer output)",
}


@dataclass(frozen=True)
class TaskChoice:
    """The task chosen for one output and the evidence, as a short sentence for the user."""

    task: str
    reason: str


def _activation(spec: TensorSpec) -> str:
    """ "softmax", "sigmoid", another known activation's name (not probabilities) or "" (unknown)."""
    act = (spec.activation or "").strip().lower()
    if act in SOFTMAX_ACTIVATIONS:
        return "softmax"
    if act in SIGMOID_ACTIVATIONS:
        return "sigmoid"
    return act


def _describe_act(act: str) -> str:
    return f"{act} activation" if act else "rows that are not probabilities"


def _probability_rows(a: np.ndarray) -> bool:
    if not (np.all(np.isfinite(a)) and a.min() >= 0.0):
        return False
    return bool(np.all(np.abs(a.sum(axis=-1, dtype=np.float64) - 1.0) <= ROW_SUM_TOLERANCE))


def _class_id_labels(lab: np.ndarray, shape: tuple[int, ...], k: int) -> bool:
    """`lab` holds whole-number ids in [0, k) of shape `shape` (or `shape` + (1,))."""
    if lab.shape == shape + (1,):
        lab = lab[..., 0]
    if lab.shape != shape or not is_whole(lab):
        return False
    return bool(lab.min() >= 0 and lab.max() < k)


def _one_hot(lab: np.ndarray) -> bool:
    return is_zero_one(lab) and bool(np.all(lab.sum(axis=-1) == 1))


def _per_sample(a: np.ndarray) -> int:
    return int(np.prod(a.shape[1:])) if a.ndim > 1 else 1


def _single_value(ref: np.ndarray, lab: np.ndarray | None, act: str, name: str) -> TaskChoice:
    if lab is not None and not is_zero_one(lab):
        _refuse_class_labels_of_a_score(ref, lab, act, name)
        return TaskChoice(REGRESSION, "one value per sample and labels that are not 0/1")
    if act == "sigmoid":
        return TaskChoice(BINARY, "sigmoid activation, one value per sample")
    if act:
        return TaskChoice(
            REGRESSION, f"{act} activation, one value per sample; use --task {name}=binary if these are probabilities"
        )
    if is_in_unit(ref):
        return TaskChoice(BINARY, "one value per sample, all in [0,1]" + (", 0/1 labels" if lab is not None else ""))
    return TaskChoice(REGRESSION, "one value per sample, not all in [0,1]")


MAX_CLASS_LIKE_VALUES = 10  # whole-number labels with at most this many values look like class labels


def _refuse_class_labels_of_a_score(ref: np.ndarray, lab: np.ndarray, act: str, name: str) -> None:
    """ValueError when labels that are not 0/1 sit beside a score in [0, 1] they cannot be compared with.

    A sigmoid output (or, with no known activation, values all in [0, 1]) never reaches a label outside
    [0, 1]; such labels are class labels in another encoding (-1/+1, ids 0..2) far more often than targets
    of a regression, and an MAE against them would be a figure about nothing. Labels inside [0, 1] (soft
    targets) still score as regression; `--task NAME=regression` scores the others too."""
    values = lab.astype(np.float64, copy=False)
    if is_in_unit(values):
        return
    class_like = is_whole(values) and len(np.unique(values)) <= MAX_CLASS_LIKE_VALUES
    if act == "sigmoid" or (act == "" and is_in_unit(ref) and class_like):
        found = np.unique(values)
        shown = ", ".join(f"{v:g}" for v in found[:MAX_CLASS_LIKE_VALUES])
        source = "its sigmoid activation keeps its values" if act == "sigmoid" else "its values are all"
        raise ValueError(
            f"the labels for output {name!r} hold {shown}{', ...' if len(found) > MAX_CLASS_LIKE_VALUES else ''}"
            f", outside [0, 1], where {source} in [0, 1]: binary labels must be 0 or 1; "
            f"use --task {name}=regression to score these values as they are"
        )


def _foreign_labels(ref: np.ndarray, ids: np.ndarray, act: str, name: str) -> TaskChoice | None:
    """Class ids that do not look like this output's labels, as an ``embedding`` choice (not scored
    against them), else None. Only for an output with no class structure of its own (no softmax, not
    probability rows: logits or an embedding): the labels use at most half its columns and the
    original model's top-1 falls outside those classes for most samples. Logits of a classifier
    evaluated on a few of its classes put most top-1s inside them; an embedding's columns are no classes."""
    k = ref.shape[-1]
    if act == "softmax" or _probability_rows(ref):
        return None
    used = np.unique(ids)
    outside = float(np.mean(~np.isin(ref.argmax(axis=-1), used)))
    if 2 * len(used) > k or outside <= 0.5:
        return None
    return TaskChoice(
        EMBEDDING,
        f"the class-id labels use {len(used)} of its {k} columns and the original model's top-1 falls outside "
        f"them for {outside:.0%} of samples: they do not look like this output's labels, so it is not scored "
        f"against them; use --task {name}=multiclass if they are",
    )


def _two_d(ref: np.ndarray, lab: np.ndarray | None, act: str, name: str) -> TaskChoice | None:
    n, k = ref.shape
    if lab is not None:
        if _class_id_labels(lab, (n,), k):
            foreign = _foreign_labels(ref, lab.reshape(n), act, name)
            return foreign or TaskChoice(MULTICLASS, f"class-id labels, {k} classes")
        if lab.shape in ((n,), (n, 1)) and is_whole(lab) and k > 1:
            low, high = int(lab.min()), int(lab.max())
            raise ValueError(
                f"the labels for output {name!r} are class ids {low}..{high}, but it has {k} classes (ids 0..{k - 1})"
            )
        if lab.shape != ref.shape:
            return None
        if is_zero_one(lab):
            if not np.all(lab.sum(axis=1) == 1):
                return TaskChoice(MULTILABEL, f"multi-hot labels, {k} labels")
            if act == "sigmoid":
                return TaskChoice(MULTILABEL, f"sigmoid activation, {k} labels (one positive per row)")
            return TaskChoice(MULTICLASS, f"one-hot labels, {k} classes")
        return TaskChoice(REGRESSION, "float labels of the output's shape, not one-hot or multi-hot")
    if act == "softmax":
        return TaskChoice(MULTICLASS, f"softmax activation, {k} classes")
    if act == "sigmoid":
        return TaskChoice(MULTILABEL, f"sigmoid activation, {k} labels")
    hint = _LOGITS_HINT.format(name=name or "NAME")
    if act:
        return TaskChoice(EMBEDDING, f"{act} activation and no labels; {hint}")
    if _probability_rows(ref):
        return TaskChoice(MULTICLASS, f"non-negative rows summing to 1, {k} classes")
    if is_in_unit(ref):
        return TaskChoice(MULTILABEL, f"values in [0,1] and rows do not sum to 1, {k} labels")
    return TaskChoice(EMBEDDING, f"unbounded values and no labels; {hint}")


def _positions(ref: np.ndarray, lab: np.ndarray | None, act: str) -> TaskChoice | None:
    task = SEQUENCE if ref.ndim == 3 else SEGMENTATION
    where = "per position" if task == SEQUENCE else "per pixel"
    positions, k = ref.shape[:-1], ref.shape[-1]
    if k > 1:
        if lab is not None:
            if _class_id_labels(lab, positions, k):
                return TaskChoice(task, f"class-id labels {where}, {k} classes")
            if lab.shape == ref.shape and _one_hot(lab):
                return TaskChoice(task, f"one-hot labels {where}, {k} classes")
            return None
        if act == "softmax":
            return TaskChoice(task, f"softmax activation, {k} classes {where}")
        if not act and _probability_rows(ref):
            return TaskChoice(task, f"non-negative rows summing to 1, {k} classes {where}")
        return None
    if task != SEGMENTATION:
        return None
    if lab is None:
        return TaskChoice(SEGMENTATION, "sigmoid activation, a one-channel mask") if act == "sigmoid" else None
    mask_labels = lab.shape in (positions, ref.shape) and is_zero_one(lab)
    if mask_labels and (act == "sigmoid" or (not act and is_in_unit(ref))):
        return TaskChoice(SEGMENTATION, "one-channel mask in [0,1] with 0/1 labels per pixel")
    return None


def _labels_for(ref: np.ndarray, labels: Any) -> np.ndarray | None:
    if labels is None:
        return None
    lab = as_array(labels, "labels")
    same_n(ref, lab, "labels")
    return lab


def infer_task(spec: TensorSpec, reference: Any, labels: Any = None) -> TaskChoice:
    """Choose the task of one output by the rules in the module docstring.

    `reference`: the original model's output on the evaluation data, ``(n, ...)``;
    `labels`: this output's labels or None. Raises ValueError when the labels fit
    the output under no rule.
    """
    ref = as_array(reference, "reference outputs")
    lab = _labels_for(ref, labels)
    act = _activation(spec)
    name = spec.name or "NAME"
    choice: TaskChoice | None = None
    if spec.is_integer or np.issubdtype(ref.dtype, np.integer):
        choice = TaskChoice(CLASS_ID, "integer output")
    elif ref.ndim == 1 or (ref.ndim == 2 and ref.shape[1] == 1):
        if lab is None or _per_sample(lab) == 1:
            choice = _single_value(ref, lab, act, name)
    elif ref.ndim == 2:
        choice = _two_d(ref, lab, act, name)
    elif ref.ndim in (3, 4):
        choice = _positions(ref, lab, act)
    if choice is None:
        if lab is None and ref.ndim in (3, 4) and ref.shape[-1] > 1 and act == "sigmoid":
            choice = TaskChoice(
                EMBEDDING, "sigmoid scores per position (no multi-label task per position) and no labels"
            )
        elif lab is None and ref.ndim in (3, 4) and ref.shape[-1] > 1:
            task = SEQUENCE if ref.ndim == 3 else SEGMENTATION
            choice = TaskChoice(
                EMBEDDING, f"{_describe_act(act)} and no labels; use --task {name}={task} if these are logits"
            )
        elif lab is None:
            choice = TaskChoice(EMBEDDING, "no labels and no class structure")
        elif _per_sample(lab) == _per_sample(ref):
            choice = TaskChoice(REGRESSION, "labels with as many values per sample as the output")
        else:
            raise ValueError(
                f"labels of shape {lab.shape} fit no task for output {spec.name!r} "
                f"{spec.describe()} (values of shape {ref.shape})"
            )
    _check_labels(choice.task, spec, ref, lab)
    return choice


def _check_labels(task: str, spec: TensorSpec, ref: np.ndarray, lab: np.ndarray | None) -> None:
    if lab is None or task == EMBEDDING:
        return
    try:
        accuracy_metrics(ref, lab, task)
    except ValueError as exc:
        raise ValueError(
            f"the labels for output {spec.name!r} {spec.describe()} do not fit task {task!r}: {exc}"
        ) from None


def _shape_fits(task: str, ref: np.ndarray) -> bool:
    if task == BINARY:
        return ref.ndim == 1 or (ref.ndim == 2 and ref.shape[1] == 1)
    if task in (MULTICLASS, MULTILABEL):
        return ref.ndim == 2 and ref.shape[1] > 1
    if task == SEQUENCE:
        return ref.ndim == 3 and ref.shape[2] > 1
    if task == SEGMENTATION:
        return ref.ndim == 4
    if task == CLASS_ID:
        return is_whole(ref)
    return True


def check_task(task: str, spec: TensorSpec, reference: Any, labels: Any = None) -> None:
    """Raise ValueError with a clear sentence when `task` (chosen by the user) cannot apply to this output.

    Checks the task's name, the output's shape (see ``_NEEDS``; class_id needs
    whole-number values) and, when given, that the labels fit the task.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r} for output {spec.name!r}; expected one of {', '.join(TASKS)}")
    ref = as_array(reference, "reference outputs")
    if not _shape_fits(task, ref):
        raise ValueError(
            f"task {task!r} needs {_NEEDS[task]}; output {spec.name!r} is {spec.describe()} "
            f"(values of shape {ref.shape})"
        )
    _check_labels(task, spec, ref, _labels_for(ref, labels))
