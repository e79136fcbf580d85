"""What this machine offers for inference: CPU features, GPUs as TensorFlow and NVML see them.

Pure functions that take what they read as arguments (cpuinfo text, a TensorFlow
module, an NVML module), so tests fake them and never need a GPU. `detect_devices`
is the engine job (it imports TensorFlow, so it runs in the engine's child).

`.tflite` models run on the CPU by default (XNNPACK). LiteRT's GPU accelerator
(`CompiledModel`, WebGPU over Vulkan) is measured against them by the CPU-versus-GPU
sweep (`core.benchmark.gpu_sweep`); Keras runs use the GPU through TensorFlow or, in
their own process, JAX. Without TensorFlow, detection still reports the driver's view
(NVML, else `nvidia-smi`: `core.gpu_probe`) and JAX's.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import re
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import psutil

from core.engine.context import CancelToken, Reporter
from core.native_output import drop_stderr_lines

# cpuinfo flag -> what we call it. Order is the order shown.
INFERENCE_FEATURES = (
    ("sse4_2", "SSE4.2"),
    ("avx", "AVX"),
    ("avx2", "AVX2"),
    ("fma", "FMA"),
    ("f16c", "F16C"),
    ("avx512f", "AVX-512F"),
    ("avx512bw", "AVX-512BW"),
    ("avx512_vnni", "AVX-512 VNNI"),
    ("avx512_bf16", "AVX-512 BF16"),
    ("avx512_fp16", "AVX-512 FP16"),
    ("avx_vnni", "AVX-VNNI"),
    ("amx_tile", "AMX"),
    ("amx_int8", "AMX-INT8"),
    ("amx_bf16", "AMX-BF16"),
    # Arm
    ("asimd", "NEON"),
    ("asimddp", "Arm dot product"),
    ("i8mm", "Arm I8MM"),
    ("sve", "SVE"),
)

GPU_EXTRA = "litesmith[gpu]"
TFLITE_ON_CPU_NOTE = (
    ".tflite models run on the CPU by default (LiteRT with XNNPACK); LiteRT's GPU accelerator (WebGPU over "
    "Vulkan) is measured against it by `litesmith bench MODEL --devices cpu,gpu`. "
    "A GPU speeds up the Keras/TensorFlow runs."
)


@dataclass(frozen=True)
class CpuInfo:
    """This CPU: its model name, architecture, core counts (psutil; None when unknown) and inference features."""

    model: str
    architecture: str
    physical_cores: int | None
    logical_cores: int | None
    features: tuple[str, ...]  # friendly names of INFERENCE_FEATURES present
    flags_read: bool  # False when /proc/cpuinfo (or its equivalent) was not readable

    def has(self, name: str) -> bool:
        """True when the feature (a friendly name of INFERENCE_FEATURES, e.g. "AVX2") is present."""
        return name in self.features

    @property
    def int8_dot_product(self) -> bool:
        """VNNI-class instructions: what makes int8 kernels beat float ones on a CPU."""
        return any(f in self.features for f in ("AVX-512 VNNI", "AVX-VNNI", "AMX-INT8", "Arm dot product", "Arm I8MM"))


@dataclass(frozen=True)
class GpuInfo:
    """One GPU as TensorFlow or the NVIDIA driver (NVML, nvidia-smi) reports it; memory in MiB."""

    index: int
    name: str
    source: str  # "tensorflow" or "nvml"
    device: str = ""  # TensorFlow device string, e.g. "/GPU:0"
    compute_capability: tuple[int, int] | None = None
    memory_total_mb: float | None = None
    memory_used_mb: float | None = None
    driver_version: str = ""
    cuda_driver_version: str = ""
    utilization_percent: float | None = None  # NVML / nvidia-smi: GPU busy share over the last sample period


@dataclass(frozen=True)
class DeviceReport:
    """What `litesmith devices` reports: the CPU, each framework's and the driver's GPUs, and notes."""

    cpu: CpuInfo
    tf_gpus: tuple[GpuInfo, ...] = ()
    nvml_gpus: tuple[GpuInfo, ...] = ()
    tf_version: str = ""
    tf_built_with_cuda: bool | None = None
    nvml_status: str = ""  # "ok", "ok (nvidia-smi)", "not installed ...", or the error NVML gave
    notes: tuple[str, ...] = field(default=())
    # TensorFlow's and JAX's views of the GPU (`core.gpu_probe.FrameworkView`): whether each sees it, and why not
    frameworks: tuple[Any, ...] = ()
    # The OS sandbox of the engine child that ran the job (`core.engine.sandbox.SandboxStatus`);
    # None when the job ran outside one (Engine(isolated=False)).
    sandbox: Any = None

    @property
    def cpu_only(self) -> bool:
        """True when TensorFlow sees no GPU (Keras runs use the CPU)."""
        return not self.tf_gpus

    @property
    def state(self) -> str:
        """One line: "2 GPU(s) for TensorFlow", "GPU for JAX (TensorFlow: CPU only)" or "CPU only"."""
        if not self.cpu_only:
            return f"{len(self.tf_gpus)} GPU(s) for TensorFlow"
        others = [f.name for f in self.frameworks if f.sees_gpu]
        return f"GPU for {', '.join(others)} (TensorFlow: CPU only)" if others else "CPU only"


# --------------------------------------------------------------------------- CPU


def parse_cpuinfo(text: str) -> tuple[str, set[str]]:
    """(model name, flags) from /proc/cpuinfo text (x86 "flags", Arm "Features")."""
    model = ""
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if (
            key in ("model name", "hardware", "cpu model", "processor")
            and not model
            and value.strip()
            and not value.strip().isdigit()
        ):
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    return model, flags


def cpu_info(cpuinfo_text: str | None = None) -> CpuInfo:
    """This CPU, from `cpuinfo_text` (default: /proc/cpuinfo; unreadable means ``flags_read=False``)."""
    flags_read = True
    if cpuinfo_text is None:
        try:
            with open("/proc/cpuinfo") as handle:
                cpuinfo_text = handle.read()
        except OSError:
            cpuinfo_text, flags_read = "", False
    model, flags = parse_cpuinfo(cpuinfo_text)
    if not flags:
        flags_read = False
    features = tuple(name for flag, name in INFERENCE_FEATURES if flag in flags)
    return CpuInfo(
        model=model or platform.processor() or "unknown CPU",
        architecture=platform.machine(),
        physical_cores=psutil.cpu_count(logical=False),
        logical_cores=psutil.cpu_count(logical=True),
        features=features,
        flags_read=flags_read,
    )


# --------------------------------------------------------------------------- GPUs


def tf_gpu_info(tf: Any) -> list[GpuInfo]:
    """GPUs as TensorFlow sees them: name and compute capability from its device details."""
    gpus = []
    for index, device in enumerate(tf.config.list_physical_devices("GPU")):
        try:
            details = tf.config.experimental.get_device_details(device) or {}
        except Exception:  # noqa: BLE001 - details are a bonus
            details = {}
        capability = details.get("compute_capability")
        gpus.append(
            GpuInfo(
                index=index,
                name=str(details.get("device_name") or device.name),
                source="tensorflow",
                device=f"/GPU:{index}",
                compute_capability=_capability(capability),
            )
        )
    return gpus


def _capability(value: Any) -> tuple[int, int] | None:
    """(major, minor) of a compute capability pair as a framework gives it; None when absent or not a pair."""
    if not value:
        return None
    parts = tuple(int(c) for c in value)
    return (parts[0], parts[1]) if len(parts) == 2 else None


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def nvml_gpu_info(nvml: ModuleType | None = None) -> tuple[list[GpuInfo], str]:
    """GPUs as the NVIDIA driver sees them (nvidia-ml-py's `pynvml`), and a status word."""
    if nvml is None:
        try:
            import pynvml
        except ImportError:
            return [], "not installed"
        nvml = pynvml
    try:
        nvml.nvmlInit()
    except Exception as exc:  # noqa: BLE001 - e.g. NVMLError_LibraryNotFound: no driver
        return [], f"unavailable: {exc}"
    try:
        driver = _text(nvml.nvmlSystemGetDriverVersion())
        try:
            cuda = nvml.nvmlSystemGetCudaDriverVersion()
            cuda_text = f"{cuda // 1000}.{cuda % 1000 // 10}"
        except Exception:  # noqa: BLE001
            cuda_text = ""
        gpus = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            try:
                capability = _capability(nvml.nvmlDeviceGetCudaComputeCapability(handle))
            except Exception:  # noqa: BLE001
                capability = None
            try:
                utilization = float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            except Exception:  # noqa: BLE001 - not supported on every GPU (and not in older fakes)
                utilization = None
            gpus.append(
                GpuInfo(
                    index=index,
                    name=_text(nvml.nvmlDeviceGetName(handle)),
                    source="nvml",
                    compute_capability=capability,
                    memory_total_mb=memory.total / 2**20,
                    memory_used_mb=memory.used / 2**20,
                    driver_version=driver,
                    cuda_driver_version=cuda_text,
                    utilization_percent=utilization,
                )
            )
        return gpus, "ok"
    except Exception as exc:  # noqa: BLE001
        return [], f"error: {exc}"
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass


def build_report(
    cpu: CpuInfo,
    tf_gpus: list[GpuInfo],
    nvml_gpus: list[GpuInfo],
    *,
    tf_version: str = "",
    tf_built_with_cuda: bool | None = None,
    nvml_status: str = "",
    frameworks: tuple[Any, ...] = (),
) -> DeviceReport:
    """The report and its notes (why each framework sees no GPU, int8 advice) from what was read.

    `frameworks`: `core.gpu_probe.FrameworkView`s (name, installed, sees_gpu, reason).
    """
    notes = []
    for view in frameworks:
        if not view.sees_gpu and nvml_gpus:  # the driver sees a GPU: say why this framework does not
            notes.append(f"{view.name} sees no GPU: {view.reason}")
    if not tf_gpus:
        if nvml_gpus and any(f.name == "TensorFlow" and not f.installed for f in frameworks):
            pass  # said above: TensorFlow is not installed
        elif nvml_gpus:
            why = (
                "this TensorFlow is a CPU-only build"
                if tf_built_with_cuda is False
                else "TensorFlow cannot load its CUDA libraries"
            )
            notes.append(
                f"CPU only for TensorFlow: the driver sees {len(nvml_gpus)} NVIDIA GPU(s) but {why}; "
                f"install `pip install {GPU_EXTRA}` to get TensorFlow's CUDA packages."
            )
        else:
            notes.append("CPU only: no GPU visible to TensorFlow. Keras and .tflite runs use the CPU.")
    notes.append(TFLITE_ON_CPU_NOTE)
    if cpu.flags_read and not cpu.int8_dot_product:
        notes.append(
            "This CPU has no int8 dot-product instructions (VNNI/AMX): int8 models may not run "
            "faster than float32 ones here; measure."
        )
    return DeviceReport(
        cpu=cpu,
        tf_gpus=tuple(tf_gpus),
        nvml_gpus=tuple(nvml_gpus),
        tf_version=tf_version,
        tf_built_with_cuda=tf_built_with_cuda,
        nvml_status=nvml_status,
        notes=tuple(notes),
        frameworks=tuple(frameworks),
    )


def detect_devices(
    *,
    progress: Reporter,
    cancel: CancelToken,
    tf: Any = None,
    nvml: ModuleType | None = None,
    cpuinfo_text: str | None = None,
    smi: Any = None,
    jax: Any = None,
) -> DeviceReport:
    """The engine job behind `litesmith devices` (imports TensorFlow if installed: run it in the child).

    The driver's view: NVML (nvidia-ml-py), else `nvidia-smi` (`smi`: a function returning
    (gpus, status), for tests). JAX is asked in its own process (`jax`: a ready
    `core.gpu_probe.FrameworkView`, for tests). Without TensorFlow the rest is still reported.
    """
    progress(0.1, "reading the CPU", "devices")
    cpu = cpu_info(cpuinfo_text)
    cancel.raise_if_cancelled()
    progress(0.3, "asking TensorFlow", "devices")
    from core import gpu_probe

    import_error = ""
    if tf is None:
        try:
            from core.tf_runtime import import_tensorflow

            tf = import_tensorflow()
        except ImportError as exc:  # a GPU machine with JAX but no TensorFlow: still report the rest
            import_error = str(exc)
    cuinit: list[str] = []
    tf_gpus: list[GpuInfo] = []
    built_with_cuda: bool | None = None
    if tf is not None:
        with drop_stderr_lines(CUDA_PROBE_NOISE, dropped=cuinit):
            tf_gpus = tf_gpu_info(tf)
        try:
            built_with_cuda = bool(tf.test.is_built_with_cuda())
        except Exception:  # noqa: BLE001
            built_with_cuda = None
    cancel.raise_if_cancelled()
    progress(0.5, "asking the NVIDIA driver", "devices")
    nvml_gpus, nvml_status = nvml_gpu_info(nvml)
    if nvml is None and nvml_status == "not installed":
        nvml_gpus, nvml_status = smi() if smi is not None else gpu_probe.nvidia_smi_gpu_info()
    cancel.raise_if_cancelled()
    progress(0.7, "asking JAX (in its own process)", "devices")
    tf_version = str(getattr(tf, "__version__", "")) if tf is not None else ""
    frameworks = (
        gpu_probe.tensorflow_view(
            installed=tf is not None,
            version=tf_version,
            gpus=tf_gpus,
            built_with_cuda=built_with_cuda,
            cuinit_lines=cuinit,
            driver_gpus=len(nvml_gpus),
            import_error=import_error,
        ),
        jax if jax is not None else gpu_probe.probe_jax_view(cancel=cancel),
    )
    progress(1.0, "done", "devices")
    from core.engine.sandbox import applied_status

    report = build_report(
        cpu,
        tf_gpus,
        nvml_gpus,
        tf_version=tf_version,
        tf_built_with_cuda=built_with_cuda,
        nvml_status=nvml_status,
        frameworks=frameworks,
    )
    return dataclasses.replace(report, sandbox=applied_status())


CUDA_PROBE_NOISE = re.compile(r"^E\d{4} .*cuda_platform\.cc:\d+\] failed call to cuInit")


# --------------------------------------------------------------------------- choosing a GPU


def configure_gpu(
    index: int = 0, memory_limit_mb: int | None = None, *, tf: Any = None, only_this_gpu: bool = False
) -> str:
    """Choose GPU `index` for Keras runs and optionally cap its memory; returns its device string.

    Must run before TensorFlow initializes its devices (the first op): in a
    fresh engine child. `only_this_gpu` hides the other GPUs from TensorFlow.
    The cap uses `tf.config.set_logical_device_configuration` with one logical
    device of `memory_limit_mb` MiB.
    """
    if tf is None:
        from core.tf_runtime import import_tensorflow

        tf = import_tensorflow()
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        raise ValueError("no GPU visible to TensorFlow (CPU only; see `litesmith devices`)")
    if not 0 <= index < len(gpus):
        raise ValueError(f"there is no GPU {index}: TensorFlow sees {len(gpus)} GPU(s)")
    chosen = gpus[index]
    try:
        if only_this_gpu:
            tf.config.set_visible_devices([chosen], "GPU")
        if memory_limit_mb is not None:
            if memory_limit_mb <= 0:
                raise ValueError("the GPU memory cap must be > 0 MiB")
            tf.config.set_logical_device_configuration(
                chosen, [tf.config.LogicalDeviceConfiguration(memory_limit=int(memory_limit_mb))]
            )
    except RuntimeError as exc:
        raise RuntimeError(
            f"TensorFlow has already started its GPUs in this process, so GPU settings cannot change ({exc}); "
            "they apply to a fresh engine"
        ) from exc
    return "/GPU:0" if only_this_gpu else f"/GPU:{index}"


def gpu_device_string(device: str) -> tuple[str, int | None]:
    """("cpu", None) or ("gpu", index) from "/CPU:0", "gpu:1", "GPU", ..."""
    name = device.strip().lstrip("/").upper()
    if name.startswith("GPU"):
        _, _, number = name.partition(":")
        return "gpu", int(number) if number else 0
    return "cpu", None


def environment_summary() -> dict[str, str]:
    """{"python": version, "platform": platform.platform(), "pid": this process's id} as text."""
    return {"python": platform.python_version(), "platform": platform.platform(), "pid": str(os.getpid())}
