"""Calibrate once, quantize many: int8 and 16x8 variants from one calibration of the fp32 .tflite.

The TFLite converter quantizes a calibrated model in two steps of its own
(`TFLiteConverter._quantize`): TensorFlow's `Calibrator` runs the float
.tflite on the representative samples and records each tensor's min/max, then
`mlir_quantize` (int8) or the calibrator's `QuantizeModel` (16x8) writes the
integer model. Run through the converter, each int8 variant converts the graph
again and re-runs the calibration. Here the fp32 conversion the pipeline has
already made is calibrated ONCE per data set (`calibrate`), and every integer
variant is written from that: plain int8, int8 inputs/outputs, selective
(layers kept float: `denylisted_nodes`), the per-layer debugger, and 16x8.
tests/core/test_convert_once.py checks the results against the converter's
own output (size, op set, outputs).

Not used for the batch-1 recurrent path: the calibrator was seen to crash
natively on its WHILE loop, so those variants keep the isolated converter
process (`core.optimize.isolated`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import ConversionError

# Ops a quantized model uses at its float boundary (or anywhere an op stays float).
BOUNDARY_OPS = ("QUANTIZE", "DEQUANTIZE")


@dataclass
class Calibration:
    """A calibrated float model: min/max of every tensor on one calibration set."""

    calibrated: bytes          # the float model with the recorded ranges (mlir_quantize's input)
    calibrator: Any            # TensorFlow's Calibrator, fed: writes 16x8 with QuantizeModel
    samples: int
    seconds: float


def calibrate(float_bytes: bytes, inputs: dict[str, np.ndarray], *, signature: str,
              cancel=None) -> Calibration:
    """Run the float .tflite on every calibration sample (batch 1, by input name); ConversionError on failure.

    Samples go one at a time, as the converter feeds its representative
    dataset, so the recorded ranges are the converter's.
    """
    from tensorflow.lite.python.optimize import calibrator as tf_calibrator

    from core.optimize.convert import quiet_native

    n = int(np.asarray(next(iter(inputs.values()))).shape[0]) if inputs else 0

    def samples():
        for i in range(n):
            if cancel is not None:
                cancel.raise_if_cancelled()
            yield signature, {name: value[i:i + 1] for name, value in inputs.items()}

    started = time.perf_counter()
    with quiet_native() as captured:
        try:
            model = tf_calibrator.add_intermediate_tensors(bytes(float_bytes))
            calibrator = tf_calibrator.Calibrator(model)
            calibrated = bytes(calibrator.calibrate(samples))
            failure = None
        except Exception as exc:  # noqa: BLE001 - the caller falls back to the converter
            failure = exc
    if failure is not None:
        if cancel is not None:
            cancel.raise_if_cancelled()
        raise ConversionError(f"calibration failed: {type(failure).__name__}: {failure}"[:400],
                              details=captured.text) from None
    return Calibration(calibrated=calibrated, calibrator=calibrator, samples=n,
                       seconds=time.perf_counter() - started)


def int8_model(calibration: Calibration, *, io_dtype: str = "float", float_layers: list[str] | None = None,
               numeric_verify: bool = False) -> bytes:
    """An int8 model from the calibrated one (the converter's new quantizer, per-channel weights).

    `io_dtype` "int8": integer inputs and outputs; `float_layers`: op output
    tensors kept in float (selective); `numeric_verify`: the debugger's
    instrumented model. ConversionError on failure.
    """
    from tensorflow.lite.python import convert as tfl_convert

    from core.optimize.convert import quiet_native
    from core.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    io = tf.int8 if io_dtype == "int8" else tf.float32
    with quiet_native() as captured:
        try:
            if numeric_verify:
                data = tfl_convert.mlir_quantize(calibration.calibrated, False, fully_quantize=False,
                                                 enable_numeric_verify=True,
                                                 denylisted_nodes=list(float_layers or []) or None)
            else:
                data = tfl_convert.mlir_quantize(calibration.calibrated, False, input_data_type=io,
                                                 output_data_type=io,
                                                 denylisted_nodes=list(float_layers or []) or None)
            failure = None
        except Exception as exc:  # noqa: BLE001
            failure = exc
    if failure is not None:
        raise ConversionError(f"int8 quantization failed: {type(failure).__name__}: {failure}"[:400],
                              details=captured.text) from None
    return bytes(data)


def int16x8_model(calibration: Calibration, *, allow_float: bool = False) -> bytes:
    """A 16x8 model (int16 activations, int8 weights, int64 bias) from the same calibration.

    The converter writes 16x8 with the calibrator's own quantizer; so does
    this. `allow_float` False: ConversionError when an op has no 16x8 kernel.
    """
    from core.optimize.convert import quiet_native

    with quiet_native() as captured:
        try:
            data = calibration.calibrator._calibrator.QuantizeModel(  # private: the converter's own call
                np.dtype(np.float32).num, np.dtype(np.float32).num, bool(allow_float),
                np.dtype(np.int16).num, np.dtype(np.int64).num, False, False)
            failure = None
        except Exception as exc:  # noqa: BLE001
            failure = exc
    if failure is not None:
        raise ConversionError(f"int16x8 quantization failed: {type(failure).__name__}: {failure}"[:400],
                              details=captured.text) from None
    return bytes(data)


def float_ops(tflite_bytes: bytes) -> list[str]:
    """Op types of a quantized model that still compute in float32 (read from the file, every subgraph).

    An op counts when one of its outputs is a float32 activation, except the
    DEQUANTIZE ops that turn results back into float. Empty when every op is integer, or when the file
    cannot be read (no claim then).
    """
    from core.models.tflite_graph import read_tflite_graph

    try:
        graph = read_tflite_graph(tflite_bytes)
    except Exception:  # noqa: BLE001 - only decides a warning
        return []
    found: set[str] = set()
    for sg in graph.subgraphs:
        for op in sg.ops:
            if op.name in BOUNDARY_OPS:
                continue
            if any(0 <= i < len(sg.tensors) and sg.tensors[i].dtype == "float32" and not sg.tensors[i].constant
                   for i in op.outputs):
                found.add(op.name)
    return sorted(found)


__all__ = ["Calibration", "calibrate", "float_ops", "int16x8_model", "int8_model"]
