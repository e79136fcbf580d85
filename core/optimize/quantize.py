"""Post-training quantization settings per mode for the TFLite converter, and its calibration datasets.

With a Keras model or SavedModel the TFLite converter quantizes while it
converts (`configure_converter`), when a variant cannot be derived from the
fp32 conversion (`core.optimize.calibration` for int8/16x8,
`core.adapters.ai_edge_quantizer` for dynamic, float16 and weight-only; the latter
also quantizes a .tflite input, which has no original graph).
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np

from core.engine.context import CancelToken
from core.errors import ConversionError
from core.optimize.recipes import DYNAMIC, FLOAT16, FP32, INT8, INT16X8


def _samples(inputs: dict[str, np.ndarray]) -> int:
    return int(np.asarray(next(iter(inputs.values()))).shape[0]) if inputs else 0


def representative_dataset(
    inputs: dict[str, np.ndarray], cancel: CancelToken | None = None
) -> Callable[[], Iterator[dict[str, np.ndarray]]]:
    """The converter's representative dataset: one sample at a time (batch 1), keyed by signature input name.

    A dict per sample is how the converter feeds a signature's inputs by name
    (TF 2.7+); integer inputs (ids) keep their integer dtype.
    """

    def generate() -> Iterator[dict[str, np.ndarray]]:
        for i in range(_samples(inputs)):
            if cancel is not None:
                cancel.raise_if_cancelled()
            yield {name: value[i : i + 1] for name, value in inputs.items()}

    return generate


def positional_dataset(
    inputs: dict[str, np.ndarray], float_bytes: bytes, signature: str | None = None, cancel: CancelToken | None = None
) -> Callable[[], Iterator[list[np.ndarray]]]:
    """Samples as lists in the .tflite's input TENSOR order, for tools that feed tensors by position.

    TensorFlow's QuantizationDebugger zips its `debug_dataset` with the
    interpreter's input details. The order is read from the fp32 conversion of
    the same graph: each signature input's tensor index, via LiteRT's
    signature runner, so names decide the order, not a guess.
    """
    from core.optimize.runtime import SignatureModel

    model = SignatureModel(float_bytes, signature)
    index = {name: int(d["index"]) for name, d in model.runner.get_input_details().items()}
    order = sorted(index, key=lambda name: index[name])

    def generate() -> Iterator[list[np.ndarray]]:
        for i in range(_samples(inputs)):
            if cancel is not None:
                cancel.raise_if_cancelled()
            yield [inputs[name][i : i + 1] for name in order]

    return generate


def configure_converter(
    tf: Any,
    converter: Any,
    mode: str,
    *,
    representative: Callable[[], Iterator[dict[str, np.ndarray]]] | None = None,
    io_dtype: str = "float",
    allow_float_fallback: bool = False,
) -> None:
    """Set a `tf.lite.TFLiteConverter` up for `mode` (after `supported_ops` = builtins was set).

    Public converter knobs only: `optimizations`, `target_spec.supported_types` /
    `supported_ops`, `representative_dataset`, `inference_input_type` /
    `inference_output_type`. Raises ConversionError for a calibrated mode
    without `representative`, or an unknown mode.
    """
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
