"""The engine's child process: receives jobs, runs them, streams their events back.

Runs in a process started with the "spawn" method, so it shares nothing with the
parent but the pipe. Before anything else (and before any thread starts) it
sandboxes itself (`core.engine.sandbox`): writes only in its private scratch
folder, reads only the Python installation, the code, the system and the inputs
the parent named, no network. TensorFlow is then imported once, in the
background, and stays imported between jobs so the second job starts fast.

It dies with its parent (`core.engine.lifeline`): PR_SET_PDEATHSIG on Linux, set
first thing; a thread waiting on the parent's sentinel and watching the parent pid
everywhere; and the pipe to the parent closing, or a message that cannot be sent,
ends it at once (`os._exit`: no traceback, nothing more written).

Protocol (tuples over a multiprocessing Connection):
    parent -> child: ("job", job_id, "module:function", args, kwargs)
                     ("cancel", job_id)
                     ("stop",)
    child -> parent: ("sandbox", SandboxStatus)   once, first
                     ("started", job_id)          when the job begins to run
                     ("event", job_id, Event)
"""

from __future__ import annotations

import faulthandler
import importlib
import os
import queue
import signal
import sys
import threading
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, Callable

from core.engine.context import CancelToken, Reporter
from core.engine.events import ErrorEvent, Event, ResultEvent
from core.errors import ErrorKind, JobError, LitesmithError
from core.tf_runtime import PRELOAD_THREAD_NAME, install_stderr_filter, quiet_environment

if TYPE_CHECKING:
    from core.engine.sandbox import SandboxStatus


@dataclass(frozen=True)
class ChildSettings:
    """What the engine's child is told at start: its crash log, sandbox paths (scratch, inputs, code, cache) and parent."""

    crash_log_path: str
    preload_tensorflow: bool = True
    scratch: str | None = None  # the private folder the child may write (None: no sandbox, e.g. unit tests)
    inputs: tuple[str, ...] = ()  # model and data paths the child may read
    code_roots: tuple[str, ...] = ()  # folders the job modules are imported from
    cache_dir: str | None = None  # the parent's result cache (read-only here; new entries go to an outbox)
    parent_pid: int | None = None  # the engine's process: this child ends when it does


def prepare_scratch(scratch: str, cache_dir: str | None) -> None:
    """Point every temp and cache folder of TensorFlow, Keras and CUDA into the scratch folder."""
    tmp = os.path.join(scratch, "tmp")
    for sub in ("tmp", "keras", "cache", "cuda", "outbox"):
        os.makedirs(os.path.join(scratch, sub), exist_ok=True)
    for name in ("TMPDIR", "TEMP", "TMP"):
        os.environ[name] = tmp
    os.environ["KERAS_HOME"] = os.path.join(scratch, "keras")
    os.environ["CUDA_CACHE_PATH"] = os.path.join(scratch, "cuda")
    os.environ["JOBLIB_MULTIPROCESSING"] = "0"  # no semaphores in /dev/shm (outside the sandbox): serial
    if cache_dir:
        from core.cache import CACHE_ENV

        os.environ[CACHE_ENV] = cache_dir  # set before XDG_CACHE_HOME moves platformdirs' answer
    os.environ["XDG_CACHE_HOME"] = os.path.join(scratch, "cache")
    from core.cache import OUTBOX_ENV

    os.environ[OUTBOX_ENV] = os.path.join(scratch, "outbox")
    import tempfile

    tempfile.tempdir = None  # forget a temp folder chosen before TMPDIR changed


def enter_sandbox(settings: ChildSettings) -> SandboxStatus:
    """Apply the OS sandbox to this (still single-threaded) process; returns its SandboxStatus."""
    from core.engine.sandbox import apply_sandbox, default_policy

    assert settings.scratch is not None
    prepare_scratch(settings.scratch, settings.cache_dir)
    policy = default_policy(
        settings.scratch,
        settings.inputs + ((settings.cache_dir,) if settings.cache_dir else ()),
        code_roots=settings.code_roots,
    )
    return apply_sandbox(policy)


def resolve_job(ref: str) -> Callable[..., Any]:
    """The job function named by `ref` (`module:qualname`, from `core.engine.needs.job_ref`); import errors propagate."""
    module_name, _, qualname = ref.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def run_job(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], reporter: Reporter, token: CancelToken
) -> ResultEvent | ErrorEvent:
    """Run one job function and turn its outcome into a terminal event."""
    try:
        return ResultEvent(fn(*args, progress=reporter, cancel=token, **kwargs))
    except LitesmithError as exc:
        return ErrorEvent(exc.to_job_error())
    except MemoryError:
        return ErrorEvent(JobError(ErrorKind.OUT_OF_MEMORY, "ran out of memory", details=traceback.format_exc()))
    except Exception as exc:  # noqa: BLE001 - every failure must reach the user, with its traceback
        message = f"{type(exc).__name__}: {exc}".strip()
        return ErrorEvent(JobError(ErrorKind.INTERNAL, message, details=traceback.format_exc()))


def child_main(conn: Connection, settings: ChildSettings) -> None:
    """The engine's child process: sandbox itself, then run the jobs `conn` sends, one at a time.

    Messages in: ("job", id, ref, args, kwargs), ("cancel", id), ("stop",). Messages out:
    ("sandbox", status), ("started", id), ("event", id, event); every job ends with a
    ResultEvent or ErrorEvent. Never returns: exits on "stop" or when the parent is gone.
    """
    from core.engine.lifeline import ENGINE_PID_ENV, die_with_parent, orphaned_exit, watch_parent

    # First of all: this process does not outlive the engine's (SIGKILL with the parent on Linux).
    if settings.parent_pid is not None:
        die_with_parent(settings.parent_pid)
    os.environ[ENGINE_PID_ENV] = str(os.getpid())  # the processes this child starts die with it
    # Ctrl+C, or a hang-up of the terminal, reaches the whole process group: the parent turns
    # it into a cooperative cancel (so partial results survive); the child must not die of it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    # A segfault in a native runtime writes the Python stack here; the parent
    # attaches it to the "crashed" error as details.
    crash_log = open(settings.crash_log_path, "w")  # noqa: SIM115 - must stay open for faulthandler
    faulthandler.enable(file=crash_log)
    if settings.scratch is not None:
        # First, while this process has one thread and has read no model byte.
        status = enter_sandbox(settings)
        try:
            conn.send(("sandbox", status))
        except (OSError, EOFError):
            orphaned_exit()
    if settings.parent_pid is not None:
        watch_parent(settings.parent_pid)  # a thread: only once the sandbox is in place
    quiet_environment()
    install_stderr_filter()

    jobs: queue.Queue = queue.Queue()
    tokens: dict[int, CancelToken] = {}
    tokens_lock = threading.Lock()
    send_lock = threading.Lock()

    from multiprocessing.reduction import ForkingPickler

    def send(message: tuple) -> None:
        data = bytes(ForkingPickler.dumps(message))  # a value that does not pickle raises here, as before
        with send_lock:
            try:
                conn.send_bytes(data)
            except (OSError, EOFError):
                orphaned_exit()  # the parent is gone: nobody to tell, nothing more to do

    def token_for(job_id: int) -> CancelToken:
        with tokens_lock:
            return tokens.setdefault(job_id, CancelToken())

    def listen() -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                # The parent closes the pipe only once it has stopped this child, or by dying:
                # either way, stop now (a running job must not go on, nor write anything).
                orphaned_exit()
            if message[0] == "job":
                jobs.put(message)
            elif message[0] == "cancel":
                token_for(message[1]).cancel()
            elif message[0] == "stop":
                jobs.put(None)
                return

    threading.Thread(target=listen, name="engine-listener", daemon=True).start()
    if settings.preload_tensorflow:
        threading.Thread(target=_preload_tensorflow, name=PRELOAD_THREAD_NAME, daemon=True).start()

    while True:
        message = jobs.get()
        if message is None:
            _exit_now(0)
        _, job_id, ref, args, kwargs = message
        send(("started", job_id))
        token = token_for(job_id)

        def report(event: Event, job_id: int = job_id) -> None:
            send(("event", job_id, event))

        reporter = Reporter(report)
        terminal: ResultEvent | ErrorEvent
        try:
            fn = resolve_job(ref)
        except Exception as exc:  # noqa: BLE001
            terminal = ErrorEvent(JobError(ErrorKind.INTERNAL, f"unknown job {ref}: {exc}"))
        else:
            terminal = run_job(fn, args, kwargs, reporter, token)
        try:
            send(("event", job_id, terminal))
        except Exception as exc:  # noqa: BLE001 - e.g. a result that does not pickle
            send(("event", job_id, ErrorEvent(JobError(ErrorKind.INTERNAL, f"result could not be sent: {exc}"))))
        with tokens_lock:
            tokens.pop(job_id, None)


def _exit_now(code: int) -> None:
    """Leave without Python's (and TensorFlow's) slow and sometimes crashing teardown: nothing here needs it."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _preload_tensorflow() -> None:
    try:
        from core.tf_runtime import import_tensorflow

        import_tensorflow()
    except Exception:  # noqa: BLE001 - the job that needs TF reports the real error
        pass
