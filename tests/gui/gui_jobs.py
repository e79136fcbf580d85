"""Job functions the GUI tests run in the engine (they must live in an importable module)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Done:
    value: object
    pid: int


def echo(value, *, progress, cancel):
    progress(0.5, "halfway", stage="echo")
    progress.log("echoing", level="warning")
    progress.partial("value", value)
    return Done(value=value, pid=os.getpid())


def slow_loop(seconds: float, *, progress, cancel):
    """Reports progress and checks the cancel token until `seconds` pass."""
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < seconds:
        cancel.raise_if_cancelled()
        progress(elapsed / seconds, f"{elapsed:.1f} s", stage="looping")
        time.sleep(0.02)
    return Done(value="finished", pid=os.getpid())


def build_tiny_keras(path: str, *, progress, cancel):
    """A small conv net saved as .keras, built in the engine's child (which has TensorFlow)."""
    from core.tf_runtime import import_tensorflow

    import_tensorflow()
    import keras

    progress(0.5, "building", stage="build")
    model = keras.Sequential(
        [
            keras.Input((12, 12, 1), name="image"),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
            keras.layers.MaxPooling2D(2, name="pool"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(8, activation="relu", name="hidden"),
            keras.layers.Dense(3, activation="softmax", name="probabilities"),
        ],
        name="tiny",
    )
    model.save(path)
    return Done(value=path, pid=os.getpid())


def slow_inspect(path: str, *, progress, cancel):
    """Stands in for `inspect_model`: never finishes on its own within a test."""
    return slow_loop(120.0, progress=progress, cancel=cancel)


# Stand-ins for the engine's optimize and auto jobs: they keep the options the window sent, then fail
# the way the core does when no variant survives (a ConversionError), so the window shows its error dialog.
SEEN_OPTIONS: list = []


def refusing_optimize(model_path, recipes, data=None, *, progress, cancel, options=None, cache=None, **kwargs):
    from core.errors import ConversionError

    SEEN_OPTIONS.append(options)
    raise ConversionError("no requested variant survived: every one outputs NaN", path=model_path)


def refusing_auto(model_path, budget=None, data=None, settings=None, *, progress, cancel):
    from core.errors import ConversionError

    SEEN_OPTIONS.append(settings)
    raise ConversionError("no candidate survived: every one outputs NaN", path=model_path)
