"""Structured pruning: channel groups, exact slicing, residual blocks, .tflite, width-scaled copies."""

from __future__ import annotations

import numpy as np
import pytest

from core.compress.configs import MeasureConfig, StructuredPruneConfig
from core.compress.graph import analyse
from core.engine.context import CancelToken, null_reporter
from core.errors import Cancelled
from tests.core import compress_models as cm

keras = cm.keras
NO_MEASURE = MeasureConfig(measure=False)


def prune(model, cfg, x, y=None, reporter=None, cancel=None):
    from core.compress.structured import structured_prune

    return structured_prune(model, cfg, x, y, progress=reporter or null_reporter(), cancel=cancel or CancelToken())


def _zero_units(model, layer_name, idx, bn_name=None):
    layer = model.get_layer(layer_name)
    w = layer.get_weights()
    w[0][..., idx] = 0.0
    if len(w) > 1:
        w[1][idx] = 0.0
    layer.set_weights(w)
    if bn_name:
        bn = model.get_layer(bn_name)
        gamma, beta, mean, var = bn.get_weights()
        gamma[idx], beta[idx], mean[idx] = 0.0, 0.0, 0.0
        bn.set_weights([gamma, beta, mean, var])


def test_sequential_mlp_drops_dead_units_without_changing_outputs():
    model = cm.mlp(hidden=(16, 8))
    _zero_units(model, "hidden_0", np.arange(0, 16, 2))
    _zero_units(model, "hidden_1", np.arange(4))
    x, _ = cm.data(model, 32)
    result = prune(model, StructuredPruneConfig(sparsity=0.5, fine_tune_epochs=0, measure=NO_MEASURE), x)
    new = result.model
    assert type(new).__name__ == "Sequential"
    assert new.get_layer("hidden_0").units == 8 and new.get_layer("hidden_1").units == 4
    assert new.get_layer("out").units == 3  # the output layer is never pruned
    np.testing.assert_allclose(new.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    assert result.params_after < result.params_before and result.flops_after < result.flops_before
    skipped = result.groups_skipped
    assert len(skipped) == 1 and skipped[0].producers == ("out",) and "output" in skipped[0].reason


def test_residual_block_is_pruned_as_one_group_and_runs_in_tflite():
    from core.compress import measure
    from core.optimize.runtime import SignatureModel

    model = cm.residual_cnn(channels=8)
    # dead channels 0..3 in both branches of the residual sum (and their BatchNorm)
    _zero_units(model, "stem", np.arange(4), bn_name="stem_bn")
    _zero_units(model, "project", np.arange(4))
    _zero_units(model, "expand", np.arange(8))
    _zero_units(model, "side", np.arange(2))
    x, _ = cm.data(model, 16)
    result = prune(
        model, StructuredPruneConfig(sparsity=0.5, fine_tune_epochs=0, measure=MeasureConfig(latency_runs=10)), x
    )
    groups = {g.producers: g for g in result.groups}
    tied = groups[("stem", "project")]
    assert tied.pruned and tied.channels_before == 8 and tied.channels_after == 4
    assert set(tied.members) == {"stem_bn"}
    assert groups[("expand",)].members == ("dw", "dw_bn") and groups[("expand",)].channels_after == 8
    new = result.model
    assert new.get_layer("dw").kernel.shape[-2] == 8
    assert new.get_layer("head").kernel.shape == (4 + 2, 4)  # concat of the residual (4) and side (2)
    np.testing.assert_allclose(new.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-4)
    # a genuinely smaller model that converts and runs in LiteRT with the same outputs
    assert result.params_after < 0.5 * result.params_before
    assert result.flops_after < 0.5 * result.flops_before
    assert result.tflite_size_after < result.tflite_size_before
    assert result.latency_ratio is not None
    tfl = SignatureModel(measure.to_tflite(new))
    (name,) = tfl.inputs
    (out,) = tfl.run({name: x[:4]}).values()
    np.testing.assert_allclose(out, new.predict(x[:4], verbose=0), atol=1e-4)


def test_residual_block_fine_tunes_without_labels():
    model = cm.residual_cnn(channels=8)
    x, _ = cm.data(model, 32)
    result = prune(model, StructuredPruneConfig(sparsity=0.5, fine_tune_epochs=1, batch_size=16, measure=NO_MEASURE), x)
    assert "loss" in result.history and result.model.output_shape == model.output_shape


def test_layers_that_cannot_be_sliced_block_their_group_with_a_reason():
    inp = keras.Input((8,))
    a = keras.layers.Dense(6, activation="relu", name="a")(inp)
    r = keras.layers.Reshape((3, 2), name="reshape")(a)
    r = keras.layers.Flatten(name="flat")(r)
    b = keras.layers.Dense(10, activation="relu", name="b")(r)
    out = keras.layers.Dense(2, activation="softmax", name="out")(b)
    model = keras.Model(inp, out)
    x, _ = cm.data(model, 8)
    result = prune(model, StructuredPruneConfig(sparsity=0.5, fine_tune_epochs=0, measure=NO_MEASURE), x)
    groups = {g.producers: g for g in result.groups}
    assert not groups[("a",)].pruned and "Reshape" in groups[("a",)].reason
    assert groups[("b",)].pruned and groups[("b",)].channels_after == 5
    assert result.model.get_layer("a").units == 6


def test_flatten_after_conv_slices_the_dense_rows():
    model = keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
            keras.layers.MaxPooling2D(name="pool"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(5, activation="relu", name="fc"),
            keras.layers.Dense(3, activation="softmax", name="out"),
        ]
    )
    _zero_units(model, "conv", np.array([1, 3]))
    x, _ = cm.data(model, 8)
    result = prune(
        model, StructuredPruneConfig(sparsity=0.5, fine_tune_epochs=0, measure=NO_MEASURE, per_layer={"fc": 0.0}), x
    )
    assert result.model.get_layer("conv").filters == 2
    assert result.model.get_layer("fc").kernel.shape == (2 * 2 * 2, 5)
    np.testing.assert_allclose(result.model.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


def test_cancel_during_fine_tuning():
    model = cm.mlp()
    x, y = cm.data(model, 64, classes=3)
    token = CancelToken()
    rec = cm.Recorder(token, cancel_after=2)
    with pytest.raises(Cancelled):
        prune(
            model,
            StructuredPruneConfig(fine_tune_epochs=5, batch_size=8, measure=NO_MEASURE),
            x,
            y,
            reporter=rec.reporter,
            cancel=token,
        )


def test_width_scaled_copy_halves_the_inner_widths():
    from core.compress.structured import width_scaled_copy

    model = cm.residual_cnn(channels=8)
    half = width_scaled_copy(model, 0.5)
    assert half.get_layer("stem").filters == 4 and half.get_layer("project").filters == 4
    assert half.get_layer("expand").filters == 8 and half.get_layer("head").units == 4
    assert half.output_shape == model.output_shape
    cg = analyse(half)
    assert any(set(g.producers) == {"stem", "project"} for g in cg.root_groups())


def test_digits_sequential_cnn_gets_smaller_and_keeps_most_accuracy(samples_dir):
    model, (xc, yc), (xe, ye) = cm.load_sample(samples_dir, "digits")
    result = prune(model, StructuredPruneConfig(sparsity=0.5, fine_tune_epochs=6, measure=NO_MEASURE), xc, yc)
    assert result.params_after < 0.3 * result.params_before
    assert result.flops_after < 0.3 * result.flops_before
    assert cm.accuracy(result.model, xe, ye) >= cm.accuracy(model, xe, ye) - 0.05
