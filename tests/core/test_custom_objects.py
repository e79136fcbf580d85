"""--custom-objects FILE.py: the user's own code for custom layers, imported only when named (issue 11, item 3).

The CLI tests run the real engine child (a fresh, sandboxed process, where nothing
registered `ScaledDense` before): without the option a model with a custom class is
refused with a message naming the option; with it, inspect, optimize and bench work,
the fp32 variant matches Keras's own output and the report records the file's SHA-256.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from core.cli.main import main
from core.errors import BadInputError
from core.tf_runtime import import_keras

CODE = Path(__file__).resolve().parents[1] / "custom_layers_for_tests.py"
HINT = "give its code with --custom-objects FILE.py (in the app: Load custom layer code…)"


@pytest.fixture(scope="module")
def clt():
    import tests.custom_layers_for_tests as module  # registers litesmith_tests>ScaledDense in this process

    return module


@pytest.fixture(scope="module")
def models(tmp_path_factory, clt):
    """.keras files with a registered (ScaledDense) and an unregistered (Swish) custom layer, a Lambda model,
    data, and a custom-objects file that fails to import."""
    keras = import_keras()
    keras.utils.set_random_seed(3)
    folder = tmp_path_factory.mktemp("custom")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 8)).astype(np.float32)
    np.savez(folder / "data.npz", x=x)

    def build(name, middle):
        inputs = keras.Input((8,), name="features")
        out = keras.layers.Dense(3, activation="softmax", name="probs")(middle(inputs))
        model = keras.Model(inputs, out, name=name)
        model.save(folder / f"{name}.keras")
        return model

    built = {
        "scaled": build("scaled", lambda t: keras.layers.ReLU()(clt.ScaledDense(16, scale=2.0, name="scaled")(t))),
        "swish": build("swish", lambda t: clt.Swish(beta=1.5, name="swish")(keras.layers.Dense(16, name="d")(t))),
        "with_lambda": build(
            "with_lambda",
            lambda t: keras.layers.Lambda(lambda v: v * 2.0, name="times_two")(clt.ScaledDense(16, name="scaled")(t)),
        ),
    }
    bad = folder / "bad_code.py"
    bad.write_text("import keras\nraise RuntimeError('boom \\x1b[31mred at import')\n")
    return {
        "folder": folder,
        "x": x,
        "data": folder / "data.npz",
        "bad": bad,
        "built": built,
        **{name: folder / f"{name}.keras" for name in built},
    }


# -- in-process: the import, the registry, the messages, the cache key -------------------------


def test_import_offers_registered_and_unregistered_classes_and_restores_the_registry(clt):
    from core.models.custom_objects import describe_custom_objects, import_custom_objects

    keras = import_keras()
    before = dict(keras.saving.get_custom_objects())
    objects = import_custom_objects([str(CODE)])
    assert set(objects) == {"litesmith_tests>ScaledDense", "ScaledDense", "Swish"}  # not the helper function
    assert objects["ScaledDense"] is objects["litesmith_tests>ScaledDense"]
    assert objects["Swish"] is not clt.Swish and objects["Swish"].__name__ == "Swish"  # the file's own module
    assert dict(keras.saving.get_custom_objects()) == before  # nothing left registered for later jobs
    digest = hashlib.sha256(CODE.read_bytes()).hexdigest()
    assert describe_custom_objects([str(CODE)]) == ((str(CODE), digest),)


def test_missing_or_failing_file_is_bad_input_naming_it(models):
    from core.models.custom_objects import import_custom_objects

    with pytest.raises(BadInputError) as missing:
        import_custom_objects([str(models["folder"] / "nope.py")])
    assert missing.value.path.endswith("nope.py") and "no such custom-objects file" in missing.value.message
    with pytest.raises(BadInputError) as failing:
        import_custom_objects([str(models["bad"])])
    error = failing.value
    assert error.path == str(models["bad"])
    assert "RuntimeError: boom \\x1b[31mred at import" in error.message and "\n" not in error.message
    assert "Traceback" in error.details and "bad_code.py" in error.details


def test_unknown_class_message_names_the_option():
    from core.models.loading import keras_load_error

    error = keras_load_error("m.keras", TypeError("Could not locate class 'Swish'. Make sure custom classes ..."))
    assert "'Swish' that is not part of Keras" in error.message and error.message.endswith(
        f"if you wrote 'Swish', {HINT}"
    )
    given = keras_load_error("m.keras", TypeError("Could not locate class 'Swish'."), ("/x/layers.py",))
    assert "not defined (or not a Keras class) in layers.py" in given.message and HINT in given.message


def test_session_options_cache_key_follows_the_files_content(tmp_path):
    from core.optimize.session import SessionOptions, as_options

    plain = SessionOptions()
    assert "custom_objects" not in plain.cache_parts()  # keys without custom code stay as they were
    code = tmp_path / "layers.py"
    code.write_text("A = 1\n")
    options = SessionOptions(custom_objects=(str(code),))
    first = options.cache_parts()["custom_objects"]
    assert first == [hashlib.sha256(b"A = 1\n").hexdigest()]
    code.write_text("A = 2\n")
    assert options.cache_parts()["custom_objects"] != first
    assert as_options({"custom_objects": [str(code)]}).custom_objects == (str(code),)
    assert as_options(options, threshold=0.3).custom_objects == (str(code),)


# -- the CLI, in the real (sandboxed) engine child --------------------------------------------


def test_without_custom_objects_the_refusal_names_the_option(models, capfd):
    code = main(["inspect", str(models["scaled"]), str(models["swish"])])
    err = capfd.readouterr().err
    assert code == 3, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 2
    assert "'ScaledDense'" in lines[0] and "scaled.keras" in lines[0] and HINT in lines[0]
    assert "'Swish'" in lines[1] and "swish.keras" in lines[1] and HINT in lines[1]


def test_inspect_with_custom_objects(models, capfd):
    code = main(["inspect", str(models["scaled"]), str(models["swish"]), "--custom-objects", str(CODE), "--json"])
    captured = capfd.readouterr()
    assert code == 0, captured.err
    entries = json.loads(captured.out)
    types = [[layer["type"] for layer in entry["info"]["layers"]] for entry in entries]
    assert "ScaledDense" in types[0] and "Swish" in types[1]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["scaled", "swish"])
def test_optimize_fp32_matches_keras_and_the_report_has_the_files_sha256(models, name, tmp_path, capfd):
    from core.optimize.runtime import run_tflite

    out = tmp_path / "out"
    out.mkdir()
    user_code = tmp_path / "elsewhere" / "my_layers.py"  # outside the checkout: the sandbox grants it as an input
    user_code.parent.mkdir()
    user_code.write_bytes(CODE.read_bytes())
    code = main(
        [
            "optimize",
            str(models[name]),
            "-q",
            "fp32,int8",
            "--data",
            str(models["data"]),
            "--calibration-samples",
            "32",
            "--custom-objects",
            str(user_code),
            "--out",
            str(out),
            "--json",
        ]
    )
    captured = capfd.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out)
    digest = hashlib.sha256(user_code.read_bytes()).hexdigest()
    assert summary["source"]["custom_objects"] == [[str(user_code), digest]]
    assert [v["name"] for v in summary["variants"]] == ["fp32", "int8"]
    report = json.loads((out / f"{name}.fp32.report.json").read_text())
    assert report["source"]["custom_objects"] == [[str(user_code), digest]]
    assert (out / f"{name}.int8.tflite").stat().st_size > 0

    x = models["x"]
    expected = np.asarray(models["built"][name](x, training=False))  # Keras, with the class imported directly
    outputs = run_tflite(
        (out / f"{name}.fp32.tflite").read_bytes(), {"features": x}, signature=summary["variants"][0]["signature"]
    )
    np.testing.assert_allclose(next(iter(outputs.values())), expected, atol=1e-5)


def test_the_engine_child_may_read_a_file_named_only_in_the_jobs_arguments(models, tmp_path):
    """The GUI's path: no command line grants the file; the job's arguments (a SessionOptions too) do."""
    from core.engine import Engine
    from core.engine.sandbox import sandbox_status
    from core.models.inspection import inspect_model

    user_code = tmp_path / "my_layers.py"
    user_code.write_bytes(CODE.read_bytes())
    with Engine() as engine:
        result = engine.run(inspect_model, str(models["swish"]), custom_objects=(str(user_code),))
        assert "Swish" in [layer.type for layer in result.info.layers]
        if sandbox_status().filesystem:
            assert engine.sandbox is not None and engine.sandbox.filesystem


def test_lambda_is_still_refused_and_user_code_is_not_imported_first(models, capfd):
    # The safety checks run before the user's file is imported: the failing file never runs.
    code = main(
        ["inspect", str(models["with_lambda"]), "--custom-objects", str(models["bad"]), "--custom-objects", str(CODE)]
    )
    err = capfd.readouterr().err
    assert code == 3, err
    assert "Lambda" in err and "arbitrary code" in err and "boom" not in err


def test_a_file_that_fails_to_import_exits_3_naming_it(models, capfd):
    code = main(["inspect", str(models["scaled"]), "--custom-objects", str(models["bad"])])
    err = capfd.readouterr().err
    assert code == 3, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and str(models["bad"]) in lines[0]
    assert "could not be imported: RuntimeError: boom \\x1b[31mred at import" in lines[0]
    assert "\x1b" not in err
    missing = main(["optimize", str(models["scaled"]), "--custom-objects", str(models["folder"] / "gone.py")])
    assert missing == 3 and "gone.py: no such custom-objects file" in capfd.readouterr().err


@pytest.mark.slow
def test_bench_loads_the_custom_layer(models, capfd):
    code = main(
        [
            "bench",
            str(models["swish"]),
            "--custom-objects",
            str(CODE),
            "--runs",
            "3",
            "--warmup",
            "0",
            "--keras-modes",
            "predict",
            "--json",
        ]
    )
    captured = capfd.readouterr()
    assert code == 0, captured.err
    result = json.loads(captured.out)
    assert any(c.get("stats") for c in result["configs"])
