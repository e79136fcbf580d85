"""The window's devices: the one-off detection, Tools/Help > Devices…, and the "CPU vs GPU" measurement.

Devices are detected once, as the window's background job (`gui.job_queue.DeferredJobs`),
right after the first model has loaded: the engine's child has TensorFlow by then, so it
takes seconds. What the user asks for meanwhile is queued and starts when it ends. The
report (`core.hardware.DeviceReport`, or None: "CPU only") goes to the recipe panel's
device choice and to the Devices dialog (`gui.devices.DevicesDialog`).

The results' "CPU vs GPU" page asks for `core.benchmark.gpu_sweep.crossover_sweep` on the
open model (`measure_crossover`); the page shows its outcome.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, QTimer

from core.errors import JobError
import gui.pyside_fixes  # noqa: F401 - PySide6 6.12 emit() bug: must be fixed before any emit

log = logging.getLogger("litesmith.gui")


def default_device_job() -> Callable[..., Any]:
    """`core.hardware.detect_devices` (imported here: it imports TensorFlow, and runs in the engine's child)."""
    from core.hardware import detect_devices

    return detect_devices


class DeviceView(QObject):
    """Detects the devices once and shows them, for one `gui.main_window.MainWindow`.

    `device_job()` returns the detection job (tests pass a fake); None means no detection
    ("CPU only" at once). `state` goes "pending" -> "running" -> "done". The report is
    kept in ``window.device_report``; ``window.devices_detected(report or None)`` is
    emitted when the detection ends.
    """

    def __init__(self, window: Any, device_job: Callable[[], Callable[..., Any]] | None) -> None:
        super().__init__(window)
        self.window = window
        self.device_job = device_job
        self.state = "pending"
        self._text_before = ""
        if device_job is None:
            self.state = "done"
            window.recipe_panel.set_devices(None)
            window.recipe_panel.device_state.setText("CPU only")

    def detect(self) -> None:
        """Start the detection as the background job (once; retried every 0.5 s while another job runs)."""
        window = self.window
        if self.state != "pending" or self.device_job is None:
            return
        if window.runner.busy:
            QTimer.singleShot(500, self.detect)
            return
        try:
            job = self.device_job()
        except ImportError as exc:
            log.warning("device detection is not available: %s", exc)
            self.on_devices(None)
            return
        self.state = "running"
        self._text_before = window.job_status.label.text()
        if window.jobs.queue.submit_background(
            job, on_finished=self.on_devices, on_failed=lambda error: self.on_devices(None, error)
        ):
            window.job_status.job_started("Looking for GPUs…")
        else:
            self.state = "pending"

    def on_devices(self, report: Any, error: JobError | None = None) -> None:
        """The detection ended: `report` (None when it failed or was not available) goes everywhere it is shown."""
        window = self.window
        self.state = "done"
        if error is not None:
            log.warning("device detection failed: %s", error.one_line())
        window.device_report = report
        window.recipe_panel.set_devices(report)
        if window.devices_dialog is not None:
            window.devices_dialog.set_report(report, state="done")
        if not window.runner.busy:
            window.job_status.job_ended(self._text_before or "Ready")
        window.devices_detected.emit(report)

    def show_devices(self) -> Any:
        """Tools/Help > Devices…: the detection the recipe panel uses (the dialog says when it still runs)."""
        from gui.devices import DevicesDialog

        window = self.window
        if window.devices_dialog is not None:
            window.devices_dialog.raise_()
            return window.devices_dialog
        dialog = DevicesDialog(window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _r: setattr(window, "devices_dialog", None))
        dialog.set_report(window.device_report, state=self.state)
        window.devices_dialog = dialog
        dialog.open()
        return dialog

    def measure_crossover(self) -> bool:
        """Run `core.benchmark.gpu_sweep.crossover_sweep` on the open model; False when it cannot start now."""
        from core.benchmark.gpu_sweep import crossover_sweep, default_threads
        from core.benchmark.results import BenchConfig

        window = self.window
        page = window.results_panel.crossover_page
        if window.model_info is None or window.runner.busy:
            page.set_failed("open a model and wait for the running job to end")
            return False
        config = BenchConfig(batch_sizes=(1, 8, 64, 256), threads=default_threads(), runs=20, warmup=2)
        path = window.model_info.path
        started = window.runner.submit(
            crossover_sweep,
            path,
            config,
            subject=path,
            devices=("cpu", "gpu"),
            on_finished=page.set_result,
            on_failed=lambda error: page.set_failed(error.one_line()),
        )
        if started:
            page.set_running()
            window.job_status.job_started("Measuring CPU vs GPU…")
        return started


__all__ = ["DeviceView", "default_device_job"]
