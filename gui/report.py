"""The app's comparison report: `core.report` writes it; the app adds its charts, rendered as PNG.

The page, the JSON document and the atomic writes are `core.report.html.write_report`'s
(the same function `litesmith optimize --report-html` calls); the charts are rendered with
pyqtgraph's ImageExporter (or the widget's grab()) and base64-embedded, so the HTML needs
nothing beside it. The Serving tab's study of the same Run (`gui.serving.tab.ServingTab.report_study`)
goes in as the report's `serving` section, with its chart.
"""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING

from PySide6.QtCore import QBuffer, QByteArray, QIODevice

from core.report.comparison import ComparisonRun, RunRecord
from core.report.html import write_report as write_core_report
from gui.widgets.plotting import widget_png
from gui.workflow import RunOutcome

if TYPE_CHECKING:
    import pyqtgraph as pg

    from core.serving.api import ServingStudy
    from gui.panels.results_panel import ResultsPanel
    from gui.serving.tab import ServingTab

CHART_WIDTH = 720


def chart_png(plot: pg.PlotWidget) -> bytes:
    """A chart as PNG bytes, rendered at a fixed width whether or not it is on screen."""
    try:
        from pyqtgraph.exporters import ImageExporter

        exporter = ImageExporter(plot.getPlotItem())
        exporter.parameters()["width"] = CHART_WIDTH
        image = exporter.export(toBytes=True)
        array = QByteArray()
        buffer = QBuffer(array)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buffer, "PNG")
        buffer.close()
        data = bytes(array.data())
        if data:
            return data
    except Exception:  # noqa: BLE001 - fall back to a screen grab
        pass
    return widget_png(plot)


def with_serving(outcome: RunOutcome, study: ServingStudy) -> RunRecord:
    """`outcome` with a `core.serving.ServingStudy` attached: the report's `serving` section (JSON and HTML)."""
    values = {f.name: getattr(outcome, f.name) for f in fields(RunRecord) if f.name != "serving"}
    return RunRecord(**values, serving=study)


def report_inputs(
    outcome: RunOutcome, panel: ResultsPanel, serving: ServingTab | None = None
) -> tuple[ComparisonRun, list[tuple[str, bytes]]]:
    """What `core.report.html.write_report` needs: the Run (with its serving study) and the charts as PNG bytes.

    GUI thread only (the charts are Qt widgets); nothing is written. `serving`: the window's
    `gui.serving.tab.ServingTab` (or None); its study is included when it is about `outcome`
    (`ServingTab.report_study`), its chart beside the results panel's.
    """
    panel.flush()  # the charts are drawn in steps: finish them before rendering
    charts = [(key, chart_png(plot)) for key, plot in panel.charts.plots().items()]
    study = serving.report_study(outcome) if serving is not None else None
    run: ComparisonRun = outcome if study is None else with_serving(outcome, study)
    if serving is not None and study is not None:  # a study comes only from `serving`
        chart = serving.panel.chart
        chart.flush()
        # As on screen: the exporter re-lays the legend out larger, and this one sits on the view's bottom edge.
        charts.append(("serving", widget_png(chart.plot)))
    return run, charts


def write_report(
    outcome: RunOutcome, panel: ResultsPanel, html_path: str, json_path: str, serving: ServingTab | None = None
) -> tuple[str, str]:
    """Write both files atomically, with the panel's charts, in the calling thread; returns their paths.

    Raises core.errors.OutputError. `serving` as in `report_inputs`. For tests and scripts: the app
    renders with `report_inputs` and writes in a worker thread (`ExportController.export_report`).
    """
    run, charts = report_inputs(outcome, panel, serving)
    html_file, json_file = write_core_report(run, html_path, json_path, charts=charts)
    assert html_file is not None and json_file is not None  # both paths were given
    return html_file, json_file
