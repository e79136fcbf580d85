"""The comparison report as one self-contained HTML page (table, outputs, charts as PNG, what it means).

The app and the CLI (`litesmith optimize --report-html`) write the same page from the same run;
the app adds its charts (PNG bytes it renders), the CLI has none. `write_report` writes the page
and its JSON document (`core.report.document`) atomically: temp files in the same folder, then
`os.replace`, so a failed write leaves no partial file.
"""

from __future__ import annotations

import base64
import html
import time
from pathlib import Path
from typing import Sequence

from core.errors import OutputError
from core.jsonout import dumps
from core.report.cells import column_titles, row_cells
from core.report.comparison import ComparisonRun, build_rows, outcome_metric
from core.report.document import document
from core.report.explain import explanation_lines


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


def _latency_measured(run: ComparisonRun) -> bool:
    bench = run.benchmark
    return bench is not None and any(getattr(c, "ok", False) for c in bench.configs)


def _legend(cells: list[str], *, measured: bool) -> str:
    """The table's legend: only the marks and columns it really has (nothing about latency when no
    benchmark ran)."""
    parts = []
    if any("✔" in text for text in cells):
        parts.append("✔ the recommended variant (see What it means).")
    if any(text.endswith("★") for text in cells):
        parts.append("★ best value of the column.")
    if measured:
        parts.append(
            "Latency: the first batch size and thread count measured; speed-up: the original's p50 divided by "
            "the variant's."
        )
    else:
        parts.append("Latency: not measured in this run.")
    return " ".join(parts)


def render_html(run: ComparisonRun, data: dict, charts: Sequence[tuple[str, bytes]] = ()) -> str:
    """The self-contained HTML page of `run`: `data` is its `document(run)`, `charts` (name, PNG bytes) pairs.

    The table's cells are `core.report.cells`' text (the app's table); no charts (the CLI): no Charts section.
    """
    metric = outcome_metric(run)
    titles = column_titles(metric)
    body = []
    name = Path(run.model_path.rstrip("/\\")).name
    body.append(f"<h1>Litesmith: {html.escape(name)} before and after</h1>")
    body.append(
        f"<p class='muted'>{html.escape(time.strftime('%Y-%m-%d %H:%M', time.localtime(run.finished_at)))}"
        f" · {html.escape(run.model_path)}</p>"
    )
    if run.optimize.data.synthetic_data:
        body.append(
            "<p class='banner'><b>No data was given:</b> inputs were synthesized, accuracy is unknown and "
            "int8 calibration on random inputs can mislead.</p>"
        )
    titles = [" ".join(str(t).split("\n")) for t in titles]  # two-line headers of a model with several outputs
    body.append("<table><thead><tr>" + "".join(f"<th>{html.escape(t)}</th>" for t in titles) + "</tr></thead><tbody>")
    shown: list[str] = []
    for row in build_rows(run):
        cells = []
        for text in row_cells(row, metric):
            shown.append(text)
            best = text.endswith("★")
            cells.append(f"<td{' class=best' if best else ''}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    body.append("</tbody></table>")
    body.append(f"<p class='muted'>{html.escape(_legend(shown, measured=_latency_measured(run)))}</p>")
    body += outputs_html(data)
    if charts:
        body.append("<h2>Charts</h2><div class='charts'>")
        for key, png_bytes in charts:
            png = base64.b64encode(png_bytes).decode("ascii")
            body.append(f"<img alt='{key} chart' src='data:image/png;base64,{png}'>")
        body.append("</div>")
    body.append("<h2>What it means</h2>")
    for heading, text in explanation_lines(run):
        body.append(f"<p><b>{html.escape(heading)}:</b> {html.escape(text)}</p>")
    errors = [v for v in run.optimize.variants if v.layer_errors]
    for v in errors:
        body.append(
            f"<h2>Per-layer error of {html.escape(v.name)}</h2><table><thead><tr><th>Tensor</th><th>Op</th>"
            "<th>Error</th><th>Max |error|</th></tr></thead><tbody>"
        )
        for e in v.layer_errors[:30]:
            figure = e.mse if e.mse is not None else e.rmse_over_scale
            body.append(
                f"<tr><td>{html.escape(e.tensor_name)}</td><td>{html.escape(e.op_name)}</td>"
                f"<td>{figure:.3g}</td><td>{e.max_abs_error:.3g}</td></tr>"
            )
        body.append("</tbody></table>")
    serving = getattr(run, "serving", None)  # core.serving.ServingStudy, when the Serving tab ran one
    if serving is not None:
        from core.serving.report import serving_html

        body.append(serving_html(serving))
    body.append("<h2>Figures</h2><p class='muted'>Every figure is in the JSON file written beside this page.</p>")
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Litesmith report: "
        f"{html.escape(name)}</title><style>{STYLE}</style></head><body>" + "\n".join(body) + "</body></html>\n"
    )


def outputs_html(data: dict) -> list[str]:
    """The tasks (and why) and every output's figures, from the summary's "tasks" and "outputs"."""
    tasks, rows = data.get("tasks") or [], data.get("outputs") or []
    if not tasks:
        return []
    several = len(tasks) > 1
    body = ["<h2>Per output</h2>" if several else "<h2>Task</h2>", "<ul>"]
    for t in tasks:
        primary = (
            " <span class='muted'>(primary: drives the accuracy headline)</span>" if t["primary"] and several else ""
        )
        reason = f" ({html.escape(t['reason'])})" if t.get("reason") else ""
        body.append(f"<li><b>{html.escape(t['output'])}</b>: {html.escape(t['task'])}{reason}{primary}</li>")
    body.append("</ul>")
    if not several:
        return body
    body.append(
        "<table class='outputs'><thead><tr><th>Output</th><th>Task</th><th>Variant</th>"
        "<th>Fidelity vs original</th><th>Accuracy</th></tr></thead><tbody>"
    )
    for r in rows:
        fidelity = r["fidelity"] + (f": {r['note']}" if r.get("note") else "") + (" ◀ worst" if r["worst"] else "")
        first = r["variant"] == "original"
        body.append(
            f"<tr><td>{html.escape(r['output']) if first else ''}</td>"
            f"<td>{html.escape(r['task']) if first else ''}</td><td>{html.escape(r['variant'])}</td>"
            f"<td{' class=best' if r['worst'] else ''}>{html.escape(fidelity)}</td>"
            f"<td>{html.escape(r['accuracy'])}</td></tr>"
        )
    body.append("</tbody></table>")
    body.append(
        "<p class='muted'>A variant's fidelity in the table above is its worst output's (◀ worst); "
        "its accuracy is the primary output's.</p>"
    )
    return body


def write_report(
    run: ComparisonRun,
    html_path: str | Path | None,
    json_path: str | Path | None,
    *,
    charts: Sequence[tuple[str, bytes]] = (),
) -> tuple[str | None, str | None]:
    """Write the HTML page and/or the JSON document of `run` atomically; returns (html path, json path) written.

    None for a path not asked for. The JSON file is written first, then the page. Raises
    `OutputError` naming the file for an `OSError` (missing folder, full disk, no permission).
    """
    from core.optimize.export import write_atomic

    data = document(run)  # strict JSON: NaN/Infinity -> null with the reason beside it
    written: list[str | None] = []
    for path, text in ((json_path, lambda: dumps(data) + "\n"), (html_path, lambda: render_html(run, data, charts))):
        if path is None:
            written.append(None)
            continue
        target = Path(path)
        try:
            write_atomic(target, text().encode("utf-8"))
        except OSError as exc:
            raise OutputError.from_os_error(exc, str(target)) from None
        written.append(str(target))
    return written[1], written[0]


__all__ = ["STYLE", "outputs_html", "render_html", "write_report"]
