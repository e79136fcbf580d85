"""Calibrated conversions that may crash the converter, run in a process of their own.

TensorFlow's calibrator runs the model natively; on the recurrent loop of a
batch-1 signature (GRU/LSTM converted through `WHILE`) it was seen to die of
SIGSEGV (TF 2.21, int8 and 16x8 of `../shared/cases/06_gru_dynamic_seq`). In
the engine's child that would end the whole job; here it fails one variant,
with the reason. The worker is a fresh Python process (`python -m
core.optimize.isolated FOLDER`): it converts a SavedModel already on disk,
reading its settings and calibration samples from FOLDER and writing the
.tflite (or the error) back there.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
from typing import Any

import numpy as np

from core.engine.context import CancelToken
from core.engine.module_process import run_module
from core.errors import ConversionError

POLL_SECONDS = 0.1


class ConverterCrashed(ConversionError):
    """The isolated converter process died of a signal: calibrating again (with float fallback) would too."""

    crashed = True  # read as getattr(error, "crashed", False) by the quantize pass


def _work(folder: str) -> int:
    """The worker's side: read job.json + calibration.npz from `folder`, write model.tflite or error.txt."""
    from core.engine.lifeline import die_with_parent
    from core.tf_runtime import install_stderr_filter, quiet_environment

    die_with_parent()  # started by the engine's child: it goes when that child goes, however it ends

    quiet_environment()
    install_stderr_filter()
    job = json.loads(open(os.path.join(folder, "job.json"), encoding="utf-8").read())
    try:
        from core.native_output import quiet_native
        from core.optimize.quantize import configure_converter, representative_dataset
        from core.tf_runtime import import_tensorflow

        tf = import_tensorflow()
        with np.load(os.path.join(folder, "calibration.npz"), allow_pickle=False) as archive:
            calibration = {name: archive[name] for name in archive.files}
        with quiet_native():
            converter = tf.lite.TFLiteConverter.from_saved_model(job["saved_model"], signature_keys=[job["signature"]])
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
            configure_converter(
                tf,
                converter,
                job["mode"],
                representative=representative_dataset(calibration),
                io_dtype=job["io_dtype"],
                allow_float_fallback=job["allow_float_fallback"],
            )
            data = converter.convert()
        with open(os.path.join(folder, "model.tflite"), "wb") as out:
            out.write(bytes(data))
        return 0
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent as text
        with open(os.path.join(folder, "error.txt"), "w", encoding="utf-8") as out:
            out.write(f"{type(exc).__name__}: {exc}")
        return 1


def convert_isolated(
    saved_model: str,
    signature_key: str,
    mode: str,
    *,
    calibration: dict[str, np.ndarray],
    io_dtype: str = "float",
    allow_float_fallback: bool = False,
    cancel: CancelToken | None = None,
    what: str = "quantization failed",
) -> bytes:
    """Convert `saved_model` with calibrated `mode` in a separate process; returns the .tflite bytes.

    Raises ConversionError when the converter fails, `ConverterCrashed` when its
    process dies (the signal is named); Cancelled (via `cancel`) after killing the worker.
    """
    folder = tempfile.mkdtemp(prefix="litesmith-isolated-")
    try:
        arrays: dict[str, Any] = dict(calibration)  # by input name (numpy's stub fears an "allow_pickle" key)
        np.savez(os.path.join(folder, "calibration.npz"), **arrays)
        with open(os.path.join(folder, "job.json"), "w", encoding="utf-8") as out:
            json.dump(
                {
                    "saved_model": saved_model,
                    "signature": signature_key,
                    "mode": mode,
                    "io_dtype": io_dtype,
                    "allow_float_fallback": allow_float_fallback,
                },
                out,
            )
        run = run_module("core.optimize.isolated", folder, cancel=cancel, poll_s=POLL_SECONDS)
        stderr = run.stderr
        result = os.path.join(folder, "model.tflite")
        if run.returncode == 0 and os.path.exists(result):
            with open(result, "rb") as handle:
                return handle.read()
        error_file = os.path.join(folder, "error.txt")
        if os.path.exists(error_file):
            from core.optimize.convert import conversion_error

            text = open(error_file, encoding="utf-8").read()
            raise conversion_error(RuntimeError(text), what=what, path=None, tried="isolated converter", log=stderr)
        code = run.returncode
        name = signal.Signals(-code).name if code is not None and code < 0 else f"exit code {code}"
        raise ConverterCrashed(
            f"{mode} is not available for this model: TensorFlow's converter crashed ({name}) "
            "while calibrating its recurrent loop (batch-1 signature); dynamic range and float16 "
            "need no calibration",
            details=f"isolated converter process: {name} after {run.seconds:.1f} s\n\n{stderr}",
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(_work(sys.argv[1]))

__all__ = ["ConverterCrashed", "convert_isolated"]
