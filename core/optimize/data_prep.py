"""Calibration, evaluation and fine-tuning data for one model, keyed by its input and output names.

`prepare_data` reads the user's files (`core.data.loaders`: arrays matched to
the model's inputs by name, labels `y_<output>` or `y` for the primary output),
or synthesizes inputs when there are none (and says so loudly).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.data.images import align_image_classes
from core.data.loaders import DataDescription, DataSpec, check_inputs, choose_samples, load_data
from core.data.synth import SYNTHETIC_WARNING, synthesize_dataset
from core.engine.context import Reporter
from core.errors import BadInputError
from core.models.interface import ModelInterface

SYNTHETIC_EVAL_SAMPLES = 128
SYNTHETIC_CALIBRATION_SAMPLES = 100


@dataclass(frozen=True)
class PreparedData:
    """Arrays by name: inputs by model input name, labels by output name (None: unlabelled)."""

    calibration_x: dict[str, np.ndarray]
    eval_x: dict[str, np.ndarray]
    eval_y: dict[str, np.ndarray] | None
    train_x: dict[str, np.ndarray]  # everything in the calibration file: fine-tuning data
    train_y: dict[str, np.ndarray] | None
    description: DataDescription
    warnings: list[str]

    @property
    def eval_samples(self) -> int:
        """The number of evaluation samples (0 when there are none)."""
        return _count(self.eval_x)


def _shapes(arrays: dict[str, np.ndarray]) -> tuple[tuple[str, tuple[int, ...]], ...]:
    return tuple((name, tuple(int(d) for d in np.asarray(a).shape[1:])) for name, a in arrays.items())


def _count(arrays: dict[str, np.ndarray]) -> int:
    return int(np.asarray(next(iter(arrays.values()))).shape[0]) if arrays else 0


def prepare_data(
    interface: ModelInterface,
    data: DataSpec | None,
    *,
    primary_output: str | None = None,
    progress: Reporter | None = None,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
) -> PreparedData:
    """Load (or synthesize) calibration and evaluation data for `interface`; BadInputError naming the file.

    Without data, inputs are synthesized; `input_shapes` gives the sizes of free
    dimensions (UsageError when one is missing).
    """
    warnings: list[str] = []
    data = data or DataSpec()
    if data.calibration_samples is not None and data.calibration_samples <= 0:
        raise BadInputError(f"the number of calibration samples must be positive, got {data.calibration_samples}")
    if data.path is None:
        n_calib = min(data.calibration_samples or SYNTHETIC_CALIBRATION_SAMPLES, SYNTHETIC_CALIBRATION_SAMPLES)
        calib_x, notes = synthesize_dataset(interface, n_calib, seed=data.seed, shapes=input_shapes)
        eval_x, _ = synthesize_dataset(
            interface, data.eval_samples or SYNTHETIC_EVAL_SAMPLES, seed=data.seed + 1, shapes=input_shapes
        )
        warnings.append(SYNTHETIC_WARNING)
        if progress is not None:
            progress.log(SYNTHETIC_WARNING, level="warning")
            for note in notes:
                progress.log(note, level="warning")
        description = DataDescription(
            synthetic_data=True,
            calibration_source=None,
            eval_source=None,
            calibration_samples=_count(calib_x),
            eval_samples=_count(eval_x),
            labelled=False,
            stratified=False,
            notes=tuple(["synthetic: " + SYNTHETIC_WARNING] + list(notes)),
            input_shapes=_shapes(eval_x),
        )
        return PreparedData(calib_x, eval_x, None, calib_x, None, description, warnings)

    full = check_inputs(
        load_data(data.path, interface=interface, label_column=data.label_column, primary_output=primary_output),
        interface,
        data.path,
    )
    evaluation = full
    if data.eval_path is not None:
        evaluation = check_inputs(
            load_data(
                data.eval_path, interface=interface, label_column=data.label_column, primary_output=primary_output
            ),
            interface,
            data.eval_path,
        )
    full, evaluation, class_warnings = align_image_classes(full, evaluation, interface)
    for warning in class_warnings:
        warnings.append(warning)
        if progress is not None:
            progress.log(warning, level="warning")
    calib, stratified = choose_samples(full, data.calibration_samples, seed=data.seed)
    notes = list(full.notes)
    if data.eval_path is not None:
        notes += [f"eval: {n}" for n in evaluation.notes]
    else:
        notes.append(
            "calibration samples are drawn from the evaluation data (give a separate evaluation file "
            "for an unbiased estimate)"
        )
    available = len(evaluation)
    evaluation, _ = choose_samples(evaluation, data.eval_samples, seed=data.seed + 1, stratify=False)
    if len(evaluation) < available:
        notes.append(f"evaluation: {len(evaluation)} of {available} samples, drawn at random (seeded)")
    if stratified:
        notes.append(f"calibration: {len(calib)} samples, class-stratified")
    description = DataDescription(
        synthetic_data=False,
        calibration_source=str(data.path),
        eval_source=str(data.eval_path or data.path),
        calibration_samples=len(calib),
        eval_samples=len(evaluation),
        labelled=evaluation.y is not None,
        stratified=stratified,
        notes=tuple(notes),
        input_shapes=_shapes(evaluation.x),
    )
    return PreparedData(calib.x, evaluation.x, evaluation.y, full.x, full.y, description, warnings)


def range_warnings(calib_x: dict[str, np.ndarray], eval_x: dict[str, np.ndarray], limit: int = 3) -> list[str]:
    """Features of flat float inputs whose evaluation values reach well beyond the calibration range.

    int8 clips them: a feature whose evaluation range exceeds the calibrated
    range by more than half of that range is listed (at most `limit` per input).
    """
    warnings = []
    for name, calib in calib_x.items():
        evaluated = eval_x.get(name)
        if evaluated is None or calib.ndim != 2 or evaluated.ndim != 2 or not np.issubdtype(calib.dtype, np.floating):
            continue
        lo, hi = calib.min(axis=0), calib.max(axis=0)
        span = np.maximum(hi - lo, 1e-12)
        over = np.maximum(evaluated.max(axis=0) - hi, lo - evaluated.min(axis=0)) / span
        worst = [int(i) for i in np.argsort(-over) if over[i] > 0.5][:limit]
        if not worst:
            continue
        label = f"input {name!r} " if len(calib_x) > 1 else ""
        parts = [
            f"{label}feature {i}: calibrated {lo[i]:.4g}..{hi[i]:.4g}, evaluated {evaluated[:, i].min():.4g}.."
            f"{evaluated[:, i].max():.4g}"
            for i in worst
        ]
        warnings.append(
            "evaluation inputs reach well beyond the calibration range (int8 clips them; calibrate on "
            "more or more varied samples): " + "; ".join(parts)
        )
    return warnings


__all__ = ["PreparedData", "SYNTHETIC_CALIBRATION_SAMPLES", "SYNTHETIC_EVAL_SAMPLES", "prepare_data", "range_warnings"]
