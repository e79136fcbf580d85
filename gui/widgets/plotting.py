"""pyqtgraph set-up shared by the live plot and the result charts: palette-following style, series colours.

Colours are the Okabe-Ito set (distinguishable with the common colour-vision
deficiencies); every series also gets its own symbol, so no figure depends on
colour alone. Backgrounds and text follow the application palette (light and
dark themes).
"""

from __future__ import annotations

from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication, QWidget

import gui.pyside_fixes  # noqa: F401 - PySide6 6.12 emit() bug: must be fixed before any emit
import pyqtgraph as pg

pg.setConfigOptions(antialias=True, useOpenGL=False)

SERIES_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#8C6D31", "#999933")
ORIGINAL_COLOUR = "#7F7F7F"
SYMBOLS = ("o", "s", "t", "d", "+", "x", "star", "p", "h", "t1")


def series_colour(index: int, original: bool = False) -> QColor:
    """The Okabe-Ito colour of series `index` (cycling through 8), or grey for the original model."""
    return QColor(ORIGINAL_COLOUR if original else SERIES_COLOURS[index % len(SERIES_COLOURS)])


def series_symbol(index: int) -> str:
    """The pyqtgraph symbol of series `index` (cycling through 10), so no series is told by colour alone."""
    return SYMBOLS[index % len(SYMBOLS)]


def palette_colours(widget: QWidget | None = None) -> tuple[QColor, QColor, QColor]:
    """(background, text, grid) from the palette."""
    palette = widget.palette() if widget is not None else QApplication.palette()
    background = palette.color(QPalette.ColorRole.Base)
    text = palette.color(QPalette.ColorRole.Text)
    grid = palette.color(QPalette.ColorRole.Mid)
    return background, text, grid


def make_plot(title: str, left: str, bottom: str, parent: QWidget | None = None) -> pg.PlotWidget:
    """A PlotWidget styled from the palette with readable fonts."""
    background, text, _ = palette_colours(parent)
    plot = pg.PlotWidget(parent=parent, background=background)
    plot.setMinimumSize(140, 120)
    item = plot.getPlotItem()
    font = QFont(QApplication.font())
    size = max(9.0, font.pointSizeF())
    item.setTitle(title, color=text.name(), size=f"{size + 1:.0f}pt")
    tick_font = QFont(font)
    tick_font.setPointSizeF(max(8.0, size - 1))
    for name in ("left", "bottom"):
        axis = item.getAxis(name)
        axis.setPen(pg.mkPen(text))
        axis.setTextPen(pg.mkPen(text))
        axis.setStyle(tickFont=tick_font)
        axis.enableAutoSIPrefix(False)
    item.setLabel("left", left, color=text.name(), size=f"{size:.0f}pt")
    item.setLabel("bottom", bottom, color=text.name(), size=f"{size:.0f}pt")
    item.showGrid(x=False, y=True, alpha=0.25)
    item.setMenuEnabled(False)
    item.hideButtons()
    return plot


def add_legend(plot: pg.PlotWidget, offset: tuple[int, int] = (-8, 8)) -> pg.LegendItem:
    """A legend on `plot`, `offset` px from a corner (negative: from the right/bottom), in the palette's colours."""
    background, text, grid = palette_colours(plot)
    fill = QColor(background)
    fill.setAlpha(200)
    legend = plot.getPlotItem().addLegend(
        offset=offset, labelTextColor=text, brush=pg.mkBrush(fill), pen=pg.mkPen(grid)
    )
    return legend


def widget_png(widget: QWidget) -> bytes:
    """The widget as it looks now, as PNG bytes."""
    pixmap = widget.grab()
    array = QByteArray()
    buffer = QBuffer(array)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    pixmap.save(buffer, "PNG")
    buffer.close()
    return bytes(array.data())


__all__ = ["make_plot", "add_legend", "series_colour", "series_symbol", "palette_colours", "widget_png"]
