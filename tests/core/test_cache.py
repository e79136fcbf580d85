"""The result cache: keys that change with their inputs, atomic writes, a size cap, clear."""

from __future__ import annotations

from dataclasses import dataclass

from core.cache import ResultCache, cache_key


@dataclass(frozen=True)
class Value:
    name: str
    blob: bytes


def test_key_changes_with_every_part():
    base = cache_key("variant", model="a" * 64, recipe={"mode": "int8"}, data="d1")
    assert base == cache_key("variant", model="a" * 64, recipe={"mode": "int8"}, data="d1")
    assert base != cache_key("variant", model="b" * 64, recipe={"mode": "int8"}, data="d1")
    assert base != cache_key("variant", model="a" * 64, recipe={"mode": "float16"}, data="d1")
    assert base != cache_key("variant", model="a" * 64, recipe={"mode": "int8"}, data="d2")
    assert base != cache_key("bench", model="a" * 64, recipe={"mode": "int8"}, data="d1")


def test_key_changes_with_library_versions(monkeypatch):
    import core.cache as cache

    before = cache_key("variant", model="x")
    monkeypatch.setattr(cache, "library_versions", lambda: {"tensorflow": "9.9"})
    assert cache_key("variant", model="x") != before


def test_key_changes_with_the_producer_revision(monkeypatch):
    # Entries made by older Litesmith code (same package version) are missed, not served.
    import core.cache as cache

    before = cache_key("variant", model="x")
    monkeypatch.setattr(cache, "PRODUCER_REVISION", cache.PRODUCER_REVISION + 1)
    assert cache_key("variant", model="x") != before


def test_round_trip_and_miss(tmp_path):
    store = ResultCache(tmp_path)
    assert store.get("nope") is None
    store.put("k", Value("v", b"\x00" * 10))
    assert store.get("k") == Value("v", b"\x00" * 10)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_corrupt_entry_is_a_miss_and_is_removed(tmp_path):
    store = ResultCache(tmp_path)
    (tmp_path / "bad.pkl").write_bytes(b"not a pickle")
    assert store.get("bad") is None
    assert not (tmp_path / "bad.pkl").exists()


def test_size_cap_evicts_least_recently_used(tmp_path):
    import os
    import time

    store = ResultCache(tmp_path, max_bytes=2500)
    store.put("old", Value("old", b"x" * 1000))
    store.put("new", Value("new", b"y" * 1000))
    past = time.time() - 100
    os.utime(tmp_path / "old.pkl", (past, past))
    store.put("newest", Value("newest", b"z" * 1000))
    assert store.get("old") is None
    assert store.get("new") is not None and store.get("newest") is not None
    assert store.stats().total_bytes <= 2500


def test_clear_empties_the_cache(tmp_path):
    store = ResultCache(tmp_path)
    store.put("a", 1)
    store.put("b", 2)
    assert store.stats().entries == 2
    assert store.clear() == 2
    assert store.stats().entries == 0 and store.get("a") is None


class _RunsCode:
    """A pickle that would call a function when loaded (what a compromised engine child could write)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.mkdir, (self.marker,))


def test_an_entry_that_would_run_code_is_a_miss_and_runs_nothing(tmp_path):
    import pickle

    cache = ResultCache(tmp_path / "cache")
    marker = tmp_path / "ran"
    key = cache_key("variant", model="x")
    cache.folder.mkdir(parents=True, exist_ok=True)
    (cache.folder / f"{key}.pkl").write_bytes(pickle.dumps(_RunsCode(str(marker))))
    assert cache.get(key) is None
    assert not marker.exists()
