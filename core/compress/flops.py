"""FLOPs of a Keras model for compression reports: the shared counter's figure.

`core.models.flops.count_keras_macs` is the one MAC counter (inspect uses it too);
its docstring gives every rule. FLOPs = 2 x MACs, for one sample. A layer with
no rule counts 0 here; callers that must know whether the figure is complete
(auto mode's decisions) call `count_keras_macs` and read `MacCount.complete`.
"""

from __future__ import annotations

from typing import Any

from core.models.flops import MacCount, count_keras_macs

__all__ = ["MacCount", "count_flops", "count_macs", "count_keras_macs"]


def count_macs(model: Any) -> int:
    """Multiply-accumulates for one sample (free dimensions counted per position)."""
    return count_keras_macs(model).total


def count_flops(model: Any) -> int:
    """2 x `count_macs(model)`."""
    return 2 * count_macs(model)
