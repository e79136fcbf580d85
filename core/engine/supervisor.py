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

This module starts, grants and stops the child. The rest lives next to it: the job
handles (`core.engine.jobs`, `core.engine.child_job`, `core.engine.parent_job`), what a
job needs the child to be allowed (`core.engine.needs`) and the restricted unpickler for
the child's messages (`core.engine.unpickle`).
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import queue
import shutil
import stat
import tempfile
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import psutil

from core.engine.child import ChildSettings, child_main
from core.engine.child_job import MEMORY_LIMIT_ENV, ChildJobHandle
from core.engine.context import runs_in_parent_side
from core.engine.events import Event
from core.engine.jobs import InlineJobHandle, JobHandle
from core.engine.lifeline import SCRATCH_PREFIX, claim_scratch, release_scratch, stale_scratch_folders
from core.engine.needs import JobNeeds, as_input, is_beneath, job_needs, job_ref
from core.engine.parent_job import ParentJobHandle

if TYPE_CHECKING:
    from core.engine.sandbox import SandboxStatus

DEFAULT_CANCEL_GRACE_SECONDS = 1.0
STOP_WAIT_SECONDS = 1.0  # how long `close()` lets an idle child exit by itself before killing it
DEFAULT_LOAD_TIMEOUT_SECONDS = 120.0


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

    def start(self, process: multiprocessing.process.BaseProcess) -> None:
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
        self._base_inputs = frozenset(filter(None, (as_input(os.fspath(p)) for p in inputs)))
        self._ids = itertools.count(1)
        self._busy = threading.Lock()
        self._send_lock = threading.Lock()
        self._child_lock = threading.RLock()  # starting a child vs. closing the engine
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self._crash_log: Path | None = None
        self._scratch: Path | None = None
        self._scratch_lock: int | None = None
        self._granted = JobNeeds()
        self._sandbox: SandboxStatus | None = None
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
                return InlineJobHandle(self, fn, args, kwargs, subject)
            if runs_in_parent_side(fn):
                return ParentJobHandle(self, fn, args, kwargs, subject)
            ref = job_ref(fn)
            self._ensure_child(job_needs(fn, args, kwargs))
            self._code_tops = self._code_tops | {ref.partition(".")[0].partition(":")[0]}
            job_id = next(self._ids)
            self._send(("job", job_id, ref, args, kwargs))
            return ChildJobHandle(self, job_id, subject)
        except BaseException:
            self._busy.release()
            raise

    def run(
        self,
        fn: Callable[..., Any],
        *args: Any,
        subject: str | None = None,
        on_event: Callable[[Event], None] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Submit and wait: returns the job's value or raises `JobFailed`."""
        return self.submit(fn, *args, subject=subject, **kwargs).result(on_event=on_event)

    def warm_up(self, inputs: tuple[str, ...] | list[str] = ()) -> None:
        """Start the child now (it imports TensorFlow in the background), allowed to read `inputs`."""
        if self.isolated and not self._closed:
            with self._busy:
                if self._closed:
                    return  # the app quit while this waited for a job to end
                self._ensure_child(JobNeeds(inputs=frozenset(filter(None, (as_input(os.fspath(p)) for p in inputs)))))

    @property
    def child_pid(self) -> int | None:
        """The running child's process id, or None when no child is alive (isolated=False, or between jobs' children)."""
        return self._process.pid if self._process is not None and self._process.is_alive() else None

    @property
    def sandbox(self) -> SandboxStatus | None:
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

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- child management ---------------------------------------------------

    def _covers(self, needs: JobNeeds) -> bool:
        granted = self._granted
        return all(any(is_beneath(p, g) for g in granted.inputs | granted.code_roots) for p in needs.inputs) and all(
            any(is_beneath(r, g) for g in granted.code_roots) for r in needs.code_roots
        )

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
        self._granted = JobNeeds(
            inputs=needs.inputs,
            code_roots=needs.code_roots | ({core_root} if core_root else set()),
            caches=needs.caches | {cache_dir},
        )
        settings = ChildSettings(
            crash_log_path=str(crash_log),
            preload_tensorflow=self.preload_tensorflow,
            scratch=str(self._scratch),
            inputs=tuple(sorted(needs.inputs)),
            code_roots=tuple(sorted(needs.code_roots)),
            cache_dir=cache_dir if os.path.isdir(cache_dir) else None,
            parent_pid=os.getpid(),
        )
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

    def make_writable(function: Callable[[str], object], path: str, _exc: object) -> None:
        try:
            parent = os.path.dirname(path)
            os.chmod(parent, stat.S_IRWXU)
            if os.path.isdir(path) and not os.path.islink(path):
                os.chmod(path, stat.S_IRWXU)
            function(path)
        except OSError:
            pass

    shutil.rmtree(folder, onerror=make_writable)
