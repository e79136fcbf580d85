"""Auto mode, profiling, the devices dialog and the cache, from the window.

Runs on the session's real engine and window (conftest's `real_window`) with tiny
settings (one thread, batch 1, fractions of a second per configuration, no pruning).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QMessageBox

from core.hardware import TFLITE_ON_CPU_NOTE, CpuInfo, DeviceReport, GpuInfo
from tests.gui.helpers import RUN_TIMEOUT_MS, load, run_recipe, tiny_settings

SCREENSHOTS = Path(__file__).resolve().parents[2] / "resources" / "screenshots"


@pytest.fixture(scope="module")
def samples(tmp_path_factory, samples_dir) -> Path:
    folder = tmp_path_factory.mktemp("auto-samples")
    for name in ("fraud.keras", "fraud_eval.npz", "digits.keras", "digits_eval.npz"):
        shutil.copy(samples_dir / name, folder / name)
    return folder


def screenshot_folder(request, tmp_path) -> Path:
    """resources/screenshots under `make screenshots` (-k screenshot) or LITESMITH_SCREENSHOTS, else a temp folder."""
    writing = "screenshot" in (request.config.getoption("keyword") or "") or os.environ.get("LITESMITH_SCREENSHOTS")
    return SCREENSHOTS if writing else tmp_path


def auto_settings(samples, **changes):
    values = dict(
        data_path=str(samples / "fraud_eval.npz"),
        threads=(1,),
        batch_sizes=(1,),
        runs=None,
        seconds=0.1,
        auto_pruning=False,
        auto_quality="agreement",
        auto_min_agreement=99.0,
    )
    values.update(changes)
    return tiny_settings(**values)


def run_auto(qtbot, window, settings, timeout=RUN_TIMEOUT_MS):
    window.recipe_panel.set_settings(settings, include_data=True)
    with qtbot.waitSignal(window.auto_finished, timeout=timeout) as blocker:
        window.auto_action.trigger()
        assert window.auto_controller.active or window._pending is not None
    return blocker.args[0]


def test_auto_on_fraud_fills_the_table_and_the_chart_and_recommends(qtbot, real_window, samples, tmp_path):
    window = real_window
    load(qtbot, window, samples / "fraud.keras")
    assert window.auto_action.shortcut().toString() == "Ctrl+Shift+R"
    assert window.auto_action in window.run_menu.actions()
    assert window.recipe_panel.auto_button.isVisibleTo(window.recipe_panel)
    seen: list[dict] = []
    window.auto_controller.candidate.connect(seen.append)
    result = run_auto(qtbot, window, auto_settings(samples))
    window.auto_controller.candidate.disconnect(seen.append)
    assert not result.cancelled and result.recommended
    assert len(seen) == len(result.candidates) and seen[-1]["done"] == seen[-1]["total"]
    panel = window.results_panel
    assert panel.mode == "auto" and window.current_page() is panel
    assert panel.auto_redraws >= 1
    names = [panel.cell(r, 0) for r in range(panel.table.model().rowCount())]
    assert names[0] == "original" and len(names) == len(result.candidates) + 1
    assert any(n.startswith(result.recommended) and "✔" in n for n in names)
    measured = [r for r in panel.rows if r.status == "measured"]
    assert measured and all(r.p50_ms for r in measured)
    assert panel.charts.front  # the measured candidates are on the quality-vs-latency chart
    assert panel.charts.tradeoff_plot.getPlotItem().items
    text = panel.explanations.toPlainText()
    assert "Why:" in text and "Budget:" in text
    assert "candidates measured" in panel.headline.text() and "Recommended" in panel.headline.text()
    assert "Auto done" in window.job_status.label.text()
    # Export Variant takes the recommended variant.
    assert window.export_variant_action.isEnabled() and not window.export_report_action.isEnabled()
    assert window.default_export_variant() == result.recommended
    out = tmp_path / "fraud.auto.tflite"
    with qtbot.waitSignal(window.exported, timeout=RUN_TIMEOUT_MS) as blocker:
        assert window.export_variant(result.recommended, out)
    assert blocker.args[0].verified and out.exists()
    window.export_dialog.accept()
    # A selected candidate is exported instead when its bytes can be read back from the cache.
    other = next(c.name for c in result.candidates if c.status == "measured" and c.name != result.recommended)
    row = next(r for r in range(panel.table.model().rowCount()) if panel.cell(r, 0).split(" ")[0] == other)
    panel.table.selectRow(row)
    assert panel.selected_variant() == other
    assert window.default_export_variant() == other
    out = tmp_path / f"fraud.{other}.tflite"
    with qtbot.waitSignal(window.exported, timeout=RUN_TIMEOUT_MS) as blocker:
        assert window.export_variant(other, out)
    assert blocker.args[0].verified and out.exists()
    window.export_dialog.accept()
    panel.table.clearSelection()

    # The same search again: every candidate comes from the cache, and the window says so.
    again = run_auto(qtbot, window, auto_settings(samples))
    assert all(c.from_cache for c in again.candidates if c.status in ("measured", "misses_budget"))
    assert any("⟲" in panel.cell(r, 0) for r in range(panel.table.model().rowCount()))
    assert "cache" in window.job_status.label.text()
    assert "Cache:" in panel.explanations.toPlainText()


def test_cancel_mid_auto_keeps_the_candidates_measured_so_far(qtbot, real_window, samples):
    window = real_window
    load(qtbot, window, samples / "fraud.keras")
    # Two seconds per configuration (a measurement the cache has not seen): time to cancel after the first.
    window.recipe_panel.set_settings(auto_settings(samples, seconds=2.0), include_data=True)
    with qtbot.waitSignal(window.auto_finished, timeout=RUN_TIMEOUT_MS) as blocker:
        assert window.start_auto() or window._pending is not None
        qtbot.waitUntil(lambda: len(window.results_panel.auto_payloads) >= 1, timeout=RUN_TIMEOUT_MS)
        window.cancel_action.trigger()
    result = blocker.args[0]
    assert result.cancelled
    done = [c for c in result.candidates if c.status != "pending"]
    assert done and any(c.status == "pending" for c in result.candidates)
    panel = window.results_panel
    assert panel.table.model().rowCount() == len(result.candidates) + 1
    assert "cancelled" in panel.headline.text()
    assert "Auto cancelled" in window.job_status.label.text()
    assert window.auto_action.isEnabled() and window.error_dialog is None


def test_profile_tab_fills_with_layer_times_and_data_time(qtbot, real_window, samples, request, tmp_path):
    window = real_window
    load(qtbot, window, samples / "fraud.keras")
    panel = window.results_panel
    settings = tiny_settings(
        modes=("dynamic",), runs=10, layer_errors=False, profile=True, data_path=str(samples / "fraud_eval.npz")
    )
    assert settings.bench_config().profile_layers
    outcome = run_recipe(qtbot, window, settings)
    qtbot.waitUntil(lambda: panel.complete)
    assert outcome.benchmark.layer_profile and outcome.benchmark.data_profile is not None
    assert panel.tabs.isTabVisible(panel.profile_tab_index)
    page = panel.profile_page
    assert page.model.rowCount() == len(outcome.benchmark.layer_profile)
    assert page.chart.getPlotItem().items
    assert "Data vs model" in page.data_label.text() and "went to data" in page.data_label.text()
    panel.tabs.setCurrentWidget(page)
    QApplication.processEvents()
    assert window.grab().save(str(screenshot_folder(request, tmp_path) / "profile.png"))
    panel.tabs.setCurrentWidget(panel.charts)
    # Off by default: no Profile tab.
    outcome = run_recipe(qtbot, window, tiny_settings(modes=("dynamic",), runs=5, layer_errors=False))
    qtbot.waitUntil(lambda: panel.complete)
    assert not outcome.benchmark.layer_profile
    assert not panel.tabs.isTabVisible(panel.profile_tab_index)


def test_devices_dialog_shows_the_real_report(qtbot, real_window, samples):
    window = real_window
    load(qtbot, window, samples / "fraud.keras")
    assert window.devices_action in window.help_menu.actions()
    report = window.device_report
    dialog = window.show_devices()
    text = dialog.plain_text()
    assert report is not None and report.cpu.model in text
    assert ".tflite models run on the CPU" in text
    if report.cpu_only:
        assert "CPU only" in text
    dialog.accept()
    qtbot.waitUntil(lambda: window.devices_dialog is None)


def fake_gpu_report() -> DeviceReport:
    cpu = CpuInfo(
        model="Fake CPU 9000",
        architecture="x86_64",
        physical_cores=8,
        logical_cores=16,
        features=("AVX2", "FMA", "AVX-512 VNNI"),
        flags_read=True,
    )
    gpu = GpuInfo(
        index=0,
        name="Fake GPU X",
        source="tensorflow",
        device="/GPU:0",
        compute_capability=(9, 0),
        memory_total_mb=81920.0,
    )
    nvml = GpuInfo(
        index=0,
        name="Fake GPU X",
        source="nvml",
        memory_total_mb=81920.0,
        memory_used_mb=1024.0,
        driver_version="560.1",
    )
    return DeviceReport(
        cpu=cpu,
        tf_gpus=(gpu,),
        nvml_gpus=(nvml,),
        tf_version="2.21.0",
        tf_built_with_cuda=True,
        nvml_status="ok",
        notes=(TFLITE_ON_CPU_NOTE,),
    )


def test_devices_dialog_and_gpu_cap_with_a_fake_gpu(qtbot, inline_window):
    window = inline_window
    dialog = window.show_devices()
    assert "CPU only" in dialog.plain_text()  # no detection in this window
    window._on_devices(fake_gpu_report())
    text = dialog.plain_text()
    for part in (
        "Fake CPU 9000",
        "AVX-512 VNNI",
        "Fake GPU X",
        "/GPU:0",
        "compute capability 9.0",
        "driver 560.1",
        ".tflite models run on the CPU",
        "1 GPU(s) for TensorFlow",
    ):
        assert part in text, part
    panel = window.recipe_panel
    assert panel.device.count() == 2 and panel.device.isEnabled()
    assert not panel.gpu_memory.isEnabled()  # CPU chosen: no cap to set
    panel.device.setCurrentIndex(1)
    assert panel.gpu_memory.isEnabled()
    panel.gpu_memory.setValue(4096)
    config = panel.settings().bench_config()
    assert config.device == "/GPU:0" and config.gpu_memory_limit_mb == 4096
    panel.device.setCurrentIndex(0)
    assert panel.settings().bench_config().gpu_memory_limit_mb is None
    dialog.accept()


def test_clear_cache_removes_every_entry(qtbot, inline_window, tmp_path, monkeypatch):
    import threading

    from core.cache import ResultCache

    monkeypatch.setenv("LITESMITH_CACHE_DIR", str(tmp_path / "cache"))
    window = inline_window
    window.clear_cache_dialog()  # the folder is listed in a worker; then the box opens
    qtbot.waitUntil(lambda: window.cache_dialog is not None)
    empty = window.cache_dialog
    assert "empty" in empty.text()
    empty.accept()
    qtbot.waitUntil(lambda: window.cache_dialog is None)
    cache = ResultCache()
    for i in range(3):
        cache.put(f"entry-{i}", b"x" * 5000)
    assert cache.stats().entries == 3
    window.clear_cache_dialog()
    qtbot.waitUntil(lambda: window.cache_dialog is not None)
    box = window.cache_dialog
    assert "3 cached result(s)" in box.text() and str(tmp_path / "cache") in box.informativeText()
    deleted_on = []
    real_clear = ResultCache.clear
    monkeypatch.setattr(
        ResultCache, "clear", lambda self: deleted_on.append(threading.current_thread()) or real_clear(self)
    )
    with qtbot.waitSignal(window.cache_cleared) as blocker:
        box.button(QMessageBox.StandardButton.Yes).click()
    assert blocker.args == [3]
    assert deleted_on and threading.main_thread() not in deleted_on  # the files go in a worker thread
    assert cache.stats().entries == 0
    assert "3 entries" in window.job_status.label.text() and "freed" in window.job_status.label.text()


def test_auto_screenshot(qtbot, real_window, samples, request, tmp_path):
    """An auto search on the digits sample; `make screenshots` keeps the picture (resources/screenshots/auto.png)."""
    folder = screenshot_folder(request, tmp_path)
    window = real_window
    load(qtbot, window, samples / "digits.keras")
    result = run_auto(
        qtbot, window, auto_settings(samples, data_path=str(samples / "digits_eval.npz"), seconds=0.3, threads=(1, 2))
    )
    assert result.recommended
    window.workspace.setCurrentWidget(window.results_panel)
    window.results_panel.tabs.setCurrentWidget(window.results_panel.charts)
    QApplication.processEvents()
    assert window.grab().save(str(folder / "auto.png"))
    window.results_panel.tabs.setCurrentWidget(window.results_panel.explanations)
    QApplication.processEvents()
    assert window.grab().save(str(folder / "auto-explained.png"))
    window.results_panel.tabs.setCurrentWidget(window.results_panel.charts)


def test_run_says_when_its_variants_came_from_the_cache(qtbot, real_window, samples):
    window = real_window
    load(qtbot, window, samples / "fraud.keras")
    settings = tiny_settings(modes=("float16",), runs=5, layer_errors=False, data_path=str(samples / "fraud_eval.npz"))
    run_recipe(qtbot, window, settings)
    outcome = run_recipe(qtbot, window, settings)
    assert outcome.cached_variants == ["fp32", "float16"]
    assert "from the cache" in window.job_status.label.text()
    qtbot.waitUntil(lambda: window.results_panel.complete)
    assert "served from the result cache" in window.results_panel.explanations.toPlainText()


def test_streamed_candidates_redraw_throttled_and_long_names_elide(qtbot, inline_window):
    from gui.panels.results_panel import NAME_MAX_PX

    panel = inline_window.results_panel
    panel.begin_auto("model.keras", "agreement ≥ 99 %")
    evaluation = {"task": "multiclass", "fidelity": {"top1_agreement": 0.995}}
    names = ["fp32", "dynamic", "float16", "int8", "structured50+int8-selective-with-a-very-long-name"]
    for i, name in enumerate(names):
        panel.add_candidate(
            {
                "name": name,
                "status": "measured",
                "size_bytes": 1000 * (5 - i),
                "size_ratio": 1.0,
                "latency_ms": 0.1 / (i + 1),
                "latency_config": f"{name} b1 t1",
                "throughput": 100.0,
                "evaluation": evaluation,
                "from_cache": i == 0,
                "done": i + 1,
                "total": 5,
                "best": name,
            }
        )
    assert panel.auto_redraws == 0  # a burst: one redraw after the interval
    qtbot.waitUntil(lambda: panel.auto_redraws == 1, timeout=2000)
    qtbot.wait(400)
    assert panel.auto_redraws == 1
    assert panel.table.model().rowCount() == 5
    assert panel.cell(0, 0) == "fp32 ⟲"
    assert "5/5 candidates, best so far" in panel.headline.text()
    assert panel.table.columnWidth(0) <= NAME_MAX_PX
    assert panel.charts.tradeoff_plot.getPlotItem().items


def test_new_settings_round_trip_and_make_the_engine_inputs():
    from gui.recipe import RunSettings

    settings = RunSettings(
        profile=True,
        gpu_memory_mb=2048,
        device="/GPU:0",
        auto_quality="accuracy",
        auto_max_drop=0.5,
        auto_max_size_mb=2.0,
        auto_pruning=False,
        threads=(1, 2),
        seconds=0.2,
    )
    again = RunSettings.from_dict(settings.to_dict())
    assert again == settings
    budget = again.auto_budget()
    assert budget.max_accuracy_drop == 0.005 and budget.min_agreement is None and budget.max_size_bytes == 2 * 2**20
    auto = again.auto_settings()
    assert auto.threads == (1, 2) and auto.seconds_per_config == 0.2 and auto.pruning == "never"
    config = again.bench_config()
    assert config.profile_layers and config.gpu_memory_limit_mb == 2048
    assert RunSettings(auto_min_agreement=99.5).auto_budget().min_agreement == 0.995
    broken = RunSettings.from_dict({"auto_quality": "nonsense", "auto_min_agreement": 400, "gpu_memory_mb": "x"})
    assert broken.auto_quality == "agreement" and broken.auto_min_agreement == 100.0 and broken.gpu_memory_mb == 0
    assert RunSettings(profile=True, data_path="data.csv").bench_data() is None  # .npz only


def test_the_accuracy_budget_unit_follows_the_task(qtbot):
    """Points (/100) for accuracy-like tasks; a regression's MAE increase in the target's own units, as typed."""
    from types import SimpleNamespace

    from gui.panels.recipe_panel import RecipePanel
    from gui.recipe import RunSettings
    from PySide6.QtGui import QAction

    assert RunSettings(auto_quality="accuracy", auto_max_drop=1.0).auto_budget().max_accuracy_drop == 0.01
    regression = RunSettings(auto_quality="accuracy", auto_max_drop=1.0, auto_task="regression")
    assert regression.auto_budget().max_accuracy_drop == 1.0
    assert RunSettings.from_dict(regression.to_dict()).auto_task == ""  # one model's task is not restored

    panel = RecipePanel(QAction("Run"))
    qtbot.addWidget(panel)
    panel.set_settings(RunSettings(auto_quality="accuracy", auto_max_drop=2.5))
    panel.outputs_box.set_outputs(["price"])
    assert panel.auto_value.suffix() == " pts" and panel.auto_quality.currentText() == "Accuracy drop ≤"
    panel.set_source(
        SimpleNamespace(
            interface=None, tasks=(SimpleNamespace(output="price", task="regression", reason="one linear output"),)
        )
    )
    assert panel.auto_quality.currentText() == "MAE increase ≤" and "target units" in panel.auto_value.suffix()
    settings = panel.settings()
    assert settings.auto_task == "regression" and settings.auto_budget().max_accuracy_drop == 2.5
    panel.outputs_box.task_combos["price"].setCurrentIndex(panel.outputs_box.task_combos["price"].findData("binary"))
    assert panel.auto_value.suffix() == " pts"  # the user's task choice wins
    assert panel.settings().auto_budget().max_accuracy_drop == 0.025


def test_a_candidate_row_shows_no_throughput_measured_at_another_configuration():
    """A row names its p50's configuration (b1 t1); the sweep's best throughput at b32 t2 is not shown as
    that row's (auto's recommendation gives the throughput of its own configuration, as `bench` does)."""
    from gui.auto import candidate_rows

    payload = {
        "name": "int8",
        "status": "measured",
        "size_bytes": 1000,
        "latency_ms": 0.0024,
        "latency_config": "int8 b1 t1",
        "throughput": 1_179_631.0,
        "throughput_config": "int8 b32 t2",
    }
    (row,) = candidate_rows([payload])
    assert row.config_label == "int8 b1 t1" and row.throughput is None
    (row,) = candidate_rows([{**payload, "throughput_config": "int8 b1 t1", "throughput": 404_000.0}])
    assert row.throughput == 404_000.0
