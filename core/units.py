"""Human-readable sizes and counts, shared by the CLI and the GUI."""

from __future__ import annotations


def human_size(n: int) -> str:
    """1536 -> "1.5 KiB"."""
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
