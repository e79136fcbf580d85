"""A `@runs_in_parent` job (the export, which writes the user's files): runs in a thread here.

Its untrusted steps go to the sandboxed child one at a time through `EngineChild.run`,
each as a `ChildJobHandle` that does not hold the engine's job slot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from core.engine.child_job import ChildJobHandle
from core.engine.events import ErrorEvent, ResultEvent
from core.engine.jobs import ThreadJobHandle
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


class ParentJobHandle(ThreadJobHandle):
    """A `@runs_in_parent` job: runs in a thread here; its untrusted steps go to the child."""

    def __init__(
        self,
        engine: "Engine",
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        subject: str | None,
    ) -> None:
        super().__init__(engine, subject)
        self._step: ChildJobHandle | None = None
        self._start(fn, args, {**kwargs, "child": EngineChild(engine, self)}, "parent-side-job")

    def _send_cancel(self) -> None:
        self._token.cancel()
        step = self._step
        if step is not None:
            step.cancel()

    def _abandon(self) -> None:
        self._token.cancel()
        if self._step is not None:
            self._engine._kill_child()
        self._thread.join(timeout=5)
