"""Fine-tuning helpers shared by the compression techniques.

* `EngineCallback` reports progress after every batch and checks the cancel
  token before every batch, so a cancel stops training at the next batch.
* `fine_tune` / `loss_for` pick the loss from the model's output layer:
  with labels the usual supervised loss, without labels the original model's
  outputs are the (soft) targets.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from core.adapters import keras_internals
from core.engine.context import CancelToken, Reporter
from core.errors import BadInputError
from core.tf_runtime import import_keras

# Progress events per second at most (a tiny model trains thousands of batches a second).
PROGRESS_MIN_INTERVAL_S = 0.02

SOFTMAX = "softmax"
SIGMOID = "sigmoid"
LINEAR = "linear"


def keras_module() -> Any:
    """The `keras` module, imported quietly (`core.tf_runtime.import_keras`); Keras is untyped here."""
    return import_keras()


def make_engine_callback(
    progress: Reporter,
    cancel: CancelToken,
    *,
    total_steps: int,
    stage: str,
    label: str,
    on_batch_end: Callable[[int], None] | None = None,
    min_interval: float | None = None,
    span: tuple[float, float] = (0.0, 1.0),
) -> Any:
    """A keras Callback: cancel check before each batch, progress after each batch.

    `on_batch_end(global_step)` runs after the optimizer step of every batch
    (magnitude pruning re-applies its masks there). Progress fractions run from
    `span[0]` to `span[1]` over `total_steps` batches, at most one event per
    `min_interval` seconds (default PROGRESS_MIN_INTERVAL_S) plus the last batch
    of each epoch. Raises `Cancelled` (from the token) at the next batch.
    """
    keras = keras_module()
    start, end = span
    interval = PROGRESS_MIN_INTERVAL_S if min_interval is None else min_interval
    # Keras is imported lazily (only the engine's child loads it), so the base class is a runtime value.
    base: Any = keras.callbacks.Callback

    class EngineCallback(base):
        def __init__(self) -> None:
            super().__init__()
            self.step = 0
            self.epoch = 0
            self.epochs = 1
            self.steps_per_epoch: int | None = None
            self._last = 0.0

        def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
            cancel.raise_if_cancelled()
            self.epochs = int(self.params.get("epochs") or 1)
            self.steps_per_epoch = self.params.get("steps")

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.epoch = epoch

        def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            cancel.raise_if_cancelled()

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            self.step += 1
            if on_batch_end is not None:
                on_batch_end(self.step)
            now = time.monotonic()
            last_of_epoch = self.steps_per_epoch is not None and batch + 1 >= self.steps_per_epoch
            if now - self._last >= interval or last_of_epoch:
                self._last = now
                loss = (logs or {}).get("loss")
                loss_text = f", loss {float(loss):.4f}" if loss is not None else ""
                fraction = start + (end - start) * min(1.0, self.step / max(1, total_steps))
                progress(
                    fraction,
                    f"{label}: epoch {self.epoch + 1}/{self.epochs}, batch {batch + 1}"
                    f"/{self.steps_per_epoch or '?'}{loss_text}",
                    stage=stage,
                )
            cancel.raise_if_cancelled()

    return EngineCallback()


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Batches in one epoch over `n` samples: ceil(n / batch_size), at least 1."""
    return max(1, -(-n // batch_size))


def single_output(model: Any) -> None:
    """Raises BadInputError unless the Keras `model` has exactly one input and one output."""
    if len(model.outputs or []) != 1 or len(model.inputs or []) != 1:
        raise BadInputError("compression supports models with one input and one output")


def output_activation(model: Any) -> str:
    """'softmax', 'sigmoid' or 'linear': the activation that produced the model's output."""
    layer = keras_internals.output_layer(model)  # UpstreamChanged when Keras no longer says
    name = ""
    cls = type(layer).__name__
    if cls == "Softmax":
        return SOFTMAX
    act = getattr(layer, "activation", None)
    if act is not None:
        name = getattr(act, "__name__", str(act)).lower()
    if "softmax" in name:
        return SOFTMAX
    if "sigmoid" in name:
        return SIGMOID
    return LINEAR


def _is_integer_labels(y: np.ndarray, n_out: int) -> bool:
    if y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1 and n_out > 1):
        return True
    return False


def loss_for(model: Any, y: np.ndarray | None, *, soft_targets: bool) -> tuple[Any, list[str]]:
    """(loss, metric names) for fine-tuning `model` on labels `y` or on soft targets.

    The loss follows the output layer's activation (`output_activation`): softmax
    -> categorical cross-entropy (sparse for integer labels), sigmoid -> binary
    cross-entropy, linear -> mean squared error (sparse cross-entropy from logits
    for integer labels of a multi-unit output). `y` may be None only with
    `soft_targets=True`.
    """
    keras = keras_module()
    kind = output_activation(model)
    n_out = int(model.outputs[0].shape[-1] or 1)
    if soft_targets:
        if kind == SOFTMAX:
            return keras.losses.CategoricalCrossentropy(), []
        if kind == SIGMOID:
            return keras.losses.BinaryCrossentropy(), []
        return keras.losses.MeanSquaredError(), []
    assert y is not None
    if kind == SOFTMAX:
        if _is_integer_labels(y, n_out):
            return keras.losses.SparseCategoricalCrossentropy(), ["sparse_categorical_accuracy"]
        return keras.losses.CategoricalCrossentropy(), ["categorical_accuracy"]
    if kind == SIGMOID:
        return keras.losses.BinaryCrossentropy(), ["binary_accuracy"]
    if n_out > 1 and _is_integer_labels(y, n_out):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True), ["sparse_categorical_accuracy"]
    return keras.losses.MeanSquaredError(), []


def check_data(model: Any, x: Any, y: Any | None) -> tuple[np.ndarray, np.ndarray | None]:
    """`x` cast to the model's input dtype and `y` as arrays, both shaped (samples, ...).

    Raises BadInputError when `x` is empty, its per-sample shape does not fit the
    model's input, or `y` has a different sample count.
    """
    x = np.asarray(x)
    if x.ndim == 0 or len(x) == 0:
        raise BadInputError("the training data is empty")
    want = tuple(model.inputs[0].shape[1:])
    if len(want) != x.ndim - 1 or any(w is not None and w != g for w, g in zip(want, x.shape[1:])):
        raise BadInputError(f"the data has shape {x.shape[1:]}, the model expects {want}")
    x = x.astype(str(model.inputs[0].dtype), copy=False)
    if y is not None:
        y = np.asarray(y)
        if len(y) != len(x):
            raise BadInputError(f"{len(x)} inputs but {len(y)} labels")
    return x, y


def predict(model: Any, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The Keras `model`'s outputs for `x` (samples on axis 0), quietly, in batches of `batch_size`."""
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0))


def fit(
    model: Any,
    x: np.ndarray,
    targets: np.ndarray,
    *,
    loss: Any,
    metrics: list[str],
    epochs: int,
    batch_size: int,
    learning_rate: float,
    progress: Reporter,
    cancel: CancelToken,
    stage: str,
    label: str,
    on_batch_end: Callable[[int], None] | None = None,
    span: tuple[float, float] = (0.0, 1.0),
) -> dict[str, list[float]]:
    """Compile and fit `model`; returns the history (lists of per-epoch figures)."""
    keras = keras_module()
    if epochs <= 0:
        return {}
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=list(metrics))
    total = epochs * steps_per_epoch(len(x), batch_size)
    callback = make_engine_callback(
        progress, cancel, total_steps=total, stage=stage, label=label, on_batch_end=on_batch_end, span=span
    )
    history = model.fit(x, targets, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0, callbacks=[callback])
    return {k: [float(v) for v in vals] for k, vals in history.history.items()}


def fine_tune(
    model: Any,
    original: Any,
    x: np.ndarray,
    y: np.ndarray | None,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    progress: Reporter,
    cancel: CancelToken,
    stage: str,
    label: str,
    on_batch_end: Callable[[int], None] | None = None,
    soft: np.ndarray | None = None,
    span: tuple[float, float] = (0.0, 1.0),
) -> dict[str, list[float]]:
    """Fine-tune `model` on labels when there are any, else on `original`'s outputs."""
    if epochs <= 0:
        return {}
    if y is None:
        targets = soft if soft is not None else predict(original, x)
        loss, metrics = loss_for(model, None, soft_targets=True)
    else:
        targets = y
        loss, metrics = loss_for(model, y, soft_targets=False)
    return fit(
        model,
        x,
        targets,
        loss=loss,
        metrics=metrics,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        progress=progress,
        cancel=cancel,
        stage=stage,
        label=label,
        on_batch_end=on_batch_end,
        span=span,
    )


def seed_everything(seed: int | None) -> None:
    """Seed Python, NumPy and the Keras backend (`keras.utils.set_random_seed`); None leaves them be."""
    if seed is not None:
        keras_module().utils.set_random_seed(int(seed))


def clone_with_weights(model: Any) -> Any:
    """A fresh copy of a Sequential/functional model with the same weights (the input stays untouched)."""
    keras = keras_module()
    try:
        copy = keras.models.clone_model(model)
    except Exception as exc:  # subclassed models cannot be cloned from their config
        raise BadInputError(f"cannot copy model {model.name!r}: {exc}") from exc
    copy.set_weights(model.get_weights())
    return copy
