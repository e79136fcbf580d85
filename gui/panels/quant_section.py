"""The recipe's "Quantization" box: one check box per post-training quantization mode, and int8's options.

fp32 (the plain conversion) is always made: every size ratio is relative to it. int8's
options: int8 inputs and outputs, selective quantization (sensitive layers in float until
a fidelity target is met) and per-layer error; selective and int8 I/O exclude each other.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QGroupBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

import gui.pyside_fixes  # noqa: F401 - PySide6 6.12 emit() bug: must be fixed before any emit
from gui.recipe import MODE_LABELS, QUANT_MODES, RunSettings


class QuantSection(QGroupBox):
    """The quantization box; signal ``changed()`` when a control changes.

    ``mode_boxes`` maps each mode of `gui.recipe.QUANT_MODES` to its check box; ``int8_options``
    holds ``int8_io``, ``selective``, ``fidelity_target`` (0 shows "auto": the task's default) and
    ``layer_errors``.
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Quantization", parent)
        layout = QVBoxLayout(self)
        layout.setSpacing(3)
        fp32 = QCheckBox(MODE_LABELS["fp32"])
        fp32.setChecked(True)
        fp32.setEnabled(False)
        fp32.setToolTip("The plain .tflite conversion: every size ratio is relative to it")
        layout.addWidget(fp32)
        self.mode_boxes: dict[str, QCheckBox] = {}
        for mode in QUANT_MODES:
            box = QCheckBox(MODE_LABELS[mode])
            box.setObjectName(f"mode_{mode}")
            box.toggled.connect(self.update_enabled)
            box.toggled.connect(self.changed)
            layout.addWidget(box)
            self.mode_boxes[mode] = box
            if mode == "int8":
                layout.addWidget(self._int8_options())

    def _int8_options(self) -> QWidget:
        self.int8_options = QWidget()
        opts = QVBoxLayout(self.int8_options)
        opts.setContentsMargins(22, 0, 0, 2)
        opts.setSpacing(2)
        self.int8_io = QCheckBox("int8 inputs and outputs")
        self.int8_io.setObjectName("int8Io")
        self.int8_io.setToolTip("The caller quantizes inputs itself (microcontrollers, NPUs)")
        self.selective = QCheckBox("Selective: sensitive layers in float")
        self.selective.setObjectName("selective")
        self.selective.setToolTip(
            "Adds the most sensitive layers to float, one at a time, until the "
            "fidelity target is met on the calibration data"
        )
        self.fidelity_target = QDoubleSpinBox()
        self.fidelity_target.setObjectName("fidelityTarget")
        self.fidelity_target.setRange(0.0, 1.0)
        self.fidelity_target.setDecimals(4)
        self.fidelity_target.setSingleStep(0.001)
        self.fidelity_target.setSpecialValueText("auto")
        self.fidelity_target.setToolTip(
            "Top-1 agreement (multiclass) or cosine similarity (otherwise); auto: 0.99 agreement or 0.999 cosine"
        )
        target_row = QHBoxLayout()
        target_row.setContentsMargins(22, 0, 0, 0)
        target_row.addWidget(QLabel("Fidelity target:"))
        target_row.addWidget(self.fidelity_target, 1)
        self.layer_errors = QCheckBox("Measure per-layer error")
        self.layer_errors.setObjectName("layerErrors")
        for w in (self.int8_io, self.selective, self.layer_errors):
            w.toggled.connect(self.update_enabled)
            w.toggled.connect(self.changed)
        self.fidelity_target.valueChanged.connect(self.changed)
        opts.addWidget(self.int8_io)
        opts.addWidget(self.selective)
        opts.addLayout(target_row)
        opts.addWidget(self.layer_errors)
        return self.int8_options

    def update_enabled(self, *_args: object) -> None:
        """int8's options follow the int8 box; selective and int8 I/O exclude each other."""
        int8 = self.mode_boxes["int8"].isChecked()
        self.int8_options.setEnabled(int8)
        self.int8_io.setEnabled(int8 and not self.selective.isChecked())
        self.selective.setEnabled(int8 and not self.int8_io.isChecked())
        self.fidelity_target.setEnabled(int8 and self.selective.isChecked())

    def values(self) -> dict:
        """The box's `RunSettings` fields: modes, int8_io, selective, fidelity_target (None: auto), layer_errors."""
        target = self.fidelity_target.value()
        return {
            "modes": tuple(m for m, box in self.mode_boxes.items() if box.isChecked()),
            "int8_io": self.int8_io.isChecked() and not self.selective.isChecked(),
            "selective": self.selective.isChecked(),
            "fidelity_target": target if target > 0 else None,
            "layer_errors": self.layer_errors.isChecked(),
        }

    def apply(self, settings: RunSettings) -> None:
        """Put `settings`' quantization fields back into the controls."""
        for mode, box in self.mode_boxes.items():
            box.setChecked(mode in settings.modes)
        self.int8_io.setChecked(settings.int8_io)
        self.selective.setChecked(settings.selective)
        self.fidelity_target.setValue(settings.fidelity_target or 0.0)
        self.layer_errors.setChecked(settings.layer_errors)


__all__ = ["QuantSection"]
