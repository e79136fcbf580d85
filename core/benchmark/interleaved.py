"""Timing two or more models side by side in one run: interleaved rounds, one timing loop for all.

Used wherever Litesmith states a ratio between models measured together (the XNNPACK on/off ablation
of `core.benchmark.facts`, a pruned or distilled model against its original in `core.compress.measure`):
each model takes its turn for `per_round` calls, round after round (A A B B A A B B ...), so a machine
that gets busier, or a CPU that changes frequency, halfway through slows every side alike and the
ratio stays fair. Medians, not means: one preempted call does not move them.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable, Mapping

if TYPE_CHECKING:
    from core.engine.context import CancelToken


def interleaved_times(
    calls: Mapping[str, Callable[[], object]],
    *,
    rounds: int,
    per_round: int = 1,
    warmup: int = 0,
    cancel: CancelToken | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    """Milliseconds per call of each named call, in call order: `rounds` rounds in which each call, in the
    mapping's order, runs `per_round` times, each call timed alone (`clock`, seconds).

    `warmup` untimed calls of each go first, interleaved the same way (first-call allocation and weight
    packing are not part of the figure). `cancel` is checked before every round (raises Cancelled).
    Returns {name: [ms, ...]} with `rounds * per_round` values each (at least one round, one call).
    """
    names = list(calls)
    for _ in range(max(0, warmup)):
        for name in names:
            calls[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    per_round = max(1, int(per_round))
    for _ in range(max(1, int(rounds))):
        if cancel is not None:
            cancel.raise_if_cancelled()
        for name in names:
            call, out = calls[name], times[name]
            for _ in range(per_round):
                start = clock()
                call()
                out.append((clock() - start) * 1000.0)
    return times
