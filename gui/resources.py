"""Files the app ships with (icons), found both in a checkout and in a PyInstaller bundle."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtGui import QIcon


def resource_roots() -> list[Path]:
    roots = []
    bundle = getattr(sys, "_MEIPASS", None)  # PyInstaller unpacks data files here
    if bundle:
        roots.append(Path(bundle) / "resources")
    roots.append(Path(__file__).resolve().parents[1] / "resources")
    return roots


def resource_path(relative: str) -> Path | None:
    for root in resource_roots():
        candidate = root / relative
        if candidate.exists():
            return candidate
    return None


def app_icon() -> QIcon:
    path = resource_path("icons/litesmith.png")
    return QIcon(str(path)) if path is not None else QIcon()
