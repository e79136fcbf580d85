"""A model's interface: its named inputs and outputs, the one description every part of the engine shares.

Built once per source (Keras model, SavedModel signature, .tflite signature) and
used by loading, conversion, data feeding, evaluation, benchmarking, export and
the GUI. Tensors are always addressed by **name**, never by position:

* Keras: input names are the `Input` layers' names, output names the output
  layers' names (``model.output_names``), in the model's own order; a model
  built on (or returning) a dict is named by its keys.
* SavedModel: the chosen signature's keyword inputs and dict outputs
  (``serving_default`` by default, or the only signature).
* .tflite: the chosen signature's input and output names (LiteRT's signature
  runner), never the tensor order, which the converter shuffles.

Pure data: no TensorFlow import here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_SIGNATURE = "serving_default"

INPUT = "input"
OUTPUT = "output"


@dataclass(frozen=True)
class TensorSpec:
    """One named model input or output.

    `shape` has axis 0 = batch; None marks a free dimension. `dtype` is a numpy
    dtype name ("float32", "int32", "int64", ...). `activation` is the last
    layer's activation for a Keras output when known ("softmax", "sigmoid",
    "linear", ...), else "": a hint for task inference, never the only evidence.
    """

    shape: tuple[int | None, ...]
    dtype: str = "float32"
    name: str = ""
    role: str = INPUT
    activation: str = ""

    def describe(self) -> str:
        """`(?, 24, 2) float32`: the shape with free dimensions as `?`, and the dtype."""
        return "(" + ", ".join("?" if d is None else str(d) for d in self.shape) + f") {self.dtype}"

    @property
    def is_integer(self) -> bool:
        """True for integer dtypes (ids, class ids), False for floats, bools, strings and objects."""
        return self.dtype not in ("object", "string") and np.issubdtype(np.dtype(self.dtype), np.integer)

    @property
    def free_dims(self) -> tuple[int, ...]:
        """Axes (after the batch axis) whose size is not fixed."""
        return tuple(i for i, d in enumerate(self.shape) if d is None and i > 0)

    def to_dict(self) -> dict:
        """Plain data for JSON: name, shape (None for free dimensions), dtype, role, and the activation when known."""
        out = {"name": self.name, "shape": list(self.shape), "dtype": self.dtype, "role": self.role}
        if self.activation:
            out["activation"] = self.activation
        return out


@dataclass(frozen=True)
class ModelInterface:
    """The inputs and outputs of one model (one signature), in the original model's order."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    signature: str | None = None  # the signature used (SavedModel, .tflite); None for Keras
    signatures: tuple[str, ...] = ()  # every signature the file has
    ordered_inputs: bool = True  # False: a signature's keyword inputs, listed by name (x_0.. can't apply)
    ordered_outputs: bool = True  # False: the outputs have no order of their own (a signature's
    # dict outputs, listed by name), so "the first output" means nothing

    @property
    def input_names(self) -> tuple[str, ...]:
        """The inputs' names, in the model's order."""
        return tuple(t.name for t in self.inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        """The outputs' names, in the model's order."""
        return tuple(t.name for t in self.outputs)

    def input(self, name: str) -> TensorSpec:
        """The input called `name`; KeyError when there is none."""
        for spec in self.inputs:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def output(self, name: str) -> TensorSpec:
        """The output called `name`; KeyError when there is none."""
        for spec in self.outputs:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def to_dict(self) -> dict:
        """Plain data for JSON: the signature used, every signature, and each input's and output's `to_dict`."""
        return {
            "signature": self.signature,
            "signatures": list(self.signatures),
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
        }


class InterfaceMismatch(ValueError):
    """Two models' tensors cannot be matched by name (raised by `match_names`)."""


def match_names(expected: tuple[str, ...], actual: tuple[str, ...], *, what: str) -> dict[str, str]:
    """Pair each expected name with the same name on the other side; refuse to guess.

    Returns {expected name: actual name}. Raises `InterfaceMismatch` listing the
    names without a partner. Never pairs by position.
    """
    missing = [n for n in expected if n not in actual]
    if missing:
        raise InterfaceMismatch(
            f"{what}: no tensor named {', '.join(repr(n) for n in missing)} "
            f"(the other side has {', '.join(repr(n) for n in actual) or 'none'})"
        )
    return {n: n for n in expected}


def numeric_key(name: str) -> tuple:
    """Sort key that orders `x_2` before `x_10` (digit runs compare as numbers)."""
    import re

    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


__all__ = [
    "DEFAULT_SIGNATURE",
    "INPUT",
    "OUTPUT",
    "InterfaceMismatch",
    "ModelInterface",
    "TensorSpec",
    "match_names",
    "numeric_key",
]
