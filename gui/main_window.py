"""The main window: menus, drag and drop, the panels, and the status bar's job indicator.

The window composes panels (`gui.panels`) and drives the engine only through its
`JobRunner` (`gui.workers`), one job at a time. It never imports TensorFlow.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable

from PySide6.QtCore import QSettings, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QApplication, QFileDialog, QMainWindow, QMessageBox, QStackedWidget, QWidget

from core.engine import Engine
from core.errors import ErrorKind, JobError
import gui.pyside_fixes  # noqa: F401 - PySide6 6.12 emit() bug: must be fixed before any emit
from gui.about import about_html, about_text
from gui.panels.empty_state import EmptyState
from gui.panels.model_panel import ModelPanel
from gui.recent_files import RecentFiles
from gui.settings import open_settings
from gui.widgets.job_status import JobStatus
from gui.workers import JobRunner

log = logging.getLogger("litesmith.gui")

APP_TITLE = "Litesmith"
MODEL_SUFFIXES = (".keras", ".h5", ".hdf5", ".tflite")
FILE_FILTER = "Models (*.keras *.h5 *.hdf5 *.tflite);;All files (*)"
DEFAULT_SIZE = (1180, 760)

ERROR_TITLES = {
    ErrorKind.BAD_INPUT: "Cannot open this model",
    ErrorKind.CONVERSION: "Conversion failed",
    ErrorKind.CRASHED: "The model engine crashed",
    ErrorKind.OUT_OF_MEMORY: "Out of memory",
    ErrorKind.INTERNAL: "Unexpected error",
}
ERROR_HINTS = {
    ErrorKind.BAD_INPUT: "Litesmith opens .keras, .h5 and .tflite files and SavedModel folders. "
                         "Check that the file is complete and really is one of these.",
    ErrorKind.CRASHED: "Only the engine process stopped; the next job starts a fresh one.",
    ErrorKind.OUT_OF_MEMORY: "The engine process was stopped; the next job starts a fresh one.",
    ErrorKind.INTERNAL: "This looks like a bug in Litesmith; the details help to report it.",
}


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

    `engine` is closed when the window closes if `owns_engine`. `inspect_job`
    replaces `core.models.inspection.inspect_model` (tests).
    """

    model_loaded = Signal(object)
    load_failed = Signal(object)

    def __init__(self, engine: Engine, settings: QSettings | None = None, *, owns_engine: bool = True,
                 inspect_job: Callable[..., Any] | None = None, remember_geometry: bool = True,
                 warm_up: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.settings = settings if settings is not None else open_settings()
        self.owns_engine = owns_engine
        self.remember_geometry = remember_geometry
        self._inspect_job = inspect_job
        self._shut_down = False
        self.model_info = None
        self.error_dialog: QMessageBox | None = None
        self.about_dialog: QMessageBox | None = None
        self.recent = RecentFiles(self.settings)

        self.setWindowTitle(APP_TITLE)
        self.setAcceptDrops(True)

        self.runner = JobRunner(engine, self)
        self._create_actions()
        self._create_menus()

        self.empty_state = EmptyState(self.open_action, self.open_folder_action)
        self.model_panel = ModelPanel()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty_state)
        self.stack.addWidget(self.model_panel)
        self.setCentralWidget(self.stack)

        self.job_status = JobStatus()
        self.statusBar().addPermanentWidget(self.job_status, 1)
        self.statusBar().setSizeGripEnabled(True)

        self.runner.busy_changed.connect(self._on_busy_changed)
        self.runner.started.connect(self._on_job_started)
        self.runner.progress.connect(self.job_status.set_progress)
        self.runner.log.connect(self._on_job_log)
        self.job_status.cancel_requested.connect(self.runner.cancel)

        self.resize(*DEFAULT_SIZE)
        if remember_geometry:
            self._restore_geometry()
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
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(self.about_action)
        self.file_menu, self.help_menu = file_menu, help_menu
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
            on_finished=lambda result: self._on_model_loaded(path, result),
            on_failed=lambda error: self._on_load_failed(path, error),
        )
        if started:
            self.job_status.job_started(f"Opening {name}…")
        return started

    def _on_model_loaded(self, path: str, result: Any) -> None:
        info = getattr(result, "info", result)
        self.model_info = info
        self.model_panel.set_info(info)
        self.stack.setCurrentWidget(self.model_panel)
        name = os.path.basename(os.path.normpath(info.path)) or info.path
        self.setWindowTitle(f"{name} — {APP_TITLE}")
        self.recent.add(path)
        self._rebuild_recent_menu()
        seconds = getattr(result, "seconds", 0.0)
        self.job_status.job_ended(f"Opened {name}" + (f" in {seconds:.1f} s" if seconds else ""))
        self.model_loaded.emit(info)

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

    def _on_job_log(self, level: str, message: str) -> None:
        log.log(logging.WARNING if level in ("warning", "error") else logging.INFO, "engine: %s", message)
        if level in ("warning", "error"):
            self.job_status.label.setText(message)

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

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        if any(is_model_path(p) for p in self.dropped_paths(event.mimeData())):
            event.acceptProposedAction()
            self.empty_state.set_drag_active(True)
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        if any(is_model_path(p) for p in self.dropped_paths(event.mimeData())):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragLeaveEvent(self, event) -> None:  # noqa: N802
        self.empty_state.set_drag_active(False)
        event.accept()

    def dropEvent(self, event) -> None:  # noqa: N802
        self.empty_state.set_drag_active(False)
        paths = [p for p in self.dropped_paths(event.mimeData()) if is_model_path(p)]
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
            self.restoreState(state)

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
        self.runner.shutdown()
        if self.owns_engine:
            self.engine.close()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.shutdown()
        super().closeEvent(event)
