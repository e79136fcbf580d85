"""The CPU-versus-GPU sweep: one engine job that measures every device asked for over the
batch sizes and finds each GPU's crossover (`core.benchmark.crossover`).

    engine.submit(crossover_sweep, "model.tflite", BenchConfig(batch_sizes=(1, 8, 64)),
                  devices=("cpu", "gpu"), keras_model="model.keras")
    python -m core.benchmark.gpu_sweep MODEL [--keras-model K.keras] [--batch 1,8,64] [--threads 1,4]
                                       [--runs 20] [--json]        # in-process, no engine, no TensorFlow needed

Devices (each a `DeviceCurve`; one that cannot run is a curve with its reason, never an error):

* ``cpu`` (always measured: it is what the GPU is compared with): the `.tflite` in LiteRT's
  Interpreter with XNNPACK, through `benchmark_model` (the loop `litesmith bench` uses), at
  every thread count of ``config.threads``; per batch size the fastest thread count counts.
  A call = set inputs, invoke, read outputs; figure = its median (p50).
* ``gpu``: LiteRT's GPU accelerator on the `.tflite` (`core.benchmark.litert_gpu`), Keras on
  the GPU through TensorFlow when TensorFlow sees one (``config.device``, memory cap
  ``config.gpu_memory_limit_mb``), and Keras 3 on JAX in its own process
  (`core.benchmark.keras_jax_child`) when JAX has CUDA.

The `.tflite` is MODEL when MODEL is one; for a `.keras` MODEL it is converted here in fp32
(needs TensorFlow). The Keras model is MODEL when it is one, else ``keras_model``.
The result is a `SweepResult`: the CPU run as `litesmith bench` reports it, and the crossover.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import dataclass
from functools import partial
from typing import Any, Sequence

from core.benchmark.crossover import (
    CPU_TFLITE,
    KERAS_TF_GPU,
    LITERT_GPU,
    BatchTiming,
    CrossoverResult,
    DeviceCurve,
    best_over_threads,
    build_result,
)
from core.benchmark.keras_timing import time_predict
from core.benchmark.results import BenchConfig, BenchmarkResult
from core.engine.context import CancelToken, Reporter


@dataclass(frozen=True)
class SweepResult:
    """The CPU-versus-GPU job's result: the CPU bench (as `litesmith bench` reports it) and the crossover."""

    bench: BenchmarkResult  # the CPU .tflite run, as `litesmith bench` reports it
    crossover: CrossoverResult


def parse_devices(text: str) -> tuple[str, ...]:
    """ "cpu,gpu" -> ("cpu", "gpu"); ValueError on anything else. The CPU is always included."""
    wanted = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [d for d in wanted if d not in ("cpu", "gpu")]
    if unknown or not wanted:
        raise ValueError(f"--devices takes cpu and/or gpu, separated by commas (got {text!r})")
    return ("cpu",) + (("gpu",) if "gpu" in wanted else ())


def cpu_curve(result: BenchmarkResult) -> DeviceCurve:
    """The CPU curve from a `benchmark_model` run: per batch size, the thread count with the lowest p50."""
    by_threads: dict[int, list[BatchTiming]] = {}
    for config in result.configs:
        threads = int(config.threads or 1)
        if config.ok:
            timing = BatchTiming(
                config.batch_size, runs=config.stats.n, call_ms=config.stats.p50, cold_ms=config.stats.cold_ms
            )
        else:
            timing = BatchTiming(config.batch_size, error=config.error or "not measured")
        by_threads.setdefault(threads, []).append(timing)
    timings = best_over_threads(by_threads)
    import platform

    cores = os.cpu_count() or 0
    return DeviceCurve(
        CPU_TFLITE,
        "cpu",
        any(t.ok for t in timings),
        reason="" if any(t.ok for t in timings) else "no batch size could be measured on the CPU",
        device=f"{platform.machine()}, {cores} logical CPUs",
        timings=timings,
    )


def _tensorflow_gpus() -> tuple[Any, list[Any], str]:
    """(tf or None, its GPUs, why none): TensorFlow's view, without starting its devices."""
    try:
        from core.tf_runtime import import_tensorflow

        tf = import_tensorflow()
    except ImportError as exc:
        return None, [], f"TensorFlow is not installed ({exc})"
    from core.hardware import CUDA_PROBE_NOISE
    from core.native_output import drop_stderr_lines

    with drop_stderr_lines(CUDA_PROBE_NOISE):  # TensorFlow's expected "failed call to cuInit" on a CPU machine
        gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return tf, gpus, ""
    built = None
    try:
        built = bool(tf.test.is_built_with_cuda())
    except Exception:  # noqa: BLE001
        pass
    why = (
        "this TensorFlow is a CPU-only build"
        if built is False
        else "TensorFlow sees no GPU (no NVIDIA driver, or its CUDA libraries do not load)"
    )
    return tf, [], why


def keras_tf_gpu_curve(
    keras_path: str, batch_sizes: Sequence[int], *, tf: Any, device: str, runs: int, warmup: int, cancel: CancelToken
) -> DeviceCurve:
    """Keras on TensorFlow's GPU: predict_on_batch per call; copy = tf.identity of the batch onto the GPU.

    `tf` is the TensorFlow module, `device` a TensorFlow device string ("/GPU:0"); free input dimensions
    take 8. The loop is `core.benchmark.keras_timing.time_predict` (shared with Keras on JAX); a batch
    size that fails is that timing's error. Raises `BadInputError` when the Keras file does not load,
    `Cancelled` between batch sizes.
    """
    import numpy as np

    from core.models.loading import load_source

    model = load_source(keras_path).keras_model
    from core.models.signatures import keras_feed

    inputs = list(model.inputs)
    rng = np.random.default_rng(0)
    timings = []
    for batch in batch_sizes:
        cancel.raise_if_cancelled()
        xs = [
            rng.random((int(batch),) + tuple(int(d or 8) for d in tuple(t.shape)[1:]), dtype=np.float32) for t in inputs
        ]
        x = keras_feed(model, xs)

        def copy_in(xs: list[np.ndarray] = xs) -> None:
            # a scalar read back waits for the copy (TensorFlow's GPU ops are asynchronous)
            for array in xs:
                tf.reduce_sum(tf.identity(array)[..., :1]).numpy()

        timings.append(
            time_predict(
                int(batch),
                partial(model.predict_on_batch, x),
                copy_in,
                runs=runs,
                warmup=warmup,
                scope=partial(tf.device, device),
            )
        )
    return DeviceCurve(
        KERAS_TF_GPU,
        "gpu",
        True,
        device=device,
        timings=tuple(timings),
        notes=(
            "copy ms = tf.identity of the batch on the GPU (synchronized by a scalar read-back); "
            "a call is predict_on_batch, numpy in and out",
        ),
    )


def _tflite_of(keras_path: str, progress: Reporter) -> bytes:
    """fp32 .tflite bytes of a Keras file (TensorFlow's converter, through the pipeline's own code)."""
    from core.models.loading import load_source
    from core.optimize.convert import ConverterFactory
    from core.optimize.quantize import configure_converter
    from core.tf_runtime import import_tensorflow

    progress(None, "converting to .tflite (fp32) for the CPU and LiteRT GPU runs", "convert")
    tf = import_tensorflow()
    factory = ConverterFactory(keras_model=load_source(keras_path).keras_model, path=keras_path)
    try:
        data, _, _ = factory.convert(lambda c: configure_converter(tf, c, "fp32"))
    finally:
        factory.close()
    return bytes(data)


def crossover_sweep(
    model: str,
    config: BenchConfig = BenchConfig(),
    *,
    progress: Reporter,
    cancel: CancelToken,
    devices: Sequence[str] = ("cpu", "gpu"),
    keras_model: str | None = None,
    gpu_runs: int | None = None,
) -> SweepResult:
    """Measure the CPU .tflite and (with "gpu" in `devices`) every GPU runner; see the module docstring.

    `gpu_runs`: measured calls per batch size on a GPU (default config.runs, else 30).
    Raises BadInputError when MODEL is missing or LiteRT cannot load it.
    """
    from core.benchmark.measure import benchmark_model
    from core.benchmark.runners import is_tflite
    from core.errors import BadInputError

    if not os.path.exists(model):
        raise BadInputError("no such file or folder", path=model)
    if os.path.isdir(model):
        raise BadInputError(
            "CPU versus GPU runs a .tflite, .keras or .h5 model, not a SavedModel folder "
            "(convert it with `litesmith optimize` first)",
            path=model,
        )
    want_gpu = "gpu" in devices
    tflite_source: str | bytes | None = model if is_tflite(model) else None
    keras_path = keras_model if tflite_source is not None else model
    notes: list[str] = []
    curves: list[DeviceCurve] = []
    tf: Any = None
    tf_gpus: list[Any] = []
    tf_why = ""
    device = "/GPU:0"
    if want_gpu and keras_path:
        # before anything runs a TensorFlow op: the GPU choice and memory cap apply only then
        tf, tf_gpus, tf_why = _tensorflow_gpus()
        if tf_gpus:
            from core.hardware import configure_gpu, gpu_device_string

            _, index = gpu_device_string(
                config.device if config.device.upper().lstrip("/").startswith("GPU") else "/GPU:0"
            )
            try:
                device = configure_gpu(index or 0, config.gpu_memory_limit_mb, tf=tf)
            except (ValueError, RuntimeError) as exc:
                tf_gpus, tf_why = [], str(exc)
    if tflite_source is None:
        tflite_source = _tflite_of(model, progress)  # MODEL is the Keras file here
    cancel.raise_if_cancelled()
    progress(0.0, "CPU .tflite", "cpu")
    span = (0.0, 0.5) if want_gpu else (0.0, 0.98)
    bench = benchmark_model(
        tflite_source,
        config,
        progress=progress.scaled(*span, "cpu"),
        cancel=cancel,
        label=model if isinstance(tflite_source, str) else f"{model} (fp32 .tflite)",
    )
    curves.append(cpu_curve(bench))
    runs = gpu_runs or config.runs or 30
    if want_gpu:
        from core.benchmark.litert_gpu import measure_litert

        progress(0.55, "LiteRT GPU accelerator", "gpu")
        try:
            run = measure_litert(
                tflite_source, "gpu", config.batch_sizes, runs=runs, warmup=config.warmup, label=model, cancel=cancel
            )
            curves.append(
                DeviceCurve(
                    LITERT_GPU,
                    "gpu",
                    run.available,
                    reason=run.reason,
                    fully_accelerated=run.fully_accelerated,
                    notes=run.accelerator_log,
                    timings=run.timings,
                )
            )
        except ValueError as exc:  # e.g. a .tflite without signatures: CompiledModel runs signatures only
            curves.append(DeviceCurve(LITERT_GPU, "gpu", False, reason=str(exc)))
        if keras_path:
            progress(0.7, "Keras on the GPU (TensorFlow)", "gpu")
            if tf_gpus:
                try:
                    curves.append(
                        keras_tf_gpu_curve(
                            keras_path,
                            config.batch_sizes,
                            tf=tf,
                            device=device,
                            runs=runs,
                            warmup=config.warmup,
                            cancel=cancel,
                        )
                    )
                except BadInputError as exc:  # the .keras does not load: say so in its row
                    curves.append(DeviceCurve(KERAS_TF_GPU, "gpu", False, reason=exc.message))
            else:
                curves.append(DeviceCurve(KERAS_TF_GPU, "gpu", False, reason=tf_why))
            progress(0.85, "Keras on the GPU (JAX, own process)", "gpu")
            from core.benchmark.keras_jax_child import measure_keras_jax

            curves.append(
                measure_keras_jax(keras_path, config.batch_sizes, runs=runs, warmup=config.warmup, cancel=cancel)
            )
        else:
            notes.append("no Keras model given (--keras-model FILE): Keras on the GPU not measured")
    progress(1.0, "done", "crossover")
    return SweepResult(bench=bench, crossover=build_result(model, config.batch_sizes, curves, notes))


def main(argv: list[str] | None = None) -> int:
    """In-process run (no engine): exit 0 measured, 2 usage, 3 bad model, 4 nothing measured."""
    from core.cli.bench import int_list
    from core.engine.context import null_reporter
    from core.errors import LitesmithError

    parser = argparse.ArgumentParser(prog="python -m core.benchmark.gpu_sweep", description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--keras-model", default=None)
    parser.add_argument("--devices", default="cpu,gpu")
    parser.add_argument("--batch", type=int_list, default=(1, 8, 64))
    parser.add_argument("--threads", type=int_list, default=None)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the bench document (with its crossover) as JSON")
    parser.add_argument(
        "--out-json",
        metavar="PATH",
        default=None,
        help="also write that JSON document to PATH (the table still prints)",
    )
    args = parser.parse_args(argv)
    try:
        devices = parse_devices(args.devices)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    config = BenchConfig(
        threads=args.threads or default_threads(), batch_sizes=args.batch, runs=args.runs, warmup=args.warmup
    )
    try:
        result = crossover_sweep(
            args.model,
            config,
            progress=null_reporter(),
            cancel=CancelToken(),
            devices=devices,
            keras_model=args.keras_model,
        )
    except LitesmithError as exc:
        error = exc.to_job_error()
        print(f"error: {error.path + ': ' if error.path else ''}{error.message}", file=sys.stderr)
        return int(error.exit_code)
    if args.json or args.out_json:
        from core.cli.common import to_jsonable
        from core.jsonout import dumps, stamp
        from core.schemas import BENCH

        data = to_jsonable(result.bench)
        data["crossover"] = crossover_json(result.crossover)
        text = dumps(stamp(BENCH, data))
        if args.out_json:
            temp = args.out_json + ".tmp"
            with open(temp, "w", encoding="utf-8") as out:
                out.write(text + "\n")
            os.replace(temp, args.out_json)
    if args.json:
        print(text)
    else:
        from core.benchmark.crossover import format_crossover

        print(format_crossover(result.crossover))
    return 0 if any(c.available for c in result.crossover.curves) else 4


def default_threads() -> tuple[int, ...]:
    """1 and every physical core (the two ends; the CPU curve keeps the faster per batch)."""
    import psutil

    cores = psutil.cpu_count(logical=False) or os.cpu_count() or 1
    return (1,) if cores <= 1 else (1, int(cores))


def crossover_json(result: CrossoverResult) -> dict[str, Any]:
    """The ``crossover`` object of a bench document: curves with per-sample figures added."""
    from core.cli.common import to_jsonable

    data = to_jsonable(result)
    for curve, raw in zip(result.curves, data["curves"]):
        raw["title"] = curve.title
        for timing, row in zip(curve.timings, raw["timings"]):
            row["per_sample_ms"] = timing.per_sample_ms if timing.ok else math.nan
            row["throughput"] = timing.throughput if timing.ok else math.nan
    data["gpu_available"] = result.gpu_available
    return data


if __name__ == "__main__":
    sys.exit(main())
