"""The comparison report of a run: rows, speed-ups and best values, its words, its JSON document and HTML page.

The app's results panel and `litesmith optimize --report-html/--report-json` both read it:
`comparison` (rows, speed-up = original p50 / variant p50, best-value marks, the Pareto front
through `core.auto.pareto`), `cells` (the table's text), `explain` (what it means, in words),
`document` (the `litesmith.comparison-report` JSON), `html` (the page and `write_report`),
`outputs` (every output's figures).
"""

from core.report.comparison import ComparisonRun, Metric, Row, RunRecord, build_rows, pareto_front
from core.report.document import document, summary
from core.report.html import render_html, write_report

__all__ = [
    "ComparisonRun",
    "Metric",
    "Row",
    "RunRecord",
    "build_rows",
    "document",
    "pareto_front",
    "render_html",
    "summary",
    "write_report",
]
