"""The results' "Profile" tab: where the Keras baseline's time goes, layer by layer, and data vs model.

Filled from a `core.benchmark.results.BenchmarkResult` measured with profiling on: its
``layer_profile`` (mean ms per eager call of each layer, on the CPU) and ``data_profile``
(ms spent loading and preparing batches vs in model calls, with an .npz data file).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from gui.panels.model_panel import fit_columns, make_table
from gui.panels.result_columns import PROFILE_COLUMNS
from gui.table_models import RecordTableModel, sortable

if TYPE_CHECKING:
    from core.benchmark.results import BenchmarkResult

PROFILE_TOP = 12  # layers drawn in the bar chart (the table has them all)


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
        """Empty: no table rows, no bars, no words."""
        self.model.set_records([])
        self.chart.getPlotItem().clear()
        self.data_label.setText("")

    def set_benchmark(self, bench: BenchmarkResult) -> bool:
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
            texts.append(
                f"<b>Data vs model</b> over {data.batches:,} batches ({data.samples:,} samples): "
                f"loading {data.load_ms:,.1f} ms, preparing batches {data.prepare_ms:,.1f} ms, "
                f"model calls {data.model_ms:,.1f} ms — {data.data_share:.0%} of "
                f"{total:,.1f} ms went to data."
            )
        else:
            texts.append("<b>Data vs model:</b> not measured (profiling with an .npz data file measures it).")
        if layers:
            texts.append(
                f"<b>Layers</b> of the Keras baseline, timed over eager calls on the CPU "
                f"(batch {bench.config.batch_sizes[0]}); the {min(PROFILE_TOP, len(layers))} slowest of "
                f"{len(layers)}:"
            )
        else:
            texts.append(
                "<b>Layers:</b> per-layer times exist for Keras models only (LiteRT's Python API has no op profiler)."
            )
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
            item.addItem(
                pg.BarGraphItem(x0=0, y=ys, width=widths, height=0.6, brush=pg.mkBrush(fill), pen=pg.mkPen(colour))
            )
            names = [t.name if len(t.name) <= 18 else t.name[:17] + "…" for t in top]
            item.getAxis("left").setTicks([[(float(n - 1 - i), names[i]) for i in range(n)]])
            item.setXRange(0, float(widths.max()) * 1.15 or 1.0, padding=0)
            item.setYRange(-0.6, n - 0.4, padding=0)
        return True


__all__ = ["PROFILE_TOP", "ProfilePage"]
