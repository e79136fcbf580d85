"""The Pareto front of measured candidates and the recommendation (pure functions, pinned by tests).

Rules:

* Only candidates that were measured (within the budget and benchmarked) take part.
* A dominates B when A is no slower (p50 latency), no larger (bytes) and no
  worse (quality, higher is better) than B, and strictly better in at least one.
  NaN quality counts as the worst. The front keeps the candidates nobody dominates.
* The recommendation is the fastest candidate within the budget. Latencies
  within `TIE_TOLERANCE` (2%) of the fastest count as a tie -- below what a
  short measurement on a shared machine can tell apart -- and a tie goes to the
  smaller file, then the higher quality, then the earlier (cheaper) candidate.
"""

from __future__ import annotations

import math
from typing import Sequence

from core.auto.results import AutoCandidate
from core.benchmark.stats import fmt_ms

TIE_TOLERANCE = 0.02


def _quality(c: AutoCandidate) -> float:
    q = c.quality
    return -math.inf if q is None or not math.isfinite(q) else q


def dominates(a: AutoCandidate, b: AutoCandidate) -> bool:
    no_worse = (a.latency_ms <= b.latency_ms and a.size_bytes <= b.size_bytes and _quality(a) >= _quality(b))
    better = (a.latency_ms < b.latency_ms or a.size_bytes < b.size_bytes or _quality(a) > _quality(b))
    return no_worse and better


def pareto_front(candidates: Sequence[AutoCandidate]) -> list[AutoCandidate]:
    """The measured candidates no other measured candidate dominates, fastest first."""
    measured = [c for c in candidates if c.measured and c.size_bytes is not None]
    front = [c for c in measured if not any(dominates(o, c) for o in measured if o is not c)]
    return sorted(front, key=lambda c: (c.latency_ms, c.size_bytes))


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def choose(candidates: Sequence[AutoCandidate]) -> tuple[AutoCandidate | None, list[str]]:
    """The recommended candidate and the reasons it won, in words."""
    measured = [c for c in candidates if c.measured and c.meets_budget]
    if not measured:
        misses = [c for c in candidates if c.meets_budget is False]
        reason = "no candidate meets the budget"
        if misses:
            reason += "; closest: " + "; ".join(f"{c.name}: {c.reason}" for c in misses[:3])
        return None, [reason]
    order = {id(c): i for i, c in enumerate(candidates)}
    fastest = min(measured, key=lambda c: c.latency_ms)
    tied = [c for c in measured if c.latency_ms <= fastest.latency_ms * (1 + TIE_TOLERANCE)]
    choice = min(tied, key=lambda c: (c.size_bytes, -_quality(c), order[id(c)]))
    reasons = [
        f"{choice.name} is the fastest of the {len(measured)} candidate(s) within the budget: p50 "
        f"{fmt_ms(choice.latency_ms)} per call at batch {choice.batch_size} with {choice.threads} thread(s) "
        f"({choice.quality_label}, {_human(choice.size_bytes)})"]
    if len(tied) > 1:
        others = [c.name for c in tied if c is not choice]
        reasons.append(f"{', '.join(others)} measured within {TIE_TOLERANCE:.0%} of it (a tie at this precision); "
                       f"{choice.name} won the tie by being smaller or more faithful")
    slower = sorted((c for c in measured if c not in tied), key=lambda c: c.latency_ms)
    if slower:
        reasons.append("speed-up over the others within the budget: " + ", ".join(
            f"{c.name} {c.latency_ms / choice.latency_ms:.2f}x" for c in slower))
    baseline = next((c for c in candidates if c.name == "fp32" and c.size_bytes), None)
    if baseline is not None and baseline is not choice:
        reasons.append(f"{baseline.size_bytes / choice.size_bytes:.2f}x smaller than the fp32 .tflite")
    faster_misses = [c for c in candidates if c.meets_budget is False]
    if faster_misses:
        reasons.append("left out for missing the budget: " + "; ".join(f"{c.name} ({c.reason})"
                                                                         for c in faster_misses))
    return choice, reasons


__all__ = ["TIE_TOLERANCE", "choose", "dominates", "pareto_front"]
