"""The results panel: the before/after table, the charts, per-layer error and the explanations in words.

Filled by `set_outcome(RunOutcome)`. The best value of each column is bold and
marked with ★ (no colour needed). Export buttons trigger the window's actions.
"""

from __future__ import annotations

import html
import math

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QPalette
from PySide6.QtWidgets import (
    QComboBox, QHBoxLayout, QHeaderView, QLabel, QPushButton, QSizePolicy, QTableView, QTabWidget, QTextBrowser,
    QVBoxLayout, QWidget,
)

from core.report.comparison import Metric, Row, build_rows, metric_for, outcome_metric
from core.report.cells import (
    accuracy_text, fidelity_text, ms_cell as ms_text, num_text as _num, p50_text, p99_text, ratio_text, size_text,
    speedup_text, throughput_text, variant_text,
)
from core.report.explain import explanation_lines
from core.units import human_size
from gui.panels.model_panel import fit_columns, make_table
from gui.table_models import Column, RecordTableModel, sortable
from gui.widgets.per_output import PerOutputPage
from gui.widgets.crossover_chart import CrossoverPage
from gui.widgets.result_charts import ResultCharts
from gui.workflow import RunOutcome

SPEEDUP_COLUMN = 6
NAME_MAX_PX = 190   # the Variant column: longer names are elided (full name in the tooltip)
AUTO_REDRAW_MS = 300  # candidates arrive in bursts from the cache: redraw at most this often
STEP_MS = 20   # between the steps that fill in the results: a paint and other events fit in between


def comparison_columns(metric: Metric) -> list[Column]:
    """The comparison table's columns; with several outputs, accuracy is the primary output's and fidelity the
    worst output's (named in the cell, every output in the tooltip)."""
    # The cells' text is core.report.cells' (the HTML report's too); sorting, bold and tooltips are the table's.
    def bold(key):
        return lambda r: key in r.best

    def fid_tooltip(r: Row) -> str:
        if r.fidelity_detail:
            return ("fidelity of each output against the original's; the worst one is shown (agreement of "
                    "decisions, or cosine for outputs that make none):\n" + r.fidelity_detail)
        return "agreement with the original model's outputs on the evaluation data"

    def num_key(attr):
        return lambda r: (getattr(r, attr) if getattr(r, attr) is not None else math.inf)

    return [
        Column("Variant", variant_text, tooltip=lambda r: "\n".join([r.name, *r.warnings]) + (
            f"\n{r.config_label}" if r.config_label else "")),
        Column("Format", lambda r: r.format),
        Column("Size", size_text,
               sort_key=lambda r: r.size_bytes,
               numeric=True, bold=bold("size"), tooltip=lambda r: f"{r.size_bytes:,} bytes"),
        Column("vs fp32", ratio_text,
               sort_key=num_key("size_ratio"), numeric=True, bold=bold("size"),
               tooltip=lambda r: "size / the fp32 .tflite conversion"),
        Column("p50", p50_text, sort_key=num_key("p50_ms"), numeric=True,
               bold=bold("p50"), tooltip=lambda r: f"median latency per call ({r.config_label})"),
        Column("p99", p99_text, sort_key=num_key("p99_ms"), numeric=True,
               bold=bold("p99")),
        Column("Speed-up", speedup_text,
               sort_key=lambda r: -(r.speedup or 0), numeric=True, bold=bold("speedup"),
               tooltip=lambda r: "original p50 / this p50"),
        Column("Samples/s", throughput_text,
               sort_key=lambda r: -(r.throughput or 0), numeric=True, bold=bold("throughput"),
               tooltip=lambda r: f"samples per second ({r.config_label}); the recommendation may use another "
                                 "batch size: see the header"),
        Column(metric.accuracy_column, lambda r: accuracy_text(r, metric), sort_key=num_key("accuracy"),
               numeric=True, bold=bold("accuracy")),
        Column(metric.fidelity_column, lambda r: fidelity_text(r, metric), sort_key=num_key("fidelity"),
               numeric=True, bold=bold("fidelity"), tooltip=fid_tooltip),
    ]


LAYER_COLUMNS = [
    Column("Tensor", lambda e: e.tensor_name, tooltip=lambda e: e.tensor_name),
    Column("Op", lambda e: e.op_name),
    Column("Error", lambda e: _num(e.mse if e.mse is not None else e.rmse_over_scale, ".3g"),
           sort_key=lambda e: -(e.mse if e.mse is not None else e.rmse_over_scale), numeric=True,
           tooltip=lambda e: "mean squared error" if e.mse is not None else "rmse / scale (~0.29 is ideal rounding)"),
    Column("Max |error|", lambda e: _num(e.max_abs_error, ".3g"), sort_key=lambda e: -e.max_abs_error, numeric=True),
    Column("Bias", lambda e: _num(e.mean_abs_error, ".3g"), numeric=True),
    Column("Kept float", lambda e: "yes" if e.kept_float else ""),
]


def _mb(value: float) -> str:
    return "—" if value is None or value != value else f"{value:,.0f} MB"


def config_columns(recommended: str | None = None) -> list[Column]:
    """Columns of the "All measurements" table; `recommended` is the recommended configuration's label."""
    return [
        Column("Configuration", lambda c: c.label, tooltip=lambda c: c.error or c.runner),
        Column("Batch", lambda c: str(c.batch_size), sort_key=lambda c: c.batch_size, numeric=True),
        Column("Threads", lambda c: "TF" if c.threads is None else str(c.threads), sort_key=lambda c: c.threads or 0,
               numeric=True),
        Column("Calls", lambda c: f"{c.stats.n:,}", sort_key=lambda c: c.stats.n, numeric=True),
        Column("p50", lambda c: ms_text(c.stats.p50 if c.ok else None), sort_key=lambda c: c.stats.p50, numeric=True),
        Column("p90", lambda c: ms_text(c.stats.p90 if c.ok else None), sort_key=lambda c: c.stats.p90, numeric=True),
        Column("p99", lambda c: ms_text(c.stats.p99 if c.ok else None), sort_key=lambda c: c.stats.p99, numeric=True),
        Column("p99.9", lambda c: ms_text(c.stats.p999 if c.ok else None), sort_key=lambda c: c.stats.p999,
               numeric=True, tooltip=lambda c: f"from {c.stats.n} calls: read it with the number of calls"),
        Column("Samples/s", lambda c: _num(c.stats.throughput if c.ok else None, ",.0f"),
               sort_key=lambda c: -(c.stats.throughput if c.ok else 0), numeric=True),
        Column("First call", lambda c: ms_text(c.stats.cold_ms if c.stats.cold_ms == c.stats.cold_ms else None),
               numeric=True, tooltip=lambda c: "the cold call after loading, not part of the figures"),
        Column("Peak memory", lambda c: _mb(c.peak_rss_mb), sort_key=lambda c: c.peak_rss_mb, numeric=True,
               tooltip=lambda c: f"whole engine process ({c.memory_method}); +{c.peak_rss_delta_mb:.0f} MB during it"),
        Column("Note", lambda c: c.error or ("recommended" if c.label == recommended else ""),
               tooltip=lambda c: c.error),
    ]


PROFILE_COLUMNS = [
    Column("Layer", lambda t: t.name, tooltip=lambda t: t.name),
    Column("Type", lambda t: t.type),
    Column("Mean time", lambda t: ms_text(t.mean_ms), sort_key=lambda t: -t.mean_ms, numeric=True),
    Column("Share", lambda t: f"{t.share * 100:.1f} %", sort_key=lambda t: -t.share, numeric=True),
]
PROFILE_TOP = 12


class ProfilePage(QWidget):
    """Where the time goes: the Keras baseline's slowest layers (table and bars) and data vs model time."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from gui.widgets.plotting import make_plot

        self.setObjectName("profilePage")
        self.data_label = QLabel()
        self.data_label.setObjectName("dataProfile")
        self.data_label.setWordWrap(True)
        self.data_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.model = RecordTableModel(PROFILE_COLUMNS, parent=self)
        self.table = make_table()
        self.table.setObjectName("layerProfileTable")
        self.table.setModel(sortable(self.model, self))
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)
        self.chart = make_plot("Slowest layers (mean per call)", "", "ms", self)
        self.chart.setObjectName("layerProfileChart")
        self.chart.getPlotItem().showGrid(x=True, y=False, alpha=0.25)
        row = QHBoxLayout()
        row.addWidget(self.table, 1)
        row.addWidget(self.chart, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.data_label)
        layout.addLayout(row, 1)

    def clear(self) -> None:
        self.model.set_records([])
        self.chart.getPlotItem().clear()
        self.data_label.setText("")

    def set_benchmark(self, bench) -> bool:
        """Fill from a BenchmarkResult; False when it holds no profile."""
        import numpy as np
        import pyqtgraph as pg

        from gui.widgets.plotting import series_colour

        self.clear()
        layers = sorted(getattr(bench, "layer_profile", ()) or (), key=lambda t: -t.mean_ms)
        data = getattr(bench, "data_profile", None)
        if not layers and data is None:
            return False
        texts = []
        if data is not None:
            total = data.load_ms + data.prepare_ms + data.model_ms
            texts.append(f"<b>Data vs model</b> over {data.batches:,} batches ({data.samples:,} samples): "
                         f"loading {data.load_ms:,.1f} ms, preparing batches {data.prepare_ms:,.1f} ms, "
                         f"model calls {data.model_ms:,.1f} ms — {data.data_share:.0%} of "
                         f"{total:,.1f} ms went to data.")
        else:
            texts.append("<b>Data vs model:</b> not measured (profiling with an .npz data file measures it).")
        if layers:
            texts.append(f"<b>Layers</b> of the Keras baseline, timed over eager calls on the CPU "
                         f"(batch {bench.config.batch_sizes[0]}); the {min(PROFILE_TOP, len(layers))} slowest of "
                         f"{len(layers)}:")
        else:
            texts.append("<b>Layers:</b> per-layer times exist for Keras models only (LiteRT's Python API has no "
                         "op profiler).")
        self.data_label.setText("<br>".join(texts))
        self.model.set_records(layers)
        fit_columns(self.table, stretch=0)
        top = layers[:PROFILE_TOP]
        self.table.setVisible(bool(layers))
        self.chart.setVisible(bool(layers))
        if top:
            item = self.chart.getPlotItem()
            n = len(top)
            ys = np.array([float(n - 1 - i) for i in range(n)])
            widths = np.array([t.mean_ms for t in top])
            colour = series_colour(0)
            fill = pg.mkColor(colour)
            fill.setAlpha(170)
            item.addItem(pg.BarGraphItem(x0=0, y=ys, width=widths, height=0.6, brush=pg.mkBrush(fill),
                                         pen=pg.mkPen(colour)))
            names = [t.name if len(t.name) <= 18 else t.name[:17] + "…" for t in top]
            item.getAxis("left").setTicks([[(float(n - 1 - i), names[i]) for i in range(n)]])
            item.setXRange(0, float(widths.max()) * 1.15 or 1.0, padding=0)
            item.setYRange(-0.6, n - 0.4, padding=0)
        return True


class ResultsPanel(QWidget):
    def __init__(self, export_variant: QAction, export_report: QAction, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("resultsPanel")
        self.outcome: RunOutcome | None = None
        self.rows: list[Row] = []
        self._pending: list = []

        self.title = QLabel("No results yet")
        self.title.setObjectName("resultsTitle")
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.35)
        font.setBold(True)
        self.title.setFont(font)
        self.headline = QLabel()
        self.headline.setObjectName("resultsHeadline")
        self.headline.setWordWrap(True)
        self.headline.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.export_variant_button = QPushButton(export_variant.text().replace("&", ""))
        self.export_variant_button.setObjectName("exportVariantButton")
        self.export_variant_button.clicked.connect(export_variant.trigger)
        self.export_report_button = QPushButton(export_report.text().replace("&", ""))
        self.export_report_button.setObjectName("exportReportButton")
        self.export_report_button.clicked.connect(export_report.trigger)
        export_variant.changed.connect(lambda: self.export_variant_button.setEnabled(export_variant.isEnabled()))
        export_report.changed.connect(lambda: self.export_report_button.setEnabled(export_report.isEnabled()))
        header = QHBoxLayout()
        header.addWidget(self.title)
        header.addStretch(1)
        header.addWidget(self.export_variant_button)
        header.addWidget(self.export_report_button)
        self.header_layout = header   # other faces add their buttons here (gui.serving: "Test under load…")

        self.banner = QLabel()
        self.banner.setObjectName("syntheticBanner")
        self.banner.setWordWrap(True)
        self.banner.setAutoFillBackground(True)
        self.banner.setMargin(6)
        palette = self.banner.palette()
        palette.setColor(QPalette.ColorRole.Window, palette.color(QPalette.ColorRole.ToolTipBase))
        palette.setColor(QPalette.ColorRole.WindowText, palette.color(QPalette.ColorRole.ToolTipText))
        self.banner.setPalette(palette)
        self.banner.setVisible(False)

        self.table_model = RecordTableModel(comparison_columns(metric_for(None)), parent=self)
        self.table = make_table()
        self.table.setObjectName("comparisonTable")
        self.table.setModel(sortable(self.table_model, self))
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        fit_columns(self.table)

        self.charts = ResultCharts()
        self.layer_combo = QComboBox()
        self.layer_combo.setObjectName("layerErrorVariant")
        self.layer_combo.currentIndexChanged.connect(self._show_layer_errors)
        self.layer_note = QLabel()
        self.layer_note.setWordWrap(True)
        self.layer_model = RecordTableModel(LAYER_COLUMNS, parent=self)
        self.layer_table = make_table()
        self.layer_table.setObjectName("layerErrorTable")
        self.layer_table.setModel(sortable(self.layer_model, self))
        self.layer_table.setSortingEnabled(True)
        self.layer_table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)
        fit_columns(self.layer_table, stretch=0)
        layer_page = QWidget()
        layer_layout = QVBoxLayout(layer_page)
        layer_top = QHBoxLayout()
        layer_top.addWidget(QLabel("Variant:"))
        layer_top.addWidget(self.layer_combo)
        layer_top.addWidget(self.layer_note, 1)
        layer_layout.addLayout(layer_top)
        layer_layout.addWidget(self.layer_table, 1)

        self.explanations = QTextBrowser()
        self.explanations.setObjectName("explanations")
        self.explanations.setOpenLinks(False)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("resultTabs")
        self.tabs.addTab(self.charts, "Charts")
        self.tabs.addTab(self.explanations, "What it means")
        self.outputs_page = PerOutputPage()
        self.outputs_tab_index = self.tabs.addTab(self.outputs_page, "Per output")
        self.config_model = RecordTableModel(config_columns(), parent=self)
        self.config_table = make_table()
        self.config_table.setObjectName("configTable")
        self.config_table.setModel(sortable(self.config_model, self))
        self.config_table.setSortingEnabled(True)
        self.config_table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)
        self.tabs.addTab(self.config_table, "All measurements")
        self.layer_tab_index = self.tabs.addTab(layer_page, "Per-layer error")
        self.profile_page = ProfilePage()
        self.profile_tab_index = self.tabs.addTab(self.profile_page, "Profile")
        self.crossover_page = CrossoverPage()   # the window runs the sweep when its button asks
        self.crossover_tab_index = self.tabs.addTab(self.crossover_page, "CPU vs GPU")
        self.mode = "run"            # "run" (a RunOutcome) or "auto" (an AutoResult)
        self.auto_result = None
        self.auto_payloads: list[dict] = []
        self.auto_timer = QTimer(self)
        self.auto_timer.setSingleShot(True)
        self.auto_timer.setInterval(AUTO_REDRAW_MS)
        self.auto_timer.timeout.connect(self._redraw_auto)
        self.auto_redraws = 0

        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.table.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.table.setFixedHeight(self.table.horizontalHeader().sizeHint().height()
                                  + 3 * self.table.verticalHeader().defaultSectionSize())

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 6)
        layout.addLayout(header)
        layout.addWidget(self.headline)
        layout.addWidget(self.banner)
        layout.addWidget(self.table)
        layout.addWidget(self.tabs, 1)
        self.placeholder = QLabel("Press Run (Ctrl+R) in the recipe panel: Litesmith makes the variants, measures "
                                  "the original and each variant, and compares them here.")
        self.placeholder.setObjectName("resultsPlaceholder")
        self.placeholder.setWordWrap(True)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        layout.addWidget(self.placeholder, 1)
        self.clear()

    def clear(self) -> None:
        """Back to "no results yet"."""
        self._pending = []
        self.outcome = None
        self.auto_result = None
        self.auto_payloads = []
        self.auto_timer.stop()
        self.mode = "run"
        self.rows = []
        self.profile_page.clear()
        self.tabs.setTabVisible(self.profile_tab_index, False)
        self.outputs_page.clear()
        self.tabs.setTabVisible(self.outputs_tab_index, False)
        self.table_model.set_records([])
        self.charts.clear()
        self.crossover_page.clear()
        self.explanations.clear()
        self.config_model.set_records([])
        self.layer_combo.clear()
        self.title.setText("No results yet")
        self.headline.setText("")
        self.banner.setVisible(False)
        for widget in (self.table, self.tabs, self.export_variant_button, self.export_report_button):
            widget.setVisible(False)
        self.placeholder.setVisible(True)

    # -- filling in ---------------------------------------------------------------------

    def set_outcome(self, outcome: RunOutcome) -> None:
        self.auto_timer.stop()
        self.mode = "run"
        self.auto_result = None
        self.auto_payloads = []
        self.outcome = outcome
        self.placeholder.setVisible(False)
        for widget in (self.table, self.tabs, self.export_variant_button, self.export_report_button):
            widget.setVisible(True)
        self.tabs.setTabVisible(self.layer_tab_index, True)
        metric = outcome_metric(outcome)
        self.rows = build_rows(outcome)
        self.table_model = RecordTableModel(comparison_columns(metric), self.rows, self)
        self.table.model().setSourceModel(self.table_model)
        # Sized once: a ResizeToContents header measures every cell again at each layout pass.
        self._size_columns()
        name = outcome.optimize.source.path.replace("\\", "/").rsplit("/", 1)[-1]
        self.title.setText(f"{name}: before and after")
        self.headline.setText(self._headline())
        synthetic = outcome.optimize.data.synthetic_data
        self.banner.setText("No data was given: inputs were synthesized, accuracy is unknown and int8 calibration "
                            "on random inputs can mislead. Choose a data file in the recipe panel and run again.")
        self.banner.setVisible(synthetic)
        # The rest in steps of their own, so the event loop breathes in between (charts take the longest).
        self.charts.front = []
        self._pending = [*self.charts.steps(self.rows, metric),
                         lambda: self.explanations.setHtml(self._explanations_html()), self._fill_outputs,
                         self._fill_configs, self._fill_layer_errors, self._fill_profile]
        QTimer.singleShot(STEP_MS, self._next_step)

    def _size_columns(self) -> None:
        # Sized once: a ResizeToContents header measures every cell again at each layout pass.
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        # Speed-up is against the original's latency, which auto mode does not measure.
        header.setStretchLastSection(False)
        self.table.setColumnHidden(SPEEDUP_COLUMN, self.mode == "auto")
        self.table.resizeColumnsToContents()
        if self.table.columnWidth(0) > NAME_MAX_PX:
            self.table.setColumnWidth(0, NAME_MAX_PX)   # long names elide; the tooltip has them whole
        header.setStretchLastSection(True)
        self._fit_table_height()

    def _fill_outputs(self) -> None:
        from core.report.outputs import run_models

        result = self.outcome.optimize
        outputs = self.outputs_page.set_models(result.source, run_models(result))
        self.tabs.setTabVisible(self.outputs_tab_index, outputs > 0)

    def _fill_profile(self) -> None:
        bench = self.outcome.benchmark if self.outcome is not None else None
        shown = bench is not None and self.profile_page.set_benchmark(bench)
        self.tabs.setTabVisible(self.profile_tab_index, bool(shown))

    # -- auto mode ------------------------------------------------------------------------

    def begin_auto(self, model_name: str, budget_text: str) -> None:
        """An auto search starts: an empty table that fills as candidates finish."""
        self.clear()
        self.mode = "auto"
        self.placeholder.setVisible(False)
        for widget in (self.table, self.tabs, self.export_variant_button, self.export_report_button):
            widget.setVisible(True)
        self.export_report_button.setVisible(False)
        self.tabs.setTabVisible(self.layer_tab_index, False)
        self.title.setText(f"{model_name}: auto search")
        self.headline.setText(f"Budget: {budget_text}. Candidates appear as they finish…")
        self.tabs.setCurrentWidget(self.charts)

    def add_candidate(self, payload: dict) -> None:
        """One finished candidate (the engine's partial); the table and charts redraw at most every 300 ms."""
        self.auto_payloads.append(payload)
        if not self.auto_timer.isActive():
            self.auto_timer.start()

    def _redraw_auto(self) -> None:
        from gui.auto import auto_metric, candidate_rows

        if self.mode != "auto":
            return
        result = self.auto_result
        rec = getattr(result, "recommendation", None) if result is not None else None
        recommended = (rec.variant if rec is not None else result.recommended) if result is not None else None
        payloads = self.auto_payloads
        self.rows = candidate_rows(payloads, recommended=recommended, result=result)
        metric = auto_metric(payloads, result)
        self.table_model = RecordTableModel(comparison_columns(metric), self.rows, self)
        self.table.model().setSourceModel(self.table_model)
        self._size_columns()
        self.charts.set_rows([r for r in self.rows if r.size_bytes], metric)
        self.auto_redraws += 1
        if result is None and payloads:
            last = payloads[-1]
            best = last.get("best")
            self.headline.setText(f"{last.get('done', len(payloads))}/{last.get('total', '?')} candidates, "
                                  f"best so far: {best or 'none yet'}")

    def set_auto_result(self, result, settings=None) -> None:
        """The search ended (finished or cancelled): every candidate, the recommendation and its reasons."""
        from gui.auto import auto_explanation_lines, payload_of

        self.mode = "auto"
        self.auto_timer.stop()
        self.auto_result = result
        self.auto_payloads = [payload_of(c) for c in result.candidates]
        self.placeholder.setVisible(False)
        for widget in (self.table, self.tabs, self.export_variant_button):
            widget.setVisible(True)
        self.export_report_button.setVisible(False)
        self._redraw_auto()
        measured = sum(1 for c in result.candidates if c.status == "measured")
        parts = []
        rec = getattr(result, "recommendation", None)   # the core's one Recommendation (None: an older result)
        if rec is not None and rec.label is not None:
            chosen = result.candidate(rec.variant)
            parts.append(f"{rec.headline()} ✔ ({chosen.quality_label})")
            if rec.why_not_fastest:
                parts.append("not the fastest p50: " + rec.why_not_fastest)
        elif result.recommended:
            chosen = result.candidate(result.recommended)
            parts.append(f"Recommended: {result.recommended} ✔ ({chosen.latency_config}, {chosen.quality_label})")
        else:
            parts.append("No candidate meets the budget")
        parts.append(f"{measured} of {len(result.candidates)} candidates measured")
        if result.cancelled:
            parts.append("cancelled: the candidates measured so far")
        if result.all_from_cache:
            parts.append("all results from the cache ⟲")
        elif any(c.from_cache for c in result.candidates):
            parts.append("⟲ = from the cache")
        self.headline.setText(" · ".join(parts))
        synthetic = result.data.synthetic_data
        self.banner.setText("No data was given: inputs were synthesized; agreement with the original model is all "
                            "that can be judged. Choose a data file in the recipe panel for an accuracy budget.")
        self.banner.setVisible(synthetic)
        items = [f"<p><b>{html.escape(h)}:</b> {html.escape(t)}</p>" for h, t in auto_explanation_lines(result)]
        self.explanations.setHtml("\n".join(items))
        from core.report.outputs import auto_models

        outputs = self.outputs_page.set_models(result.source, auto_models(result))
        self.tabs.setTabVisible(self.outputs_tab_index, outputs > 0)
        self.config_model = RecordTableModel(config_columns(), [c for cand in result.candidates if cand.bench
                                                                for c in cand.bench.configs], self)
        self.config_table.model().setSourceModel(self.config_model)
        self.config_table.resizeColumnsToContents()
        self.config_table.horizontalHeader().setStretchLastSection(True)

    def _next_step(self) -> None:
        try:
            if self._pending:
                self._pending.pop(0)()
        finally:  # a step that fails (the crash handler reports it) does not stop the others
            if self._pending:
                QTimer.singleShot(STEP_MS, self._next_step)

    def flush(self) -> None:
        """Finish filling in now (before a report renders the charts)."""
        while self._pending:
            self._pending.pop(0)()

    @property
    def complete(self) -> bool:
        if self.mode == "auto":
            return self.auto_result is not None
        return self.outcome is not None and not self._pending

    def _fill_configs(self) -> None:
        bench = self.outcome.benchmark
        recommended = bench.recommendation.label if bench is not None else None
        self.config_model = RecordTableModel(config_columns(recommended),
                                             list(bench.configs) if bench is not None else [], self)
        self.config_table.model().setSourceModel(self.config_model)
        self.config_table.resizeColumnsToContents()
        self.config_table.horizontalHeader().setStretchLastSection(True)

    def _fill_layer_errors(self) -> None:
        outcome = self.outcome
        with_errors = [v for v in outcome.optimize.variants if v.layer_errors]
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        for v in with_errors:
            self.layer_combo.addItem(v.name)
        self.layer_combo.blockSignals(False)
        self.tabs.setTabVisible(self.layer_tab_index, bool(with_errors))
        self._show_layer_errors()

    def _fit_table_height(self) -> None:
        rows = self.table_model.rowCount()
        view = self.table
        height = view.horizontalHeader().sizeHint().height() + rows * view.verticalHeader().defaultSectionSize()
        too_wide = view.horizontalHeader().length() > view.width() - 2 * view.frameWidth()
        scrollbar = view.horizontalScrollBar().sizeHint().height() if too_wide else 0
        view.setFixedHeight(min(height + 2 * view.frameWidth() + 2 + scrollbar, 260))

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if self.rows:
            self._fit_table_height()

    def _headline(self) -> str:
        outcome = self.outcome
        rows = self.rows
        if outcome is None or len(rows) < 2:
            return ""
        bench = outcome.benchmark
        parts = []
        # The core's one Recommendation: the same object the table's ✔, the charts' star and the CLI read.
        from core.report.cells import RECOMMENDED_MARK

        rec = bench.recommendation if bench is not None else None
        if rec is not None and rec.label:
            parts.append(rec.headline() + RECOMMENDED_MARK)
            fastest = next((r for r in rows if r.name == rec.fastest_variant), None)
            speed = (f", {fastest.speedup:.1f}× the original's speed"
                     if fastest is not None and fastest.speedup and not fastest.is_original else "")
            if rec.fastest_is_recommended:
                parts.append(f"also the fastest p50{speed}")
            elif rec.fastest_variant:
                parts.append(f"fastest p50: {rec.fastest_variant}{speed}; not recommended because "
                             + rec.why_not_fastest)
        smallest = min(rows[1:], key=lambda r: r.size_bytes)
        parts.append(f"smallest: {smallest.name}, {human_size(smallest.size_bytes)} "
                     f"({smallest.size_bytes / max(1, rows[0].size_bytes):.0%} of the original file)")
        metric = outcome_metric(outcome)
        if metric.several:
            parts.append(f"{metric.outputs} outputs: fidelity is each variant's worst output, accuracy is "
                         f"{metric.primary or 'the primary output'}'s (Per output has them all)")
        failed = [f.name for f in outcome.optimize.failures]
        if failed:
            parts.append(f"failed: {', '.join(failed)} (see What it means)")
        if outcome.benchmark_error is not None:
            parts.append("latency not measured: " + outcome.benchmark_error.message)
        return " · ".join(parts)

    def _explanations_html(self) -> str:
        if self.outcome is None:
            return ""
        items = []
        for heading, text in explanation_lines(self.outcome):
            items.append(f"<p><b>{html.escape(heading)}:</b> {html.escape(text)}</p>")
        return "\n".join(items)

    def _show_layer_errors(self, *_args) -> None:
        name = self.layer_combo.currentText()
        variant = None
        if self.outcome is not None and name:
            variant = next((v for v in self.outcome.optimize.variants if v.name == name), None)
        errors = list(variant.layer_errors) if variant is not None else []
        self.layer_model.set_records(errors)
        fit_columns(self.layer_table, stretch=0)
        if variant is None:
            self.layer_note.setText("")
        elif errors and errors[0].mse is not None:
            self.layer_note.setText("Mean squared error of each tensor against the float model, worst first.")
        else:
            self.layer_note.setText("rmse / quantization scale of each layer's output, worst first "
                                    "(~0.3 is ideal rounding; much higher: keep that layer in float).")

    # -- for the window and tests -----------------------------------------------------

    def selected_variant(self) -> str | None:
        indexes = self.table.selectionModel().selectedRows()
        if not indexes:
            return None
        source = self.table.model().mapToSource(indexes[0])
        row = self.rows[source.row()] if 0 <= source.row() < len(self.rows) else None
        return None if row is None or row.is_original else row.name

    def cell(self, row: int, column: int) -> str:
        model = self.table.model()
        return model.data(model.index(row, column))

    def column_titles(self) -> list[str]:
        model = self.table.model()
        return [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]


__all__ = ["ResultsPanel"]
