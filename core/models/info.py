"""What inspecting a model tells: frozen dataclasses, safe to pickle and to print as JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


class ModelFormat:
    """The model formats Litesmith reads, as the strings stored in `ModelInfo.format` and reports."""

    KERAS = "keras"  # Keras 3 .keras zip
    H5 = "h5"  # legacy Keras HDF5
    SAVED_MODEL = "saved_model"
    TFLITE = "tflite"


@dataclass(frozen=True)
class TensorInfo:
    """One model input or output as inspected: name, shape (None = free), numpy dtype name, tflite quantization."""

    name: str
    shape: tuple[int | None, ...]  # None marks a dynamic dimension (e.g. batch)
    dtype: str  # numpy dtype name: "float32", "int8", ...
    quantization: tuple[float, int] | None = None  # (scale, zero_point) for quantized tflite tensors


@dataclass(frozen=True)
class LayerInfo:
    """One Keras layer as inspected: its output shape (text), parameter count and MACs for one sample."""

    name: str
    type: str
    output_shape: str
    params: int
    macs: int  # multiply-accumulates for one sample (core.models.flops)
    counted: bool = True  # False: no MAC rule for this layer class (macs is 0, not measured)
    macs_free: bool = False  # counted per position of a free dimension (per time step, ...)


@dataclass(frozen=True)
class ModelInfo:
    """Everything `inspect_model` reads from a model file (see each field's comment for units).

    FLOPs are 2 x the MACs counted by `core.models.flops` (never measured); parameters are
    counted from the weights.
    """

    path: str
    format: str  # one of ModelFormat
    file_size: int  # bytes (a SavedModel folder: all files in it)
    sha256: str  # of the file; of all files (sorted by path) for a folder
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    params: int | None  # None where unknown (tflite: weights counted from constant tensors)
    flops: int | None  # 2 x MACs for one sample; None where unknown
    layers: tuple[LayerInfo, ...] = ()  # Keras models only
    op_histogram: tuple[tuple[str, int], ...] = ()  # tflite: (op name, count), most frequent first
    tensor_types: tuple[tuple[str, int], ...] = ()  # tflite: (dtype, tensor count)
    notes: tuple[str, ...] = ()  # things the user should know (dynamic batch, converter hints)
    flops_partial: bool = False  # some layers/ops have no MAC rule: `flops` leaves them out
    flops_uncounted: tuple[tuple[str, str], ...] = ()  # (layer or op, class or op name) left out of `flops`
    flops_per: str = ""  # "": per sample; else per this unit of a free dimension ("time step")
    params_partial: bool = False  # tflite: some subgraphs' weights could not be read
    signature: str = ""  # SavedModel/.tflite: the signature whose inputs/outputs are shown
    signatures: tuple[str, ...] = ()  # every signature the file has

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON: nested dataclasses become dicts (`dataclasses.asdict`)."""
        return asdict(self)


@dataclass(frozen=True)
class InspectResult:
    """Result of the `inspect_model` job."""

    info: ModelInfo
    seconds: float = field(default=0.0)  # time spent in the child, load included
