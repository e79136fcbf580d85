"""LiteRT's `CompiledModel` on its GPU accelerator (and on the CPU, for comparison): the one
adapter over that API in Litesmith.

    python -m core.benchmark.litert_gpu MODEL.tflite [--accelerator gpu|cpu] [--batch 1,8,64]
                                        [--runs 30] [--threads N]

`ai_edge_litert` >= 2.3 ships `CompiledModel` with `HardwareAccelerator.GPU`: a WebGPU
accelerator (Dawn) that runs over Vulkan on a desktop GPU. It needs `libvulkan.so.1` and a
Vulkan driver; without them compiling for the GPU raises RuntimeError, and LiteRT writes
why on stderr ("Couldn't load Vulkan: ...", "No adapters found"). `CompiledModelAdapter` turns
that into `AcceleratorUnavailable` with one line naming the cause; `measure_litert`
reports it as the state of the run (`LiteRTDeviceRun.available` False), never a crash.

Each batch size runs a copy of the model with its batch axis fixed at that size
(`fixed_batch`), compiled anew: GPU accelerators plan for static shapes, and the buffers
`CompiledModel` makes after `resize_input_tensor` keep their old size.

What one timed call includes (milliseconds per batch, `time.perf_counter`):
``write_ms`` copying the inputs into LiteRT's input buffers (the host-to-device copy:
on the GPU accelerator these are its buffers), ``run_ms`` running the model and
``read_ms`` copying the outputs back into numpy; ``call_ms`` is their sum, per call.
On the GPU the run may return before the work ends and the read wait for it: only
``call_ms`` (what the crossover compares) is the whole cost; its parts show where it goes.
Figures are the median over the measured calls (after a cold call and `warmup` calls).

`is_fully_accelerated` comes from `CompiledModel.is_fully_accelerated()`. The Python
API does not say which ops fell back to the CPU; the accelerator's own log lines about
unsupported ops, when it writes any while compiling, are kept in `accelerator_log`.

No TensorFlow is imported here: this runs on machines that only have `ai_edge_litert`.
"""

from __future__ import annotations

import argparse
import ctypes.util
import glob
import os
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from core.benchmark.crossover import BatchTiming
from core.engine.context import CancelToken
from core.native_output import captured_stderr

ACCELERATORS = ("gpu", "cpu")
# LiteRT/Dawn stderr lines that say why the GPU accelerator did not start, or what it left out.
_REASON_LINE = re.compile(
    r"(?i)(vulkan|no adapters found|failed to initiali[sz]e webgpu|vk_error|no gpu"
    r"|gpu accelerator)"
)
# Lines about accelerators this runner does not ask for (NPU vendors' plugins) are never the reason.
_UNRELATED_LINE = re.compile(r"(?i)(openvino|npu|qualcomm|mediatek|compiler_plugin|dispatch)")
_OPS_LINE = re.compile(r"(?i)(unsupported|not supported|fall(s|ing)? ?back|replacing \d+ out of \d+)")


class AcceleratorUnavailable(RuntimeError):
    """LiteRT's accelerator could not start here; `str()` is one line saying why."""


@dataclass(frozen=True)
class LiteRTDeviceRun:
    """A .tflite on one LiteRT accelerator: did it start, was the whole model accelerated, timings."""

    model: str
    accelerator: str  # "gpu" or "cpu"
    available: bool
    reason: str = ""  # one line when not available
    fully_accelerated: bool | None = None
    compile_ms: float = float("nan")
    threads: int | None = None  # CPU threads (the CPU accelerator only)
    accelerator_log: tuple[str, ...] = ()  # LiteRT's lines about unsupported ops / fallback, if any
    timings: tuple[BatchTiming, ...] = field(default=())


def _vulkan_loader() -> str | None:
    return ctypes.util.find_library("vulkan")


def gpu_start_reason(
    error: str, log_lines: Sequence[str], *, vulkan_loader: str | None, gpu_devices: Sequence[str]
) -> str:
    """One line saying why LiteRT's GPU accelerator did not start.

    From the exception text, LiteRT's stderr lines (`log_lines`), whether a Vulkan
    loader library was found and which GPU device nodes exist (/dev/nvidia*, /dev/dri/*).
    """
    causes: list[str] = []
    if not vulkan_loader:
        causes.append("no Vulkan loader (libvulkan.so.1) on this machine")
    if not gpu_devices:
        causes.append("no GPU device (/dev/nvidia*, /dev/dri)")
    said = []
    for line in log_lines:
        if (
            _REASON_LINE.search(line)
            and not _UNRELATED_LINE.search(line)
            and not line.startswith("INFO")
            and not line.strip().startswith("at ")
        ):
            text = re.sub(r"^\s*(ERROR|WARNING|Warning|E\d{4}[^\]]*\]):?\s*(\[[^\]]*\]\s*)?", "", line).strip()
            if text and text[:100] not in said:
                said.append(text[:100])
    detail = "; ".join(said[:2]) or (error.strip().splitlines() or ["RuntimeError"])[0]
    head = "LiteRT's GPU accelerator (WebGPU over Vulkan) did not start"
    return f"{head}: {', '.join(causes) + '; ' if causes else ''}LiteRT says: {detail}"[:420]


def _gpu_devices() -> list[str]:
    return sorted(glob.glob("/dev/nvidia[0-9]*") + glob.glob("/dev/dri/renderD*"))


def fixed_batch(tflite: bytes, batch_size: int) -> bytes:
    """The model with its batch axis fixed at `batch_size`: every tensor whose shape signature
    starts with -1 (a free batch) gets that size, in every subgraph.

    Why not `resize_input_tensor`: a buffer `CompiledModel` makes after a resize keeps the
    old size (running into it corrupts memory, seen with ai_edge_litert 2.3), and GPU
    accelerators plan for static shapes. A fixed-batch copy compiles like any model.
    Raises ValueError when the model's inputs have a fixed batch other than `batch_size`.
    """
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(tflite))
    for subgraph in model.subgraphs or ():
        tensors = subgraph.tensors or []
        for index in subgraph.inputs if subgraph is model.subgraphs[0] else ():
            tensor = tensors[int(index)]
            signature = tensor.shapeSignature if tensor.shapeSignature is not None else tensor.shape
            if signature is not None and len(signature) and int(signature[0]) not in (-1, batch_size):
                raise ValueError(
                    f"the model does not take batch {batch_size}: its input "
                    f"{(tensor.name or b'').decode(errors='replace')!r} has a fixed batch of "
                    f"{int(signature[0])}"
                )
        for tensor in tensors:
            signature = tensor.shapeSignature
            if signature is None or not len(signature) or int(signature[0]) != -1:
                continue
            shape = np.array(tensor.shape, dtype=np.int32).copy()
            shape[0] = batch_size
            tensor.shape = shape
            signature = np.array(signature, dtype=np.int32).copy()
            signature[0] = batch_size
            tensor.shapeSignature = signature
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _read_model(model: str | os.PathLike[str] | bytes) -> bytes:
    if isinstance(model, (bytes, bytearray)):
        return bytes(model)
    with open(model, "rb") as handle:
        return handle.read()


class CompiledModelAdapter:
    """One .tflite compiled for one accelerator at one batch size, with LiteRT's own buffers.

    `model` is a path or the .tflite bytes; `batch_size` None compiles it as it is.
    Raises AcceleratorUnavailable (one line) when the accelerator cannot start,
    ValueError when the model has no such signature or cannot take the batch size.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | bytes,
        accelerator: str = "gpu",
        threads: int | None = None,
        signature: str | None = None,
        batch_size: int | None = None,
    ) -> None:
        if accelerator not in ACCELERATORS:
            raise ValueError(f"unknown accelerator {accelerator!r}; choose from {', '.join(ACCELERATORS)}")
        from ai_edge_litert.compiled_model import CompiledModel
        from ai_edge_litert.hardware_accelerator import HardwareAccelerator
        from ai_edge_litert.options import CpuOptions, Options

        self.accelerator = accelerator
        content = _read_model(model)
        if batch_size is not None:
            content = fixed_batch(content, int(batch_size))
        # GPU with the CPU as fallback for ops the GPU cannot take (LiteRT's advice); GPU alone
        # would refuse a model with one unsupported op instead of telling us it was not fully accelerated.
        flags = (HardwareAccelerator.GPU | HardwareAccelerator.CPU) if accelerator == "gpu" else HardwareAccelerator.CPU
        options = Options(hardware_accelerators=flags, cpu_options=CpuOptions(num_threads=int(threads or 1)))
        started = time.perf_counter()
        with captured_stderr() as lines:
            try:
                self._model = CompiledModel.from_buffer(content, options=options)
                failure = None
            except RuntimeError as exc:
                failure = str(exc)
        self.compile_ms = (time.perf_counter() - started) * 1000.0
        self.log = [line for line in lines if _OPS_LINE.search(line)]
        if failure is not None:
            if accelerator == "gpu":
                raise AcceleratorUnavailable(
                    gpu_start_reason(failure, lines, vulkan_loader=_vulkan_loader(), gpu_devices=_gpu_devices())
                )
            raise AcceleratorUnavailable(
                f"LiteRT's CPU accelerator did not start: {(failure.strip().splitlines() or ['RuntimeError'])[0]}"
            )
        signatures = self._model.get_signature_list()
        if not signatures:
            raise ValueError("the .tflite has no signature; LiteRT's CompiledModel runs signatures only")
        self.signature = (
            signature
            if signature is not None
            else ("serving_default" if "serving_default" in signatures else next(iter(signatures)))
        )
        if self.signature not in signatures:
            raise ValueError(f"no signature {self.signature!r} (the model has {', '.join(signatures)})")
        self.input_details = dict(self._model.get_input_tensor_details(self.signature))
        self.output_details = dict(self._model.get_output_tensor_details(self.signature))
        self._inputs: dict[str, Any] = {}
        self._outputs: dict[str, Any] = {}

    @property
    def fully_accelerated(self) -> bool:
        """CompiledModel.is_fully_accelerated(): every op runs on the accelerator."""
        return bool(self._model.is_fully_accelerated())

    def prepare(self) -> dict[str, tuple[tuple[int, ...], str]]:
        """Make the input and output buffers; returns {input name: (shape, dtype)}."""
        self._inputs = {
            name: self._model.create_input_buffer_by_name(self.signature, name) for name in self.input_details
        }
        self._outputs = {
            name: self._model.create_output_buffer_by_name(self.signature, name) for name in self.output_details
        }
        return {
            name: (tuple(int(d) for d in detail["shape"]), str(detail["dtype"]))
            for name, detail in self.input_details.items()
        }

    def write(self, inputs: Mapping[str, np.ndarray]) -> None:
        """Copy {input name: array} into the input buffers (on a GPU: the host-to-device copy)."""
        for name, buffer in self._inputs.items():
            buffer.write(inputs[name])

    def run(self) -> None:
        """One call of the signature on the buffers written."""
        self._model.run_by_name(self.signature, self._inputs, self._outputs)

    def read(self) -> dict[str, np.ndarray]:
        """The outputs copied back to new numpy arrays, {output name: array} at their tensor shapes."""
        out = {}
        for name, buffer in self._outputs.items():
            shape = tuple(int(d) for d in self.output_details[name]["shape"])
            out[name] = buffer.read(int(np.prod(shape)), str(self.output_details[name]["dtype"])).reshape(shape)
        return out

    def close(self) -> None:
        """Drop the buffers and close the compiled model."""
        self._inputs, self._outputs = {}, {}
        self._model.close()


def random_feed(shapes: Mapping[str, tuple[tuple[int, ...], str]], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Floats in [0, 1), integers 0..9 (as `core.benchmark.runner_base.random_inputs`)."""
    feed = {}
    for name, (shape, dtype) in shapes.items():
        kind = np.dtype(dtype).kind
        value = rng.random(shape, dtype=np.float32) if kind == "f" else rng.integers(0, 10, size=shape)
        feed[name] = np.ascontiguousarray(value.astype(dtype))
    return feed


def time_calls(
    adapter: CompiledModelAdapter,
    batch_size: int,
    *,
    runs: int = 30,
    warmup: int = 3,
    seed: int = 0,
    cancel: CancelToken | None = None,
) -> BatchTiming:
    """Median write / run / read milliseconds of `runs` calls (see the module docstring)."""
    try:
        feed = random_feed(adapter.prepare(), np.random.default_rng(seed))
        started = time.perf_counter()
        adapter.write(feed)
        adapter.run()
        adapter.read()
        cold = (time.perf_counter() - started) * 1000.0
    except (ValueError, RuntimeError) as exc:
        return BatchTiming(int(batch_size), error=(str(exc).strip().splitlines() or [type(exc).__name__])[0][:300])
    for _ in range(max(0, warmup)):
        adapter.write(feed)
        adapter.run()
        adapter.read()
    writes, running, reads, calls = [], [], [], []
    clock = time.perf_counter
    for _ in range(max(1, runs)):
        if cancel is not None:
            cancel.raise_if_cancelled()
        t0 = clock()
        adapter.write(feed)
        t1 = clock()
        adapter.run()
        t2 = clock()
        adapter.read()
        t3 = clock()
        writes.append(t1 - t0)
        running.append(t2 - t1)
        reads.append(t3 - t2)
        calls.append(t3 - t0)
    ms = lambda values: float(np.median(values)) * 1000.0  # noqa: E731
    return BatchTiming(
        int(batch_size),
        runs=len(calls),
        write_ms=ms(writes),
        run_ms=ms(running),
        read_ms=ms(reads),
        call_ms=ms(calls),
        cold_ms=cold,
    )


def measure_litert(
    model: str | os.PathLike[str] | bytes,
    accelerator: str = "gpu",
    batch_sizes: Sequence[int] = (1,),
    *,
    runs: int = 30,
    warmup: int = 3,
    threads: int | None = None,
    signature: str | None = None,
    label: str | None = None,
    cancel: CancelToken | None = None,
) -> LiteRTDeviceRun:
    """Compile `model` for `accelerator` at each batch size (a fixed-batch copy each) and time it.

    An accelerator that cannot start gives ``available=False`` and its one-line
    `reason`; a batch size the model cannot take gives that timing's `error`.
    ``fully_accelerated`` is False when any batch size's compilation was not.
    ``compile_ms`` is the first batch size's compile time (later ones are in the log).
    ValueError when the .tflite has no usable signature.
    """
    name = label or ("<tflite bytes>" if isinstance(model, (bytes, bytearray)) else os.fspath(model))
    content = _read_model(model)
    timings: list[BatchTiming] = []
    accelerated: list[bool] = []
    log: list[str] = []
    compile_ms = float("nan")
    for batch in batch_sizes:
        try:
            adapter = CompiledModelAdapter(
                content, accelerator, threads=threads, signature=signature, batch_size=int(batch)
            )
        except AcceleratorUnavailable as exc:
            if not timings:  # the accelerator does not start at all: that is the run's state
                return LiteRTDeviceRun(model=name, accelerator=accelerator, available=False, reason=str(exc))
            timings.append(BatchTiming(int(batch), error=str(exc)))
            continue
        except ValueError as exc:
            if "batch" not in str(exc):
                raise
            timings.append(BatchTiming(int(batch), error=str(exc)))
            continue
        try:
            if compile_ms != compile_ms:
                compile_ms = adapter.compile_ms
            accelerated.append(adapter.fully_accelerated)
            log += [line for line in adapter.log if line not in log]
            timings.append(time_calls(adapter, int(batch), runs=runs, warmup=warmup, cancel=cancel))
        finally:
            adapter.close()
    return LiteRTDeviceRun(
        model=name,
        accelerator=accelerator,
        available=True,
        fully_accelerated=all(accelerated) if accelerated else None,
        compile_ms=compile_ms,
        threads=(threads or 1) if accelerator == "cpu" else None,
        accelerator_log=tuple(log[:20]),
        timings=tuple(timings),
    )


def format_run(run: LiteRTDeviceRun) -> str:
    """A few lines for people: the state, then one line per batch size."""
    head = f"LiteRT {run.accelerator.upper()}  {run.model}"
    if not run.available:
        return f"{head}\n  not available: {run.reason}"
    if run.accelerator == "gpu":
        accel = {
            True: "the whole model ran on the GPU",
            False: "NOT fully accelerated: some ops ran on the CPU",
            None: "acceleration unknown",
        }[run.fully_accelerated]
    else:
        accel = {
            True: "XNNPACK took the whole model",
            False: "some ops outside XNNPACK (LiteRT's own kernels)",
            None: "acceleration unknown",
        }[run.fully_accelerated] + f", {run.threads} thread(s)"
    lines = [head, f"  compiled in {run.compile_ms:.0f} ms (first batch size); {accel}"]
    lines += [f"  log: {line}" for line in run.accelerator_log]
    lines.append(
        f"  {'batch':>6} {'write ms':>9} {'run ms':>9} {'read ms':>9} {'call ms':>9} {'ms/sample':>10} "
        f"{'samples/s':>11}"
    )
    for t in run.timings:
        if t.error:
            lines.append(f"  {t.batch_size:>6} not measured: {t.error}")
        else:
            lines.append(
                f"  {t.batch_size:>6} {t.write_ms:>9.3f} {t.run_ms:>9.3f} {t.read_ms:>9.3f} "
                f"{t.call_ms:>9.3f} {t.per_sample_ms:>10.4f} {t.throughput:>11,.0f}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Exit codes: 0 measured (or the accelerator's state reported), 2 usage, 3 bad model."""
    from core.cli.bench import int_list

    parser = argparse.ArgumentParser(prog="python -m core.benchmark.litert_gpu", description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--accelerator", choices=ACCELERATORS, default="gpu")
    parser.add_argument("--batch", type=int_list, default=(1,))
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None, help="CPU accelerator threads (default 1)")
    args = parser.parse_args(argv)
    if not os.path.isfile(args.model):
        print(f"error: {args.model}: no such file", file=sys.stderr)
        return 3
    try:
        run = measure_litert(args.model, args.accelerator, args.batch, runs=args.runs, threads=args.threads)
    except ValueError as exc:
        print(f"error: {args.model}: {exc}", file=sys.stderr)
        return 3
    print(format_run(run))  # the JSON form is part of `litesmith bench --devices --json` (crossover curves)
    return 0


if __name__ == "__main__":
    sys.exit(main())
