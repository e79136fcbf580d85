"""The dynamic batcher: a batch closes at `max_batch` requests or `max_wait_ms` after its first
request arrived, whichever comes first.

`BatchQueue` is the thread-safe queue the load test's generator puts requests into and the
workers take batches from, one worker at a time. A batch is taken only when a worker is free
(Triton-style: while every worker is busy, requests keep gathering, so a busy server batches
more); the discrete-event simulation (`core.serving.simulate`) follows the same rule.

The clock and the wait are injectable, so tests drive the policy on a fake clock:
``clock() -> seconds`` and ``waiter(condition, timeout_seconds)`` (the default waits on the
condition; a fake one advances the fake clock and may put requests that arrive meanwhile).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any, Callable

from core.serving.api import BatchPolicy, CancelFlag

Clock = Callable[[], float]
Waiter = Callable[[threading.Condition, float], Any]
POLL_SECONDS = 0.05  # the longest a blocked call goes without looking at the cancel token


def _real_wait(condition: threading.Condition, timeout: float) -> None:
    condition.wait(timeout)


class BatchQueue:
    """Requests in arrival order; `next_batch` blocks until a batch closes under `policy`.

    Items are ``(arrival_seconds, payload)``; `put` stamps the arrival with the clock
    unless given. Thread-safe. `close()` lets the last, partial batch go at once.
    """

    def __init__(self, policy: BatchPolicy, clock: Clock = time.perf_counter, waiter: Waiter | None = None) -> None:
        if policy.max_batch < 1 or policy.max_wait_ms < 0 or policy.workers < 1:
            raise ValueError(f"a batch policy needs max_batch >= 1, max_wait_ms >= 0, workers >= 1: {policy}")
        self.policy = policy
        self.clock = clock
        self._wait = waiter or _real_wait
        # Re-entrant: a fake waiter may put requests while next_batch holds the lock.
        self._cond = threading.Condition(threading.RLock())
        self._items: deque[tuple[float, Any]] = deque()
        self._closed = False

    def put(self, payload: Any, arrival: float | None = None) -> float:
        """Queue one request; returns its arrival time (the clock's, unless given)."""
        with self._cond:
            t = self.clock() if arrival is None else arrival
            self._items.append((t, payload))
            self._cond.notify_all()
            return t

    def close(self) -> None:
        """No more requests: a waiting batch closes now, and `next_batch` returns None once empty."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def next_batch(self, cancel: CancelFlag | None = None) -> tuple[float, list[tuple[float, Any]]] | None:
        """Block until a batch closes; returns (close time, [(arrival, payload), ...]).

        The batch closes when `max_batch` requests are queued or when the clock reaches
        the first request's arrival + `max_wait_ms`, whichever comes first (at once if
        that moment has passed: the worker was busy). Returns None when the queue is
        closed and empty, or when `cancel` is set.
        """
        limit, wait = self.policy.max_batch, self.policy.max_wait_ms / 1000.0
        with self._cond:
            while not self._items:
                if self._closed or (cancel is not None and cancel.cancelled):
                    return None
                self._wait(self._cond, POLL_SECONDS)
            deadline = self._items[0][0] + wait
            while len(self._items) < limit and not self._closed:
                if cancel is not None and cancel.cancelled:
                    return None
                remaining = deadline - self.clock()
                if remaining <= 0:
                    break
                self._wait(self._cond, min(remaining, POLL_SECONDS))
            count = min(limit, len(self._items))
            batch = [self._items.popleft() for _ in range(count)]
            return self.clock(), batch


__all__ = ["BatchQueue", "Clock", "POLL_SECONDS", "Waiter"]
