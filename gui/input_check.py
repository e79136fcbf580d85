"""Before Run or Auto: a model with free dimensions needs data or its Input sizes.

Without data the engine never invents the size of a free dimension (a sequence
length, an image's height and width): it would refuse the job. The window asks
first, in its own words: `sizes_ready(window, settings)` shows a dialog naming
the inputs whose size is missing and returns False; the job does not start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QMessageBox

from core.errors import ErrorKind, JobError
from gui.panels.input_sizes import shape_template
from gui.settings import APP_NAME

if TYPE_CHECKING:
    from gui.main_window import MainWindow
    from gui.recipe import RunSettings

TITLE = "Input sizes needed"


def missing_sizes(window: MainWindow, settings: RunSettings) -> list[str]:
    """The free inputs without a size, when the run has no data (their sizes then come from the data)."""
    if settings.data_path:
        return []
    given = {name for name, _ in settings.input_shapes}
    return [name for name in window.recipe_panel.input_sizes.fields if name not in given]


def sizes_ready(window: MainWindow, settings: RunSettings) -> bool:
    """True when the job can start; else the dialog (non-blocking, the window's `error_dialog`) and False."""
    names = missing_sizes(window, settings)
    if not names:
        return True
    box_sizes = window.recipe_panel.input_sizes
    described = ", ".join(f"{name} {shape_template(box_sizes.dims[name])}" for name in names)
    several = len(names) > 1
    if window.error_dialog is not None:
        window.error_dialog.close()
    box = QMessageBox(window)
    box.setObjectName("inputSizesDialog")
    box.setIcon(QMessageBox.Icon.Information)
    box.setWindowTitle(f"{TITLE} — {APP_NAME}")
    box.setTextFormat(Qt.TextFormat.PlainText)  # input names come from the model file
    box.setText(
        f"The input{'s' if several else ''} {described} {'have' if several else 'has'} a free size, "
        "and no data is chosen."
    )
    example = ", ".join(str(d or 32) for d in box_sizes.dims[names[0]])
    box.setInformativeText(
        f"Choose data for calibration and evaluation (its sizes are used), or fill in "
        f"{'their sizes' if several else 'its size'} in the recipe's Input sizes box "
        f"(e.g. {names[0]}: {example})."
    )
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.finished.connect(lambda _result, b=box: window._forget_error_dialog(b))
    box.finished.connect(lambda _result: QTimer.singleShot(0, lambda: _focus(window, names[0])))
    window.error_dialog = box
    window.job_status.label.setText(f"Input sizes needed: {', '.join(names)}")
    box.open()
    # A usage error, as on the command line (exit 2: a size Litesmith needs and won't guess).
    path = window.model_info.path if window.model_info is not None else None
    window.error_shown.emit(JobError(ErrorKind.USAGE, f"{box.text()} {box.informativeText()}", path=path))
    return False


def _focus(window: MainWindow, name: str) -> None:
    """After the dialog: the recipe panel scrolled to the first empty field, with the focus in it."""
    field = window.recipe_panel.input_sizes.fields.get(name)
    if field is None or not field.isVisible():
        return
    window.recipe_panel.scroll_area.ensureWidgetVisible(field)
    field.setFocus(Qt.FocusReason.OtherFocusReason)


__all__ = ["TITLE", "missing_sizes", "sizes_ready"]
