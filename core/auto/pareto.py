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
from typing import Callable, Sequence, TypeVar

from core.auto.results import AutoCandidate
from core.benchmark.results import Recommendation
from core.benchmark.stats import LatencyStats, fmt_ms
from core.units import human_size

T = TypeVar("T")

TIE_TOLERANCE = 0.02


def _quality(c: AutoCandidate) -> float:
    q = c.quality
    return -math.inf if q is None or not math.isfinite(q) else q


def _latency(c: AutoCandidate) -> float:
    """p50 in ms; +inf when not measured (callers pass measured candidates, whose latency is set)."""
    return math.inf if c.latency_ms is None else c.latency_ms


def _size_text(c: AutoCandidate) -> str:
    return "size unknown" if c.size_bytes is None else human_size(c.size_bytes)


def _objectives(c: AutoCandidate) -> tuple[float, float, float]:
    """What a candidate is judged on, each to be minimised: p50 ms, bytes, minus quality (NaN: the worst)."""
    return (_latency(c), float(c.size_bytes if c.size_bytes is not None else math.inf), -_quality(c))


def dominates_on(a: Sequence[float], b: Sequence[float]) -> bool:
    """True when objectives `a` are no worse than `b` everywhere and strictly better somewhere (all minimised)."""
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def non_dominated(items: Sequence[T], objectives: Callable[[T], Sequence[float]]) -> list[T]:
    """The items no other item dominates (Litesmith's one Pareto rule), in their given order.

    `objectives(item)` gives the figures to minimise (negate one where higher is better). Items with
    equal figures do not dominate each other, so both stay.
    """
    figures = [tuple(objectives(item)) for item in items]
    return [
        item
        for i, item in enumerate(items)
        if not any(dominates_on(other, figures[i]) for j, other in enumerate(figures) if j != i)
    ]


def dominates(a: AutoCandidate, b: AutoCandidate) -> bool:
    """True when `a` is no slower (p50), no larger (bytes) and no worse in quality than `b`, and better in one."""
    return dominates_on(_objectives(a), _objectives(b))


def pareto_front(candidates: Sequence[AutoCandidate]) -> list[AutoCandidate]:
    """The measured candidates no other measured candidate dominates, fastest first."""
    measured = [c for c in candidates if c.measured and c.size_bytes is not None]
    return sorted(non_dominated(measured, _objectives), key=lambda c: (c.latency_ms, c.size_bytes))


def choose(candidates: Sequence[AutoCandidate]) -> tuple[AutoCandidate | None, list[str]]:
    """The recommended candidate and the reasons it won, in words (the module docstring gives the rule).

    Returns (None, [why]) when no measured candidate meets the budget.
    """
    measured = [c for c in candidates if c.measured and c.meets_budget]
    if not measured:
        misses = [c for c in candidates if c.meets_budget is False]
        reason = "no candidate meets the budget"
        if misses:
            reason += "; closest: " + "; ".join(f"{c.name}: {c.reason}" for c in misses[:3])
        return None, [reason]
    order = {id(c): i for i, c in enumerate(candidates)}
    fastest = min(measured, key=_latency)
    tied = [c for c in measured if _latency(c) <= _latency(fastest) * (1 + TIE_TOLERANCE)]
    choice = min(tied, key=lambda c: (c.size_bytes, -_quality(c), order[id(c)]))
    reasons = [
        f"{choice.name} is the fastest of the {len(measured)} candidate(s) within the budget: p50 "
        f"{fmt_ms(choice.latency_ms)} per call at batch {choice.batch_size} with {choice.threads} thread(s) "
        f"({choice.quality_label}, {_size_text(choice)})"
    ]
    if len(tied) > 1:
        others = [c.name for c in tied if c is not choice]
        reasons.append(
            f"{', '.join(others)} measured within {TIE_TOLERANCE:.0%} of it (a tie at this precision); "
            f"{choice.name} won the tie by being smaller or more faithful"
        )
    slower = sorted((c for c in measured if c not in tied), key=_latency)
    if slower:
        reasons.append(
            "speed-up over the others within the budget: "
            + ", ".join(f"{c.name} {_latency(c) / _latency(choice):.2f}x" for c in slower)
        )
    baseline = next((c for c in candidates if c.name == "fp32" and c.size_bytes), None)
    if baseline is not None and baseline is not choice and baseline.size_bytes and choice.size_bytes:
        reasons.append(f"{baseline.size_bytes / choice.size_bytes:.2f}x smaller than the fp32 .tflite")
    faster_misses = [c for c in candidates if c.meets_budget is False]
    if faster_misses:
        reasons.append("left out for missing the budget: " + "; ".join(f"{c.name} ({c.reason})" for c in faster_misses))
    return choice, reasons


CRITERION = (
    f"fastest p50 among the candidates within the budget (latencies within {TIE_TOLERANCE:.0%} tie: "
    "the smaller file wins, then the higher quality)"
)


def _at_latency_config(c: AutoCandidate) -> LatencyStats | None:
    """The stats of the candidate's latency configuration (the one recommended), from its bench; None when
    not measured. Its throughput, not the candidate's best over the sweep (another batch or thread count)."""
    bench = c.bench
    for r in bench.configs if bench is not None else ():
        if r.label == c.latency_config and r.ok:
            return r.stats
    return None


def auto_recommendation(
    candidates: Sequence[AutoCandidate], choice: AutoCandidate | None, reasons: Sequence[str]
) -> Recommendation:
    """The one `Recommendation` of an auto search (the object every view reads), from `choose`'s choice.

    Its configuration is the choice's latency configuration (batch, threads); "fastest" is the measured
    candidate with the lowest p50. When that is not the choice (a tie within TIE_TOLERANCE),
    `why_not_fastest` names what won the tie: "size" or "quality" (or "order": the earlier candidate).
    """
    reason = reasons[0] if reasons else ""
    if choice is None:
        return Recommendation(None, None, None, None, None, None, False, reason, criterion=CRITERION)
    measured = [c for c in candidates if c.measured and c.meets_budget]
    fastest = min(measured, key=_latency) if measured else choice
    why, kind = "", ""
    if fastest is not choice:
        head = (
            f"{fastest.name} has the lowest p50 ({fmt_ms(fastest.latency_ms)}), within {TIE_TOLERANCE:.0%} of "
            f"{choice.name}'s ({fmt_ms(choice.latency_ms)}): a tie at this precision, which {choice.name} wins"
        )
        if (choice.size_bytes or 0) < (fastest.size_bytes or 0):
            why, kind = (f"{head} by being smaller ({_size_text(choice)} vs {_size_text(fastest)})", "size")
        elif _quality(choice) > _quality(fastest):
            why, kind = (f"{head} by its higher quality ({choice.quality_label} vs {fastest.quality_label})", "quality")
        else:
            why, kind = f"{head} by coming first (equal size and quality)", "order"
    stats = _at_latency_config(choice)
    return Recommendation(
        choice.latency_config or choice.name,
        choice.batch_size,
        choice.threads,
        stats.throughput if stats is not None else None,
        stats.p99 if stats is not None else None,
        None,
        True,
        reason,
        variant=choice.name,
        criterion=CRITERION,
        p50_ms=choice.latency_ms,
        fastest_label=fastest.latency_config or fastest.name,
        fastest_variant=fastest.name,
        fastest_p50_ms=fastest.latency_ms,
        why_not_fastest=why,
        why_not_fastest_kind=kind,
    )


__all__ = [
    "TIE_TOLERANCE",
    "auto_recommendation",
    "choose",
    "dominates",
    "dominates_on",
    "non_dominated",
    "pareto_front",
]
