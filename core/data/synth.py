"""Synthetic inputs from a model's input spec, for when the user gave no data.

Calibrating on random data can mislead badly (the activation ranges it finds are
not the real ones), so every result built on it carries ``synthetic_data=True``
and a loud warning. Float inputs are standard-normal; integer inputs are small
non-negative integers (token ids, class ids); booleans are fair coin flips.
Unknown dimensions other than the batch become 1 (and the warning says so).
"""

from __future__ import annotations

import numpy as np

from core.data.loaders import InputSpec

SYNTHETIC_WARNING = ("NO DATA GIVEN: calibration and evaluation used RANDOM inputs; quantization ranges and "
                     "fidelity figures may not reflect real data (give --data for trustworthy results)")


def synthesize_inputs(spec: InputSpec, n: int, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """`n` random samples for `spec`; returns (array, notes)."""
    rng = np.random.default_rng(seed)
    notes: list[str] = []
    dims = []
    for i, d in enumerate(spec.shape[1:], start=1):
        if d is None:
            notes.append(f"input dimension {i} is unknown; synthesized with size 1")
            d = 1
        dims.append(int(d))
    shape = (int(n),) + tuple(dims)
    dtype = np.dtype(spec.dtype)
    if dtype == np.bool_:
        x = rng.integers(0, 2, size=shape).astype(bool)
    elif np.issubdtype(dtype, np.integer):
        x = rng.integers(0, 10, size=shape).astype(dtype)
    else:
        x = rng.standard_normal(shape).astype(dtype)
    return x, notes
