"""The one multiply-accumulate (MAC) counter, shared by `inspect` and compression.

**Units.** A MAC is one multiply-accumulate. FLOPs = 2 x MACs (one multiply and one
add each), the convention `inspect` has always printed. Counts are for ONE sample:
the batch axis never counts.

**Free dimensions.** A dimension that is None (a free sequence length, a free height
or width) is counted per position: each layer's count is per position of its own
free axes (per time step for a sequence; per output position for a convolution),
and the total says so (`MacCount.per`: "time step" or "position"). Give concrete
shapes (`count_keras_macs(model, {"x": (30, 3)})`) to count a whole sample.

**Rules** (Keras layer classes; shapes are channels-last unless the layer says
`channels_first`; "positions" = the product of the axes between batch and features):

* Dense: positions x in_features x units.
* EinsumDense: the product of the sizes of every index in its equation, batch excluded.
* Conv1D/2D/3D: output positions x kernel size x (in_channels / groups) x filters.
* DepthwiseConv1D/2D: output positions x kernel size x in_channels x depth_multiplier.
* SeparableConv1D/2D: the depthwise part above + output positions x in_channels x depth_multiplier x filters.
* Conv1D/2D/3DTranspose: input positions x kernel size x in_channels x filters (each input
  position scatters one kernel per filter).
* Recurrent layers (LSTM, GRU, SimpleRNN and RNN over their cells), per time step, times the
  sequence length (source: the cell equations of keras/src/layers/rnn/*.py):
    - SimpleRNN: (in + units) x units (x.W + h.U);
    - LSTM: 4 x (in + units) x units + 3 x units (four gate matmuls, then c = f*c + i*g and
      h = o*tanh(c): three element-wise products per unit);
    - GRU (reset_after True or False): 3 x (in + units + 1) x units = three gate matmuls +
      r*(h.U_h) (or r*h), z*h and (1-z)*hh: three element-wise products per unit;
    - StackedRNNCells: the sum of its cells, each fed the previous one's units.
  Biases, activations and the recurrent state copies are not counted.
* Bidirectional: its forward layer + its backward layer on the same input.
* TimeDistributed: the wrapped layer on one step x the number of steps.
* MultiHeadAttention (source: keras/src/layers/attention/multi_head_attention.py), with Tq
  query positions and Tk key positions, H heads, key_dim K and value_dim V: the Q, K, V and
  output projections (Tq x q_dim x H x K, Tk x k_dim x H x K, Tk x v_dim x H x V, Tq x H x V x out_dim)
  + QK^T (H x Tq x Tk x K) + AV (H x Tq x Tk x V); per query position that is
  q_dim x H x K + H x Tk x (K + V) + H x V x out_dim plus the key/value projections.
  Softmax and the 1/sqrt(K) scale are not counted.
* Attention / AdditiveAttention: Tq x Tv x (dim + value_dim) (scores and the weighted sum).
* BatchNormalization: 1 per element (inference folds it into x*scale + shift).
* LayerNormalization, GroupNormalization: 4 per element (mean, variance, normalize,
  scale/shift; 3 with neither scale nor center); RMSNormalization 3 and UnitNormalization 2
  per element; Rescaling and Normalization 1 per element.
* Pooling: Max/AveragePooling 1 per element of each window (output elements x pool size);
  Global and Adaptive pooling 1 per input element.
* Multiply: 1 per output element per extra input.
* Embedding: 0 (a table lookup).
* `ZERO_BY_RULE`: layers with no arithmetic worth counting (data movement, activations,
  additive merges, dropout and noise, lookups, inference-time no-ops) are 0 by rule.
* Anything else (a user's layer class, a subclass of a Keras layer, a kind with no rule
  here) is NOT counted: it is listed in `MacCount.uncounted` and the total is partial.

Nested models are counted layer by layer (names ``outer/inner``); a layer called
several times counts every call.

For `.tflite` models, `count_tflite_macs` applies the same rules to the ops of every
subgraph: FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D, CONV_3D, TRANSPOSE_CONV,
CONV_3D_TRANSPOSE, BATCH_MATMUL, the fused LSTM/RNN ops, MUL and SQUARED_DIFFERENCE
(1 per element), pooling and reductions; the ops in `TFLITE_ZERO_BY_RULE` are 0; a
WHILE loop counts its body once per iteration, times the trip count when the loop
bound is a constant (a fixed sequence length) and per iteration otherwise.
"""

from __future__ import annotations

import inspect
import math
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from core.models.tflite_graph import TfliteGraph, TfliteOp, TfliteSubgraph

# Keras layers whose arithmetic is negligible next to the layers counted: 0 by rule, not "uncounted".
ZERO_BY_RULE = frozenset({
    # structure and data movement
    "InputLayer", "Reshape", "Flatten", "Permute", "RepeatVector", "Cropping1D", "Cropping2D", "Cropping3D",
    "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "UpSampling1D", "UpSampling2D", "UpSampling3D",
    "Concatenate", "Identity", "Masking", "Resizing", "CenterCrop",
    # activations
    "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "PReLU",
    # additive and selecting merges
    "Add", "Subtract", "Average", "Maximum", "Minimum",
    # regularization and augmentation: identities at inference
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout",
    "AlphaDropout", "ActivityRegularization", "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation",
    "RandomContrast", "RandomBrightness", "RandomCrop",
    # lookups
    "Embedding", "CategoryEncoding", "Hashing", "StringLookup", "IntegerLookup", "Discretization", "HashedCrossing",
})

SEQUENCE_UNIT = "time step"
POSITION_UNIT = "position"


@dataclass(frozen=True)
class LayerMacs:
    """One Keras layer's multiply-accumulates for one sample."""

    name: str                  # "outer/inner" inside nested models
    type: str                  # the class name (a .tflite op name)
    macs: int                  # every call summed; 0 when not counted
    counted: bool = True       # False: no rule for this layer (listed in MacCount.uncounted)
    free: bool = False         # counted per position of a free dimension
    rule: str = ""             # "zero by rule", or why it was not counted


@dataclass(frozen=True)
class MacCount:
    """Multiply-accumulates of a model for one sample. FLOPs = 2 x MACs."""

    total: int                                  # the counted layers' MACs
    layers: tuple[LayerMacs, ...] = ()
    uncounted: tuple[tuple[str, str], ...] = ()  # (layer name, class name) of what no rule covers
    partial: bool = False                       # True when something was not counted
    per: str = ""                               # "": per sample; else the unit of free dimensions counted per
    notes: tuple[str, ...] = ()

    @property
    def flops(self) -> int:
        return 2 * self.total

    @property
    def complete(self) -> bool:
        """Every layer counted, for a whole sample: the only figure a decision may use."""
        return not self.partial and not self.per

    def uncounted_text(self, limit: int = 8) -> str:
        """"N layers not counted: a (Foo), b (Bar)"; "" when none."""
        if not self.uncounted:
            return ""
        items = [f"{name} ({kind})" for name, kind in self.uncounted[:limit]]
        more = f", … {len(self.uncounted) - limit} more" if len(self.uncounted) > limit else ""
        noun = "layer" if len(self.uncounted) == 1 else "layers"
        return f"{len(self.uncounted)} {noun} not counted: {', '.join(items)}{more}"


class _Uncounted(Exception):
    """A layer this counter has no rule for (or whose shapes it can't read)."""


# -- shapes ------------------------------------------------------------------------

Shape = tuple  # of int | None, batch first


def _shape(x) -> Shape | None:
    shape = getattr(x, "shape", None)
    if shape is None:
        return None
    try:
        return tuple(None if d is None or int(d) < 0 else int(d) for d in shape)
    except TypeError:
        return None


def _n(dims: Iterable[int | None]) -> tuple[int, bool]:
    """Product of the known dims, and whether a free (None) dim was counted as 1."""
    total, free = 1, False
    for d in dims:
        if d is None:
            free = True
        else:
            total *= int(d)
    return total, free


def _known(value, what: str) -> int:
    if value is None:
        raise _Uncounted(f"{what} is not known")
    return int(value)


def _channels_first(layer) -> bool:
    return getattr(layer, "data_format", "channels_last") == "channels_first"


def _spatial(shape: Shape, layer) -> Shape:
    return shape[2:] if _channels_first(layer) else shape[1:-1]


def _channels(shape: Shape, layer) -> int:
    return _known(shape[1] if _channels_first(layer) else shape[-1], "the channel count")


def _tensors(structure) -> list:
    from core.tf_runtime import import_keras

    flat = import_keras().tree.flatten(structure)
    return [x for x in flat if _shape(x) is not None and hasattr(x, "dtype")]


def _is_keras_class(obj) -> bool:
    return type(obj).__module__.split(".")[0] == "keras"


def _is_model(layer) -> bool:
    """A Keras Model (functional, Sequential or subclassed): counted layer by layer, never as one layer."""
    return any(c.__name__ in ("Model", "Functional", "Sequential") and c.__module__.split(".")[0] == "keras"
               for c in type(layer).__mro__)


# -- per-layer rules -----------------------------------------------------------------

def _first(ins: list[Shape]) -> Shape:
    if not ins:
        raise _Uncounted("no input shape")
    return ins[0]


def _out(outs: list[Shape]) -> Shape:
    if not outs:
        raise _Uncounted("no output shape")
    return outs[0]


def _dense(layer, ins, outs, call):
    x = _first(ins)
    rows, free = _n(x[1:-1])
    return rows * _known(x[-1], "the input width") * int(layer.units), free


def _einsum_dense(layer, ins, outs, call):
    equation = str(layer.equation).replace(" ", "")
    match = re.fullmatch(r"([a-zA-Z.]+),([a-zA-Z]+)->([a-zA-Z.]+)", equation)
    if not match:
        raise _Uncounted(f"equation {equation!r} is not read")
    x, out = _first(ins), _out(outs)
    kernel = tuple(int(d) for d in layer.kernel.shape)
    sizes: dict[str, int | None] = {}
    batch: set[str] = set()
    for position, (term, shape) in enumerate(((match.group(1), x), (match.group(3), out))):
        if "..." in term:
            head, tail = term.split("...")
            extra = len(shape) - len(head) - len(tail)
            if extra < 0:
                raise _Uncounted("equation does not match the shapes")
            letters = list(head) + [f"_{i}" for i in range(extra)] + list(tail)
        else:
            letters = list(term)
        if len(letters) != len(shape):
            raise _Uncounted("equation does not match the shapes")
        if position == 0 and letters:
            batch.add(letters[0])
        for letter, dim in zip(letters, shape):
            if sizes.get(letter) is None:
                sizes[letter] = dim
    if len(match.group(2)) != len(kernel):
        raise _Uncounted("equation does not match the kernel")
    for letter, dim in zip(match.group(2), kernel):
        sizes[letter] = dim
        batch.discard(letter)
    return _n(size for letter, size in sizes.items() if letter not in batch)


def _conv(layer, ins, outs, call):
    x, out = _first(ins), _out(outs)
    positions, free = _n(_spatial(out, layer))
    groups = int(getattr(layer, "groups", 1) or 1)
    return positions * math.prod(layer.kernel_size) * (_channels(x, layer) // groups) * int(layer.filters), free


def _depthwise(layer, ins, outs, call):
    x, out = _first(ins), _out(outs)
    positions, free = _n(_spatial(out, layer))
    return positions * math.prod(layer.kernel_size) * _channels(x, layer) * int(layer.depth_multiplier), free


def _separable(layer, ins, outs, call):
    x, out = _first(ins), _out(outs)
    positions, free = _n(_spatial(out, layer))
    mid = _channels(x, layer) * int(layer.depth_multiplier)
    return positions * (math.prod(layer.kernel_size) * mid + mid * int(layer.filters)), free


def _transpose(layer, ins, outs, call):
    x = _first(ins)
    positions, free = _n(_spatial(x, layer))
    return positions * math.prod(layer.kernel_size) * _channels(x, layer) * int(layer.filters), free


def _cell_macs(cell, width: int) -> int:
    """One time step of an RNN cell fed `width` features (see the module docstring)."""
    kind = type(cell).__name__ if _is_keras_class(cell) else ""
    if kind == "StackedRNNCells":
        total = 0
        for inner in cell.cells:
            total += _cell_macs(inner, width)
            width = int(inner.units)
        return total
    if kind not in ("LSTMCell", "GRUCell", "SimpleRNNCell"):
        raise _Uncounted(f"no rule for the cell {type(cell).__name__}")
    units = int(cell.units)
    if kind == "SimpleRNNCell":
        return (width + units) * units
    if kind == "LSTMCell":
        return 4 * (width + units) * units + 3 * units
    return 3 * (width + units + 1) * units


def _rnn(layer, ins, outs, call):
    x = _first(ins)
    if len(x) != 3:
        raise _Uncounted(f"input of rank {len(x)}; the rule needs (batch, time, features)")
    steps, free = _n(x[1:2])
    return steps * _cell_macs(layer.cell, _known(x[-1], "the input width")), free


def _bidirectional(layer, ins, outs, call):
    total, free = 0, False
    for inner in (layer.forward_layer, layer.backward_layer):
        if not _is_keras_class(inner) or type(inner).__name__ not in RNN_CLASSES:
            raise _Uncounted(f"no rule for the wrapped {type(inner).__name__}")
        macs, f = _rnn(inner, ins, [], {})
        total, free = total + macs, free or f
    return total, free


def _time_distributed(layer, ins, outs, call):
    x, out = _first(ins), _out(outs)
    inner = layer.layer
    if _is_model(inner):
        raise _Uncounted("a model wrapped in TimeDistributed is not counted")
    rule = _rule_for(inner)
    if rule is None:
        raise _Uncounted(f"no rule for the wrapped {type(inner).__name__}")
    steps, free = _n(x[1:2])
    macs, f = rule(inner, [(x[0],) + tuple(x[2:])], [(out[0],) + tuple(out[2:])], {})
    return steps * macs, free or f


def _bound(layer, call: dict) -> dict[str, Any]:
    args, kwargs = call.get("args", ()), call.get("kwargs", {})
    try:
        return dict(inspect.signature(layer.call).bind_partial(*args, **kwargs).arguments)
    except (TypeError, ValueError):
        return {}


def _mha(layer, ins, outs, call):
    bound = _bound(layer, call)
    query, value = _shape(bound.get("query")), _shape(bound.get("value"))
    key = _shape(bound.get("key")) if bound.get("key") is not None else value
    if query is None or value is None or key is None:
        raise _Uncounted("the query/key/value shapes are not known")
    tq, free_q = _n(query[1:-1])
    tk, free_k = _n(key[1:-1])
    heads, k_dim, v_dim = int(layer._num_heads), int(layer._key_dim), int(layer._value_dim)
    kernels = [math.prod(int(d) for d in getattr(layer, attr).kernel.shape)
               for attr in ("_query_dense", "_key_dense", "_value_dense", "_output_dense")]
    projections = tq * kernels[0] + tk * (kernels[1] + kernels[2]) + tq * kernels[3]
    axes = getattr(layer, "_attention_axes", None)
    if axes:                                   # attention over some axes only: the others act as batch
        tk, free_att = _n(key[a] for a in axes)
        free_k = free_k or free_att
    attention = heads * tq * tk * (k_dim + v_dim)
    return projections + attention, free_q or free_k


def _attention(layer, ins, outs, call):
    if len(ins) < 2:
        raise _Uncounted("needs query and value")
    q, v = ins[0], ins[1]
    tq, f1 = _n(q[1:-1])
    tv, f2 = _n(v[1:-1])
    return tq * tv * (_known(q[-1], "the query width") + _known(v[-1], "the value width")), f1 or f2


def _elementwise(per_element: int):
    def rule(layer, ins, outs, call):
        elements, free = _n(_first(ins)[1:])
        return per_element * elements, free
    return rule


def _layer_norm(layer, ins, outs, call):
    elements, free = _n(_first(ins)[1:])
    affine = bool(getattr(layer, "scale", True) or getattr(layer, "center", True))
    return (4 if affine else 3) * elements, free


def _pooling(layer, ins, outs, call):
    elements, free = _n(_out(outs)[1:])
    return elements * math.prod(layer.pool_size), free


def _global_pooling(layer, ins, outs, call):
    return _n(_first(ins)[1:])


def _multiply(layer, ins, outs, call):
    elements, free = _n(_out(outs)[1:])
    return max(len(ins) - 1, 0) * elements, free


RNN_CLASSES = {"LSTM", "GRU", "SimpleRNN", "RNN"}

_RULES = {
    "Dense": _dense, "EinsumDense": _einsum_dense,
    "Conv1D": _conv, "Conv2D": _conv, "Conv3D": _conv,
    "DepthwiseConv1D": _depthwise, "DepthwiseConv2D": _depthwise,
    "SeparableConv1D": _separable, "SeparableConv2D": _separable,
    "Conv1DTranspose": _transpose, "Conv2DTranspose": _transpose, "Conv3DTranspose": _transpose,
    **{name: _rnn for name in RNN_CLASSES},
    "Bidirectional": _bidirectional, "TimeDistributed": _time_distributed,
    "MultiHeadAttention": _mha, "Attention": _attention, "AdditiveAttention": _attention,
    "BatchNormalization": _elementwise(1), "LayerNormalization": _layer_norm, "GroupNormalization": _layer_norm,
    "RMSNormalization": _elementwise(3), "UnitNormalization": _elementwise(2),
    "Rescaling": _elementwise(1), "Normalization": _elementwise(1),
    **{f"{kind}Pooling{d}D": _pooling for kind in ("Max", "Average") for d in (1, 2, 3)},
    **{f"Global{kind}Pooling{d}D": _global_pooling for kind in ("Max", "Average") for d in (1, 2, 3)},
    **{f"Adaptive{kind}Pooling{d}D": _global_pooling for kind in ("Max", "Average") for d in (1, 2, 3)},
    "Multiply": _multiply,
}


def _zero(layer, ins, outs, call):
    return 0, False


def _rule_for(layer):
    """The rule for a Keras layer class; None for anything else (a user's class or a subclass)."""
    if not _is_keras_class(layer):
        return None
    name = type(layer).__name__
    if name in ZERO_BY_RULE:
        return _zero
    return _RULES.get(name)


# -- the Keras walk -------------------------------------------------------------------

class _Row:
    __slots__ = ("type", "macs", "counted", "free", "rule")

    def __init__(self, kind: str) -> None:
        self.type, self.macs, self.counted, self.free, self.rule = kind, 0, True, False, ""


class _KerasCounter:
    def __init__(self) -> None:
        self.rows: dict[str, _Row] = {}

    def row(self, name: str, kind: str) -> _Row:
        if name not in self.rows:
            self.rows[name] = _Row(kind)
        return self.rows[name]

    def model(self, model, specs: list | None, prefix: str, name: str) -> None:
        graph = model
        if type(model).__name__ == "Sequential" or not hasattr(model, "_nodes_by_depth"):
            graph = getattr(model, "_functional", None)        # a built Sequential's functional graph
        if graph is None or not hasattr(graph, "_nodes_by_depth"):
            row = self.row(name, type(model).__name__)
            row.counted, row.rule = False, "no layer graph (a subclassed model)"
            return
        if specs is not None and [_shape(s) for s in specs] == [_shape(t) for t in graph.inputs]:
            specs = None                       # the call's shapes are the model's own: read the recorded graph
        if specs is None:
            nodes = [node for depth in sorted(graph._nodes_by_depth, reverse=True)
                     for node in graph._nodes_by_depth[depth]]
            for node in nodes:
                if node.operation is None or node.is_input:
                    continue
                self.visit(node.operation, node.arguments.args, node.arguments.kwargs, node.outputs, prefix)
        else:
            def call(op, *args, **kwargs):
                out = op.compute_output_spec(*args, **kwargs)
                self.visit(op, args, kwargs, out, prefix)
                return out

            graph._run_through_graph(specs, call_fn=call)

    def visit(self, layer, args, kwargs, outputs, prefix: str) -> None:
        name = f"{prefix}{layer.name}"
        ins = [_shape(t) for t in _tensors((args, kwargs))]
        if _is_model(layer):
            self.model(layer, _tensors(args) or None, f"{name}/", name)
            return
        row = self.row(name, type(layer).__name__)
        rule = _rule_for(layer)
        if rule is None:
            row.counted, row.rule = False, "no rule for this layer class"
            return
        if rule is _zero:
            row.rule = row.rule or "zero by rule"
            return
        try:
            macs, free = rule(layer, ins, [_shape(t) for t in _tensors(outputs)], {"args": args, "kwargs": kwargs})
        except _Uncounted as exc:
            row.counted, row.rule = False, str(exc)
            return
        except Exception as exc:  # noqa: BLE001 - a layer in a state the rule didn't expect: listed, not fatal
            row.counted, row.rule = False, f"{type(exc).__name__}: {exc}"[:200]
            return
        row.macs += int(macs)
        row.free = row.free or free


def _input_specs(model, input_shapes: Mapping[str, Sequence[int | None]] | None):
    """KerasTensors for the model's inputs with the given shapes (None: use the model's own)."""
    if not input_shapes:
        return None
    from core.tf_runtime import import_keras

    KerasTensor = import_keras().KerasTensor
    inputs = list(getattr(model, "inputs", None) or [])
    names = {}
    for i, t in enumerate(inputs):
        history = getattr(t, "_keras_history", None)
        layer = getattr(history, "operation", None)
        for key in (getattr(t, "name", None), getattr(layer, "name", None)):
            if key:
                names.setdefault(str(key), i)
    unknown = sorted(set(input_shapes) - set(names))
    if unknown:
        raise ValueError(f"the model has no input named {', '.join(map(repr, unknown))} "
                         f"(inputs: {', '.join(map(repr, sorted(names)))})")
    specs = []
    for i, t in enumerate(inputs):
        own = _shape(t)
        given = next((input_shapes[k] for k, j in names.items() if j == i and k in input_shapes), None)
        if given is None:
            specs.append(t)
            continue
        given = tuple(None if d is None else int(d) for d in given)
        if len(given) == len(own) - 1:
            given = (1,) + given
        if len(given) != len(own):
            raise ValueError(f"input {getattr(t, 'name', i)!r} has rank {len(own) - 1} (batch excluded); "
                             f"the shape given is {given}")
        specs.append(KerasTensor(given, dtype=t.dtype))
    return specs


def _unit(model, specs) -> str:
    """"time step" when every free dimension is the time axis of a (batch, time, features) input."""
    shapes = [_shape(t) for t in (specs or getattr(model, "inputs", None) or [])]
    free = [s for s in shapes if s and any(d is None for d in s[1:])]
    if free and all(len(s) == 3 and s[1] is None and s[2] is not None for s in free):
        return SEQUENCE_UNIT
    return POSITION_UNIT


def _not_counted(model, exc: Exception) -> MacCount:
    """The whole model uncounted: its graph could not be walked (never guessed at, never fatal to inspect)."""
    name, kind = str(getattr(model, "name", "model")), type(model).__name__
    return MacCount(total=0, layers=(LayerMacs(name=name, type=kind, macs=0, counted=False,
                                               rule=f"{type(exc).__name__}: {exc}"[:200]),),
                    uncounted=((name, kind),), partial=True,
                    notes=(f"MACs could not be counted: {type(exc).__name__}: {exc}"[:200],))


def count_keras_macs(model, input_shapes: Mapping[str, Sequence[int | None]] | None = None) -> MacCount:
    """MACs of a built Keras model for one sample (see the module docstring for every rule).

    `input_shapes` maps an input's name to a concrete shape (batch excluded, or
    included): the layers are then counted at those shapes. Without it, free
    dimensions are counted per position (`MacCount.per`).
    """
    notes: list[str] = []
    specs = _input_specs(model, input_shapes)
    counter = _KerasCounter()
    try:
        counter.model(model, specs, "", getattr(model, "name", "model"))
    except Exception as exc:  # noqa: BLE001 - a shape Keras could not propagate: count at the model's own shapes
        if specs is None:
            return _not_counted(model, exc)
        notes.append(f"the given input shapes could not be propagated ({type(exc).__name__}: {exc}"[:200] +
                     "); counted at the model's own shapes")
        specs, counter = None, _KerasCounter()
        try:
            counter.model(model, None, "", getattr(model, "name", "model"))
        except Exception as again:  # noqa: BLE001 - see _not_counted
            return _not_counted(model, again)
    rows = tuple(LayerMacs(name=name, type=r.type, macs=r.macs, counted=r.counted, free=r.free, rule=r.rule)
                 for name, r in counter.rows.items())
    uncounted = tuple((r.name, r.type) for r in rows if not r.counted)
    per = _unit(model, specs) if any(r.free for r in rows) else ""
    if per == SEQUENCE_UNIT:
        notes.append("the sequence length is free: MACs are counted per time step")
    elif per:
        notes.append("the model has free dimensions: each layer is counted per position of its own free axes "
                     "(per output position for a convolution), so a sample's count grows with its size")
    return MacCount(total=sum(r.macs for r in rows if r.counted), layers=rows, uncounted=uncounted,
                    partial=bool(uncounted), per=per, notes=tuple(notes))


# -- .tflite -------------------------------------------------------------------------

TFLITE_ZERO_BY_RULE = frozenset({
    "ADD", "SUB", "DIV", "FLOOR_DIV", "FLOOR_MOD", "MAXIMUM", "MINIMUM", "ABS", "NEG", "SIGN", "ROUND", "FLOOR",
    "CEIL", "EXP", "LOG", "SQRT", "RSQRT", "POW", "SIN", "COS", "SQUARE",
    "LOGISTIC", "TANH", "RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1", "LEAKY_RELU", "PRELU", "ELU", "GELU",
    "HARD_SWISH", "SOFTMAX", "LOG_SOFTMAX",
    "RESHAPE", "SQUEEZE", "EXPAND_DIMS", "TRANSPOSE", "CONCATENATION", "PACK", "UNPACK", "SPLIT", "SPLIT_V",
    "SLICE", "STRIDED_SLICE", "GATHER", "GATHER_ND", "SCATTER_ND", "SHAPE", "RANK", "FILL", "ZEROS_LIKE",
    "ONES_LIKE", "TILE", "BROADCAST_TO", "BROADCAST_ARGS", "PAD", "PADV2", "MIRROR_PAD", "REVERSE_V2",
    "DEPTH_TO_SPACE", "SPACE_TO_DEPTH", "BATCH_TO_SPACE_ND", "SPACE_TO_BATCH_ND", "RESIZE_NEAREST_NEIGHBOR",
    "RESIZE_BILINEAR", "ONE_HOT", "RANGE", "SELECT", "SELECT_V2", "WHERE", "CAST", "QUANTIZE", "DEQUANTIZE",
    "LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL", "EQUAL", "NOT_EQUAL", "LOGICAL_AND", "LOGICAL_OR",
    "LOGICAL_NOT", "ARG_MAX", "ARG_MIN", "REDUCE_PROD", "EMBEDDING_LOOKUP", "HASHTABLE_LOOKUP", "CUMSUM",
    "CALL_ONCE", "VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE", "L2_NORMALIZATION",
})

_MAX_LOOP_DEPTH = 32                           # loops nested deeper are listed, not followed
_LSTM_WEIGHTS = tuple(range(1, 9))             # input-to-gate 1..4, recurrent-to-gate 5..8
_BIDI_LSTM_WEIGHTS = _LSTM_WEIGHTS + tuple(range(18, 26))


def _op_macs(op: TfliteOp, sg: TfliteSubgraph) -> int:
    """MACs of one op over the file's static shapes (the whole batch); raises _Uncounted."""

    def shape(k: int, source=op.inputs) -> tuple[int, ...]:
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
        per_step = sum(math.prod(sg.tensor(op.inputs[k]).shape) for k in weights
                       if k < len(op.inputs) and op.inputs[k] >= 0 and sg.tensor(op.inputs[k]) is not None)
        units = ranked(shape(2), 2)[0]                 # input-to-forget weights: (units, in)
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
        if index in done:                      # a body reached twice counts twice, but is read once
            return done[index]
        sg = graph.subgraphs[index]
        total = 0
        for op in sg.ops:
            where = f"{sg.name} op {op.index}"
            if op.name == "WHILE":
                parts = [op.options.get("cond", -1), op.options.get("body", -1)]
                if len(stack) > _MAX_LOOP_DEPTH or \
                        not all(0 <= p < len(graph.subgraphs) and p not in stack for p in parts):
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
    free_inputs = [main.tensor(i) for i in main.inputs if main.tensor(i) is not None]
    free_inputs = [t for t in free_inputs if any(d < 0 for d in t.signature[1:])]
    per = ""
    if free_inputs or loops_per_iteration:
        sequence = all(len(t.signature) == 3 and t.signature[1] < 0 and t.signature[2] > 0 for t in free_inputs)
        per = SEQUENCE_UNIT if sequence else (POSITION_UNIT if free_inputs else "loop iteration")
        if loops_per_iteration:
            notes.append("the loop bound is computed at run time (a free sequence length): each loop body counts "
                         "once, so FLOPs are per " + ("time step" if sequence else "loop iteration"))
        if free_inputs and not loops_per_iteration:
            notes.append(f"free input dimensions are counted at size 1: FLOPs are per {per}")
    if graph.unread:
        notes.append(f"{len(graph.unread)} subgraph(s) could not be read: their ops are not counted")
    return MacCount(total=total // batch, uncounted=tuple(uncounted),
                    partial=bool(uncounted), per=per, notes=tuple(notes))
