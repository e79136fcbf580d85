"""The app's Export Report and `litesmith optimize --report-html/--report-json` write the same report.

Both go through `core.report.html.write_report`; this pins that the app adds only its charts.
The oracle for the figures is the fake run's own latency samples (tests/gui/test_recipe_and_plots.py
`fake_outcome`): the original's p50 is median(1.0, 1.2, 1.1) = 1.1 ms, int8's median(0.05, 0.06, 0.05)
= 0.05 ms, so int8's speed-up is 22.0; dynamic's p50 0.2 ms gives 5.5.
"""

from __future__ import annotations

import json
import re

import pytest

from core.cli import report_out
from core.report.comparison import RunRecord
from tests.gui.test_recipe_and_plots import fake_outcome


def _without_charts(page: str) -> str:
    return re.sub(r"<h2>Charts</h2><div class='charts'>.*?</div>\n", "", page, flags=re.S)


def test_cli_and_app_write_the_same_report(qtbot, tmp_path):
    from PySide6.QtGui import QAction

    from gui.panels.results_panel import ResultsPanel
    from gui.report import write_report

    outcome = fake_outcome()
    panel = ResultsPanel(QAction("Export Variant…"), QAction("Export Report…"))
    qtbot.addWidget(panel)
    panel.set_outcome(outcome)
    qtbot.waitUntil(lambda: panel.complete)
    app_html, app_json = write_report(outcome, panel, str(tmp_path / "app.html"), str(tmp_path / "app.json"))

    # The CLI's path: a RunRecord of the same result object, written by report_out (no Qt).
    run = RunRecord(
        outcome.model_path,
        outcome.settings,
        outcome.optimize,
        outcome.benchmark,
        outcome.benchmark_error,
        outcome.seconds,
        outcome.finished_at,
    )
    assert report_out.write_run(run, str(tmp_path / "cli.html"), str(tmp_path / "cli.json")) == []

    app_doc = json.loads(open(app_json, encoding="utf-8").read())
    cli_doc = json.loads((tmp_path / "cli.json").read_text(encoding="utf-8"))
    assert cli_doc == app_doc
    assert cli_doc["schema"] == "litesmith.comparison-report" and cli_doc["version"] == 1
    rows = {r["name"]: r for r in cli_doc["rows"]}
    assert rows["original"]["p50_ms"] == pytest.approx(1.1) and rows["int8"]["p50_ms"] == pytest.approx(0.05)
    assert rows["int8"]["speedup"] == pytest.approx(1.1 / 0.05)
    assert rows["dynamic"]["speedup"] == pytest.approx(1.1 / 0.2)
    # Best marks by hand: int8 is the fastest and the smallest (1,000 bytes); fp32 agrees most (1.0).
    assert {"p50", "speedup", "size"} <= set(rows["int8"]["best"]) and "fidelity" in rows["fp32"]["best"]
    assert rows["int8"]["recommended"] and not rows["fp32"]["recommended"]

    app_page = open(app_html, encoding="utf-8").read()
    cli_page = (tmp_path / "cli.html").read_text(encoding="utf-8")
    assert app_page.count("data:image/png;base64,") == 3 and "data:image/png" not in cli_page
    assert _without_charts(app_page) == cli_page  # the charts are the app's only addition
    assert "<td class=best>22.0× ★</td>" in cli_page and "<td>5.5×</td>" in cli_page
    assert "<td>int8 ✔</td>" in cli_page
