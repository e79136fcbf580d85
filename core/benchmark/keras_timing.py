"""The one timing loop for Keras ``predict_on_batch`` on a GPU, shared by both backends.

Keras on TensorFlow (`core.benchmark.gpu_sweep.keras_tf_gpu_curve`, in the engine's child) and
Keras on JAX (`core.benchmark.keras_jax_child`, in a helper process of its own) time a batch the
same way: one cold call (compiling or tracing included), `warmup` untimed calls, then `runs`
rounds of (the host-to-device copy of the inputs; one whole ``predict_on_batch`` call, numpy in
and out). Each backend passes its own copy (``tf.identity`` with a scalar read-back,
``jax.device_put`` + ``block_until_ready``) and, for TensorFlow, its device scope.

This module imports no framework (numpy only, for the medians): the JAX helper process imports it
before Keras is imported, with ``KERAS_BACKEND=jax`` already set.
"""

from __future__ import annotations

import contextlib
from time import perf_counter
from typing import Any, Callable, ContextManager

from core.benchmark.crossover import BatchTiming


def time_predict(
    batch_size: int,
    predict: Callable[[], Any],
    copy_in: Callable[[], Any],
    *,
    runs: int,
    warmup: int,
    scope: Callable[[], ContextManager[Any]] = contextlib.nullcontext,
) -> BatchTiming:
    """Time one batch size: medians in milliseconds (``write_ms``: the copy, ``call_ms``: the call).

    `predict` makes one ``predict_on_batch`` call on the prepared batch; `copy_in` copies the batch's
    inputs to the device and waits for them. `runs` is at least 1 (fewer are raised to 1); `warmup`
    untimed calls follow the cold call (``cold_ms``). Everything runs inside ``scope()``. Any
    exception (e.g. out of GPU memory at a large batch) becomes the timing's one-line ``error``
    (at most 300 characters) rather than propagating. Figures are perf_counter readings around each
    call and each copy.
    """
    try:
        with scope():
            clock = perf_counter  # the module's name, read per call so a test can replace it
            started = clock()
            predict()
            cold = (clock() - started) * 1000.0
            for _ in range(warmup):
                predict()
            copies, calls = [], []
            for _ in range(max(1, runs)):
                t0 = clock()
                copy_in()
                t1 = clock()
                predict()
                t2 = clock()
                copies.append(t1 - t0)
                calls.append(t2 - t1)
    except Exception as exc:  # noqa: BLE001 - e.g. out of GPU memory at a large batch: that batch's error
        return BatchTiming(int(batch_size), error=(str(exc).strip().splitlines() or ["error"])[0][:300])
    import numpy as np

    return BatchTiming(
        int(batch_size),
        runs=len(calls),
        write_ms=float(np.median(copies)) * 1000.0,
        call_ms=float(np.median(calls)) * 1000.0,
        cold_ms=cold,
    )


__all__ = ["time_predict"]
