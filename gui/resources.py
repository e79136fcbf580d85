"""Files the app ships with (icons), found both in a checkout and in a PyInstaller bundle."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtGui import QIcon


def resource_roots() -> list[Path]:
    """Folders to look in for shipped files: PyInstaller's bundle first (when frozen), then the checkout's
    `resources/`.
    """
    roots = []
    bundle = getattr(sys, "_MEIPASS", None)  # PyInstaller unpacks data files here
    if bundle:
        roots.append(Path(bundle) / "resources")
    roots.append(Path(__file__).resolve().parents[1] / "resources")
    return roots


def resource_path(relative: str) -> Path | None:
    """The first existing `relative` path (e.g. "icons/litesmith.png") under `resource_roots`, or None."""
    for root in resource_roots():
        candidate = root / relative
        if candidate.exists():
            return candidate
    return None


def app_icon() -> QIcon:
    """The app's icon; an empty QIcon when the file is not found."""
    path = resource_path("icons/litesmith.png")
    return QIcon(str(path)) if path is not None else QIcon()
