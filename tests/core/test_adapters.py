"""The upstream adapters (core/adapters): each private path works on today's versions, and when the
private attribute is gone the caller says "unknown" with a reason naming the upstream change, never 0.

Oracles: op lists written by hand (tests/core/handmade_tflite.py: FC = identity weights, 16 floats
each), Keras's own layer objects and outputs.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.adapters import UpstreamChanged, keras_internals, litert
from core.benchmark.litert_runner import LiteRTRunner
from core.engine.context import CancelToken, null_reporter
from tests.core.handmade_tflite import build

FC_WEIGHTS = 16  # one handmade FC: a 4 x 4 identity matrix, no bias


@pytest.fixture(scope="module")
def chain():
    return build(["FC", "CUMSUM", "FC"])


def _interpreter(data: bytes, xnnpack: bool = True):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = Interpreter(model_content=data, experimental_op_resolver_type=resolver)
    interpreter.allocate_tensors()
    return interpreter


# --------------------------------------------------------------------------- LiteRT: today's private paths


def test_litert_private_paths_read_todays_interpreter(chain):
    interpreter = _interpreter(chain)
    names = [n.name for n in litert.nodes(interpreter)]
    assert names[:3] == ["FULLY_CONNECTED", "CUMSUM", "FULLY_CONNECTED"]  # the chain as written
    assert names[3:] == ["DELEGATE", "DELEGATE"]  # CUMSUM splits XNNPACK in two
    assert [op["op_name"] for op in litert.ops_details(interpreter)] == names[:3]
    info = litert.delegation_info(interpreter)
    assert (info.total_ops, info.delegated_ops, info.partitions, info.kept_ops) == (3, 2, 2, (("CUMSUM", 1),))
    public = {int(d["index"]): d for d in interpreter.get_tensor_details()}
    x = int(interpreter.get_input_details()[0]["index"])
    assert litert.tensor_details(interpreter, x, 0)["name"] == public[x]["name"] == "x"
    assert litert.public_invoke_allowed(interpreter) is True


class _PublicOnly:
    """A real Interpreter seen through its public API only (as if `_interpreter` and every other
    private attribute were gone)."""

    def __init__(self, real) -> None:
        self.__real = real

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.__real, name)


def test_without_the_native_wrapper_subgraph_0_runs_through_the_public_api():
    real = _interpreter(build(["FC", "FC"]), xnnpack=False)
    public = _PublicOnly(real)
    x = np.array([[1.0, -2.0, 3.0, 0.5]], np.float32)
    inp, out = (int(real.get_input_details()[0]["index"]), int(real.get_output_details()[0]["index"]))
    native = litert.native(public, 0)
    native.SetTensor(inp, x, 0)
    native.Invoke(0)
    np.testing.assert_array_equal(native.GetTensor(out, 0), x)  # two identity layers
    assert litert.tensor_details(public, inp, 0)["name"] == "x"  # public get_tensor_details
    with pytest.raises(
        UpstreamChanged,
        match=r"interpreter internals changed: Interpreter has no _interpreter.*"
        r"ai-edge-litert \d",
    ):
        litert.native(public, 1)
    with pytest.raises(UpstreamChanged, match=r"LiteRT's op details API changed: .*_get_ops_details"):
        litert.ops_details(public)
    info, why = litert.read_delegation(public)
    assert info is None and "_get_ops_details" in why


# --------------------------------------------------------------------------- LiteRT: callers say unknown


class _NativeWithoutNodes:
    """The native wrapper as a later ai_edge_litert might have it: no node list. Holds no reference to it."""

    def __init__(self, owner) -> None:
        self._owner = owner

    def __getattr__(self, name: str):
        if name in ("NumNodes", "NodeName", "NodeInputs", "NodeOutputs"):
            raise AttributeError(f"'InterpreterWrapper' object has no attribute {name!r}")
        return getattr(self._owner.real._interpreter, name)


class _NoNodeAPI:
    def __init__(self, real) -> None:
        self.real = real
        self._interpreter = _NativeWithoutNodes(self)

    def __getattr__(self, name: str):
        if name == "_get_ops_details":
            raise AttributeError(name)
        return getattr(self.real, name)


class _NoNodeRunner(LiteRTRunner):
    def _build(self, threads: int):
        interpreter = super()._build(threads)
        self._interpreter = _NoNodeAPI(interpreter)
        return self._interpreter


def test_runner_with_the_node_api_gone_runs_and_says_delegation_is_unknown():
    runner = _NoNodeRunner(build(["FC", "FC"]), variant="fp32")
    runner.prepare(1, 1)  # before: AttributeError, a failed run
    assert runner.delegation is None
    [note] = [n for n in runner.notes if "XNNPACK" in n]
    assert "unknown" in note and "LiteRT's interpreter internals changed" in note and "NumNodes" in note
    x = np.array([[0.25, 1.0, -1.0, 2.0]], np.float32)
    [(name, y)] = runner.run_once({runner.interface.input_names[0]: x}).items()
    np.testing.assert_array_equal(y, x)
    unknown = _NoNodeRunner(build(["FC", "FC"]))
    assert unknown.variant == "unknown"  # not guessed as fp32


def test_inspect_with_ops_details_gone_shows_unknown_params_and_flops(tmp_path, monkeypatch):
    from ai_edge_litert.interpreter import Interpreter

    import core.models.tflite_graph as tflite_graph
    from core.cli.inspect import format_info
    from core.models.inspection import inspect_model

    path = tmp_path / "chain.tflite"
    path.write_bytes(build(["FC", "FC"]))

    def unreadable(_data):
        raise ValueError("no flatbuffer schema")

    def inspect():
        return inspect_model(str(path), progress=null_reporter(), cancel=CancelToken()).info

    monkeypatch.setattr(tflite_graph, "read_tflite_graph", unreadable)  # the interpreter fallback is used
    info = inspect()  # today's private path
    assert info.params == 2 * FC_WEIGHTS and info.flops == 2 * 2 * FC_WEIGHTS  # FLOPs = 2 x MACs, 16 per FC

    monkeypatch.delattr(Interpreter, "_get_ops_details")
    info = inspect()
    assert info.params is None and info.flops is None  # before: 0 and 0
    [note] = [n for n in info.notes if n.startswith("parameters and FLOPs: unknown")]
    assert "LiteRT's op details API changed" in note and "_get_ops_details" in note and "ai-edge-litert" in note
    text = format_info(info)
    assert "params   unknown" in text and "FLOPs/sample unknown" in text


# --------------------------------------------------------------------------- Keras


@pytest.fixture(scope="module")
def keras():
    from core.tf_runtime import import_keras

    return import_keras()


def _models(keras):
    seq = keras.Sequential(
        [keras.Input((4,), name="pixels"), keras.layers.Dense(3, activation="softmax", name="probs")]
    )
    inp = keras.Input((4,), name="features")
    hidden = keras.layers.Dense(5, name="hidden")(inp)
    func = keras.Model(inp, keras.layers.Dense(2, activation="sigmoid", name="score")(hidden))
    return seq, func


def test_keras_private_paths_read_todays_keras(keras):
    seq, func = _models(keras)
    for model, names in ((seq, ["probs"]), (func, ["hidden", "score"])):
        graph = keras_internals.layer_graph(model)
        ops = [n.operation.name for n in keras_internals.ordered_nodes(graph) if not n.is_input]
        assert ops == names == [layer.name for layer in model.layers if type(layer).__name__ == "Dense"]
        assert keras_internals.output_layer(model) is model.layers[-1]
    assert keras_internals.producer_name(seq.inputs[0]) == "pixels"
    assert keras_internals.producer_name(func.inputs[0]) == "features"
    assert len(keras_internals.inbound_nodes(func.get_layer("hidden"))) == 1


def test_keras_graph_internals_gone_is_reported_as_an_upstream_change(keras, monkeypatch):
    from core.compress.structured import width_scaled_copy
    from core.errors import ConversionError
    from core.models.flops import count_keras_macs
    from core.models.inspection import _inspect_keras

    _, func = _models(keras)
    assert count_keras_macs(func).total == 4 * 5 + 5 * 2  # Dense MACs: in x out, by hand
    monkeypatch.delattr(func, "_nodes_by_depth")
    count = count_keras_macs(func)
    assert "Keras's functional-graph internals changed" in count.unknown and "_nodes_by_depth" in count.unknown
    fields = _inspect_keras(func)
    assert fields["flops"] is None  # unknown, not a partial 0
    assert any("_nodes_by_depth" in n and "keras 3" in n for n in fields["notes"])
    assert not any("no layer graph" in n for n in fields["notes"])
    with pytest.raises(ConversionError, match="Keras's functional-graph internals changed"):
        width_scaled_copy(func, 0.5)


def test_keras_tensor_history_gone_falls_back_to_public_names(keras, monkeypatch):
    from core.compress.training import output_activation

    seq, func = _models(keras)
    monkeypatch.delattr(seq.outputs[0], "_keras_history")
    monkeypatch.delattr(func.outputs[0], "_keras_history")
    assert output_activation(seq) == "softmax" and output_activation(func) == "sigmoid"  # as built above


def test_a_subclassed_model_still_has_no_layer_graph(keras):
    class Doubler(keras.Model):
        def call(self, x):
            return x * 2

    with pytest.raises(keras_internals.NoLayerGraph):
        keras_internals.layer_graph(Doubler())
