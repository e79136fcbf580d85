"""The one recommendation is the same in every view: header, table ✔, chart star, CLI summary, JSON.

The crafted results make the fastest p50 (dynamic, batch 1) and the recommendation (int8 at batch 8:
twice dynamic's throughput within the p99 budget; auto mode: int8, in a 2% latency tie, smaller) differ.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from core.auto.budget import AutoBudget
from core.auto.pareto import auto_recommendation, choose, pareto_front
from core.auto.results import MEASURED, AutoCandidate, AutoResult, AutoSettings
from core.benchmark.explain import cited_value, explain
from core.benchmark.recommend import recommend
from core.benchmark.results import BenchConfig, BenchmarkResult, ConfigResult
from core.benchmark.stats import compute_stats
from core.data.loaders import DataDescription
from core.evaluation import AccuracyMetrics, Evaluation, FidelityMetrics
from core.jsonout import dumps, stamp
from core.optimize.recipes import recipe_for_mode
from core.optimize.results import OptimizeResult, SourceInfo, Variant
from core.schemas import AUTO, BENCH, validate
from gui.recipe import RunSettings
from gui.workflow import RunOutcome

SCREENSHOTS = Path(__file__).resolve().parents[2] / "resources" / "screenshots"


def _config(label, runner, variant, batch, samples, threads=1):
    return ConfigResult(
        label, runner, variant, batch, threads, compute_stats(samples, batch_size=batch), 100.0, 1.0, "vmhwm"
    )


def crafted_outcome() -> RunOutcome:
    def evaluation(acc, agree):
        return Evaluation(
            "multiclass",
            AccuracyMetrics("multiclass", 100, accuracy=acc),
            FidelityMetrics("multiclass", 100, 0.1, 0.01, 0.999, "sample", top1_agreement=agree),
        )

    def variant(name, size, acc, agree):
        return Variant(
            name=name,
            recipe=recipe_for_mode(name),
            tflite_bytes=b"x" * 8,
            size_bytes=size,
            converter_path="from_keras_model",
            evaluation=evaluation(acc, agree),
            size_ratio=size / 4000,
        )

    result = OptimizeResult(
        source=SourceInfo("/m/digits.keras", "keras", "ab" * 32, 12_000, ()),
        data=DataDescription(False, "/m/d.npz", "/m/d.npz", 100, 100, True, True),
        original_evaluation=Evaluation("multiclass", AccuracyMetrics("multiclass", 100, accuracy=0.98)),
        baseline_size_bytes=4000,
        variants=(
            variant("fp32", 4000, 0.98, 1.0),
            variant("dynamic", 1100, 0.97, 0.99),
            variant("int8", 1000, 0.96, 0.98),
        ),
    )
    configs = (
        _config("keras-tf_function b1", "keras-tf_function", "keras", 1, [1.0, 1.0], threads=None),
        _config("fp32 b1 t1", "litert", "fp32", 1, [0.10, 0.10]),
        _config("dynamic b1 t1", "litert", "dynamic", 1, [0.05, 0.05]),  # lowest p50: 20,000 samples/s
        _config("int8 b1 t1", "litert", "int8", 1, [0.06, 0.06]),
        _config("fp32 b8 t1", "litert", "fp32", 8, [0.60, 0.60]),
        _config("dynamic b8 t1", "litert", "dynamic", 8, [0.50, 0.50]),
        _config("int8 b8 t1", "litert", "int8", 8, [0.20, 0.20]),  # 40,000 samples/s: the highest
    )
    config = BenchConfig(batch_sizes=(1, 8), runs=2)
    explained = tuple(explain(configs, {}))
    bench = BenchmarkResult(
        "digits.keras",
        config,
        configs,
        recommend(configs, config.budget_ms, batch=1, threads=1),
        explanations=tuple(e.text for e in explained),
        explained=explained,
    )
    return RunOutcome("/m/digits.keras", RunSettings().to_dict(), result, bench, seconds=3.0)


@pytest.fixture
def panel(qtbot):
    from PySide6.QtGui import QAction

    from gui.panels.results_panel import ResultsPanel

    widget = ResultsPanel(QAction("Export Variant…"), QAction("Export Report…"))
    qtbot.addWidget(widget)
    widget.resize(1280, 760)
    widget.show()
    return widget


def _marked_rows(panel) -> list[str]:
    from gui.auto import RECOMMENDED_MARK

    model = panel.table.model()
    names = [model.data(model.index(r, 0)) for r in range(model.rowCount())]
    return [n.removesuffix(RECOMMENDED_MARK) for n in names if n.endswith(RECOMMENDED_MARK)]


def _legend_names(panel) -> list[str]:
    return [label.text for _, label in panel.charts.tradeoff_legend.items]


def test_run_recommendation_is_the_same_in_every_view(qtbot, panel):
    from core.cli.bench import format_result
    from core.report.document import summary
    from core.report.explain import explanation_lines

    outcome = crafted_outcome()
    rec = outcome.benchmark.recommendation
    # The crafted figures: int8 b8 gives 8 x 1000 / 0.2 = 40,000 samples/s, twice dynamic b1's 1000 / 0.05.
    assert (rec.variant, rec.batch_size, rec.threads, rec.fastest_variant) == ("int8", 8, 1, "dynamic")
    assert rec.why_not_fastest_kind == "throughput" and "2.0x its throughput at batch 8" in rec.why_not_fastest
    panel.set_outcome(outcome)
    qtbot.waitUntil(lambda: panel.complete)
    header = panel.headline.text()
    assert header.startswith("Recommended: int8 (batch 8, 1 thread) ✔")
    assert "fastest p50: dynamic" in header and rec.why_not_fastest in header
    assert _marked_rows(panel) == ["int8"]  # the table's ✔
    assert panel.charts.starred == "int8"  # the chart's star
    assert [n for n in _legend_names(panel) if "recommended" in n] == ["int8 ✔ recommended"]
    assert not any("★" in n for n in _legend_names(panel))  # the front no longer wears a star
    cli = format_result(outcome.benchmark)
    assert "Recommended: int8 (batch 8, 1 thread)" in cli and rec.why_not_fastest in cli
    # Every benchmark sentence shown is one of the core's explanations, each citing its measured fields.
    shown = [text for heading, text in explanation_lines(outcome) if heading == "Benchmark"]
    assert shown and shown == [e.text for e in outcome.benchmark.explained]
    for e in outcome.benchmark.explained:
        assert e.source_field and all(cited_value(f, outcome.benchmark) == v for f, v in e.cited)
    lines = dict(explanation_lines(outcome))
    assert lines["Recommendation"].startswith("Recommended: int8 (batch 8, 1 thread).")
    assert lines["Not the fastest p50"] == rec.why_not_fastest + "."
    report = json.loads(dumps(summary(outcome)))
    assert validate(report) == "litesmith.comparison-report"
    assert report["benchmark"]["recommendation"]["variant"] == "int8"
    assert report["benchmark"]["recommendation"]["why_not_fastest"] == rec.why_not_fastest
    assert [r["name"] for r in report["rows"] if r["recommended"]] == ["int8"]
    bench = json.loads(dumps(stamp(BENCH, outcome.benchmark)))
    assert validate(bench) == BENCH and bench["recommendation"]["label"] == "int8 b8 t1"


def crafted_auto_result() -> AutoResult:
    def cand(name, latency, size):
        evaluation = Evaluation(
            "multiclass", None, FidelityMetrics("multiclass", 100, 0.1, 0.01, 0.999, "sample", top1_agreement=0.99)
        )
        return AutoCandidate(
            name=name,
            recipe=recipe_for_mode("fp32", name=name),
            status=MEASURED,
            evaluation=evaluation,
            size_bytes=size,
            size_ratio=size / 1000,
            quality=0.99,
            quality_label="agreement 99.0%",
            meets_budget=True,
            meets_quality=True,
            latency_ms=latency,
            latency_config=f"{name} b1 t2",
            threads=2,
            batch_size=1,
            throughput=1000 / latency,
        )

    candidates = (cand("fp32", 1.0, 1000), cand("dynamic", 0.500, 400), cand("int8", 0.505, 300))
    choice, reasons = choose(candidates)
    return AutoResult(
        source=SourceInfo("/m/digits.keras", "keras", "ab" * 32, 12_000, ()),
        data=DataDescription(False, "/m/d.npz", "/m/d.npz", 100, 100, True, True),
        budget=AutoBudget(),
        settings=AutoSettings(),
        original_evaluation=None,
        baseline_size_bytes=1000,
        candidates=candidates,
        pareto=tuple(c.name for c in pareto_front(candidates)),
        recommended=choice.name,
        recommended_variant=None,
        reasons=tuple(reasons),
        recommendation=auto_recommendation(candidates, choice, reasons),
    )


def test_auto_recommendation_is_the_same_in_every_view(qtbot, panel):
    from core.cli.auto_table import format_auto
    from gui.auto import auto_explanation_lines

    result = crafted_auto_result()
    rec = result.recommendation
    assert (rec.variant, rec.fastest_variant, rec.why_not_fastest_kind) == ("int8", "dynamic", "size")
    panel.set_auto_result(result)
    header = panel.headline.text()
    assert header.startswith("Recommended: int8 (batch 1, 2 threads) ✔") and rec.why_not_fastest in header
    assert _marked_rows(panel) == ["int8"] and panel.charts.starred == "int8"
    cli = format_auto(result)
    assert "Recommended: int8 (batch 1, 2 threads)" in cli and rec.why_not_fastest in cli
    assert dict(auto_explanation_lines(result))["Not the fastest p50"] == rec.why_not_fastest
    document = json.loads(dumps({**stamp(AUTO, result.summary()), "exports": []}))  # as the CLI writes it
    assert validate(document) == AUTO and document["recommendation"]["variant"] == "int8"


def test_recommendation_screenshot(qtbot, panel, request, tmp_path):
    """resources/screenshots/recommendation.png under `-k screenshot` (or LITESMITH_SCREENSHOTS)."""
    writing = "screenshot" in (request.config.getoption("keyword") or "") or os.environ.get("LITESMITH_SCREENSHOTS")
    folder = SCREENSHOTS if writing else tmp_path
    panel.set_outcome(crafted_outcome())
    qtbot.waitUntil(lambda: panel.complete)
    assert panel.grab().save(str(folder / "recommendation.png"))
