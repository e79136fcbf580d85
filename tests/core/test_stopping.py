"""Stopping cleanly (issue 16): every way a run ends, on real processes with real signals.

* SIGTERM, SIGHUP and SIGINT during a real `litesmith optimize` conversion: cancel,
  exit 128 + N (143, 129, 130), one line and no traceback, no output file, child gone;
* SIGKILL of the parent (a small driver process, and the real CLI): the engine's child
  is gone within 2 s; also when the thread that started the child ended long before,
  and through the portable liveness check alone (what macOS and Windows rely on);
* disk full: a real 200 KiB tmpfs as --out where this machine lets the test mount one
  (root on Linux), else skipped; plus ENOSPC injected at the write call in-process
  (export_variant's model and report, the result cache), which runs everywhere; and a
  real read-only tmpfs (EROFS), or a read-only folder (EACCES) when not root.

The measured times are printed (``pytest -s`` or ``-rP`` shows them).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pty
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from core.engine import CancelToken, Engine, null_reporter
from core.errors import ErrorKind, ExitCode, JobFailed, OutputError
from tests.core import stopping_jobs

REPO = Path(__file__).resolve().parents[2]
CHILD_GONE_WITHIN_S = 2.0
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics")


def gone(pid: int) -> bool:
    """The process no longer runs (a zombie waiting for a reaper counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(pids: list[int], limit_s: float) -> float | None:
    """Seconds until every pid is gone, or None if one is still running after `limit_s`."""
    start = time.monotonic()
    while time.monotonic() - start < limit_s:
        if all(gone(p) for p in pids):
            return time.monotonic() - start
        time.sleep(0.01)
    return None


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def child_environment(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), TMPDIR=str(tmp_path))
    env.pop("LITESMITH_DEBUG", None)
    return env


# -- the child and its parent --------------------------------------------------------


@linux_only
def test_the_sandboxed_child_keeps_its_parent_death_signal():
    """PDEATHSIG survives the user+network namespace, seccomp and Landlock; getppid() is the real parent."""
    with Engine(preload_tensorflow=False, memory_limit_mb=2048) as engine:
        facts = engine.run(stopping_jobs.facts)
    assert facts.death_signal == signal.SIGKILL
    assert facts.ppid == os.getpid()
    assert facts.sandboxed


def _start_driver(mode: str, tmp_path: Path) -> tuple[subprocess.Popen, int, str]:
    driver = subprocess.Popen(
        [sys.executable, "-m", "tests.core.stopping_jobs", mode],
        cwd=REPO,
        env=child_environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = driver.stdout.readline()
    if not line.startswith("child "):
        driver.kill()
        pytest.fail(f"the driver did not start its engine: {line!r} {driver.stderr.read()[-2000:]}")
    pid = line.split()[1]
    assert pid.isdigit(), line
    return driver, int(pid), line


@linux_only
@pytest.mark.parametrize("mode", ["main", "thread"])
def test_sigkill_of_the_parent_takes_the_child_within_two_seconds(tmp_path, mode):
    """`thread`: the child was started for a thread that ended (as in the GUI), and still dies with the process."""
    driver, child, line = _start_driver(mode, tmp_path)
    try:
        if mode == "thread":
            assert "alive-after-thread=True" in line  # not killed with the submitting thread
        assert not gone(child)
        scratch = [p for p in tmp_path.iterdir() if p.name.startswith("litesmith-engine-")]
        assert len(scratch) == 1
        driver.send_signal(signal.SIGKILL)
        took = wait_gone([child], 10)
        print(f"\nSIGKILL of the parent ({mode}) -> child gone in {took if took is None else round(took, 3)} s")
        assert took is not None and took < CHILD_GONE_WITHIN_S
        driver.wait(10)
    finally:
        kill_all([driver.pid, child])
    # Nobody cleaned up after the killed parent: its scratch folder is recognisably stale now,
    # and the next engine removes it.
    from core.engine.lifeline import stale_scratch_folders
    from core.engine.supervisor import _remove_tree

    assert stale_scratch_folders(tmp_path) == scratch
    for folder in scratch:
        _remove_tree(folder)
    assert not scratch[0].exists()


def test_a_living_engine_scratch_folder_is_never_taken_for_stale(tmp_path, monkeypatch):
    from core.engine import supervisor
    from core.engine.lifeline import stale_scratch_folders

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    with Engine(preload_tensorflow=False, memory_limit_mb=2048) as engine:
        engine.warm_up()
        assert engine.scratch_folder is not None and engine.scratch_folder.parent == tmp_path
        assert stale_scratch_folders(tmp_path) == []  # its owner holds the lock
        monkeypatch.setattr(supervisor, "_swept", False)
        assert supervisor.sweep_stale_scratch() == 0
        assert engine.scratch_folder.is_dir()
    assert list(tmp_path.iterdir()) == []


@linux_only
def test_the_liveness_check_alone_ends_an_orphan(tmp_path):
    """No PDEATHSIG (macOS, Windows): the parent's sentinel and pid check end the child within 2 s."""
    script = (
        "import multiprocessing, os, sys, time\n"
        "from tests.core.stopping_jobs import watched_sleeper\n"
        "if __name__ == '__main__':\n"
        "    p = multiprocessing.get_context('spawn').Process(target=watched_sleeper, args=(os.getpid(),))\n"
        "    p.start()\n"
        "    time.sleep(1.5)\n"
        "    print('child', p.pid, flush=True)\n"
        "    time.sleep(600)\n"
    )
    driver = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, env=child_environment(tmp_path), stdout=subprocess.PIPE, text=True
    )
    child = int(driver.stdout.readline().split()[1])
    try:
        assert not gone(child)
        driver.send_signal(signal.SIGKILL)
        took = wait_gone([child], 10)
        print(f"\nliveness check alone -> orphan gone in {took if took is None else round(took, 3)} s")
        assert took is not None and took < CHILD_GONE_WITHIN_S
    finally:
        kill_all([driver.pid, child])
        driver.wait(10)


# -- the real command line -------------------------------------------------------------


@pytest.fixture(scope="module")
def cnn(tmp_path_factory) -> Path:
    """A small CNN (six 3x3 convolutions, 64x64x3): a few seconds to convert, ~190 KiB as fp32."""
    from core.tf_runtime import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(0)
    layers = [keras.Input((64, 64, 3), name="image")]
    layers += [keras.layers.Conv2D(32, 3, padding="same", activation="relu", name=f"conv{i}") for i in range(6)]
    layers += [
        keras.layers.GlobalAveragePooling2D(name="pool"),
        keras.layers.Dense(10, activation="softmax", name="probs"),
    ]
    path = tmp_path_factory.mktemp("cnn") / "cnn.keras"
    keras.Sequential(layers, name="cnn").save(path)
    return path


class CliRun:
    """`litesmith optimize` with stderr on a pseudo-terminal (so it draws its progress line, which the
    test watches to send its signal mid-conversion) and stdout on a pipe."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        master, slave = pty.openpty()
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gui.entry", *args],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=slave,
        )
        os.close(slave)
        self._master = master
        self._err = bytearray()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self._master], [], [], 0.05)
                if ready:
                    data = os.read(self._master, 65536)
                    if not data:
                        return
                    with self._lock:
                        self._err += data
            except OSError:  # EIO: every writer has closed the terminal
                return

    @property
    def stderr(self) -> str:
        with self._lock:
            return self._err.decode(errors="replace")

    def wait_for(self, text: str, timeout_s: float) -> None:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if text in self.stderr:
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        pytest.fail(f"never saw {text!r} on stderr (exit {self.process.poll()}): {self.stderr[-3000:]}")

    def descendants(self) -> list[int]:
        try:
            return [p.pid for p in psutil.Process(self.process.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def engine_children(self) -> list[int]:
        pids = []
        for pid in self.descendants():
            try:
                if "multiprocessing" in " ".join(psutil.Process(pid).cmdline()) and "resource_tracker" not in " ".join(
                    psutil.Process(pid).cmdline()
                ):
                    pids.append(pid)
            except psutil.NoSuchProcess:
                pass
        return pids

    def finish(self, timeout_s: float = 60) -> int:
        code = self.process.wait(timeout_s)
        self._reader.join(5)
        os.close(self._master)
        return code


def lines_of(stderr: str) -> list[str]:
    """stderr as lines, with the progress line's carriage-return redraws removed."""
    out = []
    for raw in stderr.replace("\r\n", "\n").split("\n"):
        text = raw.split("\r")[-1].strip()
        if text:
            out.append(text)
    return out


def optimize_args(model: Path, out: Path) -> list[str]:
    return ["optimize", str(model), "-q", "fp32,int8", "--out", f"{out}{os.sep}", "--no-cache"]


@linux_only
@pytest.mark.slow
@pytest.mark.parametrize("signame, expected", [("SIGTERM", 143), ("SIGHUP", 129), ("SIGINT", 130)])
def test_a_stop_signal_during_conversion_cancels(cnn, tmp_path, signame, expected):
    out = tmp_path / "out"
    out.mkdir()
    run = CliRun(optimize_args(cnn, out), child_environment(tmp_path))
    try:
        run.wait_for("baseline", 180)  # "fp32 baseline conversion" is running
        time.sleep(0.3)
        children = run.descendants()
        assert run.engine_children(), "the engine's child is running"
        sent = time.monotonic()
        run.process.send_signal(getattr(signal, signame))
        code = run.finish(60)
        took = time.monotonic() - sent
        child_took = wait_gone(children, 5)
    finally:
        kill_all([run.process.pid, *run.descendants()])
    err = run.stderr
    print(
        f"\n{signame} during conversion -> exit {code} in {took:.2f} s; children gone "
        f"{'at once' if child_took == 0 else f'{child_took:.2f} s after exit' if child_took is not None else 'NOT'}"
    )
    assert code == expected, err[-3000:]
    assert "Traceback" not in err and "Exception ignored" not in err, err[-3000:]
    errors = [line for line in lines_of(err) if line.startswith("error:")]
    assert len(errors) == 1, lines_of(err)
    assert str(cnn) in errors[0] and ("cancelled" in errors[0])
    assert took < 10
    assert child_took is not None
    assert sorted(os.listdir(out)) == []  # no export, no partial file
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("litesmith-")] == []  # scratch removed


@linux_only
@pytest.mark.slow
def test_sigkill_of_the_cli_takes_its_child_within_two_seconds(cnn, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    run = CliRun(optimize_args(cnn, out), child_environment(tmp_path))
    try:
        run.wait_for("baseline", 180)
        time.sleep(0.3)
        children = run.descendants()
        engine = run.engine_children()
        assert engine
        run.process.send_signal(signal.SIGKILL)
        took = wait_gone(children, 10)
        print(
            f"\nSIGKILL of the CLI during conversion -> engine child gone in "
            f"{took if took is None else round(took, 3)} s"
        )
        assert took is not None and took < CHILD_GONE_WITHIN_S
        run.finish(10)
    finally:
        kill_all([run.process.pid, *run.descendants()])
    time.sleep(0.5)
    assert os.listdir(out) == []  # nothing written after the parent died


# -- a full disk ------------------------------------------------------------------------


def _mounted_tmpfs(folder: Path, options: str):
    """Mount a tmpfs on `folder` where this machine allows it (root on Linux); else skip the test."""
    folder.mkdir()
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root on Linux; ENOSPC is injected in-process below instead")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A real 200 KiB tmpfs."""
    yield from _mounted_tmpfs(tmp_path / "tiny", "size=200k")


@pytest.fixture
def read_only_tmpfs(tmp_path):
    yield from _mounted_tmpfs(tmp_path / "ro", "ro,size=100k")


@linux_only
@pytest.mark.slow
def test_a_full_disk_is_one_line_exit_4_and_no_partial_file(cnn, tmp_path, tiny_tmpfs):
    """int8 (~56 KiB) fits in 200 KiB with its report; fp32 (~190 KiB) then does not."""
    env = child_environment(tmp_path)
    args = ["optimize", str(cnn), "-q", "int8,fp32", "--out", f"{tiny_tmpfs}{os.sep}", "--no-cache"]
    done = subprocess.run(
        [sys.executable, "-m", "gui.entry", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    print(
        f"\ndisk full -> exit {done.returncode}; stderr errors: "
        f"{[l for l in done.stderr.splitlines() if l.startswith('error:')]}"
    )
    assert done.returncode == ExitCode.CONVERSION, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    fp32 = tiny_tmpfs / "cnn.fp32.tflite"
    assert errors == [
        f"error: {fp32}: cannot write this file: No space left on device (ENOSPC); no partial file was left"
    ], done.stderr[-3000:]
    # What was written is whole: the int8 variant and its report, together; nothing of fp32, no temp file.
    assert sorted(os.listdir(tiny_tmpfs)) == ["cnn.int8.report.json", "cnn.int8.tflite"]
    report = json.loads((tiny_tmpfs / "cnn.int8.report.json").read_text())
    data = (tiny_tmpfs / "cnn.int8.tflite").read_bytes()
    assert report["output"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert report["output"]["size_bytes"] == len(data)


# -- write failures injected at the write call (everywhere) ----------------------------


@pytest.fixture(scope="module")
def small_variant(tmp_path_factory):
    from core.data import DataSpec
    from core.optimize.pipeline import optimize_model
    from tests.core.optimize_models import classifier

    model, data = classifier(tmp_path_factory.mktemp("stopping"))
    result = optimize_model(
        str(model),
        ["fp32"],
        DataSpec(path=str(data), calibration_samples=32),
        progress=null_reporter(),
        cancel=CancelToken(),
    )
    return result


def _export(result, out: Path):
    from core.optimize.export import export_variant

    return export_variant(
        result.variant("fp32"),
        str(out),
        progress=null_reporter(),
        cancel=CancelToken(),
        source=result.source,
        data=result.data,
        baseline_size_bytes=result.baseline_size_bytes,
        original_evaluation=result.original_evaluation,
    )


def _enospc_on_fsync_of(monkeypatch, suffix: str) -> None:
    """ENOSPC at the fsync of a temp file for a destination ending in `suffix` (where a full disk may
    first say so)."""
    real_fsync = os.fsync

    def fsync(fd):
        name = os.readlink(f"/proc/self/fd/{fd}") if os.path.exists(f"/proc/self/fd/{fd}") else ""
        if suffix in name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)


@linux_only
@pytest.mark.parametrize("failing", [".tflite.", ".report.json."])
def test_enospc_injected_leaves_neither_file(small_variant, tmp_path, monkeypatch, failing):
    """Injected at the write call: the model's temp file, or the report's after the model's was complete."""
    out = tmp_path / "m.tflite"
    _enospc_on_fsync_of(monkeypatch, failing)
    with pytest.raises(OutputError) as info:
        _export(small_variant, out)
    error = info.value.to_job_error()
    assert error.kind == ErrorKind.OUTPUT and error.exit_code == 4
    named = out if failing == ".tflite." else tmp_path / "m.report.json"
    assert (
        error.one_line() == f"{named}: cannot write this file: No space left on device (ENOSPC); "
        "no partial file was left"
    )
    assert os.listdir(tmp_path) == []  # never a model without its report, no temp file


@linux_only
def test_enospc_keeps_an_earlier_export_whole(small_variant, tmp_path, monkeypatch):
    out = tmp_path / "m.tflite"
    first = _export(small_variant, out)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    _enospc_on_fsync_of(monkeypatch, ".report.json.")
    with pytest.raises(OutputError):
        _export(small_variant, out)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert json.loads((tmp_path / "m.report.json").read_text())["output"]["sha256"] == first.sha256


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes through read-only modes")
def test_a_read_only_folder_is_one_line_naming_the_file(small_variant, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="Permission denied"):
            _export(small_variant, folder / "m.tflite")
        assert os.listdir(folder) == []
    finally:
        folder.chmod(0o755)


@linux_only
def test_a_read_only_file_system_is_one_line_naming_the_file(small_variant, read_only_tmpfs):
    with pytest.raises(OutputError) as info:
        _export(small_variant, read_only_tmpfs / "m.tflite")
    assert info.value.to_job_error().one_line() == (
        f"{read_only_tmpfs / 'm.tflite'}: cannot write this file: Read-only file system (EROFS); "
        "no partial file was left"
    )
    assert info.value.to_job_error().exit_code == 4


def test_the_cache_degrades_to_not_cached(tmp_path, monkeypatch):
    from core import cache as cache_module
    from core.cache import ResultCache

    store = ResultCache(tmp_path / "cache")
    assert store.put("a", 1) and store.get("a") == 1

    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(cache_module, "_write_entry", full)
    assert store.put("b", 2) is False  # not cached, no error
    assert store.get("b") is None and store.get("a") == 1
    monkeypatch.setenv(cache_module.OUTBOX_ENV, str(tmp_path / "outbox"))  # as in the engine's child
    assert store.put("c", 3) is False
    monkeypatch.undo()
    blocked = ResultCache(tmp_path / "file-not-folder" / "cache")
    (tmp_path / "file-not-folder").write_text("x")
    assert blocked.put("d", 4) is False
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["a.pkl"]  # no half-written entry


# -- the CLI's stop path, in-process ------------------------------------------------------


def test_a_stop_signal_during_a_job_cancels_it_without_raising():
    from core.cli.common import STOP, run_job

    STOP.reset()
    with Engine(preload_tensorflow=False, memory_limit_mb=2048) as engine:
        with STOP.installed():
            timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))
            started = time.monotonic()
            timer.start()
            with pytest.raises(JobFailed) as info:
                run_job(engine, stopping_jobs.tick, 60.0, subject="m.keras", show_progress=False)
            took = time.monotonic() - started
        assert info.value.error.kind == ErrorKind.CANCELLED
        assert info.value.error.one_line() == "m.keras: stopped by SIGTERM (cancelled)"
        assert STOP.exit_code() == 143
        assert took < 0.5 + 1.5
        with pytest.raises(JobFailed):  # once stopped, no new job starts
            run_job(engine, stopping_jobs.tick, 0.1, show_progress=False)
    STOP.reset()
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # put back


def test_an_ignored_signal_stays_ignored():
    from core.cli.common import StopSignals

    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with StopSignals().installed():
            assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN  # nohup
            assert signal.getsignal(signal.SIGTERM) != signal.SIG_DFL
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_outside_a_job_a_stop_signal_unwinds_the_command():
    from core.cli.common import Stopped, StopSignals

    stop = StopSignals()
    with stop.installed():
        with pytest.raises(Stopped) as info:
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(1)
    assert info.value.signum == signal.SIGHUP and stop.exit_code() == 129
