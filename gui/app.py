"""Starting the desktop app: `launch(model=None, screenshot=None, run=False) -> int`.

One `core.engine.Engine` serves the whole app; it starts warming up (its child
process imports TensorFlow) in a background thread as soon as the window exists,
and is closed when the app quits.

With `screenshot`, the window is rendered to that PNG once `model` has loaded (or
failed to), or right away without a model, and the app exits with 0. With `run`
as well, the recipe (the last used one, else the defaults) runs on the model
first, and the screenshot shows its results (or the error).
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from core.engine import Engine
import gui.pyside_fixes  # noqa: F401 - PySide6 6.12 emit() bug: must be fixed before any emit
from gui.crash import install_crash_handler, setup_logging
from gui.main_window import MainWindow
from gui.resources import app_icon
from gui.settings import APP_NAME, ORG_NAME, open_settings

log = logging.getLogger("litesmith.gui")

SCREENSHOT_TIMEOUT_MS = 5 * 60 * 1000
SCREENSHOT_SETTLE_MS = 300


def make_application() -> QApplication:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(ORG_NAME)
    app.setApplicationVersion(_version())
    app.setWindowIcon(app_icon())
    app.setDesktopFileName("litesmith")  # matches packaging/litesmith.desktop (Wayland/taskbar icon)
    return app  # type: ignore[return-value]


def _version() -> str:
    from core import __version__

    return __version__


class ScreenshotTaker:
    """Saves `window.grab()` to `path` once the window is ready, then quits the app."""

    def __init__(self, window: MainWindow, path: str, wait_for_load: bool, run: bool = False) -> None:
        self.window = window
        self.path = Path(path)
        self.saved = False
        if wait_for_load and run:
            window.model_loaded.connect(self._run)
            window.load_failed.connect(self._soon)
            window.run_finished.connect(self._soon)
            window.run_failed.connect(self._soon)
            window.run_cancelled.connect(self._soon)
            QTimer.singleShot(SCREENSHOT_TIMEOUT_MS, self._take)
        elif wait_for_load:
            window.model_loaded.connect(self._soon)
            window.load_failed.connect(self._soon)
            QTimer.singleShot(SCREENSHOT_TIMEOUT_MS, self._take)  # never hang a script
        else:
            self._soon()

    def _run(self, *_args) -> None:
        if not self.window.start_run():
            self._soon()

    def _soon(self, *_args) -> None:
        QTimer.singleShot(SCREENSHOT_SETTLE_MS, self._take)

    def _take(self) -> None:
        if self.saved:
            return
        self.saved = True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.window.grab().save(str(self.path)):
            log.error("could not write the screenshot to %s", self.path)
        self.window.close()
        QApplication.quit()


def launch(model: str | None = None, screenshot: str | None = None, run: bool = False) -> int:
    """Open the main window (optionally on `model`); returns the process exit code."""
    app = make_application()
    log_file = setup_logging()
    install_crash_handler(log_file)
    if run and screenshot is None:
        log.warning("--run only applies with --screenshot")

    engine = Engine()
    window = MainWindow(engine, open_settings(), remember_geometry=screenshot is None)
    app.aboutToQuit.connect(window.shutdown)

    # Ctrl+C in the terminal closes the window cleanly; the timer lets Python see the signal.
    signal.signal(signal.SIGINT, lambda *_: window.close())
    ticker = QTimer()
    ticker.start(250)
    ticker.timeout.connect(lambda: None)

    taker = ScreenshotTaker(window, screenshot, wait_for_load=model is not None, run=run) if screenshot else None
    window.show()
    if model:
        if not window.load_model(model) and taker is not None:
            taker._soon()  # nothing to wait for: the error dialog is already up
    try:
        code = app.exec()
    finally:
        window.shutdown()
        engine.close()
    if taker is not None:
        return 0 if taker.saved else 1
    return int(code)
