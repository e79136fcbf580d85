"""`--task OUT=binary` on an output of logits: scored as asked, with a warning that its 0.5 cut is a score of
0.5, not a probability (the values' range checked by hand: the model computes 2 x the first feature)."""

from __future__ import annotations

import os

import numpy as np

from core.tf_runtime import import_keras
from tests.zoo_cli import litesmith


def test_binary_on_logits_warns_with_the_values_range(tmp_path):
    keras = import_keras()
    model = keras.Sequential([keras.Input((4,), name="features"), keras.layers.Dense(1, name="logit")])
    model.layers[-1].set_weights([np.array([[2.0], [0.0], [0.0], [0.0]], "float32"), np.zeros(1, "float32")])
    path = tmp_path / "logits.keras"
    model.save(path)
    x = np.random.default_rng(3).uniform(-3, 3, (120, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    np.savez(tmp_path / "eval.npz", x=x, y=y)
    (tmp_path / "out").mkdir()
    args = ["optimize", path, "-q", "fp32", "--data", tmp_path / "eval.npz", "--eval-data", tmp_path / "eval.npz"]
    run = litesmith(*args, "--out", f"{tmp_path / 'out'}{os.sep}", "--task", "logit=binary", "--no-cache")
    assert run.code == 0, run
    lows, highs = 2 * x[:, 0].min(), 2 * x[:, 0].max()
    warning = f"from {lows:.3g} to {highs:.3g}, not probabilities in [0, 1]"
    assert warning in run.err and "scored as binary at the threshold 0.5" in run.err, run.err
    # Without --task the output is regression (labels 0/1, values outside [0, 1]) and nothing is said.
    run = litesmith(*args, "--out", f"{tmp_path / 'out'}{os.sep}", "--no-cache")
    assert run.code == 0 and "not probabilities" not in run.err, run
