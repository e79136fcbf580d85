"""The handle of a job that runs in the sandboxed child: reads its messages, enforces its limits.

It enforces the cancel grace period, the load time limit (`LOAD_STAGES`) and the memory
cap, and turns a child that died into a clear `JobError` (crash, out of memory, stopped
from outside). Messages are unpickled with `core.engine.unpickle.loads_from_child`.
"""

from __future__ import annotations

import signal
import time
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING

from core.engine.events import ErrorEvent, Event, ProgressEvent, TERMINAL_EVENTS
from core.engine.jobs import POLL_SECONDS, JobHandle, with_subject
from core.engine.unpickle import loads_from_child
from core.errors import ErrorKind, JobError

if TYPE_CHECKING:
    from core.engine.supervisor import Engine

MEMORY_LIMIT_ENV = "LITESMITH_MEMORY_LIMIT_MB"
# Progress stages of reading an untrusted file: the load time limit covers them.
LOAD_STAGES = frozenset({"checking", "load", "loading", "inspecting", "setup"})
# A child that died of one of these was stopped from outside (a terminal hang-up, `kill`,
# systemd or `timeout` signalling the whole group): a cancel, not a crash of the model.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGINT") if hasattr(signal, name))


def describe_signal(exitcode: int | None) -> str:
    """How a child ended, for messages: `SIGKILL (Killed)` for exit code -9, `exit code 1` otherwise."""
    if exitcode is None or exitcode >= 0:
        return f"exit code {exitcode}"
    try:
        sig = signal.Signals(-exitcode)
    except ValueError:
        return f"signal {-exitcode}"
    return f"{sig.name} ({signal.strsignal(sig) or sig.name})"


class ChildJobHandle(JobHandle):
    """A job running in the engine's child process: reads its events from the pipe and enforces the limits.

    The cancel grace period, the load time limit and the memory cap are checked at least
    every `POLL_SECONDS`; a child that dies becomes an ErrorEvent saying how (crash, out of
    memory, killed by a signal).
    """

    def __init__(self, engine: "Engine", job_id: int, subject: str | None, *, owns_slot: bool = True) -> None:
        super().__init__(subject)
        self._engine = engine
        self._job_id = job_id
        self._owns_slot = owns_slot  # False: a step of a parent-side job, which holds the slot
        self._load_started_at: float | None = None
        self._load_done = False
        self._limits_checked_at = time.monotonic()

    def _send_cancel(self) -> None:
        self._engine._send(("cancel", self._job_id))

    def _abandon(self) -> None:
        # The child may still be busy: kill it rather than let the next job wait behind an orphan.
        self._engine._kill_child()

    def _finished(self) -> None:
        self._engine._import_cache_outbox()
        if self._owns_slot:
            self._engine._job_finished()

    def _next_event(self) -> Event | None:
        engine = self._engine
        process, conn = engine._process, engine._conn
        assert process is not None and conn is not None  # the engine sets and clears them together
        try:
            if conn.poll(POLL_SECONDS):
                try:
                    message = loads_from_child(conn.recv_bytes(), engine._code_tops)
                except (EOFError, OSError):
                    raise
                except Exception as exc:  # noqa: BLE001 - a message that is not plain data ends the child
                    engine._kill_child()
                    return ErrorEvent(
                        JobError(
                            ErrorKind.CRASHED,
                            f"the model engine sent a malformed message ({exc}); "
                            "it was stopped (the next job starts a fresh engine)",
                            path=self.subject,
                        )
                    )
                if message[0] == "event" and message[1] == self._job_id:
                    self._track_load(message[2])
                    if not isinstance(message[2], TERMINAL_EVENTS) and process.is_alive():
                        # A job that reports all the time must still meet the cancel grace
                        # period, the load time limit and the memory cap.
                        stopped = self._check_limits_if_due(process)
                        if stopped is not None:
                            return stopped
                    return with_subject(message[2], self.subject)
                if message[0] == "sandbox":
                    engine._sandbox = message[1]
                return self._check_limits(process) if process.is_alive() else None
        except (EOFError, OSError):
            pass  # the child is gone; find out why below
        else:
            if process.is_alive():
                return self._check_limits(process)
        process.join(timeout=2)
        return self._child_died(process.exitcode)

    def _track_load(self, event: Event) -> None:
        """The load clock starts at the first loading stage and stops at the first other stage."""
        if self._load_done or not isinstance(event, ProgressEvent) or not event.stage:
            return
        if event.stage in LOAD_STAGES:
            if self._load_started_at is None:
                self._load_started_at = time.monotonic()
        else:
            self._load_done = True

    def _check_limits_if_due(self, process: BaseProcess) -> Event | None:
        if time.monotonic() - self._limits_checked_at < POLL_SECONDS:
            return None
        return self._check_limits(process)

    def _check_limits(self, process: BaseProcess) -> Event | None:
        self._limits_checked_at = time.monotonic()
        engine = self._engine
        if self._cancel_requested_at is not None and (
            time.monotonic() - self._cancel_requested_at > engine.cancel_grace_seconds
        ):
            engine._kill_child()
            return ErrorEvent(
                JobError(ErrorKind.CANCELLED, "cancelled by the user (engine stopped)", path=self.subject)
            )
        limit = engine.load_timeout_s
        if (
            limit
            and self._load_started_at is not None
            and not self._load_done
            and time.monotonic() - self._load_started_at > limit
        ):
            engine._kill_child()
            return ErrorEvent(
                JobError(
                    ErrorKind.BAD_INPUT,
                    f"did not finish loading in {limit:g} s; the model engine was stopped "
                    "(a model that never finishes loading is refused; raise the limit with --load-timeout)",
                    path=self.subject,
                )
            )
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
        if exitcode is not None and -exitcode in STOP_SIGNALS:
            return ErrorEvent(
                JobError(
                    ErrorKind.CANCELLED,
                    f"the model engine was stopped by {describe_signal(exitcode)} from outside Litesmith",
                    path=self.subject,
                    details=details,
                )
            )
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
            return ErrorEvent(
                JobError(
                    ErrorKind.CRASHED,
                    f"the model engine exited unexpectedly (exit code {exitcode}) while processing this file; "
                    "its messages are above (the next job starts a fresh engine)",
                    path=self.subject,
                    details=details,
                )
            )
        return ErrorEvent(
            JobError(
                ErrorKind.CRASHED,
                f"the model engine crashed with {describe_signal(exitcode)} while processing this file; "
                "it may be corrupt or crafted (Litesmith itself is fine: the next job starts a fresh engine)",
                path=self.subject,
                details=details,
            )
        )
