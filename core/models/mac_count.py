"""What the MAC counter (`core.models.flops`) returns: `MacCount` for a model and
`LayerMacs` per layer, the units free dimensions are counted per, and `_Uncounted`,
raised by a rule that cannot count a layer or an op.
"""

from __future__ import annotations

from dataclasses import dataclass


SEQUENCE_UNIT = "time step"
POSITION_UNIT = "position"


@dataclass(frozen=True)
class LayerMacs:
    """One Keras layer's multiply-accumulates for one sample."""

    name: str  # "outer/inner" inside nested models
    type: str  # the class name (a .tflite op name)
    macs: int  # every call summed; 0 when not counted
    counted: bool = True  # False: no rule for this layer (listed in MacCount.uncounted)
    free: bool = False  # counted per position of a free dimension
    rule: str = ""  # "zero by rule", or why it was not counted


@dataclass(frozen=True)
class MacCount:
    """Multiply-accumulates of a model for one sample. FLOPs = 2 x MACs."""

    total: int  # the counted layers' MACs
    layers: tuple[LayerMacs, ...] = ()
    uncounted: tuple[tuple[str, str], ...] = ()  # (layer name, class name) of what no rule covers
    partial: bool = False  # True when something was not counted
    per: str = ""  # "": per sample; else the unit of free dimensions counted per
    notes: tuple[str, ...] = ()
    unknown: str = ""  # why nothing could be counted (an upstream internal moved)

    @property
    def flops(self) -> int:
        """FLOPs of the counted layers: 2 x `total` MACs (a multiply and an add each)."""
        return 2 * self.total

    @property
    def complete(self) -> bool:
        """Every layer counted, for a whole sample: the only figure a decision may use."""
        return not self.partial and not self.per

    def uncounted_text(self, limit: int = 8) -> str:
        """ "N layers not counted: a (Foo), b (Bar)"; "" when none."""
        if not self.uncounted:
            return ""
        items = [f"{name} ({kind})" for name, kind in self.uncounted[:limit]]
        more = f", … {len(self.uncounted) - limit} more" if len(self.uncounted) > limit else ""
        noun = "layer" if len(self.uncounted) == 1 else "layers"
        return f"{len(self.uncounted)} {noun} not counted: {', '.join(items)}{more}"


class _Uncounted(Exception):
    """A layer this counter has no rule for (or whose shapes it can't read)."""
