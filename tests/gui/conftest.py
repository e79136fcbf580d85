"""GUI test set-up: every test here runs offscreen with its settings in a temporary INI file."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.engine import Engine
import gui.pyside_fixes  # noqa: F401 - PySide6 6.12 emit() bug: must be fixed before any emit
from gui.main_window import MainWindow
from gui.settings import open_settings

# The offscreen platform says this once per shown window; it is not a problem of the app.
OFFSCREEN_NOISE = "This plugin does not support propagateSizeHints"


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).parent == here:
            item.add_marker(pytest.mark.gui)
            item.add_marker(pytest.mark.qt_log_ignore(OFFSCREEN_NOISE))


@pytest.fixture
def settings(tmp_path):
    return open_settings(tmp_path / "litesmith.ini")


@pytest.fixture(scope="session")
def real_window(qapp, tmp_path_factory):
    """One window over the real, isolated engine for every test that runs real models (TF imports once)."""
    # preload_tensorflow=False: the first job imports TensorFlow itself (see the report on the
    # preload race in core.tf_runtime); the window still warms the child up.
    # The engine's child starts here, before the per-test environment (tests/conftest.py) is patched:
    # give it (and this process) a result cache of its own, never the user's.
    import os

    saved_cache = os.environ.get("LITESMITH_CACHE_DIR")
    os.environ["LITESMITH_CACHE_DIR"] = str(tmp_path_factory.mktemp("result-cache"))
    engine = Engine(preload_tensorflow=False, memory_limit_mb=4096)
    settings = open_settings(tmp_path_factory.mktemp("settings") / "litesmith.ini")
    window = MainWindow(engine, settings, remember_geometry=False)
    window.show()
    yield window
    window.shutdown()  # a job a test left running is stopped (a close alone would ask first)
    window.close()
    assert engine.child_pid is None
    if saved_cache is None:
        os.environ.pop("LITESMITH_CACHE_DIR", None)
    else:
        os.environ["LITESMITH_CACHE_DIR"] = saved_cache


@pytest.fixture
def inline_window(qtbot, settings):
    """A window over an in-process engine: for everything that runs no real model."""
    engine = Engine(isolated=False)
    window = MainWindow(engine, settings, warm_up=False, device_job=None)
    qtbot.addWidget(window)
    window.show()
    yield window
    window.shutdown()  # a job a test left running is stopped (a close alone would ask first)
    window.close()
