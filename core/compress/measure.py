"""Measured figures for a compressed model: sizes, sparsity, parameters, `.tflite` latency.

Latency is always compared side by side in one run: the models' interpreters
take turns, one invoke each per round (`core.benchmark.interleaved`, the loop the
XNNPACK ablation uses too), so a machine that gets busier halfway slows both
alike. The figure is the median (p50) in milliseconds.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Collection, Mapping

import numpy as np

from core.benchmark.interleaved import interleaved_times
from core.errors import BadInputError, ConversionError
from core.tf_runtime import import_tensorflow

if TYPE_CHECKING:
    from core.compress.configs import MeasureConfig
    from core.engine.context import CancelToken


@dataclass(frozen=True)
class Latency:
    """A side-by-side latency figure: median and mean milliseconds per invoke over `runs` timed invokes."""

    p50_ms: float
    mean_ms: float
    runs: int


def to_tflite(model: Any) -> bytes:
    """Float32 `.tflite` bytes of a Keras model (raises ConversionError)."""
    tf = import_tensorflow()
    try:
        # Keras's export prints "Saved artifact at ..." and the signature to stdout.
        with contextlib.redirect_stdout(io.StringIO()):
            converter = tf.lite.TFLiteConverter.from_keras_model(model)
            return bytes(converter.convert())
    except Exception as exc:
        raise ConversionError(f"the model does not convert to .tflite: {exc}") from exc


def gzip_size(data: bytes) -> int:
    """Bytes of `data` after gzip level 9 (mtime 0, so the figure is reproducible)."""
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def weights_bytes(model: Any) -> bytes:
    """The model's weights as raw float bytes, in order (what a gzip of the weights file compresses)."""
    return b"".join(np.ascontiguousarray(w).tobytes() for w in model.get_weights())


def kernel_sparsity(model: Any, layer_names: Collection[str] | None = None) -> dict[str, float]:
    """Fraction of exact zeros in each layer's kernel (`kernel` or `depthwise_kernel`)."""
    out: dict[str, float] = {}
    for layer in model.layers:
        if layer_names is not None and layer.name not in layer_names:
            continue
        kernel = getattr(layer, "depthwise_kernel", None)
        if kernel is None:
            kernel = getattr(layer, "kernel", None)
        if kernel is None:
            continue
        w = np.asarray(kernel.numpy() if hasattr(kernel, "numpy") else kernel)
        out[layer.name] = float(np.mean(w == 0.0)) if w.size else 0.0
    return out


def _interpreter(data: bytes, num_threads: int) -> Any:
    # The one way a .tflite is opened (`core.optimize.runtime.make_interpreter`); here the bytes are our own
    # conversion's, so a model that does not load is a conversion failure (exit 4), not bad input.
    from core.optimize.runtime import make_interpreter

    try:
        interp = make_interpreter(data, num_threads=num_threads)
        interp.allocate_tensors()
    except BadInputError as exc:
        raise ConversionError(str(exc)) from exc
    except Exception as exc:
        raise ConversionError(f"the .tflite model does not load in LiteRT: {exc}") from exc
    return interp


def _fill_inputs(interp: Any, rng: np.random.Generator, batch: int = 1) -> None:
    for detail in interp.get_input_details():
        shape = [batch if i == 0 else int(d) for i, d in enumerate(detail["shape"])]
        if tuple(shape) != tuple(detail["shape"]):
            interp.resize_tensor_input(detail["index"], shape)
    interp.allocate_tensors()
    for detail in interp.get_input_details():
        dtype = detail["dtype"]
        if np.issubdtype(dtype, np.floating):
            value = rng.standard_normal(detail["shape"]).astype(dtype)
        else:
            value = rng.integers(0, 2, detail["shape"]).astype(dtype)
        interp.set_tensor(detail["index"], value)


def side_by_side_latency(
    models: Mapping[str, bytes],
    *,
    runs: int = 50,
    warmup: int = 5,
    num_threads: int = 1,
    seed: int = 0,
    cancel: CancelToken | None = None,
) -> dict[str, Latency]:
    """p50 latency (batch 1) of each `.tflite` model: `runs` interleaved rounds of one invoke() each
    (`core.benchmark.interleaved`), after `warmup` untimed ones."""
    rng = np.random.default_rng(seed)
    interps = {}
    for name, data in models.items():
        interp = _interpreter(data, num_threads)
        _fill_inputs(interp, rng)
        interps[name] = interp
    times = interleaved_times(
        {name: interp.invoke for name, interp in interps.items()}, rounds=runs, warmup=warmup, cancel=cancel
    )
    return {
        name: Latency(p50_ms=statistics.median(t), mean_ms=statistics.fmean(t), runs=len(t))
        for name, t in times.items()
    }


def tflite_pair_figures(
    first: Any,
    second: Any,
    names: tuple[str, str],
    measure: MeasureConfig,
    *,
    cancel: CancelToken,
    on_timing: Callable[[], None] | None = None,
    gzip_sizes: bool = False,
) -> dict[str, Any]:
    """Convert two Keras models to float32 `.tflite` and time them side by side (`side_by_side_latency`).

    `names` = (a, b) name the result fields: ``tflite_size_{a|b}`` (bytes), ``latency_ms_{a|b}``
    (p50 ms, batch 1), ``latency_ratio`` (b / a, None when a's p50 is 0) and, with `gzip_sizes`,
    ``gzip_tflite_{a|b}`` (bytes). Every field is None when `measure.measure` is off (the
    `MeasureConfig` of the step). `on_timing()` is called between conversion and timing (a
    progress line). Raises ConversionError when a model does not convert; Cancelled between steps.
    """
    a, b = names
    keys = [f"tflite_size_{a}", f"tflite_size_{b}", f"latency_ms_{a}", f"latency_ms_{b}", "latency_ratio"]
    if gzip_sizes:
        keys[2:2] = [f"gzip_tflite_{a}", f"gzip_tflite_{b}"]
    figures: dict[str, Any] = dict.fromkeys(keys)
    if not measure.measure:
        return figures
    models = {}
    for name, model in ((a, first), (b, second)):
        models[name] = to_tflite(model)
        cancel.raise_if_cancelled()
    if on_timing is not None:
        on_timing()
    lat = side_by_side_latency(
        models, runs=measure.latency_runs, warmup=measure.latency_warmup, num_threads=measure.num_threads, cancel=cancel
    )
    for name in (a, b):
        figures[f"tflite_size_{name}"] = len(models[name])
        figures[f"latency_ms_{name}"] = lat[name].p50_ms
        if gzip_sizes:
            figures[f"gzip_tflite_{name}"] = gzip_size(models[name])
    figures["latency_ratio"] = lat[b].p50_ms / lat[a].p50_ms if lat[a].p50_ms > 0 else None
    return figures
