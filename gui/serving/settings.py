"""What the Serving tab asks for, parsed and checked before a job starts (Qt-free).

`ServingInputs` holds the text the user typed; `ServingInputs.study_kwargs()` turns
it into the keyword arguments of `core.serving.study_serving` (budget in ms, rates in
requests per second, batch sizes, waits in ms, worker counts, seconds, LRU sizes)
or raises ValueError with one sentence naming the field and the problem.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

SWEEP_WORDS = ("", "sweep", "auto")
DEFAULT_MAX_BATCH = "1, 2, 4, 8, 16, 32"
DEFAULT_MAX_WAIT = "0, 0.5, 1, 2, 5"
DEFAULT_WORKERS = "1, 2"
DEFAULT_CACHE_SIZES = "100, 1000, 10000"


def _numbers(text: str, field: str, *, integer: bool, minimum: float, allow_zero: bool = False) -> tuple:
    """ "1, 2,4" -> (1, 2, 4); ValueError naming `field` for anything else."""
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    if not parts:
        raise ValueError(f"{field}: give at least one value")
    values = []
    for part in parts:
        try:
            value = int(part) if integer else float(part)
        except ValueError:
            kind = "a whole number" if integer else "a number"
            raise ValueError(f"{field}: {part!r} is not {kind}") from None
        if not math.isfinite(value) or value < minimum or (value == 0 and not allow_zero):
            raise ValueError(
                f"{field}: {part} is out of range (at least {minimum:g}{', zero allowed' if allow_zero else ''})"
            )
        values.append(value)
    return tuple(sorted(set(values)))


@dataclass(frozen=True)
class ServingInputs:
    """The Serving tab's fields as typed. `rates` is "sweep" (the engine chooses) or a list."""

    p99_ms: float = 5.0
    rates: str = "sweep"
    max_batch: str = DEFAULT_MAX_BATCH
    max_wait_ms: str = DEFAULT_MAX_WAIT
    workers: str = DEFAULT_WORKERS
    trace: str = ""
    seconds: float = 3.0
    cache_sizes: str = DEFAULT_CACHE_SIZES

    def rate_values(self) -> tuple[float, ...] | None:
        """None for a sweep, else the offered rates in requests per second."""
        if self.rates.strip().lower() in SWEEP_WORDS:
            return None
        return _numbers(self.rates, "Rates", integer=False, minimum=0.0)

    def study_kwargs(self, samples_path: str | None = None) -> dict[str, Any]:
        """Keyword arguments for `study_serving` (all but `models`, `progress`, `cancel`); ValueError if bad."""
        if not (math.isfinite(self.p99_ms) and self.p99_ms > 0):
            raise ValueError("p99 budget: give a positive number of milliseconds")
        if not (math.isfinite(self.seconds) and self.seconds > 0):
            raise ValueError("Seconds: the real load test needs a positive duration")
        trace = self.trace.strip() or None
        if trace is not None and not os.path.isfile(trace):
            raise ValueError(f"Trace: {trace} is not a file")
        kwargs: dict[str, Any] = {
            "p99_ms": float(self.p99_ms),
            "rates": self.rate_values(),
            "max_batch": _numbers(self.max_batch, "Max batch", integer=True, minimum=1),
            "max_wait_ms": _numbers(self.max_wait_ms, "Max wait", integer=False, minimum=0.0, allow_zero=True),
            "workers": _numbers(self.workers, "Workers", integer=True, minimum=1),
            "trace": trace,
            "seconds": float(self.seconds),
            "samples_path": samples_path,
            "cache_sizes": (
                _numbers(self.cache_sizes, "Cache sizes", integer=True, minimum=1)
                if trace and self.cache_sizes.strip()
                else ()
            ),
        }
        return kwargs


__all__ = ["ServingInputs", "DEFAULT_MAX_BATCH", "DEFAULT_MAX_WAIT", "DEFAULT_WORKERS", "DEFAULT_CACHE_SIZES"]
