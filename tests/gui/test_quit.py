"""Quitting the app during a job (issue 16): the job is cancelled, the child does not outlive the app.

Real engine child processes (no TensorFlow: the jobs are plain Python), real signals.
The measured times are printed (``pytest -s`` or ``-rP`` shows them).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from core.engine import Engine
from core.errors import ErrorKind
from gui.crash import CrashReporter
from gui.main_window import MainWindow
from tests.core import stopping_jobs

REPO = Path(__file__).resolve().parents[2]
GRACE_S = 1.0


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def window(qtbot, settings):
    engine = Engine(preload_tensorflow=False, memory_limit_mb=2048, cancel_grace_seconds=GRACE_S)
    win = MainWindow(engine, settings, warm_up=False, device_job=None)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.shutdown()  # a job a test left running is stopped (a close alone would ask first)
    win.close()
    engine.close()


def start_job(qtbot, win: MainWindow, job) -> int:
    with qtbot.waitSignal(win.runner.progress, timeout=60_000):
        assert win.runner.submit(job, 600.0, subject="model.keras")
    pid = win.engine.child_pid
    assert pid is not None and not gone(pid)
    return pid


@pytest.mark.parametrize("how", ["close", "ctrl+q"])
@pytest.mark.parametrize("job", ["cooperative", "stubborn"])
def test_quitting_during_a_job_cancels_it_and_stops_the_child(qtbot, window, how, job):
    """A job that checks its cancel token stops at once; one that does not is killed after the grace period."""
    fn = stopping_jobs.tick if job == "cooperative" else stopping_jobs.busy
    child = start_job(qtbot, window, fn)
    failed = []
    window.runner.failed.connect(failed.append)
    if how == "close":
        window.close()
    else:
        window.quit_action.trigger()
    # It asks first: the window and the job carry on until the answer.
    box = window.close_dialog
    assert box is not None and box.isVisible() and "A job is running" in box.text()
    assert window.isVisible() and window.runner.busy and not gone(child)
    started = time.monotonic()
    box.stop_button.click()
    took = time.monotonic() - started
    print(f"\nGUI {how} during a {job} job -> window closed and child gone in {took:.2f} s")
    assert gone(child)  # close() returns once the job has ended and the engine is closed
    assert not window.runner.busy and window.engine.child_pid is None
    assert took < GRACE_S + 2.0
    assert not window.isVisible()


def test_keep_running_keeps_the_window_and_the_job(qtbot, window):
    child = start_job(qtbot, window, stopping_jobs.tick)
    window.close()
    box = window.close_dialog
    assert box.defaultButton() is box.keep_button
    box.keep_button.click()
    assert window.close_dialog is None and window.isVisible()
    assert window.runner.busy and not gone(child)
    window.close()  # asks again
    assert window.close_dialog is not None and window.isVisible()
    window.close_dialog.stop_button.click()
    assert gone(child) and not window.isVisible()


def test_closing_with_no_job_running_asks_nothing(qtbot, window):
    window.close()
    assert window.close_dialog is None and not window.isVisible()


def test_the_end_of_the_desktop_session_cancels_the_job_and_waits(qtbot, window):
    from gui.app import stop_job_for_session_end

    child = start_job(qtbot, window, stopping_jobs.busy)
    started = time.monotonic()
    assert stop_job_for_session_end(window)
    took = time.monotonic() - started
    print(f"\nsession end during a job -> job stopped, child gone in {took:.2f} s")
    assert gone(child) and took < GRACE_S + 2.0
    qtbot.waitUntil(lambda: not window.runner.busy)
    assert not stop_job_for_session_end(window)  # nothing left to stop; the window stays usable
    assert start_job(qtbot, window, stopping_jobs.tick) != child


def test_an_unexpected_exception_stops_the_running_job(qtbot, window):
    child = start_job(qtbot, window, stopping_jobs.busy)  # ignores cancel: killed after the grace period
    reporter = CrashReporter()
    reporter.stop_hooks.append(window.runner.cancel)
    started = time.monotonic()
    with qtbot.waitSignal(window.runner.failed, timeout=15_000) as blocker:
        try:
            raise RuntimeError("a bug in a slot")
        except RuntimeError:
            reporter.excepthook(*sys.exc_info())
    took = time.monotonic() - started
    print(f"\nunexpected exception during a job -> job stopped, child gone in {took:.2f} s")
    assert blocker.args[0].kind == ErrorKind.CANCELLED
    assert gone(child)
    qtbot.waitUntil(lambda: reporter.dialog is not None and reporter.dialog.isVisible())
    assert "the running job was stopped" in reporter.dialog.text()
    reporter.dialog.accept()
    qtbot.waitUntil(lambda: reporter.dialog is None)
    # The app carries on: the next job gets a fresh child.
    second = start_job(qtbot, window, stopping_jobs.tick)
    assert second != child
    reporter.stop_hooks.clear()


def test_an_exception_with_no_job_running_stops_nothing(qtbot):
    reporter = CrashReporter()
    reporter.stop_hooks.append(lambda: False)
    try:
        raise ValueError("idle")
    except ValueError:
        reporter.excepthook(*sys.exc_info())
    qtbot.waitUntil(lambda: reporter.dialog is not None and reporter.dialog.isVisible())
    assert "stopped" not in reporter.dialog.text()
    reporter.dialog.accept()
    qtbot.waitUntil(lambda: reporter.dialog is None)


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
@pytest.mark.parametrize("signame, expected", [("SIGTERM", 143), ("SIGHUP", 129), ("SIGINT", 130)])
def test_a_stop_signal_quits_the_app_cancelling_its_job(tmp_path, signame, expected):
    """The real `launch()`: a job that ignores cancel is killed after the grace period; exit 128 + N."""
    env = dict(os.environ, PYTHONPATH=str(REPO), QT_QPA_PLATFORM="offscreen", TMPDIR=str(tmp_path))
    for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
        env[name] = str(tmp_path / name.lower())
    app = subprocess.Popen(
        [sys.executable, "-m", "tests.gui.quit_driver"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = app.stdout.readline()
        assert line.startswith("child "), (line, app.stderr.read() if app.poll() is not None else "")
        child = int(line.split()[1])
        assert not gone(child)
        sent = time.monotonic()
        app.send_signal(getattr(signal, signame))
        code = app.wait(30)
        took = time.monotonic() - sent
        stderr = app.stderr.read()
    finally:
        if app.poll() is None:
            app.kill()
            app.wait(10)
    print(f"\nGUI {signame} during a job -> exit {code} in {took:.2f} s")
    assert code == expected, stderr[-3000:]
    assert gone(child)
    assert "Traceback" not in stderr, stderr[-3000:]
    assert took < GRACE_S + 3.0
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("litesmith-engine-")] == []
