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
    return subprocess.run([sys.executable, "-m", "gui.entry", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


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
