"""The words `litesmith optimize --auto` prints: one streamed line per candidate while the search runs
(`candidate_line`) and the final table, Pareto front, pick and reasons (`format_auto`).

Used by `core.cli.auto_mode` (and bench/bench_auto.py); every figure comes from the measured
`AutoResult` (milliseconds, bytes, samples per second).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from core.text import escape_line

if TYPE_CHECKING:
    from core.auto.results import AutoCandidate, AutoResult


def _ms(value: float | None) -> str:
    from core.units import fmt_ms

    return fmt_ms(value, missing="-")


def _size(n: int | None) -> str:
    from core.units import human_size

    return "-" if n is None else human_size(n)


def _elsewhere(c: AutoCandidate) -> str:
    """ " (at b32 t2)" when the best throughput was measured at another configuration than the p50's."""
    at = " ".join(c.throughput_config.split()[-2:]) if c.throughput_config else ""
    return f" (at {at})" if at and c.throughput_config != c.latency_config else ""


def _throughput(value: float | None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:,.0f}/s"


def candidate_line(payload: dict) -> str:
    """One streamed candidate, for stderr while the search runs."""
    parts = [f"[{payload.get('done')}/{payload.get('total')}] {payload['name']}: {payload['status']}"]
    if payload.get("latency_ms") is not None:
        parts.append(f"p50 {_ms(payload['latency_ms'])}")
    if payload.get("size_bytes") is not None:
        parts.append(_size(payload["size_bytes"]))
    if payload.get("quality_label"):
        parts.append(payload["quality_label"])
    if payload.get("from_cache"):
        parts.append("(from the cache)")
    if payload.get("reason"):
        parts.append("- " + payload["reason"])
    return ", ".join(parts[:1]) + (" " + ", ".join(parts[1:]) if len(parts) > 1 else "")


def _meets(c: AutoCandidate) -> str:
    if c.meets_budget is None:
        return "-"
    return "yes" if c.meets_budget else "no"


def _cached(c: AutoCandidate) -> str:
    if c.status == "measured":
        if c.from_cache and c.bench_from_cache:
            return "yes"
        if c.from_cache or c.bench_from_cache:
            return "partly"
        return "no"
    return "yes" if c.from_cache else ("-" if c.status in ("skipped", "pending") else "no")


def format_auto(result: AutoResult, exports: list[dict] | None = None) -> str:
    """The auto-mode table for a terminal: one row per candidate, the Pareto front, the pick and its reasons.

    `exports`: the files written (dicts with `tflite` and `report` paths). Figures are the
    measured ones in `result` (milliseconds, bytes, samples per second); names from the
    model file are escaped.
    """
    lines = []
    if result.data.synthetic_data:
        lines.append("!" * 78)
        lines.append("!! NO DATA: calibrated and evaluated on RANDOM inputs; figures may mislead (use --data)")
        lines.append("!" * 78)
    lines.append(
        f"{result.source.path}  ({result.source.format}, {_size(result.source.size_bytes)}); "
        f"budget: {result.budget.effective().describe()}"
    )
    for warning in result.warnings:
        if not (result.data.synthetic_data and warning.startswith("NO DATA")):  # the banner says it
            lines.append(f"warning: {warning}")
    if result.cancelled:
        lines.append("CANCELLED: the figures below cover the candidates measured before the cancel")
    rows = [("candidate", "p50", "at", "throughput", "size", "accuracy / agreement", "meets", "cached", "note")]
    for c in result.candidates:
        rows.append(
            (
                c.name + (" *" if c.name == result.recommended else ""),
                _ms(c.latency_ms),
                f"b{c.batch_size} t{c.threads}" if c.latency_ms is not None else "-",
                _throughput(c.throughput) + _elsewhere(c),
                _size(c.size_bytes),
                c.quality_label or "-",
                _meets(c),
                _cached(c),
                c.reason if c.status != "measured" or c.reason else "",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        lines.append(("  ".join(col.ljust(w) for col, w in zip(r[:-1], widths)) + "  " + r[-1]).rstrip())
    lines.append(
        "Pareto front (latency, size, "
        + ("accuracy" if result.budget.needs_labels else "agreement")
        + "): "
        + (", ".join(result.pareto) if result.pareto else "empty")
    )
    rec = getattr(result, "recommendation", None)
    if rec is not None and rec.label is not None:
        lines.append(rec.headline())  # the same Recommendation object (and text) the GUI header shows
        if rec.why_not_fastest:
            lines.append("  not the fastest p50: " + rec.why_not_fastest)
    elif result.recommended:
        lines.append(f"recommended: {result.recommended}")
    for reason in result.reasons:
        lines.append(f"  - {reason}")
    cached = sum(1 for c in result.candidates if c.from_cache)
    if cached:
        lines.append(
            f"{cached} of {len(result.candidates)} candidates came from the cache "
            f"(`litesmith cache clear` empties it); this run took {result.seconds:.1f} s"
        )
    else:
        lines.append(f"this run took {result.seconds:.1f} s")
    for e in exports or []:
        if "tflite" in e:
            lines.append(f"wrote {e['tflite']}  (report {e['report']})")
    if result.cancelled:
        lines.append("nothing exported: the search was cancelled")
    elif result.recommended is None:
        lines.append("nothing exported: no candidate meets the budget (loosen it, or give more calibration data)")
    return "\n".join(escape_line(line) for line in lines)  # names come from the model file
