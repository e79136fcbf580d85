"""The one step registry: a pass declared once (kind, config, parser, run) is parsed and run everywhere.

The toy pass below lives only in this test module. Registering it is the only
thing the test does to make it known: a recipe file naming it is read, and the
optimization pipeline runs it. Oracles: a hand-set linear Keras model whose
outputs after the toy step are computed in closed form with numpy, and LiteRT's
own interpreter running the variant's .tflite.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pytest

from core.engine import CancelToken, null_reporter
from core.optimize import registry
from core.optimize.recipe_file import RecipeFileError, read_recipe_file
from core.optimize.recipes import Recipe, RecipeError
from core.optimize.registry import RegistryError, register_pass
from core.schemas import RECIPE

TOY = "toy_bias_offset"
W = np.array([[1.0, -2.0], [0.5, 0.0], [-1.0, 3.0]], dtype=np.float32)  # Dense(2) on 3 features
B = np.array([0.25, -0.5], dtype=np.float32)


@dataclass(frozen=True)
class ToyOffsetConfig:
    """Add `offset` to the bias of the layer named `layer`."""

    offset: float = 0.0
    layer: str = "out"

    def validate(self) -> None:
        if not math.isfinite(self.offset):
            raise RecipeError("offset must be finite")


def toy_bias_offset(state, config: ToyOffsetConfig, ctx) -> None:
    """A model-changing step: a copy of the Keras model with `offset` added to one layer's bias."""
    from core.tf_runtime import import_keras

    keras = import_keras()
    calls.append(config)
    model = keras.models.clone_model(state.keras_model)
    model.set_weights(state.keras_model.get_weights())  # never change the original: it is the reference
    kernel, bias = model.get_layer(config.layer).get_weights()
    model.get_layer(config.layer).set_weights([kernel, bias + np.float32(config.offset)])
    state.keras_model, state.saved_model_dir, state.modified = model, None, True


calls: list[ToyOffsetConfig] = []


@pytest.fixture
def toy_registered():
    """The toy pass registered for one test (not at import: xdist workers import every test module)."""
    calls.clear()
    register_pass(TOY, config=ToyOffsetConfig)(toy_bias_offset)
    try:
        yield
    finally:
        registry.unregister_pass(TOY)


def _toy_document(offset: float) -> dict:
    return {
        "schema": RECIPE,
        "version": 1,
        "recipes": [
            {
                "version": 1,
                "name": "toy+fp32",
                "steps": [{"kind": TOY, "config": {"offset": offset}}, {"kind": "convert", "config": {}}],
            }
        ],
    }


def _linear_model(folder) -> str:
    from core.tf_runtime import import_keras

    keras = import_keras()
    inputs = keras.Input((3,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(inputs))
    model.get_layer("out").set_weights([W, B])
    path = str(folder / "linear.keras")
    model.save(path)
    return path


def _litert_outputs(tflite_bytes: bytes, x: np.ndarray) -> np.ndarray:
    """Run a one-input, one-output .tflite sample by sample with LiteRT's interpreter."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=tflite_bytes)
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    rows = []
    for sample in x:
        interpreter.set_tensor(inp["index"], sample[None, :])
        interpreter.invoke()
        rows.append(interpreter.get_tensor(out["index"])[0])
    return np.stack(rows)


def test_a_pass_registered_here_is_read_from_a_recipe_file_and_run_by_the_pipeline(toy_registered, tmp_path):
    from core.optimize.pipeline import optimize_model

    path = tmp_path / "toy.json"
    path.write_text(json.dumps(_toy_document(1.5)))
    recipes = read_recipe_file(path).recipes
    assert recipes[0].steps[0].kind == TOY and recipes[0].steps[0].config == ToyOffsetConfig(offset=1.5)

    result = optimize_model(
        _linear_model(tmp_path), list(recipes), None, progress=null_reporter(), cancel=CancelToken()
    )
    assert not result.failures and calls == [ToyOffsetConfig(offset=1.5)]
    variant = result.variant("toy+fp32")
    x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [-1.0, 0.5, 2.0]], dtype=np.float32)
    expected = x @ W + B + 1.5  # closed form of the offset model
    np.testing.assert_allclose(_litert_outputs(variant.tflite_bytes, x), expected, rtol=1e-5, atol=1e-5)
    assert variant.recipe.to_dict()["steps"][0] == {"kind": TOY, "config": {"offset": 1.5, "layer": "out"}}


def test_a_registered_pass_is_checked_like_the_built_ins(toy_registered, tmp_path):
    assert TOY in registry.kinds() and registry.is_registered(TOY)
    bad = {"name": "x", "steps": [{"kind": TOY, "config": {"offset": 1.0, "scale": 2.0}}]}
    with pytest.raises(RecipeError, match=r"ToyOffsetConfig: unknown field\(s\) scale"):
        Recipe.from_dict(bad)
    with pytest.raises(RecipeError, match="offset must be (a )?finite"):
        Recipe.from_dict({"name": "x", "steps": [{"kind": TOY, "config": {"offset": float("inf")}}]})
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({**_toy_document(0.0), "recipes": [{"name": "x", "steps": bad["steps"]}]}))
    with pytest.raises(RecipeFileError, match="unknown field"):
        read_recipe_file(path)


def test_unregistered_kind_is_unknown_again(toy_registered):
    entry = registry.unregister_pass(TOY)
    try:
        with pytest.raises(RecipeError, match=f"unknown step kind '{TOY}'; known: convert, quantize"):
            Recipe.from_dict({"name": "x", "steps": [{"kind": TOY}]})
    finally:
        register_pass(TOY, config=entry.config_class)(toy_bias_offset)


def test_duplicate_registration_raises_and_keeps_the_first(toy_registered):
    convert = registry.get("convert")
    with pytest.raises(RegistryError, match="'convert' is registered twice: by core.optimize.passes.ConvertPass"):
        register_pass("convert", config=ToyOffsetConfig)(toy_bias_offset)
    with pytest.raises(RegistryError, match=f"'{TOY}' is registered twice"):
        register_pass(TOY, config=ToyOffsetConfig)(toy_bias_offset)
    assert registry.get("convert") is convert and registry.get(TOY).run is toy_bias_offset
    with pytest.raises(RegistryError, match="must be a dataclass"):
        register_pass("toy_other", config=dict)
    with pytest.raises(RegistryError, match="Pass subclass or a run"):
        register_pass("toy_other", config=ToyOffsetConfig)(int)
    assert not registry.is_registered("toy_other")


def test_the_built_in_kinds_and_the_schema_name_only_registered_kinds():
    from core.schemas import load

    assert registry.kinds()[:5] == ("convert", "quantize", "magnitude_prune", "structured_prune", "distill")
    for kind in registry.kinds()[:5]:
        entry = registry.lookup(kind)
        assert entry.kind == kind and entry.config_class.__name__.endswith("Config")
        assert isinstance(entry.parse({}), entry.config_class)  # every built-in has defaults for all fields
    named = set()
    for rule in load(RECIPE)["$defs"]["step"]["allOf"]:
        kind = rule["if"]["properties"]["kind"]
        named.update(kind.get("enum", [kind.get("const")]))
    assert named and named <= set(registry.kinds())
