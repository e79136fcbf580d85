"""`litesmith loadtest MODEL [MODEL...]`: will it keep up? p99 under load, with dynamic batching.

    litesmith loadtest fraud.int8.tflite fraud.fp32.tflite --rate 2000,5000 --p99-ms 5
    litesmith loadtest model.tflite --p99-ms 10 --max-batch 1,8,32 --max-wait-ms 0,1,2 --workers 1,2
    litesmith loadtest model.tflite --p99-ms 5 --trace requests.csv --cache-size 1000 --json

Per model: service time per batch size, a simulated sweep of rate x max_batch x max_wait x
workers for the highest rate that holds the p99 budget (without batching and with the best
policy), then real load tests at those policies and the simulation's error against them.
A trace is a CSV of ``timestamp[,key]`` lines (seconds); with keys, --cache-size simulates an
LRU prediction cache. --data feeds the evaluation data's real samples (.npz/.npy/.csv).

Exit codes: 0 studied (whether or not a variant holds the budget: the report says), 2 usage,
3 bad model, data or trace (the line names the file, and the line of a trace), 130 cancelled.
The models run in the engine's child process.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from core.cli.bench import int_list, positive_float
from core.cli.common import add_engine_options, make_engine, print_error, print_json, run_job
from core.errors import BadInputError, ExitCode, JobFailed
from core.text import escape_line


def float_list(text: str) -> tuple[float, ...]:
    """`0.5,2` -> (0.5, 2.0); argparse's ArgumentTypeError unless all are finite numbers >= 0."""
    try:
        values = tuple(float(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None
    if not values or min(values) < 0 or any(v != v or v == float("inf") for v in values):
        raise argparse.ArgumentTypeError(f"expected finite numbers >= 0, got {text!r}")
    return values


def rate_list(text: str) -> tuple[float, ...]:
    """Request rates per second, `100,200` -> (100.0, 200.0); each must be > 0 (ArgumentTypeError)."""
    values = float_list(text)
    if min(values) <= 0:
        raise argparse.ArgumentTypeError(f"request rates must be > 0, got {text!r}")
    return values


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `litesmith loadtest` and its options (see the module docstring) on `subparsers`."""
    parser = subparsers.add_parser(
        "loadtest",
        help="p99 under load: request rate, dynamic batching, prediction cache",
        description="Find the highest request rate each .tflite holds within a p99 latency budget, without "
        "batching and with the best dynamic-batching policy (simulated from measured service times), "
        "and confirm it with a real open-loop load test.",
    )
    parser.add_argument("models", nargs="+", metavar="MODEL", help=".tflite models (the variants to compare)")
    parser.add_argument(
        "--p99-ms",
        type=positive_float,
        required=True,
        metavar="X",
        help="the p99 latency budget per request, in ms (queue wait + compute + hand-back)",
    )
    parser.add_argument(
        "--rate",
        type=rate_list,
        default=None,
        metavar="R[,R...]",
        help="offered request rates per second (the highest is the target); default: a range up "
        "to past each variant's sustainable rate",
    )
    parser.add_argument(
        "--max-batch",
        type=int_list,
        default=(1, 2, 4, 8, 16, 32),
        metavar="B[,B...]",
        help="largest batch sizes to try (default 1,2,4,8,16,32)",
    )
    parser.add_argument(
        "--max-wait-ms",
        type=float_list,
        default=(0.0, 0.5, 1.0, 2.0, 5.0),
        metavar="W[,W...]",
        help="how long a batch waits for more requests after its first, ms (default 0,0.5,1,2,5)",
    )
    parser.add_argument(
        "--workers",
        type=int_list,
        default=(1, 2),
        metavar="N[,N...]",
        help="interpreters serving batches in parallel (default 1,2)",
    )
    parser.add_argument(
        "--trace",
        metavar="FILE",
        help="replay a CSV of request timestamps (seconds), optionally "
        "with a request key per line, instead of Poisson arrivals",
    )
    parser.add_argument(
        "--seconds",
        type=positive_float,
        default=3.0,
        metavar="S",
        help="length of each real load test, stretched up to 4x to carry 3,000 requests for its p99 (default 3)",
    )
    parser.add_argument(
        "--data",
        metavar="FILE",
        help="requests carry these real samples (.npz/.npy/.csv matched "
        "to the inputs by name); default: random samples",
    )
    parser.add_argument(
        "--cache-size",
        type=int_list,
        default=(),
        metavar="N[,N...]",
        help="with a keyed --trace: simulate an LRU cache of N predictions",
    )
    parser.add_argument("--json", action="store_true", help="print the study as JSON (schema litesmith.loadtest)")
    add_engine_options(parser)
    parser.set_defaults(handler=handle)


def variant_names(paths: list[str]) -> list[str]:
    """A short distinct name per model: the file name without .tflite (numbered when two collide)."""
    names: list[str] = []
    for p in paths:
        base = Path(p).name.removesuffix(".tflite") or Path(p).name
        name, k = base, 2
        while name in names:
            name, k = f"{base}#{k}", k + 1
        names.append(name)
    return names


def _bad(path: str, message: str) -> int:
    print(f"error: {escape_line(path)}: {message}", file=sys.stderr)
    return ExitCode.BAD_INPUT


def handle(args: argparse.Namespace) -> int:
    """Run `litesmith loadtest`; returns the exit code (see the module docstring), never raises on bad input."""
    from core.serving.api import study_serving

    for path in args.models:
        if not os.path.isfile(path):
            return _bad(path, "no such file" if not os.path.exists(path) else "not a file")
        if not path.lower().endswith(".tflite"):
            return _bad(path, "loadtest runs .tflite models; make one with `litesmith optimize MODEL --out DIR`")
    if args.data is not None and not os.path.isfile(args.data):
        return _bad(args.data, "no such data file")
    if args.cache_size and args.trace is None:
        print("error: --cache-size needs a --trace with request keys", file=sys.stderr)
        return ExitCode.USAGE
    if args.trace is not None:
        from core.serving.generator import read_trace

        try:
            schedule = read_trace(args.trace)  # plain text, read here so a bad line is reported at once
        except BadInputError as exc:
            return _bad(args.trace, exc.message)
        if args.cache_size and schedule.keys is None:
            print(f"note: {escape_line(args.trace)} carries no request keys; no cache is simulated", file=sys.stderr)
    models = list(zip(variant_names(args.models), [os.path.abspath(p) for p in args.models]))
    with make_engine(args) as engine:
        engine.preload_tensorflow = False  # LiteRT runs the .tflite; TensorFlow would only slow the start
        try:
            study = run_job(
                engine,
                study_serving,
                models,
                subject=args.models[0],
                show_progress=not args.json,
                p99_ms=args.p99_ms,
                rates=args.rate,
                max_batch=args.max_batch,
                max_wait_ms=args.max_wait_ms,
                workers=args.workers,
                trace=os.path.abspath(args.trace) if args.trace else None,
                seconds=args.seconds,
                samples_path=os.path.abspath(args.data) if args.data else None,
                cache_sizes=args.cache_size,
            )
        except JobFailed as failed:
            print_error(failed.error)
            return failed.error.exit_code
    if args.json:
        from core.jsonout import stamp
        from core.schemas import LOADTEST
        from core.serving.report import study_document

        print_json(stamp(LOADTEST, study_document(study)))
    else:
        from core.serving.report import format_study

        print(format_study(study))
    return ExitCode.OK


__all__ = ["add_parser", "handle", "variant_names"]
