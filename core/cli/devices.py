"""`litesmith devices [--json]`: the CPU's inference features, the GPUs TensorFlow and NVML see,
and the OS sandbox the model engine runs in (what it could not apply here, and why)."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from core.cli.common import add_engine_options, make_engine, print_error, print_json, run_job, to_jsonable
from core.errors import ExitCode, JobFailed
from core.units import gib_text

if TYPE_CHECKING:
    from core.engine import Engine
    from core.hardware import DeviceReport


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `litesmith devices [--json]` on `subparsers`."""
    parser = subparsers.add_parser("devices", help="show the CPU's features and the GPUs TensorFlow can use")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    add_engine_options(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Run `litesmith devices`: detect in the engine's child, print text or JSON; returns the exit code."""
    from core.hardware import detect_devices

    with make_engine(args) as engine:
        try:
            report = run_job(engine, detect_devices, show_progress=not args.json)
        except JobFailed as failed:
            print_error(failed.error)
            return failed.error.exit_code
        report = _with_sandbox(report, engine)
    if args.json:
        data = to_jsonable(report)
        data["state"] = report.state
        data["cpu_only"] = report.cpu_only
        data["sandbox"] = report.sandbox.to_dict()
        from core.jsonout import stamp
        from core.schemas import DEVICES

        print_json(stamp(DEVICES, data))
    else:
        print(format_report(report))
    return ExitCode.OK


def _with_sandbox(report: DeviceReport, engine: Engine) -> DeviceReport:
    """The sandbox of the child that ran the job; else what the engine's child would get here."""
    import dataclasses

    from core.engine.sandbox import sandbox_status

    status = report.sandbox or engine.sandbox or sandbox_status()
    return dataclasses.replace(report, sandbox=status)


def _memory(mb: float | None) -> str:
    return "" if mb is None else gib_text(mb)


def format_report(report: DeviceReport) -> str:
    """The device report for a terminal: state, CPU and its features, TensorFlow's and NVML's GPUs
    (memory in GiB, utilization in %, as NVML reports them), each framework's view and the sandbox.
    """
    cpu = report.cpu
    cores = f"{cpu.physical_cores or '?'} cores / {cpu.logical_cores or '?'} threads"
    lines = [
        f"state    {report.state}",
        f"CPU      {cpu.model} ({cpu.architecture}), {cores}",
        "         features: "
        + (
            ", ".join(cpu.features)
            if cpu.features
            else ("none of note" if cpu.flags_read else "unknown (no /proc/cpuinfo)")
        ),
    ]
    build = {True: "CUDA build", False: "CPU-only build", None: "build unknown"}[report.tf_built_with_cuda]
    lines.append(
        f"TF       TensorFlow {report.tf_version} ({build})"
        if report.tf_version
        else "TF       TensorFlow not installed"
    )
    for gpu in report.tf_gpus:
        cc = (
            f", compute capability {gpu.compute_capability[0]}.{gpu.compute_capability[1]}"
            if gpu.compute_capability
            else ""
        )
        lines.append(f"  {gpu.device:<8} {gpu.name}{cc}")
    if not report.tf_gpus:
        lines.append("         no GPU visible to TensorFlow")
    lines.append(f"NVML     {report.nvml_status or 'unknown'}")
    for gpu in report.nvml_gpus:
        used = f" ({_memory(gpu.memory_used_mb)} used)" if gpu.memory_used_mb is not None else ""
        lines.append(
            f"  GPU {gpu.index:<4} {gpu.name}, {_memory(gpu.memory_total_mb)}{used}, driver {gpu.driver_version}"
            + (f", CUDA {gpu.cuda_driver_version}" if gpu.cuda_driver_version else "")
            + (f", {gpu.utilization_percent:.0f}% busy" if gpu.utilization_percent is not None else "")
        )
    for i, view in enumerate(getattr(report, "frameworks", ())):
        name = f"{view.name} {view.version}".strip()
        seen = (
            "sees " + ", ".join(view.devices)
            if view.sees_gpu
            else f"no GPU: {view.reason}"
            if view.installed
            else "not installed"
        )
        lines.append(f"{'GPU use' if i == 0 else '':<8} {name:<18} {seen}")
    for note in report.notes:
        lines.append(f"note     {note}")
    sandbox = getattr(report, "sandbox", None)
    if sandbox is not None:
        lines.append(
            f"sandbox  {sandbox.level}: the model engine "
            + (
                "can't write outside its scratch folder, read outside the model, the code and the "
                "system, or reach the network"
                if sandbox.level == "full"
                else "is only partly confined"
                if sandbox.level == "partial"
                else "runs without an OS sandbox"
            )
        )
        if sandbox.filesystem:
            lines.append(f"         files: Landlock ABI {sandbox.landlock_abi}")
        if sandbox.network:
            lines.append("         network: " + ", ".join(sandbox.network))
        for missing in sandbox.missing:
            lines.append(f"         missing: {missing}")
    return os.linesep.join(lines)
