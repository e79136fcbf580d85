"""The MAC rules for Keras layers (`_rule_for`: one rule per Keras layer class,
`ZERO_BY_RULE` for layers counted as 0) and the shape helpers they share. The rules
themselves are documented in `core.models.flops`, which walks a model with them.
"""

from __future__ import annotations

import inspect
import math
import re
from typing import Any, Callable, Iterable

from core.models.mac_count import _Uncounted


# Keras layers whose arithmetic is negligible next to the layers counted: 0 by rule, not "uncounted".
ZERO_BY_RULE = frozenset(
    {
        # structure and data movement
        "InputLayer",
        "Reshape",
        "Flatten",
        "Permute",
        "RepeatVector",
        "Cropping1D",
        "Cropping2D",
        "Cropping3D",
        "ZeroPadding1D",
        "ZeroPadding2D",
        "ZeroPadding3D",
        "UpSampling1D",
        "UpSampling2D",
        "UpSampling3D",
        "Concatenate",
        "Identity",
        "Masking",
        "Resizing",
        "CenterCrop",
        # activations
        "Activation",
        "ReLU",
        "LeakyReLU",
        "ELU",
        "Softmax",
        "PReLU",
        # additive and selecting merges
        "Add",
        "Subtract",
        "Average",
        "Maximum",
        "Minimum",
        # regularization and augmentation: identities at inference
        "Dropout",
        "SpatialDropout1D",
        "SpatialDropout2D",
        "SpatialDropout3D",
        "GaussianNoise",
        "GaussianDropout",
        "AlphaDropout",
        "ActivityRegularization",
        "RandomFlip",
        "RandomRotation",
        "RandomZoom",
        "RandomTranslation",
        "RandomContrast",
        "RandomBrightness",
        "RandomCrop",
        # lookups
        "Embedding",
        "CategoryEncoding",
        "Hashing",
        "StringLookup",
        "IntegerLookup",
        "Discretization",
        "HashedCrossing",
    }
)


# -- shapes ------------------------------------------------------------------------

Shape = tuple  # of int | None, batch first
# A rule: (layer, input shapes, output shapes, the call's {"args", "kwargs"}) -> (MACs, a free dim counted as 1)
Rule = Callable[[Any, list[Shape], list[Shape], dict[str, Any]], tuple[int, bool]]


def _shape(x: Any) -> Shape | None:
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


def _known(value: Any, what: str) -> int:
    if value is None:
        raise _Uncounted(f"{what} is not known")
    return int(value)


def _channels_first(layer: Any) -> bool:
    return getattr(layer, "data_format", "channels_last") == "channels_first"


def _spatial(shape: Shape, layer: Any) -> Shape:
    return shape[2:] if _channels_first(layer) else shape[1:-1]


def _channels(shape: Shape, layer: Any) -> int:
    return _known(shape[1] if _channels_first(layer) else shape[-1], "the channel count")


def _tensors(structure: Any) -> list[Any]:
    from core.tf_runtime import import_keras

    flat = import_keras().tree.flatten(structure)
    return [x for x in flat if _shape(x) is not None and hasattr(x, "dtype")]


def _is_keras_class(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] == "keras"


def _is_model(layer: Any) -> bool:
    """A Keras Model (functional, Sequential or subclassed): counted layer by layer, never as one layer."""
    return any(
        c.__name__ in ("Model", "Functional", "Sequential") and c.__module__.split(".")[0] == "keras"
        for c in type(layer).__mro__
    )


# -- per-layer rules -----------------------------------------------------------------


def _first(ins: list[Shape]) -> Shape:
    if not ins:
        raise _Uncounted("no input shape")
    return ins[0]


def _out(outs: list[Shape]) -> Shape:
    if not outs:
        raise _Uncounted("no output shape")
    return outs[0]


def _dense(layer: Any, ins: list[Shape], outs: list[Shape], call: dict[str, Any]) -> tuple[int, bool]:
    x = _first(ins)
    rows, free = _n(x[1:-1])
    return rows * _known(x[-1], "the input width") * int(layer.units), free


def _einsum_dense(layer: Any, ins: list[Shape], outs: list[Shape], call: dict[str, Any]) -> tuple[int, bool]:
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


def _conv(layer: Any, ins: list[Shape], outs: list[Shape], call: dict[str, Any]) -> tuple[int, bool]:
    x, out = _first(ins), _out(outs)
    positions, free = _n(_spatial(out, layer))
    groups = int(getattr(layer, "groups", 1) or 1)
    return positions * math.prod(layer.kernel_size) * (_channels(x, layer) // groups) * int(layer.filters), free


def _depthwise(layer: Any, ins: list[Shape], outs: list[Shape], call: dict[str, Any]) -> tuple[int, bool]:
    x, out = _first(ins), _out(outs)
    positions, free = _n(_spatial(out, layer))
    return positions * math.prod(layer.kernel_size) * _channels(x, layer) * int(layer.depth_multiplier), free


def _separable(layer: Any, ins: list[Shape], outs: list[Shape], call: dict[str, Any]) -> tuple[int, bool]:
    x, out = _first(ins), _out(outs)
    positions, free = _n(_spatial(out, layer))
    mid = _channels(x, layer) * int(layer.depth_multiplier)
    return positions * (math.prod(layer.kernel_size) * mid + mid * int(layer.filters)), free


def _transpose(layer: Any, ins: list[Shape], outs: list[Shape], call: dict[str, Any]) -> tuple[int, bool]:
    x = _first(ins)
    positions, free = _n(_spatial(x, layer))
    return positions * math.prod(layer.kernel_size) * _channels(x, layer) * int(layer.filters), free


def _cell_macs(cell: Any, width: int) -> int:
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


def _rnn(layer: Any, ins: list[Shape], outs: list[Shape], call: dict[str, Any]) -> tuple[int, bool]:
    x = _first(ins)
    if len(x) != 3:
        raise _Uncounted(f"input of rank {len(x)}; the rule needs (batch, time, features)")
    steps, free = _n(x[1:2])
    return steps * _cell_macs(layer.cell, _known(x[-1], "the input width")), free


def _bidirectional(layer: Any, ins: list[Shape], outs: list[Shape], call: dict[str, Any]) -> tuple[int, bool]:
    total, free = 0, False
    for inner in (layer.forward_layer, layer.backward_layer):
        if not _is_keras_class(inner) or type(inner).__name__ not in RNN_CLASSES:
            raise _Uncounted(f"no rule for the wrapped {type(inner).__name__}")
        macs, f = _rnn(inner, ins, [], {})
        total, free = total + macs, free or f
    return total, free


def _time_distributed(layer: Any, ins: list[Shape], outs: list[Shape], call: dict[str, Any]) -> tuple[int, bool]:
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


def _bound(layer: Any, call: dict[str, Any]) -> dict[str, Any]:
    args, kwargs = call.get("args", ()), call.get("kwargs", {})
    try:
        return dict(inspect.signature(layer.call).bind_partial(*args, **kwargs).arguments)
    except (TypeError, ValueError):
        return {}


def _mha(layer: Any, ins: list[Shape], outs: list[Shape], call: dict[str, Any]) -> tuple[int, bool]:
    bound = _bound(layer, call)
    query, value = _shape(bound.get("query")), _shape(bound.get("value"))
    key = _shape(bound.get("key")) if bound.get("key") is not None else value
    if query is None or value is None or key is None:
        raise _Uncounted("the query/key/value shapes are not known")
    tq, free_q = _n(query[1:-1])
    tk, free_k = _n(key[1:-1])
    heads, k_dim, v_dim = int(layer.num_heads), int(layer.key_dim), int(layer.value_dim)  # public properties
    kernels = [
        math.prod(int(d) for d in getattr(layer, attr).kernel.shape)
        for attr in ("query_dense", "key_dense", "value_dense", "output_dense")
    ]  # public properties
    projections = tq * kernels[0] + tk * (kernels[1] + kernels[2]) + tq * kernels[3]
    axes = layer.attention_axes
    if axes:  # attention over some axes only: the others act as batch
        tk, free_att = _n(key[a] for a in axes)
        free_k = free_k or free_att
    attention = heads * tq * tk * (k_dim + v_dim)
    return projections + attention, free_q or free_k


def _attention(layer: Any, ins: list[Shape], outs: list[Shape], call: dict[str, Any]) -> tuple[int, bool]:
    if len(ins) < 2:
        raise _Uncounted("needs query and value")
    q, v = ins[0], ins[1]
    tq, f1 = _n(q[1:-1])
    tv, f2 = _n(v[1:-1])
    return tq * tv * (_known(q[-1], "the query width") + _known(v[-1], "the value width")), f1 or f2


def _elementwise(per_element: int) -> Rule:
    def rule(layer: Any, ins: list[Shape], outs: list[Shape], call: dict[str, Any]) -> tuple[int, bool]:
        elements, free = _n(_first(ins)[1:])
        return per_element * elements, free

    return rule


def _layer_norm(layer: Any, ins: list[Shape], outs: list[Shape], call: dict[str, Any]) -> tuple[int, bool]:
    elements, free = _n(_first(ins)[1:])
    affine = bool(getattr(layer, "scale", True) or getattr(layer, "center", True))
    return (4 if affine else 3) * elements, free


def _pooling(layer: Any, ins: list[Shape], outs: list[Shape], call: dict[str, Any]) -> tuple[int, bool]:
    elements, free = _n(_out(outs)[1:])
    return elements * math.prod(layer.pool_size), free


def _global_pooling(layer: Any, ins: list[Shape], outs: list[Shape], call: dict[str, Any]) -> tuple[int, bool]:
    return _n(_first(ins)[1:])


def _multiply(layer: Any, ins: list[Shape], outs: list[Shape], call: dict[str, Any]) -> tuple[int, bool]:
    elements, free = _n(_out(outs)[1:])
    return max(len(ins) - 1, 0) * elements, free


RNN_CLASSES = {"LSTM", "GRU", "SimpleRNN", "RNN"}

_RULES: dict[str, Rule] = {
    "Dense": _dense,
    "EinsumDense": _einsum_dense,
    "Conv1D": _conv,
    "Conv2D": _conv,
    "Conv3D": _conv,
    "DepthwiseConv1D": _depthwise,
    "DepthwiseConv2D": _depthwise,
    "SeparableConv1D": _separable,
    "SeparableConv2D": _separable,
    "Conv1DTranspose": _transpose,
    "Conv2DTranspose": _transpose,
    "Conv3DTranspose": _transpose,
    **{name: _rnn for name in RNN_CLASSES},
    "Bidirectional": _bidirectional,
    "TimeDistributed": _time_distributed,
    "MultiHeadAttention": _mha,
    "Attention": _attention,
    "AdditiveAttention": _attention,
    "BatchNormalization": _elementwise(1),
    "LayerNormalization": _layer_norm,
    "GroupNormalization": _layer_norm,
    "RMSNormalization": _elementwise(3),
    "UnitNormalization": _elementwise(2),
    "Rescaling": _elementwise(1),
    "Normalization": _elementwise(1),
    **{f"{kind}Pooling{d}D": _pooling for kind in ("Max", "Average") for d in (1, 2, 3)},
    **{f"Global{kind}Pooling{d}D": _global_pooling for kind in ("Max", "Average") for d in (1, 2, 3)},
    **{f"Adaptive{kind}Pooling{d}D": _global_pooling for kind in ("Max", "Average") for d in (1, 2, 3)},
    "Multiply": _multiply,
}


def _zero(layer: Any, ins: list[Shape], outs: list[Shape], call: dict[str, Any]) -> tuple[int, bool]:
    return 0, False


def _rule_for(layer: Any) -> Rule | None:
    """The rule for a Keras layer class; None for anything else (a user's class or a subclass)."""
    if not _is_keras_class(layer):
        return None
    name = type(layer).__name__
    if name in ZERO_BY_RULE:
        return _zero
    return _RULES.get(name)
