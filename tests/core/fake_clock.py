"""A clock for timing-loop tests: it only moves when a recorded step runs."""

from __future__ import annotations


class FakeClock:
    """Callable like `time.perf_counter` (seconds); `step(name, seconds)` records a step in `log` and moves
    the clock by its own amount."""

    def __init__(self) -> None:
        self.now = 0.0
        self.log: list[str] = []

    def __call__(self) -> float:
        return self.now

    def step(self, name: str, seconds: float) -> None:
        self.log.append(name)
        self.now += seconds
