"""Post-training quantization settings per mode, and the ai-edge-quantizer path for a .tflite input.

With a Keras model or SavedModel the TFLite converter quantizes while it
converts (`configure_converter`). With only a .tflite (no original graph),
`quantize_tflite` applies the same ideas through ai-edge-quantizer: dynamic
range, weight-only, static int8 and 16x8.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np

from core.errors import ConversionError
from core.optimize.recipes import DYNAMIC, FLOAT16, FP32, INT8, INT16X8, WEIGHT_ONLY


def _samples(inputs: dict[str, np.ndarray]) -> int:
    return int(np.asarray(next(iter(inputs.values()))).shape[0]) if inputs else 0


def representative_dataset(inputs: dict[str, np.ndarray],
                           cancel=None) -> Callable[[], Iterator[dict[str, np.ndarray]]]:
    """The converter's representative dataset: one sample at a time (batch 1), keyed by signature input name.

    A dict per sample is how the converter feeds a signature's inputs by name
    (TF 2.7+); integer inputs (ids) keep their integer dtype.
    """

    def generate() -> Iterator[dict[str, np.ndarray]]:
        for i in range(_samples(inputs)):
            if cancel is not None:
                cancel.raise_if_cancelled()
            yield {name: value[i:i + 1] for name, value in inputs.items()}

    return generate


def positional_dataset(inputs: dict[str, np.ndarray], float_bytes: bytes, signature: str | None = None,
                       cancel=None) -> Callable[[], Iterator[list[np.ndarray]]]:
    """Samples as lists in the .tflite's input TENSOR order, for tools that feed tensors by position.

    TensorFlow's QuantizationDebugger zips its `debug_dataset` with the
    interpreter's input details. The order is read from the fp32 conversion of
    the same graph: each signature input's tensor index, via LiteRT's
    signature runner, so names decide the order, not a guess.
    """
    from core.optimize.runtime import SignatureModel

    model = SignatureModel(float_bytes, signature)
    index = {name: int(d["index"]) for name, d in model.runner.get_input_details().items()}
    order = sorted(index, key=index.get)

    def generate() -> Iterator[list[np.ndarray]]:
        for i in range(_samples(inputs)):
            if cancel is not None:
                cancel.raise_if_cancelled()
            yield [inputs[name][i:i + 1] for name in order]

    return generate


def configure_converter(tf, converter, mode: str, *, representative=None, io_dtype: str = "float",
                        allow_float_fallback: bool = False) -> None:
    """Set the converter up for `mode` (after `supported_ops` = builtins was set)."""
    ops = tf.lite.OpsSet
    if mode == FP32:
        return
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == DYNAMIC:
        return
    if mode == FLOAT16:
        converter.target_spec.supported_types = [tf.float16]
        return
    if mode in (INT8, INT16X8):
        if representative is None:
            raise ConversionError(f"{mode} quantization needs calibration data")
        converter.representative_dataset = representative
        if mode == INT8:
            supported = [ops.TFLITE_BUILTINS_INT8]
            if io_dtype == "int8":
                converter.inference_input_type = tf.int8
                converter.inference_output_type = tf.int8
        else:
            supported = [ops.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        if allow_float_fallback:
            supported.append(ops.TFLITE_BUILTINS)
        converter.target_spec.supported_ops = supported
        return
    raise ConversionError(f"mode {mode!r} is not a converter mode")


# ---------------------------------------------------------------------------
# ai-edge-quantizer (a .tflite input, or weight-only on any model)


def aeq_available() -> bool:
    try:
        import ai_edge_quantizer  # noqa: F401
    except ImportError:
        return False
    return True


def _aeq_recipe(mode: str):
    from ai_edge_quantizer import recipe

    if mode == DYNAMIC:
        return recipe.dynamic_wi8_afp32()
    if mode == WEIGHT_ONLY:
        return recipe.weight_only_wi8_afp32()
    if mode == INT8:
        return recipe.static_wi8_ai8()
    if mode == INT16X8:
        return recipe.static_wi8_ai16()
    raise ConversionError(
        f"{mode} is not available for a .tflite input (ai-edge-quantizer offers dynamic, weight_only, int8 and "
        "int16x8); start from the Keras model or SavedModel for it")


def signature_inputs(tflite_bytes: bytes, signature: str | None = None) -> tuple[str, list[str]]:
    """(signature key, its input names): `signature`, else serving_default, else the only one."""
    from ai_edge_litert.interpreter import Interpreter

    from core.models.signatures import choose_signature

    interpreter = Interpreter(model_content=bytes(tflite_bytes))
    signatures = interpreter.get_signature_list()
    if not signatures:
        raise ConversionError("the .tflite model has no signature; ai-edge-quantizer needs one "
                              "(convert it again with a recent TensorFlow)")
    try:
        key = choose_signature(list(signatures), signature, path=None)
    except Exception as exc:  # noqa: BLE001 - BadInputError: no such signature; a conversion failure here
        raise ConversionError(str(exc)) from None
    return key, list(signatures[key]["inputs"])


def _per_sample(inputs: dict[str, np.ndarray], names: list[str], limit: int | None = None, cancel=None):
    missing = [n for n in names if n not in inputs]
    if missing:
        raise ConversionError(f"no calibration data for the input(s) {', '.join(map(repr, missing))}")
    n = _samples(inputs) if limit is None else min(limit, _samples(inputs))
    for i in range(n):
        if cancel is not None:
            cancel.raise_if_cancelled()
        yield {name: inputs[name][i:i + 1] for name in names}


def quantize_tflite(tflite_bytes: bytes, mode: str, *, calibration_x: dict[str, np.ndarray] | None = None,
                    cancel=None, signature: str | None = None) -> tuple[bytes, list[str]]:
    """Quantize a float .tflite with ai-edge-quantizer; returns (bytes, warnings).

    `calibration_x`: calibration samples keyed by the signature's input names.
    """
    if not aeq_available():
        raise ConversionError("quantizing a .tflite input needs the ai-edge-quantizer package "
                              "(pip install ai-edge-quantizer)")
    from ai_edge_quantizer import quantizer as aeq_quantizer

    from core.optimize.convert import quiet_native

    warnings: list[str] = []
    recipe = _aeq_recipe(mode)
    try:
        with quiet_native():
            q = aeq_quantizer.Quantizer(bytearray(tflite_bytes))
            q.load_quantization_recipe(recipe)
            calibration = None
            if q.need_calibration:
                if calibration_x is None:
                    raise ConversionError(f"{mode} quantization needs calibration data")
                key, names = signature_inputs(tflite_bytes, signature)
                samples = list(_per_sample(calibration_x, names, cancel=cancel))
                calibration = q.calibrate({key: samples}, num_threads=1)
            result = q.quantize(calibration, enable_progress_report=False)
    except ConversionError:
        raise
    except Exception as exc:  # noqa: BLE001 - any quantizer failure is a conversion failure
        if cancel is not None:
            cancel.raise_if_cancelled()
        reason = f"{type(exc).__name__}: {exc}"
        if q_need_calibration(mode) and _has_loop(tflite_bytes):
            raise ConversionError(f"{mode} is not available for this model: ai-edge-quantizer cannot calibrate its "
                                  f"recurrent loop (a WHILE op) ({reason[:200]}); dynamic range and float16 need "
                                  "no calibration", details=reason) from None
        raise ConversionError(f"ai-edge-quantizer could not apply {mode}: {reason}") from None
    if result.quantized_model is None:
        raise ConversionError(f"ai-edge-quantizer produced no model for {mode}")
    return bytes(result.quantized_model), warnings


def q_need_calibration(mode: str) -> bool:
    return mode in (INT8, INT16X8)


def _has_loop(tflite_bytes: bytes) -> bool:
    """True when the .tflite has a WHILE op (a converted recurrent layer); False when it can't be read."""
    from core.models.tflite_graph import read_tflite_graph

    try:
        graph = read_tflite_graph(tflite_bytes)
    except Exception:  # noqa: BLE001 - only sharpens an error message
        return False
    return any(op.name == "WHILE" for sg in graph.subgraphs for op in sg.ops)


def aeq_tensor_errors(float_bytes: bytes, quantized_bytes: bytes, x: dict[str, np.ndarray], limit: int = 16,
                      signature: str | None = None) -> list[dict[str, Any]]:
    """Per-tensor error of a quantized .tflite against its float original (ai-edge-quantizer validation)."""
    from ai_edge_quantizer import quantizer as aeq_quantizer

    from core.optimize.convert import quiet_native

    key, names = signature_inputs(float_bytes, signature)
    with quiet_native():
        q = aeq_quantizer.Quantizer(bytearray(float_bytes), previous_quantized_model=bytearray(quantized_bytes))
        data = {key: list(_per_sample(x, names, limit))}
        comparison = q.validate(test_data=data, num_threads=1)
    rows = []
    for result in comparison._comparison_results.values():  # noqa: SLF001 - per-signature results
        for kind, tensors in (("intermediate", result.intermediate_tensors), ("output", result.output_tensors)):
            for name, value in tensors.items():
                metrics = value if isinstance(value, dict) else {"mse": value}
                mse = metrics.get("mse", next(iter(metrics.values()), float("nan")))
                rows.append({"tensor_name": name, "kind": kind, "mse": float(np.asarray(mse).mean())})
    return sorted(rows, key=lambda r: -r["mse"] if np.isfinite(r["mse"]) else float("inf"))
