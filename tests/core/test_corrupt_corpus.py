"""`litesmith inspect` on a corpus of hostile and corrupt files, built here, end to end.

Each file gives exit code 3 (never 1, never an internal error), exactly one
escaped error line on stderr naming it, and nothing written anywhere: not
beside the models, not in the temporary folder, not in the log folder, not at
the paths the files aim at. The whole corpus runs in one `inspect` call (one
engine, one job per file), with --json so each file's own outcome is known.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests import hostile_models as hm
from tests import model_factory as mf

REPO = Path(__file__).resolve().parents[2]
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def litesmith(*args: str, env: dict, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), **env)
    return subprocess.run(
        [sys.executable, "-m", "gui.entry", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        errors="surrogateescape",
    )


def tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every entry under `folder` (symlinks not followed) with its size and mtime."""
    found = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            st = os.lstat(path)
            found[str(path.relative_to(folder))] = (st.st_size, st.st_mtime_ns)
    return found


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("corpus")
    victim = tmp_path_factory.mktemp("victim")
    secret = victim / "secret.txt"
    secret.write_text("alpha\nbeta\n")
    source = tmp_path_factory.mktemp("sources")
    dense = mf.dense_model()
    keras_file = mf.save_keras(dense, source, "dense")
    h5_file = mf.save_h5(dense, source, "dense")
    tflite_file = mf.save_tflite(dense, source, "dense")
    export = mf.export_saved_model(dense, source, "dense")
    truncated = folder / "truncated.tflite"
    truncated.write_bytes(tflite_file.read_bytes()[: tflite_file.stat().st_size // 2])
    bad = {
        "init_writes_as_saver": hm.initializer_writes_file_as_saver(folder, victim / "written_by_the_model"),
        "table_from_host_file": hm.table_from_host_file(folder, str(secret)),
        "record_input": hm.record_input(folder, str(victim / "*")),
        "decode_proto_descriptor_file": hm.decode_proto_from_file(folder, str(victim / "descriptor.bin")),
        "deep_json_keras": hm.keras_with_config(keras_file, folder / "deep.keras", hm.deep_json(100_000)),
        "deep_json_h5": hm.h5_with_deep_config(h5_file, folder / "deep.h5", 100_000),
        "corrupt_deflate": hm.keras_with_corrupt_member(keras_file, folder / "deflate.keras"),
        "corrupt_lzma": hm.keras_with_corrupt_member(keras_file, folder / "lzma.keras", method=zipfile.ZIP_LZMA),
        "multi_disk_zip64": hm.keras_multi_disk_zip64(keras_file, folder / "disks.keras"),
        "unknown_h5_link": hm.h5_with_unknown_link_type(h5_file, folder / "ud_link.h5"),
        "symlink_loop": hm.symlink_loop(export, folder),
        "ansi_class_name": hm.keras_with_hostile_class_name(keras_file, folder / "ansi_class.keras"),
        "ansi_link_name": hm.h5_with_hostile_link_name(h5_file, folder / "ansi_link.h5"),
        "tflite_names_not_utf8": hm.tflite_with_invalid_utf8_name(tflite_file, folder / "names.tflite"),
        "tflite_truncated": truncated,
    }
    good = {"tflite_free_dimension": hm.tflite_free_dimension(folder)}
    return {"folder": folder, "victim": victim, "bad": bad, "good": good}


def test_corrupt_corpus_exits_3_one_escaped_line_each_nothing_written(corpus, tmp_path):
    scratch = {name: tmp_path / name for name in ("tmp", "log", "cache", "config", "data", "state")}
    for path in scratch.values():
        path.mkdir()
    env = {
        "TMPDIR": str(scratch["tmp"]),
        "LITESMITH_LOG_DIR": str(scratch["log"]),
        "XDG_CACHE_HOME": str(scratch["cache"]),
        "XDG_CONFIG_HOME": str(scratch["config"]),
        "XDG_DATA_HOME": str(scratch["data"]),
        "XDG_STATE_HOME": str(scratch["state"]),
        "LITESMITH_CACHE_DIR": str(scratch["cache"] / "results"),
    }
    bad, good = corpus["bad"], corpus["good"]
    paths = [str(p) for p in bad.values()] + [str(p) for p in good.values()]
    before = tree(corpus["folder"]), tree(corpus["victim"])

    done = litesmith("inspect", "--json", *paths, env=env)

    assert done.returncode == 3, done.stderr
    entries = {entry["path"]: entry for entry in json.loads(done.stdout)}
    for name, path in bad.items():
        entry = entries[str(path)]
        assert entry.get("error", {}).get("kind") == "bad_input", (name, entry)
    for name, path in good.items():
        assert "info" in entries[str(path)], (name, entries[str(path)])

    lines = done.stderr.splitlines()
    assert not [line for line in lines if not line.startswith("error: ")], done.stderr  # nothing else, no traceback
    assert len(lines) == len(bad), done.stderr
    for (name, path), line in zip(bad.items(), lines):
        assert line.startswith(f"error: {path}: "), (name, line)
        assert not CONTROL.search(line), (name, line)
    ansi = next(line for line in lines if "ansi_link" in line)
    assert "evil\\x1b[31m\\nTraceback (most recent call last):\\x1b]0;pwned\\x07" in ansi
    assert "\\x1b[31m" in next(line for line in lines if "ansi_class" in line)

    assert (tree(corpus["folder"]), tree(corpus["victim"])) == before
    for name, path in scratch.items():
        assert tree(path) == {}, (name, tree(path))
