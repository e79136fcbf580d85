"""Runners: one interface over LiteRT (.tflite) and Keras/TensorFlow, so the baseline and
every variant are measured by the same loop (`core.benchmark.sweep.measure_config`).

A runner is prepared for one (batch size, thread count), then called many times
with the same inputs::

    runner.prepare(batch_size=8, threads=2)
    inputs = runner.make_inputs(np.random.default_rng(0))
    runner.run_once(inputs)          # one call = one batch, outputs copied back to numpy
    runner.close()

What one call includes, for every runner: setting the inputs, running the model
and copying the outputs back into numpy arrays, i.e. what an application does.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np

from core.benchmark.results import KERAS_MODES, DelegationInfo


def tensorflow():
    """TensorFlow, fully imported.

    `import_tensorflow()` keeps start-up chatter quiet, but when the engine's
    preload thread is still importing TensorFlow it returns the half-initialized
    module from sys.modules; the `import` statement waits for the import to finish.
    """
    from core.tf_runtime import import_tensorflow

    import_tensorflow()
    import tensorflow as tf

    return tf


class BatchSizeUnsupported(ValueError):
    """The model cannot run at this batch size (e.g. a .tflite converted with a fixed batch of 1)."""


@dataclass(frozen=True)
class InputSpec:
    name: str
    shape: tuple[int, ...]            # as prepared, batch first
    dtype: str                        # numpy dtype name
    quantization: tuple[float, int] | None = None   # (scale, zero_point) of a quantized .tflite input


class Runner(Protocol):
    name: str                 # "litert", "keras-predict", ...
    variant: str              # "fp32", "dynamic", "int8", "keras", ...
    uses_threads: bool        # False: the thread count is not the runner's to choose

    def prepare(self, batch_size: int, threads: int | None) -> None: ...
    def input_specs(self) -> list[InputSpec]: ...
    def make_inputs(self, rng: np.random.Generator) -> list[np.ndarray]: ...
    def run_once(self, inputs: Sequence[np.ndarray]) -> Any: ...
    def close(self) -> None: ...


def random_inputs(specs: Sequence[InputSpec], rng: np.random.Generator) -> list[np.ndarray]:
    """Inputs of the right shape and type: floats in [0, 1), integers 0/1 (safe as indices)."""
    arrays = []
    for spec in specs:
        dtype = np.dtype(spec.dtype)
        if dtype.kind == "f":
            arrays.append(rng.random(spec.shape, dtype=np.float32).astype(dtype))
        elif dtype.kind in "iu" and spec.quantization and spec.quantization[0] > 0:
            info = np.iinfo(dtype)
            arrays.append(rng.integers(info.min, info.max, size=spec.shape, endpoint=True).astype(dtype))
        elif dtype.kind in "iub":
            arrays.append(rng.integers(0, 2, size=spec.shape).astype(dtype))
        else:
            arrays.append(np.zeros(spec.shape, dtype=dtype))
    return arrays


# --------------------------------------------------------------------------- LiteRT

COMPUTE_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "BATCH_MATMUL", "TRANSPOSE_CONV", "CONV_3D"}


@dataclass(frozen=True)
class _Op:
    index: int
    name: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


def _graph_ops(interpreter) -> list[_Op]:
    native = interpreter._interpreter
    return [
        _Op(i, native.NodeName(i), tuple(int(t) for t in native.NodeInputs(i)),
            tuple(int(t) for t in native.NodeOutputs(i)))
        for i in range(native.NumNodes())
    ]


def delegation_info(interpreter, xnnpack: bool = True) -> DelegationInfo:
    """Which ops the XNNPACK delegate took, read from a prepared interpreter.

    After delegation the interpreter keeps every original node and appends one
    node named "DELEGATE" per partition; a DELEGATE node's inputs and outputs
    are the tensors at that partition's boundary. The ops a partition replaced
    are found by walking back from its outputs through the original nodes'
    producers until the boundary inputs are reached. (The Python API does not
    expose the execution plan, so this is how we tell delegated from kept ops.)
    """
    ops = _graph_ops(interpreter)
    original = [op for op in ops if op.name != "DELEGATE"]
    delegates = [op for op in ops if op.name == "DELEGATE"]
    producer = {t: op.index for op in original for t in op.outputs if t >= 0}
    by_index = {op.index: op for op in original}
    delegated: set[int] = set()
    for node in delegates:
        boundary = set(node.inputs)
        stack = [t for t in node.outputs if t >= 0]
        while stack:
            tensor = stack.pop()
            index = producer.get(tensor)
            if index is None or index in delegated:
                continue
            delegated.add(index)
            stack.extend(t for t in by_index[index].inputs if t >= 0 and t not in boundary)
    kept = Counter(op.name for op in original if op.index not in delegated)
    return DelegationInfo(
        total_ops=len(original),
        delegated_ops=len(delegated),
        partitions=len(delegates),
        kept_ops=tuple(sorted(kept.items(), key=lambda item: (-item[1], item[0]))),
        xnnpack=xnnpack,
    )


def classify_tflite(interpreter) -> str:
    """Guess how a .tflite was quantized from its tensor types.

    "int16x8" (int16 activations), "int8" (integer compute ops), "dynamic"
    (int8 weights, float activations), "float16" (float16 weights dequantized
    at run time) or "fp32".
    """
    native = interpreter._interpreter

    def dtype(t: int):
        try:
            return np.dtype(native.TensorType(t, 0))
        except Exception:  # noqa: BLE001 - unnamed temporaries
            return None

    ops = [op for op in _graph_ops(interpreter) if op.name != "DELEGATE"]
    compute_out = []
    compute_in = []
    dequant_in = []
    for op in ops:
        if op.name in COMPUTE_OPS:
            compute_out += [dtype(t) for t in op.outputs if t >= 0]
            compute_in += [dtype(t) for t in op.inputs if t >= 0]
        elif op.name == "DEQUANTIZE":
            dequant_in += [dtype(t) for t in op.inputs if t >= 0]
    if np.dtype(np.int16) in compute_out:
        return "int16x8"
    if any(d is not None and d.kind in "iu" for d in compute_out):
        return "int8"
    if np.dtype(np.int8) in compute_in:
        return "dynamic"
    if np.dtype(np.float16) in dequant_in:
        return "float16"
    return "fp32"


class LiteRTRunner:
    """A .tflite model in `ai_edge_litert`'s Interpreter.

    `threads` is the interpreter's `num_threads`; `xnnpack=False` builds the
    interpreter with BUILTIN_WITHOUT_DEFAULT_DELEGATES (LiteRT's own kernels
    only). The batch size is set by resizing every input's first dimension.
    """

    name = "litert"
    uses_threads = True

    def __init__(self, model: bytes | str | os.PathLike, *, xnnpack: bool = True, variant: str | None = None) -> None:
        if isinstance(model, (bytes, bytearray, memoryview)):
            self._content: bytes | None = bytes(model)
            self._path: str | None = None
        else:
            self._content, self._path = None, os.fspath(model)
        self.xnnpack = xnnpack
        self._variant = variant
        self._interpreter = None
        self._inputs: list[dict] = []
        self._outputs: list[dict] = []
        self.delegation: DelegationInfo | None = None
        if not xnnpack:
            self.name = "litert-no-xnnpack"

    @property
    def variant(self) -> str:
        if self._variant is None:
            if self._interpreter is None:
                self._build(1)
            self._variant = classify_tflite(self._interpreter)
        return self._variant

    def _build(self, threads: int):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        resolver = OpResolverType.AUTO if self.xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        kwargs = {"model_content": self._content} if self._content is not None else {"model_path": self._path}
        self._interpreter = Interpreter(num_threads=int(threads), experimental_op_resolver_type=resolver, **kwargs)
        return self._interpreter

    def prepare(self, batch_size: int, threads: int | None) -> None:
        self.close()
        interpreter = self._build(threads or 1)
        details = interpreter.get_input_details()
        for detail in details:
            shape = list(detail["shape"])
            if not shape:
                if batch_size != 1:
                    raise BatchSizeUnsupported("the model takes a scalar input: batch size 1 only")
                continue
            if shape[0] != batch_size:
                try:
                    interpreter.resize_tensor_input(detail["index"], [batch_size] + shape[1:], strict=False)
                except Exception as exc:  # noqa: BLE001
                    raise BatchSizeUnsupported(f"cannot resize input {detail['name']} to batch {batch_size}: {exc}") from exc
        try:
            interpreter.allocate_tensors()
        except Exception as exc:  # noqa: BLE001
            if batch_size != 1:
                raise BatchSizeUnsupported(
                    f"the model does not run at batch {batch_size} (it was probably converted with a fixed batch): {exc}"
                ) from exc
            raise
        self._inputs = interpreter.get_input_details()
        self._outputs = interpreter.get_output_details()
        self._input_indices = [detail["index"] for detail in self._inputs]
        self._output_indices = [detail["index"] for detail in self._outputs]
        self._set_tensor, self._invoke, self._get_tensor = (
            interpreter.set_tensor, interpreter.invoke, interpreter.get_tensor)
        self.delegation = delegation_info(interpreter, self.xnnpack)

    @property
    def interpreter(self):
        return self._interpreter

    def input_specs(self) -> list[InputSpec]:
        specs = []
        for detail in self._inputs:
            scale, zero_point = detail.get("quantization", (0.0, 0))
            quant = (float(scale), int(zero_point)) if scale else None
            specs.append(InputSpec(detail["name"], tuple(int(d) for d in detail["shape"]),
                                   np.dtype(detail["dtype"]).name, quant))
        return specs

    def make_inputs(self, rng: np.random.Generator) -> list[np.ndarray]:
        return random_inputs(self.input_specs(), rng)

    def run_once(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        # Kept lean: on a model that takes microseconds, every Python step here shows.
        set_tensor = self._set_tensor
        for index, value in zip(self._input_indices, inputs):
            set_tensor(index, value)
        self._invoke()
        get_tensor = self._get_tensor
        return [get_tensor(index) for index in self._output_indices]

    def close(self) -> None:
        self._interpreter = None
        self._set_tensor = self._invoke = self._get_tensor = None
        self._inputs, self._outputs = [], []


# --------------------------------------------------------------------------- Keras

class KerasRunner:
    """A Keras model run the ways users run it.

    Modes: "eager" (``model(x, training=False)``), "tf_function" (the same call
    wrapped once in ``tf.function``; the first call of each batch size traces it,
    which lands in the cold run), "predict_on_batch" and "predict"
    (``model.predict(x, batch_size=b, verbose=0)``, what most scripts do).
    `device` is a TensorFlow device string: "/CPU:0", "/GPU:0", ...
    """

    uses_threads = False
    variant = "keras"

    def __init__(self, model, mode: str = "predict_on_batch", device: str = "/CPU:0") -> None:
        if mode not in KERAS_MODES:
            raise ValueError(f"unknown Keras mode {mode!r}; choose from {', '.join(KERAS_MODES)}")
        self.model = model
        self.mode = mode
        self.device = device
        self.name = f"keras-{mode}"
        self._batch = 1
        self._fn = None
        self._tf = None

    def prepare(self, batch_size: int, threads: int | None) -> None:
        tf = self._tf = tensorflow()
        check_device(self.device, tf)
        self._batch = int(batch_size)
        if self.mode == "tf_function" and self._fn is None:
            model = self.model
            self._fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    def input_specs(self) -> list[InputSpec]:
        specs = []
        for tensor in _model_inputs(self.model):
            shape = tuple(self._batch if d is None and i == 0 else (1 if d is None else int(d))
                          for i, d in enumerate(tensor.shape))
            dtype = getattr(tensor, "dtype", "float32")
            specs.append(InputSpec(getattr(tensor, "name", "input"), shape, np.dtype(str(dtype)).name))
        return specs

    def make_inputs(self, rng: np.random.Generator) -> list[np.ndarray]:
        return random_inputs(self.input_specs(), rng)

    def run_once(self, inputs: Sequence[np.ndarray]) -> Any:
        tf = self._tf
        x = inputs[0] if len(inputs) == 1 else list(inputs)
        with tf.device(self.device):
            if self.mode == "predict":
                return self.model.predict(x, batch_size=self._batch, verbose=0)
            if self.mode == "predict_on_batch":
                return self.model.predict_on_batch(x)
            out = self._fn(x) if self.mode == "tf_function" else self.model(x, training=False)
        # Copy back to host memory: on a GPU this is also where the call finishes.
        return tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else np.asarray(t), out)

    def close(self) -> None:
        self._fn = None


class SavedModelRunner:
    """A SavedModel folder called through its "serving_default" signature (`tf.saved_model.load`)."""

    uses_threads = False
    variant = "saved_model"
    name = "savedmodel"

    def __init__(self, folder: str | os.PathLike, device: str = "/CPU:0") -> None:
        self.folder = os.fspath(folder)
        self.device = device
        self._fn = None
        self._batch = 1
        self._tf = None

    def prepare(self, batch_size: int, threads: int | None) -> None:
        tf = self._tf = tensorflow()
        check_device(self.device, tf)
        if self._fn is None:
            loaded = tf.saved_model.load(self.folder)
            if "serving_default" not in loaded.signatures:
                raise ValueError("the SavedModel has no serving_default signature to call")
            self._loaded = loaded
            self._fn = loaded.signatures["serving_default"]
            self._names = sorted(self._fn.structured_input_signature[1])
        self._batch = int(batch_size)

    def input_specs(self) -> list[InputSpec]:
        _, kwargs = self._fn.structured_input_signature
        specs = []
        for name in sorted(kwargs):
            spec = kwargs[name]
            dims = list(spec.shape) if spec.shape.rank is not None else [None]
            shape = tuple(self._batch if d is None and i == 0 else (1 if d is None else int(d))
                          for i, d in enumerate(dims))
            specs.append(InputSpec(name, shape, spec.dtype.as_numpy_dtype().dtype.name))
        return specs

    def make_inputs(self, rng: np.random.Generator) -> list[np.ndarray]:
        return random_inputs(self.input_specs(), rng)

    def run_once(self, inputs: Sequence[np.ndarray]) -> Any:
        with self._tf.device(self.device):
            out = self._fn(**{name: self._tf.constant(value) for name, value in zip(self._names, inputs)})
        return {key: value.numpy() for key, value in out.items()}

    def close(self) -> None:
        pass


def _model_inputs(model) -> list:
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise ValueError("the Keras model has no defined inputs (build it or give it an Input layer)")
    return list(inputs)


def check_device(device: str, tf=None) -> None:
    """Refuse a GPU device TensorFlow cannot see (it would silently run on the CPU)."""
    name = device.strip().upper().lstrip("/")
    if not name.startswith("GPU"):
        return
    if tf is None:
        from core.benchmark.runners import tensorflow

        tf = tensorflow()
    visible = [d.name.upper().split("DEVICE:")[-1] for d in tf.config.list_logical_devices("GPU")]
    index = name.split(":")[-1] if ":" in name else "0"
    if f"GPU:{index}" not in visible:
        seen = ", ".join(visible) or "none"
        raise ValueError(f"TensorFlow sees no {device} (GPUs visible: {seen}); see `litesmith devices`")


def load_keras(path: str | os.PathLike):
    """Load a Keras model with safe_mode on (through core.models when it exists)."""
    try:
        from core.models.loading import load_keras_model
    except ImportError:
        load_keras_model = None
    if load_keras_model is not None:
        return load_keras_model(os.fspath(path))
    from core.tf_runtime import import_keras

    keras = import_keras()
    return keras.saving.load_model(os.fspath(path), safe_mode=True, compile=False)


def is_tflite(model: bytes | str | os.PathLike) -> bool:
    if isinstance(model, (bytes, bytearray, memoryview)):
        return True
    path = Path(model)
    if path.suffix.lower() == ".tflite":
        return True
    if path.is_file():
        with open(path, "rb") as handle:
            head = handle.read(8)
        return head[4:8] == b"TFL3"
    return False
