"""Frozen settings for the compression techniques (one dataclass per technique).

Each config is plain data (numbers, strings, a mapping of layer names), so a
JSON recipe step can build one with ``config_from_dict(cls, mapping)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, TypeVar

from core.errors import BadInputError
from core.plain_data import from_plain

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


@dataclass(frozen=True)
class MeasureConfig:
    """What to measure on the result: `.tflite` sizes and side-by-side latency."""

    measure: bool = True  # convert to .tflite (proves the result converts) and time it
    latency_runs: int = 50
    latency_warmup: int = 5
    num_threads: int = 1


@dataclass(frozen=True)
class MagnitudePruneConfig:
    """Connection (weight) pruning by magnitude with a polynomial-decay schedule.

    `sparsity` is the fraction of kernel weights set to zero in every pruned layer;
    `per_layer` maps a layer name to its own target (0 leaves that layer alone).
    `begin_step`/`end_step`/`frequency` are in optimizer steps; `end_step=None`
    ends the ramp at 70% of the fine-tuning steps so the rest can recover, and
    `frequency=None` updates the masks about ten times during the ramp.
    """

    sparsity: float = 0.5
    per_layer: Mapping[str, float] | None = None
    initial_sparsity: float = 0.0
    power: float = 3.0
    epochs: int = 2
    batch_size: int = 32
    learning_rate: float = 5e-4
    begin_step: int = 0
    end_step: int | None = None
    frequency: int | None = None
    layer_types: tuple[str, ...] = ("Dense", "Conv1D", "Conv2D", "Conv3D", "DepthwiseConv2D", "DepthwiseConv1D")
    seed: int | None = 0
    measure: MeasureConfig = field(default_factory=MeasureConfig)

    def __post_init__(self) -> None:
        _check_fraction("sparsity", self.sparsity, allow_one=False)
        _check_fraction("initial_sparsity", self.initial_sparsity, allow_one=False)
        for name, value in (self.per_layer or {}).items():
            _check_fraction(f"per_layer[{name!r}]", value, allow_one=False)
        _check_training(self.epochs, self.batch_size, self.learning_rate)
        if self.frequency is not None and self.frequency < 1:
            raise BadInputError("frequency must be at least 1 step")
        if self.end_step is not None and self.end_step < self.begin_step:
            raise BadInputError("end_step must not come before begin_step")


@dataclass(frozen=True)
class StructuredPruneConfig:
    """Filter/unit pruning by L1 importance, rebuilding a smaller model.

    `sparsity` is the fraction of channels removed from each prunable group;
    `per_layer` maps the name of a layer producing a group to its own fraction.
    `channel_multiple` rounds kept channel counts up to a multiple (e.g. 4 or 8,
    which vectorised kernels like); `min_channels` is the floor per group.
    """

    sparsity: float = 0.4
    per_layer: Mapping[str, float] | None = None
    min_channels: int = 1
    channel_multiple: int = 1
    fine_tune_epochs: int = 2
    batch_size: int = 32
    learning_rate: float = 5e-4
    seed: int | None = 0
    measure: MeasureConfig = field(default_factory=MeasureConfig)

    def __post_init__(self) -> None:
        _check_fraction("sparsity", self.sparsity, allow_one=False)
        for name, value in (self.per_layer or {}).items():
            _check_fraction(f"per_layer[{name!r}]", value, allow_one=False)
        if self.min_channels < 1 or self.channel_multiple < 1:
            raise BadInputError("min_channels and channel_multiple must be at least 1")
        _check_training(self.fine_tune_epochs, self.batch_size, self.learning_rate)


@dataclass(frozen=True)
class DistillConfig:
    """Knowledge distillation with `keras.distillation.Distiller`.

    `student` is ``"width:F"`` (a freshly initialised copy of the teacher with
    F times the filters and units), ``"pruned"`` / ``"pruned:S"`` (the teacher
    structured-pruned by S, default 0.5, keeping its weights) or the path of a
    `.keras`/`.h5` model file. `alpha` is the weight of the supervised (label)
    loss, 1 - alpha that of the distillation loss; without labels only the
    distillation loss is used. `temperature` softens both models' outputs.
    `compare_scratch` also trains the same student from scratch on the same
    data and epochs (needs labels), so the result says whether distilling helped.
    """

    student: str = "width:0.5"
    temperature: float = 3.0
    alpha: float = 0.1
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    seed: int | None = 0
    compare_scratch: bool = False
    measure: MeasureConfig = field(default_factory=MeasureConfig)

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise BadInputError("temperature must be positive")
        if not 0.0 <= self.alpha <= 1.0:
            raise BadInputError("alpha (label loss weight) must be between 0 and 1")
        _check_training(self.epochs, self.batch_size, self.learning_rate)
        if not isinstance(self.student, str) or not self.student:
            raise BadInputError("student must be 'width:F', 'pruned[:S]' or a model path")


ConfigT = TypeVar("ConfigT", bound="DataclassInstance")


def config_from_dict(cls: type[ConfigT], mapping: Mapping[str, Any]) -> ConfigT:
    """Build a config dataclass from a JSON-like mapping; unknown keys or bad values raise BadInputError.

    The reading is `core.plain_data.from_plain` (arrays as tuples, a "measure" object as `MeasureConfig`).
    """
    try:
        return from_plain(cls, mapping, nested={"measure": MeasureConfig}, error=BadInputError)
    except TypeError as exc:
        raise BadInputError(f"bad {cls.__name__} settings: {exc}") from exc


def _check_fraction(name: str, value: float, *, allow_one: bool) -> None:
    ok = 0.0 <= float(value) <= 1.0 if allow_one else 0.0 <= float(value) < 1.0
    if not ok:
        raise BadInputError(f"{name} must be in [0, 1{']' if allow_one else ')'}, got {value}")


def _check_training(epochs: int, batch_size: int, learning_rate: float) -> None:
    if epochs < 0:
        raise BadInputError("epochs must not be negative")
    if batch_size < 1:
        raise BadInputError("batch_size must be at least 1")
    if learning_rate <= 0:
        raise BadInputError("learning_rate must be positive")
