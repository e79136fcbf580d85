"""Export Variant… and Export Report… from the main window.

Export Variant writes one variant as a `.tflite` with its `NAME.report.json` in the engine
(`core.optimize.export.export_variant`: atomic, loaded back and run once in the child). After
an auto search, a candidate other than the recommended one is read back from the result
cache inside that job (`gui.export_job.export_cached_candidate`): the GUI thread never reads,
hashes or unpickles a file. Export Report writes the whole comparison as HTML and JSON: the
charts are rendered on the GUI thread (`gui.report.report_inputs`), the document built and the
files written atomically in a worker thread (`core.report.html.write_report` through
`gui.workers.call_in_thread`). Neither ever writes over the input model.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from core.errors import ErrorKind, JobError
import gui.pyside_fixes  # noqa: F401 - PySide6 6.12 emit() bug: must be fixed before any emit
from gui.window_dialogs import APP_TITLE

log = logging.getLogger("litesmith.gui")

BUILT = ("measured", "misses_budget")  # auto candidates that have a model to export


class ExportController(QObject):
    """The exports of one `gui.main_window.MainWindow`; emits the window's ``exported(ExportResult)``."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self._report_writer: threading.Thread | None = None  # the worker writing a report, while it runs

    # -- what is exported -----------------------------------------------------------------------

    def _auto(self) -> bool:
        return self.window.results_panel.mode == "auto" and self.window.auto_result is not None

    def source_path(self) -> str | None:
        """The model the shown results are about (never written over), or None."""
        window = self.window
        if self._auto():
            return window.auto_result.source.path
        return window.outcome.model_path if window.outcome is not None else None

    def _model_dir(self) -> str:
        info = self.window.model_info
        return self.window._last_dir() if info is None else os.path.dirname(os.path.normpath(info.path))

    def _model_stem(self) -> str:
        source = self.source_path()
        if not source:
            return "model"
        path = Path(source.rstrip("/\\"))
        return path.name if path.is_dir() else path.stem

    @staticmethod
    def _built(result: Any, name: str) -> bool:
        return any(c.name == name and c.status in BUILT for c in result.candidates)

    def default_export_variant(self) -> str | None:
        """The selected row's variant, else the recommended one, else the last made (None: nothing to export).

        After an auto search: the selected candidate when it was built (its model is read back
        from the cache by the export job), else the recommended, else the first built.
        """
        window = self.window
        if window.results_panel.mode == "auto":
            result = window.auto_result
            if result is None:
                return None
            selected = window.results_panel.selected_variant()
            if selected and selected != result.recommended and self._built(result, selected):
                return selected
            if result.recommended:
                return result.recommended
            return next((c.name for c in result.candidates if c.status in BUILT), None)
        outcome = window.outcome
        if outcome is None or not outcome.optimize.variants:
            return None
        names = [v.name for v in outcome.optimize.variants]
        selected = window.results_panel.selected_variant()
        if selected in names:
            return selected
        bench = outcome.benchmark
        if bench is not None and bench.recommendation.label:
            for r in bench.configs:
                if r.label == bench.recommendation.label and r.variant in names:
                    return r.variant
        return names[-1]

    def is_input(self, path: str) -> bool:
        """True when `path` is the source model or inside it (a SavedModel folder). File names only: no reads."""
        model = self.source_path()
        if not model:
            return False
        try:
            if os.path.exists(path) and os.path.samefile(path, model):
                return True
        except OSError:
            pass
        real_model = os.path.realpath(model)
        return os.path.realpath(path) == real_model or os.path.realpath(path).startswith(real_model + os.sep)

    # -- Export Variant -------------------------------------------------------------------------

    def export_variant_dialog(self) -> None:
        """Run > Export Variant…: ask where, then `export_variant`."""
        name = self.default_export_variant()
        if name is None:
            return
        suggested = os.path.join(self._model_dir(), f"{self._model_stem()}.{name}.tflite")
        path, _ = QFileDialog.getSaveFileName(self.window, f"Export {name}", suggested, "TensorFlow Lite (*.tflite)")
        if path:
            if not path.lower().endswith(".tflite"):
                path += ".tflite"
            self.export_variant(name, path)

    def export_variant(self, name: str, path: str | os.PathLike) -> bool:
        """Write variant `name` to `path` (and NAME.report.json) in the engine; False when it cannot start.

        Queued behind the background device detection; refused (False) while another job runs,
        when `path` is the input model, or when `name` has no model to export.
        """
        from core.optimize.export import export_variant

        window = self.window
        path = os.path.abspath(os.fspath(path))
        auto = self._auto()
        if window.outcome is None and not auto:
            return False
        if self.is_input(path):
            window.show_error(
                JobError(
                    ErrorKind.BAD_INPUT, "refusing to write over the input model; choose another file name", path=path
                )
            )
            return False
        result = window.auto_result if auto else window.outcome.optimize
        if auto:
            in_memory = result.recommended_variant
            variant = in_memory if in_memory is not None and in_memory.name == name else None
            if variant is None and not self._built(result, name):
                window.job_status.label.setText(
                    f"{name}: its model is not at hand (not built); export the recommended variant or run Auto again"
                )
                return False
        else:
            variant = next((v for v in result.variants if v.name == name), None)
            if variant is None:
                return False
        if window.runner.busy:
            return window.jobs.when_idle(("export", name, path), lambda: self.export_variant(name, path))
        if auto:
            candidate = result.candidate(name)
            metadata: dict[str, Any] = {
                "auto": {
                    "budget": result.budget.effective().describe(),
                    "recommended": result.recommended,
                    "reasons": list(result.reasons),
                    "candidate": candidate.summary(),
                }
            }
        else:
            metadata = {"benchmark": self._variant_benchmark(name)}
        common = dict(
            subject=path,
            source=result.source,
            baseline_size_bytes=result.baseline_size_bytes,
            original_evaluation=result.original_evaluation,
            protected_paths=(self.source_path(),),
            metadata=metadata,
            on_finished=self._on_exported,
            on_failed=self._on_export_failed,
        )
        if variant is not None:
            started = window.runner.submit(export_variant, variant, path, data=result.data, **common)
        else:  # another candidate: its model is read back from the cache in the job, not here
            from gui.export_job import export_cached_candidate

            data = window.auto_settings.data_spec() if window.auto_settings is not None else None
            started = window.runner.submit(
                export_cached_candidate, result, name, data, path, data_description=result.data, **common
            )
        if started:
            window.job_status.job_started(f"Exporting {name}…")
            window.jobs.set_run_controls(running=True)
        return started

    def _variant_benchmark(self, name: str) -> list[dict]:
        """The Run's measurements of `name` (JSON-able, from memory) for its report."""
        from core.jsonout import jsonable

        outcome = self.window.outcome
        bench = outcome.benchmark if outcome is not None else None
        if bench is None:
            return []
        return [
            {"label": r.label, "batch_size": r.batch_size, "threads": r.threads, "stats": jsonable(r.stats)}
            for r in bench.configs
            if r.variant == name and r.ok
        ]

    def _on_exported(self, result: Any) -> None:
        window = self.window
        window.jobs.set_run_controls(running=False)
        window.job_status.job_ended(f"Exported {os.path.basename(result.tflite_path)}")
        box = QMessageBox(window)
        box.setObjectName("exportDialog")
        box.setIcon(QMessageBox.Icon.Information)
        box.setWindowTitle(f"Exported — {APP_TITLE}")
        box.setText(f"Wrote {result.tflite_path}")
        box.setInformativeText(
            f"{result.size_bytes:,} bytes, loaded back and run once to check it.\nReport: {result.report_path}"
        )
        box.setStandardButtons(QMessageBox.StandardButton.Ok)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _r: setattr(window, "export_dialog", None))
        window.export_dialog = box
        box.open()
        window.exported.emit(result)

    def _on_export_failed(self, error: JobError) -> None:
        window = self.window
        window.jobs.set_run_controls(running=False)
        if error.kind == ErrorKind.CANCELLED:
            window.job_status.job_ended("Export cancelled: nothing was written")
            return
        window.job_status.job_ended("The export failed")
        window.show_error(error)

    # -- Export Report --------------------------------------------------------------------------

    def export_report_dialog(self) -> None:
        """Run > Export Report…: ask where, then `export_report`."""
        if self.window.outcome is None:
            return
        suggested = os.path.join(self._model_dir(), f"{self._model_stem()}.litesmith-report.html")
        path, _ = QFileDialog.getSaveFileName(self.window, "Export Report", suggested, "HTML report (*.html)")
        if path:
            if not path.lower().endswith((".html", ".htm")):
                path += ".html"
            self.export_report(path)

    def export_report(self, path: str | os.PathLike) -> bool:
        """Write the comparison as HTML (charts embedded) and JSON beside it; False when it cannot start.

        The charts are rendered here (Qt widgets: GUI thread); the document is built and both files are
        written atomically in a worker thread (`gui.workers.call_in_thread`: file work never runs on the GUI
        thread). When they are written the status line names them and the window emits
        ``report_exported(html path, json path)``; an error opens a dialog naming the file. Refused (False)
        with nothing to report, over the input model, or while another report is being written.
        """
        from core.report.html import write_report
        from gui.report import report_inputs
        from gui.workers import call_in_thread

        window = self.window
        path = os.path.abspath(os.fspath(path))
        if window.outcome is None:
            return False
        json_path = os.path.splitext(path)[0] + ".json"
        if self.is_input(path) or self.is_input(json_path):
            window.show_error(JobError(ErrorKind.BAD_INPUT, "refusing to write over the input model", path=path))
            return False
        if self._report_writer is not None:
            window.job_status.label.setText("A report is being written; try again when it is done")
            return False
        try:
            run, charts = report_inputs(window.outcome, window.results_panel, serving=getattr(window, "serving", None))
        except Exception as exc:  # noqa: BLE001 - a chart that cannot be drawn: say so, stay usable
            self._report_failed(path, exc)
            return False
        window.job_status.label.setText(f"Writing {os.path.basename(path)}…")
        self._report_writer = call_in_thread(
            functools.partial(write_report, run, path, json_path, charts=charts),
            on_result=self._report_written,
            on_error=lambda exc: self._report_failed(path, exc),
            owner=self,
        )
        return True

    def wait_for_report(self, timeout: float = 10.0) -> None:
        """At quit: let a report being written finish (up to `timeout` s). Its files are moved into place
        atomically; a write cut off by the exit would leave its temp file beside them."""
        if self._report_writer is not None:
            self._report_writer.join(timeout)

    def _report_written(self, written: tuple[str, str]) -> None:
        self._report_writer = None
        html_path, json_path = written
        self.window.job_status.label.setText(f"Wrote {os.path.basename(html_path)} and {os.path.basename(json_path)}")
        self.window.report_exported.emit(html_path, json_path)

    def _report_failed(self, path: str, exc: BaseException) -> None:
        # A full disk or a read-only folder (core's OutputError names the file): say so, stay usable.
        self._report_writer = None
        log.error("could not write the report", exc_info=exc)
        self.window.show_error(JobError(ErrorKind.BAD_INPUT, f"cannot write the report: {exc}", path=path))


__all__ = ["ExportController"]
