"""Synthetic inputs from a model's interface, for when the user gave no data.

Calibrating on random data can mislead badly (the activation ranges it finds are
not the real ones), so every result built on it carries ``synthetic_data=True``
and a loud warning. Float inputs are standard-normal; integer inputs are small
non-negative integers (token ids, class ids: 0..9, valid for any Embedding);
booleans are fair coin flips.

Free (None) dimensions other than the batch are never invented: their sizes
come from the user (``--input-shape NAME=D1,D2,...``, the sizes after the batch
axis); without them synthesis raises `UsageError` asking for them (the data's
own shape is used whenever the user gives data). Each given shape is named in a
note.
"""

from __future__ import annotations

import numpy as np

from core.models.interface import ModelInterface, TensorSpec

SYNTHETIC_WARNING = (
    "NO DATA GIVEN: calibration and evaluation used RANDOM inputs; quantization ranges and "
    "fidelity figures may not reflect real data (give --data for trustworthy results)"
)

INTEGER_HIGH = 10  # integer inputs: 0 .. INTEGER_HIGH - 1


def input_shape_flag(spec: TensorSpec) -> str:
    """`--input-shape frames=LEN,6`: the flag a user gives for `spec`'s free dimensions."""
    sizes = ",".join(
        (
            "N"
            if len(spec.shape) < 3
            else "LEN"
            if i == 1 and len(spec.shape) == 3
            else "H"
            if i == 1
            else "W"
            if i == 2
            else "D"
        )
        if d is None
        else str(d)
        for i, d in enumerate(spec.shape[1:], start=1)
    )
    return f"--input-shape {spec.name or 'INPUT'}={sizes}"


def synthetic_shape(
    spec: TensorSpec, n: int, given: tuple[int, ...] | None = None
) -> tuple[tuple[int, ...], list[str]]:
    """The shape (n, ...) to synthesize for `spec`; (shape, notes).

    `given` is the user's per-sample shape (no batch axis); it must match the
    spec's rank and fixed sizes. A free axis without `given` raises UsageError
    naming the flag to give.
    """
    from core.errors import UsageError

    name = f"input {spec.name!r}" if spec.name else "the input"
    dims = tuple(spec.shape[1:])
    if given is not None:
        given = tuple(int(d) for d in given)
        if (
            len(given) != len(dims)
            or any(d is not None and d != g for d, g in zip(dims, given))
            or any(g < 1 for g in given)
        ):
            raise UsageError(
                f"--input-shape for {name}: {given} does not fit its shape {spec.describe()} "
                "(give the sizes after the batch axis)"
            )
        notes = [f"{name} synthesized at {given} (--input-shape)"] if None in dims else []
        return (int(n),) + given, notes
    if None in dims:
        raise UsageError(
            f"{name} has free dimensions {spec.describe()} and no data was given: give --data, or "
            f"the sizes to measure at with {input_shape_flag(spec)}"
        )
    return (int(n),) + tuple(int(d) for d in dims if d is not None), []  # no None left: checked above


def _synthesize(
    spec: TensorSpec, n: int, rng: np.random.Generator, given: tuple[int, ...] | None = None
) -> tuple[np.ndarray, list[str]]:
    shape, notes = synthetic_shape(spec, n, given)
    dtype = np.dtype(spec.dtype)
    if dtype == np.bool_:
        x = rng.integers(0, 2, size=shape).astype(bool)
    elif np.issubdtype(dtype, np.integer):
        x = rng.integers(0, INTEGER_HIGH, size=shape).astype(dtype)
    else:
        x = rng.standard_normal(shape).astype(dtype)
    return x, notes


def synthesize_inputs(
    spec: TensorSpec, n: int, seed: int = 0, given: tuple[int, ...] | None = None
) -> tuple[np.ndarray, list[str]]:
    """`n` random samples (n, ...) in `spec`'s dtype for one input; returns (array, notes)."""
    return _synthesize(spec, n, np.random.default_rng(seed), given)


def synthesize_dataset(
    interface: ModelInterface, n: int, seed: int = 0, shapes: dict[str, tuple[int, ...]] | None = None
) -> tuple[dict[str, np.ndarray], list[str]]:
    """`n` random samples for every input: ({input name: (n, ...)} in input order, notes).

    `shapes`: per-sample shapes by input name for inputs with free dimensions
    (--input-shape); UsageError when a free dimension has none.

    Each input has its own random stream (seeded by (seed, input position)), so two inputs
    of the same shape do not get the same values.
    """
    x: dict[str, np.ndarray] = {}
    notes: list[str] = []
    for position, spec in enumerate(interface.inputs):
        x[spec.name], spec_notes = _synthesize(
            spec, n, np.random.default_rng([seed, position]), (shapes or {}).get(spec.name)
        )
        notes += spec_notes
    return x, notes


__all__ = [
    "INTEGER_HIGH",
    "SYNTHETIC_WARNING",
    "input_shape_flag",
    "synthesize_dataset",
    "synthesize_inputs",
    "synthetic_shape",
]
