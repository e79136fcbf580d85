"""The results panel's words: the headline above the table, the banner, and "What it means".

Pure functions of a run's `gui.workflow.RunOutcome` (or an auto search's `AutoResult`) and
their comparison rows: no Qt. Every figure comes from those results (measured); the core's
sentences are shared with the CLI and the HTML report, so the CLI flags they name are put in
the window's words here (`gui.flag_hints.gui_words`).
"""

from __future__ import annotations

import html
from typing import Any, Iterable, Sequence

from core.report.cells import RECOMMENDED_MARK
from core.report.comparison import Row, outcome_metric
from core.report.explain import explanation_lines
from core.units import human_size
from gui.flag_hints import gui_words

RUN_SYNTHETIC_BANNER = (
    "No data was given: inputs were synthesized, accuracy is unknown and int8 calibration "
    "on random inputs can mislead. Choose a data file in the recipe panel and run again."
)
AUTO_SYNTHETIC_BANNER = (
    "No data was given: inputs were synthesized; agreement with the original model is all "
    "that can be judged. Choose a data file in the recipe panel for an accuracy budget."
)


def run_headline(outcome: Any, rows: Sequence[Row]) -> str:
    """One line under a run's title: the recommendation, the fastest p50, the smallest file, failures; "" when
    there is nothing to compare (no outcome, or the original alone). Joined with " · "."""
    if outcome is None or len(rows) < 2:
        return ""
    bench = outcome.benchmark
    parts = []
    # The core's one Recommendation: the same object the table's ✔, the charts' star and the CLI read.
    rec = bench.recommendation if bench is not None else None
    if rec is not None and rec.label:
        parts.append(rec.headline() + RECOMMENDED_MARK)
        fastest = next((r for r in rows if r.name == rec.fastest_variant), None)
        speed = (
            f", {fastest.speedup:.1f}× the original's speed"
            if fastest is not None and fastest.speedup and not fastest.is_original
            else ""
        )
        if rec.fastest_is_recommended:
            parts.append(f"also the fastest p50{speed}")
        elif rec.fastest_variant:
            parts.append(f"fastest p50: {rec.fastest_variant}{speed}; not recommended because " + rec.why_not_fastest)
    smallest = min(rows[1:], key=lambda r: r.size_bytes)
    parts.append(
        f"smallest: {smallest.name}, {human_size(smallest.size_bytes)} "
        f"({smallest.size_bytes / max(1, rows[0].size_bytes):.0%} of the original file)"
    )
    metric = outcome_metric(outcome)
    if metric.several:
        parts.append(
            f"{metric.outputs} outputs: fidelity is each variant's worst output, accuracy is "
            f"{metric.primary or 'the primary output'}'s (Per output has them all)"
        )
    failed = [f.name for f in outcome.optimize.failures]
    if failed:
        parts.append(f"failed: {', '.join(failed)} (see What it means)")
    if outcome.benchmark_error is not None:
        parts.append("latency not measured: " + gui_words(outcome.benchmark_error.message))
    return " · ".join(parts)


def auto_headline(result: Any) -> str:
    """One line under an auto search's title: the recommendation (or none), how many candidates were measured,
    a cancel, the cache. Joined with " · "."""
    measured = sum(1 for c in result.candidates if c.status == "measured")
    parts = []
    rec = getattr(result, "recommendation", None)  # the core's one Recommendation (None: an older result)
    if rec is not None and rec.label is not None:
        chosen = result.candidate(rec.variant)
        parts.append(f"{rec.headline()} ✔ ({chosen.quality_label})")
        if rec.why_not_fastest:
            parts.append("not the fastest p50: " + rec.why_not_fastest)
    elif result.recommended:
        chosen = result.candidate(result.recommended)
        parts.append(f"Recommended: {result.recommended} ✔ ({chosen.latency_config}, {chosen.quality_label})")
    else:
        parts.append("No candidate meets the budget")
    parts.append(f"{measured} of {len(result.candidates)} candidates measured")
    if result.cancelled:
        parts.append("cancelled: the candidates measured so far")
    if result.all_from_cache:
        parts.append("all results from the cache ⟲")
    elif any(c.from_cache for c in result.candidates):
        parts.append("⟲ = from the cache")
    return " · ".join(parts)


def lines_html(lines: Iterable[tuple[str, str]]) -> str:
    """(heading, sentence) pairs as HTML paragraphs, escaped, the sentences in the window's words."""
    return "\n".join(f"<p><b>{html.escape(heading)}:</b> {html.escape(gui_words(text))}</p>" for heading, text in lines)


def run_explanations_html(outcome: Any) -> str:
    """ "What it means" for a run (`core.report.explain.explanation_lines`, the HTML report's sentences)."""
    return "" if outcome is None else lines_html(explanation_lines(outcome))


__all__ = [
    "AUTO_SYNTHETIC_BANNER",
    "RUN_SYNTHETIC_BANNER",
    "auto_headline",
    "lines_html",
    "run_explanations_html",
    "run_headline",
]
