"""The recipe's "Benchmark" box: thread counts, batch sizes, how long to measure, the p99 budget, the device.

The device combo fills from the engine's device detection (`set_devices`): the original
Keras model runs on the CPU or a GPU TensorFlow sees, as the baseline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

import gui.pyside_fixes  # noqa: F401 - PySide6 6.12 emit() bug: must be fixed before any emit
from core.units import gib_text
from gui.panels.common import hint_label
from gui.recipe import DEVICE_CPU, RunSettings, parse_int_list

if TYPE_CHECKING:
    from core.hardware import DeviceReport


class BenchSection(QGroupBox):
    """The benchmark box; signal ``changed()`` when a control changes.

    ``threads`` and ``batch_sizes`` (comma-separated positive integers), ``by_seconds``/``by_runs``
    with ``seconds`` (per configuration) or ``runs`` (calls per configuration), ``budget``
    (p99, ms), ``device`` (data: a TensorFlow device name), ``gpu_memory`` (MB, 0: no cap),
    ``profile`` and ``device_state`` (what detection found, in words).
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Benchmark", parent)
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.threads = QLineEdit("1")
        self.threads.setObjectName("threads")
        self.threads.setToolTip("LiteRT thread counts, e.g. 1, 2, 4")
        self.batch_sizes = QLineEdit("1")
        self.batch_sizes.setObjectName("batchSizes")
        self.batch_sizes.setToolTip("Batch sizes, e.g. 1, 8, 32")
        self.by_seconds = QRadioButton("time")
        self.by_runs = QRadioButton("calls")
        self.by_seconds.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.by_seconds)
        group.addButton(self.by_runs)
        self.seconds = QDoubleSpinBox()
        self.seconds.setObjectName("seconds")
        self.seconds.setRange(0.1, 60.0)
        self.seconds.setSingleStep(0.5)
        self.seconds.setValue(1.0)
        self.seconds.setSuffix(" s")
        self.runs = QSpinBox()
        self.runs.setObjectName("runs")
        self.runs.setRange(1, 1_000_000)
        self.runs.setValue(200)
        self.runs.setSuffix(" calls")
        self.seconds.setToolTip("Seconds per configuration")
        self.runs.setToolTip("Measured calls per configuration")
        measure = QVBoxLayout()
        measure.setSpacing(2)
        for radio, spin in ((self.by_seconds, self.seconds), (self.by_runs, self.runs)):
            row = QHBoxLayout()
            radio.setMinimumWidth(radio.sizeHint().width())
            row.addWidget(radio)
            row.addWidget(spin, 1)
            measure.addLayout(row)
        self.budget = QDoubleSpinBox()
        self.budget.setObjectName("budget")
        self.budget.setRange(0.01, 100_000.0)
        self.budget.setDecimals(2)
        self.budget.setValue(10.0)
        self.budget.setSuffix(" ms")
        self.budget.setToolTip("p99 latency the recommendation must stay within")
        self.device = QComboBox()
        self.device.setObjectName("device")
        self.device.addItem("CPU", DEVICE_CPU)
        self.gpu_memory = QSpinBox()
        self.gpu_memory.setObjectName("gpuMemory")
        self.gpu_memory.setRange(0, 1_000_000)
        self.gpu_memory.setSingleStep(512)
        self.gpu_memory.setSuffix(" MB")
        self.gpu_memory.setSpecialValueText("no cap")
        self.gpu_memory.setToolTip("Cap the GPU memory TensorFlow may take for the baseline (a fresh engine only)")
        self.gpu_memory.valueChanged.connect(self.changed)
        self.profile = QCheckBox("Profile: time per layer, data vs model")
        self.profile.setObjectName("profile")
        self.profile.setToolTip(
            "Times every layer of the Keras baseline; with an .npz data file, also how much "
            "time goes to loading and preparing batches versus the model (Results > Profile)"
        )
        self.profile.toggled.connect(self.changed)
        self.device_state = hint_label("Looking for GPUs…")
        self.device_state.setObjectName("deviceState")
        for w in (self.threads, self.batch_sizes):
            w.textChanged.connect(self.changed)
        for spin in (self.seconds, self.budget):
            spin.valueChanged.connect(self.changed)
        self.runs.valueChanged.connect(self.changed)
        self.by_seconds.toggled.connect(self.update_enabled)
        self.by_seconds.toggled.connect(self.changed)
        self.device.currentIndexChanged.connect(self.changed)
        form.addRow("Threads:", self.threads)
        form.addRow("Batch sizes:", self.batch_sizes)
        form.addRow("Measure for:", measure)
        form.addRow("Latency budget:", self.budget)
        device_row = QHBoxLayout()
        device_row.addWidget(self.device, 1)
        device_row.addWidget(self.gpu_memory)
        form.addRow("Baseline on:", device_row)
        self.device.setToolTip("Where the original Keras model runs as the baseline")
        self.device.currentIndexChanged.connect(self.update_enabled)
        form.addRow("", self.device_state)
        form.addRow(self.profile)

    def set_devices(self, report: DeviceReport | None) -> None:
        """Fill the device combo from a `core.hardware.DeviceReport` (None: detection failed)."""
        wanted = self.device.currentData()
        self.device.blockSignals(True)
        self.device.clear()
        cpu_name = getattr(getattr(report, "cpu", None), "model", "") or ""
        self.device.addItem("CPU", DEVICE_CPU)
        self.device.setItemData(0, cpu_name or "CPU", Qt.ItemDataRole.ToolTipRole)
        gpus = tuple(getattr(report, "tf_gpus", ()) or ())
        for gpu in gpus:
            memory = f", {gib_text(gpu.memory_total_mb, digits=0)}" if gpu.memory_total_mb else ""
            self.device.addItem(f"GPU {gpu.index}: {gpu.name}{memory}", gpu.device or f"/GPU:{gpu.index}")
        index = self.device.findData(wanted)
        self.device.setCurrentIndex(max(0, index))
        self.device.blockSignals(False)
        if report is None:
            self.device_state.setText("Could not look for GPUs: the baseline runs on the CPU")
        elif not gpus:
            self.device_state.setText("CPU only: TensorFlow sees no GPU")
        else:
            self.device_state.setText(f"{len(gpus)} GPU(s) found")
        self.device.setEnabled(bool(gpus))

    def update_enabled(self, *_args: object) -> None:
        """Seconds or calls, whichever is chosen; the GPU memory cap only for a GPU baseline."""
        self.seconds.setEnabled(self.by_seconds.isChecked())
        self.runs.setEnabled(not self.by_seconds.isChecked())
        self.gpu_memory.setEnabled("GPU" in str(self.device.currentData() or "").upper())

    def values(self) -> dict:
        """The box's `RunSettings` fields; ValueError naming the field ("Threads: ...") that does not parse."""
        try:
            threads = parse_int_list(self.threads.text())
        except ValueError as exc:
            raise ValueError(f"Threads: {exc}") from None
        try:
            batches = parse_int_list(self.batch_sizes.text())
        except ValueError as exc:
            raise ValueError(f"Batch sizes: {exc}") from None
        return {
            "threads": threads,
            "batch_sizes": batches,
            "runs": self.runs.value() if self.by_runs.isChecked() else None,
            "seconds": self.seconds.value() if self.by_seconds.isChecked() else None,
            "budget_ms": self.budget.value(),
            "device": self.device.currentData() or DEVICE_CPU,
            "profile": self.profile.isChecked(),
            "gpu_memory_mb": self.gpu_memory.value(),
        }

    def apply(self, settings: RunSettings) -> None:
        """Put `settings`' benchmark fields back; a device not detected (yet) is added until detection confirms it."""
        self.threads.setText(", ".join(str(t) for t in settings.threads))
        self.batch_sizes.setText(", ".join(str(b) for b in settings.batch_sizes))
        if settings.runs is not None:
            self.by_runs.setChecked(True)
            self.runs.setValue(settings.runs)
        else:
            self.by_seconds.setChecked(True)
            self.seconds.setValue(settings.seconds or 1.0)
        self.budget.setValue(settings.budget_ms)
        index = self.device.findData(settings.device)
        if index < 0:
            self.device.addItem(settings.device.strip("/"), settings.device)  # until detection confirms it
            index = self.device.findData(settings.device)
        self.device.setCurrentIndex(index)
        self.profile.setChecked(settings.profile)
        self.gpu_memory.setValue(settings.gpu_memory_mb)


__all__ = ["BenchSection"]
