"""Models with free dimensions in the window: the Input sizes field, the dialog before a run without data,
the sizes reaching the jobs, FLOPs per time step, core errors that name CLI flags.

The fast tests use ModelInfo objects and stand-in jobs (tests/gui/free_dims_jobs.py); the others build a
free-length GRU (Input((None, 6)) -> GRU(8, return_sequences=True)) in a process of its own and run it
through the session's real engine and window.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication

from core.errors import ErrorKind, JobError
from core.models.info import InspectResult, LayerInfo, ModelFormat, ModelInfo, TensorInfo
from gui.panels.model_panel import ModelPanel
from gui.panels.recipe_panel import RecipePanel
from gui.recipe import RunSettings
from tests.gui import free_dims_jobs
from tests.gui.helpers import RUN_TIMEOUT_MS, load, run_recipe, tiny_settings, wait_idle

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "resources" / "screenshots"


def gru_info(path: str = "/models/gru.keras", **changes) -> ModelInfo:
    values = dict(
        path=path,
        format=ModelFormat.KERAS,
        file_size=17_774,
        sha256="ab" * 32,
        inputs=(TensorInfo("frames", (None, None, 6), "float32"),),
        outputs=(TensorInfo("gru", (None, None, 8), "float32"),),
        params=384,
        flops=720,
        layers=(
            LayerInfo("frames", "InputLayer", "(None, None, 6)", 0, 0),
            LayerInfo("gru", "GRU", "(None, None, 8)", 384, 360, macs_free=True),
        ),
        flops_per="time step",
    )
    values.update(changes)
    return ModelInfo(**values)


# -- the field --------------------------------------------------------------------------------


def test_input_sizes_field_checks_what_is_typed_and_fills_the_engine_options(qtbot):
    panel = RecipePanel(QAction("Run"), QAction("Auto"))
    qtbot.addWidget(panel)
    box = panel.input_sizes
    panel.set_model_info(
        ModelInfo(
            path="/m/fixed.keras",
            format="keras",
            file_size=1,
            sha256="",
            params=1,
            flops=1,
            inputs=(TensorInfo("x", (None, 8), "float32"),),
            outputs=(),
        )
    )
    assert not box.isVisibleTo(panel) and panel.settings().input_shapes == ()  # nothing free: no field

    panel.set_model_info(gru_info())
    assert box.isVisibleTo(panel) and list(box.fields) == ["frames"]
    field, error = box.fields["frames"], box.errors["frames"]
    assert field.text() == "" and field.placeholderText() == "length, 6"
    assert "no data is chosen" in box.hint.text() and "data's sizes are used" in box.hint.text()
    assert panel.settings().input_shapes == () and box.missing() == ["frames"]
    assert "synthesized at the Input sizes below" in panel.data_warning.text()

    for text, complaint in (
        ("20, 7", "fixed at 6"),
        ("0, 6", "at least 1"),
        ("twenty", "not a whole number"),
        ("1, 2, 6", "give 2 sizes"),
    ):
        field.setText(text)
        assert error.isVisibleTo(panel) and complaint in error.text(), (text, error.text())
        with pytest.raises(ValueError, match="Input sizes: frames: "):
            panel.settings()

    field.setText("20, 6")
    assert not error.isVisibleTo(panel) and box.missing() == []
    settings = panel.settings()
    assert settings.input_shapes == (("frames", (20, 6)),)
    assert settings.session_options().input_shapes == (("frames", (20, 6)),)
    assert settings.auto_settings().input_shapes == (("frames", (20, 6)),)
    field.setText("45")  # only the free size: the fixed one is known
    assert panel.settings().input_shapes == (("frames", (45, 6)),)

    # The sizes belong to one model: a saved recipe never restores them; a run's own settings do.
    restored = RunSettings.from_dict(json.loads(json.dumps(settings.to_dict())))
    assert restored.input_shapes == ()
    panel.set_settings(RunSettings(input_shapes=(("frames", (30, 6)), ("other", (1,)))), include_data=True)
    assert field.text() == "30, 6"
    panel.set_model_info(gru_info())  # a model opened again: empty
    assert box.fields["frames"].text() == ""


# -- Run and Auto without data ---------------------------------------------------------------


def _open(window, tmp_path, info=None):
    model = tmp_path / "gru.keras"
    model.write_bytes(b"stand-in: the jobs below never open it")
    window._on_model_loaded(str(model), InspectResult(info or gru_info(str(model))))
    return model


def test_run_without_data_or_sizes_asks_first_and_the_sizes_reach_the_jobs(qtbot, inline_window, tmp_path):
    window = inline_window
    _open(window, tmp_path)
    window.run_controller._jobs = (free_dims_jobs.converter_refusing_optimize, None)
    window.auto_controller._job = free_dims_jobs.refusing_auto
    free_dims_jobs.SEEN.clear()

    for action in (window.run_action, window.auto_action):
        action.trigger()
        dialog = window.error_dialog
        assert dialog is not None and dialog.objectName() == "inputSizesDialog" and dialog.isVisible()
        assert not window.runner.busy and not window.run_controller.active and not window.auto_controller.active
        text = f"{dialog.text()}\n{dialog.informativeText()}"
        assert "frames (batch, length, 6)" in dialog.text() and "no data is chosen" in dialog.text()
        assert "Choose data" in text and "Input sizes" in text and "--" not in text  # no CLI flags
        dialog.accept()
        qtbot.waitUntil(lambda: window.error_dialog is None)
    assert free_dims_jobs.SEEN == []  # no job started
    field = window.recipe_panel.input_sizes.fields["frames"]
    qtbot.waitUntil(lambda: window.focusWidget() is field)  # after the dialog: the empty field, to type in

    field.setText("20, 6")
    with qtbot.waitSignal(window.run_failed, timeout=30_000) as blocker:
        window.run_action.trigger()
    assert free_dims_jobs.SEEN[-1].input_shapes == (("frames", (20, 6)),)
    # A conversion failure: the one-line reason in the dialog, the converter's whole output in its details.
    assert blocker.args[0].kind == ErrorKind.CONVERSION
    dialog = window.error_dialog
    assert dialog.objectName() == "errorDialog" and "Conversion failed" in dialog.windowTitle()
    assert "tf.TensorListReserve" in dialog.text() and "loc(callsite" not in dialog.text()
    details = dialog.detailedText()
    assert "converter path(s) tried: from_keras_model, batch-1 signature+from_saved_model" in details
    assert "loc(callsite(fused" in details and "full converter trace line 3" in details
    dialog.accept()
    qtbot.waitUntil(lambda: window.error_dialog is None)

    with qtbot.waitSignal(window.auto_failed, timeout=30_000):
        window.auto_action.trigger()
    assert free_dims_jobs.SEEN[-1].input_shapes == (("frames", (20, 6)),)
    window.error_dialog.accept()
    qtbot.waitUntil(lambda: window.error_dialog is None)

    # With data, the data's sizes are used: an empty field asks nothing.
    field.clear()
    data = tmp_path / "frames.npz"
    data.write_bytes(b"stand-in")
    window.recipe_panel.set_data_path(str(data))
    with qtbot.waitSignal(window.run_failed, timeout=30_000):
        window.run_action.trigger()
    assert free_dims_jobs.SEEN[-1].input_shapes == ()
    assert window.error_dialog.objectName() == "errorDialog"
    window.error_dialog.accept()


def test_a_mistyped_size_stops_the_run_with_the_reason(qtbot, inline_window, tmp_path):
    window = inline_window
    _open(window, tmp_path)
    window.run_controller._jobs = (free_dims_jobs.converter_refusing_optimize, None)
    window.recipe_panel.input_sizes.fields["frames"].setText("20, 5")
    assert not window.start_run()
    dialog = window.error_dialog
    assert dialog is not None and "Input sizes: frames: size 2 is fixed at 6" in dialog.text()
    assert not window.runner.busy
    dialog.accept()


# -- core errors that name a CLI flag --------------------------------------------------------


@pytest.mark.parametrize(
    "flag, control",
    [
        ("--input-shape frames=LEN,6", "Recipe → Input sizes"),
        ("--task OUTPUT=TASK", "Recipe → Model outputs → Scored as"),
        ("--primary-output NAME", "Recipe → Model outputs → Primary output"),
        ("--signature NAME", "Recipe → Model outputs → Signature"),
        ("--custom-objects FILE.py", "File → Load Custom Layer Code…"),
    ],
)
def test_a_core_error_naming_a_flag_says_where_the_app_sets_it(qtbot, inline_window, flag, control):
    window = inline_window
    message = f"the model needs something: give it with {flag}"
    box = window.show_error(JobError(ErrorKind.USAGE, message, path="/m/gru.keras"))
    qtbot.waitUntil(box.isVisible)
    assert box.text() == f"/m/gru.keras: {message}"  # the core's message, intact
    assert f"In the app: {control} ({flag.split()[0]})." in box.informativeText()
    assert box.windowTitle().startswith("Check the settings")
    box.accept()
    qtbot.waitUntil(lambda: window.error_dialog is None)


def test_the_core_message_for_a_missing_size_points_to_data_and_input_sizes(qtbot, inline_window):
    from core.data.synth import synthetic_shape
    from core.errors import UsageError
    from core.models.interface import TensorSpec

    with pytest.raises(UsageError) as caught:
        synthetic_shape(TensorSpec((None, None, 6), name="frames"), 4)
    box = inline_window.show_error(caught.value.to_job_error())
    assert box.text() == caught.value.message and "--input-shape frames=LEN,6" in box.text()
    assert box.informativeText().endswith(
        "In the app: Recipe → Data for calibration and evaluation (--data); Recipe → Input sizes (--input-shape)."
    )
    box.accept()


def test_an_error_without_flags_gets_no_app_hint(qtbot, inline_window):
    box = inline_window.show_error(JobError(ErrorKind.BAD_INPUT, "the data has --- no samples --tasks"))
    assert "In the app" not in box.informativeText()
    box.accept()


# -- the model panel ---------------------------------------------------------------------------


def test_model_panel_says_how_to_read_flops_params_and_signatures(qtbot):
    panel = ModelPanel()
    qtbot.addWidget(panel)
    panel.set_info(gru_info(flops=2048))
    summary = panel.summary_text()
    assert summary["flops"] == "2.05k per time step  (2,048)"
    assert "per time step" in panel.fields["flops"].toolTip()
    assert not panel.summary_form.isRowVisible(panel.fields["signature"])  # a Keras model has none
    model = panel.layer_table.model()
    assert model.data(model.index(1, 4)) == "360 / step"

    partial = gru_info(
        flops=1020,
        flops_per="",
        flops_partial=True,
        flops_uncounted=(("double", "Doubler"),),
        layers=(LayerInfo("double", "Doubler", "(None, 4)", 0, 0, counted=False),),
    )
    panel.set_info(partial)
    assert panel.summary_text()["flops"] == "1.02k  (1,020)\npartial: 1 layer not counted (Doubler)"
    assert "double (Doubler)" in panel.fields["flops"].toolTip()
    model = panel.layer_table.model()
    assert model.data(model.index(0, 4)) == "not counted"

    tflite = ModelInfo(
        path="/m/gru.tflite",
        format=ModelFormat.TFLITE,
        file_size=9000,
        sha256="cd" * 32,
        inputs=(TensorInfo("frames", (1, None, 6), "float32"),),
        outputs=(TensorInfo("gru", (1, None, 8), "float32"),),
        params=384,
        flops=None,
        params_partial=True,
        signature="serving_default",
        signatures=("embed", "serving_default"),
    )
    panel.set_info(tflite)
    summary = panel.summary_text()
    assert summary["params"] == "384\npartial: some subgraphs' weights could not be read"
    assert summary["signature"] == "serving_default  (also: embed)"
    assert panel.summary_form.isRowVisible(panel.fields["signature"])


# -- a real free-length GRU ----------------------------------------------------------------------

GRU_CODE = """
import sys
from core.tf_runtime import import_tensorflow
import_tensorflow()
import keras
inputs = keras.Input((None, 6), name="frames")
outputs = keras.layers.GRU(8, return_sequences=True, name="gru")(inputs)
keras.Model(inputs, outputs, name="free_gru").save(sys.argv[1])
"""


@pytest.fixture(scope="module")
def gru_model(tmp_path_factory) -> Path:
    """A free-length GRU saved as .keras, built in a process of its own (TensorFlow)."""
    path = tmp_path_factory.mktemp("gru") / "gru.keras"
    done = subprocess.run(
        [sys.executable, "-c", GRU_CODE, str(path)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return path


@pytest.fixture(scope="module")
def gru_window(qapp, real_window, gru_model, request):
    from pytestqt.qtbot import QtBot

    qtbot = QtBot(request)
    window = real_window
    window.recipe_panel.set_data_path(None)
    load(qtbot, window, gru_model)
    return window


def test_the_gru_shows_its_input_sizes_and_flops_per_time_step(qtbot, gru_window):
    window = gru_window
    box = window.recipe_panel.input_sizes
    assert box.isVisible() and list(box.fields) == ["frames"]
    assert box.fields["frames"].placeholderText() == "length, 6"
    assert "per time step" in window.model_panel.summary_text()["flops"]

    # Without data or a size, nothing starts; with "20, 6" the optimize job gets them (a stand-in here).
    box.fields["frames"].clear()
    assert not window.start_run()
    assert window.error_dialog.objectName() == "inputSizesDialog" and not window.runner.busy
    window.error_dialog.accept()
    qtbot.waitUntil(lambda: window.error_dialog is None)
    box.fields["frames"].setText("20, 6")
    window.run_controller._jobs = (free_dims_jobs.converter_refusing_optimize, None)
    try:
        with qtbot.waitSignal(window.run_failed, timeout=RUN_TIMEOUT_MS) as blocker:
            assert window.start_run()
    finally:
        window.run_controller._jobs = None
    assert "stand-in given input_shapes=(('frames', (20, 6)),)" in blocker.args[0].details
    window.error_dialog.accept()
    qtbot.waitUntil(lambda: window.error_dialog is None)
    wait_idle(qtbot, window)


def test_the_gru_runs_at_the_size_given(qtbot, gru_window):
    window = gru_window
    settings = tiny_settings(modes=("dynamic",), layer_errors=False, input_shapes=(("frames", (20, 6)),))
    outcome = run_recipe(qtbot, window, settings)
    qtbot.waitUntil(lambda: window.results_panel.complete)
    result = outcome.optimize
    assert [v.name for v in result.variants] == ["fp32", "dynamic"] and not result.failures
    assert result.data.synthetic_data and dict(result.data.input_shapes) == {"frames": (20, 6)}
    bench = outcome.benchmark
    assert outcome.benchmark_error is None and bench is not None and bench.measured
    assert {i.name: tuple(i.shape) for i in bench.inputs} == {"frames": (20, 6)}
    assert outcome.settings["input_shapes"] == [("frames", (20, 6))]
    text = window.results_panel.explanations.toPlainText()
    assert "converted through a batch-1 signature" in text
    assert "synthesized at the Input sizes frames (20, 6)" in text
    assert "measured input 'frames' at (batch, 20, 6)" in text


def test_a_scripted_run_without_the_sizes_it_needs_exits_2_naming_the_input(gru_model, tmp_path):
    """`litesmith gui GRU --screenshot PNG --run` with no data and no Input sizes: the run cannot start. The PNG
    shows the dialog, stderr one line naming the model and the input, exit 2 (as `optimize` without them)."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"))
    png = tmp_path / "shot.png"
    done = subprocess.run(
        [sys.executable, "-m", "gui", "gui", str(gru_model), "--screenshot", str(png), "--run"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(gru_model) in errors[0] and "frames" in errors[0], done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert png.stat().st_size > 20_000


def test_free_dims_screenshot(qtbot, gru_window, request, tmp_path):
    """The GRU open, its Input sizes filled; `make screenshots` keeps it (resources/screenshots/free-dims.png)."""
    writing = "screenshot" in (request.config.getoption("keyword") or "") or os.environ.get("LITESMITH_SCREENSHOTS")
    folder = SCREENSHOTS if writing else tmp_path
    window = gru_window
    window.workspace.setCurrentWidget(window.model_panel)
    window.recipe_panel.scroll_area.verticalScrollBar().setValue(0)
    QApplication.processEvents()
    assert window.recipe_panel.input_sizes.isVisible()
    assert window.grab().save(str(folder / "free-dims.png"))
    assert (folder / "free-dims.png").stat().st_size > 20_000
