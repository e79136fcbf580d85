"""The last line of defence: unexpected exceptions are logged and shown, never fatal.

`install_crash_handler()` enables `faulthandler` (a native crash still prints the
Python stacks), sets `sys.excepthook` and `threading.excepthook` so an exception
in a slot or a thread is written to the log and reported in an error dialog, and
the app keeps running.

An unexpected exception also stops the running job (`CrashReporter.stop_hooks`: the
window's runner cancels it, and the engine kills the child after its grace period):
after a bug, nothing says the job's state is sound, and a multi-gigabyte TensorFlow
child must not go on alone. The next job starts a fresh child. When the app itself
goes down (an exception outside the event loop, a native crash), `gui.app.launch`
closes the engine, and the child's parent-death signal covers the rest.
"""

from __future__ import annotations

import faulthandler
import logging
import sys
import threading
import traceback
from pathlib import Path
from types import TracebackType
from typing import Callable

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QApplication, QMessageBox

import gui.pyside_fixes  # noqa: F401 - PySide6 6.12 emit() bug: must be fixed before any emit

log = logging.getLogger("litesmith.gui")


def log_path() -> Path:
    """The log file in the user's log folder (platformdirs); the folder may not exist yet."""
    import platformdirs

    return Path(platformdirs.user_log_dir("litesmith", appauthor=False)) / "litesmith.log"


def setup_logging(level: int = logging.INFO) -> Path | None:
    """Log to stderr and to the user's log folder; returns the log file (None if unwritable)."""
    root = logging.getLogger("litesmith")
    if getattr(root, "_litesmith_configured", False):
        return getattr(root, "_litesmith_log_file", None)
    root.setLevel(level)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    if sys.stderr is not None:
        stream = logging.StreamHandler()
        stream.setFormatter(formatter)
        stream.setLevel(logging.WARNING)
        root.addHandler(stream)
    target = log_path()
    path: Path | None = target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(target, encoding="utf-8")
        file_handler.setFormatter(formatter)
        root.addHandler(file_handler)
    except OSError:
        path = None
    root._litesmith_configured = True  # type: ignore[attr-defined]
    root._litesmith_log_file = path  # type: ignore[attr-defined]
    return path


class CrashReporter(QObject):
    """Shows unexpected exceptions in a dialog; safe to call from any thread."""

    _report = Signal(str, str)

    def __init__(self, log_file: Path | None = None) -> None:
        super().__init__()
        self.log_file = log_file
        self.dialog: QMessageBox | None = None
        self.count = 0
        # Each stops what is running (True when it did); called from any thread, so each must be thread-safe.
        self.stop_hooks: list[Callable[[], bool]] = []
        self._report.connect(self._show, Qt.ConnectionType.QueuedConnection)

    def excepthook(self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        """`sys.excepthook`: KeyboardInterrupt goes to Python's default hook, anything else to `report`."""
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        self.report(exc_type, exc, tb)

    def thread_excepthook(self, args: threading.ExceptHookArgs) -> None:
        """`threading.excepthook`: `report`s the thread's exception; SystemExit is ignored."""
        if args.exc_type is SystemExit:
            return
        self.report(args.exc_type, args.exc_value, args.exc_traceback, thread=args.thread)

    def report(
        self,
        exc_type: type[BaseException],
        exc: BaseException | None,
        tb: TracebackType | None,
        thread: threading.Thread | None = None,
    ) -> None:
        """Log the traceback, stop the running job (`stop_running_jobs`) and queue the error dialog.

        Safe from any thread: the dialog is shown on the GUI thread (queued signal).
        """
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        where = f" in thread {thread.name}" if thread is not None else ""
        log.error("unexpected error%s:\n%s", where, details)
        summary = f"{exc_type.__name__}: {exc}".strip().rstrip(":")
        if self.stop_running_jobs():
            summary += " (the running job was stopped)"
        self._report.emit(summary, details)

    def stop_running_jobs(self) -> bool:
        """Run every stop hook; True when one of them stopped something."""
        stopped = False
        for hook in list(self.stop_hooks):
            try:
                stopped = bool(hook()) or stopped
            except Exception:  # noqa: BLE001 - the crash handler must not crash
                log.exception("could not stop the running job after an unexpected error")
        return stopped

    @Slot(str, str)
    def _show(self, summary: str, details: str) -> None:
        self.count += 1
        if QApplication.instance() is None:
            return
        if self.dialog is not None and self.dialog.isVisible():
            # Do not stack dialogs: add the new error to the open one.
            self.dialog.setDetailedText(self.dialog.detailedText() + "\n\n" + details)
            return
        parent = QApplication.activeWindow()
        box = QMessageBox(parent)
        box.setObjectName("crashDialog")
        box.setIcon(QMessageBox.Icon.Critical)
        box.setWindowTitle("Litesmith: unexpected error")
        box.setText(f"Something went wrong inside Litesmith: {summary}")
        where = f" It was written to {self.log_file}." if self.log_file else ""
        box.setInformativeText(f"The app keeps running; you can carry on.{where}")
        box.setDetailedText(details)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.destroyed.connect(self._forget_dialog)
        self.dialog = box
        box.open()

    @Slot()
    def _forget_dialog(self) -> None:
        self.dialog = None


_reporter: CrashReporter | None = None


def install_crash_handler(
    log_file: Path | None = None, stop_hooks: list[Callable[[], bool]] | tuple = ()
) -> CrashReporter:
    """Enable faulthandler and route uncaught exceptions to the log and a dialog (and `stop_hooks`)."""
    global _reporter
    if _reporter is None:
        _reporter = CrashReporter(log_file)
    _reporter.stop_hooks.extend(h for h in stop_hooks if h not in _reporter.stop_hooks)
    stream = sys.stderr if sys.stderr is not None else None
    try:
        if stream is not None and stream.fileno() >= 0:
            faulthandler.enable(file=stream)
    except (OSError, ValueError, AttributeError):
        if log_file is not None:
            handle = open(log_file, "a")  # noqa: SIM115 - must stay open for faulthandler
            faulthandler.enable(file=handle)
    sys.excepthook = _reporter.excepthook
    threading.excepthook = _reporter.thread_excepthook
    return _reporter
