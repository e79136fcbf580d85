"""The `inspect_model` job: what a model is, its tensors, size, weights and cost.

Runs in the engine's child process. Every format goes through its safety
checks (`core.models.safety`) before a framework opens it.

MACs (multiply-accumulates) are counted for one sample:

* Dense: ``prod(output dims between batch and units) * in_features * units``
* ConvND: ``prod(output spatial dims) * prod(kernel shape)`` (kernel = k... x in/groups x filters)
* DepthwiseConvND: ``prod(output spatial dims) * k... * in * depth_multiplier``
* SeparableConvND: depthwise part + ``prod(output spatial dims) * in * depth_multiplier * filters``
* ConvNDTranspose: ``prod(input spatial dims) * k... * filters * in``
* every other layer: 0

FLOPs = 2 x MACs. For `.tflite` the same rules apply to FULLY_CONNECTED,
CONV_2D, CONV_3D, DEPTHWISE_CONV_2D and TRANSPOSE_CONV ops, from the tensor
shapes the interpreter allocates. SavedModels get no FLOPs estimate (None).
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
from core.models.tfimport import wait_for_tensorflow_preload
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
    wait_for_tensorflow_preload()  # imports racing the engine's TF preload can fail; see core.models.tfimport
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


def _prod(values: Iterable[int | None]) -> int | None:
    total = 1
    for v in values:
        if v is None:
            return None
        total *= int(v)
    return total


def _shape_notes(inputs: tuple[TensorInfo, ...]) -> list[str]:
    notes = []
    if inputs and all(t.shape and t.shape[0] is None for t in inputs):
        notes.append("the batch dimension is dynamic (None); per-sample figures assume one sample")
    for t in inputs:
        if any(d is None for d in t.shape[1:]):
            notes.append(f"input {t.name!r} has dynamic dimensions beyond the batch {t.shape}; "
                         "MACs of layers that depend on them are not counted")
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
    history = getattr(tensor, "_keras_history", None)
    layer = getattr(history, "operation", None) or (history[0] if history else None)
    return str(getattr(layer, "name", None) or getattr(tensor, "name", ""))


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


def _spatial(shape: tuple[int | None, ...], channels_first: bool) -> tuple[int | None, ...]:
    return shape[2:] if channels_first else shape[1:-1]


def _kernel_size(weight) -> int:
    return math.prod(int(d) for d in weight.shape)


def layer_macs(layer, input_shape, output_shape) -> int | None:
    """Multiply-accumulates of one Keras layer for one sample; None when a needed dimension is unknown."""
    from core.models.tfimport import keras

    layers = keras().layers
    channels_first = getattr(layer, "data_format", "channels_last") == "channels_first"

    def spatial_of(shape):
        return None if shape is None else _prod(_spatial(shape, channels_first))

    if isinstance(layer, (layers.SeparableConv1D, layers.SeparableConv2D)):
        spatial = spatial_of(output_shape)
        if spatial is None:
            return None
        return spatial * (_kernel_size(layer.depthwise_kernel) + _kernel_size(layer.pointwise_kernel))
    if isinstance(layer, (layers.DepthwiseConv1D, layers.DepthwiseConv2D)):
        spatial = spatial_of(output_shape)
        return None if spatial is None else spatial * _kernel_size(layer.kernel)
    if isinstance(layer, (layers.Conv1DTranspose, layers.Conv2DTranspose, layers.Conv3DTranspose)):
        spatial = spatial_of(input_shape)
        return None if spatial is None else spatial * _kernel_size(layer.kernel)
    if isinstance(layer, (layers.Conv1D, layers.Conv2D, layers.Conv3D)):
        spatial = spatial_of(output_shape)
        return None if spatial is None else spatial * _kernel_size(layer.kernel)
    if isinstance(layer, layers.Dense):
        if output_shape is None:
            return None
        rows = _prod(output_shape[1:-1])
        return None if rows is None else rows * _kernel_size(layer.kernel)
    return 0


def _count_params(layer) -> int:
    try:
        return int(layer.count_params())
    except Exception:  # noqa: BLE001 - an unbuilt layer has no weights yet
        return 0


def _inspect_keras(model) -> dict[str, Any]:
    notes: list[str] = []
    try:
        inputs = _tensor_infos(model.inputs)
        outputs = _tensor_infos(model.outputs)
    except Exception:  # noqa: BLE001 - a subclassed model that was never called
        inputs, outputs = (), ()
        notes.append("the model has no recorded inputs/outputs (subclassed and never built)")
    notes += _shape_notes(inputs)

    rows: list[LayerInfo] = []
    total_macs = 0
    unknown: list[str] = []
    for name, layer in _iter_layers(model):
        out_shape = _io_shape(layer, "output")
        in_shape = _io_shape(layer, "input")
        macs = layer_macs(layer, in_shape, out_shape)
        if macs is None:
            unknown.append(name)
            macs = 0
        total_macs += macs
        if out_shape is not None:
            shown = "(" + ", ".join("None" if d is None else str(d) for d in out_shape) + ("," if len(out_shape) == 1 else "") + ")"
        else:
            shown = "?"
        rows.append(LayerInfo(name=name, type=type(layer).__name__, output_shape=shown,
                              params=_count_params(layer), macs=int(macs)))
    if unknown:
        notes.append(f"MACs unknown (dynamic or unknown shapes) for: {', '.join(unknown[:10])}")
    return dict(inputs=inputs, outputs=outputs, params=_count_params(model), flops=2 * total_macs,
                layers=tuple(rows), notes=tuple(notes))


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
    from core.models.tfimport import tensorflow

    tf = tensorflow()
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
    return dict(inputs=inputs, outputs=outputs, params=params, flops=None, notes=tuple(notes))


# -- TFLite ----------------------------------------------------------------------

WEIGHT_DTYPES = {"float32", "float16", "int8", "int16", "uint8", "int4", "bfloat16"}


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


def tflite_op_macs(op: dict, shapes: dict[int, tuple[int, ...]]) -> int:
    """MACs of one tflite op over the allocated shapes (the whole batch)."""
    name = op["op_name"]
    ins = [int(i) for i in op["inputs"]]
    outs = [int(i) for i in op["outputs"]]

    def shape(i: int) -> tuple[int, ...]:
        return shapes.get(i, ()) if i >= 0 else ()

    if name == "FULLY_CONNECTED" and len(ins) >= 2 and outs:
        weights, out = shape(ins[1]), shape(outs[0])
        return math.prod(out[:-1]) * math.prod(weights) if out and weights else 0
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "CONV_3D") and len(ins) >= 2 and outs:
        weights, out = shape(ins[1]), shape(outs[0])
        if name == "DEPTHWISE_CONV_2D":
            return math.prod(out[:-1]) * math.prod(weights[1:-1]) * out[-1] if out and weights else 0
        return math.prod(out[:-1]) * math.prod(weights) if out and weights else 0
    if name == "TRANSPOSE_CONV" and len(ins) >= 3:
        weights, inp = shape(ins[1]), shape(ins[2])
        return math.prod(inp[:-1]) * math.prod(weights) if inp and weights else 0
    return 0


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


def _inspect_tflite(path: str, data: bytes) -> dict[str, Any]:
    interpreter = open_interpreter(path, data)
    notes: list[str] = []
    inputs = tuple(_tflite_tensor(d) for d in interpreter.get_input_details())
    outputs = tuple(_tflite_tensor(d) for d in interpreter.get_output_details())
    notes += _shape_notes(inputs)

    tensors = {int(t["index"]): t for t in interpreter.get_tensor_details()}
    shapes = {i: tuple(int(d) for d in t["shape"]) for i, t in tensors.items()}
    type_mix = Counter(_dtype_name(t["dtype"]) for t in tensors.values())

    ops: list[dict] = []
    if hasattr(interpreter, "_get_ops_details"):
        ops = [op for op in interpreter._get_ops_details() if op.get("op_name") != "DELEGATE"]
    else:
        notes.append("this LiteRT version does not list ops; no op histogram")
    histogram = Counter(op["op_name"] for op in ops)

    produced = {int(i) for op in ops for i in op["outputs"]}
    graph_inputs = {int(d["index"]) for d in interpreter.get_input_details()}
    constants = {int(i) for op in ops for i in op["inputs"] if int(i) >= 0} - produced - graph_inputs
    params = 0
    for i in constants:
        t = tensors.get(i)
        if t is None:
            continue
        qp = t.get("quantization_parameters") or {}
        quantized = len(qp.get("scales", ())) > 0
        if _dtype_name(t["dtype"]) in WEIGHT_DTYPES or quantized:
            params += math.prod(shapes[i]) if shapes[i] else 1

    in_details = interpreter.get_input_details()
    first = tuple(int(d) for d in in_details[0]["shape"]) if in_details else ()
    batch_size = first[0] if len(first) >= 2 and first[0] > 0 else 1
    total = sum(tflite_op_macs(op, shapes) for op in ops)
    macs = total // batch_size
    notes.append("parameters counted from constant weight tensors; FLOPs estimated from FULLY_CONNECTED and "
                 "convolution ops only")
    quantized_io = [t.name for t in inputs + outputs if t.quantization]
    if quantized_io:
        notes.append(f"quantized inputs/outputs: {', '.join(quantized_io)} (see scale and zero point)")
    return dict(
        inputs=inputs, outputs=outputs, params=params, flops=2 * macs,
        op_histogram=tuple(sorted(histogram.items(), key=lambda kv: (-kv[1], kv[0]))),
        tensor_types=tuple(sorted(type_mix.items(), key=lambda kv: (-kv[1], kv[0]))),
        notes=tuple(notes),
    )
