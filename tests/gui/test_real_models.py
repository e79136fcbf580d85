"""The window over the real, isolated engine: drop a real model, a broken file, close cleanly.

One engine and one window (conftest's session `real_window`) serve these tests and
test_workflow's (the engine's child imports TensorFlow once). Screenshots: `make screenshots` (pytest -k screenshot) writes them
to resources/screenshots; other runs write them to a temporary folder.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import psutil
import pytest
from PySide6.QtWidgets import QApplication

from core.engine import Engine
from core.errors import ErrorKind
from core.models.info import ModelFormat, ModelInfo
from gui.main_window import MainWindow
from tests.gui import gui_jobs
from gui.recipe import RunSettings
from tests.gui.helpers import RUN_TIMEOUT_MS, drop, wait_idle

LOAD_TIMEOUT_MS = 90_000  # the first job imports TensorFlow in the child
SCREENSHOTS = Path(__file__).resolve().parents[2] / "resources" / "screenshots"


@pytest.fixture(scope="module")
def keras_model(real_window, tmp_path_factory, samples_dir) -> Path:
    """The digits sample (copied: the samples may be rebuilt meanwhile), else a tiny model built in the child."""
    folder = tmp_path_factory.mktemp("models")
    sample = samples_dir / "digits.keras"
    if sample.exists():
        return Path(shutil.copy(sample, folder / "digits.keras"))
    target = folder / "tiny.keras"
    real_window.engine.run(gui_jobs.build_tiny_keras, str(target))
    return target


def load_by_drop(qtbot, window, path) -> ModelInfo:
    with qtbot.waitSignal(window.model_loaded, timeout=LOAD_TIMEOUT_MS) as blocker:
        assert drop(window, path) == (True, True)
        assert window.runner.busy and window.job_status.cancel_button.isEnabled()
        assert not window.load_model(path)  # one job at a time: the second one is refused
    return blocker.args[0]


def test_drop_loads_a_real_model_and_fills_the_panel(qtbot, real_window, keras_model):
    window = real_window
    info = load_by_drop(qtbot, window, keras_model)
    assert info.format == ModelFormat.KERAS
    assert info.path == str(keras_model)
    assert window.current_page() is window.model_panel
    assert window.windowTitle() == f"{keras_model.name} — Litesmith"
    panel = window.model_panel
    assert panel.summary_text()["path"] == str(keras_model)
    assert panel.layer_table.model().rowCount() == len(info.layers) > 0
    assert panel.io_model.rowCount() == len(info.inputs) + len(info.outputs)
    io = panel.io_table.model()
    assert io.data(io.index(0, 2)).startswith("(?,")  # dynamic batch shown as ?
    wait_idle(qtbot, window)  # the one-off device detection follows the first model
    assert not window.runner.busy and not window.job_status.cancel_button.isEnabled()
    assert window.recent.paths()[0] == str(keras_model)


def test_broken_file_shows_error_then_a_good_file_loads(qtbot, real_window, keras_model, tmp_path):
    window = real_window
    broken = tmp_path / "x.tflite"
    broken.write_bytes(os.urandom(2048))
    with qtbot.waitSignal(window.load_failed, timeout=LOAD_TIMEOUT_MS) as blocker:
        assert drop(window, broken) == (True, True)
    error = blocker.args[0]
    assert error.kind == ErrorKind.BAD_INPUT
    dialog = window.error_dialog
    assert dialog is not None and dialog.isVisible()
    assert "x.tflite" in dialog.text()
    assert str(broken) in dialog.detailedText()
    assert window.model_panel.info.path == str(keras_model)  # the previous model stays
    assert str(broken) not in window.recent.paths()
    dialog.accept()
    qtbot.waitUntil(lambda: window.error_dialog is None)
    info = load_by_drop(qtbot, window, keras_model)  # the app is still usable
    assert info.path == str(keras_model)


def test_screenshots(qtbot, real_window, keras_model, request, tmp_path, samples_dir, settings):
    writing = "screenshot" in (request.config.getoption("keyword") or "") or os.environ.get("LITESMITH_SCREENSHOTS")
    folder = SCREENSHOTS if writing else tmp_path
    folder.mkdir(parents=True, exist_ok=True)

    empty = MainWindow(Engine(isolated=False), settings, warm_up=False, remember_geometry=False)
    qtbot.addWidget(empty)
    empty.show()
    qtbot.waitExposed(empty)
    assert empty.grab().save(str(folder / "empty.png"))
    empty.close()

    window = real_window
    sample = samples_dir / "digits.keras"
    model = sample if sample.exists() else keras_model
    if window.model_info is None or window.model_info.path != str(model):
        with qtbot.waitSignal(window.model_loaded, timeout=LOAD_TIMEOUT_MS):
            assert window.load_model(model)
    wait_idle(qtbot, window)
    window.model_panel.layer_table.clearSelection()
    QApplication.processEvents()
    assert window.grab().save(str(folder / "model-loaded.png"))
    assert (folder / "model-loaded.png").stat().st_size > 10_000

    # Running: the default recipe (one second per configuration) on the sample's evaluation data.
    data = samples_dir / "digits_eval.npz"
    window.recipe_panel.set_settings(RunSettings(data_path=str(data) if data.exists() else None), include_data=True)
    with qtbot.waitSignal(window.run_finished, timeout=RUN_TIMEOUT_MS):
        assert window.start_run()
        qtbot.waitUntil(
            lambda: window.live_plot.box_count() >= 3 and window.live_plot.refreshes >= 3, timeout=RUN_TIMEOUT_MS
        )
        QApplication.processEvents()
        assert window.grab().save(str(folder / "running.png"))
    assert window.current_page() is window.results_panel
    qtbot.waitUntil(lambda: window.results_panel.complete)
    window.results_panel.tabs.setCurrentWidget(window.results_panel.charts)
    QApplication.processEvents()
    assert window.grab().save(str(folder / "results.png"))
    assert (folder / "results.png").stat().st_size > 20_000


def test_cancel_button_then_closing_the_window_stops_job_and_engine(qtbot, settings, tmp_path):
    engine = Engine(preload_tensorflow=False, memory_limit_mb=2048)
    window = MainWindow(engine, settings, inspect_job=gui_jobs.slow_inspect)
    qtbot.addWidget(window)
    window.show()
    model = tmp_path / "slow.keras"
    model.write_bytes(b"never read")

    # Cancel from the status bar: no error dialog, a status line, the app is idle again.
    with qtbot.waitSignal(window.runner.progress, timeout=30_000):
        assert drop(window, model) == (True, True)
    assert window.job_status.cancel_button.isEnabled() and window.cancel_action.isEnabled()
    with qtbot.waitSignal(window.load_failed, timeout=15_000) as blocker:
        window.job_status.cancel_button.click()
    assert blocker.args[0].kind == ErrorKind.CANCELLED
    assert window.error_dialog is None
    assert window.job_status.label.text() == "Cancelled opening slow.keras"
    assert not window.job_status.cancel_button.isEnabled() and not window.runner.busy

    # Esc does the same.
    with qtbot.waitSignal(window.runner.progress, timeout=30_000):
        assert window.load_model(model)
    with qtbot.waitSignal(window.load_failed, timeout=15_000) as blocker:
        window.cancel_action.trigger()
        assert window.job_status.cancel_button.text() == "Cancelling…"
    assert blocker.args[0].kind == ErrorKind.CANCELLED

    # Closing the window while a job runs: the job stops, the engine's child is gone.
    with qtbot.waitSignal(window.runner.progress, timeout=30_000):
        assert window.load_model(model)
    pid = engine.child_pid
    assert pid is not None
    window.close()
    assert window.isVisible() and window.runner.busy  # it asks first
    window.close_dialog.stop_button.click()
    assert not window.runner.busy and not window.isVisible()
    assert engine.child_pid is None
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
