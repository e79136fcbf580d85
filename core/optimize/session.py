"""One optimization session: open the source, prepare its data, run the original, build and judge recipes.

The single implementation behind `optimize_model` and auto mode
(`core.auto.search`): both open a session and call `build` per recipe.

Everything is keyed by the model's own input and output names (its
`ModelInterface`); nothing is paired by position. Each output gets a task
(inferred from the original's outputs, the labels and the Keras activation, or
set with ``--task NAME=TASK``); the headline fidelity of a variant is its worst
output's, and accuracy headlines follow the primary output (``--primary-output``,
default the model's first output).

A variant whose outputs hold NaN or Inf on the evaluation inputs (real or
synthetic) is a failed variant: it is never returned as a `Variant`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.adapters import UpstreamChanged
from core.data.loaders import DataDescription, DataSpec
from core.errors import BadInputError, ConversionError
from core.engine.context import Reporter
from core.evaluation import evaluate_model
from core.evaluation.common import is_in_unit
from core.evaluation.model import ModelEvaluation
from core.models.hashing import sha256_path, size_on_disk
from core.optimize.convert import SERVING
from core.optimize.data_prep import PreparedData, prepare_data, range_warnings
from core.optimize.outputs import choose_primary, choose_tasks, nonfinite_message
from core.optimize import registry
from core.optimize.pass_context import PipelineContext, WorkState
from core.optimize.recipes import FP32, Recipe, recipe_for_mode
from core.optimize.results import OutputTask, SourceInfo, Variant
from core.optimize.runtime import io_dtype, run_tflite
from core.optimize.source import OpenedSource, open_source
from core.optimize.variant_warnings import quantized_nothing, variant_warnings


SMOKE_SAMPLES = 4  # real evaluation samples kept with a variant for the pre-export smoke run
# Samples per LiteRT call when judging a variant: LiteRT's activation arena grows with the batch, the work per
# image does not; bench/bench_convert.py measures the resulting peak memory.
EVAL_BATCH = 16


@dataclass(frozen=True)
class SessionOptions:
    """How the source is read and scored (all part of cache keys).

    `tasks`: ((output name, task), ...) overrides of the inferred tasks.
    `primary_output`: the output that drives accuracy headlines and auto budgets
    (None: the model's first output). `signature`: a SavedModel's or .tflite's
    signature (None: serving_default, or the only one).
    """

    threshold: float = 0.5
    signature: str | None = None
    primary_output: str | None = None
    tasks: tuple[tuple[str, str], ...] = ()
    input_shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()  # (input, per-sample shape) for free dims
    custom_objects: tuple[str, ...] = ()  # the user's code files for custom layers (--custom-objects)

    def cache_parts(self) -> dict[str, Any]:
        """The options as plain data for result-cache keys (custom-objects files by SHA-256, only when given)."""
        return {
            "threshold": self.threshold,
            "signature": self.signature,
            "primary_output": self.primary_output,
            "tasks": [list(t) for t in self.tasks],
            "input_shapes": [[name, list(shape)] for name, shape in self.input_shapes],
            **self._custom_objects_part(),
        }

    def _custom_objects_part(self) -> dict[str, Any]:
        """The custom-objects files by content (SHA-256), only when there are any (other keys stay as they were)."""
        if not self.custom_objects:
            return {}
        from core.models.custom_objects import cache_part

        return {"custom_objects": cache_part(self.custom_objects)}


def as_options(options: SessionOptions | dict | None, threshold: float | None = None) -> SessionOptions:
    """`options` as SessionOptions (a dict from JSON or a job argument is checked: BadInputError for
    an unknown key), with `threshold` replacing its threshold when given.
    """
    if options is None:
        options = SessionOptions()
    elif isinstance(options, dict):
        values = dict(options)
        values["tasks"] = tuple(tuple(t) for t in values.get("tasks", ()))
        values["input_shapes"] = tuple((n, tuple(shape)) for n, shape in values.get("input_shapes", ()))
        values["custom_objects"] = tuple(str(p) for p in values.get("custom_objects", ()))
        try:
            options = SessionOptions(**values)
        except TypeError as exc:
            raise BadInputError(f"bad settings: {exc}") from None
    if threshold is not None and threshold != options.threshold:
        from dataclasses import replace

        options = replace(options, threshold=threshold)
    return options


@dataclass
class OptimizeSession:
    """The opened model, its prepared data, the original's outputs and evaluation; builds variants."""

    model_path: str
    data: DataSpec
    options: SessionOptions
    progress: Any
    cancel: Any
    source: OpenedSource = field(init=False)
    prepared: PreparedData = field(init=False)
    reference: dict[str, np.ndarray] = field(init=False)
    tasks: tuple[OutputTask, ...] = field(init=False)
    primary: str = field(init=False)
    original: Any = field(init=False)
    info: SourceInfo = field(init=False)
    ctx: PipelineContext = field(init=False)
    warnings: list[str] = field(default_factory=list)

    def open(self) -> "OptimizeSession":
        """Open the model, prepare the data, run the original on the evaluation inputs and judge it; returns self.

        Raises BadInputError (a model or data that cannot be used, a non-finite original output,
        labels that fit no task) or Cancelled.
        """
        progress, cancel = self.progress, self.cancel
        progress(None, "loading the model", stage="load")
        self.source = open_source(
            self.model_path, signature=self.options.signature, custom_objects=self.options.custom_objects
        )
        cancel.raise_if_cancelled()
        interface = self.source.interface
        self.primary = choose_primary(interface, self.options.primary_output, self.model_path)

        progress(None, "loading data", stage="data")
        unknown = [name for name, _ in self.options.input_shapes if name not in interface.input_names]
        if unknown:
            raise BadInputError(
                f"--input-shape names no input {', '.join(map(repr, unknown))} "
                f"(inputs: {', '.join(interface.input_names)})",
                path=self.model_path,
            )
        self.prepared = prepare_data(
            interface,
            self.data,
            primary_output=self.options.primary_output,
            progress=progress,
            input_shapes=dict(self.options.input_shapes),
        )
        self.warnings.extend(self.prepared.warnings)
        if not self.prepared.description.synthetic_data:
            for warning in range_warnings(self.prepared.calibration_x, self.prepared.eval_x):
                self.warnings.append(warning)
                progress.log(warning, level="warning")
        cancel.raise_if_cancelled()

        n = self.prepared.eval_samples
        progress(None, f"running the original model on {n} samples", stage="reference")
        try:
            self.reference = self.source.predict(self.prepared.eval_x, cancel=cancel)
        except (RuntimeError, ValueError) as exc:  # LiteRT or TensorFlow refusing the model itself
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise BadInputError(
                f"the model could not be run: {first[:300]}", path=self.model_path, details=str(exc)
            ) from None
        bad = nonfinite_message(self.reference, "the original model")
        if bad:
            raise BadInputError(f"{bad}: there is nothing to compare variants with", path=self.model_path)
        labels = self.prepared.eval_y
        label_source = self.data.eval_path or self.data.path
        self.tasks = choose_tasks(
            interface, self.reference, labels, self.options.tasks, self.model_path, label_path=label_source
        )
        try:
            self.original = evaluate_model(
                self.reference,
                labels=labels,
                reference=None,
                tasks=self.task_map,
                threshold=self.options.threshold,
                primary=self.primary,
            )
        except ValueError as exc:
            raise BadInputError(f"the labels do not fit the model's outputs: {exc}", path=label_source) from None
        self.warnings.extend(self._single_class_warnings())
        for task in self.tasks:
            progress.log(f"output {task.output!r}: scored as {task.task} ({task.reason})")
        self.info = SourceInfo(
            path=str(self.model_path),
            format=self.source.format,
            sha256=sha256_path(self.model_path, check=cancel.raise_if_cancelled),
            size_bytes=size_on_disk(self.model_path),
            inputs=tuple(interface.inputs),
            loader=self.source.loader,
            interface=interface,
            tasks=self.tasks,
            primary_output=self.primary,
            custom_objects=self._custom_objects_used(),
        )
        calib_ref: dict[str, dict[str, np.ndarray]] = {}

        def calibration_reference() -> dict[str, np.ndarray]:
            if "x" not in calib_ref:
                calib_ref["x"] = self.source.predict(self.prepared.calibration_x, cancel=cancel)
            return calib_ref["x"]

        self.ctx = PipelineContext(
            source=self.source,
            calibration_x=self.prepared.calibration_x,
            calibration_reference=calibration_reference,
            tasks=self.task_map,
            progress=progress,
            cancel=cancel,
            run_tflite=self.run_variant,
            train_x=self.prepared.train_x,
            train_y=self.prepared.train_y,
            primary_output=self.primary,
        )
        return self

    def _custom_objects_used(self) -> tuple[tuple[str, str], ...]:
        """(path, SHA-256) of the user's code files the Keras model was loaded with (none for other formats)."""
        if not self.options.custom_objects or self.source.keras_model is None:
            return ()
        from core.models.custom_objects import describe_custom_objects

        return describe_custom_objects(self.options.custom_objects)

    @property
    def task_map(self) -> dict[str, str]:
        """{output name: task} for every output (the chosen tasks)."""
        return {t.output: t.task for t in self.tasks}

    @property
    def variant_signature(self) -> str:
        """The signature a variant is run through: the source's, or the named export's serving_default."""
        return self.source.signature or SERVING

    def run_variant(self, tflite_bytes: bytes, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """A variant's outputs by name, run EVAL_BATCH samples at a time (LiteRT's arena grows with the batch)."""
        return run_tflite(
            tflite_bytes, inputs, signature=self.variant_signature, cancel=self.cancel, batch_size=EVAL_BATCH
        )

    def _single_class_warnings(self) -> list[str]:
        warnings = self._label_range_warnings() + self._threshold_warnings()
        for task in self.tasks:
            ref = self.reference[task.output]
            if task.task == "multiclass" and ref.ndim == 2 and ref.shape[0] > 1:
                if len(set(ref.argmax(axis=1).tolist())) == 1:
                    warnings.append(
                        f"the original model predicts the same class for every evaluation sample on "
                        f"output {task.output!r} (random weights or unrepresentative data?): top-1 "
                        "agreement cannot tell variants apart"
                    )
        for warning in warnings:
            self.progress.log(warning, level="warning")
        return warnings

    def _label_range_warnings(self) -> list[str]:
        """Class-id labels that use few of an output's columns: the labels may belong to another output."""
        warnings = []
        labels = self.prepared.eval_y or {}
        for task in self.tasks:
            y, ref = labels.get(task.output), self.reference[task.output]
            if y is None or task.task not in ("multiclass", "sequence", "segmentation") or ref.ndim < 2:
                continue
            classes, used = int(ref.shape[-1]), len(np.unique(np.asarray(y)))
            if used * 2 <= classes and np.asarray(y).ndim < ref.ndim:
                warnings.append(
                    f"the labels of output {task.output!r} use {used} of its {classes} columns: check "
                    "that they label this output (or set its task with --task)"
                )
        return warnings

    def _threshold_warnings(self) -> list[str]:
        """Binary or multi-label scores outside [0, 1] (a task set with --task on logits), cut at 0.5 all the same."""
        warnings = []
        labels = self.prepared.eval_y or {}
        for task in self.tasks:
            ref = np.asarray(self.reference[task.output], dtype=np.float64)
            finite = ref[np.isfinite(ref)]
            if labels.get(task.output) is None or task.task not in ("binary", "multilabel") or not finite.size:
                continue
            if not is_in_unit(finite):
                warnings.append(
                    f"output {task.output!r} is scored as {task.task} at the threshold 0.5, but its values run "
                    f"from {finite.min():.3g} to {finite.max():.3g}, not probabilities in [0, 1] (logits?): its "
                    "precision, recall and accuracy are at the score 0.5; ROC-AUC and PR-AUC do not depend on "
                    "the threshold"
                )
        return warnings

    def build_state(self, recipe: Recipe, progress: Reporter) -> tuple[WorkState, float]:
        """Run a recipe's passes in order; returns the final state and the seconds spent."""
        state = WorkState(
            keras_model=self.source.keras_model,
            saved_model_dir=self.source.saved_model_dir,
            tflite_bytes=None if self.source.has_graph else self.source.tflite_bytes,
        )
        start = time.perf_counter()
        steps = recipe.steps
        if not any(s.kind == "convert" for s in steps):
            steps = (recipe_for_mode(FP32).steps[0],) + tuple(steps)
        self.ctx.progress = progress
        for i, step in enumerate(steps):
            self.cancel.raise_if_cancelled()
            pass_ = registry.get(step.kind)
            if pass_ is None:
                raise ConversionError(f"recipe {recipe.name!r}: no pass for step kind {step.kind!r}")
            progress(i / len(steps), f"{recipe.name}: {step.kind}", recipe.name)
            try:
                pass_.run(state, step.config, self.ctx)
            except UpstreamChanged as exc:  # an upstream API moved: this variant fails, saying which
                raise ConversionError(f"{step.kind} step: {exc}", details=str(exc)) from exc
        self.cancel.raise_if_cancelled()
        return state, time.perf_counter() - start

    def evaluate(self, tflite_bytes: bytes) -> ModelEvaluation:
        """Run a variant on the evaluation inputs and judge every output; ConversionError when it can't run
        in LiteRT or its outputs are not finite."""
        try:
            outputs = self.run_variant(tflite_bytes, self.prepared.eval_x)
        except (RuntimeError, ValueError) as exc:
            # The converter made a model LiteRT refuses (e.g. int16x8 scales that overflow a kernel).
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConversionError(
                f"the converted model does not run in LiteRT: {first[:300]}", details=str(exc)
            ) from None
        bad = nonfinite_message(outputs, "the variant")
        if bad:
            raise ConversionError(bad)
        try:
            return evaluate_model(
                outputs,
                labels=self.prepared.eval_y,
                reference=self.reference,
                tasks=self.task_map,
                threshold=self.options.threshold,
                primary=self.primary,
            )
        except ValueError as exc:
            raise ConversionError(f"cannot evaluate the variant: {exc}") from None

    def build(self, recipe: Recipe, progress: Reporter, baseline_size: int | None) -> Variant:
        """Build, run and judge one recipe; raises ConversionError (a failed variant) or Cancelled."""
        state, seconds = self.build_state(recipe, progress)
        tflite_bytes = state.tflite_bytes
        if tflite_bytes is None:  # build_state always runs a convert pass; this guards a pass that broke that
            raise ConversionError(f"recipe {recipe.name!r} produced no .tflite model")
        progress(0.95, f"{recipe.name}: evaluating on {self.prepared.eval_samples} samples")
        evaluation = self.evaluate(tflite_bytes)
        if not evaluation.outputs:
            reasons = "; ".join(f"{name}: {why}" for name, why in evaluation.unscored)
            raise ConversionError(f"no output of the variant could be matched to the original by name ({reasons})")
        state.warnings.extend(variant_warnings(recipe, evaluation))
        unchanged = quantized_nothing(recipe.mode, tflite_bytes)
        if unchanged:
            state.warnings.append(unchanged)
        size = len(tflite_bytes)
        return Variant(
            name=recipe.name,
            recipe=recipe,
            tflite_bytes=tflite_bytes,
            size_bytes=size,
            converter_path=state.converter_path,
            evaluation=evaluation,
            warnings=tuple(state.warnings),
            seconds=seconds,
            size_ratio=size / baseline_size if baseline_size else None,
            layer_errors=state.layer_errors,
            float_layers=state.float_layers,
            io_dtype=io_dtype(tflite_bytes, self.variant_signature),
            compression=state.compression,
            signature=self.variant_signature,
            sample_inputs={name: np.array(x[:SMOKE_SAMPLES]) for name, x in self.prepared.eval_x.items()},
        )

    @property
    def description(self) -> DataDescription:
        """What data was used: sources, sample counts, labels, synthetic or not."""
        return self.prepared.description

    def close(self) -> None:
        """Release the pipeline context and the opened model (safe on a session that never opened)."""
        ctx = getattr(self, "ctx", None)
        if ctx is not None:
            ctx.close()
        source = getattr(self, "source", None)
        if source is not None:
            source.close()


__all__ = ["OptimizeSession", "SessionOptions", "as_options"]
