"""`litesmith inspect` end to end: exit codes, one clear line per bad file, inputs untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def litesmith(*args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "gui.entry", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bad")
    (folder / "empty.keras").write_bytes(b"")
    (folder / "random.tflite").write_bytes(os.urandom(4096))
    (folder / "page.tflite").write_text("<!DOCTYPE html><html><body>404 Not Found</body></html>")
    (folder / "random.h5").write_bytes(os.urandom(2048))
    (folder / "not_a_savedmodel").mkdir()
    (folder / "not_a_savedmodel" / "readme.txt").write_text("hello")
    return folder


def test_usage_error_exits_2():
    done = litesmith("inspect")
    assert done.returncode == 2
    assert "usage" in done.stderr.lower()


def test_every_bad_input_exits_3_with_one_line_each_and_nothing_written(bad_inputs):
    names = ["empty.keras", "random.tflite", "page.tflite", "random.h5", "not_a_savedmodel", "missing.keras"]
    before = snapshot(bad_inputs)
    done = litesmith("inspect", *[str(bad_inputs / n) for n in names])
    assert done.returncode == 3, done.stderr
    error_lines = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == len(names), done.stderr
    for name, line in zip(names, error_lines):
        assert name in line, line
        assert len(line.split(": ", 2)[-1]) > 10, line  # a reason, not just a name
    assert snapshot(bad_inputs) == before


def test_json_output_lists_good_and_bad(bad_inputs, samples_dir):
    sample = samples_dir / "fraud.keras"
    if not sample.exists():
        pytest.skip("samples not built")
    done = litesmith("inspect", "--json", str(sample), str(bad_inputs / "page.tflite"))
    assert done.returncode == 3
    entries = json.loads(done.stdout)
    assert entries[0]["info"]["format"] == "keras"
    assert entries[0]["info"]["inputs"][0]["shape"] == [None, 30]
    assert entries[1]["error"]["kind"] == "bad_input"


def test_names_with_escape_codes_are_escaped_in_the_table(tmp_path):
    from core.tf_runtime import import_keras
    from tests.hostile_models import ANSI_NAME

    keras = import_keras()
    inputs = keras.Input((4,), name="in\x1b[2Jput")
    model = keras.Model(inputs, keras.layers.Dense(2, name=ANSI_NAME)(inputs))
    path = tmp_path / "names.keras"
    model.save(path)
    done = litesmith("inspect", str(path))
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout
    assert "in\\x1b[2Jput" in done.stdout
    assert "evil\\x1b[31m\\nTraceback (most recent call last):\\x1b]0;pwned\\x07" in done.stdout
    assert not any(line.startswith("Traceback") for line in done.stdout.splitlines())


# -- exit codes: only the documented ones ----------------------------------------------


def test_an_unexpected_exception_is_exit_70_one_line_and_a_details_file(tmp_path, monkeypatch, capsys):
    import core.cli.inspect as inspect_command
    from core.cli.main import main

    def broken(args):
        raise RuntimeError("boom \x1b[31m\nTraceback (most recent call last): forged")

    monkeypatch.setattr(inspect_command, "handle", broken)
    monkeypatch.setenv("LITESMITH_LOG_DIR", str(tmp_path / "logs"))
    code = main(["inspect", "whatever.keras"])
    err = capsys.readouterr().err
    assert code == 70
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: RuntimeError: boom \\x1b[31m\\nTraceback") and "internal error" in err
    reports = list((tmp_path / "logs").iterdir())
    assert len(reports) == 1 and str(reports[0]) in err
    text = reports[0].read_text()
    assert "Traceback (most recent call last)" in text and "in broken" in text


def test_a_litesmith_error_escaping_a_command_keeps_its_code(monkeypatch, capsys):
    import core.cli.inspect as inspect_command
    from core.cli.main import main
    from core.errors import BadInputError

    def refuses(args):
        raise BadInputError("not a model", path="x.keras")

    monkeypatch.setattr(inspect_command, "handle", refuses)
    assert main(["inspect", "x.keras"]) == 3
    assert capsys.readouterr().err == "error: x.keras: not a model\n"


def test_an_internal_job_error_is_exit_70_with_its_details_in_a_file(tmp_path, monkeypatch, capsys):
    from core.cli.common import print_error
    from core.errors import ErrorKind, JobError

    monkeypatch.setenv("LITESMITH_LOG_DIR", str(tmp_path))
    error = JobError(
        ErrorKind.INTERNAL, "KeyError: 'x'", path="m.keras", details="Traceback (most recent call last):\n  x\n"
    )
    assert error.exit_code == 70
    print_error(error)
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "m.keras: KeyError: 'x'" in err
    (report,) = tmp_path.iterdir()
    assert str(report) in err and "  x" in report.read_text()
    assert oct(report.stat().st_mode & 0o777) == "0o600"


def test_documented_exit_codes_only():
    from core.errors import EXIT_CODE_FOR_KIND, ExitCode

    assert {int(c) for c in ExitCode} == {0, 2, 3, 4, 70, 129, 130, 143}
    assert set(EXIT_CODE_FOR_KIND.values()) <= set(ExitCode) and 1 not in {int(c) for c in EXIT_CODE_FOR_KIND.values()}
    readme = (REPO / "README.md").read_text()
    for code in (0, 2, 3, 4, 70, 129, 130, 143):
        assert f"| {code} |" in readme
