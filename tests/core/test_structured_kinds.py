"""Structured pruning of Conv1D and SeparableConv2D models, and recurrent layers left whole.

The oracle is exact: the pruned model's outputs must equal the original's with
the pruned channels zeroed (each producer's filters and bias, and its BatchNorm
members' gamma, beta and mean), which is what removing them computes when every
producer's activation maps 0 to 0. Parameter counts are checked against hand counts.
"""

from __future__ import annotations

import numpy as np

from core.compress.configs import MeasureConfig, StructuredPruneConfig
from core.compress.graph import analyse
from core.compress.structured import plan
from core.engine.context import CancelToken, null_reporter
from tests.core import compress_models as cm

keras = cm.keras
NO_MEASURE = MeasureConfig(measure=False)


def prune(model, x, sparsity=0.5, **kwargs):
    from core.compress.structured import structured_prune

    cfg = StructuredPruneConfig(sparsity=sparsity, fine_tune_epochs=0, measure=NO_MEASURE, **kwargs)
    return structured_prune(model, cfg, x, None, progress=null_reporter(), cancel=CancelToken())


def randomize(model, seed=0):
    """Random weights everywhere (random biases too), positive BatchNorm variances."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for var in layer.weights:
            value = rng.standard_normal(tuple(var.shape)).astype("float32") * 0.4
            if var.name == "moving_variance":
                value = np.abs(value) + 0.5
            var.assign(value)
    return model


def zeroed_oracle(model, sparsity):
    """A copy of `model` with the channels structured pruning removes at `sparsity` set to zero."""
    cg = analyse(model)
    keep, _ = plan(model, cg, lambda g: sparsity)
    oracle = keras.models.clone_model(model)
    oracle.set_weights(model.get_weights())
    for g in cg.root_groups():
        if g.gid not in keep:
            continue
        drop = np.setdiff1d(np.arange(g.size), keep[g.gid])
        for name in g.producers:
            layer = oracle.get_layer(name)
            w = layer.get_weights()
            kernel_at = 1 if type(layer).__name__.startswith("Separable") else 0
            w[kernel_at][..., drop] = 0.0
            for i in range(kernel_at + 1, len(w)):
                w[i][drop] = 0.0
            layer.set_weights(w)
        for name in dict.fromkeys(g.members):
            layer = oracle.get_layer(name)
            if type(layer).__name__ == "BatchNormalization":
                w = layer.get_weights()  # gamma, beta, mean, var
                for i in range(3):
                    w[i][drop] = 0.0
                layer.set_weights(w)
    return oracle, keep


def l1_top(kernel, n):
    l1 = np.abs(kernel).reshape(-1, kernel.shape[-1]).sum(axis=0)
    return np.sort(np.argsort(-l1, kind="stable")[:n])


def conv1d_model():
    keras.utils.set_random_seed(1)
    inp = keras.Input((16, 3), name="signal")
    x = keras.layers.Conv1D(8, 3, activation="relu", name="c1")(inp)
    x = keras.layers.Conv1D(8, 3, activation="relu", name="c2")(x)
    x = keras.layers.GlobalAveragePooling1D(name="gap")(x)
    out = keras.layers.Dense(4, activation="softmax", name="out")(x)
    return randomize(keras.Model(inp, out, name="conv1d_net"))


def test_conv1d_filters_are_pruned_exactly():
    model = conv1d_model()
    x, _ = cm.data(model, 16)
    oracle, _ = zeroed_oracle(model, 0.5)
    result = prune(model, x)
    new = result.model
    assert new.get_layer("c1").filters == 4 and new.get_layer("c2").filters == 4
    # the strongest filters by L1 survive, with their kernels intact
    kept = l1_top(model.get_layer("c1").kernel.numpy(), 4)
    np.testing.assert_array_equal(new.get_layer("c1").kernel.numpy(), model.get_layer("c1").kernel.numpy()[..., kept])
    assert new.get_layer("c2").kernel.shape == (3, 4, 4)
    assert new.get_layer("out").kernel.shape == (4, 4)
    np.testing.assert_allclose(new.predict(x, verbose=0), oracle.predict(x, verbose=0), atol=1e-5)
    # by hand: c1 3*3*8+8=80, c2 3*8*8+8=200, out 8*4+4=36 -> 316
    #          c1 3*3*4+4=40, c2 3*4*4+4=52,  out 4*4+4=20  -> 112
    assert (result.params_before, result.params_after) == (316, 112)
    assert result.flops_after < 0.5 * result.flops_before


def test_conv1d_then_batchnorm_and_flatten_slices_the_dense_rows_per_position():
    keras.utils.set_random_seed(2)
    model = keras.Sequential(
        [
            keras.Input((10, 2)),
            keras.layers.Conv1D(6, 3, name="conv"),
            keras.layers.BatchNormalization(name="bn"),
            keras.layers.ReLU(name="relu"),
            keras.layers.MaxPooling1D(2, name="pool"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(6, activation="relu", name="fc"),
            keras.layers.Dense(3, activation="softmax", name="out"),
        ]
    )
    randomize(model)
    x, _ = cm.data(model, 16)
    oracle, _ = zeroed_oracle(model, 0.5)
    result = prune(model, x)
    new = result.model
    assert new.get_layer("conv").filters == 3 and new.get_layer("bn").gamma.shape == (3,)
    assert new.get_layer("fc").kernel.shape == (4 * 3, 3)  # 4 positions x 3 kept filters -> 3 kept units
    groups = {g.producers: g for g in result.groups}
    assert groups[("conv",)].members == ("bn",)
    np.testing.assert_allclose(new.predict(x, verbose=0), oracle.predict(x, verbose=0), atol=1e-5)
    # by hand: conv 3*2*6+6=42, bn 4*6=24, fc 24*6+6=150, out 6*3+3=21 -> 237
    #          conv 3*2*3+3=21, bn 4*3=12, fc 12*3+3=39,  out 3*3+3=12 -> 84
    assert (result.params_before, result.params_after) == (237, 84)


def separable_model(depth_multiplier=1):
    keras.utils.set_random_seed(3)
    inp = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")(inp)
    x = keras.layers.SeparableConv2D(
        8, 3, padding="same", activation="relu", name="sep1", depth_multiplier=depth_multiplier
    )(x)
    x = keras.layers.SeparableConv2D(8, 3, padding="same", activation="relu", name="sep2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    out = keras.layers.Dense(4, activation="softmax", name="out")(x)
    return randomize(keras.Model(inp, out, name="separable_net"))


def test_separable_conv2d_pointwise_filters_and_input_channels_are_pruned_exactly():
    model = separable_model()
    x, _ = cm.data(model, 8)
    oracle, keep = zeroed_oracle(model, 0.5)
    result = prune(model, x)
    new = result.model
    for name in ("stem", "sep1", "sep2"):
        assert new.get_layer(name).filters == 4
    sep1_old, sep1_new = model.get_layer("sep1"), new.get_layer("sep1")
    assert sep1_new.depthwise_kernel.shape == (3, 3, 4, 1) and sep1_new.pointwise_kernel.shape == (1, 1, 4, 4)
    # input channels sliced in both kernels by the stem's kept filters, output by sep1's own
    stem_kept = l1_top(model.get_layer("stem").kernel.numpy(), 4)
    sep1_kept = l1_top(sep1_old.pointwise_kernel.numpy(), 4)
    np.testing.assert_array_equal(sep1_new.depthwise_kernel.numpy(), sep1_old.depthwise_kernel.numpy()[:, :, stem_kept])
    np.testing.assert_array_equal(
        sep1_new.pointwise_kernel.numpy(), sep1_old.pointwise_kernel.numpy()[:, :, stem_kept][..., sep1_kept]
    )
    np.testing.assert_allclose(new.predict(x, verbose=0), oracle.predict(x, verbose=0), atol=1e-5)
    # by hand: stem 3*3*3*8+8=224, sep 3*3*8 + 8*8 + 8=144 (twice), out 8*4+4=36 -> 548
    #          stem 3*3*3*4+4=112, sep 3*3*4 + 4*4 + 4=56 (twice), out 4*4+4=20 -> 244
    assert (result.params_before, result.params_after) == (548, 244)
    assert result.flops_after < result.flops_before


def test_separable_with_depth_multiplier_keeps_its_input_channels_with_a_reason():
    model = separable_model(depth_multiplier=2)
    x, _ = cm.data(model, 8)
    oracle, _ = zeroed_oracle(model, 0.5)
    result = prune(model, x)
    groups = {g.producers: g for g in result.groups}
    stem = groups[("stem",)]
    assert not stem.pruned and "sep1 (SeparableConv2D) with depth_multiplier 2" in stem.reason
    assert groups[("sep1",)].pruned and groups[("sep2",)].pruned
    new = result.model
    assert new.get_layer("stem").filters == 8 and new.get_layer("sep1").filters == 4
    assert new.get_layer("sep1").depthwise_kernel.shape == (3, 3, 8, 2)
    np.testing.assert_allclose(new.predict(x, verbose=0), oracle.predict(x, verbose=0), atol=1e-5)
    assert any("depth_multiplier 2" in line for line in result.summary()["skipped"])


def test_recurrent_layer_and_the_conv1d_feeding_it_are_left_whole_with_a_note():
    keras.utils.set_random_seed(4)
    inp = keras.Input((12, 3), name="sequence")
    x = keras.layers.Conv1D(8, 3, activation="relu", name="conv_a")(inp)
    x = keras.layers.Conv1D(8, 3, activation="relu", name="conv_b")(x)
    x = keras.layers.GRU(6, name="gru")(x)
    x = keras.layers.Dense(8, activation="relu", name="fc")(x)
    out = keras.layers.Dense(3, activation="softmax", name="out")(x)
    model = randomize(keras.Model(inp, out))
    x_data, _ = cm.data(model, 8)
    oracle, _ = zeroed_oracle(model, 0.5)
    result = prune(model, x_data)
    groups = {g.producers: g for g in result.groups}
    assert groups[("conv_a",)].pruned and groups[("fc",)].pruned
    conv_b = groups[("conv_b",)]
    assert not conv_b.pruned and conv_b.reason == "feeds gru (GRU), a recurrent layer left whole"
    note = (
        "left whole: recurrent layer 'gru' (pruning its units would change the recurrent kernel's "
        "three gates; not supported)"
    )
    assert result.notes == (note,)
    summary = result.summary()
    assert note in summary["notes"]
    assert "conv_b: feeds gru (GRU), a recurrent layer left whole" in summary["skipped"]
    new = result.model
    assert new.get_layer("conv_a").filters == 4 and new.get_layer("conv_b").filters == 8
    assert new.get_layer("gru").units == 6 and new.get_layer("fc").units == 4
    for old_w, new_w in zip(model.get_layer("gru").get_weights(), new.get_layer("gru").get_weights()):
        np.testing.assert_array_equal(old_w, new_w)
    np.testing.assert_allclose(new.predict(x_data, verbose=0), oracle.predict(x_data, verbose=0), atol=1e-5)
    # by hand: conv_a 3*3*8+8=80, conv_b 3*8*8+8=200, gru 3*(8*6+6*6+2*6)=288, fc 6*8+8=56, out 8*3+3=27 -> 651
    #          conv_a 3*3*4+4=40, conv_b 3*4*8+8=104, gru 288,                 fc 6*4+4=28, out 4*3+3=15 -> 475
    assert (result.params_before, result.params_after) == (651, 475)


def test_bidirectional_lstm_and_time_distributed_are_left_whole_with_notes():
    keras.utils.set_random_seed(5)
    inp = keras.Input((10, 4), name="sequence")
    x = keras.layers.Dense(6, activation="relu", name="embed")(inp)
    x = keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True), name="bi")(x)
    x = keras.layers.TimeDistributed(keras.layers.Dense(5, activation="relu"), name="td")(x)
    x = keras.layers.SimpleRNN(3, name="rnn")(x)
    x = keras.layers.Dense(6, activation="relu", name="fc")(x)
    out = keras.layers.Dense(2, activation="softmax", name="out")(x)
    model = randomize(keras.Model(inp, out))
    x_data, _ = cm.data(model, 4)
    oracle, _ = zeroed_oracle(model, 0.5)
    result = prune(model, x_data)
    assert result.notes == (
        "left whole: recurrent layer 'bi' (Bidirectional LSTM: pruning its units would change the recurrent "
        "kernel's four gates, in both directions; not supported)",
        "left whole: TimeDistributed layer 'td' over Dense (the Dense it wraps runs at every step and is not "
        "sliced; not supported)",
        "left whole: recurrent layer 'rnn' (pruning its units would change its recurrent kernel; not supported)",
    )
    groups = {g.producers: g for g in result.groups}
    assert (
        not groups[("embed",)].pruned
        and "bi (Bidirectional), a recurrent layer left whole" in groups[("embed",)].reason
    )
    assert groups[("fc",)].pruned
    np.testing.assert_allclose(result.model.predict(x_data, verbose=0), oracle.predict(x_data, verbose=0), atol=1e-5)


def test_free_length_sequential_with_lstm_prunes_the_conv_before_its_feeder():
    keras.utils.set_random_seed(6)
    model = randomize(
        keras.Sequential(
            [
                keras.Input((None, 3)),
                keras.layers.Conv1D(8, 3, activation="relu", name="conv"),
                keras.layers.Dense(8, activation="relu", name="proj"),
                keras.layers.LSTM(4, name="lstm"),
                keras.layers.Dense(2, name="out"),
            ]
        )
    )
    x = np.random.default_rng(0).standard_normal((4, 20, 3)).astype("float32")
    oracle, _ = zeroed_oracle(model, 0.5)
    result = prune(model, x)
    new = result.model
    assert type(new).__name__ == "Sequential" and new.input_shape == (None, None, 3)
    assert new.get_layer("conv").filters == 4 and new.get_layer("proj").units == 8
    assert "proj: feeds lstm (LSTM), a recurrent layer left whole" in result.summary()["skipped"]
    assert any("'lstm'" in n and "four gates" in n for n in result.notes)
    np.testing.assert_allclose(new.predict(x, verbose=0), oracle.predict(x, verbose=0), atol=1e-5)
    longer = np.concatenate([x, x], axis=1)  # the length stays free
    np.testing.assert_allclose(new.predict(longer, verbose=0), oracle.predict(longer, verbose=0), atol=1e-5)


def test_conv1d_into_separable_conv1d_is_pruned_exactly():
    keras.utils.set_random_seed(7)
    model = randomize(
        keras.Sequential(
            [
                keras.Input((12, 3)),
                keras.layers.Conv1D(8, 3, activation="relu", name="conv"),
                keras.layers.SeparableConv1D(8, 3, activation="relu", name="sep"),
                keras.layers.GlobalMaxPooling1D(name="gmp"),
                keras.layers.Dense(2, name="out"),
            ]
        )
    )
    x, _ = cm.data(model, 8)
    oracle, _ = zeroed_oracle(model, 0.5)
    result = prune(model, x)
    sep = result.model.get_layer("sep")
    assert sep.depthwise_kernel.shape == (3, 4, 1) and sep.pointwise_kernel.shape == (1, 4, 4)
    np.testing.assert_allclose(result.model.predict(x, verbose=0), oracle.predict(x, verbose=0), atol=1e-5)
    # by hand: conv 3*3*8+8=80, sep 3*8 + 8*8 + 8=96, out 8*2+2=18 -> 194
    #          conv 3*3*4+4=40, sep 3*4 + 4*4 + 4=32, out 4*2+2=10 -> 82
    assert (result.params_before, result.params_after) == (194, 82)
