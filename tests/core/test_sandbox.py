"""The engine's child is sandboxed: a hostile job can't write, read or connect outside its bounds."""

from __future__ import annotations

import os
import socket
import sys
import threading
from pathlib import Path

import pytest

from core.engine import Engine
from core.engine.landlock import landlock_abi
from core.engine.sandbox import SandboxStatus, sandbox_status
from core.engine.seccomp import ARCHES, seccomp_program
from core.errors import ErrorKind, JobFailed
from tests.core import sandbox_jobs

STATUS = sandbox_status()
needs_sandbox = pytest.mark.skipif(
    STATUS.level != "full", reason=f"this platform can't sandbox the engine fully: {STATUS.summary}"
)


@pytest.fixture
def listener():
    """A TCP server on this host's loopback that records whether anyone connected."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.2)
    connected: list[bytes] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            connected.append(conn.recv(100))
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], connected
    stop.set()
    thread.join(timeout=2)
    server.close()


@needs_sandbox
def test_hostile_job_is_denied_while_the_real_work_goes_on(tmp_path, listener):
    port, connected = listener
    model = tmp_path / "inputs" / "model.keras"
    model.parent.mkdir()
    model.write_bytes(b"model bytes")
    outside = tmp_path / "not-handed-over"
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_text("host secret")
    with Engine(preload_tensorflow=False, memory_limit_mb=4096) as engine:
        value = engine.run(sandbox_jobs.escape_attempts, str(model), f"hidden:{secret}", f"hidden:{outside}", port)
        scratch = engine.scratch_folder
        assert engine.sandbox is not None and engine.sandbox.level == "full"
    results = value["results"]
    denied = [
        "write_outside",
        "write_beside_model",
        "write_home",
        "read_secret",
        "list_outside",
        "read_hostname",
        "socket_inet",
        "socket_inet6",
        "signal_parent",
    ]
    for name in denied:
        assert not results[name].ok, f"{name} was allowed: {results[name].detail}"
    assert "EACCES" in results["write_outside"].detail and "EACCES" in results["read_secret"].detail
    for name in ["write_scratch", "read_scratch", "read_model", "unix_socketpair", "tensorflow"]:
        assert results[name].ok, f"{name} was denied: {results[name].detail}"
    assert connected == []
    assert os.listdir(outside) == ["secret.txt"]
    assert sorted(p.name for p in model.parent.iterdir()) == ["model.keras"]
    # the temp folder was the private scratch folder, and it is gone with the child
    assert value["temp_dir"].startswith(str(scratch))
    assert not scratch.exists()


@needs_sandbox
def test_a_job_naming_new_inputs_gets_a_fresh_child(tmp_path):
    first, second = tmp_path / "a" / "one.txt", tmp_path / "b" / "two.txt"
    for path, text in ((first, "one"), (second, "two")):
        path.parent.mkdir()
        path.write_text(text)
    with Engine(preload_tensorflow=False, memory_limit_mb=4096) as engine:
        assert engine.run(sandbox_jobs.read_file, str(first)) == "one"
        pid = engine.child_pid
        assert engine.run(sandbox_jobs.read_file, str(first)) == "one"
        assert engine.child_pid == pid  # same inputs: same child
        assert engine.run(sandbox_jobs.read_file, str(second)) == "two"
        assert engine.child_pid != pid  # Landlock can't be loosened: a new child
        with pytest.raises(JobFailed) as info:  # the new child has only the new inputs
            engine.run(sandbox_jobs.read_hidden, f"hidden:{first}")
    with Engine(preload_tensorflow=False, memory_limit_mb=4096, inputs=[str(first), str(second)]) as engine:
        assert engine.run(sandbox_jobs.read_file, str(first)) == "one"
        pid = engine.child_pid
        assert engine.run(sandbox_jobs.read_file, str(second)) == "two"
        assert engine.child_pid == pid  # the engine's inputs: one child for both
    assert info.value.error.kind == ErrorKind.INTERNAL and "PermissionError" in info.value.error.message


@needs_sandbox
def test_result_cache_is_written_by_the_parent(tmp_path):
    from core.cache import ResultCache

    folder = tmp_path / "cache"
    folder.mkdir()
    cache = ResultCache(folder)
    with Engine(preload_tensorflow=False, memory_limit_mb=4096) as engine:
        before, after = engine.run(sandbox_jobs.fill_cache, cache, "variant-" + "0" * 40, "value")
        assert (before, after) == (None, "value")
        assert ResultCache(folder).get("variant-" + "0" * 40) == "value"  # moved in by the parent
        before, _ = engine.run(sandbox_jobs.fill_cache, cache, "variant-" + "0" * 40, "again")
        assert before == "value"  # the child reads the cache


def test_load_that_never_ends_is_stopped_with_a_clear_error(tmp_path):
    with Engine(preload_tensorflow=False, memory_limit_mb=4096, load_timeout_s=1.5) as engine:
        with pytest.raises(JobFailed) as info:
            engine.run(sandbox_jobs.hang_in_load, subject="endless.keras")
        assert engine.run(sandbox_jobs.slow_but_loaded, 2.5) == "done"  # the limit covers loading only
    error = info.value.error
    assert error.kind == ErrorKind.BAD_INPUT and error.exit_code == 3
    assert error.path == "endless.keras"
    assert "did not finish loading in 1.5 s" in error.message


def test_status_says_what_is_missing():
    assert isinstance(STATUS, SandboxStatus) and STATUS.probed
    if sys.platform.startswith("linux") and landlock_abi() >= 1:
        assert STATUS.filesystem and STATUS.landlock_abi == landlock_abi()
    off = SandboxStatus(platform="darwin", missing=("no OS sandbox on Darwin",))
    assert off.level == "off" and "missing: no OS sandbox on Darwin" in off.summary
    partial = SandboxStatus(
        platform="linux",
        landlock_abi=3,
        filesystem=True,
        network=("seccomp socket filter",),
        missing=("network namespace: not allowed",),
    )
    assert partial.level == "partial"
    assert partial.to_dict()["summary"] == partial.summary


def test_seccomp_program_is_well_formed():
    for arch in ARCHES.values():
        program = seccomp_program(arch)
        assert len(program) % 8 == 0 and 0 < len(program) // 8 < 256


@needs_sandbox
def test_child_reports_what_was_applied():
    with Engine(preload_tensorflow=False, memory_limit_mb=4096) as engine:
        applied = engine.run(sandbox_jobs.sandbox_of_child)
    assert applied.level == "full" and not applied.missing
    assert "network namespace" in applied.network and "seccomp socket filter" in applied.network


@needs_sandbox
@pytest.mark.slow
def test_real_jobs_run_sandboxed_and_the_parent_writes_the_export(tmp_path, samples_dir):
    """optimize and inspect run in the sandboxed child; the export is written by the parent."""
    from core.data import DataSpec
    from core.models.inspection import inspect_model
    from core.optimize.export import export_variant, report_path_for
    from core.optimize.pipeline import optimize_model
    from tests.core.optimize_models import classifier

    (tmp_path / "inputs").mkdir()
    model, data = classifier(tmp_path / "inputs")
    inputs_before = sorted(p.name for p in (tmp_path / "inputs").iterdir())
    out = tmp_path / "out" / "fast.tflite"
    out.parent.mkdir()
    with Engine(memory_limit_mb=6144) as engine:
        info = engine.run(inspect_model, str(model), subject=str(model))
        result = engine.run(
            optimize_model,
            str(model),
            ["fp32", "int8"],
            DataSpec(path=str(data), calibration_samples=32),
            subject=str(model),
        )
        pid = engine.child_pid
        variant = result.variant("int8")
        exported = engine.run(
            export_variant,
            variant,
            str(out),
            subject=str(out),
            source=result.source,
            data=result.data,
            baseline_size_bytes=result.baseline_size_bytes,
        )
        assert engine.child_pid == pid  # the load-back run went to the same sandboxed child
        assert engine.sandbox.level == "full"
    assert info is not None
    assert out.read_bytes() == variant.tflite_bytes and exported.verified
    assert report_path_for(out).is_file()
    assert sorted(p.name for p in (tmp_path / "inputs").iterdir()) == inputs_before


@pytest.mark.slow
@pytest.mark.parametrize("command", [["inspect"], ["optimize", "-q", "fp32", "--no-export"]])
def test_saved_model_whose_initializer_never_ends_exits_3(tmp_path, command):
    """The hang the hostile corpus found: the CLI stops the engine and says so, exit 3."""
    import subprocess

    folder = tmp_path / "endless"
    built = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from tests.core.sandbox_jobs import build_endless_saved_model as b; b(sys.argv[1])",
            str(folder),
        ],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    done = subprocess.run(
        [sys.executable, "-m", "core", *command, "--load-timeout", "6", str(folder)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2])),
    )
    assert done.returncode == 3, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: {folder}: did not finish loading in 6 s; the model engine was stopped "
        "(a model that never finishes loading is refused; raise the limit with --load-timeout)"
    ]
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
