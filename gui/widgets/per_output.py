"""The results' "Per output" tab: each output's task and why, then the original's and every variant's figures.

Rows come from `core.report.outputs.output_rows`, grouped by output (the output, its task
and why it was chosen are on the group's first row, the original's). Fidelity is
split in numeric columns (agreement of decisions, cosine, largest difference);
accuracy reads as the CLI prints it. A variant's worst output, the one its
headline fidelity in the comparison table is about, is bold and marked ◀ worst;
an output that could not be scored says why.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QHeaderView, QLabel, QVBoxLayout, QWidget

from core.report.outputs import NOT_SCORED, OutputRow, output_rows, output_tasks
from gui.flag_hints import gui_words
from gui.panels.model_panel import make_table
from gui.table_models import Column, RecordTableModel

WORST_MARK = "◀ worst"
HINT = (
    "Each output is scored with its own task. In the table above, a variant's fidelity is its worst output's "
    "(in bold here, ◀ worst) and the accuracy column is the primary output's."
)


def _output_text(r: OutputRow) -> str:
    if not r.first:
        return ""
    return r.output + (" (primary)" if r.primary else "")


def _reason_text(r: OutputRow) -> str:
    """The reason a task was chosen, in the window's words (the engine's are the CLI's)."""
    if r.reason == "set with --task":
        return "set in the recipe panel"
    return f"inferred: {gui_words(r.reason)}" if r.reason else ""


def _notes(r: OutputRow) -> str:
    """The group's first row: why this task; a variant's: its worst output, or why an output was not scored."""
    if r.note:
        return f"{r.fidelity}: {r.note}" if r.fidelity == NOT_SCORED else r.note
    if r.worst:
        return WORST_MARK.strip() + f": {r.variant}'s headline fidelity"
    return _reason_text(r) if r.first else ""


def _tooltip(r: OutputRow) -> str:
    lines = [f"output {r.output}: {r.task}" + (f" ({_reason_text(r)})" if r.reason else "")]
    if r.primary:
        lines.append("the primary output: it drives the accuracy headline and auto budgets")
    if r.note:
        lines.append(f"{r.variant}: {r.note}")
    if r.figures is not None:
        lines.append(f"{r.variant} vs the original: {r.fidelity}")
    return "\n".join(lines)


OUTPUT_COLUMNS = [
    Column("Output", _output_text, tooltip=_tooltip, bold=lambda r: r.first),
    Column("Task", lambda r: r.task if r.first else "", tooltip=_tooltip),
    Column("Variant", lambda r: r.variant, tooltip=_tooltip),
    Column(
        "Agreement",
        lambda r: r.agreement_text,
        numeric=True,
        bold=lambda r: r.worst,
        tooltip=lambda r: (
            "decisions that agree with the original's (top-1, label decisions, positions, ids); "
            "— for outputs that make no decisions (regression, embedding)"
        ),
    ),
    Column(
        "Cosine",
        lambda r: r.cosine_text,
        numeric=True,
        bold=lambda r: r.worst,
        tooltip=lambda r: "cosine similarity of the outputs to the original's",
    ),
    Column(
        "Max |diff|",
        lambda r: r.max_diff_text,
        numeric=True,
        bold=lambda r: r.worst,
        tooltip=lambda r: "largest absolute difference from the original's outputs",
    ),
    Column(
        "Accuracy",
        lambda r: r.accuracy,
        tooltip=lambda r: "against the labels of the evaluation data" if r.accuracy != "—" else "no labels",
    ),
    Column("Notes", _notes, tooltip=_tooltip),
]


class PerOutputPage(QWidget):
    """The "Per output" tab. `set_models(source, models)` fills it; `cell(row, column)` reads it (tests)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("perOutputPage")
        self.rows: list[OutputRow] = []
        self.hint = QLabel(HINT)
        self.hint.setObjectName("perOutputHint")
        self.hint.setWordWrap(True)
        self.hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.model = RecordTableModel(OUTPUT_COLUMNS, parent=self)
        self.table = make_table()
        self.table.setObjectName("perOutputTable")
        self.table.setModel(self.model)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        layout = QVBoxLayout(self)
        layout.addWidget(self.hint)
        layout.addWidget(self.table, 1)

    def clear(self) -> None:
        """Empty the table."""
        self.rows = []
        self.model.set_records([])

    def set_models(self, source: Any, models: list[tuple[str, Any]]) -> int:
        """Fill from a SourceInfo and (name, evaluation) pairs, the original first; returns the number of outputs."""
        self.rows = output_rows(source, models)
        self.model.set_records(self.rows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.resizeColumnsToContents()  # once: a ResizeToContents header measures at every layout pass
        # Notes take the width that is left (elided, whole in the tooltip): the figures never scroll away.
        header.setSectionResizeMode(len(OUTPUT_COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        return len(output_tasks(source, [e for _, e in models]))

    def cell(self, row: int, column: int) -> str:
        """The text shown at (`row`, `column`) of the table."""
        return self.model.data(self.model.index(row, column))

    def column_titles(self) -> list[str]:
        """The table's column titles, left to right."""
        return [self.model.headerData(c, Qt.Orientation.Horizontal) for c in range(self.model.columnCount())]


__all__ = ["PerOutputPage", "OUTPUT_COLUMNS"]
