"""The comparison charts: latency bars, size bars, and quality against latency with the Pareto front.

Each chart is a pyqtgraph PlotWidget (`latency_plot`, `size_plot`,
`tradeoff_plot`), so the report can render them to PNG.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QHBoxLayout, QWidget

from core.report.comparison import Metric, Row, pareto_front
from core.units import fmt_ms, fmt_ms_tick
from gui.widgets.plotting import add_legend, make_plot, series_colour, series_symbol
import pyqtgraph as pg


def _colours(rows: list[Row]) -> list[QColor]:
    out: list[QColor] = []
    index = 0
    for row in rows:
        out.append(series_colour(index, row.is_original))
        if not row.is_original:
            index += 1
    return out


def _brush(colour: QColor, alpha: int = 170) -> QBrush:
    fill = pg.mkColor(colour)
    fill.setAlpha(alpha)
    return pg.mkBrush(fill)


class ResultCharts(QWidget):
    """The results' three charts side by side: p50 latency with p99 whiskers, size (KiB) and quality vs latency
    (the Pareto front joined, the recommended variant starred), drawn from comparison `Row`s (`set_rows`).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.latency_plot = make_plot("Latency: p50 bar, p99 whisker", "", "per call (log scale)", self)
        self.latency_plot.getPlotItem().showGrid(x=True, y=False, alpha=0.25)
        self.size_plot = make_plot("Size", "", "KiB", self)
        self.size_plot.getPlotItem().showGrid(x=True, y=False, alpha=0.25)
        self.tradeoff_plot = make_plot("Quality vs latency", "accuracy", "p50 per call (log scale)", self)
        self.tradeoff_plot.getPlotItem().showGrid(x=True, y=True, alpha=0.25)
        self.tradeoff_legend = add_legend(self.tradeoff_plot, offset=(-8, -8))
        for name, plot in (
            ("latencyChart", self.latency_plot),
            ("sizeChart", self.size_plot),
            ("tradeoffChart", self.tradeoff_plot),
        ):
            plot.setObjectName(name)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.latency_plot, 1)
        layout.addWidget(self.size_plot, 1)
        layout.addWidget(self.tradeoff_plot, 1)
        self.front: list[str] = []
        self.starred: str | None = None  # the recommended variant the quality-vs-latency chart stars

    def plots(self) -> dict[str, pg.PlotWidget]:
        """{"latency", "size", "tradeoff": its PlotWidget}: the keys the report's charts are named by."""
        return {"latency": self.latency_plot, "size": self.size_plot, "tradeoff": self.tradeoff_plot}

    def clear(self) -> None:
        """Empty the three charts (legends too) and forget the Pareto front and the starred variant."""
        for plot in self.plots().values():
            plot.getPlotItem().clear()  # also empties the legend
        self.front = []
        self.starred = None

    def set_rows(self, rows: list[Row], metric: Metric) -> None:
        """All three charts at once."""
        for step in self.steps(rows, metric):
            step()

    def steps(self, rows: list[Row], metric: Metric) -> list[Callable[[], None]]:
        """Filling the charts in three steps (one per chart), so a caller can spread them over the event loop."""
        return [
            lambda: self._latency_and_size(rows, latency=True),
            lambda: self._latency_and_size(rows, latency=False),
            lambda: self._tradeoff(rows, metric),
        ]

    def _latency_and_size(self, rows: list[Row], latency: bool) -> None:
        (self.latency_plot if latency else self.size_plot).getPlotItem().clear()
        colours = _colours(rows)
        n = len(rows)
        # Horizontal bars, the original on top: names read on the left axis at any width.
        ys = np.array([float(n - 1 - i) for i in range(n)])
        ticks = [
            [
                (float(n - 1 - i), r.name + (" ✔" if getattr(r, "recommended", False) else ""))
                for i, r in enumerate(rows)
            ]
        ]
        text_colour = self.palette().text().color()

        if not latency:
            self._size(rows, colours, ys, ticks, text_colour)
            return
        # Latency: bars in log10 space from a floor below the fastest p50, p99 as a whisker.
        item = self.latency_plot.getPlotItem()
        timed = [i for i, r in enumerate(rows) if r.p50_ms]
        p50 = [r.p50_ms or 0.0 for r in rows]  # 0.0: an untimed row, never read (not in `timed`)
        if timed:
            logs50 = np.log10([p50[i] for i in timed])
            logs99 = np.log10([max(rows[i].p99_ms or p50[i], p50[i]) for i in timed])
            floor = math.floor(float(logs50.min()) - 0.3)
            floor = min(floor, math.floor(float(logs99.max()) - 1.5))  # at least ~2 decades: readable log ticks
            y = ys[timed]
            item.addItem(
                pg.BarGraphItem(
                    x0=floor,
                    y=y,
                    width=logs50 - floor,
                    height=0.6,
                    brushes=[_brush(colours[i]) for i in timed],
                    pens=[pg.mkPen(colours[i]) for i in timed],
                )
            )
            item.addItem(
                pg.ErrorBarItem(
                    x=logs50,
                    y=y,
                    right=logs99 - logs50,
                    left=np.zeros_like(logs50),
                    beam=0.25,
                    pen=pg.mkPen(text_colour, width=1.5),
                )
            )
            for k, i in enumerate(timed):
                label = pg.TextItem(_ms(p50[i]), color=text_colour, anchor=(0.0, 0.5))
                label.setPos(float(logs99[k]) + 0.05, float(y[k]))
                item.addItem(label)
            span = float(logs99.max()) - floor
            high = float(logs99.max()) + max(0.9, 0.6 * span)
            item.setXRange(floor, high, padding=0)
            item.getAxis("bottom").setTicks(log_ticks(floor, high))
        item.setYRange(-0.6, n - 0.4, padding=0)
        item.getAxis("left").setTicks(ticks)

    def _size(
        self,
        rows: list[Row],
        colours: list[QColor],
        ys: np.ndarray,
        ticks: list[list[tuple[float, str]]],
        text_colour: QColor,
    ) -> None:
        n = len(rows)
        # Size: plain bars in KiB.
        item = self.size_plot.getPlotItem()
        sizes = np.array([r.size_bytes / 1024 for r in rows])
        item.addItem(
            pg.BarGraphItem(
                x0=0,
                y=ys,
                width=sizes,
                height=0.6,
                brushes=[_brush(c) for c in colours],
                pens=[pg.mkPen(c) for c in colours],
            )
        )
        for i in range(n):
            text = f"{sizes[i]:,.0f}" if sizes[i] >= 10 else f"{sizes[i]:.1f}"
            label = pg.TextItem(text, color=text_colour, anchor=(0.0, 0.5))
            label.setPos(float(sizes[i]), float(ys[i]))
            item.addItem(label)
        item.setXRange(0, float(sizes.max()) * 1.3 if sizes.size else 1, padding=0)
        item.setYRange(-0.6, n - 0.4, padding=0)
        item.getAxis("left").setTicks(ticks)

    def _tradeoff(self, rows: list[Row], metric: Metric) -> None:
        self.tradeoff_plot.getPlotItem().clear()
        colours = _colours(rows)
        text_colour = self.palette().text().color()
        # Quality against latency, with the Pareto front; names in the legend (labels would overlap).
        item = self.tradeoff_plot.getPlotItem()
        use_accuracy = any(r.accuracy is not None for r in rows)
        if use_accuracy:
            title = metric.accuracy_column
        else:
            title = "fidelity (worst output)" if metric.several else f"fidelity ({metric.fidelity_title.lower()})"
        item.setLabel("left", title)
        higher = metric.accuracy_higher_better if use_accuracy else True
        points = []
        for r in rows:
            q = r.accuracy if use_accuracy else r.fidelity
            if r.p50_ms and q is not None:
                points.append((r.name, r.p50_ms, q))
        self.front = pareto_front(points, higher)
        by_name = {name: (lat, q) for name, lat, q in points}
        if len(self.front) > 1:
            fx = np.log10([by_name[name][0] for name in self.front])
            fy = np.array([by_name[name][1] for name in self.front])
            highlight = pg.mkColor(self.palette().highlight().color())
            item.addItem(
                pg.PlotDataItem(
                    fx, fy, pen=pg.mkPen(highlight, width=3, style=Qt.PenStyle.DashLine), name="Pareto front"
                )
            )
        index = 0
        for r, colour in zip(rows, colours):
            symbol = "o" if r.is_original else series_symbol(index)
            if not r.is_original:
                index += 1
            if r.name not in by_name:
                continue
            lat, q = by_name[r.name]
            on_front = r.name in self.front
            scatter = pg.ScatterPlotItem(
                x=[math.log10(lat)],
                y=[q],
                symbol=symbol,
                size=15 if on_front else 11,
                brush=_brush(colour, 255 if on_front else 110),
                pen=pg.mkPen(text_colour if on_front else colour, width=2 if on_front else 1),
                name=r.name + (" ✔ recommended" if getattr(r, "recommended", False) else ""),
            )
            item.addItem(scatter)
        # The star marks the core's one recommendation (Row.recommended, from its Recommendation object), the
        # variant the header and the table's ✔ name; the Pareto front is the dashed line and the ringed points.
        chosen = next((r for r in rows if getattr(r, "recommended", False) and r.name in by_name), None)
        self.starred = chosen.name if chosen is not None else None
        if chosen is not None:
            lat, q = by_name[chosen.name]
            highlight = pg.mkColor(self.palette().highlight().color())
            item.addItem(
                pg.ScatterPlotItem(
                    x=[math.log10(lat)],
                    y=[q],
                    symbol="star",
                    size=30,
                    brush=pg.mkBrush(None),
                    pen=pg.mkPen(highlight, width=2.5),
                )
            )
        if points:
            xs = np.log10([p[1] for p in points])
            qs = np.array([p[2] for p in points])
            span_x = max(float(xs.max() - xs.min()), 1.0)  # at least a decade: a log axis needs it for ticks
            span_y = max(float(qs.max() - qs.min()), 0.01 * max(abs(float(qs.max())), 1e-6))
            middle = (float(xs.max()) + float(xs.min())) / 2
            item.setXRange(middle - 0.6 * span_x, middle + 0.6 * span_x, padding=0)
            item.getAxis("bottom").setTicks(log_ticks(middle - 0.6 * span_x, middle + 0.6 * span_x))
            # Room at the bottom for the legend: the points stay in the upper part of the plot.
            legend_share = min(0.6, 0.12 + 0.085 * (len(points) + (len(self.front) > 1)))
            low = float(qs.min()) - span_y * (legend_share / (1 - legend_share) + 0.1)
            item.setYRange(low, float(qs.max()) + 0.12 * span_y, padding=0)


def log_ticks(low: float, high: float) -> list[list[tuple[float, str]]]:
    """Ticks for an axis that holds log10(milliseconds): decades, plus 2 and 5 when under ~2 decades show."""
    major, minor = [], []
    stride = max(1, math.ceil((high - low) / 4))  # at most ~4 labelled decades: narrow charts stay legible
    for k in range(math.floor(low), math.ceil(high) + 1):
        if low <= k <= high:
            major.append((float(k), fmt_ms_tick(10.0**k) if k % stride == 0 else ""))
        if high - low < 2.2:
            for m in (2, 5):
                x = k + math.log10(m)
                if low <= x <= high:
                    minor.append((x, fmt_ms_tick(m * 10.0**k)))
    return [major, minor]


def _ms(value: float) -> str:
    """A bar's latency label: "12.3 µs", "1.23 ms", "20 ms" (`core.units.fmt_ms`, whole ms from 10 ms)."""
    return fmt_ms(value, large_digits=0)
