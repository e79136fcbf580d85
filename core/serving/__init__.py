"""Serving: load tests, dynamic batching, queue simulation and prediction caching for .tflite variants."""

from core.serving.api import (
    PARTIAL_KIND,
    BatchPolicy,
    CacheEffect,
    LatencyParts,
    LoadPoint,
    Percentiles,
    ServingStudy,
    VariantServing,
    study_serving,
)

__all__ = [
    "BatchPolicy",
    "CacheEffect",
    "LatencyParts",
    "LoadPoint",
    "PARTIAL_KIND",
    "Percentiles",
    "ServingStudy",
    "VariantServing",
    "study_serving",
]
