"""Runners: one interface over LiteRT (.tflite) and Keras/TensorFlow, so the baseline and
every variant are measured by the same loop (`core.benchmark.sweep.measure_config`).

Inputs and outputs are addressed by NAME, never by position. Each runner knows
the model's `ModelInterface` (`runner.interface`):

* LiteRT: the chosen signature (`signature=`; default ``serving_default`` or
  the only one, `core.models.signatures.choose_signature`). Signature input
  names are mapped to tensor indices once, through the signature runner's
  details, and the loop sets and reads those tensors directly (no per-call
  resize or allocation). A .tflite without any signature is addressed by its
  input tensors' names.
* SavedModel: the chosen signature (same rule), called with keyword inputs.
* Keras: the `model.inputs` names, fed in the model's own input order.

A runner is given the per-sample shape of every input (free dimensions
resolved, `set_sample_shapes`), prepared for one (batch size, thread count),
then called many times with the same inputs::

    runner.set_sample_shapes({"tokens": (45,)})   # optional: else synthetic lengths
    runner.prepare(batch_size=8, threads=2)
    inputs = runner.make_inputs(np.random.default_rng(0))   # {input name: array}
    runner.run_once(inputs)          # one call = one batch; {output name: numpy array}
    runner.close()

What one call includes, for every runner: setting the inputs, running the model
and copying the outputs back into numpy arrays, i.e. what an application does.

Random inputs: floats in [0, 1); integer inputs (ids) 0..9, or 0..input_dim-1
when a Keras Embedding reads the input directly; booleans 0/1; a quantized
.tflite input gets float data quantized with its scale and zero point (as
`core.optimize.runtime.quantize_input` does). Free dimensions without a shape
given take the documented synthetic lengths (`core.data.synth.synthetic_shape`),
never 1.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Protocol

import numpy as np

from core.benchmark.results import KERAS_MODES, DelegationInfo
from core.errors import BadInputError
from core.models.interface import INPUT, OUTPUT, ModelInterface, TensorSpec


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
    """One model input as prepared: its name, the batch's shape (batch first), dtype and value range."""

    name: str
    shape: tuple[int, ...]            # as prepared, batch first
    dtype: str                        # numpy dtype name
    quantization: tuple[float, int] | None = None   # (scale, zero_point) of a quantized .tflite input
    int_high: int | None = None       # integer inputs: random values 0 .. int_high - 1 (default INTEGER_HIGH)


class Runner(Protocol):
    name: str                 # "litert", "keras-predict", ...
    variant: str              # "fp32", "dynamic", "int8", "keras", ...
    uses_threads: bool        # False: the thread count is not the runner's to choose

    @property
    def interface(self) -> ModelInterface: ...          # the model's named inputs and outputs
    def feed_interface(self) -> ModelInterface: ...     # inputs as data feeds them (quantized inputs take floats)
    def set_sample_shapes(self, shapes: Mapping[str, tuple[int, ...]]) -> None: ...
    def sample_shapes(self) -> dict[str, tuple[int, ...]]: ...
    def prepare(self, batch_size: int, threads: int | None) -> None: ...
    def input_specs(self) -> list[InputSpec]: ...
    def make_inputs(self, rng: np.random.Generator) -> dict[str, np.ndarray]: ...
    def run_once(self, inputs: Mapping[str, np.ndarray]) -> Any: ...
    def close(self) -> None: ...


def quantize(values: np.ndarray, dtype: Any, quantization: tuple[float, int]) -> np.ndarray:
    """Float data for a quantized input, as `core.optimize.runtime.quantize_input` quantizes it."""
    from core.optimize.runtime import TensorDetail, quantize_input

    scale, zero_point = quantization
    detail = TensorDetail(name="", shape=(), dtype=np.dtype(dtype).name, scale=float(scale),
                          zero_point=int(zero_point))
    return quantize_input(np.asarray(values), detail)


def random_inputs(specs: list[InputSpec] | tuple[InputSpec, ...], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """{input name: array} of the right shape and type (see the module docstring for the value ranges)."""
    from core.data.synth import INTEGER_HIGH

    arrays: dict[str, np.ndarray] = {}
    for spec in specs:
        dtype = np.dtype(spec.dtype)
        if dtype.kind == "f":
            value = rng.random(spec.shape, dtype=np.float32).astype(dtype)
        elif dtype.kind in "iu" and spec.quantization and spec.quantization[0] > 0:
            value = quantize(rng.random(spec.shape, dtype=np.float32), dtype, spec.quantization)
        elif dtype.kind == "b":
            value = rng.integers(0, 2, size=spec.shape).astype(dtype)
        elif dtype.kind in "iu":
            high = max(1, int(spec.int_high or INTEGER_HIGH))
            value = rng.integers(0, high, size=spec.shape).astype(dtype)
        else:
            value = np.zeros(spec.shape, dtype=dtype)
        arrays[spec.name] = np.ascontiguousarray(value)
    return arrays


def resolve_sample_shape(spec: TensorSpec, given: tuple[int, ...] | None = None) -> tuple[tuple[int, ...], list[str]]:
    """The per-sample shape (no batch axis) an input runs at, and notes.

    `given` (the data's shape) wins when it fits the spec's rank and fixed sizes;
    otherwise free axes take the documented synthetic lengths (never 1).
    """
    from core.data.synth import synthetic_shape

    dims = tuple(spec.shape[1:])
    if given is not None:
        given = tuple(int(d) for d in given)
        if len(given) == len(dims) and all(d is None or d == g for d, g in zip(dims, given)):
            return given, []
    shape, notes = synthetic_shape(spec, 1)
    return tuple(shape[1:]), notes


class _NamedInputs:
    """What every runner shares: per-sample shapes by input name, random named inputs."""

    _shapes: dict[str, tuple[int, ...]] | None = None

    def feed_interface(self) -> ModelInterface:
        return self.interface

    def set_sample_shapes(self, shapes: Mapping[str, tuple[int, ...]]) -> None:
        self._shapes = {str(k): tuple(int(d) for d in v) for k, v in shapes.items()}

    def sample_shapes(self) -> dict[str, tuple[int, ...]]:
        """{input name: per-sample shape} the runner runs at (free axes resolved)."""
        given = self._shapes or {}
        return {spec.name: resolve_sample_shape(spec, given.get(spec.name))[0]
                for spec in self.feed_interface().inputs}

    def make_inputs(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return random_inputs(self.input_specs(), rng)


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


class LiteRTRunner(_NamedInputs):
    """A .tflite model in `ai_edge_litert`'s Interpreter, run through one signature.

    `threads` is the interpreter's `num_threads`; `xnnpack=False` builds the
    interpreter with BUILTIN_WITHOUT_DEFAULT_DELEGATES (LiteRT's own kernels
    only). `signature` chooses the signature (default ``serving_default`` or the
    only one). The batch size and free dimensions are set by resizing the
    signature's input tensors once per configuration; each call then sets the
    inputs by tensor index, invokes and reads the outputs (as an application
    does), without the signature runner's per-call resize and allocation.
    """

    name = "litert"
    uses_threads = True

    def __init__(self, model: bytes | str | os.PathLike, *, xnnpack: bool = True, variant: str | None = None,
                 signature: str | None = None, path: str | None = None) -> None:
        if isinstance(model, (bytes, bytearray, memoryview)):
            self._content: bytes | None = bytes(model)
            self._path: str | None = None
        else:
            self._content, self._path = None, os.fspath(model)
        self.path = path if path is not None else self._path
        self.xnnpack = xnnpack
        self.signature = signature
        self._variant = variant
        self._interpreter = None
        self._interface: ModelInterface | None = None
        self._feed: ModelInterface | None = None
        self._quant: dict[str, tuple[float, int]] = {}
        self._subgraph = 0
        self._in_index: dict[str, int] = {}
        self._out_index: dict[str, int] = {}
        self._specs: list[InputSpec] = []
        self.notes: list[str] = []
        self.delegation: DelegationInfo | None = None
        self._set_tensor = self._invoke = self._get_tensor = None
        if not xnnpack:
            self.name = "litert-no-xnnpack"

    @property
    def variant(self) -> str:
        if self._variant is None:
            if self._interpreter is None:
                self._build(1)
            self._variant = classify_tflite(self._interpreter)
        return self._variant

    @property
    def interface(self) -> ModelInterface:
        if self._interface is None:
            self._build(1)
        return self._interface

    def feed_interface(self) -> ModelInterface:
        """The inputs as data feeds them: a quantized input takes float data; the batch axis is free."""
        if self._feed is None:
            self._build(1)
        return self._feed

    def _build(self, threads: int):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        resolver = OpResolverType.AUTO if self.xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        kwargs = {"model_content": self._content} if self._content is not None else {"model_path": self._path}
        interpreter = Interpreter(num_threads=int(threads), experimental_op_resolver_type=resolver, **kwargs)
        self._interpreter = interpreter
        self._read_signature(interpreter)
        return interpreter

    def _read_signature(self, interpreter) -> None:
        """Names -> tensor indices (and the subgraph) for the chosen signature."""
        from core.models.signatures import tflite_interface, tflite_signature_keys

        keys = tflite_signature_keys(interpreter)
        if keys:
            interface = tflite_interface(interpreter, self.signature, path=self.path)
            runner = interpreter.get_signature_runner(interface.signature)
            ins, outs = runner.get_input_details(), runner.get_output_details()
            self._subgraph = int(interpreter._interpreter.GetSubgraphIndexFromSignature(interface.signature))
        else:
            if self.signature is not None:
                raise BadInputError(f"the .tflite model has no signatures, so it has no signature "
                                    f"{self.signature!r}", path=self.path)
            ins = {d["name"]: d for d in interpreter.get_input_details()}
            outs = {d["name"]: d for d in interpreter.get_output_details()}
            if len(ins) != len(interpreter.get_input_details()) or len(outs) != len(interpreter.get_output_details()):
                raise BadInputError("the .tflite model has no signature and several inputs or outputs share a "
                                    "name, so they cannot be told apart", path=self.path)
            interface = ModelInterface(
                inputs=tuple(_tflite_spec(n, d, INPUT) for n, d in ins.items()),
                outputs=tuple(_tflite_spec(n, d, OUTPUT) for n, d in outs.items()))
            self._subgraph = 0
            note = "the .tflite has no signature: its inputs and outputs are addressed by their tensor names"
            if note not in self.notes:
                self.notes.append(note)
        self._interface = interface
        self._in_details = {n: ins[n] for n in interface.input_names}
        self._in_index = {n: int(ins[n]["index"]) for n in interface.input_names}
        self._out_index = {n: int(outs[n]["index"]) for n in interface.output_names}
        self._quant = {}
        feed = []
        for spec in interface.inputs:
            scale, zero_point = ins[spec.name].get("quantization", (0.0, 0)) or (0.0, 0)
            dtype = spec.dtype
            if scale and np.dtype(spec.dtype).kind in "iu":
                self._quant[spec.name] = (float(scale), int(zero_point))
                dtype = "float32"
            feed.append(TensorSpec(shape=(None,) + tuple(spec.shape[1:]), dtype=dtype, name=spec.name))
        self._feed = ModelInterface(inputs=tuple(feed), outputs=interface.outputs, signature=interface.signature,
                                    signatures=interface.signatures)

    def prepare(self, batch_size: int, threads: int | None) -> None:
        self.close()
        interpreter = self._build(threads or 1)
        native = interpreter._interpreter
        subgraph = self._subgraph
        shapes = self.sample_shapes()
        for name, detail in self._in_details.items():
            current = [int(d) for d in detail["shape"]]
            if not current:
                if batch_size != 1:
                    raise BatchSizeUnsupported("the model takes a scalar input: batch size 1 only")
                continue
            wanted = [int(batch_size)] + list(shapes[name])
            if current != wanted:
                try:
                    native.ResizeInputTensor(self._in_index[name], np.array(wanted, dtype=np.int32), False, subgraph)
                except Exception as exc:  # noqa: BLE001
                    raise BatchSizeUnsupported(f"cannot resize input {name!r} to {tuple(wanted)}: {exc}") from exc
        try:
            native.AllocateTensors(subgraph)
        except Exception as exc:  # noqa: BLE001
            if batch_size != 1:
                raise BatchSizeUnsupported(
                    f"the model does not run at batch {batch_size} (it was probably converted with a fixed batch): "
                    f"{exc}") from exc
            raise
        self._specs = []
        for name in self._in_details:
            detail = interpreter._get_tensor_details(self._in_index[name], subgraph)
            self._specs.append(InputSpec(name, tuple(int(d) for d in detail["shape"]), np.dtype(detail["dtype"]).name,
                                         self._quant.get(name)))
        self._inputs_by_index = [(name, index) for name, index in self._in_index.items()]
        self._outputs_by_index = [(name, index) for name, index in self._out_index.items()]
        self._set_tensor, self._invoke, self._get_tensor = native.SetTensor, native.Invoke, native.GetTensor
        if subgraph == 0:
            self.delegation = delegation_info(interpreter, self.xnnpack)
        else:
            self.delegation = None
            note = (f"signature {self._interface.signature!r} runs in subgraph {subgraph}: which ops XNNPACK took "
                    "is not read for it")
            if note not in self.notes:
                self.notes.append(note)

    @property
    def interpreter(self):
        return self._interpreter

    def input_specs(self) -> list[InputSpec]:
        return list(self._specs)

    def run_once(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        # Kept lean: on a model that takes microseconds, every Python step here shows.
        set_tensor, subgraph = self._set_tensor, self._subgraph
        for name, index in self._inputs_by_index:
            set_tensor(index, inputs[name], subgraph)
        self._invoke(subgraph)
        get_tensor = self._get_tensor
        return {name: get_tensor(index, subgraph) for name, index in self._outputs_by_index}

    def close(self) -> None:
        self._interpreter = None
        self._set_tensor = self._invoke = self._get_tensor = None
        self._specs = []


def _tflite_spec(name: str, detail: dict, role: str) -> TensorSpec:
    signature = detail.get("shape_signature")
    shape = signature if signature is not None and len(signature) else detail.get("shape", ())
    dims = tuple(None if int(d) < 0 else int(d) for d in shape)
    return TensorSpec(shape=dims, dtype=np.dtype(detail["dtype"]).name, name=name, role=role)


# --------------------------------------------------------------------------- Keras

def embedding_limits(model) -> dict[str, int]:
    """{input name: input_dim} for inputs a Keras Embedding reads directly (best effort; {} when unknown)."""
    limits: dict[str, int] = {}
    try:
        inputs = {id(t): str(getattr(t, "name", "")) for t in (getattr(model, "inputs", None) or [])}
        for layer in getattr(model, "layers", []):
            if type(layer).__name__ != "Embedding" or not getattr(layer, "input_dim", None):
                continue
            for node in getattr(layer, "_inbound_nodes", []) or []:
                for tensor in getattr(node, "input_tensors", []) or []:
                    name = inputs.get(id(tensor))
                    if name:
                        limits[name] = min(limits.get(name, int(layer.input_dim)), int(layer.input_dim))
    except Exception:  # noqa: BLE001 - a bonus: 0..9 is always valid
        return {}
    return limits


class KerasRunner(_NamedInputs):
    """A Keras model run the ways users run it.

    Modes: "eager" (``model(x, training=False)``), "tf_function" (the same call
    wrapped once in ``tf.function``; the first call of each batch size traces it,
    which lands in the cold run), "predict_on_batch" and "predict"
    (``model.predict(x, batch_size=b, verbose=0)``, what most scripts do).
    `device` is a TensorFlow device string: "/CPU:0", "/GPU:0", ...
    Inputs are fed by `model.inputs` name in the model's input order; outputs
    come back as {output name: array}.
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
        self._interface: ModelInterface | None = None
        self._limits: dict[str, int] | None = None
        self._names: tuple[str, ...] = ()

    @property
    def interface(self) -> ModelInterface:
        if self._interface is None:
            from core.models.signatures import keras_interface

            try:
                self._interface = keras_interface(self.model)
            except BadInputError as exc:
                raise ValueError(exc.message) from None
        return self._interface

    def prepare(self, batch_size: int, threads: int | None) -> None:
        tf = self._tf = tensorflow()
        check_device(self.device, tf)
        self._batch = int(batch_size)
        self._names = self.interface.input_names
        if self._limits is None:
            self._limits = embedding_limits(self.model)
        if self.mode == "tf_function" and self._fn is None:
            model = self.model
            self._fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    def input_specs(self) -> list[InputSpec]:
        shapes = self.sample_shapes()
        limits = self._limits or {}
        return [InputSpec(spec.name, (self._batch,) + shapes[spec.name], spec.dtype,
                          int_high=limits.get(spec.name)) for spec in self.interface.inputs]

    def run_once(self, inputs: Mapping[str, np.ndarray]) -> Any:
        tf = self._tf
        feed = [inputs[name] for name in self._names]
        x = feed[0] if len(feed) == 1 else feed
        with tf.device(self.device):
            if self.mode == "predict":
                out = self.model.predict(x, batch_size=self._batch, verbose=0)
            elif self.mode == "predict_on_batch":
                out = self.model.predict_on_batch(x)
            else:
                out = self._fn(x) if self.mode == "tf_function" else self.model(x, training=False)
                # Copy back to host memory: on a GPU this is also where the call finishes.
                out = tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else np.asarray(t), out)
        return _named(out, self.interface.output_names)

    def close(self) -> None:
        self._fn = None


def _named(outputs: Any, names: tuple[str, ...]) -> Any:
    """{output name: array} for a Keras call's outputs; the raw outputs when they cannot be named."""
    from core.models.signatures import named_outputs

    try:
        return named_outputs(outputs, names)
    except (KeyError, ValueError, TypeError):
        return outputs


class SavedModelRunner(_NamedInputs):
    """A SavedModel folder called through one signature (`tf.saved_model.load`).

    `signature` chooses it (default ``serving_default``, else the only one;
    `core.models.signatures.choose_signature`). Inputs are the signature's
    keyword inputs by name; outputs come back as {output name: array}.
    """

    uses_threads = False
    variant = "saved_model"
    name = "savedmodel"

    def __init__(self, folder: str | os.PathLike, device: str = "/CPU:0", *, signature: str | None = None,
                 path: str | None = None) -> None:
        self.folder = os.fspath(folder)
        self.device = device
        self.signature = signature
        self.path = path if path is not None else self.folder
        self._fn = None
        self._loaded = None
        self._interface: ModelInterface | None = None
        self._batch = 1
        self._tf = None

    def load(self) -> ModelInterface:
        """Load the SavedModel and choose its signature; BadInputError when either fails."""
        if self._interface is None:
            from core.models.signatures import choose_signature, saved_model_interface

            tf = tensorflow()
            try:
                loaded = tf.saved_model.load(self.folder)
            except Exception as exc:  # noqa: BLE001 - an untrusted folder that fails to load is bad input
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise BadInputError(f"TensorFlow could not load the SavedModel: {first[:300]}", path=self.path,
                                    details=str(exc)) from None
            keys = list(getattr(loaded, "signatures", {}).keys())
            key = choose_signature(keys, self.signature, path=self.path)
            fn = loaded.signatures[key]
            self._interface = saved_model_interface(fn, key, keys, path=self.path)
            self._loaded, self._fn = loaded, fn
        return self._interface

    @property
    def interface(self) -> ModelInterface:
        return self.load()

    def prepare(self, batch_size: int, threads: int | None) -> None:
        tf = self._tf = tensorflow()
        check_device(self.device, tf)
        self.load()
        self._batch = int(batch_size)
        self._names = self._interface.input_names

    def input_specs(self) -> list[InputSpec]:
        shapes = self.sample_shapes()
        return [InputSpec(spec.name, (self._batch,) + shapes[spec.name], spec.dtype) for spec in self.interface.inputs]

    def run_once(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        tf = self._tf
        with tf.device(self.device):
            out = self._fn(**{name: tf.constant(inputs[name]) for name in self._names})
        return {key: value.numpy() for key, value in out.items()}

    def close(self) -> None:
        pass


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
