"""How figures read for people: latencies, sizes, counts, shapes. The one formatting module of the CLI and the GUI.

Every text a user sees for a latency or a size comes from here, so the table, the report,
the CLI and the charts agree. Figures are formatted, never rounded before they are stored.
"""

from __future__ import annotations

import math
from typing import Any, Iterable


def fmt_ms(
    value: float | None,
    *,
    digits: int = 2,
    large_digits: int = 1,
    micro: bool = True,
    unit: bool = True,
    missing: str = "—",
) -> str:
    """A latency given in milliseconds, for people.

    Below 0.1 ms it reads in microseconds ("12.3 µs") when `micro`; below 10 ms with `digits`
    decimals, from 10 ms with `large_digits`. `unit=False` leaves the " ms" off (a column headed
    "ms"). None, NaN and infinities read as `missing`.

    The CLI's tables and messages use the defaults ("0.42 ms"); the app's tables `digits=3`; the
    crossover table `digits=3, micro=False, unit=False`; the serving report two decimals throughout.
    """
    if value is None or not math.isfinite(value):
        return missing
    suffix = " ms" if unit else ""
    if micro and value < 0.1:
        return f"{value * 1000:.1f} µs"
    if value < 10:
        return f"{value:.{digits}f}{suffix}"
    return f"{value:.{large_digits}f}{suffix}"


def fmt_ms_tick(value: float) -> str:
    """A round latency in milliseconds as an axis tick reads it: 3 significant digits in µs, ms or s.

    1e-3 -> "1 µs", 0.5 -> "500 µs", 20 -> "20 ms", 2000 -> "2 s" (the charts' log axes).
    """
    if value < 1:
        return f"{value * 1000:.3g} µs"
    if value < 1000:
        return f"{value:.3g} ms"
    return f"{value / 1000:.3g} s"


def mib_text(value: float | None, *, missing: str = "—") -> str:
    """A memory figure given in MiB (peak RSS): 1234.4 -> "1,234 MiB"; None or NaN -> `missing`."""
    if value is None or not math.isfinite(value):
        return missing
    return f"{value:,.0f} MiB"


def gib_text(mib: float, *, digits: int = 1, unit: bool = True) -> str:
    """A memory figure given in MiB (GPU memory, as NVML reports it) in GiB: 16384 -> "16.0 GiB"."""
    return f"{mib / 1024:.{digits}f}" + (" GiB" if unit else "")


def human_size(n: int) -> str:
    """A size in bytes: 1536 -> "1.5 KiB" (binary units; whole bytes below 1 KiB, GiB at most)."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def human_count(n: int | None) -> str:
    """38426 -> "38.43k"; None -> "unknown"."""
    if n is None:
        return "unknown"
    for threshold, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= threshold:
            return f"{n / threshold:.2f}{suffix}"
    return str(n)


def thousands(n: int | None) -> str:
    """12345 -> "12,345"; None -> "—"."""
    return "—" if n is None else f"{n:,}"


def shape_text(shape: Iterable[int | None]) -> str:
    """(None, 28, 28) -> "(?, 28, 28)": a `?` marks a dynamic dimension."""
    dims = ["?" if d is None else str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def quantization_text(quantization: Any) -> str:
    """A tensor's (scale, zero point) as "scale 0.0039, zero point -128"; "—" for a float tensor."""
    if not quantization:
        return "—"
    scale, zero_point = quantization
    return f"scale {scale:.4g}, zero point {zero_point}"


def short_hash(sha256: str, length: int = 12) -> str:
    """The first `length` hex digits of a digest, with "…" when cut."""
    return sha256[:length] + "…" if len(sha256) > length else sha256


__all__ = [
    "fmt_ms",
    "fmt_ms_tick",
    "gib_text",
    "human_count",
    "human_size",
    "mib_text",
    "quantization_text",
    "shape_text",
    "short_hash",
    "thousands",
]
