"""The main window's message boxes: errors, About, Clear Cache…, and "stop the job and quit?".

Every box is non-blocking (`QMessageBox.open`), deletes itself when closed and is kept on
the window while open (``window.error_dialog``, ``about_dialog``, ``cache_dialog``,
``close_dialog``) so that tests and the window can find it.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton

from core.errors import ErrorKind, JobError
from gui.about import about_html, about_text
from gui.flag_hints import app_hint

APP_TITLE = "Litesmith"

ERROR_TITLES = {
    ErrorKind.BAD_INPUT: "Cannot open this model",
    ErrorKind.CONVERSION: "Conversion failed",
    ErrorKind.OUTPUT: "Cannot write the file",
    ErrorKind.USAGE: "Check the settings",
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


def show_error(window: Any, error: JobError) -> QMessageBox:
    """The error dialog: `error.one_line()`, a hint, and the details folded away (replaces an open one)."""
    if window.error_dialog is not None:
        window.error_dialog.close()
    box = QMessageBox(window)
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
    window.custom_code.offer_in(box, error)  # an unknown class: "Load Custom Layer Code…"
    if hint := app_hint(error.message):  # a CLI flag in the core's message: where the app sets it
        box.setInformativeText("\n\n".join(t for t in (box.informativeText(), hint) if t))
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.finished.connect(lambda _result, b=box: window._forget_error_dialog(b))
    window.error_dialog = box
    box.open()
    return box


def show_about(window: Any) -> QMessageBox:
    """Help > About: the version, the libraries and their licences (one box at a time)."""
    if window.about_dialog is not None:
        window.about_dialog.raise_()
        return window.about_dialog
    box = QMessageBox(window)
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
    box.finished.connect(lambda _result: setattr(window, "about_dialog", None))
    window.about_dialog = box
    box.open()
    return box


def clear_cache_dialog(window: Any) -> None:
    """Tools > Clear Cache…: how many entries and bytes the cache holds, and a confirmation.

    The figures come from listing the cache folder (`ResultCache.stats`: file sizes, no contents read)
    in a worker thread (`gui.workers.call_in_thread`): the box opens when they come back, as
    ``window.cache_dialog`` (an open box is raised instead). A folder that cannot be listed is an
    error dialog naming it.
    """
    from core.cache import ResultCache
    from gui.workers import call_in_thread

    if window.cache_dialog is not None:
        window.cache_dialog.raise_()
        return
    folder = ResultCache().folder  # read from the environment now, on the thread that was asked
    call_in_thread(
        ResultCache(folder).stats,
        on_result=lambda stats: _open_cache_dialog(window, stats),
        on_error=lambda exc: _cache_error(window, "cannot read the cache", exc, folder),
        owner=window,
    )


def _open_cache_dialog(window: Any, stats: Any) -> QMessageBox:
    """The Clear Cache box for `stats` (`core.cache.CacheStats`); Yes starts `clear_cache`."""
    from core.units import human_size

    if window.cache_dialog is not None:  # asked twice while the folder was listed: one box
        window.cache_dialog.raise_()
        return window.cache_dialog
    box = QMessageBox(window)
    box.setObjectName("clearCacheDialog")
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle(f"Clear Cache — {APP_TITLE}")
    if stats.entries:
        box.setText(f"Delete {stats.entries:,} cached result(s), {human_size(stats.total_bytes)}?")
        box.setInformativeText(
            "Variants and measurements are kept so that a second run on the same model, "
            f"recipe and data is instant. Folder: {stats.folder}"
        )
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.button(QMessageBox.StandardButton.Yes).setText("Clear Cache")
    else:
        box.setText("The cache is empty.")
        box.setInformativeText(f"Folder: {stats.folder}")
        box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.accepted.connect(lambda: window.clear_cache() if stats.entries else None)
    box.finished.connect(lambda _r: setattr(window, "cache_dialog", None))
    window.cache_dialog = box
    box.open()
    return box


def _clear(cache: Any) -> tuple[int, int]:
    """(entries removed, bytes freed) after deleting every entry of `cache` (worker thread: no Qt here)."""
    before = cache.stats()
    removed = cache.clear()
    return removed, before.total_bytes - cache.stats().total_bytes


def clear_cache(window: Any) -> None:
    """Delete every cache entry in a worker thread; then the status bar says how many and how much space was
    freed, and the window emits ``cache_cleared(entries)``. An `OSError` is an error dialog naming the folder."""
    from core.cache import ResultCache
    from core.units import human_size
    from gui.workers import call_in_thread

    cache = ResultCache()

    def cleared(outcome: tuple[int, int]) -> None:
        removed, freed = outcome
        window.job_status.label.setText(f"Cache cleared: {removed:,} entries, {human_size(freed)} freed")
        window.cache_cleared.emit(removed)

    call_in_thread(
        _clear,
        cache,
        on_result=cleared,
        on_error=lambda exc: _cache_error(window, "cannot clear the cache", exc, str(cache.folder)),
        owner=window,
    )


def _cache_error(window: Any, what: str, exc: BaseException, folder: Any) -> None:
    window.show_error(JobError(ErrorKind.BAD_INPUT, f"{what}: {exc}", path=str(folder)))


class CloseQuestion(QMessageBox):
    """The "stop the job and quit?" box, with its two buttons by name (the window and tests press them)."""

    stop_button: QPushButton
    keep_button: QPushButton


def ask_before_closing(window: Any) -> None:
    """Closing during a run: a window-modal question that does not block the event loop.

    "Stop and Quit" cancels the job cleanly (`shutdown`: cancel, wait, the engine kills a child
    that does not stop within its grace period) and closes; "Keep Running" (the default) keeps both.
    A stop signal or the end of the desktop session never asks (gui.app shuts down first).
    """
    if window.close_dialog is not None:
        window.close_dialog.raise_()
        return
    box = CloseQuestion(QMessageBox.Icon.Question, APP_TITLE, "A job is running. Stop it and quit?", parent=window)
    box.setInformativeText(
        f"{window.job_status.label.text()}\nStopping cancels it cleanly: nothing half-written is kept."
    )
    box.stop_button = box.addButton("Stop and Quit", QMessageBox.ButtonRole.AcceptRole)
    box.keep_button = box.addButton("Keep Running", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(box.keep_button)
    box.setWindowModality(Qt.WindowModality.WindowModal)
    box.finished.connect(lambda _result: window._closing_answered(box.clickedButton() is box.stop_button))
    window.close_dialog = box
    box.open()


__all__ = [
    "APP_TITLE",
    "ERROR_HINTS",
    "ERROR_TITLES",
    "ask_before_closing",
    "clear_cache",
    "clear_cache_dialog",
    "show_about",
    "show_error",
]
