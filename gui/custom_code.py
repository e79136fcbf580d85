"""File > "Load Custom Layer Code…": the user's own code for a model's custom layers, remembered per model.

A model with a layer class of the user's own cannot be loaded from the model file
alone (Litesmith never imports code a model file names). The user may name the
Python file that defines the class: the engine then imports it in its sandboxed
child when it loads the model (`core.models.custom_objects`, the CLI's
``--custom-objects``).

`CustomCode` (one per window):

* the File menu action (and "Forget Custom Layer Code"), for the open model or the
  one that just failed to open;
* the same action offered as a button in the error dialog of a model with an
  unknown class (`offer_in`);
* the files chosen, remembered per model path in the settings (QSettings,
  ``custom_code/by_model``: JSON {model path: [files]});
* a `JobRunner` hook (`job_arguments`) that passes them to every job about that
  model: ``custom_objects=`` of the jobs that take it (inspect, benchmark) and the
  ``custom_objects`` field of the `SessionOptions` / `AutoSettings` a job is given
  (optimize, auto).

After a choice the model is opened again, so the user sees at once whether it loads.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import os
from typing import TYPE_CHECKING, Any, Callable, Iterable

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMessageBox

from core.errors import JobError
from core.models.custom_objects import UNKNOWN_CLASS_HINT
import gui.pyside_fixes  # noqa: F401 - PySide6 6.12 emit() bug: must be fixed before any emit

if TYPE_CHECKING:
    from gui.main_window import MainWindow

log = logging.getLogger("litesmith.gui.custom_code")

SETTINGS_KEY = "custom_code/by_model"
ACTION_TEXT = "Load Custom Layer Code…"
FILE_FILTER = "Python files (*.py);;All files (*)"


def model_key(path: str | os.PathLike) -> str:
    """The key a model's files are remembered under: its absolute, normalised path."""
    return os.path.abspath(os.path.normpath(os.fspath(path)))


def _accepts_custom_objects(fn: Callable[..., Any]) -> bool:
    try:
        return "custom_objects" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


class CustomCode(QObject):
    """The custom-layer-code action, its settings and its job hook, for one `MainWindow`.

    Signal ``changed(model_path: str, files: tuple)`` after files are chosen or forgotten.
    """

    changed = Signal(str, object)

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.settings = window.settings
        self._model_path: str | None = None  # the open model, or the one that just failed to open
        self.action = QAction(ACTION_TEXT, window)
        self.action.setObjectName("loadCustomCodeAction")
        self.action.setToolTip(
            "Choose the Python file(s) with the code of this model's custom layers; Litesmith "
            "imports them (in its sandboxed engine) for every job on this model"
        )
        self.action.triggered.connect(lambda checked=False: self.choose())
        self.forget_action = QAction("Forget Custom Layer Code", window)
        self.forget_action.setObjectName("forgetCustomCodeAction")
        self.forget_action.triggered.connect(lambda checked=False: self.forget())
        menu = window.file_menu
        actions = menu.actions()
        anchor = window.quit_action
        if anchor in actions:
            index = actions.index(anchor)
            if index > 0 and actions[index - 1].isSeparator():
                anchor = actions[index - 1]
        menu.insertAction(anchor, self.action)
        menu.insertAction(anchor, self.forget_action)
        window.model_loaded.connect(lambda info: self.set_model(getattr(info, "path", None)))
        window.load_failed.connect(lambda error: self.set_model(error.path) if error.path else None)
        window.runner.job_hooks.append(self.job_arguments)
        self._update_actions()

    # -- the remembered files -------------------------------------------------------

    def _all(self) -> dict[str, list[str]]:
        text = self.settings.value(SETTINGS_KEY)
        try:
            value = json.loads(text) if text else {}
        except (TypeError, ValueError):
            return {}
        if not isinstance(value, dict):
            return {}
        return {str(k): [str(f) for f in v] for k, v in value.items() if isinstance(v, list)}

    def files_for(self, model_path: str | os.PathLike | None) -> tuple[str, ...]:
        """The custom-code files remembered for `model_path` (in the order chosen)."""
        if not model_path:
            return ()
        return tuple(self._all().get(model_key(model_path), ()))

    def remember(self, model_path: str | os.PathLike, files: Iterable[str | os.PathLike]) -> None:
        """Remember `files` (made absolute) for `model_path` in the settings and emit `changed`.

        Empty `files` forgets the model's files.
        """
        key = model_key(model_path)
        everything = self._all()
        paths = [os.path.abspath(os.fspath(f)) for f in files]
        if paths:
            everything[key] = paths
        else:
            everything.pop(key, None)
        self.settings.setValue(SETTINGS_KEY, json.dumps(everything))
        self.settings.sync()
        self._update_actions()
        self.changed.emit(key, tuple(paths))

    # -- the actions ------------------------------------------------------------------

    @property
    def model_path(self) -> str | None:
        """The key of the model the actions apply to: the open one, or the one that just failed to open; None: none."""
        return self._model_path

    def set_model(self, path: str | None) -> None:
        """Make `path` the model the actions apply to (None: no model, the actions are disabled)."""
        self._model_path = model_key(path) if path else None
        self._update_actions()

    def _update_actions(self) -> None:
        self.action.setEnabled(self._model_path is not None)
        self.forget_action.setEnabled(bool(self.files_for(self._model_path)))

    def choose(self, model_path: str | None = None, files: Iterable[str] | None = None, *, reopen: bool = True) -> bool:
        """Ask for the code files of `model_path`'s custom layers (default: the current model), remember them
        and open the model again with them. `files` skips the dialog. False when nothing was chosen."""
        model_path = model_key(model_path) if model_path else self._model_path
        if model_path is None:
            self.window.job_status.label.setText("Open a model first")
            return False
        if files is None:
            start = (
                os.path.dirname(self.files_for(model_path)[0])
                if self.files_for(model_path)
                else os.path.dirname(model_path)
            )
            chosen, _ = QFileDialog.getOpenFileNames(
                self.window, f"{ACTION_TEXT[:-1]} for {os.path.basename(model_path)}", start, FILE_FILTER
            )
            files = chosen
        files = [f for f in (files or []) if f]
        if not files:
            return False
        self._model_path = model_path
        self.remember(model_path, files)
        names = ", ".join(os.path.basename(f) for f in files)
        self.window.job_status.label.setText(
            f"Custom layer code for {os.path.basename(model_path)}: {names} (used by every job on this model)"
        )
        if reopen:
            QTimer.singleShot(0, lambda: self.window.load_model(model_path))
        return True

    def forget(self, model_path: str | None = None) -> None:
        """Forget the files remembered for `model_path` (default: the current model; none: nothing happens)."""
        model_path = model_key(model_path) if model_path else self._model_path
        if model_path is None:
            return
        self.remember(model_path, ())
        self.window.job_status.label.setText(f"No custom layer code for {os.path.basename(model_path)}")

    # -- the error dialog --------------------------------------------------------------

    def offer_in(self, box: QMessageBox, error: JobError) -> None:
        """Add "Load Custom Layer Code…" to the error dialog of a model with a class Keras does not know."""
        if not error.path or UNKNOWN_CLASS_HINT not in error.message:
            return
        model_path = error.path
        box.setInformativeText(
            "If you wrote this class, choose the Python file that defines it: Litesmith imports "
            "that file (only because you chose it) whenever it loads this model. safe_mode stays "
            "on and Lambda layers stay refused."
        )
        button = box.addButton(ACTION_TEXT, QMessageBox.ButtonRole.ActionRole)
        button.setObjectName("loadCustomCodeButton")
        button.setToolTip(self.action.toolTip())
        # After the dialog has closed (any button closes it), so the file dialog is not behind it.
        button.clicked.connect(lambda checked=False: QTimer.singleShot(0, lambda: self.choose(model_path)))

    # -- the job hook --------------------------------------------------------------------

    def job_arguments(
        self, fn: Callable[..., Any], args: tuple, kwargs: dict, subject: str | None
    ) -> tuple[tuple, dict]:
        """Give a job about a model with remembered files those files (`JobRunner.job_hooks`)."""
        try:
            files = self.files_for(subject)
            if not files:
                return args, kwargs
            if _accepts_custom_objects(fn) and not kwargs.get("custom_objects"):
                kwargs["custom_objects"] = files
            args = tuple(self._with_files(a, files) for a in args)
            kwargs = {k: self._with_files(v, files) for k, v in kwargs.items()}
        except Exception:  # noqa: BLE001 - a broken setting must never stop a job from starting
            log.exception("could not add the custom layer code to a job")
        return args, kwargs

    @staticmethod
    def _with_files(value: Any, files: tuple[str, ...]) -> Any:
        """SessionOptions / AutoSettings (the settings objects with a `custom_objects` file list) get the files."""
        from core.auto.results import AutoSettings
        from core.optimize.session import SessionOptions

        if isinstance(value, (SessionOptions, AutoSettings)) and not value.custom_objects:
            return dataclasses.replace(value, custom_objects=files)
        return value


__all__ = ["ACTION_TEXT", "CustomCode", "SETTINGS_KEY", "model_key"]
