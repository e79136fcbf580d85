"""What the NVIDIA driver says when NVML's Python module is missing (`nvidia-smi`), and why a
framework (TensorFlow, JAX) does not see a GPU the driver sees.

Pure functions over what was read (nvidia-smi's CSV text, TensorFlow's cuInit log line, a
`JaxStatus`), so the tests feed recorded output and never need a GPU.
`core.hardware.detect_devices` puts them together for ``litesmith devices``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

NVIDIA_SMI_QUERY = (
    "nvidia-smi",
    "--query-gpu=name,memory.total,memory.used,driver_version,utilization.gpu,compute_cap",
    "--format=csv,noheader,nounits",
)
# The fields the issue names, for an nvidia-smi too old for memory.used/compute_cap.
NVIDIA_SMI_SHORT_QUERY = (
    "nvidia-smi",
    "--query-gpu=name,memory.total,driver_version,utilization.gpu",
    "--format=csv,noheader,nounits",
)


@dataclass(frozen=True)
class FrameworkView:
    """Whether one framework sees a GPU, and why not."""

    name: str  # "TensorFlow" or "JAX"
    installed: bool
    sees_gpu: bool
    version: str = ""
    reason: str = ""  # why it sees no GPU ("" when it does)
    devices: tuple[str, ...] = field(default=())


def _number(text: str) -> float | None:
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        return None  # "[N/A]", "[Not Supported]"


def parse_nvidia_smi(text: str, *, short: bool = False) -> list[Any]:
    """GpuInfo per line of ``nvidia-smi --query-gpu=... --format=csv,noheader,nounits`` output.

    Full query columns: name, memory.total (MiB), memory.used (MiB), driver_version,
    utilization.gpu (%), compute_cap ("9.0"); `short`: name, memory.total, driver_version,
    utilization.gpu. "[N/A]" fields become None. Lines that do not split into the
    columns are skipped. Names may hold commas only in the full query's first column.
    """
    from core.hardware import GpuInfo

    width = 4 if short else 6
    gpus: list[GpuInfo] = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < width or not line.strip():
            continue
        if len(parts) > width:  # a comma in the name
            parts = [", ".join(parts[: len(parts) - width + 1])] + parts[len(parts) - width + 1 :]
        if short:
            name, total, driver, util = parts
            used, capability = None, None
        else:
            name, total, used_text, driver, util, cap_text = parts
            used = _number(used_text)
            match = re.fullmatch(r"(\d+)\.(\d+)", cap_text)
            capability = (int(match.group(1)), int(match.group(2))) if match else None
        gpus.append(
            GpuInfo(
                index=len(gpus),
                name=name,
                source="nvidia-smi",
                compute_capability=capability,
                memory_total_mb=_number(total),
                memory_used_mb=used,
                driver_version=driver,
                utilization_percent=_number(util),
            )
        )
    return gpus


def nvidia_smi_gpu_info(
    run: Callable[..., Any] | None = None, which: Callable[[str], str | None] = shutil.which
) -> tuple[list[Any], str]:
    """GPUs from `nvidia-smi` (when nvidia-ml-py is not installed), and a status word like NVML's."""
    if which("nvidia-smi") is None:
        return [], "not installed (no nvidia-ml-py, no nvidia-smi)"
    run = run or subprocess.run
    for query, short in ((NVIDIA_SMI_QUERY, False), (NVIDIA_SMI_SHORT_QUERY, True)):
        try:
            done = run(list(query), capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError) as exc:
            return [], f"unavailable: nvidia-smi: {exc}"
        if done.returncode == 0:
            return parse_nvidia_smi(done.stdout, short=short), "ok (nvidia-smi)"
    said = (done.stdout.strip() or done.stderr.strip()).splitlines()
    return [], f"unavailable: nvidia-smi: {said[0] if said else f'exit code {done.returncode}'}"


# cuInit results TensorFlow logs ("failed call to cuInit: ... (N)"), by CUDA error number.
_CUINIT = {
    35: "driver mismatch: the NVIDIA driver is older than the CUDA runtime TensorFlow was built with",
    100: "the CUDA driver reports no GPU (CUDA_ERROR_NO_DEVICE)",
    303: "libcuda could not start (CUDA_ERROR_SHARED_OBJECT_INIT_FAILED: no NVIDIA kernel driver?)",
    803: "driver mismatch: the CUDA user-mode driver does not match the kernel module (CUDA_ERROR_SYSTEM_DRIVER_MISMATCH)",
    804: "driver mismatch: CUDA forward compatibility is not supported on this GPU",
    999: "the CUDA driver failed to start (CUDA_ERROR_UNKNOWN)",
}


def tensorflow_view(
    *,
    installed: bool,
    version: str = "",
    gpus: Sequence[Any] = (),
    built_with_cuda: bool | None,
    cuinit_lines: Sequence[str] = (),
    driver_gpus: int = 0,
    import_error: str = "",
) -> FrameworkView:
    """TensorFlow's view: the GPUs it lists, else why not (not installed, CPU-only build, driver mismatch, ...)."""
    if not installed:
        return FrameworkView(
            "TensorFlow", False, False, reason=f"not installed{f' ({import_error})' if import_error else ''}"
        )
    if gpus:
        return FrameworkView("TensorFlow", True, True, version, devices=tuple(str(getattr(g, "name", g)) for g in gpus))
    if built_with_cuda is False:
        why = "no CUDA build: this TensorFlow is CPU-only (pip install tensorflow[and-cuda])"
    else:
        why = ""
        for line in cuinit_lines:
            code = re.search(r"\((\d+)\)\s*$", line.strip())
            if "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH" in line:
                why = _CUINIT[803]
            elif code and int(code.group(1)) in _CUINIT:
                why = _CUINIT[int(code.group(1))]
            elif "driver version is insufficient" in line.lower():
                why = _CUINIT[35]
            if why:
                break
        if not why and not driver_gpus:
            why = "the NVIDIA driver lists no GPU here (or could not be asked)"
        if not why and cuinit_lines:
            why = "CUDA did not start: " + cuinit_lines[0].split("]", 1)[-1].strip()[:200]
        if not why:
            why = (
                "its CUDA libraries did not load (pip install tensorflow[and-cuda])"
                if driver_gpus
                else "no NVIDIA GPU or driver on this machine"
            )
    return FrameworkView("TensorFlow", True, False, version, reason=why)


def jax_view(status: Any) -> FrameworkView:
    """JAX's view from a `core.benchmark.keras_jax_child.JaxStatus` (asked in a fresh process)."""
    if not status.installed:
        return FrameworkView("JAX", False, False, reason=status.reason or "not installed")
    return FrameworkView(
        "JAX",
        True,
        bool(status.gpu),
        status.version,
        reason="" if status.gpu else status.reason,
        devices=tuple(status.devices),
    )


def probe_jax_view(find_spec: Callable[[str], Any] | None = None, cancel: Any = None) -> FrameworkView:
    """JAX's view; no process is started when JAX is not installed."""
    import importlib.util

    find_spec = find_spec or importlib.util.find_spec
    if find_spec("jax") is None:
        return FrameworkView("JAX", False, False, reason="not installed")
    from core.benchmark.keras_jax_child import probe_jax

    return jax_view(probe_jax(cancel=cancel))
