"""CLI options that say how a model is read and scored, shared by optimize, auto and bench.

`--signature NAME` (SavedModel/.tflite), `--task OUTPUT=TASK` (repeatable),
`--primary-output NAME`; `session_options(args)` turns them into the engine's
`SessionOptions`.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from core.evaluation.common import TASKS as TASK_NAMES  # one list of tasks: the evaluation's

if TYPE_CHECKING:
    from core.optimize.session import SessionOptions


def add_scoring_arguments(parser: argparse.ArgumentParser, *, tasks: bool = True) -> None:
    """Add --signature and --input-shape, and with `tasks` --task and --primary-output, to `parser`."""
    parser.add_argument(
        "--signature",
        metavar="NAME",
        help="SavedModel or .tflite signature to use (default: serving_default, or the only one)",
    )
    parser.add_argument(
        "--input-shape",
        action="append",
        default=[],
        metavar="INPUT=D1,D2,...",
        help="without --data: the sizes after the batch axis to use for an input with free "
        "dimensions (e.g. frames=45,6); repeat per input",
    )
    if not tasks:
        return
    parser.add_argument(
        "--task",
        action="append",
        default=[],
        metavar="OUTPUT=TASK",
        help=f"score OUTPUT as TASK ({', '.join(TASK_NAMES)}); repeat per output; "
        "TASK alone applies to a single-output model (default: inferred and shown)",
    )
    parser.add_argument(
        "--primary-output",
        metavar="NAME",
        help="the output that drives accuracy headlines and the auto budget (default: the model's first output)",
    )


def parse_tasks(values: list[str]) -> tuple[tuple[str, str], ...]:
    """`["a=binary", "multiclass"]` -> (("a", "binary"), ("", "multiclass")); ValueError on a bad task.

    An empty output name means "the model's only output" (resolved by the engine).
    """
    parsed = []
    for value in values:
        name, sep, task = value.rpartition("=")
        if not sep:
            name, task = "", value
        task = task.strip()
        if task not in TASK_NAMES:
            raise ValueError(f"--task {value}: unknown task {task!r}; expected one of {', '.join(TASK_NAMES)}")
        parsed.append((name.strip(), task))
    return tuple(parsed)


def parse_input_shapes(values: list[str]) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """`["frames=45,6"]` -> (("frames", (45, 6)),); ValueError naming a bad value."""
    parsed = []
    for value in values:
        name, sep, sizes = value.partition("=")
        try:
            shape = tuple(int(s) for s in sizes.split(",") if s.strip())
        except ValueError:
            shape = ()
        if not sep or not name.strip() or not shape or min(shape) < 1:
            raise ValueError(
                f"--input-shape {value}: expected INPUT=D1,D2,... with whole sizes >= 1 "
                "(the sizes after the batch axis)"
            )
        parsed.append((name.strip(), shape))
    return tuple(parsed)


def session_options(args: argparse.Namespace) -> SessionOptions:
    """The engine's `SessionOptions` from parsed arguments (ValueError for a bad --task)."""
    from core.cli import custom_objects
    from core.optimize.session import SessionOptions

    return SessionOptions(
        threshold=getattr(args, "threshold", 0.5),
        signature=getattr(args, "signature", None),
        primary_output=getattr(args, "primary_output", None),
        tasks=parse_tasks(getattr(args, "task", []) or []),
        input_shapes=parse_input_shapes(getattr(args, "input_shape", []) or []),
        custom_objects=custom_objects.paths(args),
    )
