"""The "File > Recent Files" list, kept in QSettings: newest first, no duplicates, at most 10."""

from __future__ import annotations

import os
from typing import Iterable, cast

from PySide6.QtCore import QSettings

MAX_RECENT = 10
KEY = "recent/files"


def normalize(path: str | os.PathLike) -> str:
    """`path` made absolute and normalised: the form the list stores and compares."""
    return os.path.normpath(os.path.abspath(os.fspath(path)))


class RecentFiles:
    """Paths of models opened before. Files or folders that no longer exist are dropped."""

    def __init__(self, settings: QSettings, limit: int = MAX_RECENT) -> None:
        self._settings = settings
        self.limit = limit

    def _stored(self) -> list[str]:
        value = self._settings.value(KEY, [])
        if value is None:
            return []
        if isinstance(value, str):  # an INI list of one comes back as a plain string
            return [value] if value else []
        return [str(v) for v in cast(Iterable[object], value) if v]  # a list (QSettings types values as object)

    def paths(self) -> list[str]:
        """The existing recent paths, newest first (missing ones are removed from settings)."""
        stored = self._stored()
        kept = self._clean(stored)
        if kept != stored:
            self._write(kept)
        return kept

    def add(self, path: str | os.PathLike) -> list[str]:
        """Put `path` first (its older entry, missing paths and anything past `limit` dropped); returns the new list."""
        path = normalize(path)
        paths = self._clean([path, *self._stored()])
        self._write(paths)
        return paths

    def remove(self, path: str | os.PathLike) -> None:
        """Drop `path` from the list (paths compared normalised)."""
        path = normalize(path)
        self._write([p for p in self._stored() if normalize(p) != path])

    def clear(self) -> None:
        """Empty the list."""
        self._write([])

    def _clean(self, paths: list[str]) -> list[str]:
        seen: set[str] = set()
        kept: list[str] = []
        for p in paths:
            p = normalize(p)
            if p in seen or not os.path.exists(p):
                continue
            seen.add(p)
            kept.append(p)
        return kept[: self.limit]

    def _write(self, paths: list[str]) -> None:
        self._settings.setValue(KEY, paths)
        self._settings.sync()
