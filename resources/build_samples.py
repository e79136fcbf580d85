"""Build the bundled sample models and their labelled data splits.

    .venv/bin/python resources/build_samples.py [--out DIR] [--only fraud|digits]

Writes into resources/samples/ (or DIR):

* ``fraud.keras``  an MLP scoring synthetic card transactions (30 raw float32
  features in, one sigmoid fraud probability out), ``fraud_calib.npz`` and
  ``fraud_eval.npz`` (``x`` float32, ``y`` int64, 0.5 % fraud), ``fraud.json``.
* ``digits.keras`` a small CNN on scikit-learn's 8x8 digits (no download),
  ``digits_calib.npz``, ``digits_eval.npz``, ``digits.json``.

Everything is seeded (numpy, Keras, TensorFlow op determinism, one CPU thread), so a
rebuild on the same machine gives the same weights; on another CPU the figures
may move a little. The JSON figures are measured on the eval split with the
model saved and loaded back the way Litesmith loads it (safe_mode, no compile).
Each file is written to a temporary name in the output folder, then renamed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from core.evaluation.metrics import binary_metrics, classification_metrics  # noqa: E402
from core.tf_runtime import import_tensorflow  # noqa: E402

SEED = 20261128
DEFAULT_OUT = REPO_ROOT / "resources" / "samples"
PREDICT_BATCH = 256  # the tests predict with the same batch size

FRAUD_FEATURES = ["hour"] + [f"V{i}" for i in range(1, 29)] + ["log_amount"]
FRAUD_RATE = 0.005
FRAUD_SPLITS = {"train": 60_000, "calib": 2_000, "eval": 20_000}
# Fraud shifts these PCA-like components (by this many standard deviations, scaled
# per case by a random strength so some frauds look ordinary).
FRAUD_SHIFTS = {3: -1.4, 4: 1.1, 7: -0.8, 10: -1.1, 11: 0.9, 12: -1.3, 14: -1.6, 16: -0.8, 17: -1.2}
FRAUD_CLASS_WEIGHT = {0: 1.0, 1: 10.0}

DIGITS_CALIB = 300
DIGITS_EVAL = 400


# ---------------------------------------------------------------------------
# Helpers


def _setup_tf():
    tf = import_tensorflow()
    # CPU only: a GPU would train to (slightly) different weights than the CPU builds.
    tf.config.set_visible_devices([], "GPU")
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.experimental.enable_op_determinism()
    import keras

    return tf, keras


def _seed(keras, offset: int) -> None:
    keras.utils.set_random_seed(SEED + offset)


def _atomic_write(path: Path, write) -> None:
    """Call write(tmp_path) on a temporary file beside `path`, then rename it over `path`."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _save_npz(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, x=x, y=y)

    _atomic_write(path, write)


def _save_json(path: Path, data: dict) -> None:
    _atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2) + "\n"))


def _save_model(path: Path, model) -> None:
    _atomic_write(path, lambda tmp: model.save(tmp))


def _reload(keras, path: Path):
    return keras.saving.load_model(path, safe_mode=True, compile=False)


# ---------------------------------------------------------------------------
# Fraud


def make_transactions(rng: np.random.Generator, n: int, frauds: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` synthetic card transactions, exactly `frauds` of them fraudulent, in random order.

    Columns: hour of day (0-24), V1..V28 (uncorrelated, heavy-tailed, falling
    variance like PCA components, 3 decimals), log_amount (log1p of a log-normal
    amount, as fraud pipelines feed it: raw amounts span 0-5000 and would share
    one int8 input scale with features of +-3). Frauds come in two
    kinds: card testing (small amounts, at night) and account takeover (large
    amounts, any time); both are shifted in a few V components.
    """
    y = np.zeros(n, dtype=np.int64)
    y[:frauds] = 1
    rng.shuffle(y)
    sd = 2.0 * 0.94 ** np.arange(28)
    df = 6
    v = rng.standard_t(df, size=(n, 28)) * sd * np.sqrt((df - 2) / df)
    hour = np.mod(rng.normal(14.0, 4.5, n), 24.0)
    amount = rng.lognormal(3.4, 1.2, n)

    idx = np.flatnonzero(y)
    k = len(idx)
    testing = rng.random(k) < 0.55
    hour[idx] = np.where(testing, np.mod(rng.normal(3.0, 3.0, k), 24.0), rng.uniform(0.0, 24.0, k))
    amount[idx] = np.where(testing, rng.lognormal(1.0, 0.9, k), rng.lognormal(5.0, 1.0, k))
    strength = rng.uniform(0.35, 1.3, k)
    for component, shift in FRAUD_SHIFTS.items():
        j = component - 1
        v[idx, j] += shift * sd[j] * strength * (1.0 + 0.3 * rng.standard_normal(k))
    # Published the way such data usually is: minutes, 3 decimals (it also
    # keeps the eval split small on disk).
    x = np.column_stack([np.floor(hour * 60.0) / 60.0, np.round(v, 3), np.round(np.log1p(amount), 3)]).astype(
        np.float32
    )
    return x, y


def build_fraud(out: Path, keras, log) -> dict:
    rng = np.random.default_rng(SEED)
    splits = {name: make_transactions(rng, n, round(n * FRAUD_RATE)) for name, n in FRAUD_SPLITS.items()}
    x_train, y_train = splits["train"]

    _seed(keras, 1)
    norm = keras.layers.Normalization(name="standardize")
    norm.adapt(x_train)
    model = keras.Sequential(
        [
            keras.Input(shape=(len(FRAUD_FEATURES),), dtype="float32", name="transaction"),
            norm,
            keras.layers.Dense(64, activation="relu", name="dense_1"),
            keras.layers.Dropout(0.2, name="dropout"),
            keras.layers.Dense(32, activation="relu", name="dense_2"),
            keras.layers.Dense(1, activation="sigmoid", name="fraud_probability"),
        ],
        name="fraud_mlp",
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    model.fit(x_train, y_train, batch_size=256, epochs=20, class_weight=FRAUD_CLASS_WEIGHT, shuffle=True, verbose=0)

    for name in ("calib", "eval"):
        _save_npz(out / f"fraud_{name}.npz", *splits[name])
    path = out / "fraud.keras"
    _save_model(path, model)

    x_eval, y_eval = splits["eval"]
    scores = _reload(keras, path).predict(x_eval, batch_size=PREDICT_BATCH, verbose=0)
    m = binary_metrics(y_eval, scores, threshold=0.5)
    figures = {
        "task": "binary",
        "accuracy": m.accuracy,
        "pr_auc": m.pr_auc,
        "roc_auc": m.roc_auc,
        "precision": m.precision,
        "recall": m.recall,
        "threshold": 0.5,
        "eval_samples": m.samples,
        "positives": m.positives,
        "keras_version": keras.__version__,
        "seed": SEED,
        "input_shape": [None, len(FRAUD_FEATURES)],
        "features": FRAUD_FEATURES,
    }
    _save_json(out / "fraud.json", figures)
    log(
        f"fraud: accuracy {m.accuracy:.4f}  PR-AUC {m.pr_auc:.4f}  ROC-AUC {m.roc_auc:.4f}  "
        f"precision {m.precision:.3f}  recall {m.recall:.3f}"
    )
    return figures


# ---------------------------------------------------------------------------
# Digits


def load_digit_splits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """sklearn's 1797 8x8 digits scaled to [0, 1], split (stratified, seeded) into train/calib/eval."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = (data.images.astype(np.float32) / 16.0)[..., np.newaxis]
    y = data.target.astype(np.int64)
    x_rest, x_eval, y_rest, y_eval = train_test_split(
        x, y, test_size=DIGITS_EVAL, stratify=y, random_state=SEED % (2**32)
    )
    x_train, x_calib, y_train, y_calib = train_test_split(
        x_rest, y_rest, test_size=DIGITS_CALIB, stratify=y_rest, random_state=SEED % (2**32) + 1
    )
    return {"train": (x_train, y_train), "calib": (x_calib, y_calib), "eval": (x_eval, y_eval)}


def build_digits(out: Path, keras, log) -> dict:
    splits = load_digit_splits()
    x_train, y_train = splits["train"]

    _seed(keras, 2)
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1), dtype="float32", name="image"),
            layers.Conv2D(16, 3, padding="same", use_bias=False, name="conv_1"),
            layers.BatchNormalization(name="bn_1"),
            layers.ReLU(name="relu_1"),
            layers.Conv2D(32, 3, padding="same", use_bias=False, name="conv_2"),
            layers.BatchNormalization(name="bn_2"),
            layers.ReLU(name="relu_2"),
            layers.MaxPooling2D(2, name="pool"),
            layers.Flatten(name="flatten"),
            layers.Dense(64, activation="relu", name="dense"),
            layers.Dropout(0.3, name="dropout"),
            layers.Dense(10, activation="softmax", name="class_probabilities"),
        ],
        name="digits_cnn",
    )
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy")
    model.fit(x_train, y_train, batch_size=32, epochs=30, shuffle=True, verbose=0)

    for name in ("calib", "eval"):
        _save_npz(out / f"digits_{name}.npz", *splits[name])
    path = out / "digits.keras"
    _save_model(path, model)

    x_eval, y_eval = splits["eval"]
    scores = _reload(keras, path).predict(x_eval, batch_size=PREDICT_BATCH, verbose=0)
    m = classification_metrics(y_eval, scores)
    figures = {
        "task": "multiclass",
        "accuracy": m.accuracy,
        "eval_samples": m.samples,
        "classes": 10,
        "keras_version": keras.__version__,
        "seed": SEED,
        "input_shape": [None, 8, 8, 1],
    }
    _save_json(out / "digits.json", figures)
    log(f"digits: accuracy {m.accuracy:.4f}")
    return figures


# ---------------------------------------------------------------------------


BUILDERS = {"fraud": build_fraud, "digits": build_digits}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: resources/samples)")
    parser.add_argument("--only", choices=sorted(BUILDERS), action="append", help="build only this sample (repeatable)")
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    _, keras = _setup_tf()

    def log(message: str) -> None:
        print(message, flush=True)

    for name in args.only or list(BUILDERS):
        start = time.perf_counter()
        BUILDERS[name](out, keras, log)
        log(f"{name}: built in {time.perf_counter() - start:.1f} s")
    for path in sorted(out.iterdir()):
        if path.is_file() and not path.name.startswith("."):
            log(f"  {path.name:20s} {path.stat().st_size / 1024:8.1f} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
