"""Dropping files on the main window: a model opens it, a data file (with a model open) goes to the recipe.

`DropTarget` is a mixin for `gui.main_window.MainWindow` (Qt calls the drag events on the
window itself). Only file names are looked at (suffix, file or folder), never contents.
"""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import QUrl

from gui.recipe import DATA_SUFFIXES

MODEL_SUFFIXES = (".keras", ".h5", ".hdf5", ".tflite")


def is_data_file(path: str) -> bool:
    """A file with a data suffix (.npz, .npy, .csv, …) that exists."""
    return os.path.isfile(path) and os.path.splitext(path)[1].lower() in DATA_SUFFIXES


def is_model_path(path: str) -> bool:
    """Worth trying to open: a folder (SavedModel) or a file with a model suffix."""
    return os.path.isdir(path) or os.path.splitext(path)[1].lower() in MODEL_SUFFIXES


class DropTarget:
    """Drag-and-drop handlers for the main window (needs ``model_info``, ``empty_state``,
    ``recipe_panel``, ``job_status`` and ``load_model`` on the window)."""

    model_info: Any
    empty_state: Any
    recipe_panel: Any
    job_status: Any
    load_model: Any

    @staticmethod
    def dropped_paths(mime: Any) -> list[str]:
        """The local files and folders in a drag's mime data."""
        if not mime.hasUrls():
            return []
        return [url.toLocalFile() for url in mime.urls() if isinstance(url, QUrl) and url.isLocalFile()]

    def _accepts(self, path: str) -> bool:
        return is_model_path(path) or (self.model_info is not None and is_data_file(path))

    def dragEnterEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        """Qt override: accept a drag holding a model (or data while a model is open); highlight the drop zone."""
        if any(self._accepts(p) for p in self.dropped_paths(event.mimeData())):
            event.acceptProposedAction()
            self.empty_state.set_drag_active(True)
        else:
            event.ignore()

    def dragMoveEvent(self, event: Any) -> None:  # noqa: N802
        """Qt override: keep accepting the drag while it holds something `dragEnterEvent` accepts."""
        if any(self._accepts(p) for p in self.dropped_paths(event.mimeData())):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragLeaveEvent(self, event: Any) -> None:  # noqa: N802
        """Qt override: the drag left the window; the highlight goes."""
        self.empty_state.set_drag_active(False)
        event.accept()

    def dropEvent(self, event: Any) -> None:  # noqa: N802
        """Qt override: open the first dropped model (others are ignored, and said so), or, with none, give the first
        data file to the recipe panel while a model is open.
        """
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
                f"({len(paths) - 1} other dropped item(s) ignored)"
            )


__all__ = ["MODEL_SUFFIXES", "DropTarget", "is_data_file", "is_model_path"]
