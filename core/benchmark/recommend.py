"""The one recommendation of a benchmark: the highest throughput whose p99 fits the budget.

Rules (pinned by tests):

* Candidates are the configurations measured without error, with at least one sample.
* Among those whose p99 is within the budget (p99 <= budget_ms), the highest
  throughput wins. Ties (within 1%) go to fewer threads, then the smaller batch,
  then the lower p99: the same speed for less machine.
* When none fits, the configuration with the lowest p99 is named, with
  ``within_budget=False`` and a reason that says by how much it misses.
* Keras configurations take part like any other (their thread count is
  TensorFlow's own, shown as "TF threads"); their variant is "original".
* "Fastest" is the lowest p50 among the configurations at the compared batch size
  and thread count (the first of each the benchmark asked for: the figures the
  comparison table shows). When it is not the recommended configuration,
  `why_not_fastest` says in one line which criterion decided: the p99 budget, the
  throughput at the recommended batch size, or the same throughput with less machine.

Every view reads the `Recommendation` this returns; none recomputes it.
"""

from __future__ import annotations

from typing import Sequence

from core.benchmark.results import BenchmarkResult, ConfigResult, Recommendation
from core.benchmark.stats import fmt_ms

TIE_TOLERANCE = 0.01
ORIGINAL = "original"
CRITERION = "highest throughput with p99 within the budget"
CRITERION_NONE_FITS = "lowest p99 (no configuration fits the budget)"


def _threads_text(threads: int | None) -> str:
    if threads is None:
        return "TensorFlow's own threads"
    return f"{threads} thread" + ("s" if threads != 1 else "")


def variant_of(result: ConfigResult) -> str:
    """The variant a configuration measured: "original" for the Keras/SavedModel baseline."""
    if result.runner.startswith(("keras", "savedmodel")):
        return ORIGINAL
    return result.variant


def fastest_config(
    measured: Sequence[ConfigResult], batch: int | None = None, threads: int | None = None
) -> ConfigResult | None:
    """The lowest p50 among `measured` at `batch` (default: the smallest measured) and `threads` (default:
    the fewest measured; Keras runs, with TensorFlow's own threads, always take part)."""
    if not measured:
        return None
    if batch is None:
        batch = min(r.batch_size for r in measured)
    if threads is None:
        counts = [r.threads for r in measured if r.threads is not None]
        threads = min(counts) if counts else None
    pool = [r for r in measured if r.batch_size == batch and r.threads in (threads, None)]
    return min(pool, key=lambda r: r.stats.p50) if pool else None


def why_not_fastest(
    choice: ConfigResult, fastest: ConfigResult | None, budget_ms: float, within_budget: bool
) -> tuple[str, str]:
    """(one line, its kind) saying why `fastest` (lowest p50) is not the recommended `choice`; ("", "") when
    they are the same configuration."""
    if fastest is None or fastest.label == choice.label:
        return "", ""
    head = f"{fastest.label} has the lowest p50 ({fmt_ms(fastest.stats.p50)})"
    if not within_budget:
        return (
            f"{head}, but no configuration keeps p99 within {budget_ms:g} ms and {choice.label} has the "
            f"lowest p99 ({fmt_ms(choice.stats.p99)} vs {fmt_ms(fastest.stats.p99)})",
            "p99_budget",
        )
    if fastest.stats.p99 > budget_ms:
        return (f"{head}, but its p99 ({fmt_ms(fastest.stats.p99)}) exceeds the {budget_ms:g} ms budget", "p99_budget")
    if choice.stats.throughput > fastest.stats.throughput * (1 + TIE_TOLERANCE):
        return (
            f"{head}, but {choice.label} gives {choice.stats.throughput / fastest.stats.throughput:.1f}x its "
            f"throughput at batch {choice.batch_size} ({choice.stats.throughput:,.0f} vs "
            f"{fastest.stats.throughput:,.0f} samples/s) with p99 {fmt_ms(choice.stats.p99)} within the "
            f"{budget_ms:g} ms budget",
            "throughput",
        )
    return (
        f"{head}; {choice.label} gives the same throughput within {TIE_TOLERANCE:.0%} "
        f"({choice.stats.throughput:,.0f} vs {fastest.stats.throughput:,.0f} samples/s) with fewer threads or "
        "a smaller batch",
        "configuration",
    )


def recommend(
    results: Sequence[ConfigResult], budget_ms: float, *, batch: int | None = None, threads: int | None = None
) -> Recommendation:
    """The recommendation over `results` (see the module's rules); `batch`/`threads` choose where "fastest
    p50" is compared (default: the smallest batch and fewest threads measured)."""
    measured = [r for r in results if r.ok]
    if not measured:
        return Recommendation(
            None,
            None,
            None,
            None,
            None,
            budget_ms,
            False,
            "nothing could be measured, so there is nothing to recommend",
        )
    fastest = fastest_config(measured, batch, threads)
    fitting = [r for r in measured if r.stats.p99 <= budget_ms]
    if fitting:
        best_throughput = max(r.stats.throughput for r in fitting)
        close = [r for r in fitting if r.stats.throughput >= best_throughput * (1 - TIE_TOLERANCE)]
        choice = min(close, key=lambda r: (r.threads or 0, r.batch_size, r.stats.p99))
        others = len(fitting) - 1
        reason = (
            f"{choice.label}: batch {choice.batch_size} with {_threads_text(choice.threads)} gives the highest "
            f"throughput ({choice.stats.throughput:,.0f} samples/s) with p99 {fmt_ms(choice.stats.p99)}, "
            f"within the {budget_ms:g} ms budget"
        )
        if len(close) > 1:
            reason += f" (as fast as {len(close) - 1} other option(s), with fewer threads or a smaller batch)"
        elif others:
            reason += f"; {others} other configuration(s) also fit but are slower"
        slower_excluded = [
            r for r in measured if r.stats.p99 > budget_ms and r.stats.throughput > choice.stats.throughput
        ]
        if slower_excluded:
            top = max(slower_excluded, key=lambda r: r.stats.throughput)
            reason += (
                f". {top.label} would give {top.stats.throughput:,.0f} samples/s but its p99 "
                f"({fmt_ms(top.stats.p99)}) exceeds the budget"
            )
        within, criterion = True, CRITERION
    else:
        choice = min(measured, key=lambda r: (r.stats.p99, r.threads or 0, r.batch_size))
        reason = (
            f"no configuration keeps p99 within {budget_ms:g} ms; the lowest p99 is {choice.label} "
            f"({fmt_ms(choice.stats.p99)}, {choice.stats.p99 / budget_ms:.1f}x the budget). "
            "Raise the budget, use a smaller batch or a faster variant"
        )
        within, criterion = False, CRITERION_NONE_FITS
    why, kind = why_not_fastest(choice, fastest, budget_ms, within)
    return Recommendation(
        choice.label,
        choice.batch_size,
        choice.threads,
        choice.stats.throughput,
        choice.stats.p99,
        budget_ms,
        within,
        reason,
        variant=variant_of(choice),
        criterion=criterion,
        p50_ms=choice.stats.p50,
        fastest_label=fastest.label if fastest is not None else None,
        fastest_variant=variant_of(fastest) if fastest is not None else None,
        fastest_p50_ms=fastest.stats.p50 if fastest is not None else None,
        why_not_fastest=why,
        why_not_fastest_kind=kind,
    )


def recommended_variant(benchmark: BenchmarkResult) -> str | None:
    """The recommended variant of a BenchmarkResult: `recommendation.variant`, or (a result made before that
    field existed, e.g. from the cache) the variant of the configuration its label names."""
    rec = benchmark.recommendation
    if rec.variant is not None or rec.label is None:
        return rec.variant
    for r in benchmark.configs:
        if r.label == rec.label:
            return variant_of(r)
    return None
