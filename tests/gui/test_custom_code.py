"""File > Load Custom Layer Code…: offered for an unknown class, remembered per model, given to every job."""

from __future__ import annotations

import json

import pytest

from core.engine import Engine
from core.errors import ErrorKind
import gui.custom_code as custom_code
from gui.main_window import MainWindow
from gui.settings import open_settings
from tests.gui import custom_code_jobs, gui_jobs


@pytest.fixture
def window(qtbot, tmp_path):
    settings = open_settings(tmp_path / "litesmith.ini")
    win = MainWindow(
        Engine(isolated=False),
        settings,
        warm_up=False,
        device_job=None,
        inspect_job=custom_code_jobs.inspect_needing_code,
    )
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


def test_the_error_offers_the_action_which_remembers_the_file_for_the_model_and_the_next_jobs_get_it(
    qtbot, window, tmp_path, monkeypatch
):
    model = tmp_path / "swish.keras"
    model.write_bytes(b"stand-in: the jobs below never open it")
    code = tmp_path / "my_layers.py"
    code.write_text("class Swish: pass\n")
    custom_code_jobs.SEEN.clear()
    action = window.custom_code.action
    assert action in window.file_menu.actions() and action.text() == "Load Custom Layer Code…"
    assert not action.isEnabled()  # no model yet

    with qtbot.waitSignal(window.load_failed, timeout=30_000) as failed:
        assert window.load_model(model)
    assert failed.args[0].kind == ErrorKind.BAD_INPUT and "--custom-objects FILE.py" in failed.args[0].message
    assert custom_code_jobs.SEEN[-1] == ("inspect", str(model), ())
    assert action.isEnabled()  # for the model that just failed to open
    dialog = window.error_dialog
    assert dialog is not None and dialog.isVisible()
    button = next(b for b in dialog.buttons() if b.objectName() == "loadCustomCodeButton")
    assert button.text() == "Load Custom Layer Code…"

    asked = []

    def fake_dialog(*args, **kwargs):
        asked.append(args)
        return [str(code)], ""

    monkeypatch.setattr(custom_code.QFileDialog, "getOpenFileNames", staticmethod(fake_dialog))
    with qtbot.waitSignal(window.model_loaded, timeout=30_000):
        button.click()  # closes the dialog, asks for the file, opens the model again with it
    assert asked and window.model_info.path == str(model)
    assert custom_code_jobs.SEEN[-1] == ("inspect", str(model), (str(code),))
    stored = json.loads(open_settings(window.settings.fileName()).value(custom_code.SETTINGS_KEY))
    assert stored == {str(model): [str(code)]}
    assert window.custom_code.forget_action.isEnabled()

    # The next jobs on this model get the file: Run (SessionOptions) and Auto (AutoSettings).
    window.run_controller._jobs = (gui_jobs.refusing_optimize, None)
    window.auto_controller._job = gui_jobs.refusing_auto
    gui_jobs.SEEN_OPTIONS.clear()
    with qtbot.waitSignal(window.run_failed, timeout=30_000):
        window.run_action.trigger()
    assert gui_jobs.SEEN_OPTIONS[-1].custom_objects == (str(code),)
    window.error_dialog.accept()
    qtbot.waitUntil(lambda: window.error_dialog is None)
    with qtbot.waitSignal(window.auto_failed, timeout=30_000):
        window.auto_action.trigger()
    assert gui_jobs.SEEN_OPTIONS[-1].custom_objects == (str(code),)
    # That failure names no unknown class: no custom-code button there.
    assert not [b for b in window.error_dialog.buttons() if b.objectName() == "loadCustomCodeButton"]
    window.error_dialog.accept()


def test_remembered_per_model_across_windows_and_only_for_that_model(qtbot, window, tmp_path):
    model, other = tmp_path / "a.keras", tmp_path / "b.keras"
    code = tmp_path / "layers.py"
    for path in (model, other, code):
        path.write_text("x")
    assert window.custom_code.choose(str(model), files=[str(code)], reopen=False)
    hook = window.custom_code.job_arguments
    _, kwargs = hook(custom_code_jobs.inspect_needing_code, (str(model),), {}, str(model))
    assert kwargs == {"custom_objects": (str(code),)}
    assert hook(custom_code_jobs.inspect_needing_code, (str(other),), {}, str(other)) == ((str(other),), {})
    assert hook(gui_jobs.echo, ("x",), {}, str(model)) == (("x",), {})  # a job that takes no custom code
    from core.auto.results import AutoSettings
    from core.benchmark.measure import benchmark_variants
    from core.optimize.pipeline import optimize_model
    from core.optimize.session import SessionOptions

    _, kwargs = hook(benchmark_variants, ({"int8": b""}, None), {"keras_model": str(model)}, str(model))
    assert kwargs["custom_objects"] == (str(code),)  # the Run's benchmark of the original
    _, kwargs = hook(optimize_model, (str(model), [], None), {"options": SessionOptions(threshold=0.3)}, str(model))
    assert kwargs["options"] == SessionOptions(threshold=0.3, custom_objects=(str(code),))
    args, _ = hook(gui_jobs.refusing_auto, (str(model), None, None, AutoSettings()), {}, str(model))
    assert args[3].custom_objects == (str(code),)

    again = MainWindow(
        Engine(isolated=False),
        open_settings(window.settings.fileName()),
        warm_up=False,
        device_job=None,
        inspect_job=custom_code_jobs.inspect_needing_code,
    )
    qtbot.addWidget(again)
    try:
        assert again.custom_code.files_for(str(model)) == (str(code),)
        assert again.custom_code.files_for(str(other)) == ()
        again.custom_code.forget(str(model))
        assert again.custom_code.files_for(str(model)) == ()
    finally:
        again.close()
