"""Jobs asked for while a background job runs: one queue, started in order once the runner is idle.

The window runs one engine job at a time (`gui.workers.JobRunner`). One job is the
app's own and runs in the background: the one-off device detection right after the
first model has loaded (seconds). An action the user asks for meanwhile (open a
model, Run, Auto, an export, a load test) is not refused: `DeferredJobs.when_idle`
queues it, and it starts as soon as the runner is idle. A job the *user* started is
never queued behind: while one runs, `when_idle` returns False and the caller says so.

Each queued job is a zero-argument callable (usually the action itself, called again);
a request whose key is already queued is not queued twice (pressing Run twice during
the detection runs once). The jobs start in the order they were asked for, each one
only when the runner is idle again: a deferred job that starts engine work holds the
rest until that work has ended.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable

from PySide6.QtCore import QObject, QTimer

import gui.pyside_fixes  # noqa: F401 - PySide6 6.12 emit() bug: must be fixed before any emit


class DeferredJobs(QObject):
    """The one queue of deferred jobs for one `JobRunner`.

    `runner` needs ``busy`` (bool), ``busy_changed(bool)`` and ``submit(fn, *args, on_finished=,
    on_failed=, **kwargs) -> bool`` (a `gui.workers.JobRunner`). `ready()` says whether the
    window's own multi-job work is over too (a Run chains two engine jobs: between them the
    runner is briefly idle, and a queued job must not slip in there).
    """

    def __init__(self, runner: Any, ready: Callable[[], bool] | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self._ready = ready or (lambda: True)
        self._queue: list[tuple[Hashable, Callable[[], Any]]] = []
        self._background = False
        self._draining = False
        # busy_changed(False) comes before the finished job's callbacks, which may chain the next
        # job of a Run: look again once the event loop has run them.
        runner.busy_changed.connect(lambda busy: None if busy else QTimer.singleShot(0, self._drain))

    # -- the background job ---------------------------------------------------------------------

    @property
    def background(self) -> bool:
        """True while the running job is a background one (requests made now are queued)."""
        return self._background

    def submit_background(
        self,
        fn: Callable[..., Any],
        *args: Any,
        on_finished: Callable[[Any], None],
        on_failed: Callable[[Any], None],
        **kwargs: Any,
    ) -> bool:
        """Start `fn` in the runner as the background job; False (and nothing queued) when it cannot start.

        `on_finished(result)` / `on_failed(JobError)` run after `background` is False again;
        the queued jobs start after them.
        """

        def ended(callback: Callable[[Any], None]) -> Callable[[Any], None]:
            def call(value: Any) -> None:
                self._background = False
                callback(value)

            return call

        self._background = True
        started = bool(
            self.runner.submit(fn, *args, on_finished=ended(on_finished), on_failed=ended(on_failed), **kwargs)
        )
        if not started:
            self._background = False
        return started

    # -- the queue --------------------------------------------------------------------------------

    def when_idle(self, key: Hashable, job: Callable[[], Any]) -> bool:
        """Queue `job` to start once the runner is idle; False when the running job is the user's.

        True when `job` is queued, or a job with the same `key` already is (that one stays,
        in its place). Only a background job is waited for: behind the user's own job,
        nothing is queued (the caller tells the user to wait or cancel).
        """
        if any(queued == key for queued, _ in self._queue):
            return True
        if not self._background:
            return False
        self._queue.append((key, job))
        return True

    @property
    def pending(self) -> tuple[Hashable, ...]:
        """The keys of the queued jobs, first to start first."""
        return tuple(key for key, _ in self._queue)

    def next_job(self) -> Callable[[], Any] | None:
        """The job that starts next, or None when nothing is queued."""
        return self._queue[0][1] if self._queue else None

    def clear(self) -> None:
        """Forget every queued job (the window is closing)."""
        self._queue.clear()

    def _idle(self) -> bool:
        return not self.runner.busy and not self._background and self._ready()

    def _drain(self) -> None:
        if self._draining:  # a job that shows a dialog may spin the event loop: one drain at a time
            return
        self._draining = True
        try:
            while self._queue and self._idle():
                _key, job = self._queue.pop(0)
                job()  # an exception goes to the app's crash handler; the rest stays queued
        finally:
            self._draining = False


__all__ = ["DeferredJobs"]
