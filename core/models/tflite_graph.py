"""Every subgraph of a .tflite model, read from its flatbuffer: tensors, constants and ops.

The LiteRT interpreter lists the ops of the first subgraph only, so the body of a
WHILE loop (where the converter puts the weights of an LSTM or GRU) is invisible
to it. This module reads the model with the flatbuffer schema that ships with
`ai_edge_litert` (`ai_edge_litert.schema_py_generated`, over the `flatbuffers`
package it depends on): no extra dependency.

Read a model only after the interpreter has accepted it (`inspect_tflite.open_interpreter`
runs the flatbuffer verifier); a reader error is still caught by the caller. When the
schema can't be imported or read, `graph_from_interpreter` describes the first
subgraph from the interpreter instead and says which subgraphs it could not read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

WEIGHT_DTYPES = frozenset({"float32", "float16", "int8", "int16", "uint8", "int4", "bfloat16"})


@dataclass(frozen=True)
class TfliteTensor:
    """One tensor of a .tflite subgraph as the flatbuffer describes it (see each field's comment)."""

    name: str
    shape: tuple[int, ...]  # static shape (a free dimension is stored as 1)
    signature: tuple[int, ...]  # -1 marks a free dimension; equals `shape` when none is free
    dtype: str  # numpy-style name: "float32", "int8", ...
    constant: bool = False  # holds data in the file (a weight, a shape, a scalar)
    quantized: bool = False  # has quantization scales
    variable: bool = False
    int_value: int | None = None  # value of a constant integer scalar (or 1-element vector)

    @property
    def elements(self) -> int:
        """Elements of the static shape (1 for a scalar); free dimensions count as stored (1)."""
        return math.prod(self.shape) if self.shape else 1


@dataclass(frozen=True)
class TfliteOp:
    """One operator of a subgraph: its position, op name, tensor indices and the options the MAC rules read."""

    index: int
    name: str  # builtin op name ("FULLY_CONNECTED") or "CUSTOM:<custom code>"
    inputs: tuple[int, ...]  # tensor indices; -1 for an omitted optional input
    outputs: tuple[int, ...]
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class TfliteSubgraph:
    """One subgraph: its tensors, operators in execution order, and input/output tensor indices."""

    name: str
    tensors: tuple[TfliteTensor, ...]
    ops: tuple[TfliteOp, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    def tensor(self, index: int) -> TfliteTensor | None:
        """The tensor at `index`, or None for an omitted optional input (-1) or an index out of range."""
        return self.tensors[index] if 0 <= index < len(self.tensors) else None


@dataclass(frozen=True)
class TfliteGraph:
    """Every subgraph of a .tflite that could be read; `unread` names the ones that could not."""

    subgraphs: tuple[TfliteSubgraph, ...]
    unread: tuple[str, ...] = ()  # subgraphs that could not be read (named or numbered)
    source: str = "flatbuffer"  # "flatbuffer" or "interpreter" (first subgraph only)

    @property
    def complete(self) -> bool:
        """True when every subgraph was read."""
        return not self.unread


def _enum_names(cls: type) -> dict[int, str]:
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _ints(length: int, get: Callable[[int], Any]) -> tuple[int, ...]:
    return tuple(int(get(i)) for i in range(length))


def read_tflite_graph(data: bytes) -> TfliteGraph:
    """All subgraphs of the model in `data` (raises ImportError when the schema is not available)."""
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(data, 0)
    op_names = _enum_names(schema.BuiltinOperator)
    type_names = {code: name.lower() for code, name in _enum_names(schema.TensorType).items()}
    codes = []
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        code = max(int(oc.BuiltinCode()), int(oc.DeprecatedBuiltinCode()))
        name = op_names.get(code, f"BUILTIN_{code}")
        if name == "CUSTOM":
            name = f"CUSTOM:{_text(oc.CustomCode())}"
        codes.append(name)

    def buffer_has_data(index: int) -> bool:
        if index <= 0 or index >= model.BuffersLength():
            return False
        buf = model.Buffers(index)
        return buf.DataLength() > 0 or int(buf.Offset()) > 1

    def int_value(dtype: str, buffer_index: int) -> int | None:
        if dtype not in ("int32", "int64") or not buffer_has_data(buffer_index):
            return None
        buf = model.Buffers(buffer_index)
        if not 0 < buf.DataLength() <= 8:  # a scalar or one-element vector; never copies a weight
            return None
        raw = buf.DataAsNumpy().tobytes()
        values = np.frombuffer(raw, dtype="<i4" if dtype == "int32" else "<i8")
        return int(values[0]) if values.size == 1 else None

    subgraphs = []
    for si in range(model.SubgraphsLength()):
        sg = model.Subgraphs(si)
        tensors = []
        for ti in range(sg.TensorsLength()):
            t = sg.Tensors(ti)
            dtype = type_names.get(int(t.Type()), f"type{int(t.Type())}")
            shape = _ints(t.ShapeLength(), t.Shape)
            signature = _ints(t.ShapeSignatureLength(), t.ShapeSignature) or shape
            q = t.Quantization()
            quantized = bool(q is not None and q.ScaleLength() > 0)
            constant = (buffer_has_data(int(t.Buffer())) or int(t.ExternalBuffer()) > 0) and not t.IsVariable()
            tensors.append(
                TfliteTensor(
                    name=_text(t.Name()),
                    shape=shape,
                    signature=signature,
                    dtype=dtype,
                    constant=constant,
                    quantized=quantized,
                    variable=bool(t.IsVariable()),
                    int_value=int_value(dtype, int(t.Buffer())) if constant else None,
                )
            )
        ops = []
        for oi in range(sg.OperatorsLength()):
            op = sg.Operators(oi)
            idx = int(op.OpcodeIndex())
            name = codes[idx] if 0 <= idx < len(codes) else f"OPCODE_{idx}"
            ops.append(
                TfliteOp(
                    index=oi,
                    name=name,
                    inputs=_ints(op.InputsLength(), op.Inputs),
                    outputs=_ints(op.OutputsLength(), op.Outputs),
                    options=_options(schema, name, op),
                )
            )
        subgraphs.append(
            TfliteSubgraph(
                name=_text(sg.Name()) or f"subgraph {si}",
                tensors=tuple(tensors),
                ops=tuple(ops),
                inputs=_ints(sg.InputsLength(), sg.Inputs),
                outputs=_ints(sg.OutputsLength(), sg.Outputs),
            )
        )
    return TfliteGraph(subgraphs=tuple(subgraphs))


def _options(schema: Any, name: str, op: Any) -> dict[str, Any]:
    """The few builtin options the MAC rules need."""
    table = op.BuiltinOptions()
    if table is None:
        return {}
    if name == "WHILE":
        o = schema.WhileOptions()
        o.Init(table.Bytes, table.Pos)
        return {"cond": int(o.CondSubgraphIndex()), "body": int(o.BodySubgraphIndex())}
    if name == "IF":
        o = schema.IfOptions()
        o.Init(table.Bytes, table.Pos)
        return {"then": int(o.ThenSubgraphIndex()), "else": int(o.ElseSubgraphIndex())}
    if name in ("AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D"):
        o = schema.Pool2DOptions()
        o.Init(table.Bytes, table.Pos)
        return {"filter": (int(o.FilterHeight()), int(o.FilterWidth()))}
    if name == "BATCH_MATMUL":
        o = schema.BatchMatMulOptions()
        o.Init(table.Bytes, table.Pos)
        return {"adj_x": bool(o.AdjX()), "adj_y": bool(o.AdjY())}
    return {}


def graph_from_interpreter(interpreter: Any) -> TfliteGraph:
    """The first subgraph as the interpreter lists it; the other subgraphs are named in `unread`.

    The op list comes from LiteRT's private op details (`core.adapters.litert.ops_details`):
    raises `core.adapters.UpstreamChanged` when this ai_edge_litert no longer has them, so a
    caller reports the counts as unknown rather than as a graph with no ops (0 params, 0 FLOPs).
    """
    import numpy as np

    from core.adapters import litert

    details = {int(t["index"]): t for t in interpreter.get_tensor_details()}
    ops_details = litert.ops_details(interpreter)
    produced = {int(i) for op in ops_details for i in op["outputs"]}
    inputs = tuple(int(d["index"]) for d in interpreter.get_input_details())
    outputs = tuple(int(d["index"]) for d in interpreter.get_output_details())
    used = {int(i) for op in ops_details for i in op["inputs"] if int(i) >= 0}
    constants = used - produced - set(inputs)
    size = max(list(details) + [-1]) + 1
    tensors = []
    for i in range(size):
        t = details.get(i)
        if t is None:
            tensors.append(TfliteTensor(name="", shape=(), signature=(), dtype=""))
            continue
        shape = tuple(int(d) for d in t["shape"])
        signature = tuple(int(d) for d in t.get("shape_signature", shape)) or shape
        try:
            dtype = np.dtype(t["dtype"]).name
        except TypeError:
            dtype = str(t["dtype"])
        qp = t.get("quantization_parameters") or {}
        tensors.append(
            TfliteTensor(
                name=str(t["name"]),
                shape=shape,
                signature=signature,
                dtype=dtype,
                constant=i in constants,
                quantized=len(qp.get("scales", ())) > 0,
            )
        )
    ops = tuple(
        TfliteOp(
            index=int(op["index"]),
            name=str(op["op_name"]),
            inputs=tuple(int(i) for i in op["inputs"]),
            outputs=tuple(int(i) for i in op["outputs"]),
        )
        for op in ops_details
    )
    count = int(interpreter.num_subgraphs()) if hasattr(interpreter, "num_subgraphs") else 1
    unread = tuple(f"subgraph {i}" for i in range(1, count))
    return TfliteGraph(
        subgraphs=(TfliteSubgraph(name="main", tensors=tuple(tensors), ops=ops, inputs=inputs, outputs=outputs),),
        unread=unread,
        source="interpreter",
    )


def count_tflite_params(graph: TfliteGraph) -> int:
    """Elements of the constant weight tensors of every subgraph read.

    A weight is a constant tensor of a float or small-integer type, or any quantized
    constant (an int32 bias of an int8 model). Integer shapes, axes and loop bounds
    are not parameters. A tensor counts once per subgraph that holds it, even when
    the converter stored identical constants in one shared buffer.
    """
    total = 0
    for sg in graph.subgraphs:
        for t in sg.tensors:
            if t.constant and (t.dtype in WEIGHT_DTYPES or t.quantized):
                total += t.elements
    return total
