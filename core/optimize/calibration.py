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

TensorFlow's calibrator and quantizers are private: they are reached only
through `core.adapters.tf_converter`. When one of them moved
(`UpstreamChanged`), or fails on this model, the functions here raise
`ConversionError` with the reason, and the pipeline converts that variant
with the public converter instead (`core.optimize.passes.QuantizePass`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from core.adapters import UpstreamChanged, UpstreamFallback, tf_converter
from core.engine.context import CancelToken
from core.errors import ConversionError

# Ops a quantized model uses at its float boundary (or anywhere an op stays float).
BOUNDARY_OPS = ("QUANTIZE", "DEQUANTIZE")


@dataclass
class Calibration:
    """A calibrated float model: min/max of every tensor on one calibration set."""

    calibrated: bytes  # the float model with the recorded ranges (mlir_quantize's input)
    calibrator: Any  # the adapter's `Calibrated` (TensorFlow's fed Calibrator): writes 16x8
    samples: int
    seconds: float


def _failure(what: str, exc: BaseException, log: str = "") -> ConversionError:
    """One variant's ConversionError from the converter's own failure, or an `UpstreamFallback` (a
    ConversionError that keeps the adapter's `UpstreamChanged`, for the variant's warning) when a private
    TensorFlow name moved."""
    if isinstance(exc, UpstreamChanged):
        return UpstreamFallback(f"{what} failed: {exc}"[:400], exc, details=log)
    return ConversionError(f"{what} failed: {type(exc).__name__}: {exc}"[:400], details=log)


def calibrate(
    float_bytes: bytes, inputs: dict[str, np.ndarray], *, signature: str, cancel: CancelToken | None = None
) -> Calibration:
    """Run the float .tflite on every calibration sample (batch 1, by input name).

    `inputs`: arrays of shape (samples, ...) keyed by the signature's input
    names. Samples go one at a time, as the converter feeds its representative
    dataset, so the recorded ranges are the converter's. Raises ConversionError
    (the calibrator's log as details; the message names a moved TensorFlow
    symbol), or Cancelled.
    """
    from core.native_output import quiet_native

    n = int(np.asarray(next(iter(inputs.values()))).shape[0]) if inputs else 0

    def samples() -> Iterator[tuple[str, dict[str, np.ndarray]]]:
        for i in range(n):
            if cancel is not None:
                cancel.raise_if_cancelled()
            yield signature, {name: value[i : i + 1] for name, value in inputs.items()}

    started = time.perf_counter()
    failure: BaseException | None = None
    with quiet_native() as captured:
        try:
            done = tf_converter.calibrate(bytes(float_bytes), samples)
        except Exception as exc:  # noqa: BLE001 - the caller falls back to the converter
            failure = exc
    if failure is not None:
        if cancel is not None:
            cancel.raise_if_cancelled()
        raise _failure("calibration", failure, captured.text) from None
    return Calibration(calibrated=done.model, calibrator=done, samples=n, seconds=time.perf_counter() - started)


def int8_model(
    calibration: Calibration,
    *,
    io_dtype: str = "float",
    float_layers: list[str] | None = None,
    numeric_verify: bool = False,
) -> bytes:
    """An int8 model from the calibrated one (the converter's new quantizer, per-channel weights).

    `io_dtype` "int8": integer inputs and outputs; `float_layers`: op output
    tensors kept in float (selective); `numeric_verify`: the debugger's
    instrumented model. Returns the .tflite bytes; raises ConversionError.
    """
    from core.native_output import quiet_native
    from core.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    failure: BaseException | None = None
    data = b""
    with quiet_native() as captured:
        try:
            data = tf_converter.mlir_quantize(
                calibration.calibrated,
                numeric_verify=numeric_verify,
                io_dtype=tf.int8 if io_dtype == "int8" else None,
                denylisted_nodes=list(float_layers or []),
            )
        except Exception as exc:  # noqa: BLE001
            failure = exc
    if failure is not None:
        raise _failure("int8 quantization", failure, captured.text) from None
    return data


def int16x8_model(calibration: Calibration, *, allow_float: bool = False) -> bytes:
    """A 16x8 model (int16 activations, int8 weights, int64 bias) from the same calibration.

    The converter writes 16x8 with the calibrator's own quantizer; so does
    this. `allow_float` False: ConversionError when an op has no 16x8 kernel.
    """
    from core.native_output import quiet_native

    failure: BaseException | None = None
    data = b""
    with quiet_native() as captured:
        try:
            data = tf_converter.quantize_16x8(calibration.calibrator, allow_float=allow_float)
        except Exception as exc:  # noqa: BLE001
            failure = exc
    if failure is not None:
        raise _failure("int16x8 quantization", failure, captured.text) from None
    return data


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
            if any(
                0 <= i < len(sg.tensors) and sg.tensors[i].dtype == "float32" and not sg.tensors[i].constant
                for i in op.outputs
            ):
                found.add(op.name)
    return sorted(found)


__all__ = ["Calibration", "calibrate", "float_ops", "int16x8_model", "int8_model"]
