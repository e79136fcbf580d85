"""The engine runs jobs in a child process and survives whatever the child does."""

from __future__ import annotations

import signal
import time

import pytest

from core.engine import Engine, LogEvent, PartialEvent, ProgressEvent, ResultEvent
from core.errors import ErrorKind, JobFailed
from tests.core import engine_jobs


@pytest.fixture(scope="module")
def engine():
    with Engine(preload_tensorflow=False, memory_limit_mb=4096) as eng:
        yield eng


def test_job_streams_events_then_result_from_a_child(engine):
    events = list(engine.submit(engine_jobs.echo, {"a": 1}).events())
    kinds = [type(e) for e in events]
    assert kinds == [ProgressEvent, LogEvent, PartialEvent, ResultEvent]
    assert events[0].fraction == 0.5 and events[0].stage == "echo"
    result = events[-1].value
    assert result.value == {"a": 1}
    import os

    assert result.pid != os.getpid()


def test_error_in_job_names_the_file(engine):
    with pytest.raises(JobFailed) as info:
        engine.run(engine_jobs.bad_input, "/tmp/x.tflite")
    assert info.value.error.kind == ErrorKind.BAD_INPUT
    assert info.value.error.one_line() == "/tmp/x.tflite: not a model"
    assert info.value.error.exit_code == 3


def test_unexpected_exception_keeps_traceback(engine):
    with pytest.raises(JobFailed) as info:
        engine.run(engine_jobs.fail_plainly)
    assert info.value.error.kind == ErrorKind.INTERNAL
    assert "ValueError: boom" in info.value.error.message
    assert "Traceback" in info.value.error.details


@pytest.mark.parametrize("signum", [signal.SIGSEGV, signal.SIGABRT])
def test_crash_becomes_clean_error_and_next_job_gets_fresh_child(engine, signum):
    first = engine.run(engine_jobs.echo, 1)
    with pytest.raises(JobFailed) as info:
        engine.run(engine_jobs.crash, int(signum), subject="evil.tflite")
    error = info.value.error
    assert error.kind == ErrorKind.CRASHED
    assert error.path == "evil.tflite"
    assert signal.Signals(signum).name in error.message
    if signum == signal.SIGSEGV:
        assert "Fatal Python error" in error.details  # faulthandler's stack
    second = engine.run(engine_jobs.echo, 2)
    assert second.value == 2 and second.pid != first.pid


def test_cooperative_cancel_stops_within_two_seconds(engine):
    handle = engine.submit(engine_jobs.cooperative_loop, 60.0)
    engine_pid = None
    start = time.monotonic()
    events = handle.events()
    time.sleep(0.3)
    handle.cancel()
    with pytest.raises(JobFailed) as info:
        handle.result()
    assert time.monotonic() - start < 2.5
    assert info.value.error.kind == ErrorKind.CANCELLED
    del events, engine_pid
    # the child survived a cooperative cancel and takes the next job
    assert engine.run(engine_jobs.echo, 3).value == 3


def test_stubborn_job_is_killed_after_grace_period(engine):
    handle = engine.submit(engine_jobs.stubborn_loop, 60.0)
    time.sleep(0.3)
    start = time.monotonic()
    handle.cancel()
    with pytest.raises(JobFailed) as info:
        handle.result()
    assert time.monotonic() - start < 2.0
    assert info.value.error.kind == ErrorKind.CANCELLED
    assert engine.run(engine_jobs.echo, 4).value == 4


def test_memory_cap_fails_the_job_not_the_machine():
    with Engine(preload_tensorflow=False, memory_limit_mb=300) as small:
        with pytest.raises(JobFailed) as info:
            small.run(engine_jobs.allocate, 2048, subject="bomb.keras")
        assert info.value.error.kind == ErrorKind.OUT_OF_MEMORY
        assert "300 MiB cap" in info.value.error.message
        assert info.value.error.path == "bomb.keras"
        assert small.run(engine_jobs.echo, 5).value == 5


def test_inline_engine_has_the_same_interface():
    with Engine(isolated=False) as inline:
        assert inline.run(engine_jobs.echo, 6).value == 6
        with pytest.raises(JobFailed) as info:
            inline.run(engine_jobs.bad_input, "a.h5")
        assert info.value.error.kind == ErrorKind.BAD_INPUT
        handle = inline.submit(engine_jobs.cooperative_loop, 60.0)
        handle.cancel()
        with pytest.raises(JobFailed) as info:
            handle.result()
        assert info.value.error.kind == ErrorKind.CANCELLED


def test_scaled_reporter_maps_fractions_and_keeps_stage():
    from core.engine import Reporter

    seen = []
    reporter = Reporter(seen.append)
    sub = reporter.scaled(0.5, 1.0, stage="convert")
    sub(0.5, "half")
    sub(1.0, "done", stage="verify")
    sub(None, "unknown")
    assert [(e.fraction, e.stage, e.message) for e in seen] == [
        (0.75, "convert", "half"), (1.0, "verify", "done"), (None, "convert", "unknown")
    ]


def test_parent_unpickles_only_plain_data_from_the_child():
    """A child taken over by a model can't make the parent run code through the pipe."""
    import os
    import pickle
    import subprocess

    import numpy as np

    from core.engine.supervisor import loads_from_child

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    class EvilPopen:
        def __reduce__(self):
            return (subprocess.Popen, (["true"],))

    class EvilMemmap:
        def __reduce__(self):
            return (np.memmap, ("/tmp/litesmith-evil", "uint8", "w+", 0, (1,)))

    for evil in (Evil(), EvilPopen(), EvilMemmap()):
        with pytest.raises(pickle.UnpicklingError, match="not plain data"):
            loads_from_child(pickle.dumps(("event", 1, evil)))
    value = ("event", 1, ResultEvent(engine_jobs.Echo(value={"a": np.arange(3), "b": np.float32(2)}, pid=1)))
    back = loads_from_child(pickle.dumps(value, protocol=5), frozenset({"core", "tests"}))
    assert back[2].value.value["a"].tolist() == [0, 1, 2] and back[2].value.value["b"] == 2
