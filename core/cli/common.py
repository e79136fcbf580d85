"""Helpers every CLI command shares: running a job with progress on stderr, errors, JSON."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any, Callable

from core.engine import Engine, ErrorEvent, Event, LogEvent, ProgressEvent
from core.errors import ErrorKind, ExitCode, JobError, JobFailed


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--memory-limit-mb", type=int, default=None,
        help="memory cap for the model engine's child process (default: 75%% of RAM)",
    )


def make_engine(args: argparse.Namespace) -> Engine:
    return Engine(memory_limit_mb=getattr(args, "memory_limit_mb", None))


class ProgressPrinter:
    """Shows a job's progress on stderr, on one rewritten line when stderr is a terminal."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._width = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, LogEvent) and event.level in ("warning", "error"):
            self.clear()
            print(f"{event.level}: {event.message}", file=sys.stderr)
        if not self.enabled or not isinstance(event, ProgressEvent):
            return
        percent = "" if event.fraction is None else f"{event.fraction * 100:3.0f}% "
        text = f"{percent}{event.stage}: {event.message}".strip()[:100]
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


def print_error(error: JobError) -> None:
    """One clear line on stderr; the details only when LITESMITH_DEBUG is set."""
    import os

    print(f"error: {error.one_line()}", file=sys.stderr)
    if error.details and os.environ.get("LITESMITH_DEBUG"):
        print(error.details, file=sys.stderr)


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
    "ErrorEvent", "ProgressPrinter", "add_engine_options", "make_engine", "print_error",
    "print_json", "run_job", "to_jsonable", "worst_exit_code",
]
