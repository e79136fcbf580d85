"""`litesmith optimize MODEL --quantize MODE[,MODE...]`: quantize, compare and export .tflite variants.

Several modes give several variants and a comparison table (size, size ratio to
the fp32 conversion, fidelity against the original model, accuracy). Each
variant is exported atomically with its sidecar ``NAME.report.json``.
``--recipe FILE`` takes the variants from a recipe file instead of the flags, and
``--save-recipe FILE`` writes the ones the command line describes (`core.cli.recipe_args`).

Exit codes: 0 ok, 2 usage, 3 bad model or data, 4 conversion failure (any
variant), 130 cancelled.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from core.cli import custom_objects, recipe_args, report_out
from core.cli.common import (
    add_engine_options,
    check_not_an_input,
    make_engine,
    print_error,
    print_json,
    run_job,
    worst_exit_code,
)
from core.cli.optimize_table import format_result
from core.cli.scoring import add_scoring_arguments, session_options
from core.errors import BadInputError, ExitCode, JobFailed, LitesmithError
from core.jsonout import stamp
from core.schemas import OPTIMIZE
from core.optimize.compress_steps import compression_steps, with_compression
from core.optimize.recipe_file import RecipeFileError
from core.optimize.recipes import ALL_MODES, Recipe, RecipeError, SelectiveConfig, parse_modes, recipe_for_mode

if TYPE_CHECKING:
    from core.data.loaders import DataSpec


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `litesmith optimize` and its options (see the module docstring) on `subparsers`."""
    parser = subparsers.add_parser(
        "optimize",
        help="quantize a model into .tflite variants, compare them with the original and export them",
        description="Quantize MODEL into one .tflite variant per mode, evaluate each against the original model "
        "(and the labels, when the data has them) and export them with a report.",
    )
    parser.add_argument("model", metavar="MODEL", help=".keras, .h5, SavedModel folder or .tflite")
    parser.add_argument(
        "--quantize",
        "-q",
        default=None,
        metavar="MODES",
        help=f"comma-separated modes: {', '.join(ALL_MODES)} (default: dynamic; with --auto: "
        "the candidate modes, default fp32,dynamic,float16,int8,int16x8)",
    )
    parser.add_argument(
        "--data",
        metavar="FILE",
        help="calibration/evaluation data: .npz (x, y), .npy, .csv or an image folder; "
        "without it, inputs are random (and the results say so)",
    )
    parser.add_argument("--eval-data", metavar="FILE", help="separate evaluation data (default: --data)")
    parser.add_argument("--label-column", metavar="NAME", help="the label column of a .csv file")
    parser.add_argument(
        "--calibration-samples",
        type=int,
        default=200,
        metavar="N",
        help="calibration samples, class-stratified when labelled (default: 200)",
    )
    parser.add_argument(
        "--eval-samples", type=int, default=None, metavar="N", help="evaluate on at most N samples (default: all)"
    )
    parser.add_argument("--int8-io", action="store_true", help="int8 mode: int8 inputs and outputs (default float)")
    parser.add_argument(
        "--selective",
        action="store_true",
        help="int8 mode: keep the most sensitive layers in float until a fidelity target is met",
    )
    parser.add_argument(
        "--layer-errors",
        action="store_true",
        help="int8 (and, for a .tflite input, int16x8): measure and print the per-layer quantization "
        "error, worst first",
    )
    parser.add_argument(
        "--fidelity-target",
        type=float,
        default=None,
        metavar="X",
        help="--selective: target of the fidelity metric (default depends on the task)",
    )
    parser.add_argument(
        "--allow-select-tf-ops",
        action="store_true",
        help="allow TensorFlow (Flex) ops in the output; off by default, Flex ops can carry "
        "file-system ops and need the Flex delegate",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=0.5,
        help="decision threshold of binary and multi-label outputs (default 0.5)",
    )
    add_scoring_arguments(parser)
    parser.add_argument(
        "--out",
        metavar="PATH",
        help="output .tflite (one mode), a .tflite name that gets .MODE added (several), or an "
        "existing folder (default: next to MODEL, as NAME.MODE.tflite)",
    )
    compress = parser.add_argument_group("pruning and distillation (Keras models; run before quantizing)")
    compress.add_argument(
        "--prune",
        type=float,
        metavar="SPARSITY",
        help="prune this fraction (0-1): weights by magnitude, or with --structured whole "
        "filters/units (a genuinely smaller, faster model)",
    )
    compress.add_argument("--structured", action="store_true", help="with --prune: remove filters and units")
    compress.add_argument(
        "--distill",
        action="store_true",
        help="distil the original into a student (the pruned model with --structured, else a width-scaled copy)",
    )
    compress.add_argument(
        "--student-width",
        type=float,
        metavar="W",
        help="with --distill: the student is a copy with W times the filters/units (e.g. 0.5)",
    )
    compress.add_argument("--epochs", type=int, metavar="N", help="fine-tuning / distillation epochs")
    parser.add_argument("--report", metavar="PATH", help="also write the whole comparison as JSON to PATH")
    report_out.add_arguments(parser)
    parser.add_argument("--no-export", action="store_true", help="compare only; write no .tflite")
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    from core.cli.auto_mode import add_arguments as add_auto_arguments

    add_auto_arguments(parser)
    recipe_args.add_arguments(parser)
    custom_objects.add_argument(parser)
    add_engine_options(parser)
    parser.set_defaults(handler=handle)


def _usage(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return ExitCode.USAGE


def model_stem(model: str) -> str:
    """The name variants are named after: `model` for `model.keras`, the folder's name for a SavedModel."""
    p = Path(model.rstrip("/\\") or model)
    return p.name if p.is_dir() else p.stem


def output_paths(model: str, names: list[str], out: str | None) -> dict[str, Path]:
    """Where each variant goes; ValueError for an --out that cannot hold them."""
    stem = model_stem(model)
    if out is None:
        folder = Path(model.rstrip("/\\")).resolve().parent
        return {n: folder / f"{stem}.{n}.tflite" for n in names}
    target = Path(out)
    if target.is_dir() or out.endswith(("/", os.sep)):
        if not target.is_dir():
            raise ValueError(f"the output folder {out} does not exist")
        return {n: target / f"{stem}.{n}.tflite" for n in names}
    if target.suffix.lower() != ".tflite":
        raise ValueError(f"--out must end in .tflite or name an existing folder, got {out}")
    if len(names) == 1:
        return {names[0]: target}
    return {n: target.with_name(f"{target.stem}.{n}.tflite") for n in names}


def planned_outputs(args: argparse.Namespace, names: list[str]) -> dict[str, Path]:
    """Where each variant will be exported (nothing with --no-export); ValueError for a bad or unsafe --out."""
    paths = {} if args.no_export else output_paths(args.model, names, args.out)
    for path in [*paths.values(), *([Path(args.report)] if args.report else []), *report_out.report_paths(args)]:
        check_not_an_input(path, args)
    return paths


def data_spec(args: argparse.Namespace) -> DataSpec:
    """The DataSpec (--data, --eval-data, --label-column, sample counts) the command line describes."""
    from core.data.loaders import DataSpec

    return DataSpec(
        path=args.data,
        eval_path=args.eval_data,
        label_column=args.label_column,
        calibration_samples=args.calibration_samples,
        eval_samples=args.eval_samples,
    )


def recipes_from_flags(args: argparse.Namespace) -> list[Recipe]:
    """The variants -q/--int8-io/--selective/--prune/... describe; RecipeError (usage) for flags that do not fit
    (e.g. --prune 1.5), BadInputError for another config value out of range."""
    modes = parse_modes(args.quantize or "dynamic")
    if args.int8_io and "int8" not in modes:
        raise RecipeError("--int8-io applies to the int8 mode; add int8 to --quantize")
    if args.layer_errors and not {"int8", "int16x8"} & set(modes):
        raise RecipeError("--layer-errors applies to the int8 mode; add int8 to --quantize")
    if args.selective and "int8" not in modes:
        raise RecipeError("--selective applies to the int8 mode; add int8 to --quantize")
    if args.selective and args.int8_io:
        raise RecipeError("--selective keeps float inputs and outputs; drop --int8-io")
    selective = SelectiveConfig(auto=True, target=args.fidelity_target) if args.selective else None
    recipes = [
        recipe_for_mode(
            m,
            io_dtype="int8" if (m == "int8" and args.int8_io) else "float",
            selective=selective if m == "int8" else None,
            layer_errors=bool(args.layer_errors and m in ("int8", "int16x8")),
            allow_select_tf_ops=args.allow_select_tf_ops,
        )
        for m in modes
    ]
    if args.structured and args.prune is None:
        raise RecipeError("--structured goes with --prune SPARSITY")
    if args.prune is not None and not 0 < args.prune < 1:
        raise RecipeError(f"--prune takes the fraction of weights to remove, in (0, 1) (e.g. 0.5), got {args.prune:g}")
    if args.student_width is not None and not args.distill:
        raise RecipeError("--student-width goes with --distill")
    if args.epochs is not None and args.epochs < 0:
        raise RecipeError("--epochs must not be negative")
    if args.student_width is not None and not 0 < args.student_width <= 4:
        raise RecipeError("--student-width must be in (0, 4]")
    steps = compression_steps(
        prune=args.prune,
        structured=args.structured,
        distill=args.distill,
        student_width=args.student_width,
        epochs=args.epochs,
    )
    return [with_compression(r, steps) for r in recipes]


def handle(args: argparse.Namespace) -> int:
    """Run `litesmith optimize`; returns the exit code (see the module docstring), never raises on bad input."""
    from core.cache import ResultCache
    from core.optimize.export import export_variant, write_json_atomic
    from core.cache_index import optimize_cached

    bad = custom_objects.check(args)
    if bad is not None:
        return bad
    if refused := recipe_args.check_auto(args):
        return _usage(refused)
    report_problem = report_out.usage_problem(args)
    if report_problem is not None:
        return _usage(report_problem)
    if getattr(args, "auto", False):
        from core.cli.auto_mode import handle_auto

        return handle_auto(args)
    auto_only = [
        flag
        for flag, value in (
            ("--max-accuracy-drop", args.max_accuracy_drop),
            ("--min-agreement", args.min_agreement),
            ("--max-size", args.max_size),
            ("--threads", args.threads),
            ("--batch-sizes", args.batch_sizes),
            ("--seconds", args.seconds),
            ("--rate", args.rate),
            ("--p99-ms", args.p99_ms),
        )
        if value is not None
    ]
    auto_only += ["--no-prune"] if args.no_prune else []
    if auto_only:
        return _usage(f"{', '.join(auto_only)} go(es) with --auto")
    try:
        recipes = recipe_args.chosen_recipes(args, recipes_from_flags)
    except RecipeFileError as exc:  # a bad --recipe file: exit 3, one line naming it
        print_error(exc.to_job_error())
        return ExitCode.BAD_INPUT
    except RecipeError as exc:
        return _usage(str(exc))
    except BadInputError as exc:  # a config value out of range (e.g. --prune 1.5)
        return _usage(exc.message)
    if args.calibration_samples <= 0:
        return _usage("--calibration-samples must be positive")
    if args.eval_samples is not None and args.eval_samples <= 0:
        return _usage("--eval-samples must be positive")
    if args.label_column and not args.data:
        return _usage("--label-column needs --data")
    if args.eval_data and not args.data:
        return _usage("--eval-data needs --data")
    names = [r.name for r in recipes]
    try:
        paths = planned_outputs(args, names)
        options = session_options(args)
        recipe_args.save(args, recipes)
    except ValueError as exc:
        return _usage(str(exc))
    except LitesmithError as exc:  # --save-recipe: a missing folder (3), a full disk or no permission (4)
        print_error(exc.to_job_error())
        return exc.to_job_error().exit_code
    spec = data_spec(args)
    started = time.monotonic()
    exports: list[dict] = []
    codes: list[int] = [ExitCode.OK]
    # The cache is looked up in this process first (optimize_cached): a cached rerun starts no TensorFlow.
    with make_engine(args) as engine:
        engine.preload_tensorflow = False  # a child may only run an export's .tflite once: no TF for that
        if paths:  # the export's child starts while this process looks the cache up
            engine.warm_up()
        try:
            result = run_job(
                engine,
                optimize_cached,
                args.model,
                recipes,
                spec,
                subject=args.model,
                show_progress=not args.json,
                options=options,
                cache=None if args.no_cache else ResultCache(),
            )
        except JobFailed as failed:
            print_error(failed.error)
            if args.json:
                print_json(
                    stamp(
                        OPTIMIZE,
                        {"model": args.model, "error": {"kind": failed.error.kind, "message": failed.error.message}},
                    )
                )
            return failed.error.exit_code
        for failure in result.failures:
            if args.json:  # otherwise the progress stream already printed it
                print(f"error: {args.model}: {failure.name}: {failure.message}", file=sys.stderr)
            codes.append(ExitCode.CONVERSION)
        if not args.no_export:
            for variant in result.variants:
                try:
                    exported = run_job(
                        engine,
                        export_variant,
                        variant,
                        str(paths[variant.name]),
                        subject=str(paths[variant.name]),
                        show_progress=not args.json,
                        source=result.source,
                        data=result.data,
                        baseline_size_bytes=result.baseline_size_bytes,
                        original_evaluation=result.original_evaluation,
                    )
                except JobFailed as failed:
                    print_error(failed.error)
                    exports.append({"variant": variant.name, "error": failed.error.message})
                    codes.append(failed.error.exit_code)
                    if failed.error.exit_code == ExitCode.CANCELLED:
                        return ExitCode.CANCELLED
                    continue
                exports.append(
                    {
                        "variant": variant.name,
                        "tflite": exported.tflite_path,
                        "report": exported.report_path,
                        "sha256": exported.sha256,
                    }
                )
        if report_out.asked(args):  # the comparison report (core.report): measured in the engine, written here
            try:
                codes += report_out.write(engine, args, result, started)
            except JobFailed as failed:  # cancelled: nothing more is written
                print_error(failed.error)
                return failed.error.exit_code
    summary = stamp(OPTIMIZE, result.summary())
    summary["exports"] = exports
    if args.report:
        try:
            write_json_atomic(args.report, summary)
        except LitesmithError as exc:  # a missing folder (3), a full disk or no permission (4): one line
            print_error(exc.to_job_error())
            codes.append(exc.to_job_error().exit_code)
    if args.json:
        print_json(summary)
    else:
        print(format_result(result, exports))
    return int(worst_exit_code(codes))
