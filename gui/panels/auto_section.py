"""The recipe's "Auto: fastest within a budget" box: the quality budget, the size limit, pruning or not.

The quality budget is agreement with the original (%), or the drop in accuracy (points);
for a regression primary output the accuracy budget is the increase in mean absolute error,
in the target's own units (`gui.recipe.budget_in_target_units`). Each kind keeps its own
value while the user switches between them.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QWidget

import gui.pyside_fixes  # noqa: F401 - PySide6 6.12 emit() bug: must be fixed before any emit
from gui.recipe import RunSettings, budget_in_target_units


class AutoSection(QGroupBox):
    """The auto budget box; signal ``changed()`` when a control changes.

    `primary_task()` gives the open model's primary output's task (None: not known), which sets the
    accuracy budget's unit. ``auto_quality`` (data: "agreement" or "accuracy"), ``auto_value``,
    ``auto_max_size`` (MiB, 0: no limit), ``auto_pruning``.
    """

    changed = Signal()

    def __init__(self, primary_task: Callable[[], str | None], parent: QWidget | None = None) -> None:
        super().__init__("Auto: fastest within a budget", parent)
        self.setObjectName("autoBox")
        self._primary_task = primary_task
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.auto_quality = QComboBox()
        self.auto_quality.setObjectName("autoQuality")
        self.auto_quality.addItem("Agreement ≥", "agreement")
        self.auto_quality.addItem("Accuracy drop ≤", "accuracy")
        self.auto_quality.setToolTip(
            "Agreement with the original's outputs (no labels needed), or the drop in "
            "accuracy on labelled data (PR-AUC for binary tasks), in points; for a "
            "regression, the increase in mean absolute error, in the target's own units"
        )
        self.auto_value = QDoubleSpinBox()
        self.auto_value.setObjectName("autoValue")
        self.auto_value.setDecimals(2)
        self.auto_max_size = QDoubleSpinBox()
        self.auto_max_size.setObjectName("autoMaxSize")
        self.auto_max_size.setRange(0.0, 100_000.0)
        self.auto_max_size.setDecimals(2)
        self.auto_max_size.setSuffix(" MB")
        self.auto_max_size.setSpecialValueText("no limit")
        self.auto_max_size.setToolTip("Largest .tflite file size allowed (MiB)")
        self.auto_pruning = QCheckBox("Try pruning when it can pay")
        self.auto_pruning.setObjectName("autoPruning")
        self.auto_pruning.setToolTip(
            "Structured pruning (Keras models) when the model is slow enough for it to "
            "matter; it fine-tunes, so it takes longer"
        )
        self.auto_values = {"agreement": 99.0, "accuracy": 1.0}  # each budget kind's value, kept while switching
        self.auto_quality.currentIndexChanged.connect(self.quality_changed)
        self.auto_value.valueChanged.connect(self._remember_value)
        for w in (self.auto_value, self.auto_max_size):
            w.valueChanged.connect(self.changed)
        self.auto_quality.currentIndexChanged.connect(self.changed)
        self.auto_pruning.toggled.connect(self.changed)
        quality_row = QHBoxLayout()
        quality_row.addWidget(self.auto_quality)
        quality_row.addWidget(self.auto_value, 1)
        form.addRow(quality_row)
        form.addRow("Max size:", self.auto_max_size)
        form.addRow(self.auto_pruning)

    def quality_changed(self, *_args: object) -> None:
        """The budget kind (or the primary task) changed: the value's range and unit follow."""
        kind = self.auto_quality.currentData()
        self.auto_value.blockSignals(True)
        target_units = budget_in_target_units(self._primary_task())
        accuracy = self.auto_quality.findData("accuracy")
        self.auto_quality.setItemText(accuracy, "MAE increase ≤" if target_units else "Accuracy drop ≤")
        if kind == "accuracy" and target_units:  # regression: the target's own units, as typed
            self.auto_value.setRange(0.0, 1e9)
            self.auto_value.setSingleStep(0.1)
            self.auto_value.setSuffix(" (target units)")
        elif kind == "accuracy":
            self.auto_value.setRange(0.0, 100.0)
            self.auto_value.setSingleStep(0.5)
            self.auto_value.setSuffix(" pts")
        else:
            self.auto_value.setRange(0.0, 100.0)
            self.auto_value.setSingleStep(0.1)
            self.auto_value.setSuffix(" %")
        self.auto_value.setValue(self.auto_values.get(kind, 0.0))
        self.auto_value.blockSignals(False)

    def _remember_value(self, value: float) -> None:
        self.auto_values[self.auto_quality.currentData()] = value

    def values(self) -> dict:
        """The box's `RunSettings` fields: auto_quality, auto_min_agreement, auto_max_drop, auto_max_size_mb,
        auto_pruning."""
        return {
            "auto_quality": self.auto_quality.currentData(),
            "auto_min_agreement": self.auto_values["agreement"],
            "auto_max_drop": self.auto_values["accuracy"],
            "auto_max_size_mb": self.auto_max_size.value(),
            "auto_pruning": self.auto_pruning.isChecked(),
        }

    def apply(self, settings: RunSettings) -> None:
        """Put `settings`' auto fields back into the controls."""
        self.auto_values = {"agreement": settings.auto_min_agreement, "accuracy": settings.auto_max_drop}
        self.auto_quality.blockSignals(True)
        self.auto_quality.setCurrentIndex(max(0, self.auto_quality.findData(settings.auto_quality)))
        self.auto_quality.blockSignals(False)
        self.quality_changed()
        self.auto_max_size.setValue(settings.auto_max_size_mb)
        self.auto_pruning.setChecked(settings.auto_pruning)


__all__ = ["AutoSection"]
