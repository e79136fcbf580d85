"""What native code (TensorFlow, LiteRT, the converter) writes to file descriptors 1 and 2, captured.

Python's `contextlib.redirect_stderr` only swaps `sys.stderr`; C++ logging writes to fd 2 directly,
so these helpers point the descriptors themselves at a temporary file for the length of a block.
The one place Litesmith redirects them:

- `captured_fds(1, 2)`: the primitive; `Captured.text` holds what was written, set on exit.
- `captured_stderr()`: fd 2 as a list of lines (LiteRT's GPU accelerator says why it fell back).
- `drop_stderr_lines(noise)`: fd 2 with lines matching `noise` dropped and the rest written on
  (TensorFlow's start-up chatter, the expected "failed call to cuInit" on a CPU machine).

- `quiet_native()`: fds 1 and 2 under a lock, known warnings off (the converter, LiteRT).

`core.tf_runtime.import_tensorflow` builds on `drop_stderr_lines`. The engine child's permanent stderr filter
(`core.tf_runtime.install_stderr_filter`, a pipe and a thread) is the other kind: for a process, not a block.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
import warnings
from typing import Iterator

__all__ = ["Captured", "captured_fds", "captured_stderr", "drop_stderr_lines", "quiet_native"]

_fd_lock = threading.RLock()  # fds 1 and 2 are process-wide: one `quiet_native` block at a time

# Warnings the converter, the debugger and LiteRT always raise, that say nothing about this model.
_NOISY_WARNINGS = (
    r"Statistics for quantized inputs were expected",
    r".*tf\.lite\.Interpreter is deprecated",
    r".*experimental_preserve_all_tensors",
)


class Captured:
    """What `captured_fds` captured: `text` (decoded, undecodable bytes replaced), set when the block ends."""

    text: str = ""


def _flush(fds: tuple[int, ...]) -> None:
    # Python's buffered writes belong before (or after) the redirection, not inside it.
    for fd, stream in ((1, sys.stdout), (2, sys.stderr)):
        if fd in fds and stream is not None:
            try:
                stream.flush()
            except (OSError, ValueError):
                pass


@contextlib.contextmanager
def captured_fds(*fds: int, tail: int | None = None) -> Iterator[Captured]:
    """Point `fds` (e.g. 1 and 2) at one temporary file while the block runs; `text` holds it afterwards.

    `tail`: keep only the last `tail` characters. Where a descriptor cannot be duplicated (no
    real fd 2, e.g. an embedded interpreter) nothing is captured and the block runs as it is.
    The descriptors are process-wide: callers that may overlap on several threads take a lock.
    """
    captured = Captured()
    _flush(fds)
    saved: list[int] = []
    try:
        for fd in fds:
            saved.append(os.dup(fd))
    except (OSError, ValueError):
        for copy in saved:
            os.close(copy)
        yield captured
        return
    with tempfile.TemporaryFile(mode="w+b") as sink:
        for fd in fds:
            os.dup2(sink.fileno(), fd)
        try:
            yield captured
        finally:
            _flush(fds)
            for fd, copy in zip(fds, saved):
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            text = sink.read().decode(errors="replace")
            captured.text = text[-tail:] if tail else text


@contextlib.contextmanager
def captured_stderr() -> Iterator[list[str]]:
    """Collect what native code writes to fd 2 into the yielded list (one string per line, on exit)."""
    lines: list[str] = []
    captured = Captured()
    try:
        with captured_fds(2) as captured:
            yield lines
    finally:  # also when the block raises: the lines say why
        lines.extend(captured.text.splitlines())


@contextlib.contextmanager
def drop_stderr_lines(noise: re.Pattern[str], dropped: list[str] | None = None) -> Iterator[None]:
    """Drop the lines of fd 2 that `noise` matches (at their start) while the block runs; write the rest on.

    `dropped` collects the dropped lines, stripped (e.g. why CUDA did not start).
    """
    captured = Captured()
    try:
        with captured_fds(2) as captured:
            yield
    finally:  # also when the block raises: its error output must still reach the user
        lines = captured.text.splitlines(keepends=True)
        kept = "".join(line for line in lines if not noise.match(line))
        if dropped is not None:
            dropped.extend(line.strip() for line in lines if noise.match(line))
        if kept.strip():
            sys.stderr.write(kept)
            sys.stderr.flush()


@contextlib.contextmanager
def quiet_native() -> Iterator[Captured]:
    """Capture everything written to fds 1 and 2 (Python and native) while the block runs.

    The converter's MLIR dumps and "Saved artifact at ..." lines and LiteRT's delegate notes
    stay off the CLI's stdout; `text` (the last 20,000 characters) goes into error details.
    Known noise warnings are off inside the block. Reentrant; one thread at a time.
    """
    with _fd_lock, captured_fds(1, 2, tail=20000) as captured, warnings.catch_warnings():
        for pattern in _NOISY_WARNINGS:
            warnings.filterwarnings("ignore", message=pattern)
        yield captured
