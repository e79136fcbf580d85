"""CPU versus GPU by batch size: per-device timing curves and the batch size from which a
device wins over the CPU (pure functions on recorded timings; no framework imported).

A *curve* is one device's timings over the batch sizes of a sweep (`DeviceCurve`): the CPU
`.tflite` at its best thread count, LiteRT's GPU accelerator, Keras on the GPU (TensorFlow
or JAX). Every timing is milliseconds per call, one call = one batch (`BatchTiming`). A GPU
call counts the transfers: inputs to the device and outputs back. ``write_ms`` (shown as
"copy ms") is the host-to-device copy alone (LiteRT: writing the input buffers, inside the
call; JAX: ``jax.device_put`` + ``block_until_ready``, TensorFlow: ``tf.identity`` on the
GPU, both measured apart: their call copies again). The CPU figure is the p50 of
`litesmith bench`'s own loop for that configuration (`core.benchmark.runners` says what
one CPU call includes; there is no device to copy to).

The crossover (`crossover_batch`): among the batch sizes both the CPU and the device
measured, the smallest batch size b at which the device's call is faster than the CPU's
and stays faster at every larger measured batch size ("from b on, the GPU wins"). None
when the device is not faster at the largest batch measured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from core.units import fmt_ms

NAN = float("nan")

DEVICE_KINDS = ("cpu", "gpu")
# Curve names, in the order they are shown.
CPU_TFLITE = "cpu-tflite"
LITERT_GPU = "litert-gpu"
KERAS_TF_GPU = "keras-tf-gpu"
KERAS_JAX_GPU = "keras-jax-gpu"
CURVE_TITLES = {
    CPU_TFLITE: "CPU .tflite (LiteRT, best threads)",
    LITERT_GPU: "LiteRT GPU accelerator",
    KERAS_TF_GPU: "Keras on the GPU (TensorFlow)",
    KERAS_JAX_GPU: "Keras on the GPU (JAX)",
}


@dataclass(frozen=True)
class BatchTiming:
    """One batch size on one device: medians in milliseconds per call (one call = one batch)."""

    batch_size: int
    runs: int = 0
    write_ms: float = NAN  # host-to-device copy of the inputs (see the module docstring)
    run_ms: float = NAN  # the model alone, where it can be timed apart (LiteRT)
    read_ms: float = NAN  # outputs back to numpy, where timed apart (LiteRT)
    call_ms: float = NAN  # one whole call, transfers included: what the crossover compares
    cold_ms: float = NAN  # the first call (includes compiling or tracing)
    threads: int | None = None  # CPU: the thread count that gave this (the best one)
    error: str = ""  # why this batch size was not measured

    @property
    def ok(self) -> bool:
        """True when measured: no error and a positive, non-NaN `call_ms`."""
        return not self.error and self.call_ms == self.call_ms and self.call_ms > 0

    @property
    def per_sample_ms(self) -> float:
        """Milliseconds per sample (call_ms / batch_size); NaN when not measured."""
        return self.call_ms / self.batch_size if self.ok else NAN

    @property
    def throughput(self) -> float:
        """Samples per second (batch_size * 1000 / call_ms); NaN when not measured."""
        return self.batch_size * 1000.0 / self.call_ms if self.ok else NAN


@dataclass(frozen=True)
class DeviceCurve:
    """One device's timings over the sweep, or why it did not run (``available`` False)."""

    name: str  # CPU_TFLITE, LITERT_GPU, KERAS_TF_GPU, KERAS_JAX_GPU
    kind: str  # "cpu" or "gpu"
    available: bool
    reason: str = ""  # one line when not available ("No GPU" states)
    device: str = ""  # e.g. "NVIDIA H200", "cuda:0", "x86_64, 16 threads"
    fully_accelerated: bool | None = None  # LiteRT: CompiledModel.is_fully_accelerated()
    notes: tuple[str, ...] = ()
    timings: tuple[BatchTiming, ...] = field(default=())

    @property
    def title(self) -> str:
        """The curve's name for people (`CURVE_TITLES`), else its name."""
        return CURVE_TITLES.get(self.name, self.name)

    def call_ms(self) -> dict[int, float]:
        """{batch size: ms per call} of the measured batch sizes."""
        return {t.batch_size: t.call_ms for t in self.timings if t.ok}


@dataclass(frozen=True)
class CrossoverPoint:
    """One GPU curve against the CPU curve: where it starts to win (`crossover_batch`), and why in words."""

    device: str  # the curve's name
    batch_size: int | None  # from this batch size on the device beats the CPU; None: it never does here
    speedup_at_largest: float  # CPU ms / device ms at the largest batch both measured (NaN if none)
    reason: str  # one line for people


@dataclass(frozen=True)
class CrossoverResult:
    """A CPU-versus-GPU sweep: every curve, one `CrossoverPoint` per GPU curve, and notes ("No GPU" states)."""

    model: str
    batch_sizes: tuple[int, ...]
    curves: tuple[DeviceCurve, ...]
    crossovers: tuple[CrossoverPoint, ...]
    notes: tuple[str, ...] = ()

    @property
    def gpu_available(self) -> bool:
        """True when at least one GPU runner could run here."""
        return any(c.kind == "gpu" and c.available for c in self.curves)


def best_over_threads(by_threads: Mapping[int, Sequence[BatchTiming]]) -> tuple[BatchTiming, ...]:
    """Per batch size, the timing of the thread count with the fastest call ({threads: timings})."""
    best: dict[int, BatchTiming] = {}
    failed: dict[int, BatchTiming] = {}
    for threads, timings in sorted(by_threads.items()):
        for timing in timings:
            b = timing.batch_size
            if not timing.ok:
                failed.setdefault(b, timing)
                continue
            if b not in best or timing.call_ms < best[b].call_ms:
                best[b] = BatchTiming(**{**timing.__dict__, "threads": threads})
    batches = sorted(set(best) | set(failed))
    return tuple(best[b] if b in best else failed[b] for b in batches)


def crossover_batch(cpu_ms: Mapping[int, float], device_ms: Mapping[int, float]) -> int | None:
    """The smallest batch size from which `device_ms` < `cpu_ms` at it and at every larger common one.

    Both map batch size -> milliseconds per call (transfers included). Only batch
    sizes both measured count. None when the device is not faster at the largest one.
    """
    common = sorted(b for b in set(cpu_ms) & set(device_ms) if _finite(cpu_ms[b]) and _finite(device_ms[b]))
    answer = None
    for b in reversed(common):
        if device_ms[b] < cpu_ms[b]:
            answer = b
        else:
            break
    return answer


def _finite(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def crossover_points(curves: Sequence[DeviceCurve]) -> tuple[CrossoverPoint, ...]:
    """One `CrossoverPoint` per GPU curve against the CPU curve (with a reason when there is none)."""
    cpu = next((c for c in curves if c.name == CPU_TFLITE and c.available), None)
    points = []
    for curve in curves:
        if curve.kind != "gpu":
            continue
        if not curve.available:
            points.append(
                CrossoverPoint(
                    curve.name,
                    None,
                    NAN,
                    "not measured: this GPU runner is not available here (the reason is in its row)",
                )
            )
            continue
        if cpu is None:
            points.append(CrossoverPoint(curve.name, None, NAN, "no CPU .tflite curve to compare with"))
            continue
        cpu_ms, dev_ms = cpu.call_ms(), curve.call_ms()
        common = sorted(set(cpu_ms) & set(dev_ms))
        if not common:
            points.append(CrossoverPoint(curve.name, None, NAN, "no batch size measured on both"))
            continue
        largest = common[-1]
        speedup = cpu_ms[largest] / dev_ms[largest]
        b = crossover_batch(cpu_ms, dev_ms)
        if b is None:
            reason = (
                f"the CPU is faster at every batch size measured up to {largest} "
                f"(GPU {speedup:.2f}x at batch {largest}, transfers counted)"
            )
        elif b == common[0]:
            reason = f"faster than the CPU at every batch size measured (from {b}; {speedup:.2f}x at {largest})"
        else:
            reason = f"faster than the CPU from batch {b} on ({speedup:.2f}x at batch {largest}, transfers counted)"
        points.append(CrossoverPoint(curve.name, b, speedup, reason))
    return tuple(points)


def build_result(
    model: str, batch_sizes: Sequence[int], curves: Sequence[DeviceCurve], notes: Sequence[str] = ()
) -> CrossoverResult:
    """The `CrossoverResult` of measured curves: crossovers computed, and a "No GPU" note when no GPU ran."""
    curves = tuple(curves)
    extra = list(notes)
    if not any(c.kind == "gpu" and c.available for c in curves):
        asked = any(c.kind == "gpu" for c in curves)
        extra.append(
            "No GPU: no GPU runner could run here; each says why in its row"
            if asked
            else "No GPU asked for (--devices cpu): only the CPU was measured"
        )
    return CrossoverResult(
        model=model,
        batch_sizes=tuple(int(b) for b in batch_sizes),
        curves=curves,
        crossovers=crossover_points(curves),
        notes=tuple(extra),
    )


def _ms(value: float) -> str:
    return fmt_ms(value, digits=3, micro=False, unit=False)


def format_crossover(result: CrossoverResult) -> str:
    """The per-batch table (one row per device and batch size) and the crossover lines."""
    lines = [f"CPU versus GPU: {result.model}"]
    header = (
        f"  {'device':<36} {'batch':>6} {'call ms':>9} {'ms/sample':>10} {'samples/s':>11} "
        f"{'copy ms':>9} {'threads':>7}"
    )
    lines += [header, "  " + "-" * (len(header) - 2)]
    for curve in result.curves:
        title = curve.title
        if not curve.available:
            lines.append(f"  {title:<36} not available: {curve.reason}")
            continue
        if curve.device:
            lines.append(f"  {title:<36} on {curve.device}")
        for t in curve.timings:
            if not t.ok:
                lines.append(f"  {title:<36} {t.batch_size:>6} not measured: {t.error}")
                continue
            lines.append(
                f"  {title:<36} {t.batch_size:>6} {_ms(t.call_ms):>9} {_ms(t.per_sample_ms):>10} "
                f"{t.throughput:>11,.0f} {_ms(t.write_ms):>9} {t.threads if t.threads else '':>7}"
            )
        if curve.fully_accelerated is not None and curve.kind == "gpu":
            lines.append(
                f"  {'':<36} "
                + (
                    "whole model on the GPU"
                    if curve.fully_accelerated
                    else "NOT fully accelerated: some ops ran on the CPU"
                )
            )
        lines += [f"  {'':<36} note: {n}" for n in curve.notes]
    lines.append("")
    if not result.crossovers:
        lines.append("crossover: no GPU device asked for")
    for point in result.crossovers:
        head = f"batch {point.batch_size}" if point.batch_size is not None else "none"
        lines.append(f"crossover {CURVE_TITLES.get(point.device, point.device)}: {head} — {point.reason}")
    lines += [f"note: {n}" for n in result.notes]
    return "\n".join(lines)
