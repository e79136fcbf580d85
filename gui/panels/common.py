"""Small widget helpers the recipe panel's sections share."""

from __future__ import annotations

from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QLabel


def hint_label(text: str) -> QLabel:
    """A word-wrapped label in the palette's placeholder colour: a hint under a control, not a value."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    return label


__all__ = ["hint_label"]
