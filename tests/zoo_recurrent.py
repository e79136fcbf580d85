"""Issue 11's zoo: recurrent layers, free dimensions, attention and a custom layer, with oracle facts.

Each ``build_<kind>(folder)`` writes a small trained ``model.keras`` plus ``calib.npz`` / ``eval.npz`` into
``folder/<kind>/`` and returns a :class:`tests.zoo.ZooCase` whose facts are computed with Keras and
scikit-learn only (see tests/zoo.py for the common fact fields). Builders are deterministic (seeded), tiny
(a few hundred samples, a few epochs: about 1-2 s each on 2 cores) and their data is learnable.

Extra facts of this zoo:

- ``eval_shapes``: per input, the eval data's shape without the batch axis (what a free dimension resolves
  to); ``calib_shapes`` likewise for the calibration data;
- ``free_inputs``: per input with free dimensions, the free axes (counting the batch axis as 0);
- ``hand_macs``: multiply-accumulates for ONE sample at the eval shape, per layer name (layers that count
  0 are left out), written by hand in each builder with the formula next to it; ``hand_macs_total`` is
  their sum. FLOPs = 2 x MACs, as ``litesmith inspect`` reports them (core/models/inspection.py).
- ``custom_objects``: the Python file that holds a custom layer's code (the custom-layer kind only).

Conventions of the hand counts (standard: one MAC per weight use, no bias, no activation):

- Dense: ``rows x in x units`` (rows = every axis between batch and features: the steps of a sequence);
- ConvND: ``prod(output spatial) x prod(kernel) x in/groups x filters``;
- LSTM: per step ``4 x units x (in + units)`` (the input kernel (in, 4u) and the recurrent kernel (u, 4u)),
  times the sequence length; GRU: the same with 3 gates (``reset_after=True``: the recurrent kernel is
  (u, 3u) too); element-wise gate products, biases and activations are not counted;
- Bidirectional: 2 x the wrapped layer; TimeDistributed: the inner layer's count per step x steps;
- MultiHeadAttention (self-attention, T steps of width D, H heads of size K, output width D):
  query/key/value projections ``3 x T x D x H x K``, scores ``H x T x T x K``, weighted values
  ``H x T x T x K``, output projection ``T x H x K x D``; the softmax is not counted;
- LayerNormalization / BatchNormalization: one MAC per element (the scale-and-shift ``gamma * x + beta``);
- pooling: one per input element read (an add for average pooling); Add, Activation, softmax: 0.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

from core.tf_runtime import import_keras
from tests.zoo import ZooCase, _facts, _fit, _folder, _keras_reference, _save_npz, _seed

REPO = Path(__file__).resolve().parents[1]
CUSTOM_LAYERS_FILE = REPO / "tests" / "custom_layers_for_tests.py"


def _case(kind: str, out: Path, path: Path, *, splits: dict, name: str, output_task: str,
          hand_macs: dict[str, int], free_inputs: dict | None = None, **extra) -> ZooCase:
    """Save calib/eval ({"x": ..., "y": ...}) and compute the facts from the saved file (safe mode)."""
    for split, (x, y) in splits.items():
        _save_npz(out / f"{split}.npz", {"x": x, "y": y})
    xev, yev = splits["eval"]
    reference, in_names, out_names = _keras_reference(path, {name: xev})
    assert in_names == (name,), in_names
    facts = _facts(fmt="keras", inputs=in_names, input_dtypes={name: str(xev.dtype)},
                   input_shapes={name: _declared_shape(path)}, outputs=out_names,
                   tasks={out_names[0]: output_task}, reference=reference, labels={out_names[0]: "y"},
                   eval_data={"y": yev}, data_layout="x",
                   eval_shapes={name: xev.shape[1:]}, calib_shapes={name: splits["calib"][0].shape[1:]},
                   free_inputs=dict(free_inputs or {}), hand_macs=dict(hand_macs),
                   hand_macs_total=int(sum(hand_macs.values())), **extra)
    return ZooCase(kind, path, out / "calib.npz", out / "eval.npz", facts)


def _declared_shape(path: Path) -> tuple:
    keras = import_keras()
    model = keras.saving.load_model(path, safe_mode=True)
    return tuple(model.inputs[0].shape[1:])


# ---------------------------------------------------------------- builders

def build_lstm_classifier(folder: Path) -> ZooCase:
    """``signal`` (16, 4) -> LSTM(12) -> ``label`` Dense(3) softmax. The class is the channel (of the first
    three) with the largest sum over time."""
    keras = import_keras()
    layers = keras.layers
    out = _folder(folder, "lstm_classifier")
    rng = _seed(11001)
    T, F, U, K = 16, 4, 12, 3

    def make(n):
        x = rng.normal(0, 1, (n, T, F)).astype("float32")
        return x, x[:, :, :K].sum(1).argmax(-1).astype("int64")

    (xtr, ytr), calib, evaluation = make(400), make(64), make(160)
    inp = keras.Input((T, F), name="signal")
    z = layers.LSTM(U, name="lstm")(inp)
    model = keras.Model(inp, layers.Dense(K, activation="softmax", name="label")(z), name="zoo_lstm_classifier")
    _fit(model, xtr, ytr, epochs=8, loss="sparse_categorical_crossentropy")
    path = out / "model.keras"
    model.save(path)
    hand = {
        "lstm": T * 4 * U * (F + U),      # 16 steps x 4 gates x 12 units x (4 inputs + 12 recurrent) = 12,288
        "label": U * K,                   # 12 x 3 = 36
    }
    return _case("lstm_classifier", out, path, splits={"calib": calib, "eval": evaluation}, name="signal",
                 output_task="multiclass", hand_macs=hand)


def build_gru_free_length(folder: Path) -> ZooCase:
    """``frames`` (None, 5) -> GRU(8, return_sequences) -> ``tags`` Dense(3) softmax per step. The tag at
    step t is the argmax of ``x[t, :3] + x[t-1, :3]``. Trained and calibrated at length 20, evaluated at 33."""
    keras = import_keras()
    layers = keras.layers
    out = _folder(folder, "gru_free_length")
    rng = _seed(11002)
    F, U, K = 5, 8, 3
    T_CALIB, T_EVAL = 20, 33

    def make(n, t):
        x = rng.normal(0, 1, (n, t, F)).astype("float32")
        prev = np.pad(x[:, :-1, :K], ((0, 0), (1, 0), (0, 0)))
        return x, (x[:, :, :K] + prev).argmax(-1).astype("int64")

    (xtr, ytr), calib, evaluation = make(400, T_CALIB), make(64, T_CALIB), make(120, T_EVAL)
    inp = keras.Input((None, F), name="frames")
    z = layers.GRU(U, return_sequences=True, name="gru")(inp)
    model = keras.Model(inp, layers.Dense(K, activation="softmax", name="tags")(z), name="zoo_gru_free_length")
    _fit(model, xtr, ytr, epochs=8, loss="sparse_categorical_crossentropy")
    path = out / "model.keras"
    model.save(path)
    hand = {   # at the eval length T = 33; per step: GRU 3 x 8 x (5 + 8) = 312, head 8 x 3 = 24
        "gru": T_EVAL * 3 * U * (F + U),  # 33 x 312 = 10,296
        "tags": T_EVAL * U * K,           # 33 x 24 = 792
    }
    return _case("gru_free_length", out, path, splits={"calib": calib, "eval": evaluation}, name="frames",
                 output_task="sequence", hand_macs=hand, free_inputs={"frames": (1,)},
                 per_step_macs=3 * U * (F + U) + U * K, lengths={"calib": T_CALIB, "eval": T_EVAL})


def build_bilstm(folder: Path) -> ZooCase:
    """``series`` (12, 4) -> Bidirectional(LSTM(8)) -> ``anomaly`` Dense(1) sigmoid: is the first half's sum
    of channel 0 larger than the second half's?"""
    keras = import_keras()
    layers = keras.layers
    out = _folder(folder, "bilstm")
    rng = _seed(11003)
    T, F, U = 12, 4, 8

    def make(n):
        x = rng.normal(0, 1, (n, T, F)).astype("float32")
        return x, (x[:, : T // 2, 0].sum(1) > x[:, T // 2:, 0].sum(1)).astype("int64")

    (xtr, ytr), calib, evaluation = make(400), make(64), make(160)
    inp = keras.Input((T, F), name="series")
    z = layers.Bidirectional(layers.LSTM(U), name="bilstm")(inp)
    model = keras.Model(inp, layers.Dense(1, activation="sigmoid", name="anomaly")(z), name="zoo_bilstm")
    _fit(model, xtr, ytr, epochs=8, loss="binary_crossentropy")
    path = out / "model.keras"
    model.save(path)
    hand = {
        "bilstm": 2 * T * 4 * U * (F + U),   # 2 directions x 12 steps x 4 gates x 8 x (4 + 8) = 9,216
        "anomaly": 2 * U * 1,                # 16 x 1 = 16
    }
    return _case("bilstm", out, path, splits={"calib": calib, "eval": evaluation}, name="series",
                 output_task="binary", hand_macs=hand)


def build_time_distributed(folder: Path) -> ZooCase:
    """``frames`` (16, 6) -> Conv1D(8, 3, same) -> GRU(8, return_sequences) -> ``tags``
    TimeDistributed(Dense(4) softmax). The tag at step t is the argmax of a 3-step moving sum of the
    first four features."""
    keras = import_keras()
    layers = keras.layers
    out = _folder(folder, "time_distributed")
    rng = _seed(11004)
    T, F, C, U, K = 16, 6, 8, 8, 4

    def make(n):
        x = rng.normal(0, 1, (n, T, F)).astype("float32")
        padded = np.pad(x[:, :, :K], ((0, 0), (1, 1), (0, 0)))
        return x, (padded[:, :-2] + padded[:, 1:-1] + padded[:, 2:]).argmax(-1).astype("int64")

    (xtr, ytr), calib, evaluation = make(400), make(64), make(160)
    inp = keras.Input((T, F), name="frames")
    z = layers.Conv1D(C, 3, padding="same", activation="relu", name="conv")(inp)
    z = layers.GRU(U, return_sequences=True, name="gru")(z)
    head = layers.TimeDistributed(layers.Dense(K, activation="softmax"), name="tags")(z)
    model = keras.Model(inp, head, name="zoo_time_distributed")
    _fit(model, xtr, ytr, epochs=8, loss="sparse_categorical_crossentropy")
    path = out / "model.keras"
    model.save(path)
    hand = {
        "conv": T * 3 * F * C,            # 16 outputs x kernel 3 x 6 in x 8 filters = 2,304
        "gru": T * 3 * U * (C + U),       # 16 steps x 3 gates x 8 x (8 + 8) = 6,144
        "tags": T * U * K,                # TimeDistributed: 16 steps x Dense 8 x 4 = 512
    }
    return _case("time_distributed", out, path, splits={"calib": calib, "eval": evaluation}, name="frames",
                 output_task="sequence", hand_macs=hand)


def build_fcn_free_hw(folder: Path) -> ZooCase:
    """``image`` (None, None, 3) -> Conv2D(8, 3) -> Conv2D(8, 3) -> ``mask`` Conv2D(3, 1) softmax per pixel.
    Images are a noisy one-hot rendering of two rectangles (classes 1, 2) on background 0; the data is
    24 x 20 (height x width) throughout."""
    keras = import_keras()
    layers = keras.layers
    out = _folder(folder, "fcn_free_hw")
    rng = _seed(11005)
    H, W, K, C = 24, 20, 3, 8

    def make(n):
        y = np.zeros((n, H, W), "int64")
        for i in range(n):
            for cls in (1, 2):
                r, c = rng.integers(0, H - 6), rng.integers(0, W - 6)
                h, w = rng.integers(3, 10, 2)
                y[i, r:r + h, c:c + w] = cls
        x = np.eye(K, dtype="float32")[y] + rng.normal(0, 0.8, (n, H, W, K)).astype("float32")
        return x, y

    (xtr, ytr), calib, evaluation = make(160), make(24), make(48)
    inp = keras.Input((None, None, 3), name="image")
    z = layers.Conv2D(C, 3, padding="same", activation="relu", name="conv1")(inp)
    z = layers.Conv2D(C, 3, padding="same", activation="relu", name="conv2")(z)
    model = keras.Model(inp, layers.Conv2D(K, 1, activation="softmax", name="mask")(z), name="zoo_fcn_free_hw")
    _fit(model, xtr, ytr, epochs=5, loss="sparse_categorical_crossentropy", batch_size=16)
    path = out / "model.keras"
    model.save(path)
    pixels = H * W                        # at the data's 24 x 20
    hand = {
        "conv1": pixels * 3 * 3 * 3 * C,  # 480 x (3x3 kernel x 3 in x 8) = 480 x 216 = 103,680
        "conv2": pixels * 3 * 3 * C * C,  # 480 x (3x3 x 8 x 8) = 480 x 576 = 276,480
        "mask": pixels * 1 * C * K,       # 480 x (1x1 x 8 x 3) = 480 x 24 = 11,520
    }
    return _case("fcn_free_hw", out, path, splits={"calib": calib, "eval": evaluation}, name="image",
                 output_task="segmentation", hand_macs=hand, free_inputs={"image": (1, 2)},
                 per_pixel_macs=27 * C + 9 * C * C + C * K)


def build_attention(folder: Path) -> ZooCase:
    """``tokens`` (10, 8) -> MultiHeadAttention(2 heads, key_dim 4) self-attention -> Add -> LayerNormalization
    -> GlobalAveragePooling1D -> ``label`` Dense(3) softmax. The class is the channel (of the first three)
    with the largest mean over the tokens."""
    keras = import_keras()
    layers = keras.layers
    out = _folder(folder, "attention")
    rng = _seed(11006)
    T, D, H, KD, K = 10, 8, 2, 4, 3

    def make(n):
        x = rng.normal(0, 1, (n, T, D)).astype("float32")
        return x, x[:, :, :K].mean(1).argmax(-1).astype("int64")

    (xtr, ytr), calib, evaluation = make(400), make(64), make(160)
    inp = keras.Input((T, D), name="tokens")
    att = layers.MultiHeadAttention(num_heads=H, key_dim=KD, name="mha")(inp, inp)
    z = layers.LayerNormalization(name="norm")(layers.Add(name="residual")([inp, att]))
    z = layers.GlobalAveragePooling1D(name="pool")(z)
    model = keras.Model(inp, layers.Dense(K, activation="softmax", name="label")(z), name="zoo_attention")
    _fit(model, xtr, ytr, epochs=8, loss="sparse_categorical_crossentropy")
    path = out / "model.keras"
    model.save(path)
    hand = {
        # q, k, v projections 3 x T x D x H x KD = 3 x 10 x 8 x 8 = 1,920; scores H x T x T x KD = 800;
        # weighted values H x T x T x KD = 800; output projection T x H x KD x D = 640 -> 4,160
        "mha": 3 * T * D * H * KD + 2 * H * T * T * KD + T * H * KD * D,
        "norm": T * D,                    # one scale-and-shift per element: 80
        "pool": T * D,                    # one add per input element: 80
        "label": D * K,                   # 8 x 3 = 24
    }
    return _case("attention", out, path, splits={"calib": calib, "eval": evaluation}, name="tokens",
                 output_task="multiclass", hand_macs=hand)


def custom_layers_module():
    """tests/custom_layers_for_tests.py imported (its classes registered), or None when the file is missing."""
    if not CUSTOM_LAYERS_FILE.is_file():
        return None
    name = "tests.custom_layers_for_tests"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, CUSTOM_LAYERS_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


BUILDERS = {
    "lstm_classifier": build_lstm_classifier,
    "gru_free_length": build_gru_free_length,
    "bilstm": build_bilstm,
    "time_distributed": build_time_distributed,
    "fcn_free_hw": build_fcn_free_hw,
    "attention": build_attention,
}
