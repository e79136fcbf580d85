"""Driving the engine from the GUI without ever blocking the Qt event loop.

`JobWorker` submits one engine job and reads its events in a `QThread`, turning
them into Qt signals. `JobRunner` is the per-window controller: it runs at most one
job at a time (a second `submit` is refused), owns the thread, cleans it up, and
warms the engine up in the background. `JobKindController` is the shape of a controller for one
kind of job (auto search, serving study); `call_in_thread` runs a small plain read (no engine)
in a thread of its own and hands its value to the GUI thread.

Only worker threads call `Engine.submit` (it blocks while another job runs) or
`Engine.warm_up`; the GUI thread only connects signals and calls `cancel()`.
(The engine starts its child from a thread that outlives these worker threads, so
the child's "die with the parent" signal is tied to the app's life, not theirs.)

Quitting (`shutdown`): the running job is cancelled first, and the thread waited for
while the engine gives the job its grace period and then kills the child; only then
is the warm-up thread waited for and the engine closed by the window.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from core.engine import Engine, ErrorEvent, JobHandle, LogEvent, PartialEvent, ProgressEvent, ResultEvent
from core.errors import ErrorKind, JobError
import gui.pyside_fixes  # noqa: F401 - PySide6 6.12 emit() bug: must be fixed before any emit

log = logging.getLogger("litesmith.gui.workers")

ResultCallback = Callable[[Any], None]
ErrorCallback = Callable[[JobError], None]


class JobWorker(QObject):
    """Runs one engine job in the thread it was moved to.

    Signals (emitted from the worker thread; connections to GUI objects are queued):

    - ``progress(fraction: float | None, stage: str, message: str)`` — None means "unknown"
    - ``log(level: str, message: str)`` — level is "debug", "info", "warning" or "error"
    - ``partial(kind: str, payload: object)`` — a piece of the result that is ready early
    - ``finished(result: object)`` — the job's return value (a frozen dataclass)
    - ``failed(error: core.errors.JobError)`` — also for a cancelled job (kind "cancelled")
    - ``done()`` — after exactly one of finished/failed; the thread may stop

    ``cancel()`` may be called from any thread, before or while the job runs. After
    `done`, ``outcome`` holds ``("finished", result)`` or ``("failed", JobError)``.
    """

    progress = Signal(object, str, str)
    log = Signal(str, str)
    partial = Signal(str, object)
    finished = Signal(object)
    failed = Signal(object)
    done = Signal()

    def __init__(
        self,
        engine: Engine,
        fn: Callable[..., Any],
        args: tuple = (),
        kwargs: dict | None = None,
        subject: str | None = None,
        then: Callable[[Any], Any] | None = None,
    ) -> None:
        super().__init__()
        self._engine = engine
        self._fn = fn
        self._then = then  # runs in this worker's thread on the job's result (e.g. listing a folder)
        self._args = tuple(args)
        self._kwargs = dict(kwargs or {})
        self.subject = subject
        self._lock = threading.Lock()
        self._handle: JobHandle | None = None
        self._cancel_requested = False
        self.outcome: tuple[str, Any] | None = None

    @property
    def cancel_requested(self) -> bool:
        """True once `cancel()` was called."""
        return self._cancel_requested

    def cancel(self) -> None:
        """Ask the job to stop; the engine kills it if it does not stop within its grace period."""
        with self._lock:
            self._cancel_requested = True
            handle = self._handle
        if handle is not None:
            handle.cancel()

    @Slot()
    def run(self) -> None:
        """Run the job (in the worker's thread) and emit its events; ``done`` always comes last."""
        try:
            self._run()
        except Exception as exc:  # noqa: BLE001 - the user must hear about every failure
            log.exception("job %s failed in the GUI worker", getattr(self._fn, "__name__", self._fn))
            self._fail(
                JobError(
                    ErrorKind.INTERNAL,
                    f"{type(exc).__name__}: {exc}",
                    path=self.subject,
                    details=traceback.format_exc(),
                )
            )
        finally:
            self.done.emit()

    def _run(self) -> None:
        if self._cancel_requested:
            self._fail(JobError(ErrorKind.CANCELLED, "cancelled by the user", path=self.subject))
            return
        handle = self._engine.submit(self._fn, *self._args, subject=self.subject, **self._kwargs)
        with self._lock:
            self._handle = handle
            cancel_now = self._cancel_requested
        if cancel_now:
            handle.cancel()
        for event in handle.events():
            if isinstance(event, ProgressEvent):
                self.progress.emit(event.fraction, event.stage, event.message)
            elif isinstance(event, LogEvent):
                self.log.emit(event.level, event.message)
            elif isinstance(event, PartialEvent):
                self.partial.emit(event.kind, event.payload)
            elif isinstance(event, ResultEvent):
                value = self._then(event.value) if self._then is not None else event.value
                self.outcome = ("finished", value)
                self.finished.emit(value)
                return
            elif isinstance(event, ErrorEvent):
                self._fail(event.error)
                return
        self._fail(JobError(ErrorKind.INTERNAL, "the job ended without a result", path=self.subject))

    def _fail(self, error: JobError) -> None:
        if error.path is None and self.subject:
            error = JobError(error.kind, error.message, path=self.subject, details=error.details)
        if self.outcome is None:
            self.outcome = ("failed", error)
            self.failed.emit(error)


class JobRunner(QObject):
    """One job at a time for one window, each in its own QThread.

    Signals (all emitted in the GUI thread):

    - ``busy_changed(busy: bool)``
    - ``started(subject: str)`` — subject is "" when the job has none
    - ``progress``, ``log``, ``partial`` — forwarded from the running `JobWorker`
    - ``finished(result: object)`` / ``failed(error: JobError)`` — after the thread
      is cleaned up and ``busy`` is False again, so a handler may submit the next job

    ``submit`` returns False (and does nothing) while a job runs.
    """

    busy_changed = Signal(bool)
    started = Signal(str)
    progress = Signal(object, str, str)
    log = Signal(str, str)
    partial = Signal(str, object)
    finished = Signal(object)
    failed = Signal(object)

    def __init__(self, engine: Engine, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self._thread: QThread | None = None
        self._worker: JobWorker | None = None
        self._callbacks: tuple[ResultCallback | None, ErrorCallback | None] = (None, None)
        self._warm_up_thread: threading.Thread | None = None
        self._stuck: list[tuple[QThread, JobWorker]] = []  # threads that would not stop at shutdown
        self._closed = False
        # Each hook may add arguments to a job before it starts: hook(fn, args, kwargs, subject) -> (args, kwargs)
        # (e.g. `gui.custom_code`: the user's custom layer code for the job's model).
        self.job_hooks: list[Callable[[Callable[..., Any], tuple, dict, str | None], tuple[tuple, dict]]] = []

    @property
    def busy(self) -> bool:
        """True while a job's thread runs."""
        return self._thread is not None

    @property
    def worker(self) -> JobWorker | None:
        """The running job's worker (None: none runs)."""
        return self._worker

    def submit(
        self,
        fn: Callable[..., Any],
        *args: Any,
        subject: str | None = None,
        on_finished: ResultCallback | None = None,
        on_failed: ErrorCallback | None = None,
        then: Callable[[Any], Any] | None = None,
        **kwargs: Any,
    ) -> bool:
        """Start `fn(*args, **kwargs)` in the engine; False when a job already runs (or after shutdown).

        `then(result)`, if given, runs in the job's worker thread (never the GUI thread) and its
        return value is what `on_finished` gets: file-system look-ups the sandboxed child may not do.
        """
        if self._thread is not None or self._closed:
            return False
        for hook in self.job_hooks:
            args, kwargs = hook(fn, tuple(args), dict(kwargs), subject)
        thread = QThread()
        thread.setObjectName("litesmith-job")
        worker = JobWorker(self.engine, fn, args, kwargs, subject, then=then)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.progress.connect(self.progress)
        worker.log.connect(self.log)
        worker.partial.connect(self.partial)
        # Direct: `thread` lives in the GUI thread, which may be blocked in shutdown()'s wait().
        worker.done.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker = thread, worker
        self._callbacks = (on_finished, on_failed)
        self.busy_changed.emit(True)
        self.started.emit(subject or "")
        thread.start()
        return True

    def cancel(self) -> bool:
        """Cancel the running job (the engine kills its child after the grace period); False when none runs."""
        worker = self._worker
        if worker is None:
            return False
        worker.cancel()
        return True

    def stop_job(self, timeout_s: float | None = None) -> bool:
        """Cancel the running job and wait for it to end (the GUI stays usable); True when none is left running."""
        thread, worker = self._thread, self._worker
        if thread is None or worker is None:
            return True
        worker.cancel()
        if timeout_s is None:
            timeout_s = self.engine.cancel_grace_seconds + 10.0
        return bool(thread.wait(int(timeout_s * 1000)))

    def warm_up(self, inputs: tuple[str, ...] = ()) -> None:
        """Start the engine's child (it imports TensorFlow) in a background thread, allowed to read `inputs`.

        The sandbox grants read access when a child starts, so warming up with the
        model and data the next job names saves that job a restart.
        """
        if self._closed or (self._warm_up_thread is not None and self._warm_up_thread.is_alive()):
            return

        def work() -> None:
            try:
                self.engine.warm_up(inputs)
            except Exception:  # noqa: BLE001 - the first job reports the real problem
                log.exception("engine warm-up failed")

        self._warm_up_thread = threading.Thread(target=work, name="litesmith-warm-up", daemon=True)
        self._warm_up_thread.start()

    def shutdown(self, timeout_s: float | None = None) -> bool:
        """Cancel the running job and wait for its thread; True when no thread is left running.

        After this, `submit` refuses new jobs. Call it before closing the engine.
        """
        self._closed = True
        if timeout_s is None:
            timeout_s = self.engine.cancel_grace_seconds + 10.0
        deadline = time.monotonic() + timeout_s
        stopped = True
        thread, worker = self._thread, self._worker
        if thread is not None and worker is not None:
            # First the job: a warm-up may be waiting for it to end (the engine runs one thing at a time).
            worker.cancel()
            if thread.wait(int(timeout_s * 1000)):
                self._release()
            else:
                log.warning("a job did not stop within %.0f s of being cancelled", timeout_s)
                self._stuck.append((thread, worker))  # keep them alive: never destroy a running QThread
                self._thread, self._worker = None, None
                stopped = False
        if self._warm_up_thread is not None:
            self._warm_up_thread.join(timeout=max(0.1, deadline - time.monotonic()))
            stopped = stopped and not self._warm_up_thread.is_alive()
        return stopped

    @Slot()
    def _on_thread_finished(self) -> None:
        thread, worker = self._thread, self._worker
        if thread is None or worker is None or self.sender() is not thread:
            return  # already cleaned up by shutdown()
        outcome = worker.outcome or (
            "failed",
            JobError(ErrorKind.INTERNAL, "the job's thread ended without a result", path=worker.subject),
        )
        on_finished, on_failed = self._callbacks
        self._release()
        self.busy_changed.emit(False)
        kind, value = outcome
        if kind == "finished":
            if on_finished is not None:
                on_finished(value)
            self.finished.emit(value)
        else:
            if on_failed is not None:
                on_failed(value)
            self.failed.emit(value)

    def _release(self) -> None:
        thread = self._thread
        if thread is not None:
            thread.wait()  # `finished` is emitted just before the thread really ends
        self._thread, self._worker = None, None
        self._callbacks = (None, None)


class JobKindController(QObject):
    """The shape every one-kind-of-job controller shares (`gui.auto.AutoController`, the serving controller).

    It submits its job through the window's `JobRunner`, is ``active`` from `_submit` until the
    job ends, and turns the end into one of three hooks a subclass implements by emitting its own
    signals: `_job_finished(result)`, `_job_failed(error)` (any `JobError` but a cancel) and
    `_job_cancelled()`. `_on_partial(kind, payload)` gets every partial the runner forwards
    (the subclass keeps the kinds it knows, while ``active``). `job` replaces the default job
    function (tests); ``None`` means the subclass's default.
    """

    def __init__(self, runner: JobRunner, parent: QObject | None = None, job: Callable[..., Any] | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self._job = job
        self.active = False
        runner.partial.connect(self._on_partial)

    def _submit(self, fn: Callable[..., Any], *args: Any, subject: str | None = None, **kwargs: Any) -> bool:
        """`runner.submit` with this controller's end hooks; False (and not active) when a job already runs."""
        self.active = True
        started = self.runner.submit(
            fn, *args, subject=subject, on_finished=self._on_finished, on_failed=self._on_failed, **kwargs
        )
        if not started:
            self.active = False
        return started

    def _on_partial(self, kind: str, payload: Any) -> None:
        """A partial result of the running job (any kind, from any job the runner runs): ignored by default."""

    def _on_finished(self, result: Any) -> None:
        self.active = False
        self._job_finished(result)

    def _on_failed(self, error: JobError) -> None:
        self.active = False
        if error.kind == ErrorKind.CANCELLED:
            self._job_cancelled()
        else:
            self._job_failed(error)

    def _job_finished(self, result: Any) -> None:
        raise NotImplementedError

    def _job_failed(self, error: JobError) -> None:
        raise NotImplementedError

    def _job_cancelled(self) -> None:
        raise NotImplementedError


class _Relay(QObject):
    """Carries a worker thread's outcome into the GUI thread (it lives there, and is never deleted)."""

    ready = Signal(object, object)  # (deliver: callable, outcome), emitted in any thread

    @Slot(object, object)
    def deliver(self, deliver: Callable[[Any], None], outcome: Any) -> None:
        """In the GUI thread: hand `outcome` to `deliver`."""
        deliver(outcome)


_relay: _Relay | None = None


def call_in_thread(
    fn: Callable[..., Any],
    *args: Any,
    on_result: Callable[[Any], object],
    on_error: Callable[[BaseException], None] | None = None,
    owner: QObject | None = None,
) -> threading.Thread:
    """Run the plain function ``fn(*args)`` in a thread of its own; its value goes to ``on_result`` in the GUI thread.

    For small reads the GUI thread must not do itself (a CSV file's header) and that must not wait
    behind an engine job (the engine runs one at a time). `fn` must not touch Qt objects, and must
    never load or run a model (that is the engine's child's work). An exception from `fn` goes to
    ``on_error`` (logged when there is none). Neither callback is called once ``owner`` is deleted.
    Call it from the GUI thread; returns the started (daemon) thread.
    """
    import shiboken6

    global _relay
    if _relay is None:
        _relay = _Relay()
        # Queued: the relay lives in the GUI thread, so `deliver` always runs there.
        _relay.ready.connect(_relay.deliver, Qt.ConnectionType.QueuedConnection)
    relay = _relay

    def deliver(outcome: tuple[bool, Any]) -> None:
        if owner is not None and not shiboken6.isValid(owner):
            return  # the widget that asked is gone
        ok, value = outcome
        if ok:
            on_result(value)
        elif on_error is not None:
            on_error(value)
        else:
            log.error("%s failed in a worker thread", getattr(fn, "__name__", fn), exc_info=value)

    def work() -> None:
        try:
            outcome: tuple[bool, Any] = (True, fn(*args))
        except Exception as exc:  # noqa: BLE001 - handed to on_error in the GUI thread
            outcome = (False, exc)
        relay.ready.emit(deliver, outcome)

    thread = threading.Thread(target=work, name="litesmith-call", daemon=True)
    thread.start()
    return thread
