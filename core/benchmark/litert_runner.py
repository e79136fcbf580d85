"""The LiteRT runner: a `.tflite` model in `ai_edge_litert`'s Interpreter, run through
one signature (`LiteRTRunner`), and what is read from a prepared interpreter: which ops
the XNNPACK delegate took (`delegation_info`) and how the model was quantized
(`classify_tflite`).
"""

from __future__ import annotations

import os
from time import perf_counter
from typing import Any, Callable, Mapping, TypeVar

import numpy as np

from core.adapters import UpstreamChanged, litert
from core.adapters.litert import delegation_info  # noqa: F401 - re-exported (core.benchmark.runners)
from core.benchmark.results import DelegationInfo
from core.benchmark.runner_base import BatchSizeUnsupported, InputSource, InputSpec, _NamedInputs
from core.errors import BadInputError
from core.models.interface import INPUT, OUTPUT, ModelInterface, TensorSpec


# --------------------------------------------------------------------------- LiteRT

COMPUTE_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "BATCH_MATMUL", "TRANSPOSE_CONV", "CONV_3D"}

_T = TypeVar("_T")


def _required(value: _T | None, what: str) -> _T:
    """`value`, which the code before has set; RuntimeError naming `what` if it has not (a bug, not bad input)."""
    if value is None:
        raise RuntimeError(f"LiteRT runner: {what} is not set")
    return value


def classify_tflite(interpreter: Any) -> str:
    """Guess how a .tflite was quantized from its tensor types.

    "int16x8" (int16 activations), "int8" (integer compute ops), "dynamic"
    (int8 weights, float activations), "float16" (float16 weights dequantized
    at run time), "fp32", or "unknown" when this ai_edge_litert's node list
    cannot be read (`core.adapters.litert.nodes`).
    """
    dtypes = litert.tensor_dtypes(interpreter)

    def dtype(t: int) -> np.dtype[Any] | None:
        return dtypes.get(t)  # None: a tensor the interpreter gives no details for

    try:
        ops = [op for op in litert.nodes(interpreter) if op.name != "DELEGATE"]
    except UpstreamChanged:
        return "unknown"
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
    signature's input tensors once per configuration.

    `run_once` (the cold call, warm-up, other users) sets the inputs by tensor
    index, invokes and reads the outputs, without the signature runner's per-call
    resize and allocation. The measured samples come from `time_calls`, whose
    timed region is one ``interpreter.invoke()`` and nothing else (see there).
    """

    name = "litert"
    uses_threads = True

    def __init__(
        self,
        model: bytes | str | os.PathLike[str],
        *,
        xnnpack: bool = True,
        variant: str | None = None,
        signature: str | None = None,
        path: str | None = None,
    ) -> None:
        if isinstance(model, (bytes, bytearray, memoryview)):
            self._content: bytes | None = bytes(model)
            self._path: str | None = None
        else:
            self._content, self._path = None, os.fspath(model)
        self.path = path if path is not None else self._path
        self.xnnpack = xnnpack
        self.signature = signature
        self._variant = variant
        self._interpreter: Any = None  # ai_edge_litert's Interpreter (untyped) once built
        self._interface: ModelInterface | None = None
        self._feed: ModelInterface | None = None
        self._quant: dict[str, tuple[float, int]] = {}
        self._subgraph = 0
        self._in_index: dict[str, int] = {}
        self._out_index: dict[str, int] = {}
        self._specs: list[InputSpec] = []
        self.notes: list[str] = []
        self.delegation: DelegationInfo | None = None
        self._inputs_by_index: list[tuple[str, int]] = []
        self._outputs_by_index: list[tuple[str, int]] = []
        if not xnnpack:
            self.name = "litert-no-xnnpack"

    @property
    def variant(self) -> str:
        """The variant's name as given, else how the .tflite was quantized (`classify_tflite`)."""
        if self._variant is None:
            if self._interpreter is None:
                self._build(1)
            self._variant = classify_tflite(self._interpreter)
        return self._variant

    @property
    def interface(self) -> ModelInterface:
        """The chosen signature's named inputs and outputs (builds a 1-thread interpreter the first time).

        Raises `BadInputError` for a signature the model does not have, or one without signatures whose
        tensors share names.
        """
        if self._interface is None:
            self._build(1)
        return _required(self._interface, "the interface")

    def feed_interface(self) -> ModelInterface:
        """The inputs as data feeds them: a quantized input takes float data; the batch axis is free."""
        if self._feed is None:
            self._build(1)
        return _required(self._feed, "the feed interface")

    def _build(self, threads: int) -> Any:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        resolver = OpResolverType.AUTO if self.xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        kwargs = {"model_content": self._content} if self._content is not None else {"model_path": self._path}
        interpreter = Interpreter(num_threads=int(threads), experimental_op_resolver_type=resolver, **kwargs)
        self._interpreter = interpreter
        self._read_signature(interpreter)
        return interpreter

    def _read_signature(self, interpreter: Any) -> None:
        """Names -> tensor indices (and the subgraph) for the chosen signature."""
        from core.models.signatures import tflite_interface, tflite_signature_keys

        keys = tflite_signature_keys(interpreter)
        if keys:
            interface = tflite_interface(interpreter, self.signature, path=self.path)
            runner = interpreter.get_signature_runner(interface.signature)
            ins, outs = runner.get_input_details(), runner.get_output_details()
            self._subgraph = litert.signature_subgraph(interpreter, _required(interface.signature, "the signature"))
        else:
            if self.signature is not None:
                raise BadInputError(
                    f"the .tflite model has no signatures, so it has no signature {self.signature!r}", path=self.path
                )
            ins = {d["name"]: d for d in interpreter.get_input_details()}
            outs = {d["name"]: d for d in interpreter.get_output_details()}
            if len(ins) != len(interpreter.get_input_details()) or len(outs) != len(interpreter.get_output_details()):
                raise BadInputError(
                    "the .tflite model has no signature and several inputs or outputs share a "
                    "name, so they cannot be told apart",
                    path=self.path,
                )
            interface = ModelInterface(
                inputs=tuple(_tflite_spec(n, d, INPUT) for n, d in ins.items()),
                outputs=tuple(_tflite_spec(n, d, OUTPUT) for n, d in outs.items()),
            )
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
        self._feed = ModelInterface(
            inputs=tuple(feed),
            outputs=interface.outputs,
            signature=interface.signature,
            signatures=interface.signatures,
        )

    def prepare(self, batch_size: int, threads: int | None) -> None:
        """A fresh interpreter on `threads` threads (None: 1) with every input resized to `batch_size`.

        Reads which ops XNNPACK took (`delegation`, None with a note when unknown). Raises
        `BatchSizeUnsupported` when an input cannot take that batch size.
        """
        self.close()
        interpreter = self._build(threads or 1)
        subgraph = self._subgraph
        native = litert.native(interpreter, subgraph)
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
                    f"{exc}"
                ) from exc
            raise
        self._specs = []
        for name in self._in_details:
            detail = litert.tensor_details(interpreter, self._in_index[name], subgraph)
            self._specs.append(
                InputSpec(
                    name, tuple(int(d) for d in detail["shape"]), np.dtype(detail["dtype"]).name, self._quant.get(name)
                )
            )
        self._inputs_by_index = [(name, index) for name, index in self._in_index.items()]
        self._outputs_by_index = [(name, index) for name, index in self._out_index.items()]
        # No bound method of the native interpreter is kept: `Interpreter.invoke()` (timed in
        # `time_calls`) refuses to run while anything else holds a reference to it.
        if subgraph == 0:
            # Private node API (core.adapters.litert): unreadable means "unknown", never a failed run.
            self.delegation, why = litert.read_delegation(interpreter, self.xnnpack)
            note = f"which ops XNNPACK took is unknown: {why}"
            if self.delegation is None and note not in self.notes:
                self.notes.append(note)
        else:
            self.delegation = None
            note = (
                f"signature {self.interface.signature!r} runs in subgraph {subgraph}: which ops XNNPACK took "
                "is not read for it"
            )
            if note not in self.notes:
                self.notes.append(note)

    @property
    def interpreter(self) -> Any:
        """The prepared `ai_edge_litert` Interpreter (None before `prepare` and after `close`)."""
        return self._interpreter

    def input_specs(self) -> list[InputSpec]:
        """The prepared inputs (empty before `prepare`): name, batch-first shape, dtype, quantization."""
        return list(self._specs)

    def run_once(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Set `inputs` ({input name: array}), invoke, and return copies of the outputs by name."""
        subgraph = self._subgraph
        native = litert.native(self._interpreter, subgraph)
        for name, index in self._inputs_by_index:
            native.SetTensor(index, inputs[name], subgraph)
        native.Invoke(subgraph)
        return {name: native.GetTensor(index, subgraph) for name, index in self._outputs_by_index}

    def set_inputs(self, inputs: Mapping[str, np.ndarray]) -> None:
        """Copy `inputs` ({input name: array}) into the prepared interpreter's input tensors."""
        subgraph = self._subgraph
        native = litert.native(self._interpreter, subgraph)
        for name, index in self._inputs_by_index:
            native.SetTensor(index, inputs[name], subgraph)

    def invoker(self) -> Callable[[], Any]:
        """The call that runs the prepared model on the inputs already set, and nothing else: what
        `time_calls` times (and the XNNPACK ablation, `core.benchmark.facts`, so the two compare)."""
        interpreter = self._interpreter
        # invoke() raises while any other code holds a reference to the native interpreter;
        # then (and for another subgraph) the native Invoke is used, without that ~0.2 us check.
        if self._subgraph == 0 and litert.public_invoke_allowed(interpreter):
            return interpreter.invoke  # type: ignore[no-any-return]
        return litert.invoke_subgraph(interpreter, self._subgraph)

    def time_calls(self, count: int, inputs: InputSource, cancel: Any = None) -> list[float]:
        """Milliseconds per ``invoke()`` for `count` calls, in call order (the measured samples).

        The timed region is ``start = perf_counter(); invoke(); perf_counter() - start``
        and nothing else, so a model of a few microseconds is measured as a minimal
        loop measures it. Outside it: setting the inputs (once before the loop for
        fixed `inputs`, before every call when `inputs` is a callable giving the next
        batch), converting seconds to milliseconds (after the loop). Outputs are not
        read here (`run_once` reads them). `invoke` is `Interpreter.invoke()`, the
        public call an application makes (it includes LiteRT's own check that no
        numpy view into the interpreter is alive, ~0.2 µs); a signature in another
        subgraph (or an interpreter that other code holds a native reference to) is
        invoked through the native interpreter with its index. `cancel` is not
        checked here: the caller checks it between blocks of calls
        (`core.benchmark.sweep.measure_config`).
        """
        invoke = self.invoker()
        clock = perf_counter  # the module's name, read per block so a test can replace it
        seconds: list[float] = []
        append = seconds.append
        if callable(inputs):
            set_inputs = self.set_inputs
            for _ in range(count):
                set_inputs(inputs())
                start = clock()
                invoke()
                append(clock() - start)
        else:
            self.set_inputs(inputs)
            for _ in range(count):
                start = clock()
                invoke()
                append(clock() - start)
        return [s * 1000.0 for s in seconds]

    def close(self) -> None:
        """Drop the interpreter (the next `prepare` builds a fresh one)."""
        self._interpreter = None
        self._specs = []


def _tflite_spec(name: str, detail: dict[str, Any], role: str) -> TensorSpec:
    signature = detail.get("shape_signature")
    shape = signature if signature is not None and len(signature) else detail.get("shape", ())
    dims = tuple(None if int(d) < 0 else int(d) for d in shape)
    return TensorSpec(shape=dims, dtype=np.dtype(detail["dtype"]).name, name=name, role=role)
