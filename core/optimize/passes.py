"""The built-in conversion and quantization passes: "convert" and "quantize" (one class per step kind).

Each registers itself in the one step registry (`core.optimize.registry`) with its
config dataclass (`core.optimize.recipes.ConvertConfig`, `QuantizeConfig`) and
runs as ``run(state, config, ctx)`` on the variant in the making
(`core.optimize.pass_context.WorkState`). The pruning and distillation passes live
in `core.optimize.compress_passes`. TensorFlow is imported only when a pass runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from core.optimize.calibration import Calibration

from core.errors import ConversionError
from core.adapters.ai_edge_quantizer import DERIVABLE, quantize_tflite
from core.optimize.convert import BATCH1_NOTE, BATCH1_PATHS, TFLITE_INPUT, ConverterFactory
from core.optimize.tflite_input import check_tflite_quantization
from core.optimize.pass_context import PipelineContext, WorkState, fall_back
from core.optimize.quantize import configure_converter, positional_dataset, representative_dataset
from core.optimize.recipes import (
    CALIBRATED_MODES,
    FP32,
    INT8,
    WEIGHT_ONLY,
    ConvertConfig,
    QuantizeConfig,
    SelectiveConfig,
)
from core.optimize.registry import Pass, dataclass_parser, register_pass
from core.optimize.results import LayerError
from core.optimize.variant_warnings import add_upstream_fallback

__all__ = ["ConvertPass", "QuantizePass"]


@register_pass("convert", config=ConvertConfig)
class ConvertPass(Pass):
    """Convert the variant's model to an fp32 .tflite (`state.tflite_bytes` and `state.float_bytes`).

    The original model's conversion is made once per converter setting and reused
    (`ctx.fp32_cache`); a model a pass changed (`state.modified`) is converted
    anew. A .tflite source is taken as it is. Raises ConversionError when the
    converter fails (a recurrent SavedModel at a free batch size is named as such).
    """

    def run(self, state: WorkState, config: ConvertConfig, ctx: PipelineContext) -> None:
        """Set the state's fp32 bytes, converter path and factory; warnings for batch-1 paths and Flex ops."""
        source = ctx.source
        if state.keras_model is None and state.saved_model_dir is None:
            # A .tflite input: it is already converted; its bytes are the fp32 starting point.
            state.tflite_bytes = state.float_bytes = source.tflite_bytes
            state.converter_path = TFLITE_INPUT
            return
        key = (config.converter, config.allow_select_tf_ops)
        if state.modified:
            factory = _factory(state, config, source)
            ctx.factories[(id(factory),)] = factory
        else:
            known = ctx.factories.get(("original", config.converter))
            if known is None:
                known = ctx.factories[("original", config.converter)] = _factory(state, config, source)
            factory = known
        cached = None if state.modified else ctx.fp32_cache.get(key)
        if cached is None:
            ctx.progress(None, "converting to .tflite (fp32)")
            try:
                cached = factory.convert(
                    lambda c: None, allow_select_tf_ops=config.allow_select_tf_ops, what="conversion to .tflite failed"
                )
            except ConversionError as error:
                if state.keras_model is None and "TensorList" in error.message:
                    # A SavedModel's signature is traced at its own batch size; only its author can re-trace it.
                    error.message += (
                        " (a recurrent layer at a free batch size: re-export the SavedModel with a "
                        "batch-1 signature, or give the Keras model, which Litesmith converts through "
                        "a batch-1 signature itself)"
                    )
                raise
            if not state.modified:
                ctx.fp32_cache[key] = cached
        data, path, _log = cached
        state.factory = factory
        state.tflite_bytes = state.float_bytes = data
        state.converter_path = path
        state.convert_config = config
        if path in BATCH1_PATHS:
            state.warnings.append(BATCH1_NOTE)
        if config.allow_select_tf_ops:
            state.warnings.append("SELECT_TF_OPS (Flex) allowed: the model may need the Flex delegate to run")


def _factory(state: WorkState, config: ConvertConfig, source: Any) -> ConverterFactory:
    """A converter factory for the state's model: the Keras model, or the source's chosen SavedModel signature."""
    if state.keras_model is not None:
        return ConverterFactory(keras_model=state.keras_model, prefer=config.converter, path=source.path)
    return ConverterFactory(
        saved_model_dir=source.conversion_dir(),
        signature_key=source.signature,
        prefer=config.converter,
        path=source.path,
    )


@register_pass(
    "quantize", config=QuantizeConfig, parse=dataclass_parser(QuantizeConfig, nested={"selective": SelectiveConfig})
)
class QuantizePass(Pass):
    """Quantize the fp32 conversion: derived from it where that equals the converter's output, else converted.

    Dynamic range, float16 and weight-only come from the fp32 .tflite through
    ai-edge-quantizer (`core.adapters.ai_edge_quantizer`); int8 (plain, int8 I/O,
    selective, per-layer errors) and 16x8 come from ONE calibration of it per
    data set (`core.optimize.calibration`, kept in `ctx.calibrations`). When a
    derivation fails or differs from the converter's, the variant is converted
    by the TFLite converter as before, and the reason is logged; when the reason is
    a private upstream API that moved (`core.adapters.UpstreamFallback`), the
    variant also carries a warning naming it (`add_upstream_fallback`).
    """

    def run(self, state: WorkState, config: QuantizeConfig, ctx: PipelineContext) -> None:
        """Replace `state.tflite_bytes` by the quantized model (fp32: unchanged); may set `io_dtype`,
        `layer_errors`, `float_layers` and add warnings. Raises ConversionError when no way works, or when
        there is no convert step before it."""
        if config.mode == FP32:
            return
        if state.tflite_bytes is None:
            raise ConversionError("quantize needs a convert step before it")
        if state.factory is None or config.mode == WEIGHT_ONLY:
            self._with_aeq(state, config, ctx)
            return
        if config.mode in DERIVABLE and self._derived(state, config, ctx):
            return
        isolated = (
            state.converter_path in BATCH1_PATHS
            and config.mode in CALIBRATED_MODES
            and state.factory.saved_model_folder() is not None
        )
        if config.mode in CALIBRATED_MODES and not isolated and self._from_calibration(state, config, ctx):
            return
        self._with_converter(state, config, ctx, isolated)

    def _derived(self, state: WorkState, config: QuantizeConfig, ctx: PipelineContext) -> bool:
        """Dynamic/float16 by AEQ from the fp32 .tflite; False (logged) when it fails or differs."""
        from core.adapters.ai_edge_quantizer import derive_weight_variant

        ctx.progress(None, f"quantizing ({config.mode}) from the fp32 conversion")
        try:
            state.tflite_bytes = derive_weight_variant(_fp32(state), config.mode)
        except ConversionError as why:
            return fall_back(
                why,
                state,
                config.mode,
                ctx,
                "converting with the TFLite converter",
                "the public converter",
                "slower: a second conversion instead of one from the fp32 model; same quantization",
            )
        state.converter_path = f"{state.converter_path}+ai-edge-quantizer"
        return True

    def _from_calibration(self, state: WorkState, config: QuantizeConfig, ctx: PipelineContext) -> bool:
        """int8/16x8 from the shared calibration of the fp32 .tflite; False (logged) to use the converter."""
        from core.optimize.calibration import float_ops, int8_model, int16x8_model

        ctx.progress(None, f"quantizing ({config.mode}) from the shared calibration of the fp32 model")
        calibration = ctx.calibration_of(_fp32(state), _signature(ctx))
        if calibration is None:
            changed = ctx.calibration_change(_fp32(state))
            if changed is not None:
                add_upstream_fallback(
                    state.warnings, "the public converter", changed, "slower calibration; same quantization"
                )
            return False
        if config.selective is not None:
            return self._selective(state, config, ctx, calibration)
        try:
            if config.mode == INT8:
                data = int8_model(calibration, io_dtype=config.io_dtype)
                left = float_ops(data)
                if left and config.io_dtype == "int8":
                    return False  # the converter refuses this: let it say so in its own words
                warning = f"not every op has an integer kernel; some stay float32 ({', '.join(left)})" if left else None
            else:
                try:
                    data, warning = int16x8_model(calibration), None
                except ConversionError as strict:
                    data = int16x8_model(calibration, allow_float=True)
                    warning = f"not every op has an integer kernel; some stay float32 ({strict.message})"
        except ConversionError as why:
            return fall_back(
                why,
                state,
                config.mode,
                ctx,
                "converting with the TFLite converter",
                "the public converter",
                "slower: the converter converts and calibrates again; same quantization",
            )
        state.tflite_bytes = data
        if warning:
            state.warnings.append(warning)
        if config.mode == INT8 and config.io_dtype == "int8":
            state.io_dtype = "int8"
        if config.layer_errors and config.mode == INT8:
            from core.optimize.selective import layer_errors_from_calibration

            ctx.progress(None, "measuring per-layer quantization error")
            _requantize, errors = layer_errors_from_calibration(
                calibration, positional_dataset(ctx.calibration_x, _fp32(state), _signature(ctx), ctx.cancel)
            )
            state.layer_errors = tuple(errors)
        return True

    def _selective(
        self, state: WorkState, config: QuantizeConfig, ctx: PipelineContext, calibration: Calibration
    ) -> bool:
        from core.optimize.selective import layer_errors_from_calibration

        ctx.progress(None, "measuring per-layer quantization error")
        try:
            requantize, errors = layer_errors_from_calibration(
                calibration, positional_dataset(ctx.calibration_x, _fp32(state), _signature(ctx), ctx.cancel)
            )
        except ConversionError as why:
            return fall_back(
                why,
                state,
                config.mode,
                ctx,
                "the converter's debugger measures instead",
                "the public converter and QuantizationDebugger",
                "slower: the model is calibrated again; same quantization",
            )
        # The user's own choices (an unknown float layer, ...) fail the variant here, not in a second attempt.
        self._apply_selective(state, config, ctx, requantize, errors)
        return True

    @staticmethod
    def _apply_selective(
        state: WorkState,
        config: QuantizeConfig,
        ctx: PipelineContext,
        requantize: Callable[[list[str]], bytes],
        errors: list[LayerError],
    ) -> None:
        from core.optimize.selective import selective_quantize

        if config.selective is None:
            raise ConversionError("selective quantization needs its settings (the quantize step's 'selective')")
        outcome = selective_quantize(
            requantize,
            errors,
            config.selective,
            calibration_x=ctx.calibration_x,
            calibration_reference=ctx.calibration_reference(),
            tasks=ctx.tasks,
            primary=ctx.primary_output,
            run=ctx.run_tflite,
            cancel=ctx.cancel,
            progress=ctx.progress,
        )
        state.tflite_bytes = outcome.tflite_bytes
        state.layer_errors = outcome.layer_errors
        state.float_layers = outcome.float_layers
        state.warnings.extend(outcome.notes)
        # The converter path's requantize (`selective._ConverterRequantize`) says when it took the public route.
        changed = getattr(requantize, "changed", None)
        if changed is not None:
            add_upstream_fallback(
                state.warnings,
                "the public QuantizationDebugger",
                changed,
                "slower: the debugger rebuilds its model for each choice of float layers; same quantization",
            )

    def _with_converter(self, state: WorkState, config: QuantizeConfig, ctx: PipelineContext, isolated: bool) -> None:
        from core.tf_runtime import import_tensorflow

        tf = import_tensorflow()
        allow_select = state.convert_config.allow_select_tf_ops if state.convert_config else False
        needs_data = config.mode in CALIBRATED_MODES
        representative = representative_dataset(ctx.calibration_x, ctx.cancel) if needs_data else None
        if config.selective is not None:
            from core.optimize.selective import debug_layers

            ctx.progress(None, "measuring per-layer quantization error")
            requantize, errors = debug_layers(
                _converter(state).make_converter,
                representative or representative_dataset(ctx.calibration_x, ctx.cancel),
                debug_dataset=positional_dataset(ctx.calibration_x, _fp32(state), _signature(ctx), ctx.cancel),
            )
            self._apply_selective(state, config, ctx, requantize, errors)
            return
        ctx.progress(None, f"quantizing ({config.mode})")

        def attempt(fallback: bool) -> bytes:
            if isolated:
                # The calibrator runs the recurrent loop natively and was seen to crash: contain it.
                from core.optimize.isolated import convert_isolated

                folder, key = _saved_model_folder(state)
                return convert_isolated(
                    folder,
                    key,
                    config.mode,
                    calibration=ctx.calibration_x,
                    io_dtype=config.io_dtype,
                    allow_float_fallback=fallback,
                    cancel=ctx.cancel,
                    what=f"{config.mode} quantization failed",
                )
            data, _path, _log = _converter(state).convert(
                lambda c: configure_converter(
                    tf,
                    c,
                    config.mode,
                    representative=representative,
                    io_dtype=config.io_dtype,
                    allow_float_fallback=fallback,
                ),
                allow_select_tf_ops=allow_select,
                what=f"{config.mode} quantization failed",
            )
            return data

        try:
            state.tflite_bytes = attempt(False)
        except ConversionError as strict_error:
            ctx.cancel.raise_if_cancelled()
            _explain_integer_input(strict_error, ctx, config.mode)
            if (
                config.mode not in CALIBRATED_MODES
                or config.io_dtype == "int8"
                or getattr(strict_error, "crashed", False)
            ):
                raise  # a calibrator that crashed crashes again with float fallback: don't pay for it twice
            # Some ops have no integer kernel: let them stay float, and say so.
            try:
                state.tflite_bytes = attempt(True)
            except ConversionError:
                ctx.cancel.raise_if_cancelled()
                raise strict_error from None
            state.warnings.append(f"not every op has an integer kernel; some stay float32 ({strict_error.message})")
        if config.mode == INT8 and config.io_dtype == "int8":
            state.io_dtype = "int8"
        if config.layer_errors and config.mode == INT8:
            from core.optimize.selective import debug_layers

            ctx.progress(None, "measuring per-layer quantization error")
            _requantize, errors = debug_layers(
                _converter(state).make_converter,
                representative or representative_dataset(ctx.calibration_x, ctx.cancel),
                debug_dataset=positional_dataset(ctx.calibration_x, _fp32(state), _signature(ctx), ctx.cancel),
            )
            state.layer_errors = tuple(errors)

    def _with_aeq(self, state: WorkState, config: QuantizeConfig, ctx: PipelineContext) -> None:
        if config.io_dtype == "int8":
            raise ConversionError("int8 inputs/outputs are only available when converting from the original model")
        if config.selective is not None:
            raise ConversionError("selective quantization needs the original model (Keras or SavedModel)")
        ctx.progress(None, f"quantizing ({config.mode}) with ai-edge-quantizer")
        calib = ctx.calibration_x if config.mode in CALIBRATED_MODES else None
        float_bytes = state.tflite_bytes
        if float_bytes is None:
            raise ConversionError("quantize needs a convert step before it")
        interface = ctx.source.interface
        warnings = check_tflite_quantization(float_bytes, config.mode, interface.signature, interface.signatures)
        data, aeq_warnings = quantize_tflite(
            float_bytes, config.mode, calibration_x=calib, cancel=ctx.cancel, signature=ctx.source.signature
        )
        warnings += aeq_warnings
        state.tflite_bytes = data
        if config.layer_errors:
            from core.adapters.ai_edge_quantizer import tensor_errors

            nan = float("nan")
            rows = tensor_errors(float_bytes, data, ctx.calibration_x, signature=ctx.source.signature)
            state.layer_errors = tuple(
                LayerError(
                    tensor_name=r["tensor_name"],
                    op_name=r["kind"],
                    rmse_over_scale=nan,
                    mean_abs_error=nan,
                    max_abs_error=nan,
                    scale=nan,
                    mse=r["mse"],
                )
                for r in rows
            )
        state.converter_path = f"{state.converter_path}+ai-edge-quantizer"
        state.warnings.extend(warnings)


def _explain_integer_input(error: ConversionError, ctx: PipelineContext, mode: str) -> None:
    """Name the integer input when the converter's calibrator stumbled on it (a converter limitation)."""
    import re

    match = re.search(r"Failed for tensor (?:\w+?_)?([^:\s]+):0", error.message)
    if match is None:
        return
    for spec in ctx.source.interface.inputs:
        if spec.is_integer and match.group(1).endswith(spec.name):
            error.message = (
                f"{mode} cannot calibrate the integer input {spec.name!r} (ids): TensorFlow's "
                f"converter records no range for integer inputs in {mode}; int8 and dynamic keep "
                f"integer inputs as they are ({error.message[:200]})"
            )
            return


def _fp32(state: WorkState) -> bytes:
    """The fp32 .tflite the variant started from; ConversionError before a convert step."""
    if state.float_bytes is None:
        raise ConversionError("quantize needs a convert step before it")
    return state.float_bytes


def _converter(state: WorkState) -> ConverterFactory:
    """The TFLite converter of the variant's model; ConversionError for a .tflite source (no converter)."""
    if state.factory is None:
        raise ConversionError("the TFLite converter needs the original model (Keras or SavedModel)")
    return state.factory


def _saved_model_folder(state: WorkState) -> tuple[str, str]:
    """(folder, signature key) of the SavedModel the converter reads; ConversionError when it has none."""
    found = _converter(state).saved_model_folder()
    if found is None:
        raise ConversionError("isolated quantization needs a SavedModel of the model")
    return found


def _signature(ctx: PipelineContext) -> str:
    """The signature key of the source's conversions (Keras: the named export's serving_default)."""
    from core.optimize.convert import SERVING

    return ctx.source.signature or SERVING
