"""What every runner shares (`core.benchmark.runners` describes the interface): the
`Runner` protocol, `InputSpec`, `BatchSizeUnsupported`, per-sample shapes by
input name and random named inputs (`_NamedInputs`).

Random inputs: floats in [0, 1); integer inputs (ids) 0..9, or 0..input_dim-1
when a Keras Embedding reads the input directly; booleans 0/1; a quantized
.tflite input gets float data quantized with its scale and zero point (as
`core.optimize.runtime.quantize_input` does). Free dimensions without a shape
given take the documented synthetic lengths (`core.data.synth.synthetic_shape`),
never 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from time import perf_counter
from typing import Any, Callable, Mapping, Protocol

import numpy as np

from core.models.interface import ModelInterface, TensorSpec


class BatchSizeUnsupported(ValueError):
    """The model cannot run at this batch size (e.g. a .tflite converted with a fixed batch of 1)."""


@dataclass(frozen=True)
class InputSpec:
    """One model input as prepared: its name, the batch's shape (batch first), dtype and value range."""

    name: str
    shape: tuple[int, ...]  # as prepared, batch first
    dtype: str  # numpy dtype name
    quantization: tuple[float, int] | None = None  # (scale, zero_point) of a quantized .tflite input
    int_high: int | None = None  # integer inputs: random values 0 .. int_high - 1 (default INTEGER_HIGH)


class Runner(Protocol):
    """One model in one runtime, measured by the sweep's loop (`core.benchmark.runners` says what a call is).

    Lifecycle: `set_sample_shapes` (optional), `prepare`, then `make_inputs` and `run_once` (or
    `time_calls`) any number of times, then `close`. `prepare` raises `BatchSizeUnsupported` when the
    model cannot run at that batch size.
    """

    name: str  # "litert", "keras-predict", ...
    uses_threads: bool  # False: the thread count is not the runner's to choose
    plan_error: Exception | None  # set by `core.benchmark.inputs.plan_inputs`: why it cannot be set up

    @property
    def variant(self) -> str:
        """The variant measured: "fp32", "dynamic", "int8", "keras", ..."""

    @property
    def interface(self) -> ModelInterface:
        """The model's named inputs and outputs."""

    def feed_interface(self) -> ModelInterface:
        """The inputs as data feeds them (a quantized .tflite input takes floats)."""

    def set_sample_shapes(self, shapes: Mapping[str, tuple[int, ...]]) -> None:
        """{input name: per-sample shape (no batch axis)} to run at; free axes otherwise take synthetic sizes."""

    def sample_shapes(self) -> dict[str, tuple[int, ...]]:
        """{input name: per-sample shape} the runner runs at (free axes resolved)."""

    def prepare(self, batch_size: int, threads: int | None) -> None:
        """Get ready to run batches of `batch_size` on `threads` threads (None: the runtime's default)."""

    def input_specs(self) -> list[InputSpec]:
        """The prepared inputs: name, batch-first shape, dtype, quantization."""

    def make_inputs(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Random inputs for one call: {input name: batch-first array} (see the module docstring)."""

    def run_once(self, inputs: Mapping[str, np.ndarray]) -> Any:
        """One call on one batch: set inputs, run, copy outputs; {output name: numpy array}."""

    def close(self) -> None:
        """Release the runtime (interpreter, model); the runner is not used afterwards."""

    # Optional: time_calls(count, inputs, cancel) -> milliseconds per measured call (`_NamedInputs`,
    # `LiteRTRunner`); the sweep times a runner without it with `time_run_once`.


Inputs = Mapping[str, np.ndarray]
# What a timing loop is fed: the same inputs for every call, or a function giving the next batch.
InputSource = Inputs | Callable[[], Inputs]


def time_run_once(runner: Any, count: int, inputs: InputSource, cancel: Any = None) -> list[float]:
    """Time `count` calls of `runner.run_once`; milliseconds per call, in call order.

    The loop for runners whose call is a whole Python function (Keras, SavedModel,
    test fakes): the timed region is ``run_once(inputs)`` (setting inputs, running,
    reading outputs, as those runners define a call). Getting the next batch from a
    callable `inputs` and the cancel check (``cancel.raise_if_cancelled()``, before
    every call: such calls are slow, so the check is free and stopping is prompt)
    happen outside the timed region. `core.benchmark.litert_runner` has the lean loop.
    """
    run, clock = runner.run_once, perf_counter
    feed = inputs if callable(inputs) else None
    check = cancel.raise_if_cancelled if cancel is not None else None
    seconds: list[float] = []
    append = seconds.append
    for _ in range(count):
        if check is not None:
            check()
        batch = feed() if feed is not None else inputs
        start = clock()
        run(batch)
        append(clock() - start)
    return [s * 1000.0 for s in seconds]


def quantize(values: np.ndarray, dtype: Any, quantization: tuple[float, int]) -> np.ndarray:
    """Float data for a quantized input, as `core.optimize.runtime.quantize_input` quantizes it."""
    from core.optimize.runtime import TensorDetail, quantize_input

    scale, zero_point = quantization
    detail = TensorDetail(name="", shape=(), dtype=np.dtype(dtype).name, scale=float(scale), zero_point=int(zero_point))
    return quantize_input(np.asarray(values), detail)


def random_inputs(specs: list[InputSpec] | tuple[InputSpec, ...], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """{input name: array} of the right shape and type (see the module docstring for the value ranges)."""
    from core.data.synth import INTEGER_HIGH

    arrays: dict[str, np.ndarray] = {}
    for spec in specs:
        dtype = np.dtype(spec.dtype)
        if dtype.kind == "f":
            value = rng.random(spec.shape, dtype=np.float32).astype(dtype)
        elif dtype.kind in "iu" and spec.quantization and spec.quantization[0] > 0:
            value = quantize(rng.random(spec.shape, dtype=np.float32), dtype, spec.quantization)
        elif dtype.kind == "b":
            value = rng.integers(0, 2, size=spec.shape).astype(dtype)
        elif dtype.kind in "iu":
            high = max(1, int(spec.int_high or INTEGER_HIGH))
            value = rng.integers(0, high, size=spec.shape).astype(dtype)
        else:
            value = np.zeros(spec.shape, dtype=dtype)
        arrays[spec.name] = np.ascontiguousarray(value)
    return arrays


def resolve_sample_shape(spec: TensorSpec, given: tuple[int, ...] | None = None) -> tuple[tuple[int, ...], list[str]]:
    """The per-sample shape (no batch axis) an input runs at, and notes.

    `given` (the data's shape) wins when it fits the spec's rank and fixed sizes;
    otherwise free axes take the documented synthetic lengths (never 1).
    """
    from core.data.synth import synthetic_shape

    dims = tuple(spec.shape[1:])
    if given is not None:
        given = tuple(int(d) for d in given)
        if len(given) == len(dims) and all(d is None or d == g for d, g in zip(dims, given)):
            return given, []
    shape, notes = synthetic_shape(spec, 1)
    return tuple(shape[1:]), notes


class _NamedInputs:
    """What every runner shares: per-sample shapes by input name, random named inputs.

    A subclass gives `interface` and `input_specs` (the `Runner` protocol's).
    """

    _shapes: dict[str, tuple[int, ...]] | None = None
    plan_error: Exception | None = None  # see `Runner.plan_error`

    @property
    def interface(self) -> ModelInterface:
        """The model's named inputs and outputs (each runner gives it)."""
        raise NotImplementedError

    def input_specs(self) -> list[InputSpec]:
        """The prepared inputs (each runner gives them)."""
        raise NotImplementedError

    def feed_interface(self) -> ModelInterface:
        """The inputs as data feeds them; the model's own interface unless a runner says otherwise."""
        return self.interface

    def set_sample_shapes(self, shapes: Mapping[str, tuple[int, ...]]) -> None:
        """{input name: per-sample shape (no batch axis)} to run at; free axes otherwise take synthetic sizes."""
        self._shapes = {str(k): tuple(int(d) for d in v) for k, v in shapes.items()}

    def sample_shapes(self) -> dict[str, tuple[int, ...]]:
        """{input name: per-sample shape} the runner runs at (free axes resolved)."""
        given = self._shapes or {}
        return {spec.name: resolve_sample_shape(spec, given.get(spec.name))[0] for spec in self.feed_interface().inputs}

    def make_inputs(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Random inputs for one call, from `input_specs` (see the module docstring for the value ranges)."""
        return random_inputs(self.input_specs(), rng)

    def time_calls(self, count: int, inputs: InputSource, cancel: Any = None) -> list[float]:
        """Milliseconds per call for `count` calls (`time_run_once`; LiteRT overrides it with a leaner loop)."""
        return time_run_once(self, count, inputs, cancel)
