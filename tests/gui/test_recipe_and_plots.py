"""The recipe panel, the run settings, the live plot and the comparison, without running a model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.benchmark.results import BenchConfig, BenchmarkResult, ConfigResult, Recommendation
from core.benchmark.stats import compute_stats
from core.data.loaders import DataDescription
from core.evaluation import AccuracyMetrics, Evaluation, FidelityMetrics
from core.optimize.recipes import recipe_for_mode
from core.optimize.results import LayerError, OptimizeResult, SourceInfo, Variant
from core.report import build_rows, pareto_front, summary
from gui.recipe import RunSettings, compression_kinds, parse_int_list
from gui.widgets.live_plot import MAX_POINTS, LivePlot, decimate
from gui.workflow import RunOutcome, benchmark_inputs


def test_default_settings_make_a_useful_run():
    settings = RunSettings()
    names = [r.name for r in settings.recipes()]
    assert names[0] == "fp32" and {"dynamic", "int8"} <= set(names)
    assert settings.data_spec() is None  # no data: synthesized inputs
    config = settings.bench_config()
    assert config.budget_ms == 10.0 and config.threads == (1,) and config.batch_sizes == (1,)
    assert config.runs is None and config.time_budget_s == 1.0


def test_settings_round_trip_and_survive_garbage():
    settings = RunSettings(
        modes=("int8",),
        int8_io=True,
        threads=(1, 4),
        batch_sizes=(1, 8),
        runs=50,
        seconds=None,
        budget_ms=5.0,
        device="/GPU:0",
    )
    again = RunSettings.from_dict(json.loads(json.dumps(settings.to_dict())))
    assert again.to_dict() == settings.to_dict()
    assert [r.name for r in again.recipes()] == ["fp32", "int8-int8io"]
    broken = RunSettings.from_dict(
        {
            "modes": ["int8", "bogus"],
            "threads": "x",
            "budget_ms": -3,
            "runs": None,
            "seconds": None,
            "prune": "sideways",
        }
    )
    assert broken.modes == ("int8",) and broken.threads == (1,) and broken.budget_ms == 10.0
    assert broken.seconds == 1.0 and broken.prune == ""
    assert RunSettings.from_dict("not a dict").to_dict() == RunSettings().to_dict()


def test_selective_and_csv_label_column():
    settings = RunSettings(
        modes=("int8",), selective=True, fidelity_target=0.995, data_path="/d/x.csv", label_column=" Class "
    )
    recipe = settings.recipes()[1]
    assert recipe.name == "int8-selective"
    assert recipe.step("quantize").config.selective.target == 0.995
    assert settings.data_spec().label_column == "Class"
    assert RunSettings(data_path="/d/x.npz", label_column="Class").data_spec().label_column is None
    assert parse_int_list("1, 4 8 4") == (1, 4, 8)
    with pytest.raises(ValueError):
        parse_int_list("0")


def test_recipe_panel_round_trip_and_data_state(qtbot, tmp_path):
    from PySide6.QtGui import QAction

    from gui.panels.recipe_panel import RecipePanel

    run = QAction("Run")
    panel = RecipePanel(run)
    qtbot.addWidget(panel)
    panel.show()
    assert panel.data_warning.isVisibleTo(panel) and "synthesized" in panel.data_warning.text()
    assert "misleads" in panel.data_warning.text()
    csv = tmp_path / "table.csv"
    csv.write_text("a,b,label\n1,2,0\n")
    panel.set_data_path(str(csv))
    assert panel.data_zone.name.text() == "table.csv" and panel.label_row.isVisibleTo(panel)
    qtbot.waitUntil(lambda: panel.label_column.count() == 4)  # a worker thread reads the header
    assert panel.label_column.currentText() == "label"  # offered from the header
    assert [panel.label_column.itemText(i) for i in range(panel.label_column.count())] == ["", "a", "b", "label"]
    assert not panel.data_warning.isVisibleTo(panel)
    wanted = RunSettings(
        data_path=str(csv),
        label_column="label",
        modes=("float16", "int16x8"),
        runs=40,
        seconds=None,
        threads=(2,),
        batch_sizes=(1, 16),
        budget_ms=2.5,
        layer_errors=False,
    )
    panel.set_settings(wanted, include_data=True)
    got = panel.settings()
    for key in (
        "data_path",
        "label_column",
        "modes",
        "runs",
        "seconds",
        "threads",
        "batch_sizes",
        "budget_ms",
        "layer_errors",
    ):
        assert getattr(got, key) == getattr(wanted, key), key
    panel.threads.setText("two")
    with pytest.raises(ValueError, match="Threads"):
        panel.settings()
    # The int8 options follow the int8 box; selective and int8 I/O exclude each other.
    panel.mode_boxes["int8"].setChecked(False)
    assert not panel.int8_options.isEnabled()
    panel.mode_boxes["int8"].setChecked(True)
    panel.selective.setChecked(True)
    assert not panel.int8_io.isEnabled() and panel.fidelity_target.isEnabled()
    clicks = []
    run.triggered.connect(lambda: clicks.append(1))
    panel.run_button.click()
    assert clicks == [1]


def test_compression_controls_follow_the_registered_steps(qtbot, monkeypatch):
    from PySide6.QtGui import QAction

    from core.optimize import registry
    from gui.panels.recipe_panel import RecipePanel

    known = compression_kinds()
    panel = RecipePanel(QAction("Run"))
    qtbot.addWidget(panel)
    assert panel.compression_box.isVisibleTo(panel) == bool(known)
    if "structured_prune" in known:
        panel.prune.setCurrentIndex(panel.prune.findData("structured"))
        names = [r.name for r in panel.settings().recipes()]
        assert any(n.startswith("structured50+") for n in names) and "fp32" in names
    # Without the step kinds registered, no dead controls.
    hidden, registered = {"magnitude_prune", "structured_prune", "distill"}, registry.is_registered
    monkeypatch.setattr(registry, "is_registered", lambda kind: kind not in hidden and registered(kind))
    bare = RecipePanel(QAction("Run"))
    qtbot.addWidget(bare)
    assert not bare.compression_box.isVisibleTo(bare)
    assert RunSettings(prune="structured", distill=True).compression_steps() == ()


def test_device_combo_fills_from_the_report(qtbot):
    from types import SimpleNamespace

    from PySide6.QtGui import QAction

    from gui.panels.recipe_panel import RecipePanel

    panel = RecipePanel(QAction("Run"))
    qtbot.addWidget(panel)
    cpu_only = SimpleNamespace(cpu=SimpleNamespace(model="Some CPU"), tf_gpus=())
    panel.set_devices(cpu_only)
    assert panel.device.count() == 1 and not panel.device.isEnabled()
    assert panel.device_state.text().startswith("CPU only")
    gpu = SimpleNamespace(index=0, name="Big GPU", device="/GPU:0", memory_total_mb=81920)
    panel.set_devices(SimpleNamespace(cpu=cpu_only.cpu, tf_gpus=(gpu,)))
    assert panel.device.count() == 2 and panel.device.isEnabled()
    panel.device.setCurrentIndex(1)
    assert panel.settings().device == "/GPU:0"


def payload(config, samples, start=0, final=False, runner="litert", variant=None):
    return {
        "config": config,
        "runner": runner,
        "variant": variant or config.split()[0],
        "batch_size": 1,
        "threads": 1,
        "start": start,
        "samples_ms": samples,
        "final": final,
    }


def test_live_plot_draws_on_its_timer_not_per_event(qtbot):
    plot = LivePlot()
    qtbot.addWidget(plot)
    plot.show()
    plot.add_samples(payload("keras-tf_function b1", [0.5, 0.6], runner="keras-tf_function", variant="keras"))
    plot.add_samples(
        payload("keras-tf_function b1", [0.7], start=2, final=True, runner="keras-tf_function", variant="keras")
    )
    assert plot.items == {} and plot.timer.isActive()  # stored, not drawn yet
    qtbot.waitUntil(lambda: plot.item_points() == {"keras-tf_function b1": 3}, timeout=2000)
    for i in range(50):
        plot.add_samples(payload("int8 b1 t1", list(np.full(1000, 0.01 + i * 1e-4)), start=i * 1000))
    plot.add_samples(payload("int8 b1 t1", [], start=50_000, final=True))
    qtbot.waitUntil(lambda: plot.sample_counts().get("int8 b1 t1") == 50_000 and plot.box_count() == 2, timeout=2000)
    plot.hide()
    plot.add_samples(payload("int8 b1 t1", [0.02], start=50_000))
    plot.refresh()
    assert plot.sample_counts()["int8 b1 t1"] == 50_001 and not plot.drawn  # hidden: stored, not drawn
    plot.show()
    plot.finish()
    qtbot.waitUntil(lambda: plot.drawn)
    points = plot.item_points()
    assert points["int8 b1 t1"] <= MAX_POINTS + 2  # decimated
    assert plot.series["int8 b1 t1"].name == "int8" and plot.series["keras-tf_function b1"].original
    # The timeline: the int8 block starts where the baseline's ends.
    assert plot.series["int8 b1 t1"].times[0] > plot.series["keras-tf_function b1"].times[-1]
    assert not plot.timer.isActive()
    plot.reset()
    assert plot.items == {} and plot.box_count() == 0


def test_decimate_keeps_spikes_and_bounds_points():
    values = np.ones(100_000)
    values[54_321] = 50.0
    x, y = decimate(values, 1000)
    assert len(x) == len(y) <= 1002 and y.max() == 50.0 and np.all(np.isfinite(y))
    x, y = decimate(np.arange(10.0), 1000)
    assert list(x) == list(range(10))


def test_pareto_front():
    points = [("a", 1.0, 0.90), ("b", 2.0, 0.95), ("c", 3.0, 0.94), ("d", 0.5, 0.80), ("e", 1.0, 0.85)]
    assert pareto_front(points) == ["d", "a", "b"]
    assert pareto_front([("mae1", 1.0, 0.2), ("mae2", 2.0, 0.1), ("mae3", 3.0, 0.3)], higher_better=False) == [
        "mae1",
        "mae2",
    ]


def fake_outcome() -> RunOutcome:
    def evaluation(acc, agree):
        return Evaluation(
            "multiclass",
            AccuracyMetrics("multiclass", 100, accuracy=acc),
            FidelityMetrics("multiclass", 100, 0.1, 0.01, 0.999, "sample", top1_agreement=agree),
        )

    def variant(name, size, acc, agree, errors=()):
        return Variant(
            name=name,
            recipe=recipe_for_mode(name),
            tflite_bytes=b"x" * 8,
            size_bytes=size,
            converter_path="from_keras_model",
            evaluation=evaluation(acc, agree),
            size_ratio=size / 4000,
            layer_errors=errors,
        )

    def config(label, runner, variant, samples):
        return ConfigResult(
            label,
            runner,
            variant,
            1,
            None if runner.startswith("keras") else 1,
            compute_stats(samples),
            100.0,
            1.0,
            "vmhwm",
        )

    result = OptimizeResult(
        source=SourceInfo("/m/model.keras", "keras", "ab" * 32, 12_000, ()),
        data=DataDescription(False, "/m/d.npz", "/m/d.npz", 100, 100, True, True),
        original_evaluation=Evaluation("multiclass", AccuracyMetrics("multiclass", 100, accuracy=0.98)),
        baseline_size_bytes=4000,
        variants=(
            variant("fp32", 4000, 0.98, 1.0),
            variant("dynamic", 1100, 0.97, 0.99),
            variant("int8", 1000, 0.96, 0.98, (LayerError("dense", "FULLY_CONNECTED", 0.4, 0.01, 0.2, 0.1),)),
        ),
    )
    configs = (
        config("keras-tf_function b1", "keras-tf_function", "keras", [1.0, 1.2, 1.1]),
        config("fp32 b1 t1", "litert", "fp32", [0.1, 0.1, 0.12]),
        config("dynamic b1 t1", "litert", "dynamic", [0.2, 0.2, 0.2]),
        config("int8 b1 t1", "litert", "int8", [0.05, 0.06, 0.05]),
    )
    bench = BenchmarkResult(
        "model.keras",
        BenchConfig(runs=3),
        configs,
        Recommendation("int8 b1 t1", 1, 1, 2e4, 0.06, 10.0, True, "int8 b1 t1: the fastest"),
        explanations=("dynamic is slower than fp32",),
    )
    return RunOutcome("/m/model.keras", RunSettings().to_dict(), result, bench, seconds=3.0)


def test_comparison_rows_best_values_and_summary():
    outcome = fake_outcome()
    rows = build_rows(outcome)
    assert [r.name for r in rows] == ["original", "fp32", "dynamic", "int8"]
    original, fp32, dynamic, int8 = rows
    assert original.is_original and original.p50_ms == pytest.approx(1.1) and original.speedup == pytest.approx(1.0)
    assert int8.speedup == pytest.approx(1.1 / 0.05) and "speedup" in int8.best and "p50" in int8.best
    assert "size" in int8.best and "accuracy" in original.best and "accuracy" in fp32.best
    assert "fidelity" in fp32.best and "fidelity" not in original.best
    data = json.loads(json.dumps(summary(outcome)))
    assert data["columns"] == {"accuracy": "Accuracy", "fidelity": "Agreement"}
    assert data["benchmark"]["recommendation"]["label"] == "int8 b1 t1"
    variants, keras = benchmark_inputs("/m/model.keras", outcome.optimize)
    assert keras == "/m/model.keras" and list(variants) == ["fp32", "dynamic", "int8"]


def test_results_panel_and_report_without_an_engine(qtbot, tmp_path):
    from PySide6.QtGui import QAction

    from gui.panels.results_panel import ResultsPanel
    from gui.report import write_report

    panel = ResultsPanel(QAction("Export Variant…"), QAction("Export Report…"))
    qtbot.addWidget(panel)
    panel.resize(900, 600)
    panel.show()
    panel.set_outcome(fake_outcome())
    qtbot.waitUntil(lambda: panel.complete)
    assert panel.cell(3, 0) == "int8 ✔" and panel.cell(3, 6).endswith("★")  # ✔: the recommended variant
    assert panel.column_titles()[8:] == ["Accuracy", "Agreement"]
    assert panel.layer_model.rowCount() == 1 and panel.layer_combo.currentText() == "int8"
    assert "the fastest" in panel.explanations.toPlainText()
    assert panel.charts.front[0] == "int8"
    html_path, json_path = write_report(panel.outcome, panel, str(tmp_path / "r.html"), str(tmp_path / "r.json"))
    page = open(html_path, encoding="utf-8").read()
    assert page.count("data:image/png;base64,") == 3 and "<td class=best>" in page
    assert json.load(open(json_path))["rows"][3]["name"] == "int8"
