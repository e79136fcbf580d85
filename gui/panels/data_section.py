"""The recipe's "Data for calibration and evaluation" box: the chosen file or folder, and a CSV's label column.

The data zone takes dropped `.npz`/`.npy`/`.csv` files and image folders. For a CSV
the label column is offered from the file's header, which a worker thread reads
(`gui.workers.call_in_thread`): the GUI thread never reads the user's files. The
combo fills when the header arrives; a header that arrives for a path no longer
chosen is dropped.
"""

from __future__ import annotations

import csv
import os

from PySide6.QtCore import Signal
from PySide6.QtGui import QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

import gui.pyside_fixes  # noqa: F401 - PySide6 6.12 emit() bug: must be fixed before any emit
from gui.panels.common import hint_label
from gui.recipe import DATA_FILTER, is_data_path
from gui.workers import call_in_thread

NO_DATA_TEXT = (
    "No data: inputs will be synthesized from the model's input shape. Accuracy cannot be "
    "measured, and int8 calibration on random inputs misleads: choose real samples for int8."
)
NO_DATA_FREE_TEXT = (
    "No data: inputs will be synthesized at the Input sizes below. Accuracy cannot be "
    "measured, and int8 calibration on random inputs misleads: choose real samples for int8."
)
LABEL_NAMES = ("label", "labels", "class", "target", "y")  # header names offered as the label column


def read_csv_header(path: str) -> tuple[str, list[str]]:
    """(path, the CSV file's header names, stripped, empty ones dropped); [] when it cannot be read.

    Runs in a worker thread (never the GUI thread). An unreadable file is not an error here: the
    run that uses it reports the problem, naming the file (`core.data.csv_data.read_table`).
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        header = []
    return path, [h.strip() for h in header if h.strip()]


class DataZone(QFrame):
    """Shows the chosen data file; takes drops of .npz/.npy/.csv files and image folders (signal ``dropped(path)``)."""

    dropped = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("dataZone")
        self.setAcceptDrops(True)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setFrameShadow(QFrame.Shadow.Sunken)
        self.name = QLabel("Drop a data file here")
        self.name.setObjectName("dataName")
        font = self.name.font()
        font.setBold(True)
        self.name.setFont(font)
        self.name.setWordWrap(True)
        self.detail = hint_label(".npz (x, y), .npy, .csv or an image folder (one subfolder per class)")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addWidget(self.name)
        layout.addWidget(self.detail)

    @staticmethod
    def _paths(event: QDropEvent) -> list[str]:
        mime = event.mimeData()
        if not mime.hasUrls():
            return []
        return [u.toLocalFile() for u in mime.urls() if u.isLocalFile() and is_data_path(u.toLocalFile())]

    def dragEnterEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802 - Qt override
        """Qt override: accept a drag holding a data file or folder (also called for each move)."""
        if self._paths(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802
        """Qt override: as `dragEnterEvent`."""
        self.dragEnterEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        """Qt override: emit ``dropped(path)`` with the first data path dropped; ignore a drop without one."""
        paths = self._paths(event)
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.dropped.emit(paths[0])


class DataSection(QGroupBox):
    """The data box. Signals: ``changed()`` (the data or its label column changed) and ``data_chosen()``
    (the data file or folder changed: the window warms the engine up for it).

    ``data_path`` is the chosen file or folder (absolute) or None (inputs are synthesized).
    ``columns_requests`` counts the CSV headers asked for and ``columns_done`` those that arrived
    (tests wait on them).
    """

    changed = Signal()
    data_chosen = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Data for calibration and evaluation", parent)
        self.data_path: str | None = None
        self._offered_data: str | None = None  # the data path chosen for the user from beside the model
        self._last_dir = os.path.expanduser("~")
        self.columns_requests = 0
        self.columns_done = 0
        self.data_zone = DataZone()
        self.data_zone.dropped.connect(self.set_data_path)
        self.choose_data_button = QPushButton("File…")
        self.choose_data_button.setObjectName("chooseDataButton")
        self.choose_data_button.clicked.connect(self._choose_file)
        self.choose_folder_button = QPushButton("Folder…")
        self.choose_folder_button.setToolTip("An image folder: one subfolder per class")
        self.choose_data_button.setToolTip("A .npz (x, y), .npy or .csv file")
        self.choose_folder_button.clicked.connect(self._choose_folder)
        self.clear_data_button = QPushButton("Clear")
        self.clear_data_button.setObjectName("clearDataButton")
        self.clear_data_button.clicked.connect(lambda: self.set_data_path(None))
        buttons = QHBoxLayout()
        buttons.addWidget(self.choose_data_button)
        buttons.addWidget(self.choose_folder_button)
        buttons.addWidget(self.clear_data_button)
        buttons.addStretch(1)
        self.label_column = QComboBox()
        self.label_column.setEditable(True)
        self.label_column.setObjectName("labelColumn")
        label_edit = self.label_column.lineEdit()
        assert label_edit is not None  # an editable combo box has one
        label_edit.setPlaceholderText("none: unlabelled")
        self.label_column.setToolTip("The CSV column that holds the labels; every other column is an input feature")
        self.label_column.editTextChanged.connect(self.changed)
        self.label_row = QWidget()
        label_layout = QHBoxLayout(self.label_row)
        label_layout.setContentsMargins(0, 0, 0, 0)
        label_layout.addWidget(QLabel("Label column:"))
        label_layout.addWidget(self.label_column, 1)
        self.data_warning = QLabel(NO_DATA_TEXT)
        self.data_warning.setObjectName("noDataWarning")
        self.data_warning.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.data_zone)
        layout.addLayout(buttons)
        layout.addWidget(self.label_row)
        layout.addWidget(self.data_warning)

    def set_last_dir(self, folder: str) -> None:
        """The folder the File… and Folder… dialogs open in."""
        self._last_dir = folder

    def set_free_inputs(self, free: bool) -> None:
        """The no-data warning names the Input sizes box when the open model has free input sizes."""
        self.data_warning.setText(NO_DATA_FREE_TEXT if free else NO_DATA_TEXT)

    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose Data", self._last_dir, DATA_FILTER)
        if path:
            self._last_dir = os.path.dirname(path)
            self.set_data_path(path)

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(
            self, "Choose an Image Folder (one subfolder per class)", self._last_dir
        )
        if path:
            self._last_dir = os.path.dirname(os.path.normpath(path))
            self.set_data_path(path)

    def offer_data(self, path: str | None) -> bool:
        """Select `path`, found beside the opened model (`core.data.companions`), unless the user chose data.

        Data the user chose stays; an earlier offer (another model's data) is replaced, or cleared
        when `path` is None (nothing beside this model). True when `path` was selected.
        """
        if self.data_path is not None and self.data_path != self._offered_data:
            return False
        if path is None:
            if self._offered_data is not None:
                self.set_data_path(None)
            return False
        self.set_data_path(path)
        self._offered_data = self.data_path
        assert self.data_path is not None  # `path` names a file found beside the model: never empty
        self.data_zone.detail.setText(f"found beside the model · {os.path.dirname(self.data_path)}")
        return True

    def set_data_path(self, path: str | None) -> None:
        """Choose a data file or folder (None: no data); a CSV's label columns follow when its header is read."""
        self._offered_data = None
        self.data_path = os.path.abspath(path) if path else None
        if self.data_path is None:
            self.data_zone.name.setText("No data chosen")
            self.data_zone.detail.setText("Drop a .npz (x, y), .npy, .csv file or an image folder here")
            self.data_zone.setToolTip("")
        else:
            name = os.path.basename(os.path.normpath(self.data_path))
            kind = "image folder" if os.path.isdir(self.data_path) else os.path.splitext(name)[1].lstrip(".").upper()
            self.data_zone.name.setText(name)
            self.data_zone.detail.setText(f"{kind} · {os.path.dirname(self.data_path)}")
            self.data_zone.setToolTip(self.data_path)
        is_csv = bool(self.data_path and self.data_path.lower().endswith(".csv"))
        self.label_row.setVisible(is_csv)
        if is_csv:
            self.columns_requests += 1
            call_in_thread(
                read_csv_header,
                self.data_path,
                on_result=self._offer_columns,
                on_error=self._columns_failed,
                owner=self,
            )
        self.data_warning.setVisible(self.data_path is None)
        self.clear_data_button.setEnabled(self.data_path is not None)
        self.changed.emit()
        self.data_chosen.emit()

    def _columns_failed(self, _error: BaseException) -> None:
        self.columns_done += 1  # read_csv_header catches what a file can raise: nothing to offer

    def _offer_columns(self, found: tuple[str, list[str]]) -> None:
        """Offer the CSV's header names as label columns; pick an obvious one ("label", "class", ...).

        The name typed (or restored from a recipe) stays when the header has it.
        """
        self.columns_done += 1
        path, header = found
        if path != self.data_path:
            return  # the user chose other data while this header was read
        typed = self.label_column.currentText().strip()
        self.label_column.blockSignals(True)
        self.label_column.clear()
        self.label_column.addItem("")
        self.label_column.addItems(header)
        obvious = next((h for h in header if h.lower() in LABEL_NAMES), "")
        self.label_column.setEditText(typed if typed in header else obvious)
        self.label_column.blockSignals(False)

    def values(self) -> dict:
        """The box's `gui.recipe.RunSettings` fields: data_path and label_column."""
        return {"data_path": self.data_path, "label_column": self.label_column.currentText().strip()}


__all__ = ["DataSection", "DataZone", "NO_DATA_FREE_TEXT", "NO_DATA_TEXT", "read_csv_header"]
