"""Every private or version-sensitive use of TensorFlow's TFLite converter (checked in TensorFlow 2.21.0).

Public API first. Everything a user of `tf.lite` can set goes through the public knobs
(`core.optimize.quantize.configure_converter`): `optimizations`, `representative_dataset`,
`target_spec.supported_ops` / `supported_types`, `inference_input_type` / `inference_output_type`.
Per-layer int8 error comes from the public `tf.lite.experimental.QuantizationDebugger`
(`QuantizationDebugOptions`, `get_nondebug_quantized_model`, `calibrated_model`).

What is private, why no public call does the same, and what happens when it moves (this module
then raises `core.adapters.UpstreamChanged` naming the symbol and TensorFlow's version):

* `tensorflow.lite.python.optimize.calibrator` (`add_intermediate_tensors`, `Calibrator`,
  `Calibrator.calibrate`): the converter's own calibration, run ONCE on the fp32 .tflite so every
  integer variant (int8, int8 I/O, selective, 16x8) is written from one calibration. `tf.lite`
  calibrates only inside `TFLiteConverter.convert()`, from the graph, again for every variant;
  no public call calibrates a .tflite. Moved: the caller converts with the public converter
  (same calibration code inside TensorFlow, run once per variant).
* `Calibrator._calibrator.QuantizeModel`: 16x8 written from that calibration. The public
  `Calibrator.calibrate_and_quantize` feeds every sample again, and the converter re-converts
  and recalibrates. Moved: the caller uses the public converter for 16x8.
* `tensorflow.lite.python.convert.mlir_quantize`: the converter's int8 quantizer applied to the
  calibrated model (float or int8 I/O, layers kept float with `denylisted_nodes`, the
  NumericVerify model for the debugger). The public routes re-convert the graph: the converter
  for int8, `QuantizationDebugger(converter=...)` for per-layer error, and
  `QuantizationDebugOptions(denylisted_nodes=...)` + `get_nondebug_quantized_model()` to keep
  layers in float (`requantize_with_debugger`). Moved: the caller takes those routes.

Every such fallback is visible: the variant built by the public route carries a warning naming the
moved symbol and TensorFlow's version (`core.optimize.variant_warnings.upstream_fallback`).

No longer used: `converter._experimental_disable_per_channel` (read to mirror the debugger's
converter). Litesmith never sets it, so the converter's default applies: per-channel weights,
`disable_per_channel=False`, which is what `mlir_quantize` is given here.

Failures that are not an upstream change (the calibration or the quantizer refusing this model)
propagate as the exceptions TensorFlow raised; the callers turn them into `ConversionError`.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from core.adapters import UpstreamChanged, resolve_symbol

LIBRARY = "tensorflow"
CALIBRATOR_LABEL = "TensorFlow's TFLite calibrator"
QUANTIZER_LABEL = "TensorFlow's TFLite quantizer"
DEBUGGER_LABEL = "TensorFlow's QuantizationDebugger"

CALIBRATOR_MODULE = "tensorflow.lite.python.optimize.calibrator"
CONVERT_MODULE = "tensorflow.lite.python.convert"
WRAPPER_MODULE = "tensorflow.lite.python.optimize._pywrap_tensorflow_lite_calibration_wrapper"

# Every private symbol this module resolves: "module:attribute" -> the label of its error.
# tests/core/test_adapters_converter.py checks each one is present in the installed TensorFlow.
SYMBOLS: dict[str, str] = {
    f"{CALIBRATOR_MODULE}:add_intermediate_tensors": CALIBRATOR_LABEL,
    f"{CALIBRATOR_MODULE}:Calibrator": CALIBRATOR_LABEL,
    f"{CALIBRATOR_MODULE}:Calibrator.calibrate": CALIBRATOR_LABEL,
    f"{WRAPPER_MODULE}:CalibrationWrapper.QuantizeModel": CALIBRATOR_LABEL,  # as Calibrator._calibrator
    f"{CONVERT_MODULE}:mlir_quantize": QUANTIZER_LABEL,
}


def _changed(label: str, what: str, exc: BaseException | None = None, *, missing: str = "") -> UpstreamChanged:
    """The `UpstreamChanged` for `what`; `missing`: the dotted name that is gone (the variant's warning names it)."""
    detail = f"{type(exc).__name__}: {exc}"[:200] if exc is not None else ""
    return UpstreamChanged(LIBRARY, label, what, detail, missing=missing)


def symbol(spec: str) -> Any:
    """The object `spec` ("module:attribute" or "module:Class.method", a key of `SYMBOLS`) names in the
    installed TensorFlow. Raises `UpstreamChanged` naming the module and attribute when either is gone.
    """
    return resolve_symbol(spec, LIBRARY, SYMBOLS.get(spec, QUANTIZER_LABEL))


def _checked_call(fn: Callable[..., Any], label: str, what: str, *args: Any, **kwargs: Any) -> Any:
    """Call a private Python function after checking it still takes these arguments.

    A signature that no longer binds is an upstream change (`UpstreamChanged`); an exception
    raised by the call itself is the function's own failure and propagates unchanged.
    """
    try:
        inspect.signature(fn).bind(*args, **kwargs)
    except TypeError as exc:
        raise _changed(label, f"{what} takes other arguments", exc) from exc
    except ValueError:
        pass  # no signature to inspect (a native function): the call decides
    return fn(*args, **kwargs)


# --------------------------------------------------------------------------- calibration


@dataclass(frozen=True)
class Calibrated:
    """A float .tflite calibrated by TensorFlow's calibrator.

    `model`: the float model with each tensor's recorded min/max (the quantizers' input);
    `handle`: TensorFlow's `Calibrator`, fed with the samples (`quantize_16x8` writes from it).
    """

    model: bytes
    handle: Any


Samples = Callable[[], Iterable[Any]]


def calibrate(float_bytes: bytes, samples: Samples) -> Calibrated:
    """Run the float .tflite on every sample and record each tensor's min/max, as the converter does.

    `samples()` yields what the converter's representative dataset yields: here
    `(signature key, {input name: array of batch 1})` per sample. Raises `UpstreamChanged`
    when the calibrator's module, class or methods moved; any other exception is the
    calibration's own failure (a model the calibrator cannot run) and propagates.
    """
    add = symbol(f"{CALIBRATOR_MODULE}:add_intermediate_tensors")
    cls = symbol(f"{CALIBRATOR_MODULE}:Calibrator")
    prepared = _checked_call(add, CALIBRATOR_LABEL, "add_intermediate_tensors", bytes(float_bytes))
    calibrator = _checked_call(cls, CALIBRATOR_LABEL, "Calibrator", prepared)
    run = getattr(calibrator, "calibrate", None)
    if run is None:
        raise _changed(
            CALIBRATOR_LABEL, "Calibrator has no calibrate", missing=f"{CALIBRATOR_MODULE}.Calibrator.calibrate"
        )
    return Calibrated(
        model=bytes(_checked_call(run, CALIBRATOR_LABEL, "Calibrator.calibrate", samples)), handle=calibrator
    )


def quantize_16x8(calibrated: Calibrated, *, allow_float: bool) -> bytes:
    """The 16x8 model (int16 activations, int8 weights, int64 bias, float I/O) from `calibrated`.

    TensorFlow's own 16x8 call (`Calibrator._calibrator.QuantizeModel`, as the converter makes it
    in `Calibrator.calibrate_and_quantize`) without feeding the samples again. `allow_float`
    False: the quantizer fails when an op has no 16x8 kernel (its own exception propagates).
    Raises `UpstreamChanged` when the native wrapper or its QuantizeModel moved.
    """
    import numpy as np

    wrapper = getattr(calibrated.handle, "_calibrator", None)
    quantize = getattr(wrapper, "QuantizeModel", None)
    if quantize is None:
        raise _changed(
            CALIBRATOR_LABEL,
            "Calibrator._calibrator.QuantizeModel is gone",
            missing=f"{CALIBRATOR_MODULE}.Calibrator._calibrator.QuantizeModel",
        )
    float32, int16, int64 = np.dtype(np.float32).num, np.dtype(np.int16).num, np.dtype(np.int64).num
    try:
        # (input type, output type, allow float, activations, bias, disable per-channel, ... for dense layers)
        data = quantize(float32, float32, bool(allow_float), int16, int64, False, False)
    except TypeError as exc:  # pybind11's "incompatible function arguments": the signature moved
        raise _changed(CALIBRATOR_LABEL, "Calibrator._calibrator.QuantizeModel takes other arguments", exc) from exc
    return bytes(data)


# --------------------------------------------------------------------------- the MLIR quantizer


def mlir_quantize(
    calibrated_model: bytes, *, io_dtype: Any = None, numeric_verify: bool = False, denylisted_nodes: Sequence[str] = ()
) -> bytes:
    """The int8 model (per-channel weights) the converter writes from a calibrated float model.

    `io_dtype`: a `tf.DType` for the model's inputs and outputs (None: float32, the converter's
    default); `denylisted_nodes`: op output tensor names kept in float (selective);
    `numeric_verify`: the debugger's instrumented model (NumericVerify ops, not fully quantized).
    Raises `UpstreamChanged` when `mlir_quantize` is gone or no longer takes these arguments;
    the quantizer's own failure propagates.
    """
    fn = symbol(f"{CONVERT_MODULE}:mlir_quantize")
    # disable_per_channel=False: the converter's default, which Litesmith never changes.
    kwargs: dict[str, Any] = {"disable_per_channel": False, "denylisted_nodes": list(denylisted_nodes) or None}
    if numeric_verify:
        kwargs.update(fully_quantize=False, enable_numeric_verify=True)
    elif io_dtype is not None:
        kwargs.update(input_data_type=io_dtype, output_data_type=io_dtype)
    return bytes(_checked_call(fn, QUANTIZER_LABEL, "mlir_quantize", bytes(calibrated_model), **kwargs))


# --------------------------------------------------------------------------- the debugger (public API)


def debugger_calibrated_model(debugger: Any) -> bytes:
    """The calibrated model a converter-built QuantizationDebugger quantized (its `calibrated_model`).

    Raises `UpstreamChanged` when the debugger no longer keeps it.
    """
    model = getattr(debugger, "calibrated_model", None)
    if not model:
        raise _changed(
            DEBUGGER_LABEL,
            "QuantizationDebugger has no calibrated_model",
            missing="tf.lite.experimental.QuantizationDebugger.calibrated_model",
        )
    return bytes(model)


def requantize_with_debugger(debugger: Any, float_layers: Sequence[str]) -> bytes:
    """The int8 model with `float_layers` (op output tensor names) in float, by the public debugger API.

    `debugger` must have been built from a converter. Sets its options to
    `QuantizationDebugOptions(denylisted_nodes=float_layers, fully_quantize=False)` and returns
    `get_nondebug_quantized_model()`: the same quantizer call as `mlir_quantize(...,
    denylisted_nodes=...)`, through TensorFlow's own code. Each call also rebuilds the debugger's
    instrumented model, so it is slower; it is the route taken when `mlir_quantize` moved.
    """
    from core.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    debugger.options = tf.lite.experimental.QuantizationDebugOptions(
        denylisted_nodes=list(float_layers) or None, fully_quantize=False
    )
    return bytes(debugger.get_nondebug_quantized_model())


__all__ = [
    "CALIBRATOR_MODULE",
    "CONVERT_MODULE",
    "WRAPPER_MODULE",
    "Calibrated",
    "LIBRARY",
    "SYMBOLS",
    "calibrate",
    "debugger_calibrated_model",
    "mlir_quantize",
    "quantize_16x8",
    "requantize_with_debugger",
    "symbol",
]
