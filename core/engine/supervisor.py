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

The child is sandboxed (`core.engine.sandbox`): it may read only the paths named
in its jobs' arguments (any str or path, inside tuples, lists, dicts and
dataclasses, that exists), and write only its scratch folder. Landlock can only be
tightened, so a job that names a path the current child may not read gets a fresh
child (its inputs: the engine's `inputs` plus that job's paths). A job marked
`@runs_in_parent` (the export, which writes the user's files) runs in a thread of
this process and sends its untrusted steps to the child through `child.run(...)`.

A job that reports a loading stage ("checking", "load", "loading", "inspecting",
"setup") must leave it within `load_timeout_s` seconds, or the child is killed
and the job fails with "did not finish loading in N s" (exit 3).

Stopping: `JobHandle.cancel()` asks the job to stop (its cancel token); a child job
that has not stopped `cancel_grace_seconds` later is killed. `request_cancel()` does
the same from a signal handler (it only sets a flag; the thread reading the events
sends the cancel within `POLL_SECONDS`). The child dies with this process however it
ends (`core.engine.lifeline`): children are started from a thread that lives as long
as the process (`_SPAWNER`), so Linux's parent-death signal fires on the death of the
process, not of the GUI worker thread that happened to submit the job.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, replace
import multiprocessing
import os
import queue
import shutil
import signal
import stat
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import psutil

from core.engine.child import ChildSettings, child_main, run_job
from core.engine.lifeline import SCRATCH_PREFIX, claim_scratch, release_scratch, stale_scratch_folders
from core.engine.context import CancelToken, InlineChild, Reporter, runs_in_parent_side
from core.engine.events import ErrorEvent, Event, ProgressEvent, ResultEvent, TERMINAL_EVENTS
from core.errors import ErrorKind, JobError, JobFailed

POLL_SECONDS = 0.05
DEFAULT_CANCEL_GRACE_SECONDS = 1.0
STOP_WAIT_SECONDS = 1.0  # how long `close()` lets an idle child exit by itself before killing it
DEFAULT_LOAD_TIMEOUT_SECONDS = 120.0
MEMORY_LIMIT_ENV = "LITESMITH_MEMORY_LIMIT_MB"
# Progress stages of reading an untrusted file: the load time limit covers them.
LOAD_STAGES = frozenset({"checking", "load", "loading", "inspecting", "setup"})


def default_memory_limit_mb() -> int:
    """The child's memory cap: LITESMITH_MEMORY_LIMIT_MB, else 75% of physical memory."""
    configured = os.environ.get(MEMORY_LIMIT_ENV)
    if configured:
        return int(configured)
    return int(psutil.virtual_memory().total * 0.75 / 2**20)


class _Spawner:
    """Starts child processes from a thread that lives as long as this process.

    Linux sends a child its parent-death signal when the *thread* that forked it ends.
    The GUI submits jobs from worker threads that end after each job, so a child
    started there would be killed with that thread. Processes are therefore started
    from the main thread, or else handed to one daemon thread that never ends.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self, process) -> None:
        current = threading.current_thread()
        if current is threading.main_thread() or current is self._thread:
            process.start()
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name="litesmith-spawner", daemon=True)
                self._thread.start()
        done = threading.Event()
        failure: list[BaseException] = []
        self._requests.put((process, done, failure))
        done.wait()
        if failure:
            raise failure[0]

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def _serve(self) -> None:
        while True:
            process, done, failure = self._requests.get()
            try:
                process.start()
            except BaseException as exc:  # noqa: BLE001 - handed back to the caller's thread
                failure.append(exc)
            finally:
                done.set()


_SPAWNER = _Spawner()
_SWEEP_LOCK = threading.Lock()
_swept = False


def sweep_stale_scratch() -> int:
    """Remove engine scratch folders left by processes that died without clean-up (once per process)."""
    global _swept
    with _SWEEP_LOCK:
        if _swept:
            return 0
        _swept = True
    removed = 0
    for folder in stale_scratch_folders(tempfile.gettempdir()):
        _remove_tree(folder)
        removed += 1
    return removed


# A child that died of one of these was stopped from outside (a terminal hang-up, `kill`,
# systemd or `timeout` signalling the whole group): a cancel, not a crash of the model.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGINT") if hasattr(signal, name))


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


@dataclass(frozen=True)
class JobNeeds:
    """What a child must be allowed for a job: input paths to read, code folders, result caches."""

    inputs: frozenset[str] = frozenset()
    code_roots: frozenset[str] = frozenset()
    caches: frozenset[str] = frozenset()

    def __or__(self, other: "JobNeeds") -> "JobNeeds":
        return JobNeeds(self.inputs | other.inputs, self.code_roots | other.code_roots, self.caches | other.caches)


def _is_beneath(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _as_input(text: str) -> str | None:
    """The real path of an existing file or folder named by `text`, or None."""
    if not text or len(text) > 4096 or "\0" in text:
        return None
    try:
        if not os.path.exists(text):
            return None
        real = os.path.realpath(text)
    except (OSError, ValueError):
        return None
    return None if real == os.sep else real  # never the whole file system


def job_needs(fn: Callable[..., Any], args: tuple, kwargs: dict) -> JobNeeds:
    """The paths a job's arguments name (walked through containers and dataclasses)."""
    from core.cache import ResultCache
    from core.engine.sandbox import code_root

    inputs: set[str] = set()
    caches: set[str] = set()
    seen: set[int] = set()

    def walk(value: Any, depth: int, field_name: str = "") -> None:
        if depth > 8 or value is None or isinstance(value, (bool, int, float, complex, bytes, bytearray, memoryview)):
            return
        if isinstance(value, (str, os.PathLike)):
            try:
                text = os.fspath(value)
            except TypeError:
                return
            if isinstance(text, str):
                real = _as_input(text)
                if real is not None:
                    inputs.add(real)
                if field_name == "cache_dir" and text:
                    caches.add(os.path.abspath(text))
            return
        if id(value) in seen:
            return
        seen.add(id(value))
        if isinstance(value, ResultCache):
            caches.add(os.path.abspath(value.folder))
            real = _as_input(os.fspath(value.folder))
            if real is not None:
                inputs.add(real)
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(key, depth + 1)
                walk(item, depth + 1, key if isinstance(key, str) else "")
        elif isinstance(value, (list, tuple, set, frozenset)):
            for item in value:
                walk(item, depth + 1)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            for f in dataclasses.fields(value):
                walk(getattr(value, f.name, None), depth + 1, f.name)

    walk(args, 0)
    walk(kwargs, 0)
    module = getattr(fn, "__module__", "") or ""
    root = code_root(module) if module else None
    return JobNeeds(frozenset(inputs), frozenset({root} if root else ()), frozenset(caches))


_SAFE_BUILTINS = frozenset({"set", "frozenset", "complex", "bytearray", "slice", "range", "list", "dict", "tuple",
                            "bytes", "str", "int", "float", "bool", "object"})
_SAFE_GLOBALS = frozenset({
    ("copyreg", "_reconstructor"), ("collections", "OrderedDict"), ("collections", "defaultdict"),
    ("collections", "deque"), ("datetime", "datetime"), ("datetime", "date"), ("datetime", "time"),
    ("datetime", "timedelta"), ("datetime", "timezone"), ("pathlib", "Path"), ("pathlib", "PosixPath"),
    ("pathlib", "PurePosixPath"), ("pathlib", "WindowsPath"), ("pathlib", "PureWindowsPath"),
})
_NUMPY_FUNCTIONS = frozenset({"_reconstruct", "scalar", "_frombuffer"})


def _resolve(module_name: str, qualname: str, may_import: bool) -> Any:
    import importlib
    import sys

    module = sys.modules.get(module_name)
    if module is None and may_import:
        module = importlib.import_module(module_name)
    target: Any = module
    for part in qualname.split("."):
        if target is None or part.startswith("__"):
            return None
        target = getattr(target, part, None)
    return target


def allowed_global(module: str, name: str, code_tops: frozenset[str] = frozenset({"core"})) -> Any:
    """What a pickle from the child may name: plain data types, never a function that acts.

    The child is sandboxed, but what it sends is unpickled here, outside the sandbox:
    a child taken over by a model must not be able to name `os.system` or a class that
    writes files. Allowed: safe builtins and standard-library value types, numpy arrays,
    dtypes and scalars, and, from Litesmith's own code (and the job modules'), classes
    that hold data (dataclasses, enums, exceptions, named tuples). Nothing is imported
    for a pickle except Litesmith's and the jobs' own modules and numpy.
    """
    import builtins
    import enum

    if module == "builtins":
        obj = getattr(builtins, name, None)
        if name in _SAFE_BUILTINS or (isinstance(obj, type) and issubclass(obj, BaseException)):
            return obj
        return None
    if (module, name) in _SAFE_GLOBALS:
        return _resolve(module, name, True)
    top = module.partition(".")[0]
    if top == "numpy":
        obj = _resolve(module, name, True)
        if name in _NUMPY_FUNCTIONS and callable(obj):
            return obj
        import numpy

        if isinstance(obj, type) and (issubclass(obj, numpy.dtype) or issubclass(obj, numpy.generic)
                                      or obj is numpy.ndarray):
            return obj
        return None
    obj = _resolve(module, name, top in code_tops)
    if isinstance(obj, type) and (dataclasses.is_dataclass(obj) or issubclass(obj, (enum.Enum, BaseException))
                                  or (issubclass(obj, tuple) and hasattr(obj, "_fields"))):
        return obj
    return None


def loads_from_child(data: bytes, code_tops: frozenset[str] = frozenset({"core"})) -> Any:
    """Unpickle a message from the child with `allowed_global` as the only way to name a global."""
    import io
    import pickle

    class _Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            try:
                obj = allowed_global(module, name, code_tops)
            except Exception:  # noqa: BLE001 - a module that fails to import is refused as well
                obj = None
            if obj is None:
                raise pickle.UnpicklingError(f"the model engine sent a {module}.{name}, which is not plain data")
            return obj

    return _Unpickler(io.BytesIO(data)).load()


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
        return self._done

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_requested_at is not None or self._cancel_pending

    def cancel(self) -> None:
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


class _ChildJobHandle(JobHandle):
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
        process = engine._process
        assert process is not None
        try:
            if engine._conn.poll(POLL_SECONDS):
                try:
                    message = loads_from_child(engine._conn.recv_bytes(), engine._code_tops)
                except (EOFError, OSError):
                    raise
                except Exception as exc:  # noqa: BLE001 - a message that is not plain data ends the child
                    engine._kill_child()
                    return ErrorEvent(JobError(ErrorKind.CRASHED, f"the model engine sent a malformed message ({exc}); "
                                               "it was stopped (the next job starts a fresh engine)",
                                               path=self.subject))
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

    def _check_limits_if_due(self, process) -> Event | None:
        if time.monotonic() - self._limits_checked_at < POLL_SECONDS:
            return None
        return self._check_limits(process)

    def _check_limits(self, process) -> Event | None:
        self._limits_checked_at = time.monotonic()
        engine = self._engine
        if self._cancel_requested_at is not None and (
            time.monotonic() - self._cancel_requested_at > engine.cancel_grace_seconds
        ):
            engine._kill_child()
            return ErrorEvent(JobError(ErrorKind.CANCELLED, "cancelled by the user (engine stopped)", path=self.subject))
        limit = engine.load_timeout_s
        if (limit and self._load_started_at is not None and not self._load_done
                and time.monotonic() - self._load_started_at > limit):
            engine._kill_child()
            return ErrorEvent(JobError(
                ErrorKind.BAD_INPUT,
                f"did not finish loading in {limit:g} s; the model engine was stopped "
                "(a model that never finishes loading is refused; raise the limit with --load-timeout)",
                path=self.subject))
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
            return ErrorEvent(JobError(ErrorKind.CANCELLED, f"the model engine was stopped by {describe_signal(exitcode)} "
                                       "from outside Litesmith", path=self.subject, details=details))
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

        if runs_in_parent_side(fn):
            kwargs = {**kwargs, "child": InlineChild(reporter, self._token)}

        def work() -> None:
            self._queue.put(run_job(fn, args, kwargs, reporter, self._token))

        self._thread = threading.Thread(target=work, name="inline-job", daemon=True)
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


class _EngineChild:
    """What a parent-side job gets as `child`: runs one step at a time in the sandboxed child."""

    def __init__(self, engine: "Engine", owner: "_ParentJobHandle") -> None:
        self._engine, self._owner = engine, owner

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        engine, owner = self._engine, self._owner
        if owner.cancel_requested:
            from core.errors import Cancelled

            raise Cancelled()
        ref = job_ref(fn)
        engine._ensure_child(job_needs(fn, args, kwargs))
        engine._code_tops = engine._code_tops | {ref.partition(".")[0].partition(":")[0]}
        job_id = next(engine._ids)
        engine._send(("job", job_id, ref, args, kwargs))
        step = _ChildJobHandle(engine, job_id, owner.subject, owns_slot=False)
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


class _ParentJobHandle(JobHandle):
    """A `@runs_in_parent` job: runs in a thread here; its untrusted steps go to the child."""

    def __init__(self, engine: "Engine", fn, args, kwargs, subject) -> None:
        super().__init__(subject)
        self._engine = engine
        self._token = CancelToken()
        self._queue: queue.Queue = queue.Queue()
        self._step: _ChildJobHandle | None = None
        reporter = Reporter(self._queue.put)
        child = _EngineChild(engine, self)

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


class Engine:
    """Supervises one child process and runs jobs in it, one at a time."""

    def __init__(
        self,
        *,
        isolated: bool = True,
        memory_limit_mb: int | None = None,
        cancel_grace_seconds: float = DEFAULT_CANCEL_GRACE_SECONDS,
        preload_tensorflow: bool = True,
        load_timeout_s: float | None = DEFAULT_LOAD_TIMEOUT_SECONDS,
        inputs: tuple[str, ...] | list[str] = (),
    ) -> None:
        """`inputs`: paths every child may read (e.g. all the files a command names), so
        jobs over them share one child; each job's own paths are added as needed."""
        self.isolated = isolated
        self.memory_limit_mb = memory_limit_mb or default_memory_limit_mb()
        self.cancel_grace_seconds = cancel_grace_seconds
        self.preload_tensorflow = preload_tensorflow
        self.load_timeout_s = load_timeout_s
        self._base_inputs = frozenset(filter(None, (_as_input(os.fspath(p)) for p in inputs)))
        self._ids = itertools.count(1)
        self._busy = threading.Lock()
        self._send_lock = threading.Lock()
        self._child_lock = threading.RLock()  # starting a child vs. closing the engine
        self._process = None
        self._conn = None
        self._crash_log: Path | None = None
        self._scratch: Path | None = None
        self._scratch_lock: int | None = None
        self._granted = JobNeeds()
        self._sandbox = None
        self._code_tops: frozenset[str] = frozenset({"core"})  # packages whose classes a result may use
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
            if runs_in_parent_side(fn):
                return _ParentJobHandle(self, fn, args, kwargs, subject)
            ref = job_ref(fn)
            self._ensure_child(job_needs(fn, args, kwargs))
            self._code_tops = self._code_tops | {ref.partition(".")[0].partition(":")[0]}
            job_id = next(self._ids)
            self._send(("job", job_id, ref, args, kwargs))
            return _ChildJobHandle(self, job_id, subject)
        except BaseException:
            self._busy.release()
            raise

    def run(self, fn: Callable[..., Any], *args: Any, subject: str | None = None,
            on_event: Callable[[Event], None] | None = None, **kwargs: Any) -> Any:
        """Submit and wait: returns the job's value or raises `JobFailed`."""
        return self.submit(fn, *args, subject=subject, **kwargs).result(on_event=on_event)

    def warm_up(self, inputs: tuple[str, ...] | list[str] = ()) -> None:
        """Start the child now (it imports TensorFlow in the background), allowed to read `inputs`."""
        if self.isolated and not self._closed:
            with self._busy:
                if self._closed:
                    return  # the app quit while this waited for a job to end
                self._ensure_child(JobNeeds(inputs=frozenset(filter(None, (_as_input(os.fspath(p)) for p in inputs)))))

    @property
    def child_pid(self) -> int | None:
        return self._process.pid if self._process is not None and self._process.is_alive() else None

    @property
    def sandbox(self):
        """The `SandboxStatus` the current (or last) child reported, or None before one did."""
        return self._sandbox

    @property
    def scratch_folder(self) -> Path | None:
        """The current child's private scratch folder (the only place it may write)."""
        return self._scratch

    def close(self) -> None:
        """Stop the child (a job still running in it is killed) and refuse new jobs. Idempotent."""
        with self._child_lock:
            self._closed = True
            self._stop_child()

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- child management ---------------------------------------------------

    def _covers(self, needs: JobNeeds) -> bool:
        granted = self._granted
        return (all(any(_is_beneath(p, g) for g in granted.inputs | granted.code_roots) for p in needs.inputs)
                and all(any(_is_beneath(r, g) for g in granted.code_roots) for r in needs.code_roots))

    def _ensure_child(self, needs: JobNeeds = JobNeeds()) -> None:
        with self._child_lock:
            if self._closed:  # e.g. a warm-up that was waiting while the app quit
                raise RuntimeError("engine is closed")
            self._start_child_if_needed(needs)

    def _start_child_if_needed(self, needs: JobNeeds) -> None:
        needs = needs | JobNeeds(inputs=self._base_inputs)
        if self._process is not None and self._process.is_alive():
            if self._covers(needs):
                self._granted = self._granted | JobNeeds(caches=needs.caches)
                return
            self._stop_child()  # Landlock cannot be loosened: a fresh child for the new inputs
        self._forget_child()
        from core.cache import default_cache_dir
        from core.engine.sandbox import code_root

        sweep_stale_scratch()
        ctx = multiprocessing.get_context("spawn")
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        self._scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))
        self._scratch_lock = claim_scratch(self._scratch)  # held while this process lives (see lifeline)
        crash_log = self._scratch / "crash.log"
        crash_log.touch()
        self._crash_log = crash_log
        cache_dir = os.path.abspath(default_cache_dir())
        core_root = code_root("core")
        self._granted = JobNeeds(inputs=needs.inputs, code_roots=needs.code_roots | ({core_root} if core_root else set()),
                                 caches=needs.caches | {cache_dir})
        settings = ChildSettings(crash_log_path=str(crash_log), preload_tensorflow=self.preload_tensorflow,
                                 scratch=str(self._scratch), inputs=tuple(sorted(needs.inputs)),
                                 code_roots=tuple(sorted(needs.code_roots)),
                                 cache_dir=cache_dir if os.path.isdir(cache_dir) else None,
                                 parent_pid=os.getpid())
        process = ctx.Process(target=child_main, args=(child_conn, settings), name="litesmith-engine", daemon=True)
        try:
            _SPAWNER.start(process)
        finally:
            child_conn.close()
        self._process, self._conn = process, parent_conn

    def _stop_child(self) -> None:
        process = self._process
        try:
            if process is not None and process.is_alive():
                self._send(("stop",))
                process.join(timeout=STOP_WAIT_SECONDS)
        except (OSError, ValueError, AssertionError):
            pass
        finally:  # whatever interrupted the wait (a signal), the child does not outlive it
            self._kill_child()
            self._forget_child()

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
        try:
            if process is not None and process.is_alive():
                process.kill()
                process.join(timeout=5)
        except (OSError, ValueError, AssertionError):
            pass

    def _read_crash_log(self) -> str:
        try:
            return self._crash_log.read_text(errors="replace").strip() if self._crash_log else ""
        except OSError:
            return ""

    def _import_cache_outbox(self) -> None:
        """Move the result-cache entries the child left in its outbox into the caches its jobs named."""
        if self._scratch is None:
            return
        outbox = self._scratch / "outbox"
        if not outbox.is_dir() or outbox.is_symlink():
            return
        from core.cache import ResultCache

        for folder in self._granted.caches:
            try:
                ResultCache(folder).import_outbox(outbox)
            except OSError:
                pass  # a cache that cannot be written is a miss next time, never an error

    def _forget_child(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except OSError:
                pass
        self._import_cache_outbox()
        if self._scratch is not None:
            _remove_tree(self._scratch)
        release_scratch(self._scratch_lock)
        self._scratch_lock = None
        self._process, self._conn, self._crash_log, self._scratch = None, None, None, None
        self._granted = JobNeeds()

    def _job_finished(self) -> None:
        if self._busy.locked():
            self._busy.release()


def _remove_tree(folder: Path) -> None:
    """Delete the child's scratch folder whatever it left there (links are removed, never followed)."""

    def make_writable(function, path, _exc) -> None:
        try:
            parent = os.path.dirname(path)
            os.chmod(parent, stat.S_IRWXU)
            if os.path.isdir(path) and not os.path.islink(path):
                os.chmod(path, stat.S_IRWXU)
            function(path)
        except OSError:
            pass

    shutil.rmtree(folder, onerror=make_writable)
