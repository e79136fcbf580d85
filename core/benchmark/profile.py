"""Where the time goes.

What the runtimes offer (checked in ai_edge_litert 2.3 and TensorFlow 2.21):

* ai_edge_litert's Python `Interpreter` has no op profiler: it exposes the
  graph (private op details, read in `core.adapters.litert`: node names, inputs, outputs, DELEGATE nodes after
  delegation) but no per-op timings. The profiling protobufs shipped in the
  wheel (`profiling_info_pb2`, `model_runtime_info_pb2`) are filled only by the
  C++ benchmark tool, and the `experimental_force_delegate_node_profiling` flag
  has nothing on the Python side to read the profile. `CompiledModel` has no
  profiler either. So for `.tflite` we report which ops XNNPACK took
  (`runners.delegation_info`) rather than per-op times, and each variant timed with
  XNNPACK on and off, op counts and delegate partitions (`core.benchmark.facts`).
* For a Keras model we time each layer: during eager calls of the model every
  layer's `call` is wrapped with a timer (per instance, restored afterwards).
  On the CPU TensorFlow's eager ops finish before they return, so these times
  are real; they include Python overhead per layer (the same overhead an eager
  call pays). On a GPU the kernels run asynchronously, so per-layer GPU times
  are not meaningful and we profile on the CPU.
* Over a dataset, `sweep.DataFeed` times loading and preparing batches apart
  from the model calls (`results.DataProfile`).
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any, Callable

import numpy as np

from core.benchmark.results import LayerTime
from core.benchmark.runners import KerasRunner
from core.models.signatures import keras_feed
from core.engine.context import CancelToken


def _leaf_layers(model: Any) -> list[Any]:
    """The model's layers with nested models expanded into theirs, in order (Keras layers: untyped)."""
    layers: list[Any] = []
    for layer in getattr(model, "layers", []):
        inner = getattr(layer, "layers", None)
        if inner:  # a nested model: time its layers, not the wrapper
            layers.extend(_leaf_layers(layer))
        else:
            layers.append(layer)
    return layers


def profile_keras_layers(
    model: Any,
    *,
    batch_size: int = 1,
    runs: int = 10,
    cancel: CancelToken | None = None,
    seed: int = 0,
    sample_shapes: dict[str, tuple[int, ...]] | None = None,
) -> tuple[LayerTime, ...]:
    """Mean time per layer over `runs` eager calls on the CPU (after one untimed call).

    `sample_shapes`: {input name: per-sample shape} for inputs with free dimensions
    (the benchmark's; default the documented synthetic sizes). Times are milliseconds per call of the
    layer, measured with perf_counter around each layer's `call`; `share` is its part of the summed layer
    times. Raises `Cancelled` when `cancel` is set between runs.
    """
    from core.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    runner = KerasRunner(model, "eager", "/CPU:0")
    if sample_shapes:
        runner.set_sample_shapes(sample_shapes)
    runner.prepare(batch_size, None)
    inputs = runner.make_inputs(np.random.default_rng(seed))
    feed = [inputs[name] for name in runner.interface.input_names]
    x = keras_feed(model, feed)
    layers = _leaf_layers(model)
    totals: dict[int, float] = defaultdict(float)
    timing = {"on": False}
    patched: list[tuple[Any, Callable[..., Any], bool]] = []

    def wrap(layer: Any, original: Callable[..., Any]) -> Callable[..., Any]:
        key = id(layer)

        def timed_call(*args: Any, **kwargs: Any) -> Any:
            if not timing["on"]:
                return original(*args, **kwargs)
            start = time.perf_counter()
            out = original(*args, **kwargs)
            totals[key] += time.perf_counter() - start
            return out

        return timed_call

    for layer in layers:
        original = layer.call
        had_own = "call" in vars(layer)
        layer.call = wrap(layer, original)
        patched.append((layer, original, had_own))
    try:
        with tf.device("/CPU:0"):
            model(x, training=False)
            timing["on"] = True
            for _ in range(max(1, runs)):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                model(x, training=False)
    finally:
        for layer, original, had_own in patched:
            if had_own:
                layer.call = original
            else:
                try:
                    del layer.call
                except AttributeError:
                    layer.call = original
    runs = max(1, runs)
    measured = [(layer, totals.get(id(layer), 0.0) * 1000 / runs) for layer in layers]
    total = sum(ms for _, ms in measured) or 1.0
    return tuple(
        LayerTime(name=layer.name, type=type(layer).__name__, mean_ms=ms, share=ms / total)
        for layer, ms in measured
        if id(layer) in totals
    )


def top_layers(profile: tuple[LayerTime, ...], n: int = 10) -> list[LayerTime]:
    """The `n` layers with the highest mean time, slowest first."""
    return sorted(profile, key=lambda t: -t.mean_ms)[:n]
