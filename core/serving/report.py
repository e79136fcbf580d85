"""The serving study as a JSON document body, a text table (CLI) and an HTML section (reports).

`study_document` is the body of the ``litesmith.loadtest`` document (stamp it with
`core.jsonout.stamp`; schema core/schemas/loadtest.v1.schema.json) and the ``serving`` key
other reports embed. Service times are summarized per batch size (count, p50, p99, mean ms),
not listed sample by sample.
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np

from core.serving.api import BatchPolicy, LoadPoint, ServingStudy
from core.units import fmt_ms


def _service_summary(samples: dict[int, tuple[float, ...]]) -> list[dict[str, Any]]:
    out = []
    for batch in sorted(samples):
        v = np.asarray(samples[batch], dtype=np.float64)
        out.append(
            {
                "batch": int(batch),
                "samples": int(v.size),
                "p50_ms": float(np.percentile(v, 50)) if v.size else None,
                "p99_ms": float(np.percentile(v, 99)) if v.size else None,
                "mean_ms": float(v.mean()) if v.size else None,
            }
        )
    return out


def study_document(study: ServingStudy) -> dict[str, Any]:
    """The study as plain JSON data (non-finite numbers become null with a reason, `core.jsonout`)."""
    from core.jsonout import jsonable

    body = jsonable(study)
    for raw, variant in zip(study.variants, body["variants"]):
        variant.pop("service_ms_by_batch", None)
        variant["service_ms"] = _service_summary(raw.service_ms_by_batch)
    return body


def _rate(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:,.0f}/s"


def _ms(value: float | None) -> str:
    return fmt_ms(value, digits=2, large_digits=2, micro=False, unit=False, missing="-")


def _policy(policy: BatchPolicy | None) -> str:
    return "-" if policy is None else policy.label()


def _point_line(point: LoadPoint) -> str:
    flags = []
    if point.saturated:
        flags.append("saturated")
    if not point.generator_kept_up:
        flags.append("generator fell behind")
    lat = point.latency
    return (
        f"{point.offered_rps:>10,.0f}/s  {_policy(point.policy):<34} p50 {_ms(lat.total.p50):>8}  "
        f"p99 {_ms(lat.total.p99):>8}  (wait {_ms(lat.queue_wait.p99)}, compute {_ms(lat.compute.p99)}, "
        f"hand-back {_ms(lat.handback.p99)})  batch {point.mean_batch:.1f}"
        + (f"  [{', '.join(flags)}]" if flags else "")
    )


def _recommendation(study: ServingStudy) -> str:
    """The recommendation in words; a variant short of the target rate is named as the closest, not chosen."""
    if not study.recommended_variant:
        return "none: no variant holds the budget at any rate tried (simulated)"
    choice = f"{study.recommended_variant} with {_policy(study.recommended_policy)}"
    if study.headroom is None or study.target_rps is None:
        return choice
    if study.headroom < 0:
        return (
            f"none holds p99 <= {study.p99_budget_ms:g} ms at {study.target_rps:,.0f}/s (simulated); the "
            f"closest is {choice}, {-study.headroom:.0%} short"
        )
    return f"{choice} ({study.headroom:+.0%} headroom over {study.target_rps:,.0f}/s)"


def format_study(study: ServingStudy) -> str:
    """A text report: per variant the service times, the sustainable rates, the real runs and the error."""
    lines = [
        f"serving study: p99 budget {study.p99_budget_ms:g} ms"
        + (f", target {study.target_rps:,.0f}/s" if study.target_rps else "")
    ]
    header = f"  {'variant':<16} {'unbatched':>12} {'best policy':>12}  {'policy':<34} {'knee':>10} {'sim error':>9}"
    lines += [header, "  " + "-" * (len(header) - 2)]
    for v in study.variants:
        err = "-" if v.simulation_error is None else f"{v.simulation_error:.0%}"
        lines.append(
            f"  {v.variant:<16} {_rate(v.sustainable_rps_unbatched):>12} {_rate(v.sustainable_rps):>12}  "
            f"{_policy(v.recommended):<34} {_rate(v.knee_rps):>10} {err:>9}"
        )
    for v in study.variants:
        lines.append("")
        lines.append(f"{v.variant}  ({v.model_path})")
        service = ", ".join(f"b{s['batch']} {s['p50_ms']:.3f}" for s in _service_summary(v.service_ms_by_batch))
        lines.append(f"  service time p50 (ms): {service}")
        if v.batch_note:
            lines.append(f"  {v.batch_note}")
        if v.reason:
            lines.append(f"  {v.reason}")
        lines += [f"  {n}" for n in v.notes]
        for label, point, error, repeat in (
            ("real, no batching", v.confirmed_unbatched, v.simulation_error_unbatched, v.repeat_error_unbatched),
            ("real, recommended", v.confirmed, v.simulation_error, v.repeat_error),
        ):
            if point is None or (label.endswith("recommended") and point is v.confirmed_unbatched):
                continue
            lines.append(f"  {label}: {_point_line(point).strip()}")
            if error is not None:
                floor = "" if repeat is None else f" (real runs among themselves: {repeat:.0%})"
                lines.append(f"    simulation's p99 differs from the real runs by {error:.0%}{floor}")
            if point.note:
                lines.append(f"    {point.note}")
        for c in v.caches:
            lines.append(f"  cache: {c.note}")
    lines.append("")
    lines.append("recommendation: " + _recommendation(study))
    lines += [f"note: {n}" for n in study.notes]
    return "\n".join(lines)


def serving_html(study: ServingStudy) -> str:
    """An HTML <section> with the study's table, real runs and recommendation (text escaped)."""
    e = html.escape
    rows = []
    for v in study.variants:
        err = "-" if v.simulation_error is None else f"{v.simulation_error:.0%}"
        real = v.confirmed
        real_p99 = (
            "-"
            if real is None
            else f"{_ms(real.latency.total.p99)} ms at {real.offered_rps:,.0f}/s"
            + ("" if real.generator_kept_up else " (generator fell behind)")
        )
        rows.append(
            "<tr>"
            + "".join(
                f"<td>{e(c)}</td>"
                for c in (
                    v.variant,
                    _rate(v.sustainable_rps_unbatched),
                    _rate(v.sustainable_rps),
                    _policy(v.recommended),
                    _rate(v.knee_rps),
                    real_p99,
                    err,
                )
            )
            + "</tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "variant",
            "sustainable, no batching",
            "sustainable, best policy",
            "policy",
            "knee",
            "real p99",
            "simulation error",
        )
    )
    rec = _recommendation(study)
    notes = "".join(f"<li>{e(n)}</li>" for n in study.notes)
    caches = "".join(f"<li>{e(v.variant)}: {e(c.note)}</li>" for v in study.variants for c in v.caches)
    return (
        f'<section class="serving"><h2>Serving: p99 &le; {study.p99_budget_ms:g} ms under load</h2>'
        f"<table><tr>{head}</tr>{''.join(rows)}</table>"
        f"<p><b>Recommendation:</b> {e(rec)}</p>"
        + (f"<ul>{caches}</ul>" if caches else "")
        + f"<ul>{notes}</ul></section>"
    )


__all__ = ["format_study", "serving_html", "study_document"]
