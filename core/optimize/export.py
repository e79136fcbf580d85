"""Exporting a variant: the .tflite written atomically, a sidecar report, and a load-back check.

* never over the input model (nor over any path the caller names as protected);
* temp file in the destination folder, fsync, then `os.replace`, so a failed or
  cancelled export leaves no partial file (and an existing file is replaced whole);
* the model and its report go together: both are written to temp files first, and
  only when both are complete are they moved into place, so a full disk (or any
  write failure) leaves neither, never one without the other;
* a write failure (disk full, permission, read-only file system, quota) is an
  `OutputError`: one line naming the file and the reason, exit code 4;
* the written file is read back, loaded and run once before the export is done;
* the files are written by the engine's parent process (`export_variant` is a
  `@runs_in_parent` job), from bytes the child returned: the sandboxed child only
  runs the written bytes once (`smoke_run_job`), and never gets write access
  outside its scratch folder;
* the sidecar report ``NAME.report.json`` (schema `REPORT_SCHEMA`, version
  `REPORT_VERSION`) records the source and its SHA-256, the recipe, sizes, the
  evaluation, the converter path and the environment.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from core.data.loaders import DataDescription
from core.engine.context import CancelToken, InlineChild, Reporter, runs_in_parent
from core.errors import BadInputError, Cancelled, ConversionError, ErrorKind, JobFailed, OutputError
from core.optimize.env import environment
from core.optimize.results import ExportResult, SourceInfo, Variant

if TYPE_CHECKING:
    from core.engine.parent_job import EngineChild

REPORT_SCHEMA = "litesmith.export-report"
REPORT_VERSION = 1


def report_path_for(tflite_path: str | Path) -> Path:
    """The sidecar report of an export: `NAME.report.json` next to `NAME.tflite`."""
    p = Path(tflite_path)
    stem = p.name[: -len(".tflite")] if p.name.lower().endswith(".tflite") else p.name
    return p.with_name(f"{stem}.report.json")


def _same_file(a: str | Path, b: str | Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _check_destination(out: Path, protected: list[str]) -> None:
    for path in protected:
        if not path:
            continue
        p = Path(path)
        if _same_file(out, p) or (p.is_dir() and os.path.realpath(out).startswith(os.path.realpath(p) + os.sep)):
            raise BadInputError("refusing to write over the input model; choose another output path", path=str(out))
    if out.exists() and out.is_dir():
        raise BadInputError("the output path is a folder; give a file name ending in .tflite", path=str(out))
    if not out.parent.is_dir():
        raise BadInputError("the output folder does not exist", path=str(out.parent))


def _umask() -> int:
    """The process umask, read without changing it (os.umask would race with other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


def write_temp(path: Path, data: bytes, *, verify: Callable[[str], object] | None = None) -> str:
    """Write `data` to a complete, fsynced temp file next to `path`; returns its name (the caller moves it).

    Raises OSError (disk full, permission, ...) or what `verify(tmp)` raises, leaving no file.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())  # a full disk or quota may only say so here, or at close
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; an export gets the usual permissions
        if verify is not None:
            verify(tmp)
        return tmp
    except BaseException:
        _remove(tmp)
        raise


def _remove(path: str | Path | None) -> None:
    if path is None:
        return
    try:
        os.unlink(path)
    except OSError:
        pass  # gone already, or nothing more can be done: the caller reports the first failure


def write_atomic(
    path: Path, data: bytes, *, cancel: CancelToken | None = None, verify: Callable[[str], object] | None = None
) -> None:
    """Write `data` to a temp file next to `path`, verify it, then `os.replace`; no partial file on failure."""
    tmp = write_temp(path, data, verify=verify)
    try:
        if cancel is not None:
            cancel.raise_if_cancelled()
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def build_report(
    variant: Variant | None,
    *,
    tflite_path: str,
    sha256: str,
    size_bytes: int,
    source: SourceInfo | None,
    data: DataDescription | None,
    baseline_size_bytes: int | None,
    original_evaluation: Any = None,
    extra: dict | None = None,
) -> dict[str, Any]:
    """The export's sidecar report (schema `litesmith.export-report` v1) as plain data.

    The output file's name, SHA-256 and size in bytes, the source, the data used, the
    size ratio to the fp32 baseline, the evaluations (measured in the engine's child), the
    library versions and, for a Variant, how it was made and its warnings; `extra` keys
    are added last.
    """
    report: dict[str, Any] = {
        "schema": REPORT_SCHEMA,
        "version": REPORT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "output": {"path": os.path.basename(tflite_path), "sha256": sha256, "size_bytes": size_bytes},
        "source": asdict(source) if source is not None else None,
        "baseline_size_bytes": baseline_size_bytes,
        "size_ratio": (size_bytes / baseline_size_bytes) if baseline_size_bytes else None,
        "data": asdict(data) if data is not None else None,
        "synthetic_data": bool(data.synthetic_data) if data is not None else None,
        "original_evaluation": original_evaluation.to_dict() if original_evaluation is not None else None,
        "environment": environment(),
    }
    if variant is not None:
        summary = variant.summary()
        report.update(
            {
                "variant": summary["name"],
                "mode": summary["mode"],
                "recipe": summary["recipe"],
                "converter_path": summary["converter_path"],
                "io_dtype": summary["io_dtype"],
                "evaluation": summary["evaluation"],
                "warnings": summary["warnings"],
                "float_layers": summary["float_layers"],
                "layer_errors": summary["layer_errors"],
            }
        )
    if extra:
        report.update(extra)
    return report


def smoke_run_job(
    tflite_bytes: bytes,
    inputs: dict[str, Any] | None = None,
    *,
    progress: Reporter,
    cancel: CancelToken,
    signature: str | None = None,
) -> None:
    """In the engine's child: load the bytes about to be exported and run them once (raises when unusable)."""
    from core.optimize.runtime import smoke_run

    cancel.raise_if_cancelled()
    smoke_run(tflite_bytes, inputs, signature=signature)


@runs_in_parent
def export_variant(
    variant: Variant | bytes,
    out_path: str,
    *,
    progress: Reporter,
    cancel: CancelToken,
    source: SourceInfo | None = None,
    data: DataDescription | None = None,
    baseline_size_bytes: int | None = None,
    original_evaluation: Any = None,
    report_path: str | None = None,
    write_report: bool = True,
    protected_paths: tuple[str, ...] = (),
    metadata: dict | None = None,
    child: EngineChild | InlineChild | None = None,
) -> ExportResult:
    """Write `variant` (or raw .tflite bytes) to `out_path` atomically, with its sidecar report.

    Submitted to an `Engine`, this runs in the parent process and the load-back run
    goes to the sandboxed child through `child`; called directly (no `child`), the
    load-back run happens in this process.
    """
    runner = child if child is not None else InlineChild(progress, cancel)
    out = Path(out_path)
    data_bytes = variant.tflite_bytes if isinstance(variant, Variant) else bytes(variant)
    protected = list(protected_paths) + ([source.path] if source is not None else [])
    _check_destination(out, protected)
    report_file = Path(report_path) if report_path else report_path_for(out)
    if write_report:
        _check_destination(report_file, protected + [str(out)] if report_file != out else protected)
    cancel.raise_if_cancelled()
    progress(0.1, f"writing {out.name}", "export")

    def verify(tmp: str) -> None:
        progress(0.5, "loading the written file back and running it once", "export")
        written = Path(tmp).read_bytes()
        if written != data_bytes:
            raise OutputError(
                "cannot write this file: what was read back differs from the model in memory "
                "(a failing disk?); no partial file was left",
                path=str(out),
            )
        try:
            if isinstance(variant, Variant):  # real samples when the run had them; zeros otherwise
                runner.run(smoke_run_job, written, variant.sample_inputs, signature=variant.signature)
            else:
                runner.run(smoke_run_job, written)
        except Cancelled:
            raise
        except JobFailed as failed:  # the step in the child failed, crashed or was cancelled
            if failed.error.kind == ErrorKind.CANCELLED:
                raise Cancelled() from None
            raise ConversionError(
                f"the exported model does not run: {failed.error.message}", path=str(out), details=failed.error.details
            ) from None
        except Exception as exc:  # noqa: BLE001 - an unusable output must not be called done
            raise ConversionError(
                f"the exported model does not run: {type(exc).__name__}: {exc}", path=str(out)
            ) from None

    sha = hashlib.sha256(data_bytes).hexdigest()
    report: dict[str, Any] = {}
    if write_report:
        report = build_report(
            variant if isinstance(variant, Variant) else None,
            tflite_path=str(out),
            sha256=sha,
            size_bytes=len(data_bytes),
            source=source,
            data=data,
            baseline_size_bytes=baseline_size_bytes,
            original_evaluation=original_evaluation,
            extra=metadata,
        )
        report["output"]["verified"] = True
    # Both files complete in temp files first, then moved into place together: a full disk,
    # a failure or a cancel at any point leaves neither (never a model without its report).
    model_tmp = report_tmp = None
    current = out
    try:
        try:
            model_tmp = write_temp(out, data_bytes, verify=verify)
            if write_report:
                cancel.raise_if_cancelled()
                current = report_file
                progress(0.9, f"writing {report_file.name}", "export")
                text = json_text(report) + "\n"
                report_tmp = write_temp(report_file, text.encode("utf-8"))
            cancel.raise_if_cancelled()
            current = out
            os.replace(model_tmp, out)
            model_tmp = None
        except OSError as exc:
            raise OutputError.from_os_error(exc, str(current)) from None
        if report_tmp is not None:
            try:
                os.replace(report_tmp, report_file)
                report_tmp = None
            except OSError as exc:
                # Practically never (a rename in one folder), but never a model without its report.
                _remove(out)
                raise OutputError.from_os_error(exc, str(report_file)) from None
    finally:
        _remove(model_tmp)
        _remove(report_tmp)
    progress(1.0, "exported", "export")
    return ExportResult(
        tflite_path=str(out),
        report_path=str(report_file) if write_report else None,
        size_bytes=len(data_bytes),
        sha256=sha,
        verified=True,
        report=report,
    )


def clean_json(value: Any) -> Any:
    """NaN and infinities become None with `<key>_reason` beside them (strict JSON); tuples become lists."""
    from core.jsonout import jsonable

    return jsonable(value)


def json_text(value: Any) -> str:
    """A document as strict JSON text: Litesmith's one encoder (`core.jsonout.dumps`)."""
    from core.jsonout import dumps

    return dumps(value)


def write_json_atomic(path: str | Path, payload: Any) -> None:
    """A JSON file written atomically (the CLI's --report)."""
    p = Path(path)
    if not p.parent.is_dir():
        raise BadInputError(f"the folder for {p.name} does not exist", path=str(p.parent))
    text = json_text(payload) + "\n"
    try:
        write_atomic(p, text.encode("utf-8"))
    except OSError as exc:
        raise OutputError.from_os_error(exc, str(p)) from None
