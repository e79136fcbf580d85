"""Tiny .tflite models written op by op with the flatbuffer schema that ships with ai_edge_litert.

No converter runs: the graph holds exactly the ops listed, so a test can count them by hand.
Every tensor is (1, 4); "FC" is a FULLY_CONNECTED with identity weights (float32), "CUMSUM" a
cumulative sum over axis 1 (an op XNNPACK does not take), "QUANTIZE"/"DEQUANTIZE" convert between
float32 and int8 (scale 1/64, zero point 0); any other name is a one-input builtin op.
"""

from __future__ import annotations

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as s

SCALE = 1 / 64


def build(chain: list[str]) -> bytes:
    """The bytes of a one-subgraph model that applies `chain` (op names) in order to a (1, 4) float input."""
    model = s.ModelT()
    model.version = 3
    model.buffers = [s.BufferT()]
    model.operatorCodes = []
    codes: dict[int, int] = {}
    graph = s.SubGraphT()
    graph.tensors, graph.operators = [], []

    def tensor(name: str, dtype=s.TensorType.FLOAT32, shape=(1, 4), data=None, quantized=False) -> int:
        t = s.TensorT()
        t.name, t.shape, t.type, t.buffer = name, list(shape), dtype, 0
        if data is not None:
            buffer = s.BufferT()
            buffer.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
            model.buffers.append(buffer)
            t.buffer = len(model.buffers) - 1
        if quantized:
            q = s.QuantizationParametersT()
            q.scale, q.zeroPoint = [SCALE], [0]
            t.quantization = q
        graph.tensors.append(t)
        return len(graph.tensors) - 1

    def op(name: str, inputs: list[int], outputs: list[int], options_type=0, options=None) -> None:
        code = getattr(s.BuiltinOperator, name)
        if code not in codes:
            oc = s.OperatorCodeT()
            oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = code, min(code, 127), 1
            codes[code] = len(model.operatorCodes)
            model.operatorCodes.append(oc)
        o = s.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = codes[code], inputs, outputs
        if options is not None:
            o.builtinOptionsType, o.builtinOptions = options_type, options
        graph.operators.append(o)

    current = tensor("x")
    graph.inputs = [current]
    for i, name in enumerate(chain):
        if name == "FC":
            weights = tensor(f"w{i}", shape=(4, 4), data=np.eye(4, dtype=np.float32))
            out = tensor(f"t{i}")
            op(
                "FULLY_CONNECTED",
                [current, weights, -1],
                [out],
                s.BuiltinOptions.FullyConnectedOptions,
                s.FullyConnectedOptionsT(),
            )
        elif name == "CUMSUM":
            axis = tensor(f"axis{i}", dtype=s.TensorType.INT32, shape=(), data=np.array(1, np.int32))
            out = tensor(f"t{i}")
            op("CUMSUM", [current, axis], [out], s.BuiltinOptions.CumsumOptions, s.CumsumOptionsT())
        elif name == "QUANTIZE":
            out = tensor(f"t{i}", dtype=s.TensorType.INT8, quantized=True)
            op("QUANTIZE", [current], [out])
        elif name == "DEQUANTIZE":
            out = tensor(f"t{i}")
            op("DEQUANTIZE", [current], [out])
        else:
            out = tensor(f"t{i}")
            op(name, [current], [out])
        current = out
    graph.outputs = [current]
    model.subgraphs = [graph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
