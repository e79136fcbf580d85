"""Tools/Help > Devices…: the `core.hardware.DeviceReport` the window detected once, in words.

The dialog never detects anything itself: it shows the report the recipe panel's
device combo was filled from (or says the detection is still running).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

import gui.pyside_fixes  # noqa: F401 - PySide6 6.12 emit() bug: must be fixed before any emit
from core.units import gib_text

if TYPE_CHECKING:
    from core.hardware import DeviceReport, GpuInfo


def _row(label: str, value: str) -> str:
    return f"<tr><td><b>{html.escape(label)}</b>&nbsp;&nbsp;</td><td>{html.escape(value)}</td></tr>"


def _gpu_text(gpu: GpuInfo) -> str:
    parts = [gpu.name]
    if gpu.device:
        parts.append(gpu.device)
    if gpu.compute_capability:
        parts.append("compute capability " + ".".join(str(v) for v in gpu.compute_capability))
    if gpu.memory_total_mb:
        used = f"{gib_text(gpu.memory_used_mb, unit=False)} of " if gpu.memory_used_mb is not None else ""
        parts.append(f"{used}{gib_text(gpu.memory_total_mb)} used")
    if gpu.driver_version:
        parts.append(f"driver {gpu.driver_version}")
    if gpu.cuda_driver_version:
        parts.append(f"CUDA {gpu.cuda_driver_version}")
    if getattr(gpu, "utilization_percent", None) is not None:
        parts.append(f"{gpu.utilization_percent:.0f}% busy")
    return ", ".join(parts)


def report_html(report: DeviceReport | None, state: str = "done") -> str:
    """The report as HTML; `state` "pending"/"running" while the detection has not ended."""
    if report is None:
        if state in ("pending", "running"):
            return (
                "<p>Devices are detected once, in the background, after the first model has opened. "
                "Open a model (or wait a moment): this window fills in when the detection ends.</p>"
            )
        return (
            "<p><b>CPU only.</b> The devices could not be detected (or detection is off): the Keras baseline "
            "and every .tflite variant run on the CPU.</p>"
        )
    cpu = report.cpu
    rows = [
        _row("State", report.state),
        _row("CPU", cpu.model or "unknown"),
        _row("Architecture", cpu.architecture or "unknown"),
        _row("Cores", f"{cpu.physical_cores or '?'} physical, {cpu.logical_cores or '?'} logical"),
        _row(
            "Inference features",
            ", ".join(cpu.features)
            if cpu.features
            else ("none found" if cpu.flags_read else "could not read the CPU flags"),
        ),
        _row("int8 dot product", "yes (int8 kernels can beat float)" if cpu.int8_dot_product else "no"),
        _row(
            "TensorFlow",
            (report.tf_version or "?")
            + (
                ""
                if report.tf_built_with_cuda is None
                else (", built with CUDA" if report.tf_built_with_cuda else ", built without CUDA")
            ),
        ),
    ]
    if report.tf_gpus:
        for gpu in report.tf_gpus:
            rows.append(_row(f"GPU {gpu.index} (TensorFlow)", _gpu_text(gpu)))
    else:
        rows.append(_row("GPUs (TensorFlow)", "none"))
    if report.nvml_gpus:
        for gpu in report.nvml_gpus:
            rows.append(_row(f"GPU {gpu.index} (driver, NVML)", _gpu_text(gpu)))
    else:
        rows.append(_row("GPUs (driver, NVML)", f"none ({report.nvml_status or 'not checked'})"))
    for view in getattr(report, "frameworks", ()):  # TensorFlow's and JAX's views, with why not
        rows.append(
            _row(
                f"{view.name} sees",
                ", ".join(view.devices)
                if view.sees_gpu
                else (f"no GPU: {view.reason}" if view.installed else "not installed"),
            )
        )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in report.notes)
    return f"<table cellspacing='3'>{''.join(rows)}</table>" + (f"<p><b>Notes</b></p><ul>{notes}</ul>" if notes else "")


class DevicesDialog(QDialog):
    """Tools/Help > Devices…: the window's `DeviceReport` as read-only text (`report_html`); detects nothing itself."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("devicesDialog")
        self.setWindowTitle("Devices — Litesmith")
        self.text = QTextBrowser()
        self.text.setObjectName("devicesText")
        self.text.setOpenLinks(False)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text, 1)
        layout.addWidget(buttons)
        self.resize(620, 420)

    def set_report(self, report: DeviceReport | None, state: str = "done") -> None:
        """Show `report` (None: not detected, or still running per `state`: "pending", "running" or "done")."""
        self.report = report
        self.text.setHtml(report_html(report, state))

    def plain_text(self) -> str:
        """The text shown, as plain text."""
        return self.text.toPlainText()
