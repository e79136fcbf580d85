"""A zoo of small models of each interface kind, with oracle figures computed independently of Litesmith.

Each ``build_<kind>(folder)`` writes a trained model plus ``calib.npz`` / ``eval.npz`` into ``folder``
(its own sub-folder ``<kind>/``) and returns a :class:`ZooCase`. Builders are deterministic
(``keras.utils.set_random_seed`` and seeded NumPy generators), tiny (a few hundred samples, a few
epochs: about a second each on 2 cores) and their data is learnable, so every figure is well above
chance without being high.

The expected facts (``ZooCase.facts``) are computed only with Keras / TensorFlow (outputs of the saved
file, reloaded with ``safe_mode=True``, or of the SavedModel's signature) and scikit-learn, never with
Litesmith:

- ``format``: ``"keras"`` or ``"saved_model"``
- ``inputs``: input names in the model's order; ``input_dtypes`` / ``input_shapes`` (no batch dim) by name
- ``outputs``: output names in the model's (or the signature's) order; ``output_dtypes`` by name
- ``tasks``: task name per output, one of :data:`TASKS`
- ``reference``: the model's outputs on the eval data, per output name (NumPy arrays)
- ``oracle``: per output, metric name -> figure on the eval data; ``oracle_calls`` holds, next to each
  figure, the exact scikit-learn call that computed it
- ``baseline``: the same metrics for a trivial predictor (majority class, all-positive, the mean), with
  its calls in ``baseline_calls``: what "above chance" is measured against
- ``labels``: the eval npz array holding each output's labels (``y`` or ``y_<output>``), when labelled
- ``signature`` / ``signatures`` / ``other_signatures``: for the SavedModel (outputs, tasks, reference)
- ``data_layout``: ``"x"`` (one array ``x``) or ``"named"`` (arrays named after the inputs); extra
  files (``x_0, x_1, ...`` in input order) are listed in ``ZooCase.files``

``convert_fp32_reference`` and ``run_signature`` are the LiteRT-signature-runner oracle: a plain
``tf.lite.TFLiteConverter`` fp32 conversion and ``Interpreter.get_signature_runner("serving_default")``,
independent of Litesmith's conversion code.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    jaccard_score,
    max_error,
    mean_absolute_error,
    roc_auc_score,
    root_mean_squared_error,
)

from core.tf_runtime import import_keras, import_tensorflow

TASKS = ("binary", "multiclass", "multilabel", "class_id", "regression", "sequence", "segmentation", "embedding")
SIGNATURE = "serving_default"


@dataclass(frozen=True)
class ZooCase:
    kind: str
    model: Path  # .keras file, or the SavedModel folder
    calib: Path  # calib.npz (inputs only are needed; labels included)
    eval: Path  # eval.npz (inputs and labels)
    facts: Mapping[str, Any]
    files: Mapping[str, Path] = field(default_factory=dict)  # extra data files, e.g. the x_0, x_1, ... variant

    def load_eval(self) -> dict[str, np.ndarray]:
        with np.load(self.eval) as data:
            return {k: data[k] for k in data.files}

    def eval_inputs(self) -> dict[str, np.ndarray]:
        """The eval inputs keyed by input name (whatever the file's layout)."""
        data = self.load_eval()
        names = self.facts["inputs"]
        if self.facts["data_layout"] == "x":
            return {names[0]: data["x"]}
        return {name: data[name] for name in names}


# ---------------------------------------------------------------- metric oracles (scikit-learn)


def _binary_metrics(y, p):
    d = (p > 0.5).astype(int)
    return {
        "accuracy": (accuracy_score(y, d), "accuracy_score(y, p > 0.5)"),
        "roc_auc": (roc_auc_score(y, p), "roc_auc_score(y, p)"),
        "pr_auc": (average_precision_score(y, p), "average_precision_score(y, p)"),
    }


def _binary_baseline(y):
    major = int(np.mean(y) >= 0.5)
    return {
        "accuracy": (accuracy_score(y, np.full_like(y, major)), f"accuracy_score(y, full({major}))"),
        "roc_auc": (0.5, "roc_auc_score(y, constant) == 0.5"),
        "pr_auc": (float(np.mean(y)), "average_precision_score(y, constant) == mean(y)"),
    }


def _multiclass_metrics(y, p):
    pred = p.argmax(-1)
    return {
        "accuracy": (accuracy_score(y, pred), "accuracy_score(y, p.argmax(-1))"),
        "f1_macro": (f1_score(y, pred, average="macro"), "f1_score(y, p.argmax(-1), average='macro')"),
    }


def _majority(y):
    values, counts = np.unique(y, return_counts=True)
    return int(values[counts.argmax()])


def _multiclass_baseline(y):
    m = _majority(y)
    pred = np.full_like(y, m)
    return {
        "accuracy": (accuracy_score(y, pred), f"accuracy_score(y, full({m}))"),
        "f1_macro": (f1_score(y, pred, average="macro"), f"f1_score(y, full({m}), average='macro')"),
    }


def _class_id_metrics(y, ids):
    return {"accuracy": (accuracy_score(y, ids), "accuracy_score(y, class_id)")}


def _class_id_baseline(y):
    m = _majority(y)
    return {"accuracy": (accuracy_score(y, np.full_like(y, m)), f"accuracy_score(y, full({m}))")}


def _regression_metrics(y, p):
    y, p = y.reshape(len(y), -1)[:, 0], p.reshape(len(p), -1)[:, 0]
    return {
        "mae": (mean_absolute_error(y, p), "mean_absolute_error(y, p[:, 0])"),
        "rmse": (root_mean_squared_error(y, p), "root_mean_squared_error(y, p[:, 0])"),
        "max_error": (max_error(y, p), "max_error(y, p[:, 0])"),
    }


def _regression_baseline(y):
    y = y.reshape(len(y), -1)[:, 0]
    mean = np.full_like(y, y.mean())
    return {
        "mae": (mean_absolute_error(y, mean), "mean_absolute_error(y, full(y.mean()))"),
        "rmse": (root_mean_squared_error(y, mean), "root_mean_squared_error(y, full(y.mean()))"),
        "max_error": (max_error(y, mean), "max_error(y, full(y.mean()))"),
    }


def _multilabel_metrics(y, p):
    d = (p > 0.5).astype(int)
    return {
        "f1_micro": (f1_score(y, d, average="micro"), "f1_score(y, p > 0.5, average='micro')"),
        "f1_macro": (f1_score(y, d, average="macro"), "f1_score(y, p > 0.5, average='macro')"),
        "mean_average_precision": (
            average_precision_score(y, p, average="macro"),
            "average_precision_score(y, p, average='macro')",
        ),
        "roc_auc_macro": (roc_auc_score(y, p, average="macro"), "roc_auc_score(y, p, average='macro')"),
    }


def _multilabel_baseline(y):
    ones = np.ones_like(y)
    return {
        "f1_micro": (f1_score(y, ones, average="micro"), "f1_score(y, ones_like(y), average='micro')"),
        "f1_macro": (f1_score(y, ones, average="macro"), "f1_score(y, ones_like(y), average='macro')"),
        "mean_average_precision": (float(y.mean(0).mean()), "average_precision_score(y, constant) == mean(y)"),
        "roc_auc_macro": (0.5, "roc_auc_score(y, constant) == 0.5"),
    }


def _per_position_metrics(y, p, *, iou: bool):
    k = p.shape[-1]
    yt, pred = y.ravel(), p.argmax(-1).ravel()
    out = {"accuracy": (accuracy_score(yt, pred), "accuracy_score(y.ravel(), p.argmax(-1).ravel())")}
    if iou:
        out["mean_iou"] = (
            jaccard_score(yt, pred, average="macro", labels=list(range(k))),
            f"jaccard_score(y.ravel(), p.argmax(-1).ravel(), average='macro', labels={list(range(k))})",
        )
    return out


def _per_position_baseline(y, k, *, iou: bool):
    m = _majority(y.ravel())
    yt, pred = y.ravel(), np.full(y.size, m)
    out = {"accuracy": (accuracy_score(yt, pred), f"accuracy_score(y.ravel(), full({m}))")}
    if iou:
        out["mean_iou"] = (
            jaccard_score(yt, pred, average="macro", labels=list(range(k)), zero_division=0),
            f"jaccard_score(y.ravel(), full({m}), average='macro', labels={list(range(k))})",
        )
    return out


def _score(task: str, y: np.ndarray, p: np.ndarray) -> tuple[dict, dict]:
    """(oracle, baseline) for one output, each metric -> (figure, sklearn call)."""
    if task == "binary":
        return _binary_metrics(y, p.reshape(-1)), _binary_baseline(y)
    if task == "multiclass":
        return _multiclass_metrics(y, p), _multiclass_baseline(y)
    if task == "class_id":
        return _class_id_metrics(y, p), _class_id_baseline(y)
    if task == "regression":
        return _regression_metrics(y, p), _regression_baseline(y)
    if task == "multilabel":
        return _multilabel_metrics(y, p), _multilabel_baseline(y)
    if task in ("sequence", "segmentation"):
        iou = task == "segmentation"
        return _per_position_metrics(y, p, iou=iou), _per_position_baseline(y, p.shape[-1], iou=iou)
    raise ValueError(f"no labelled metrics for task {task!r}")


def _facts(
    *, fmt, inputs, input_dtypes, input_shapes, outputs, tasks, reference, labels, eval_data, data_layout, **extra
) -> dict[str, Any]:
    oracle, oracle_calls, baseline, baseline_calls = {}, {}, {}, {}
    for name, label_key in labels.items():
        o, b = _score(tasks[name], eval_data[label_key], reference[name])
        oracle[name] = {m: float(v) for m, (v, _) in o.items()}
        oracle_calls[name] = {m: c for m, (_, c) in o.items()}
        baseline[name] = {m: float(v) for m, (v, _) in b.items()}
        baseline_calls[name] = {m: c for m, (_, c) in b.items()}
    facts = {
        "format": fmt,
        "inputs": tuple(inputs),
        "input_dtypes": dict(input_dtypes),
        "input_shapes": dict(input_shapes),
        "outputs": tuple(outputs),
        "output_dtypes": {n: str(reference[n].dtype) for n in outputs},
        "tasks": dict(tasks),
        "reference": dict(reference),
        "labels": dict(labels),
        "oracle": oracle,
        "oracle_calls": oracle_calls,
        "baseline": baseline,
        "baseline_calls": baseline_calls,
        "data_layout": data_layout,
        **extra,
    }
    return facts


# ---------------------------------------------------------------- Keras helpers


def _seed(seed: int) -> np.random.Generator:
    keras = import_keras()
    keras.utils.set_random_seed(seed)
    return np.random.default_rng(seed)


def _save_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> Path:
    np.savez(path, **arrays)
    return path


def _keras_reference(model_path: Path, inputs: Mapping[str, np.ndarray]) -> tuple[dict, tuple, tuple]:
    """Reload the saved file (safe mode) and return (outputs by name, input names, output names)."""
    keras = import_keras()
    model = keras.saving.load_model(model_path, safe_mode=True)
    in_names = tuple(t.name for t in model.inputs)
    out_names = tuple(model.output_names)
    feed = [inputs[n] for n in in_names]
    pred = model.predict(feed if len(feed) > 1 else feed[0], verbose=0, batch_size=256)
    if not isinstance(pred, (list, tuple)):
        pred = [pred]
    return {n: np.asarray(p) for n, p in zip(out_names, pred)}, in_names, out_names


def _fit(model, x, y, *, epochs: int, lr: float = 0.01, loss, batch_size: int = 32) -> None:
    keras = import_keras()
    model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss)
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, shuffle=True)


def _folder(folder: Path, kind: str) -> Path:
    out = Path(folder) / kind
    out.mkdir(parents=True, exist_ok=True)
    return out


# ---------------------------------------------------------------- builders


def build_multi_input(folder: Path) -> ZooCase:
    """Fraud scorer: ``amount`` (4 floats), ``merchant_id`` (int32 id into Embedding(20, 4)), ``history``
    ((8, 2) floats through Conv1D) -> ``fraud`` (1 sigmoid). Input order amount, merchant_id, history
    (not the sorted order). Data: named arrays in calib/eval.npz, ``x_0, x_1, x_2`` in *_positional.npz."""
    keras = import_keras()
    layers = keras.layers
    out = _folder(folder, "multi_input")
    rng = _seed(1001)
    risky = rng.permutation(20)[:6]

    def make(n):
        amount = rng.normal(0, 1, (n, 4)).astype("float32")
        merchant = rng.integers(0, 20, (n, 1)).astype("int32")
        history = rng.normal(0, 1, (n, 8, 2)).astype("float32")
        trend = history[:, 4:, 0].mean(1) - history[:, :4, 0].mean(1)
        logit = 1.5 * amount[:, 0] - amount[:, 1] + 2.0 * np.isin(merchant[:, 0], risky) + 1.5 * trend - 1.0
        y = (logit + rng.normal(0, 0.5, n) > 0).astype("int64")
        return {"amount": amount, "merchant_id": merchant, "history": history}, y

    (xtr, ytr), (xca, yca), (xev, yev) = make(600), make(100), make(200)
    amount = keras.Input((4,), name="amount")
    merchant = keras.Input((1,), dtype="int32", name="merchant_id")
    history = keras.Input((8, 2), name="history")
    m = layers.Flatten()(layers.Embedding(20, 4, name="merchant_embedding")(merchant))
    h = layers.GlobalAveragePooling1D()(layers.Conv1D(8, 3, activation="relu", name="history_conv")(history))
    z = layers.Concatenate()([layers.Dense(8, activation="relu")(amount), m, h])
    z = layers.Dense(16, activation="relu")(z)
    model = keras.Model(
        [amount, merchant, history], layers.Dense(1, activation="sigmoid", name="fraud")(z), name="zoo_multi_input"
    )
    names = ("amount", "merchant_id", "history")
    _fit(model, [xtr[n] for n in names], ytr, epochs=12, loss="binary_crossentropy")
    path = out / "model.keras"
    model.save(path)

    for split, (x, y) in {"calib": (xca, yca), "eval": (xev, yev)}.items():
        _save_npz(out / f"{split}.npz", {**x, "y": y})
        _save_npz(out / f"{split}_positional.npz", {**{f"x_{i}": x[n] for i, n in enumerate(names)}, "y": y})
    reference, in_names, out_names = _keras_reference(path, xev)
    facts = _facts(
        fmt="keras",
        inputs=in_names,
        input_dtypes={n: str(xev[n].dtype) for n in names},
        input_shapes={n: xev[n].shape[1:] for n in names},
        outputs=out_names,
        tasks={"fraud": "binary"},
        reference=reference,
        labels={"fraud": "y"},
        eval_data={"y": yev},
        data_layout="named",
    )
    return ZooCase(
        "multi_input",
        path,
        out / "calib.npz",
        out / "eval.npz",
        facts,
        {"calib_positional": out / "calib_positional.npz", "eval_positional": out / "eval_positional.npz"},
    )


def build_multi_output(folder: Path) -> ZooCase:
    """x (8 floats) -> ``zz_species`` (3-class softmax), ``aa_color`` (3-class softmax, same shape),
    ``mm_weight`` (1 linear unit), in that order: the names sort opposite to the output order.
    Labels ``y_zz_species``, ``y_aa_color``, ``y_mm_weight``."""
    keras = import_keras()
    layers = keras.layers
    out = _folder(folder, "multi_output")
    rng = _seed(2002)
    w_species, w_color, w_weight = rng.normal(0, 1, (8, 3)), rng.normal(0, 1, (8, 3)), rng.normal(0, 0.5, 8)

    def make(n):
        x = rng.normal(0, 1, (n, 8)).astype("float32")
        species = (x @ w_species + rng.normal(0, 0.7, (n, 3))).argmax(1).astype("int64")
        color = (x @ w_color + rng.normal(0, 0.7, (n, 3))).argmax(1).astype("int64")
        weight = (x @ w_weight + 0.3 * x[:, 0] ** 2 + rng.normal(0, 0.2, n) + 2.0).astype("float32")
        return x, {"zz_species": species, "aa_color": color, "mm_weight": weight}

    (xtr, ytr), (xca, yca), (xev, yev) = make(600), make(100), make(200)
    inp = keras.Input((8,), name="features")
    z = layers.Dense(32, activation="relu")(inp)
    heads = [
        layers.Dense(3, activation="softmax", name="zz_species")(z),
        layers.Dense(3, activation="softmax", name="aa_color")(z),
        layers.Dense(1, name="mm_weight")(z),
    ]
    model = keras.Model(inp, heads, name="zoo_multi_output")
    _fit(
        model,
        xtr,
        ytr,
        epochs=15,
        loss={
            "zz_species": "sparse_categorical_crossentropy",
            "aa_color": "sparse_categorical_crossentropy",
            "mm_weight": "mse",
        },
    )
    path = out / "model.keras"
    model.save(path)
    for split, (x, y) in {"calib": (xca, yca), "eval": (xev, yev)}.items():
        _save_npz(out / f"{split}.npz", {"x": x, **{f"y_{k}": v for k, v in y.items()}})
    reference, in_names, out_names = _keras_reference(path, {"features": xev})
    tasks = {"zz_species": "multiclass", "aa_color": "multiclass", "mm_weight": "regression"}
    facts = _facts(
        fmt="keras",
        inputs=in_names,
        input_dtypes={"features": "float32"},
        input_shapes={"features": (8,)},
        outputs=out_names,
        tasks=tasks,
        reference=reference,
        labels={k: f"y_{k}" for k in tasks},
        eval_data={f"y_{k}": v for k, v in yev.items()},
        data_layout="x",
    )
    return ZooCase("multi_output", path, out / "calib.npz", out / "eval.npz", facts)


def build_multilabel(folder: Path) -> ZooCase:
    """x (10 floats) -> ``labels`` (5 independent sigmoids); multi-hot ``y`` (N, 5)."""
    keras = import_keras()
    layers = keras.layers
    out = _folder(folder, "multilabel")
    rng = _seed(3003)
    w = rng.normal(0, 1, (10, 5))
    bias = np.array([0.8, 0.0, -0.5, 1.2, -1.0])  # prevalences differ between labels

    def make(n):
        x = rng.normal(0, 1, (n, 10)).astype("float32")
        y = (x @ w + rng.normal(0, 1.0, (n, 5)) - bias > 0).astype("int64")
        return x, y

    (xtr, ytr), (xca, yca), (xev, yev) = make(600), make(100), make(200)
    inp = keras.Input((10,), name="features")
    z = layers.Dense(32, activation="relu")(inp)
    model = keras.Model(inp, layers.Dense(5, activation="sigmoid", name="labels")(z), name="zoo_multilabel")
    _fit(model, xtr, ytr, epochs=12, loss="binary_crossentropy")
    path = out / "model.keras"
    model.save(path)
    for split, (x, y) in {"calib": (xca, yca), "eval": (xev, yev)}.items():
        _save_npz(out / f"{split}.npz", {"x": x, "y": y})
    reference, in_names, out_names = _keras_reference(path, {"features": xev})
    facts = _facts(
        fmt="keras",
        inputs=in_names,
        input_dtypes={"features": "float32"},
        input_shapes={"features": (10,)},
        outputs=out_names,
        tasks={"labels": "multilabel"},
        reference=reference,
        labels={"labels": "y"},
        eval_data={"y": yev},
        data_layout="x",
    )
    return ZooCase("multilabel", path, out / "calib.npz", out / "eval.npz", facts)


def build_class_id(folder: Path) -> ZooCase:
    """x (12 floats) -> ``class_id`` (int32, argmax of the logits, via ``keras.ops.top_k`` and an Identity
    layer) and ``probs`` (3-class softmax), in that order. ``y`` = class labels."""
    keras = import_keras()
    layers = keras.layers
    out = _folder(folder, "class_id")
    rng = _seed(4004)
    centres = rng.normal(0, 0.8, (3, 12))

    def make(n):
        y = rng.integers(0, 3, n).astype("int64")
        return (centres[y] + rng.normal(0, 1, (n, 12))).astype("float32"), y

    (xtr, ytr), (xca, yca), (xev, yev) = make(600), make(100), make(200)
    inp = keras.Input((12,), name="features")
    logits = layers.Dense(3, name="logits")(layers.Dense(16, activation="relu")(inp))
    probs = layers.Softmax(name="probs")(logits)
    trainer = keras.Model(inp, probs)
    _fit(trainer, xtr, ytr, epochs=10, loss="sparse_categorical_crossentropy")
    # keras.ops.argmax on floats adds a negative-zero fix (signbit -> tf.BitwiseAnd) that the TFLite
    # builtins lack (it needs Flex ops); top_k's indices are the same class id and convert to TOPK_V2.
    _, top = keras.ops.top_k(logits, k=1)
    class_id = layers.Identity(name="class_id")(keras.ops.squeeze(top, axis=-1))
    model = keras.Model(inp, [class_id, probs], name="zoo_class_id")
    path = out / "model.keras"
    model.save(path)
    for split, (x, y) in {"calib": (xca, yca), "eval": (xev, yev)}.items():
        _save_npz(out / f"{split}.npz", {"x": x, "y": y})
    reference, in_names, out_names = _keras_reference(path, {"features": xev})
    tasks = {"class_id": "class_id", "probs": "multiclass"}
    facts = _facts(
        fmt="keras",
        inputs=in_names,
        input_dtypes={"features": "float32"},
        input_shapes={"features": (12,)},
        outputs=out_names,
        tasks=tasks,
        reference=reference,
        labels={"class_id": "y", "probs": "y"},
        eval_data={"y": yev},
        data_layout="x",
    )
    return ZooCase("class_id", path, out / "calib.npz", out / "eval.npz", facts)


def build_sequence(folder: Path) -> ZooCase:
    """``frames`` (12, 5) -> Conv1D -> per-step Dense -> ``tags`` (12, 4) softmax; ``y`` (N, 12) class ids.
    The label at step t is the argmax of a 3-step moving sum of the first 4 features."""
    keras = import_keras()
    layers = keras.layers
    out = _folder(folder, "sequence")
    rng = _seed(5005)

    def make(n):
        x = rng.normal(0, 1, (n, 12, 5)).astype("float32")
        padded = np.pad(x[:, :, :4], ((0, 0), (1, 1), (0, 0)))
        local = padded[:, :-2] + padded[:, 1:-1] + padded[:, 2:]
        return x, local.argmax(-1).astype("int64")

    (xtr, ytr), (xca, yca), (xev, yev) = make(400), make(64), make(200)
    inp = keras.Input((12, 5), name="frames")
    z = layers.Conv1D(16, 3, padding="same", activation="relu")(inp)
    model = keras.Model(inp, layers.Dense(4, activation="softmax", name="tags")(z), name="zoo_sequence")
    _fit(model, xtr, ytr, epochs=10, loss="sparse_categorical_crossentropy")
    path = out / "model.keras"
    model.save(path)
    for split, (x, y) in {"calib": (xca, yca), "eval": (xev, yev)}.items():
        _save_npz(out / f"{split}.npz", {"x": x, "y": y})
    reference, in_names, out_names = _keras_reference(path, {"frames": xev})
    facts = _facts(
        fmt="keras",
        inputs=in_names,
        input_dtypes={"frames": "float32"},
        input_shapes={"frames": (12, 5)},
        outputs=out_names,
        tasks={"tags": "sequence"},
        reference=reference,
        labels={"tags": "y"},
        eval_data={"y": yev},
        data_layout="x",
    )
    return ZooCase("sequence", path, out / "calib.npz", out / "eval.npz", facts)


def build_segmentation(folder: Path) -> ZooCase:
    """``image`` (16, 16, 3) -> small conv net -> ``mask`` (16, 16, 3) softmax per pixel; ``y`` (N, 16, 16).
    Images are a noisy one-hot rendering of random rectangles of classes 1 and 2 on background 0."""
    keras = import_keras()
    layers = keras.layers
    out = _folder(folder, "segmentation")
    rng = _seed(6006)

    def make(n):
        y = np.zeros((n, 16, 16), "int64")
        for i in range(n):
            for cls in (1, 2):
                r, c = rng.integers(0, 12, 2)
                h, w = rng.integers(3, 9, 2)
                y[i, r : r + h, c : c + w] = cls
        x = np.eye(3, dtype="float32")[y] + rng.normal(0, 0.8, (n, 16, 16, 3)).astype("float32")
        return x, y

    (xtr, ytr), (xca, yca), (xev, yev) = make(200), make(32), make(64)
    inp = keras.Input((16, 16, 3), name="image")
    z = layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    z = layers.Conv2D(8, 3, padding="same", activation="relu")(z)
    model = keras.Model(inp, layers.Conv2D(3, 1, activation="softmax", name="mask")(z), name="zoo_segmentation")
    _fit(model, xtr, ytr, epochs=6, loss="sparse_categorical_crossentropy", batch_size=16)
    path = out / "model.keras"
    model.save(path)
    for split, (x, y) in {"calib": (xca, yca), "eval": (xev, yev)}.items():
        _save_npz(out / f"{split}.npz", {"x": x, "y": y})
    reference, in_names, out_names = _keras_reference(path, {"image": xev})
    facts = _facts(
        fmt="keras",
        inputs=in_names,
        input_dtypes={"image": "float32"},
        input_shapes={"image": (16, 16, 3)},
        outputs=out_names,
        tasks={"mask": "segmentation"},
        reference=reference,
        labels={"mask": "y"},
        eval_data={"y": yev},
        data_layout="x",
    )
    return ZooCase("segmentation", path, out / "calib.npz", out / "eval.npz", facts)


def build_savedmodel_two_signatures(folder: Path) -> ZooCase:
    """``tf.saved_model.save`` of a ``tf.Module`` with two signatures:
    ``serving_default(features[None, 8]) -> {"classes": int64 argmax, "scores": softmax}`` and
    ``embed(features) -> {"embedding": float32[None, 6]}``. ``y`` = class labels."""
    tf = import_tensorflow()
    keras = import_keras()
    layers = keras.layers
    out = _folder(folder, "savedmodel_two_signatures")
    rng = _seed(7007)
    centres = rng.normal(0, 0.8, (3, 8))

    def make(n):
        y = rng.integers(0, 3, n).astype("int64")
        return (centres[y] + rng.normal(0, 1, (n, 8))).astype("float32"), y

    (xtr, ytr), (xca, yca), (xev, yev) = make(600), make(100), make(200)
    body = keras.Sequential(
        [keras.Input((8,)), layers.Dense(16, activation="relu"), layers.Dense(6, activation="relu", name="embedding")],
        name="body",
    )
    head = layers.Dense(3, name="logits")
    inp = keras.Input((8,))
    trainer = keras.Model(inp, head(body(inp)))
    _fit(trainer, xtr, ytr, epochs=10, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))

    spec = tf.TensorSpec([None, 8], tf.float32, name="features")

    class Classifier(tf.Module):
        def __init__(self):
            super().__init__()
            self.body, self.head = body, head

        @tf.function(input_signature=[spec])
        def serve(self, features):
            logits = self.head(self.body(features))
            return {"classes": tf.argmax(logits, axis=-1), "scores": tf.nn.softmax(logits)}

        @tf.function(input_signature=[spec])
        def embed(self, features):
            return {"embedding": self.body(features)}

    module = Classifier()
    path = out / "saved_model"
    tf.saved_model.save(module, str(path), signatures={SIGNATURE: module.serve, "embed": module.embed})
    for split, (x, y) in {"calib": (xca, yca), "eval": (xev, yev)}.items():
        _save_npz(out / f"{split}.npz", {"x": x, "y": y})

    loaded = tf.saved_model.load(str(path))
    sigs = {}
    for key in sorted(loaded.signatures):
        fn = loaded.signatures[key]
        in_names = tuple(s.name for s in fn.structured_input_signature[1].values())
        result = fn(**{in_names[0]: tf.constant(xev)})
        sigs[key] = (in_names, tuple(sorted(fn.structured_outputs)), {k: v.numpy() for k, v in result.items()})
    in_names, out_names, reference = sigs[SIGNATURE]
    tasks = {"classes": "class_id", "scores": "multiclass"}
    e_in, e_out, e_ref = sigs["embed"]
    facts = _facts(
        fmt="saved_model",
        inputs=in_names,
        input_dtypes={"features": "float32"},
        input_shapes={"features": (8,)},
        outputs=out_names,
        tasks=tasks,
        reference=reference,
        labels={"classes": "y", "scores": "y"},
        eval_data={"y": yev},
        data_layout="x",
        signature=SIGNATURE,
        signatures=tuple(sorted(loaded.signatures)),
        other_signatures={
            "embed": {"inputs": e_in, "outputs": e_out, "tasks": {"embedding": "embedding"}, "reference": e_ref}
        },
    )
    return ZooCase("savedmodel_two_signatures", path, out / "calib.npz", out / "eval.npz", facts)


BUILDERS: dict[str, Callable[[Path], ZooCase]] = {
    "multi_input": build_multi_input,
    "multi_output": build_multi_output,
    "multilabel": build_multilabel,
    "class_id": build_class_id,
    "sequence": build_sequence,
    "segmentation": build_segmentation,
    "savedmodel_two_signatures": build_savedmodel_two_signatures,
}


def build_zoo(folder: Path) -> dict[str, ZooCase]:
    return {kind: build(folder) for kind, build in BUILDERS.items()}


# ---------------------------------------------------------------- LiteRT signature-runner oracle


def convert_fp32_reference(case: ZooCase) -> bytes:
    """An fp32 .tflite of ``case.model`` made with a plain ``tf.lite.TFLiteConverter``, independently of
    Litesmith. Its ``serving_default`` signature has inputs and outputs named like the original's."""
    tf = import_tensorflow()
    with tempfile.TemporaryDirectory(prefix="zoo-ref-") as tmp:
        exported = Path(tmp) / "saved_model"
        if case.facts["format"] == "saved_model":
            # Converting the tf.Module SavedModel directly yields NaN outputs (a known converter issue with
            # its resource variables); re-saving the loaded serving_default signature converts correctly.
            loaded = tf.saved_model.load(str(case.model))
            tf.saved_model.save(loaded, str(exported), signatures={SIGNATURE: loaded.signatures[SIGNATURE]})
        else:
            keras = import_keras()
            model = keras.saving.load_model(case.model, safe_mode=True)
            in_names = tuple(t.name for t in model.inputs)
            out_names = tuple(model.output_names)
            specs = [tf.TensorSpec((None, *t.shape[1:]), t.dtype, name=n) for t, n in zip(model.inputs, in_names)]

            def serve(*args):
                result = model(list(args) if len(args) > 1 else args[0], training=False)
                if not isinstance(result, (list, tuple)):
                    result = [result]
                return dict(zip(out_names, result))

            archive = keras.export.ExportArchive()
            archive.track(model)
            archive.add_endpoint(name=SIGNATURE, fn=serve, input_signature=specs)
            archive.write_out(str(exported), verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(exported), signature_keys=[SIGNATURE])
        return converter.convert()


def run_signature(tflite_bytes: bytes, inputs: Mapping[str, np.ndarray], signature: str = SIGNATURE) -> dict:
    """Run the .tflite's signature on the whole batch with the LiteRT signature runner; outputs by name."""
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_content=tflite_bytes).get_signature_runner(signature)
    return {k: np.asarray(v) for k, v in runner(**{k: np.asarray(v) for k, v in inputs.items()}).items()}
