"""Open-loop request schedules (Poisson or a user's trace) and the generator that issues them.

Open loop: request i is due at its scheduled time whatever happened to the others, so a
slow server cannot slow the offered load down. The generator measures itself: how late
each request was issued after its due time, and the rate it achieved. A generator that
could not keep the schedule (`kept_up` False) makes the run's latencies not the model's.

Trace CSV: one request per line, ``timestamp[,key]``; timestamps in seconds (any origin,
non-decreasing); an optional header line whose first field is not a number; a key (any
text) names the request for the prediction cache. A bad line raises BadInputError naming
the file and line number.
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from core.errors import BadInputError, Cancelled
from core.serving.api import CancelFlag


@dataclass(frozen=True)
class Schedule:
    """Due times in seconds from the start (sorted, first 0 or later) and optional request keys."""

    times: np.ndarray
    keys: tuple[str, ...] | None = None
    source: str = "poisson"

    @property
    def rate(self) -> float:
        """Offered rate, requests per second (count over span; a single request counts as 1 s)."""
        n = len(self.times)
        span = float(self.times[-1] - self.times[0]) if n > 1 else 0.0
        return (n - 1) / span if span > 0 else float(n)

    def tiled(self, *, count: int | None = None, seconds: float | None = None) -> "Schedule":
        """The trace replayed end to end (one mean gap between the copies) until it holds `count`
        requests or spans `seconds`, then cut there; a long enough trace is only cut."""
        n = len(self.times)
        gap = float(self.times[-1] - self.times[0]) / (n - 1) if n > 1 else 1.0
        period = float(self.times[-1] - self.times[0]) + gap
        copies = 1
        if count is not None:
            copies = max(copies, -(-count // n))
        if seconds is not None and period > 0:
            copies = max(copies, int(seconds // period) + 1)
        times = np.concatenate([self.times - self.times[0] + k * period for k in range(copies)])
        keys = self.keys * copies if self.keys is not None else None
        keep = len(times)
        if count is not None:
            keep = min(keep, count)
        if seconds is not None:
            keep = min(keep, max(2, int(np.searchsorted(times, seconds, side="right"))))
        return Schedule(times[:keep], keys[:keep] if keys is not None else None, self.source)

    def scaled_to(self, rate: float) -> "Schedule":
        """The same shape of arrivals, compressed or stretched to offer `rate` per second."""
        factor = self.rate / rate
        return Schedule((self.times - self.times[0]) * factor, self.keys, self.source)


def poisson_schedule(rate: float, seconds: float, seed: int = 0, *, count: int | None = None) -> Schedule:
    """Poisson arrivals at `rate`/s for `seconds` (or exactly `count` requests); seeded."""
    if rate <= 0:
        raise ValueError(f"the request rate must be positive, got {rate}")
    n = count if count is not None else max(1, int(math.ceil(rate * seconds)))
    gaps = np.random.default_rng(seed).exponential(1.0 / rate, size=n)
    times = np.cumsum(gaps) - gaps[0]
    return Schedule(times, None, "poisson")


def read_trace(path: str) -> Schedule:
    """A Schedule from a trace CSV (``timestamp[,key]`` per line); BadInputError names the file and line."""
    times: list[float] = []
    keys: list[str] = []
    keyed: bool | None = None
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            for line_no, row in enumerate(csv.reader(handle), start=1):
                if not row or not "".join(row).strip():
                    continue
                try:
                    t = float(row[0])
                except ValueError:
                    if not times and line_no == 1:
                        continue  # a header
                    raise BadInputError(
                        f"line {line_no}: the timestamp {row[0]!r} is not a number of seconds", path=path
                    ) from None
                if not math.isfinite(t):
                    raise BadInputError(f"line {line_no}: the timestamp {row[0]!r} is not finite", path=path)
                if times and t < times[-1]:
                    raise BadInputError(
                        f"line {line_no}: timestamp {t:g} is earlier than the line before "
                        f"({times[-1]:g}); a trace must be in time order",
                        path=path,
                    )
                has_key = len(row) > 1 and row[1].strip() != ""
                if keyed is None:
                    keyed = has_key
                elif keyed != has_key:
                    raise BadInputError(
                        f"line {line_no}: {'a' if has_key else 'no'} request key, unlike the lines before", path=path
                    )
                times.append(t)
                keys.append(row[1].strip() if has_key else "")
    except UnicodeDecodeError:
        raise BadInputError("the trace is not a UTF-8 text CSV", path=path) from None
    except csv.Error as exc:
        raise BadInputError(f"the trace is not a readable CSV: {exc}", path=path) from None
    except OSError as exc:
        raise BadInputError(f"cannot read the trace: {exc.strerror or exc}", path=path) from None
    if len(times) < 2:
        raise BadInputError("the trace needs at least two timestamped requests", path=path)
    if times[-1] <= times[0]:
        raise BadInputError("the trace's timestamps all fall at the same moment", path=path)
    arr = np.asarray(times, dtype=np.float64)
    return Schedule(arr - arr[0], tuple(keys) if keyed else None, path)


@dataclass
class GeneratorStats:
    """What the generator measured: lateness per request (ms) and the rate it achieved."""

    late_ms: np.ndarray
    issued: int
    achieved_rps: float
    stopped_early: bool = False


def run_generator(
    schedule: Schedule,
    submit: Callable[[int], None],
    *,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
    cancel: CancelFlag | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> GeneratorStats:
    """Issue request i at ``start + schedule.times[i]`` by calling ``submit(i)``; measure lateness.

    A request whose due time has passed is issued at once (open loop: never skipped, never
    spaced out); its lateness is issue time - due time. Sleeps at most 50 ms at a time so
    `cancel` (raises Cancelled) and `should_stop` (ends early, `stopped_early`) are seen
    promptly. `achieved_rps` is issued requests over the time from the first to the last issue.
    """
    times = schedule.times
    n = len(times)
    late = np.zeros(n, dtype=np.float64)
    start = clock()
    first = last = start
    issued = 0
    stopped = False
    for i in range(n):
        due = start + float(times[i])
        while True:
            if cancel is not None and cancel.cancelled:
                raise Cancelled()
            now = clock()
            if now >= due:
                break
            sleep(min(due - now, 0.05))
        if should_stop is not None and i % 64 == 0 and should_stop():
            stopped = True
            break
        now = clock()
        submit(i)
        late[i] = (now - due) * 1000.0
        if i == 0:
            first = now
        last = now
        issued += 1
    span = last - first
    achieved = (issued - 1) / span if issued > 1 and span > 0 else float(issued)
    return GeneratorStats(late[:issued], issued, achieved, stopped)


def kept_up(stats: GeneratorStats, offered_rps: float, p99_budget_ms: float) -> bool:
    """The generator kept the schedule: achieved >= 95% of offered and lateness p99 <= 25% of the budget
    (at least 1 ms: a Python thread's wake-up on a busy machine is not finer than that)."""
    if stats.issued < 2 or stats.stopped_early:
        return False
    late_p99 = float(np.percentile(stats.late_ms, 99))
    return stats.achieved_rps >= 0.95 * offered_rps and late_p99 <= max(1.0, 0.25 * p99_budget_ms)


__all__ = ["GeneratorStats", "Schedule", "kept_up", "poisson_schedule", "read_trace", "run_generator"]
