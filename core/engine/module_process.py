"""Run a Litesmith module as a one-job helper process (`python -m MODULE FOLDER`), cancellable.

Used where one step must live in a process of its own: a converter that may crash while calibrating
(`core.optimize.isolated`), Keras on another backend (`core.benchmark.keras_jax_child`). The job and
its result travel as files in FOLDER; the helper calls `die_with_parent()` first thing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, Mapping

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclass(frozen=True)
class ModuleRun:
    """How the helper process ended: `returncode` (negative: killed by that signal; None never happens
    after `run_module` returns), the tail of its stderr, whether it ran past its time limit, and its
    wall time in seconds."""

    returncode: int | None
    stderr: str
    timed_out: bool
    seconds: float


def run_module(
    module: str,
    folder: str,
    *,
    cancel: Any = None,
    timeout_s: float | None = None,
    env: Mapping[str, str] | None = None,
    python: str | None = None,
    poll_s: float = 0.05,
    stderr_tail: int = 8000,
) -> ModuleRun:
    """Run `python -m module folder` to its end, or until `cancel` is set or `timeout_s` passes.

    stderr goes to FOLDER/stderr.txt, not a pipe: a helper can log more than a pipe holds, and
    nobody reads it until the end. `env` adds variables to this process's environment. Raises
    `Cancelled` (via `cancel.raise_if_cancelled()`) after killing the helper; never leaves it running.
    """
    variables = dict(os.environ, **dict(env or {}))
    variables["PYTHONPATH"] = os.pathsep.join([_ROOT, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    log_path = os.path.join(folder, "stderr.txt")
    started = time.perf_counter()
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    timed_out = False
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [python or sys.executable, "-m", module, folder],
            env=variables,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
    try:
        while process.poll() is None:
            if cancel is not None and cancel.cancelled:
                process.kill()
                process.wait()
                cancel.raise_if_cancelled()
            if deadline is not None and time.monotonic() > deadline:
                timed_out = True
                break
            time.sleep(poll_s)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    with open(log_path, "rb") as handle:
        stderr = handle.read().decode(errors="replace")[-stderr_tail:]
    return ModuleRun(process.returncode, stderr, timed_out, time.perf_counter() - started)


__all__ = ["ModuleRun", "run_module"]
