"""The environment a variant was made in (for reports): library versions and the CPU model."""

from __future__ import annotations

import platform
import sys

from core.adapters import package_version


def _version(dist: str) -> str:
    return package_version(dist, missing="not installed")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else `platform.processor()`/`machine()`, else "unknown"."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def environment() -> dict[str, str]:
    """The versions a result depends on (Litesmith, TensorFlow, Keras, LiteRT, ...), Python, the platform and the CPU."""
    from core import __version__

    return {
        "litesmith": __version__,
        "tensorflow": _version("tensorflow"),
        "keras": _version("keras"),
        "ai_edge_litert": _version("ai-edge-litert"),
        "ai_edge_quantizer": _version("ai-edge-quantizer"),
        "numpy": _version("numpy"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": cpu_model(),
    }
