"""The result cache's side of `core.benchmark.measure.measure_tflite`: the key a
measurement is stored under (`measurement_key`: the model's SHA-256, the config, the
variant, this machine and the library versions) and the note a cached result carries
(`CACHE_NOTE`, `served_from_cache`).
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from core.benchmark.results import BenchConfig, BenchmarkResult
from core.cache import MEASURED_NOTE


CACHE_NOTE = MEASURED_NOTE  # a cached measurement carries it among its notes (worded in core.cache)


def served_from_cache(result: BenchmarkResult) -> bool:
    """True when `measure_tflite(..., cache=...)` returned a cached measurement."""
    return CACHE_NOTE in result.notes


def machine_fingerprint() -> dict[str, str]:
    """What a measurement depends on besides the model and settings: this machine."""
    import platform

    fingerprint = {"node": platform.node(), "machine": platform.machine(), "cpus": str(os.cpu_count())}
    try:
        from core.hardware import cpu_info

        info = cpu_info()
        fingerprint["cpu"] = str(getattr(info, "model", "") or getattr(info, "brand", "") or "")
    except Exception:  # noqa: BLE001 - the fingerprint is best effort
        pass
    return fingerprint


def measurement_key(
    tflite_bytes: bytes,
    config: BenchConfig,
    variant: str | None,
    signature: str | None = None,
    input_shapes: Mapping[str, tuple[int, ...]] | None = None,
) -> str:
    """The result-cache key of one measurement: `core.cache.cache_key` over the .tflite's SHA-256, the whole
    `config`, the variant name, the signature and input shapes when given, and `machine_fingerprint()`."""
    import hashlib
    from dataclasses import asdict

    from core.cache import cache_key

    extra: dict[str, Any] = {"signature": signature} if signature is not None else {}
    if input_shapes:
        extra["input_shapes"] = sorted([name, list(shape)] for name, shape in input_shapes.items())
    return cache_key(
        "measure",
        tflite=hashlib.sha256(tflite_bytes).hexdigest(),
        config=asdict(config),
        variant=variant,
        machine=machine_fingerprint(),
        **extra,
    )
