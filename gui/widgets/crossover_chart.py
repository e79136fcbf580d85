"""The "CPU vs GPU" page of the results: milliseconds per sample against batch size, one line per
device (`core.benchmark.crossover.CrossoverResult`), a dashed line where each GPU starts to win.

The page never measures: its button asks (`measure_requested`) and the window runs
`core.benchmark.gpu_sweep.crossover_sweep` in the engine, then calls `set_result`. "No GPU"
(no GPU runner could start here) is a state shown in words with each runner's reason,
next to the CPU line: not an error.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

import gui.pyside_fixes  # noqa: F401 - PySide6 6.12 emit() bug: must be fixed before any emit
import pyqtgraph as pg
from gui.widgets.plotting import add_legend, make_plot, series_colour, series_symbol

if TYPE_CHECKING:
    from core.benchmark.crossover import CrossoverResult
    from core.benchmark.gpu_sweep import SweepResult

IDLE_TEXT = (
    "Measure the CPU .tflite against the GPU runners (LiteRT's GPU accelerator, Keras on the GPU) "
    "over batch sizes 1, 8, 64 and 256, counting the copies to and from the GPU."
)


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def state_html(result: CrossoverResult) -> str:
    """The words above the chart: the crossover per GPU runner, or the "No GPU" state with the reasons."""
    parts = []
    if not result.gpu_available:
        parts.append("<b>No GPU:</b> only the CPU was measured here.")
    for curve in result.curves:
        if curve.kind == "gpu" and not curve.available:
            parts.append(f"{html.escape(curve.title)}: {html.escape(curve.reason)}")
    titles = {c.name: c.title for c in result.curves}
    for point in result.crossovers:
        curve = next(c for c in result.curves if c.name == point.device)
        if not curve.available:
            continue
        where = f"from batch {point.batch_size}" if point.batch_size is not None else "never, up to the largest batch"
        full = (
            ""
            if curve.fully_accelerated is None
            else " (whole model on the GPU)"
            if curve.fully_accelerated
            else " (not fully accelerated)"
        )
        parts.append(
            f"<b>{html.escape(titles.get(point.device, point.device))}</b> beats the CPU {where}"
            f"{full}: {html.escape(point.reason)}"
        )
    return "<br>".join(parts)


class CrossoverPage(QWidget):
    """Button, state text and the ms-per-sample chart (log-log)."""

    measure_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.button = QPushButton("Measure CPU vs GPU")
        self.button.setObjectName("crossoverMeasure")
        self.button.clicked.connect(self.measure_requested)
        self.state = QLabel(IDLE_TEXT)
        self.state.setObjectName("crossoverState")
        self.state.setWordWrap(True)
        self.plot = make_plot(
            "Time per sample by batch size (transfers counted)", "ms per sample (log)", "batch size (log)", self
        )
        self.plot.setObjectName("crossoverChart")
        self.plot.getPlotItem().setLogMode(x=True, y=True)
        self.plot.getPlotItem().showGrid(x=True, y=True, alpha=0.25)
        self.legend = add_legend(self.plot)
        self.result: CrossoverResult | None = None
        self.lines: dict[str, tuple[list[int], list[float]]] = {}  # what is drawn, by curve title
        self.marks: dict[str, int] = {}  # crossover batch by curve title
        top = QHBoxLayout()
        top.addWidget(self.button)
        top.addWidget(self.state, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.plot, 1)

    def clear(self) -> None:
        """Back to the idle state: no chart, the explanation text, the button enabled."""
        self.result = None
        self.lines, self.marks = {}, {}
        self.plot.getPlotItem().clear()
        self.state.setText(IDLE_TEXT)
        self.button.setEnabled(True)

    def set_running(self) -> None:
        """A measurement is running: the button is disabled and the text says so."""
        self.button.setEnabled(False)
        self.state.setText("Measuring the CPU and the GPU runners…")

    def set_failed(self, message: str) -> None:
        """The measurement failed: "Not measured: `message`" (escaped); the button is enabled again."""
        self.button.setEnabled(True)
        self.state.setText(f"Not measured: {html.escape(message)}")

    def set_result(self, result: CrossoverResult | SweepResult) -> None:
        """Draw a `CrossoverResult` (or a `SweepResult`, whose `.crossover` is one)."""
        result = cast("CrossoverResult", getattr(result, "crossover", result))
        self.result = result
        self.button.setEnabled(True)
        item = self.plot.getPlotItem()
        item.clear()
        self.lines, self.marks = {}, {}
        for index, curve in enumerate(c for c in result.curves if c.available):
            points = [(t.batch_size, t.per_sample_ms) for t in curve.timings if t.ok and _finite(t.per_sample_ms)]
            if not points:
                continue
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            colour = series_colour(index, original=curve.kind == "cpu")
            item.addItem(
                pg.PlotDataItem(
                    xs,
                    ys,
                    pen=pg.mkPen(colour, width=2),
                    symbol=series_symbol(index),
                    symbolBrush=colour,
                    symbolPen=colour,
                    name=curve.title,
                )
            )
            self.lines[curve.title] = (xs, ys)
        for point in result.crossovers:
            if point.batch_size is None:
                continue
            title = next(c.title for c in result.curves if c.name == point.device)
            # log mode: the line sits at log10 of the batch size
            item.addItem(
                pg.InfiniteLine(
                    pos=math.log10(point.batch_size),
                    angle=90,
                    pen=pg.mkPen(series_colour(0), style=pg.QtCore.Qt.PenStyle.DashLine),
                    label=f"{title}: from {point.batch_size}",
                    labelOpts={"position": 0.9, "color": self.palette().text().color()},
                )
            )
            self.marks[title] = point.batch_size
        self.state.setText(state_html(result))
