"""`litesmith` command line: one subcommand per module in core/cli/.

Each command module exposes ``add_parser(subparsers)``, which registers its parser
and sets ``handler=<function(args) -> int>``. The `gui` command is only declared
here: `core` never imports `gui`, so the launcher is passed in by `gui.entry`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Callable

from core import __version__
from core.errors import ExitCode, JobFailed, LitesmithError

COMMAND_MODULES = ("inspect", "optimize", "bench", "devices", "cache", "loadtest")

GuiLauncher = Callable[..., int]


def build_parser() -> argparse.ArgumentParser:
    """The `litesmith` parser: `gui` plus every command module in COMMAND_MODULES (one not present is skipped)."""
    parser = argparse.ArgumentParser(
        prog="litesmith", description="Make TensorFlow/Keras models fast: inspect, quantize, benchmark, export .tflite."
    )
    parser.add_argument("--version", action="version", version=f"litesmith {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    gui = subparsers.add_parser("gui", help="open the desktop app (the default with no command)")
    gui.add_argument("model", nargs="?", help="a model to load on start")
    gui.add_argument("--screenshot", metavar="PNG", help="render the window to PNG and exit")
    gui.add_argument("--run", action="store_true", help="with --screenshot: run the default recipe first")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"core.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"core.cli.{name}":
                raise
            continue  # command not built yet
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None, gui_launcher: GuiLauncher | None = None) -> int:
    """Parse `argv` (default sys.argv[1:]) and run the command; returns the process exit code.

    No arguments opens the app when `gui_launcher` is given, else prints the help. Usage
    errors return 2 (argparse), `--help` 0; the command's own codes come from `run_handler`.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv:
        argv = ["gui"] if gui_launcher is not None else ["--help"]
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    if args.command == "gui":
        if gui_launcher is None:
            print("error: the desktop app is not available from this entry point; run `litesmith gui`", file=sys.stderr)
            return ExitCode.USAGE
        return gui_launcher(model=args.model, screenshot=args.screenshot, run=args.run)
    if args.command is None:
        parser.print_help()
        return ExitCode.USAGE
    return run_handler(args)


def run_handler(args: argparse.Namespace) -> int:
    """Run a command; whatever escapes it still ends in one line and a documented exit code.

    A Litesmith error names its file and keeps its own code (bad input 3, conversion or
    output 4, cancelled 130); anything else is a bug: exit code 70 (internal), one line,
    and the traceback written to a file whose path the line gives. Never a bare traceback.

    SIGINT, SIGTERM and SIGHUP cancel the command (`core.cli.common.STOP`): it then
    exits 128 + the signal's number (130, 143, 129), whatever it was doing.
    """
    from core.cli.common import STOP, cancel_message, internal_error, print_error, say

    STOP.reset()
    with STOP.installed():
        try:
            code = int(args.handler(args))
        except JobFailed as failed:
            print_error(failed.error)
            code = failed.error.exit_code
        except LitesmithError as exc:
            error = exc.to_job_error()
            print_error(error)
            code = error.exit_code
        except KeyboardInterrupt as exc:
            say(f"error: {cancel_message(getattr(exc, 'signum', STOP.signum))}")
            code = STOP.exit_code() if STOP.requested else ExitCode.CANCELLED
        except Exception as exc:  # noqa: BLE001 - the last line of defence: report, don't crash
            print_error(internal_error(exc))
            code = ExitCode.INTERNAL
        _flush_stdout()
        if STOP.requested:
            return STOP.exit_code()  # a stopped run says so, whatever it had finished
        return code


def _flush_stdout() -> None:
    """Flush stdout now; when it is gone (a closed pipe or terminal), send the rest to nowhere.

    Otherwise Python's own flush at exit prints an "Exception ignored" message and exits 120.
    """
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        try:
            import os

            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass


if __name__ == "__main__":
    sys.exit(main())
