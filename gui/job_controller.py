"""Run and Auto from the main window, and the one queue of jobs waiting for the background job.

`WindowJobs` starts a Run (`gui.workflow.RunController`: optimize, then benchmark) or an
Auto search (`gui.auto.AutoController`) with the recipe panel's settings, and shows their
progress, results and errors in the window. It holds the window's `DeferredJobs`: an action
asked for while the background device detection runs is queued with `when_idle` and starts
when it ends. It keeps what the window holds (``window.outcome``, ``window.auto_result``,
``window.auto_settings``) and the enabled state of Run, Auto and the exports
(`set_run_controls`). `follow_runner` makes the status bar's job indicator follow every job
(start, progress mapped into a Run's two stages, engine warnings, Cancel).
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, Hashable

from PySide6.QtCore import QObject

from core.errors import ErrorKind, JobError
import gui.pyside_fixes  # noqa: F401 - PySide6 6.12 emit() bug: must be fixed before any emit
from gui.auto import AutoController
from gui.input_check import sizes_ready
from gui.job_queue import DeferredJobs
from gui.workflow import RunController, RunOutcome

log = logging.getLogger("litesmith.gui")

BUSY_TEXT = "A job is already running: wait for it or press Cancel (Esc) first"


class WindowJobs(QObject):
    """Run, Auto and the deferred-job queue for one `gui.main_window.MainWindow`.

    Emits the window's ``run_finished(RunOutcome)``, ``run_failed(JobError)``,
    ``run_cancelled()``, ``auto_finished(AutoResult)`` and ``auto_failed(JobError)``.
    """

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.run_controller = RunController(window.runner, window)
        self.auto_controller = AutoController(window.runner, window)
        self.queue = DeferredJobs(window.runner, ready=self._queue_ready, parent=self)
        # (start, end, label): a job's own 0..1 progress mapped into the whole Run's bar
        self.run_progress: tuple[float, float, str] | None = None

        run = self.run_controller
        run.stage_changed.connect(self._on_run_stage)
        run.samples.connect(window.live_plot.add_samples)
        run.variant_ready.connect(self._on_variant_ready)
        run.run_finished.connect(self._on_run_finished)
        run.run_failed.connect(self._on_run_failed)
        run.run_cancelled.connect(self._on_run_cancelled)
        auto = self.auto_controller
        auto.candidate.connect(window.results_panel.add_candidate)
        auto.auto_finished.connect(self._on_auto_finished)
        auto.auto_failed.connect(self._on_auto_failed)
        auto.auto_cancelled.connect(self._on_auto_cancelled)

    # -- the status bar's job indicator -------------------------------------------------------

    def follow_runner(self) -> None:
        """Show every job's start, progress and engine warnings in the status bar; its Cancel cancels the job."""
        runner, status = self.window.runner, self.window.job_status
        runner.busy_changed.connect(self._on_busy_changed)
        runner.started.connect(self._on_job_started)
        runner.progress.connect(self._on_progress)
        runner.log.connect(self._on_job_log)
        status.cancel_requested.connect(runner.cancel)

    def _on_job_started(self, subject: str) -> None:
        # Callers that know better (load_model) set their own text right after this.
        name = os.path.basename(os.path.normpath(subject)) if subject else ""
        self.window.job_status.job_started(f"Working on {name}…" if name else "Working…")

    def _on_busy_changed(self, busy: bool) -> None:
        status = self.window.job_status
        self.window.cancel_action.setEnabled(busy)
        if not busy and status.running:
            status.job_ended(status.label.text())

    def _on_progress(self, fraction: float | None, stage: str, message: str) -> None:
        if self.queue.background:  # the device detection's steps are not the user's business
            return
        mapping = self.run_progress
        if mapping is not None:
            start, end, label = mapping
            if fraction is not None:
                fraction = start + (end - start) * fraction
            stage = f"{label} · {stage}" if stage else label
        self.window.job_status.set_progress(fraction, stage, message)

    def _on_job_log(self, level: str, message: str) -> None:
        log.log(logging.WARNING if level in ("warning", "error") else logging.INFO, "engine: %s", message)
        if level in ("warning", "error"):
            self.window.job_status.label.setText(message)

    # -- the queue ----------------------------------------------------------------------------

    def when_idle(self, key: Hashable, job: Callable[[], Any], note: str | None = None) -> bool:
        """For an action that found the runner busy: queue `job` behind the background job, or refuse.

        True when queued (`note`, if given, goes to the status bar); False when the user's own
        job runs (the status bar says to wait or cancel). `key` names the request: asking
        again for a queued one does not queue it twice.
        """
        status = self.window.job_status
        if self.queue.when_idle(key, job):
            if note:
                status.label.setText(note)
            return True
        status.label.setText(BUSY_TEXT)
        return False

    def controls_busy(self) -> bool:
        """True while a Run or an Auto search is under way (each may chain several engine jobs)."""
        return bool(self.run_controller.active or self.auto_controller.active)

    def _queue_ready(self) -> bool:
        serving = getattr(self.window, "serving", None)  # a load test chains jobs too
        return not self.controls_busy() and not (serving is not None and serving.controller.active)

    # -- Run ----------------------------------------------------------------------------------

    def start_run(self) -> bool:
        """Run the recipe panel's recipe on the open model; False when it cannot start now."""
        window = self.window
        if window.model_info is None:
            window.job_status.label.setText("Open a model first")
            return False
        try:
            settings = window.recipe_panel.settings()
            settings.recipes()
            settings.bench_config()
        except ValueError as exc:
            window.show_error(JobError(ErrorKind.BAD_INPUT, f"the recipe cannot run: {exc}"))
            return False
        if not sizes_ready(window, settings):  # free dimensions: data or the Input sizes, asked before the job
            return False
        if window.runner.busy:
            return self.when_idle("run", window.start_run, "Running as soon as the GPU check ends…")
        window.save_recipe(settings)
        several = len(settings.threads) * len(settings.batch_sizes) > 1
        window.live_plot.reset(several_configs=several)
        window.live_plot.status.setText("Optimizing: the variants are being made; measuring starts next.")
        self.run_progress = (0.0, 0.6, "Optimizing")
        if not self.run_controller.start(window.model_info.path, settings):
            self.run_progress = None
            return False
        self.set_run_controls(running=True)
        window.workspace.setCurrentWidget(window.live_plot)
        window.job_status.job_started("Optimizing…")
        return True

    def _on_run_stage(self, stage: str) -> None:
        if stage == "benchmark":
            self.run_progress = (0.6, 1.0, "Benchmarking")
            self.window.job_status.job_started("Benchmarking…")
            self.window.live_plot.status.setText("Measuring: every call's latency appears as it is measured.")

    def _on_variant_ready(self, variant: Any) -> None:
        self.window.live_plot.status.setText(
            f"Optimizing: {variant.name} is ready ({variant.size_bytes / 1024:,.0f} KiB)"
        )

    def _on_run_finished(self, outcome: RunOutcome) -> None:
        window = self.window
        self.run_progress = None
        window.live_plot.finish()
        window.outcome = outcome
        window.results_panel.set_outcome(outcome)
        self.set_run_controls(running=False)
        window.workspace.setCurrentWidget(window.results_panel)
        variants = len(outcome.optimize.variants)
        text = f"Done in {outcome.seconds:.1f} s: {variants} variant(s)"
        if outcome.benchmark is not None and outcome.benchmark.recommendation.label:
            text += f"; recommended {outcome.benchmark.recommendation.label}"
        cached = outcome.cached_variants
        if cached:
            text += (
                " (variants from the cache)"
                if len(cached) == variants
                else f" ({len(cached)} variant(s) from the cache)"
            )
        window.job_status.job_ended(text)
        if outcome.benchmark_error is not None:
            window.show_error(outcome.benchmark_error)
        window.run_finished.emit(outcome)

    def _on_run_failed(self, error: JobError) -> None:
        self.run_progress = None
        self.window.live_plot.finish()
        self.set_run_controls(running=False)
        self.window.job_status.job_ended("The run failed")
        self.window.show_error(error)
        self.window.run_failed.emit(error)

    def _on_run_cancelled(self) -> None:
        self.run_progress = None
        self.window.live_plot.finish()
        self.window.live_plot.status.setText("Cancelled: the samples measured so far are shown.")
        self.set_run_controls(running=False)
        self.window.job_status.job_ended("Run cancelled")
        self.window.run_cancelled.emit()

    # -- Auto ---------------------------------------------------------------------------------

    def start_auto(self) -> bool:
        """Search for the fastest variant within the recipe panel's budget; False when it cannot start now."""
        window = self.window
        if window.model_info is None:
            window.job_status.label.setText("Open a model first")
            return False
        try:
            settings = window.recipe_panel.settings()
            settings.auto_budget()
            settings.auto_settings()
        except Exception as exc:  # noqa: BLE001 - ValueError or the engine's BadInputError: a field to fix
            window.show_error(JobError(ErrorKind.BAD_INPUT, f"the auto budget cannot run: {exc}"))
            return False
        if not sizes_ready(window, settings):
            return False
        if window.runner.busy:
            return self.when_idle("auto", window.start_auto, "Searching as soon as the GPU check ends…")
        window.save_recipe(settings)
        if not self.auto_controller.start(window.model_info.path, settings):
            return False
        window.auto_settings = settings
        window.outcome = None
        window.auto_result = None
        name = os.path.basename(os.path.normpath(window.model_info.path))
        window.results_panel.begin_auto(name, settings.describe_budget())
        self.set_run_controls(running=True)
        window.workspace.setCurrentWidget(window.results_panel)
        window.job_status.job_started("Auto: preparing the search…")
        return True

    def _on_auto_finished(self, result: Any) -> None:
        window = self.window
        window.auto_result = result
        window.results_panel.set_auto_result(result, window.auto_settings)
        self.set_run_controls(running=False)
        window.workspace.setCurrentWidget(window.results_panel)
        measured = sum(1 for c in result.candidates if c.status == "measured")
        if result.cancelled:
            text = f"Auto cancelled: {measured} candidate(s) measured"
        else:
            text = f"Auto done in {result.seconds:.1f} s: {measured} of {len(result.candidates)} measured"
        text += f"; recommended {result.recommended}" if result.recommended else "; nothing meets the budget"
        if result.all_from_cache:
            text += " (all from the cache)"
        elif any(c.from_cache for c in result.candidates):
            text += f" ({sum(1 for c in result.candidates if c.from_cache)} from the cache)"
        window.job_status.job_ended(text)
        window.auto_finished.emit(result)

    def _on_auto_failed(self, error: JobError) -> None:
        self.set_run_controls(running=False)
        self.window.job_status.job_ended("The auto search failed")
        self.window.show_error(error)
        self.window.auto_failed.emit(error)

    def _on_auto_cancelled(self) -> None:
        self.set_run_controls(running=False)
        self.window.job_status.job_ended("Auto cancelled before any candidate finished")
        self.window.results_panel.clear()
        self.window.auto_failed.emit(JobError(ErrorKind.CANCELLED, "cancelled by the user"))

    # -- controls and results -----------------------------------------------------------------

    def set_run_controls(self, running: bool) -> None:
        """Enable Run, Auto and the exports for what the window holds; `running` disables them all."""
        window = self.window
        has_model = window.model_info is not None
        window.run_action.setEnabled(not running and has_model)
        window.auto_action.setEnabled(not running and has_model)
        panel = window.recipe_panel
        panel.run_button.setEnabled(not running)
        panel.auto_button.setEnabled(not running)
        auto_running = running and self.auto_controller.active
        panel.run_button.setText("Running…" if running and not auto_running else "Run")
        panel.auto_button.setText("Searching…" if auto_running else "Auto")
        if window.results_panel.mode == "auto":
            result = window.auto_result
            window.export_variant_action.setEnabled(
                not running
                and result is not None
                and any(c.status in ("measured", "misses_budget") for c in result.candidates)
            )
            window.export_report_action.setEnabled(False)
            return
        outcome = window.outcome
        has_results = not running and outcome is not None
        window.export_variant_action.setEnabled(has_results and bool(outcome.optimize.variants))
        window.export_report_action.setEnabled(has_results)

    def clear_results(self) -> None:
        """Forget the last Run's and Auto search's results (another model was opened)."""
        window = self.window
        window.auto_result = None
        window.outcome = None
        window.results_panel.clear()
        window.live_plot.reset()
        window.live_plot.status.setText("Press Run: the latency of every call appears here while it is measured.")
        self.set_run_controls(running=self.run_controller.active)


__all__ = ["BUSY_TEXT", "WindowJobs"]
