"""A read-only Qt table model over a list of records, described by columns.

Each `Column` says how to show a record (`text`), how to sort it (`sort_key`,
numbers sort as numbers) and whether it is numeric (right-aligned). Used by the
model panel's tables; later panels (results, variants) reuse it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QAbstractItemView

SORT_ROLE = Qt.ItemDataRole.UserRole


@dataclass(frozen=True)
class Column:
    """How a `RecordTableModel` shows one column.

    `text(record)` is the cell's text; `sort_key(record)` what it sorts by (default: the lowercased text);
    `numeric` right-aligns it; `tooltip(record)` and `bold(record)` are optional.
    """

    title: str
    text: Callable[[Any], str]
    sort_key: Callable[[Any], Any] | None = None
    numeric: bool = False
    tooltip: Callable[[Any], str] | None = None
    bold: Callable[[Any], bool] | None = None  # e.g. the best value of a comparison column


class RecordTableModel(QAbstractTableModel):
    """A read-only, flat table over `records` (any objects), one `Column` per column.

    Sort it through `sortable`, which sorts by `SORT_ROLE` (each column's `sort_key`).
    """

    def __init__(self, columns: Sequence[Column], records: Sequence[Any] = (), parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._columns = list(columns)
        self._records = list(records)

    @property
    def records(self) -> list[Any]:
        """A copy of the records, in the order given."""
        return list(self._records)

    def set_records(self, records: Sequence[Any]) -> None:
        """Replace the records (a model reset: views and proxies refresh)."""
        self.beginResetModel()
        self._records = list(records)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        """Qt override: the number of records (0 under a valid parent: the table is flat)."""
        return 0 if parent.isValid() else len(self._records)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        """Qt override: the number of columns (0 under a valid parent)."""
        return 0 if parent.isValid() else len(self._columns)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Qt override: a cell's text, sort key (`SORT_ROLE`), alignment, tooltip or bold font; None otherwise."""
        if not index.isValid():
            return None
        record = self._records[index.row()]
        column = self._columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(record)
        if role == SORT_ROLE:
            return column.sort_key(record) if column.sort_key else column.text(record).lower()
        if role == Qt.ItemDataRole.TextAlignmentRole:
            horizontal = Qt.AlignmentFlag.AlignRight if column.numeric else Qt.AlignmentFlag.AlignLeft
            return int(horizontal | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and column.tooltip is not None:
            return column.tooltip(record)
        if role == Qt.ItemDataRole.FontRole and column.bold is not None and column.bold(record):
            font = QFont()
            font.setBold(True)
            return font
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Qt override: the horizontal header's title and alignment; None otherwise (no vertical header text)."""
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self._columns):
            column = self._columns[section]
            if role == Qt.ItemDataRole.DisplayRole:
                return column.title
            if role == Qt.ItemDataRole.TextAlignmentRole:
                horizontal = Qt.AlignmentFlag.AlignRight if column.numeric else Qt.AlignmentFlag.AlignLeft
                return int(horizontal | Qt.AlignmentFlag.AlignVCenter)
        return None


def sortable(model: QAbstractTableModel, parent: QObject | None = None) -> QSortFilterProxyModel:
    """A proxy that sorts by each column's `sort_key` (numbers as numbers)."""
    proxy = QSortFilterProxyModel(parent)
    proxy.setSourceModel(model)
    proxy.setSortRole(SORT_ROLE)
    return proxy


def proxy_of(view: QAbstractItemView) -> QSortFilterProxyModel:
    """The sorting proxy `view` shows (made by `sortable`), to swap its source model or map its rows."""
    proxy = view.model()
    assert isinstance(proxy, QSortFilterProxyModel)  # every table that swaps models is set up with `sortable`
    return proxy
