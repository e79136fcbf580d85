"""Explanations in words: what XNNPACK took, why a quantized variant is slower, how threads scale."""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

from core.benchmark.results import ConfigResult, DelegationInfo
from core.benchmark.stats import fmt_ms

SLOWER = 1.05          # a ratio above this counts as slower (5% covers run-to-run noise)
MIN_GAP_MS = 0.005     # ... and by more than 5 µs: below that, calls are all Python overhead and noise
QUANTIZED = ("dynamic", "float16", "int8", "int16x8")


def describe_delegation(variant: str, info: DelegationInfo) -> str:
    if not info.xnnpack:
        return f"{variant}: measured with XNNPACK off: all {info.total_ops} ops run on LiteRT's built-in kernels."
    if info.delegated_ops == 0:
        return (f"{variant}: XNNPACK took none of its {info.total_ops} ops: everything runs on LiteRT's "
                "built-in kernels.")
    text = (f"{variant}: XNNPACK took {info.delegated_ops} of {info.total_ops} ops in "
            f"{info.partitions} partition" + ("s" if info.partitions != 1 else "") + ".")
    if info.kept_ops:
        kept = info.total_ops - info.delegated_ops
        names = ", ".join(f"{name}×{count}" for name, count in info.kept_ops[:6])
        text += f" {kept} op(s) stay on LiteRT's built-in kernels ({names})"
        if info.partitions > 1:
            text += f"; each of the {info.partitions} partition boundaries hands tensors back and forth"
        text += "."
    return text


def _why_slower(variant: str, info: DelegationInfo | None, cpu_int8_dot: bool | None) -> str:
    if variant == "int16x8":
        why = "16x8 quantization (int16 activations) has no XNNPACK kernels and runs on LiteRT's reference kernels"
        if info is not None and info.xnnpack:
            why += f" (XNNPACK took {info.delegated_ops} of {info.total_ops} ops)"
        return why
    if info is not None and info.xnnpack and info.delegated_ops < info.total_ops:
        kept = info.total_ops - info.delegated_ops
        names = ", ".join(name for name, _ in info.kept_ops[:4])
        why = (f"{kept} of its {info.total_ops} ops fell out of the XNNPACK delegate ({names}) and run on slower "
               f"built-in kernels, split into {info.partitions} partitions")
        if variant == "dynamic":
            why += ("; dynamic-range ops also quantize their activations on the fly at every call. "
                    "Full-integer int8 (with a calibration set) or plain fp32 is usually faster on CPU")
        return why
    if variant == "dynamic":
        return "dynamic-range ops quantize their activations on the fly at every call, which costs more than it saves here"
    if variant == "float16":
        return ("float16 weights are turned back into float32 for the CPU kernels; float16 saves size, "
                "it does not make CPU inference faster")
    if variant == "int8":
        if cpu_int8_dot is False:
            return "this CPU has no int8 dot-product instructions (VNNI/AMX), so int8 kernels gain little over float32"
        return "the int8 kernels are not faster than float32 for this model's shapes on this CPU (small layers, conversion overhead)"
    return "its kernels are slower than fp32's for this model on this CPU"


def explain(
    results: Sequence[ConfigResult],
    delegation: dict[str, DelegationInfo],
    *,
    cpu_int8_dot: bool | None = None,
) -> list[str]:
    """Sentences for the user: delegation per variant, slower quantized variants, thread scaling,
    Keras against .tflite, a slow first call, configurations that could not run."""
    lines: list[str] = []
    for variant, info in delegation.items():
        lines.append(describe_delegation(variant, info))

    ok = [r for r in results if r.ok]
    by_key: dict[tuple[str, str, int, int | None], ConfigResult] = {
        (r.runner, r.variant, r.batch_size, r.threads): r for r in ok
    }

    # Quantized variants slower than fp32 at the same batch size and threads.
    fp32 = {(r.runner, r.batch_size, r.threads): r for r in ok if r.variant == "fp32" and r.runner.startswith("litert")}
    slower: dict[str, list[tuple[float, ConfigResult, ConfigResult]]] = defaultdict(list)
    compared: dict[str, int] = defaultdict(int)
    for r in ok:
        if r.variant not in QUANTIZED:
            continue
        base = fp32.get((r.runner, r.batch_size, r.threads))
        if base is None:
            continue
        compared[r.variant] += 1
        ratio = r.stats.p50 / base.stats.p50
        if ratio > SLOWER and r.stats.p50 - base.stats.p50 > MIN_GAP_MS:
            slower[r.variant].append((ratio, r, base))
    for variant, cases in slower.items():
        worst = max(cases, key=lambda c: c[0])
        ratio, r, base = worst
        threads = "" if r.threads is None else f", {r.threads} thread" + ("s" if r.threads != 1 else "")
        where = ("at every batch size and thread count measured" if len(cases) == compared[variant]
                 else f"in {len(cases)} of {compared[variant]} configurations")
        lines.append(
            f"{variant} is slower than fp32 {where}: up to {ratio:.1f}x (p50 {fmt_ms(r.stats.p50)} vs "
            f"{fmt_ms(base.stats.p50)} at batch {r.batch_size}{threads}). Why: "
            + _why_slower(variant, delegation.get(variant), cpu_int8_dot) + "."
        )

    # More threads slower than fewer.
    groups: dict[tuple[str, str, int], list[ConfigResult]] = defaultdict(list)
    for (runner, variant, batch, threads), r in by_key.items():
        if threads is not None:
            groups[(runner, variant, batch)].append(r)
    thread_cases: dict[tuple[str, int, int], list[tuple[int, ConfigResult, ConfigResult]]] = defaultdict(list)
    for (runner, variant, batch), group in groups.items():
        group.sort(key=lambda r: r.threads)
        for fewer, more in zip(group, group[1:]):
            if more.stats.p50 > fewer.stats.p50 * SLOWER:
                thread_cases[(variant, fewer.threads, more.threads)].append((batch, fewer, more))
    for (variant, fewer_t, more_t), cases in thread_cases.items():
        batches = ", ".join(str(b) for b, _, _ in cases)
        _, fewer, more = max(cases, key=lambda c: c[2].stats.p50 / c[1].stats.p50)
        lines.append(
            f"{variant}: {more_t} threads is slower than {fewer_t} at batch {batches} (worst: p50 "
            f"{fmt_ms(more.stats.p50)} vs {fmt_ms(fewer.stats.p50)} at batch {more.batch_size}): the work per call "
            "is too small to pay for splitting it across threads (or the cores are busy)."
        )

    # Keras baseline against the fastest .tflite at the same batch.
    keras = [r for r in ok if r.runner.startswith("keras")]
    lite = [r for r in ok if r.runner.startswith("litert")]
    for batch in sorted({r.batch_size for r in keras}):
        base = min((r for r in keras if r.batch_size == batch), key=lambda r: r.stats.p50)
        rivals = [r for r in lite if r.batch_size == batch]
        if rivals:
            best = min(rivals, key=lambda r: r.stats.p50)
            ratio = base.stats.p50 / best.stats.p50
            verdict = "faster" if ratio >= 1 else "slower"
            factor = ratio if ratio >= 1 else 1 / ratio
            lines.append(f"batch {batch}: the best .tflite ({best.label}, p50 {fmt_ms(best.stats.p50)}) is "
                         f"{factor:.1f}x {verdict} than the best Keras run ({base.label}, {fmt_ms(base.stats.p50)}).")

    # Cold start.
    for r in ok:
        if r.stats.cold_ms > 20 * r.stats.p50 and r.stats.cold_ms > 50:
            lines.append(f"{r.label}: the first call took {r.stats.cold_ms:.0f} ms ({r.stats.cold_ms / r.stats.p50:.0f}x "
                         "a warm call): tracing, allocation or delegate set-up; warm the model up before serving.")
            break
    failed = [r for r in results if r.error]
    for r in failed:
        lines.append(f"{r.label}: not measured: {r.error}")
    return lines
