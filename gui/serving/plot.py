"""The Serving chart: p50 and p99 latency versus offered load, one colour per variant.

Every `core.serving.LoadPoint` the engine streams is kept, grouped by variant and
batching policy. Each variant shows the curve of one policy: while the study runs,
the policy that so far holds the p99 budget at the highest offered rate (the one
the study is converging on); once the `ServingStudy` is in, its recommended policy's
points of `VariantServing.curve`; or, in the "unbatched" view, no batching. p99 is a
solid line, p50 dashed, simulated points are small hollow circles, real load-test
points large filled squares; the p99 budget is a horizontal line and each variant's knee
(`VariantServing.knee_rps`) a dotted vertical line, with a star where it meets the p99
curve. Points whose generator fell behind are not the model's latency: they are drawn
apart, as grey crosses.

Both axes are logarithmic (swept rates are geometric; a saturated queue's p99 is
orders of magnitude above the budget); the view stops at `VIEW_CAP` x the budget so
the interesting part stays readable, and markers beyond it sit on its top edge.
Drawing happens on a ~10 Hz timer, never per point.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QVBoxLayout, QWidget

from gui.widgets.plotting import add_legend, make_plot, palette_colours, series_colour
import pyqtgraph as pg

if TYPE_CHECKING:
    from core.serving.api import BatchPolicy, LoadPoint, ServingStudy, VariantServing

REFRESH_MS = 100
VIEW_CAP = 40.0  # the latency axis shows at most this many budgets
LEGEND_ROOM = 8.0  # the view reaches this factor under the lowest p50: the legend's place
BUDGET_COLOUR = "#C0392B"
BEHIND_COLOUR = "#8A8A8A"


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def compact_number(value: float) -> str:
    """A tick label: 0.5, 2, 50, 2k, 1.5M."""
    if value >= 1e6:
        return f"{value / 1e6:g}M"
    if value >= 1e3:
        return f"{value / 1e3:g}k"
    return f"{value:.2g}" if value < 1 else f"{value:g}"


def log_tick_strings(values: Sequence[float], scale: float, spacing: float) -> list[str]:
    """Labels for a log axis: 1, 2 and 5 times a power of ten only (the others stay as unlabelled ticks)."""
    out = []
    for v in values:
        x = float(10**v) * scale
        power = 10 ** math.floor(math.log10(x) + 1e-9)
        mantissa = round(x / power, 6)
        out.append(compact_number(round(x, 12)) if mantissa in (1.0, 2.0, 5.0) else "")
    return out


def holds(point: LoadPoint, budget_ms: float | None) -> bool:
    """The point is the model's latency and its p99 is within the budget."""
    return (
        point.generator_kept_up
        and not point.saturated
        and budget_ms is not None
        and _finite(point.latency.total.p99)
        and point.latency.total.p99 <= budget_ms
    )


class VariantCurves:
    """The plot items of one variant: p99 and p50 lines (simulated points), real points, the knee."""

    def __init__(self, plot: pg.PlotWidget, name: str, index: int) -> None:
        colour = series_colour(index)
        self.name, self.colour = name, colour
        self.p99 = plot.plot(
            [],
            [],
            name=name,
            pen=pg.mkPen(colour, width=2.2),
            symbol="o",
            symbolSize=5,
            symbolPen=pg.mkPen(colour),
            symbolBrush=None,
        )
        self.p50 = plot.plot(
            [],
            [],
            pen=pg.mkPen(colour, width=1.6, style=Qt.PenStyle.DashLine),
            symbol="o",
            symbolSize=4,
            symbolPen=pg.mkPen(colour),
            symbolBrush=None,
        )
        # Markers are PlotDataItems without a pen: unlike a bare ScatterPlotItem they follow the log axis.
        self.real99 = plot.plot(
            [], [], pen=None, symbol="s", symbolSize=11, symbolPen=pg.mkPen("k", width=0.8), symbolBrush=colour
        )
        self.real50 = plot.plot(
            [], [], pen=None, symbol="s", symbolSize=8, symbolPen=pg.mkPen(colour, width=1.5), symbolBrush=colour
        )
        self.knee = plot.plot(
            [], [], pen=None, symbol="star", symbolSize=20, symbolPen=pg.mkPen("k", width=0.8), symbolBrush=colour
        )
        for item in (self.real99, self.knee):
            item.setZValue(10)
        # The knee's rate as a thin vertical line too: visible even where the curve does not reach it.
        self.knee_line = pg.InfiniteLine(
            angle=90, movable=False, pen=pg.mkPen(colour, width=1, style=Qt.PenStyle.DotLine)
        )
        self.knee_line.setVisible(False)
        plot.addItem(self.knee_line)  # its rate counts for the x range: the line stays in view

    def items(self) -> list:
        """Every plot item of this variant (p99, p50, real points, knee star and line), to remove them."""
        return [self.p99, self.p50, self.real99, self.real50, self.knee, self.knee_line]


class ServingPlot(QWidget):
    """p50/p99 versus offered load for each variant; `add_point`, `set_study`, `reset`, `flush`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("servingPlot")
        # The line styles in the title: the report's copy of the chart has no caption under it.
        self.plot = make_plot(
            "Latency under load: p99 solid, p50 dashed", "latency (ms)", "offered load (requests/s)", self
        )
        self.plot.setObjectName("servingChart")
        self.plot.getPlotItem().setLogMode(x=True, y=True)  # swept rates are geometric; latency spans decades
        self.plot.getPlotItem().showGrid(x=True, y=True, alpha=0.2)
        for side in ("left", "bottom"):  # "2k" and "50", not "2·10³" crowding each other
            self.plot.getPlotItem().getAxis(side).logTickStrings = log_tick_strings
        # Lower left: the view reaches three decades below the highest p99, well under the p50 lines there.
        self.legend = add_legend(self.plot, offset=(10, -10))
        # Its label at the left end, on the plot's background: every curve climbs through the budget on the
        # right (that is where each one breaks), while at light load they run flat, usually well under it.
        background = palette_colours(self)[0]
        background.setAlpha(200)
        self.budget_line = pg.InfiniteLine(
            angle=0,
            movable=False,
            pen=pg.mkPen(BUDGET_COLOUR, width=1.6, style=Qt.PenStyle.DashDotLine),
            label="p99 budget",
            labelOpts={
                "position": 0.02,
                "color": BUDGET_COLOUR,
                "anchors": [(0, 1), (0, 1)],
                "fill": pg.mkBrush(background),
            },
        )
        self.budget_line.setVisible(False)
        self.plot.addItem(self.budget_line, ignoreBounds=True)
        self.behind = self.plot.plot(
            [], [], pen=None, symbol="x", symbolSize=10, symbolPen=None, symbolBrush=BEHIND_COLOUR
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)

        self.budget_ms: float | None = None
        self.points: dict[str, dict[Any, list]] = {}  # variant -> policy -> [LoadPoint]
        self.curves: dict[str, VariantCurves] = {}
        self.study: ServingStudy | None = None
        self.view = "best"
        self.knees: dict[str, tuple[float, float | None]] = {}  # variant -> (rps, p99 ms of the star or None)
        self.dirty = False
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh)

    # -- feeding ---------------------------------------------------------------------------

    def reset(self, budget_ms: float | None = None) -> None:
        """Forget every point, curve, knee and the study; `budget_ms` sets the budget line (None: hidden)."""
        self.timer.stop()
        for curves in self.curves.values():
            for item in curves.items():
                self.plot.removeItem(item)
        self.legend.clear()
        self.curves.clear()
        self.points.clear()
        self.knees.clear()
        self.study = None
        self.behind.setData([], [])
        self.set_budget(budget_ms)
        self.dirty = False

    def set_budget(self, budget_ms: float | None) -> None:
        """Draw the p99 budget line at `budget_ms` (ms); None or ≤ 0 hides it."""
        self.budget_ms = budget_ms if budget_ms and budget_ms > 0 else None
        self.budget_line.setVisible(self.budget_ms is not None)
        if self.budget_ms is not None:
            self.budget_line.setValue(math.log10(self.budget_ms))  # the axis is in log units
            self.budget_line.label.setFormat(f"p99 budget {self.budget_ms:g} ms")

    def add_point(self, point: LoadPoint) -> None:
        """Store one streamed LoadPoint; drawn at the next refresh."""
        self.points.setdefault(point.variant, {}).setdefault(point.policy, []).append(point)
        self.dirty = True
        if not self.timer.isActive():
            self.timer.start()

    def set_study(self, study: ServingStudy) -> None:
        """The finished study: each variant's curves as the study reports them, its real runs, knees and budget."""
        self.study = study
        self.set_budget(study.p99_budget_ms)
        for v in study.variants:
            store = self.points.setdefault(v.variant, {})
            for policy in dict.fromkeys(p.policy for p in v.curve):
                # The study's curve replaces what streamed for that policy (the twins of the real runs were
                # simulated on other arrivals); the real runs stay.
                real = [p for p in store.get(policy, []) if not p.simulated]
                store[policy] = [p for p in v.curve if p.policy == policy] + real
            for run in (v.confirmed, v.confirmed_unbatched):
                if run is not None and not any(
                    not p.simulated and p.offered_rps == run.offered_rps for p in store.get(run.policy, [])
                ):
                    store.setdefault(run.policy, []).append(run)
        self.dirty = True
        self.refresh(force=True)

    def set_view(self, view: str) -> None:
        """ "best": each variant's recommended policy (live: the best so far); "unbatched": no batching."""
        self.view = view
        self.dirty = True
        self.refresh(force=True)

    def flush(self) -> None:
        """Draw everything received now (tests, screenshots)."""
        self.refresh(force=True)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        """Qt override: restart the timer to draw what arrived while hidden."""
        super().showEvent(event)
        if self.dirty:
            self.timer.start()

    # -- which points each variant shows -------------------------------------------------------

    def _done(self, variant: str) -> VariantServing | None:
        return next((v for v in self.study.variants if v.variant == variant), None) if self.study else None

    def shown_policy(self, variant: str) -> BatchPolicy | None:
        """The policy whose points `variant` shows: see the module docstring; None when it has no points."""
        by_policy = self.points.get(variant, {})
        unbatched = [p for p in by_policy if p.max_batch == 1]
        if self.view == "unbatched":
            return min(unbatched, key=lambda p: (p.workers, p.max_wait_ms), default=None)
        done = self._done(variant)
        if done is not None:
            if done.recommended is not None and done.recommended in by_policy:
                return done.recommended
            return min(unbatched, key=lambda p: (p.workers, p.max_wait_ms), default=None)
        if not by_policy:
            return None

        def rank(item: tuple[BatchPolicy, list[LoadPoint]]) -> tuple[float, int, int, float]:
            policy, points = item
            held = [p.offered_rps for p in points if holds(p, self.budget_ms)]
            # Highest rate held, then the simplest policy (no batching, fewer workers).
            return (max(held, default=-1.0), -policy.max_batch, -policy.workers, -policy.max_wait_ms)

        return max(by_policy.items(), key=rank)[0]

    def shown(self, variant: str) -> list:
        """The points (simulated and real) on `variant`'s curve now."""
        policy = self.shown_policy(variant)
        return list(self.points.get(variant, {}).get(policy, [])) if policy is not None else []

    # -- drawing -------------------------------------------------------------------------------

    def refresh(self, force: bool = False) -> None:
        """Redraw from the points kept (the timer's slot): each variant's shown curve, real points, knee and the
        generator-behind crosses, then fit the latency view. Nothing new, or hidden without `force`: the timer stops.
        """
        if not self.dirty or (not force and not self.isVisible()):
            self.timer.stop()  # nothing new, or hidden: showEvent catches up
            return
        self.dirty = False
        behind: list[tuple[float, float]] = []
        drawn: list[tuple[VariantCurves, list, list]] = []
        top, low = 0.0, math.inf
        for name in self.points:
            curves = self.curves.get(name)
            if curves is None:
                curves = self.curves[name] = VariantCurves(self.plot, name, len(self.curves))
                self.legend.setColumnCount(min(len(self.curves), 4))  # one low row: it fits under the lines
            for p in self.points[name].values():
                behind += [
                    (q.offered_rps, q.latency.total.p99)
                    for q in p
                    if not q.generator_kept_up and _finite(q.latency.total.p99)
                ]
            mine = [p for p in self.shown(name) if p.generator_kept_up]
            sim = sorted((p for p in mine if p.simulated), key=lambda p: p.offered_rps)
            real = sorted((p for p in mine if not p.simulated), key=lambda p: p.offered_rps)
            self._set_line(curves.p99, sim, "p99")
            self._set_line(curves.p50, sim, "p50")
            top = max([top] + [p.latency.total.p99 for p in mine if _finite(p.latency.total.p99)])
            low = min([low] + [p.latency.total.p50 for p in mine if _finite(p.latency.total.p50)])
            self._set_knee(name, curves, sim)
            drawn.append((curves, real, sim))
        high = self._fit_view(top, low)
        # Markers above the view sit on its top edge: a real run far beyond the budget still shows where it ran.
        for curves, real, _sim in drawn:
            curves.real99.setData(*self._clipped(self._xy(real, "p99"), high))
            curves.real50.setData(*self._clipped(self._xy(real, "p50"), high))
        self.behind.setData(*self._clipped(self._xy_pairs(behind), high))

    @staticmethod
    def _clipped(xy: tuple[np.ndarray, np.ndarray], high: float | None) -> tuple[np.ndarray, np.ndarray]:
        x, y = xy
        return (x, y) if high is None else (x, np.minimum(y, high))

    @staticmethod
    def _xy(points: list, which: str) -> tuple[np.ndarray, np.ndarray]:
        pairs = [(p.offered_rps, getattr(p.latency.total, which)) for p in points]
        return ServingPlot._xy_pairs(pairs)

    @staticmethod
    def _xy_pairs(pairs: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
        kept = [(x, y) for x, y in pairs if _finite(y) and math.isfinite(x)]
        # Log mode takes log10 of y itself; the arrays stay in milliseconds.
        return (np.array([x for x, _ in kept], dtype=np.float64), np.array([y for _, y in kept], dtype=np.float64))

    def _set_line(self, item: pg.PlotDataItem, points: list, which: str) -> None:
        item.setData(*self._xy(points, which))

    def _set_knee(self, name: str, curves: VariantCurves, sim: list) -> None:
        done = self._done(name)
        knee = done.knee_rps if done is not None else None
        # The study finds the knee of the recommended policy (no batching when there is none): only on that curve.
        knee_policy = done.recommended if done is not None else None
        shown = self.shown_policy(name)
        if knee_policy is None and shown is not None and shown.max_batch != 1:
            knee = None
        elif knee_policy is not None and shown != knee_policy:
            knee = None
        x, y = self._xy(sim, "p99")
        if knee is None or not math.isfinite(knee) or knee <= 0:
            curves.knee.setData([], [])
            curves.knee_line.setVisible(False)
            self.knees.pop(name, None)
            return
        curves.knee_line.setValue(math.log10(knee))  # the rate axis is in log units
        curves.knee_line.setVisible(True)
        if x.size == 0 or not x[0] <= knee <= x[-1]:
            # Off the drawn curve: no point on it to mark; the vertical line says where.
            curves.knee.setData([], [])
            self.knees[name] = (float(knee), None)
            return
        # On the p99 line as drawn: straight between its points on the log-log axes.
        at = float(10 ** np.interp(math.log10(knee), np.log10(x), np.log10(y)))
        self.knees[name] = (float(knee), at)
        curves.knee.setData([float(knee)], [at])

    def _fit_view(self, top: float, low: float = math.inf) -> float | None:
        """Latency from the highest p99 drawn (at most `VIEW_CAP` budgets) down three decades, or further to
        leave room for the legend under the lowest p50; returns the top in ms."""
        if self.budget_ms is None:
            return None
        # At least 2.5 budgets: room above the budget line for its label.
        high = min(max(top, self.budget_ms * 2.5), self.budget_ms * VIEW_CAP)
        bottom = math.log10(high) - 3.0
        if math.isfinite(low) and low > 0:
            bottom = min(bottom, math.log10(low / LEGEND_ROOM))
        item = self.plot.getPlotItem()
        item.enableAutoRange(axis="x", enable=True)
        item.setYRange(bottom, math.log10(high) + 0.08, padding=0)
        return high * 0.98  # just inside the edge, so a clipped marker stays visible

    # -- for tests and the report ------------------------------------------------------------------

    def curve_data(self, variant: str, which: str = "p99") -> tuple[np.ndarray, np.ndarray]:
        """(offered rps, latency ms) the `which` line ("p99", "p50") of `variant` holds now."""
        item = getattr(self.curves[variant], which)
        x, y = item.getOriginalDataset()
        return (np.zeros(0) if x is None else np.asarray(x)), (np.zeros(0) if y is None else np.asarray(y))


__all__ = ["ServingPlot", "holds"]
