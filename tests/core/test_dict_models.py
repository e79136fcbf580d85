"""Keras models built on a dict of inputs, or returning a dict, whose keys are not the layers' names.

Keras calls such a model with (and returns) a dict under those keys; `model.output_names` lists the
output *layers'* names instead, and the `Input` layers have names of their own. Litesmith names inputs
and outputs by the keys, as the user calls the model and labels its outputs in `fit`.

Oracles: Keras (`model.predict` with the dict, `model.input` / `model.output`), scikit-learn metrics on
Keras's outputs, and LiteRT's signature runner on the exported fp32 .tflite (`tests.zoo.run_signature`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, mean_absolute_error, roc_auc_score

from core.tf_runtime import import_keras
from tests.zoo import run_signature
from tests.zoo_cli import by_output, litesmith


def _dict_outputs(folder: Path) -> tuple[Path, Path, Path]:
    """features (6) -> {"species": Dense(3, softmax, name="species_head"), "weight": Dense(1, name="weight_head")};
    the keys sort in the same order as the layers' names would not ("species_head" < "weight_head" too, so the
    dict's own order is reversed: weight first)."""
    keras = import_keras()
    keras.utils.set_random_seed(31)
    rng = np.random.default_rng(31)
    w = rng.normal(0, 1, (6, 3))

    def make(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = rng.normal(0, 1, (n, 6)).astype("float32")
        return x, (x @ w).argmax(1), (2 * x[:, 0] - x[:, 1]).astype("float32")

    inp = keras.Input((6,), name="features")
    hidden = keras.layers.Dense(16, activation="relu")(inp)
    species = keras.layers.Dense(3, activation="softmax", name="species_head")(hidden)
    weight = keras.layers.Dense(1, name="weight_head")(hidden)
    model = keras.Model(inp, {"weight": weight, "species": species})
    model.compile("adam", {"species": "sparse_categorical_crossentropy", "weight": "mse"})
    x, ys, yw = make(400)
    model.fit(x, {"species": ys, "weight": yw}, epochs=8, verbose=0)
    path = folder / "dict_outputs.keras"
    model.save(path)
    x, ys, yw = make(100)
    np.savez(folder / "dict_outputs_calib.npz", x=x)
    x, ys, yw = make(200)
    np.savez(folder / "dict_outputs_eval.npz", x=x, y_species=ys, y_weight=yw)
    return path, folder / "dict_outputs_calib.npz", folder / "dict_outputs_eval.npz"


def _dict_inputs(folder: Path) -> tuple[Path, Path, Path]:
    """{"numeric": Input((4,), name="num_in"), "categ": Input((3,), name="cat_in")} -> Dense(1, sigmoid)."""
    import warnings

    keras = import_keras()
    keras.utils.set_random_seed(32)
    rng = np.random.default_rng(32)

    def make(n: int) -> dict[str, np.ndarray]:
        numeric = rng.normal(0, 1, (n, 4)).astype("float32")
        categ = np.eye(3, dtype="float32")[rng.integers(0, 3, n)]
        y = (numeric[:, 0] + categ[:, 2] - 0.5 + rng.normal(0, 0.5, n) > 0).astype("float32")
        return {"numeric": numeric, "categ": categ, "y": y}

    with warnings.catch_warnings():  # Keras warns that the keys are not the Input names: that is the case
        warnings.simplefilter("ignore", UserWarning)
        numeric = keras.Input((4,), name="num_in")
        categ = keras.Input((3,), name="cat_in")
        hidden = keras.layers.Concatenate()([keras.layers.Dense(8, activation="relu")(numeric), categ])
        model = keras.Model(
            {"numeric": numeric, "categ": categ}, keras.layers.Dense(1, activation="sigmoid", name="prob")(hidden)
        )
    model.compile("adam", "binary_crossentropy")
    train = make(400)
    model.fit({"numeric": train["numeric"], "categ": train["categ"]}, train["y"], epochs=8, verbose=0)
    path = folder / "dict_inputs.keras"
    model.save(path)
    np.savez(folder / "dict_inputs_calib.npz", **make(100))
    np.savez(folder / "dict_inputs_eval.npz", **make(200))
    return path, folder / "dict_inputs_calib.npz", folder / "dict_inputs_eval.npz"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, tuple[Path, Path, Path]]:
    folder = tmp_path_factory.mktemp("dict_models")
    return {"outputs": _dict_outputs(folder), "inputs": _dict_inputs(folder)}


def _keras(path: Path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return import_keras().saving.load_model(path, safe_mode=True)


def _optimize(model: Path, calib: Path, evaluation: Path, out: Path) -> dict:
    out.mkdir()
    run = litesmith(
        "optimize", model, "-q", "fp32", "--data", calib, "--eval-data", evaluation, "--out", f"{out}{os.sep}",
        "--json", "--no-cache",
    )  # fmt: skip
    assert run.code == 0, run
    return run.json()


def test_the_interface_names_the_dict_keys_and_finds_the_heads_activation(built):
    from core.models.signatures import keras_feed, keras_interface

    model = _keras(built["outputs"][0])
    interface = keras_interface(model)
    assert sorted(interface.output_names) == sorted(model.output) == ["species", "weight"]
    assert {s.name: s.activation for s in interface.outputs} == {"species": "softmax", "weight": "linear"}

    model = _keras(built["inputs"][0])
    interface = keras_interface(model)
    assert sorted(interface.input_names) == sorted(model.input) == ["categ", "numeric"]
    with np.load(built["inputs"][2]) as data:
        feed = keras_feed(model, [data[name] for name in interface.input_names])
        assert np.array_equal(
            model.predict(feed, verbose=0),
            model.predict({"numeric": data["numeric"], "categ": data["categ"]}, verbose=0),
        )


def test_dict_outputs_are_scored_and_exported_under_their_keys(built, tmp_path):
    path, calib, evaluation = built["outputs"]
    summary = _optimize(path, calib, evaluation, tmp_path / "out")
    with np.load(evaluation) as data:
        x, y_species, y_weight = data["x"], data["y_species"], data["y_weight"]
    keras_out = _keras(path).predict(x, verbose=0)
    original = by_output(summary["original_evaluation"])
    assert original["species"]["accuracy"]["task"] == "multiclass"
    assert original["species"]["accuracy"]["accuracy"] == pytest.approx(
        accuracy_score(y_species, keras_out["species"].argmax(1)), abs=1e-9
    )
    assert original["weight"]["accuracy"]["mae"] == pytest.approx(
        mean_absolute_error(y_weight, keras_out["weight"][:, 0]), abs=1e-5
    )
    fp32 = next(Path(e["tflite"]) for e in summary["exports"] if e["variant"] == "fp32")
    litert = run_signature(fp32.read_bytes(), {"features": x})
    assert sorted(litert) == ["species", "weight"]
    for key in ("species", "weight"):
        np.testing.assert_allclose(litert[key], keras_out[key], atol=1e-5)


def test_dict_inputs_are_fed_under_their_keys(built, tmp_path):
    path, calib, evaluation = built["inputs"]
    summary = _optimize(path, calib, evaluation, tmp_path / "out")
    with np.load(evaluation) as data:
        inputs = {"numeric": data["numeric"], "categ": data["categ"]}
        y = data["y"]
    keras_out = _keras(path).predict(inputs, verbose=0)
    original = by_output(summary["original_evaluation"])
    assert original["prob"]["accuracy"]["roc_auc"] == pytest.approx(roc_auc_score(y, keras_out[:, 0]), abs=1e-6)
    fp32 = next(Path(e["tflite"]) for e in summary["exports"] if e["variant"] == "fp32")
    litert = run_signature(fp32.read_bytes(), inputs)
    np.testing.assert_allclose(litert["prob"], keras_out, atol=1e-5)


def test_keras_warning_about_the_keys_does_not_reach_the_user(built):
    """Keras warns at every load that the keys differ from the Input names; Litesmith's own lines say which
    names to use, so a user sees its inputs under the keys and no UserWarning with a Keras source path."""
    from tests.zoo_cli import litesmith_process

    run = litesmith_process("inspect", built["inputs"][0])
    assert run.returncode == 0, run.stderr
    inputs = [line.split()[1] for line in run.stdout.splitlines() if line.strip().startswith("input ")]
    assert sorted(inputs) == ["categ", "numeric"]
    assert "UserWarning" not in run.stderr and "keys in the dict" not in run.stderr, run.stderr
