"""The `Dataset` every loader returns, and the helpers the loaders share.

Arrays are keyed by tensor NAME: `x` by model input name (in the model's input
order), `y` by model output name. Samples are on axis 0 of every array.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from core.errors import BadInputError
from core.models.interface import OUTPUT, ModelInterface, TensorSpec

# Without a model interface a file is read as for a model with one input named `x`
# and one output named `y` (the names the files themselves use).
UNKNOWN_INTERFACE = ModelInterface(
    inputs=(TensorSpec(shape=(None,), name="x"),), outputs=(TensorSpec(shape=(None,), name="y", role=OUTPUT),)
)


@dataclass
class Dataset:
    """Inputs and optional labels, keyed by name.

    `x`: {input name: array (n, ...)} in the model's input order.
    `y`: {output name: labels (n, ...)} for the labelled outputs, or None when unlabelled.
    `primary`: the primary output (the one `y` / a CSV label column / an image folder's classes
    label, and the one stratification uses); None when the model has no outputs.
    `classes`: an image folder's class names; class id k is `classes[k]` (None for other formats).
    """

    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray] | None
    source: str
    format: str
    notes: list[str] = field(default_factory=list)
    primary: str | None = None
    classes: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.y is not None and not self.y:
            self.y = None

    def __len__(self) -> int:
        """The sample count (axis 0 of the first input; `check_inputs` makes every input agree)."""
        return int(next(iter(self.x.values())).shape[0]) if self.x else 0

    @property
    def labels(self) -> np.ndarray | None:
        """The primary output's labels (n, ...), or None when it has none."""
        return None if self.y is None or self.primary is None else self.y.get(self.primary)

    def subset(self, indices: np.ndarray) -> "Dataset":
        """The samples at `indices` (1-D integer array) of every input and label array."""
        y = None if self.y is None else {k: v[indices] for k, v in self.y.items()}
        return replace(self, x={k: v[indices] for k, v in self.x.items()}, y=y, notes=list(self.notes))


def bad(path: str | Path | None, message: str) -> BadInputError:
    """A BadInputError about the data file or folder `path`."""
    return BadInputError(message, path=None if path is None or path == "" else str(path))


def quoted(names: Iterable[object]) -> str:
    """`'a', 'b'` (or `none`)."""
    return ", ".join(repr(str(n)) for n in names) or "none"


def shape_text(shape: Iterable[int | None]) -> str:
    """`(?, 8, 8)`: free dimensions as `?`."""
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def input_label(spec: TensorSpec) -> str:
    """`input 'frames'` for a named input, `the model's input` for an unnamed one (for error messages)."""
    return f"input {spec.name!r}" if spec.name else "the model's input"


def resolve_primary(interface: ModelInterface, primary_output: str | None, path: str | Path) -> str | None:
    """The output that `y` labels: `primary_output` when given (it must name an output), else the first output.

    None when the model has several outputs with no order of their own (a
    SavedModel or .tflite signature lists its outputs by name): "the first
    output" would be a guess, so `y` needs `--primary-output` there.
    """
    if primary_output is not None:
        if primary_output not in interface.output_names:
            raise bad(
                path,
                f"no output named {primary_output!r} to label; the model's outputs are "
                f"{quoted(interface.output_names)}",
            )
        return primary_output
    if len(interface.outputs) > 1 and not interface.ordered_outputs:
        return None
    return interface.output_names[0] if interface.outputs else None


def as_input_dtype(values: np.ndarray, spec: TensorSpec, path: str | Path | None, what: str = "the data") -> np.ndarray:
    """Integer inputs stay integers: whole-valued float data is cast to the input's dtype.

    Non-whole (or non-finite) values for an integer input are refused naming the input.
    Integer data is returned unchanged (never turned into float); so is anything for a
    float input (`check_fits` casts it).
    """
    values = np.asarray(values)
    if not spec.is_integer or not np.issubdtype(values.dtype, np.floating):
        return values
    if not np.all(np.isfinite(values)) or np.any(np.mod(values, 1) != 0):
        raise bad(
            path,
            f"{input_label(spec)} takes integers ({spec.dtype}: ids, e.g. into an Embedding), "
            f"but {what} holds fractional values",
        )
    return values.astype(np.dtype(spec.dtype))


def class_labels(values: np.ndarray) -> np.ndarray:
    """Whole-valued float labels become int64 (class ids); anything else is returned unchanged."""
    if np.issubdtype(values.dtype, np.floating) and np.all(np.isfinite(values)) and np.all(np.mod(values, 1) == 0):
        return values.astype(np.int64)
    return values
