"""Structured pruning: remove whole filters/units and rebuild a genuinely smaller model.

1. `graph.analyse` finds the channel groups (layers whose output channels must
   match, tied by Add/Multiply/... in residual blocks) and the groups that
   cannot be pruned, with the reason. Recurrent layers and TimeDistributed are
   left whole, with a note (and so is the layer feeding them).
2. Each prunable group ranks its channels by L1 norm of the producing kernels'
   filters (each producer normalised by its mean, then summed) and keeps the
   strongest `1 - sparsity` of them.
3. The model is rebuilt from its layers' configs with fewer `units`/`filters`;
   kernels, biases and the matching slices of BatchNorm/DepthwiseConv/the next
   layer's input channels are copied over (a SeparableConv's pointwise filters
   are its output channels; its input channels are sliced in the depthwise and
   the pointwise kernel together).
4. Fine-tuning (labels, or else the original model's outputs) recovers accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from core.compress import measure as m
from core.compress import training as t
from core.compress.configs import StructuredPruneConfig
from core.compress.flops import count_flops
from core.compress.graph import DEPTHWISE, PER_CHANNEL, PRODUCERS, SEPARABLE, ChannelGraph, Group, NodeInfo, analyse
from core.engine.context import CancelToken, Reporter
from core.adapters import UpstreamChanged, keras_internals
from core.errors import BadInputError, ConversionError

STAGE = "structured-prune"


@dataclass(frozen=True)
class GroupReport:
    """One channel group with producers: its channel count before and after, and why it was left alone."""

    producers: tuple[str, ...]  # layers whose filters/units were (or would be) removed together
    members: tuple[str, ...]  # per-channel layers sliced with them (BatchNorm, DepthwiseConv)
    channels_before: int
    channels_after: int
    pruned: bool
    reason: str = ""  # why it was left alone


@dataclass(frozen=True)
class StructuredPruneResult:
    """What `structured_prune` made and measured.

    Parameter counts and FLOPs (2 x MACs of one sample, `core.compress.flops`) are counted on
    both models; .tflite sizes in bytes and p50 latencies in ms (batch 1) are measured side by
    side when `config.measure` asks for them, else None.
    """

    model: Any  # the rebuilt, smaller keras.Model
    groups: tuple[GroupReport, ...]
    params_before: int
    params_after: int
    flops_before: int  # 2 x MACs of Dense/Conv layers, batch 1
    flops_after: int
    tflite_size_before: int | None
    tflite_size_after: int | None
    latency_ms_before: float | None  # p50, batch 1, measured side by side
    latency_ms_after: float | None
    latency_ratio: float | None  # after / before
    history: dict[str, list[float]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def groups_pruned(self) -> tuple[GroupReport, ...]:
        """The groups that lost channels."""
        return tuple(g for g in self.groups if g.pruned)

    @property
    def groups_skipped(self) -> tuple[GroupReport, ...]:
        """The groups left whole (each with its `reason`)."""
        return tuple(g for g in self.groups if not g.pruned)

    def summary(self) -> dict[str, Any]:
        """Plain data for JSON: every figure, the groups as dicts and one `skipped` line per group left whole."""
        from dataclasses import asdict

        d = {k: v for k, v in self.__dict__.items() if k not in ("model", "groups")}
        d["groups"] = [asdict(g) for g in self.groups]
        d["skipped"] = [f"{', '.join(g.producers)}: {g.reason}" for g in self.groups_skipped]
        return d


# planning -------------------------------------------------------------------


def _layer(model: Any, name: str) -> Any:
    return model.get_layer(name)


def _filter_l1(layer: Any) -> np.ndarray:
    weights = layer.pointwise_kernel if type(layer).__name__ in SEPARABLE else layer.kernel
    kernel = np.asarray(weights.numpy())
    return np.abs(kernel).reshape(-1, kernel.shape[-1]).sum(axis=0)


def _keep_count(channels: int, fraction: float, min_channels: int, multiple: int) -> int:
    n = channels - int(round(channels * fraction))
    n = max(min_channels, n)
    if multiple > 1:
        n = int(-(-n // multiple) * multiple)
    return min(channels, n)


def plan(
    model: Any,
    cg: ChannelGraph,
    fraction_of: Callable[[Group], float],
    *,
    min_channels: int = 1,
    channel_multiple: int = 1,
    by_importance: bool = True,
) -> tuple[dict[int, np.ndarray], list[GroupReport]]:
    """Channels to keep per prunable group root, and a report of every group with producers."""
    keep: dict[int, np.ndarray] = {}
    reports: list[GroupReport] = []
    for g in cg.root_groups():
        if not g.producers:
            continue
        producers, members = tuple(g.producers), tuple(dict.fromkeys(g.members))
        if g.blocked:
            reports.append(GroupReport(producers, members, g.size, g.size, False, "; ".join(g.blocked)))
            continue
        fraction = fraction_of(g)
        n = _keep_count(g.size, fraction, min_channels, channel_multiple)
        if n >= g.size:
            reports.append(
                GroupReport(
                    producers,
                    members,
                    g.size,
                    g.size,
                    False,
                    f"nothing to remove from {g.size} channels at sparsity {fraction:g}",
                )
            )
            continue
        if by_importance:
            score = np.zeros(g.size)
            for name in g.producers:
                l1 = _filter_l1(_layer(model, name))
                score += l1 / (l1.mean() + 1e-12)
            order = np.argsort(-score, kind="stable")[:n]
            idx = np.sort(order)
        else:
            idx = np.arange(n)
        keep[g.gid] = idx.astype(np.int64)
        reports.append(GroupReport(producers, members, g.size, n, True))
    return keep, reports


# rebuilding -----------------------------------------------------------------


def _new_layer(layer: Any, cg: ChannelGraph, keep: dict[int, np.ndarray]) -> Any:
    keras = t.keras_module()
    cls = type(layer).__name__
    if isinstance(layer, keras.Model):
        copy = keras.models.clone_model(layer)
        copy.set_weights(layer.get_weights())
        return copy
    config = layer.get_config()
    if cls in PRODUCERS or cls in SEPARABLE:
        g = cg.group_of_producer(layer.name)
        if g is not None and g.gid in keep:
            key = "units" if cls == "Dense" else "filters"
            config[key] = int(len(keep[g.gid]))
    return layer.__class__.from_config(config)


def _slice_weights(info: NodeInfo, new_layer: Any, cg: ChannelGraph, keep: dict[int, np.ndarray]) -> list[np.ndarray]:
    layer = info.layer
    cls = type(layer).__name__
    weights = layer.get_weights()
    if not weights:
        return weights
    in_idx = cg.kept_indices(info.inputs[0], keep) if info.inputs else None
    if cls in PRODUCERS:
        g = cg.group_of_producer(layer.name)
        out_idx = keep.get(g.gid) if g is not None else None
        kernel = weights[0]
        if in_idx is not None:
            kernel = np.take(kernel, in_idx, axis=-2)
        if out_idx is not None:
            kernel = np.take(kernel, out_idx, axis=-1)
        rest = [np.take(w, out_idx, axis=-1) if out_idx is not None else w for w in weights[1:]]
        return [kernel] + rest
    if cls in SEPARABLE:  # depthwise (..., in, 1), pointwise (..., in, out), bias (out,)
        g = cg.group_of_producer(layer.name)
        out_idx = keep.get(g.gid) if g is not None else None
        depthwise, pointwise = weights[0], weights[1]
        if in_idx is not None:  # only with depth_multiplier 1 (graph.analyse blocks the input otherwise)
            depthwise = np.take(depthwise, in_idx, axis=-2)
            pointwise = np.take(pointwise, in_idx, axis=-2)
        if out_idx is not None:
            pointwise = np.take(pointwise, out_idx, axis=-1)
        rest = [np.take(w, out_idx, axis=-1) if out_idx is not None else w for w in weights[2:]]
        return [depthwise, pointwise] + rest
    if in_idx is None:
        return weights
    if cls in DEPTHWISE:
        return [np.take(weights[0], in_idx, axis=-2)] + [np.take(w, in_idx, axis=-1) for w in weights[1:]]
    if cls in PER_CHANNEL:
        size = info.inputs[0].size
        return [np.take(w, in_idx, axis=-1) if w.shape and w.shape[-1] == size else w for w in weights]
    return weights


def rebuild(model: Any, cg: ChannelGraph, keep: dict[int, np.ndarray], *, copy_weights: bool = True) -> Any:
    """A new model with the kept channels only (fresh weights when `copy_weights` is False)."""
    keras = t.keras_module()
    tree = keras.tree

    new_layers: dict[int, Any] = {}

    def new_for(layer: Any) -> Any:
        if id(layer) not in new_layers:
            new_layers[id(layer)] = _new_layer(layer, cg, keep)
        return new_layers[id(layer)]

    def input_name(src: Any) -> str | None:
        return keras_internals.producer_name(src)

    if type(model).__name__ == "Sequential":
        src = model.inputs[0]
        layers = [keras.layers.InputLayer(batch_shape=tuple(src.shape), dtype=src.dtype, name=input_name(src))]
        layers += [new_for(layer) for layer in model.layers]
        new_model = keras.Sequential(layers, name=model.name)
    else:
        tensors: dict[int, Any] = {}
        new_inputs = []
        for src in model.inputs:
            inp = keras.Input(batch_shape=tuple(src.shape), dtype=src.dtype, name=input_name(src))
            tensors[id(src)] = inp
            new_inputs.append(inp)
        for info in cg.nodes:
            node = info.node
            args, kwargs = node.arguments.fill_in(tensors)
            out = new_for(info.layer)(*args, **kwargs)
            for old, new in zip(node.outputs, tree.flatten(out)):
                tensors[id(old)] = new
        new_outputs = [tensors[id(o)] for o in model.outputs]
        in_struct, out_struct = keras_internals.io_structures(model)
        outputs = tree.pack_sequence_as(out_struct, new_outputs) if out_struct is not None else new_outputs
        inputs = tree.pack_sequence_as(in_struct, new_inputs) if in_struct is not None else new_inputs
        new_model = keras.Model(inputs, outputs, name=model.name)

    if copy_weights:
        for info in cg.nodes:
            if isinstance(info.layer, keras.Model):
                continue  # cloned with its weights already
            new_layer = new_layers[id(info.layer)]
            new_layer.set_weights(_slice_weights(info, new_layer, cg, keep))
    return new_model


def width_scaled_copy(model: Any, width: float) -> Any:
    """A freshly initialised copy of `model` with `width` times the filters/units of each prunable group.

    Groups that structured pruning would leave alone (the output layer, inputs,
    layers it cannot slice) keep their width.
    """
    if not 0.0 < float(width) <= 1.0:
        raise BadInputError(f"width must be in (0, 1], got {width}")
    t.single_output(model)
    try:
        cg = analyse(model)
    except UpstreamChanged as exc:  # Keras internals moved: this step fails, saying so
        raise ConversionError(f"structured pruning cannot read the model's layer graph: {exc}") from exc
    except ValueError as exc:
        raise BadInputError(str(exc)) from exc
    keep, _ = plan(model, cg, lambda g: 1.0 - float(width), by_importance=False)
    copy = rebuild(model, cg, keep, copy_weights=False)
    return copy


def structured_prune(
    model: Any, config: StructuredPruneConfig, x: Any, y: Any = None, *, progress: Reporter, cancel: CancelToken
) -> StructuredPruneResult:
    """Remove `config.sparsity` of the filters/units of every prunable group, then fine-tune on (x, y).

    Without labels (`y=None`) the targets are the original model's outputs.
    `model` is not modified.
    """
    t.single_output(model)
    x, y = t.check_data(model, x, y)
    t.seed_everything(config.seed)
    cancel.raise_if_cancelled()
    progress(0.0, "finding channel groups", stage=STAGE)
    try:
        cg = analyse(model)
    except UpstreamChanged as exc:  # Keras internals moved: this step fails, saying so
        raise ConversionError(f"structured pruning cannot read the model's layer graph: {exc}") from exc
    except ValueError as exc:
        raise BadInputError(str(exc)) from exc
    per_layer = dict(config.per_layer or {})
    unknown = sorted(set(per_layer) - {layer.name for layer in model.layers})
    if unknown:
        raise BadInputError(f"per_layer names layers the model does not have: {', '.join(unknown)}")

    def fraction_of(g: Group) -> float:
        given = [per_layer[p] for p in g.producers if p in per_layer]
        return float(max(given)) if given else float(config.sparsity)

    keep, reports = plan(
        model, cg, fraction_of, min_channels=config.min_channels, channel_multiple=config.channel_multiple
    )
    notes: list[str] = list(cg.notes)
    if not keep:
        notes.append("no group could be pruned: the model is rebuilt unchanged")
    progress(0.05, f"rebuilding: {len(keep)} group(s) pruned, {len(reports) - len(keep)} left alone", stage=STAGE)
    pruned = rebuild(model, cg, keep)
    cancel.raise_if_cancelled()

    check = np.asarray(pruned.predict(x[:2], verbose=0))
    expected = tuple(model.outputs[0].shape[1:])
    if len(check.shape) - 1 != len(expected) or any(
        e is not None and int(e) != c for e, c in zip(expected, check.shape[1:])
    ):
        raise BadInputError(f"the rebuilt model's output shape {check.shape[1:]} differs from the original's")

    history = t.fine_tune(
        pruned,
        model,
        x,
        y,
        epochs=config.fine_tune_epochs,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        progress=progress,
        cancel=cancel,
        stage=STAGE,
        label="fine-tuning the pruned model",
        span=(0.1, 0.8),
    )
    pruned.compile()
    cancel.raise_if_cancelled()

    if config.measure.measure:
        progress(0.82, "converting to .tflite", stage=STAGE)
    figures = m.tflite_pair_figures(
        model,
        pruned,
        ("before", "after"),
        config.measure,
        cancel=cancel,
        on_timing=lambda: progress(0.92, "measuring .tflite latency side by side", stage=STAGE),
    )
    params_before, params_after = int(model.count_params()), int(pruned.count_params())
    progress(1.0, f"parameters {params_before} -> {params_after}", stage=STAGE)
    return StructuredPruneResult(
        model=pruned,
        groups=tuple(reports),
        params_before=params_before,
        params_after=params_after,
        flops_before=count_flops(model),
        flops_after=count_flops(pruned),
        history=history,
        notes=tuple(notes),
        **figures,
    )
