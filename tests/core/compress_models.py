"""Tiny Keras models and data for the compression tests (built in-process, seconds to train)."""

from __future__ import annotations

import numpy as np

from core.engine.context import CancelToken, Reporter
from core.engine.events import ProgressEvent
from core.tf_runtime import import_keras

keras = import_keras()


def mlp(n_in: int = 12, hidden=(16, 8), n_out: int = 3, activation: str = "softmax", sequential: bool = True):
    layers = [keras.layers.Dense(h, activation="relu", name=f"hidden_{i}") for i, h in enumerate(hidden)]
    layers.append(keras.layers.Dense(n_out, activation=activation, name="out"))
    if sequential:
        return keras.Sequential([keras.Input((n_in,), name="features")] + layers, name="tiny_mlp")
    inp = keras.Input((n_in,), name="features")
    x = inp
    for layer in layers:
        x = layer(x)
    return keras.Model(inp, x, name="tiny_mlp_functional")


def residual_cnn(size: int = 12, channels: int = 8, n_out: int = 4):
    """stem conv -> BN -> ReLU -> [expand 1x1 -> depthwise -> BN -> project 1x1] + skip -> concat side -> head."""
    inp = keras.Input((size, size, 3), name="image")
    x = keras.layers.Conv2D(channels, 3, padding="same", name="stem")(inp)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    y = keras.layers.Conv2D(2 * channels, 1, activation="relu", name="expand")(x)
    y = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(y)
    y = keras.layers.BatchNormalization(name="dw_bn")(y)
    y = keras.layers.ReLU(name="dw_relu")(y)
    y = keras.layers.Conv2D(channels, 1, name="project")(y)
    x = keras.layers.Add(name="residual")([x, y])
    z = keras.layers.Conv2D(channels // 2, 3, padding="same", activation="relu", name="side")(x)
    x = keras.layers.Concatenate(name="concat")([x, z])
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    out = keras.layers.Dense(n_out, activation="softmax", name="head")(x)
    return keras.Model(inp, out, name="tiny_residual")


def data(model, n: int = 64, seed: int = 0, classes: int | None = None):
    rng = np.random.default_rng(seed)
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    x = rng.standard_normal((n,) + shape).astype("float32")
    y = None if classes is None else rng.integers(0, classes, n)
    return x, y


class Recorder:
    """A Reporter plus the events it saw; cancels the token after `cancel_after` progress events."""

    def __init__(self, cancel: CancelToken | None = None, cancel_after: int | None = None) -> None:
        self.events: list[ProgressEvent] = []
        self.cancel = cancel
        self.cancel_after = cancel_after
        self.reporter = Reporter(self._sink)

    def _sink(self, event) -> None:
        if isinstance(event, ProgressEvent):
            self.events.append(event)
            if self.cancel is not None and self.cancel_after is not None and len(self.events) >= self.cancel_after:
                self.cancel.cancel()


def load_sample(samples_dir, name: str):
    model = keras.saving.load_model(str(samples_dir / f"{name}.keras"), safe_mode=True, compile=False)
    calib = np.load(samples_dir / f"{name}_calib.npz")
    evaluation = np.load(samples_dir / f"{name}_eval.npz")
    return model, (calib["x"], calib["y"]), (evaluation["x"], evaluation["y"])


def accuracy(model, x, y) -> float:
    out = np.asarray(model.predict(x, verbose=0))
    if out.shape[-1] > 1:
        return float(np.mean(np.argmax(out, axis=-1) == y))
    return float(np.mean((out.reshape(-1) > 0.5) == (y > 0.5)))


def distill_job(epochs: int, *, progress, cancel):
    """An engine job: distill a tiny MLP into a half-width student; returns the figures (picklable)."""
    from core.compress import training
    from core.compress.configs import DistillConfig, MeasureConfig
    from core.compress.distill import distill

    training.PROGRESS_MIN_INTERVAL_S = 0.0
    teacher = mlp()
    x, y = data(teacher, 64, classes=3)
    result = distill(
        teacher,
        DistillConfig(epochs=epochs, batch_size=16, measure=MeasureConfig(measure=False)),
        x,
        y,
        progress=progress,
        cancel=cancel,
    )
    return {"params_student": result.params_student, "params_teacher": result.params_teacher}
