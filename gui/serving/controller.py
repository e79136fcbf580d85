"""One serving study through the window's `JobRunner` (one job at a time, Cancel in the status bar).

`ServingController.start(models, kwargs)` submits `gui.serving.child_job.serve_models`
(which calls `core.serving.study_serving` in the engine's child). The engine streams
``partial("serving_point", LoadPoint)``; the controller re-emits them as ``point``.

Signals (GUI thread): ``point(LoadPoint)``, ``study_finished(ServingStudy)``,
``study_failed(JobError)``, ``study_cancelled()``.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from PySide6.QtCore import QObject, Signal

from core.errors import JobError
import gui.pyside_fixes  # noqa: F401 - PySide6 6.12 emit() bug: must be fixed before any emit
from gui.workers import JobKindController, JobRunner

POINT_KIND = "serving_point"  # core.serving.PARTIAL_KIND (not imported: the GUI thread stays light)


def default_serving_job() -> Callable[..., Any]:
    """The job a study submits: `gui.serving.child_job.serve_models` (imported on first use)."""
    from gui.serving.child_job import serve_models

    return serve_models


class ServingController(JobKindController):
    """One serving study at a time through the window's `JobRunner` (signals: see the module's docstring)."""

    point = Signal(object)
    study_finished = Signal(object)
    study_failed = Signal(object)
    study_cancelled = Signal()

    def __init__(self, runner: JobRunner, parent: QObject | None = None, job: Callable[..., Any] | None = None) -> None:
        super().__init__(runner, parent, job)
        self.points = 0

    def start(
        self, models: Sequence[tuple[str, str | bytes]], study_kwargs: dict[str, Any], subject: str | None = None
    ) -> bool:
        """Start the study of `models` ((name, .tflite path or bytes) pairs); False when a job already runs."""
        if self.runner.busy or not models:
            return False
        job = self._job or default_serving_job()
        self.points = 0
        return self._submit(job, [(str(n), m) for n, m in models], subject=subject, **study_kwargs)

    def cancel(self) -> bool:
        """Ask the running study to stop (the engine kills the child after its grace period)."""
        return self.active and self.runner.cancel()

    def _on_partial(self, kind: str, payload: Any) -> None:
        if self.active and kind == POINT_KIND:
            self.points += 1
            self.point.emit(payload)

    def _job_finished(self, study: Any) -> None:
        self.study_finished.emit(study)

    def _job_failed(self, error: JobError) -> None:
        self.study_failed.emit(error)

    def _job_cancelled(self) -> None:
        self.study_cancelled.emit()


__all__ = ["ServingController", "POINT_KIND", "default_serving_job"]
