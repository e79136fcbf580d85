"""A prediction cache simulated over a keyed trace: an LRU of N predictions.

A request whose key is among the N most recently used keys is a hit: answered from the
cache, taken as 0 ms (a dictionary look-up is microseconds, far below any budget) and never
reaching the model. Misses go through the simulated queue as usual (`core.serving.simulate`),
so the p99 with the cache is over all requests: hits at 0 ms, misses at their queue latency.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import numpy as np

from core.serving.api import BatchPolicy, CacheEffect
from core.serving.simulate import ServiceModel, simulate

MATTERS_HIT_RATE = 0.05  # below this, a cache saves too little of the model's work to be worth having


def lru_hits(keys: Sequence[str], capacity: int) -> np.ndarray:
    """Per request: True when its key is among the `capacity` most recently used (an LRU cache)."""
    cache: OrderedDict[str, None] = OrderedDict()
    hits = np.zeros(len(keys), dtype=bool)
    if capacity <= 0:
        return hits
    for i, key in enumerate(keys):
        if key in cache:
            cache.move_to_end(key)
            hits[i] = True
        else:
            cache[key] = None
            if len(cache) > capacity:
                cache.popitem(last=False)
    return hits


def cache_effect(
    arrivals_s: np.ndarray, keys: Sequence[str], capacity: int, policy: BatchPolicy, model: ServiceModel, seed: int = 0
) -> CacheEffect:
    """Hit rate, p99 with and without the cache (simulated at `policy`), and the model's load fraction.

    `too_few_repeats` is True when the hit rate is under 5% (the note gives the repeat count:
    how many requests carry a key seen before at all, which bounds any cache's hit rate).
    """
    n = len(keys)
    hits = lru_hits(keys, capacity)
    hit_rate = float(hits.mean()) if n else 0.0
    repeats = n - len(set(keys))
    without = simulate(arrivals_s, policy, model, seed)
    p99_without = float(np.percentile(without.wait_ms + without.compute_ms + without.handback_ms, 99))
    latency = np.zeros(n)
    misses = ~hits
    if misses.sum() > 0:
        run = simulate(np.asarray(arrivals_s)[misses], policy, model, seed)
        latency[misses] = run.wait_ms + run.compute_ms + run.handback_ms
    p99_with = float(np.percentile(latency, 99)) if n else float("nan")
    too_few = hit_rate < MATTERS_HIT_RATE
    if too_few:
        note = (
            f"too few repeats for a cache to matter: {repeats} of {n} requests repeat an earlier key, and an "
            f"LRU of {capacity} answers {hit_rate:.1%} of them"
        )
    else:
        note = (
            f"an LRU of {capacity} predictions answers {hit_rate:.1%} of requests, so the model serves "
            f"{1 - hit_rate:.1%} of the load; p99 {p99_without:.2f} -> {p99_with:.2f} ms (simulated)"
        )
    return CacheEffect(
        capacity=int(capacity),
        hit_rate=hit_rate,
        p99_ms_with=p99_with,
        p99_ms_without=p99_without,
        model_load_fraction=1.0 - hit_rate,
        too_few_repeats=too_few,
        note=note,
    )


__all__ = ["MATTERS_HIT_RATE", "cache_effect", "lru_hits"]
