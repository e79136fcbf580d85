"""MACs of a `.tflite` model (`count_tflite_macs`): the rules of `core.models.flops`
applied to the ops of every subgraph, WHILE loops counted per iteration or times their
constant trip count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from core.models.mac_count import POSITION_UNIT, SEQUENCE_UNIT, MacCount, _Uncounted
from core.models.tflite_graph import TfliteGraph, TfliteOp, TfliteSubgraph


# -- .tflite -------------------------------------------------------------------------

TFLITE_ZERO_BY_RULE = frozenset(
    {
        "ADD",
        "SUB",
        "DIV",
        "FLOOR_DIV",
        "FLOOR_MOD",
        "MAXIMUM",
        "MINIMUM",
        "ABS",
        "NEG",
        "SIGN",
        "ROUND",
        "FLOOR",
        "CEIL",
        "EXP",
        "LOG",
        "SQRT",
        "RSQRT",
        "POW",
        "SIN",
        "COS",
        "SQUARE",
        "LOGISTIC",
        "TANH",
        "RELU",
        "RELU6",
        "RELU_N1_TO_1",
        "RELU_0_TO_1",
        "LEAKY_RELU",
        "PRELU",
        "ELU",
        "GELU",
        "HARD_SWISH",
        "SOFTMAX",
        "LOG_SOFTMAX",
        "RESHAPE",
        "SQUEEZE",
        "EXPAND_DIMS",
        "TRANSPOSE",
        "CONCATENATION",
        "PACK",
        "UNPACK",
        "SPLIT",
        "SPLIT_V",
        "SLICE",
        "STRIDED_SLICE",
        "GATHER",
        "GATHER_ND",
        "SCATTER_ND",
        "SHAPE",
        "RANK",
        "FILL",
        "ZEROS_LIKE",
        "ONES_LIKE",
        "TILE",
        "BROADCAST_TO",
        "BROADCAST_ARGS",
        "PAD",
        "PADV2",
        "MIRROR_PAD",
        "REVERSE_V2",
        "DEPTH_TO_SPACE",
        "SPACE_TO_DEPTH",
        "BATCH_TO_SPACE_ND",
        "SPACE_TO_BATCH_ND",
        "RESIZE_NEAREST_NEIGHBOR",
        "RESIZE_BILINEAR",
        "ONE_HOT",
        "RANGE",
        "SELECT",
        "SELECT_V2",
        "WHERE",
        "CAST",
        "QUANTIZE",
        "DEQUANTIZE",
        "LESS",
        "LESS_EQUAL",
        "GREATER",
        "GREATER_EQUAL",
        "EQUAL",
        "NOT_EQUAL",
        "LOGICAL_AND",
        "LOGICAL_OR",
        "LOGICAL_NOT",
        "ARG_MAX",
        "ARG_MIN",
        "REDUCE_PROD",
        "EMBEDDING_LOOKUP",
        "HASHTABLE_LOOKUP",
        "CUMSUM",
        "CALL_ONCE",
        "VAR_HANDLE",
        "READ_VARIABLE",
        "ASSIGN_VARIABLE",
        "L2_NORMALIZATION",
    }
)

_MAX_LOOP_DEPTH = 32  # loops nested deeper are listed, not followed
_LSTM_WEIGHTS = tuple(range(1, 9))  # input-to-gate 1..4, recurrent-to-gate 5..8
_BIDI_LSTM_WEIGHTS = _LSTM_WEIGHTS + tuple(range(18, 26))


def _op_macs(op: TfliteOp, sg: TfliteSubgraph) -> int:
    """MACs of one op over the file's static shapes (the whole batch); raises _Uncounted."""

    def shape(k: int, source: Sequence[int] = op.inputs) -> tuple[int, ...]:
        if k >= len(source) or source[k] < 0:
            raise _Uncounted("an operand is missing")
        t = sg.tensor(source[k])
        if t is None:
            raise _Uncounted("an operand is missing")
        return t.shape

    def out(k: int = 0) -> tuple[int, ...]:
        return shape(k, op.outputs)

    def ranked(s: tuple[int, ...], rank: int | None = None, at_least: int = 1) -> tuple[int, ...]:
        if (rank is not None and len(s) != rank) or len(s) < at_least:
            raise _Uncounted("a shape is not known")
        return s

    name = op.name
    if name == "FULLY_CONNECTED":
        return math.prod(ranked(out())[:-1]) * math.prod(ranked(shape(1), 2))
    if name in ("CONV_2D", "CONV_3D"):
        return math.prod(ranked(out())[:-1]) * math.prod(ranked(shape(1), at_least=3))
    if name == "DEPTHWISE_CONV_2D":
        return math.prod(ranked(out())[:-1]) * math.prod(ranked(shape(1), 4)[1:])
    if name in ("TRANSPOSE_CONV", "CONV_3D_TRANSPOSE"):
        return math.prod(ranked(shape(2))[:-1]) * math.prod(ranked(shape(1), at_least=3))
    if name == "BATCH_MATMUL":
        lhs = ranked(shape(0), at_least=2)
        inner = lhs[-2] if op.options.get("adj_x") else lhs[-1]
        return math.prod(ranked(out())) * inner
    if name in ("MUL", "SQUARED_DIFFERENCE"):
        return math.prod(out())
    if name in ("AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D"):
        if "filter" not in op.options:
            raise _Uncounted("the pool size is not known")
        return math.prod(out()) * math.prod(op.options["filter"])
    if name in ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN"):
        return math.prod(shape(0))
    if name in ("UNIDIRECTIONAL_SEQUENCE_LSTM", "LSTM", "BIDIRECTIONAL_SEQUENCE_LSTM"):
        x = ranked(shape(0), at_least=2)
        weights = _BIDI_LSTM_WEIGHTS if name.startswith("BIDIRECTIONAL") else _LSTM_WEIGHTS
        present = [sg.tensor(op.inputs[k]) for k in weights if k < len(op.inputs) and op.inputs[k] >= 0]
        per_step = sum(math.prod(t.shape) for t in present if t is not None)
        units = ranked(shape(2), 2)[0]  # input-to-forget weights: (units, in)
        directions = 2 if name.startswith("BIDIRECTIONAL") else 1
        return math.prod(x[:-1]) * (per_step + 3 * units * directions)
    if name in ("UNIDIRECTIONAL_SEQUENCE_RNN", "RNN"):
        x = ranked(shape(0), at_least=2)
        return math.prod(x[:-1]) * (math.prod(ranked(shape(1), 2)) + math.prod(ranked(shape(2), 2)))
    if name in TFLITE_ZERO_BY_RULE:
        return 0
    raise _Uncounted("no rule for this op")


def _const_int(sg: TfliteSubgraph, index: int) -> int | None:
    t = sg.tensor(index)
    return None if t is None or not t.constant else t.int_value


def _trip_count(graph: TfliteGraph, sg: TfliteSubgraph, op: TfliteOp) -> int | None:
    """Iterations of a WHILE loop when it counts i = start; i < bound; i += step with constants; else None.

    The converter writes a Keras RNN's time loop this way: the bound is the sequence
    length, a constant when the length is fixed and computed at run time when it is free.
    """
    subgraphs = graph.subgraphs
    cond_i, body_i = op.options.get("cond", -1), op.options.get("body", -1)
    if not (0 <= cond_i < len(subgraphs) and 0 <= body_i < len(subgraphs)):
        return None
    cond, body = subgraphs[cond_i], subgraphs[body_i]
    trips = []
    for cop in cond.ops:
        if cop.name != "LESS" or len(cop.inputs) != 2 or cop.inputs[0] not in cond.inputs:
            continue
        slot = cond.inputs.index(cop.inputs[0])
        bound = _const_int(cond, cop.inputs[1])
        if bound is None and cop.inputs[1] in cond.inputs:
            j = cond.inputs.index(cop.inputs[1])
            bound = _const_int(sg, op.inputs[j]) if j < len(op.inputs) else None
        start = _const_int(sg, op.inputs[slot]) if slot < len(op.inputs) else None
        step = None
        if slot < len(body.inputs) and slot < len(body.outputs):
            for bop in body.ops:
                if bop.name == "ADD" and body.outputs[slot] in bop.outputs and body.inputs[slot] in bop.inputs:
                    other = [i for i in bop.inputs if i != body.inputs[slot]]
                    step = _const_int(body, other[0]) if len(other) == 1 else None
        if bound is not None and start is not None and step and step > 0:
            trips.append(max(0, -(-(bound - start) // step)))
    return min(trips) if trips else None


def count_tflite_macs(graph: TfliteGraph) -> MacCount:
    """MACs of a .tflite model for one sample, over every subgraph a WHILE loop reaches.

    The result has no per-layer rows (a .tflite has ops, not layers); `uncounted` names
    each op with no rule as ("<subgraph> op <index>", op name).
    """
    uncounted: list[tuple[str, str]] = []
    loops_per_iteration: list[str] = []

    done: dict[int, int] = {}

    def walk(index: int, stack: tuple[int, ...]) -> int:
        if index in done:  # a body reached twice counts twice, but is read once
            return done[index]
        sg = graph.subgraphs[index]
        total = 0
        for op in sg.ops:
            where = f"{sg.name} op {op.index}"
            if op.name == "WHILE":
                parts = [op.options.get("cond", -1), op.options.get("body", -1)]
                if len(stack) > _MAX_LOOP_DEPTH or not all(
                    0 <= p < len(graph.subgraphs) and p not in stack for p in parts
                ):
                    uncounted.append((where, op.name))
                    continue
                inner = sum(walk(p, stack + (p,)) for p in parts)
                trips = _trip_count(graph, sg, op)
                if trips is None:
                    loops_per_iteration.append(where)
                    trips = 1
                total += trips * inner
                continue
            if op.name in ("IF", "CALL", "STABLEHLO_CASE", "STABLEHLO_WHILE"):
                uncounted.append((where, op.name))
                continue
            try:
                macs = _op_macs(op, sg)
            except _Uncounted:
                uncounted.append((where, op.name))
                continue
            total += macs
        done[index] = total
        return total

    notes: list[str] = []
    if not graph.subgraphs:
        return MacCount(total=0, partial=True, notes=("the model has no subgraph",))
    total = walk(0, (0,))
    main = graph.subgraphs[0]
    first = main.tensor(main.inputs[0]) if main.inputs else None
    batch = first.shape[0] if first is not None and len(first.shape) >= 2 and first.shape[0] > 0 else 1
    inputs = [t for t in (main.tensor(i) for i in main.inputs) if t is not None]
    free_inputs = [t for t in inputs if any(d < 0 for d in t.signature[1:])]
    per = ""
    if free_inputs or loops_per_iteration:
        sequence = all(len(t.signature) == 3 and t.signature[1] < 0 and t.signature[2] > 0 for t in free_inputs)
        per = SEQUENCE_UNIT if sequence else (POSITION_UNIT if free_inputs else "loop iteration")
        if loops_per_iteration:
            notes.append(
                "the loop bound is computed at run time (a free sequence length): each loop body counts "
                "once, so FLOPs are per " + ("time step" if sequence else "loop iteration")
            )
        if free_inputs and not loops_per_iteration:
            notes.append(f"free input dimensions are counted at size 1: FLOPs are per {per}")
    if graph.unread:
        notes.append(f"{len(graph.unread)} subgraph(s) could not be read: their ops are not counted")
    return MacCount(
        total=total // batch, uncounted=tuple(uncounted), partial=bool(uncounted), per=per, notes=tuple(notes)
    )
