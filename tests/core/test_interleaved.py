"""The one side-by-side timing loop (`core.benchmark.interleaved.interleaved_times`).

Oracle: a fake clock that only the timed calls move, each by its own known amount, and a log of the
calls in the order they ran, both checked against the pattern and counts worked out by hand.
"""

from __future__ import annotations

import pytest

from core.benchmark.interleaved import interleaved_times
from core.engine import CancelToken
from core.errors import Cancelled


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.log: list[str] = []

    def __call__(self) -> float:
        return self.now

    def call(self, name: str, seconds: float):
        def run() -> None:
            self.log.append(name)
            self.now += seconds

        return run


def test_rounds_take_turns_and_each_call_is_timed_alone():
    clock = Clock()
    calls = {"a": clock.call("a", 0.002), "b": clock.call("b", 0.005)}
    times = interleaved_times(calls, rounds=3, per_round=2, warmup=1, clock=clock)
    # warm-up a b, then 3 rounds of (a a b b)
    assert clock.log == ["a", "b"] + ["a", "a", "b", "b"] * 3
    assert times["a"] == pytest.approx([2.0] * 6) and times["b"] == pytest.approx([5.0] * 6)


def test_a_cancelled_token_stops_before_the_next_round():
    clock = Clock()
    token = CancelToken()
    calls = {"a": clock.call("a", 0.001)}

    def cancel_after_first() -> None:
        calls["a"]()
        token.cancel()

    with pytest.raises(Cancelled):
        interleaved_times({"a": cancel_after_first}, rounds=5, per_round=2, cancel=token, clock=clock)
    assert clock.log == ["a", "a"]  # the first round ran whole, no second one began
