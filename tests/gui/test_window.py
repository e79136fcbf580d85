"""The main window and its panels, without a real model: ModelInfo objects built here."""

from __future__ import annotations

import os
import sys
from importlib import metadata
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from core.errors import ErrorKind, JobError
from core.models.info import InspectResult, LayerInfo, ModelFormat, ModelInfo, TensorInfo
from gui.about import component_versions
from gui.crash import CrashReporter
from gui.panels.model_panel import ModelPanel
from gui.recent_files import MAX_RECENT, RecentFiles
from tests.gui.helpers import drop

REPO_ROOT = Path(__file__).resolve().parents[2]

KERAS_INFO = ModelInfo(
    path="/models/digits.keras",
    format=ModelFormat.KERAS,
    file_size=123_456,
    sha256="ab" * 32,
    inputs=(TensorInfo("image", (None, 28, 28, 1), "float32"),),
    outputs=(TensorInfo("probabilities", (None, 10), "float32"),),
    params=12_345,
    flops=2_000_000,
    layers=(
        LayerInfo("conv", "Conv2D", "(None, 26, 26, 8)", 80, 48_672),
        LayerInfo("flatten", "Flatten", "(None, 5408)", 0, 0),
        LayerInfo("head", "Dense", "(None, 10)", 54_090, 54_080),
    ),
    notes=("the batch dimension is dynamic (None); per-sample figures assume one sample",),
)
TFLITE_INFO = ModelInfo(
    path="/models/digits_int8.tflite",
    format=ModelFormat.TFLITE,
    file_size=20_000,
    sha256="cd" * 32,
    inputs=(TensorInfo("serving_default_image:0", (1, 28, 28, 1), "int8", (0.003921, -128)),),
    outputs=(TensorInfo("Identity:0", (1, 10), "float32"),),
    params=12_000,
    flops=None,
    op_histogram=(("CONV_2D", 2), ("FULLY_CONNECTED", 1), ("QUANTIZE", 1)),
    tensor_types=(("int8", 9), ("int32", 3), ("float32", 1)),
)


def cell(view, row: int, column: int) -> str:
    model = view.model()
    return model.data(model.index(row, column))


def test_model_panel_shows_a_keras_model(qtbot):
    panel = ModelPanel()
    qtbot.addWidget(panel)
    panel.set_info(KERAS_INFO)
    summary = panel.summary_text()
    assert summary["path"] == "/models/digits.keras"
    assert summary["size"].startswith("120.6 KiB")
    assert summary["sha256"] == "abababababab…"
    assert "12,345" in summary["params"] and "2.00M" in summary["flops"]
    assert "dynamic" in summary["notes"]
    assert panel.title.text() == "digits.keras"
    assert [cell(panel.io_table, r, c) for r in range(2) for c in (0, 1, 2, 3, 4)] == [
        "input",
        "image",
        "(?, 28, 28, 1)",
        "float32",
        "—",
        "output",
        "probabilities",
        "(?, 10)",
        "float32",
        "—",
    ]
    assert panel.tab_titles() == ["Layers (3)"]
    table = panel.layer_table
    assert table.model().rowCount() == 3
    assert [cell(table, 2, c) for c in range(5)] == ["head", "Dense", "(None, 10)", "54,090", "54,080"]
    # Numbers sort as numbers, not as text.
    table.sortByColumn(3, Qt.SortOrder.DescendingOrder)
    assert [cell(table, r, 0) for r in range(3)] == ["head", "conv", "flatten"]


def test_model_panel_shows_tflite_ops_and_tensor_types(qtbot):
    panel = ModelPanel()
    qtbot.addWidget(panel)
    panel.set_info(KERAS_INFO)
    panel.set_info(TFLITE_INFO)  # a second model replaces the first completely
    assert panel.tab_titles() == ["Operators (4) and tensor types"]
    assert cell(panel.io_table, 0, 4) == "scale 0.003921, zero point -128"
    assert cell(panel.io_table, 0, 2) == "(1, 28, 28, 1)"
    assert [cell(panel.op_table, 0, c) for c in range(3)] == ["CONV_2D", "2", "50.0 %"]
    assert [cell(panel.tensor_table, 2, c) for c in range(3)] == ["float32", "1", "7.7 %"]
    assert panel.summary_text()["flops"] == "unknown"
    assert not panel.notes_box.isVisibleTo(panel)


def test_empty_state_tells_what_to_do(inline_window):
    window = inline_window
    assert window.windowTitle() == "Litesmith"
    assert window.current_page() is window.empty_state
    assert window.empty_state.hint_text() == "Drop a model here: .keras, .h5, SavedModel folder or .tflite"
    assert not window.job_status.cancel_button.isEnabled()


def test_loaded_model_fills_the_panel_and_title(inline_window):
    window = inline_window
    window._on_model_loaded("/models/digits.keras", InspectResult(KERAS_INFO, seconds=1.25))
    assert window.current_page() is window.model_panel
    assert window.windowTitle() == "digits.keras — Litesmith"
    assert window.job_status.label.text() == "Opened digits.keras in 1.2 s"


def test_drag_accepts_models_and_folders_and_refuses_other_files(inline_window, tmp_path, qtbot):
    window = inline_window
    text_file = tmp_path / "notes.txt"
    text_file.write_text("hello")
    assert drop(window, text_file) == (False, False)
    saved_model = tmp_path / "exported"
    saved_model.mkdir()
    calls = []
    window.load_model = lambda path: calls.append(path) or True  # only the routing is tested here
    assert drop(window, saved_model) == (True, True)
    model = tmp_path / "m.keras"
    model.write_bytes(b"not really")
    assert drop(window, text_file, model) == (True, True)
    assert calls == [str(saved_model), str(model)]


def test_error_dialog_is_non_blocking_with_details(inline_window, qtbot):
    window = inline_window
    error = JobError(
        ErrorKind.BAD_INPUT, "not a TensorFlow Lite flatbuffer", path="/data/x.tflite", details="Traceback: ..."
    )
    box = window.show_error(error)
    qtbot.waitUntil(box.isVisible)
    assert box is window.error_dialog
    assert box.text() == "/data/x.tflite: not a TensorFlow Lite flatbuffer"
    assert "Traceback: ..." in box.detailedText() and "bad_input" in box.detailedText()
    assert box.icon() == QMessageBox.Icon.Warning
    box.accept()
    qtbot.waitUntil(lambda: window.error_dialog is None)


def test_missing_file_shows_error_without_running_a_job(inline_window, tmp_path, qtbot):
    window = inline_window
    assert not window.load_model(tmp_path / "gone.keras")
    assert not window.runner.busy
    assert "gone.keras: no such file or folder" in window.error_dialog.text()
    window.error_dialog.accept()


def test_about_lists_versions(inline_window, qtbot):
    box = inline_window.show_about()
    qtbot.waitUntil(box.isVisible)
    text = box.text()
    for name in ("Litesmith", "TensorFlow", "Keras", "LiteRT", "Qt", "PySide6", "Python"):
        assert name in text
    assert metadata.version("tensorflow") in text
    assert metadata.version("keras") in text
    assert metadata.version("ai-edge-litert") in text
    assert sys.version.split()[0] in text
    assert dict(component_versions())["Python"] == sys.version.split()[0]
    box.accept()


def test_recent_files_dedupe_cap_and_drop_missing(settings, tmp_path):
    recent = RecentFiles(settings)
    files = []
    for i in range(MAX_RECENT + 3):
        path = tmp_path / f"m{i}.keras"
        path.write_bytes(b"x")
        files.append(str(path))
        recent.add(path)
    assert recent.paths() == list(reversed(files))[:MAX_RECENT]
    recent.add(tmp_path / "." / "m3.keras")  # same file, another spelling: moves to the top
    assert recent.paths()[0] == files[3]
    assert len(recent.paths()) == MAX_RECENT and len(set(recent.paths())) == MAX_RECENT
    os.remove(files[3])
    assert files[3] not in recent.paths()
    settings.sync()
    assert files[3] not in RecentFiles(settings).paths()


def test_recent_files_survive_a_restart_and_fill_the_menu(inline_window, settings, tmp_path):
    only = tmp_path / "one.tflite"
    only.write_bytes(b"x")
    RecentFiles(settings).add(only)  # one entry: INI stores it as a plain string
    assert RecentFiles(settings).paths() == [str(only)]
    assert inline_window.recent_menu_paths() == [str(only)]
    assert inline_window.recent_menu.isEnabled()
    inline_window.clear_recent_action.trigger()
    assert inline_window.recent_menu_paths() == []
    assert not inline_window.recent_menu.isEnabled()


def test_geometry_is_saved_and_restored(qtbot, settings):
    from core.engine import Engine
    from gui.main_window import MainWindow

    first = MainWindow(Engine(isolated=False), settings, warm_up=False)
    qtbot.addWidget(first)
    first.show()
    first.resize(700, 500)  # within the offscreen screen (800x600): restoreGeometry clamps to the screen
    qtbot.waitUntil(lambda: first.width() == 700)
    first.close()
    second = MainWindow(Engine(isolated=False), settings, warm_up=False)
    qtbot.addWidget(second)
    second.show()
    qtbot.waitUntil(lambda: (second.width(), second.height()) == (700, 500))
    second.close()


def test_crash_reporter_shows_and_keeps_running(qtbot):
    reporter = CrashReporter()
    try:
        raise ValueError("surprise")
    except ValueError:
        reporter.excepthook(*sys.exc_info())
    qtbot.waitUntil(lambda: reporter.dialog is not None and reporter.dialog.isVisible())
    assert "ValueError: surprise" in reporter.dialog.text()
    assert "Traceback" in reporter.dialog.detailedText()
    reporter.dialog.accept()
    qtbot.waitUntil(lambda: reporter.dialog is None)


def test_recipe_is_remembered_and_run_waits_for_a_model(inline_window, settings, qtbot):
    from core.engine import Engine
    from gui.main_window import MainWindow
    from gui.recipe import RunSettings

    window = inline_window
    assert not window.run_action.isEnabled() and not window.start_run()
    assert not window.recipe_dock.isVisible()
    window._on_model_loaded("/models/digits.keras", InspectResult(KERAS_INFO, seconds=1.0))
    assert window.recipe_dock.isVisible() and window.run_action.isEnabled()
    assert window.results_panel.placeholder.isVisibleTo(window.results_panel)
    wanted = RunSettings(
        modes=("int8",), selective=True, runs=77, seconds=None, threads=(2, 4), budget_ms=3.0, data_path="/data/x.npz"
    )
    window.save_recipe(wanted)
    again = MainWindow(Engine(isolated=False), settings, warm_up=False, device_job=None)
    qtbot.addWidget(again)
    got = again.recipe_panel.settings()
    assert (got.modes, got.selective, got.runs, got.threads, got.budget_ms) == (("int8",), True, 77, (2, 4), 3.0)
    assert got.data_path is None  # data belongs to a model, not to the recipe
    again.close()


def test_dropping_a_data_file_sets_the_recipe_data(inline_window, tmp_path):
    window = inline_window
    data = tmp_path / "calib.npz"
    data.write_bytes(b"x")
    assert drop(window, data) == (False, False)  # no model yet: only models are taken
    window._on_model_loaded("/models/digits.keras", InspectResult(KERAS_INFO, seconds=1.0))
    assert drop(window, data) == (True, True)
    assert window.recipe_panel.data_path == str(data)
    assert window.recipe_panel.data_zone.name.text() == "calib.npz"
    assert not window.recipe_panel.data_warning.isVisibleTo(window.recipe_panel)
    window.recipe_panel.clear_data_button.click()
    assert window.recipe_panel.data_path is None and window.recipe_panel.settings().data_spec() is None


def test_a_bad_benchmark_field_says_which_before_running(inline_window, qtbot):
    window = inline_window
    window._on_model_loaded("/models/digits.keras", InspectResult(KERAS_INFO, seconds=1.0))
    window.recipe_panel.batch_sizes.setText("1, eight")
    assert not window.start_run()
    assert "Batch sizes" in window.error_dialog.text() and not window.runner.busy
    window.error_dialog.accept()


@pytest.mark.parametrize("shortcut", ["open_action", "quit_action", "run_action", "export_variant_action"])
def test_standard_shortcuts(inline_window, shortcut):
    assert not getattr(inline_window, shortcut).shortcut().isEmpty()


def test_gui_modules_do_not_import_tensorflow():
    import subprocess

    code = (
        "import sys, gui.app, gui.main_window, gui.workers, gui.about; "
        "gui.about.component_versions(); "
        "sys.exit(1 if {'tensorflow', 'keras'} & set(sys.modules) else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, timeout=120).returncode == 0


def test_app_renders_a_screenshot_and_exits_0(tmp_path):
    """`litesmith gui --screenshot PNG` in a fresh process: the entry point, launch() and a clean exit."""
    import subprocess

    png = tmp_path / "empty.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(
        [sys.executable, "-m", "gui", "gui", "--screenshot", str(png)],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert png.stat().st_size > 5_000
    assert "Traceback" not in done.stderr


def _inspect_stand_in(path, *, progress, cancel):
    """Stands in for `inspect_model` (in-process engine): the digits info under `path`."""
    import dataclasses

    return InspectResult(dataclasses.replace(KERAS_INFO, path=path), seconds=0.1)


def test_opening_a_model_selects_the_data_beside_it(qtbot, settings, tmp_path):
    """`NAME_eval.*` beside the model is selected (the folder is listed by the job's worker thread);
    data the user chose is kept when the next model has companions too."""
    from core.engine import Engine
    from gui.main_window import MainWindow
    from tests.gui.helpers import load

    for name in (
        "digits.keras",
        "digits_calib.npz",
        "digits_eval.npz",
        "fraud.keras",
        "fraud_eval.npz",
        "mine.npz",
        "lonely.keras",
    ):
        (tmp_path / name).write_bytes(b"x")
    window = MainWindow(Engine(isolated=False), settings, warm_up=False, device_job=None, inspect_job=_inspect_stand_in)
    qtbot.addWidget(window)
    panel = window.recipe_panel
    load(qtbot, window, tmp_path / "digits.keras")
    assert panel.data_path == str(tmp_path / "digits_eval.npz")
    assert panel.data_zone.name.text() == "digits_eval.npz" and "beside the model" in panel.data_zone.detail.text()
    assert not panel.data_warning.isVisibleTo(panel)
    load(qtbot, window, tmp_path / "fraud.keras")  # an offer follows the model
    assert panel.data_path == str(tmp_path / "fraud_eval.npz")
    load(qtbot, window, tmp_path / "lonely.keras")  # nothing beside it: the other model's data goes
    assert panel.data_path is None
    load(qtbot, window, tmp_path / "fraud.keras")
    panel.set_data_path(str(tmp_path / "mine.npz"))  # the user's choice is kept
    load(qtbot, window, tmp_path / "digits.keras")
    assert panel.data_path == str(tmp_path / "mine.npz")
    window.close()
