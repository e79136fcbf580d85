"""The recipe's "Compression (Keras models)" box: pruning, distillation and their fine-tuning epochs.

Only the step kinds the optimizer has registered get a control (`gui.recipe.compression_kinds`):
no dead controls. The box is hidden when none is registered, and disabled for a source that
is not a Keras model (`set_source_format`).
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QSpinBox, QWidget

import gui.pyside_fixes  # noqa: F401 - PySide6 6.12 emit() bug: must be fixed before any emit
from gui.panels.common import hint_label
from gui.recipe import DISTILL, MAGNITUDE_PRUNE, STRUCTURED_PRUNE, RunSettings, compression_kinds


class CompressionSection(QGroupBox):
    """The compression box; signal ``changed()`` when a control changes.

    ``prune`` (data: "", "magnitude" or "structured"), ``sparsity`` (fraction 0.05..0.95),
    ``distill`` and ``epochs``; ``compression_enabled`` is False for a non-Keras source.
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Compression (Keras models)", parent)
        self.setObjectName("compressionBox")
        self.compression_enabled = True
        known = compression_kinds()
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.prune = QComboBox()
        self.prune.setObjectName("prune")
        self.prune.addItem("None", "")
        if MAGNITUDE_PRUNE in known:
            self.prune.addItem("Magnitude (weights)", "magnitude")
        if STRUCTURED_PRUNE in known:
            self.prune.addItem("Structured (filters, units)", "structured")
        self.prune.setToolTip(
            "Magnitude pruning zeroes weights (smaller when compressed); structured pruning "
            "removes whole filters and units (smaller and faster)"
        )
        self.sparsity = QDoubleSpinBox()
        self.sparsity.setObjectName("sparsity")
        self.sparsity.setRange(0.05, 0.95)
        self.sparsity.setSingleStep(0.05)
        self.sparsity.setValue(0.5)
        self.distill = QCheckBox("Distill into a smaller student")
        self.distill.setObjectName("distill")
        self.distill.setToolTip("The pruned model with structured pruning, else a copy half as wide")
        self.epochs = QSpinBox()
        self.epochs.setObjectName("epochs")
        self.epochs.setRange(0, 200)
        self.epochs.setValue(2)
        self.epochs.setToolTip("Fine-tuning / distillation epochs")
        self.prune.currentIndexChanged.connect(self.update_enabled)
        self.prune.currentIndexChanged.connect(self.changed)
        self.distill.toggled.connect(self.update_enabled)
        self.distill.toggled.connect(self.changed)
        self.sparsity.valueChanged.connect(self.changed)
        self.epochs.valueChanged.connect(self.changed)
        if self.prune.count() > 1:
            form.addRow("Prune:", self.prune)
            form.addRow("Sparsity:", self.sparsity)
        if DISTILL in known:
            form.addRow(self.distill)
        form.addRow("Epochs:", self.epochs)
        form.addRow(
            hint_label(
                "Each chosen variant also gets a compressed twin. Fine-tuning uses the data "
                "(labels when it has them) and takes longer."
            )
        )
        self.setVisible(bool(known))

    def set_source_format(self, fmt: str) -> None:
        """Pruning and distillation change a Keras model: offered only for .keras and .h5 sources."""
        keras = str(fmt) in ("keras", "h5")
        self.compression_enabled = keras
        self.setEnabled(keras)
        self.setToolTip("" if keras else "Pruning and distillation need a Keras model (.keras or .h5)")

    def update_enabled(self, *_args: object) -> None:
        """Sparsity only with pruning; epochs with pruning or distillation."""
        pruning = bool(self.prune.currentData())
        self.sparsity.setEnabled(pruning)
        self.epochs.setEnabled(pruning or self.distill.isChecked())

    def values(self) -> dict:
        """The box's `RunSettings` fields: prune, sparsity, distill, epochs (none for a non-Keras source)."""
        return {
            "prune": (self.prune.currentData() or "") if self.compression_enabled else "",
            "sparsity": self.sparsity.value(),
            "distill": self.distill.isChecked() and DISTILL in compression_kinds() and self.compression_enabled,
            "epochs": self.epochs.value(),
        }

    def apply(self, settings: RunSettings) -> None:
        """Put `settings`' compression fields back into the controls."""
        self.prune.setCurrentIndex(max(0, self.prune.findData(settings.prune)))
        self.sparsity.setValue(settings.sparsity)
        self.distill.setChecked(settings.distill)
        self.epochs.setValue(settings.epochs)


__all__ = ["CompressionSection"]
