"""The dynamic batcher's policy on a fake clock: a batch closes at max_batch or at max_wait after its
first request, whichever comes first. The expected batches are counted by hand from the arrivals."""

from __future__ import annotations

import pytest

from core.serving.api import BatchPolicy
from core.serving.batcher import BatchQueue


class FakeTime:
    """A clock that moves only when the batcher waits; requests are put when their arrival comes."""

    def __init__(self, arrivals: list[float]) -> None:
        self.now = 0.0
        self.pending = sorted(arrivals)
        self.queue: BatchQueue | None = None
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def arrive_due(self) -> None:
        while self.pending and self.pending[0] <= self.now + 1e-12:
            t = self.pending.pop(0)
            self.queue.put(t, arrival=t)

    def waiter(self, condition, timeout: float) -> None:
        self.waits.append(timeout)
        target = self.now + timeout
        if self.pending and self.pending[0] < target:
            target = self.pending[0]
        self.now = target
        self.arrive_due()


def batches(arrivals_ms: list[float], policy: BatchPolicy, count: int) -> list[tuple[float, list[float]]]:
    """Run the batcher on a fake clock: [(close ms, [arrival ms, ...]), ...] for the first `count` batches."""
    fake = FakeTime([a / 1000 for a in arrivals_ms])
    q = BatchQueue(policy, clock=fake.clock, waiter=fake.waiter)
    fake.queue = q
    fake.arrive_due()
    out = []
    for _ in range(count):
        closed, items = q.next_batch()
        out.append((round(closed * 1000, 6), [round(t * 1000, 6) for t, _ in items]))
    return out


def test_batch_closes_at_max_batch_before_max_wait():
    # Arrivals 0, 0.1, 0.2, 0.3 ms; max_batch 3, max_wait 5 ms: full at 0.2 ms, long before 5 ms.
    got = batches([0.0, 0.1, 0.2, 0.3], BatchPolicy(max_batch=3, max_wait_ms=5.0), 1)
    assert got == [(0.2, [0.0, 0.1, 0.2])]


def test_batch_closes_at_max_wait_before_max_batch():
    # Arrivals 0, 1, 10 ms; max_batch 8, max_wait 2 ms: the first batch closes at 0 + 2 ms with two
    # requests; the next starts with the request at 10 ms and closes at 12 ms alone.
    got = batches([0.0, 1.0, 10.0], BatchPolicy(max_batch=8, max_wait_ms=2.0), 2)
    assert got == [(2.0, [0.0, 1.0]), (12.0, [10.0])]


def test_zero_wait_takes_what_is_queued_at_once():
    got = batches([0.0, 0.0, 0.0, 4.0], BatchPolicy(max_batch=2, max_wait_ms=0.0), 3)
    assert got == [(0.0, [0.0, 0.0]), (0.0, [0.0]), (4.0, [4.0])]


def test_waiting_batch_after_its_deadline_closes_at_once_up_to_max_batch():
    # The worker was busy: when the batcher looks at 7 ms, five requests wait and the first one's
    # deadline (0 + 1 ms) has passed, so a batch of max_batch=4 goes at once, without waiting.
    fake = FakeTime([])
    q = BatchQueue(BatchPolicy(max_batch=4, max_wait_ms=1.0), clock=fake.clock, waiter=fake.waiter)
    for t in (0.0, 0.001, 0.002, 0.003, 0.004):
        q.put(t, arrival=t)
    fake.now = 0.007
    closed, items = q.next_batch()
    assert closed == 0.007 and [t for t, _ in items] == [0.0, 0.001, 0.002, 0.003]
    assert fake.waits == []


def test_close_lets_a_partial_batch_go_and_then_ends():
    fake = FakeTime([])
    q = BatchQueue(BatchPolicy(max_batch=4, max_wait_ms=50.0), clock=fake.clock, waiter=fake.waiter)
    q.put("a", arrival=0.0)
    q.close()
    closed, items = q.next_batch()
    assert [p for _, p in items] == ["a"] and closed == 0.0
    assert q.next_batch() is None


@pytest.mark.parametrize("policy", [BatchPolicy(max_batch=0), BatchPolicy(max_wait_ms=-1.0), BatchPolicy(workers=0)])
def test_bad_policy_is_refused(policy):
    with pytest.raises(ValueError):
        BatchQueue(policy)
