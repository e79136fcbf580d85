"""Which batch size and thread count to use: the highest throughput whose p99 fits the budget.

Rules (pinned by tests):

* Candidates are the configurations measured without error, with at least one sample.
* Among those whose p99 is within the budget (p99 <= budget_ms), the highest
  throughput wins. Ties (within 1%) go to fewer threads, then the smaller batch,
  then the lower p99: the same speed for less machine.
* When none fits, the configuration with the lowest p99 is named, with
  ``within_budget=False`` and a reason that says by how much it misses.
* Keras configurations take part like any other (their thread count is
  TensorFlow's own, shown as "TF threads").
"""

from __future__ import annotations

from typing import Sequence

from core.benchmark.results import ConfigResult, Recommendation
from core.benchmark.stats import fmt_ms

TIE_TOLERANCE = 0.01


def _threads_text(threads: int | None) -> str:
    if threads is None:
        return "TensorFlow's own threads"
    return f"{threads} thread" + ("s" if threads != 1 else "")


def recommend(results: Sequence[ConfigResult], budget_ms: float) -> Recommendation:
    measured = [r for r in results if r.ok]
    if not measured:
        return Recommendation(None, None, None, None, None, budget_ms, False,
                              "nothing could be measured, so there is nothing to recommend")
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
        slower_excluded = [r for r in measured if r.stats.p99 > budget_ms and r.stats.throughput > choice.stats.throughput]
        if slower_excluded:
            top = max(slower_excluded, key=lambda r: r.stats.throughput)
            reason += (f". {top.label} would give {top.stats.throughput:,.0f} samples/s but its p99 "
                       f"({fmt_ms(top.stats.p99)}) exceeds the budget")
        return Recommendation(choice.label, choice.batch_size, choice.threads, choice.stats.throughput,
                              choice.stats.p99, budget_ms, True, reason)
    choice = min(measured, key=lambda r: (r.stats.p99, r.threads or 0, r.batch_size))
    reason = (
        f"no configuration keeps p99 within {budget_ms:g} ms; the lowest p99 is {choice.label} "
        f"({fmt_ms(choice.stats.p99)}, {choice.stats.p99 / budget_ms:.1f}x the budget). "
        "Raise the budget, use a smaller batch or a faster variant"
    )
    return Recommendation(choice.label, choice.batch_size, choice.threads, choice.stats.throughput,
                          choice.stats.p99, budget_ms, False, reason)
