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
WHILE loop reaches. SavedModels get no FLOPs estimate (None).
"""

from __future__ import annotations

import math
import time
import traceback
from collections import Counter
from typing import Any, Iterable

from core.engine.context import CancelToken, Reporter
from core.errors import BadInputError
from core.models import safety
from core.models.formats import detect_format
from core.models.hashing import sha256_path, size_on_disk
from core.models.info import InspectResult, LayerInfo, ModelFormat, ModelInfo, TensorInfo
from core.tf_runtime import wait_for_tensorflow_preload
from core.text import first_line


def inspect_model(path: str, *, progress: Reporter, cancel: CancelToken,
                  custom_objects: tuple[str, ...] = ()) -> InspectResult:
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

        model = load_checked_keras(path, custom_objects=custom_objects)   # the user's --custom-objects files
        cancel.raise_if_cancelled()
        progress(0.7, "reading layers", stage="inspecting")
        with safety.reading_model(path, "Keras could not describe the model"):
            details = _inspect_keras(model)
    elif fmt == ModelFormat.SAVED_MODEL:
        details = _inspect_saved_model(path, proto, progress, cancel)
    else:
        progress(0.7, "reading tensors and ops", stage="inspecting")
        with safety.reading_model(path, "the .tflite model is corrupt or not supported"):
            details = _inspect_tflite(path, tflite_bytes)
    cancel.raise_if_cancelled()
    return ModelInfo(path=path, format=fmt, file_size=file_size, sha256=digest, **details)


# -- helpers -----------------------------------------------------------------------

def _dims(shape: Iterable[Any] | None) -> tuple[int | None, ...]:
    if shape is None:
        return ()
    out = []
    for d in shape:
        if d is None:
            out.append(None)
        else:
            d = int(d)
            out.append(None if d < 0 else d)
    return tuple(out)


def _shape_notes(inputs: tuple[TensorInfo, ...]) -> list[str]:
    notes = []
    if inputs and all(t.shape and t.shape[0] is None for t in inputs):
        notes.append("the batch dimension is dynamic (None); per-sample figures assume one sample")
    for t in inputs:
        if any(d is None for d in t.shape[1:]):
            notes.append(f"input {t.name!r} has dynamic dimensions beyond the batch {t.shape}")
    return notes


# -- Keras ---------------------------------------------------------------------------

def _tensor_infos(tensors) -> tuple[TensorInfo, ...]:
    result = []
    for t in tensors or ():
        dtype = getattr(t, "dtype", "")
        dtype = getattr(dtype, "name", dtype)
        result.append(TensorInfo(name=_tensor_name(t), shape=_dims(t.shape), dtype=str(dtype)))
    return tuple(result)


def _tensor_name(tensor) -> str:
    """The name a user gave: the producing layer's name, not Keras's internal "keras_tensor_65"."""
    from core.adapters.keras_internals import producer_name

    return producer_name(tensor) or str(getattr(tensor, "name", ""))


def _iter_layers(model, prefix: str = ""):
    """Layers of a model, nested models flattened as ``outer/inner``."""
    for layer in model.layers:
        sub = getattr(layer, "layers", None)
        if sub and hasattr(layer, "inputs"):
            yield from _iter_layers(layer, f"{prefix}{layer.name}/")
        else:
            yield f"{prefix}{layer.name}", layer


def _io_shape(layer, attr: str) -> tuple[int | None, ...] | None:
    try:
        value = getattr(layer, attr)
    except Exception:  # noqa: BLE001 - unbuilt layer, or used at several places
        return None
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            return None
        value = value[0]
    shape = getattr(value, "shape", None)
    return None if shape is None else _dims(shape)


def _count_params(layer) -> int:
    try:
        return int(layer.count_params())
    except Exception:  # noqa: BLE001 - an unbuilt layer has no weights yet
        return 0


def _flops_fields(count) -> dict[str, Any]:
    """The ModelInfo fields of a `core.models.flops.MacCount`, and its notes."""
    notes = list(count.notes)
    if count.unknown:                      # an upstream internal moved: unknown, not a partial 0
        return dict(flops=None), notes
    if count.partial:
        notes.append(f"FLOPs are partial: {count.uncounted_text()}")
    return dict(flops=count.flops, flops_partial=count.partial, flops_uncounted=count.uncounted,
                flops_per=count.per), notes


def _inspect_keras(model, input_shapes=None) -> dict[str, Any]:
    from core.models.flops import count_keras_macs

    notes: list[str] = []
    try:
        inputs = _tensor_infos(model.inputs)
        outputs = _tensor_infos(model.outputs)
        from core.models.signatures import keras_output_names

        # Outputs are named after their layers (what data labels and every later step match on).
        outputs = tuple(TensorInfo(name=name, shape=t.shape, dtype=t.dtype)
                        for name, t in zip(keras_output_names(model), outputs))
    except Exception:  # noqa: BLE001 - a subclassed model that was never called
        inputs, outputs = (), ()
        notes.append("the model has no recorded inputs/outputs (subclassed and never built)")
    notes += _shape_notes(inputs)

    count = count_keras_macs(model, input_shapes)
    by_name = {row.name: row for row in count.layers}
    rows: list[LayerInfo] = []
    for name, layer in _iter_layers(model):
        out_shape = _io_shape(layer, "output")
        if out_shape is not None:
            shown = "(" + ", ".join("None" if d is None else str(d) for d in out_shape) + ("," if len(out_shape) == 1 else "") + ")"
        else:
            shown = "?"
        mac_row = by_name.get(name)
        rows.append(LayerInfo(name=name, type=type(layer).__name__, output_shape=shown,
                              params=_count_params(layer), macs=int(mac_row.macs) if mac_row else 0,
                              counted=mac_row.counted if mac_row else True,
                              macs_free=mac_row.free if mac_row else False))
    fields, flops_notes = _flops_fields(count)
    notes += flops_notes
    return dict(inputs=inputs, outputs=outputs, params=_count_params(model), layers=tuple(rows),
                notes=tuple(notes), **fields)


# -- SavedModel -------------------------------------------------------------------

SERVING_SIGNATURE = "serving_default"


def _pick_signature(proto) -> tuple[Any, str, list[str]]:
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


def _signature_tensors(tf, tensor_map) -> tuple[TensorInfo, ...]:
    result = []
    for key in sorted(tensor_map):
        info = tensor_map[key]
        shape = () if info.tensor_shape.unknown_rank else _dims(d.size for d in info.tensor_shape.dim)
        try:
            dtype = tf.dtypes.as_dtype(info.dtype).name
        except (TypeError, ValueError):
            dtype = str(info.dtype)
        result.append(TensorInfo(name=key, shape=shape, dtype=dtype))
    return tuple(result)


def _saved_model_params(proto) -> int:
    """Elements of the variables in the object graph.

    Keras' model.export() tracks each variable twice (two objects with one
    scoped name such as ``model/dense/kernel``), so a scoped name counts once.
    Unscoped names (tf.Variable's default "Variable") may repeat for distinct
    variables and count every time.
    """
    total = 0
    seen: set[str] = set()
    for mg in proto.meta_graphs[:1]:
        if not mg.object_graph_def.nodes:       # TF1 SavedModel: variables are graph nodes
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


def _inspect_saved_model(path: str, proto, progress: Reporter, cancel: CancelToken) -> dict[str, Any]:
    from core.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    signature, sig_name, notes = _pick_signature(proto)
    if signature is None:
        raise BadInputError("the SavedModel has no serving signature, so it cannot be converted; "
                            "save it with model.export() or tf.saved_model.save(..., signatures=...)", path=path)
    params = _saved_model_params(proto)
    cancel.raise_if_cancelled()
    try:
        loaded = tf.saved_model.load(path)
        if sig_name not in loaded.signatures:
            raise ValueError(f"signature {sig_name!r} missing after load")
    except (BadInputError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of an untrusted folder is bad input
        raise BadInputError(f"TensorFlow could not load the SavedModel: {first_line(exc, 300)}", path=path,
                            details=traceback.format_exc()) from None
    del loaded
    progress(0.7, "reading the serving signature", stage="inspecting")
    inputs = _signature_tensors(tf, signature.inputs)
    outputs = _signature_tensors(tf, signature.outputs)
    notes += _shape_notes(inputs)
    notes.append("parameters counted from the variables the SavedModel tracks")
    notes.append("FLOPs are not estimated for SavedModels; convert to .tflite or open the Keras model to see them")
    keys = sorted({k for mg in proto.meta_graphs for k in mg.signature_def if not k.startswith("__")})
    return dict(inputs=inputs, outputs=outputs, params=params, flops=None, notes=tuple(notes),
                signature=sig_name, signatures=tuple(keys))


# -- TFLite ----------------------------------------------------------------------

def _dtype_name(dtype) -> str:
    import numpy as np

    try:
        return np.dtype(dtype).name
    except TypeError:
        return str(dtype)


def _tflite_tensor(detail) -> TensorInfo:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    shape = detail.get("shape_signature")
    if shape is None:
        shape = detail.get("shape")
    quant = (float(scale), int(zero_point)) if scale else None
    return TensorInfo(name=str(detail["name"]), shape=_dims(shape), dtype=_dtype_name(detail["dtype"]), quantization=quant)


def open_interpreter(path: str, data: bytes):
    """An allocated LiteRT interpreter without default delegates; BadInputError if the runtime refuses the model."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    try:
        interpreter = Interpreter(model_content=data,
                                  experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        interpreter.allocate_tensors()
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - ValueError, RuntimeError, and whatever a corrupt flatbuffer causes
        raise BadInputError("the TensorFlow Lite runtime rejected the model (truncated, corrupt or not supported): "
                            f"{first_line(exc, 300)}", path=path, details=traceback.format_exc()) from None
    return interpreter


def _tflite_graph(interpreter, data: bytes, notes: list[str]):
    """Every subgraph from the flatbuffer; the interpreter's first subgraph when the file can't be read so;
    (None, why) when neither can (LiteRT's private op details moved: `core.adapters.litert`)."""
    from core.adapters import UpstreamChanged
    from core.models.tflite_graph import graph_from_interpreter, read_tflite_graph

    try:
        return read_tflite_graph(data), ""
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - no schema module, or a file the reader can't follow: fall back
        why = first_line(exc, 120)
    try:
        graph = graph_from_interpreter(interpreter)
    except UpstreamChanged as exc:
        return None, f"the flatbuffer could not be read ({why}) and {exc}"
    notes.append(f"the model's subgraphs could not be read ({why}); showing the first subgraph only")
    return graph, ""


def _inspect_tflite(path: str, data: bytes) -> dict[str, Any]:
    from core.models.flops import count_tflite_macs
    from core.models.tflite_graph import count_tflite_params

    interpreter = open_interpreter(path, data)
    notes: list[str] = []
    inputs, outputs, signature, signatures = _tflite_io(interpreter, notes)
    notes += _shape_notes(inputs)

    graph, unknown = _tflite_graph(interpreter, data, notes)
    if graph is None:                      # unknown, said so: never 0 parameters and 0 FLOPs
        notes.append(f"parameters and FLOPs: unknown ({unknown})")
        return dict(inputs=inputs, outputs=outputs, params=None, flops=None, notes=tuple(notes),
                    signature=signature, signatures=signatures)
    histogram = Counter(op.name for sg in graph.subgraphs for op in sg.ops)
    type_mix = Counter(t.dtype for sg in graph.subgraphs for t in sg.tensors if t.dtype)
    params = count_tflite_params(graph)
    count = count_tflite_macs(graph)
    subgraphs = len(graph.subgraphs) + len(graph.unread)
    if graph.unread:
        notes.append(f"parameters are partial: the weights of {len(graph.unread)} of {subgraphs} subgraphs "
                     f"({', '.join(graph.unread[:5])}) could not be read")
    else:
        notes.append("parameters counted from the constant weight tensors of "
                     + ("the model's subgraph" if subgraphs == 1 else f"all {subgraphs} subgraphs"))
    fields, flops_notes = _flops_fields(count)
    notes += flops_notes
    quantized_io = [t.name for t in inputs + outputs if t.quantization]
    if quantized_io:
        notes.append(f"quantized inputs/outputs: {', '.join(quantized_io)} (see scale and zero point)")
    return dict(
        inputs=inputs, outputs=outputs, params=params, params_partial=bool(graph.unread),
        op_histogram=tuple(sorted(histogram.items(), key=lambda kv: (-kv[1], kv[0]))),
        tensor_types=tuple(sorted(type_mix.items(), key=lambda kv: (-kv[1], kv[0]))),
        notes=tuple(notes), signature=signature, signatures=signatures, **fields,
    )


def _tflite_io(interpreter, notes: list[str]) -> tuple[tuple[TensorInfo, ...], tuple[TensorInfo, ...], str,
                                                       tuple[str, ...]]:
    """Inputs and outputs by their signature names (serving_default, or the only signature).

    A .tflite without signatures (old converters) shows tensor names, and says so:
    its outputs cannot be matched to anything by name.
    """
    keys = sorted(interpreter.get_signature_list())
    key = "serving_default" if "serving_default" in keys else keys[0] if len(keys) == 1 else ""
    if not key:
        if keys:
            notes.append(f"several signatures and none is 'serving_default' ({', '.join(keys)}): "
                         "showing tensor names; choose one with --signature when optimizing")
        else:
            notes.append("no signature: tensor names are shown; outputs cannot be matched by name")
        return (tuple(_tflite_tensor(d) for d in interpreter.get_input_details()),
                tuple(_tflite_tensor(d) for d in interpreter.get_output_details()), "", tuple(keys))
    runner = interpreter.get_signature_runner(key)
    listed = interpreter.get_signature_list()[key]
    ins, outs = runner.get_input_details(), runner.get_output_details()
    inputs = tuple(_tflite_tensor({**ins[n], "name": n}) for n in listed.get("inputs", ins))
    outputs = tuple(_tflite_tensor({**outs[n], "name": n}) for n in listed.get("outputs", outs))
    if len(keys) > 1:
        notes.append(f"signature {key!r} shown; the file also has {', '.join(k for k in keys if k != key)}")
    return inputs, outputs, key, tuple(keys)
