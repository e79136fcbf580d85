"""Benchmarking: latency and throughput of Keras models and .tflite variants, measured and explained.

Public API::

    from core.benchmark import BenchConfig, benchmark_model, measure_tflite, benchmark_variants
"""

from core.benchmark.measure import benchmark_model, benchmark_variants, measure_tflite, run_benchmark
from core.benchmark.recommend import recommend
from core.benchmark.results import (
    BenchConfig, BenchmarkResult, ConfigResult, DataProfile, DelegationInfo, LayerTime, Recommendation,
)
from core.benchmark.runners import KerasRunner, LiteRTRunner, Runner
from core.benchmark.stats import LatencyStats, compute_stats, percentile
from core.benchmark.sweep import SAMPLES_KIND, measure_config, sweep

__all__ = [
    "BenchConfig", "BenchmarkResult", "ConfigResult", "DataProfile", "DelegationInfo", "KerasRunner",
    "LatencyStats", "LayerTime", "LiteRTRunner", "Recommendation", "Runner", "SAMPLES_KIND",
    "benchmark_model", "benchmark_variants", "compute_stats", "measure_config", "measure_tflite",
    "percentile", "recommend", "run_benchmark", "sweep",
]
