"""The shared MAC counter (core.models.flops): every layer kind against a count done by hand.

Each expected figure is written out as the arithmetic a person can check; the
rules are in core/models/flops.py's docstring. MACs are for one sample; FLOPs = 2 x MACs.
"""

from __future__ import annotations

import pytest

from core.engine import CancelToken, null_reporter
from core.models.flops import count_keras_macs
from core.tf_runtime import import_keras


@pytest.fixture(scope="module")
def keras():
    return import_keras()


def layer_macs(keras, layer, *shapes, dtype="float32", call=None):
    """(row of `layer`, MacCount) for a model that feeds `layer` inputs of `shapes` (batch excluded)."""
    inputs = [keras.Input(shape, dtype=dtype) for shape in shapes]
    out = call(layer, *inputs) if call else layer(inputs[0] if len(inputs) == 1 else inputs)
    count = count_keras_macs(keras.Model(inputs, out))
    rows = {row.name: row for row in count.layers}
    return rows[layer.name], count


@pytest.mark.parametrize(
    "build, shape, expected",
    [
        (lambda L: L.Dense(3), (4,), 4 * 3),
        (lambda L: L.Dense(3), (5, 4), 5 * 4 * 3),  # per position of a sequence
        (lambda L: L.Conv1D(5, 3), (10, 4), 8 * 3 * 4 * 5),  # out len x k x in x filters
        (lambda L: L.Conv2D(2, 3), (8, 8, 1), 6 * 6 * 3 * 3 * 1 * 2),
        (lambda L: L.Conv2D(4, 3, groups=2), (6, 6, 4), 4 * 4 * 3 * 3 * (4 // 2) * 4),
        (lambda L: L.Conv3D(2, 2), (4, 4, 4, 3), 3 * 3 * 3 * 2 * 2 * 2 * 3 * 2),
        (lambda L: L.DepthwiseConv2D(3, depth_multiplier=2, padding="same"), (8, 8, 2), 8 * 8 * 3 * 3 * 2 * 2),
        (lambda L: L.SeparableConv2D(4, 3), (8, 8, 2), 6 * 6 * (3 * 3 * 2) + 6 * 6 * 2 * 4),
        (
            lambda L: L.Conv2DTranspose(1, 2, strides=2),
            (6, 6, 2),
            6 * 6 * 2 * 2 * 2 * 1,
        ),  # in positions x k x in x filters
        (lambda L: L.LSTM(5), (7, 3), 7 * (4 * (3 + 5) * 5 + 3 * 5)),  # steps x (4 gates + 3 products/unit)
        (lambda L: L.GRU(5, reset_after=True), (7, 3), 7 * 3 * (3 + 5 + 1) * 5),
        (lambda L: L.GRU(5, reset_after=False), (7, 3), 7 * 3 * (3 + 5 + 1) * 5),
        (lambda L: L.SimpleRNN(4), (6, 3), 6 * (3 + 4) * 4),
        (lambda L: L.Bidirectional(L.LSTM(5, return_sequences=True)), (7, 3), 2 * 7 * (4 * (3 + 5) * 5 + 3 * 5)),
        (lambda L: L.LayerNormalization(), (5, 8), 4 * 5 * 8),
        (lambda L: L.BatchNormalization(), (4, 4, 3), 4 * 4 * 3),
        (lambda L: L.TimeDistributed(L.Dense(3)), (5, 4), 5 * 4 * 3),  # steps x inner
        (lambda L: L.TimeDistributed(L.Conv2D(2, 3)), (3, 5, 5, 1), 3 * (3 * 3 * 3 * 3 * 1 * 2)),
        (lambda L: L.MaxPooling2D(2), (8, 8, 3), 4 * 4 * 3 * 2 * 2),  # out elements x window
        (lambda L: L.AveragePooling1D(2), (6, 4), 3 * 4 * 2),
        (lambda L: L.GlobalAveragePooling2D(), (4, 4, 3), 4 * 4 * 3),  # input elements
        (lambda L: L.Flatten(), (4, 4, 3), 0),
    ],
)
def test_layer_kinds_match_hand_counts(keras, build, shape, expected):
    row, count = layer_macs(keras, build(keras.layers), shape)
    assert row.counted and not row.free
    assert row.macs == expected
    assert count.complete and count.per == "" and count.uncounted == ()
    assert count.flops == 2 * count.total


def test_multi_head_attention_counts_projections_and_both_products(keras):
    """Cross-attention: 6 query positions, 5 key/value positions, 2 heads, key_dim = value_dim = 3, width 4."""
    layer = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3)
    row, count = layer_macs(keras, layer, (6, 4), (5, 4), call=lambda lyr, q, v: lyr(q, v))
    q_proj = 6 * 4 * (2 * 3)
    k_proj = v_proj = 5 * 4 * (2 * 3)
    out_proj = 6 * (2 * 3) * 4
    scores = 2 * 6 * 5 * 3  # heads x Tq x Tk x key_dim
    weighted = 2 * 6 * 5 * 3  # heads x Tq x Tk x value_dim
    assert row.macs == q_proj + k_proj + v_proj + out_proj + scores + weighted == 888
    assert count.complete


def test_embedding_is_zero_by_rule_not_uncounted(keras):
    row, count = layer_macs(keras, keras.layers.Embedding(100, 8), (5,), dtype="int32")
    assert row.macs == 0 and row.counted and row.rule == "zero by rule"
    assert not count.partial and count.total == 0


def test_unknown_layer_class_is_listed_and_total_partial(keras):
    class Doubler(keras.layers.Layer):
        def call(self, x):
            return x * 2.0

    class MyDense(keras.layers.Dense):  # a user's subclass is not assumed to do what Dense does
        pass

    inputs = keras.Input((4,))
    x = keras.layers.Dense(3, name="known")(inputs)
    x = Doubler(name="dbl")(x)
    x = MyDense(2, name="mine")(x)
    count = count_keras_macs(keras.Model(inputs, x))
    assert count.uncounted == (("dbl", "Doubler"), ("mine", "MyDense"))
    assert count.partial and not count.complete
    assert count.total == 4 * 3  # only what has a rule
    assert "2 layers not counted: dbl (Doubler), mine (MyDense)" in count.uncounted_text()


def test_subclassed_model_without_a_graph_is_listed(keras):
    class Net(keras.Model):
        def __init__(self):
            super().__init__(name="net")
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    model = Net()
    model(keras.ops.zeros((1, 4)))
    count = count_keras_macs(model)
    assert count.uncounted == (("net", "Net"),) and count.partial and count.total == 0


def gru_free_length(keras):
    inputs = keras.Input((None, 3), name="x")
    x = keras.layers.GRU(5, return_sequences=True, name="gru")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, name="head")(x))


GRU_STEP = 3 * (3 + 5 + 1) * 5 + 5 * 2  # GRU step + the Dense head on that step = 145


def test_free_sequence_length_counts_per_time_step_or_at_a_given_shape(keras):
    model = gru_free_length(keras)
    per_step = count_keras_macs(model)
    assert per_step.total == GRU_STEP and per_step.per == "time step" and not per_step.complete
    assert {r.name: r.free for r in per_step.layers} == {"gru": True, "head": True}
    whole = count_keras_macs(model, {"x": (30, 3)})
    assert whole.total == 30 * GRU_STEP and whole.per == "" and whole.complete
    assert count_keras_macs(model, {"x": (1, 30, 3)}).total == 30 * GRU_STEP  # batch included is fine too
    with pytest.raises(ValueError, match="no input named 'y'"):
        count_keras_macs(model, {"y": (30, 3)})


def test_free_height_and_width_count_per_position(keras):
    inputs = keras.Input((None, None, 3), name="img")
    x = keras.layers.Conv2D(4, 3)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, x)
    count = count_keras_macs(model)
    assert count.per == "position" and count.total == 3 * 3 * 3 * 4 + 4
    assert count_keras_macs(model, {"img": (10, 10, 3)}).total == 8 * 8 * 3 * 3 * 3 * 4 + 8 * 8 * 4


def test_nested_models_and_shared_layers(keras):
    inner = keras.Sequential([keras.Input((8, 4)), keras.layers.Conv1D(5, 3, name="c1")], name="inner")
    shared = keras.layers.Dense(4, name="shared")
    inputs = keras.Input((10, 4))
    x = shared(inputs)  # 10 x 4 x 4
    x = shared(x)  # called again: counts again
    x = keras.layers.Cropping1D((1, 1), name="crop")(x)
    x = inner(x)  # 6 x 3 x 4 x 5
    count = count_keras_macs(keras.Model(inputs, x))
    rows = {r.name: r.macs for r in count.layers}
    assert rows == {"shared": 2 * 10 * 4 * 4, "crop": 0, "inner/c1": 6 * 3 * 4 * 5}
    assert count.complete


def test_compression_uses_the_same_counter(keras):
    from core.compress.flops import count_flops, count_macs

    model = gru_free_length(keras)
    assert count_macs(model) == count_keras_macs(model).total == GRU_STEP
    assert count_flops(model) == 2 * GRU_STEP


def test_inspect_text_says_partial_and_per_time_step(keras):
    from core.cli.inspect import format_info
    from core.models.info import ModelInfo
    from core.models.inspection import _inspect_keras

    class Doubler(keras.layers.Layer):
        def call(self, x):
            return x * 2.0

    inputs = keras.Input((None, 3), name="x")
    x = keras.layers.GRU(5, return_sequences=True, name="gru")(inputs)
    x = Doubler(name="dbl")(x)
    details = _inspect_keras(keras.Model(inputs, x))
    assert details["flops"] == 2 * 3 * (3 + 5 + 1) * 5
    assert details["flops_partial"] and details["flops_uncounted"] == (("dbl", "Doubler"),)
    assert details["flops_per"] == "time step"
    info = ModelInfo(path="m.keras", format="keras", file_size=1, sha256="0" * 64, **details)
    text = format_info(info, full_layers=True)
    assert "FLOPs/sample 270 (per time step, partial: 1 not counted)" in text
    assert "FLOPs are partial: 1 layer not counted: dbl (Doubler)" in text
    assert "not counted" in next(line for line in text.splitlines() if line.strip().startswith("dbl"))
    assert info.to_dict()["flops_uncounted"] == (("dbl", "Doubler"),)


def test_auto_quotes_flops_only_when_complete(keras):
    """LiveSession.flops: counted at the data's shapes; None for a partial or per-time-step figure."""
    from types import SimpleNamespace

    from core.auto.live import LiveSession

    def live(model, shapes=()):
        obj = LiveSession("m.keras", None, None, None, None)
        description = SimpleNamespace(input_shapes=shapes)
        obj.session = SimpleNamespace(
            source=SimpleNamespace(keras_model=model), prepared=SimpleNamespace(description=description)
        )
        return obj

    model = gru_free_length(keras)
    assert live(model).flops() is None  # per time step only
    assert live(model, (("x", (30, 3)),)).flops() == 2 * 30 * GRU_STEP  # at the data's length: complete

    class Doubler(keras.layers.Layer):
        def call(self, x):
            return x * 2.0

    inputs = keras.Input((4,))
    partial = keras.Model(inputs, Doubler()(keras.layers.Dense(3)(inputs)))
    assert live(partial).flops() is None


# -- .tflite --------------------------------------------------------------------------


def _convert_batch1(keras_model, folder):
    from core.optimize.convert import export_named_signature
    from core.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    export_named_signature(keras_model, str(folder), batch_size=1)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(folder), signature_keys=["serving_default"])
    path = folder.with_suffix(".tflite")
    path.write_bytes(converter.convert())
    return path


@pytest.fixture(scope="module")
def gru_tflites(tmp_path_factory, keras):
    folder = tmp_path_factory.mktemp("gru")
    keras.utils.set_random_seed(4)
    free = gru_free_length(keras)
    inputs = keras.Input((7, 3), name="x")
    x = keras.layers.GRU(5, return_sequences=True, name="gru")(inputs)
    fixed = keras.Model(inputs, keras.layers.Dense(2, name="head")(x))
    return {"free": _convert_batch1(free, folder / "free"), "fixed": _convert_batch1(fixed, folder / "fixed")}


def _inspect(path):
    from core.models.inspection import inspect_model

    return inspect_model(str(path), progress=null_reporter(), cancel=CancelToken()).info


GRU_WEIGHTS = 3 * 5 * 3 + 3 * 5 * 5  # kernel (3 x 15) + recurrent kernel (5 x 15): in the WHILE body
HEAD_WEIGHTS = 5 * 2


def test_tflite_gru_weights_in_the_while_body_are_counted(gru_tflites):
    from ai_edge_litert.interpreter import Interpreter

    from core.models.tflite_graph import TfliteGraph, count_tflite_params, graph_from_interpreter, read_tflite_graph

    data = gru_tflites["free"].read_bytes()
    graph = read_tflite_graph(data)
    assert len(graph.subgraphs) >= 3 and graph.complete  # main, while_cond, while_body
    body = next(sg for sg in graph.subgraphs if "while_body" in sg.name)
    assert count_tflite_params(TfliteGraph(subgraphs=(body,))) >= GRU_WEIGHTS

    interpreter = Interpreter(model_content=data)
    first_only = count_tflite_params(graph_from_interpreter(interpreter))
    assert first_only < GRU_WEIGHTS  # what inspect counted before

    info = _inspect(gru_tflites["free"])
    assert info.params >= GRU_WEIGHTS + HEAD_WEIGHTS and not info.params_partial
    assert dict(info.op_histogram)["WHILE"] == 1 and dict(info.op_histogram)["FULLY_CONNECTED"] >= 3


def test_tflite_gru_macs_match_the_keras_count(gru_tflites):
    free = _inspect(gru_tflites["free"])
    assert free.flops == 2 * GRU_STEP and free.flops_per == "time step" and not free.flops_partial
    fixed = _inspect(gru_tflites["fixed"])  # the loop bound is the constant 7
    assert fixed.flops == 2 * 7 * GRU_STEP and fixed.flops_per == "" and not fixed.flops_partial


def test_tflite_unreadable_subgraphs_make_the_counts_partial(gru_tflites, monkeypatch):
    import core.models.tflite_graph as tflite_graph

    def refuse(data):
        raise ImportError("no schema")

    monkeypatch.setattr(tflite_graph, "read_tflite_graph", refuse)
    info = _inspect(gru_tflites["free"])
    assert info.params_partial and info.flops_partial
    assert any(kind == "WHILE" for _, kind in info.flops_uncounted)
    assert any("parameters are partial" in note for note in info.notes)
