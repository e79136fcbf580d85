"""The workflow on real models: Run (optimize + benchmark), the live plot, the comparison, export, cancel, errors.

The real engine and window are shared with test_real_models (conftest's session
`real_window`); the benchmark settings stay tiny (one configuration of 30 calls).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer

from core.errors import ErrorKind
from tests.gui.helpers import RUN_TIMEOUT_MS, load, run_recipe, tiny_settings


@pytest.fixture(scope="module")
def samples(tmp_path_factory, samples_dir) -> Path:
    """The samples copied into a folder of their own (outputs land beside the model)."""
    folder = tmp_path_factory.mktemp("samples")
    for name in ("fraud.keras", "fraud_eval.npz", "digits.keras", "digits_eval.npz"):
        shutil.copy(samples_dir / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def fraud_run(qapp, real_window, samples, request):
    """One run on the fraud sample with its labelled data: (window, outcome, files in the folder before)."""
    from pytestqt.qtbot import QtBot

    qtbot = QtBot(request)
    window = real_window
    load(qtbot, window, samples / "fraud.keras")
    before = sorted(os.listdir(samples))
    outcome = run_recipe(qtbot, window, tiny_settings(data_path=str(samples / "fraud_eval.npz")))
    qtbot.waitUntil(lambda: window.results_panel.complete)  # the charts fill in just after the table
    window.live_plot.flush()  # hidden behind the Results tab: it draws when shown
    return window, outcome, before


def test_run_on_fraud_fills_the_table_and_the_plots(fraud_run, samples):
    window, outcome, before = fraud_run
    assert sorted(os.listdir(samples)) == before  # a run writes nothing
    assert window.current_page() is window.results_panel
    panel = window.results_panel
    titles = panel.column_titles()
    assert titles[:8] == ["Variant", "Format", "Size", "vs fp32", "p50", "p99", "Speed-up", "Samples/s"]
    assert titles[8:] == ["PR-AUC", "Cosine"]  # binary task: PR-AUC, fidelity as cosine
    marked = [panel.cell(r, 0) for r in range(panel.table.model().rowCount())]
    names = [n.removesuffix(" ✔") for n in marked]
    assert names == ["original", "fp32", "dynamic", "int8"]
    # ✔ marks the one recommendation (the benchmark's Recommendation.variant), on exactly one row
    assert [n for n, m in zip(names, marked) if m != n] == [outcome.benchmark.recommendation.variant]
    assert panel.cell(0, 1) == "Keras"
    assert panel.cell(0, 6) == "1.0×" and panel.cell(0, 9) == "reference"
    for row in panel.rows:
        assert row.p50_ms and row.p99_ms and row.throughput and row.accuracy is not None
    assert 0.3 < panel.rows[0].accuracy <= 1.0  # the original's PR-AUC on the labelled evaluation data
    # Every column with figures has a best value, marked in bold with a star.
    for key in ("size", "p50", "p99", "speedup", "throughput", "accuracy", "fidelity"):
        assert any(key in r.best for r in panel.rows), key
    assert any("★" in (panel.cell(r, 2) or "") for r in range(4))
    assert not panel.banner.isVisibleTo(panel)  # real data: no synthetic-data banner

    # The live plot got every configuration's samples: 30 calls each, one box each.
    plot = window.live_plot
    assert sorted(plot.sample_counts().values()) == [30] * 4
    assert all(points == 30 for points in plot.item_points().values())
    assert plot.box_count() == 4 and plot.refreshes >= 1
    # Charts: bars for every row; the Pareto front is a subset of the rows.
    assert set(panel.charts.front) <= set(names) and panel.charts.front
    for chart in panel.charts.plots().values():
        assert chart.getPlotItem().items
    # Per-layer error of int8, and the explanations in words.
    assert panel.tabs.isTabVisible(panel.layer_tab_index)
    assert panel.layer_model.rowCount() > 0
    text = panel.explanations.toPlainText()
    assert "Recommendation:" in text and "XNNPACK" in text
    assert window.export_variant_action.isEnabled() and window.export_report_action.isEnabled()
    # Every measured configuration, with its percentiles.
    assert panel.config_model.rowCount() == 4
    configs = panel.config_table.model()
    assert [configs.headerData(c, Qt.Orientation.Horizontal) for c in (4, 5, 6, 7)] == ["p50", "p90", "p99", "p99.9"]
    assert "recommended" in [configs.data(configs.index(r, 11)) for r in range(4)]


def test_export_variant_writes_a_loadable_tflite_and_its_report(qtbot, fraud_run, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    window, outcome, _ = fraud_run
    out = tmp_path / "fraud.int8.tflite"
    with qtbot.waitSignal(window.exported, timeout=RUN_TIMEOUT_MS) as blocker:
        assert window.export_variant("int8", out)
    result = blocker.args[0]
    assert result.tflite_path == str(out) and result.verified
    interpreter = Interpreter(model_path=str(out))
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], dtype=detail["dtype"]))
    interpreter.invoke()
    report = json.loads((tmp_path / "fraud.int8.report.json").read_text())
    assert report["variant"] == "int8" and report["output"]["sha256"] == result.sha256
    assert report["benchmark"] and report["benchmark"][0]["stats"]["p50"] > 0
    assert sorted(os.listdir(tmp_path)) == ["fraud.int8.report.json", "fraud.int8.tflite"]  # no temp file left
    dialog = window.export_dialog
    assert dialog is not None and str(out) in dialog.text()
    dialog.accept()


def test_export_never_writes_over_the_input(qtbot, fraud_run):
    window, outcome, _ = fraud_run
    assert not window.export_variant("int8", outcome.model_path)
    assert window.error_dialog is not None and "over the input" in window.error_dialog.text()
    window.error_dialog.accept()
    qtbot.waitUntil(lambda: window.error_dialog is None)
    assert window.export_report(outcome.model_path) is False
    window.error_dialog.accept()
    qtbot.waitUntil(lambda: window.error_dialog is None)


def test_export_report_writes_html_with_charts_and_json(qtbot, fraud_run, tmp_path, monkeypatch):
    import threading

    import core.report.html

    window, outcome, _ = fraud_run
    writers = []
    real = core.report.html.write_report
    monkeypatch.setattr(
        core.report.html, "write_report", lambda *a, **k: writers.append(threading.current_thread()) or real(*a, **k)
    )
    with qtbot.waitSignal(window.report_exported) as written:  # the files are written in a worker
        assert window.export_report(tmp_path / "fraud report.html")
    html_path, json_path = written.args
    assert writers and threading.main_thread() not in writers  # never on the GUI thread
    assert window.job_status.label.text() == "Wrote fraud report.html and fraud report.json"
    page = Path(html_path).read_text()
    assert page.count("data:image/png;base64,") == 3
    assert "PR-AUC" in page and "original" in page and "★" in page
    data = json.loads(Path(json_path).read_text())
    assert [r["name"] for r in data["rows"]] == ["original", "fp32", "dynamic", "int8"]
    assert data["benchmark"]["recommendation"]["reason"]
    assert data["rows"][0]["p50_ms"] > 0 and data["columns"]["accuracy"] == "PR-AUC"
    assert sorted(os.listdir(tmp_path)) == ["fraud report.html", "fraud report.json"]


def test_a_report_that_cannot_be_written_is_a_dialog_naming_the_file(qtbot, fraud_run, tmp_path):
    window, _outcome, _ = fraud_run
    target = tmp_path / "no such folder" / "r.html"
    assert window.export_report(target)  # started: the worker finds out
    qtbot.waitUntil(lambda: window.error_dialog is not None)
    text = window.error_dialog.text()
    assert "cannot write the report" in text and str(tmp_path / "no such folder") in text
    window.error_dialog.accept()
    qtbot.waitUntil(lambda: window.error_dialog is None)
    assert not (tmp_path / "no such folder").exists()


def test_cancel_mid_run_returns_to_idle_and_writes_nothing(qtbot, real_window, samples):
    window = real_window
    load(qtbot, window, samples / "fraud.keras")
    before = sorted(os.listdir(samples))
    # A long benchmark: cancelled while it measures.
    window.recipe_panel.set_settings(tiny_settings(modes=("dynamic",), runs=None, seconds=60.0), include_data=True)
    assert window.run_action.isEnabled()
    window.run_action.trigger()
    assert window.run_controller.active, window.job_status.label.text()
    assert window.live_plot.sample_counts() == {}
    qtbot.waitUntil(lambda: sum(window.live_plot.sample_counts().values()) > 0, timeout=RUN_TIMEOUT_MS)
    assert window.run_controller.stage == "benchmark"
    assert window.job_status.cancel_button.isEnabled()
    assert not window.run_action.isEnabled()
    with qtbot.waitSignal(window.run_cancelled, timeout=30_000):
        window.job_status.cancel_button.click()
    assert not window.runner.busy and not window.run_controller.active
    assert window.run_action.isEnabled() and window.recipe_panel.run_button.isEnabled()
    assert window.error_dialog is None
    assert window.job_status.label.text() == "Run cancelled"
    assert sorted(os.listdir(samples)) == before


def test_bad_data_file_shows_the_error_and_the_app_stays_usable(qtbot, real_window, samples, tmp_path):
    window = real_window
    load(qtbot, window, samples / "fraud.keras")
    bad = tmp_path / "broken.npz"
    bad.write_bytes(os.urandom(1024))
    window.recipe_panel.set_settings(tiny_settings(data_path=str(bad)), include_data=True)
    with qtbot.waitSignal(window.run_failed, timeout=RUN_TIMEOUT_MS) as blocker:
        window.run_action.trigger()
    assert blocker.args[0].kind == ErrorKind.BAD_INPUT
    dialog = window.error_dialog
    assert dialog is not None and dialog.isVisible() and "broken.npz" in dialog.text()
    dialog.accept()
    qtbot.waitUntil(lambda: window.error_dialog is None)
    assert window.run_action.isEnabled() and not window.runner.busy
    # Still usable: without data, a run works (and says its inputs were synthesized).
    outcome = run_recipe(qtbot, window, tiny_settings(modes=("dynamic",), runs=5, layer_errors=False))
    assert outcome.optimize.data.synthetic_data
    assert window.results_panel.banner.isVisibleTo(window.results_panel)
    assert [r.name for r in window.results_panel.rows] == ["original", "fp32", "dynamic"]


def test_heartbeat_keeps_ticking_during_a_full_run(qtbot, real_window, samples):
    """A 10 ms QTimer keeps firing through a whole run (optimize + benchmark) on the digits sample.

    Functional check only: the event loop runs during each stage. How long it may stall (< 100 ms) is a
    measured figure: bench/bench_gui_heartbeat.py.
    """
    window = real_window
    load(qtbot, window, samples / "digits.keras")
    settings = tiny_settings(modes=("dynamic", "float16", "int8"), data_path=str(samples / "digits_eval.npz"))
    ticks: list[float] = []
    events: list[tuple[float, str]] = []  # what the GUI was doing, to explain a stall

    def note(text):
        return lambda *args: events.append((time.perf_counter(), text))

    window.runner.busy_changed.connect(note("busy changed"))
    window.run_controller.stage_changed.connect(note("stage"))
    window.run_controller.variant_ready.connect(note("variant"))
    window.run_controller.samples.connect(note("samples"))
    window.live_plot.timer.timeout.connect(note("plot refresh"))
    window.run_finished.connect(note("run finished"))
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    try:
        outcome = run_recipe(qtbot, window, settings)
        qtbot.waitUntil(lambda: window.results_panel.complete)  # the charts too
        qtbot.wait(50)
    finally:
        timer.stop()
    assert len(outcome.optimize.variants) == 4 and outcome.benchmark is not None
    gaps = np.diff(np.array(ticks)) * 1000
    worst = np.argsort(gaps)[-5:][::-1]
    trace = ", ".join(f"{gaps[i]:.0f} ms at tick {i}/{len(gaps)}" for i in worst)
    start, end = ticks[int(worst[0])], ticks[int(worst[0]) + 1]
    around = "; ".join(f"{(t - start) * 1000:+.0f} ms {what}" for t, what in events if start - 0.05 <= t <= end)
    print(f"heartbeat: {len(ticks)} ticks, longest gaps: {trace}; during the longest: {around or 'no GUI event'}")
    # The timer fired while each stage ran: between the run's stage changes and its end.
    marks = [t for t, what in events if what in ("stage", "run finished")]
    assert len(marks) >= 3, events  # optimize, benchmark, finished
    for begin, finish in zip(marks, marks[1:]):
        assert any(begin <= t <= finish for t in ticks), (
            f"no tick between {begin - marks[0]:.2f} s and {finish - marks[0]:.2f} s: {trace}; {around}"
        )


def test_app_runs_the_recipe_before_the_screenshot(tmp_path, samples):
    """`litesmith gui MODEL --screenshot PNG --run` in a fresh process: the last-used recipe runs first."""
    import subprocess
    import sys

    config_home = tmp_path / "config"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(config_home))
    saved = tiny_settings(modes=("dynamic",), runs=10, layer_errors=False).to_dict()
    code = (
        "import json, sys; from gui.settings import open_settings; s = open_settings(); "
        "s.setValue('recipe/last', sys.argv[1]); s.sync()"
    )
    subprocess.run(
        [sys.executable, "-c", code, json.dumps(saved)],
        env=env,
        check=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    png = tmp_path / "results.png"
    done = subprocess.run(
        [sys.executable, "-m", "gui", "gui", str(samples / "digits.keras"), "--screenshot", str(png), "--run"],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert png.stat().st_size > 20_000
    assert "Traceback" not in done.stderr


def test_csv_data_with_a_label_column(qtbot, real_window, samples, tmp_path):
    """A CSV picked in the recipe panel: the label column is offered from its header and used."""
    window = real_window
    load(qtbot, window, samples / "fraud.keras")
    with np.load(samples / "fraud_eval.npz") as data:
        x, y = data["x"][:400], data["y"][:400]
    csv = tmp_path / "fraud.csv"
    header = ",".join([f"f{i}" for i in range(x.shape[1])] + ["Class"])
    rows = [",".join(f"{v:.6g}" for v in row) + f",{int(label)}" for row, label in zip(x, y)]
    csv.write_text(header + "\n" + "\n".join(rows) + "\n")
    window.recipe_panel.set_data_path(str(csv))
    qtbot.waitUntil(lambda: window.recipe_panel.label_column.currentText() == "Class")  # read off the GUI thread
    settings = window.recipe_panel.settings()
    assert settings.label_column == "Class"
    settings.modes, settings.runs, settings.seconds, settings.layer_errors = ("dynamic",), 5, None, False
    outcome = run_recipe(qtbot, window, settings)
    assert outcome.optimize.data.labelled and not outcome.optimize.data.synthetic_data
    assert window.results_panel.column_titles()[8] == "PR-AUC"
    assert all(r.accuracy is not None for r in window.results_panel.rows)


def test_cancel_while_optimizing_keeps_the_previous_results(qtbot, real_window, samples):
    window = real_window
    load(qtbot, window, samples / "fraud.keras")
    previous = window.outcome
    modes = ("dynamic", "float16", "int8", "int16x8")
    window.recipe_panel.set_settings(tiny_settings(modes=modes), include_data=True)
    # Cancel once a conversion is under way (the fp32 baseline or a variant), not before the job started.
    conversion_stages = {"baseline", "fp32", *modes}
    stages: list[str] = []
    record = lambda fraction, stage, message: stages.append(stage)  # noqa: E731
    window.runner.progress.connect(record)
    try:
        window.run_action.trigger()
        assert window.run_controller.stage == "optimize"
        qtbot.waitUntil(lambda: bool(conversion_stages & set(stages)), timeout=RUN_TIMEOUT_MS)
        assert window.run_controller.stage == "optimize", stages  # still converting when cancelled
        with qtbot.waitSignal(window.run_cancelled, timeout=60_000):
            window.cancel_action.trigger()  # Esc
    finally:
        window.runner.progress.disconnect(record)
    assert not window.runner.busy and window.run_action.isEnabled()
    assert window.outcome is previous and window.error_dialog is None
    assert window.live_plot.sample_counts() == {}
