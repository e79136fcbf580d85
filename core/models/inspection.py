"""The `inspect_model` job: what a model is, its tensors, size, weights and cost.

Runs in the engine's child process. Every format goes through its safety
checks (`core.models.safety`) before a framework opens it.

MACs (multiply-accumulates) are counted for one sample by `core.models.flops`, the
one counter inspect and compression share: its module docstring gives every rule
(Dense, convolutions, recurrent layers per time step, attention, normalization,
pooling; layers with no arithmetic worth counting are 0 by rule). FLOPs = 2 x MACs.
A layer (or .tflite op) with no rule is listed and the total is marked partial
(`ModelInfo.flops_partial`, `flops_uncounted`); free dimensions are counted per
position and say so (`ModelInfo.flops_per`, e.g. "time step").

`.tflite` models are read subgraph by subgraph (`core.models.tflite_graph`): the
parameters are the constant weight tensors of EVERY subgraph (an LSTM's or GRU's
weights live in a WHILE body), and MACs come from the ops of every subgraph a
WHILE loop reaches (`core.models.inspect_tflite`). SavedModels get no FLOPs estimate (None).
"""

from __future__ import annotations

import math
import time
import traceback
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, Sequence

from core.engine.context import CancelToken, Reporter
from core.errors import BadInputError
from core.models import safety
from core.models.formats import detect_format
from core.models.hashing import sha256_path, size_on_disk
from core.models.info import InspectResult, LayerInfo, ModelFormat, ModelInfo, TensorInfo
from core.tf_runtime import wait_for_tensorflow_preload
from core.text import first_line

if TYPE_CHECKING:
    from core.models.mac_count import MacCount


def inspect_model(
    path: str, *, progress: Reporter, cancel: CancelToken, custom_objects: tuple[str, ...] = ()
) -> InspectResult:
    """Check, load and describe the model at `path` (a file or a SavedModel folder).

    Everything here reads an untrusted file: whatever it raises (a corrupt
    flatbuffer whose names aren't UTF-8, a layer whose shape Keras can't
    compute, a symlink loop met while hashing) becomes a `BadInputError`
    naming the file, with the traceback in its details (`safety.reading_model`).
    """
    started = time.monotonic()
    path = str(path)
    progress(0.0, "checking the file", stage="checking")
    wait_for_tensorflow_preload()  # imports racing the engine's TF preload can fail; see core.tf_runtime
    with safety.reading_model(path):
        info = _inspect(path, progress, cancel, custom_objects=tuple(custom_objects or ()))
    progress(1.0, "done", stage="inspecting")
    return InspectResult(info=info, seconds=time.monotonic() - started)


def _inspect(path: str, progress: Reporter, cancel: CancelToken, custom_objects: tuple[str, ...] = ()) -> ModelInfo:
    fmt = detect_format(path)
    cancel.raise_if_cancelled()
    proto = None
    if fmt == ModelFormat.KERAS:
        safety.check_keras_archive(path)
    elif fmt == ModelFormat.H5:
        safety.check_h5(path)
    elif fmt == ModelFormat.SAVED_MODEL:
        proto = safety.check_saved_model(path)
    tflite_bytes = safety.read_tflite(path) if fmt == ModelFormat.TFLITE else None
    cancel.raise_if_cancelled()
    progress(0.2, "computing SHA-256", stage="checking")
    digest = sha256_path(path, check=cancel.raise_if_cancelled)
    file_size = size_on_disk(path)
    cancel.raise_if_cancelled()

    progress(0.4, "loading the model", stage="loading")
    if fmt in (ModelFormat.KERAS, ModelFormat.H5):
        from core.models.loading import load_checked_keras

        model = load_checked_keras(path, custom_objects=custom_objects)  # the user's --custom-objects files
        cancel.raise_if_cancelled()
        progress(0.7, "reading layers", stage="inspecting")
        with safety.reading_model(path, "Keras could not describe the model"):
            details = _inspect_keras(model)
    elif fmt == ModelFormat.SAVED_MODEL:
        details = _inspect_saved_model(path, proto, progress, cancel)
    else:
        progress(0.7, "reading tensors and ops", stage="inspecting")
        from core.models.inspect_tflite import inspect_tflite

        assert tflite_bytes is not None  # read above: the format is TFLITE here
        with safety.reading_model(path, "the .tflite model is corrupt or not supported"):
            details = inspect_tflite(path, tflite_bytes)
    cancel.raise_if_cancelled()
    return ModelInfo(path=path, format=fmt, file_size=file_size, sha256=digest, **details)


# -- helpers -----------------------------------------------------------------------


def dims(shape: Iterable[Any] | None) -> tuple[int | None, ...]:
    """A shape as ints with None for free dimensions (a negative size counts as free); () for None."""
    if shape is None:
        return ()
    out: list[int | None] = []
    for d in shape:
        if d is None:
            out.append(None)
        else:
            d = int(d)
            out.append(None if d < 0 else d)
    return tuple(out)


def shape_notes(inputs: tuple[TensorInfo, ...]) -> list[str]:
    """Notes for inputs with a dynamic batch (per-sample figures assume one sample) or other free dimensions."""
    notes = []
    if inputs and all(t.shape and t.shape[0] is None for t in inputs):
        notes.append("the batch dimension is dynamic (None); per-sample figures assume one sample")
    for t in inputs:
        if any(d is None for d in t.shape[1:]):
            notes.append(f"input {t.name!r} has dynamic dimensions beyond the batch {t.shape}")
    return notes


# -- Keras ---------------------------------------------------------------------------


def _tensor_infos(tensors: Iterable[Any] | None) -> tuple[TensorInfo, ...]:
    result = []
    for t in tensors or ():
        dtype = getattr(t, "dtype", "")
        dtype = getattr(dtype, "name", dtype)
        result.append(TensorInfo(name=_tensor_name(t), shape=dims(t.shape), dtype=str(dtype)))
    return tuple(result)


def _tensor_name(tensor: Any) -> str:
    """The name a user gave: the producing layer's name, not Keras's internal "keras_tensor_65"."""
    from core.adapters.keras_internals import producer_name

    return producer_name(tensor) or str(getattr(tensor, "name", ""))


def _iter_layers(model: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Layers of a model, nested models flattened as ``outer/inner``."""
    for layer in model.layers:
        sub = getattr(layer, "layers", None)
        if sub and hasattr(layer, "inputs"):
            yield from _iter_layers(layer, f"{prefix}{layer.name}/")
        else:
            yield f"{prefix}{layer.name}", layer


def _io_shape(layer: Any, attr: str) -> tuple[int | None, ...] | None:
    try:
        value = getattr(layer, attr)
    except Exception:  # noqa: BLE001 - unbuilt layer, or used at several places
        return None
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            return None
        value = value[0]
    shape = getattr(value, "shape", None)
    return None if shape is None else dims(shape)


def _count_params(layer: Any) -> int:
    try:
        return int(layer.count_params())
    except Exception:  # noqa: BLE001 - an unbuilt layer has no weights yet
        return 0


def flops_fields(count: MacCount) -> tuple[dict[str, Any], list[str]]:
    """The ModelInfo fields of a `core.models.flops.MacCount`, and its notes."""
    notes = list(count.notes)
    if count.unknown:  # an upstream internal moved: unknown, not a partial 0
        return dict(flops=None), notes
    if count.partial:
        notes.append(f"FLOPs are partial: {count.uncounted_text()}")
    return dict(
        flops=count.flops, flops_partial=count.partial, flops_uncounted=count.uncounted, flops_per=count.per
    ), notes


def _inspect_keras(model: Any, input_shapes: Mapping[str, Sequence[int | None]] | None = None) -> dict[str, Any]:
    from core.models.flops import count_keras_macs

    notes: list[str] = []
    try:
        from core.models.signatures import keras_dict_keys, keras_output_names

        # Named as every later step matches them (data arrays, labels): the Input layers and the output layers,
        # or the keys of the dict the model is built on or returns.
        inputs = _tensor_infos(model.inputs)
        keys = keras_dict_keys(model, "input")
        if keys is not None:
            inputs = tuple(TensorInfo(name=name, shape=t.shape, dtype=t.dtype) for name, t in zip(keys, inputs))
        outputs = tuple(
            TensorInfo(name=name, shape=t.shape, dtype=t.dtype)
            for name, t in zip(keras_output_names(model), _tensor_infos(model.outputs))
        )
    except Exception:  # noqa: BLE001 - a subclassed model that was never called
        inputs, outputs = (), ()
        notes.append("the model has no recorded inputs/outputs (subclassed and never built)")
    notes += shape_notes(inputs)

    count = count_keras_macs(model, input_shapes)
    by_name = {row.name: row for row in count.layers}
    rows: list[LayerInfo] = []
    for name, layer in _iter_layers(model):
        out_shape = _io_shape(layer, "output")
        if out_shape is not None:
            shown = (
                "("
                + ", ".join("None" if d is None else str(d) for d in out_shape)
                + ("," if len(out_shape) == 1 else "")
                + ")"
            )
        else:
            shown = "?"
        mac_row = by_name.get(name)
        rows.append(
            LayerInfo(
                name=name,
                type=type(layer).__name__,
                output_shape=shown,
                params=_count_params(layer),
                macs=int(mac_row.macs) if mac_row else 0,
                counted=mac_row.counted if mac_row else True,
                macs_free=mac_row.free if mac_row else False,
            )
        )
    fields, flops_notes = flops_fields(count)
    notes += flops_notes
    return dict(
        inputs=inputs, outputs=outputs, params=_count_params(model), layers=tuple(rows), notes=tuple(notes), **fields
    )


# -- SavedModel -------------------------------------------------------------------

SERVING_SIGNATURE = "serving_default"


def _pick_signature(proto: Any) -> tuple[Any, str, list[str]]:
    notes: list[str] = []
    graphs = [mg for mg in proto.meta_graphs if "serve" in mg.meta_info_def.tags] or list(proto.meta_graphs)
    for mg in graphs:
        if SERVING_SIGNATURE in mg.signature_def:
            return mg.signature_def[SERVING_SIGNATURE], SERVING_SIGNATURE, notes
    for mg in graphs:
        for key in sorted(mg.signature_def):
            if not key.startswith("__"):
                notes.append(f"no 'serving_default' signature; showing signature {key!r}")
                return mg.signature_def[key], key, notes
    return None, "", notes


def _signature_tensors(tf: Any, tensor_map: Any) -> tuple[TensorInfo, ...]:
    result = []
    for key in sorted(tensor_map):
        info = tensor_map[key]
        shape = () if info.tensor_shape.unknown_rank else dims(d.size for d in info.tensor_shape.dim)
        try:
            dtype = tf.dtypes.as_dtype(info.dtype).name
        except (TypeError, ValueError):
            dtype = str(info.dtype)
        result.append(TensorInfo(name=key, shape=shape, dtype=dtype))
    return tuple(result)


def _saved_model_params(proto: Any) -> int:
    """Elements of the variables in the object graph.

    Keras' model.export() tracks each variable twice (two objects with one
    scoped name such as ``model/dense/kernel``), so a scoped name counts once.
    Unscoped names (tf.Variable's default "Variable") may repeat for distinct
    variables and count every time.
    """
    total = 0
    seen: set[str] = set()
    for mg in proto.meta_graphs[:1]:
        if not mg.object_graph_def.nodes:  # TF1 SavedModel: variables are graph nodes
            for node in mg.graph_def.node:
                if node.op in ("VarHandleOp", "VariableV2", "Variable") and "shape" in node.attr:
                    dims = node.attr["shape"].shape.dim
                    total += math.prod(max(int(d.size), 0) for d in dims) if dims else 1
            continue
        for node in mg.object_graph_def.nodes:
            if node.WhichOneof("kind") != "variable":
                continue
            name = node.variable.name
            if "/" in name:
                if name in seen:
                    continue
                seen.add(name)
            dims = node.variable.shape.dim
            total += math.prod(max(int(d.size), 0) for d in dims) if dims else 1
    return total


def _inspect_saved_model(path: str, proto: Any, progress: Reporter, cancel: CancelToken) -> dict[str, Any]:
    from core.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    signature, sig_name, notes = _pick_signature(proto)
    if signature is None:
        raise BadInputError(
            "the SavedModel has no serving signature, so it cannot be converted; "
            "save it with model.export() or tf.saved_model.save(..., signatures=...)",
            path=path,
        )
    params = _saved_model_params(proto)
    cancel.raise_if_cancelled()
    try:
        loaded = tf.saved_model.load(path)
        if sig_name not in loaded.signatures:
            raise ValueError(f"signature {sig_name!r} missing after load")
    except (BadInputError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of an untrusted folder is bad input
        raise BadInputError(
            f"TensorFlow could not load the SavedModel: {first_line(exc, 300)}",
            path=path,
            details=traceback.format_exc(),
        ) from None
    del loaded
    progress(0.7, "reading the serving signature", stage="inspecting")
    inputs = _signature_tensors(tf, signature.inputs)
    outputs = _signature_tensors(tf, signature.outputs)
    notes += shape_notes(inputs)
    notes.append("parameters counted from the variables the SavedModel tracks")
    notes.append("FLOPs are not estimated for SavedModels; convert to .tflite or open the Keras model to see them")
    keys = sorted({k for mg in proto.meta_graphs for k in mg.signature_def if not k.startswith("__")})
    return dict(
        inputs=inputs,
        outputs=outputs,
        params=params,
        flops=None,
        notes=tuple(notes),
        signature=sig_name,
        signatures=tuple(keys),
    )
