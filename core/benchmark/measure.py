"""Engine jobs: benchmark a model, one `.tflite` variant, or a set of variants side by side.

All three are plain job functions (``progress`` and ``cancel`` keywords) that
return a frozen `BenchmarkResult`; run them in the engine's child::

    engine.submit(benchmark_model, "model.keras", BenchConfig(batch_sizes=(1, 8)))

Latency samples stream as ``partial("latency_samples", {...})`` events (see
`core.benchmark.sweep`). A `.tflite` runs in LiteRT; a Keras model (.keras,
.h5, SavedModel folder) runs in TensorFlow in each of `config.keras_modes`.
"""

from __future__ import annotations

import os
import time
from typing import Mapping, Sequence

import numpy as np

from core.benchmark.explain import explain
from core.benchmark.profile import profile_keras_layers
from core.benchmark.recommend import recommend
from core.benchmark.results import BenchConfig, BenchmarkResult, DataProfile, DelegationInfo
from core.benchmark.runners import KerasRunner, LiteRTRunner, Runner, SavedModelRunner, is_tflite, load_keras
from core.benchmark.sweep import DataFeed, sweep
from core.engine.context import CancelToken, Reporter
from core.errors import BadInputError

ModelSource = bytes | str | os.PathLike


def _cpu_int8_dot() -> bool | None:
    try:
        from core.hardware import cpu_info

        info = cpu_info()
        return info.int8_dot_product if info.flags_read else None
    except Exception:  # noqa: BLE001
        return None


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


def _load_data(data: str | os.PathLike | Sequence[np.ndarray] | np.ndarray | None) -> DataFeed | None:
    if data is None:
        return None
    if isinstance(data, (str, os.PathLike)):
        try:
            return DataFeed.from_npz(os.fspath(data))
        except (OSError, ValueError) as exc:
            raise BadInputError(f"cannot read the data file: {exc}", path=os.fspath(data)) from exc
    arrays = [np.asarray(data)] if isinstance(data, np.ndarray) else [np.asarray(a) for a in data]
    return DataFeed(arrays)


def run_benchmark(
    runners: Sequence[Runner],
    config: BenchConfig,
    *,
    progress: Reporter,
    cancel: CancelToken,
    model_label: str,
    data: DataFeed | None = None,
    keras_model=None,
    notes: Sequence[str] = (),
) -> BenchmarkResult:
    """Measure `runners` over the config's sweep and explain the outcome (the shared core of the jobs)."""
    started = time.perf_counter()
    notes = list(notes)
    profile = ()
    if config.profile_layers and keras_model is not None:
        progress(None, "timing layers", "profile")
        profile = profile_keras_layers(keras_model, batch_size=config.batch_sizes[0], runs=5, cancel=cancel,
                                       seed=config.seed)
    configs = sweep(runners, config, progress=progress.scaled(0.0, 0.97, "benchmark"), cancel=cancel, data=data)
    delegation: dict[str, DelegationInfo] = {}
    for runner in runners:
        info = getattr(runner, "delegation", None)
        if info is not None:
            delegation.setdefault(runner.variant, info)
    if any(r.runner.startswith("litert") for r in configs) and not profile:
        notes.append("per-op times are not exposed by ai_edge_litert's Python API; see which ops XNNPACK took")
    recommendation = recommend(configs, config.budget_ms)
    explanations = explain(configs, delegation, cpu_int8_dot=_cpu_int8_dot())
    data_profile = None
    if data is not None:
        data_profile = DataProfile(samples=data.samples, batches=data.batches, load_ms=data.load_ms,
                                   prepare_ms=data.prepare_ms, model_ms=data.model_ms)
        explanations.append(
            f"data: {data_profile.data_share:.0%} of the time went to loading and preparing batches "
            f"({data.load_ms + data.prepare_ms:.1f} ms), {1 - data_profile.data_share:.0%} to the model "
            f"({data.model_ms:.1f} ms) over {data.batches} batches"
        )
    progress(1.0, "done", "benchmark")
    return BenchmarkResult(
        model=model_label, config=config, configs=tuple(configs), recommendation=recommendation,
        explanations=tuple(explanations), delegation=tuple(delegation.items()), layer_profile=tuple(profile),
        data_profile=data_profile, notes=tuple(notes), seconds=time.perf_counter() - started,
    )


def benchmark_model(
    model: ModelSource,
    config: BenchConfig = BenchConfig(),
    *,
    progress: Reporter,
    cancel: CancelToken,
    data: str | os.PathLike | Sequence[np.ndarray] | None = None,
    label: str | None = None,
) -> BenchmarkResult:
    """Benchmark one model file (or .tflite bytes) over `config`'s batch sizes and threads.

    `data`: an .npz (array "x", or "x_0", "x_1", ... for several inputs) or
    arrays; batches then come from it and the time spent on data is reported.
    """
    model_label = label or ("<tflite bytes>" if isinstance(model, (bytes, bytearray)) else os.fspath(model))
    if not isinstance(model, (bytes, bytearray)) and not os.path.exists(model):
        raise BadInputError("no such file or folder", path=model_label)
    feed = _load_data(data)
    progress(0.0, "loading", "load")
    device, notes = "/CPU:0", []
    if not is_tflite(model):
        # before the model loads: TensorFlow fixes its GPU set-up when it first places a tensor
        device, notes = _prepare_device(config, progress)
    if isinstance(model, (bytes, bytearray)):
        tflite_bytes, keras_model, saved_model_dir = bytes(model), None, None
    else:
        from core.models.info import ModelFormat
        from core.models.loading import load_source

        loaded = load_source(model)       # safety checks; Keras with safe_mode on; BadInputError on bad files
        tflite_bytes = loaded.tflite_bytes if loaded.format == ModelFormat.TFLITE else None
        keras_model, saved_model_dir = loaded.keras_model, loaded.saved_model_dir
    cancel.raise_if_cancelled()
    if tflite_bytes is not None:
        runner = LiteRTRunner(tflite_bytes, xnnpack=config.xnnpack)
        try:
            runner.prepare(1, 1)
            _ = runner.variant
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - ValueError (not a model), RuntimeError (cannot allocate)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BadInputError(f"LiteRT cannot run this .tflite: {first}", path=model_label,
                                details=str(exc)) from exc
        return run_benchmark([runner], config, progress=progress, cancel=cancel, model_label=model_label, data=feed)
    if saved_model_dir is not None:
        runners: list[Runner] = [SavedModelRunner(saved_model_dir, device)]
        notes.append("a SavedModel runs through its serving_default signature (Keras modes do not apply)")
    else:
        runners = [KerasRunner(keras_model, mode, device) for mode in config.keras_modes]
    try:
        return run_benchmark(runners, config, progress=progress, cancel=cancel, model_label=model_label, data=feed,
                             keras_model=keras_model, notes=notes)
    except ValueError as exc:
        raise BadInputError(str(exc), path=model_label) from exc


CACHE_NOTE = "served from the result cache (measured earlier on this machine with the same model, " \
             "settings and library versions)"


def served_from_cache(result: BenchmarkResult) -> bool:
    """True when `measure_tflite(..., cache=...)` returned a cached measurement."""
    return CACHE_NOTE in result.notes


def machine_fingerprint() -> dict[str, str]:
    """What a measurement depends on besides the model and settings: this machine."""
    import platform

    fingerprint = {"node": platform.node(), "machine": platform.machine(), "cpus": str(os.cpu_count())}
    try:
        from core.hardware import cpu_info

        info = cpu_info()
        fingerprint["cpu"] = str(getattr(info, "model", "") or getattr(info, "brand", "") or "")
    except Exception:  # noqa: BLE001 - the fingerprint is best effort
        pass
    return fingerprint


def measurement_key(tflite_bytes: bytes, config: BenchConfig, variant: str | None) -> str:
    import hashlib
    from dataclasses import asdict

    from core.cache import cache_key

    return cache_key("measure", tflite=hashlib.sha256(tflite_bytes).hexdigest(), config=asdict(config),
                     variant=variant, machine=machine_fingerprint())


def measure_tflite(
    tflite_bytes: bytes,
    config: BenchConfig = BenchConfig(),
    progress: Reporter | None = None,
    cancel: CancelToken | None = None,
    *,
    variant: str | None = None,
    data: str | os.PathLike | Sequence[np.ndarray] | None = None,
    cache=None,
) -> BenchmarkResult:
    """Benchmark one `.tflite` variant (for the quantization pipeline, once per variant).

    `variant` names it ("fp32", "dynamic", "float16", "int8", "int16x8"); when
    None it is read from the model's tensor types.

    `cache` (a `core.cache.ResultCache`): look the measurement up first (keyed by
    the model's SHA-256, the config, the variant name, this machine and the
    library versions) and store it after measuring. A cached result carries
    `CACHE_NOTE` in its notes (`served_from_cache(result)`). Measurements over a
    `data` file are never cached.
    """
    from dataclasses import replace

    from core.engine.context import null_reporter

    progress = progress or null_reporter()
    cancel = cancel or CancelToken()
    key = measurement_key(tflite_bytes, config, variant) if cache is not None and data is None else None
    if key is not None:
        cached = cache.get(key)
        if isinstance(cached, BenchmarkResult):
            progress(1.0, "measurement from the cache", "benchmark")
            return replace(cached, notes=tuple(cached.notes) + (CACHE_NOTE,))
    runner = LiteRTRunner(tflite_bytes, xnnpack=config.xnnpack, variant=variant)
    label = f"{runner.variant} .tflite"
    result = run_benchmark([runner], config, progress=progress, cancel=cancel, model_label=label,
                           data=_load_data(data))
    if key is not None and any(c.ok for c in result.configs):
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
    keras_model=None,
    data: str | os.PathLike | Sequence[np.ndarray] | None = None,
    label: str = "variants",
) -> BenchmarkResult:
    """Several `.tflite` variants (name -> bytes or path), plus optionally the Keras baseline, in one run.

    The explanations then compare each quantized variant with "fp32".
    """
    runners: list[Runner] = []
    loaded = None
    notes: list[str] = []
    if keras_model is not None:
        device, notes = _prepare_device(config, progress)     # before loading: see benchmark_model
        # a path (loaded with safe_mode on) or, in-process only, a keras.Model already built
        loaded = load_keras(keras_model) if isinstance(keras_model, (str, os.PathLike)) else keras_model
        runners += [KerasRunner(loaded, mode, device) for mode in config.keras_modes]
    runners += [LiteRTRunner(source, xnnpack=config.xnnpack, variant=name) for name, source in variants.items()]
    return run_benchmark(runners, config, progress=progress, cancel=cancel, model_label=label,
                         data=_load_data(data), keras_model=loaded, notes=notes)
