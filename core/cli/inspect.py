"""`litesmith inspect MODEL [MODEL ...] [--json]`: what a model is, from the engine's child."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

from core.cli import custom_objects
from core.cli.common import add_engine_options, make_engine, print_error, print_json, run_job, worst_exit_code
from core.errors import ExitCode, JobFailed
from core.text import escape_line
from core.units import human_count, human_size
from core.models.info import InspectResult, ModelInfo


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `litesmith inspect MODEL...` and its options on `subparsers`."""
    parser = subparsers.add_parser("inspect", help="report format, inputs, outputs, layers and ops of models")
    parser.add_argument("models", nargs="+", metavar="MODEL", help=".keras, .h5, SavedModel folder or .tflite")
    parser.add_argument("--json", action="store_true", help="print a JSON list, one entry per model")
    parser.add_argument("--layers", action="store_true", help="print the full layer table")
    custom_objects.add_argument(parser)
    add_engine_options(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Inspect each model in the engine's child (one job per file) and print a summary or JSON.

    Returns the worst exit code over the files (3 for a bad model, 0 when all were read).
    """
    from core.models.inspection import inspect_model

    bad = custom_objects.check(args)
    if bad is not None:
        return bad
    code_files = custom_objects.paths(args)
    extra: dict[str, Any] = {"custom_objects": code_files} if code_files else {}
    codes: list[int] = []
    entries: list[dict] = []
    with make_engine(args) as engine:
        # One job per file: a file that crashes the runtime only costs its own child.
        for path in args.models:
            try:
                result: InspectResult = run_job(
                    engine, inspect_model, path, subject=path, show_progress=not args.json, **extra
                )
            except JobFailed as failed:
                codes.append(failed.error.exit_code)
                print_error(failed.error)
                entries.append({"path": path, "error": {"kind": failed.error.kind, "message": failed.error.message}})
                continue
            codes.append(ExitCode.OK)
            entries.append({"path": path, "info": result.info, "seconds": result.seconds})
            if not args.json:
                print(format_info(result.info, full_layers=args.layers))
    if args.json:
        from core.jsonout import stamp
        from core.schemas import INSPECT

        print_json([stamp(INSPECT, entry) for entry in entries])
    return worst_exit_code(codes)


def _shape(shape: Sequence[int | None]) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def _flops_label(info: ModelInfo) -> str:
    """ " (per time step, partial)": how to read the FLOPs figure (the notes list what was not counted)."""
    if info.flops is None:
        return ""
    parts = [f"per {escape_line(info.flops_per)}"] if info.flops_per else []
    if info.flops_partial:
        parts.append(f"partial: {len(info.flops_uncounted)} not counted")
    return f" ({', '.join(parts)})" if parts else ""


def format_info(info: ModelInfo, full_layers: bool = False) -> str:
    """The inspect table. Names, types and notes come from the model file: each is escaped
    (`escape_line`), so a name can't add lines, move the cursor or recolour the terminal."""
    e = escape_line
    lines = [
        f"{e(info.path)}",
        f"  format   {e(info.format)}    size {human_size(info.file_size)}    sha256 {e(info.sha256[:16])}…",
        f"  params   {human_count(info.params)}{' (partial)' if info.params_partial else ''}    "
        f"FLOPs/sample {human_count(info.flops)}{_flops_label(info)}",
    ]
    if info.signature:
        others = [k for k in info.signatures if k != info.signature]
        lines.append(f"  signature {e(info.signature)}" + (f"  (also: {e(', '.join(others))})" if others else ""))
    for label, tensors in (("input ", info.inputs), ("output", info.outputs)):
        for t in tensors:
            quant = f"  scale={t.quantization[0]:.3g} zero_point={t.quantization[1]}" if t.quantization else ""
            lines.append(f"  {label}   {e(t.name)}  {_shape(t.shape)}  {e(t.dtype)}{quant}")
    if info.layers:
        shown = info.layers if full_layers else info.layers[:12]
        lines.append(f"  layers ({len(info.layers)}):")
        for layer in shown:
            macs = "not counted" if not layer.counted else f"{layer.macs:,}"
            per = f" per {e(info.flops_per)}" if layer.counted and layer.macs_free and info.flops_per else ""
            lines.append(
                f"    {e(layer.name):<28} {e(layer.type):<22} {e(layer.output_shape):<20} "
                f"params {layer.params:>9,}  MACs {macs:>12}{per}"
            )
        if len(shown) < len(info.layers):
            lines.append(f"    … {len(info.layers) - len(shown)} more (--layers shows all)")
    if info.op_histogram:
        ops = ", ".join(f"{e(name)}×{count}" for name, count in info.op_histogram)
        lines.append(f"  ops      {ops}")
    if info.tensor_types:
        lines.append("  tensors  " + ", ".join(f"{e(dtype)}: {count}" for dtype, count in info.tensor_types))
    for note in info.notes:
        lines.append(f"  note     {e(note)}")
    return os.linesep.join(lines)
