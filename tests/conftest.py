"""Shared test set-up: quiet TensorFlow, offscreen Qt, settings in a temporary folder."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# Engine children spawned by session- or module-scoped fixtures inherit the environment
# of the moment they start: point every settings and cache folder at a temporary home
# for the whole session, so no test ever writes to the user's real folders.
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="litesmith-tests-"))
for _name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
    os.environ[_name] = str(_SESSION_HOME / _name.lower())
os.environ["LITESMITH_CACHE_DIR"] = str(_SESSION_HOME / "result-cache")
os.environ["LITESMITH_LOG_DIR"] = str(_SESSION_HOME / "log")  # internal-error details files
atexit.register(shutil.rmtree, _SESSION_HOME, ignore_errors=True)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLES = REPO_ROOT / "resources" / "samples"
sys.path.insert(0, str(REPO_ROOT))


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory, monkeypatch):
    """Keep QSettings and caches out of the user's home during tests."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))


# ---------------------------------------------------------------------------
# Every JSON document the suite's runs write is checked against its schema (core/schemas):
# the CLI's --json output, --report files, the variant reports and the GUI's JSON report.
# In this process a hook on `core.jsonout.dumps` (the one encoder they all go through)
# records each invalid document and the test that wrote it fails, whatever the code under
# test did with the error; LITESMITH_VALIDATE_JSON=1 makes subprocesses (`python -m core
# ... --json`) validate too, and exit non-zero on an invalid document. The validators are
# compiled once per schema (core.schemas.validator is cached).

from core import jsonout as _jsonout  # noqa: E402
from core import schemas as _schemas  # noqa: E402

os.environ[_jsonout.VALIDATE_ENV] = "1"
_json_violations: list[str] = []


def _validate_document(document) -> None:
    try:
        _schemas.validate(document)
    except _schemas.SchemaViolation as exc:
        _json_violations.append(str(exc))


_jsonout.add_document_hook(_validate_document)


def _raise_json_violations(start: int, phase: str) -> None:
    found = _json_violations[start:]
    del _json_violations[start:]
    if found:
        pytest.fail(
            f"{len(found)} JSON document(s) written during {phase} do not match their schema "
            "(core/schemas):\n" + "\n".join(found),
            pytrace=False,
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    start = len(_json_violations)
    try:
        return (yield)
    finally:
        _raise_json_violations(start, "setup")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    start = len(_json_violations)
    try:
        return (yield)
    finally:
        _raise_json_violations(start, "the test")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    start = len(_json_violations)
    try:
        return (yield)
    finally:
        _raise_json_violations(start, "teardown")
