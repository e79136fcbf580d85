"""Helpers the GUI tests share."""

from __future__ import annotations

import os

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication


def drop(window, *paths) -> tuple[bool, bool]:
    """Drag `paths` onto the window and drop them; returns (enter accepted, drop accepted)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(os.fspath(p)) for p in paths])
    center = window.rect().center()
    enter = QDragEnterEvent(
        center, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(window, enter)
    if not enter.isAccepted():
        return False, False
    event = QDropEvent(
        QPointF(center), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(window, event)
    return True, event.isAccepted()


LOAD_TIMEOUT_MS = 90_000  # the first job imports TensorFlow in the child
RUN_TIMEOUT_MS = 180_000


def load(qtbot, window, path):
    """Open `path` in `window` (queued behind a device detection if one runs) and wait for it."""
    if window.model_info is None or window.model_info.path != os.fspath(path):
        with qtbot.waitSignal(window.model_loaded, timeout=LOAD_TIMEOUT_MS):
            assert window.load_model(path)
    wait_idle(qtbot, window)
    return window.model_info


def wait_idle(qtbot, window, timeout=LOAD_TIMEOUT_MS):
    """Until no job runs, none is queued, and the one-off device detection is over."""
    qtbot.waitUntil(
        lambda: window._devices_state == "done" and not window.runner.busy and window._pending is None, timeout=timeout
    )


def tiny_settings(**changes):
    """A recipe that runs in seconds: few modes, one benchmark configuration of 30 calls."""
    from gui.recipe import RunSettings

    values = dict(modes=("dynamic", "int8"), threads=(1,), batch_sizes=(1,), runs=30, seconds=None, layer_errors=True)
    values.update(changes)
    return RunSettings(**values)


def run_recipe(qtbot, window, settings, timeout=RUN_TIMEOUT_MS):
    """Put `settings` in the recipe panel, press Run (Ctrl+R's action) and wait for the outcome."""
    window.recipe_panel.set_settings(settings, include_data=True)
    with qtbot.waitSignal(window.run_finished, timeout=timeout) as blocker:
        window.run_action.trigger()
        assert window.run_controller.active or window._pending is not None
    return blocker.args[0]
