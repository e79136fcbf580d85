"""A `.tflite` given as the model: one already quantized, and one with several signatures.

* Already full-integer (int8 weights, int8 input and output): its quantized softmax output used to be read
  as integer class ids (labels refused, exit 3), and dynamic/int8/int16x8 exported the same bytes under
  three names. Oracle: LiteRT's signature runner on the file, with the input quantized and the output
  dequantized by hand from the tensors' own scale and zero point, then scikit-learn's accuracy.
* Two signatures: ai-edge-quantizer quantizes the whole file, so a calibrated mode (data for one
  signature) is refused with the reason, and dynamic says that the other signature went along unevaluated.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score

from core.tf_runtime import import_keras, import_tensorflow
from tests.model_factory import save_int8_tflite
from tests.zoo_cli import by_output, litesmith


def _classifier_data(n: int = 300):
    rng = np.random.default_rng(11)
    x = rng.normal(0, 1, (n, 8)).astype("float32")
    return x, (x[:, :4].sum(1) > x[:, 4:].sum(1)).astype(np.int64) + (x[:, 0] > 1)


@pytest.fixture(scope="module")
def int8_file(tmp_path_factory):
    keras = import_keras()
    keras.utils.set_random_seed(11)
    folder = tmp_path_factory.mktemp("int8_input")
    x, y = _classifier_data()
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3)])
    model.add(keras.layers.Softmax())
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=10, verbose=0)
    path = save_int8_tflite(model, folder, "clf", (8,))
    np.savez(folder / "data.npz", x=x, y=y)
    return path, folder / "data.npz"


def _by_hand(path, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path)).get_signature_runner()
    ((name, inp),) = runner.get_input_details().items()
    ((out_name, out),) = runner.get_output_details().items()
    scale, zero = inp["quantization"]
    q = np.clip(np.round(x / scale + zero), -128, 127).astype(np.int8)
    raw = runner(**{name: q})[out_name]
    scale, zero = out["quantization"]
    return (raw.astype(np.float64) - zero) * scale


def test_an_already_int8_tflite_is_scored_on_its_dequantized_output_and_not_quantized_again(int8_file, tmp_path):
    path, data = int8_file
    out = tmp_path / "out"
    out.mkdir()
    run = litesmith(
        "optimize", path, "--data", data, "-q", "fp32,dynamic,int8", "--out", f"{out}/", "--json", "--no-cache"
    )
    summary = run.json()
    with np.load(data) as d:
        x, y = d["x"], d["y"]
    original = next(iter(by_output(summary["original_evaluation"]).values()))
    assert original["task"] == "multiclass"  # a dequantized softmax, not integer class ids
    assert original["accuracy"]["accuracy"] == pytest.approx(accuracy_score(y, _by_hand(path, x).argmax(1)), abs=1e-9)
    variants = {v["name"]: v for v in summary["variants"]}
    assert variants["fp32"]["io_dtype"] == "int8"  # read from the file
    failed = {f["name"]: f["message"] for f in summary["failures"]}
    assert set(failed) == {"dynamic", "int8"}
    assert all("already quantized (its weights are already int8" in why for why in failed.values()), failed
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".tflite") == ["clf_int8.fp32.tflite"]


def test_a_tflite_with_two_signatures_refuses_calibrated_modes_and_says_what_dynamic_quantized(tmp_path):
    tf = import_tensorflow()
    rng = np.random.default_rng(12)
    w, v = rng.normal(size=(6, 3)).astype("float32"), rng.normal(size=(4, 1)).astype("float32")
    module = tf.Module()
    module.w, module.v = tf.Variable(w), tf.Variable(v)

    @tf.function(input_signature=[tf.TensorSpec([None, 6], tf.float32, name="a")])
    def classify(a):
        return {"probs": tf.nn.softmax(a @ module.w)}

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="b")])
    def regress(b):
        return {"value": b @ module.v}

    tf.saved_model.save(module, str(tmp_path / "sm"), signatures={"classify": classify, "regress": regress})
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "sm"), signature_keys=["classify", "regress"])
    path = tmp_path / "two.tflite"
    path.write_bytes(converter.convert())
    np.savez(tmp_path / "a.npz", a=rng.normal(size=(64, 6)).astype("float32"))
    run = litesmith(
        "optimize", path, "--signature", "classify", "--data", tmp_path / "a.npz", "-q", "dynamic,int8",
        "--no-export", "--json", "--no-cache",
    )  # fmt: skip
    summary = run.json()
    failed = {f["name"]: f["message"] for f in summary["failures"]}
    assert "several signatures" in failed["int8"] and "also has 'regress'" in failed["int8"]
    (dynamic,) = [v for v in summary["variants"] if v["name"] == "dynamic"]
    assert any("other signature(s) 'regress', quantized too but not evaluated" in w for w in dynamic["warnings"])
