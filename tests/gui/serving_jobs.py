"""Stand-ins for the serving study the GUI tests run in the engine (importable by the engine's child)."""

from __future__ import annotations

import time

from core.serving.api import BatchPolicy, LatencyParts, LoadPoint, Percentiles

SEEN: dict = {}


def pct(p50: float, p99: float) -> Percentiles:
    return Percentiles(p50=p50, p90=(p50 + p99) / 2, p99=p99, max=p99 * 1.2, mean=p50)


def point(variant: str, rate: float, p50: float, p99: float, *, policy: BatchPolicy = BatchPolicy(),
          simulated: bool = True, kept_up: bool = True, saturated: bool = False) -> LoadPoint:
    """A LoadPoint with the total latency's p50/p99 as given (the parts are not what the chart reads)."""
    zero = Percentiles(0.0, 0.0, 0.0, 0.0, 0.0)
    parts = LatencyParts(queue_wait=zero, compute=pct(p50, p99), handback=zero, total=pct(p50, p99))
    return LoadPoint(variant=variant, policy=policy, offered_rps=rate, achieved_rps=rate if kept_up else rate / 2,
                     generator_late_p99_ms=0.1 if kept_up else 50.0, generator_kept_up=kept_up,
                     requests=int(rate), latency=parts, simulated=simulated, saturated=saturated)


def streaming_until_cancelled(models, *, progress, cancel, **kwargs):
    """Streams one point per model, then waits for the cancel (it never finishes on its own)."""
    SEEN["models"] = list(models)
    SEEN["kwargs"] = dict(kwargs)
    SEEN["cancelled"] = False
    for index, (name, _model) in enumerate(models):
        progress.partial("serving_point", point(name, 100.0 * (index + 1), 1.0, 2.0))
    start = time.monotonic()
    while time.monotonic() - start < 60:
        if cancel.cancelled:
            SEEN["cancelled"] = True
        cancel.raise_if_cancelled()
        progress(min(1.0, (time.monotonic() - start) / 60), "simulating", stage="serving")
        time.sleep(0.02)
    raise AssertionError("the cancel never came")


def refusing_study(models, *, progress, cancel, **kwargs):
    from core.errors import BadInputError

    raise BadInputError("line 3: the timestamp 'abc' is not a number", path=kwargs.get("trace") or "trace.csv")


def fraud_tflite(keras_path: str, *, progress, cancel) -> bytes:
    """The fraud sample converted to a float .tflite in the child (the samples hold the .keras only)."""
    from core.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    import keras

    model = keras.models.load_model(keras_path)
    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


__all__ = ["point", "pct", "streaming_until_cancelled", "refusing_study", "fraud_tflite"]
