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

This module walks a Keras model (`count_keras_macs`). The per-layer rules live in
`core.models.flops_keras_rules`, the `.tflite` count in `core.models.flops_tflite` and the
result types in `core.models.mac_count`; their public names are importable from here too.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from core.adapters import UpstreamChanged, keras_internals
from core.models.flops_keras_rules import (  # noqa: F401 - re-exported
    RNN_CLASSES,
    ZERO_BY_RULE,
    Shape,
    _is_model,
    _rule_for,
    _shape,
    _tensors,
    _zero,
)
from core.models.flops_tflite import TFLITE_ZERO_BY_RULE, count_tflite_macs  # noqa: F401 - re-exported
from core.models.mac_count import (  # noqa: F401 - re-exported
    POSITION_UNIT,
    SEQUENCE_UNIT,
    LayerMacs,
    MacCount,
    _Uncounted,
)


# -- the Keras walk -------------------------------------------------------------------


def _shapes(tensors: list[Any]) -> list[Shape]:
    """The shapes of `tensors` (from `_tensors`, which keeps only tensors with a shape)."""
    return [s for s in map(_shape, tensors) if s is not None]


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

    def model(self, model: Any, specs: list[Any] | None, prefix: str, name: str) -> None:
        try:
            graph = keras_internals.layer_graph(model)  # UpstreamChanged propagates: see count_keras_macs
        except keras_internals.NoLayerGraph:
            row = self.row(name, type(model).__name__)
            row.counted, row.rule = False, "no layer graph (a subclassed model)"
            return
        if specs is not None and [_shape(s) for s in specs] == [_shape(t) for t in graph.inputs]:
            specs = None  # the call's shapes are the model's own: read the recorded graph
        if specs is None:
            for node in keras_internals.ordered_nodes(graph):
                if node.operation is None or node.is_input:
                    continue
                self.visit(node.operation, node.arguments.args, node.arguments.kwargs, node.outputs, prefix)
        else:

            def call(op: Any, *args: Any, **kwargs: Any) -> Any:
                out = op.compute_output_spec(*args, **kwargs)
                self.visit(op, args, kwargs, out, prefix)
                return out

            keras_internals.run_through_graph(graph, specs, call)

    def visit(self, layer: Any, args: Any, kwargs: Any, outputs: Any, prefix: str) -> None:
        name = f"{prefix}{layer.name}"
        ins = _shapes(_tensors((args, kwargs)))
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
            macs, free = rule(layer, ins, _shapes(_tensors(outputs)), {"args": args, "kwargs": kwargs})
        except _Uncounted as exc:
            row.counted, row.rule = False, str(exc)
            return
        except Exception as exc:  # noqa: BLE001 - a layer in a state the rule didn't expect: listed, not fatal
            row.counted, row.rule = False, f"{type(exc).__name__}: {exc}"[:200]
            return
        row.macs += int(macs)
        row.free = row.free or free


def _input_specs(model: Any, input_shapes: Mapping[str, Sequence[int | None]] | None) -> list[Any] | None:
    """KerasTensors for the model's inputs with the given shapes (None: use the model's own)."""
    if not input_shapes:
        return None
    from core.tf_runtime import import_keras

    KerasTensor = import_keras().KerasTensor
    inputs = list(getattr(model, "inputs", None) or [])
    names: dict[str, int] = {}
    for i, t in enumerate(inputs):
        for key in (getattr(t, "name", None), keras_internals.producer_name(t)):
            if key:
                names.setdefault(str(key), i)
    unknown = sorted(set(input_shapes) - set(names))
    if unknown:
        raise ValueError(
            f"the model has no input named {', '.join(map(repr, unknown))} "
            f"(inputs: {', '.join(map(repr, sorted(names)))})"
        )
    specs = []
    for i, t in enumerate(inputs):
        own = _shape(t) or ()
        wanted = next((input_shapes[k] for k, j in names.items() if j == i and k in input_shapes), None)
        if wanted is None:
            specs.append(t)
            continue
        given = tuple(None if d is None else int(d) for d in wanted)
        if len(given) == len(own) - 1:
            given = (1,) + given
        if len(given) != len(own):
            raise ValueError(
                f"input {getattr(t, 'name', i)!r} has rank {len(own) - 1} (batch excluded); the shape given is {given}"
            )
        specs.append(KerasTensor(given, dtype=t.dtype))
    return specs


def _unit(model: Any, specs: list[Any] | None) -> str:
    """ "time step" when every free dimension is the time axis of a (batch, time, features) input."""
    shapes = [_shape(t) for t in (specs or getattr(model, "inputs", None) or [])]
    free = [s for s in shapes if s and any(d is None for d in s[1:])]
    if free and all(len(s) == 3 and s[1] is None and s[2] is not None for s in free):
        return SEQUENCE_UNIT
    return POSITION_UNIT


def _not_counted(model: Any, exc: Exception, unknown: bool = False) -> MacCount:
    """The whole model uncounted: its graph could not be walked (never guessed at, never fatal to inspect).

    `unknown`: an upstream internal moved (`core.adapters.UpstreamChanged`, whose message names it):
    the count is unknown (`MacCount.unknown`), not a partial 0."""
    name, kind = str(getattr(model, "name", "model")), type(model).__name__
    why = str(exc) if unknown else f"{type(exc).__name__}: {exc}"
    return MacCount(
        total=0,
        layers=(LayerMacs(name=name, type=kind, macs=0, counted=False, rule=why[:300]),),
        uncounted=((name, kind),),
        partial=True,
        unknown=why if unknown else "",
        notes=(f"MACs could not be counted: {why}"[:300],),
    )


def count_keras_macs(model: Any, input_shapes: Mapping[str, Sequence[int | None]] | None = None) -> MacCount:
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
    except UpstreamChanged as exc:  # Keras internals moved: unknown, with the reason
        return _not_counted(model, exc, unknown=True)
    except Exception as exc:  # noqa: BLE001 - a shape Keras could not propagate: count at the model's own shapes
        if specs is None:
            return _not_counted(model, exc)
        notes.append(
            f"the given input shapes could not be propagated ({type(exc).__name__}: {exc}"[:200]
            + "); counted at the model's own shapes"
        )
        specs, counter = None, _KerasCounter()
        try:
            counter.model(model, None, "", getattr(model, "name", "model"))
        except UpstreamChanged as again:
            return _not_counted(model, again, unknown=True)
        except Exception as again:  # noqa: BLE001 - see _not_counted
            return _not_counted(model, again)
    rows = tuple(
        LayerMacs(name=name, type=r.type, macs=r.macs, counted=r.counted, free=r.free, rule=r.rule)
        for name, r in counter.rows.items()
    )
    uncounted = tuple((r.name, r.type) for r in rows if not r.counted)
    per = _unit(model, specs) if any(r.free for r in rows) else ""
    if per == SEQUENCE_UNIT:
        notes.append("the sequence length is free: MACs are counted per time step")
    elif per:
        notes.append(
            "the model has free dimensions: each layer is counted per position of its own free axes "
            "(per output position for a convolution), so a sample's count grows with its size"
        )
    return MacCount(
        total=sum(r.macs for r in rows if r.counted),
        layers=rows,
        uncounted=uncounted,
        partial=bool(uncounted),
        per=per,
        notes=tuple(notes),
    )
