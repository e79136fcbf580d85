"""The optimization pipeline: recipes, conversion paths, every quantization mode, .tflite inputs, samples."""

from __future__ import annotations

import json

import glob
import os
import tempfile

import numpy as np
import pytest

from core.data import DataSpec
from core.engine import CancelToken, null_reporter
from core.engine.context import Reporter
from core.engine.events import LogEvent, PartialEvent
from core.errors import BadInputError, Cancelled, ConversionError
from core.optimize.recipes import (
    MODES,
    ConvertConfig,
    QuantizeConfig,
    Recipe,
    RecipeError,
    SelectiveConfig,
    Step,
    parse_modes,
    recipe_for_mode,
)
from core.optimize.results import OptimizeResult
from core.optimize.convert import NAMED_EXPORT
from core.optimize.runtime import SignatureModel, run_tflite
from tests.core.optimize_models import classifier

ALL = list(MODES) + ["weight_only"]


def run(model, recipes, data=None, events=None, cancel=None) -> OptimizeResult:
    from core.optimize.pipeline import optimize_model

    reporter = Reporter(events.append) if events is not None else null_reporter()
    return optimize_model(str(model), recipes, data, progress=reporter, cancel=cancel or CancelToken())


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return classifier(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def tiny_result(tiny):
    model, data = tiny
    events: list = []
    int8io = recipe_for_mode("int8", io_dtype="int8")
    result = run(model, ALL + [int8io], DataSpec(path=str(data), calibration_samples=64), events)
    return result, events


# -- recipes -----------------------------------------------------------------


def test_recipe_json_round_trip():
    recipe = recipe_for_mode("int8", selective=SelectiveConfig(auto=True, float_layers=("a",)))
    again = Recipe.from_json(recipe.to_json())
    assert again == recipe
    assert again.name == "int8-selective" and again.mode == "int8"
    assert again.step("quantize").config.selective.float_layers == ("a",)
    assert recipe.to_dict()["version"] == 1


def test_recipe_errors():
    with pytest.raises(RecipeError, match="unknown quantization mode 'int4'"):
        parse_modes("fp32,int4")
    with pytest.raises(RecipeError, match="unknown step kind"):
        Recipe.from_dict({"name": "x", "steps": [{"kind": "teleport"}]})
    with pytest.raises(RecipeError, match="unknown field"):
        Recipe.from_dict({"name": "x", "steps": [{"kind": "convert", "config": {"speed": 1}}]})
    with pytest.raises(RecipeError, match="int8 only"):
        recipe_for_mode("float16", selective=SelectiveConfig(auto=True))
    with pytest.raises(RecipeError, match="quantize must come after convert"):
        Recipe("x", (Step("quantize", QuantizeConfig()), Step("convert", ConvertConfig()))).validate()
    assert parse_modes("int8, fp32,int8") == ["int8", "fp32"]


# -- every mode on a tiny model ------------------------------------------------


def test_every_mode_gives_a_working_variant(tiny_result):
    result, _ = tiny_result
    assert [v.name for v in result.variants] == ALL + ["int8-int8io"]
    assert not result.failures and not result.synthetic_data
    fp32 = result.variant("fp32")
    assert fp32.size_ratio == 1.0 and fp32.size_bytes == result.baseline_size_bytes
    assert fp32.converter_path == NAMED_EXPORT
    assert fp32.evaluation.fidelity.max_abs_diff < 1e-5
    for v in result.variants:
        assert v.tflite_bytes[4:8] == b"TFL3" and v.size_bytes == len(v.tflite_bytes)
        assert v.evaluation.accuracy is not None and v.evaluation.fidelity is not None
        assert v.evaluation.fidelity.top1_agreement >= 0.9, v.name
    assert result.variant("weight_only").converter_path == f"{NAMED_EXPORT}+ai-edge-quantizer"
    orig = result.original_evaluation.accuracy.accuracy
    assert abs(result.variant("int8").evaluation.accuracy.accuracy - orig) <= 0.05


def test_int8_io_variant_has_int8_tensors_and_is_evaluated_in_float(tiny_result):
    result, _ = tiny_result
    v = result.variant("int8-int8io")
    model = SignatureModel(v.tflite_bytes)
    (inp,), (out,) = model.inputs.values(), model.outputs.values()
    assert inp.dtype == "int8" and out.dtype == "int8" and inp.scale > 0
    assert v.io_dtype == "int8"
    # Same quantized graph as float-I/O int8: the same decisions once dequantized.
    assert v.evaluation.fidelity.top1_agreement >= 0.95


def test_float_io_int8_keeps_float_tensors(tiny_result):
    result, _ = tiny_result
    model = SignatureModel(result.variant("int8").tflite_bytes)
    (inp,), (out,) = model.inputs.values(), model.outputs.values()
    assert inp.dtype == "float32" and out.dtype == "float32"


def test_variants_stream_as_partials_with_progress(tiny_result):
    result, events = tiny_result
    partials = [e.payload.name for e in events if isinstance(e, PartialEvent) and e.kind == "variant"]
    assert partials == [v.name for v in result.variants]
    fractions = [e.fraction for e in events if getattr(e, "fraction", None) is not None]
    assert fractions[-1] == 1.0


def test_data_description(tiny_result):
    result, _ = tiny_result
    d = result.data
    assert d.calibration_samples == 64 and d.eval_samples == 300 and d.labelled and d.stratified
    assert result.source.sha256 and len(result.source.sha256) == 64
    assert result.environment["tensorflow"].startswith("2.")


def test_no_data_synthesizes_and_says_so_loudly(tiny):
    model, _ = tiny
    events: list = []
    result = run(model, ["dynamic"], None, events)
    assert result.synthetic_data and result.data.synthetic_data
    assert any("RANDOM" in w for w in result.warnings)
    assert any(isinstance(e, LogEvent) and e.level == "warning" and "RANDOM" in e.message for e in events)
    assert result.variants[0].evaluation.accuracy is None  # no labels: fidelity only
    assert result.variants[0].evaluation.fidelity is not None


def test_bad_data_shape_names_expected_and_actual(tiny, tmp_path):
    model, _ = tiny
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((5, 7), np.float32))
    with pytest.raises(BadInputError) as info:
        run(model, ["int8"], DataSpec(path=str(bad)))
    assert "expected inputs of shape (?, 8) float32" in info.value.message
    assert "got (5, 7) float32" in info.value.message


def test_labels_that_do_not_fit_the_outputs(tiny, tmp_path):
    model, _ = tiny
    bad = tmp_path / "labels.npz"
    np.savez(bad, x=np.zeros((5, 8), np.float32), y=np.full(5, 7))
    with pytest.raises(BadInputError, match="labels"):
        run(model, ["fp32"], DataSpec(path=str(bad)))


# -- conversion paths ------------------------------------------------------------


def test_keras_converts_through_the_named_export_without_from_keras_model(tiny, monkeypatch):
    # Was: "falls back to export when from_keras_model fails". By design a Keras model now always
    # converts through the named-signature export (no from_keras_model, so no fallback): a broken
    # from_keras_model changes nothing, and the export converts faithfully.
    from core.tf_runtime import import_tensorflow

    tf = import_tensorflow()

    def broken(*args, **kwargs):
        raise RuntimeError("from_keras_model cannot trace this model")

    monkeypatch.setattr(tf.lite.TFLiteConverter, "from_keras_model", broken)
    model, data = tiny
    result = run(model, ["fp32", "dynamic"], DataSpec(path=str(data), calibration_samples=16))
    for v in result.variants:
        # dynamic is derived from that fp32 conversion by ai-edge-quantizer (convert once)
        assert v.converter_path in (NAMED_EXPORT, f"{NAMED_EXPORT}+ai-edge-quantizer")
        assert not any("from_keras_model failed" in w for w in v.warnings)
        assert v.evaluation.fidelity.max_abs_diff < 1e-3


def test_saved_model_input(tiny, tmp_path):
    from core.tf_runtime import import_keras

    model_path, data = tiny
    model = import_keras().saving.load_model(model_path, safe_mode=True, compile=False)
    folder = tmp_path / "saved"
    from core.native_output import quiet_native

    with quiet_native():
        model.export(str(folder))
    result = run(folder, ["fp32", "int8"], DataSpec(path=str(data), calibration_samples=32))
    assert [v.converter_path for v in result.variants] == ["from_saved_model", "from_saved_model"]
    assert result.variant("int8").evaluation.fidelity.top1_agreement >= 0.9


def test_unsupported_ops_are_named():
    from core.optimize.convert import convert_concrete_function
    from core.tf_runtime import import_tensorflow

    tf = import_tensorflow()

    class Svd(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4, 4], tf.float32)])
        def singular_values(self, x):
            return tf.linalg.svd(x, compute_uv=False)

    module = Svd()
    with pytest.raises(ConversionError, match="cannot run: Svd"):
        convert_concrete_function(module.singular_values.get_concrete_function(), module)


def test_concrete_function_converts():
    from core.optimize.convert import convert_concrete_function
    from core.tf_runtime import import_tensorflow

    tf = import_tensorflow()

    class Double(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)])
        def double(self, x):
            return 2.0 * x

    module = Double()
    data, path = convert_concrete_function(module.double.get_concrete_function(), module)
    assert path == "from_concrete_functions"
    (input_name,) = SignatureModel(data).inputs
    out = run_tflite(data, {input_name: np.ones((2, 3), np.float32)})
    (y,) = out.values()
    assert y.tolist() == [[2.0] * 3] * 2


# -- a .tflite input (no original graph): ai-edge-quantizer ------------------------------


def test_tflite_input_is_requantized(tiny, tmp_path):
    model, data = tiny
    fp32 = run(model, ["fp32"], DataSpec(path=str(data), calibration_samples=16)).variant("fp32")
    tflite = tmp_path / "float.tflite"
    tflite.write_bytes(fp32.tflite_bytes)
    with_errors = recipe_for_mode("int8", layer_errors=True, name="int8-errors")
    result = run(
        tflite,
        ["fp32", "dynamic", "weight_only", "int8", "int16x8", "float16", with_errors],
        DataSpec(path=str(data), calibration_samples=32),
    )
    names = [v.name for v in result.variants]
    assert names == ["fp32", "dynamic", "weight_only", "int8", "int16x8", "int8-errors"]
    errors = result.variant("int8-errors").layer_errors  # ai-edge-quantizer's validation, per tensor
    assert errors and all(e.mse is not None and e.mse >= 0 for e in errors)
    assert [e.mse for e in errors] == sorted((e.mse for e in errors), reverse=True)
    assert result.variant("fp32").converter_path == "tflite_input"
    for name in names[1:]:
        v = result.variant(name)
        assert v.converter_path == "tflite_input+ai-edge-quantizer"
        assert v.tflite_bytes != fp32.tflite_bytes
        assert v.evaluation.fidelity.top1_agreement >= 0.9, name
    (failure,) = result.failures
    assert failure.name == "float16" and "not available for a .tflite input" in failure.message


# -- cancellation ---------------------------------------------------------------------


def test_cancelled_pipeline_stops_and_leaves_no_file(tiny):
    model, data = tiny
    token = CancelToken()
    events: list = []

    def sink(event):
        events.append(event)
        if isinstance(event, PartialEvent) and event.kind == "variant":
            token.cancel()

    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "litesmith-export-*")))
    listing = set(os.listdir(os.path.dirname(model)))
    from core.optimize.pipeline import optimize_model

    recipes = [recipe_for_mode("fp32", converter="saved_model"), recipe_for_mode("dynamic", converter="saved_model")]
    with pytest.raises(Cancelled):
        optimize_model(
            str(model), recipes, DataSpec(path=str(data), calibration_samples=8), progress=Reporter(sink), cancel=token
        )
    assert [e.payload.name for e in events if isinstance(e, PartialEvent)] == ["fp32"]
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "litesmith-export-*"))) == before
    assert set(os.listdir(os.path.dirname(model))) == listing


def test_cancel_during_calibration(tiny):
    model, data = tiny
    token = CancelToken()

    def sink(event):
        # Set just before the converter starts pulling calibration samples: the
        # representative dataset raises inside the converter, which must surface as Cancelled.
        if getattr(event, "message", "").startswith("quantizing (int8)"):
            token.cancel()

    from core.optimize.pipeline import optimize_model

    with pytest.raises(Cancelled):
        optimize_model(str(model), ["int8"], DataSpec(path=str(data)), progress=Reporter(sink), cancel=token)


# -- the bundled samples: every mode, and the accuracy promises ------------------------------


def _sample(samples_dir, name):
    model = samples_dir / f"{name}.keras"
    return model, DataSpec(path=str(samples_dir / f"{name}_calib.npz"), eval_path=str(samples_dir / f"{name}_eval.npz"))


def test_fraud_every_mode(samples_dir):
    model, data = _sample(samples_dir, "fraud")
    int8_selective = recipe_for_mode("int8", selective=SelectiveConfig(auto=True))
    result = run(model, ALL + [int8_selective], data)
    assert not result.failures
    original = result.original_evaluation.accuracy
    recorded = json.loads((samples_dir / "fraud.json").read_text())
    assert original.task == "binary" and original.pr_auc == pytest.approx(recorded["pr_auc"], abs=1e-3)
    for v in result.variants:
        assert v.size_bytes < result.baseline_size_bytes or v.mode == "fp32", v.name
        assert v.evaluation.accuracy.pr_auc is not None
    # The promise: int8 keeps PR-AUC within 0.02 (default 200 calibration samples).
    for name in ("fp32", "dynamic", "float16", "int8", "int16x8", "weight_only", "int8-selective"):
        assert abs(result.variant(name).evaluation.accuracy.pr_auc - original.pr_auc) <= 0.02, name
    plain, selective = result.variant("int8"), result.variant("int8-selective")
    assert selective.evaluation.fidelity.cosine_similarity >= plain.evaluation.fidelity.cosine_similarity - 1e-6


def test_digits_every_mode(samples_dir):
    model, data = _sample(samples_dir, "digits")
    result = run(model, ALL, data)
    assert not result.failures
    original = result.original_evaluation.accuracy.accuracy
    for v in result.variants:
        assert abs(v.evaluation.accuracy.accuracy - original) <= 0.01, v.name
        assert v.evaluation.fidelity.top1_agreement >= 0.99, v.name
    assert result.variant("int8").size_ratio < 0.4
    assert result.variant("float16").size_ratio < 0.6
