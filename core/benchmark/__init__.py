"""Benchmarking: latency and throughput of Keras models and .tflite variants, measured and explained.

Public API::

    from core.benchmark import BenchConfig, benchmark_model, measure_tflite, benchmark_variants
"""

from core.benchmark.measure import benchmark_model, benchmark_variants, load_feed, measure_tflite, nothing_measured
from core.benchmark.recommend import recommend
from core.benchmark.results import (
    BenchConfig,
    BenchmarkResult,
    ConfigResult,
    DataProfile,
    DelegationInfo,
    LayerTime,
    MeasuredInput,
    Recommendation,
)
from core.benchmark.run import run_benchmark
from core.benchmark.runners import KerasRunner, LiteRTRunner, Runner, SavedModelRunner
from core.benchmark.stats import LatencyStats, compute_stats, percentile
from core.benchmark.sweep import SAMPLES_KIND, measure_config, sweep

__all__ = [
    "BenchConfig",
    "BenchmarkResult",
    "ConfigResult",
    "DataProfile",
    "DelegationInfo",
    "KerasRunner",
    "LatencyStats",
    "LayerTime",
    "LiteRTRunner",
    "MeasuredInput",
    "Recommendation",
    "Runner",
    "SAMPLES_KIND",
    "SavedModelRunner",
    "benchmark_model",
    "benchmark_variants",
    "compute_stats",
    "load_feed",
    "measure_config",
    "measure_tflite",
    "nothing_measured",
    "percentile",
    "recommend",
    "run_benchmark",
    "sweep",
]
