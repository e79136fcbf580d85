"""Compression techniques for Keras 3 models: magnitude pruning, structured pruning, distillation.

Each technique is one function with a frozen config and a frozen result:

    magnitude_prune(model, MagnitudePruneConfig(...), x, y=None, *, progress, cancel) -> MagnitudePruneResult
    structured_prune(model, StructuredPruneConfig(...), x, y=None, *, progress, cancel) -> StructuredPruneResult
    distill(teacher, DistillConfig(...), x, y=None, *, validation=None, progress, cancel) -> DistillResult
    width_scaled_copy(model, width) -> keras.Model

TensorFlow/Keras are imported when a function runs, not when this package is imported.
"""

from typing import Any

from core.compress.configs import (
    DistillConfig,
    MagnitudePruneConfig,
    MeasureConfig,
    StructuredPruneConfig,
    config_from_dict,
)

__all__ = [
    "DistillConfig",
    "MagnitudePruneConfig",
    "MeasureConfig",
    "StructuredPruneConfig",
    "config_from_dict",
    "magnitude_prune",
    "structured_prune",
    "distill",
    "width_scaled_copy",
]


def __getattr__(name: str) -> Any:  # lazy: keep `import core.compress` free of TensorFlow
    if name == "magnitude_prune":
        from core.compress.magnitude import magnitude_prune

        return magnitude_prune
    if name in ("structured_prune", "width_scaled_copy"):
        from core.compress import structured

        return getattr(structured, name)
    if name == "distill":
        from core.compress.distill import distill

        return distill
    raise AttributeError(name)
