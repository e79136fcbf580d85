"""Render resources/icons/litesmith.svg to litesmith.png (256x256) with Qt's SVG renderer.

Run: .venv/bin/python resources/icons/make_icon.py   (works headless: offscreen Qt platform)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZE = 256


def render(svg: Path = HERE / "litesmith.svg", png: Path = HERE / "litesmith.png", size: int = SIZE) -> Path:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 - keeps Qt alive
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"cannot parse {svg}")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    tmp = png.with_suffix(".tmp.png")
    if not image.save(str(tmp), "PNG"):
        raise SystemExit(f"cannot write {tmp}")
    os.replace(tmp, png)
    return png


if __name__ == "__main__":
    print(render())
