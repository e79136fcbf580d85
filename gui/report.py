"""The comparison report: JSON with every figure, and a self-contained HTML page (table, charts as PNG).

Both files are written atomically (a temp file in the same folder, then
`os.replace`) by `core.optimize.export.write_atomic`; the charts are rendered
with pyqtgraph's ImageExporter (or the widget's grab()) and base64-embedded,
so the HTML needs nothing beside it.
"""

from __future__ import annotations

import base64
import html
import time
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice

from core.jsonout import dumps, jsonable
from core.optimize.export import write_atomic
from gui.comparison import explanation_lines, summary
from gui.widgets.plotting import widget_png
from gui.workflow import RunOutcome

CHART_WIDTH = 720

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #1b1b1b; background: #fff; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #bbb; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
table.outputs td, table.outputs th { text-align: left; }
th { background: #eee; }
td.best { font-weight: bold; }
.banner { background: #fff4ce; border: 1px solid #d9b300; padding: 8px 12px; }
.charts img { max-width: 100%; border: 1px solid #ddd; margin: 0 1em 1em 0; }
.muted { color: #666; }
"""


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


def render_html(outcome: RunOutcome, panel, data: dict) -> str:
    titles = panel.column_titles()
    model = panel.table.model()
    source = model.sourceModel()
    body = []
    name = Path(outcome.model_path.rstrip("/\\")).name
    body.append(f"<h1>Litesmith: {html.escape(name)} before and after</h1>")
    body.append(f"<p class='muted'>{html.escape(time.strftime('%Y-%m-%d %H:%M', time.localtime(outcome.finished_at)))}"
                f" · {html.escape(outcome.model_path)}</p>")
    if outcome.optimize.data.synthetic_data:
        body.append("<p class='banner'><b>No data was given:</b> inputs were synthesized, accuracy is unknown and "
                    "int8 calibration on random inputs can mislead.</p>")
    titles = [" ".join(str(t).split("\n")) for t in titles]   # two-line headers of a model with several outputs
    body.append("<table><thead><tr>" + "".join(f"<th>{html.escape(t)}</th>" for t in titles) + "</tr></thead><tbody>")
    for r in range(source.rowCount()):
        cells = []
        for c in range(source.columnCount()):
            index = source.index(r, c)
            text = source.data(index) or ""
            best = text.endswith("★")
            cells.append(f"<td{' class=best' if best else ''}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    body.append("</tbody></table>")
    body.append("<p class='muted'>✔ the recommended variant (see What it means). ★ best value of the column. Latency: the first batch size and thread count "
                "measured; speed-up: the original's p50 divided by the variant's.</p>")
    body += outputs_html(data)
    body.append("<h2>Charts</h2><div class='charts'>")
    for key, plot in panel.charts.plots().items():
        png = base64.b64encode(chart_png(plot)).decode("ascii")
        body.append(f"<img alt='{key} chart' src='data:image/png;base64,{png}'>")
    body.append("</div>")
    body.append("<h2>What it means</h2>")
    for heading, text in explanation_lines(outcome):
        body.append(f"<p><b>{html.escape(heading)}:</b> {html.escape(text)}</p>")
    errors = [v for v in outcome.optimize.variants if v.layer_errors]
    for v in errors:
        body.append(f"<h2>Per-layer error of {html.escape(v.name)}</h2><table><thead><tr><th>Tensor</th><th>Op</th>"
                    "<th>Error</th><th>Max |error|</th></tr></thead><tbody>")
        for e in v.layer_errors[:30]:
            figure = e.mse if e.mse is not None else e.rmse_over_scale
            body.append(f"<tr><td>{html.escape(e.tensor_name)}</td><td>{html.escape(e.op_name)}</td>"
                        f"<td>{figure:.3g}</td><td>{e.max_abs_error:.3g}</td></tr>")
        body.append("</tbody></table>")
    serving = getattr(outcome, "serving", None)  # core.serving.ServingStudy, when the Serving tab ran one
    if serving is not None:
        from core.serving.report import serving_html

        body.append(serving_html(serving))
    body.append("<h2>Figures</h2><p class='muted'>Every figure is in the JSON file written beside this page.</p>")
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Litesmith report: "
            f"{html.escape(name)}</title><style>{STYLE}</style></head><body>" + "\n".join(body) + "</body></html>\n")


def outputs_html(data: dict) -> list[str]:
    """The tasks (and why) and every output's figures, from the summary's "tasks" and "outputs"."""
    tasks, rows = data.get("tasks") or [], data.get("outputs") or []
    if not tasks:
        return []
    several = len(tasks) > 1
    body = ["<h2>Per output</h2>" if several else "<h2>Task</h2>", "<ul>"]
    for t in tasks:
        primary = " <span class='muted'>(primary: drives the accuracy headline)</span>" if t["primary"] and several \
            else ""
        reason = f" ({html.escape(t['reason'])})" if t.get("reason") else ""
        body.append(f"<li><b>{html.escape(t['output'])}</b>: {html.escape(t['task'])}{reason}{primary}</li>")
    body.append("</ul>")
    if not several:
        return body
    body.append("<table class='outputs'><thead><tr><th>Output</th><th>Task</th><th>Variant</th>"
                "<th>Fidelity vs original</th><th>Accuracy</th></tr></thead><tbody>")
    for r in rows:
        fidelity = r["fidelity"] + (f": {r['note']}" if r.get("note") else "") + (" ◀ worst" if r["worst"] else "")
        first = r["variant"] == "original"
        body.append(f"<tr><td>{html.escape(r['output']) if first else ''}</td>"
                    f"<td>{html.escape(r['task']) if first else ''}</td><td>{html.escape(r['variant'])}</td>"
                    f"<td{' class=best' if r['worst'] else ''}>{html.escape(fidelity)}</td>"
                    f"<td>{html.escape(r['accuracy'])}</td></tr>")
    body.append("</tbody></table>")
    body.append("<p class='muted'>A variant's fidelity in the table above is its worst output's (◀ worst); "
                "its accuracy is the primary output's.</p>")
    return body


def write_report(outcome: RunOutcome, panel, html_path: str, json_path: str) -> tuple[str, str]:
    """Write both files atomically; returns their paths."""
    panel.flush()
    data = jsonable(summary(outcome))   # strict JSON: NaN/Infinity -> null with the reason beside it
    text = dumps(data) + "\n"
    page = render_html(outcome, panel, data)
    html_file, json_file = Path(html_path), Path(json_path)
    write_atomic(json_file, text.encode("utf-8"))
    write_atomic(html_file, page.encode("utf-8"))
    return str(html_file), str(json_file)
