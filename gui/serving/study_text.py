"""The Serving tab's words for a study: request rates as shown, the per-variant table's columns, the
recommendation line, the cache effect and the variants' notes.

Pure functions of the engine's `ServingStudy` (`core.serving.api`); they format, never compute a
figure. HTML-escaped where the result goes into a rich-text label (`cache_lines`, `variant_notes`).
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any, Callable

from gui.table_models import Column

if TYPE_CHECKING:
    from core.serving.api import ServingStudy, VariantServing


def rps_text(value: float | None) -> str:
    """A request rate as shown: "1,234 req/s" (two significant digits under 10); "—" for None or not finite."""
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:,.0f} req/s" if value >= 10 else f"{value:,.2g} req/s"


def held_text(value: float | None) -> str:
    """A sustainable rate of a finished study: None means no rate tried held the budget ("none"), not unknown."""
    return "none" if value is None else rps_text(value)


def error_text(value: float | None) -> str:
    """The simulation's relative p99 error against the real run (0.07 -> "7 %")."""
    if value is None or not math.isfinite(value):
        return "—"
    return f"{abs(value) * 100:.1f} %"


def _policy_text(v: VariantServing) -> str:
    return v.recommended.label() if v.recommended is not None else "—"


def _rps_key(attr: str) -> Callable[[Any], float]:
    return lambda v: -(getattr(v, attr) or 0.0)


def _error_column(title: str, attr: str, tooltip: Callable[[Any], str]) -> Column:
    """A column of a relative p99 difference held in the variant's `attr` (sorted by its size, none last)."""

    def value(v: Any) -> float | None:
        return getattr(v, attr)

    return Column(
        title,
        lambda v: error_text(value(v)),
        numeric=True,
        sort_key=lambda v: abs(e) if (e := value(v)) is not None else math.inf,
        tooltip=tooltip,
    )


SERVING_COLUMNS = [
    Column("Variant", lambda v: v.variant, tooltip=lambda v: v.model_path),
    Column(
        "No batching",
        lambda v: held_text(v.sustainable_rps_unbatched),
        sort_key=_rps_key("sustainable_rps_unbatched"),
        numeric=True,
        tooltip=lambda v: (
            "highest rate that holds the p99 budget, one request per call"
            + ("; none of the rates tried holds it" if v.sustainable_rps_unbatched is None else "")
        ),
    ),
    Column("Recommended policy", _policy_text, tooltip=lambda v: v.batch_note or _policy_text(v)),
    Column(
        "With policy",
        lambda v: held_text(v.sustainable_rps),
        sort_key=_rps_key("sustainable_rps"),
        numeric=True,
        tooltip=lambda v: (
            "highest rate that holds the p99 budget with the recommended policy"
            + ("; no policy tried holds it at any rate" if v.sustainable_rps is None else "")
        ),
    ),
    Column(
        "Knee",
        lambda v: rps_text(v.knee_rps),
        sort_key=_rps_key("knee_rps"),
        numeric=True,
        tooltip=lambda v: "where p99 starts to climb steeply (the queue nears saturation)",
    ),
    _error_column(
        "Sim. error",
        "simulation_error",
        lambda v: (
            "simulated p99 against the real load test of the same policy and rate"
            + (
                f"; without batching: {error_text(v.simulation_error_unbatched)}"
                if v.simulation_error_unbatched is not None
                else ""
            )
        ),
    ),
    _error_column(
        "Real vs real",
        "repeat_error",
        lambda v: (
            "the same p99 difference between two sets of real runs of that policy at that rate (the calibration "
            "runs and the load tests made between them): how well this machine repeats itself, the floor for "
            "the simulation's error"
        ),
    ),
    Column("Note", lambda v: v.reason or v.batch_note or "", tooltip=lambda v: v.reason or v.batch_note or ""),
]


def recommendation_text(study: ServingStudy) -> str:
    """One line: the recommended variant and policy and the rate it sustains at the budget."""
    budget = f"p99 ≤ {study.p99_budget_ms:g} ms"
    if not study.recommended_variant:
        return f"No variant holds {budget} at the rates tried: see the notes below."
    chosen = next((v for v in study.variants if v.variant == study.recommended_variant), None)
    policy = study.recommended_policy.label() if study.recommended_policy is not None else "no batching"
    text = f"Recommended: {study.recommended_variant} with {policy}"
    if chosen is not None and chosen.sustainable_rps:
        text += f": sustains {rps_text(chosen.sustainable_rps)} at {budget}"
    if study.headroom is not None and study.target_rps:
        text += f" ({study.headroom * 100:+.0f} % headroom at {rps_text(study.target_rps)})"
    return text


def cache_lines(study: ServingStudy) -> list[str]:
    """The cache effect of each variant that has one (a keyed trace), in words: the engine's note when it wrote
    one, else its figures."""
    lines = []
    for v in study.variants:
        for c in v.caches or ((v.cache,) if v.cache is not None else ()):
            name = f"<b>{html.escape(v.variant)}</b>, LRU of {c.capacity:,}"
            if c.too_few_repeats:
                lines.append(
                    f"{name}: the trace has too few repeats for a cache to matter (hit rate "
                    f"{c.hit_rate:.0%}). {html.escape(c.note)}".rstrip()
                )
            elif c.note:
                lines.append(f"{name}: {html.escape(c.note)}")
            else:
                lines.append(
                    f"{name}: hit rate {c.hit_rate:.0%}, p99 {c.p99_ms_without:.3g} → {c.p99_ms_with:.3g} ms, "
                    f"the model serves {c.model_load_fraction:.0%} of the requests"
                )
    return lines


def variant_notes(study: ServingStudy) -> list[str]:
    """Each variant's own notes (how its simulation was calibrated, where its claims stop), named."""
    return [f"<b>{html.escape(v.variant)}</b>: {html.escape(n)}" for v in study.variants for n in v.notes]


__all__ = [
    "rps_text",
    "held_text",
    "error_text",
    "SERVING_COLUMNS",
    "recommendation_text",
    "cache_lines",
    "variant_notes",
]
