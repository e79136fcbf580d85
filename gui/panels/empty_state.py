"""What the window shows before a model is open: where to drop one, and buttons to open one."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QAction, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

HINT = "Drop a model here: .keras, .h5, SavedModel folder or .tflite"


class EmptyState(QWidget):
    """A dashed drop zone drawn with palette colours, so it follows light and dark themes."""

    def __init__(self, open_file: QAction, open_folder: QAction, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("emptyState")
        self._drag_active = False

        self.title = QLabel("Drop a model here")
        self.title.setObjectName("emptyStateTitle")
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.8)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)

        self.formats = QLabel(".keras, .h5, SavedModel folder or .tflite")
        self.formats.setObjectName("emptyStateFormats")
        font = self.formats.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.formats.setFont(font)
        self.formats.setAlignment(Qt.AlignmentFlag.AlignCenter)

        self.detail = QLabel(
            "Litesmith inspects it in a separate engine process, then helps you quantize,\n"
            "benchmark and export a faster .tflite."
        )
        self.detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail.setForegroundRole(QPalette.ColorRole.PlaceholderText)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        made: list[QPushButton] = []
        for action in (open_file, open_folder):
            button = QPushButton(action.text().replace("&", ""))
            button.setToolTip(action.toolTip())
            button.clicked.connect(action.trigger)
            buttons.addWidget(button)
            made.append(button)
        buttons.addStretch(1)
        self.open_file_button = made[0]

        layout = QVBoxLayout(self)
        layout.setContentsMargins(48, 48, 48, 48)
        layout.addStretch(2)
        layout.addWidget(self.title)
        layout.addSpacing(6)
        layout.addWidget(self.formats)
        layout.addSpacing(18)
        layout.addWidget(self.detail)
        layout.addSpacing(18)
        layout.addLayout(buttons)
        layout.addStretch(3)

    def hint_text(self) -> str:
        """The zone's title and formats in one line, e.g. "Drop a model here: .keras, .h5, …"."""
        return f"{self.title.text()}: {self.formats.text()}"

    def set_drag_active(self, active: bool) -> None:
        """Highlight the zone (and say "Release to open") while a drag it accepts is over the window."""
        if active != self._drag_active:
            self._drag_active = active
            self.title.setText("Release to open" if active else "Drop a model here")
            self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        """Qt override: the dashed, rounded border in the palette's Mid colour (Highlight during a drag)."""
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        role = QPalette.ColorRole.Highlight if self._drag_active else QPalette.ColorRole.Mid
        pen = QPen(self.palette().color(role), 2.5 if self._drag_active else 2.0, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        rect = QRectF(self.rect()).adjusted(24, 24, -24, -24)
        painter.drawRoundedRect(rect, 14, 14)
        painter.end()
