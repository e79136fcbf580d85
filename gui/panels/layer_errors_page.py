"""The results' "Per-layer error" tab: how far each quantized tensor is from the float model, worst first.

One variant at a time (a combo of the variants measured with per-layer error): each row a
`core.optimize.results.LayerError`, its error the mean squared error against the float
model or, from the quantization debugger, rmse / quantization scale (~0.29 is ideal rounding).
"""

from __future__ import annotations

from typing import Any, Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from gui.panels.model_panel import fit_columns, make_table
from gui.panels.result_columns import LAYER_COLUMNS
from gui.table_models import RecordTableModel, sortable


class LayerErrorsPage(QWidget):
    """The per-layer error tab: ``layer_combo`` (the variant), ``layer_note`` (what the error is),
    ``layer_model``/``layer_table`` (the rows)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._variants: list[Any] = []
        self.layer_combo = QComboBox()
        self.layer_combo.setObjectName("layerErrorVariant")
        self.layer_combo.currentIndexChanged.connect(self.show_variant)
        self.layer_note = QLabel()
        self.layer_note.setWordWrap(True)
        self.layer_model = RecordTableModel(LAYER_COLUMNS, parent=self)
        self.layer_table = make_table()
        self.layer_table.setObjectName("layerErrorTable")
        self.layer_table.setModel(sortable(self.layer_model, self))
        self.layer_table.setSortingEnabled(True)
        self.layer_table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)
        fit_columns(self.layer_table, stretch=0)
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(QLabel("Variant:"))
        top.addWidget(self.layer_combo)
        top.addWidget(self.layer_note, 1)
        layout.addLayout(top)
        layout.addWidget(self.layer_table, 1)

    def clear(self) -> None:
        """No variants, no rows."""
        self._variants = []
        self.layer_combo.clear()

    def set_variants(self, variants: Sequence[Any]) -> bool:
        """Offer the variants (`core.optimize.results.Variant`) that carry per-layer errors; False when none do."""
        self._variants = [v for v in variants if v.layer_errors]
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        for v in self._variants:
            self.layer_combo.addItem(v.name)
        self.layer_combo.blockSignals(False)
        self.show_variant()
        return bool(self._variants)

    def show_variant(self, *_args: object) -> None:
        """Show the chosen variant's errors, with the note that says what they are."""
        name = self.layer_combo.currentText()
        variant = next((v for v in self._variants if v.name == name), None) if name else None
        errors = list(variant.layer_errors) if variant is not None else []
        self.layer_model.set_records(errors)
        fit_columns(self.layer_table, stretch=0)
        if variant is None:
            self.layer_note.setText("")
        elif errors and errors[0].mse is not None:
            self.layer_note.setText("Mean squared error of each tensor against the float model, worst first.")
        else:
            self.layer_note.setText(
                "rmse / quantization scale of each layer's output, worst first "
                "(~0.3 is ideal rounding; much higher: keep that layer in float)."
            )


__all__ = ["LayerErrorsPage"]
