"""Tiny models and data for the optimization pipeline's tests (built in-process, seconds to train)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.tf_runtime import import_keras


def classifier(folder: Path, *, n: int = 300, seed: int = 0) -> tuple[Path, Path]:
    """A 3-class MLP on 8 features, trained a little; returns (model.keras, data.npz)."""
    keras = import_keras()
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)
    inputs = keras.Input((8,), name="features")
    h = keras.layers.Dense(16, activation="relu", name="hidden")(inputs)
    out = keras.layers.Dense(3, activation="softmax", name="probs")(h)
    model = keras.Model(inputs, out, name="tiny_classifier")
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=20, batch_size=64, verbose=0)
    model_path = folder / "classifier.keras"
    data_path = folder / "classifier.npz"
    model.save(model_path)
    np.savez(data_path, x=x, y=y)
    return model_path, data_path


def sensitive_model(folder: Path, *, n: int = 256, seed: int = 0) -> tuple[Path, Path]:
    """A regression model with one layer that int8 serves badly.

    The input's 8 features are standard-normal except the last, scaled by 1000: a
    per-tensor int8 scale for the input (or anything computed from it before it
    is brought back to a normal range) crushes the 7 small features. The first
    layer ("scale_down") divides the big feature back down; keeping that layer in
    float restores the model.
    """
    keras = import_keras()
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 8)).astype(np.float32)
    x[:, 7] *= 1000.0
    inputs = keras.Input((8,), name="features")
    scale = np.ones(8, np.float32)
    scale[7] = 1e-3
    scaled = keras.layers.Rescaling(scale=scale, name="scale_down")(inputs)
    h = keras.layers.Dense(16, activation="tanh", name="hidden")(scaled)
    # A decisive head (large weights): once the input is served well, int8 keeps every decision.
    out = keras.layers.Dense(2, name="head", kernel_initializer=keras.initializers.RandomNormal(stddev=3.0))(h)
    model = keras.Model(inputs, out, name="sensitive")
    model_path = folder / "sensitive.keras"
    data_path = folder / "sensitive.npz"
    model.save(model_path)
    np.savez(data_path, x=x)
    return model_path, data_path
