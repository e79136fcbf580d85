"""What a job function receives: a progress callback (`Reporter`) and a `CancelToken`.

A job is a plain function ``fn(*args, progress: Reporter, cancel: CancelToken, **kwargs)``
returning a frozen dataclass. It does not know whether it runs in the engine's
child process or inline (unit tests); the Reporter hides where events go.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from core.engine.events import Event, LogEvent, PartialEvent, ProgressEvent
from core.errors import Cancelled


class CancelToken:
    """Cooperative cancellation: the caller sets it, the job checks it between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the job to stop; it raises `Cancelled` at its next check. Safe from any thread."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """True once `cancel()` was called."""
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise `core.errors.Cancelled` when the token was cancelled; else return at once."""
        if self._event.is_set():
            raise Cancelled()


class Reporter:
    """The progress callback handed to every job.

    Call it as ``progress(fraction, message, stage=...)``; use ``progress.log(...)``
    for messages and ``progress.partial(kind, payload)`` for results that are
    ready early. Partial events of one kind can be throttled with
    ``min_interval`` so a tight loop cannot flood the caller.
    """

    def __init__(self, sink: Callable[[Event], None]) -> None:
        self._sink = sink
        self._last_partial: dict[str, float] = {}

    def __call__(self, fraction: float | None, message: str = "", stage: str = "") -> None:
        if fraction is not None:
            fraction = min(1.0, max(0.0, float(fraction)))
        self._sink(ProgressEvent(fraction=fraction, stage=stage, message=message))

    def log(self, message: str, level: str = "info") -> None:
        """Send a LogEvent: `level` is "debug", "info", "warning" or "error"."""
        self._sink(LogEvent(level=level, message=message))

    def partial(self, kind: str, payload: Any) -> None:
        """Send a PartialEvent of `kind` (how to read `payload`) and note its time for `partial_due`."""
        self._last_partial[kind] = time.monotonic()
        self._sink(PartialEvent(kind=kind, payload=payload))

    def partial_due(self, kind: str, min_interval: float) -> bool:
        """True when at least `min_interval` seconds passed since the last `kind` partial."""
        last = self._last_partial.get(kind)
        return last is None or time.monotonic() - last >= min_interval

    def scaled(self, start: float, end: float, stage: str = "") -> "Reporter":
        """A Reporter for a sub-step that maps its 0..1 onto start..end of this one."""
        return _ScaledReporter(self, start, end, stage)


class _ScaledReporter(Reporter):
    def __init__(self, parent: Reporter, start: float, end: float, stage: str) -> None:
        super().__init__(parent._sink)
        self._last_partial = parent._last_partial  # one throttle for the whole job
        self._parent, self._start, self._end, self._stage = parent, start, end, stage

    def __call__(self, fraction: float | None, message: str = "", stage: str = "") -> None:
        if fraction is not None:
            fraction = self._start + (self._end - self._start) * min(1.0, max(0.0, float(fraction)))
        self._parent(fraction, message, stage or self._stage)


def null_reporter() -> Reporter:
    """A Reporter that drops everything (for calling a job function directly)."""
    return Reporter(lambda event: None)


_PARENT_SIDE = "__litesmith_runs_in_parent__"


def runs_in_parent(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a job that must run in the engine's parent process (it writes the user's files).

    The engine calls it in a thread of the parent as ``fn(*args, progress=..., cancel=...,
    child=..., **kwargs)``; ``child.run(step, *args)`` runs `step` (a normal job function)
    in the sandboxed child and returns its value or raises `JobFailed`. Such a job must
    never parse model bytes itself: that is what the child is for.
    """
    setattr(fn, _PARENT_SIDE, True)
    return fn


def runs_in_parent_side(fn: Callable[..., Any]) -> bool:
    """True when `fn` is marked with `@runs_in_parent` (the engine runs it in a thread of the parent)."""
    return bool(getattr(fn, _PARENT_SIDE, False))


class InlineChild:
    """`child` for a parent-side job without a child process (Engine(isolated=False), direct calls)."""

    def __init__(self, progress: "Reporter", cancel: CancelToken) -> None:
        self._progress, self._cancel = progress, cancel

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call the job `fn(*args, progress=..., cancel=..., **kwargs)` here, with this job's reporter and token."""
        return fn(*args, progress=self._progress, cancel=self._cancel, **kwargs)
