"""Starting the desktop app: `launch(model=None, screenshot=None, run=False) -> int`.

One `core.engine.Engine` serves the whole app; it starts warming up (its child
process imports TensorFlow) in a background thread as soon as the window exists,
and is closed when the app quits.

With `screenshot`, the window is rendered to that PNG once `model` has loaded (or
failed to), or right away without a model. With `run` as well, the recipe (the
last used one, else the defaults) runs on the model first, and the screenshot
shows its results (or the error dialog). The app exits with 0, or, when the window
showed an error meanwhile (a model that did not load, a run that could not start
or failed), writes it as one line on stderr and exits with its documented code (2
for input sizes the run needs, 3 for a bad model, ...).

Stopping: closing the window, File > Quit (Ctrl+Q) and the end of the desktop
session cancel the running job and wait while the engine gives it its grace period
(then kills its child); SIGINT (Ctrl+C in the terminal), SIGTERM (`kill`, systemd,
a logout) and SIGHUP (the terminal closed) do the same through `StopOnSignal`, and
the app then exits 128 + the signal's number (130, 143, 129). An unexpected
exception stops the running job too (`gui.crash`). However the app ends, the
engine's child goes with it (`core.engine.lifeline`).
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, cast

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QPainter, QPixmap
from PySide6.QtWidgets import QApplication

from core.engine import Engine
from core.errors import ErrorKind, ExitCode, JobError
import gui.pyside_fixes  # noqa: F401 - PySide6 6.12 emit() bug: must be fixed before any emit
from gui.crash import install_crash_handler, setup_logging
from gui.main_window import MainWindow
from gui.resources import app_icon
from gui.settings import APP_NAME, ORG_NAME, open_settings

if TYPE_CHECKING:
    from types import FrameType

log = logging.getLogger("litesmith.gui")

SCREENSHOT_TIMEOUT_MS = 5 * 60 * 1000
SCREENSHOT_SETTLE_MS = 300
SIGNAL_TICK_MS = 200  # how often Python gets to run its signal handlers while Qt's event loop runs
STOP_SIGNAL_NAMES = ("SIGINT", "SIGTERM", "SIGHUP")


class StopOnSignal:
    """SIGINT, SIGTERM and SIGHUP quit the app the way File > Quit does, then exit 128 + N.

    The handler only records the signal and schedules the quit: it runs between two
    Python bytecodes of whatever the GUI thread was doing. Quitting closes the window
    (its `shutdown` cancels the job and waits for it, the engine killing the child
    after its grace period) and leaves every event loop, modal dialogs' included.
    A signal ignored when the app started (``nohup``) stays ignored.
    """

    def __init__(self, app: QApplication, window: MainWindow) -> None:
        self.app, self.window = app, window
        self.signum: int | None = None
        # signum -> the handler `signal.signal` returned (typeshed's private `signal._HANDLER`)
        self._previous: dict[int, Callable[[int, FrameType | None], Any] | int | signal.Handlers | None] = {}
        self._ticker = QTimer()
        self._ticker.timeout.connect(lambda: None)  # gives Python a chance to run its handlers

    def install(self) -> "StopOnSignal":
        """Install the handlers and start the ticker; returns self.

        Only from the main thread (elsewhere Python refuses and nothing is installed); a signal
        ignored when the app started stays ignored.
        """
        for name in STOP_SIGNAL_NAMES:
            signum = getattr(signal, name, None)
            if signum is None:
                continue
            try:
                if signal.getsignal(signum) == signal.SIG_IGN:
                    continue
                self._previous[signum] = signal.signal(signum, self._on_signal)
            except (ValueError, OSError):  # not the main thread
                continue
        self._ticker.start(SIGNAL_TICK_MS)
        return self

    def restore(self) -> None:
        """Stop the ticker and put back the handlers `install` replaced."""
        self._ticker.stop()
        for signum, handler in self._previous.items():
            try:
                signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
            except (ValueError, OSError):
                pass
        self._previous.clear()

    @property
    def exit_code(self) -> int | None:
        """128 + the number of the stop signal that came (130, 143, 129), or None when none came."""
        from core.errors import stop_exit_code

        return None if self.signum is None else stop_exit_code(self.signum)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.signum is not None:
            return  # already quitting
        self.signum = signum
        log.warning("received %s: cancelling the running job and quitting", signal.Signals(signum).name)
        QTimer.singleShot(0, self.quit)

    def quit(self) -> None:
        """Shut the window down (cancel and wait for the job, close the engine), close it and leave the event loop with
        `exit_code` (0 when None).
        """
        self.window.shutdown()  # cancels the job, waits for it, closes the engine: a signal never asks
        self.window.close()
        self.app.exit(self.exit_code or 0)


def make_application() -> QApplication:
    """The app's QApplication (the existing one, else a new one) with its name, organisation, version, icon and desktop
    file name.
    """
    # instance() is typed QCoreApplication; this app only ever makes a QApplication
    app = cast(QApplication, QApplication.instance() or QApplication(sys.argv[:1]))
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(ORG_NAME)
    app.setApplicationVersion(_version())
    app.setWindowIcon(app_icon())
    app.setDesktopFileName("litesmith")  # matches packaging/litesmith.desktop (Wayland/taskbar icon)
    return app


def _version() -> str:
    from core import __version__

    return __version__


class ScreenshotTaker:
    """Saves the window (with the error dialog it shows, if any) to `path` once it is ready, then quits the app.

    `failure` is the first error the window showed meanwhile (a model that did not load, a run that could
    not start or failed), or an OUTPUT error when the PNG could not be written; `exit_code` follows it.
    """

    def __init__(self, window: MainWindow, path: str, wait_for_load: bool, run: bool = False) -> None:
        self.window = window
        self.path = Path(path)
        self.saved = False
        self.failure: JobError | None = None
        window.error_shown.connect(self._record)
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

    @property
    def exit_code(self) -> int:
        """0 when the screenshot was saved and the window showed no error; else the error's documented code."""
        if self.failure is not None:
            return self.failure.exit_code
        return 0 if self.saved else int(ExitCode.INTERNAL)  # timed out before the window was ready

    def _record(self, error: JobError) -> None:
        if self.failure is None and error.kind != ErrorKind.CANCELLED:
            self.failure = error

    def _run(self, *_args: object) -> None:
        if not self.window.start_run():
            self._soon()

    def _soon(self, *_args: object) -> None:
        QTimer.singleShot(SCREENSHOT_SETTLE_MS, self._take)

    def _take(self) -> None:
        if self.saved:
            return
        self.saved = True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self._grab().save(str(self.path)):
            log.error("could not write the screenshot to %s", self.path)
            self.failure = JobError(ErrorKind.OUTPUT, "could not write the screenshot", path=str(self.path))
        self.window.shutdown()  # a script's quit never asks (a job still running is cancelled)
        self.window.close()
        QApplication.quit()

    def _grab(self) -> QPixmap:
        """The window, with its open dialog (a separate top-level window) drawn over its middle."""
        shot = self.window.grab()
        dialog = self.window.error_dialog
        if dialog is not None and dialog.isVisible():
            image = dialog.grab()
            painter = QPainter(shot)
            painter.drawPixmap(
                (self.window.width() - dialog.width()) // 2, (self.window.height() - dialog.height()) // 2, image
            )
            painter.end()
        return shot


def launch(model: str | None = None, screenshot: str | None = None, run: bool = False) -> int:
    """Open the main window (optionally on `model`); returns the process exit code."""
    app = make_application()
    log_file = setup_logging()
    reporter = install_crash_handler(log_file)
    if run and screenshot is None:
        log.warning("--run only applies with --screenshot")

    engine = Engine()
    window = MainWindow(engine, open_settings(), remember_geometry=screenshot is None)
    app.aboutToQuit.connect(window.shutdown)
    reporter.stop_hooks.append(window.runner.cancel)  # an unexpected exception stops the running job
    connect_session_end(app, window)
    stopper = StopOnSignal(app, window).install()

    taker = ScreenshotTaker(window, screenshot, wait_for_load=model is not None, run=run) if screenshot else None
    window.show()
    if model:
        if not window.load_model(model) and taker is not None:
            taker._soon()  # nothing to wait for: the error dialog is already up
    try:
        code = app.exec()
    finally:
        stopper.restore()
        if window.runner.cancel in reporter.stop_hooks:
            reporter.stop_hooks.remove(window.runner.cancel)
        window.shutdown()
        engine.close()
    if stopper.exit_code is not None:
        return stopper.exit_code
    if taker is not None:
        if taker.failure is not None:  # a script's one line, as the command line writes it
            print(f"error: {taker.failure.one_line()}", file=sys.stderr)
        return taker.exit_code
    return int(code)


def connect_session_end(app: QApplication, window: MainWindow) -> None:
    """Logging out: when the session manager asks the app to save its work, cancel the running job.

    Direct connection (Qt's advice): the session manager waits for the answer. The job
    gets its grace period; the window and its state are saved by `shutdown` when the
    app then quits (if the logout goes on).
    """
    request = getattr(app, "commitDataRequest", None)
    if request is None:  # Qt built without session management
        return
    request.connect(lambda _manager: stop_job_for_session_end(window), Qt.ConnectionType.DirectConnection)


def stop_job_for_session_end(window: MainWindow) -> bool:
    """Cancel the running job and wait for it (grace period, then the child is killed); True if one ran."""
    if not window.runner.busy:
        return False
    log.warning("the desktop session is ending: cancelling the running job")
    window.runner.stop_job()
    return True
