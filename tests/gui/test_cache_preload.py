"""A Run whose variants and measurements are all cached is answered without the engine's child (core.cache_index).

Asserted on the engine: no job reaches the child during the rerun, and the hashing
happens in a worker thread, never in the GUI thread.
"""

from __future__ import annotations

import threading

from core.engine import Engine
from tests.gui.helpers import load, run_recipe, tiny_settings


def test_a_fully_cached_run_sends_nothing_to_the_child_and_hashes_off_the_gui_thread(
    qtbot, real_window, samples_dir, monkeypatch
):
    from core.benchmark.measure_cache import CACHE_NOTE as MEASURE_NOTE
    import core.models.hashing as hashing
    import core.optimize.pipeline as pipeline

    window = real_window
    load(qtbot, window, samples_dir / "fraud.keras")
    settings = tiny_settings(
        modes=("dynamic",), runs=7, layer_errors=False, data_path=str(samples_dir / "fraud_eval.npz")
    )
    first = run_recipe(qtbot, window, settings)  # fills the cache (or finds it filled by an earlier test)
    assert first.benchmark is not None

    jobs: list[str] = []
    hashed_on: set[str] = set()
    real_send, real_hash = Engine._send, hashing.sha256_path

    def send(engine, message):
        if message[0] == "job":
            jobs.append(message[2])
        return real_send(engine, message)

    def spy_hash(path, **kwargs):
        hashed_on.add(threading.current_thread().name)
        return real_hash(path, **kwargs)

    monkeypatch.setattr(Engine, "_send", send)
    monkeypatch.setattr(hashing, "sha256_path", spy_hash)
    monkeypatch.setattr(pipeline, "sha256_path", spy_hash)
    again = run_recipe(qtbot, window, settings)
    assert jobs == []
    assert hashed_on and threading.main_thread().name not in hashed_on
    assert again.cached_variants == ["fp32", "dynamic"]
    assert MEASURE_NOTE in again.benchmark.notes
    assert [c.label for c in again.benchmark.configs] == [c.label for c in first.benchmark.configs]
    qtbot.waitUntil(lambda: window.results_panel.complete)
    assert [r.name for r in window.results_panel.rows] == ["original", "fp32", "dynamic"]


def test_run_and_auto_look_the_cache_up_in_the_parent_before_the_child():
    """The window's default jobs are the parent-side lookups of core.cache_index (a miss goes on to the child)."""
    from core.auto.search import auto_optimize
    from core.engine.context import runs_in_parent_side
    from gui.auto import default_auto_job
    from gui.workflow import default_jobs

    jobs = [*default_jobs(), default_auto_job()]
    assert all(runs_in_parent_side(job) for job in jobs)
    assert not runs_in_parent_side(auto_optimize)  # what a miss runs, in the child
