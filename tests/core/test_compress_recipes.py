"""Pruning and distillation as steps of the same recipes as quantization."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.data.loaders import DataSpec
from core.engine import CancelToken, null_reporter
from core.errors import BadInputError
from core.optimize.compress_steps import compression_steps, with_compression
from core.optimize.recipes import Recipe, RecipeError, recipe_for_mode

REPO = Path(__file__).resolve().parents[2]


def test_structured_prune_distill_int8_is_one_json_recipe():
    steps = compression_steps(prune=0.4, structured=True, distill=True, epochs=3)
    recipe = with_compression(recipe_for_mode("int8"), steps)
    assert recipe.name == "structured40+distill+int8"
    assert [s.kind for s in recipe.steps] == ["structured_prune", "distill", "convert", "quantize"]
    again = Recipe.from_json(recipe.to_json())
    assert again == recipe
    assert again.steps[0].config.fine_tune_epochs == 3 and again.steps[1].config.student == "keep"


def test_bad_step_settings_are_named():
    with pytest.raises((RecipeError, BadInputError), match="sparsity"):
        Recipe.from_dict({"name": "x", "steps": [{"kind": "structured_prune", "config": {"sparsity": 1.5}}]})
    with pytest.raises((RecipeError, BadInputError), match="unknown"):
        Recipe.from_dict({"name": "x", "steps": [{"kind": "magnitude_prune", "config": {"sparsty": 0.5}}]})


def test_pipeline_prunes_once_for_several_modes_and_the_model_shrinks(samples_dir, monkeypatch):
    import core.compress.structured as structured
    from core.optimize.pipeline import optimize_model

    calls = []
    original = structured.structured_prune

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(structured, "structured_prune", counting)
    steps = compression_steps(prune=0.5, structured=True, epochs=1)
    recipes = [with_compression(recipe_for_mode(m), steps) for m in ("fp32", "int8")]
    data = DataSpec(path=str(samples_dir / "digits_calib.npz"), eval_path=str(samples_dir / "digits_eval.npz"))
    result = optimize_model(
        str(samples_dir / "digits.keras"), recipes, data, progress=null_reporter(), cancel=CancelToken()
    )
    assert len(calls) == 1
    assert not result.failures
    fp32 = result.variant("structured50+fp32")
    assert fp32.size_bytes < 0.5 * result.baseline_size_bytes  # genuinely smaller than the unpruned fp32
    report = fp32.compression[0]
    assert report["step"] == "structured_prune" and report["params_after"] < report["params_before"]
    assert fp32.evaluation.accuracy.accuracy > 0.5  # it runs in LiteRT and still recognizes digits
    assert result.variant("structured50+int8").size_bytes < fp32.size_bytes


def test_cli_prune_flags(samples_dir, tmp_path):
    def litesmith(*args):
        return subprocess.run(
            [sys.executable, "-m", "core", "optimize", *args], cwd=REPO, capture_output=True, text=True, timeout=600
        )

    usage = litesmith(str(samples_dir / "digits.keras"), "--structured")
    assert usage.returncode == 2 and "--prune" in usage.stderr
    done = litesmith(
        str(samples_dir / "digits.keras"),
        "-q",
        "fp32",
        "--prune",
        "0.5",
        "--structured",
        "--epochs",
        "1",
        "--data",
        str(samples_dir / "digits_calib.npz"),
        "--out",
        str(tmp_path / "small.tflite"),
    )
    assert done.returncode == 0, done.stderr
    assert "structured pruning: params" in done.stdout
    assert (tmp_path / "small.tflite").stat().st_size < (samples_dir / "digits.keras").stat().st_size / 4


@pytest.mark.parametrize(
    "steps, message",
    [
        (  # a new student after a prune: the prune would be thrown away
            [{"kind": "structured_prune", "config": {"sparsity": 0.4}}, {"kind": "distill", "config": {}}],
            "trains a new model from the original",
        ),
        (  # distilling into the magnitude-pruned model retrains its zeros
            [{"kind": "magnitude_prune", "config": {}}, {"kind": "distill", "config": {"student": "keep"}}],
            "put magnitude_prune after distill",
        ),
    ],
)
def test_a_step_that_would_undo_the_one_before_it_is_refused(steps, message):
    with pytest.raises(RecipeError, match=message):
        Recipe.from_dict({"name": "x", "steps": steps})


@pytest.mark.parametrize("name", ["x/../../../pwn", "../escape", "a\\b", ".hidden", "-flag", "a" * 101, "tab\tname"])
def test_a_recipe_name_that_cannot_be_a_file_name_is_refused(name):
    with pytest.raises(RecipeError, match="cannot name a file"):
        Recipe.from_dict({"name": name, "steps": [{"kind": "convert"}]})


def test_magnitude_pruning_with_distillation_prunes_the_student(samples_dir):
    """`--prune 0.5 --distill`: the student is distilled first and then pruned, so the exported file holds
    the zeros the variant reports. Oracle: the exported .tflite's weight tensors read with LiteRT, zeros
    counted with numpy (a distilled-then-unpruned student would have none)."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    from core.optimize.pipeline import optimize_model

    steps = compression_steps(prune=0.5, distill=True, epochs=1)
    assert [s.kind for s in steps] == ["distill", "magnitude_prune"]
    recipe = with_compression(recipe_for_mode("fp32"), steps)
    assert recipe.name == "distill-width0.5+pruned50+fp32"
    data = DataSpec(path=str(samples_dir / "digits_calib.npz"), eval_path=str(samples_dir / "digits_eval.npz"))
    result = optimize_model(
        str(samples_dir / "digits.keras"), [recipe], data, progress=null_reporter(), cancel=CancelToken()
    )
    assert not result.failures, result.failures
    variant = result.variant(recipe.name)
    pruned = next(r for r in variant.compression if r["step"] == "magnitude_prune")
    interpreter = Interpreter(model_content=variant.tflite_bytes)
    weights = [
        interpreter.get_tensor(t["index"])
        for t in interpreter.get_tensor_details()
        if t["dtype"] == np.float32 and len(t["shape"]) >= 2 and _is_constant(interpreter, t)
    ]
    zeros, total = sum(int((w == 0).sum()) for w in weights), sum(w.size for w in weights)
    assert total > 0 and zeros / total == pytest.approx(pruned["overall_sparsity"], abs=0.05), (zeros, total)


def _is_constant(interpreter, detail) -> bool:
    try:
        interpreter.get_tensor(detail["index"])
    except ValueError:
        return False
    return True
