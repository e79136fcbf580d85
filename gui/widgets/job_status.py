"""The status bar's job indicator: what the engine is doing, how far it is, and Cancel."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QWidget

import gui.pyside_fixes  # noqa: F401 - PySide6 6.12 emit() bug: must be fixed before any emit


class JobStatus(QWidget):
    """Label + progress bar + Cancel button; the button is enabled only while a job runs.

    Signal: ``cancel_requested()`` when the user presses Cancel.
    """

    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel("Ready")
        self.label.setObjectName("jobStatusLabel")
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.bar = QProgressBar()
        self.bar.setObjectName("jobProgress")
        self.bar.setRange(0, 100)
        self.bar.setFixedWidth(180)
        self.bar.setTextVisible(True)
        self.bar.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.setToolTip("Stop the running job (Esc)")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self._on_cancel)
        self._running = False

        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)

    @property
    def running(self) -> bool:
        """True between `job_started` and `job_ended`."""
        return self._running

    def job_started(self, text: str) -> None:
        """Show `text`, a busy bar (until the first progress report) and an enabled Cancel."""
        self._running = True
        self.label.setText(text)
        self.bar.setRange(0, 0)  # busy until the first progress report
        self.bar.setVisible(True)
        self.cancel_button.setText("Cancel")
        self.cancel_button.setEnabled(True)

    def set_progress(self, fraction: float | None, stage: str, message: str) -> None:
        """Show "stage: message" and `fraction` (0..1) as a percentage; None: a busy bar."""
        text = ": ".join(part for part in (stage, message) if part)
        if text:
            self.label.setText(text)
        if fraction is None:
            self.bar.setRange(0, 0)
        else:
            self.bar.setRange(0, 100)
            self.bar.setValue(round(fraction * 100))

    def job_ended(self, text: str) -> None:
        """Show `text`, hide the bar and disable Cancel."""
        self._running = False
        self.label.setText(text)
        self.bar.setVisible(False)
        self.bar.setRange(0, 100)
        self.bar.setValue(0)
        self.cancel_button.setText("Cancel")
        self.cancel_button.setEnabled(False)

    def _on_cancel(self) -> None:
        self.cancel_button.setText("Cancelling…")
        self.cancel_button.setEnabled(False)
        self.cancel_requested.emit()
