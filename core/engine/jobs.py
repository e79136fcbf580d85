"""A submitted job's handle: the event stream, `result()` and cancelling, whatever runs the job.

`JobHandle` is the interface `Engine.submit` returns; its subclasses say where the job
runs: `InlineJobHandle` (a thread of this process, `Engine(isolated=False)`, no
isolation), `core.engine.child_job.ChildJobHandle` (the sandboxed child) and
`core.engine.parent_job.ParentJobHandle` (a `@runs_in_parent` job whose untrusted steps
go to the child).
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Iterator

from core.engine.child import run_job
from core.engine.context import CancelToken, InlineChild, Reporter, runs_in_parent_side
from core.engine.events import ErrorEvent, Event, ResultEvent, TERMINAL_EVENTS
from core.errors import ErrorKind, JobError, JobFailed

if TYPE_CHECKING:
    from core.engine.supervisor import Engine

POLL_SECONDS = 0.05  # the longest a handle waits for an event before it checks cancel and limits again


def with_subject(event: Event, subject: str | None) -> Event:
    """An error that names no file is about the job's subject: say so."""
    if isinstance(event, ErrorEvent) and event.error.path is None and subject:
        return ErrorEvent(replace(event.error, path=subject))
    return event


class JobHandle:
    """One submitted job. Iterate `events()` (once) or call `result()`; `cancel()` from any thread."""

    def __init__(self, subject: str | None) -> None:
        self.subject = subject
        self._cancel_requested_at: float | None = None
        self._cancel_pending = False
        self._done = False

    @property
    def done(self) -> bool:
        """True once the job's terminal event (result or error) was read, or its events were abandoned."""
        return self._done

    @property
    def cancel_requested(self) -> bool:
        """True once `cancel()` or `request_cancel()` was called."""
        return self._cancel_requested_at is not None or self._cancel_pending

    def cancel(self) -> None:
        """Ask the job to stop (once; later calls do nothing). The engine kills a child job still running `cancel_grace_seconds` later."""
        if self._cancel_requested_at is None:
            self._cancel_requested_at = time.monotonic()
            self._send_cancel()

    def request_cancel(self) -> None:
        """`cancel()` for a signal handler: sets a flag only (no lock, no I/O); the thread
        reading the events sends the cancel within `POLL_SECONDS`."""
        self._cancel_pending = True

    def _apply_pending_cancel(self) -> None:
        if self._cancel_pending and self._cancel_requested_at is None:
            self.cancel()

    def events(self) -> Iterator[Event]:
        """The job's events, ending with its ResultEvent or ErrorEvent. Iterate once."""
        try:
            while True:
                self._apply_pending_cancel()
                event = self._next_event()
                if event is None:
                    continue
                if isinstance(event, TERMINAL_EVENTS):
                    self._done = True
                yield event
                if self._done:
                    return
        finally:
            if not self._done:
                self._abandon()
                self._done = True
            self._finished()

    def _next_event(self) -> Event | None:
        """The next event, or None when there is none yet."""
        raise NotImplementedError

    def _abandon(self) -> None:
        """The caller stopped listening before the job ended."""

    def _finished(self) -> None:
        raise NotImplementedError

    def result(self, on_event: Callable[[Event], None] | None = None) -> Any:
        """Consume the stream; return the job's value or raise `JobFailed`."""
        for event in self.events():
            if on_event is not None:
                on_event(event)
            if isinstance(event, ResultEvent):
                return event.value
            if isinstance(event, ErrorEvent):
                raise JobFailed(event.error)
        raise JobFailed(JobError(ErrorKind.INTERNAL, "job ended without a result", path=self.subject))

    def _send_cancel(self) -> None:
        raise NotImplementedError


class ThreadJobHandle(JobHandle):
    """A job run by a thread of this process, its events on a queue (the inline and parent-side jobs)."""

    def __init__(self, engine: "Engine", subject: str | None) -> None:
        super().__init__(subject)
        self._engine = engine
        self._token = CancelToken()
        self._queue: queue.Queue = queue.Queue()
        self.reporter = Reporter(self._queue.put)

    def _start(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> None:
        """Run `fn(*args, **kwargs)` as a job in a daemon thread; its result or error ends the events."""

        def work() -> None:
            self._queue.put(run_job(fn, args, kwargs, self.reporter, self._token))

        self._thread = threading.Thread(target=work, name=name, daemon=True)
        self._thread.start()

    def _send_cancel(self) -> None:
        self._token.cancel()

    def _next_event(self) -> Event | None:
        try:
            return with_subject(self._queue.get(timeout=POLL_SECONDS), self.subject)
        except queue.Empty:
            return None

    def _finished(self) -> None:
        self._engine._job_finished()


class InlineJobHandle(ThreadJobHandle):
    """Runs the job in a thread of this process: same interface, no isolation."""

    def __init__(
        self,
        engine: "Engine",
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        subject: str | None,
    ) -> None:
        super().__init__(engine, subject)
        if runs_in_parent_side(fn):
            kwargs = {**kwargs, "child": InlineChild(self.reporter, self._token)}
        self._start(fn, args, kwargs, "inline-job")
