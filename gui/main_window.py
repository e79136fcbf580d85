"""The main window: menus, drag and drop, the panels, and the status bar's job indicator.

The window composes panels (`gui.panels`) and drives the engine only through its
`JobRunner` (`gui.workers`), one job at a time. It never imports TensorFlow.

Layout: the empty state until a model is open, then tabs (Model, Live, Results)
and the recipe panel docked on the right. Run (Ctrl+R) optimizes and benchmarks
through `gui.workflow.RunController`; the live plot follows the measurement and
the results panel shows the comparison. Auto (Ctrl+Shift+R) runs `core.auto.auto_optimize`
through `gui.auto.AutoController` with the recipe panel's budget: candidates fill the
results table and charts as they finish, and Cancel keeps those measured so far.
Tools has Devices… (the detected `DeviceReport`) and Clear Cache…. Devices are detected once, in the
background, right after the first model has loaded (the engine has TensorFlow
by then, so it takes a moment); an action asked for meanwhile (Run, opening
another model, an export) starts as soon as the detection ends.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QSettings, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication, QDockWidget, QFileDialog, QMainWindow, QMessageBox, QStackedWidget, QTabWidget, QWidget,
)

from core.data.companions import Companions, find_companions
from core.engine import Engine
from core.errors import ErrorKind, JobError
import gui.pyside_fixes  # noqa: F401 - PySide6 6.12 emit() bug: must be fixed before any emit
from gui.about import about_html, about_text
from gui.panels.empty_state import EmptyState
from gui.panels.model_panel import ModelPanel
from gui.panels.recipe_panel import RecipePanel
from gui.panels.results_panel import ResultsPanel
from gui.recent_files import RecentFiles
from gui.recipe import DATA_SUFFIXES, RunSettings
from gui.settings import open_settings
from gui.widgets.job_status import JobStatus
from gui.widgets.live_plot import LivePlot
from gui.workers import JobRunner
from gui.workflow import RunController, RunOutcome
from gui.auto import AutoController
from gui.custom_code import CustomCode
from gui.recipe_files import RecipeFiles
from gui.flag_hints import app_hint
from gui.input_check import sizes_ready

log = logging.getLogger("litesmith.gui")

APP_TITLE = "Litesmith"
MODEL_SUFFIXES = (".keras", ".h5", ".hdf5", ".tflite")
FILE_FILTER = "Models (*.keras *.h5 *.hdf5 *.tflite);;All files (*)"
DEFAULT_SIZE = (1180, 760)
DOCK_WIDTH = 326

ERROR_TITLES = {
    ErrorKind.BAD_INPUT: "Cannot open this model",
    ErrorKind.CONVERSION: "Conversion failed",
    ErrorKind.OUTPUT: "Cannot write the file",
    ErrorKind.USAGE: "More information needed",
    ErrorKind.CRASHED: "The model engine crashed",
    ErrorKind.OUT_OF_MEMORY: "Out of memory",
    ErrorKind.INTERNAL: "Unexpected error",
}
ERROR_HINTS = {
    ErrorKind.BAD_INPUT: "Litesmith opens .keras, .h5 and .tflite files and SavedModel folders. "
                         "Check that the file is complete and really is one of these.",
    ErrorKind.OUTPUT: "Nothing partial was written: free some space, or choose a folder you can write to.",
    ErrorKind.CRASHED: "Only the engine process stopped; the next job starts a fresh one.",
    ErrorKind.OUT_OF_MEMORY: "The engine process was stopped; the next job starts a fresh one.",
    ErrorKind.INTERNAL: "This looks like a bug in Litesmith; the details help to report it.",
}


def is_data_file(path: str) -> bool:
    return os.path.isfile(path) and os.path.splitext(path)[1].lower() in DATA_SUFFIXES


def default_device_job() -> Callable[..., Any]:
    from core.hardware import detect_devices  # imports TensorFlow: runs in the engine's child

    return detect_devices


def is_model_path(path: str) -> bool:
    """Worth trying to open: a folder (SavedModel) or a file with a model suffix."""
    return os.path.isdir(path) or os.path.splitext(path)[1].lower() in MODEL_SUFFIXES


def default_inspect_job() -> Callable[..., Any]:
    from core.models.inspection import inspect_model  # the engine's child does the work

    return inspect_model


class MainWindow(QMainWindow):
    """Litesmith's main window.

    Signals: ``model_loaded(info: ModelInfo)`` and ``load_failed(error: JobError)``
    after each `load_model`, once the job's thread is cleaned up.

    Run signals: ``run_finished(outcome: RunOutcome)``, ``run_failed(error)``,
    ``run_cancelled()``; ``exported(result)`` after "Export variant", and
    ``devices_detected(report or None)``.

    `engine` is closed when the window closes if `owns_engine`. `inspect_job`
    replaces `core.models.inspection.inspect_model` (tests); `device_job`
    replaces `core.hardware.detect_devices` (None: no detection, "CPU only").
    """

    model_loaded = Signal(object)
    load_failed = Signal(object)
    run_finished = Signal(object)
    run_failed = Signal(object)
    run_cancelled = Signal()
    exported = Signal(object)
    devices_detected = Signal(object)
    auto_finished = Signal(object)
    auto_failed = Signal(object)
    cache_cleared = Signal(int)

    def __init__(self, engine: Engine, settings: QSettings | None = None, *, owns_engine: bool = True,
                 inspect_job: Callable[..., Any] | None = None, remember_geometry: bool = True,
                 warm_up: bool = True, device_job: Callable[..., Any] | None | str = "default",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.settings = settings if settings is not None else open_settings()
        self.owns_engine = owns_engine
        self.remember_geometry = remember_geometry
        self._inspect_job = inspect_job
        self._shut_down = False
        self.model_info = None
        self.error_dialog: QMessageBox | None = None
        self.close_dialog: QMessageBox | None = None   # "A job is running. Stop it and quit?" while open
        self._close_confirmed = False
        self.about_dialog: QMessageBox | None = None
        self.recent = RecentFiles(self.settings)
        self._device_job = default_device_job if device_job == "default" else device_job
        self._devices_state = "pending"      # pending -> running -> done
        self._background_job = False         # the running job is the device detection
        self._pending: Callable[[], Any] | None = None
        self.outcome: RunOutcome | None = None
        self.auto_result = None               # core.auto.AutoResult of the last auto search
        self.auto_settings: RunSettings | None = None
        self.device_report = None
        self.devices_dialog = None
        self.cache_dialog: QMessageBox | None = None
        self.export_dialog: QMessageBox | None = None
        self._run_progress: tuple[float, float, str] | None = None
        self._restored_state = False
        self._pages_warmed = False

        self.setWindowTitle(APP_TITLE)
        self.setAcceptDrops(True)

        self.runner = JobRunner(engine, self)
        self._create_actions()
        self._create_menus()
        self.custom_code = CustomCode(self)   # File > Load Custom Layer Code…, remembered per model, given to jobs

        self.empty_state = EmptyState(self.open_action, self.open_folder_action)
        self.model_panel = ModelPanel()
        self.live_plot = LivePlot()
        self.results_panel = ResultsPanel(self.export_variant_action, self.export_report_action)
        self.results_panel.crossover_page.measure_requested.connect(self.measure_crossover)
        self.workspace = QTabWidget()
        self.workspace.setObjectName("workspace")
        self.workspace.setDocumentMode(True)
        self.workspace.addTab(self.model_panel, "Model")
        self.workspace.addTab(self.live_plot, "Live")
        self.workspace.addTab(self.results_panel, "Results")
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty_state)
        self.stack.addWidget(self.workspace)
        self.setCentralWidget(self.stack)

        self.recipe_panel = RecipePanel(self.run_action, self.auto_action)
        self.recipe_panel.set_last_dir(self._last_dir())
        self.recipe_panel.set_settings(self._saved_recipe())
        self.recipe_panel.data_chosen.connect(self._warm_for_inputs)
        self.recipe_dock = QDockWidget("Recipe", self)
        self.recipe_dock.setObjectName("recipeDock")
        self.recipe_dock.setWidget(self.recipe_panel)
        self.recipe_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                                     | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.recipe_dock.setMinimumWidth(300)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.recipe_dock)
        self.resizeDocks([self.recipe_dock], [DOCK_WIDTH], Qt.Orientation.Horizontal)
        self.recipe_dock.setVisible(False)
        if self._device_job is None:
            self._devices_state = "done"
            self.recipe_panel.set_devices(None)
            self.recipe_panel.device_state.setText("CPU only")

        self.run_controller = RunController(self.runner, self)
        self.run_controller.stage_changed.connect(self._on_run_stage)
        self.run_controller.samples.connect(self.live_plot.add_samples)
        self.run_controller.variant_ready.connect(self._on_variant_ready)
        self.run_controller.run_finished.connect(self._on_run_finished)
        self.run_controller.run_failed.connect(self._on_run_failed)
        self.run_controller.run_cancelled.connect(self._on_run_cancelled)
        self.auto_controller = AutoController(self.runner, self)
        self.auto_controller.candidate.connect(self._on_auto_candidate)
        self.auto_controller.auto_finished.connect(self._on_auto_finished)
        self.auto_controller.auto_failed.connect(self._on_auto_failed)
        self.auto_controller.auto_cancelled.connect(self._on_auto_cancelled)
        # The recipe panel's "Model outputs" box follows the open model, then the engine's own names and tasks.
        self.model_loaded.connect(self.recipe_panel.set_model_info)
        self.run_finished.connect(lambda outcome: self.recipe_panel.set_source(outcome.optimize.source))
        self.auto_finished.connect(lambda result: self.recipe_panel.set_source(result.source))

        self.job_status = JobStatus()
        self.statusBar().addPermanentWidget(self.job_status, 1)
        self.statusBar().setSizeGripEnabled(True)

        self.runner.busy_changed.connect(self._on_busy_changed)
        self.runner.started.connect(self._on_job_started)
        self.runner.progress.connect(self._on_progress)
        self.runner.log.connect(self._on_job_log)
        self.job_status.cancel_requested.connect(self.runner.cancel)
        from gui.serving.tab import install as install_serving   # the Serving tab and "Test under load…"

        self.serving = install_serving(self)
        self.recipe_files = RecipeFiles(self)   # File > Open Recipe… / Save Recipe… (the CLI's --recipe files)

        self.resize(*DEFAULT_SIZE)
        if remember_geometry:
            self._restore_geometry()
        self._warm_up_enabled = warm_up
        if warm_up:
            self.runner.warm_up()

    # -- actions and menus ----------------------------------------------------

    def _create_actions(self) -> None:
        self.open_action = QAction("&Open Model…", self)
        self.open_action.setShortcut(QKeySequence.StandardKey.Open)
        self.open_action.setToolTip("Open a .keras, .h5 or .tflite file")
        self.open_action.triggered.connect(self.open_file_dialog)

        self.open_folder_action = QAction("Open &SavedModel Folder…", self)
        self.open_folder_action.setShortcut(QKeySequence("Ctrl+Shift+O"))
        self.open_folder_action.setToolTip("Open a TensorFlow SavedModel folder")
        self.open_folder_action.triggered.connect(self.open_folder_dialog)

        self.clear_recent_action = QAction("&Clear Recent Files", self)
        self.clear_recent_action.triggered.connect(self._clear_recent)

        self.quit_action = QAction("&Quit", self)
        # Quit has no standard key on some desktops (and offscreen): fall back to Ctrl+Q.
        self.quit_action.setShortcuts(QKeySequence.keyBindings(QKeySequence.StandardKey.Quit)
                                      or [QKeySequence("Ctrl+Q")])
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        self.quit_action.triggered.connect(self.close)

        self.cancel_action = QAction("Cancel Job", self)
        self.cancel_action.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.cancel_action.setEnabled(False)
        self.cancel_action.triggered.connect(self._cancel_from_shortcut)
        self.addAction(self.cancel_action)

        self.run_action = QAction("&Run Recipe", self)
        self.run_action.setShortcut(QKeySequence("Ctrl+R"))
        self.run_action.setToolTip("Optimize the model, then benchmark the original and every variant")
        self.run_action.setEnabled(False)
        self.run_action.triggered.connect(self.start_run)

        self.auto_action = QAction("&Auto: Fastest Within Budget", self)
        self.auto_action.setShortcut(QKeySequence("Ctrl+Shift+R"))
        self.auto_action.setToolTip("Try the recipes cheapest first and recommend the fastest variant that meets "
                                    "the budget set in the recipe panel")
        self.auto_action.setEnabled(False)
        self.auto_action.triggered.connect(self.start_auto)

        self.devices_action = QAction("&Devices…", self)
        self.devices_action.setToolTip("The CPU's inference features and the GPUs TensorFlow and the driver see")
        self.devices_action.triggered.connect(self.show_devices)

        self.clear_cache_action = QAction("Clear &Cache…", self)
        self.clear_cache_action.setToolTip("Delete the cached variants and measurements (the next run measures "
                                           "afresh)")
        self.clear_cache_action.triggered.connect(self.clear_cache_dialog)

        self.export_variant_action = QAction("Export &Variant…", self)
        self.export_variant_action.setShortcut(QKeySequence("Ctrl+E"))
        self.export_variant_action.setToolTip("Write the selected (or recommended) variant as a .tflite with its report")
        self.export_variant_action.setEnabled(False)
        self.export_variant_action.triggered.connect(self.export_variant_dialog)

        self.export_report_action = QAction("Export &Report…", self)
        self.export_report_action.setToolTip("Write the whole comparison as HTML (with charts) and JSON")
        self.export_report_action.setEnabled(False)
        self.export_report_action.triggered.connect(self.export_report_dialog)

        self.about_action = QAction("&About Litesmith", self)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)
        self.about_action.triggered.connect(self.show_about)

    def _create_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(self.open_action)
        file_menu.addAction(self.open_folder_action)
        self.recent_menu = file_menu.addMenu("Recent &Files")
        self.recent_menu.setObjectName("recentMenu")
        self.recent_menu.aboutToShow.connect(self._rebuild_recent_menu)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        run_menu = self.menuBar().addMenu("&Run")
        run_menu.addAction(self.run_action)
        run_menu.addAction(self.auto_action)
        run_menu.addAction(self.cancel_action)
        run_menu.addSeparator()
        run_menu.addAction(self.export_variant_action)
        run_menu.addAction(self.export_report_action)
        tools_menu = self.menuBar().addMenu("&Tools")
        tools_menu.addAction(self.devices_action)
        tools_menu.addAction(self.clear_cache_action)
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(self.devices_action)
        help_menu.addSeparator()
        help_menu.addAction(self.about_action)
        self.file_menu, self.run_menu, self.help_menu = file_menu, run_menu, help_menu
        self.tools_menu = tools_menu
        self._rebuild_recent_menu()

    def _rebuild_recent_menu(self) -> None:
        menu = self.recent_menu
        menu.clear()
        paths = self.recent.paths()
        for number, path in enumerate(paths, start=1):
            name = os.path.basename(os.path.normpath(path))
            label = f"&{number} {name}" if number < 10 else f"1&0 {name}"
            action = menu.addAction(f"{label}   —   {os.path.dirname(path)}")
            action.setData(path)
            action.setToolTip(path)
            action.triggered.connect(lambda checked=False, p=path: self.load_model(p))
        if paths:
            menu.addSeparator()
            menu.addAction(self.clear_recent_action)
        menu.setEnabled(bool(paths))

    def current_page(self) -> QWidget:
        """What the window shows: the empty state, or the workspace's current tab."""
        page = self.stack.currentWidget()
        return self.workspace.currentWidget() if page is self.workspace else page

    def recent_menu_paths(self) -> list[str]:
        self._rebuild_recent_menu()
        return [a.data() for a in self.recent_menu.actions() if a.data()]

    def _clear_recent(self) -> None:
        self.recent.clear()
        self._rebuild_recent_menu()

    def _last_dir(self) -> str:
        return str(self.settings.value("paths/last_dir", os.path.expanduser("~")))

    def open_file_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open Model", self._last_dir(), FILE_FILTER)
        if path:
            self.settings.setValue("paths/last_dir", os.path.dirname(path))
            self.load_model(path)

    def open_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open SavedModel Folder", self._last_dir())
        if path:
            self.settings.setValue("paths/last_dir", os.path.dirname(os.path.normpath(path)))
            self.load_model(path)

    # -- loading a model --------------------------------------------------------

    def load_model(self, path: str | os.PathLike) -> bool:
        """Inspect `path` in the engine; False when another job runs or the path is missing."""
        path = os.path.abspath(os.fspath(path))
        if self.runner.busy:
            if self._background_job and self._pending is None:
                self._pending = lambda: self.load_model(path)  # after the device detection (seconds)
                self.job_status.label.setText(f"Opening {os.path.basename(os.path.normpath(path))} next…")
                return True
            self.job_status.label.setText("A job is already running: wait for it or press Cancel (Esc) first")
            return False
        if not os.path.exists(path):
            self.recent.remove(path)
            self._rebuild_recent_menu()
            self.show_error(JobError(ErrorKind.BAD_INPUT, "no such file or folder", path=path))
            return False
        try:
            job = self._inspect_job or default_inspect_job()
        except ImportError as exc:
            self.show_error(JobError(ErrorKind.INTERNAL, f"model inspection is not available: {exc}", path=path))
            return False
        name = os.path.basename(os.path.normpath(path))
        started = self.runner.submit(
            job, path, subject=path,
            # The job's worker thread (not the GUI thread, not the sandboxed child) lists the folder
            # for data named after the model: NAME_eval.*, NAME.npz, NAME_calib.*.
            then=lambda result: (result, find_companions(path)),
            on_finished=lambda pair: self._on_model_loaded(path, *pair),
            on_failed=lambda error: self._on_load_failed(path, error),
        )
        if started:
            self.job_status.job_started(f"Opening {name}…")
        return started

    def _on_model_loaded(self, path: str, result: Any, companions: Companions | None = None) -> None:
        info = getattr(result, "info", result)
        new_model = self.model_info is None or self.model_info.path != info.path
        self.model_info = info
        self.model_panel.set_info(info)
        self.recipe_panel.set_source_format(info.format)
        if companions is not None:   # data named after this model, or none (another model's offer goes)
            self.recipe_panel.offer_data(companions.best)
        self.stack.setCurrentWidget(self.workspace)
        self.workspace.setCurrentWidget(self.model_panel)
        if not self.recipe_dock.isVisible():
            self.recipe_dock.setVisible(True)
            if not self._restored_state:  # a restored window keeps the dock width the user chose
                self.resizeDocks([self.recipe_dock], [DOCK_WIDTH], Qt.Orientation.Horizontal)
        self.run_action.setEnabled(not self._job_controls_busy())
        self.auto_action.setEnabled(not self._job_controls_busy())
        if new_model:
            self._clear_results()
        name = os.path.basename(os.path.normpath(info.path)) or info.path
        self.setWindowTitle(f"{name} — {APP_TITLE}")
        self.recent.add(path)
        self._rebuild_recent_menu()
        seconds = getattr(result, "seconds", 0.0)
        self.job_status.job_ended(f"Opened {name}" + (f" in {seconds:.1f} s" if seconds else ""))
        if self._devices_state == "pending":
            self._detect_devices()  # now, before anything the model_loaded handlers start (Run waits for it)
        if not self._pages_warmed:
            self._pages_warmed = True
            QTimer.singleShot(250, self._warm_pages)
        self.model_loaded.emit(info)
        self._warm_for_inputs()

    def _warm_for_inputs(self) -> None:
        """Have a child ready that may read the model and the chosen data (the sandbox grants reads at start)."""
        if self.model_info is None or self._job_controls_busy() or not self._warm_up_enabled:
            return
        self.runner.warm_up(tuple(p for p in (self.model_info.path, self.recipe_panel.data_path) if p))

    def _on_load_failed(self, path: str, error: JobError) -> None:
        name = os.path.basename(os.path.normpath(path))
        cancelled = error.kind == ErrorKind.CANCELLED
        log.log(logging.INFO if cancelled else logging.WARNING, "could not open %s: %s", path, error.one_line())
        if cancelled:
            self.job_status.job_ended(f"Cancelled opening {name}")
        else:
            self.job_status.job_ended(f"Could not open {name}")
            self.show_error(error)
        self.load_failed.emit(error)

    def _cancel_from_shortcut(self) -> None:
        if self.job_status.cancel_button.isEnabled():
            self.job_status.cancel_button.click()  # same path as the button: shows "Cancelling…"

    def _on_job_started(self, subject: str) -> None:
        # Callers that know better (load_model) set their own text right after this.
        name = os.path.basename(os.path.normpath(subject)) if subject else ""
        self.job_status.job_started(f"Working on {name}…" if name else "Working…")

    def _on_busy_changed(self, busy: bool) -> None:
        self.cancel_action.setEnabled(busy)
        if not busy and self.job_status.running:
            self.job_status.job_ended(self.job_status.label.text())

    def _warm_pages(self) -> None:
        """Render the Live and Results pages once while the user reads the model: their first paint
        (style polish, layouts, plot set-up) then does not land in the middle of a run."""
        for page in (self.live_plot, self.results_panel):
            if not page.isVisible():
                page.grab()

    def _on_progress(self, fraction: float | None, stage: str, message: str) -> None:
        if self._background_job:
            return
        mapping = self._run_progress
        if mapping is not None:
            start, end, label = mapping
            if fraction is not None:
                fraction = start + (end - start) * fraction
            stage = f"{label} · {stage}" if stage else label
        self.job_status.set_progress(fraction, stage, message)

    def _on_job_log(self, level: str, message: str) -> None:
        log.log(logging.WARNING if level in ("warning", "error") else logging.INFO, "engine: %s", message)
        if level in ("warning", "error"):
            self.job_status.label.setText(message)

    # -- devices (once, in the background) ------------------------------------------

    def _detect_devices(self) -> None:
        if self._devices_state != "pending" or self._device_job is None:
            return
        if self.runner.busy:
            QTimer.singleShot(500, self._detect_devices)
            return
        try:
            job = self._device_job()
        except ImportError as exc:
            log.warning("device detection is not available: %s", exc)
            self._on_devices(None)
            return
        self._devices_state = "running"
        self._background_job = True
        self._text_before_devices = self.job_status.label.text()
        started = self.runner.submit(job, on_finished=self._on_devices, on_failed=lambda error: self._on_devices(None, error))
        if started:
            self.job_status.job_started("Looking for GPUs…")
        else:
            self._background_job = False
            self._devices_state = "pending"

    def _on_devices(self, report: Any, error: JobError | None = None) -> None:
        self._devices_state = "done"
        self._background_job = False
        if error is not None:
            log.warning("device detection failed: %s", error.one_line())
        self.device_report = report
        self.recipe_panel.set_devices(report)
        if self.devices_dialog is not None:
            self.devices_dialog.set_report(report, state="done")
        if not self.runner.busy:
            self.job_status.job_ended(getattr(self, "_text_before_devices", "") or "Ready")
        self.devices_detected.emit(report)
        pending, self._pending = self._pending, None
        if pending is not None:
            QTimer.singleShot(0, pending)

    # -- CPU versus GPU (the results' "CPU vs GPU" tab) ------------------------------------

    def measure_crossover(self) -> bool:
        """Run `core.benchmark.gpu_sweep.crossover_sweep` on the open model; the page shows the outcome."""
        from core.benchmark.gpu_sweep import crossover_sweep, default_threads
        from core.benchmark.results import BenchConfig

        page = self.results_panel.crossover_page
        if self.model_info is None or self.runner.busy:
            page.set_failed("open a model and wait for the running job to end")
            return False
        config = BenchConfig(batch_sizes=(1, 8, 64, 256), threads=default_threads(), runs=20, warmup=2)
        started = self.runner.submit(crossover_sweep, self.model_info.path, config, subject=self.model_info.path,
                                     devices=("cpu", "gpu"), on_finished=page.set_result,
                                     on_failed=lambda error: page.set_failed(error.one_line()))
        if started:
            page.set_running()
            self.job_status.job_started("Measuring CPU vs GPU…")
        return started

    # -- running a recipe ---------------------------------------------------------------

    def _saved_recipe(self) -> RunSettings:
        text = self.settings.value("recipe/last")
        try:
            return RunSettings.from_dict(json.loads(text)) if text else RunSettings()
        except (TypeError, ValueError):
            return RunSettings()

    def save_recipe(self, settings: RunSettings) -> None:
        data = settings.to_dict()
        data.pop("data_path", None)  # data belongs to a model, not to the recipe
        self.settings.setValue("recipe/last", json.dumps(data))
        self.settings.sync()

    def start_run(self) -> bool:
        """Run the recipe panel's recipe on the open model; False when it cannot start now."""
        if self.model_info is None:
            self.job_status.label.setText("Open a model first")
            return False
        try:
            settings = self.recipe_panel.settings()
            settings.recipes()
            settings.bench_config()
        except ValueError as exc:
            self.show_error(JobError(ErrorKind.BAD_INPUT, f"the recipe cannot run: {exc}"))
            return False
        if not sizes_ready(self, settings):   # free dimensions: data or the Input sizes, asked before the job
            return False
        if self.runner.busy:
            if self._background_job and self._pending is None:
                self._pending = self.start_run
                self.job_status.label.setText("Running as soon as the GPU check ends…")
                return True
            self.job_status.label.setText("A job is already running: wait for it or press Cancel (Esc) first")
            return False
        self.save_recipe(settings)
        several = len(settings.threads) * len(settings.batch_sizes) > 1
        self.live_plot.reset(several_configs=several)
        self.live_plot.status.setText("Optimizing: the variants are being made; measuring starts next.")
        self._run_progress = (0.0, 0.6, "Optimizing")
        if not self.run_controller.start(self.model_info.path, settings):
            self._run_progress = None
            return False
        self._set_run_controls(running=True)
        self.workspace.setCurrentWidget(self.live_plot)
        self.job_status.job_started("Optimizing…")
        return True

    def _job_controls_busy(self) -> bool:
        return self.run_controller.active or self.auto_controller.active

    def _set_run_controls(self, running: bool) -> None:
        self.run_action.setEnabled(not running and self.model_info is not None)
        self.auto_action.setEnabled(not running and self.model_info is not None)
        self.recipe_panel.run_button.setEnabled(not running)
        self.recipe_panel.auto_button.setEnabled(not running)
        auto_running = running and self.auto_controller.active
        self.recipe_panel.run_button.setText("Running…" if running and not auto_running else "Run")
        self.recipe_panel.auto_button.setText("Searching…" if auto_running else "Auto")
        if self.results_panel.mode == "auto":
            result = self.auto_result
            self.export_variant_action.setEnabled(not running and result is not None and any(
                c.status == "measured" or c.status == "misses_budget" for c in result.candidates))
            self.export_report_action.setEnabled(False)
            return
        has_results = not running and self.outcome is not None
        self.export_variant_action.setEnabled(has_results and bool(self.outcome.optimize.variants))
        self.export_report_action.setEnabled(has_results)

    def _on_run_stage(self, stage: str) -> None:
        if stage == "benchmark":
            self._run_progress = (0.6, 1.0, "Benchmarking")
            self.job_status.job_started("Benchmarking…")
            self.live_plot.status.setText("Measuring: every call's latency appears as it is measured.")

    def _on_variant_ready(self, variant: Any) -> None:
        self.live_plot.status.setText(f"Optimizing: {variant.name} is ready ({variant.size_bytes / 1024:,.0f} KiB)")

    def _on_run_finished(self, outcome: RunOutcome) -> None:
        self._run_progress = None
        self.live_plot.finish()
        self.outcome = outcome
        self.results_panel.set_outcome(outcome)
        self._set_run_controls(running=False)
        self.workspace.setCurrentWidget(self.results_panel)
        variants = len(outcome.optimize.variants)
        text = f"Done in {outcome.seconds:.1f} s: {variants} variant(s)"
        if outcome.benchmark is not None and outcome.benchmark.recommendation.label:
            text += f"; recommended {outcome.benchmark.recommendation.label}"
        cached = outcome.cached_variants
        if cached:
            text += (" (variants from the cache)" if len(cached) == len(outcome.optimize.variants)
                     else f" ({len(cached)} variant(s) from the cache)")
        self.job_status.job_ended(text)
        if outcome.benchmark_error is not None:
            self.show_error(outcome.benchmark_error)
        self.run_finished.emit(outcome)

    def _on_run_failed(self, error: JobError) -> None:
        self._run_progress = None
        self.live_plot.finish()
        self._set_run_controls(running=False)
        self.job_status.job_ended("The run failed")
        self.show_error(error)
        self.run_failed.emit(error)

    def _on_run_cancelled(self) -> None:
        self._run_progress = None
        self.live_plot.finish()
        self.live_plot.status.setText("Cancelled: the samples measured so far are shown.")
        self._set_run_controls(running=False)
        self.job_status.job_ended("Run cancelled")
        self.run_cancelled.emit()

    # -- auto mode ------------------------------------------------------------------------------

    def start_auto(self) -> bool:
        """Search for the fastest variant within the recipe panel's budget; False when it cannot start now."""
        if self.model_info is None:
            self.job_status.label.setText("Open a model first")
            return False
        try:
            settings = self.recipe_panel.settings()
            settings.auto_budget()
            settings.auto_settings()
        except Exception as exc:  # noqa: BLE001 - ValueError or the engine's BadInputError: a field to fix
            self.show_error(JobError(ErrorKind.BAD_INPUT, f"the auto budget cannot run: {exc}"))
            return False
        if not sizes_ready(self, settings):
            return False
        if self.runner.busy:
            if self._background_job and self._pending is None:
                self._pending = self.start_auto
                self.job_status.label.setText("Searching as soon as the GPU check ends…")
                return True
            self.job_status.label.setText("A job is already running: wait for it or press Cancel (Esc) first")
            return False
        self.save_recipe(settings)
        if not self.auto_controller.start(self.model_info.path, settings):
            return False
        self.auto_settings = settings
        self.outcome = None
        self.auto_result = None
        name = os.path.basename(os.path.normpath(self.model_info.path))
        self.results_panel.begin_auto(name, settings.describe_budget())
        self._set_run_controls(running=True)
        self.workspace.setCurrentWidget(self.results_panel)
        self.job_status.job_started("Auto: preparing the search…")
        return True

    def _on_auto_candidate(self, payload: dict) -> None:
        self.results_panel.add_candidate(payload)

    def _on_auto_finished(self, result) -> None:
        self.auto_result = result
        self.results_panel.set_auto_result(result, self.auto_settings)
        self._set_run_controls(running=False)
        self.workspace.setCurrentWidget(self.results_panel)
        measured = sum(1 for c in result.candidates if c.status == "measured")
        if result.cancelled:
            text = f"Auto cancelled: {measured} candidate(s) measured"
        else:
            text = f"Auto done in {result.seconds:.1f} s: {measured} of {len(result.candidates)} measured"
        text += f"; recommended {result.recommended}" if result.recommended else "; nothing meets the budget"
        if result.all_from_cache:
            text += " (all from the cache)"
        elif any(c.from_cache for c in result.candidates):
            text += f" ({sum(1 for c in result.candidates if c.from_cache)} from the cache)"
        self.job_status.job_ended(text)
        self.auto_finished.emit(result)

    def _on_auto_failed(self, error: JobError) -> None:
        self._set_run_controls(running=False)
        self.job_status.job_ended("The auto search failed")
        self.show_error(error)
        self.auto_failed.emit(error)

    def _on_auto_cancelled(self) -> None:
        self._set_run_controls(running=False)
        self.job_status.job_ended("Auto cancelled before any candidate finished")
        self.results_panel.clear()
        self.auto_failed.emit(JobError(ErrorKind.CANCELLED, "cancelled by the user"))

    def _auto_variant(self, name: str):
        """The auto candidate `name` with its bytes (the recommended one, or read back from the cache); or None."""
        result = self.auto_result
        if result is None:
            return None
        if result.recommended_variant is not None and result.recommended_variant.name == name:
            return result.recommended_variant
        try:
            from core.auto.search import candidate_variant

            data = self.auto_settings.data_spec() if self.auto_settings is not None else None
            return candidate_variant(result, name, data)
        except Exception:  # noqa: BLE001 - not in the cache (cleared, another folder): not exportable
            log.info("auto candidate %s is not in the cache", name, exc_info=True)
            return None

    # -- devices and cache ------------------------------------------------------------------------

    def show_devices(self):
        """Tools/Help > Devices…: the detection the recipe panel uses (run now if it has not run yet)."""
        from gui.devices import DevicesDialog

        if self.devices_dialog is not None:
            self.devices_dialog.raise_()
            return self.devices_dialog
        dialog = DevicesDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _r: setattr(self, "devices_dialog", None))
        dialog.set_report(self.device_report, state=self._devices_state)
        self.devices_dialog = dialog
        dialog.open()
        return dialog

    def clear_cache_dialog(self) -> QMessageBox:
        """Tools > Clear Cache…: what the cache holds, and a confirmation. Non-blocking."""
        from core.cache import ResultCache

        from core.units import human_size

        stats = ResultCache().stats()
        box = QMessageBox(self)
        box.setObjectName("clearCacheDialog")
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle(f"Clear Cache — {APP_TITLE}")
        if stats.entries:
            box.setText(f"Delete {stats.entries:,} cached result(s), {human_size(stats.total_bytes)}?")
            box.setInformativeText("Variants and measurements are kept so that a second run on the same model, "
                                   f"recipe and data is instant. Folder: {stats.folder}")
            box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel)
            box.setDefaultButton(QMessageBox.StandardButton.Cancel)
            box.button(QMessageBox.StandardButton.Yes).setText("Clear Cache")
        else:
            box.setText("The cache is empty.")
            box.setInformativeText(f"Folder: {stats.folder}")
            box.setStandardButtons(QMessageBox.StandardButton.Ok)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.accepted.connect(lambda: self.clear_cache() if stats.entries else None)
        box.finished.connect(lambda _r: setattr(self, "cache_dialog", None))
        self.cache_dialog = box
        box.open()
        return box

    def clear_cache(self) -> int:
        """Delete every cache entry; says how many and how much space was freed."""
        from core.cache import ResultCache

        from core.units import human_size

        cache = ResultCache()
        before = cache.stats()
        try:
            removed = cache.clear()
        except OSError as exc:
            self.show_error(JobError(ErrorKind.BAD_INPUT, f"cannot clear the cache: {exc}", path=before.folder))
            return 0
        freed = before.total_bytes - cache.stats().total_bytes
        self.job_status.label.setText(f"Cache cleared: {removed:,} entries, {human_size(freed)} freed")
        self.cache_cleared.emit(removed)
        return removed

    def _clear_results(self) -> None:
        self.auto_result = None
        self.outcome = None
        self.results_panel.clear()
        self.live_plot.reset()
        self.live_plot.status.setText("Press Run: the latency of every call appears here while it is measured.")
        self._set_run_controls(running=self.run_controller.active)

    # -- export ------------------------------------------------------------------------------

    def _model_dir(self) -> str:
        if self.model_info is None:
            return self._last_dir()
        return os.path.dirname(os.path.normpath(self.model_info.path))

    def _source_path(self) -> str | None:
        if self.results_panel.mode == "auto" and self.auto_result is not None:
            return self.auto_result.source.path
        return self.outcome.model_path if self.outcome is not None else None

    def _model_stem(self) -> str:
        source = self._source_path()
        if not source:
            return "model"
        path = Path(source.rstrip("/\\"))
        return path.name if path.is_dir() else path.stem

    def default_export_variant(self) -> str | None:
        """The selected row's variant, else the recommended one, else the last made.

        After an auto search: the selected candidate when its bytes can be had (the cache), else the recommended.
        """
        if self.results_panel.mode == "auto":
            result = self.auto_result
            if result is None:
                return None
            selected = self.results_panel.selected_variant()
            if selected and selected != result.recommended and self._auto_variant(selected) is not None:
                return selected
            if result.recommended:
                return result.recommended
            built = [c.name for c in result.candidates if c.status in ("measured", "misses_budget")]
            return next((n for n in built if self._auto_variant(n) is not None), None)
        if self.outcome is None or not self.outcome.optimize.variants:
            return None
        names = [v.name for v in self.outcome.optimize.variants]
        selected = self.results_panel.selected_variant()
        if selected in names:
            return selected
        bench = self.outcome.benchmark
        if bench is not None and bench.recommendation.label:
            for r in bench.configs:
                if r.label == bench.recommendation.label and r.variant in names:
                    return r.variant
        return names[-1]

    def export_variant_dialog(self) -> None:
        name = self.default_export_variant()
        if name is None:
            return
        suggested = os.path.join(self._model_dir(), f"{self._model_stem()}.{name}.tflite")
        path, _ = QFileDialog.getSaveFileName(self, f"Export {name}", suggested, "TensorFlow Lite (*.tflite)")
        if path:
            if not path.lower().endswith(".tflite"):
                path += ".tflite"
            self.export_variant(name, path)

    def _is_input(self, path: str) -> bool:
        model = self._source_path()
        if not model:
            return False
        try:
            if os.path.exists(path) and os.path.samefile(path, model):
                return True
        except OSError:
            pass
        real_model = os.path.realpath(model)
        return os.path.realpath(path) == real_model or os.path.realpath(path).startswith(real_model + os.sep)

    def export_variant(self, name: str, path: str | os.PathLike) -> bool:
        """Write variant `name` to `path` (and NAME.report.json) in the engine; False when it cannot start."""
        from core.optimize.export import export_variant

        path = os.path.abspath(os.fspath(path))
        auto = self.results_panel.mode == "auto" and self.auto_result is not None
        if self.outcome is None and not auto:
            return False
        if self._is_input(path):
            self.show_error(JobError(ErrorKind.BAD_INPUT, "refusing to write over the input model; choose another "
                                                          "file name", path=path))
            return False
        if auto:
            variant = self._auto_variant(name)
        else:
            variant = next((v for v in self.outcome.optimize.variants if v.name == name), None)
        if variant is None:
            if auto:
                self.job_status.label.setText(f"{name}: its model is not at hand (not built, or the cache was "
                                              "cleared); export the recommended variant or run Auto again")
            return False
        if self.runner.busy:
            if self._background_job and self._pending is None:
                self._pending = lambda: self.export_variant(name, path)
                return True
            self.job_status.label.setText("A job is already running: wait for it or press Cancel (Esc) first")
            return False
        if auto:
            result = self.auto_result
            candidate = result.candidate(name)
            metadata = {"auto": {"budget": result.budget.effective().describe(), "recommended": result.recommended,
                                 "reasons": list(result.reasons), "candidate": candidate.summary()}}
        else:
            result = self.outcome.optimize
            metadata = {"benchmark": self._variant_benchmark(name)}
        started = self.runner.submit(
            export_variant, variant, path, subject=path, source=result.source, data=result.data,
            baseline_size_bytes=result.baseline_size_bytes, original_evaluation=result.original_evaluation,
            protected_paths=(self._source_path(),), metadata=metadata,
            on_finished=self._on_exported, on_failed=self._on_export_failed)
        if started:
            self.job_status.job_started(f"Exporting {name}…")
            self._set_run_controls(running=True)
        return started

    def _variant_benchmark(self, name: str) -> list[dict]:
        from core.jsonout import jsonable as to_jsonable

        bench = self.outcome.benchmark if self.outcome is not None else None
        if bench is None:
            return []
        return [{"label": r.label, "batch_size": r.batch_size, "threads": r.threads,
                 "stats": to_jsonable(r.stats)} for r in bench.configs if r.variant == name and r.ok]

    def _on_exported(self, result: Any) -> None:
        self._set_run_controls(running=False)
        self.job_status.job_ended(f"Exported {os.path.basename(result.tflite_path)}")
        box = QMessageBox(self)
        box.setObjectName("exportDialog")
        box.setIcon(QMessageBox.Icon.Information)
        box.setWindowTitle(f"Exported — {APP_TITLE}")
        box.setText(f"Wrote {result.tflite_path}")
        box.setInformativeText(f"{result.size_bytes:,} bytes, loaded back and run once to check it.\n"
                               f"Report: {result.report_path}")
        box.setStandardButtons(QMessageBox.StandardButton.Ok)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _r: setattr(self, "export_dialog", None))
        self.export_dialog = box
        box.open()
        self.exported.emit(result)

    def _on_export_failed(self, error: JobError) -> None:
        self._set_run_controls(running=False)
        if error.kind == ErrorKind.CANCELLED:
            self.job_status.job_ended("Export cancelled: nothing was written")
            return
        self.job_status.job_ended("The export failed")
        self.show_error(error)

    def export_report_dialog(self) -> None:
        if self.outcome is None:
            return
        suggested = os.path.join(self._model_dir(), f"{self._model_stem()}.litesmith-report.html")
        path, _ = QFileDialog.getSaveFileName(self, "Export Report", suggested, "HTML report (*.html)")
        if path:
            if not path.lower().endswith((".html", ".htm")):
                path += ".html"
            self.export_report(path)

    def export_report(self, path: str | os.PathLike) -> tuple[str, str] | None:
        """Write the comparison as HTML (charts embedded) and JSON beside it; (html, json) or None."""
        from gui.report import write_report

        path = os.path.abspath(os.fspath(path))
        if self.outcome is None:
            return None
        json_path = os.path.splitext(path)[0] + ".json"
        if self._is_input(path) or self._is_input(json_path):
            self.show_error(JobError(ErrorKind.BAD_INPUT, "refusing to write over the input model", path=path))
            return None
        try:
            written = write_report(self.outcome, self.results_panel, path, json_path)
        except Exception as exc:  # noqa: BLE001 - a full disk or a read-only folder: say so, stay usable
            log.exception("could not write the report")
            self.show_error(JobError(ErrorKind.BAD_INPUT, f"cannot write the report: {exc}", path=path))
            return None
        self.job_status.label.setText(f"Wrote {os.path.basename(written[0])} and {os.path.basename(written[1])}")
        return written

    # -- dialogs ------------------------------------------------------------------

    def show_error(self, error: JobError) -> QMessageBox:
        """The error dialog: `error.one_line()`, a hint, and the details folded away. Non-blocking."""
        if self.error_dialog is not None:
            self.error_dialog.close()
        box = QMessageBox(self)
        box.setObjectName("errorDialog")
        serious = error.kind in (ErrorKind.INTERNAL, ErrorKind.CRASHED)
        box.setIcon(QMessageBox.Icon.Critical if serious else QMessageBox.Icon.Warning)
        box.setWindowTitle(f"{ERROR_TITLES.get(error.kind, 'Error')} — {APP_TITLE}")
        box.setText(error.one_line())
        box.setInformativeText(ERROR_HINTS.get(error.kind, ""))
        details = [f"Kind: {error.kind}"]
        if error.path:
            details.append(f"Path: {error.path}")
        if error.details.strip():
            details += ["", error.details.strip()]
        box.setDetailedText("\n".join(details))
        box.setStandardButtons(QMessageBox.StandardButton.Ok)
        self.custom_code.offer_in(box, error)   # an unknown class: "Load Custom Layer Code…"
        if hint := app_hint(error.message):      # a CLI flag in the core's message: where the app sets it
            box.setInformativeText("\n\n".join(t for t in (box.informativeText(), hint) if t))
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _result, b=box: self._forget_error_dialog(b))
        self.error_dialog = box
        box.open()
        return box

    def _forget_error_dialog(self, box: QMessageBox) -> None:
        if self.error_dialog is box:
            self.error_dialog = None

    def show_about(self) -> QMessageBox:
        if self.about_dialog is not None:
            self.about_dialog.raise_()
            return self.about_dialog
        box = QMessageBox(self)
        box.setObjectName("aboutDialog")
        box.setWindowTitle(f"About {APP_TITLE}")
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(about_html())
        box.setDetailedText(about_text())
        icon = QApplication.windowIcon()
        if icon.isNull():
            box.setIcon(QMessageBox.Icon.Information)
        else:
            box.setIconPixmap(icon.pixmap(64, 64))
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _result: setattr(self, "about_dialog", None))
        self.about_dialog = box
        box.open()
        return box

    # -- drag and drop --------------------------------------------------------------

    @staticmethod
    def dropped_paths(mime) -> list[str]:
        if not mime.hasUrls():
            return []
        return [url.toLocalFile() for url in mime.urls() if isinstance(url, QUrl) and url.isLocalFile()]

    def _accepts(self, path: str) -> bool:
        return is_model_path(path) or (self.model_info is not None and is_data_file(path))

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        if any(self._accepts(p) for p in self.dropped_paths(event.mimeData())):
            event.acceptProposedAction()
            self.empty_state.set_drag_active(True)
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        if any(self._accepts(p) for p in self.dropped_paths(event.mimeData())):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragLeaveEvent(self, event) -> None:  # noqa: N802
        self.empty_state.set_drag_active(False)
        event.accept()

    def dropEvent(self, event) -> None:  # noqa: N802
        self.empty_state.set_drag_active(False)
        dropped = self.dropped_paths(event.mimeData())
        data = [p for p in dropped if self.model_info is not None and is_data_file(p)]
        paths = [p for p in dropped if is_model_path(p)]
        if data and not paths:
            event.acceptProposedAction()
            self.recipe_panel.set_data_path(data[0])
            self.job_status.label.setText(f"Data: {os.path.basename(data[0])}")
            return
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        if self.load_model(paths[0]) and len(paths) > 1:
            self.job_status.label.setText(
                f"Opening {os.path.basename(os.path.normpath(paths[0]))}: one model at a time "
                f"({len(paths) - 1} other dropped item(s) ignored)")

    # -- state and shutdown -----------------------------------------------------------

    def _restore_geometry(self) -> None:
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self.settings.value("window/state")
        if state is not None:
            self._restored_state = bool(self.restoreState(state))
            self.recipe_dock.setVisible(False)  # until a model is open

    def save_state(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.sync()

    def shutdown(self) -> None:
        """Stop the running job, wait for its thread, close the engine (if owned). Idempotent."""
        if self._shut_down:
            return
        self._shut_down = True
        if self.remember_geometry:
            self.save_state()
            try:
                self.save_recipe(self.recipe_panel.settings())  # what the user set up, even without a run
            except ValueError:
                pass  # a field that does not parse: keep the last good recipe
        self.runner.shutdown()
        if self.owns_engine:
            self.engine.close()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self.runner.busy and not self._background_job and not self._shut_down and not self._close_confirmed:
            event.ignore()          # a user's job runs: ask first (the answer closes, or keeps it running)
            self._ask_before_closing()
            return
        self.shutdown()
        super().closeEvent(event)

    def _ask_before_closing(self) -> None:
        """Closing during a run: a window-modal question that does not block the event loop.

        "Stop and Quit" cancels the job cleanly (`shutdown`: cancel, wait, the engine kills a child
        that does not stop within its grace period) and closes; "Keep Running" (the default) keeps both.
        A stop signal or the end of the desktop session never asks (gui.app shuts down first).
        """
        if self.close_dialog is not None:
            self.close_dialog.raise_()
            return
        box = QMessageBox(QMessageBox.Icon.Question, APP_TITLE, "A job is running. Stop it and quit?", parent=self)
        box.setInformativeText(f"{self.job_status.label.text()}\nStopping cancels it cleanly: nothing half-written "
                               "is kept.")
        box.stop_button = box.addButton("Stop and Quit", QMessageBox.ButtonRole.AcceptRole)
        box.keep_button = box.addButton("Keep Running", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(box.keep_button)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.finished.connect(lambda _result: self._closing_answered(box.clickedButton() is box.stop_button))
        self.close_dialog = box
        box.open()

    def _closing_answered(self, stop: bool) -> None:
        self.close_dialog = None
        if stop:
            self._close_confirmed = True
            self.close()
