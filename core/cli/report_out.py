"""`litesmith optimize … --report-html FILE --report-json FILE`: the app's comparison report, from the CLI.

The page and the JSON document (`litesmith.comparison-report`, core/schemas/comparison-report.v1)
come from `core.report.html.write_report`, the function the app's Export Report calls, so a
run gives the same report in both. The latency columns (p50, p99, speed-up = the original's p50
/ the variant's, samples/s) are measured here by a benchmark of the original and each variant
(the app's default Run settings: batch 1, one thread, `--report-seconds` per configuration; 0
measures nothing and the report says so). Files are written by this (the parent) process, atomically.

Exit codes: a report that cannot be written is 3 (its folder does not exist) or 4 (disk full,
no permission: `core.errors.OutputError`); a benchmark that fails leaves its reason in the report
("benchmark_error") and does not fail the command.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import BadInputError, ErrorKind, ExitCode, JobError, JobFailed, LitesmithError

if TYPE_CHECKING:
    from core.benchmark.results import BenchConfig

# The app's default Run measures this way (gui.recipe.RunSettings.bench_config): batch 1, one thread,
# 1 s per configuration after 3 warm-up calls, the Keras original as a tf.function.
REPORT_SECONDS = 1.0


def report_bench_config(seconds: float) -> BenchConfig:
    """The BenchConfig of the report's latency columns (the app's default Run settings)."""
    from core.benchmark.results import BenchConfig

    return BenchConfig(
        threads=(1,),
        batch_sizes=(1,),
        seconds=seconds,
        budget_ms=10.0,
        keras_modes=("tf_function",),
        warmup=3,
        min_runs=3,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """--report-html, --report-json and --report-seconds on `litesmith optimize`."""
    group = parser.add_argument_group("comparison report (the desktop app's Export Report)")
    group.add_argument(
        "--report-html",
        metavar="FILE",
        help="write the comparison (table, outputs, what it means) as a self-contained HTML page",
    )
    group.add_argument(
        "--report-json", metavar="FILE", help="write the comparison as JSON (schema litesmith.comparison-report)"
    )
    group.add_argument(
        "--report-seconds",
        type=float,
        default=REPORT_SECONDS,
        metavar="S",
        help=f"the report's latency columns: measure each configuration for S seconds (default "
        f"{REPORT_SECONDS:g}, as the app's Run; 0: measure nothing)",
    )


def asked(args: argparse.Namespace) -> bool:
    """True when a report file was asked for."""
    return bool(getattr(args, "report_html", None) or getattr(args, "report_json", None))


def report_paths(args: argparse.Namespace) -> list[Path]:
    """The report files asked for (for the never-write-over-the-input check)."""
    return [Path(p) for p in (getattr(args, "report_html", None), getattr(args, "report_json", None)) if p]


def usage_problem(args: argparse.Namespace) -> str | None:
    """One line for a bad combination of report options, else None."""
    if not asked(args):
        return None
    if getattr(args, "auto", False):
        return "--report-html and --report-json go without --auto (its --report has the search)"
    if args.report_seconds < 0:
        return "--report-seconds must not be negative"
    if args.report_html and args.report_json and os.path.abspath(args.report_html) == os.path.abspath(args.report_json):
        return "--report-html and --report-json name the same file"
    return None


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    """The run's settings as the report records them: the command's options that shaped the result."""
    keys = (
        "quantize",
        "data",
        "eval_data",
        "label_column",
        "calibration_samples",
        "eval_samples",
        "int8_io",
        "selective",
        "fidelity_target",
        "threshold",
        "prune",
        "structured",
        "distill",
        "student_width",
        "epochs",
        "report_seconds",
    )
    return {"command": "litesmith optimize", **{k: getattr(args, k, None) for k in keys}}


def measure(engine: Any, args: argparse.Namespace, result: Any) -> tuple[Any, JobError | None]:
    """(BenchmarkResult or None, why not measured or None). Raises JobFailed only when cancelled."""
    from core.cache_index import benchmark_variants_cached
    from core.cli.common import run_job

    if not result.variants:
        return None, JobError(ErrorKind.CONVERSION, "no variant was made")
    if args.report_seconds == 0:
        return None, JobError(ErrorKind.BAD_INPUT, "--report-seconds 0 asked for no measurement")
    from core.report.comparison import benchmark_plan

    variants, keras_model, shapes = benchmark_plan(args.model, result)
    extra: dict[str, Any] = {"input_shapes": shapes} if shapes else {}
    if not getattr(args, "no_cache", False):
        from core.cache import ResultCache

        extra["cache"] = ResultCache()
    interface = getattr(result.source, "interface", None)
    try:
        bench = run_job(
            engine,
            benchmark_variants_cached,
            variants,
            report_bench_config(args.report_seconds),
            subject=args.model,
            show_progress=not args.json,
            keras_model=keras_model,
            label=Path(args.model.rstrip("/\\")).name,
            signature=getattr(interface, "signature", None) or None,
            custom_objects=tuple(p for p, _ in getattr(result.source, "custom_objects", ()) or ()),
            **extra,
        )
    except JobFailed as failed:
        if failed.error.exit_code == ExitCode.CANCELLED:
            raise
        return None, failed.error
    return bench, None


def write(engine: Any, args: argparse.Namespace, result: Any, started: float) -> list[int]:
    """Measure, then write the asked report files; the exit codes to fold into the command's (empty: all fine).

    Raises JobFailed when cancelled (nothing is written then).
    """
    from core.cli.common import print_error
    from core.report.comparison import RunRecord

    bench, error = measure(engine, args, result)
    run = RunRecord(
        model_path=args.model,
        settings=settings_of(args),
        optimize=result,
        benchmark=bench,
        benchmark_error=error,
        seconds=time.monotonic() - started,
    )
    return write_run(run, args.report_html, args.report_json, print_error)


def write_run(run: Any, html_path: str | None, json_path: str | None, print_error: Any = None) -> list[int]:
    """Write `run`'s report files (missing folder: 3; OSError: 4); the exit codes of what failed."""
    from core.report.html import write_report

    try:
        for path in (html_path, json_path):
            if path and not Path(path).resolve().parent.is_dir():
                raise BadInputError("the report folder does not exist", path=str(Path(path).parent))
        write_report(run, html_path, json_path)
    except LitesmithError as exc:  # one line naming the file, never a traceback
        if print_error is not None:
            print_error(exc.to_job_error())
        return [exc.to_job_error().exit_code]
    return []


__all__ = [
    "REPORT_SECONDS",
    "add_arguments",
    "asked",
    "measure",
    "report_bench_config",
    "report_paths",
    "settings_of",
    "usage_problem",
    "write",
    "write_run",
]
