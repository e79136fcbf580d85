"""Where the app keeps its settings: one INI file in the user's config folder.

An explicit path (instead of Qt's default location, which Qt caches per process)
means `XDG_CONFIG_HOME` is honoured on every call, so tests stay isolated.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

APP_NAME = "Litesmith"
ORG_NAME = "Litesmith"


def settings_path() -> Path:
    """The INI file in the user's config folder (platformdirs, honouring XDG_CONFIG_HOME); may not exist yet."""
    import platformdirs

    return Path(platformdirs.user_config_dir("litesmith", appauthor=False)) / "litesmith.ini"


def open_settings(path: str | Path | None = None) -> QSettings:
    """The app's settings (INI format); `path` overrides the location (tests)."""
    target = Path(path) if path is not None else settings_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    return QSettings(str(target), QSettings.Format.IniFormat)
