"""Benchmarking by input NAME: multi-input data, signatures, free dimensions, nothing measured.

Oracles are independent of the benchmark code: Keras's own outputs on the same
named data, LiteRT's signature runner, and the SavedModel signature called
directly. Every model is built here in seconds.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import core.cli.bench as bench_cli
from core.benchmark import BenchConfig, benchmark_model, benchmark_variants
from core.benchmark.measure import load_feed, nothing_measured, plan_inputs
from core.benchmark.results import BenchmarkResult, ConfigResult
from core.benchmark.runners import KerasRunner, LiteRTRunner, SavedModelRunner, random_inputs
from core.benchmark.stats import compute_stats
from core.cli.main import main
from core.engine import CancelToken, Engine, null_reporter
from core.errors import BadInputError, ErrorKind, ExitCode

FAST = BenchConfig(runs=3, warmup=1, keras_modes=("tf_function",))
N = 6


def tf_and_keras():
    from core.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    import keras

    return tf, keras


@pytest.fixture
def inline_engine(monkeypatch):
    """Run the CLI's jobs in a thread instead of a child process (fast)."""
    monkeypatch.setattr(bench_cli, "make_engine", lambda args: Engine(isolated=False))


def bench(*argv):
    return main(["bench", *map(str, argv)])


# --------------------------------------------------------------------------- a 3-input model


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    """Inputs in the model's order txn (4,) float, merchant_id () int32 id, history (8, 2) float sequence.

    The names sort differently from the model's order (history, merchant_id, txn), and the
    outputs too (aux before score), so anything paired by position shows.
    """
    tf, keras = tf_and_keras()
    keras.utils.set_random_seed(1)
    txn = keras.Input((4,), name="txn")
    merchant = keras.Input((), dtype="int32", name="merchant_id")
    history = keras.Input((8, 2), name="history")
    embedded = keras.layers.Flatten()(keras.layers.Embedding(20, 3)(keras.layers.Reshape((1,))(merchant)))
    joined = keras.layers.Concatenate()([txn, embedded, keras.layers.Flatten()(history)])
    score = keras.layers.Dense(1, activation="sigmoid", name="score")(joined)
    aux = keras.layers.Dense(2, name="aux")(joined)
    model = keras.Model([txn, merchant, history], [score, aux])
    folder = tmp_path_factory.mktemp("three")
    model.save(folder / "three.keras")
    (folder / "three.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    rng = np.random.default_rng(7)
    data = {
        "txn": rng.normal(size=(N, 4)).astype(np.float32),
        "merchant_id": rng.integers(0, 20, size=N).astype(np.int32),
        "history": rng.normal(size=(N, 8, 2)).astype(np.float32),
    }
    np.savez(folder / "named.npz", **data)
    # x_0.. in the Keras model's input order (txn, merchant_id, history)
    np.savez(folder / "positional.npz", x_0=data["txn"], x_1=data["merchant_id"], x_2=data["history"])
    return {
        "model": model,
        "data": data,
        "folder": folder,
        "keras": folder / "three.keras",
        "tflite": folder / "three.tflite",
    }


def keras_outputs(model, data, rows):
    out = model([data["txn"][rows], data["merchant_id"][rows], data["history"][rows]], training=False)
    return {name: np.asarray(value) for name, value in zip(model.output_names, out)}


def one_batch(runner, feed, batch):
    plan_inputs([runner], feed)
    runner.prepare(batch, 1)
    inputs = feed.next_batch(runner.input_specs())
    return inputs, runner.run_once(inputs)


@pytest.mark.parametrize("file", ["named.npz", "positional.npz"])
def test_keras_runner_feeds_each_input_its_own_array(three, file):
    runner = KerasRunner(three["model"], "eager")
    feed = load_feed(three["folder"] / file, runner.feed_interface())
    inputs, out = one_batch(runner, feed, 4)
    for name, value in three["data"].items():
        np.testing.assert_array_equal(inputs[name], value[:4])
    assert inputs["merchant_id"].dtype == np.int32  # ids stay integers
    expected = keras_outputs(three["model"], three["data"], slice(0, 4))
    assert set(out) == {"score", "aux"}
    for name in expected:
        np.testing.assert_allclose(out[name], expected[name], rtol=1e-5, atol=1e-6)


def test_litert_runner_matches_the_signature_runner_and_keras(three):
    from ai_edge_litert.interpreter import Interpreter

    runner = LiteRTRunner(three["tflite"])
    assert runner.interface.input_names == ("history", "merchant_id", "txn")  # the signature's order
    feed = load_feed(three["folder"] / "named.npz", runner.feed_interface())
    inputs, out = one_batch(runner, feed, 5)
    oracle = Interpreter(model_path=str(three["tflite"])).get_signature_runner("serving_default")
    expected = oracle(**{name: value[:5] for name, value in three["data"].items()})
    assert set(out) == set(expected)
    for name in expected:
        np.testing.assert_allclose(out[name], expected[name], rtol=1e-6, atol=1e-6)
    # the converter names the outputs output_0/output_1: match Keras's by shape (score (5, 1), aux (5, 2))
    by_shape = {value.shape: value for value in out.values()}
    for name, value in keras_outputs(three["model"], three["data"], slice(0, 5)).items():
        np.testing.assert_allclose(by_shape[value.shape], value, rtol=1e-4, atol=1e-5)


def test_random_inputs_are_named_and_ids_are_small_integers(three):
    runner = LiteRTRunner(three["tflite"])
    plan_inputs([runner], None)
    runner.prepare(16, 1)
    inputs = runner.make_inputs(np.random.default_rng(0))
    assert set(inputs) == {"txn", "merchant_id", "history"}
    ids = inputs["merchant_id"]
    assert ids.dtype == np.int32 and ids.shape == (16,) and ids.min() >= 0 and ids.max() <= 9
    runner.run_once(inputs)
    runner.close()


def test_keras_runner_keeps_ids_below_the_embedding_size():
    _, keras = tf_and_keras()
    tokens = keras.Input((7,), dtype="int32", name="tokens")
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(4, 2)(tokens))
    model = keras.Model(tokens, keras.layers.Dense(1)(pooled))
    runner = KerasRunner(model, "eager")
    plan_inputs([runner], None)
    runner.prepare(64, None)
    ids = runner.make_inputs(np.random.default_rng(0))["tokens"]
    assert ids.dtype == np.int32 and ids.min() >= 0 and ids.max() <= 3 and len(np.unique(ids)) == 4
    runner.run_once({"tokens": ids})
    assert random_inputs(runner.input_specs(), np.random.default_rng(1))["tokens"].max() <= 3


@pytest.mark.parametrize("model_key", ["keras", "tflite"])
@pytest.mark.parametrize("file", ["named.npz", "positional.npz"])
def test_bench_multi_input_from_data(three, model_key, file, inline_engine, capsys):
    if model_key == "tflite" and file == "positional.npz":
        # x_0.. follow each model's own input order; the .tflite signature's is alphabetical (history,
        # merchant_id, txn), so the Keras-ordered file does not fit it: refused, never fed by position
        assert bench(three[model_key], "--data", three["folder"] / file, "--runs", "2") == ExitCode.BAD_INPUT
        assert "'history'" in capsys.readouterr().err
        return
    code = bench(
        three[model_key],
        "--data",
        three["folder"] / file,
        "--batch",
        "2",
        "--runs",
        "3",
        "--warmup",
        "1",
        "--keras-modes",
        "tf_function",
        "--json",
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert all(c["error"] == "" and c["stats"]["n"] == 3 for c in out["configs"])
    assert out["data_profile"]["batches"] == 1 + 1 + 3
    assert {i["name"]: i["shape"] for i in out["inputs"]} == {"txn": [4], "merchant_id": [], "history": [8, 2]}
    how = "x_0" if file == "positional.npz" else "by name"
    assert any(how in note for note in out["notes"])


def test_bench_data_that_names_no_input_exits_3(three, tmp_path, inline_engine, capsys):
    path = tmp_path / "wrong.npz"
    np.savez(path, amount=three["data"]["txn"], x=three["data"]["txn"])
    assert bench(three["keras"], "--data", path, "--runs", "2") == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert "wrong.npz" in err and "txn" in err


def test_benchmark_variants_feeds_keras_and_tflite_by_name(three):
    result = benchmark_variants(
        {"fp32": three["tflite"].read_bytes()},
        FAST,
        keras_model=three["keras"],
        data=three["folder"] / "positional.npz",
        progress=null_reporter(),
        cancel=CancelToken(),
    )
    assert [c.label for c in result.configs] == ["keras-tf_function b1", "fp32 b1 t1"]
    assert all(c.ok for c in result.configs)


# --------------------------------------------------------------------------- signatures


@pytest.fixture(scope="module")
def two_signatures(tmp_path_factory):
    """A tf.Module SavedModel with serving_default (features -> scores) and embed (tokens -> vectors)."""
    tf, _ = tf_and_keras()
    rng = np.random.default_rng(3)
    weights = tf.constant(rng.normal(size=(4, 3)).astype(np.float32))
    table = tf.constant(rng.normal(size=(10, 2)).astype(np.float32))

    class TwoHeads(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="features")])
        def serve(self, features):
            return {"scores": tf.matmul(features, weights)}

        @tf.function(input_signature=[tf.TensorSpec([None, 5], tf.int32, name="tokens")])
        def embed(self, tokens):
            return {"vectors": tf.reduce_mean(tf.gather(table, tokens), axis=1)}

    class Named(tf.Module):  # a .tflite's signatures are named after the functions converted
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="features")])
        def serving_default(self, features):
            return {"scores": tf.matmul(features, weights)}

        embed = TwoHeads.embed

    module = TwoHeads()
    folder = tmp_path_factory.mktemp("sigs") / "saved_model"
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve, "embed": module.embed})
    # (from_saved_model keeps only serving_default here; the concrete functions keep both)
    named = Named()
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [named.serving_default.get_concrete_function(), named.embed.get_concrete_function()], named
    )
    tflite = folder.parent / "two.tflite"
    tflite.write_bytes(converter.convert())
    tokens = rng.integers(0, 10, size=(N, 5)).astype(np.int32)
    np.savez(folder.parent / "tokens.npz", tokens=tokens)
    return {"folder": folder, "tflite": tflite, "tokens": tokens, "data": folder.parent / "tokens.npz"}


def test_saved_model_runner_runs_the_chosen_signature(two_signatures):
    tf, _ = tf_and_keras()
    runner = SavedModelRunner(two_signatures["folder"], signature="embed")
    assert runner.interface.input_names == ("tokens",) and runner.interface.output_names == ("vectors",)
    feed = load_feed(two_signatures["data"], runner.feed_interface())
    inputs, out = one_batch(runner, feed, 3)
    np.testing.assert_array_equal(inputs["tokens"], two_signatures["tokens"][:3])
    direct = tf.saved_model.load(str(two_signatures["folder"])).signatures["embed"]
    expected = direct(tokens=tf.constant(two_signatures["tokens"][:3]))["vectors"].numpy()
    np.testing.assert_allclose(out["vectors"], expected, rtol=1e-6)
    assert SavedModelRunner(two_signatures["folder"]).interface.signature == "serving_default"


@pytest.mark.parametrize("which", ["folder", "tflite"])
def test_bench_signature_flag(two_signatures, which, inline_engine, capsys):
    model = two_signatures[which]
    assert bench(model, "--signature", "embed", "--data", two_signatures["data"], "--runs", "3", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["signature"] == "embed" and sorted(out["signatures"]) == ["embed", "serving_default"]
    assert all(c["error"] == "" for c in out["configs"]) and out["inputs"][0]["name"] == "tokens"
    assert any("not measured: 'serving_default'" in note for note in out["notes"])
    # the default: serving_default, with embed listed as not measured
    assert bench(model, "--runs", "2") == 0
    text = capsys.readouterr().out
    assert "signature 'serving_default' measured; not measured: 'embed'" in text
    assert "'features'" in text


def test_litert_runner_second_signature_matches_the_signature_runner(two_signatures):
    from ai_edge_litert.interpreter import Interpreter

    tokens = two_signatures["tokens"]
    for key, name, data in (("embed", "tokens", tokens), ("serving_default", "features", np.ones((N, 4), np.float32))):
        runner = LiteRTRunner(two_signatures["tflite"], signature=key)
        runner.set_sample_shapes({})
        runner.prepare(N, 1)
        out = runner.run_once({name: data})
        expected = Interpreter(model_path=str(two_signatures["tflite"])).get_signature_runner(key)(**{name: data})
        assert set(out) == set(expected)
        for output in expected:
            np.testing.assert_allclose(out[output], expected[output], rtol=1e-6)


def test_bench_unknown_signature_exits_3(two_signatures, three, inline_engine, capsys):
    assert bench(two_signatures["folder"], "--signature", "nope", "--runs", "2") == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert "nope" in err and "embed" in err
    assert bench(three["keras"], "--signature", "embed", "--runs", "2") == ExitCode.BAD_INPUT
    assert "no signatures" in capsys.readouterr().err


def test_gui_job_benchmarks_a_saved_model_original(two_signatures):
    """The GUI's Run: benchmark_variants(keras_model=<the SavedModel folder>) measures the original."""
    tflite = two_signatures["tflite"].read_bytes()
    result = benchmark_variants(
        {"fp32": tflite},
        FAST,
        keras_model=str(two_signatures["folder"]),
        label="saved_model",
        progress=null_reporter(),
        cancel=CancelToken(),
    )
    assert [c.label for c in result.configs] == ["savedmodel b1", "fp32 b1 t1"]
    assert all(c.ok for c in result.configs)


# --------------------------------------------------------------------------- free dimensions


@pytest.fixture(scope="module")
def free_length(tmp_path_factory):
    tf, keras = tf_and_keras()
    keras.utils.set_random_seed(2)
    seq = keras.Input((None, 2), name="seq")
    hidden = keras.layers.Conv1D(4, 3, padding="same", activation="relu")(seq)
    model = keras.Model(seq, keras.layers.Dense(1)(keras.layers.GlobalAveragePooling1D()(hidden)))
    folder = tmp_path_factory.mktemp("free")
    model.save(folder / "free.keras")
    (folder / "free.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    x = np.random.default_rng(5).normal(size=(N, 45, 2)).astype(np.float32)
    np.savez(folder / "len45.npz", x=x)
    return {"model": model, "folder": folder, "x": x}


@pytest.mark.parametrize("suffix", [".tflite", ".keras"])
def test_free_length_benched_at_the_data_length(free_length, suffix, inline_engine, capsys):
    model = free_length["folder"] / f"free{suffix}"
    code = bench(
        model,
        "--data",
        free_length["folder"] / "len45.npz",
        "--batch",
        "1,2",
        "--runs",
        "3",
        "--keras-modes",
        "tf_function",
        "--json",
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and len(out["configs"]) == 2
    assert all(c["error"] == "" and c["stats"]["n"] == 3 for c in out["configs"])
    assert out["inputs"] == [{"name": "seq", "shape": [45, 2], "dtype": "float32", "free_axes": [1], "source": "data"}]
    assert any("(batch, 45, 2)" in note and "data" in note for note in out["notes"])
    bench(model, "--data", free_length["folder"] / "len45.npz", "--runs", "2", "--keras-modes", "tf_function")
    assert "'seq' (batch, 45, 2) float32 (free size from the data)" in capsys.readouterr().out


def test_free_length_runs_at_45_as_keras_does(free_length):
    runner = LiteRTRunner(free_length["folder"] / "free.tflite")
    feed = load_feed(free_length["folder"] / "len45.npz", runner.feed_interface())
    inputs, out = one_batch(runner, feed, 2)
    assert runner.input_specs()[0].shape == (2, 45, 2)
    [value] = out.values()
    expected = np.asarray(free_length["model"](free_length["x"][:2], training=False))
    np.testing.assert_allclose(value, expected, rtol=1e-4, atol=1e-5)


def test_free_length_without_data_needs_an_input_shape(free_length, inline_engine, capsys):
    assert bench(free_length["folder"] / "free.tflite", "--runs", "2", "--json") == 2
    assert "--input-shape" in capsys.readouterr().err


def test_free_length_runs_at_the_given_input_shape(free_length, inline_engine, capsys):
    name = LiteRTRunner(free_length["folder"] / "free.tflite").feed_interface().inputs[0].name
    assert bench(free_length["folder"] / "free.tflite", "--runs", "2", "--json", "--input-shape", f"{name}=13,2") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["inputs"][0]["shape"] == [13, 2] and out["inputs"][0]["source"] == "--input-shape"
    assert any("(batch, 13, 2)" in n and "--input-shape" in n for n in out["notes"])


# --------------------------------------------------------------------------- nothing measured


def test_bench_that_measures_nothing_exits_4_with_one_line(three, tmp_path, inline_engine, capsys):
    bad_ids = dict(three["data"], merchant_id=np.full(N, 1000, np.int32))  # outside Embedding(20)
    path = tmp_path / "bad_ids.npz"
    np.savez(path, **bad_ids)
    code = bench(three["tflite"], "--data", path, "--runs", "2")
    captured = capsys.readouterr()
    assert code == ExitCode.CONVERSION
    [line] = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert "nothing was measured" in line and "three.tflite" in line
    assert "not measured" in captured.out


def _config(error, kind):
    return ConfigResult(
        "fp32 b8 t1", "litert", "fp32", 8, 1, compute_stats([], batch_size=8), 0.0, 0.0, "vmhwm", (), error, kind
    )


def test_nothing_measured_kinds():
    from core.benchmark.recommend import recommend

    def result(*configs):
        return BenchmarkResult("m.tflite", FAST, configs, recommend(list(configs), 10.0))

    only_batch = nothing_measured(result(_config("the model does not run at batch 8", "input")))
    assert only_batch.kind == ErrorKind.BAD_INPUT and only_batch.exit_code == ExitCode.BAD_INPUT
    assert "batch 8" in only_batch.one_line() and only_batch.path == "m.tflite"
    failed = nothing_measured(
        result(
            _config("the model does not run at batch 8", "input"),
            _config("RuntimeError: gather index out of bounds", "run"),
        )
    )
    assert failed.exit_code == ExitCode.CONVERSION and "and 1 more" in failed.message
    assert nothing_measured(result()).exit_code == ExitCode.BAD_INPUT


def test_no_signature_for_a_keras_model_via_the_job(three):
    with pytest.raises(BadInputError, match="no signatures"):
        benchmark_model(three["keras"], FAST, progress=null_reporter(), cancel=CancelToken(), signature="x")


def test_int8_inputs_are_quantized_as_the_runtime_does(three, tmp_path):
    """A full-integer model with int8 I/O: data is quantized like core.optimize.runtime does."""
    from core.optimize.runtime import SignatureModel

    tf, keras = tf_and_keras()
    x = keras.Input((4,), name="features")
    model = keras.Model(x, keras.layers.Dense(3, name="scores")(keras.layers.Dense(8, activation="relu")(x)))
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    rng = np.random.default_rng(0)
    converter.representative_dataset = lambda: ([rng.normal(size=(1, 4)).astype(np.float32)] for _ in range(20))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    tflite = converter.convert()
    data = {"features": rng.normal(size=(N, 4)).astype(np.float32)}
    runner = LiteRTRunner(tflite)
    assert runner.interface.inputs[0].dtype == "int8" and runner.feed_interface().inputs[0].dtype == "float32"
    feed = load_feed(data, runner.feed_interface())
    inputs, out = one_batch(runner, feed, N)
    oracle = SignatureModel(tflite)
    detail = oracle.inputs["features"]
    expected_in = np.clip(np.round(data["features"] / detail.scale + detail.zero_point), -128, 127).astype(np.int8)
    np.testing.assert_array_equal(inputs["features"], expected_in)
    [name] = out
    out_detail = oracle.outputs[name]
    dequantized = (out[name].astype(np.float64) - out_detail.zero_point) * out_detail.scale
    np.testing.assert_allclose(dequantized, oracle.run(data)[name], rtol=0, atol=1e-6)
    # random inputs are quantized floats too: int8 of the right shape
    random = runner.make_inputs(np.random.default_rng(1))["features"]
    assert random.dtype == np.int8 and random.shape == (N, 4)
