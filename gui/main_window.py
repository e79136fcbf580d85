"""The main window: it composes the panels and its parts, and opens models.

The window composes panels (`gui.panels`) and drives the engine only through its
`JobRunner` (`gui.workers`), one job at a time. It never imports TensorFlow. Its parts:

- `gui.window_actions`: the actions and menus (File with Recent Files, Run, Tools, Help);
- `gui.job_controller.WindowJobs`: Run (Ctrl+R, `gui.workflow.RunController`) and Auto
  (Ctrl+Shift+R, `gui.auto.AutoController`), and the one queue of jobs asked for while the
  background device detection runs (`gui.job_queue.DeferredJobs`), and the status bar's job indicator;
- `gui.export_controller.ExportController`: Export Variant… and Export Report…;
- `gui.device_view.DeviceView`: the one-off device detection, Devices…, CPU vs GPU;
- `gui.window_dialogs`: the error, About, Clear Cache… and "quit during a job?" boxes;
- `gui.window_drop.DropTarget`: dropping a model or a data file on the window;
- `gui.window_life.WindowLife`: what the window remembers between sessions, and closing.

Layout: the empty state until a model is open, then tabs (Model, Live, Results, Serving)
and the recipe panel docked on the right. Devices are detected once, in the background,
right after the first model has loaded; an action asked for meanwhile (Run, opening
another model, an export) starts as soon as the detection ends.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, Literal

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMenu, QMessageBox, QStackedWidget, QTabWidget, QWidget

from core.data.companions import Companions, find_companions
from core.engine import Engine
from core.errors import ErrorKind, JobError
import gui.pyside_fixes  # noqa: F401 - PySide6 6.12 emit() bug: must be fixed before any emit
from gui import window_dialogs
from gui.custom_code import CustomCode
from gui.device_view import DeviceView, default_device_job
from gui.export_controller import ExportController
from gui.job_controller import WindowJobs
from gui.panels.empty_state import EmptyState
from gui.panels.model_panel import ModelPanel
from gui.panels.recipe_panel import RecipePanel
from gui.panels.results_panel import ResultsPanel
from gui.recent_files import RecentFiles
from gui.recipe import RunSettings
from gui.recipe_files import RecipeFiles
from gui.settings import open_settings
from gui.widgets.job_status import JobStatus
from gui.widgets.live_plot import LivePlot
from gui.window_actions import create_actions, create_menus, rebuild_recent_menu
from gui.window_dialogs import APP_TITLE
from gui.window_drop import DropTarget
from gui.window_life import WindowLife
from gui.workers import JobRunner

log = logging.getLogger("litesmith.gui")

DEFAULT_SIZE = (1180, 760)
DOCK_WIDTH = 326


def default_inspect_job() -> Callable[..., Any]:
    """`core.models.inspection.inspect_model` (imported here: the engine's child does the work)."""
    from core.models.inspection import inspect_model

    return inspect_model


class MainWindow(DropTarget, WindowLife, QMainWindow):
    """Litesmith's main window.

    Signals: ``model_loaded(info: ModelInfo)`` and ``load_failed(error: JobError)``
    after each `load_model`, once the job's thread is cleaned up.

    Run signals: ``run_finished(outcome: RunOutcome)``, ``run_failed(error)``,
    ``run_cancelled()``; ``auto_finished(result)``, ``auto_failed(error)``; ``exported(result)``
    after "Export variant", ``report_exported(html path, json path)`` after "Export Report",
    ``devices_detected(report or None)``, ``cache_cleared(entries)``; ``error_shown(error: JobError)`` for
    every error the window puts in front of the user (its dialog, or the input sizes it asks for).

    `engine` is closed when the window closes if `owns_engine`. `inspect_job`
    replaces `core.models.inspection.inspect_model` (tests); `device_job()`
    returns what replaces `core.hardware.detect_devices` (None: no detection, "CPU only").
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
    report_exported = Signal(str, str)
    error_shown = Signal(object)

    # Some of the actions and menus gui.window_actions makes: those read here and by the parts that add
    # their own beside them (gui.custom_code, gui.recipe_files, gui.serving.tab).
    open_action: QAction
    open_folder_action: QAction
    quit_action: QAction
    run_action: QAction
    auto_action: QAction
    export_variant_action: QAction
    export_report_action: QAction
    file_menu: QMenu
    recent_menu: QMenu
    run_menu: QMenu

    def __init__(
        self,
        engine: Engine,
        settings: QSettings | None = None,
        *,
        owns_engine: bool = True,
        inspect_job: Callable[..., Any] | None = None,
        remember_geometry: bool = True,
        warm_up: bool = True,
        device_job: Callable[[], Callable[..., Any]] | Literal["default"] | None = "default",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.engine = engine
        self.settings = settings if settings is not None else open_settings()
        self.owns_engine = owns_engine
        self.remember_geometry = remember_geometry
        self._inspect_job = inspect_job
        self._shut_down = False
        self.model_info = None
        self.error_dialog: QMessageBox | None = None
        self.close_dialog: QMessageBox | None = None  # "A job is running. Stop it and quit?" while open
        self._close_confirmed = False
        self.about_dialog: QMessageBox | None = None
        self.recent = RecentFiles(self.settings)
        # What the window holds (its parts and the Serving tab read these):
        self.outcome = None  # gui.workflow.RunOutcome of the last Run
        self.auto_result = None  # core.auto.AutoResult of the last auto search
        self.auto_settings: RunSettings | None = None
        self.device_report = None
        self.devices_dialog = None
        self.cache_dialog: QMessageBox | None = None
        self.export_dialog: QMessageBox | None = None
        self._restored_state = False
        self._pages_warmed = False

        self.setWindowTitle(APP_TITLE)
        self.setAcceptDrops(True)

        self.runner = JobRunner(engine, self)
        create_actions(self)
        create_menus(self)
        self.custom_code = CustomCode(self)  # File > Load Custom Layer Code…, remembered per model, given to jobs

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
        self.recipe_dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.recipe_dock.setMinimumWidth(300)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.recipe_dock)
        self.resizeDocks([self.recipe_dock], [DOCK_WIDTH], Qt.Orientation.Horizontal)
        self.recipe_dock.setVisible(False)

        self.job_status = JobStatus()
        self.device_view = DeviceView(self, default_device_job if device_job == "default" else device_job)
        self.jobs = WindowJobs(self)
        self.run_controller = self.jobs.run_controller
        self.auto_controller = self.jobs.auto_controller
        self.exports = ExportController(self)
        # The recipe panel's "Model outputs" box follows the open model, then the engine's own names and tasks.
        self.model_loaded.connect(self.recipe_panel.set_model_info)
        self.run_finished.connect(lambda outcome: self.recipe_panel.set_source(outcome.optimize.source))
        self.auto_finished.connect(lambda result: self.recipe_panel.set_source(result.source))

        self.statusBar().addPermanentWidget(self.job_status, 1)
        self.statusBar().setSizeGripEnabled(True)

        self.jobs.follow_runner()  # the status bar's job indicator: progress, engine warnings, Cancel
        from gui.serving.tab import install as install_serving  # the Serving tab and "Test under load…"

        self.serving = install_serving(self)
        self.recipe_files = RecipeFiles(self)  # File > Open Recipe… / Save Recipe… (the CLI's --recipe files)

        self.resize(*DEFAULT_SIZE)
        if remember_geometry:
            self._restore_geometry()
        self._warm_up_enabled = warm_up
        if warm_up:
            self.runner.warm_up()

    # -- what the parts do, under the names the app and the tests use ----------------------------

    def start_run(self) -> bool:
        """Run the recipe panel's recipe on the open model (`WindowJobs.start_run`); False when it cannot start."""
        return self.jobs.start_run()

    def start_auto(self) -> bool:
        """Search for the fastest variant within the budget (`WindowJobs.start_auto`); False when it cannot start."""
        return self.jobs.start_auto()

    def _set_run_controls(self, running: bool) -> None:
        self.jobs.set_run_controls(running)

    def _job_controls_busy(self) -> bool:
        return self.jobs.controls_busy()

    @property
    def _pending(self) -> Callable[[], Any] | None:
        """The deferred job that starts next (None: nothing waits for the background job)."""
        return self.jobs.queue.next_job()

    @property
    def _background_job(self) -> bool:
        """True while the running job is the background device detection."""
        return self.jobs.queue.background

    @property
    def _devices_state(self) -> str:
        """The device detection: "pending", "running" or "done"."""
        return self.device_view.state

    def _on_devices(self, report: Any, error: JobError | None = None) -> None:
        self.device_view.on_devices(report, error)

    def show_devices(self) -> Any:
        """Tools/Help > Devices… (`DeviceView.show_devices`): the dialog, opened or raised."""
        return self.device_view.show_devices()

    def measure_crossover(self) -> bool:
        """The results' CPU vs GPU measurement on the open model (`DeviceView.measure_crossover`)."""
        return self.device_view.measure_crossover()

    def default_export_variant(self) -> str | None:
        """The variant Export Variant… suggests (`ExportController.default_export_variant`)."""
        return self.exports.default_export_variant()

    def export_variant_dialog(self) -> None:
        """Run > Export Variant… (`ExportController.export_variant_dialog`): ask where, then export."""
        self.exports.export_variant_dialog()

    def export_variant(self, name: str, path: str | os.PathLike) -> bool:
        """Write variant `name` to `path` with its report, in the engine (`ExportController.export_variant`)."""
        return self.exports.export_variant(name, path)

    def export_report_dialog(self) -> None:
        """Run > Export Report… (`ExportController.export_report_dialog`): ask where, then write the report."""
        self.exports.export_report_dialog()

    def export_report(self, path: str | os.PathLike) -> bool:
        """Write the comparison as HTML and JSON in a worker (`ExportController.export_report`): False when it
        cannot start; ``report_exported`` when both files are written."""
        return self.exports.export_report(path)

    def show_error(self, error: JobError) -> QMessageBox:
        """The error dialog: `error.one_line()`, a hint, and the details folded away. Non-blocking."""
        box = window_dialogs.show_error(self, error)
        self.error_shown.emit(error)
        return box

    def _forget_error_dialog(self, box: QMessageBox) -> None:
        if self.error_dialog is box:
            self.error_dialog = None

    def show_about(self) -> QMessageBox:
        """Help > About Litesmith."""
        return window_dialogs.show_about(self)

    def clear_cache_dialog(self) -> None:
        """Tools > Clear Cache…: what the cache holds (listed in a worker), then a confirmation
        (``cache_dialog``). Non-blocking."""
        window_dialogs.clear_cache_dialog(self)

    def clear_cache(self) -> None:
        """Delete every cache entry in a worker; then says how many and how much space was freed
        (``cache_cleared``)."""
        window_dialogs.clear_cache(self)

    # -- files and menus ----------------------------------------------------------------------------

    def current_page(self) -> QWidget | None:
        """What the window shows: the empty state, or the workspace's current tab."""
        page = self.stack.currentWidget()
        return self.workspace.currentWidget() if page is self.workspace else page

    def _rebuild_recent_menu(self) -> None:
        rebuild_recent_menu(self)

    def recent_menu_paths(self) -> list[str]:
        """The paths File > Recent Files lists (rebuilt first)."""
        rebuild_recent_menu(self)
        return [a.data() for a in self.recent_menu.actions() if a.data()]

    # -- loading a model ----------------------------------------------------------------------------

    def load_model(self, path: str | os.PathLike) -> bool:
        """Inspect `path` in the engine; False when another job runs or the path is missing.

        Asked for during the background device detection, it is queued (True) and starts after it.
        """
        path = os.path.abspath(os.fspath(path))
        name = os.path.basename(os.path.normpath(path))
        if self.runner.busy:  # after the device detection (seconds), else refused
            return self.jobs.when_idle(("load", path), lambda: self.load_model(path), f"Opening {name} next…")
        if not os.path.exists(path):
            self.recent.remove(path)
            rebuild_recent_menu(self)
            self.show_error(JobError(ErrorKind.BAD_INPUT, "no such file or folder", path=path))
            return False
        try:
            job = self._inspect_job or default_inspect_job()
        except ImportError as exc:
            self.show_error(JobError(ErrorKind.INTERNAL, f"model inspection is not available: {exc}", path=path))
            return False
        started = self.runner.submit(
            job,
            path,
            subject=path,
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
        if companions is not None:  # data named after this model, or none (another model's offer goes)
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
            self.jobs.clear_results()
        name = os.path.basename(os.path.normpath(info.path)) or info.path
        self.setWindowTitle(f"{name} — {APP_TITLE}")
        self.recent.add(path)
        rebuild_recent_menu(self)
        seconds = getattr(result, "seconds", 0.0)
        self.job_status.job_ended(f"Opened {name}" + (f" in {seconds:.1f} s" if seconds else ""))
        self.device_view.detect()  # the first time: now, before what the model_loaded handlers start (Run waits)
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

    def _warm_pages(self) -> None:
        """Render the Live and Results pages once while the user reads the model: their first paint
        (style polish, layouts, plot set-up) then does not land in the middle of a run."""
        for page in (self.live_plot, self.results_panel):
            if not page.isVisible():
                page.grab()

    # -- the status bar's job indicator ---------------------------------------------------------------

    def _cancel_from_shortcut(self) -> None:
        if self.job_status.cancel_button.isEnabled():
            self.job_status.cancel_button.click()  # same path as the button: shows "Cancelling…"
