"""The main window's memory and life: what it remembers between sessions, and closing.

`WindowLife` is a mixin for `gui.main_window.MainWindow`. It keeps in the window's
`QSettings` the last folder, the last recipe (without its data file: data belongs to a
model) and the window's geometry and dock layout. Closing while the user's job runs asks
first (`gui.window_dialogs.ask_before_closing`); `shutdown` cancels the running job, waits
for it and closes the engine when the window owns it.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QCloseEvent

from gui.recipe import RunSettings
from gui.window_dialogs import ask_before_closing

if TYPE_CHECKING:
    from PySide6.QtWidgets import QMainWindow as _WindowBase  # what the mixin is mixed into, for the checker
else:
    _WindowBase = object


class WindowLife(_WindowBase):
    """Persistence and shutdown for the main window (needs ``settings``, ``runner``, ``engine``,
    ``jobs``, ``recipe_panel``, ``recipe_dock`` and the flags `MainWindow.__init__` sets)."""

    settings: Any
    runner: Any
    engine: Any
    jobs: Any
    recipe_panel: Any
    recipe_dock: Any
    owns_engine: bool
    remember_geometry: bool
    close_dialog: Any
    _shut_down: bool
    _close_confirmed: bool
    _restored_state: bool

    if TYPE_CHECKING:

        @property
        def _background_job(self) -> bool: ...  # a property of MainWindow's

    def _last_dir(self) -> str:
        return str(self.settings.value("paths/last_dir", os.path.expanduser("~")))

    def _saved_recipe(self) -> RunSettings:
        text = self.settings.value("recipe/last")
        try:
            return RunSettings.from_dict(json.loads(text)) if text else RunSettings()
        except (TypeError, ValueError):
            return RunSettings()

    def save_recipe(self, settings: RunSettings) -> None:
        """Remember `settings` (without its data file: data belongs to a model) for the next start."""
        data = settings.to_dict()
        data.pop("data_path", None)
        self.settings.setValue("recipe/last", json.dumps(data))
        self.settings.sync()

    def _restore_geometry(self) -> None:
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self.settings.value("window/state")
        if state is not None:
            self._restored_state = bool(self.restoreState(state))
            self.recipe_dock.setVisible(False)  # until a model is open

    def save_state(self) -> None:
        """Remember the window's geometry and dock layout."""
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.sync()

    def shutdown(self) -> None:
        """Stop the running job, wait for its thread, close the engine (if owned). Idempotent."""
        if self._shut_down:
            return
        self._shut_down = True
        self.jobs.queue.clear()  # nothing deferred starts after this
        if self.remember_geometry:
            self.save_state()
            try:
                self.save_recipe(self.recipe_panel.settings())  # what the user set up, even without a run
            except ValueError:
                pass  # a field that does not parse: keep the last good recipe
        self.runner.shutdown()
        exports = getattr(self, "exports", None)
        if exports is not None:
            exports.wait_for_report()  # a report being written in a worker thread: let it finish
        if self.owns_engine:
            self.engine.close()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        """Qt override: while the user's job runs, ask first (the event is ignored); otherwise `shutdown` and close."""
        if self.runner.busy and not self._background_job and not self._shut_down and not self._close_confirmed:
            event.ignore()  # a user's job runs: ask first (the answer closes, or keeps it running)
            ask_before_closing(self)
            return
        self.shutdown()
        super().closeEvent(event)

    def _closing_answered(self, stop: bool) -> None:
        self.close_dialog = None
        if stop:
            self._close_confirmed = True
            self.close()
