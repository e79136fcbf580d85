"""File > "Open Recipe…" and "Save Recipe…": the recipe panel's variants as a recipe file, and back.

A recipe file (``core.optimize.recipe_file``, schema ``litesmith.recipe``) is what
``litesmith optimize MODEL --recipe FILE`` reads and ``--save-recipe FILE`` writes:
the same file gives the same variants in the app and in the CLI.

* **Save** writes `RunSettings.recipes()` of the panel: the fp32 baseline, one
  variant per chosen mode and, with compression, the compressed twin of each.
* **Open** sets the panel so that it makes every variant the file lists
  (`settings_for_recipes`). The panel always makes the fp32 baseline too, and with
  compression also the uncompressed twins (they are what the comparison compares
  against). A file the panel cannot express (e.g. two different pruning
  sparsities, a converter other than "auto", int16x8 with layer errors) is refused
  with one line naming the first variant it cannot make; the CLI runs such a file.
  Data, benchmark and auto settings are not part of a recipe and keep their values.

The file is read and written by engine jobs (`read_recipe_job`, `write_recipe_job`,
in the engine's parent): the GUI thread never touches it. A bad file (not JSON, not
a recipe document, an unknown step, a value out of range) ends in the window's
error dialog with the same one line the CLI prints.
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Iterable

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QToolButton, QWidget

from core.errors import ErrorKind, JobError
from core.optimize.recipe_file import RecipeFile, read_recipe_job, write_recipe_job
from core.optimize.recipes import FP32, Recipe
import gui.pyside_fixes  # noqa: F401 - PySide6 6.12 emit() bug: must be fixed before any emit
from gui.recipe import DISTILL, MAGNITUDE_PRUNE, STRUCTURED_PRUNE, RunSettings

if TYPE_CHECKING:
    from gui.main_window import MainWindow

FILE_FILTER = "Litesmith recipes (*.json);;All files (*)"
SUFFIX = ".json"


class RecipeNotShown(ValueError):
    """The recipe panel cannot make one of a file's variants (the message names it; one line)."""


def settings_for_recipes(recipes: Iterable[Recipe], base: RunSettings) -> RunSettings:
    """`base` with its quantization and compression controls set to make every recipe in `recipes`.

    Everything else in `base` (data, benchmark, auto budget, the model's own
    choices) is kept. Raises RecipeNotShown when the panel cannot express a
    recipe: checked by comparing the recipes the result makes with the file's.
    """
    recipes = list(recipes)
    modes: list[str] = []
    changes: dict = {
        "int8_io": False,
        "selective": False,
        "fidelity_target": None,
        "layer_errors": False,
        "prune": "",
        "distill": False,
    }
    for recipe in recipes:
        quantize = recipe.step("quantize")
        mode = recipe.mode
        if mode != FP32 and mode not in modes:
            modes.append(mode)
        if quantize is not None and mode == "int8":
            config = quantize.config
            changes["int8_io"] = changes["int8_io"] or config.io_dtype == "int8"
            changes["layer_errors"] = changes["layer_errors"] or config.layer_errors
            if config.selective is not None:
                changes["selective"], changes["fidelity_target"] = True, config.selective.target
        for step in recipe.steps:
            if step.kind == MAGNITUDE_PRUNE:
                changes.update(prune="magnitude", sparsity=step.config.sparsity, epochs=step.config.epochs)
            elif step.kind == STRUCTURED_PRUNE:
                changes.update(prune="structured", sparsity=step.config.sparsity, epochs=step.config.fine_tune_epochs)
            elif step.kind == DISTILL:
                changes.update(distill=True, epochs=step.config.epochs)
    settings = dataclasses.replace(base, modes=tuple(modes), **changes)
    check_shown(recipes, settings)
    return settings


def check_shown(recipes: Iterable[Recipe], settings: RunSettings) -> None:
    """RecipeNotShown naming the first recipe `settings` would not make exactly."""
    made = settings.recipes()
    for recipe in recipes:
        if recipe not in made:
            same_name = next((r for r in made if r.name == recipe.name), None)
            why = (
                "its settings differ from what the panel can set"
                if same_name is not None
                else "the panel has no control for it"
            )
            raise RecipeNotShown(
                f"the recipe panel cannot make the variant {recipe.name!r} ({why}); "
                "run this file with `litesmith optimize MODEL --recipe FILE`"
            )


class RecipeFiles(QObject):
    """The Open/Save Recipe actions of one `MainWindow` (File menu), and the jobs behind them.

    Signals: ``opened(RecipeFile)`` once the panel shows a file's recipes, ``saved(str)``
    with the path written. Failures go to the window's error dialog (`show_error`).
    """

    opened = Signal(object)
    saved = Signal(str)

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.open_action = QAction("Open &Recipe…", window)
        self.open_action.setObjectName("openRecipeAction")
        self.open_action.setToolTip(
            "Set the recipe panel from a recipe file (as `litesmith optimize --recipe` reads it)"
        )
        self.open_action.triggered.connect(lambda checked=False: self.open_dialog())
        self.save_action = QAction("Save Recip&e…", window)
        self.save_action.setObjectName("saveRecipeAction")
        self.save_action.setToolTip(
            "Write the variants the recipe panel makes as a recipe file (for `litesmith optimize MODEL --recipe FILE`)"
        )
        self.save_action.triggered.connect(lambda checked=False: self.save_dialog())
        menu = window.file_menu
        actions = menu.actions()
        anchor = window.quit_action
        if anchor in actions:  # above the separator before Quit
            index = actions.index(anchor)
            if index > 0 and actions[index - 1].isSeparator():
                anchor = actions[index - 1]
        menu.insertAction(anchor, self.open_action)
        menu.insertAction(anchor, self.save_action)
        self.panel_row = self._panel_row()
        panel_layout = window.recipe_panel.layout()
        if panel_layout is not None:  # the same two actions at the top of the recipe panel
            panel_layout.insertWidget(0, self.panel_row)

    def _panel_row(self) -> QWidget:
        row = QWidget()
        row.setObjectName("recipeFileRow")
        layout = QHBoxLayout(row)
        layout.setContentsMargins(8, 6, 8, 0)
        layout.addWidget(QLabel("Recipe file:"))
        for action, text in ((self.open_action, "Open…"), (self.save_action, "Save…")):
            button = QToolButton()
            button.setDefaultAction(action)
            button.setText(text)  # setDefaultAction copies the menu text; the row says "Recipe file" already
            layout.addWidget(button)
        layout.addStretch(1)
        return row

    # -- dialogs ------------------------------------------------------------------------

    def _folder(self) -> str:
        last = getattr(self.window, "_last_dir", None)
        return last() if callable(last) else os.path.expanduser("~")

    def open_dialog(self) -> bool:
        """File > Open Recipe…: ask for a file, then `open_file`; False when none was chosen or it cannot start."""
        path, _ = QFileDialog.getOpenFileName(self.window, "Open Recipe", self._folder(), FILE_FILTER)
        return self.open_file(path) if path else False

    def save_dialog(self) -> bool:
        """File > Save Recipe…: ask where (".json" added when there is no suffix), then `save_file`; False when
        cancelled or it cannot start.
        """
        path, _ = QFileDialog.getSaveFileName(self.window, "Save Recipe", self._folder(), FILE_FILTER)
        if not path:
            return False
        if not os.path.splitext(path)[1]:
            path += SUFFIX
        return self.save_file(path)

    # -- jobs ---------------------------------------------------------------------------

    def _busy(self) -> bool:
        if self.window.runner.busy:
            self.window.job_status.label.setText("A job is running: wait for it or press Cancel (Esc) first")
            return True
        return False

    def open_file(self, path: str | os.PathLike) -> bool:
        """Read `path` in the engine and set the panel from it; False when a job already runs."""
        path = os.path.abspath(os.fspath(path))
        if self._busy():
            return False
        return self.window.runner.submit(
            read_recipe_job, path, subject=path, on_finished=self._on_read, on_failed=self.window.show_error
        )

    def _on_read(self, loaded: RecipeFile) -> None:
        panel = self.window.recipe_panel
        try:
            before = panel.settings()
        except ValueError as exc:  # a field the user is typing in does not parse: say which
            self.window.show_error(JobError(ErrorKind.USAGE, str(exc), path=loaded.path))
            return
        try:
            wanted = settings_for_recipes(loaded.recipes, before)
            panel.set_settings(wanted)
            check_shown(loaded.recipes, panel.settings())  # the controls' ranges and steps may round a value
        except RecipeNotShown as exc:
            panel.set_settings(before)
            self.window.show_error(JobError(ErrorKind.BAD_INPUT, str(exc), path=loaded.path))
            return
        self.window.job_status.label.setText(f"Recipe {os.path.basename(loaded.path)} opened")
        self.opened.emit(loaded)

    def save_file(self, path: str | os.PathLike) -> bool:
        """Write the panel's recipes to `path` in the engine; False when a job already runs or a field is bad."""
        path = os.path.abspath(os.fspath(path))
        if self._busy():
            return False
        try:
            recipes = self.window.recipe_panel.settings().recipes()
        except ValueError as exc:
            self.window.show_error(JobError(ErrorKind.USAGE, str(exc), path=path))
            return False
        name = os.path.splitext(os.path.basename(path))[0]
        return self.window.runner.submit(
            write_recipe_job,
            path,
            recipes,
            name=name,
            created_by="Litesmith app",
            subject=path,
            on_finished=self._on_saved,
            on_failed=self.window.show_error,
        )

    def _on_saved(self, path: str) -> None:
        self.window.job_status.label.setText(f"Recipe saved to {os.path.basename(path)}")
        self.saved.emit(path)
