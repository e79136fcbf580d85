"""The open-loop generator measures its own lateness; the real load test accounts for every request
and stops promptly on cancel; a trace with a bad line is refused naming the file and the line."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from core.engine.context import CancelToken
from core.errors import BadInputError, Cancelled
from core.serving.api import BatchPolicy
from core.serving.generator import Schedule, kept_up, poisson_schedule, read_trace, run_generator
from core.serving.loadtest import run_load_test
from core.serving.service_times import ModelWorker
from tests.serving_models import dense_tflite, expected


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_generator_reports_lateness_when_it_falls_behind():
    # Due every 1 ms (1000/s), but each submit takes 2 ms of the fake clock: request i is issued
    # at 2i ms, i.e. i ms late, and the generator achieves 500/s.
    clock = FakeClock()
    schedule = Schedule(np.arange(50) / 1000.0)
    stats = run_generator(schedule, lambda i: clock.sleep(0.002), clock=clock, sleep=clock.sleep)
    assert stats.late_ms == pytest.approx(np.arange(50, dtype=float))
    assert stats.achieved_rps == pytest.approx(500.0)
    assert not kept_up(stats, 1000.0, 5.0)


def test_generator_on_time_keeps_up():
    clock = FakeClock()
    schedule = Schedule(np.arange(50) / 1000.0)
    stats = run_generator(schedule, lambda i: None, clock=clock, sleep=clock.sleep)
    assert np.all(stats.late_ms == 0) and stats.achieved_rps == pytest.approx(1000.0)
    assert kept_up(stats, 1000.0, 5.0)


def test_trace_reading(tmp_path):
    good = tmp_path / "t.csv"
    good.write_text("timestamp,key\n10.0,a\n10.5,b\n11.0,a\n")
    s = read_trace(str(good))
    assert s.times.tolist() == [0.0, 0.5, 1.0] and s.keys == ("a", "b", "a") and s.rate == pytest.approx(2.0)
    assert s.scaled_to(4.0).times.tolist() == pytest.approx([0.0, 0.25, 0.5])
    bad = tmp_path / "bad.csv"
    bad.write_text("1.0\n2.0\nsoon\n")
    with pytest.raises(BadInputError) as info:
        read_trace(str(bad))
    assert "line 3" in info.value.message and info.value.path == str(bad)
    backwards = tmp_path / "back.csv"
    backwards.write_text("1.0\n0.5\n")
    with pytest.raises(BadInputError, match="line 2"):
        read_trace(str(backwards))


class SlowWorker:
    """A stand-in worker whose batch takes 1 ms (sleeping, as LiteRT releases the GIL)."""

    size = 10

    def compute(self, indices):
        time.sleep(0.001)
        return [None] * len(indices)


def _serving_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("serving-")]


def test_cancel_mid_run_stops_and_leaves_no_threads():
    cancel = CancelToken()
    schedule = poisson_schedule(200.0, 60.0)  # a minute of requests: only cancel ends it early
    threading.Timer(0.3, cancel.cancel).start()
    with pytest.raises(Cancelled):
        run_load_test(
            [SlowWorker(), SlowWorker()],
            BatchPolicy(4, 1.0, 2),
            schedule,
            variant="v",
            offered_rps=200.0,
            p99_budget_ms=5.0,
            cancel=cancel,
        )
    assert _serving_threads() == []


def test_every_request_is_served_and_its_parts_add_up():
    worker = ModelWorker(dense_tflite())
    schedule = poisson_schedule(300.0, 0.3, seed=4)
    point, rec = run_load_test(
        [worker],
        BatchPolicy(4, 1.0, 1),
        schedule,
        variant="v",
        offered_rps=300.0,
        p99_budget_ms=50.0,
        cancel=CancelToken(),
    )
    n = len(schedule.times)
    assert point.requests == n == len(rec.arrival) and point.dropped == 0 and not point.simulated
    assert sum(rec.batch_sizes) == n and max(rec.batch_sizes) <= 4
    # Each request's life in order: arrival <= batch close <= compute start <= compute end <= received.
    assert np.all(rec.arrival <= rec.closed) and np.all(rec.closed <= rec.start)
    assert np.all(rec.start <= rec.done) and np.all(rec.done <= rec.received)
    total = (rec.received - rec.arrival) * 1000
    assert point.latency.total.max == pytest.approx(total.max())
    assert _serving_threads() == []


def test_worker_outputs_match_the_model():
    worker = ModelWorker(dense_tflite())
    outs = worker.compute([3, 1, 2])
    got = np.stack([o["y"] for o in outs])
    assert got == pytest.approx(expected(worker.samples["x"][[3, 1, 2]]), rel=1e-5)


def test_cancel_stops_the_whole_study(tmp_path):
    from core.engine.context import null_reporter
    from core.serving.api import study_serving
    from tests.serving_models import write_dense_tflite

    model = write_dense_tflite(tmp_path)
    cancel = CancelToken()
    threading.Timer(0.5, cancel.cancel).start()
    with pytest.raises(Cancelled):
        study_serving([("dense", str(model))], p99_ms=5.0, seconds=30.0, progress=null_reporter(), cancel=cancel)
    assert _serving_threads() == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dense.tflite"]  # nothing written


def test_a_model_that_cannot_batch_is_measured_at_batch_1_with_the_reason():
    from core.serving.service_times import measure_service_times

    fixed = measure_service_times(ModelWorker(dense_tflite(free_batch=False)), [1, 8], samples=5)
    assert list(fixed.samples_ms) == [1] and "fixed at 1" in fixed.batch_note
    free = measure_service_times(ModelWorker(dense_tflite()), [1, 8], samples=5)
    assert sorted(free.samples_ms) == [1, 8] and free.batch_note == ""
    assert all(len(v) == 5 for v in free.samples_ms.values())


def test_requests_carry_the_datas_real_samples(tmp_path):
    x = np.arange(40, dtype=np.float32).reshape(10, 4)
    data = tmp_path / "eval.npz"
    np.savez(data, x=x, y=np.zeros(10))
    worker = ModelWorker(dense_tflite(), samples_path=str(data))
    assert worker.size == 10 and np.array_equal(worker.samples["x"], x)
    outs = worker.compute([12])  # request 12 carries sample 12 mod 10
    assert outs[0]["y"] == pytest.approx(expected(x[2:3])[0], rel=1e-5)


def test_a_short_trace_is_replayed_to_fill_the_run():
    trace = Schedule(np.array([0.0, 1.0, 3.0]), ("a", "b", "c"))  # mean gap 1.5 s: copies 4.5 s apart
    tiled = trace.tiled(count=7)
    assert tiled.times.tolist() == [0.0, 1.0, 3.0, 4.5, 5.5, 7.5, 9.0]
    assert tiled.keys == ("a", "b", "c", "a", "b", "c", "a")
    assert trace.tiled(seconds=5.0).times.tolist() == [0.0, 1.0, 3.0, 4.5]
