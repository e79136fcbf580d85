"""Channel groups of a Keras graph: which layers' output channels must be pruned together.

Every tensor's last axis is described as a list of segments, each a slice of
one *channel group* (a `Concatenate` joins segments; `Flatten` repeats them
once per spatial position). A group is born at a layer that makes new channels
(Dense units, Conv1D/2D/3D filters, SeparableConv pointwise filters). Layers
that pass channels through (BatchNorm, activations, pooling, DepthwiseConv2D
with depth_multiplier 1) keep the group; a SeparableConv consumes its input
channels through its depthwise kernel and its pointwise kernel's input axis
(sliced together, depth_multiplier 1 only);
element-wise merges (Add, Multiply, ...) tie their inputs' groups together with
union-find, so a residual block is pruned consistently. Anything the analysis
cannot slice (Reshape, Lambda, custom layers, nested models, shared layers, the
model's inputs and outputs) blocks the groups it touches, with a reason.
Recurrent layers (LSTM, GRU, SimpleRNN, Bidirectional, ConvLSTM, any RNN) and
TimeDistributed are left whole: they block the groups feeding them, and a note
per layer (`ChannelGraph.notes`) says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.adapters import keras_internals

PRODUCERS = {"Dense", "Conv1D", "Conv2D", "Conv3D"}
DEPTHWISE = {"DepthwiseConv1D", "DepthwiseConv2D"}
PER_CHANNEL = {"BatchNormalization", "LayerNormalization", "PReLU"}
PASS_THROUGH = {
    "Activation",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
    "Identity",
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling3D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling3D",
    "ZeroPadding1D",
    "ZeroPadding2D",
    "ZeroPadding3D",
    "Cropping1D",
    "Cropping2D",
    "Cropping3D",
    "UpSampling1D",
    "UpSampling2D",
    "UpSampling3D",
}
SEPARABLE = {"SeparableConv1D", "SeparableConv2D"}
RECURRENT_BASES = {"RNN", "Bidirectional", "TimeDistributed"}  # LSTM, GRU, SimpleRNN, ConvLSTM subclass RNN
MERGES = {"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"}
CHANNEL_ACTIVATIONS = {"softmax", "log_softmax"}  # mix channels: cannot drop one


@dataclass
class Group:
    """One channel group: `size` channels pruned together, the layers that make and carry them, and why not (if blocked)."""

    gid: int
    size: int
    producers: list[str] = field(default_factory=list)  # layers whose outputs make these channels
    members: list[str] = field(default_factory=list)  # per-channel layers (BN, depthwise) on them
    blocked: list[str] = field(default_factory=list)  # reasons it cannot be pruned


@dataclass(frozen=True)
class Desc:
    """A tensor's last axis: `repeat` times the concatenation of `segments` (group id, size)."""

    segments: tuple[tuple[int, int], ...]
    repeat: int = 1

    @property
    def size(self) -> int:
        """Channels on the axis: `repeat` x the sum of the segment sizes."""
        return self.repeat * sum(s for _, s in self.segments)


@dataclass
class NodeInfo:
    """One layer call in graph order: its layer, the channel layout (Desc) and shapes of its inputs and outputs."""

    layer: Any
    inputs: list[Desc]
    outputs: list[Desc]
    in_shapes: list[tuple]
    out_shapes: list[tuple]
    node: Any = None


class ChannelGraph:
    """The channel groups of one model (`analyse`): union-find over group ids, plus the walked nodes.

    `groups` by id (merged groups keep the root's id), `nodes` in graph order, and `notes`
    for the layers left whole, with the reason.
    """

    def __init__(self) -> None:
        self.groups: dict[int, Group] = {}
        self.parent: dict[int, int] = {}
        self.nodes: list[NodeInfo] = []
        self.notes: list[str] = []  # layers left whole, and why

    # union-find ---------------------------------------------------------------
    def new_group(self, size: int, producer: str | None = None, blocked: str | None = None) -> int:
        """A new group of `size` channels, made by `producer` or blocked for `blocked`; returns its id."""
        gid = len(self.groups)
        self.groups[gid] = Group(gid, size, [producer] if producer else [], [], [blocked] if blocked else [])
        self.parent[gid] = gid
        return gid

    def find(self, gid: int) -> int:
        """The root id of `gid`'s group (union-find, with path halving)."""
        while self.parent[gid] != gid:
            self.parent[gid] = self.parent[self.parent[gid]]
            gid = self.parent[gid]
        return gid

    def union(self, a: int, b: int) -> int:
        """Merge the groups of `a` and `b` (their producers, members and block reasons); returns the root id."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        ga, gb = self.groups[ra], self.groups[rb]
        self.parent[rb] = ra
        ga.producers += gb.producers
        ga.members += gb.members
        ga.blocked += gb.blocked
        return ra

    def block(self, desc: Desc, reason: str) -> None:
        """Mark every group on `desc` as unprunable for `reason` (each reason once per group)."""
        for gid, _ in desc.segments:
            g = self.groups[self.find(gid)]
            if reason not in g.blocked:
                g.blocked.append(reason)

    def root_groups(self) -> list[Group]:
        """The groups left after merging (one per root id), in creation order."""
        return [g for gid, g in self.groups.items() if self.find(gid) == gid]

    def group_of_producer(self, layer_name: str) -> Group | None:
        """The merged group whose channels `layer_name` makes, or None when it makes none."""
        for g in self.root_groups():
            if layer_name in g.producers:
                return g
        return None

    def kept_indices(self, desc: Desc, keep: dict[int, np.ndarray]) -> np.ndarray | None:
        """Indices of the last axis that survive, or None when nothing is removed."""
        parts, offset, changed = [], 0, False
        for _ in range(desc.repeat):
            for gid, size in desc.segments:
                root = self.find(gid)
                if root in keep:
                    parts.append(offset + keep[root])
                    changed = True
                else:
                    parts.append(offset + np.arange(size))
                offset += size
        return np.concatenate(parts).astype(np.int64) if changed else None


def functional_view(model: Any) -> Any:
    """The graph object (nodes by depth, inputs, outputs) behind a Sequential or functional model.

    Raises ValueError when the model has none (subclassed, or never built), and
    `core.adapters.UpstreamChanged` when Keras's graph internals moved (`core.adapters.keras_internals`).
    """
    try:
        return keras_internals.layer_graph(model)
    except keras_internals.NoLayerGraph:
        raise ValueError("the model has no layer graph (build it with an Input, or a subclassed model)") from None


def ordered_nodes(graph: Any) -> list[Any]:
    """The graph's nodes, inputs first; raises `core.adapters.UpstreamChanged` (see functional_view)."""
    return keras_internals.ordered_nodes(graph)


def _activation_name(layer: Any) -> str:
    act = getattr(layer, "activation", None)
    return getattr(act, "__name__", str(act) if act is not None else "").lower()


def is_recurrent(layer: Any) -> bool:
    """LSTM, GRU, SimpleRNN, ConvLSTM (anything built on keras RNN), Bidirectional and TimeDistributed."""
    return any(c.__name__ in RECURRENT_BASES for c in type(layer).__mro__)


_GATES = {
    "LSTM": "four gates",
    "ConvLSTM1D": "four gates",
    "ConvLSTM2D": "four gates",
    "ConvLSTM3D": "four gates",
    "GRU": "three gates",
}
_WRAPPERS = ("Bidirectional", "TimeDistributed")


def whole_layer_note(layer: Any) -> str:
    """The note for a recurrent or TimeDistributed layer that structured pruning leaves whole."""
    cls = type(layer).__name__
    inner = layer
    while type(inner).__name__ in _WRAPPERS:
        wrapped = getattr(inner, "layer", None) or getattr(inner, "forward_layer", None)  # Bidirectional
        if wrapped is None:
            break
        inner = wrapped
    inner_cls = type(inner).__name__
    if inner is not layer and not is_recurrent(inner):
        why = f"the {inner_cls} it wraps runs at every step and is not sliced"
    elif inner_cls in _GATES:
        why = f"pruning its units would change the recurrent kernel's {_GATES[inner_cls]}"
    else:
        why = "pruning its units would change its recurrent kernel"
    if cls == "TimeDistributed":
        return f"left whole: TimeDistributed layer {layer.name!r} over {inner_cls} ({why}; not supported)"
    if cls == "Bidirectional":
        return (
            f"left whole: recurrent layer {layer.name!r} (Bidirectional {inner_cls}: {why}, "
            "in both directions; not supported)"
        )
    return f"left whole: recurrent layer {layer.name!r} ({why}; not supported)"


def _shape(t: Any) -> tuple[Any, ...]:  # Keras dims: int, or None when free (callers check)
    return tuple(t.shape)


def analyse(model: Any) -> ChannelGraph:
    """Walk the model's graph once and build its channel groups."""
    graph = functional_view(model)
    cg = ChannelGraph()
    descs: dict[int, Desc] = {}
    node_count: dict[int, int] = {}
    nodes = ordered_nodes(graph)
    for node in nodes:
        if node.operation is not None and not node.is_input:
            node_count[id(node.operation)] = node_count.get(id(node.operation), 0) + 1

    def fresh_blocked(t: Any, reason: str) -> Desc:
        return Desc(
            (
                (
                    cg.new_group(int(_shape(t)[-1] or 0) if len(_shape(t)) else 1, blocked=reason),
                    int(_shape(t)[-1] or 0) if len(_shape(t)) else 1,
                ),
            )
        )

    for t in graph.inputs:
        descs[id(t)] = fresh_blocked(t, "carries the model's input channels")

    for node in nodes:
        layer = node.operation
        if layer is None or node.is_input:
            for t in node.outputs:
                if id(t) not in descs:
                    descs[id(t)] = fresh_blocked(t, "carries the model's input channels")
            continue
        ins = [descs[id(t)] for t in node.input_tensors]
        cls = type(layer).__name__
        outs: list[Desc] | None = None
        barrier: str | None = None
        channels_last = getattr(layer, "data_format", "channels_last") in (None, "channels_last")
        rank = len(_shape(node.input_tensors[0])) if node.input_tensors else 0

        if is_recurrent(layer):
            kind = "TimeDistributed layer" if cls == "TimeDistributed" else "recurrent layer"
            barrier = f"{layer.name} ({cls}), a {kind} left whole"
            note = whole_layer_note(layer)
            if note not in cg.notes:
                cg.notes.append(note)
        elif node_count.get(id(layer), 0) > 1:
            barrier = f"{layer.name} ({cls}) is shared by several calls"
        elif cls in PRODUCERS:
            if not channels_last or getattr(layer, "groups", 1) != 1:
                barrier = f"{layer.name} ({cls}) is channels_first or grouped"
            elif len(ins) != 1:
                barrier = f"{layer.name} ({cls}) has several inputs"
            else:
                if ins[0].repeat > 1 and cls != "Dense":
                    barrier = f"{layer.name} ({cls}) follows a Flatten"
                else:
                    size = int(_shape(node.outputs[0])[-1])
                    outs = [Desc(((cg.new_group(size, producer=layer.name), size),))]
                    if CHANNEL_ACTIVATIONS & {_activation_name(layer)}:
                        cg.block(outs[0], f"{layer.name} applies {_activation_name(layer)} across its units")
        elif cls in SEPARABLE:
            multiplier = int(getattr(layer, "depth_multiplier", 1) or 1)
            if not channels_last:
                barrier = f"{layer.name} ({cls}) is channels_first"
            elif len(ins) != 1:
                barrier = f"{layer.name} ({cls}) has several inputs"
            elif ins[0].repeat > 1:
                barrier = f"{layer.name} ({cls}) follows a Flatten"
            else:
                # its pointwise filters are new channels; its input channels are sliced in the
                # depthwise kernel and the pointwise kernel's input axis together
                size = int(_shape(node.outputs[0])[-1])
                outs = [Desc(((cg.new_group(size, producer=layer.name), size),))]
                if CHANNEL_ACTIVATIONS & {_activation_name(layer)}:
                    cg.block(outs[0], f"{layer.name} applies {_activation_name(layer)} across its units")
                if multiplier != 1:
                    cg.block(
                        ins[0],
                        f"feeds {layer.name} ({cls}) with depth_multiplier {multiplier}, "
                        "whose input channels are not sliced",
                    )
        elif cls in DEPTHWISE:
            if not channels_last or getattr(layer, "depth_multiplier", 1) != 1:
                barrier = f"{layer.name} ({cls}) has depth_multiplier > 1 or is channels_first"
            elif ins[0].repeat > 1:
                barrier = f"{layer.name} ({cls}) follows a Flatten"
            else:
                outs = [ins[0]]
                for gid, _ in ins[0].segments:
                    cg.groups[cg.find(gid)].members.append(layer.name)
        elif cls in PER_CHANNEL:
            axis = getattr(layer, "axis", -1)
            axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
            if cls == "PReLU":
                ok = True
            else:
                ok = len(axes) == 1 and axes[0] in (-1, rank - 1)
            if not ok:
                barrier = f"{layer.name} ({cls}) works on an axis other than the channels"
            else:
                outs = [ins[0]]
                for gid, _ in ins[0].segments:
                    cg.groups[cg.find(gid)].members.append(layer.name)
        elif cls in PASS_THROUGH:
            if cls == "Activation" and _activation_name(layer) in CHANNEL_ACTIVATIONS:
                barrier = f"{layer.name} applies {_activation_name(layer)} across channels"
            elif not channels_last:
                barrier = f"{layer.name} ({cls}) is channels_first"
            else:
                outs = [ins[0]]
        elif cls == "Flatten":
            shape = _shape(node.input_tensors[0])
            spatial = shape[1:-1]
            if any(d is None for d in spatial):
                barrier = f"{layer.name} (Flatten) has an input with unknown spatial size"
            else:
                outs = [Desc(ins[0].segments, ins[0].repeat * int(np.prod(spatial, dtype=np.int64)))]
        elif cls in MERGES or (cls == "Concatenate" and getattr(layer, "axis", -1) not in (-1, rank - 1)):
            first = ins[0]
            same = all(
                d.repeat == first.repeat and [s for _, s in d.segments] == [s for _, s in first.segments] for d in ins
            )
            if not same:
                barrier = f"{layer.name} ({cls}) merges tensors whose channels do not line up"
            else:
                for d in ins[1:]:
                    for (a, _), (b, _) in zip(first.segments, d.segments):
                        cg.union(a, b)
                outs = [first]
        elif cls == "Concatenate":
            if any(d.repeat != 1 for d in ins):
                barrier = f"{layer.name} (Concatenate) joins flattened tensors"
            else:
                outs = [Desc(tuple(seg for d in ins for seg in d.segments))]
        else:
            barrier = f"{layer.name} ({cls}) cannot be sliced"

        if barrier is not None or outs is None:
            reason = f"feeds {barrier}" if barrier else f"feeds {layer.name} ({cls})"
            for d in ins:
                cg.block(d, reason)
            outs = [fresh_blocked(t, f"made by {barrier or cls}") for t in node.outputs]
        for t, d in zip(node.outputs, outs):
            descs[id(t)] = d
        cg.nodes.append(
            NodeInfo(layer, ins, outs, [_shape(t) for t in node.input_tensors], [_shape(t) for t in node.outputs], node)
        )

    for t in graph.outputs:
        cg.block(descs[id(t)], "reaches the model's output")
    return cg
