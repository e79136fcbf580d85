"""Percentiles and latency statistics (pure numpy, no TensorFlow)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.benchmark.stats import compute_stats, fmt_ms, percentile


@pytest.mark.parametrize("q", [0, 10, 50, 90, 99, 99.9, 100])
def test_percentile_matches_numpy_linear(q):
    rng = np.random.default_rng(1)
    samples = rng.exponential(2.0, size=537)
    assert percentile(samples, q) == pytest.approx(float(np.percentile(samples, q)), rel=1e-12)


def test_percentile_interpolates_between_ranks():
    samples = [4.0, 1.0, 3.0, 2.0]  # sorted: 1 2 3 4, ranks 0..3
    assert percentile(samples, 50) == pytest.approx(2.5)
    assert percentile(samples, 90) == pytest.approx(3.7)  # rank 2.7
    assert percentile(samples, 100) == 4.0
    assert percentile(samples, 0) == 1.0


def test_percentile_one_sample_and_empty():
    assert percentile([7.5], 99.9) == 7.5
    assert math.isnan(percentile([], 50))


def test_percentile_rejects_out_of_range():
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_p999_of_few_samples_sits_between_the_two_largest():
    samples = list(range(1, 101))  # 1..100
    p999 = percentile(samples, 99.9)
    assert 99 < p999 < 100
    assert p999 == pytest.approx(99 + 0.901)  # rank 99 * 0.999 = 98.901


def test_compute_stats_figures():
    samples = [1.0, 2.0, 3.0, 4.0]
    s = compute_stats(samples, batch_size=8, cold_ms=50.0)
    assert s.n == 4
    assert s.p50 == pytest.approx(2.5)
    assert s.mean == pytest.approx(2.5)
    assert s.std == pytest.approx(float(np.std(samples)))  # population std
    assert s.min == 1.0 and s.max == 4.0
    assert s.cold_ms == 50.0
    assert s.throughput == pytest.approx(8 * 1000 / 2.5)
    assert s.per_sample_ms == pytest.approx(2.5 / 8)
    assert s.p50 <= s.p90 <= s.p99 <= s.p999 <= s.max


def test_compute_stats_cold_run_not_in_samples():
    s = compute_stats([1.0, 1.0, 1.0], cold_ms=100.0)
    assert s.max == 1.0 and s.cold_ms == 100.0


def test_compute_stats_empty_is_nan_not_error():
    s = compute_stats([], batch_size=4)
    assert s.n == 0 and math.isnan(s.p50) and math.isnan(s.throughput)


def test_fmt_ms():
    assert fmt_ms(0.0042) == "4.2 µs"
    assert fmt_ms(1.234) == "1.23 ms"
    assert fmt_ms(123.44) == "123.4 ms"
    assert fmt_ms(float("nan")) == "—"
