"""The bundled samples: present, small, safe to load, and as good as their JSON says."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.evaluation.metrics import binary_metrics, classification_metrics

REPO = Path(__file__).resolve().parents[1]
BUILD_SCRIPT = REPO / "resources" / "build_samples.py"
MAX_BYTES = 2 * 1024 * 1024
PREDICT_BATCH = 256  # as in build_samples.py
TOL = 1e-3  # inference is deterministic; this only absorbs CPU-to-CPU rounding

SAMPLE_FILES = [
    f"{name}{suffix}" for name in ("fraud", "digits") for suffix in (".keras", ".json", "_calib.npz", "_eval.npz")
]


def _json(samples_dir: Path, name: str) -> dict:
    return json.loads((samples_dir / f"{name}.json").read_text())


def _split(samples_dir: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    with np.load(samples_dir / name, allow_pickle=False) as data:
        assert sorted(data.files) == ["x", "y"]
        return data["x"], data["y"]


@pytest.fixture(scope="module")
def keras():
    from core.tf_runtime import import_keras

    return import_keras()


@pytest.fixture(scope="module")
def models(keras, samples_dir):
    return {
        name: keras.saving.load_model(samples_dir / f"{name}.keras", safe_mode=True, compile=False)
        for name in ("fraud", "digits")
    }


@pytest.fixture(scope="module")
def eval_scores(models, samples_dir):
    out = {}
    for name, model in models.items():
        x, _ = _split(samples_dir, f"{name}_eval.npz")
        out[name] = np.asarray(model.predict(x, batch_size=PREDICT_BATCH, verbose=0))
    return out


@pytest.mark.parametrize("filename", SAMPLE_FILES)
def test_sample_file_is_committed_and_small(samples_dir, filename):
    path = samples_dir / filename
    assert path.is_file(), f"{path} is missing: run resources/build_samples.py"
    assert 0 < path.stat().st_size < MAX_BYTES


def test_models_load_in_safe_mode_with_the_documented_signature(models, samples_dir):
    fraud, digits = models["fraud"], models["digits"]
    assert tuple(fraud.input_shape) == (None, 30)
    assert tuple(fraud.output_shape) == (None, 1)
    assert tuple(digits.input_shape) == (None, 8, 8, 1)
    assert tuple(digits.output_shape) == (None, 10)
    for name, model in models.items():
        assert model.inputs[0].dtype == "float32"
        assert list(_json(samples_dir, name)["input_shape"]) == list(model.input_shape)
        kinds = {type(layer).__name__ for layer in model.layers}
        assert "Lambda" not in kinds
    assert "Normalization" in {type(layer).__name__ for layer in fraud.layers}
    digit_kinds = {type(layer).__name__ for layer in digits.layers}
    assert {"Conv2D", "BatchNormalization"} <= digit_kinds


def test_fraud_splits_are_rare_class_float32(samples_dir):
    for split, rows in (("calib", 2000), ("eval", 20000)):
        x, y = _split(samples_dir, f"fraud_{split}.npz")
        assert x.dtype == np.float32 and x.shape == (rows, 30)
        assert np.issubdtype(y.dtype, np.integer) and y.shape == (rows,)
        assert set(np.unique(y).tolist()) == {0, 1}
        assert np.all(np.isfinite(x))
        assert 0.004 <= y.mean() <= 0.006, f"{split}: {y.mean():.4%} fraud"
    _, y_eval = _split(samples_dir, "fraud_eval.npz")
    assert int(y_eval.sum()) >= 80, "too few frauds in eval for a meaningful PR-AUC"
    assert _json(samples_dir, "fraud")["positives"] == int(y_eval.sum())


def test_digit_splits_are_scaled_images(samples_dir):
    for split, rows in (("calib", 300), ("eval", 400)):
        x, y = _split(samples_dir, f"digits_{split}.npz")
        assert x.dtype == np.float32 and x.shape == (rows, 8, 8, 1)
        assert 0.0 <= x.min() and x.max() <= 1.0
        assert np.issubdtype(y.dtype, np.integer) and y.shape == (rows,)
        assert set(np.unique(y).tolist()) == set(range(10))


def test_digits_reach_the_recorded_accuracy(samples_dir, eval_scores):
    recorded = _json(samples_dir, "digits")
    _, y = _split(samples_dir, "digits_eval.npz")
    m = classification_metrics(y, eval_scores["digits"])
    assert recorded["eval_samples"] == m.samples == len(y)
    assert m.accuracy == pytest.approx(recorded["accuracy"], abs=TOL)
    assert m.accuracy >= 0.9


def test_fraud_reaches_the_recorded_figures(samples_dir, eval_scores):
    recorded = _json(samples_dir, "fraud")
    _, y = _split(samples_dir, "fraud_eval.npz")
    scores = eval_scores["fraud"]
    assert scores.shape == (len(y), 1)
    assert 0.0 <= scores.min() and scores.max() <= 1.0
    m = binary_metrics(y, scores, threshold=recorded["threshold"])
    assert recorded["eval_samples"] == m.samples == len(y)
    assert recorded["positives"] == m.positives
    for key in ("accuracy", "pr_auc", "roc_auc"):
        assert getattr(m, key) == pytest.approx(recorded[key], abs=TOL), key
    # Precision and recall move in steps of 1/(predicted positives) and 1/positives:
    # allow one decision at the threshold to fall the other way on another CPU.
    for key in ("precision", "recall"):
        assert getattr(m, key) == pytest.approx(recorded[key], abs=0.011), key
    # Learnable but not trivial, and far better than chance (PR-AUC of chance = 0.005).
    assert 0.3 <= m.pr_auc <= 0.95
    assert m.roc_auc >= 0.85


@pytest.mark.slow
def test_rebuilding_gives_close_figures(tmp_path, samples_dir):
    done = subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    for name in ("fraud", "digits"):
        rebuilt = _json(tmp_path, name)
        committed = _json(samples_dir, name)
        assert rebuilt["eval_samples"] == committed["eval_samples"]
        assert rebuilt["accuracy"] == pytest.approx(committed["accuracy"], abs=0.03), name
        for filename in (f"{name}.keras", f"{name}_calib.npz", f"{name}_eval.npz"):
            assert (tmp_path / filename).stat().st_size < MAX_BYTES
    # The data splits are generated from seeds alone, so they match exactly.
    for filename in ("fraud_eval.npz", "digits_eval.npz"):
        new_x, new_y = _split(tmp_path, filename)
        old_x, old_y = _split(samples_dir, filename)
        np.testing.assert_array_equal(new_x, old_x)
        np.testing.assert_array_equal(new_y, old_y)
    # Fraud accuracy sits near 99 % whatever the model does; the ranking must hold up too.
    assert _json(tmp_path, "fraud")["pr_auc"] == pytest.approx(_json(samples_dir, "fraud")["pr_auc"], abs=0.1)
    assert not list(tmp_path.glob(".*")), "temporary files left behind"
