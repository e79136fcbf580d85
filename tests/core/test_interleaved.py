"""The one side-by-side timing loop (`core.benchmark.interleaved.interleaved_times`).

Oracle: a fake clock that only the timed calls move, each by its own known amount, and a log of the
calls in the order they ran, both checked against the pattern and counts worked out by hand.
"""

from __future__ import annotations

import pytest

from core.benchmark.interleaved import interleaved_times
from core.engine import CancelToken
from core.errors import Cancelled
from tests.core.fake_clock import FakeClock


def _timed(clock: FakeClock, name: str, seconds: float):
    """A call that the clock records as `name`, taking `seconds`."""
    return lambda: clock.step(name, seconds)


def test_rounds_take_turns_and_each_call_is_timed_alone():
    clock = FakeClock()
    calls = {"a": _timed(clock, "a", 0.002), "b": _timed(clock, "b", 0.005)}
    times = interleaved_times(calls, rounds=3, per_round=2, warmup=1, clock=clock)
    # warm-up a b, then 3 rounds of (a a b b)
    assert clock.log == ["a", "b"] + ["a", "a", "b", "b"] * 3
    assert times["a"] == pytest.approx([2.0] * 6) and times["b"] == pytest.approx([5.0] * 6)


def test_a_cancelled_token_stops_before_the_next_round():
    clock = FakeClock()
    token = CancelToken()
    calls = {"a": _timed(clock, "a", 0.001)}

    def cancel_after_first() -> None:
        calls["a"]()
        token.cancel()

    with pytest.raises(Cancelled):
        interleaved_times({"a": cancel_after_first}, rounds=5, per_round=2, cancel=token, clock=clock)
    assert clock.log == ["a", "a"]  # the first round ran whole, no second one began
