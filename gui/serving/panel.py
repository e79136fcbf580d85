"""The Serving tab: what to load-test, the live p50/p99 chart, the per-variant table and the recommendation.

The panel shows and asks; it never computes a figure. Every number comes from
the engine (`core.serving`): streamed `LoadPoint`s feed the chart
(`gui.serving.plot.ServingPlot`), the finished `ServingStudy` fills the table, the
one-line recommendation, the cache effect (keyed trace only) and the notes (their words and
the table's columns: `gui.serving.study_text`).

Signals: ``start_requested()`` (Start pressed; read `inputs()`), ``cancel_requested()``
(the same button while a study runs).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from gui.panels.model_panel import make_table
from gui.serving.plot import ServingPlot
from gui.serving.settings import ServingInputs
from gui.serving.study_text import SERVING_COLUMNS, cache_lines, recommendation_text, variant_notes
from gui.table_models import RecordTableModel

if TYPE_CHECKING:
    from core.serving.api import LoadPoint, ServingStudy

PLACEHOLDER = (
    "Will it keep up? Open a .tflite model, or Run a recipe (or an Auto search) and press "
    "“Test under load…”: every variant is measured, its queue simulated over request rates and "
    "batching policies, and the best policy confirmed with a real load test."
)
DETAIL_LINES = 5  # the notes' area shows this many lines, then scrolls
CAPTION = "○ simulated · ■ real load test · ★ knee (dotted line: its rate) · × generator fell behind"


class ServingPanel(QWidget):
    """The Serving tab's widget: the study's inputs, the live chart, the per-variant table, the recommendation
    and the notes; it computes no figure (signals in the module docstring).
    """

    start_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("servingPanel")
        self.study: ServingStudy | None = None
        self.running = False

        self.title = QLabel("Serving: will it keep up?")
        self.title.setObjectName("servingTitle")
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.35)
        font.setBold(True)
        self.title.setFont(font)
        self.source_label = QLabel("Nothing to test yet")
        self.source_label.setObjectName("servingSource")
        self.source_label.setWordWrap(True)

        defaults = ServingInputs()
        self.budget = QDoubleSpinBox()
        self.budget.setObjectName("servingBudget")
        self.budget.setRange(0.01, 100_000.0)
        self.budget.setDecimals(2)
        self.budget.setSuffix(" ms")
        self.budget.setValue(defaults.p99_ms)
        self.budget.setToolTip("Every request must answer within this at the 99th percentile")
        self.rates = self._edit(
            "servingRates",
            defaults.rates,
            "Offered rates in requests per second, e.g. “500, 1000, 2000”, or “sweep” to let the study find the knee",
        )
        self.seconds = QDoubleSpinBox()
        self.seconds.setObjectName("servingSeconds")
        self.seconds.setRange(0.1, 600.0)
        self.seconds.setDecimals(1)
        self.seconds.setSuffix(" s")
        self.seconds.setValue(defaults.seconds)
        self.seconds.setToolTip("Length of each real load test that confirms a simulated point")
        self.max_batch = self._edit("servingMaxBatch", defaults.max_batch, "Largest batch sizes to try")
        self.max_wait = self._edit(
            "servingMaxWait", defaults.max_wait_ms, "How long a batch may wait for more requests (ms) after its first"
        )
        self.workers = self._edit("servingWorkers", defaults.workers, "Interpreter workers running batches")
        self.trace = self._edit("servingTrace", "", "Optional CSV of request timestamps (and keys: the cache)")
        self.trace.setPlaceholderText("none: Poisson arrivals")
        self.browse_button = QPushButton("Trace…")
        self.browse_button.setObjectName("servingBrowseTrace")
        self.browse_button.clicked.connect(self._browse_trace)
        self.cache_sizes = self._edit(
            "servingCacheSizes", defaults.cache_sizes, "LRU cache sizes (predictions) simulated over a keyed trace"
        )
        self.start_button = QPushButton("Start load test")
        self.start_button.setObjectName("servingStart")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self._on_button)

        form = QGridLayout()
        form.setHorizontalSpacing(8)
        for column, (label, widget) in enumerate(
            (("p99 budget", self.budget), ("Rates (req/s)", self.rates), ("Real test", self.seconds))
        ):
            form.addWidget(QLabel(label), 0, 2 * column)
            form.addWidget(widget, 0, 2 * column + 1)
        for column, (label, widget) in enumerate(
            (("Max batch", self.max_batch), ("Max wait (ms)", self.max_wait), ("Workers", self.workers))
        ):
            form.addWidget(QLabel(label), 1, 2 * column)
            form.addWidget(widget, 1, 2 * column + 1)
        trace_row = QHBoxLayout()
        trace_row.addWidget(self.trace, 1)
        trace_row.addWidget(self.browse_button)
        form.addWidget(QLabel("Trace CSV"), 2, 0)
        form.addLayout(trace_row, 2, 1, 1, 3)
        form.addWidget(QLabel("Cache sizes"), 2, 4)
        form.addWidget(self.cache_sizes, 2, 5)
        for column in (1, 3, 5):
            form.setColumnStretch(column, 1)
        top = QHBoxLayout()
        top.addLayout(form, 1)
        top.addWidget(self.start_button, 0, Qt.AlignmentFlag.AlignBottom)

        self.recommendation = QLabel()
        self.recommendation.setObjectName("servingRecommendation")
        self.recommendation.setWordWrap(True)
        self.recommendation.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bold = self.recommendation.font()
        bold.setBold(True)
        self.recommendation.setFont(bold)
        self.chart = ServingPlot()
        self.caption = QLabel(CAPTION)
        self.caption.setObjectName("servingCaption")
        self.caption.setWordWrap(True)
        self.caption.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.caption.setToolTip(
            "A cross is a real run whose load generator could not keep the offered rate: "
            "its latency is the harness's, not the model's. Markers above the view sit on "
            "its top edge."
        )
        self.view = QComboBox()
        self.view.setObjectName("servingView")
        self.view.addItem("with the recommended policy", "best")
        self.view.addItem("without batching", "unbatched")
        self.view.setToolTip("Which policy's curve each variant shows (while the study runs: the best so far)")
        self.view.currentIndexChanged.connect(lambda _i: self.chart.set_view(self.view.currentData()))
        self.view_row = QWidget()
        view_row = QHBoxLayout(self.view_row)
        view_row.setContentsMargins(0, 0, 0, 0)
        view_row.addWidget(self.caption, 1)
        view_row.addWidget(QLabel("Curves:"))
        view_row.addWidget(self.view)
        self.table_model = RecordTableModel(SERVING_COLUMNS, parent=self)
        self.table = make_table()
        self.table.setObjectName("servingTable")
        self.table.setModel(self.table_model)
        self.table.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.details = QLabel()
        self.details.setObjectName("servingDetails")
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.TextFormat.RichText)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        # Notes and the cache effect scroll within a few lines: with several variants and cache sizes they
        # would otherwise squeeze the chart.
        self.details_area = QScrollArea()
        self.details_area.setObjectName("servingDetailsArea")
        self.details_area.setWidget(self.details)
        self.details_area.setWidgetResizable(True)
        self.details_area.setFrameShape(QFrame.Shape.NoFrame)
        self.details_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.details_area.setMaximumHeight(self.details.fontMetrics().lineSpacing() * DETAIL_LINES + 6)
        self.placeholder = QLabel(PLACEHOLDER)
        self.placeholder.setObjectName("servingPlaceholder")
        self.placeholder.setWordWrap(True)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setForegroundRole(QPalette.ColorRole.PlaceholderText)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 6)
        layout.addWidget(self.title)
        layout.addWidget(self.source_label)
        layout.addLayout(top)
        layout.addWidget(self.recommendation)
        layout.addWidget(self.chart, 1)
        layout.addWidget(self.view_row)
        layout.addWidget(self.table)
        layout.addWidget(self.details_area)
        layout.addWidget(self.placeholder, 1)
        self.clear()

    @staticmethod
    def _edit(name: str, text: str, tooltip: str) -> QLineEdit:
        edit = QLineEdit(text)
        edit.setObjectName(name)
        edit.setToolTip(tooltip)
        return edit

    # -- inputs -------------------------------------------------------------------------------

    def inputs(self) -> ServingInputs:
        """The form as typed; `ServingInputs.study_kwargs()` parses it (ValueError naming a bad field)."""
        return ServingInputs(
            p99_ms=self.budget.value(),
            rates=self.rates.text(),
            max_batch=self.max_batch.text(),
            max_wait_ms=self.max_wait.text(),
            workers=self.workers.text(),
            trace=self.trace.text(),
            seconds=self.seconds.value(),
            cache_sizes=self.cache_sizes.text(),
        )

    def set_source(self, text: str, ready: bool) -> None:
        """What Start would test (one line), and whether there is anything to test."""
        self.source_label.setText(text)
        if not self.running:
            self.start_button.setEnabled(ready)

    def _browse_trace(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Request trace", self.trace.text(), "CSV (*.csv);;All files (*)")
        if path:
            self.trace.setText(path)

    def _on_button(self) -> None:
        if self.running:
            self.start_button.setEnabled(False)
            self.start_button.setText("Cancelling…")
            self.cancel_requested.emit()
        else:
            self.start_requested.emit()

    # -- states -------------------------------------------------------------------------------

    def clear(self) -> None:
        """The "no result" state: the form and the explanation, no chart or table."""
        self.study = None
        self.chart.reset()
        self.placeholder.setText(PLACEHOLDER)
        self.table_model.set_records([])
        self.recommendation.setText("")
        self.details.setText("")
        for widget in (self.chart, self.view_row, self.table, self.details_area, self.recommendation):
            widget.setVisible(False)
        self.placeholder.setVisible(True)

    def begin(self, names: list[str], budget_ms: float) -> None:
        """A study starts: an empty chart that fills as points arrive."""
        self.clear()
        self.placeholder.setVisible(False)
        for widget in (self.chart, self.view_row, self.recommendation):
            widget.setVisible(True)
        self.chart.set_budget(budget_ms)
        # The order of the steps is the engine's (the status bar names each one): say only what the chart shows.
        self.recommendation.setText(
            f"Measuring {', '.join(names)} in turn: real runs calibrate each variant's "
            "simulation, then its simulated curve appears and real load tests confirm it…"
        )
        self.set_running(True)

    def set_running(self, running: bool) -> None:
        """Turn Start into Cancel while a study runs (and back), locking the form meanwhile."""
        self.running = running
        self.start_button.setText("Cancel" if running else "Start load test")
        self.start_button.setToolTip("Stop the load test (Esc)" if running else "Measure, simulate and load-test")
        self.start_button.setEnabled(True)
        for widget in (
            self.budget,
            self.rates,
            self.seconds,
            self.max_batch,
            self.max_wait,
            self.workers,
            self.trace,
            self.browse_button,
            self.cache_sizes,
        ):
            widget.setEnabled(not running)

    def add_point(self, point: LoadPoint) -> None:
        """Give one streamed `LoadPoint` to the chart (drawn at its next refresh)."""
        self.chart.add_point(point)

    def set_study(self, study: ServingStudy) -> None:
        """The finished study: table, recommendation, knees, cache effect and notes."""
        self.set_running(False)
        self.study = study
        self.placeholder.setVisible(False)
        for widget in (self.chart, self.view_row, self.table, self.details_area, self.recommendation):
            widget.setVisible(True)
        self.chart.set_study(study)
        self.table_model.set_records(list(study.variants))
        # Figures sized to their contents; the note takes what is left (elided, whole in its tooltip), so no
        # horizontal scroll bar hides a row.
        self.table.resizeColumnsToContents()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(header.count() - 1, QHeaderView.ResizeMode.Stretch)
        rows = max(1, len(study.variants))
        self.table.setFixedHeight(
            self.table.horizontalHeader().sizeHint().height()
            + rows * self.table.verticalHeader().defaultSectionSize()
            + 4
        )
        self.recommendation.setText(recommendation_text(study))
        parts = cache_lines(study) + [html.escape(n) for n in study.notes] + variant_notes(study)
        self.details.setText("<br>".join(parts))
        self.details_area.setVisible(bool(parts))

    def end(self, text: str) -> None:
        """A study that did not finish (cancelled, failed): say so; the points so far stay on the chart."""
        self.set_running(False)
        self.recommendation.setText(text)
        if not self.chart.points:
            self.clear()
            self.placeholder.setText(f"{text}\n\n{PLACEHOLDER}")


__all__ = ["ServingPanel"]
