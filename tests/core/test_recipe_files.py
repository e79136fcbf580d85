"""Recipe files (`core.optimize.recipe_file`) and `litesmith optimize --recipe / --save-recipe`.

The run of a recipe file through the CLI and the app, and the variant it makes, is
tests/gui/test_recipe_files.py.
"""

from __future__ import annotations

import json

import pytest

from core.cli import optimize as optimize_cli
from core.cli.main import main
from core.compress.configs import StructuredPruneConfig
from core.errors import ExitCode
from core.optimize.compress_steps import compression_steps, with_compression
from core.optimize.recipe_file import RecipeFileError, read_recipe_file, write_recipe_file
from core.optimize.recipes import Recipe, SelectiveConfig, Step, recipe_for_mode
from core.schemas import RECIPE, validate


@pytest.fixture
def tiny(tmp_path):
    """A model path the CLI never opens: every test here stops before the engine (the app's test runs one)."""
    model = tmp_path / "classifier.keras"
    model.write_bytes(b"not read")
    return model, None


@pytest.fixture
def no_engine_started(monkeypatch):
    def refuse(args):
        raise AssertionError("the engine must not start")

    monkeypatch.setattr(optimize_cli, "make_engine", refuse)


def varied_recipes() -> list[Recipe]:
    """One recipe of each shape a file has to carry: nested configs, tuples, mappings, None."""
    structured = Step(
        "structured_prune", StructuredPruneConfig(sparsity=0.3, per_layer={"hidden": 0.25}, channel_multiple=4)
    )
    return [
        recipe_for_mode("fp32"),
        recipe_for_mode("int8", io_dtype="int8", converter="keras"),
        recipe_for_mode("int8", selective=SelectiveConfig(float_layers=("a", "b"), auto=True, target=0.98)),
        with_compression(
            recipe_for_mode("float16", allow_select_tf_ops=True), compression_steps(prune=0.5, distill=True, epochs=1)
        ),
        Recipe("structured30+dynamic", (structured,) + recipe_for_mode("dynamic").steps),
    ]


def test_save_then_open_gives_equal_recipes_and_a_schema_valid_document(tmp_path):
    recipes = varied_recipes()
    path = tmp_path / "mine.json"
    write_recipe_file(path, recipes, name="five shapes")
    document = json.loads(path.read_text())
    assert validate(document) == RECIPE and document["schema"] == RECIPE
    loaded = read_recipe_file(path)
    assert loaded.recipes == tuple(recipes)
    assert loaded.name == "five shapes" and loaded.path == str(path)
    # Hand-written (no version per recipe, config left out): the defaults, as Recipe.from_dict gives them.
    path.write_text(
        json.dumps(
            {
                "schema": RECIPE,
                "version": 1,
                "recipes": [
                    {
                        "name": "dynamic",
                        "steps": [{"kind": "convert"}, {"kind": "quantize", "config": {"mode": "dynamic"}}],
                    }
                ],
            }
        )
    )
    assert read_recipe_file(path).recipes == (recipe_for_mode("dynamic"),)


ONE_RECIPE = {"name": "x", "steps": [{"kind": "convert"}]}
BAD_FILES = [
    ("not json", "{'schema': 1", "not valid JSON"),
    ("array", "[1, 2]", "the top level is a JSON array"),
    ("other schema", json.dumps({"schema": "litesmith.optimize", "version": 1}), "expected 'litesmith.recipe'"),
    ("future version", json.dumps({"schema": RECIPE, "version": 9, "recipes": [ONE_RECIPE]}), "version 9"),
    ("no recipes", json.dumps({"schema": RECIPE, "version": 1}), "'recipes' is a required property"),
    (
        "step without kind",
        json.dumps({"schema": RECIPE, "version": 1, "recipes": [{"name": "x", "steps": [{}]}]}),
        "at /recipes/0/steps/0: 'kind' is a required property",
    ),
    (
        "bad mode",
        json.dumps(
            {
                "schema": RECIPE,
                "version": 1,
                "recipes": [{"name": "x", "steps": [{"kind": "quantize", "config": {"mode": "int3"}}]}],
            }
        ),
        "'int3' is not one of",
    ),
    (
        "unknown step",
        json.dumps({"schema": RECIPE, "version": 1, "recipes": [{"name": "x", "steps": [{"kind": "sharpen"}]}]}),
        "unknown step kind 'sharpen'",
    ),
    (
        "unknown field",
        json.dumps(
            {
                "schema": RECIPE,
                "version": 1,
                "recipes": [{"name": "x", "steps": [{"kind": "convert", "config": {"speed": "max"}}]}],
            }
        ),
        "unknown field(s) speed",
    ),
    (
        "out of range",
        json.dumps(
            {
                "schema": RECIPE,
                "version": 1,
                "recipes": [{"name": "x", "steps": [{"kind": "magnitude_prune", "config": {"epochs": -1}}]}],
            }
        ),
        "epochs",
    ),
    (
        "same name twice",
        json.dumps({"schema": RECIPE, "version": 1, "recipes": [ONE_RECIPE, ONE_RECIPE]}),
        "two recipes share the name 'x'",
    ),
]


@pytest.mark.parametrize("text, problem", [b[1:] for b in BAD_FILES], ids=[b[0] for b in BAD_FILES])
def test_a_bad_file_is_one_line_naming_the_file_and_the_problem(tmp_path, text, problem):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(RecipeFileError) as caught:
        read_recipe_file(path)
    line = caught.value.line()
    assert line.startswith(f"{path}: ") and problem in line and "\n" not in line


def test_missing_and_huge_files(tmp_path):
    with pytest.raises(RecipeFileError, match="no such recipe file"):
        read_recipe_file(tmp_path / "nope.json")
    huge = tmp_path / "huge.json"
    huge.write_bytes(b" " * (2 << 20))
    with pytest.raises(RecipeFileError, match="too large"):
        read_recipe_file(huge)


# ---------------------------------------------------------------------------------------------- the CLI


def test_cli_bad_recipe_file_exits_3_with_one_line(tiny, tmp_path, capsys, no_engine_started):
    model, _ = tiny
    bad = tmp_path / "bad.json"
    bad.write_text(BAD_FILES[7][1])  # an unknown step
    code = main(["optimize", str(model), "--recipe", str(bad), "--no-export"])
    err = capsys.readouterr().err.strip()
    assert code == ExitCode.BAD_INPUT
    assert err.count("\n") == 0 and str(bad) in err and "unknown step kind 'sharpen'" in err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["-q", "int8"], "--recipe gives the variants; drop --quantize"),
        (["--prune", "0.5", "--int8-io"], "drop --int8-io, --prune"),
        (["--auto"], "does not go with --auto"),
    ],
)
def test_cli_recipe_with_variant_flags_is_refused(tiny, tmp_path, capsys, no_engine_started, extra, message):
    model, _ = tiny
    path = write_recipe_file(tmp_path / "r.json", [recipe_for_mode("dynamic")])
    code = main(["optimize", str(model), "--recipe", path, "--no-export", *extra])
    assert code == ExitCode.USAGE
    assert message in capsys.readouterr().err


def test_cli_save_recipe_writes_what_the_flags_describe(tiny, tmp_path, capsys, monkeypatch):
    model, _ = tiny
    seen = []
    # Stop before the engine starts: this test is about the file the flags give.
    monkeypatch.setattr(
        optimize_cli, "make_engine", lambda args: seen.append(args) or (_ for _ in ()).throw(SystemExit(99))
    )
    target = tmp_path / "saved.json"
    with pytest.raises(SystemExit):
        main(
            [
                "optimize",
                str(model),
                "-q",
                "fp32,int8",
                "--int8-io",
                "--prune",
                "0.4",
                "--epochs",
                "1",
                "--no-export",
                "--save-recipe",
                str(target),
            ]
        )
    expected_steps = compression_steps(prune=0.4, epochs=1)
    assert read_recipe_file(target).recipes == (
        with_compression(recipe_for_mode("fp32"), expected_steps),
        with_compression(recipe_for_mode("int8", io_dtype="int8"), expected_steps),
    )
    # Never over an input, and a missing folder is bad input (3).
    assert main(["optimize", str(model), "--save-recipe", str(model), "--no-export"]) == ExitCode.USAGE
    assert (
        main(["optimize", str(model), "--save-recipe", str(tmp_path / "no" / "r.json"), "--no-export"])
        == ExitCode.BAD_INPUT
    )
    assert "does not exist" in capsys.readouterr().err
