"""How numbers, shapes and sizes read in the app (same conventions as `litesmith inspect`)."""

from __future__ import annotations

from core.cli.inspect import human_count, human_size

__all__ = ["human_count", "human_size", "shape_text", "quantization_text", "thousands", "short_hash"]


def shape_text(shape) -> str:
    """(None, 28, 28) -> "(?, 28, 28)": a `?` marks a dynamic dimension."""
    dims = ["?" if d is None else str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def quantization_text(quantization) -> str:
    if not quantization:
        return "—"
    scale, zero_point = quantization
    return f"scale {scale:.4g}, zero point {zero_point}"


def thousands(n: int | None) -> str:
    return "—" if n is None else f"{n:,}"


def short_hash(sha256: str, length: int = 12) -> str:
    return sha256[:length] + "…" if len(sha256) > length else sha256
