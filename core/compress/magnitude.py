"""Magnitude (connection) pruning for Keras 3 models, without TF-MOT.

The smallest-magnitude kernel weights of each pruned layer are zeroed while the
model fine-tunes: a callback recomputes the masks on the polynomial-decay
schedule and re-applies them after every optimizer step. At the end the masks
are baked into the weights, so the result is an ordinary Keras model with the
same layers and no extra variables.

Zeros make the weights compress well (gzip) but dense kernels compute them
anyway: latency usually stays the same, and the result says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.compress import measure as m
from core.compress import training as t
from core.compress.configs import MagnitudePruneConfig
from core.compress.schedule import PolynomialDecay, default_schedule
from core.engine.context import CancelToken, Reporter
from core.errors import BadInputError

STAGE = "magnitude-prune"


@dataclass(frozen=True)
class MagnitudePruneResult:
    """The pruned model and its figures: sparsities (fractions of zero kernel weights), weight counts,
    gzip sizes of the raw weights and of the .tflite (bytes), and p50 latency (ms, batch 1, side by
    side). The .tflite figures are None when `config.measure` turns measuring off.
    """

    model: Any  # the pruned keras.Model (masks baked in)
    target_sparsity: dict[str, float]  # layer -> target fraction of zero weights
    layer_sparsity: dict[str, float]  # layer -> fraction of zero kernel weights reached
    overall_sparsity: float  # zero fraction over all pruned kernels together
    pruned_weights: int
    prunable_weights: int
    params: int
    gzip_weights_before: int  # gzip of the raw weight bytes
    gzip_weights_after: int
    tflite_size_before: int | None  # float32 .tflite, bytes
    tflite_size_after: int | None
    gzip_tflite_before: int | None
    gzip_tflite_after: int | None
    latency_ms_before: float | None  # p50, batch 1, measured side by side
    latency_ms_after: float | None
    latency_ratio: float | None  # after / before
    schedule: dict[str, float] = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def summary(self) -> dict[str, Any]:
        """The figures without the model (JSON-ready)."""
        return {k: v for k, v in self.__dict__.items() if k != "model"}


def _kernel_of(layer: Any) -> Any:
    kernel = getattr(layer, "depthwise_kernel", None)
    return kernel if kernel is not None else getattr(layer, "kernel", None)


def _targets(model: Any, config: MagnitudePruneConfig) -> dict[str, float]:
    per_layer = dict(config.per_layer or {})
    names = {layer.name for layer in model.layers}
    unknown = sorted(set(per_layer) - names)
    if unknown:
        raise BadInputError(f"per_layer names layers the model does not have: {', '.join(unknown)}")
    targets: dict[str, float] = {}
    for layer in model.layers:
        if type(layer).__name__ not in config.layer_types or _kernel_of(layer) is None:
            if layer.name in per_layer and per_layer[layer.name] > 0:
                raise BadInputError(f"layer {layer.name!r} ({type(layer).__name__}) cannot be magnitude-pruned")
            continue
        s = float(per_layer.get(layer.name, config.sparsity))
        if s > 0:
            targets[layer.name] = s
    if not targets:
        raise BadInputError("the model has no layer to prune (Dense, Conv or DepthwiseConv kernels)")
    return targets


def magnitude_mask(weights: np.ndarray, sparsity: float) -> np.ndarray:
    """A 0/1 mask zeroing exactly round(sparsity * size) smallest-|w| entries."""
    flat = np.abs(weights).ravel()
    k = int(round(sparsity * flat.size))
    mask = np.ones(flat.size, dtype=weights.dtype)
    if k > 0:
        drop = np.argpartition(flat, k - 1)[:k]
        mask[drop] = 0
    return mask.reshape(weights.shape)


class _Masker:
    """Holds one mask per pruned kernel; updates them on the schedule and applies them."""

    def __init__(self, model: Any, targets: dict[str, float], schedules: dict[str, PolynomialDecay]) -> None:
        self.kernels = {name: _kernel_of(model.get_layer(name)) for name in targets}
        self.schedules = schedules
        self.masks: dict[str, Any] = {}
        self.current: dict[str, float] = {}

    def update(self, step: int, force: bool = False) -> None:
        for name, kernel in self.kernels.items():
            sched = self.schedules[name]
            if not force and not sched.should_update(step):
                continue
            s = sched.sparsity(step) if not force else sched.final_sparsity
            if s <= 0 and name not in self.masks:
                continue
            mask = magnitude_mask(np.asarray(kernel.numpy()), s)
            self.masks[name] = t.keras_module().ops.convert_to_tensor(mask, dtype=kernel.dtype)
            self.current[name] = s

    def apply(self) -> None:
        ops = t.keras_module().ops
        for name, mask in self.masks.items():
            kernel = self.kernels[name]
            kernel.assign(ops.multiply(kernel.value, mask))

    def on_step(self, step: int) -> None:
        self.update(step)
        self.apply()


def magnitude_prune(
    model: Any, config: MagnitudePruneConfig, x: Any, y: Any = None, *, progress: Reporter, cancel: CancelToken
) -> MagnitudePruneResult:
    """Prune `model`'s kernels by magnitude to `config.sparsity`, fine-tuning on (x, y).

    Without labels (`y=None`) the targets are the original model's outputs.
    `model` is not modified; the result holds a new model.
    """
    t.single_output(model)
    x, y = t.check_data(model, x, y)
    t.seed_everything(config.seed)
    cancel.raise_if_cancelled()
    progress(0.0, "copying the model", stage=STAGE)
    pruned = t.clone_with_weights(model)
    targets = _targets(pruned, config)

    steps = config.epochs * t.steps_per_epoch(len(x), config.batch_size)
    schedules = {
        name: default_schedule(
            s,
            steps,
            initial_sparsity=min(config.initial_sparsity, s),
            begin_step=config.begin_step,
            end_step=config.end_step,
            frequency=config.frequency,
            power=config.power,
        )
        for name, s in targets.items()
    }
    any_sched = next(iter(schedules.values()))
    notes: list[str] = []
    if steps and any_sched.end_step > steps:
        notes.append(
            f"end_step {any_sched.end_step} is past the {steps} fine-tuning steps: the last masks were set "
            "at the end without recovery training"
        )
    masker = _Masker(pruned, targets, schedules)
    masker.update(0)
    masker.apply()

    history = t.fine_tune(
        pruned,
        model,
        x,
        y,
        epochs=config.epochs,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        progress=progress,
        cancel=cancel,
        span=(0.02, 0.8),
        stage=STAGE,
        label="fine-tuning with pruning masks",
        on_batch_end=masker.on_step,
    )
    if config.epochs == 0:
        notes.append("no fine-tuning (epochs=0): one-shot pruning, accuracy may drop")
    cancel.raise_if_cancelled()
    # Bake: the final masks at the target sparsity, applied to the plain weights.
    masker.update(steps, force=True)
    masker.apply()
    pruned.compile()  # drop the fine-tuning optimizer and loss from the result
    cancel.raise_if_cancelled()

    sparsity = m.kernel_sparsity(pruned, set(targets))
    total = sum(int(np.prod(masker.kernels[n].shape)) for n in targets)
    zeros = sum(int(round(sparsity[n] * np.prod(masker.kernels[n].shape))) for n in targets)

    progress(0.85, "measuring sizes", stage=STAGE)
    figures = m.tflite_pair_figures(
        model,
        pruned,
        ("before", "after"),
        config.measure,
        cancel=cancel,
        gzip_sizes=True,
        on_timing=lambda: progress(0.92, "measuring .tflite latency side by side", stage=STAGE),
    )
    ratio = figures["latency_ratio"]
    if config.measure.measure:
        notes.append(
            f"latency after/before = {ratio:.2f} (p50, batch 1): zeroed weights shrink the compressed file "
            "but dense kernels still multiply them, so magnitude pruning alone rarely makes inference "
            "faster; structured pruning does"
            if ratio is not None
            else "latency could not be measured"
        )
    progress(1.0, f"pruned {zeros}/{total} weights ({zeros / max(1, total):.1%})", stage=STAGE)
    return MagnitudePruneResult(
        model=pruned,
        target_sparsity=targets,
        layer_sparsity=sparsity,
        overall_sparsity=zeros / max(1, total),
        pruned_weights=zeros,
        prunable_weights=total,
        params=int(pruned.count_params()),
        gzip_weights_before=m.gzip_size(m.weights_bytes(model)),
        gzip_weights_after=m.gzip_size(m.weights_bytes(pruned)),
        schedule={
            "begin_step": any_sched.begin_step,
            "end_step": any_sched.end_step,
            "frequency": any_sched.frequency,
            "power": any_sched.power,
            "total_steps": steps,
        },
        history=history,
        notes=tuple(notes),
        **figures,
    )
