"""Jobs and a small driver process for tests/core/test_stopping.py.

As a program (``python -m tests.core.stopping_jobs MODE``) it is the "parent" the
tests kill: it starts an engine, runs a long, silent job in its child (a converter deep in native
code sends nothing that could fail on a closed pipe), prints
``child <pid>`` once the job runs, and waits to be killed. MODE:

* ``main``: the job is submitted from the main thread;
* ``thread``: from a worker thread that ends right after submitting (like the GUI's
  job threads): the engine's child must survive that thread and die with the process.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class ChildFacts:
    pid: int
    ppid: int
    death_signal: int
    sandboxed: bool


def facts(*, progress, cancel) -> ChildFacts:
    """What the child knows about its parent, inside the sandbox."""
    from core.engine.lifeline import parent_death_signal
    from core.engine.sandbox import applied_status

    status = applied_status()
    return ChildFacts(
        pid=os.getpid(),
        ppid=os.getppid(),
        death_signal=parent_death_signal(),
        sandboxed=bool(status is not None and status.filesystem),
    )


def busy(seconds: float, *, progress, cancel):
    """Ignores cancel (like a converter deep in native code), reporting progress now and then."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        progress(None, "busy", stage="busy")
        time.sleep(0.05)
    return "finished"


def silent(seconds: float, *, progress, cancel):
    """Says it started, then nothing: like a converter deep in native code (no progress, no cancel check)."""
    progress(None, "started", stage="silent")
    time.sleep(seconds)
    return "finished"


def tick(seconds: float, *, progress, cancel):
    """Checks its cancel token: stops within one tick."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        cancel.raise_if_cancelled()
        progress(None, "tick", stage="tick")
        time.sleep(0.02)
    return "finished"


def watched_sleeper(parent_pid: int) -> None:
    """A child with the portable liveness check only (no PDEATHSIG), as on macOS and Windows."""
    from core.engine.lifeline import parent_death_signal, watch_parent

    assert parent_death_signal() == 0
    watch_parent(parent_pid)
    time.sleep(600)


def main(mode: str) -> int:
    from core.engine import Engine
    from tests.core.stopping_jobs import silent as job  # by its module's name, not __main__

    engine = Engine(preload_tensorflow=False, memory_limit_mb=2048)
    running: list = []  # the handle and its event stream, kept referenced (dropping them cancels the job)

    def submit() -> None:
        handle = engine.submit(job, 600.0)
        events = handle.events()
        next(events)  # the job runs
        running.append((handle, events))

    if mode == "main":
        submit()
        print(f"child {engine.child_pid}", flush=True)
    else:
        thread = threading.Thread(target=submit, name="short-lived-submitter")
        thread.start()
        thread.join()  # the thread that submitted the job (and asked for the child) is gone
        time.sleep(0.5)
        print(f"child {engine.child_pid} alive-after-thread={engine.child_pid is not None}", flush=True)
    time.sleep(600)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "main"))
