"""The engine runs jobs in a child process and survives whatever the child does."""

from __future__ import annotations

import os
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
        (0.75, "convert", "half"),
        (1.0, "verify", "done"),
        (None, "convert", "unknown"),
    ]


def test_parent_unpickles_only_plain_data_from_the_child():
    """A child taken over by a model can't make the parent run code through the pipe."""
    import os
    import pickle
    import subprocess

    import numpy as np

    from core.engine.unpickle import loads_from_child

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


# -- stopping (issue 16; the real-signal, real-CLI cases are in test_stopping.py) ----------


def last_error(events):
    """Read a job's events to the end; its terminal event must be an error: return it."""
    from core.engine import ErrorEvent

    last = None
    for last in events:
        pass
    assert isinstance(last, ErrorEvent), last
    return last.error


def test_request_cancel_from_a_signal_handler_is_applied_by_the_reader(engine):
    """`request_cancel` only sets a flag (safe in a signal handler); the event loop sends the cancel."""
    from tests.core import stopping_jobs

    handle = engine.submit(stopping_jobs.tick, 60.0)
    events = handle.events()
    next(events)
    started = time.monotonic()
    handle.request_cancel()
    assert handle.cancel_requested
    error = last_error(events)
    assert error.kind == ErrorKind.CANCELLED
    assert time.monotonic() - started < 1.0  # cooperative: well before the grace period
    assert engine.run(engine_jobs.echo, 7).value == 7


def test_a_job_that_reports_all_the_time_is_still_killed_after_the_grace_period(engine):
    """The grace period, load limit and memory cap are checked between events too, not only in silence."""
    from tests.core import stopping_jobs

    handle = engine.submit(stopping_jobs.busy, 60.0)  # ignores cancel, reports every 50 ms
    events = handle.events()
    next(events)
    pid = engine.child_pid
    started = time.monotonic()
    handle.cancel()
    error = last_error(events)
    took = time.monotonic() - started
    assert error.kind == ErrorKind.CANCELLED
    assert engine.cancel_grace_seconds <= took < engine.cancel_grace_seconds + 1.0
    assert engine.child_pid != pid


def test_a_child_stopped_by_sigterm_from_outside_is_a_cancel_not_a_crash(engine):
    """`timeout` and systemd signal the whole group: the child's SIGTERM is not the model's fault."""
    from tests.core import stopping_jobs

    handle = engine.submit(stopping_jobs.busy, 60.0)
    events = handle.events()
    next(events)
    os.kill(engine.child_pid, signal.SIGTERM)
    error = last_error(events)
    assert error.kind == ErrorKind.CANCELLED
    assert "SIGTERM" in error.message and "from outside" in error.message


def test_the_child_ignores_a_hangup_of_the_terminal(engine):
    """A closed terminal sends SIGHUP to the whole group: the parent decides (a cancel), the child waits."""
    pid = engine.run(engine_jobs.echo, 8).pid
    os.kill(pid, signal.SIGHUP)
    time.sleep(0.3)
    assert engine.run(engine_jobs.echo, 9).pid == pid


def test_close_during_a_job_kills_the_child_promptly():
    from tests.core import stopping_jobs

    eng = Engine(preload_tensorflow=False, memory_limit_mb=2048)
    handle = eng.submit(stopping_jobs.busy, 60.0)
    events = handle.events()
    next(events)
    process = eng._process
    started = time.monotonic()
    eng.close()
    assert time.monotonic() - started < 2.5
    assert not process.is_alive()
    eng.warm_up()  # a warm-up that comes too late starts nothing
    assert eng.child_pid is None
    del events
