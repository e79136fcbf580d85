"""The comparison charts: latency bars, size bars, and quality against latency with the Pareto front.

Each chart is a pyqtgraph PlotWidget (`latency_plot`, `size_plot`,
`tradeoff_plot`), so the report can render them to PNG.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtWidgets import QHBoxLayout, QWidget

from gui.comparison import Metric, Row, pareto_front
from gui.widgets.plotting import make_plot, series_colour, series_symbol
import pyqtgraph as pg


def _colours(rows: list[Row]):
    out, index = [], 0
    for row in rows:
        out.append(series_colour(index, row.is_original))
        if not row.is_original:
            index += 1
    return out


def _brush(colour, alpha: int = 170):
    fill = pg.mkColor(colour)
    fill.setAlpha(alpha)
    return pg.mkBrush(fill)


class ResultCharts(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.latency_plot = make_plot("Latency p50 (bar) and p99 (line)", "ms per call (log)", "", self)
        self.latency_plot.getPlotItem().getAxis("left").setLogMode(False, True)
        self.size_plot = make_plot("Size", "KiB", "", self)
        self.tradeoff_plot = make_plot("Quality against latency", "accuracy", "p50 latency (ms, log)", self)
        self.tradeoff_plot.getPlotItem().getAxis("bottom").setLogMode(True, False)
        self.tradeoff_plot.getPlotItem().showGrid(x=True, y=True, alpha=0.25)
        for name, plot in (("latencyChart", self.latency_plot), ("sizeChart", self.size_plot),
                           ("tradeoffChart", self.tradeoff_plot)):
            plot.setObjectName(name)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.latency_plot, 1)
        layout.addWidget(self.size_plot, 1)
        layout.addWidget(self.tradeoff_plot, 1)
        self.front: list[str] = []

    def plots(self) -> dict[str, pg.PlotWidget]:
        return {"latency": self.latency_plot, "size": self.size_plot, "tradeoff": self.tradeoff_plot}

    def clear(self) -> None:
        for plot in self.plots().values():
            plot.getPlotItem().clear()
        self.front = []

    def set_rows(self, rows: list[Row], metric: Metric) -> None:
        self.clear()
        colours = _colours(rows)
        ticks = [(float(i), r.name) for i, r in enumerate(rows)]

        # Latency: bars in log10 space from a floor below the fastest p50.
        item = self.latency_plot.getPlotItem()
        timed = [(i, r) for i, r in enumerate(rows) if r.p50_ms]
        if timed:
            logs50 = np.log10([r.p50_ms for _, r in timed])
            logs99 = np.log10([max(r.p99_ms or r.p50_ms, r.p50_ms) for _, r in timed])
            floor = math.floor(float(logs50.min()) - 0.3)
            xs = np.array([i for i, _ in timed], dtype=float)
            item.addItem(pg.BarGraphItem(x=xs, y0=floor, height=logs50 - floor, width=0.6,
                                         brushes=[_brush(colours[i]) for i, _ in timed],
                                         pens=[pg.mkPen(colours[i]) for i, _ in timed]))
            item.addItem(pg.ErrorBarItem(x=xs, y=logs50, top=logs99 - logs50, bottom=np.zeros_like(logs50),
                                         beam=0.25, pen=pg.mkPen(self.palette().text().color(), width=1.5)))
            for (i, r), y in zip(timed, logs99):
                label = pg.TextItem(_ms(r.p50_ms), color=self.palette().text().color(), anchor=(0.5, 1.0))
                label.setPos(float(i), float(y))
                item.addItem(label)
            item.setYRange(floor, float(logs99.max()) + 0.35, padding=0)
        item.setXRange(-0.6, len(rows) - 0.4, padding=0)
        item.getAxis("bottom").setTicks([ticks])

        # Size: plain bars in KiB.
        item = self.size_plot.getPlotItem()
        sizes = np.array([r.size_bytes / 1024 for r in rows])
        item.addItem(pg.BarGraphItem(x=np.arange(len(rows), dtype=float), y0=0, height=sizes, width=0.6,
                                     brushes=[_brush(c) for c in colours], pens=[pg.mkPen(c) for c in colours]))
        for i, r in enumerate(rows):
            text = f"{sizes[i]:,.0f}" if sizes[i] >= 10 else f"{sizes[i]:.1f}"
            label = pg.TextItem(text, color=self.palette().text().color(), anchor=(0.5, 1.0))
            label.setPos(float(i), float(sizes[i]))
            item.addItem(label)
        item.setYRange(0, float(sizes.max()) * 1.15 if sizes.size else 1, padding=0)
        item.setXRange(-0.6, len(rows) - 0.4, padding=0)
        item.getAxis("bottom").setTicks([ticks])

        # Quality against latency, with the Pareto front.
        item = self.tradeoff_plot.getPlotItem()
        use_accuracy = any(r.accuracy is not None for r in rows)
        title = metric.accuracy_title if use_accuracy else f"fidelity ({metric.fidelity_title.lower()})"
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
            fx = np.log10([by_name[n][0] for n in self.front])
            fy = np.array([by_name[n][1] for n in self.front])
            highlight = pg.mkColor(self.palette().highlight().color())
            item.addItem(pg.PlotDataItem(fx, fy, pen=pg.mkPen(highlight, width=6), name="Pareto front"))
        index = 0
        for r, colour in zip(rows, colours):
            if r.name not in by_name:
                if not r.is_original:
                    index += 1
                continue
            lat, q = by_name[r.name]
            on_front = r.name in self.front
            symbol = "o" if r.is_original else series_symbol(index)
            item.addItem(pg.ScatterPlotItem(x=[math.log10(lat)], y=[q], symbol=symbol, size=16 if on_front else 11,
                                            brush=_brush(colour, 255 if on_front else 120),
                                            pen=pg.mkPen(self.palette().text().color() if on_front else colour,
                                                         width=2 if on_front else 1)))
            label = pg.TextItem(r.name + (" ★" if on_front else ""), color=self.palette().text().color(),
                                anchor=(0.0, 1.0))
            label.setPos(math.log10(lat), q)
            item.addItem(label)
            if not r.is_original:
                index += 1
        if points:
            xs = np.log10([p[1] for p in points])
            ys = np.array([p[2] for p in points])
            span_x = max(float(xs.max() - xs.min()), 0.3)
            span_y = max(float(ys.max() - ys.min()), 1e-3)
            item.setXRange(float(xs.min()) - 0.08 * span_x, float(xs.max()) + 0.35 * span_x, padding=0)
            item.setYRange(float(ys.min()) - 0.15 * span_y, float(ys.max()) + 0.25 * span_y, padding=0)


def _ms(value: float) -> str:
    if value < 0.1:
        return f"{value * 1000:.1f} µs"
    if value < 10:
        return f"{value:.2f} ms"
    return f"{value:.0f} ms"
