"""Running a .tflite model on a batch of inputs with ai_edge_litert.

Integer inputs/outputs are handled here: float data is quantized with the input
tensor's scale and zero point, integer outputs are dequantized, so callers
always get comparable float outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.data.loaders import InputSpec
from core.errors import BadInputError

DEFAULT_BATCH = 64


@dataclass(frozen=True)
class TensorDetail:
    name: str
    index: int
    shape: tuple[int | None, ...]
    dtype: str
    scale: float
    zero_point: int


def make_interpreter(tflite_bytes: bytes, num_threads: int | None = None):
    from ai_edge_litert.interpreter import Interpreter

    from core.optimize.convert import quiet_native

    try:
        with quiet_native():  # "INFO: Created TensorFlow Lite XNNPACK delegate" on stderr
            return Interpreter(model_content=bytes(tflite_bytes), num_threads=num_threads)
    except (ValueError, RuntimeError) as exc:
        raise BadInputError(f"the .tflite model cannot be loaded: {exc}") from None


def _allocate(interpreter) -> None:
    from core.optimize.convert import quiet_native

    with quiet_native():  # LiteRT announces its XNNPACK delegate on stderr here
        interpreter.allocate_tensors()


def _detail(d: dict) -> TensorDetail:
    signature = d.get("shape_signature")
    shape = signature if signature is not None and len(signature) else d["shape"]
    q = d.get("quantization") or (0.0, 0)
    return TensorDetail(
        name=d["name"], index=int(d["index"]),
        shape=tuple(None if int(s) < 0 else int(s) for s in shape),
        dtype=np.dtype(d["dtype"]).name, scale=float(q[0]), zero_point=int(q[1]),
    )


def io_details(tflite_bytes: bytes) -> tuple[list[TensorDetail], list[TensorDetail]]:
    interpreter = make_interpreter(tflite_bytes)
    return ([_detail(d) for d in interpreter.get_input_details()],
            [_detail(d) for d in interpreter.get_output_details()])


def input_specs(tflite_bytes: bytes) -> tuple[InputSpec, ...]:
    """The model's inputs as data would feed them (a quantized input still takes float data)."""
    inputs, _ = io_details(tflite_bytes)
    specs = []
    for d in inputs:
        dtype = "float32" if d.scale and d.dtype in ("int8", "uint8", "int16") else d.dtype
        shape = (None,) + tuple(d.shape[1:]) if d.shape else (None,)
        specs.append(InputSpec(shape=shape, dtype=dtype, name=d.name))
    return tuple(specs)


def quantize_input(x: np.ndarray, detail: TensorDetail) -> np.ndarray:
    dtype = np.dtype(detail.dtype)
    if not np.issubdtype(dtype, np.integer) or not detail.scale:
        return x.astype(dtype)
    info = np.iinfo(dtype)
    q = np.round(x.astype(np.float64) / detail.scale + detail.zero_point)
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize_output(y: np.ndarray, detail: TensorDetail) -> np.ndarray:
    if np.issubdtype(y.dtype, np.integer) and detail.scale:
        return ((y.astype(np.float64) - detail.zero_point) * detail.scale).astype(np.float32)
    return y


def run_tflite(tflite_bytes: bytes, x: np.ndarray, *, batch_size: int = DEFAULT_BATCH,
               cancel=None, output_index: int = 0, num_threads: int | None = None) -> np.ndarray:
    """Run a single-input model on `x` (samples on axis 0); return output `output_index` as float.

    Batches of `batch_size` when the batch dimension can be resized, else one
    sample at a time.
    """
    interpreter = make_interpreter(tflite_bytes, num_threads=num_threads)
    inputs = interpreter.get_input_details()
    if len(inputs) != 1:
        raise BadInputError(f"the model has {len(inputs)} inputs; evaluation supports single-input models")
    in_detail = _detail(inputs[0])
    out_details = interpreter.get_output_details()
    out_detail = _detail(out_details[output_index])
    n = int(x.shape[0])
    fixed_batch = inputs[0]["shape"][0] if len(inputs[0]["shape"]) else 1
    dynamic = in_detail.shape and in_detail.shape[0] is None
    step = batch_size if dynamic else int(fixed_batch)
    outputs = []
    current = None
    for start in range(0, n, step):
        if cancel is not None:
            cancel.raise_if_cancelled()
        chunk = x[start:start + step]
        if not dynamic and chunk.shape[0] != step:
            pad = np.zeros((step - chunk.shape[0],) + chunk.shape[1:], chunk.dtype)
            real = chunk.shape[0]
            chunk = np.concatenate([chunk, pad])
        else:
            real = chunk.shape[0]
        if dynamic and current != chunk.shape:
            interpreter.resize_tensor_input(in_detail.index, list(chunk.shape))
            _allocate(interpreter)
            current = chunk.shape
        elif current is None:
            _allocate(interpreter)
            current = chunk.shape
        interpreter.set_tensor(in_detail.index, quantize_input(chunk, in_detail))
        interpreter.invoke()
        y = interpreter.get_tensor(out_details[output_index]["index"])
        outputs.append(dequantize_output(np.array(y), out_detail)[:real])
    return np.concatenate(outputs).astype(np.float32, copy=False)


def smoke_run(tflite_bytes: bytes) -> None:
    """Load the model and run it once on zeros (unknown dims become 1); raises on failure."""
    interpreter = make_interpreter(tflite_bytes)
    for d in interpreter.get_input_details():
        detail = _detail(d)
        shape = [1 if s is None else s for s in detail.shape]
        if detail.shape and detail.shape[0] is None or any(s is None for s in detail.shape):
            interpreter.resize_tensor_input(detail.index, shape)
    _allocate(interpreter)
    for d in interpreter.get_input_details():
        interpreter.set_tensor(d["index"], np.zeros(d["shape"], dtype=d["dtype"]))
    interpreter.invoke()
    for d in interpreter.get_output_details():
        interpreter.get_tensor(d["index"])
