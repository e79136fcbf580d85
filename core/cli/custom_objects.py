"""`--custom-objects FILE.py` (repeatable): the user's own code for a model's custom layers.

Shared by `inspect`, `optimize` (and `--auto`) and `bench`. The files are only
named here: they are imported in the engine's child process, inside its sandbox,
when a Keras model is loaded (`core.models.custom_objects`). The engine's child
may read them because they travel as job arguments (`core.cli.common.make_engine`
also grants every path the command line names).
"""

from __future__ import annotations

import argparse
import os
import sys

from core.errors import ExitCode
from core.text import escape_line


def add_argument(parser: argparse.ArgumentParser) -> None:
    """Add the repeatable `--custom-objects FILE.py` option to `parser`."""
    parser.add_argument(
        "--custom-objects",
        action="append",
        default=[],
        metavar="FILE.py",
        help="Python file with the code of the model's custom layers (or models, losses, ...), imported by the "
        "engine to load a Keras model; repeat for several files. Only files you name are imported, never "
        "code a model file names; safe_mode stays on and Lambda layers stay refused",
    )


def paths(args: argparse.Namespace) -> tuple[str, ...]:
    """The named files, as absolute paths (the engine's child runs in another working folder)."""
    return tuple(os.path.abspath(p) for p in (getattr(args, "custom_objects", None) or []))


def check(args: argparse.Namespace) -> int | None:
    """Exit code 3 (bad input) with a message naming a file that is missing or not a file; else None."""
    for path in getattr(args, "custom_objects", None) or []:
        if not os.path.exists(path):
            problem = "no such custom-objects file"
        elif not os.path.isfile(path):
            problem = "a custom-objects file must be a Python file (.py), not a folder"
        else:
            continue
        print(f"error: {escape_line(path)}: {problem}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    return None


__all__ = ["add_argument", "check", "paths"]
