"""The Serving tab in the main window: the tab, "Test under load…", and the study's life cycle.

`install(window)` adds the tab to the window's workspace, the action to the Run menu
and a button to the results panel's header, and returns the `ServingTab`. The models
to test come from what the window holds, in this order:

- after an auto search: the recommended candidate's bytes, the other candidates that met
  the budget (read back from the result cache in the child: `CachedCandidate`), plus the
  source when it is a .tflite;
- after a Run: every variant's bytes (`Variant.tflite_bytes`; plus the source .tflite);
- else the opened model when it is a .tflite.

Bytes go to the engine as they are (`gui.serving.child_job` writes them in the child's
scratch folder). The recipe panel's data file, when chosen, provides real samples.
Progress and Cancel are the status bar's, as for every job; an engine error opens the
window's error dialog.

The finished study goes into the Run's exported report (`report_study`, read by
`gui.report.write_report`) only when it describes that Run: it tested the Run's own variants,
or the opened .tflite the Run started from. A study of another Run, of an auto search or of a
model opened since is left out.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QPushButton

from core.errors import ErrorKind, JobError
from gui.serving.child_job import CachedCandidate
from gui.serving.controller import ServingController
from gui.serving.panel import ServingPanel
from gui.serving.study_text import rps_text

if TYPE_CHECKING:
    from core.auto.results import AutoResult
    from core.serving.api import ServingStudy
    from gui.main_window import MainWindow
    from gui.workflow import RunOutcome

TFLITE = "tflite"
MAX_CACHED = 3  # auto candidates besides the recommended one: each costs a full study


class ServingTab(QObject):
    """Owns the Serving panel and its controller for one `MainWindow`."""

    def __init__(self, window: MainWindow, job: Callable[..., Any] | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.panel = ServingPanel()
        self.tab_index = window.workspace.addTab(self.panel, "Serving")
        self.controller = ServingController(window.runner, self, job=job)
        self.subject: str | None = None  # the model the shown study is about
        # What the study's models came from (the window's RunOutcome, AutoResult or ModelInfo object):
        # identity, not the path, tells a study of this Run from one of an earlier Run of the same file.
        self.basis: object | None = None

        self.action = QAction("Test Under &Load…", window)
        self.action.setToolTip(
            "Will it keep up? p50/p99 versus request rate, with dynamic batching, for the "
            "variants of the last Run or Auto search (or the opened .tflite)"
        )
        self.action.setEnabled(False)
        self.action.triggered.connect(self.start)
        window.run_menu.insertAction(window.export_variant_action, self.action)
        self.button = QPushButton("Test under load…")
        self.button.setObjectName("testUnderLoadButton")
        self.button.setToolTip(self.action.toolTip())
        self.button.clicked.connect(self.action.trigger)
        header = getattr(window.results_panel, "header_layout", None)
        if header is not None:
            header.insertWidget(header.indexOf(window.results_panel.export_variant_button), self.button)

        self.panel.start_requested.connect(self.start)
        self.panel.cancel_requested.connect(self.cancel)
        self.controller.point.connect(self.panel.add_point)
        self.controller.study_finished.connect(self._on_finished)
        self.controller.study_failed.connect(self._on_failed)
        self.controller.study_cancelled.connect(self._on_cancelled)
        for signal in (
            window.model_loaded,
            window.run_finished,
            window.auto_finished,
            window.run_failed,
            window.auto_failed,
            window.run_cancelled,
        ):
            signal.connect(self.refresh)
        window.runner.busy_changed.connect(self.refresh)
        window.recipe_panel.data_chosen.connect(self.refresh)  # the samples line names the data file
        self.refresh()

    # -- what to test -------------------------------------------------------------------------

    def models_at_hand(self) -> tuple[list[tuple[str, str | bytes]], str, str | None]:
        """((name, .tflite path or bytes) pairs, a line saying where they come from, the model's path)."""
        window = self.window
        models: list[tuple[str, str | bytes]] = []
        if window.results_panel.mode == "auto" and window.auto_result is not None:
            result = window.auto_result
            if result.source.format == TFLITE:
                models.append(("original", result.source.path))
            chosen = result.recommended_variant
            if chosen is not None:
                models.append((chosen.name, chosen.tflite_bytes))
            models += self._cached_candidates(result, skip=chosen.name if chosen is not None else None)
            text = (
                ("From the auto search: " + ", ".join(n for n, _ in models) + " (the candidates that met the budget)")
                if models
                else ""
            )
            return models, text, result.source.path
        outcome = window.outcome
        if outcome is not None:
            if outcome.optimize.source.format == TFLITE:
                models.append(("original", outcome.model_path))
            models += [(v.name, v.tflite_bytes) for v in outcome.optimize.variants]
            return models, "From the last Run: " + ", ".join(n for n, _ in models), outcome.model_path
        info = window.model_info
        if info is not None and info.format == TFLITE:
            name = os.path.splitext(os.path.basename(info.path))[0] or "model"
            return [(name, info.path)], f"The opened model: {os.path.basename(info.path)}", info.path
        return [], "", None

    def _basis(self) -> object | None:
        """The object `models_at_hand` takes its models from (same order of preference)."""
        window = self.window
        if window.results_panel.mode == "auto" and window.auto_result is not None:
            return window.auto_result
        return window.outcome if window.outcome is not None else window.model_info

    def report_study(self, outcome: RunOutcome | None) -> ServingStudy | None:
        """The finished `ServingStudy` to include in `outcome`'s report (a `RunOutcome`), or None.

        None while a study runs, after a cancelled or failed one, and when the study is not about
        `outcome`: another Run (even of the same file), an auto search, or a model opened since.
        """
        study = self.panel.study
        if study is None or outcome is None or self.controller.active or self.basis is None:
            return None
        if self.basis is outcome:
            return study
        # The opened .tflite itself, load-tested before the Run that started from it (still the open model).
        opened = self.window.model_info
        if self.basis is opened and opened is not None and self.subject == outcome.model_path:
            return study
        return None

    def _cached_candidates(self, result: AutoResult, skip: str | None) -> list[tuple[str, CachedCandidate]]:
        """The other candidates that met the budget: their bytes are read back from the cache in the child."""
        from core.cache import ResultCache

        settings = self.window.auto_settings
        data = settings.data_spec() if settings is not None else None
        names = [c.name for c in result.candidates if c.status == "measured" and c.name != skip]
        cache = ResultCache(result.settings.cache_dir)
        return [(n, CachedCandidate(result, n, data, cache)) for n in names[:MAX_CACHED]]

    def refresh(self, *_args: object) -> None:
        """Follow the window: what Start would test, and whether it may start now."""
        window = self.window
        models, text, subject = self.models_at_hand()
        if subject != self.subject and not self.controller.active and self.panel.study is not None:
            self.panel.clear()  # another model: the old study does not describe it
        if not models:
            text = (
                "Nothing to test yet: the load test runs .tflite models. Run a recipe or an Auto search "
                "on this model first."
                if window.model_info is not None
                else "Open a model first."
            )
        elif window.recipe_panel.data_path:
            text += f" · samples from {os.path.basename(window.recipe_panel.data_path)}"
        else:
            text += " · synthetic inputs (choose a data file in the recipe panel for real samples)"
        study = self.panel.study
        if (
            models
            and study is not None
            and not self.controller.active
            and self.basis is not self._basis()
            and self.report_study(window.outcome) is None
        ):
            # Same model, other variants (a later Run or search): the study shown is not about them, and the
            # exported report leaves it out.
            tested = ", ".join(v.variant for v in study.variants)
            text += f". The study below tested an earlier set ({tested}): press Start to test these"
        busy = window.runner.busy
        self.panel.set_source(text, bool(models) and not busy)
        self.action.setEnabled(bool(models) and not busy)
        has_results = window.outcome is not None or window.auto_result is not None
        self.button.setVisible(has_results)
        self.button.setEnabled(self.action.isEnabled())

    # -- the study ----------------------------------------------------------------------------

    def start(self) -> bool:
        """Start the study of the models at hand with the panel's inputs; False when it cannot start now."""
        window = self.window
        models, _text, subject = self.models_at_hand()
        if not models:
            window.job_status.label.setText("Nothing to load-test: run a recipe first, or open a .tflite")
            return False
        try:
            kwargs = self.panel.inputs().study_kwargs(window.recipe_panel.data_path)
        except ValueError as exc:
            window.show_error(JobError(ErrorKind.BAD_INPUT, f"the load test cannot run: {exc}"))
            return False
        if window.runner.busy:  # queued after the one-off GPU check (seconds), else refused
            return window.jobs.when_idle("serving", self.start, "Load test as soon as the GPU check ends…")
        if not self.controller.start(models, kwargs, subject=subject):
            return False
        self.subject, self.basis = subject, self._basis()
        self.panel.begin([n for n, _ in models], kwargs["p99_ms"])
        window._set_run_controls(running=True)
        window.workspace.setCurrentWidget(self.panel)
        window.job_status.job_started("Load test: measuring service times…")
        return True

    def cancel(self) -> None:
        """The panel's Cancel: the status bar's path (it shows "Cancelling…"), else straight to the job."""
        status = self.window.job_status
        if self.controller.active and status.cancel_button.isEnabled():
            status.cancel_button.click()
        else:
            self.controller.cancel()

    def _ended(self, text: str) -> None:
        self.window._set_run_controls(running=False)
        self.window.job_status.job_ended(text)
        self.refresh()

    def _on_finished(self, study: ServingStudy) -> None:
        self.panel.set_study(study)
        chosen = next((v for v in study.variants if v.variant == study.recommended_variant), None)
        if chosen is not None:
            text = f"Load test done: {chosen.variant} sustains {rps_text(chosen.sustainable_rps)}"
        else:
            text = f"Load test done: no variant holds p99 ≤ {study.p99_budget_ms:g} ms"
        self._ended(text)

    def _on_failed(self, error: JobError) -> None:
        self.panel.end(f"The load test failed: {error.one_line()}")
        self._ended("The load test failed")
        self.window.show_error(error)

    def _on_cancelled(self) -> None:
        self.panel.end("Cancelled: the points computed so far are shown; nothing was recommended.")
        self._ended("Load test cancelled")


def install(window: MainWindow, job: Callable[..., Any] | None = None) -> ServingTab:
    """Add the Serving tab, its action and its button to `window` (a `gui.main_window.MainWindow`)."""
    return ServingTab(window, job=job)


__all__ = ["ServingTab", "install"]
