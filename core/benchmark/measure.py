"""Engine jobs: benchmark a model, one `.tflite` variant, or a set of variants side by side.

All three are plain job functions (``progress`` and ``cancel`` keywords) that
return a frozen `BenchmarkResult`; run them in the engine's child::

    engine.submit(benchmark_model, "model.keras", BenchConfig(batch_sizes=(1, 8)))

Latency samples stream as ``partial("latency_samples", {...})`` events (see
`core.benchmark.sweep`). A `.tflite` runs in LiteRT through its signature; a
Keras model (.keras, .h5) runs in TensorFlow in each of `config.keras_modes`;
a SavedModel folder runs through its signature (``serving_default``, the only
one, or the one named). Inputs are fed by NAME (`core.benchmark.runners`); a
data file is matched to them by `core.data.loaders.load_data`. Free dimensions
run at the data's size, or at the documented synthetic size without data, and
the result says which (`BenchmarkResult.inputs` and a note).

Input planning (`load_feed`, `plan_inputs`) lives in `core.benchmark.inputs`, the
result-cache key of a measurement in `core.benchmark.measure_cache` and the measuring
and explaining of built runners (`run_benchmark`) in `core.benchmark.run`; their public
names are importable from here too.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Mapping

from core.benchmark.inputs import DataSource, load_feed, plan_inputs
from core.benchmark.measure_cache import (  # noqa: F401 - re-exported
    CACHE_NOTE,
    machine_fingerprint,
    measurement_key,
    served_from_cache,
)
from core.benchmark.results import BenchConfig, BenchmarkResult

# looked up here by the jobs below, so tests that patch `core.benchmark.measure.run_benchmark` stop every measurement
from core.benchmark.run import run_benchmark
from core.benchmark.runners import BatchSizeUnsupported, KerasRunner, LiteRTRunner, Runner, SavedModelRunner, is_tflite
from core.engine.context import CancelToken, Reporter
from core.errors import BadInputError, Cancelled, ErrorKind, JobError
from core.models.interface import ModelInterface

if TYPE_CHECKING:
    from core.cache import ResultCache

ModelSource = bytes | str | os.PathLike[str]


def _prepare_device(config: BenchConfig, progress: Reporter) -> tuple[str, list[str]]:
    """Apply the GPU choice and memory cap; returns the device for Keras runs and notes."""
    from core.hardware import configure_gpu, gpu_device_string

    kind, index = gpu_device_string(config.device)
    notes: list[str] = []
    if kind != "gpu":
        return "/CPU:0", notes
    from core.benchmark.runners import check_device

    if config.gpu_memory_limit_mb is not None:
        try:
            configure_gpu(index or 0, config.gpu_memory_limit_mb)
            notes.append(f"GPU {index} capped at {config.gpu_memory_limit_mb} MiB")
        except RuntimeError as exc:
            progress.log(str(exc), level="warning")
            notes.append(str(exc))
        except ValueError as exc:
            raise BadInputError(str(exc)) from exc
    try:
        check_device(f"/GPU:{index}")
    except ValueError as exc:
        raise BadInputError(str(exc)) from exc
    return f"/GPU:{index}", notes


def signature_notes(interface: ModelInterface | None) -> list[str]:
    """ "signature 'x' measured; not measured: ..." when the model has other signatures (SavedModel, .tflite)."""
    if interface is None or not interface.signature:
        return []
    others = [s for s in interface.signatures if s != interface.signature]
    if not others:
        return []
    return [
        f"signature {interface.signature!r} measured; not measured: {', '.join(map(repr, others))} "
        "(choose one with --signature NAME)"
    ]


def nothing_measured(result: BenchmarkResult) -> JobError | None:
    """A JobError when no configuration was measured, else None.

    Bad input (3) when every failure was about the input (a batch size the model
    cannot take, data that does not fit), else a run failure (4).
    """
    if result.measured:
        return None
    failed = [c for c in result.configs if c.error]
    if not failed:
        return JobError(ErrorKind.BAD_INPUT, "nothing was measured: no configuration to run", path=result.model)
    kind = ErrorKind.BAD_INPUT if all(c.error_kind == "input" for c in failed) else ErrorKind.CONVERSION
    first = failed[0]
    more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
    return JobError(kind, f"nothing was measured: {first.label}: {first.error}{more}", path=result.model)


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's text, or its type's name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def benchmark_model(
    model: ModelSource,
    config: BenchConfig = BenchConfig(),
    *,
    progress: Reporter,
    cancel: CancelToken,
    data: DataSource = None,
    label: str | None = None,
    signature: str | None = None,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
    custom_objects: tuple[str, ...] = (),
) -> BenchmarkResult:
    """Benchmark one model file (or .tflite bytes) over `config`'s batch sizes and threads.

    `custom_objects`: the user's code files for a Keras model's custom layers (--custom-objects).

    `data`: a data file (`load_feed`: .npz arrays named after the model's inputs,
    or ``x_0, x_1, ...`` in input order, or ``x``) or arrays; batches then come
    from it, free dimensions run at the data's size, and the time spent on data
    is reported. Without data, free dimensions run at `input_shapes` ({input
    name: per-sample shape}, --input-shape); UsageError when one has no size. `signature` chooses a SavedModel's or .tflite's signature (default
    ``serving_default``, or the only one); the others are listed in a note.

    Raises `BadInputError` (a missing file, a model or data that does not load or fit, a GPU device
    TensorFlow cannot see). Figures are measured (`run_benchmark`).
    """
    model_label = label or ("<tflite bytes>" if isinstance(model, (bytes, bytearray)) else os.fspath(model))
    if not isinstance(model, (bytes, bytearray)) and not os.path.exists(model):
        raise BadInputError("no such file or folder", path=model_label)
    progress(0.0, "loading", "load")
    device = "/CPU:0"
    notes: list[str] = []
    tflite_bytes: bytes | None
    if not is_tflite(model):
        # before the model loads: TensorFlow fixes its GPU set-up when it first places a tensor
        device, notes = _prepare_device(config, progress)
    if isinstance(model, (bytes, bytearray)):
        tflite_bytes, keras_model, saved_model_dir = bytes(model), None, None
    else:
        from core.models.info import ModelFormat
        from core.models.loading import load_source

        # safety checks; Keras with safe_mode on (and the user's --custom-objects); BadInputError on bad files
        loaded = load_source(os.fspath(model), custom_objects=custom_objects)
        tflite_bytes = loaded.tflite_bytes if loaded.format == ModelFormat.TFLITE else None
        keras_model, saved_model_dir = loaded.keras_model, loaded.saved_model_dir
    cancel.raise_if_cancelled()
    runners: list[Runner]
    if tflite_bytes is not None:
        runner = LiteRTRunner(tflite_bytes, xnnpack=config.xnnpack, signature=signature, path=model_label)
        try:
            interface = runner.interface
        except (BadInputError, MemoryError):
            raise
        except Exception as exc:  # noqa: BLE001 - ValueError (not a model), UnicodeDecodeError (bad names)
            raise BadInputError(
                f"LiteRT cannot load this .tflite: {_first_line(exc)}", path=model_label, details=str(exc)
            ) from exc
        runners = [runner]
    elif saved_model_dir is not None:
        saved = SavedModelRunner(saved_model_dir, device, signature=signature, path=model_label)
        interface = saved.load()
        runners = [saved]
        notes.append(f"a SavedModel runs through its signature {interface.signature!r} (Keras modes do not apply)")
    else:
        if signature is not None:
            raise BadInputError(
                f"a Keras model has no signatures (--signature {signature} applies to SavedModels and .tflite files)",
                path=model_label,
            )
        runners = [KerasRunner(keras_model, mode, device) for mode in config.keras_modes]
        try:
            interface = runners[0].interface
        except ValueError as exc:
            raise BadInputError(str(exc), path=model_label) from exc
    notes += signature_notes(interface)
    feed = load_feed(data, runners[0].feed_interface())
    plan = plan_inputs(runners, feed, input_shapes)
    problem = getattr(runners[0], "plan_error", None)
    if problem is not None:
        if isinstance(problem, BadInputError):
            raise problem
        raise BadInputError(
            f"cannot prepare the model's inputs: {_first_line(problem)}", path=model_label, details=str(problem)
        ) from problem
    if tflite_bytes is not None:
        try:
            runners[0].prepare(1, 1)
            _ = runners[0].variant
        except MemoryError:
            raise
        except BatchSizeUnsupported:
            pass  # a batch-size problem is reported per configuration
        except Exception as exc:  # noqa: BLE001 - ValueError (not a model), RuntimeError (cannot allocate)
            raise BadInputError(
                f"LiteRT cannot run this .tflite: {_first_line(exc)}", path=model_label, details=str(exc)
            ) from exc
        finally:
            runners[0].close()
    try:
        return run_benchmark(
            runners,
            config,
            progress=progress,
            cancel=cancel,
            model_label=model_label,
            data=feed,
            keras_model=keras_model,
            notes=notes,
            plan=plan,
        )
    except ValueError as exc:
        raise BadInputError(str(exc), path=model_label) from exc


def measure_tflite(
    tflite_bytes: bytes,
    config: BenchConfig = BenchConfig(),
    progress: Reporter | None = None,
    cancel: CancelToken | None = None,
    *,
    variant: str | None = None,
    data: DataSource = None,
    cache: ResultCache | None = None,
    signature: str | None = None,
    input_shapes: Mapping[str, tuple[int, ...]] | None = None,
) -> BenchmarkResult:
    """Benchmark one `.tflite` variant (for the quantization pipeline, once per variant).

    `input_shapes`: per-sample shapes for inputs with free dimensions (without
    `data`); UsageError when one is missing.

    `variant` names it ("fp32", "dynamic", "float16", "int8", "int16x8"); when
    None it is read from the model's tensor types.

    `cache` (a `core.cache.ResultCache`): look the measurement up first (keyed by
    the model's SHA-256, the config, the variant name, this machine and the
    library versions) and store it after measuring. A cached result carries
    `CACHE_NOTE` in its notes (`served_from_cache(result)`). Measurements over a
    `data` file are never cached.

    Raises `BadInputError` when LiteRT cannot load the bytes or the data does not fit.
    """
    from dataclasses import replace

    from core.engine.context import null_reporter

    progress = progress or null_reporter()
    cancel = cancel or CancelToken()
    key = (
        measurement_key(tflite_bytes, config, variant, signature, input_shapes)
        if cache is not None and data is None
        else None
    )
    if key is not None and cache is not None:
        cached = cache.get(key)
        if isinstance(cached, BenchmarkResult):
            progress(1.0, "measurement from the cache", "benchmark")
            return replace(cached, notes=tuple(cached.notes) + (CACHE_NOTE,))
    runner = LiteRTRunner(tflite_bytes, xnnpack=config.xnnpack, variant=variant, signature=signature)
    label = f"{runner.variant} .tflite"
    feed = load_feed(data, runner.feed_interface()) if data is not None else None
    result = run_benchmark(
        [runner],
        config,
        progress=progress,
        cancel=cancel,
        model_label=label,
        data=feed,
        notes=signature_notes(runner.interface),
        input_shapes=input_shapes,
    )
    if key is not None and cache is not None and any(c.ok for c in result.configs):
        try:
            cache.put(key, result)
        except OSError as exc:  # a full or read-only cache folder must not fail the measurement
            progress.log(f"could not write the result cache: {exc}", level="warning")
    return result


def benchmark_variants(
    variants: Mapping[str, ModelSource],
    config: BenchConfig = BenchConfig(),
    *,
    progress: Reporter,
    cancel: CancelToken,
    keras_model: Any = None,
    data: DataSource = None,
    label: str = "variants",
    signature: str | None = None,
    custom_objects: tuple[str, ...] = (),
    input_shapes: Mapping[str, tuple[int, ...]] | None = None,
) -> BenchmarkResult:
    """Several `.tflite` variants (name -> bytes or path), plus optionally the original as the baseline, in one run.

    `keras_model`: the original model: a `.keras`/`.h5` path (run in each Keras
    mode), a SavedModel folder (run through its signature: `signature`, default
    ``serving_default`` or the only one), or, in-process only, a keras.Model
    already built. The explanations then compare each quantized variant with "fp32".
    `data` is matched to the first runner's (the original's) inputs by name.
    `custom_objects`: the user's code files for the original's custom layers (--custom-objects).
    Raises `BadInputError` when the original does not load or the data does not fit it; a variant that
    cannot run reports it in its configurations.
    """
    runners: list[Runner] = []
    loaded = None
    notes: list[str] = []
    if keras_model is not None:
        device, notes = _prepare_device(config, progress)  # before loading: see benchmark_model
        if isinstance(keras_model, (str, os.PathLike)):
            from core.models.loading import load_source

            # safety checks first; Keras with safe_mode on (and the user's --custom-objects files)
            source = load_source(os.fspath(keras_model), custom_objects=custom_objects)
            if source.keras_model is not None:
                loaded = source.keras_model
            elif source.saved_model_dir is not None:
                saved = SavedModelRunner(
                    source.saved_model_dir, device, signature=signature, path=os.fspath(keras_model)
                )
                interface = saved.load()
                runners.append(saved)
                notes.append(
                    f"the SavedModel runs through its signature {interface.signature!r} (Keras modes do not apply)"
                )
                notes += signature_notes(interface)
            elif source.tflite_bytes is not None:
                runners.append(
                    LiteRTRunner(
                        source.tflite_bytes,
                        xnnpack=config.xnnpack,
                        variant="original",
                        signature=signature,
                        path=os.fspath(keras_model),
                    )
                )
        else:
            loaded = keras_model
        if loaded is not None:
            runners += [KerasRunner(loaded, mode, device) for mode in config.keras_modes]
    runners += [LiteRTRunner(model, xnnpack=config.xnnpack, variant=name) for name, model in variants.items()]
    feed = None
    if data is not None:
        for runner in runners:  # the data is matched to the original's inputs (the first that loads)
            try:
                interface = runner.feed_interface()
            except (Cancelled, MemoryError):
                raise
            except Exception:  # noqa: BLE001 - a variant that cannot load reports it per configuration
                continue
            feed = load_feed(data, interface)
            break
    return run_benchmark(
        runners,
        config,
        progress=progress,
        cancel=cancel,
        model_label=label,
        data=feed,
        keras_model=loaded,
        notes=notes,
        input_shapes=input_shapes,
    )
