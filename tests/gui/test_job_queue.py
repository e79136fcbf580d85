"""The one queue of jobs asked for during the background device detection (gui.job_queue, gui.job_controller).

A fake runner stands in for `JobRunner` in the unit tests: ``busy``, ``busy_changed`` and a
``submit`` that keeps the callbacks, so each test decides by hand when a job ends. The last
test drives a real window over an in-process engine with a detection held open by an event.
"""

from __future__ import annotations

import dataclasses
import threading

from PySide6.QtCore import QObject, Signal

from core.engine import Engine
from core.models.info import InspectResult
from gui.job_queue import DeferredJobs
from gui.main_window import MainWindow
from tests.gui.test_window import KERAS_INFO


class FakeRunner(QObject):
    """One job at a time, ended by the test (`finish`), with JobRunner's order: busy_changed, then the callback."""

    busy_changed = Signal(bool)

    def __init__(self) -> None:
        super().__init__()
        self.busy = False
        self.submitted: list[str] = []
        self._on_finished = None

    def submit(self, fn, *args, on_finished=None, on_failed=None, **kwargs) -> bool:
        if self.busy:
            return False
        self.busy = True
        self.submitted.append(fn.__name__)
        self._on_finished = on_finished
        self.busy_changed.emit(True)
        return True

    def finish(self, value=None) -> None:
        callback, self._on_finished = self._on_finished, None
        self.busy = False
        self.busy_changed.emit(False)
        if callback is not None:
            callback(value)


def detect(**_kwargs):
    return None


def user_job(**_kwargs):
    return None


def test_deferred_jobs_start_in_order_once_the_background_job_ends(qtbot):
    runner = FakeRunner()
    queue = DeferredJobs(runner)
    started: list[str] = []
    assert queue.submit_background(detect, on_finished=lambda _r: started.append("detected"), on_failed=print)
    assert queue.background and runner.busy
    assert queue.when_idle("open b", lambda: started.append("open b"))
    assert queue.when_idle("run", lambda: started.append("run"))
    assert queue.when_idle("open b", lambda: started.append("open b again"))  # the same request: kept once
    assert queue.pending == ("open b", "run")
    runner.finish()
    qtbot.waitUntil(lambda: not queue.pending)
    assert started == ["detected", "open b", "run"]
    assert not queue.background and queue.next_job() is None


def test_nothing_is_queued_behind_the_users_own_job(qtbot):
    runner = FakeRunner()
    queue = DeferredJobs(runner)
    assert runner.submit(user_job)
    assert not queue.when_idle("run", lambda: None)
    assert queue.pending == ()


def test_a_deferred_job_that_starts_work_holds_the_rest_until_the_runner_is_idle(qtbot):
    runner = FakeRunner()
    chaining = {"on": False}  # a Run between its two jobs: the runner is idle, the Run is not over
    queue = DeferredJobs(runner, ready=lambda: not chaining["on"])
    started: list[str] = []
    queue.submit_background(detect, on_finished=lambda _r: None, on_failed=print)
    queue.when_idle("export", lambda: (started.append("export"), runner.submit(user_job)))
    queue.when_idle("auto", lambda: started.append("auto"))
    runner.finish()
    qtbot.waitUntil(lambda: started == ["export"])
    assert runner.busy and queue.pending == ("auto",)
    chaining["on"] = True
    runner.finish()
    qtbot.wait(20)
    assert started == ["export"]  # not between two jobs of one piece of work
    chaining["on"] = False
    runner.busy_changed.emit(False)  # the next job's end
    qtbot.waitUntil(lambda: started == ["export", "auto"])


def test_opening_models_during_the_detection_queues_them_once(qtbot, settings, tmp_path):
    gate = threading.Event()

    def slow_detect(*, progress, cancel):
        gate.wait(30)
        return None

    def fake_inspect(path, *, progress, cancel):
        return InspectResult(dataclasses.replace(KERAS_INFO, path=path))

    first, second = tmp_path / "first.keras", tmp_path / "second.keras"
    first.write_bytes(b"not read")
    second.write_bytes(b"not read")
    window = MainWindow(
        Engine(isolated=False),
        settings,
        warm_up=False,
        remember_geometry=False,
        inspect_job=fake_inspect,
        device_job=lambda: slow_detect,
    )
    qtbot.addWidget(window)
    try:
        with qtbot.waitSignal(window.model_loaded, timeout=10_000):
            assert window.load_model(first)
        qtbot.waitUntil(lambda: window._background_job, timeout=10_000)
        assert window._devices_state == "running"
        assert window.load_model(second) and window.load_model(second)
        assert window.jobs.queue.pending == (("load", str(second)),) and window._pending is not None
        assert window.job_status.label.text() == "Opening second.keras next…"
        with qtbot.waitSignal(window.model_loaded, timeout=10_000) as blocker:
            gate.set()
        assert blocker.args[0].path == str(second)
        assert window._devices_state == "done" and window._pending is None
    finally:
        gate.set()
        window.shutdown()
