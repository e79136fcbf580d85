"""The app's comparison report: `core.report` writes it; the app adds its charts, rendered as PNG.

The page, the JSON document and the atomic writes are `core.report.html.write_report`'s
(the same function `litesmith optimize --report-html` calls); the charts are rendered with
pyqtgraph's ImageExporter (or the widget's grab()) and base64-embedded, so the HTML needs
nothing beside it.
"""

from __future__ import annotations

from PySide6.QtCore import QBuffer, QByteArray, QIODevice

from core.report.html import write_report as write_core_report
from gui.widgets.plotting import widget_png
from gui.workflow import RunOutcome

CHART_WIDTH = 720


def chart_png(plot) -> bytes:
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


def write_report(outcome: RunOutcome, panel, html_path: str, json_path: str) -> tuple[str, str]:
    """Write both files atomically, with the panel's charts; returns their paths. Raises core.errors.OutputError."""
    panel.flush()   # the charts are drawn in steps: finish them before rendering
    charts = [(key, chart_png(plot)) for key, plot in panel.charts.plots().items()]
    html_file, json_file = write_core_report(outcome, html_path, json_path, charts=charts)
    assert html_file is not None and json_file is not None   # both paths were given
    return html_file, json_file
