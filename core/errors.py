"""Error types the engine raises, each mapped to one CLI exit code.

A job raises these; the engine turns them into an `ErrorEvent` carrying a
`JobError` (a plain frozen dataclass that pickles across the process boundary).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from core.text import escape_line


class ExitCode(IntEnum):
    """The only exit codes `litesmith` uses (README, "Exit codes")."""

    OK = 0
    USAGE = 2  # wrong command line (argparse's own code)
    BAD_INPUT = 3  # a model or data file that can't be read, is unsafe, or crashes the runtime
    CONVERSION = 4  # the model loaded but could not be converted, quantized or exported (or written)
    INTERNAL = 70  # a bug in Litesmith (EX_SOFTWARE in sysexits.h); the details go to a file
    HANGUP = 129  # cancelled by SIGHUP (128 + 1): the terminal closed
    CANCELLED = 130  # Ctrl+C (128 + SIGINT)
    TERMINATED = 143  # cancelled by SIGTERM (128 + 15): kill, timeout, systemd, a logout


def stop_exit_code(signum: int | None) -> int:
    """The exit code of a run a signal stopped: 128 + the signal's number, as shells report it."""
    return int(ExitCode.CANCELLED) if signum is None else 128 + int(signum)


class ErrorKind:
    """String constants for `JobError.kind` (strings survive pickling and JSON)."""

    BAD_INPUT = "bad_input"
    USAGE = "usage"
    CONVERSION = "conversion"
    CANCELLED = "cancelled"
    CRASHED = "crashed"
    OUT_OF_MEMORY = "out_of_memory"
    OUTPUT = "output"  # an output file could not be written (disk full, permission, read-only, quota)
    INTERNAL = "internal"


EXIT_CODE_FOR_KIND = {
    ErrorKind.BAD_INPUT: ExitCode.BAD_INPUT,
    ErrorKind.USAGE: ExitCode.USAGE,
    # A model that kills the runtime or eats all memory is a bad model, as far as
    # the user is concerned: same exit code as any other unusable input.
    ErrorKind.CRASHED: ExitCode.BAD_INPUT,
    ErrorKind.OUT_OF_MEMORY: ExitCode.BAD_INPUT,
    ErrorKind.CONVERSION: ExitCode.CONVERSION,
    ErrorKind.OUTPUT: ExitCode.CONVERSION,
    ErrorKind.CANCELLED: ExitCode.CANCELLED,
    ErrorKind.INTERNAL: ExitCode.INTERNAL,
}


class LitesmithError(Exception):
    """Base of all errors the engine reports to users.

    `path` names the file the error is about (shown to the user); `details` holds
    longer text (a traceback, a list of offending ops) that a GUI can fold away.
    """

    kind = ErrorKind.INTERNAL

    def __init__(self, message: str, *, path: str | None = None, details: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.details = details

    def to_job_error(self) -> "JobError":
        """The JobError for this exception (same kind, message, path and details), to cross processes."""
        return JobError(kind=self.kind, message=self.message, path=self.path, details=self.details)


class BadInputError(LitesmithError):
    """The model or data file cannot be used (missing, corrupt, unsafe, wrong shape)."""

    kind = ErrorKind.BAD_INPUT


class UsageError(LitesmithError):
    """The command needs something the user must say (e.g. the size of a free dimension): exit 2."""

    kind = ErrorKind.USAGE


class ConversionError(LitesmithError):
    """The model loaded but could not be converted or quantized."""

    kind = ErrorKind.CONVERSION


class OutputError(LitesmithError):
    """An output could not be written (disk full, permission, read-only file system, quota): exit 4."""

    kind = ErrorKind.OUTPUT

    @classmethod
    def from_os_error(cls, exc: OSError, path: str, what: str = "cannot write this file") -> "OutputError":
        """`path: cannot write this file: No space left on device (ENOSPC)`: the file and the reason."""
        import errno as errno_mod

        reason = exc.strerror or str(exc) or type(exc).__name__
        code = errno_mod.errorcode.get(exc.errno or -1)
        return cls(f"{what}: {reason}{f' ({code})' if code else ''}; no partial file was left", path=path)


class Cancelled(LitesmithError):
    """Raised inside a job by `CancelToken.raise_if_cancelled()`."""

    kind = ErrorKind.CANCELLED

    def __init__(self, message: str = "cancelled by the user", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)


@dataclass(frozen=True)
class JobError:
    """What went wrong in a job, in a form that crosses processes and prints in one line."""

    kind: str
    message: str
    path: str | None = None
    details: str = ""

    @property
    def exit_code(self) -> int:
        """The documented exit code of this error's kind: 2 usage, 3 bad input (crash, out of memory), 4 conversion or
        output, 130 cancelled, 70 internal or unknown."""
        return int(EXIT_CODE_FOR_KIND.get(self.kind, ExitCode.INTERNAL))

    def one_line(self) -> str:
        """`path: message` on one line, the form the CLI prints and the GUI uses as a dialog title.

        Paths and messages can quote a model file (layer names, exception texts): control
        characters and escape codes are shown as visible escapes (`core.text.escape_line`).
        """
        text = f"{self.path}: {self.message}" if self.path else self.message
        return escape_line(text)


class JobFailed(Exception):
    """Raised by `JobHandle.result()` when the job ended with an error."""

    def __init__(self, error: JobError) -> None:
        super().__init__(error.one_line())
        self.error = error
