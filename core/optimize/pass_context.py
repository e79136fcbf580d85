"""What a pass works on: the variant in the making (`WorkState`) and what every variant shares (`PipelineContext`).

A registered pass (`core.optimize.registry`) is called as ``run(state, config, ctx)``
and changes `state` in place. The session (`core.optimize.session`) makes one
`PipelineContext` per run and one `WorkState` per variant. No TensorFlow, no Qt.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from core.adapters import UpstreamFallback
from core.errors import ConversionError
from core.optimize.convert import ConverterFactory
from core.optimize.recipes import ConvertConfig
from core.optimize.results import LayerError
from core.optimize.variant_warnings import add_upstream_fallback

__all__ = ["MAX_CALIBRATIONS", "PipelineContext", "WorkState", "fall_back"]


@dataclass
class WorkState:
    """One variant in the making, changed in place by each step's pass.

    keras_model / saved_model_dir: the model the variant is made from (None for a
    .tflite source); tflite_bytes: the variant's .tflite so far (None before
    "convert"); float_bytes: the fp32 conversion it started from. A pass that
    changes the Keras model sets `modified`, so the original's cached fp32
    conversion is not reused.
    """

    keras_model: Any = None
    saved_model_dir: str | None = None
    tflite_bytes: bytes | None = None
    float_bytes: bytes | None = None  # the fp32 conversion this variant started from
    converter_path: str = ""
    factory: ConverterFactory | None = None
    modified: bool = False  # a pass changed the Keras model (pruning, ...)
    io_dtype: str = "float32"
    warnings: list[str] = field(default_factory=list)
    layer_errors: tuple[LayerError, ...] = ()
    float_layers: tuple[str, ...] = ()
    convert_config: ConvertConfig | None = None
    applied_steps: list[str] = field(default_factory=list)  # JSON of the model-changing steps so far
    compression: tuple[dict[str, Any], ...] = ()  # reports of pruning/distillation steps


MAX_CALIBRATIONS = 2


@dataclass
class PipelineContext:
    """What all variants of one run share: the source, the data, the cached fp32 conversions and calibrations.

    calibration_x: calibration inputs by input name, each (samples, ...);
    calibration_reference(): the original model's outputs on them by output name
    (computed lazily); tasks: output name -> task; run_tflite(bytes, inputs) ->
    outputs by name. train_x / train_y: the fine-tuning data of pruning and
    distillation (the calibration file and its labels, when it has them).
    """

    source: Any  # core.optimize.source.OpenedSource
    calibration_x: dict[str, np.ndarray]  # calibration inputs by input name
    calibration_reference: Callable[[], dict[str, np.ndarray]]  # lazily: the original's outputs on them, by name
    tasks: dict[str, str]  # output name -> task
    progress: Any
    cancel: Any
    run_tflite: Callable[[bytes, dict[str, np.ndarray]], dict[str, np.ndarray]]
    factories: dict[tuple[Any, ...], ConverterFactory] = field(default_factory=dict)
    fp32_cache: dict[tuple[Any, ...], tuple[bytes, str, str]] = field(default_factory=dict)
    train_x: dict[str, np.ndarray] | None = None  # fine-tuning inputs for pruning/distillation (the calibration file)
    train_y: dict[str, np.ndarray] | None = None  # its labels by output name
    primary_output: str = ""
    model_cache: dict[tuple[str, ...], Any] = field(default_factory=dict)  # memoised model-changing steps
    calibrations: dict[str, Any] = field(default_factory=dict)  # fp32 bytes' SHA-1 -> Calibration (or None)
    calibration_changes: dict[str, Any] = field(default_factory=dict)  # SHA-1 -> UpstreamChanged that stopped it

    def calibration_of(self, float_bytes: bytes, signature: str) -> Any:
        """The calibration (`core.optimize.calibration.Calibration`) of this fp32 .tflite on `calibration_x`,
        made once per bytes; None (logged) when calibrating fails. At most `MAX_CALIBRATIONS` are kept.
        When it failed because a private TensorFlow name moved, `calibration_change` says which."""
        from core.adapters import UpstreamFallback
        from core.optimize.calibration import calibrate

        key = hashlib.sha1(float_bytes).hexdigest()
        if key not in self.calibrations:
            while len(self.calibrations) >= MAX_CALIBRATIONS:  # pruned models: keep memory bounded
                self.calibrations.pop(next(iter(self.calibrations)))
            self.progress(None, "calibrating (once for every integer variant of this model)")
            try:
                self.calibrations[key] = calibrate(
                    float_bytes, self.calibration_x, signature=signature, cancel=self.cancel
                )
            except ConversionError as why:
                self.cancel.raise_if_cancelled()
                self.progress.log(
                    f"calibrating the fp32 model failed; the converter calibrates instead ({why.message})"
                )
                self.calibrations[key] = None
                if isinstance(why, UpstreamFallback):
                    self.calibration_changes[key] = why.changed
        return self.calibrations[key]

    def calibration_change(self, float_bytes: bytes) -> Any:
        """The `core.adapters.UpstreamChanged` that stopped calibrating these fp32 bytes, or None."""
        return self.calibration_changes.get(hashlib.sha1(float_bytes).hexdigest())

    def close(self) -> None:
        """Close every converter factory (their temporary SavedModel folders) and drop the calibrations."""
        for factory in self.factories.values():
            factory.close()
        self.factories.clear()
        self.calibrations.clear()
        self.calibration_changes.clear()


def fall_back(
    why: ConversionError, state: WorkState, mode: str, ctx: PipelineContext, taking: str, route: str, cost: str
) -> bool:
    """A faster private route failed: log the route taken instead and, when it failed because an upstream name
    moved (`UpstreamFallback`), put a warning naming it on the variant. Returns False: the caller falls back."""
    ctx.cancel.raise_if_cancelled()
    ctx.progress.log(f"{mode}: {taking} ({why.message})")
    if isinstance(why, UpstreamFallback):
        add_upstream_fallback(state.warnings, route, why.changed, cost)
    return False
