"""The engine: runs jobs in a supervised child process and streams their events.

Model files are untrusted programs, so loading, converting and running them
happens in a child process. A crash, a kill or too much memory in the child
becomes a clear `JobError`; the next job gets a fresh child.

Usage::

    with Engine() as engine:
        handle = engine.submit(inspect_model, "model.keras", subject="model.keras")
        for event in handle.events():
            ...                      # ProgressEvent, LogEvent, PartialEvent, then Result/Error
        # or: value = handle.result(on_event=print)

Jobs run one at a time; `submit` waits for the previous job to finish.
`Engine(isolated=False)` runs jobs in a thread of this process instead (unit tests).
"""

from __future__ import annotations

import itertools
from dataclasses import replace
import multiprocessing
import os
import queue
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import psutil

from core.engine.child import ChildSettings, child_main, run_job
from core.engine.context import CancelToken, Reporter
from core.engine.events import ErrorEvent, Event, ResultEvent, TERMINAL_EVENTS
from core.errors import ErrorKind, JobError, JobFailed

POLL_SECONDS = 0.05
DEFAULT_CANCEL_GRACE_SECONDS = 1.0
MEMORY_LIMIT_ENV = "LITESMITH_MEMORY_LIMIT_MB"


def default_memory_limit_mb() -> int:
    """The child's memory cap: LITESMITH_MEMORY_LIMIT_MB, else 75% of physical memory."""
    configured = os.environ.get(MEMORY_LIMIT_ENV)
    if configured:
        return int(configured)
    return int(psutil.virtual_memory().total * 0.75 / 2**20)


def job_ref(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None)
    if not module or module == "__main__":
        raise ValueError(f"job {fn!r} must be a function defined in an importable module")
    return f"{module}:{fn.__qualname__}"


def describe_signal(exitcode: int | None) -> str:
    if exitcode is None or exitcode >= 0:
        return f"exit code {exitcode}"
    try:
        sig = signal.Signals(-exitcode)
    except ValueError:
        return f"signal {-exitcode}"
    return f"{sig.name} ({signal.strsignal(sig) or sig.name})"


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
        self._done = False

    @property
    def done(self) -> bool:
        return self._done

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_requested_at is not None

    def cancel(self) -> None:
        if self._cancel_requested_at is None:
            self._cancel_requested_at = time.monotonic()
            self._send_cancel()

    def events(self) -> Iterator[Event]:
        """The job's events, ending with its ResultEvent or ErrorEvent. Iterate once."""
        try:
            while True:
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


class _ChildJobHandle(JobHandle):
    def __init__(self, engine: "Engine", job_id: int, subject: str | None) -> None:
        super().__init__(subject)
        self._engine = engine
        self._job_id = job_id

    def _send_cancel(self) -> None:
        self._engine._send(("cancel", self._job_id))

    def _abandon(self) -> None:
        # The child may still be busy: kill it rather than let the next job wait behind an orphan.
        self._engine._kill_child()

    def _finished(self) -> None:
        self._engine._job_finished()

    def _next_event(self) -> Event | None:
        engine = self._engine
        process = engine._process
        assert process is not None
        try:
            if engine._conn.poll(POLL_SECONDS):
                message = engine._conn.recv()
                if message[0] == "event" and message[1] == self._job_id:
                    return with_subject(message[2], self.subject)
                return None
        except (EOFError, OSError):
            pass  # the child is gone; find out why below
        else:
            if process.is_alive():
                return self._check_limits(process)
        process.join(timeout=2)
        return self._child_died(process.exitcode)

    def _check_limits(self, process) -> Event | None:
        engine = self._engine
        if self._cancel_requested_at is not None and (
            time.monotonic() - self._cancel_requested_at > engine.cancel_grace_seconds
        ):
            engine._kill_child()
            return ErrorEvent(JobError(ErrorKind.CANCELLED, "cancelled by the user (engine stopped)", path=self.subject))
        rss_mb = engine._child_rss_mb()
        if rss_mb is not None and rss_mb > engine.memory_limit_mb:
            engine._kill_child()
            return ErrorEvent(
                JobError(
                    ErrorKind.OUT_OF_MEMORY,
                    f"stopped: the model engine used {rss_mb:,.0f} MiB, over its {engine.memory_limit_mb:,} MiB cap "
                    f"(raise it with --memory-limit-mb or {MEMORY_LIMIT_ENV})",
                    path=self.subject,
                )
            )
        return None

    def _child_died(self, exitcode: int | None) -> Event:
        engine = self._engine
        details = engine._read_crash_log()
        engine._forget_child()
        if self._cancel_requested_at is not None:
            return ErrorEvent(JobError(ErrorKind.CANCELLED, "cancelled by the user", path=self.subject))
        if exitcode == -signal.SIGKILL:
            return ErrorEvent(
                JobError(
                    ErrorKind.OUT_OF_MEMORY,
                    "the model engine was killed (SIGKILL), most likely because the system ran out of memory",
                    path=self.subject,
                    details=details,
                )
            )
        if exitcode is not None and exitcode >= 0:
            return ErrorEvent(JobError(
                ErrorKind.CRASHED,
                f"the model engine exited unexpectedly (exit code {exitcode}) while processing this file; "
                "its messages are above (the next job starts a fresh engine)",
                path=self.subject, details=details))
        return ErrorEvent(
            JobError(
                ErrorKind.CRASHED,
                f"the model engine crashed with {describe_signal(exitcode)} while processing this file; "
                "it may be corrupt or crafted (Litesmith itself is fine: the next job starts a fresh engine)",
                path=self.subject,
                details=details,
            )
        )


class _InlineJobHandle(JobHandle):
    """Runs the job in a thread of this process: same interface, no isolation."""

    def __init__(self, engine: "Engine", fn, args, kwargs, subject) -> None:
        super().__init__(subject)
        self._engine = engine
        self._token = CancelToken()
        self._queue: queue.Queue = queue.Queue()
        reporter = Reporter(self._queue.put)

        def work() -> None:
            self._queue.put(run_job(fn, args, kwargs, reporter, self._token))

        self._thread = threading.Thread(target=work, name="inline-job", daemon=True)
        self._thread.start()

    def _send_cancel(self) -> None:
        self._token.cancel()

    def _next_event(self) -> Event | None:
        return with_subject(self._queue.get(), self.subject)

    def _finished(self) -> None:
        self._engine._job_finished()


class Engine:
    """Supervises one child process and runs jobs in it, one at a time."""

    def __init__(
        self,
        *,
        isolated: bool = True,
        memory_limit_mb: int | None = None,
        cancel_grace_seconds: float = DEFAULT_CANCEL_GRACE_SECONDS,
        preload_tensorflow: bool = True,
    ) -> None:
        self.isolated = isolated
        self.memory_limit_mb = memory_limit_mb or default_memory_limit_mb()
        self.cancel_grace_seconds = cancel_grace_seconds
        self.preload_tensorflow = preload_tensorflow
        self._ids = itertools.count(1)
        self._busy = threading.Lock()
        self._send_lock = threading.Lock()
        self._process = None
        self._conn = None
        self._crash_log: Path | None = None
        self._closed = False

    # -- public API -------------------------------------------------------

    def submit(self, fn: Callable[..., Any], *args: Any, subject: str | None = None, **kwargs: Any) -> JobHandle:
        """Start `fn(*args, progress=..., cancel=..., **kwargs)`; waits while another job runs.

        `subject` names the file the job is about; errors without a path get it.
        """
        if self._closed:
            raise RuntimeError("engine is closed")
        self._busy.acquire()
        try:
            if not self.isolated:
                return _InlineJobHandle(self, fn, args, kwargs, subject)
            self._ensure_child()
            job_id = next(self._ids)
            self._send(("job", job_id, job_ref(fn), args, kwargs))
            return _ChildJobHandle(self, job_id, subject)
        except BaseException:
            self._busy.release()
            raise

    def run(self, fn: Callable[..., Any], *args: Any, subject: str | None = None,
            on_event: Callable[[Event], None] | None = None, **kwargs: Any) -> Any:
        """Submit and wait: returns the job's value or raises `JobFailed`."""
        return self.submit(fn, *args, subject=subject, **kwargs).result(on_event=on_event)

    def warm_up(self) -> None:
        """Start the child now (it imports TensorFlow in the background)."""
        if self.isolated:
            with self._busy:
                self._ensure_child()

    @property
    def child_pid(self) -> int | None:
        return self._process.pid if self._process is not None and self._process.is_alive() else None

    def close(self) -> None:
        self._closed = True
        process = self._process
        if process is None:
            return
        try:
            self._send(("stop",))
            process.join(timeout=2)
        except (OSError, ValueError):
            pass
        self._kill_child()
        self._forget_child()

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- child management ---------------------------------------------------

    def _ensure_child(self) -> None:
        if self._process is not None and self._process.is_alive():
            return
        self._forget_child()
        ctx = multiprocessing.get_context("spawn")
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        fd, crash_log = tempfile.mkstemp(prefix="litesmith-crash-", suffix=".log")
        os.close(fd)
        self._crash_log = Path(crash_log)
        settings = ChildSettings(crash_log_path=crash_log, preload_tensorflow=self.preload_tensorflow)
        process = ctx.Process(target=child_main, args=(child_conn, settings), name="litesmith-engine", daemon=True)
        process.start()
        child_conn.close()
        self._process, self._conn = process, parent_conn

    def _send(self, message: tuple) -> None:
        with self._send_lock:
            if self._conn is not None:
                try:
                    self._conn.send(message)
                except (OSError, ValueError, BrokenPipeError):
                    pass  # the child is gone; the reader reports why

    def _child_rss_mb(self) -> float | None:
        if self._process is None or self._process.pid is None:
            return None
        try:
            proc = psutil.Process(self._process.pid)
            rss = proc.memory_info().rss
            for child in proc.children(recursive=True):
                rss += child.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return None
        return rss / 2**20

    def _kill_child(self) -> None:
        process = self._process
        if process is not None and process.is_alive():
            process.kill()
            process.join(timeout=5)

    def _read_crash_log(self) -> str:
        try:
            return self._crash_log.read_text(errors="replace").strip() if self._crash_log else ""
        except OSError:
            return ""

    def _forget_child(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except OSError:
                pass
        if self._crash_log is not None:
            self._crash_log.unlink(missing_ok=True)
        self._process, self._conn, self._crash_log = None, None, None

    def _job_finished(self) -> None:
        if self._busy.locked():
            self._busy.release()
