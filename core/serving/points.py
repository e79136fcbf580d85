"""Per-request latency arrays -> the study's value types (percentiles, latency parts).

Shared by the real load test and the simulation, so both summarize the same way.
Arrays are per request, in milliseconds.
"""

from __future__ import annotations

import numpy as np

from core.serving.api import LatencyParts, Percentiles

NAN = float("nan")


def percentiles(values_ms: np.ndarray) -> Percentiles:
    """p50/p90/p99/max/mean in ms (numpy's linear interpolation); all nan for no values."""
    v = np.asarray(values_ms, dtype=np.float64)
    if v.size == 0:
        return Percentiles(NAN, NAN, NAN, NAN, NAN)
    p50, p90, p99 = np.percentile(v, [50, 90, 99])
    return Percentiles(float(p50), float(p90), float(p99), float(v.max()), float(v.mean()))


def latency_parts(queue_wait: np.ndarray, compute: np.ndarray, handback: np.ndarray) -> LatencyParts:
    """LatencyParts of per-request parts; total is their per-request sum (not the sum of percentiles)."""
    total = np.asarray(queue_wait) + np.asarray(compute) + np.asarray(handback)
    return LatencyParts(percentiles(queue_wait), percentiles(compute), percentiles(handback), percentiles(total))


def served_rate(first_arrival: float, last_done: float, count: int) -> float:
    """Requests served per second over the span from the first arrival to the last completion."""
    span = last_done - first_arrival
    return (count - 1) / span if span > 0 and count > 1 else float("inf")


def is_saturated(offered_rps: float, served_rps: float, dropped: int = 0) -> bool:
    """The queue could not keep up: requests were left over, or it served under 95% of the offered rate
    (a stable queue drains right after the last arrival, so it serves about what is offered)."""
    return dropped > 0 or served_rps < 0.95 * offered_rps


__all__ = ["is_saturated", "latency_parts", "percentiles", "served_rate"]
