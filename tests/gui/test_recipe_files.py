"""File > Open Recipe… / Save Recipe… (`gui.recipe_files`): the same file gives the same variants as the CLI."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

import numpy as np
import pytest

from core.cli import optimize as optimize_cli
from core.cli.main import build_parser, main
from core.engine import Engine
from core.optimize.compress_steps import compression_steps, with_compression
from core.optimize.recipe_file import read_recipe_file, recipe_document
from core.optimize.recipes import recipe_for_mode
from core.schemas import RECIPE
from gui.recipe import RunSettings

WAIT_MS = 20_000


def open_in_app(qtbot, window, path):
    with qtbot.waitSignal(window.recipe_files.opened, timeout=WAIT_MS) as opened:
        assert window.recipe_files.open_file(path)
    return opened.args[0]


def cli_recipes(path) -> list:
    """The recipes `litesmith optimize MODEL --recipe PATH` makes, through the CLI's own argument handling."""
    from core.cli import recipe_args

    args = build_parser().parse_args(["optimize", "model.keras", "--recipe", str(path)])
    return recipe_args.chosen_recipes(args, optimize_cli.recipes_from_flags)


def test_one_file_same_variant_in_the_cli_and_the_app(qtbot, inline_window, tmp_path, monkeypatch):
    """int8 after 50% magnitude pruning: the app's panel makes exactly the CLI's recipe, and the CLI's
    variant has int8 activations (full integer) and half of each Dense kernel zero."""
    recipe = with_compression(recipe_for_mode("int8"), compression_steps(prune=0.5, epochs=0))
    path = tmp_path / "pruned-int8.json"
    path.write_text(json.dumps(recipe_document([recipe], name="pruned int8")))

    from_cli = cli_recipes(path)
    open_in_app(qtbot, inline_window, path)
    panel = inline_window.recipe_panel
    shown = panel.settings()
    assert shown.modes == ("int8",) and shown.prune == "magnitude" and shown.sparsity == pytest.approx(0.5)
    assert shown.epochs == 0 and not shown.layer_errors
    from_app = {r.name: r for r in shown.recipes()}
    assert from_cli == [recipe]
    assert from_app["pruned50+int8"] == from_cli[0]
    # The app makes its fp32 baseline and the uncompressed twin besides (what it compares against).
    assert sorted(from_app) == ["fp32", "int8", "pruned50+fp32", "pruned50+int8"]

    model, data = untrained_classifier(tmp_path)
    monkeypatch.setattr(optimize_cli, "make_engine", lambda args: Engine(isolated=False))
    out = tmp_path / "out"
    out.mkdir()
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        code = main(
            [
                "optimize",
                str(model),
                "--recipe",
                str(path),
                "--data",
                str(data),
                "--calibration-samples",
                "32",
                "--out",
                str(out),
                "--json",
                "--no-cache",
            ]
        )
    assert code == 0
    assert [v["name"] for v in json.loads(buffer.getvalue())["variants"]] == ["pruned50+int8"]
    zeros, activations = int8_tensors(out / "classifier.pruned50+int8.tflite")
    # One-shot magnitude pruning to 0.5 zeroes half of each kernel (Glorot-uniform weights are almost surely
    # non-zero before); int8 rounding may zero a few more small weights.
    assert set(zeros) == WEIGHT_SHAPES and all(0.45 <= z <= 0.6 for z in zeros.values()), zeros
    assert activations, "full-integer int8 quantizes the activations too (dynamic range would not)"


WEIGHT_SHAPES = {(16, 8), (3, 16)}  # the classifier's two Dense kernels, as TFLite stores them (out, in)


def untrained_classifier(folder):
    """An MLP 8 -> 16 -> 3 with its random initial weights (none of them zero), and 64 labelled samples."""
    from core.tf_runtime import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8,), name="features")
    hidden = keras.layers.Dense(16, activation="relu", name="hidden")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="probs")(hidden))
    model.save(folder / "classifier.keras")
    rng = np.random.default_rng(0)
    np.savez(folder / "classifier.npz", x=rng.standard_normal((64, 8)).astype(np.float32), y=rng.integers(0, 3, 64))
    return folder / "classifier.keras", folder / "classifier.npz"


def int8_tensors(tflite_path) -> tuple[dict[tuple[int, ...], float], list[tuple[int, ...]]]:
    """({weight shape: zero fraction} of the int8 Dense kernels, shapes of int8 activation tensors), via LiteRT."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(tflite_path))
    interpreter.allocate_tensors()
    zeros, activations = {}, []
    for detail in interpreter.get_tensor_details():
        if detail["dtype"] != np.int8:
            continue
        try:
            values = interpreter.get_tensor(detail["index"])
        except ValueError:  # no data before invoke(): an activation, not a constant
            activations.append(tuple(int(d) for d in detail["shape"]))
            continue
        if tuple(values.shape) in WEIGHT_SHAPES:
            zeros[tuple(values.shape)] = float((values == 0).mean())
    return zeros, activations


def test_save_then_open_restores_the_same_recipes(qtbot, inline_window, tmp_path):
    files = inline_window.recipe_files
    assert {files.open_action, files.save_action} <= set(inline_window.file_menu.actions())
    assert files.open_action.text() == "Open &Recipe…" and files.save_action.text() == "Save Recip&e…"
    panel = inline_window.recipe_panel
    chosen = RunSettings(
        modes=("dynamic", "int8"),
        selective=True,
        fidelity_target=0.97,
        layer_errors=False,
        prune="structured",
        sparsity=0.3,
        epochs=3,
    )
    panel.set_settings(chosen)
    expected = panel.settings().recipes()
    path = tmp_path / "mine.json"
    with qtbot.waitSignal(inline_window.recipe_files.saved, timeout=WAIT_MS):
        assert inline_window.recipe_files.save_file(path)
    document = json.loads(path.read_text())
    assert document["schema"] == RECIPE and len(document["recipes"]) == len(expected)

    panel.set_settings(RunSettings())  # something else entirely
    assert panel.settings().recipes() != expected
    open_in_app(qtbot, inline_window, path)
    assert panel.settings().recipes() == expected
    assert cli_recipes(path) == expected == list(read_recipe_file(path).recipes)


BAD = [
    ("not json", '{"schema": ', "not valid JSON"),
    (
        "wrong schema",
        json.dumps({"schema": RECIPE, "version": 1, "recipes": "int8"}),
        "at /recipes: 'int8' is not of type 'array'",
    ),
    (
        "unknown step",
        json.dumps({"schema": RECIPE, "version": 1, "recipes": [{"name": "x", "steps": [{"kind": "sharpen"}]}]}),
        "unknown step kind 'sharpen'",
    ),
    (
        "not for the panel",
        json.dumps(recipe_document([recipe_for_mode("int8", converter="keras")])),
        "the recipe panel cannot make the variant 'int8'",
    ),
]


@pytest.mark.parametrize("text, problem", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_bad_file_is_one_line_in_the_error_dialog_and_changes_nothing(qtbot, inline_window, tmp_path, text, problem):
    panel = inline_window.recipe_panel
    before = panel.settings()
    path = tmp_path / "bad.json"
    path.write_text(text)
    assert inline_window.recipe_files.open_file(path)
    qtbot.waitUntil(lambda: inline_window.error_dialog is not None, timeout=WAIT_MS)
    line = inline_window.error_dialog.text()
    assert str(path) in line and problem in line and "\n" not in line
    assert panel.settings() == before
