"""Job functions the engine tests run in the child (they must live in an importable module)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from core.errors import BadInputError


@dataclass(frozen=True)
class Echo:
    value: object
    pid: int


def echo(value, *, progress, cancel):
    progress(0.5, "halfway", stage="echo")
    progress.log("echoing")
    progress.partial("value", value)
    return Echo(value=value, pid=os.getpid())


def crash(signum: int, *, progress, cancel):
    progress(0.1, "about to crash")
    os.kill(os.getpid(), signum)
    time.sleep(10)


def bad_input(path: str, *, progress, cancel):
    raise BadInputError("not a model", path=path)


def fail_plainly(*, progress, cancel):
    raise ValueError("boom")


def cooperative_loop(seconds: float, *, progress, cancel):
    """Checks the cancel token often: stops promptly on cancel."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        cancel.raise_if_cancelled()
        time.sleep(0.01)
    return Echo(value="finished", pid=os.getpid())


def stubborn_loop(seconds: float, *, progress, cancel):
    """Ignores the cancel token: the engine must kill the child."""
    time.sleep(seconds)
    return Echo(value="finished", pid=os.getpid())


def allocate(megabytes: int, *, progress, cancel):
    blocks = []
    for _ in range(megabytes // 64):
        blocks.append(bytearray(64 * 2**20))
        time.sleep(0.01)
    return Echo(value=len(blocks), pid=os.getpid())
