"""Selective int8 quantization: per-layer error, manual float layers, and the automatic mode."""

from __future__ import annotations

import pytest

from core.data import DataSpec
from core.engine import CancelToken, null_reporter
from core.optimize.recipes import SelectiveConfig, recipe_for_mode
from core.optimize.selective import better, meets, resolve_metric
from core.optimize.session import SessionOptions
from tests.core.optimize_models import sensitive_model

# The sensitive model's head is 2 unlabelled logits: the task inference now scores unbounded rows
# as an embedding unless told otherwise, so say what the head is (as `--task head=multiclass`
# does), and its fidelity is judged by top-1 agreement as before.
LOGITS = SessionOptions(tasks=(("head", "multiclass"),))


@pytest.fixture(scope="module")
def sensitive_result(tmp_path_factory):
    from core.optimize.pipeline import optimize_model

    model, data = sensitive_model(tmp_path_factory.mktemp("sensitive"))
    recipes = [
        recipe_for_mode("int8", layer_errors=True),
        recipe_for_mode("int8", selective=SelectiveConfig(auto=True)),
    ]
    result = optimize_model(
        str(model),
        recipes,
        DataSpec(path=str(data), calibration_samples=64),
        progress=null_reporter(),
        cancel=CancelToken(),
        options=LOGITS,
    )
    return model, data, result


def test_layer_errors_are_measured_and_ranked(sensitive_result):
    _, _, result = sensitive_result
    errors = result.variant("int8").layer_errors
    assert errors, "plain int8 with layer_errors=True lists per-layer error"
    ratios = [e.rmse_over_scale for e in errors]
    assert ratios == sorted(ratios, reverse=True)
    assert "scale_down" in errors[0].tensor_name  # the sensitive layer ranks first
    assert not any(e.kept_float for e in errors)


def test_auto_selective_improves_fidelity_over_plain_int8(sensitive_result):
    _, _, result = sensitive_result
    plain = result.variant("int8").evaluation.fidelity
    selective_variant = result.variant("int8-selective")
    selective = selective_variant.evaluation.fidelity
    assert plain.top1_agreement < 0.9  # the model was built to break under int8
    assert selective.top1_agreement >= 0.98
    assert selective.mean_abs_diff < plain.mean_abs_diff / 5
    assert len(selective_variant.float_layers) == 1 and "scale_down" in selective_variant.float_layers[0]
    assert [e.kept_float for e in selective_variant.layer_errors].count(True) == 1
    assert any(w.startswith("selective:") for w in selective_variant.warnings)
    assert any("try selective" in w for w in result.variant("int8").warnings)


def test_manual_float_layers(sensitive_result):
    from core.optimize.pipeline import optimize_model

    model, data, result = sensitive_result
    layer = result.variant("int8").layer_errors[0].tensor_name
    recipe = recipe_for_mode("int8", selective=SelectiveConfig(float_layers=(layer,)), name="manual")
    manual = optimize_model(
        str(model),
        [recipe],
        DataSpec(path=str(data), calibration_samples=64),
        progress=null_reporter(),
        cancel=CancelToken(),
        options=LOGITS,
    ).variant("manual")
    assert manual.float_layers == (layer,)
    assert manual.evaluation.fidelity.top1_agreement >= 0.98


def test_unknown_float_layer_fails_that_variant(sensitive_result):
    from core.optimize.pipeline import optimize_model

    model, data, _ = sensitive_result
    recipe = recipe_for_mode("int8", selective=SelectiveConfig(float_layers=("no_such_layer",)))
    result = optimize_model(
        str(model),
        ["fp32", recipe],
        DataSpec(path=str(data), calibration_samples=16),
        progress=null_reporter(),
        cancel=CancelToken(),
        options=LOGITS,
    )
    assert [v.name for v in result.variants] == ["fp32"]
    assert "no quantized layer named no_such_layer" in result.failures[0].message


def test_metric_rules():
    assert resolve_metric(SelectiveConfig(), "multiclass") == ("top1_agreement", 0.99)
    assert resolve_metric(SelectiveConfig(), "binary") == ("cosine_similarity", 0.999)
    assert resolve_metric(SelectiveConfig(metric="mean_abs_diff", target=0.1), "regression") == ("mean_abs_diff", 0.1)
    assert meets(0.995, 0.99, "top1_agreement") and not meets(0.2, 0.1, "mean_abs_diff")
    assert better(0.1, 0.2, "max_abs_diff") and better(0.9, float("nan"), "cosine_similarity")
