"""Issue 11's zoo: recurrent layers, free dimensions, attention and a custom layer, with oracle facts.

Each ``build_<kind>(folder)`` writes a small trained ``model.keras`` plus ``calib.npz`` / ``eval.npz`` into
``folder/<kind>/`` and returns a :class:`tests.zoo.ZooCase` whose facts are computed with Keras and
scikit-learn only (see tests/zoo.py for the common fact fields). Builders are deterministic (seeded), tiny
(a few hundred samples, a few epochs: about 1-2 s each on 2 cores) and their data is learnable.

Extra facts of this zoo:

- ``eval_shapes``: per input, the eval data's shape without the batch axis (what a free dimension resolves
  to); ``calib_shapes`` likewise for the calibration data;
- ``free_inputs``: per input with free dimensions, the free axes (counting the batch axis as 0);
- ``hand_macs``: multiply-accumulates per layer name (layers that count 0 are left out), written by hand
  in each builder with the formula next to it; ``hand_macs_total`` is their sum. They are for ONE sample
  where every dimension is fixed, and per position of the free dimensions otherwise: ``hand_per`` is
  ``""`` (per sample), ``"time step"`` (a free sequence length) or ``"position"`` (free height and
  width: per output position of the convolutions). FLOPs = 2 x MACs, as ``litesmith inspect`` reports
  them (its ``flops``; the unit in ``flops_per``);
- ``uncounted``: (layer name, class) pairs no MAC rule covers (a user's layer class): inspect must list
  them and call its total partial;
- ``custom_objects``: the Python file that holds a custom layer's code (the custom-layer kind only).

Conventions of the hand counts: one MAC per weight use; biases, activations and softmax are not counted.
Where a layer also multiplies element-wise, the rule is the one core/models/flops.py documents (the
counter under test), applied here by hand:

- Dense: ``rows x in x units`` (rows = every axis between batch and features: the steps of a sequence);
- ConvND: ``prod(output spatial) x prod(kernel) x in/groups x filters``;
- LSTM: per step ``4 x units x (in + units)`` (the input kernel (in, 4u) and the recurrent kernel (u, 4u))
  ``+ 3 x units`` (the element-wise products of ``c = f*c + i*g`` and ``h = o*tanh(c)``), times the
  sequence length; GRU (``reset_after=True``: the recurrent kernel is (u, 3u)): per step
  ``3 x units x (in + units)`` for the three gate matmuls ``+ 3 x units`` for ``r*(h.U_h)``, ``z*h`` and
  ``(1-z)*hh``, i.e. ``3 x units x (in + units + 1)``, times the sequence length;
- Bidirectional: 2 x the wrapped layer; TimeDistributed: the inner layer's count per step x steps;
- MultiHeadAttention (self-attention, T steps of width D, H heads of size K, output width D):
  query/key/value projections ``3 x T x D x H x K``, scores ``H x T x T x K``, weighted values
  ``H x T x T x K``, output projection ``T x H x K x D``; the softmax is not counted;
- LayerNormalization: 4 per element (mean, variance, normalize, scale-and-shift); BatchNormalization 1;
- pooling: one per input element read (an add for average pooling); Add, Activation, softmax: 0.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np

from core.tf_runtime import import_keras
from tests.zoo import ZooCase, _facts, _fit, _folder, _keras_reference, _save_npz, _seed

REPO = Path(__file__).resolve().parents[1]
CUSTOM_LAYERS_FILE = REPO / "tests" / "custom_layers_for_tests.py"


def _case(
    kind: str,
    out: Path,
    path: Path,
    *,
    splits: dict,
    name: str,
    output_task: str,
    hand_macs: dict[str, int],
    hand_per: str = "",
    uncounted: tuple = (),
    free_inputs: dict | None = None,
    **extra,
) -> ZooCase:
    """Save calib/eval ({"x": ..., "y": ...}) and compute the facts from the saved file (safe mode)."""
    for split, (x, y) in splits.items():
        _save_npz(out / f"{split}.npz", {"x": x, "y": y})
    xev, yev = splits["eval"]
    reference, in_names, out_names = _keras_reference(path, {name: xev})
    assert in_names == (name,), in_names
    facts = _facts(
        fmt="keras",
        inputs=in_names,
        input_dtypes={name: str(xev.dtype)},
        input_shapes={name: _declared_shape(path)},
        outputs=out_names,
        tasks={out_names[0]: output_task},
        reference=reference,
        labels={out_names[0]: "y"},
        eval_data={"y": yev},
        data_layout="x",
        eval_shapes={name: xev.shape[1:]},
        calib_shapes={name: splits["calib"][0].shape[1:]},
        free_inputs=dict(free_inputs or {}),
        hand_macs=dict(hand_macs),
        hand_macs_total=int(sum(hand_macs.values())),
        hand_per=hand_per,
        uncounted=tuple(uncounted),
        **extra,
    )
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
    _fit(model, xtr, ytr, epochs=5, loss="sparse_categorical_crossentropy")
    path = out / "model.keras"
    model.save(path)
    hand = {
        # 16 steps x (4 gates x 12 units x (4 inputs + 12 recurrent) + 3 x 12 products) = 16 x 804 = 12,864
        "lstm": T * (4 * U * (F + U) + 3 * U),
        "label": U * K,  # 12 x 3 = 36
    }
    return _case(
        "lstm_classifier",
        out,
        path,
        splits={"calib": calib, "eval": evaluation},
        name="signal",
        output_task="multiclass",
        hand_macs=hand,
    )


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
    _fit(model, xtr, ytr, epochs=5, loss="sparse_categorical_crossentropy")
    path = out / "model.keras"
    model.save(path)
    hand = {  # per time step (the length is free); a whole sample at length T is T times this
        "gru": 3 * U * (F + U + 1),  # 3 x 8 x (5 + 8 + 1) = 336
        "tags": U * K,  # 8 x 3 = 24
    }
    return _case(
        "gru_free_length",
        out,
        path,
        splits={"calib": calib, "eval": evaluation},
        name="frames",
        output_task="sequence",
        hand_macs=hand,
        hand_per="time step",
        free_inputs={"frames": (1,)},
        lengths={"calib": T_CALIB, "eval": T_EVAL},
    )


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
        return x, (x[:, : T // 2, 0].sum(1) > x[:, T // 2 :, 0].sum(1)).astype("int64")

    (xtr, ytr), calib, evaluation = make(400), make(64), make(160)
    inp = keras.Input((T, F), name="series")
    z = layers.Bidirectional(layers.LSTM(U), name="bilstm")(inp)
    model = keras.Model(inp, layers.Dense(1, activation="sigmoid", name="anomaly")(z), name="zoo_bilstm")
    _fit(model, xtr, ytr, epochs=6, loss="binary_crossentropy")
    path = out / "model.keras"
    model.save(path)
    hand = {
        # 2 directions x 12 steps x (4 gates x 8 x (4 + 8) + 3 x 8 products) = 24 x 408 = 9,792
        "bilstm": 2 * T * (4 * U * (F + U) + 3 * U),
        "anomaly": 2 * U * 1,  # 16 x 1 = 16
    }
    return _case(
        "bilstm",
        out,
        path,
        splits={"calib": calib, "eval": evaluation},
        name="series",
        output_task="binary",
        hand_macs=hand,
    )


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
    _fit(model, xtr, ytr, epochs=5, loss="sparse_categorical_crossentropy")
    path = out / "model.keras"
    model.save(path)
    hand = {
        "conv": T * 3 * F * C,  # 16 outputs x kernel 3 x 6 in x 8 filters = 2,304
        "gru": T * 3 * U * (C + U + 1),  # 16 steps x 3 x 8 x (8 + 8 + 1) = 16 x 408 = 6,528
        "tags": T * U * K,  # TimeDistributed: 16 steps x Dense 8 x 4 = 512
    }
    return _case(
        "time_distributed",
        out,
        path,
        splits={"calib": calib, "eval": evaluation},
        name="frames",
        output_task="sequence",
        hand_macs=hand,
    )


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
                h, w = rng.integers(4, 12, 2)
                y[i, r : r + h, c : c + w] = cls
        x = np.eye(K, dtype="float32")[y] + rng.normal(0, 0.5, (n, H, W, K)).astype("float32")
        return x, y

    (xtr, ytr), calib, evaluation = make(160), make(24), make(48)
    inp = keras.Input((None, None, 3), name="image")
    z = layers.Conv2D(C, 3, padding="same", activation="relu", name="conv1")(inp)
    z = layers.Conv2D(C, 3, padding="same", activation="relu", name="conv2")(z)
    model = keras.Model(inp, layers.Conv2D(K, 1, activation="softmax", name="mask")(z), name="zoo_fcn_free_hw")
    _fit(model, xtr, ytr, epochs=8, loss="sparse_categorical_crossentropy", batch_size=16)
    path = out / "model.keras"
    model.save(path)
    hand = {  # per output position (height and width are free); at 24 x 20 a sample is 480 times this
        "conv1": 3 * 3 * 3 * C,  # 3x3 kernel x 3 in x 8 filters = 216
        "conv2": 3 * 3 * C * C,  # 3x3 x 8 x 8 = 576
        "mask": 1 * C * K,  # 1x1 x 8 x 3 = 24
    }
    return _case(
        "fcn_free_hw",
        out,
        path,
        splits={"calib": calib, "eval": evaluation},
        name="image",
        output_task="segmentation",
        hand_macs=hand,
        hand_per="position",
        free_inputs={"image": (1, 2)},
    )


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
    _fit(model, xtr, ytr, epochs=5, loss="sparse_categorical_crossentropy")
    path = out / "model.keras"
    model.save(path)
    hand = {
        # q, k, v projections 3 x T x D x H x KD = 3 x 10 x 8 x 8 = 1,920; scores H x T x T x KD = 800;
        # weighted values H x T x T x KD = 800; output projection T x H x KD x D = 640 -> 4,160
        "mha": 3 * T * D * H * KD + 2 * H * T * T * KD + T * H * KD * D,
        "norm": 4 * T * D,  # 4 per element (mean, variance, normalize, scale-and-shift): 320
        "pool": T * D,  # one add per input element: 80
        "label": D * K,  # 8 x 3 = 24
    }
    return _case(
        "attention",
        out,
        path,
        splits={"calib": calib, "eval": evaluation},
        name="tokens",
        output_task="multiclass",
        hand_macs=hand,
    )


def build_custom_layer(folder: Path) -> ZooCase | None:
    """``readings`` (10, 4) -> GRU(8) -> ``scaled`` ScaledDense(6, scale=0.5) (the registered custom layer of
    tests/custom_layers_for_tests.py) -> relu -> ``label`` Dense(3) softmax. The class is the channel (of the
    first three) with the largest sum over time. None when tests/custom_layers_for_tests.py is missing."""
    module = custom_layers_module()
    if module is None:
        return None
    keras = import_keras()
    layers = keras.layers
    out = _folder(folder, "custom_layer")
    rng = _seed(11007)
    T, F, U, S, K = 10, 4, 8, 6, 3

    def make(n):
        x = rng.normal(0, 1, (n, T, F)).astype("float32")
        return x, x[:, :, :K].sum(1).argmax(-1).astype("int64")

    (xtr, ytr), calib, evaluation = make(400), make(64), make(160)
    inp = keras.Input((T, F), name="readings")
    z = layers.GRU(U, name="gru")(inp)
    z = layers.Activation("relu", name="relu")(module.ScaledDense(S, scale=0.5, name="scaled")(z))
    model = keras.Model(inp, layers.Dense(K, activation="softmax", name="label")(z), name="zoo_custom_layer")
    _fit(model, xtr, ytr, epochs=5, loss="sparse_categorical_crossentropy")
    path = out / "model.keras"
    model.save(path)
    hand = {  # ScaledDense has no MAC rule (a user's class): not counted, and the total is partial
        "gru": T * (3 * U * (F + U) + 3 * U),  # 10 steps x (3 x 8 x (4 + 8) + 3 x 8) = 10 x 312 = 3,120
        "label": S * K,  # 6 x 3 = 18
    }
    return _case(
        "custom_layer",
        out,
        path,
        splits={"calib": calib, "eval": evaluation},
        name="readings",
        output_task="multiclass",
        hand_macs=hand,
        uncounted=(("scaled", "ScaledDense"),),
        custom_objects=CUSTOM_LAYERS_FILE,
    )


def custom_layers_module():
    """tests/custom_layers_for_tests.py imported (ScaledDense registered), or None when the file is missing."""
    if not CUSTOM_LAYERS_FILE.is_file():
        return None
    return importlib.import_module("tests.custom_layers_for_tests")


BUILDERS = {
    "lstm_classifier": build_lstm_classifier,
    "gru_free_length": build_gru_free_length,
    "bilstm": build_bilstm,
    "time_distributed": build_time_distributed,
    "fcn_free_hw": build_fcn_free_hw,
    "attention": build_attention,
    "custom_layer": build_custom_layer,
}
