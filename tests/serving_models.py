"""A tiny .tflite for the serving tests, written with the flatbuffer schema (no converter, no TensorFlow).

y = x @ W + b with x (batch, 4) float32, free batch axis, one signature "serving_default" with input
"x" and output "y": the batch can grow, and numpy gives the expected outputs.
"""

from __future__ import annotations

from pathlib import Path

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as s

WEIGHTS = np.arange(12, dtype=np.float32).reshape(3, 4) / 10.0  # FULLY_CONNECTED keeps (out, in)
BIAS = np.array([0.5, -1.0, 2.0], dtype=np.float32)


def expected(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32) @ WEIGHTS.T + BIAS


def dense_tflite(free_batch: bool = True) -> bytes:
    """The model's bytes; `free_batch=False` fixes the batch axis at 1 (a model that cannot batch)."""
    model = s.ModelT()
    model.version = 3
    model.buffers = [s.BufferT()]
    graph = s.SubGraphT()
    graph.tensors, graph.operators = [], []

    def tensor(name, shape, signature=None, data=None):
        t = s.TensorT()
        t.name, t.shape, t.type, t.buffer = name, list(shape), s.TensorType.FLOAT32, 0
        if signature is not None:
            t.shapeSignature = list(signature)
        if data is not None:
            buffer = s.BufferT()
            buffer.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
            model.buffers.append(buffer)
            t.buffer = len(model.buffers) - 1
        graph.tensors.append(t)
        return len(graph.tensors) - 1

    x = tensor("x", (1, 4), (-1, 4) if free_batch else None)
    w = tensor("w", (3, 4), data=WEIGHTS)
    b = tensor("b", (3,), data=BIAS)
    y = tensor("y", (1, 3), (-1, 3) if free_batch else None)
    code = s.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = s.BuiltinOperator.FULLY_CONNECTED
    code.version = 1
    model.operatorCodes = [code]
    op = s.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [x, w, b], [y]
    op.builtinOptionsType, op.builtinOptions = s.BuiltinOptions.FullyConnectedOptions, s.FullyConnectedOptionsT()
    graph.operators = [op]
    graph.inputs, graph.outputs = [x], [y]
    model.subgraphs = [graph]
    sig = s.SignatureDefT()
    sig.signatureKey, sig.subgraphIndex = "serving_default", 0
    tin, tout = s.TensorMapT(), s.TensorMapT()
    tin.name, tin.tensorIndex = "x", x
    tout.name, tout.tensorIndex = "y", y
    sig.inputs, sig.outputs = [tin], [tout]
    model.signatureDefs = [sig]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def write_dense_tflite(folder: Path, name: str = "dense") -> Path:
    path = Path(folder) / f"{name}.tflite"
    path.write_bytes(dense_tflite())
    return path
