"""A `@runs_in_parent` job (the export, which writes the user's files): runs in a thread here.

Its untrusted steps go to the sandboxed child one at a time through `EngineChild.run`,
each as a `ChildJobHandle` that does not hold the engine's job slot.
"""

from __future__ import annotations

import queue
import threading
from typing import TYPE_CHECKING, Any, Callable

from core.engine.child import run_job
from core.engine.child_job import ChildJobHandle
from core.engine.context import CancelToken, Reporter
from core.engine.events import ErrorEvent, Event, ResultEvent
from core.engine.jobs import POLL_SECONDS, JobHandle, with_subject
from core.engine.needs import job_needs, job_ref
from core.errors import ErrorKind, JobError, JobFailed

if TYPE_CHECKING:
    from core.engine.supervisor import Engine


class EngineChild:
    """What a parent-side job gets as `child`: runs one step at a time in the sandboxed child."""

    def __init__(self, engine: "Engine", owner: "ParentJobHandle") -> None:
        self._engine, self._owner = engine, owner

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run the step `fn(*args, **kwargs)` as a job in the sandboxed child; returns its value.

        Its progress and log events reach the parent job's events. Raises `Cancelled` when the
        parent job was asked to stop, `JobFailed` when the step fails.
        """
        engine, owner = self._engine, self._owner
        if owner.cancel_requested:
            from core.errors import Cancelled

            raise Cancelled()
        ref = job_ref(fn)
        engine._ensure_child(job_needs(fn, args, kwargs))
        engine._code_tops = engine._code_tops | {ref.partition(".")[0].partition(":")[0]}
        job_id = next(engine._ids)
        engine._send(("job", job_id, ref, args, kwargs))
        step = ChildJobHandle(engine, job_id, owner.subject, owns_slot=False)
        owner._step = step
        try:
            for event in step.events():
                if isinstance(event, ResultEvent):
                    return event.value
                if isinstance(event, ErrorEvent):
                    raise JobFailed(event.error)
                owner._queue.put(event)
            raise JobFailed(JobError(ErrorKind.INTERNAL, "step ended without a result", path=owner.subject))
        finally:
            owner._step = None


class ParentJobHandle(JobHandle):
    """A `@runs_in_parent` job: runs in a thread here; its untrusted steps go to the child."""

    def __init__(self, engine: "Engine", fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                 subject: str | None) -> None:
        super().__init__(subject)
        self._engine = engine
        self._token = CancelToken()
        self._queue: queue.Queue = queue.Queue()
        self._step: ChildJobHandle | None = None
        reporter = Reporter(self._queue.put)
        child = EngineChild(engine, self)

        def work() -> None:
            self._queue.put(run_job(fn, args, {**kwargs, "child": child}, reporter, self._token))

        self._thread = threading.Thread(target=work, name="parent-side-job", daemon=True)
        self._thread.start()

    def _send_cancel(self) -> None:
        self._token.cancel()
        step = self._step
        if step is not None:
            step.cancel()

    def _next_event(self) -> Event | None:
        try:
            return with_subject(self._queue.get(timeout=POLL_SECONDS), self.subject)
        except queue.Empty:
            return None

    def _abandon(self) -> None:
        self._token.cancel()
        if self._step is not None:
            self._engine._kill_child()
        self._thread.join(timeout=5)

    def _finished(self) -> None:
        self._engine._job_finished()

