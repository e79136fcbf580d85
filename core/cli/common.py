"""Helpers every CLI command shares: running a job with progress on stderr, errors, JSON.

Everything printed here may quote a model file (tensor and layer names, the
messages of exceptions raised on it): it goes through `core.text.escape_line`,
so escape codes and newlines from a file show as visible escapes and every
error or log event stays one line.

Stopping (`STOP`, installed by `core.cli.main.run_handler`): SIGINT (Ctrl+C), SIGTERM
and SIGHUP all mean cancel. During a job the signal handler only asks the job to
cancel (`JobHandle.request_cancel`); the engine kills a child that has not stopped
within its grace period, and the command ends as a cancelled one: one line on
stderr, no traceback, exit 128 + the signal's number (130, 143, 129). Outside a job
the first signal raises `Stopped` (a KeyboardInterrupt) so the command unwinds.
A signal that was ignored when the command started (``nohup``) stays ignored.
"""

from __future__ import annotations

import argparse
import datetime
import contextlib
import os
import signal
import sys
import tempfile
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any, Callable

from core.engine import Engine, ErrorEvent, Event, JobHandle, LogEvent, ProgressEvent
from core.errors import ErrorKind, ExitCode, JobError, JobFailed, stop_exit_code
from core.text import escape_line, escape_text

DEBUG_ENV = "LITESMITH_DEBUG"
LOG_DIR_ENV = "LITESMITH_LOG_DIR"


def input_files(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(path, what it is) of every file or folder the command reads: nothing is ever written over one."""
    named = (
        ("model", "the input model"),
        ("data", "the --data file"),
        ("eval_data", "the --eval-data file"),
        ("recipe", "the --recipe file"),
    )
    pairs = [(getattr(args, dest, None), what) for dest, what in named]
    pairs += [(path, "a --custom-objects file") for path in getattr(args, "custom_objects", None) or []]
    return [(str(path), what) for path, what in pairs if path]


def check_not_an_input(target: str | os.PathLike[str], args: argparse.Namespace, flag: str = "") -> None:
    """ValueError (a usage error, exit 2) when `target`, a file the command would write, is one it reads."""
    for source, what in input_files(args):
        try:
            same = os.path.exists(target) and os.path.exists(source) and os.path.samefile(target, source)
        except OSError:
            same = False
        if same:
            named = f"{flag} {target}" if flag else str(target)
            raise ValueError(f"{named} is {what}; Litesmith never writes over its input")


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    """Add --memory-limit-mb (MiB, default 75% of RAM) and --load-timeout (seconds) to `parser`."""
    from core.engine.supervisor import DEFAULT_LOAD_TIMEOUT_SECONDS

    parser.add_argument(
        "--memory-limit-mb",
        type=int,
        default=None,
        help="memory cap for the model engine's child process (default: 75%% of RAM)",
    )
    parser.add_argument(
        "--load-timeout",
        type=_positive_seconds,
        default=DEFAULT_LOAD_TIMEOUT_SECONDS,
        metavar="SECONDS",
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
    named = [
        v
        for value in vars(args).values()
        for v in (value if isinstance(value, (list, tuple)) else [value])
        if isinstance(v, str)
    ]
    kwargs = {"load_timeout_s": args.load_timeout} if getattr(args, "load_timeout", None) else {}
    return Engine(memory_limit_mb=getattr(args, "memory_limit_mb", None), inputs=named, **kwargs)


class Stopped(KeyboardInterrupt):
    """The command was told to stop by a signal (SIGINT, SIGTERM, SIGHUP)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal_name(signum))
        self.signum = signum


def signal_name(signum: int) -> str:
    """`SIGTERM` for 15; `signal 99` for a number that names no signal."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def cancel_message(signum: int | None) -> str:
    """The one-line reason a job stopped: "cancelled by the user" for SIGINT (or None), else the signal."""
    if signum is None or signum == signal.SIGINT:
        return "cancelled by the user"
    return f"stopped by {signal_name(signum)} (cancelled)"


class StopSignals:
    """SIGINT, SIGTERM and SIGHUP cancel the command: the same path as Ctrl+C.

    `installed()` sets the handlers (main thread only) and puts the old ones back;
    `cancelling(handle)` makes the handler cancel that job instead of raising.
    `signum` is the first stop signal received (None: none).
    """

    NAMES = ("SIGINT", "SIGTERM", "SIGHUP")

    def __init__(self) -> None:
        self.signum: int | None = None
        self._handles: list[Any] = []

    @property
    def requested(self) -> bool:
        """True once a stop signal has arrived."""
        return self.signum is not None

    def exit_code(self) -> int:
        """128 + the first stop signal's number (130 SIGINT, 143 SIGTERM, 129 SIGHUP; `stop_exit_code`)."""
        return stop_exit_code(self.signum)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        first = self.signum is None
        if first:
            self.signum = signum
        if self._handles:
            self._handles[-1].request_cancel()  # sets a flag: safe whatever the main thread was doing
        elif first:
            raise Stopped(signum)
        # a second signal while the first is being handled: the cancel is already under way

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopSignals]:
        """Install the stop handlers (main thread only) for the `with` block, then put the old ones back.

        Signals the user set to be ignored (nohup) stay ignored. Outside the main thread
        nothing is installed.
        """
        previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for name in self.NAMES:
                signum = getattr(signal, name, None)
                if signum is None:
                    continue
                try:
                    if signal.getsignal(signum) == signal.SIG_IGN:
                        continue  # nohup, or a background job: the user asked for it to be ignored
                    previous[signum] = signal.signal(signum, self._on_signal)
                except (ValueError, OSError):
                    continue
        try:
            yield self
        finally:
            for signum, handler in previous.items():
                try:
                    signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
                except (ValueError, OSError):
                    pass

    @contextlib.contextmanager
    def cancelling(self, handle: JobHandle) -> Iterator[JobHandle]:
        """While the block runs, a stop signal cancels `handle` (a flag, `request_cancel`) instead of raising."""
        self._handles.append(handle)
        try:
            yield handle
        finally:
            self._handles.remove(handle)

    def reset(self) -> None:
        """Forget a received signal and any job being cancelled (tests, and a new command in-process)."""
        self.signum = None
        self._handles.clear()


STOP = StopSignals()


def say(line: str) -> None:
    """Print one line on stderr; a closed terminal or pipe (after SIGHUP) is not an error."""
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


class ProgressPrinter:
    """Shows a job's progress on stderr, on one rewritten line when stderr is a terminal."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._width = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, LogEvent) and event.level in ("warning", "error"):
            self.clear()
            say(f"{escape_line(event.level)}: {escape_line(event.message)}")
        if not self.enabled or not isinstance(event, ProgressEvent):
            return
        percent = "" if event.fraction is None else f"{event.fraction * 100:3.0f}% "
        text = escape_line(f"{percent}{event.stage}: {event.message}".strip(), 100)
        self._write("\r" + text.ljust(self._width))
        self._width = len(text)

    def clear(self) -> None:
        """Blank the progress line so other text can be printed (nothing when stderr is not a terminal)."""
        if self.enabled and self._width:
            self._write("\r" + " " * self._width + "\r")
            self._width = 0

    def _write(self, text: str) -> None:
        try:
            sys.stderr.write(text)
            sys.stderr.flush()
        except (OSError, ValueError):
            self.enabled = False  # the terminal is gone (SIGHUP): stop drawing, carry on


def cancelled_error(subject: str | None) -> JobFailed:
    """The JobFailed (kind CANCELLED) for a job stopped by the received signal; `subject` is its file."""
    return JobFailed(JobError(ErrorKind.CANCELLED, cancel_message(STOP.signum), path=subject))


def run_job(
    engine: Engine,
    fn: Callable[..., Any],
    *args: Any,
    subject: str | None = None,
    on_event: Callable[[Event], None] | None = None,
    show_progress: bool = True,
    **kwargs: Any,
) -> Any:
    """Run a job in the engine; Ctrl+C, SIGTERM and SIGHUP cancel it cleanly. Raises JobFailed.

    A stop signal asks the job to cancel (the engine kills its child after the grace
    period); once one has arrived no new job starts, and a job that finished anyway
    counts as cancelled, so the command writes nothing more.
    """
    if STOP.requested:
        raise cancelled_error(subject)
    printer = ProgressPrinter(enabled=show_progress)
    handle = engine.submit(fn, *args, subject=subject, **kwargs)

    def forward(event: Event) -> None:
        printer(event)
        if on_event is not None:
            on_event(event)

    try:
        with STOP.cancelling(handle):
            if STOP.requested:  # arrived while the job was being submitted
                handle.request_cancel()
            try:
                value = handle.result(on_event=forward)
            except JobFailed as failed:
                if failed.error.kind == ErrorKind.CANCELLED and STOP.requested:
                    raise cancelled_error(subject) from None
                raise
        if STOP.requested:
            raise cancelled_error(subject)
        return value
    except KeyboardInterrupt:  # raised by a handler of the caller's own (auto mode's second Ctrl+C)
        handle.cancel()
        try:
            handle.result()
        except JobFailed:
            pass
        raise cancelled_error(subject) from None
    finally:
        printer.clear()


def run_in_engine(engine: Engine, fn: Callable[..., Any], *job_args: Any, **kwargs: Any) -> tuple[Any, int | None]:
    """One job in `engine`, which is closed after it: (its value, None), or (None, exit code) after
    printing its error line (`print_error`). Keyword arguments as `run_job`'s."""
    with engine:
        try:
            return run_job(engine, fn, *job_args, **kwargs), None
        except JobFailed as failed:
            print_error(failed.error)
            return None, failed.error.exit_code


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
    text = (
        f"litesmith {__version__} internal error, {datetime.datetime.now().isoformat(timespec='seconds')}\n"
        f"command: {' '.join(sys.argv)}\n"
        f"error: {error.one_line()}\n\n{error.details or '(no details)'}\n{extra}"
    )
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
    say(line)
    if error.details and os.environ.get(DEBUG_ENV):
        say(escape_text(error.details))


def internal_error(exc: BaseException, subject: str | None = None) -> JobError:
    """A JobError for an exception Litesmith did not expect in this process (a bug), traceback kept."""
    message = f"{type(exc).__name__}: {exc}".strip()
    return JobError(
        ErrorKind.INTERNAL,
        message,
        path=subject,
        details="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    )


def to_jsonable(value: Any) -> Any:
    """Plain JSON data; NaN/Infinity become None with `<key>_reason` beside them (`core.jsonout`)."""
    from core.jsonout import jsonable

    return jsonable(value)


def print_json(value: Any) -> None:
    """A document on stdout as strict JSON (`core.jsonout.dumps`: no NaN, no Infinity)."""
    from core.jsonout import dumps

    sys.stdout.write(dumps(value) + "\n")


def worst_exit_code(codes: list[int]) -> int:
    """The exit code of a command over several inputs: the worst one wins."""
    ranked: list[int] = [
        ExitCode.OK,
        ExitCode.CONVERSION,
        ExitCode.BAD_INPUT,
        ExitCode.INTERNAL,
        ExitCode.CANCELLED,
        ExitCode.HANGUP,
        ExitCode.TERMINATED,
    ]
    return max(codes, key=lambda c: ranked.index(c) if c in ranked else len(ranked), default=0)


__all__ = [
    "STOP",
    "ErrorEvent",
    "ProgressPrinter",
    "StopSignals",
    "Stopped",
    "add_engine_options",
    "cancel_message",
    "internal_error",
    "log_dir",
    "make_engine",
    "print_error",
    "print_json",
    "run_job",
    "say",
    "to_jsonable",
    "worst_exit_code",
    "write_error_details",
]
