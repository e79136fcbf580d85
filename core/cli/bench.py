"""`litesmith bench MODEL`: latency and throughput over batch sizes and thread counts, with a recommendation.

    litesmith bench model.tflite --threads 1,2 --batch 1,8,32 --seconds 2 --budget-ms 10
    litesmith bench model.keras --keras-modes predict,tf_function --json --samples
    litesmith bench saved_model/ --signature embed --data batches.npz
    litesmith bench model.tflite --devices cpu,gpu --batch 1,8,64,512 --keras-model model.keras

With --devices the CPU run is followed by the GPU runners (LiteRT's GPU accelerator, Keras on
the GPU through TensorFlow or JAX) and a table of per-sample latency, throughput and copy time
per device and batch size, with the batch size from which each GPU runner beats the CPU
(`core.benchmark.gpu_sweep`); a GPU runner that cannot start here says why in its row.

Inputs are fed by name. `--data` is matched to the model's inputs by
`core.data.loaders.load_data` (arrays named after the inputs, else x_0, x_1, ...
in input order, else x). Free dimensions (a None sequence length, height or
width) run at the data's size, or without data at the documented synthetic
size; the shape measured is printed and in the JSON (`inputs`).

Exit codes: 0 measured; 2 usage; 3 bad model or data, or nothing measured
because of the input (e.g. a batch size the model cannot take); 4 nothing
measured because the model failed to run; 130 cancelled.

The measuring happens in the engine's child process.
"""

from __future__ import annotations

from core.text import escape_line

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from core.cli import custom_objects
from core.cli.common import add_engine_options, make_engine, print_error, print_json, run_in_engine
from core.errors import ExitCode

if TYPE_CHECKING:
    from core.benchmark.results import BenchConfig, BenchmarkResult


def int_list(text: str) -> tuple[int, ...]:
    """`1,2,8` -> (1, 2, 8); argparse's ArgumentTypeError unless every part is a whole number >= 1."""
    try:
        values = tuple(int(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers separated by commas, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected whole numbers >= 1, got {text!r}")
    return values


def str_list(text: str) -> tuple[str, ...]:
    """`a, b,,c` -> ('a', 'b', 'c'): comma-separated names, blanks dropped."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def positive_float(text: str) -> float:
    """A number > 0 (e.g. seconds, milliseconds); argparse's ArgumentTypeError otherwise."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """One whole number >= 1; argparse's ArgumentTypeError otherwise."""
    values = int_list(text)
    if len(values) != 1:
        raise argparse.ArgumentTypeError(f"expected one whole number, got {text!r}")
    return values[0]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `litesmith bench` and its options (see the module docstring) on `subparsers`."""
    from core.benchmark.results import DEFAULT_BUDGET_MS, DEFAULT_SECONDS, KERAS_MODES

    parser = subparsers.add_parser(
        "bench",
        help="measure latency and throughput; recommend a batch size and thread count",
        description="Measure a model's latency (p50/p90/p99/p99.9, cold run) and throughput over batch sizes "
        "and thread counts, explain what limits it, and recommend the fastest configuration whose "
        "p99 fits the latency budget.",
    )
    parser.add_argument("model", metavar="MODEL", help=".tflite, .keras, .h5 or SavedModel folder")
    parser.add_argument(
        "--threads",
        type=int_list,
        default=None,
        metavar="N[,N...]",
        help="LiteRT thread counts to try (default 1; with --devices: 1 and every physical core; "
        "Keras uses TensorFlow's own threads)",
    )
    parser.add_argument("--batch", type=int_list, default=(1,), metavar="B[,B...]", help="batch sizes (default 1)")
    amount = parser.add_mutually_exclusive_group()
    amount.add_argument("--runs", type=positive_int, help="measured calls per configuration")
    amount.add_argument(
        "--seconds", type=positive_float, help=f"time per configuration (default {DEFAULT_SECONDS:g} s)"
    )
    parser.add_argument("--warmup", type=int, default=5, help="warm-up calls after the cold run (default 5)")
    parser.add_argument(
        "--budget-ms",
        type=positive_float,
        default=DEFAULT_BUDGET_MS,
        help=f"p99 latency budget for the recommendation (default {DEFAULT_BUDGET_MS:g} ms)",
    )
    parser.add_argument("--no-xnnpack", action="store_true", help=".tflite: LiteRT's built-in kernels only")
    parser.add_argument(
        "--keras-modes",
        type=str_list,
        default=("predict", "tf_function"),
        metavar="MODE[,MODE...]",
        help=f"Keras models: {', '.join(KERAS_MODES)} (default predict,tf_function)",
    )
    parser.add_argument("--device", default="/CPU:0", help="Keras models: /CPU:0 (default) or /GPU:N")
    parser.add_argument(
        "--gpu-memory-mb", type=positive_int, default=None, help="cap the chosen GPU's memory for the Keras runs"
    )
    parser.add_argument(
        "--data",
        metavar="FILE",
        help="measure over a dataset and report data time versus model time: an .npz with arrays "
        "named after the model's inputs, or x_0, x_1, ... in input order, or x (also .npy, "
        ".csv); free dimensions run at the data's size",
    )
    parser.add_argument(
        "--input-shape",
        action="append",
        default=[],
        metavar="INPUT=D1,D2,...",
        help="without --data: the sizes after the batch axis for an input with free dimensions "
        "(e.g. frames=45,6); repeat per input",
    )
    parser.add_argument(
        "--signature",
        metavar="NAME",
        default=None,
        help="SavedModel or .tflite: the signature to measure (default serving_default, or the "
        "only one); the others are listed in a note",
    )
    parser.add_argument("--profile", action="store_true", help="Keras models: time every layer")
    parser.add_argument(
        "--devices",
        type=_devices,
        default=None,
        metavar="cpu[,gpu]",
        help="CPU versus GPU over the --batch sizes: the CPU .tflite at its best thread count, "
        "LiteRT's GPU accelerator, Keras on the GPU (TensorFlow or JAX); prints the batch size "
        "from which each GPU runner beats the CPU. A .keras MODEL is converted to fp32 .tflite",
    )
    parser.add_argument(
        "--keras-model",
        metavar="FILE",
        default=None,
        help="with --devices and a .tflite MODEL: the same model as .keras, for Keras on the GPU",
    )
    parser.add_argument("--json", action="store_true", help="print every figure as JSON")
    parser.add_argument("--samples", action="store_true", help="with --json: include every raw latency sample")
    custom_objects.add_argument(parser)
    add_engine_options(parser)
    parser.set_defaults(handler=handle)


def _devices(text: str) -> tuple[str, ...]:
    from core.benchmark.gpu_sweep import parse_devices

    try:
        return parse_devices(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    """The BenchConfig for the parsed options.

    Without --threads: 1 thread, or every default thread count with --devices.
    ValueError (from BenchConfig) on settings that do not fit together.
    """
    from core.benchmark.results import BenchConfig

    threads = args.threads
    if threads is None:
        from core.benchmark.gpu_sweep import default_threads

        threads = default_threads() if getattr(args, "devices", None) else (1,)
    return BenchConfig(
        threads=threads,
        batch_sizes=args.batch,
        runs=args.runs,
        seconds=args.seconds,
        warmup=max(0, args.warmup),
        budget_ms=args.budget_ms,
        xnnpack=not args.no_xnnpack,
        keras_modes=args.keras_modes,
        device=args.device,
        gpu_memory_limit_mb=args.gpu_memory_mb,
        keep_samples=bool(args.samples),
        profile_layers=bool(args.profile),
    )


def handle(args: argparse.Namespace) -> int:
    """Run `litesmith bench`; returns the exit code (see the module docstring), never raises on bad input."""
    from core.benchmark.measure import benchmark_model, nothing_measured

    try:
        config = config_from_args(args)
        from core.cli.scoring import parse_input_shapes

        shapes = parse_input_shapes(args.input_shape or [])
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    if not os.path.exists(args.model):
        print(f"error: {args.model}: no such file or folder", file=sys.stderr)
        return ExitCode.BAD_INPUT
    bad = custom_objects.check(args)
    if bad is not None:
        return bad
    code_files = custom_objects.paths(args)
    if getattr(args, "devices", None):
        return _handle_devices(args, config)
    extra: dict[str, Any] = {"custom_objects": code_files} if code_files else {}
    result, failed_code = run_in_engine(
        make_engine(args),
        benchmark_model,
        args.model,
        config,
        subject=args.model,
        data=args.data,
        signature=args.signature,
        show_progress=not args.json,
        input_shapes=dict(shapes),
        **extra,
    )
    if failed_code is not None:
        return failed_code
    if args.json:
        from core.jsonout import stamp
        from core.schemas import BENCH

        print_json(stamp(BENCH, result))
    else:
        print(format_result(result))
    failure = nothing_measured(result)
    if failure is not None:
        print_error(failure)
        return ExitCode.BAD_INPUT if failure.exit_code == ExitCode.BAD_INPUT else ExitCode.CONVERSION
    return ExitCode.OK


def format_result(result: BenchmarkResult) -> str:
    """The measured table for a terminal: one row per configuration (latencies in ms, throughput in
    samples/s, peak RSS in MiB), the recommendation, its reasons and the per-variant facts.

    Every figure comes from `result` (measured in the engine's child); names from the model are escaped.
    """
    from core.benchmark.stats import fmt_ms

    lines = [f"{result.model}  ({result.seconds:.1f} s)"]
    if getattr(result, "inputs", ()):
        lines.append(
            "inputs: "
            + ", ".join(
                f"{i.describe()} {i.dtype}"
                + {"data": " (free size from the data)", "synthetic": " (free size: synthetic default)"}.get(
                    i.source, ""
                )
                for i in result.inputs
            )
        )
    header = (
        f"  {'configuration':<28} {'runs':>7} {'p50':>9} {'p90':>9} {'p99':>9} {'p99.9':>9} "
        f"{'mean':>9} {'std':>9} {'cold':>9} {'samples/s':>11} {'peak RSS':>10}"
    )
    lines.append(header)
    lines.append("  " + "-" * (len(header) - 2))
    for r in result.configs:
        if r.error:
            lines.append(f"  {r.label:<28} not measured: {r.error}")
            continue
        s = r.stats
        lines.append(
            f"  {r.label:<28} {s.n:>7} {fmt_ms(s.p50):>9} {fmt_ms(s.p90):>9} {fmt_ms(s.p99):>9} "
            f"{fmt_ms(s.p999):>9} {fmt_ms(s.mean):>9} {fmt_ms(s.std):>9} {fmt_ms(s.cold_ms):>9} "
            f"{s.throughput:>11,.0f} {r.peak_rss_mb:>7,.0f} MiB"
        )
    rec = result.recommendation
    lines.append("")
    lines.append(rec.headline())  # the same Recommendation object (and text) the GUI header shows
    if rec.label is not None:
        lines.append(("  recommended: " if rec.within_budget else "  no configuration fits: ") + rec.reason)
    if rec.why_not_fastest:
        lines.append("  not the fastest p50: " + rec.why_not_fastest)
    if result.explanations:
        lines.append("")
        lines.append("why:")
        lines.extend(f"  - {text}" for text in result.explanations)
    lines.extend(_facts_lines(result))
    if result.layer_profile:
        from core.benchmark.profile import top_layers

        lines.append("")
        lines.append("slowest layers (eager, CPU):")
        for layer in top_layers(result.layer_profile, 10):
            lines.append(f"  {layer.name:<32} {layer.type:<24} {fmt_ms(layer.mean_ms):>9}  {layer.share:>5.1%}")
    for note in result.notes:
        lines.append(f"note: {note}")
    return os.linesep.join(escape_line(line) for line in lines)  # names come from the model file


def _facts_lines(result: BenchmarkResult) -> list[str]:
    """One row per .tflite variant: op counts, XNNPACK partitions, XNNPACK on/off (what the explanations quote)."""
    from core.benchmark.stats import fmt_ms

    facts = getattr(result, "variant_facts", ())
    if not facts:
        return []
    lines = ["", "measured per variant (ops counted in the .tflite; XNNPACK on/off at batch 1, 1 thread):"]
    for f in facts:
        delegated = (
            "unknown"
            if f.delegated_ops is None
            else f"{f.delegated_ops} ops in {f.partitions} partition(s), {f.kept_count} kept"
        )
        ablation = (
            "not measured"
            if f.xnnpack_on_p50_ms is None or f.xnnpack_off_p50_ms is None
            else f"{fmt_ms(f.xnnpack_on_p50_ms)} on / {fmt_ms(f.xnnpack_off_p50_ms)} off"
        )
        ops = "?" if f.total_ops is None else str(f.total_ops)
        quant = "?" if f.quantize_ops is None else f"{f.quantize_ops}/{f.dequantize_ops}"
        lines.append(
            f"  {f.variant:<12} ops {ops:>5}  quantize/dequantize {quant:>7}  XNNPACK: {delegated};  p50 {ablation}"
        )
    return lines


def _handle_devices(args: argparse.Namespace, config: BenchConfig) -> int:
    """`bench MODEL --devices cpu,gpu`: the CPU run as usual, then the GPU runners and the crossover.

    Exit codes as without --devices; a GPU that cannot run is a state in the table ("No GPU"), not an error.
    """
    from core.benchmark.crossover import format_crossover
    from core.benchmark.gpu_sweep import crossover_json, crossover_sweep
    from core.benchmark.measure import nothing_measured

    if args.keras_model is not None and not os.path.exists(args.keras_model):
        print(f"error: {args.keras_model}: no such file", file=sys.stderr)
        return ExitCode.BAD_INPUT
    result, failed_code = run_in_engine(
        make_engine(args),
        crossover_sweep,
        args.model,
        config,
        subject=args.model,
        devices=args.devices,
        keras_model=args.keras_model,
        show_progress=not args.json,
    )
    if failed_code is not None:
        return failed_code
    if args.json:
        from core.cli.common import to_jsonable
        from core.jsonout import stamp
        from core.schemas import BENCH

        data = to_jsonable(result.bench)
        data["crossover"] = crossover_json(result.crossover)
        print_json(stamp(BENCH, data))
    else:
        print(format_result(result.bench))
        print()
        print(os.linesep.join(escape_line(line) for line in format_crossover(result.crossover).splitlines()))
    failure = nothing_measured(result.bench)
    if failure is not None:
        print_error(failure)
        return ExitCode.BAD_INPUT if failure.exit_code == ExitCode.BAD_INPUT else ExitCode.CONVERSION
    return ExitCode.OK
