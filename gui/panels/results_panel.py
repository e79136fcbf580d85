"""The results panel: the before/after table, the charts, per-layer error and the explanations in words.

Filled by `set_outcome(RunOutcome)` (or an auto search: `begin_auto`, `add_candidate`,
`set_auto_result`). The best value of each column is bold and marked with ★ (no colour
needed). Export buttons trigger the window's actions. The parts live in modules of their own:
the tables' columns (`gui.panels.result_columns`), the headline and "What it means"
(`gui.panels.results_summary`), the Profile tab (`gui.panels.profile_page`) and the
Per-layer error tab (`gui.panels.layer_errors_page`); the charts are `gui.widgets.result_charts`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QPalette, QResizeEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QTableView,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from core.report.comparison import Row, build_rows, metric_for, outcome_metric
from gui.panels.layer_errors_page import LayerErrorsPage
from gui.panels.model_panel import fit_columns, make_table
from gui.panels.profile_page import ProfilePage
from gui.panels.result_columns import comparison_columns, config_columns
from gui.panels.results_summary import (
    AUTO_SYNTHETIC_BANNER,
    RUN_SYNTHETIC_BANNER,
    auto_headline,
    lines_html,
    run_explanations_html,
    run_headline,
)
from gui.table_models import RecordTableModel, proxy_of, sortable
from gui.widgets.per_output import PerOutputPage
from gui.widgets.crossover_chart import CrossoverPage
from gui.widgets.result_charts import ResultCharts
from gui.workflow import RunOutcome

if TYPE_CHECKING:
    from core.auto.results import AutoResult
    from gui.recipe import RunSettings

SPEEDUP_COLUMN = 6
NAME_MAX_PX = 190  # the Variant column: longer names are elided (full name in the tooltip)
AUTO_REDRAW_MS = 300  # candidates arrive in bursts from the cache: redraw at most this often
STEP_MS = 20  # between the steps that fill in the results: a paint and other events fit in between


class ResultsPanel(QWidget):
    """The results: title and headline, the export buttons, the comparison table and the tabs under it.

    `set_outcome(RunOutcome)` shows a run (filled in steps, `complete` once done); `begin_auto`,
    `add_candidate` and `set_auto_result` show an auto search as it goes. ``mode`` is "run" or
    "auto"; ``rows`` the table's `core.report.comparison.Row` objects, in the model's order.
    """

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
        self.header_layout = header  # other faces add their buttons here (gui.serving: "Test under load…")

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
        self.layer_page = LayerErrorsPage()
        self.layer_combo = self.layer_page.layer_combo  # the window and tests reach them here
        self.layer_note = self.layer_page.layer_note
        self.layer_model = self.layer_page.layer_model
        self.layer_table = self.layer_page.layer_table

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
        self.layer_tab_index = self.tabs.addTab(self.layer_page, "Per-layer error")
        self.profile_page = ProfilePage()
        self.profile_tab_index = self.tabs.addTab(self.profile_page, "Profile")
        self.crossover_page = CrossoverPage()  # the window runs the sweep when its button asks
        self.crossover_tab_index = self.tabs.addTab(self.crossover_page, "CPU vs GPU")
        self.mode = "run"  # "run" (a RunOutcome) or "auto" (an AutoResult)
        self.auto_result: AutoResult | None = None
        self.auto_payloads: list[dict] = []
        self.auto_timer = QTimer(self)
        self.auto_timer.setSingleShot(True)
        self.auto_timer.setInterval(AUTO_REDRAW_MS)
        self.auto_timer.timeout.connect(self._redraw_auto)
        self.auto_redraws = 0

        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.table.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.table.setFixedHeight(
            self.table.horizontalHeader().sizeHint().height() + 3 * self.table.verticalHeader().defaultSectionSize()
        )

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 6)
        layout.addLayout(header)
        layout.addWidget(self.headline)
        layout.addWidget(self.banner)
        layout.addWidget(self.table)
        layout.addWidget(self.tabs, 1)
        self.placeholder = QLabel(
            "Press Run (Ctrl+R) in the recipe panel: Litesmith makes the variants, measures "
            "the original and each variant, and compares them here."
        )
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
        self.layer_page.clear()
        self.title.setText("No results yet")
        self.headline.setText("")
        self.banner.setVisible(False)
        for widget in (self.table, self.tabs, self.export_variant_button, self.export_report_button):
            widget.setVisible(False)
        self.placeholder.setVisible(True)

    # -- filling in ---------------------------------------------------------------------

    def set_outcome(self, outcome: RunOutcome) -> None:
        """Show a run: the table at once, the charts, words and tabs in steps (`complete` when all are in)."""
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
        proxy_of(self.table).setSourceModel(self.table_model)
        # Sized once: a ResizeToContents header measures every cell again at each layout pass.
        self._size_columns()
        name = outcome.optimize.source.path.replace("\\", "/").rsplit("/", 1)[-1]
        self.title.setText(f"{name}: before and after")
        self.headline.setText(run_headline(outcome, self.rows))
        synthetic = outcome.optimize.data.synthetic_data
        self.banner.setText(RUN_SYNTHETIC_BANNER)
        self.banner.setVisible(synthetic)
        # The rest in steps of their own, so the event loop breathes in between (charts take the longest).
        self.charts.front = []
        self._pending = [
            *self.charts.steps(self.rows, metric),
            lambda: self.explanations.setHtml(run_explanations_html(self.outcome)),
            self._fill_outputs,
            self._fill_configs,
            self._fill_layer_errors,
            self._fill_profile,
        ]
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
            self.table.setColumnWidth(0, NAME_MAX_PX)  # long names elide; the tooltip has them whole
        header.setStretchLastSection(True)
        self._fit_table_height()

    def _fill_outputs(self) -> None:
        from core.report.outputs import run_models

        assert self.outcome is not None  # a step of `set_outcome` (`clear` drops the steps left)
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
        proxy_of(self.table).setSourceModel(self.table_model)
        self._size_columns()
        self.charts.set_rows([r for r in self.rows if r.size_bytes], metric)
        self.auto_redraws += 1
        if result is None and payloads:
            last = payloads[-1]
            best = last.get("best")
            self.headline.setText(
                f"{last.get('done', len(payloads))}/{last.get('total', '?')} candidates, "
                f"best so far: {best or 'none yet'}"
            )

    def set_auto_result(self, result: AutoResult, settings: RunSettings | None = None) -> None:
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
        self.headline.setText(auto_headline(result))
        synthetic = result.data.synthetic_data
        self.banner.setText(AUTO_SYNTHETIC_BANNER)
        self.banner.setVisible(synthetic)
        self.explanations.setHtml(lines_html(auto_explanation_lines(result)))
        from core.report.outputs import auto_models

        outputs = self.outputs_page.set_models(result.source, auto_models(result))
        self.tabs.setTabVisible(self.outputs_tab_index, outputs > 0)
        self.config_model = RecordTableModel(
            config_columns(), [c for cand in result.candidates if cand.bench for c in cand.bench.configs], self
        )
        proxy_of(self.config_table).setSourceModel(self.config_model)
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
        """True once everything is shown (a run's steps done, or an auto search's end)."""
        if self.mode == "auto":
            return self.auto_result is not None
        return self.outcome is not None and not self._pending

    def _fill_configs(self) -> None:
        assert self.outcome is not None  # a step of `set_outcome`
        bench = self.outcome.benchmark
        recommended = bench.recommendation.label if bench is not None else None
        self.config_model = RecordTableModel(
            config_columns(recommended), list(bench.configs) if bench is not None else [], self
        )
        proxy_of(self.config_table).setSourceModel(self.config_model)
        self.config_table.resizeColumnsToContents()
        self.config_table.horizontalHeader().setStretchLastSection(True)

    def _fill_layer_errors(self) -> None:
        assert self.outcome is not None  # a step of `set_outcome`
        shown = self.layer_page.set_variants(self.outcome.optimize.variants)
        self.tabs.setTabVisible(self.layer_tab_index, shown)

    def _fit_table_height(self) -> None:
        rows = self.table_model.rowCount()
        view = self.table
        height = view.horizontalHeader().sizeHint().height() + rows * view.verticalHeader().defaultSectionSize()
        too_wide = view.horizontalHeader().length() > view.width() - 2 * view.frameWidth()
        scrollbar = view.horizontalScrollBar().sizeHint().height() if too_wide else 0
        view.setFixedHeight(min(height + 2 * view.frameWidth() + 2 + scrollbar, 260))

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        """Qt override: the comparison table's height follows its rows at the new width."""
        super().resizeEvent(event)
        if self.rows:
            self._fit_table_height()

    # -- for the window and tests -----------------------------------------------------

    def selected_variant(self) -> str | None:
        """The variant selected in the table (None: none, or the original)."""
        indexes = self.table.selectionModel().selectedRows()
        if not indexes:
            return None
        source = proxy_of(self.table).mapToSource(indexes[0])
        row = self.rows[source.row()] if 0 <= source.row() < len(self.rows) else None
        return None if row is None or row.is_original else row.name

    def cell(self, row: int, column: int) -> str:
        """The comparison table's text at (row, column), in the table's current (sorted) order."""
        model = self.table.model()
        return model.data(model.index(row, column))

    def column_titles(self) -> list[str]:
        """The comparison table's column titles."""
        model = self.table.model()
        return [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]


__all__ = ["ResultsPanel"]
