"""`inspect_model` for a `.tflite` file: tensors by signature name, parameters, MACs, op and type mix.

The file is read subgraph by subgraph (`core.models.tflite_graph`): the parameters are
the constant weight tensors of EVERY subgraph (an LSTM's or GRU's weights live in a
WHILE body), and MACs come from the ops of every subgraph a WHILE loop reaches. When the
flatbuffer cannot be read, the interpreter's first subgraph is shown and the notes say so.
"""

from __future__ import annotations

import traceback
from collections import Counter
from typing import TYPE_CHECKING, Any

from core.errors import BadInputError
from core.models.info import TensorInfo
from core.models.inspection import dims, flops_fields, shape_notes
from core.text import first_line

if TYPE_CHECKING:
    from core.models.tflite_graph import TfliteGraph


def _dtype_name(dtype: Any) -> str:
    import numpy as np

    try:
        return np.dtype(dtype).name
    except TypeError:
        return str(dtype)


def _tflite_tensor(detail: dict[str, Any]) -> TensorInfo:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    shape = detail.get("shape_signature")
    if shape is None:
        shape = detail.get("shape")
    quant = (float(scale), int(zero_point)) if scale else None
    return TensorInfo(
        name=str(detail["name"]), shape=dims(shape), dtype=_dtype_name(detail["dtype"]), quantization=quant
    )


def open_interpreter(path: str, data: bytes) -> Any:
    """An allocated LiteRT interpreter without default delegates; BadInputError if the runtime refuses the model."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    try:
        interpreter = Interpreter(
            model_content=data, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        )
        interpreter.allocate_tensors()
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - ValueError, RuntimeError, and whatever a corrupt flatbuffer causes
        raise BadInputError(
            "the TensorFlow Lite runtime rejected the model (truncated, corrupt or not supported): "
            f"{first_line(exc, 300)}",
            path=path,
            details=traceback.format_exc(),
        ) from None
    return interpreter


def _tflite_graph(interpreter: Any, data: bytes, notes: list[str]) -> tuple[TfliteGraph | None, str]:
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


def inspect_tflite(path: str, data: bytes) -> dict[str, Any]:
    """The `ModelInfo` fields of a .tflite (`data` is the file's bytes, `path` names it in errors).

    Parameters are counted from the constant weight tensors, FLOPs are 2 x the MACs of
    `count_tflite_macs` (counted, not measured); either is None with a note when the
    flatbuffer cannot be read. Raises BadInputError when LiteRT refuses the model.
    """
    from core.models.flops import count_tflite_macs
    from core.models.tflite_graph import count_tflite_params

    interpreter = open_interpreter(path, data)
    notes: list[str] = []
    inputs, outputs, signature, signatures = _tflite_io(interpreter, notes)
    notes += shape_notes(inputs)

    graph, unknown = _tflite_graph(interpreter, data, notes)
    if graph is None:  # unknown, said so: never 0 parameters and 0 FLOPs
        notes.append(f"parameters and FLOPs: unknown ({unknown})")
        return dict(
            inputs=inputs,
            outputs=outputs,
            params=None,
            flops=None,
            notes=tuple(notes),
            signature=signature,
            signatures=signatures,
        )
    histogram = Counter(op.name for sg in graph.subgraphs for op in sg.ops)
    type_mix = Counter(t.dtype for sg in graph.subgraphs for t in sg.tensors if t.dtype)
    params = count_tflite_params(graph)
    count = count_tflite_macs(graph)
    subgraphs = len(graph.subgraphs) + len(graph.unread)
    if graph.unread:
        notes.append(
            f"parameters are partial: the weights of {len(graph.unread)} of {subgraphs} subgraphs "
            f"({', '.join(graph.unread[:5])}) could not be read"
        )
    else:
        notes.append(
            "parameters counted from the constant weight tensors of "
            + ("the model's subgraph" if subgraphs == 1 else f"all {subgraphs} subgraphs")
        )
    fields, flops_notes = flops_fields(count)
    notes += flops_notes
    quantized_io = [t.name for t in inputs + outputs if t.quantization]
    if quantized_io:
        notes.append(f"quantized inputs/outputs: {', '.join(quantized_io)} (see scale and zero point)")
    return dict(
        inputs=inputs,
        outputs=outputs,
        params=params,
        params_partial=bool(graph.unread),
        op_histogram=tuple(sorted(histogram.items(), key=lambda kv: (-kv[1], kv[0]))),
        tensor_types=tuple(sorted(type_mix.items(), key=lambda kv: (-kv[1], kv[0]))),
        notes=tuple(notes),
        signature=signature,
        signatures=signatures,
        **fields,
    )


def _tflite_io(
    interpreter: Any, notes: list[str]
) -> tuple[tuple[TensorInfo, ...], tuple[TensorInfo, ...], str, tuple[str, ...]]:
    """Inputs and outputs by their signature names (serving_default, or the only signature).

    A .tflite without signatures (old converters) shows tensor names, and says so:
    its outputs cannot be matched to anything by name.
    """
    keys = sorted(interpreter.get_signature_list())
    key = "serving_default" if "serving_default" in keys else keys[0] if len(keys) == 1 else ""
    if not key:
        if keys:
            notes.append(
                f"several signatures and none is 'serving_default' ({', '.join(keys)}): "
                "showing tensor names; choose one with --signature when optimizing"
            )
        else:
            notes.append("no signature: tensor names are shown; outputs cannot be matched by name")
        return (
            tuple(_tflite_tensor(d) for d in interpreter.get_input_details()),
            tuple(_tflite_tensor(d) for d in interpreter.get_output_details()),
            "",
            tuple(keys),
        )
    runner = interpreter.get_signature_runner(key)
    listed = interpreter.get_signature_list()[key]
    ins, outs = runner.get_input_details(), runner.get_output_details()
    inputs = tuple(_tflite_tensor({**ins[n], "name": n}) for n in listed.get("inputs", ins))
    outputs = tuple(_tflite_tensor({**outs[n], "name": n}) for n in listed.get("outputs", outs))
    if len(keys) > 1:
        notes.append(f"signature {key!r} shown; the file also has {', '.join(k for k in keys if k != key)}")
    return inputs, outputs, key, tuple(keys)
