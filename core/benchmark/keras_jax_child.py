"""Keras 3 on the JAX backend, on the GPU, in a process of its own.

Keras picks its backend once, at its first import, and the engine's child has already
imported Keras on TensorFlow; many GPU machines also have JAX with CUDA but no
TensorFlow CUDA build. So a `.keras` file runs on JAX in a fresh Python process
(``python -m core.benchmark.keras_jax_child FOLDER``), started like
`core.optimize.isolated`: it dies with its parent (`die_with_parent`), inherits the
engine child's sandbox, sets ``KERAS_BACKEND=jax`` before Keras is imported, and reads
its job from FOLDER/job.json and writes FOLDER/result.json. The model loads through
`core.models.loading.load_keras_model`, as in the engine: its safety checks first, then
``safe_mode=True``. JAX is told not to take 75% of the GPU's memory up front
(``XLA_PYTHON_CLIENT_PREALLOCATE=false``).

Two jobs:

* ``probe``: JAX's version and devices, and why it sees no GPU: "JAX is not installed",
  "this JAX has no CUDA backend (CPU-only jaxlib)", or the driver's error (a driver
  older than the CUDA JAX was built for, no device). Keras is not imported.
* ``measure``: per batch size, the host-to-device copy (``jax.device_put`` of the
  batch, then ``block_until_ready``) and one whole ``model.predict_on_batch(x)`` call
  (numpy in, numpy out: copies both ways included); medians in milliseconds.

The parent side is `probe_jax` and `measure_keras_jax`; they return `JaxStatus` and a
`core.benchmark.crossover.DeviceCurve`. Without JAX and CUDA both say so (never raise).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from functools import partial
from typing import Any, Sequence

from core.benchmark.crossover import KERAS_JAX_GPU, BatchTiming, DeviceCurve
from core.engine.context import CancelToken
from core.engine.module_process import run_module

POLL_SECONDS = 0.05
CHILD_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class JaxStatus:
    """What JAX sees in a fresh process: ``gpu`` True when it has a CUDA (or ROCm) device."""

    installed: bool
    gpu: bool
    reason: str = ""  # why not, one line ("" when gpu)
    version: str = ""
    backend: str = ""  # jax.default_backend(): "gpu", "cpu", ...
    devices: tuple[str, ...] = ()  # e.g. ("cuda:0 NVIDIA H200",)
    keras_version: str = ""


# --------------------------------------------------------------------------- the child


def why_no_gpu(error: str) -> str:
    """One line from JAX's error when asked for its GPU devices (recorded messages in the tests)."""
    text = error.strip().splitlines()[0] if error.strip() else "no GPU backend"
    low = error.lower()
    if "insufficient" in low or "driver version" in low or "cuda_error_system_driver_mismatch" in low:
        return f"driver mismatch: the NVIDIA driver is older than the CUDA this JAX was built for ({text[:200]})"
    if "no_device" in low or re.search(r"no (visible|cuda-capable|supported) (gpu )?devices?", low):
        return f"JAX's CUDA backend found no GPU ({text[:200]})"
    if "unknown backend" in low or "backend 'gpu' failed" in low or "platform 'gpu'" in low or "cuda" not in low:
        return f"this JAX has no CUDA backend (CPU-only jaxlib; install jax[cuda]) ({text[:200]})"
    return f"JAX's CUDA backend did not start ({text[:200]})"


class _Warnings(logging.Handler):
    """JAX logs why its CUDA backend did not start ("Unable to initialize backend 'cuda': ...") and falls
    back to the CPU; the later "Unknown backend: 'gpu'" error no longer says why, so keep the log."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _probe() -> dict[str, Any]:
    try:
        import jax
    except ImportError as exc:
        return {"installed": False, "gpu": False, "reason": f"JAX is not installed ({exc})"}
    info: dict[str, Any] = {"installed": True, "version": str(getattr(jax, "__version__", ""))}
    handler = _Warnings()
    logging.getLogger("jax").addHandler(handler)
    try:
        try:
            info["backend"] = str(jax.default_backend())
            gpus = jax.devices("gpu")
        except Exception as exc:  # noqa: BLE001 - RuntimeError: Unknown backend / driver problems
            said = [m for m in handler.messages if "cuda" in m.lower() or "gpu" in m.lower()]
            info.update(gpu=False, reason=why_no_gpu(" ".join(said[:1] + [str(exc)])))
            return info
    finally:
        logging.getLogger("jax").removeHandler(handler)
    info["devices"] = [f"{d} {getattr(d, 'device_kind', '')}".strip() for d in gpus]
    info["gpu"] = bool(gpus)
    info["reason"] = "" if gpus else "JAX sees no GPU"
    return info


def _measure(job: dict[str, Any]) -> dict[str, Any]:
    """The child's ``measure`` job: per batch size, the timing (`keras_timing.time_predict`) as plain data."""
    import numpy as np

    from core.benchmark.keras_timing import time_predict

    status = _probe()
    if not status.get("gpu") and not job.get("allow_cpu"):
        return {"status": status}
    import jax
    import keras

    status["keras_version"] = str(keras.__version__)
    from core.models.loading import load_keras_model

    # the same safety checks and load as the engine's (safe_mode on, nothing written beside the file)
    model = load_keras_model(job["model"], keras=keras)
    from core.models.signatures import keras_feed

    inputs = list(model.inputs)
    free = [str(t.name) for t in inputs if any(d is None for d in tuple(t.shape)[1:])]
    if free:
        return {"status": status, "error": f"inputs with free dimensions are not supported here: {free}"}
    device = jax.devices("gpu")[0] if status.get("gpu") else jax.devices()[0]
    rng = np.random.default_rng(int(job.get("seed", 0)))
    runs, warmup = max(1, int(job.get("runs", 30))), max(0, int(job.get("warmup", 3)))
    timings = []
    for batch in job["batch_sizes"]:
        batch = int(batch)
        xs = [
            rng.random((batch,) + tuple(int(d) for d in tuple(t.shape)[1:]), dtype=np.float32).astype(
                str(getattr(t, "dtype", "float32")) or "float32"
            )
            for t in inputs
        ]
        x = keras_feed(model, xs)

        def copy_in(xs: list[Any] = xs) -> None:
            for array in xs:
                jax.device_put(array, device).block_until_ready()

        timing = time_predict(batch, partial(model.predict_on_batch, x), copy_in, runs=runs, warmup=warmup)
        if timing.error:
            timings.append({"batch_size": batch, "error": timing.error})
        else:
            timings.append(
                {
                    "batch_size": batch,
                    "runs": timing.runs,
                    "write_ms": timing.write_ms,
                    "call_ms": timing.call_ms,
                    "cold_ms": timing.cold_ms,
                }
            )
    return {"status": status, "device": f"{device} {getattr(device, 'device_kind', '')}".strip(), "timings": timings}


def _work(folder: str) -> int:
    """The child's side: FOLDER/job.json in, FOLDER/result.json out (errors as text in it)."""
    os.environ["KERAS_BACKEND"] = "jax"  # before anything imports Keras
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from core.engine.lifeline import die_with_parent

    die_with_parent()  # started by the engine's child (or the CLI): it goes when that process goes
    with open(os.path.join(folder, "job.json"), encoding="utf-8") as handle:
        job = json.load(handle)
    try:
        result = _probe() if job.get("job") == "probe" else _measure(job)
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent as text
        result = {"error": f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:300]}"}
    temp = os.path.join(folder, "result.json.tmp")
    with open(temp, "w", encoding="utf-8") as out:
        json.dump(result, out)
    os.replace(temp, os.path.join(folder, "result.json"))
    return 0


# --------------------------------------------------------------------------- the parent


def _run_child(
    job: dict[str, Any],
    *,
    cancel: CancelToken | None = None,
    timeout_s: float = CHILD_TIMEOUT_S,
    python: str | None = None,
) -> tuple[dict[str, Any] | None, str]:
    """Run the child on `job`; (its result or None, the tail of its stderr). Cancel kills it."""
    folder = tempfile.mkdtemp(prefix="litesmith-jax-")
    try:
        with open(os.path.join(folder, "job.json"), "w", encoding="utf-8") as out:
            json.dump(job, out)
        run = run_module(
            "core.benchmark.keras_jax_child",
            folder,
            cancel=cancel,
            timeout_s=timeout_s,
            env={"KERAS_BACKEND": "jax"},
            python=python,
            poll_s=POLL_SECONDS,
            stderr_tail=4000,
        )
        stderr = run.stderr
        path = os.path.join(folder, "result.json")
        if not os.path.exists(path):
            code = run.returncode
            if run.timed_out:
                return None, f"the JAX process did not finish within {timeout_s:.0f} s and was stopped"
            return None, f"the JAX process ended without a result (exit code {code}): " + (
                stderr.strip().splitlines() or [""]
            )[-1][:300]
        with open(path, encoding="utf-8") as handle:
            return json.load(handle), stderr
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _status(data: dict[str, Any]) -> JaxStatus:
    """A `JaxStatus` from the child's plain-data status (missing keys: empty or False)."""
    return JaxStatus(
        installed=bool(data.get("installed")),
        gpu=bool(data.get("gpu")),
        reason=str(data.get("reason", "")),
        version=str(data.get("version", "")),
        backend=str(data.get("backend", "")),
        devices=tuple(data.get("devices", ()) or ()),
        keras_version=str(data.get("keras_version", "")),
    )


def probe_jax(*, cancel: CancelToken | None = None, python: str | None = None) -> JaxStatus:
    """What JAX sees, asked in a fresh process (so this process's GPU state is untouched).

    Never raises for a missing JAX or GPU (the status says why); `Cancelled` when `cancel` is set.
    `python`: the interpreter to start (default this one).
    """
    result, log = _run_child({"job": "probe"}, cancel=cancel, timeout_s=120.0, python=python)
    if result is None:
        return JaxStatus(installed=False, gpu=False, reason=log)
    if "error" in result:
        return JaxStatus(installed=True, gpu=False, reason=result["error"])
    return _status(result)


def measure_keras_jax(
    model: str | os.PathLike[str],
    batch_sizes: Sequence[int],
    *,
    runs: int = 30,
    warmup: int = 3,
    cancel: CancelToken | None = None,
    python: str | None = None,
) -> DeviceCurve:
    """The Keras-on-JAX GPU curve of a `.keras` file; ``available=False`` with the reason when JAX has no GPU.

    Timings are medians in ms per call of `runs` measured calls after `warmup` (the loop of
    `core.benchmark.keras_timing`, run in the child). `Cancelled` when `cancel` is set (the child is killed).
    """
    job = {
        "job": "measure",
        "model": os.path.abspath(os.fspath(model)),
        "batch_sizes": [int(b) for b in batch_sizes],
        "runs": int(runs),
        "warmup": int(warmup),
    }
    result, log = _run_child(job, cancel=cancel, python=python)
    if result is None:
        return DeviceCurve(KERAS_JAX_GPU, "gpu", False, reason=log)
    status = _status(result.get("status", {}))
    if "error" in result:
        return DeviceCurve(KERAS_JAX_GPU, "gpu", False, reason=f"Keras on JAX failed: {result['error']}")
    if not status.gpu:
        return DeviceCurve(KERAS_JAX_GPU, "gpu", False, reason=status.reason or "JAX sees no GPU")
    timings = tuple(
        BatchTiming(
            int(t["batch_size"]),
            runs=int(t.get("runs", 0)),
            write_ms=float(t.get("write_ms", float("nan"))),
            call_ms=float(t.get("call_ms", float("nan"))),
            cold_ms=float(t.get("cold_ms", float("nan"))),
            error=str(t.get("error", "")),
        )
        for t in result.get("timings", ())
    )
    return DeviceCurve(
        KERAS_JAX_GPU,
        "gpu",
        True,
        device=str(result.get("device", "")),
        notes=(
            f"JAX {status.version}, Keras {status.keras_version}; copy ms = jax.device_put of the "
            "batch; a call is predict_on_batch, numpy in and out",
        ),
        timings=timings,
    )


def main(argv: list[str]) -> int:
    """``--probe`` or ``--measure MODEL.keras [--batch 1,8] [--runs 20]``: the parent side, for people;
    a bare FOLDER: the child's side (what `_run_child` starts)."""
    if argv and argv[0] == "--probe":
        status = probe_jax()
        print(
            f"JAX {status.version or '-'}: " + (", ".join(status.devices) if status.gpu else f"no GPU: {status.reason}")
        )
        return 0
    if argv and argv[0] == "--measure":
        import argparse

        from core.benchmark.crossover import build_result, format_crossover
        from core.cli.bench import int_list

        parser = argparse.ArgumentParser(prog="python -m core.benchmark.keras_jax_child --measure")
        parser.add_argument("model")
        parser.add_argument("--batch", type=int_list, default=(1, 8, 64))
        parser.add_argument("--runs", type=int, default=20)
        args = parser.parse_args(argv[1:])
        curve = measure_keras_jax(args.model, args.batch, runs=args.runs)
        print(format_crossover(build_result(args.model, args.batch, [curve])))
        return 0
    return _work(argv[0])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
