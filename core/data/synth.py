"""Synthetic inputs from a model's interface, for when the user gave no data.

Calibrating on random data can mislead badly (the activation ranges it finds are
not the real ones), so every result built on it carries ``synthetic_data=True``
and a loud warning. Float inputs are standard-normal; integer inputs are small
non-negative integers (token ids, class ids: 0..9, valid for any Embedding);
booleans are fair coin flips.

Free (None) dimensions other than the batch are never invented as 1. A rank-4
input (batch, height, width, channels) gets ``IMAGE_SIZE`` (64) for a free height
or width and ``IMAGE_CHANNELS`` (3) for free channels; any other free axis is a
sequence axis and gets ``SEQUENCE_LENGTH`` (32). Every input uses the same
lengths, so inputs that must agree (token ids and their mask) do. Each free axis
used is named in a note.
"""

from __future__ import annotations

import numpy as np

from core.models.interface import ModelInterface, TensorSpec

SYNTHETIC_WARNING = ("NO DATA GIVEN: calibration and evaluation used RANDOM inputs; quantization ranges and "
                     "fidelity figures may not reflect real data (give --data for trustworthy results)")

SEQUENCE_LENGTH = 32
IMAGE_SIZE = 64
IMAGE_CHANNELS = 3
INTEGER_HIGH = 10            # integer inputs: 0 .. INTEGER_HIGH - 1


def synthetic_shape(spec: TensorSpec, n: int) -> tuple[tuple[int, ...], list[str]]:
    """The shape (n, ...) to synthesize for `spec`, free axes at the documented lengths; (shape, notes)."""
    name = f"input {spec.name!r}" if spec.name else "the input"
    image = len(spec.shape) == 4
    dims: list[int] = []
    notes: list[str] = []
    for axis, d in enumerate(spec.shape[1:], start=1):
        if d is None:
            if image and axis in (1, 2):
                d, what = IMAGE_SIZE, f"{'height' if axis == 1 else 'width'} {IMAGE_SIZE}"
            elif image and axis == 3:
                d, what = IMAGE_CHANNELS, f"{IMAGE_CHANNELS} channels"
            else:
                d, what = SEQUENCE_LENGTH, f"length {SEQUENCE_LENGTH}"
            notes.append(f"{name} has a free axis {axis}: synthesized at {what}; "
                         "give --data to measure at your length")
        dims.append(int(d))
    return (int(n),) + tuple(dims), notes


def _synthesize(spec: TensorSpec, n: int, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    shape, notes = synthetic_shape(spec, n)
    dtype = np.dtype(spec.dtype)
    if dtype == np.bool_:
        x = rng.integers(0, 2, size=shape).astype(bool)
    elif np.issubdtype(dtype, np.integer):
        x = rng.integers(0, INTEGER_HIGH, size=shape).astype(dtype)
    else:
        x = rng.standard_normal(shape).astype(dtype)
    return x, notes


def synthesize_inputs(spec: TensorSpec, n: int, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """`n` random samples (n, ...) in `spec`'s dtype for one input; returns (array, notes)."""
    return _synthesize(spec, n, np.random.default_rng(seed))


def synthesize_dataset(interface: ModelInterface, n: int, seed: int = 0) -> tuple[dict[str, np.ndarray], list[str]]:
    """`n` random samples for every input: ({input name: (n, ...)} in input order, notes).

    Each input has its own random stream (seeded by (seed, input position)), so two inputs
    of the same shape do not get the same values.
    """
    x: dict[str, np.ndarray] = {}
    notes: list[str] = []
    for position, spec in enumerate(interface.inputs):
        x[spec.name], spec_notes = _synthesize(spec, n, np.random.default_rng([seed, position]))
        notes += spec_notes
    return x, notes


__all__ = ["IMAGE_CHANNELS", "IMAGE_SIZE", "INTEGER_HIGH", "SEQUENCE_LENGTH", "SYNTHETIC_WARNING",
           "synthesize_dataset", "synthesize_inputs", "synthetic_shape"]
