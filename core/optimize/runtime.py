"""Running a .tflite model on named inputs through LiteRT's signature runner.

Inputs and outputs are addressed by their signature names, never by tensor
position (the converter reorders output tensors). Integer inputs/outputs are
handled here: float data is quantized with the input tensor's scale and zero
point, quantized outputs are dequantized, so callers always get comparable
outputs. Integer tensors without quantization (ids, class ids) pass unchanged.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import BadInputError
from core.models.interface import ModelInterface, TensorSpec

if TYPE_CHECKING:
    from core.engine.context import CancelToken

DEFAULT_BATCH = 64


@dataclass(frozen=True)
class TensorDetail:
    """A signature tensor as LiteRT runs it: shape (None = free), dtype and quantization."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str
    scale: float
    zero_point: int

    @property
    def quantized(self) -> bool:
        """An integer tensor with a scale: float values stored as integers (run dequantizes such an output)."""
        return bool(self.scale) and np.issubdtype(np.dtype(self.dtype), np.integer)


def make_interpreter(tflite_bytes: bytes, num_threads: int | None = None) -> Any:
    """An `ai_edge_litert` Interpreter; BadInputError when the flatbuffer cannot be loaded."""
    from ai_edge_litert.interpreter import Interpreter

    from core.native_output import quiet_native

    try:
        with quiet_native():  # "INFO: Created TensorFlow Lite XNNPACK delegate" on stderr
            return Interpreter(model_content=bytes(tflite_bytes), num_threads=num_threads)
    except (ValueError, RuntimeError) as exc:
        raise BadInputError(f"the .tflite model cannot be loaded: {exc}") from None


def _detail(name: str, d: dict) -> TensorDetail:
    signature = d.get("shape_signature")
    shape = signature if signature is not None and len(signature) else d["shape"]
    q = d.get("quantization") or (0.0, 0)
    return TensorDetail(
        name=name,
        shape=tuple(None if int(s) < 0 else int(s) for s in shape),
        dtype=np.dtype(d["dtype"]).name,
        scale=float(q[0]),
        zero_point=int(q[1]),
    )


class SignatureModel:
    """One signature of a .tflite model, ready to run on dicts of named arrays."""

    def __init__(
        self,
        tflite_bytes: bytes,
        signature: str | None = None,
        *,
        num_threads: int | None = None,
        path: str | None = None,
    ) -> None:
        from core.models.signatures import tflite_interface

        self.interpreter = make_interpreter(tflite_bytes, num_threads=num_threads)
        self.interface: ModelInterface = tflite_interface(self.interpreter, signature, path=path)
        self.runner = self.interpreter.get_signature_runner(self.interface.signature)
        ins, outs = self.runner.get_input_details(), self.runner.get_output_details()
        self.inputs = {n: _detail(n, ins[n]) for n in self.interface.input_names}
        self.outputs = {n: _detail(n, outs[n]) for n in self.interface.output_names}

    @property
    def fixed_batch(self) -> int | None:
        """The batch size every input is fixed at (a batch-1 signature), or None when it is free."""
        sizes = {d.shape[0] for d in self.inputs.values() if d.shape}
        fixed = {s for s in sizes if s is not None}
        if not sizes or len(fixed) < len(sizes):  # no inputs, or one with a free batch axis
            return None
        return min(fixed)

    def feed_specs(self) -> tuple[TensorSpec, ...]:
        """The inputs as data feeds them: a quantized input still takes float data; batch axis free."""
        specs = []
        for spec in self.interface.inputs:
            d = self.inputs[spec.name]
            dtype = "float32" if d.scale and d.dtype in ("int8", "uint8", "int16") else d.dtype
            specs.append(TensorSpec(shape=(None,) + tuple(d.shape[1:]), dtype=dtype, name=spec.name))
        return tuple(specs)

    def result_specs(self) -> tuple[TensorSpec, ...]:
        """The outputs as `run` returns them: a quantized output comes back dequantized, float32."""
        return tuple(
            dataclasses.replace(spec, dtype="float32") if self.outputs[spec.name].quantized else spec
            for spec in self.interface.outputs
        )

    def run(
        self, inputs: dict[str, np.ndarray], *, batch_size: int = DEFAULT_BATCH, cancel: CancelToken | None = None
    ) -> dict[str, np.ndarray]:
        """Outputs by name for `inputs` by name (samples on axis 0), in chunks of `batch_size`.

        A signature with a fixed batch runs in chunks of that size, the last one
        padded with zeros (the padding's outputs are dropped). Raises
        BadInputError when an input is missing; LiteRT's RuntimeError/ValueError
        pass through (the caller knows whether that is a conversion failure).
        """
        missing = [n for n in self.inputs if n not in inputs]
        if missing:
            raise BadInputError(f"no data for the model input(s) {', '.join(map(repr, missing))}")
        counts = {int(np.asarray(inputs[n]).shape[0]) for n in self.inputs}
        if len(counts) != 1:
            raise BadInputError(f"the inputs have different sample counts: {sorted(counts)}")
        n = counts.pop()
        step = self.fixed_batch or batch_size
        collected: dict[str, list[np.ndarray]] = {name: [] for name in self.outputs}
        for start in range(0, n, step):
            if cancel is not None:
                cancel.raise_if_cancelled()
            feed, real = {}, 0
            for name, detail in self.inputs.items():
                chunk = np.asarray(inputs[name][start : start + step])
                real = chunk.shape[0]
                if self.fixed_batch and real != step:
                    chunk = np.concatenate([chunk, np.zeros((step - real,) + chunk.shape[1:], chunk.dtype)])
                feed[name] = quantize_input(chunk, detail)
            result = _call(self.runner, feed)
            for name, detail in self.outputs.items():
                collected[name].append(dequantize_output(np.array(result[name]), detail)[:real])
        return {name: np.concatenate(parts) for name, parts in collected.items()}


def _call(runner: Any, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    from core.native_output import quiet_native

    with quiet_native():  # LiteRT announces its XNNPACK delegate on stderr at the first allocation
        return runner(**feed)


def quantize_input(x: np.ndarray, detail: TensorDetail) -> np.ndarray:
    """Float data for a quantized input becomes its integer type (scale, zero point); else a plain cast."""
    dtype = np.dtype(detail.dtype)
    if not np.issubdtype(dtype, np.integer) or not detail.scale or np.issubdtype(x.dtype, np.integer):
        return x.astype(dtype, copy=False)
    info = np.iinfo(dtype)
    q = np.round(x.astype(np.float64) / detail.scale + detail.zero_point)
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize_output(y: np.ndarray, detail: TensorDetail) -> np.ndarray:
    """A quantized integer output back to float32; other outputs unchanged."""
    if np.issubdtype(y.dtype, np.integer) and detail.scale:
        return ((y.astype(np.float64) - detail.zero_point) * detail.scale).astype(np.float32)
    return y


def io_dtype(tflite_bytes: bytes, signature: str | None = None) -> str:
    """ "int8" (or "int16", "uint8") when the signature's inputs and outputs are all quantized integers of
    that type, "float32" when none is, else "mixed": read from the file, not from how it was made."""
    model = SignatureModel(tflite_bytes, signature)
    details = [*model.inputs.values(), *model.outputs.values()]
    kinds = {d.dtype if d.quantized else "float32" for d in details}
    return kinds.pop() if len(kinds) == 1 else "mixed"


def run_tflite(
    tflite_bytes: bytes,
    inputs: dict[str, np.ndarray],
    *,
    signature: str | None = None,
    batch_size: int = DEFAULT_BATCH,
    cancel: CancelToken | None = None,
    num_threads: int | None = None,
) -> dict[str, np.ndarray]:
    """Run one signature of a .tflite on named inputs; returns its outputs by name."""
    model = SignatureModel(tflite_bytes, signature, num_threads=num_threads)
    return model.run(inputs, batch_size=batch_size, cancel=cancel)


def input_specs(tflite_bytes: bytes, signature: str | None = None) -> tuple[TensorSpec, ...]:
    """The signature's inputs as data would feed them (a quantized input still takes float data)."""
    return SignatureModel(tflite_bytes, signature).feed_specs()


def smoke_run(
    tflite_bytes: bytes, inputs: dict[str, np.ndarray] | None = None, *, signature: str | None = None
) -> None:
    """Load the model and run it once; raises on failure or on a non-finite output.

    Runs on `inputs` (real samples) when given, else on zeros with free
    dimensions set to 1. Raises ValueError("outputs NaN/Inf ...") when an output
    is not finite.
    """
    model = SignatureModel(tflite_bytes, signature)
    if inputs is None:
        inputs = {}
        for name, d in model.inputs.items():
            shape = [1 if s is None else s for s in d.shape]
            inputs[name] = np.zeros(shape, dtype=np.dtype(d.dtype))
    outputs = model.run(inputs)
    bad = [
        name
        for name, y in outputs.items()
        if np.issubdtype(np.asarray(y).dtype, np.floating) and not np.all(np.isfinite(y))
    ]
    if bad:
        raise ValueError(f"the model's output(s) {', '.join(map(repr, bad))} are not finite (NaN or Inf)")


__all__ = [
    "DEFAULT_BATCH",
    "SignatureModel",
    "TensorDetail",
    "dequantize_output",
    "input_specs",
    "make_interpreter",
    "quantize_input",
    "run_tflite",
    "smoke_run",
]
