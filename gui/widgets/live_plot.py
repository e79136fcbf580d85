"""The live latency plot: every sample per variant as it is measured, and each variant's distribution.

The left plot is a timeline: the configurations are measured one after the
other, so each sample sits at the measurement time it ends (the running sum
of the latencies), and each variant's block follows the previous one.

Samples arrive from the benchmark job (``latency_samples`` partial events, up to
~30 a second). `add_samples` only stores them; a QTimer (`REFRESH_MS`, ~15 Hz)
moves what is new into the plot items with ``setData`` on the existing items, so
drawing never keeps up the measurement or the event loop. Long series are
decimated to at most `MAX_POINTS` points (min and max per bin: spikes stay
visible). Both plots use a log latency axis: a Keras baseline in milliseconds
and an int8 variant in microseconds share one plot.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from gui.widgets.plotting import add_legend, make_plot, series_colour, series_symbol
import pyqtgraph as pg

REFRESH_MS = 80
MAX_POINTS = 1000
NEW_ITEMS_PER_REFRESH = 2
STATS_SAMPLE = 20_000  # live box statistics from at most this many samples (evenly strided)
BOX_WIDTH = 0.6


class Series:
    """The samples of one measured configuration."""

    def __init__(
        self, key: str, name: str, index: int, original: bool, offset_s: float = 0.0, short_name: str = ""
    ) -> None:
        self.key, self.name, self.index, self.original = key, name, index, original
        self.short_name = short_name or name
        self.offset_s = offset_s
        self.values = np.empty(0, dtype=np.float64)
        self.times = np.empty(0, dtype=np.float64)  # seconds since the first sample of the run
        self._pending: list[np.ndarray] = []
        self.dirty = False
        self.final = False
        self.stats: tuple[float, float, float, float, float] | None = None  # p1, p25, p50, p75, p99

    def add(self, samples: Sequence[float] | np.ndarray) -> None:
        """Queue a batch of latency samples (ms); they move into `values` at the next `take_pending`."""
        if len(samples):
            self._pending.append(np.asarray(samples, dtype=np.float64))
            self.dirty = True

    def take_pending(self) -> None:
        """Move the queued samples into `values` and `times` (s: the running sum of latencies, from `offset_s`)."""
        if self._pending:
            new = np.concatenate(self._pending)
            start = self.times[-1] if self.times.size else self.offset_s
            self.values = np.concatenate([self.values, new])
            self.times = np.concatenate([self.times, start + np.cumsum(new) / 1000.0])
            self._pending = []

    @property
    def end_s(self) -> float:
        """The measurement time (s) the last sample ends at, queued ones included: where the next series starts."""
        pending = sum(float(p.sum()) for p in self._pending) / 1000.0
        return (self.times[-1] if self.times.size else self.offset_s) + pending

    @property
    def count(self) -> int:
        """The samples received, queued ones included."""
        return int(self.values.size + sum(p.size for p in self._pending))


def decimate(
    values: np.ndarray, max_points: int = MAX_POINTS, times: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) with at most ~max_points points: min and max of each bin, so spikes survive.

    x is the sample index, or `times` (one per value) when given.
    """
    n = values.size
    if n <= max_points:
        return (np.arange(n, dtype=np.float64) if times is None else times), values
    size = int(math.ceil(n / (max_points // 2)))
    bins = int(math.ceil(n / size))  # the last bin may be partial, never empty
    padded = np.full(bins * size, np.nan)
    padded[:n] = values
    blocks = padded.reshape(bins, size)
    lows, highs = np.nanmin(blocks, axis=1), np.nanmax(blocks, axis=1)
    if times is None:
        x = np.repeat(np.arange(bins, dtype=np.float64) * size, 2) + np.tile([0.0, size / 2], bins)
    else:
        first = times[np.arange(bins) * size]
        middle = times[np.minimum(np.arange(bins) * size + size // 2, n - 1)]
        x = np.empty(bins * 2)
        x[0::2], x[1::2] = first, middle
    y = np.empty(bins * 2)
    y[0::2], y[1::2] = lows, highs
    keep = np.isfinite(y)
    return x[keep], y[keep]


def display_name(payload: dict, several: bool, short: bool = False) -> str:
    """The legend name of a streamed configuration: "original (Keras …)" for the Keras or SavedModel baseline
    ("original" when `short`), else the variant's name; with `several` configurations " b<batch> t<threads>" is added.
    """
    runner = str(payload.get("runner", ""))
    variant = str(payload.get("variant", ""))
    if runner.startswith("keras") or runner.startswith("savedmodel"):
        name = "original" if short else "original (" + runner.replace("keras-", "Keras ") + ")"
    else:
        name = variant
    if several:
        name += f" b{payload.get('batch_size')}" + (f" t{payload['threads']}" if payload.get("threads") else "")
    return name


class LivePlot(QWidget):
    """Latency samples (left) and distributions (right), per measured configuration."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("livePlot")
        self.samples_plot = make_plot("Latency of every call", "latency (ms)", "time spent in calls (s)", self)
        self.samples_plot.setObjectName("samplesPlot")
        self.samples_plot.getPlotItem().setLogMode(x=False, y=True)
        self.legend = add_legend(self.samples_plot, offset=(8, -8))  # lower left: the slow baseline comes first
        self.box_plot = make_plot("Distribution", "latency (ms)", "", self)
        self.box_plot.setToolTip("Box: p25 to p75 with the median; whiskers: p1 to p99")
        self.box_plot.setObjectName("distributionPlot")
        self.box_plot.getPlotItem().getAxis("left").setLogMode(False, True)

        self.boxes = pg.BarGraphItem(x=[], height=[], y0=[], width=BOX_WIDTH)
        self.whiskers = pg.ErrorBarItem(x=np.zeros(0), y=np.zeros(0), top=np.zeros(0), bottom=np.zeros(0), beam=0.2)
        self.medians = pg.ScatterPlotItem(size=26, symbol="_", pxMode=True)
        for item in (self.whiskers, self.boxes, self.medians):
            self.box_plot.addItem(item)

        self.status = QLabel("Press Run: the latency of every call appears here while it is measured.")
        self.status.setObjectName("livePlotStatus")
        self.status.setWordWrap(True)

        plots = QHBoxLayout()
        plots.addWidget(self.samples_plot, 3)
        plots.addWidget(self.box_plot, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 6)
        layout.addWidget(self.status)
        layout.addLayout(plots, 1)

        self.series: dict[str, Series] = {}
        self.items: dict[str, pg.PlotDataItem] = {}
        self.several_configs = False
        self.refreshes = 0
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh)
        # Pay pyqtgraph's first-use costs (lazy imports, symbol atlas, legend) now, not mid-measurement.
        warm = self.samples_plot.plot([0.0, 1.0], [1.0, 1.0], pen=None, name="warm-up", symbol="o", symbolSize=4)
        self.samples_plot.removeItem(warm)
        self.legend.clear()

    # -- feeding -------------------------------------------------------------------

    def reset(self, several_configs: bool = False) -> None:
        """Empty both plots and forget every series, for a new run; `several_configs`: names carry batch and threads."""
        self.timer.stop()
        for item in self.items.values():
            self.samples_plot.removeItem(item)
        self.legend.clear()
        self.items.clear()
        self.series.clear()
        self.several_configs = several_configs
        self.boxes.setOpts(x=[], height=[], y0=[], brushes=None, pens=None)
        self.whiskers.setData(x=np.zeros(0), y=np.zeros(0), top=np.zeros(0), bottom=np.zeros(0))
        self.medians.setData([], [])
        self.box_plot.getPlotItem().getAxis("bottom").setTicks([[]])

    def add_samples(self, payload: dict) -> None:
        """Store one streamed batch of samples; drawn at the next refresh."""
        key = str(payload.get("config", ""))
        series = self.series.get(key)
        if series is None:
            runner = str(payload.get("runner", ""))
            original = (
                runner.startswith("keras") or runner.startswith("savedmodel") or payload.get("variant") == "original"
            )
            index = sum(1 for s in self.series.values() if not s.original)
            offset = max((s.end_s for s in self.series.values()), default=0.0)
            series = Series(
                key,
                display_name(payload, self.several_configs),
                index,
                original,
                offset,
                display_name(payload, self.several_configs, short=True),
            )
            self.series[key] = series
        series.add(payload.get("samples_ms") or ())
        if payload.get("final"):
            series.final = True
            series.dirty = True
        if not self.timer.isActive():
            self.timer.start()

    def finish(self) -> None:
        """Draw what is left (soon, not now: the caller is busy showing results) and stop the timer.

        While the plot is hidden nothing is drawn: it catches up when it is shown (`showEvent`).
        """
        self.timer.stop()
        if self.isVisible():
            QTimer.singleShot(REFRESH_MS // 2, self._final_refresh)

    def _final_refresh(self) -> None:
        self.refresh()
        if not self.drawn and self.isVisible():
            QTimer.singleShot(REFRESH_MS // 2, self._final_refresh)

    def flush(self) -> None:
        """Draw everything received now, visible or not (tests, reports)."""
        while not self.drawn:
            self.refresh(force=True)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        """Qt override: catch up with the samples that arrived while the plot was hidden."""
        super().showEvent(event)
        if not self.drawn:
            QTimer.singleShot(0, self._final_refresh)

    @property
    def drawn(self) -> bool:
        """Everything received is on screen."""
        return not any(s.dirty for s in self.series.values())

    # -- drawing -------------------------------------------------------------------

    def refresh(self, force: bool = False) -> None:
        """Move new samples into the plot items (decimated) and redraw the boxes (the timer's slot).

        While hidden nothing is drawn unless `force`; without `force` at most `NEW_ITEMS_PER_REFRESH` new
        series are added per call. The timer stops once every series is final and drawn.
        """
        if not force and not self.isVisible():
            return  # hidden: drawing would cost the event loop for nothing; showEvent catches up
        changed = False
        new_items = 0
        for series in self.series.values():
            if not series.dirty:
                continue
            if series.key not in self.items:
                if new_items >= NEW_ITEMS_PER_REFRESH and not force:
                    continue  # next time: a burst of new series must not stall the event loop
                new_items += 1
            series.dirty = False
            series.take_pending()
            if series.values.size == 0:
                continue
            changed = True
            x, y = decimate(series.values, times=series.times)
            item = self.items.get(series.key)
            if item is None:
                colour = series_colour(series.index, series.original)
                # Dots, not a line: joined min/max pairs of a decimated series would paint a solid block.
                item = self.samples_plot.plot(
                    x,
                    np.maximum(y, 1e-6),
                    pen=None,
                    name=series.name,
                    symbol=series_symbol(series.index) if not series.original else "o",
                    symbolSize=4,
                    symbolBrush=colour,
                    symbolPen=None,
                    antialias=False,
                )
                item.setDownsampling(auto=False)
                self.items[series.key] = item
            else:
                item.setData(x, np.maximum(y, 1e-6))
            values = series.values
            if values.size > STATS_SAMPLE:
                values = values[:: values.size // STATS_SAMPLE + 1]
            p1, p25, p50, p75, p99 = (float(v) for v in np.percentile(values, [1, 25, 50, 75, 99]))
            series.stats = (p1, p25, p50, p75, p99)
        if changed:
            self._draw_boxes()
            self.refreshes += 1
            total = sum(s.count for s in self.series.values())
            self.status.setText(f"{total:,} calls measured in {len(self.series)} configuration(s)")
        elif self.series and all(s.final and not s.dirty for s in self.series.values()):
            self.timer.stop()

    def _draw_boxes(self) -> None:
        drawn = [s for s in self.series.values() if s.stats is not None]
        if not drawn:
            return
        xs = np.arange(len(drawn), dtype=np.float64)
        logs = np.log10(np.maximum(np.array([s.stats for s in drawn]), 1e-6))  # p1, p25, p50, p75, p99
        colours = [series_colour(s.index, s.original) for s in drawn]
        brushes = []
        for c in colours:
            fill = pg.mkColor(c)
            fill.setAlpha(140)
            brushes.append(pg.mkBrush(fill))
        self.boxes.setOpts(
            x=xs,
            y0=logs[:, 1],
            height=np.maximum(logs[:, 3] - logs[:, 1], 1e-4),
            width=BOX_WIDTH,
            brushes=brushes,
            pens=[pg.mkPen(c, width=1.5) for c in colours],
        )
        self.whiskers.setData(
            x=xs,
            y=logs[:, 2],
            top=logs[:, 4] - logs[:, 2],
            bottom=logs[:, 2] - logs[:, 0],
            pen=pg.mkPen(self.palette().text().color(), width=1),
        )
        self.medians.setData(
            x=xs, y=logs[:, 2], brush=None, pen=[pg.mkPen(self.palette().text().color(), width=2.5) for _ in drawn]
        )
        self.box_plot.getPlotItem().getAxis("bottom").setTicks(
            [[(float(i), s.short_name) for i, s in enumerate(drawn)]]
        )
        self.box_plot.getPlotItem().setXRange(-0.6, len(drawn) - 0.4, padding=0)
        low, high = float(logs[:, 0].min()), float(logs[:, 4].max())
        margin = max(0.1, (high - low) * 0.08)
        self.box_plot.getPlotItem().setYRange(low - margin, high + margin, padding=0)

    # -- for tests and the report ----------------------------------------------------

    def item_points(self) -> dict[str, int]:
        """Points each series' plot item holds now."""
        out = {}
        for key, item in self.items.items():
            x, _ = item.getData()
            out[key] = 0 if x is None else len(x)
        return out

    def sample_counts(self) -> dict[str, int]:
        """{configuration key: samples received}, not yet drawn ones included."""
        return {key: s.count for key, s in self.series.items()}

    def box_count(self) -> int:
        """How many configurations have a box (their percentiles were computed)."""
        return sum(1 for s in self.series.values() if s.stats is not None)


__all__ = ["LivePlot", "decimate"]
