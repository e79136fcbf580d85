"""Helpers every CLI command shares: running a job with progress on stderr, errors, JSON.

Everything printed here may quote a model file (tensor and layer names, the
messages of exceptions raised on it): it goes through `core.text.escape_line`,
so escape codes and newlines from a file show as visible escapes and every
error or log event stays one line.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any, Callable

from core.engine import Engine, ErrorEvent, Event, LogEvent, ProgressEvent
from core.errors import ErrorKind, ExitCode, JobError, JobFailed
from core.text import escape_line, escape_text

DEBUG_ENV = "LITESMITH_DEBUG"
LOG_DIR_ENV = "LITESMITH_LOG_DIR"


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    from core.engine.supervisor import DEFAULT_LOAD_TIMEOUT_SECONDS

    parser.add_argument(
        "--memory-limit-mb", type=int, default=None,
        help="memory cap for the model engine's child process (default: 75%% of RAM)",
    )
    parser.add_argument(
        "--load-timeout", type=_positive_seconds, default=DEFAULT_LOAD_TIMEOUT_SECONDS, metavar="SECONDS",
        help="stop a model that takes longer than this to load and inspect (default: %(default)g s)",
    )


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


def make_engine(args: argparse.Namespace) -> Engine:
    """The engine for one command; its sandboxed child may read every file the command line names."""
    named = [v for value in vars(args).values()
             for v in (value if isinstance(value, (list, tuple)) else [value]) if isinstance(v, str)]
    kwargs = {"load_timeout_s": args.load_timeout} if getattr(args, "load_timeout", None) else {}
    return Engine(memory_limit_mb=getattr(args, "memory_limit_mb", None), inputs=named, **kwargs)


class ProgressPrinter:
    """Shows a job's progress on stderr, on one rewritten line when stderr is a terminal."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._width = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, LogEvent) and event.level in ("warning", "error"):
            self.clear()
            print(f"{escape_line(event.level)}: {escape_line(event.message)}", file=sys.stderr)
        if not self.enabled or not isinstance(event, ProgressEvent):
            return
        percent = "" if event.fraction is None else f"{event.fraction * 100:3.0f}% "
        text = escape_line(f"{percent}{event.stage}: {event.message}".strip(), 100)
        sys.stderr.write("\r" + text.ljust(self._width))
        sys.stderr.flush()
        self._width = len(text)

    def clear(self) -> None:
        if self.enabled and self._width:
            sys.stderr.write("\r" + " " * self._width + "\r")
            sys.stderr.flush()
            self._width = 0


def run_job(engine: Engine, fn: Callable[..., Any], *args: Any, subject: str | None = None,
            on_event: Callable[[Event], None] | None = None, show_progress: bool = True, **kwargs: Any) -> Any:
    """Run a job in the engine; Ctrl+C cancels it cleanly. Raises JobFailed."""
    printer = ProgressPrinter(enabled=show_progress)
    handle = engine.submit(fn, *args, subject=subject, **kwargs)

    def forward(event: Event) -> None:
        printer(event)
        if on_event is not None:
            on_event(event)

    try:
        return handle.result(on_event=forward)
    except KeyboardInterrupt:
        handle.cancel()
        try:
            handle.result()
        except JobFailed:
            pass
        raise JobFailed(JobError(ErrorKind.CANCELLED, "cancelled by the user", path=subject)) from None
    finally:
        printer.clear()


def log_dir() -> Path:
    """Where details of internal errors go: LITESMITH_LOG_DIR, else the user's log folder (platformdirs)."""
    configured = os.environ.get(LOG_DIR_ENV)
    if configured:
        return Path(configured)
    import platformdirs

    return Path(platformdirs.user_log_dir("litesmith", appauthor=False))


def write_error_details(error: JobError, extra: str = "") -> Path | None:
    """Write an internal error's details (its traceback) to a new file in `log_dir()`; None if that fails.

    Tried in the log folder first, then in the temporary folder; the file is private (0600).
    """
    from core import __version__

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    text = (f"litesmith {__version__} internal error, {datetime.datetime.now().isoformat(timespec='seconds')}\n"
            f"command: {' '.join(sys.argv)}\n"
            f"error: {error.one_line()}\n\n{error.details or '(no details)'}\n{extra}")
    for folder in (log_dir(), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f"internal-error-{stamp}-", suffix=".txt", dir=folder)
            with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as fh:
                fh.write(text)
            return Path(name)
        except OSError:
            continue
    return None


def print_error(error: JobError) -> None:
    """One clear, escaped line on stderr; the details only when LITESMITH_DEBUG is set.

    An internal error (a bug in Litesmith, not a problem with the input) also gets its
    details written to a file in the log folder, and the line says where.
    """
    line = f"error: {error.one_line()}"
    if error.kind == ErrorKind.INTERNAL:
        report = write_error_details(error)
        where = f"details in {escape_line(report)}" if report else "its details could not be written"
        line += f" (an internal error in Litesmith, please report it; {where})"
    print(line, file=sys.stderr)
    if error.details and os.environ.get(DEBUG_ENV):
        print(escape_text(error.details), file=sys.stderr)


def internal_error(exc: BaseException, subject: str | None = None) -> JobError:
    """A JobError for an exception Litesmith did not expect in this process (a bug), traceback kept."""
    message = f"{type(exc).__name__}: {exc}".strip()
    return JobError(ErrorKind.INTERNAL, message, path=subject,
                    details="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


def print_json(value: Any) -> None:
    json.dump(to_jsonable(value), sys.stdout, indent=2)
    sys.stdout.write("\n")


def worst_exit_code(codes: list[int]) -> int:
    """The exit code of a command over several inputs: the worst one wins."""
    ranked = [ExitCode.OK, ExitCode.CONVERSION, ExitCode.BAD_INPUT, ExitCode.INTERNAL, ExitCode.CANCELLED]
    return max(codes, key=lambda c: ranked.index(c) if c in ranked else len(ranked), default=0)


__all__ = [
    "ErrorEvent", "ProgressPrinter", "add_engine_options", "internal_error", "log_dir", "make_engine",
    "print_error", "print_json", "run_job", "to_jsonable", "worst_exit_code", "write_error_details",
]
