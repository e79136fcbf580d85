"""Every call into ai-edge-quantizer (AEQ), a 0.x library whose API still moves (checked in 0.10.0).

Two uses:

* `quantize_tflite`: a .tflite input (no original graph) quantized in any
  mode AEQ offers: dynamic range, weight-only, static int8 and 16x8.
* `derive_weight_variant`: dynamic range, float16 and weight-only derived from
  the fp32 .tflite the pipeline already converted, instead of running the
  TensorFlow converter again (~4 s per mode on MobileNetV2; AEQ takes ~0.1 s).
  The result is kept only when `not_like_converter` finds nothing the
  converter would have quantized that AEQ left in float32; otherwise the
  caller falls back to the converter (tests/core/test_convert_once.py checks
  size, op set and outputs against the converter's own output).

Only public names are used, each resolved through `SYMBOLS`: the `Quantizer`,
the recipe functions of `ai_edge_quantizer.recipe`, the `Calibrator` with its
documented `qsv_update_func` and `qsv_utils.min_max_update` (`_calibrate`), and for the float16
derivation `RecipeManager`, `qtyping.TFLOperationName` and
`algorithm_manager.AlgorithmName` (AEQ has no float16 recipe function). The
per-tensor errors of `Quantizer.validate` are read with the public
`ComparisonResult.available_signature_keys` / `get_signature_comparison_result`
(no longer the private `_comparison_results`). When one of these names has
moved, `UpstreamChanged` names it: a derivation then falls back to the
converter (the public TensorFlow route) and the variant carries a warning
saying so (`UpstreamFallback`); a .tflite input, which only AEQ can
quantize, fails that one variant with the reason. Any other AEQ failure is a
`ConversionError` (one variant fails, with the reason), never an uncaught
exception.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from core.adapters import UpstreamChanged, UpstreamFallback, resolve_symbol
from core.engine.context import CancelToken
from core.errors import ConversionError
from core.optimize.recipes import DYNAMIC, FLOAT16, INT8, INT16X8, WEIGHT_ONLY

LIBRARY = "ai-edge-quantizer"
LABEL = "ai-edge-quantizer's API"

QUANTIZER = "ai_edge_quantizer.quantizer:Quantizer"
RECIPES = {
    DYNAMIC: "ai_edge_quantizer.recipe:dynamic_wi8_afp32",
    WEIGHT_ONLY: "ai_edge_quantizer.recipe:weight_only_wi8_afp32",
    INT8: "ai_edge_quantizer.recipe:static_wi8_ai8",
    INT16X8: "ai_edge_quantizer.recipe:static_wi8_ai16",
}
LEGACY_DYNAMIC = "ai_edge_quantizer.recipe:dynamic_legacy_wi8_afp32"
RECIPE_MANAGER = "ai_edge_quantizer.recipe_manager:RecipeManager"
ALL_SUPPORTED = "ai_edge_quantizer.qtyping:TFLOperationName.ALL_SUPPORTED"
FLOAT_CASTING = "ai_edge_quantizer.algorithm_manager:AlgorithmName.FLOAT_CASTING"
SIGNATURE_KEYS = "ai_edge_quantizer.model_validator:ComparisonResult.available_signature_keys"
SIGNATURE_RESULT = "ai_edge_quantizer.model_validator:ComparisonResult.get_signature_comparison_result"
CALIBRATOR = "ai_edge_quantizer.calibrator:Calibrator"
MIN_MAX_UPDATE = "ai_edge_quantizer.utils.qsv_utils:min_max_update"
# Calibration samples per call on a .tflite whose batch axis is free (`calibration_batch`).
CALIBRATION_BATCH = 256
CALIBRATION_BATCH_BYTES = 64 * 1024 * 1024

# Every AEQ name Litesmith uses; tests/core/test_adapters_converter.py checks each is present.
SYMBOLS = (
    QUANTIZER,
    *RECIPES.values(),
    LEGACY_DYNAMIC,
    RECIPE_MANAGER,
    ALL_SUPPORTED,
    FLOAT_CASTING,
    SIGNATURE_KEYS,
    SIGNATURE_RESULT,
    CALIBRATOR,
    MIN_MAX_UPDATE,
)


def symbol(spec: str) -> Any:
    """The AEQ object `spec` ("module:name", one of `SYMBOLS`) names; `UpstreamChanged` when it is gone."""
    return resolve_symbol(spec, LIBRARY, LABEL)


def _reason(exc: BaseException) -> str:
    """An exception as one line: an `UpstreamChanged` says what moved; anything else gets its type name."""
    return str(exc) if isinstance(exc, UpstreamChanged) else f"{type(exc).__name__}: {exc}"


# The converter's dynamic-range quantizer skips weights under 1,024 elements; AEQ's "legacy" recipe does the same.
MIN_WEIGHT_ELEMENTS = 1024
DERIVABLE = (DYNAMIC, FLOAT16, WEIGHT_ONLY)


def available() -> bool:
    """Whether the ai_edge_quantizer package can be imported at all."""
    try:
        import ai_edge_quantizer  # noqa: F401
    except ImportError:
        return False
    return True


def _recipe(mode: str, *, derived: bool = False) -> Any:
    """AEQ's recipe for `mode`; `UpstreamChanged` when its recipe function moved, ConversionError for a
    mode AEQ does not offer."""
    if mode == DYNAMIC and derived:
        # the legacy recipe matches the converter (weights of >= 1,024 elements, symmetric, per channel)
        return symbol(LEGACY_DYNAMIC)()
    if mode == FLOAT16 and derived:
        # float16 of a .tflite input stays unoffered: the converter's float16 also stores biases and other
        # constants in float16, AEQ only the weights of the ops below (checked for derivation by not_like_converter)
        manager = symbol(RECIPE_MANAGER)()
        manager.add_weight_only_config(
            regex=".*", operation_name=symbol(ALL_SUPPORTED), num_bits=16, algorithm_key=symbol(FLOAT_CASTING)
        )
        return manager.get_quantization_recipe()
    if mode in RECIPES:
        return symbol(RECIPES[mode])()
    raise ConversionError(
        f"{mode} is not available for a .tflite input (ai-edge-quantizer offers dynamic, weight_only, int8 and "
        "int16x8); start from the Keras model or SavedModel for it"
    )


def _samples(inputs: dict[str, np.ndarray]) -> int:
    return int(np.asarray(next(iter(inputs.values()))).shape[0]) if inputs else 0


def _in_batches(
    inputs: dict[str, np.ndarray],
    names: list[str],
    limit: int | None = None,
    cancel: CancelToken | None = None,
    batch: int = 1,
) -> Iterator[dict[str, np.ndarray]]:
    """The samples (the first `limit`), `batch` at a time: {input name: array of up to `batch` samples}."""
    missing = [n for n in names if n not in inputs]
    if missing:
        raise ConversionError(f"no calibration data for the input(s) {', '.join(map(repr, missing))}")
    n = _samples(inputs) if limit is None else min(limit, _samples(inputs))
    for i in range(0, n, max(1, batch)):
        if cancel is not None:
            cancel.raise_if_cancelled()
        yield {name: inputs[name][i : min(n, i + batch)] for name in names}


def calibration_batch(tflite_bytes: bytes, key: str, inputs: dict[str, np.ndarray]) -> int:
    """How many samples to calibrate with per call: as many as `CALIBRATION_BATCH_BYTES` holds (at most
    `CALIBRATION_BATCH`) when every input's batch axis is free, else 1. Only speed depends on it: the
    ranges are the min/max over all calls either way (`_calibrate`)."""
    from ai_edge_litert.interpreter import Interpreter

    details = Interpreter(model_content=bytes(tflite_bytes)).get_signature_runner(key).get_input_details()
    if any(len(d["shape_signature"]) == 0 or int(d["shape_signature"][0]) != -1 for d in details.values()):
        return 1
    per_sample = sum(np.asarray(a[:1]).nbytes for a in inputs.values()) or 1
    return max(1, min(CALIBRATION_BATCH, CALIBRATION_BATCH_BYTES // per_sample))


def _run(tflite_bytes: bytes, recipe: Any, calibration: dict[str, list[dict[str, np.ndarray]]] | None = None) -> bytes:
    """The quantized .tflite of one AEQ run; `calibration`: {signature: [sample dicts]} or None."""
    from core.native_output import quiet_native

    quantizer = symbol(QUANTIZER)
    with quiet_native():
        q = quantizer(bytearray(tflite_bytes))
        q.load_quantization_recipe(recipe)
        stats = None
        if q.need_calibration:
            if calibration is None:
                raise ConversionError("this quantization needs calibration data")
            stats = _calibrate(tflite_bytes, recipe, calibration)
        result = q.quantize(stats, enable_progress_report=False)
    if result.quantized_model is None:
        raise ConversionError("ai-edge-quantizer produced no model")
    return bytes(result.quantized_model)


def _calibrate(tflite_bytes: bytes, recipe: Any, calibration: dict[str, list[dict[str, np.ndarray]]]) -> Any:
    """Each tensor's min/max over every calibration call: AEQ's `Calibrator` with its `min_max_update`.

    Why not `Quantizer.calibrate`: it keeps a moving average of each call's min/max (smoothing 0.95,
    `qsv_utils.moving_average_update`), so a .tflite whose batch is fixed at 1 (one sample per call) got
    ranges near its last ~20 samples' extremes, and int8 clipped what lay outside them. The absolute min/max
    is what the TensorFlow converter's calibration records (`MinMax::Update` in TensorFlow's
    lite/tools/optimize/calibration/calibration_logger.cc), so a Keras model and its .tflite are calibrated
    alike."""
    manager = symbol(RECIPE_MANAGER)()
    manager.load_quantization_recipe(recipe)
    calibrator = symbol(CALIBRATOR)(bytes(tflite_bytes), num_threads=1, qsv_update_func=symbol(MIN_MAX_UPDATE))
    calibrator.calibrate(calibration, manager)
    return calibrator.get_model_qsvs()


def derive_weight_variant(float_bytes: bytes, mode: str) -> bytes:
    """Dynamic range, float16 or weight-only of an fp32 .tflite, by AEQ; ConversionError on any failure.

    Raises ConversionError too when the result is not like the converter's
    (`not_like_converter`), and its subclass `UpstreamFallback` when an AEQ name
    moved (the message names it): the caller then uses the converter, and on
    `UpstreamFallback` says so on the variant (a fallback is never silent).
    """
    if mode not in DERIVABLE:
        raise ConversionError(f"{mode} is not derived from the fp32 model")
    if not available():
        raise ConversionError("ai-edge-quantizer is not installed")
    try:
        data = _run(float_bytes, _recipe(mode, derived=True))
    except ConversionError:
        raise
    except UpstreamChanged as exc:
        raise UpstreamFallback(f"ai-edge-quantizer could not derive {mode}: {exc}"[:400], exc) from None
    except Exception as exc:  # noqa: BLE001 - any AEQ failure fails the derivation, never the job
        raise ConversionError(f"ai-edge-quantizer could not derive {mode}: {_reason(exc)}"[:400]) from None
    reason = not_like_converter(data, mode)
    if reason:
        raise ConversionError(f"ai-edge-quantizer's {mode} differs from the converter's: {reason}")
    return data


def not_like_converter(tflite_bytes: bytes, mode: str) -> str | None:
    """Why an AEQ-derived variant may differ from the converter's, or None (measured from the file).

    The converter stores every float weight in float16 (float16 mode), or every
    weight of >= 1,024 elements in int8 (dynamic, weight-only). AEQ only handles
    the weights of FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV
    and EMBEDDING_LOOKUP; a float32 constant of rank >= 2 left in the file (a
    recurrent loop's weights, a MUL's constant operand) means the converter would
    have quantized something AEQ did not. Biases (rank 1) stay float32 in AEQ's
    float16 and in the converter's dynamic mode: a few bytes, not a different model.
    """
    from core.models.tflite_graph import read_tflite_graph

    try:
        graph = read_tflite_graph(tflite_bytes)
    except Exception as exc:  # noqa: BLE001 - unreadable: no claim of equivalence
        return f"the result cannot be read ({type(exc).__name__})"
    if graph.unread:
        return "a subgraph could not be read"
    minimum = 1 if mode == FLOAT16 else MIN_WEIGHT_ELEMENTS
    for sg in graph.subgraphs:
        for t in sg.tensors:
            if t.constant and t.dtype == "float32" and len(t.shape) >= 2 and int(np.prod(t.shape)) >= minimum:
                return f"the weight {t.name!r} {list(t.shape)} stays float32"
    return None


def signature_inputs(tflite_bytes: bytes, signature: str | None = None) -> tuple[str, list[str]]:
    """(signature key, its input names): `signature`, else serving_default, else the only one."""
    from ai_edge_litert.interpreter import Interpreter

    from core.models.signatures import choose_signature

    interpreter = Interpreter(model_content=bytes(tflite_bytes))
    signatures = interpreter.get_signature_list()
    if not signatures:
        raise ConversionError(
            "the .tflite model has no signature; ai-edge-quantizer needs one "
            "(convert it again with a recent TensorFlow)"
        )
    try:
        key = choose_signature(list(signatures), signature, path=None)
    except Exception as exc:  # noqa: BLE001 - BadInputError: no such signature; a conversion failure here
        raise ConversionError(str(exc)) from None
    return key, list(signatures[key]["inputs"])


def quantize_tflite(
    tflite_bytes: bytes,
    mode: str,
    *,
    calibration_x: dict[str, np.ndarray] | None = None,
    cancel: CancelToken | None = None,
    signature: str | None = None,
) -> tuple[bytes, list[str]]:
    """Quantize a float .tflite with ai-edge-quantizer; returns (bytes, warnings).

    `calibration_x`: calibration samples keyed by the signature's input names,
    arrays of shape (samples, ...). Raises ConversionError (this variant fails),
    or `UpstreamChanged` when an AEQ name moved: no other tool quantizes a
    .tflite, so the pipeline fails this one variant with that reason.
    """
    if not available():
        raise ConversionError(
            "quantizing a .tflite input needs the ai-edge-quantizer package (pip install ai-edge-quantizer)"
        )
    recipe = _recipe(mode)
    calibration = None
    if mode in (INT8, INT16X8):
        if calibration_x is None:
            raise ConversionError(f"{mode} quantization needs calibration data")
        key, names = signature_inputs(tflite_bytes, signature)
        batch = calibration_batch(tflite_bytes, key, {n: calibration_x[n] for n in names if n in calibration_x})
        calibration = {key: list(_in_batches(calibration_x, names, cancel=cancel, batch=batch))}
    try:
        data = _run(tflite_bytes, recipe, calibration)
    except (ConversionError, UpstreamChanged):
        raise
    except Exception as exc:  # noqa: BLE001 - any quantizer failure is a conversion failure
        if cancel is not None:
            cancel.raise_if_cancelled()
        reason = f"{type(exc).__name__}: {exc}"
        if mode in (INT8, INT16X8) and _has_loop(tflite_bytes):
            raise ConversionError(
                f"{mode} is not available for this model: ai-edge-quantizer cannot calibrate its "
                f"recurrent loop (a WHILE op) ({reason[:200]}); dynamic range and float16 need "
                "no calibration",
                details=reason,
            ) from None
        raise ConversionError(f"ai-edge-quantizer could not apply {mode}: {reason}") from None
    return data, []


def _has_loop(tflite_bytes: bytes) -> bool:
    """True when the .tflite has a WHILE op (a converted recurrent layer); False when it can't be read."""
    from core.models.tflite_graph import read_tflite_graph

    try:
        graph = read_tflite_graph(tflite_bytes)
    except Exception:  # noqa: BLE001 - only sharpens an error message
        return False
    return any(op.name == "WHILE" for sg in graph.subgraphs for op in sg.ops)


def tensor_errors(
    float_bytes: bytes, quantized_bytes: bytes, x: dict[str, np.ndarray], limit: int = 16, signature: str | None = None
) -> list[dict[str, Any]]:
    """Per-tensor error of a quantized .tflite against its float original (AEQ's validation), worst first.

    Runs both models on the first `limit` samples of `x` (keyed by input name). Returns rows
    {"tensor_name", "kind" ("intermediate" or "output"), "mse" (mean squared error, in the
    tensor's own units squared)}. Raises ConversionError, or `UpstreamChanged` when an AEQ name moved.
    """
    from core.native_output import quiet_native

    key, names = signature_inputs(float_bytes, signature)
    quantizer = symbol(QUANTIZER)
    keys_of, result_of = symbol(SIGNATURE_KEYS), symbol(SIGNATURE_RESULT)
    try:
        with quiet_native():
            q = quantizer(bytearray(float_bytes), previous_quantized_model=bytearray(quantized_bytes))
            data = {key: list(_in_batches(x, names, limit))}
            comparison = q.validate(test_data=data, num_threads=1)
            results = [result_of(comparison, k) for k in keys_of(comparison)]
    except (ConversionError, UpstreamChanged):
        raise
    except Exception as exc:  # noqa: BLE001 - a failed measurement fails the variant with its reason
        raise ConversionError(f"ai-edge-quantizer could not measure per-tensor errors: {_reason(exc)}"[:400]) from None
    rows = []
    for result in results:
        for kind, tensors in (("intermediate", result.intermediate_tensors), ("output", result.output_tensors)):
            for name, value in tensors.items():
                metrics = value if isinstance(value, dict) else {"mse": value}
                mse = metrics.get("mse", next(iter(metrics.values()), float("nan")))
                rows.append({"tensor_name": name, "kind": kind, "mse": float(np.asarray(mse).mean())})
    return sorted(rows, key=lambda r: -r["mse"] if np.isfinite(r["mse"]) else float("inf"))


__all__ = [
    "DERIVABLE",
    "LIBRARY",
    "SYMBOLS",
    "available",
    "derive_weight_variant",
    "not_like_converter",
    "quantize_tflite",
    "signature_inputs",
    "symbol",
    "tensor_errors",
]
