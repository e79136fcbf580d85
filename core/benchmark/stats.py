"""Latency statistics: percentiles, mean, spread, cold run and throughput.

Rules the tests pin down:

* Percentiles use linear interpolation between closest ranks (numpy's default
  ``method="linear"``): for sorted samples ``s`` of length ``n`` the q-th
  percentile sits at rank ``(n - 1) * q / 100``. One sample gives that sample
  for every percentile; p99.9 of fewer than 1000 samples is interpolated
  between the two largest samples, so read it together with ``n``.
* ``std`` is the population standard deviation (``ddof=0``).
* ``throughput`` is samples per second: ``batch_size * 1000 / mean_ms``.
* The cold run (the first call after preparing a runner) is never part of
  the samples; it is reported apart as ``cold_ms``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from core.units import fmt_ms  # noqa: F401 - re-exported: the one latency formatter lives in core.units

PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of `samples`, linear interpolation; NaN when empty."""
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    return _sorted_percentile(np.sort(np.asarray(samples, dtype=np.float64)), q)


def _sorted_percentile(values: np.ndarray, q: float) -> float:
    """`percentile` of samples already sorted (a sweep can hold a million; sort them once)."""
    n = values.size
    if n == 0:
        return math.nan
    rank = (n - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, n - 1)
    fraction = rank - low
    return float(values[low] + (values[high] - values[low]) * fraction)


@dataclass(frozen=True)
class LatencyStats:
    """Latency of one configuration, in milliseconds per call (one call = one batch)."""

    n: int  # measured calls (warm-up and the cold run excluded)
    p50: float
    p90: float
    p99: float
    p999: float
    mean: float
    std: float
    min: float
    max: float
    cold_ms: float  # the first call after prepare; NaN when not measured
    batch_size: int
    throughput: float  # samples per second = batch_size * 1000 / mean

    @property
    def per_sample_ms(self) -> float:
        """Mean milliseconds per sample (mean / batch_size); NaN when the batch size is 0."""
        return self.mean / self.batch_size if self.batch_size else math.nan


def compute_stats(samples_ms: Sequence[float], *, batch_size: int = 1, cold_ms: float = math.nan) -> LatencyStats:
    """`LatencyStats` of measured calls (`samples_ms`: milliseconds per call, any order) by the module's rules.

    No samples: n = 0 and every figure NaN (`cold_ms` kept). A mean of 0 gives an infinite throughput.
    """
    values = np.sort(np.asarray(samples_ms, dtype=np.float64))
    if values.size == 0:
        nan = math.nan
        return LatencyStats(0, nan, nan, nan, nan, nan, nan, nan, nan, float(cold_ms), batch_size, nan)
    mean = float(values.mean())
    return LatencyStats(
        n=int(values.size),
        p50=_sorted_percentile(values, 50.0),
        p90=_sorted_percentile(values, 90.0),
        p99=_sorted_percentile(values, 99.0),
        p999=_sorted_percentile(values, 99.9),
        mean=mean,
        std=float(values.std()),
        min=float(values[0]),
        max=float(values[-1]),
        cold_ms=float(cold_ms),
        batch_size=int(batch_size),
        throughput=(batch_size * 1000.0 / mean) if mean > 0 else math.inf,
    )
