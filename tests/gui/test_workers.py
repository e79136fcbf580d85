"""JobWorker / JobRunner: engine events become Qt signals; one job at a time; cancel; clean threads."""

from __future__ import annotations

import pytest

from core.engine import Engine
from core.errors import ErrorKind
from gui.workers import JobRunner, JobWorker
from tests.gui import gui_jobs


@pytest.fixture(scope="module")
def engine():
    """A real child-process engine without TensorFlow: these jobs are plain Python."""
    with Engine(preload_tensorflow=False, memory_limit_mb=2048, cancel_grace_seconds=1.0) as eng:
        yield eng


@pytest.fixture
def runner(qtbot, engine):
    runner = JobRunner(engine)
    yield runner
    assert runner.shutdown(timeout_s=15)
    assert not runner.busy


def test_events_arrive_as_signals_then_result(qtbot, runner):
    progress, logs, partials = [], [], []
    runner.progress.connect(lambda f, stage, msg: progress.append((f, stage, msg)))
    runner.log.connect(lambda level, msg: logs.append((level, msg)))
    runner.partial.connect(lambda kind, payload: partials.append((kind, payload)))
    busy = []
    runner.busy_changed.connect(busy.append)
    with qtbot.waitSignal(runner.finished, timeout=30_000) as blocker:
        assert runner.submit(gui_jobs.echo, {"a": 1})
        assert runner.busy
    result = blocker.args[0]
    assert result.value == {"a": 1}
    assert progress == [(0.5, "echo", "halfway")]
    assert logs == [("warning", "echoing")]
    assert partials == [("value", {"a": 1})]
    assert busy == [True, False]
    assert not runner.busy


def test_second_job_is_refused_and_cancel_stops_the_first(qtbot, runner):
    finished = []
    with qtbot.waitSignal(runner.progress, timeout=30_000):
        assert runner.submit(gui_jobs.slow_loop, 60.0, subject="slow.job", on_finished=finished.append)
    assert not runner.submit(gui_jobs.echo, 1)  # one job at a time
    with qtbot.waitSignal(runner.failed, timeout=10_000) as blocker:
        runner.cancel()
    error = blocker.args[0]
    assert error.kind == ErrorKind.CANCELLED
    assert error.path == "slow.job"
    assert finished == []
    assert not runner.busy
    # The runner and the engine are usable again.
    with qtbot.waitSignal(runner.finished, timeout=30_000) as blocker:
        assert runner.submit(gui_jobs.echo, 2)
    assert blocker.args[0].value == 2


def test_callbacks_run_when_idle_so_they_can_chain_jobs(qtbot, runner):
    results = []

    def first_done(result):
        results.append(result.value)
        assert runner.submit(gui_jobs.echo, "second", on_finished=lambda r: results.append(r.value))

    assert runner.submit(gui_jobs.echo, "first", on_finished=first_done)
    qtbot.waitUntil(lambda: results == ["first", "second"] and not runner.busy, timeout=30_000)


def test_shutdown_cancels_the_running_job_and_refuses_new_ones(qtbot, engine):
    runner = JobRunner(engine)
    with qtbot.waitSignal(runner.progress, timeout=30_000):
        runner.submit(gui_jobs.slow_loop, 60.0)
    assert runner.shutdown(timeout_s=15)
    assert not runner.busy
    assert not runner.submit(gui_jobs.echo, 1)


def test_worker_cancelled_before_it_starts_never_submits(qtbot):
    engine = Engine(isolated=False)
    worker = JobWorker(engine, gui_jobs.echo, (1,), subject="m.keras")
    worker.cancel()
    with qtbot.waitSignal(worker.failed) as blocker:
        worker.run()  # in this thread: the worker itself does not care which thread runs it
    assert blocker.args[0].kind == ErrorKind.CANCELLED
    assert worker.outcome[0] == "failed"


def test_worker_turns_an_exception_into_failed(qtbot):
    engine = Engine(isolated=False)
    engine.close()  # submit now raises RuntimeError
    worker = JobWorker(engine, gui_jobs.echo, (1,), subject="m.keras")
    with qtbot.waitSignal(worker.failed) as blocker:
        worker.run()
    error = blocker.args[0]
    assert error.kind == ErrorKind.INTERNAL
    assert "engine is closed" in error.message
    assert "Traceback" in error.details


def test_then_runs_in_the_worker_thread_and_its_value_is_the_result(qtbot, runner):
    """`submit(then=...)`: file look-ups the sandboxed child may not do, kept off the GUI thread."""
    import threading

    got = []
    with qtbot.waitSignal(runner.finished, timeout=30_000) as blocker:
        assert runner.submit(
            gui_jobs.echo,
            7,
            on_finished=got.append,
            then=lambda result: (result.value, threading.current_thread().name),
        )
    qtbot.waitUntil(lambda: bool(got))
    assert blocker.args[0] == got[0]
    value, thread = got[0]
    assert value == 7 and thread != threading.main_thread().name
