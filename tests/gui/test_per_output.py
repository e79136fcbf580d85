"""Models with several outputs in the window: every output evaluated and shown, the primary output, tasks.

The fast tests use ModelInfo objects and stand-in jobs; the others run the zoo's
multi-output model (tests/zoo.py `build_multi_output`: ``zz_species`` and
``aa_color`` softmax heads, ``mm_weight`` regression, names sorting against the
output order) through the session's real engine and window.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from core.errors import ErrorKind
from core.evaluation.text import accuracy_text, fidelity_text
from core.models.info import InspectResult, ModelFormat, ModelInfo, TensorInfo
from gui.panels.recipe_panel import RecipePanel
from gui.recipe import RunSettings
from tests.gui import gui_jobs
from tests.gui.helpers import RUN_TIMEOUT_MS, load, run_recipe, tiny_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "resources" / "screenshots"
OUTPUTS = ("zz_species", "aa_color", "mm_weight")


def three_outputs(path: str = "/models/heads.keras") -> ModelInfo:
    return ModelInfo(
        path=path,
        format=ModelFormat.KERAS,
        file_size=10_000,
        sha256="ab" * 32,
        inputs=(TensorInfo("features", (None, 8), "float32"),),
        outputs=(
            TensorInfo("zz_species", (None, 3), "float32"),
            TensorInfo("aa_color", (None, 3), "float32"),
            TensorInfo("mm_weight", (None, 1), "float32"),
        ),
        params=500,
        flops=1000,
    )


def test_outputs_box_offers_the_outputs_and_makes_the_options(qtbot):
    from PySide6.QtGui import QAction

    panel = RecipePanel(QAction("Run"), QAction("Auto"))
    qtbot.addWidget(panel)
    box = panel.outputs_box
    assert not box.isVisibleTo(panel)  # no model yet
    panel.set_model_info(three_outputs())
    assert box.isVisibleTo(panel)
    assert [box.primary.itemText(i) for i in range(3)] == ["zz_species (first)", "aa_color", "mm_weight"]
    assert not box.form.isRowVisible(0) and box.form.isRowVisible(1)  # a Keras model: no signature choice
    # Defaults send nothing: the engine's own defaults (first output, inferred tasks).
    options = panel.settings().session_options()
    assert (options.primary_output, options.tasks, options.signature) == (None, (), None)

    box.primary.setCurrentIndex(2)
    box.task_combos["mm_weight"].setCurrentIndex(box.task_combos["mm_weight"].findData("embedding"))
    settings = panel.settings()
    assert settings.session_options().primary_output == "mm_weight"
    assert settings.session_options().tasks == (("mm_weight", "embedding"),)
    auto = settings.auto_settings()
    assert (auto.primary_output, auto.tasks) == ("mm_weight", (("mm_weight", "embedding"),))
    # A saved recipe never carries one model's outputs into the next model.
    restored = RunSettings.from_dict(json.loads(json.dumps(settings.to_dict())))
    assert (restored.primary_output, restored.tasks) == ("", ())
    # Settings put back with the data (a run's own settings) choose them again; unknown names are ignored.
    panel.set_settings(RunSettings(primary_output="aa_color", tasks=(("nope", "binary"),)), include_data=True)
    assert box.primary_output() == "aa_color" and box.task_overrides() == ()

    # A SavedModel's signature lists its outputs by name: no "first" output, the user names one for `y` labels.
    panel.set_model_info(
        SimpleNamespace(
            format="saved_model", outputs=(TensorInfo("b", (None, 1), "float32"), TensorInfo("a", (None, 2), "float32"))
        )
    )
    assert [box.primary.itemText(i) for i in range(3)] == ["none chosen", "b", "a"] and box.primary_output() == ""
    box.primary.setCurrentIndex(1)
    assert panel.settings().primary_output == "b"
    # A .tflite's inspect result names tensors, not its signature's outputs: the choices wait for a run.
    panel.set_model_info(
        SimpleNamespace(
            format="tflite",
            outputs=(TensorInfo("Identity:0", (1, 2), "float32"), TensorInfo("Identity_1:0", (1, 1), "float32")),
        )
    )
    assert not box.primary.isEnabled() and not box.task_table.isEnabled() and "first run" in box.hint.text()
    assert panel.settings().primary_output == "" and panel.settings().tasks == ()
    from core.models.interface import ModelInterface, TensorSpec
    from core.optimize.results import OutputTask, SourceInfo

    interface = ModelInterface(
        (TensorSpec((None, 4), name="x"),),
        (TensorSpec((None, 2), name="score", role="output"), TensorSpec((None, 1), name="size", role="output")),
        signature="serving_default",
        signatures=("serving_default",),
        ordered_outputs=False,
    )
    panel.set_source(
        SourceInfo(
            "/m/x.tflite",
            "tflite",
            "ab" * 32,
            10,
            (),
            interface=interface,
            tasks=(OutputTask("score", "multiclass", "softmax"), OutputTask("size", "regression", "1 value")),
            primary_output="score",
        )
    )
    assert box.primary.isEnabled() and box.names == ("score", "size") and "first run" not in box.hint.text()
    assert [box.task_combos[n].itemText(0) for n in ("score", "size")] == ["auto: multiclass", "auto: regression"]
    box.primary.setCurrentIndex(2)
    assert panel.settings().primary_output == "size"

    # A model with several signatures (the inspect result may list them): serving_default by default.
    info = SimpleNamespace(
        outputs=(TensorInfo("embedding", (None, 4), "float32"),),
        signatures=("embed", "serving_default"),
        signature="serving_default",
    )
    panel.set_model_info(info)
    assert box.form.isRowVisible(0) and not box.form.isRowVisible(1)
    assert box.signature.currentText() == "serving_default" and box.signature_choice() == ""
    box.signature.setCurrentIndex(0)
    assert panel.settings().session_options().signature == "embed"
    assert panel.settings().auto_settings().signature == "embed"
    # Another signature has other outputs: the output choices wait for a run with it.
    assert not box.primary.isEnabled() and "'embed'" in box.hint.text() and panel.settings().tasks == ()
    box.signature.setCurrentIndex(1)
    assert box.task_table.isEnabled() and box.signature_choice() == ""


def test_primary_output_reaches_the_jobs_and_a_core_failure_shows_the_error(qtbot, inline_window, tmp_path):
    window = inline_window
    model = tmp_path / "heads.keras"
    model.write_bytes(b"stand-in: the jobs below never open it")
    window._on_model_loaded(str(model), InspectResult(three_outputs(str(model))))
    window.run_controller._jobs = (gui_jobs.refusing_optimize, None)
    window.auto_controller._job = gui_jobs.refusing_auto
    gui_jobs.SEEN_OPTIONS.clear()
    box = window.recipe_panel.outputs_box
    box.primary.setCurrentIndex(1)
    box.task_combos["zz_species"].setCurrentIndex(box.task_combos["zz_species"].findData("multiclass"))

    with qtbot.waitSignal(window.run_failed, timeout=30_000) as blocker:
        window.run_action.trigger()
    assert blocker.args[0].kind == ErrorKind.CONVERSION
    options = gui_jobs.SEEN_OPTIONS[-1]
    assert options.primary_output == "aa_color" and options.tasks == (("zz_species", "multiclass"),)
    dialog = window.error_dialog
    assert dialog is not None and dialog.isVisible()
    assert "Conversion failed" in dialog.windowTitle() and "outputs NaN" in dialog.text()
    dialog.accept()
    qtbot.waitUntil(lambda: window.error_dialog is None)

    box.primary.setCurrentIndex(2)  # another choice: the next job gets it
    with qtbot.waitSignal(window.auto_failed, timeout=30_000):
        window.auto_action.trigger()
    settings = gui_jobs.SEEN_OPTIONS[-1]
    assert settings.primary_output == "mm_weight" and settings.tasks == (("zz_species", "multiclass"),)
    assert window.error_dialog is not None and "no candidate survived" in window.error_dialog.text()
    window.error_dialog.accept()
    assert window.run_action.isEnabled() and not window.runner.busy


def fake_heads_outcome():
    """Three outputs, no benchmark: int8 could not score `mask` (its shape changed), dynamic was not evaluated."""
    from core.data.loaders import DataDescription
    from core.evaluation import AccuracyMetrics, Evaluation, FidelityMetrics, ModelEvaluation
    from core.optimize.recipes import recipe_for_mode
    from core.optimize.results import OptimizeResult, OutputTask, SourceInfo, Variant
    from gui.workflow import RunOutcome

    def head(name, task, acc, agreement=None, cosine=None):
        accuracy = (
            AccuracyMetrics(task, 50, accuracy=acc)
            if task != "regression"
            else AccuracyMetrics(task, 50, mae=acc, rmse=acc * 1.5, max_error=acc * 4)
        )
        fidelity = (
            None if cosine is None else FidelityMetrics(task, 50, 0.02, 0.001, cosine, "sample", agreement=agreement)
        )
        return Evaluation(task, accuracy, fidelity, output=name)

    tasks = (
        OutputTask("species", "multiclass", "softmax over 3 classes"),
        OutputTask("weight", "regression", "linear activation, 1 value"),
        OutputTask("mask", "segmentation", "(N, H, W, K) scores with (N, H, W) labels"),
    )
    original = ModelEvaluation(
        (head("species", "multiclass", 0.9), head("weight", "regression", 0.2), head("mask", "segmentation", 0.8)),
        primary="species",
    )
    fp32 = ModelEvaluation(
        (
            head("species", "multiclass", 0.9, 1.0, 1.0),
            head("weight", "regression", 0.2, None, 0.99),
            head("mask", "segmentation", 0.8, 1.0, 1.0),
        ),
        primary="species",
    )
    int8 = ModelEvaluation(
        (head("species", "multiclass", 0.88, 0.97, 0.998), head("weight", "regression", 0.25, None, 0.999)),
        primary="species",
        unscored=(("mask", "shape (50, 4, 4) differs from the original's (50, 8, 8)"),),
    )

    def variant(name, evaluation):
        return Variant(
            name=name,
            recipe=recipe_for_mode(name),
            tflite_bytes=b"x",
            size_bytes=1000,
            converter_path="from_keras_model",
            evaluation=evaluation,
            size_ratio=1.0,
        )

    result = OptimizeResult(
        source=SourceInfo("/m/heads.keras", "keras", "ab" * 32, 5000, (), tasks=tasks, primary_output="species"),
        data=DataDescription(False, "/m/d.npz", "/m/d.npz", 50, 50, True, True),
        original_evaluation=original,
        baseline_size_bytes=1000,
        variants=(variant("fp32", fp32), variant("dynamic", None), variant("int8", int8)),
    )
    return RunOutcome("/m/heads.keras", RunSettings(primary_output="species").to_dict(), result, None)


def test_unscored_outputs_say_why_in_the_table_and_the_report(qtbot, tmp_path):
    from PySide6.QtGui import QAction

    from gui.panels.results_panel import ResultsPanel
    from gui.report import write_report

    panel = ResultsPanel(QAction("Export Variant…"), QAction("Export Report…"))
    qtbot.addWidget(panel)
    panel.resize(1000, 700)
    panel.show()
    panel.set_outcome(fake_heads_outcome())
    qtbot.waitUntil(lambda: panel.complete)
    assert panel.column_titles()[8:] == ["Accuracy\n(species)", "Fidelity\n(worst output)"]
    # fp32: the regression output's cosine (0.99) is its worst; int8: the classifier's agreement (97 %).
    assert [panel.cell(r, 9).removesuffix(" ★") for r in range(4)] == [
        "reference",
        "cos 0.99000 · weight",
        "—",
        "97.00 % · species",
    ]
    assert "\nweight: cos 0.99000 max|d| 0.02\n" in panel.table.model().data(
        panel.table.model().index(1, 9), Qt.ItemDataRole.ToolTipRole
    )
    page = panel.outputs_page
    assert page.model.rowCount() == 3 * 4
    mask = [[page.cell(r, c) for c in (0, 2, 3, 7)] for r in range(8, 12)]
    assert mask == [
        ["mask", "original", "reference", "inferred: (N, H, W, K) scores with (N, H, W) labels"],
        ["", "fp32", "100.00 %", ""],
        ["", "dynamic", "—", "not evaluated"],
        ["", "int8", "not scored", "not scored: shape (50, 4, 4) differs from the original's (50, 8, 8)"],
    ]
    assert page.cell(4, 0) == "weight" and page.cell(5, 7) == "◀ worst: fp32's headline fidelity"
    text = panel.explanations.toPlainText()
    assert "output 'mask' not scored: shape (50, 4, 4)" in text
    assert "output 'species': multiclass (softmax over 3 classes; the primary output" in text

    html_path, json_path = write_report(panel.outcome, panel, str(tmp_path / "r.html"), str(tmp_path / "r.json"))
    page_html = Path(html_path).read_text(encoding="utf-8")
    assert "not scored: shape (50, 4, 4)" in page_html and "<b>mask</b>: segmentation" in page_html
    data = json.loads(Path(json_path).read_text())
    assert data["primary_output"] == "species"
    unscored = [r for r in data["outputs"] if r["fidelity"] == "not scored"]
    assert [(r["output"], r["variant"]) for r in unscored] == [("mask", "int8")]
    assert [r["fidelity_output"] for r in data["rows"]] == [None, "weight", None, "species"]


# -- the zoo's multi-output model, for real ---------------------------------------------------


@pytest.fixture(scope="module")
def zoo_model(tmp_path_factory) -> tuple[Path, Path]:
    """(model.keras, eval.npz) of the zoo's multi-output case, built in a process of its own (TensorFlow)."""
    folder = tmp_path_factory.mktemp("zoo")
    code = (
        "import sys; from pathlib import Path; from tests.zoo import build_multi_output; "
        "build_multi_output(Path(sys.argv[1]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(folder)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return folder / "multi_output" / "model.keras", folder / "multi_output" / "eval.npz"


@pytest.fixture(scope="module")
def multi_run(qapp, real_window, zoo_model, request):
    """One run of the multi-output model with its labelled data, aa_color chosen as the primary output."""
    from pytestqt.qtbot import QtBot

    qtbot = QtBot(request)
    window = real_window
    model, data = zoo_model
    info = load(qtbot, window, model)
    assert [t.name for t in info.outputs] == list(OUTPUTS)
    box = window.recipe_panel.outputs_box
    assert box.names == OUTPUTS and box.primary_output() == ""
    settings = tiny_settings(modes=("dynamic", "int8"), data_path=str(data), layer_errors=False)
    window.recipe_panel.set_settings(settings, include_data=True)
    box.primary.setCurrentIndex(OUTPUTS.index("aa_color"))  # as a user would
    outcome = run_recipe(qtbot, window, window.recipe_panel.settings())
    qtbot.waitUntil(lambda: window.results_panel.complete)
    return window, outcome


def _number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    assert match, (pattern, text)
    return float(match.group(1))


def test_every_output_is_scored_and_shown(multi_run):
    window, outcome = multi_run
    result = outcome.optimize
    source = result.source
    assert source.primary_output == "aa_color"  # the combo's choice reached the engine
    assert [t.output for t in source.tasks] == list(OUTPUTS)
    assert {t.output: t.task for t in source.tasks} == {
        "zz_species": "multiclass",
        "aa_color": "multiclass",
        "mm_weight": "regression",
    }
    panel = window.results_panel
    assert panel.tabs.isTabVisible(panel.outputs_tab_index)
    assert panel.column_titles()[8:] == ["Accuracy\n(aa_color)", "Fidelity\n(worst output)"]
    primary_acc = result.original_evaluation.output("aa_color").accuracy.accuracy
    assert panel.cell(0, 8).removesuffix(" ★") == f"{primary_acc * 100:.2f} %"
    # One row per variant; its fidelity is the worst output's, and the cell names that output.
    names = [v.name for v in result.variants]
    assert [panel.cell(r, 0).removesuffix(" ✔") for r in range(len(names) + 1)] == ["original", *names]
    for i, variant in enumerate(result.variants, start=1):
        evaluation = variant.evaluation
        worst = evaluation.output(evaluation.fidelity_output)
        cell = panel.cell(i, 9).removesuffix(" ★")
        assert cell.endswith(f" · {evaluation.fidelity_output}")
        if worst.fidelity.agreement is not None:
            assert cell.startswith(f"{worst.fidelity.agreement * 100:.2f} %")
        else:
            assert cell.startswith(f"cos {worst.fidelity.cosine_similarity:.5f}")

    # Per output: for each output, the original then every variant, with that output's own figures.
    page = panel.outputs_page
    assert page.column_titles() == [
        "Output",
        "Task",
        "Variant",
        "Agreement",
        "Cosine",
        "Max |diff|",
        "Accuracy",
        "Notes",
    ]
    assert page.model.rowCount() == len(OUTPUTS) * (len(names) + 1)
    row = 0
    for task in source.tasks:
        for name in ["original", *names]:
            first = name == "original"
            cells = [page.cell(row, c) for c in range(8)]
            assert cells[0] == ((task.output + (" (primary)" if task.output == "aa_color" else "")) if first else "")
            assert cells[1] == (task.task if first else "")
            assert cells[2] == name
            model_evaluation = result.original_evaluation if first else result.variant(name).evaluation
            evaluation = model_evaluation.output(task.output)
            assert cells[6] == accuracy_text(evaluation)
            if task.task == "multiclass":
                assert _number(r"top-1 (\S+)", cells[6]) == pytest.approx(evaluation.accuracy.accuracy, abs=5e-5)
            else:
                assert _number(r"MAE (\S+)", cells[6]) == pytest.approx(evaluation.accuracy.mae, rel=1e-3)
            if first:
                assert cells[3:6] == ["reference", "", ""]
                assert cells[7] == f"inferred: {task.reason}"
            else:
                fidelity = evaluation.fidelity
                assert float(cells[4]) == pytest.approx(fidelity.cosine_similarity, abs=6e-6)
                assert float(cells[5]) == pytest.approx(fidelity.max_abs_diff, rel=1e-2)
                if task.task == "multiclass":
                    assert cells[3] == f"{fidelity.agreement * 100:.2f} %"
                else:
                    assert cells[3] == "—"  # a regression output makes no decisions
                worst = model_evaluation.fidelity_output == task.output
                assert cells[7] == (f"◀ worst: {name}'s headline fidelity" if worst else "")
            row += 1

    # The task of each output and why, in words; the recipe panel shows what was inferred.
    text = panel.explanations.toPlainText()
    for task in source.tasks:
        assert f"output '{task.output}': {task.task} ({task.reason}" in text
    combos = window.recipe_panel.outputs_box.task_combos
    assert [combos[n].itemText(0) for n in OUTPUTS] == ["auto: multiclass", "auto: multiclass", "auto: regression"]
    assert all(combos[n].currentData() == "" for n in OUTPUTS)


def test_the_report_has_every_output(qtbot, multi_run, tmp_path):
    window, outcome = multi_run
    with qtbot.waitSignal(window.report_exported) as written:  # the files are written in a worker
        assert window.export_report(tmp_path / "heads.html")
    html_path, json_path = written.args
    page = Path(html_path).read_text(encoding="utf-8")
    assert "<h2>Per output</h2>" in page and "◀ worst" in page and "Accuracy (aa_color)" in page
    for task in outcome.optimize.source.tasks:
        assert f"<b>{task.output}</b>: {task.task} ({task.reason})" in page
    data = json.loads(Path(json_path).read_text())
    assert data["primary_output"] == "aa_color"
    assert [t["output"] for t in data["tasks"]] == list(OUTPUTS)
    variants = outcome.optimize.variants
    assert len(data["outputs"]) == len(OUTPUTS) * (len(variants) + 1)
    for row in data["outputs"]:
        if row["original"]:
            continue
        evaluation = outcome.optimize.variant(row["variant"]).evaluation.output(row["output"])
        assert row["fidelity"] == fidelity_text(evaluation) and row["accuracy"] == accuracy_text(evaluation)
    assert [r["fidelity_output"] for r in data["rows"][1:]] == [v.evaluation.fidelity_output for v in variants]


def test_a_task_the_output_cannot_have_is_refused_with_the_error(qtbot, multi_run):
    window, _ = multi_run
    box = window.recipe_panel.outputs_box
    box.task_combos["mm_weight"].setCurrentIndex(box.task_combos["mm_weight"].findData("multiclass"))
    try:
        with qtbot.waitSignal(window.run_failed, timeout=RUN_TIMEOUT_MS) as blocker:
            window.run_action.trigger()
        assert blocker.args[0].kind == ErrorKind.USAGE  # a setting the output cannot have, as exit 2 in the CLI
        dialog = window.error_dialog
        assert dialog is not None and dialog.isVisible()
        assert "mm_weight" in dialog.text() and "multiclass" in dialog.text()
        assert dialog.windowTitle().startswith("Check the settings")
        dialog.accept()
        qtbot.waitUntil(lambda: window.error_dialog is None)
        assert window.run_action.isEnabled() and window.outcome is multi_run[1]  # the results stay
    finally:
        box.task_combos["mm_weight"].setCurrentIndex(0)


def test_per_output_screenshot(multi_run, request, tmp_path):
    """The Per output tab after the run; `make screenshots` keeps it (resources/screenshots/per_output.png)."""
    import os

    writing = "screenshot" in (request.config.getoption("keyword") or "") or os.environ.get("LITESMITH_SCREENSHOTS")
    folder = SCREENSHOTS if writing else tmp_path
    window, _ = multi_run
    size = window.size()
    window.resize(1320, 780)  # the whole comparison table: the worst output's name widens the fidelity column
    window.workspace.setCurrentWidget(window.results_panel)
    window.results_panel.tabs.setCurrentWidget(window.results_panel.outputs_page)
    QApplication.processEvents()
    try:
        table = window.results_panel.table
        assert table.horizontalHeader().length() <= table.viewport().width()  # nothing cut off
        assert window.grab().save(str(folder / "per_output.png"))
        assert (folder / "per_output.png").stat().st_size > 20_000
    finally:
        window.results_panel.tabs.setCurrentWidget(window.results_panel.charts)
        window.resize(size)


def test_auto_search_judges_every_output_against_the_primary_choice(qtbot, multi_run):
    window, _ = multi_run
    box = window.recipe_panel.outputs_box
    assert box.primary_output() == "aa_color"  # the choice stays for the next job
    settings = window.recipe_panel.settings()
    settings.runs, settings.seconds, settings.auto_pruning = None, 0.1, False
    window.recipe_panel.set_settings(settings, include_data=True)
    with qtbot.waitSignal(window.auto_finished, timeout=RUN_TIMEOUT_MS) as blocker:
        window.auto_action.trigger()
    result = blocker.args[0]
    assert result.settings.primary_output == "aa_color" and result.source.primary_output == "aa_color"
    panel = window.results_panel
    assert panel.column_titles()[8:] == ["Accuracy\n(aa_color)", "Fidelity\n(worst output)"]
    judged = [c for c in result.candidates if c.evaluation is not None]
    assert judged
    for candidate in judged:
        row = next(r for r in panel.rows if r.name == candidate.name)
        assert row.fidelity_output == candidate.evaluation.fidelity_output
    assert panel.tabs.isTabVisible(panel.outputs_tab_index)
    assert panel.outputs_page.model.rowCount() == len(OUTPUTS) * (len(judged) + 1)
