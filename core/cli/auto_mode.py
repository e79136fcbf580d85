"""`litesmith optimize MODEL --auto`: the fastest variant within an accuracy/fidelity (and size) budget.

Prints the candidates table (p50, throughput, size, accuracy or agreement,
whether it meets the budget, why it was skipped, whether it came from the
cache), the Pareto front and the recommendation with its reasons, and exports
the recommended variant to --out (atomically, with its report).

Exit codes: 0 ok, 2 usage, 3 bad model or data, 4 no candidate meets the budget
(or the export failed), 130 cancelled (the candidates measured until then are
still printed; nothing is exported).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Callable

from core.cli.auto_table import candidate_line, format_auto
from core.cli.common import STOP, ProgressPrinter, make_engine, print_error, print_json
from core.errors import BadInputError, ExitCode, JobFailed, LitesmithError

if TYPE_CHECKING:
    from core.auto.results import AutoResult
    from core.cli.auto_serving import ServingChoice
    from core.engine import Engine, Event


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `--auto` group to `optimize`'s parser: the budget (accuracy drop, agreement, size in MiB) and the search space."""
    auto = parser.add_argument_group("auto mode (--auto): the fastest variant within a budget")
    auto.add_argument(
        "--auto",
        action="store_true",
        help="try the candidate recipes (quantization modes, selective int8, structured pruning, "
        "thread counts, batch sizes), measure each and export the fastest within the budget",
    )
    quality = auto.add_mutually_exclusive_group()
    quality.add_argument(
        "--max-accuracy-drop",
        type=float,
        metavar="X",
        help="at most X worse than the original on labelled data: top-1 accuracy as a fraction "
        "(0.01 = 1 point) for classifiers, PR-AUC for binary models, MAE increase for "
        "regression",
    )
    quality.add_argument(
        "--min-agreement",
        type=float,
        metavar="Y",
        help="at least Y agreement with the original: top-1 agreement (classifiers), 1 - flipped "
        "decisions (binary), cosine similarity (regression); default 0.99",
    )
    auto.add_argument("--max-size", type=float, metavar="MB", help="size limit of the .tflite, in MiB")
    auto.add_argument(
        "--threads",
        metavar="N[,N...]",
        default=None,
        help="thread counts to sweep (default 1,2; capped at the number of cores)",
    )
    auto.add_argument(
        "--batch-sizes",
        metavar="B[,B...]",
        default=None,
        help="batch sizes to sweep (default 1; latency is judged at the smallest)",
    )
    auto.add_argument(
        "--seconds", type=float, default=None, metavar="S", help="measuring time per configuration (default 0.5)"
    )
    auto.add_argument("--no-prune", action="store_true", help="never try structured pruning")
    from core.cli.auto_serving import add_arguments as add_serving_arguments

    add_serving_arguments(auto)  # --rate, --p99-ms: choose the variant and batching policy under load
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="neither read nor write the result cache of variants and measurements (`litesmith cache info|clear`)",
    )


def _ints(text: str, what: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"{what} must be whole numbers separated by commas, got {text!r}") from None
    if not values or min(values) < 1:
        raise ValueError(f"{what} must be whole numbers >= 1")
    return values


def _usage(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return ExitCode.USAGE


def handle_auto(args: argparse.Namespace) -> int:
    """Run `litesmith optimize --auto`: search, measure, recommend, export the recommended variant.

    Returns the exit code: 0 exported (or --no-export), 2 usage, 3 bad model or data, 4 no
    candidate meets the budget or an output could not be written, 130 cancelled (what was
    measured before the cancel is still printed).
    """
    from core.auto import AutoBudget, AutoSettings
    from core.cli.optimize import data_spec, output_paths, planned_outputs
    from core.optimize.recipes import RecipeError, parse_modes

    conflicts = [
        flag
        for flag, on in (
            ("--prune", args.prune is not None),
            ("--structured", args.structured),
            ("--distill", args.distill),
            ("--selective", args.selective),
            ("--int8-io", args.int8_io),
            ("--layer-errors", args.layer_errors),
        )
        if on
    ]
    if conflicts:
        return _usage(f"{', '.join(conflicts)} cannot be combined with --auto (auto mode chooses the recipes)")
    if args.out is None and not args.no_export:
        return _usage("--auto needs --out PATH for the recommended variant (or --no-export)")
    from core.cli.auto_serving import check_arguments as check_serving_arguments

    serving_usage = check_serving_arguments(args)
    if serving_usage:
        return _usage(serving_usage)
    if args.label_column and not args.data:
        return _usage("--label-column needs --data")
    if args.eval_data and not args.data:
        return _usage("--eval-data needs --data")
    if args.calibration_samples <= 0:
        return _usage("--calibration-samples must be positive")
    if args.eval_samples is not None and args.eval_samples <= 0:
        return _usage("--eval-samples must be positive")
    try:
        budget = AutoBudget(
            max_accuracy_drop=args.max_accuracy_drop,
            min_agreement=args.min_agreement,
            max_size_bytes=int(args.max_size * 2**20) if args.max_size is not None else None,
        )
        from core.cli import custom_objects
        from core.cli.scoring import parse_input_shapes, parse_tasks

        settings_kwargs = {
            "threshold": args.threshold,
            "use_cache": not args.no_cache,
            "signature": args.signature,
            "primary_output": args.primary_output,
            "tasks": parse_tasks(args.task or []),
            "custom_objects": custom_objects.paths(args),
            "input_shapes": parse_input_shapes(args.input_shape or []),
        }
        if args.quantize is not None:
            modes = parse_modes(args.quantize)
            settings_kwargs["modes"] = tuple(["fp32"] + [m for m in modes if m != "fp32"])
        if args.threads is not None:
            settings_kwargs["threads"] = _ints(args.threads, "--threads")
        if args.batch_sizes is not None:
            settings_kwargs["batch_sizes"] = _ints(args.batch_sizes, "--batch-sizes")
        if args.seconds is not None:
            settings_kwargs["seconds_per_config"] = args.seconds
        if args.no_prune:
            settings_kwargs["pruning"] = "never"
        settings = AutoSettings(**settings_kwargs)
    except BadInputError as exc:
        return _usage(exc.message)
    except (RecipeError, ValueError) as exc:
        return _usage(str(exc))
    try:
        # The winner's name is only known at the end; a folder --out gets MODEL.auto.tflite.
        out_path: Path | None = planned_outputs(args, ["auto"]).get("auto")
    except ValueError as exc:
        return _usage(str(exc))
    spec = data_spec(args)

    from core.cache_index import auto_cached
    from core.jsonout import stamp
    from core.optimize.export import export_variant, write_json_atomic
    from core.schemas import AUTO

    exports: list[dict] = []
    code: int = ExitCode.OK
    # A completed search is looked up in this process first (auto_cached): a cached rerun starts no TensorFlow.
    with make_engine(args) as engine:
        engine.preload_tensorflow = False  # a child may only run an export's .tflite once: no TF for that
        if out_path is not None:  # the export's child starts while this process looks the cache up
            engine.warm_up()
        try:
            result = _run_cancellable(
                engine, auto_cached, args.model, budget, spec, settings, subject=args.model, show_progress=not args.json
            )
        except JobFailed as failed:
            print_error(failed.error)
            if args.json:
                print_json(
                    stamp(
                        AUTO,
                        {"model": args.model, "error": {"kind": failed.error.kind, "message": failed.error.message}},
                    )
                )
            return failed.error.exit_code
        serving: ServingChoice | None = (
            None  # with --rate: the variant and batching policy chosen under load (core.cli.auto_serving)
        )
        if not result.cancelled and result.recommended_variant is not None and args.rate is not None:
            from core.cli.auto_serving import choose_under_load

            try:
                serving = choose_under_load(engine, args, result, spec)
            except JobFailed as failed:
                print_error(failed.error)
                return failed.error.exit_code
        if result.cancelled:
            code = ExitCode.CANCELLED
        elif result.recommended_variant is None:
            code = ExitCode.CONVERSION
        elif out_path is not None:
            variant = result.recommended_variant
            if serving is not None and serving.chosen is not None:
                variant = serving.chosen
            target = out_path
            if Path(args.out).is_dir() or args.out.endswith(("/", "\\")):
                target = output_paths(args.model, [variant.name], args.out)[variant.name]
            try:
                exported = _run_cancellable(
                    engine,
                    export_variant,
                    variant,
                    str(target),
                    subject=str(target),
                    show_progress=not args.json,
                    source=result.source,
                    data=result.data,
                    baseline_size_bytes=result.baseline_size_bytes,
                    original_evaluation=result.original_evaluation,
                    metadata={"auto": _report_extra(result)},
                )
                exports.append(
                    {
                        "variant": variant.name,
                        "tflite": exported.tflite_path,
                        "report": exported.report_path,
                        "sha256": exported.sha256,
                    }
                )
            except JobFailed as failed:
                print_error(failed.error)
                exports.append({"variant": variant.name, "error": failed.error.message})
                code = failed.error.exit_code
    summary = stamp(AUTO, result.summary())
    summary["exports"] = exports
    if serving is not None:
        from core.optimize.results import Variant
        from core.serving.api import ServingStudy
        from core.serving.report import study_document

        study, chosen = serving.study, serving.chosen  # ServingChoice declares them as plain objects
        assert isinstance(study, ServingStudy) and (chosen is None or isinstance(chosen, Variant))
        summary["serving"] = study_document(study)
        summary["serving_choice"] = chosen.name if chosen is not None else None
    if args.report:
        try:
            write_json_atomic(args.report, summary)
        except LitesmithError as exc:  # a missing folder (3), a full disk or no permission (4): one line
            print_error(exc.to_job_error())
            code = code or exc.to_job_error().exit_code
    if args.json:
        print_json(summary)
    else:
        print(format_auto(result, exports))
        if serving is not None:
            from core.cli.auto_serving import describe

            print(describe(serving, args.rate))
    return int(code)


def _run_cancellable(
    engine: Engine, fn: Callable[..., Any], *args: Any, subject: str | None, show_progress: bool, **kwargs: Any
) -> Any:
    """Run a job; the first Ctrl+C asks it to cancel (auto mode then returns what it measured), a second aborts."""
    from core.engine import PartialEvent

    printer = ProgressPrinter(enabled=show_progress)
    handle = engine.submit(fn, *args, subject=subject, **kwargs)

    def forward(event: Event) -> None:
        printer(event)
        if show_progress and isinstance(event, PartialEvent) and event.kind == "auto_candidate":
            printer.clear()
            print("  " + candidate_line(event.payload), file=sys.stderr)

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        if handle.cancel_requested:
            raise KeyboardInterrupt
        printer.clear()
        print("cancelling: keeping the candidates measured so far (Ctrl+C again to abort)", file=sys.stderr)
        handle.cancel()

    try:
        previous = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread
        previous = None
    try:
        with STOP.cancelling(handle):  # SIGTERM, SIGHUP: cancel it, like the first Ctrl+C
            return handle.result(on_event=forward)
    except KeyboardInterrupt:
        from core.errors import ErrorKind, JobError

        raise JobFailed(JobError(ErrorKind.CANCELLED, "cancelled by the user", path=subject)) from None
    finally:
        printer.clear()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _report_extra(result: AutoResult) -> dict[str, Any]:
    from dataclasses import asdict

    rec = getattr(result, "recommendation", None)
    return {
        "budget": result.budget.effective().describe(),
        "recommended": result.recommended,
        "recommendation": asdict(rec) if rec is not None else None,
        "reasons": list(result.reasons),
        "pareto": list(result.pareto),
        "candidates": [
            {k: v for k, v in c.summary().items() if k not in ("recipe", "evaluation")} for c in result.candidates
        ],
    }
