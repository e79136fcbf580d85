"""The engine's child process: receives jobs, runs them, streams their events back.

Runs in a process started with the "spawn" method, so it shares nothing with the
parent but the pipe. TensorFlow is imported once, in the background, and stays
imported between jobs so the second job starts fast.

Protocol (tuples over a multiprocessing Connection):
    parent -> child: ("job", job_id, "module:function", args, kwargs)
                     ("cancel", job_id)
                     ("stop",)
    child -> parent: ("event", job_id, Event)
"""

from __future__ import annotations

import faulthandler
import importlib
import queue
import signal
import threading
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from core.engine.context import CancelToken, Reporter
from core.engine.events import ErrorEvent, ResultEvent
from core.errors import ErrorKind, JobError, LitesmithError
from core.tf_runtime import install_stderr_filter, quiet_environment


@dataclass(frozen=True)
class ChildSettings:
    crash_log_path: str
    preload_tensorflow: bool = True


def resolve_job(ref: str) -> Callable[..., Any]:
    module_name, _, qualname = ref.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def run_job(fn: Callable[..., Any], args: tuple, kwargs: dict, reporter: Reporter, token: CancelToken):
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


def child_main(conn, settings: ChildSettings) -> None:
    # Ctrl+C in a terminal reaches the whole process group: the parent turns it into a
    # cooperative cancel (so partial results survive); the child must not die of it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    quiet_environment()
    install_stderr_filter()
    # A segfault in a native runtime writes the Python stack here; the parent
    # attaches it to the "crashed" error as details.
    crash_log = open(settings.crash_log_path, "w")  # noqa: SIM115 - must stay open for faulthandler
    faulthandler.enable(file=crash_log)

    jobs: queue.Queue = queue.Queue()
    tokens: dict[int, CancelToken] = {}
    tokens_lock = threading.Lock()
    send_lock = threading.Lock()

    def send(message: tuple) -> None:
        with send_lock:
            conn.send(message)

    def token_for(job_id: int) -> CancelToken:
        with tokens_lock:
            return tokens.setdefault(job_id, CancelToken())

    def listen() -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                jobs.put(None)
                return
            if message[0] == "job":
                jobs.put(message)
            elif message[0] == "cancel":
                token_for(message[1]).cancel()
            elif message[0] == "stop":
                jobs.put(None)
                return

    threading.Thread(target=listen, name="engine-listener", daemon=True).start()
    if settings.preload_tensorflow:
        threading.Thread(target=_preload_tensorflow, name="tf-preload", daemon=True).start()

    while True:
        message = jobs.get()
        if message is None:
            break
        _, job_id, ref, args, kwargs = message
        token = token_for(job_id)
        reporter = Reporter(lambda event, job_id=job_id: send(("event", job_id, event)))
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


def _preload_tensorflow() -> None:
    try:
        from core.tf_runtime import import_tensorflow

        import_tensorflow()
    except Exception:  # noqa: BLE001 - the job that needs TF reports the real error
        pass
