"""Knowledge distillation with `keras.distillation.Distiller` (Keras >= 3.15).

The student is a width-scaled, freshly initialised copy of the teacher
(``"width:0.5"``), the structured-pruned teacher (``"pruned"``/``"pruned:0.5"``)
or a model file. Most saved classifiers end in softmax or sigmoid, while
Keras's `LogitsDistillation` expects logits, so `OutputDistillation` recovers
logits from probabilities (log p for softmax, log(p / (1 - p)) for sigmoid;
softmax is shift-invariant, so log p is a valid logit vector) before applying
the temperature; the loss is the KL divergence of the tempered distributions
times T^2. Without labels only that loss trains the student (the teacher's
outputs are soft targets).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.compress import measure as m
from core.compress import training as t
from core.compress.configs import DistillConfig, StructuredPruneConfig, MeasureConfig
from core.compress.flops import count_flops
from core.compress.structured import structured_prune, width_scaled_copy
from core.engine.context import CancelToken, Reporter, null_reporter
from core.errors import BadInputError

STAGE = "distill"
_EPS = 1e-7


@dataclass(frozen=True)
class DistillResult:
    """The trained student and what was measured about it next to the teacher.

    Parameters and FLOPs (2 x MACs of one sample) are counted; accuracies are on the
    validation data (None without labelled validation data); .tflite sizes in bytes and p50
    latencies in ms (batch 1, side by side) when `config.measure` asks for them, else None.
    """

    model: Any  # the trained student (keras.Model)
    student_kind: str  # "width:0.5", "pruned:0.5" or the file path
    used_labels: bool
    params_teacher: int
    params_student: int
    flops_teacher: int
    flops_student: int
    teacher_accuracy: float | None  # on the validation data, when given with labels
    student_accuracy: float | None
    scratch_accuracy: float | None  # same student trained from scratch (compare_scratch)
    tflite_size_teacher: int | None
    tflite_size_student: int | None
    latency_ms_teacher: float | None
    latency_ms_student: float | None
    latency_ratio: float | None  # student / teacher, p50 side by side
    history: dict[str, list[float]] = field(default_factory=dict)
    scratch_history: dict[str, list[float]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def summary(self) -> dict[str, Any]:
        """Every field but the model, as plain data for JSON."""
        return {k: v for k, v in self.__dict__.items() if k != "model"}


def _distillation_loss_class() -> type:
    keras = t.keras_module()
    ops = keras.ops
    # Keras is imported lazily (only the engine's child loads it), so the base class is a runtime value.
    base: Any = keras.distillation.DistillationLoss

    class OutputDistillation(base):
        """Tempered KL between teacher and student outputs given as probabilities or logits."""

        def __init__(self, temperature: float, kind: str, n_out: int) -> None:
            self.temperature = float(temperature)
            self.kind = kind
            self.n_out = n_out

        def _logits(self, out: Any) -> Any:
            if self.kind == t.SOFTMAX:
                return ops.log(ops.clip(out, _EPS, 1.0))
            if self.kind == t.SIGMOID:
                p = ops.clip(out, _EPS, 1.0 - _EPS)
                return ops.log(p) - ops.log(1.0 - p)
            return out

        def compute_loss(self, teacher_outputs: Any, student_outputs: Any, **kwargs: Any) -> Any:
            T = self.temperature
            if self.kind == t.LINEAR and self.n_out == 1:
                return ops.mean(ops.square(teacher_outputs - student_outputs))
            zt = self._logits(teacher_outputs) / T
            zs = self._logits(student_outputs) / T
            if self.kind == t.SIGMOID:
                pt = ops.sigmoid(zt)
                # KL(Bernoulli(pt) || Bernoulli(ps)) with log ps = -softplus(-zs), log(1-ps) = -softplus(zs)
                kl = pt * (ops.log(ops.clip(pt, _EPS, 1.0)) + ops.softplus(-zs)) + (1.0 - pt) * (
                    ops.log(ops.clip(1.0 - pt, _EPS, 1.0)) + ops.softplus(zs)
                )
            else:
                log_pt = ops.log_softmax(zt, axis=-1)
                log_ps = ops.log_softmax(zs, axis=-1)
                kl = ops.sum(ops.exp(log_pt) * (log_pt - log_ps), axis=-1)
            return ops.mean(kl) * (T * T)

        def validate_outputs(self, teacher_outputs: Any, student_outputs: Any) -> None:
            keras.tree.assert_same_structure(teacher_outputs, student_outputs)

        def get_config(self) -> dict[str, Any]:
            return {"temperature": self.temperature, "kind": self.kind, "n_out": self.n_out}

    return OutputDistillation


def _accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    out = np.asarray(model.predict(x, verbose=0, batch_size=256))
    y = np.asarray(y)
    if out.ndim == 2 and out.shape[1] > 1:
        labels = y if y.ndim == 1 else (y.reshape(-1) if y.shape[-1] == 1 else np.argmax(y, axis=-1))
        return float(np.mean(np.argmax(out, axis=-1) == labels))
    return float(np.mean((out.reshape(-1) > 0.5) == (y.reshape(-1) > 0.5)))


def _make_student(
    teacher: Any, spec: str, x: np.ndarray, y: np.ndarray | None, cancel: CancelToken
) -> tuple[Any, str, bool]:
    """(student, kind, copy_initial_weights_for_scratch)"""
    keras = t.keras_module()
    if spec.startswith("width:"):
        try:
            width = float(spec.split(":", 1)[1])
        except ValueError as exc:
            raise BadInputError(f"bad student width in {spec!r}") from exc
        return width_scaled_copy(teacher, width), f"width:{width:g}", True
    if spec == "pruned" or spec.startswith("pruned:"):
        try:
            sparsity = float(spec.split(":", 1)[1]) if ":" in spec else 0.5
        except ValueError as exc:
            raise BadInputError(f"bad pruning fraction in {spec!r}") from exc
        res = structured_prune(
            teacher,
            StructuredPruneConfig(sparsity=sparsity, fine_tune_epochs=0, measure=MeasureConfig(measure=False)),
            x[:8],
            None,
            progress=null_reporter(),
            cancel=cancel,
        )
        return res.model, f"pruned:{sparsity:g}", False
    path = Path(spec)
    if not path.exists():
        raise BadInputError("student must be 'width:F', 'pruned[:S]' or an existing model file", path=spec)
    from core.models.loading import load_keras_model

    student = load_keras_model(path)
    if not isinstance(student, keras.Model):
        raise BadInputError("the student file is not a Keras model", path=spec)
    return student, str(path), False


def _fresh_copy(student: Any, copy_weights: list[np.ndarray] | None) -> Any:
    keras = t.keras_module()
    scratch = keras.models.clone_model(student)
    if copy_weights is not None:
        scratch.set_weights(copy_weights)
    return scratch


def distill(
    teacher: Any,
    config: DistillConfig,
    x: Any,
    y: Any = None,
    *,
    validation: tuple[Any, Any] | None = None,
    student_model: Any = None,
    progress: Reporter,
    cancel: CancelToken,
) -> DistillResult:
    """Train a student from `teacher` on inputs `x` (and labels `y`, when given).

    `validation` = (x_val, y_val) adds accuracies to the result. `student_model`,
    when given, is the student (e.g. the model a previous recipe step pruned) and
    `config.student` is then only its label. A cancel stops
    training at the next batch and raises `Cancelled` (no result, no file).
    """
    keras = t.keras_module()
    t.single_output(teacher)
    x, y = t.check_data(teacher, x, y)
    t.seed_everything(config.seed)
    cancel.raise_if_cancelled()
    progress(0.0, "building the student", stage=STAGE)
    if student_model is not None:
        student, kind, same_init = student_model, config.student, False
    else:
        student, kind, same_init = _make_student(teacher, config.student, x, y, cancel)
    t.single_output(student)
    initial = student.get_weights() if same_init else None
    if config.compare_scratch and y is None:
        raise BadInputError("compare_scratch needs labels: training from scratch has nothing else to learn from")

    out_kind = t.output_activation(teacher)
    n_out = int(teacher.outputs[0].shape[-1] or 1)
    loss_cls = _distillation_loss_class()
    use_labels = y is not None
    student_loss, metrics = t.loss_for(student, y if use_labels else None, soft_targets=not use_labels)
    was_trainable = teacher.trainable
    try:
        try:
            distiller = keras.distillation.Distiller(
                teacher=teacher,
                student=student,
                distillation_losses=loss_cls(config.temperature, out_kind, n_out),
                student_loss_weight=float(config.alpha) if use_labels else 0.0,
            )
        except ValueError as exc:
            raise BadInputError(f"teacher and student do not fit together: {exc}", path=None) from exc
        distiller.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss=student_loss)
        share = 0.45 if config.compare_scratch else 0.8
        total = config.epochs * t.steps_per_epoch(len(x), config.batch_size)
        callback = t.make_engine_callback(
            progress, cancel, total_steps=total, stage=STAGE, label="distilling", span=(0.02, 0.02 + share)
        )
        history: dict[str, list[float]] = {}
        if config.epochs > 0:
            fitted = distiller.fit(
                x, y, epochs=config.epochs, batch_size=config.batch_size, shuffle=True, verbose=0, callbacks=[callback]
            )
            history = {k: [float(v) for v in vals] for k, vals in fitted.history.items()}
    finally:
        teacher.trainable = was_trainable
    student = distiller.student
    student.compile()
    cancel.raise_if_cancelled()

    scratch_acc, scratch_history = None, {}
    scratch = None
    if config.compare_scratch:
        t.seed_everything(config.seed)
        scratch = _fresh_copy(student, initial)
        loss, mets = t.loss_for(scratch, y, soft_targets=False)
        scratch_history = t.fit(
            scratch,
            x,
            y,
            loss=loss,
            metrics=mets,
            epochs=config.epochs,
            batch_size=config.batch_size,
            learning_rate=config.learning_rate,
            progress=progress,
            cancel=cancel,
            stage=STAGE,
            label="training the same student from scratch",
            span=(0.47, 0.82),
        )
    notes: list[str] = []
    teacher_acc = student_acc = None
    if validation is not None and validation[1] is not None:
        xv, yv = t.check_data(teacher, validation[0], validation[1])
        assert yv is not None  # check_data returns labels as given, and they were
        teacher_acc, student_acc = _accuracy(teacher, xv, yv), _accuracy(student, xv, yv)
        if scratch is not None:
            scratch_acc = _accuracy(scratch, xv, yv)
            if scratch_acc >= student_acc:
                notes.append(
                    f"distillation did not beat training from scratch here ({student_acc:.3f} vs {scratch_acc:.3f}): "
                    "with plenty of labels for an easy task a small student learns as well alone; distillation "
                    "pays off with few labels or unlabeled data"
                )
    elif config.compare_scratch:
        notes.append("compare_scratch without validation data: no accuracy to compare")

    if config.measure.measure:
        progress(0.85, "converting to .tflite", stage=STAGE)
    figures = m.tflite_pair_figures(
        teacher,
        student,
        ("teacher", "student"),
        config.measure,
        cancel=cancel,
        on_timing=lambda: progress(0.92, "measuring .tflite latency side by side", stage=STAGE),
    )
    progress(1.0, "distillation done", stage=STAGE)
    return DistillResult(
        model=student,
        student_kind=kind,
        used_labels=use_labels,
        params_teacher=int(teacher.count_params()),
        params_student=int(student.count_params()),
        flops_teacher=count_flops(teacher),
        flops_student=count_flops(student),
        teacher_accuracy=teacher_acc,
        student_accuracy=student_acc,
        scratch_accuracy=scratch_acc,
        history=history,
        scratch_history=scratch_history,
        notes=tuple(notes),
        **figures,
    )
