"""Hardware detection with fake /proc/cpuinfo, fake TensorFlow device lists and a fake NVML: no GPU needed."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from core.benchmark.runners import check_device
from core.engine import CancelToken, null_reporter
from core.hardware import (
    GPU_EXTRA,
    build_report,
    configure_gpu,
    cpu_info,
    detect_devices,
    gpu_device_string,
    nvml_gpu_info,
    parse_cpuinfo,
    tf_gpu_info,
)

X86_CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse4_2 avx avx2 fma f16c avx512f avx512bw avx512_vnni avx512_bf16 amx_tile amx_int8 amx_bf16
processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu
"""
OLD_X86 = "model name\t: Old CPU\nflags\t\t: fpu sse4_2 avx avx2 fma\n"
ARM_CPUINFO = "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd asimddp i8mm sve\nCPU implementer\t: 0x41\n"


def test_parse_cpuinfo_x86_takes_the_first_processor():
    model, flags = parse_cpuinfo(X86_CPUINFO)
    assert model == "Intel(R) Xeon(R) Platinum 8480+"
    assert {"avx2", "avx512_vnni", "amx_tile"} <= flags


def test_cpu_info_features():
    info = cpu_info(X86_CPUINFO)
    for name in ("AVX2", "AVX-512F", "AVX-512 VNNI", "AMX", "AMX-INT8"):
        assert info.has(name)
    assert info.int8_dot_product and info.flags_read
    assert info.logical_cores >= 1


def test_cpu_info_arm_and_old_and_unreadable():
    arm = cpu_info(ARM_CPUINFO)
    assert {"NEON", "Arm dot product", "Arm I8MM", "SVE"} <= set(arm.features) and arm.int8_dot_product
    old = cpu_info(OLD_X86)
    assert old.features == ("SSE4.2", "AVX", "AVX2", "FMA") and not old.int8_dot_product
    empty = cpu_info("")
    assert not empty.flags_read and empty.features == ()


def test_cpu_info_reads_this_machine():
    info = cpu_info()
    assert info.model and info.logical_cores >= 1


# --------------------------------------------------------------------------- fake TensorFlow


class FakeConfig:
    def __init__(self, gpus, details, initialized=False):
        self._gpus = gpus
        self._details = details
        self.initialized = initialized
        self.calls = []
        self.experimental = SimpleNamespace(get_device_details=lambda d: self._details[d.name])
        self.LogicalDeviceConfiguration = lambda memory_limit: ("logical", memory_limit)

    def list_physical_devices(self, kind):
        return list(self._gpus) if kind == "GPU" else []

    def list_logical_devices(self, kind):
        return [SimpleNamespace(name=f"/device:GPU:{i}") for i in range(len(self._gpus))] if kind == "GPU" else []

    def set_logical_device_configuration(self, device, configs):
        if self.initialized:
            raise RuntimeError("Virtual devices cannot be modified after being initialized")
        self.calls.append(("logical", device.name, configs))

    def set_visible_devices(self, devices, kind):
        self.calls.append(("visible", [d.name for d in devices], kind))


def fake_tf(n_gpus=2, cuda=True, initialized=False):
    gpus = [SimpleNamespace(name=f"/physical_device:GPU:{i}", device_type="GPU") for i in range(n_gpus)]
    details = {g.name: {"device_name": f"NVIDIA H100 #{i}", "compute_capability": (9, 0)} for i, g in enumerate(gpus)}
    return SimpleNamespace(
        config=FakeConfig(gpus, details, initialized),
        __version__="2.21.0",
        test=SimpleNamespace(is_built_with_cuda=lambda: cuda),
    )


def test_tf_gpu_info_from_fake_device_list():
    gpus = tf_gpu_info(fake_tf(2))
    assert [g.device for g in gpus] == ["/GPU:0", "/GPU:1"]
    assert gpus[1].name == "NVIDIA H100 #1" and gpus[1].compute_capability == (9, 0) and gpus[0].source == "tensorflow"
    assert tf_gpu_info(fake_tf(0)) == []


# --------------------------------------------------------------------------- fake NVML


class FakeNvml:
    def __init__(self, count=1, fail_init=None):
        self.count = count
        self.fail_init = fail_init
        self.shutdown = False

    def nvmlInit(self):
        if self.fail_init:
            raise self.fail_init

    def nvmlShutdown(self):
        self.shutdown = True

    def nvmlSystemGetDriverVersion(self):
        return b"550.54.15"

    def nvmlSystemGetCudaDriverVersion(self):
        return 12040

    def nvmlDeviceGetCount(self):
        return self.count

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetName(self, handle):
        return "NVIDIA H200"

    def nvmlDeviceGetMemoryInfo(self, handle):
        return SimpleNamespace(total=141 * 2**30, used=2**30, free=140 * 2**30)

    def nvmlDeviceGetCudaComputeCapability(self, handle):
        return (9, 0)


def test_nvml_gpu_info_with_fake_module():
    nvml = FakeNvml(count=2)
    gpus, status = nvml_gpu_info(nvml)
    assert status == "ok" and len(gpus) == 2 and nvml.shutdown
    assert gpus[0].name == "NVIDIA H200" and gpus[0].driver_version == "550.54.15"
    assert gpus[0].memory_total_mb == pytest.approx(141 * 1024) and gpus[0].cuda_driver_version == "12.4"
    assert gpus[0].compute_capability == (9, 0) and gpus[0].source == "nvml"


def test_nvml_without_driver():
    gpus, status = nvml_gpu_info(FakeNvml(fail_init=RuntimeError("NVML Shared Library Not Found")))
    assert gpus == [] and status.startswith("unavailable") and "Not Found" in status


def test_nvml_not_installed(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` fail
    assert nvml_gpu_info() == ([], "not installed")


# --------------------------------------------------------------------------- the report


def test_report_cpu_only_explains_tflite_on_cpu():
    report = build_report(cpu_info(OLD_X86), [], [], tf_built_with_cuda=False, nvml_status="not installed")
    assert report.cpu_only and report.state == "CPU only"
    text = " ".join(report.notes)
    assert "CPU only" in text and ".tflite models run on the CPU" in text and "VNNI" in text


def test_report_driver_sees_gpu_but_tensorflow_does_not_suggests_gpu_extra():
    nvml_gpus, _ = nvml_gpu_info(FakeNvml())
    report = build_report(cpu_info(X86_CPUINFO), [], nvml_gpus, tf_built_with_cuda=True)
    assert report.cpu_only
    assert any(GPU_EXTRA in note for note in report.notes)


def test_detect_devices_with_fakes():
    report = detect_devices(
        progress=null_reporter(), cancel=CancelToken(), tf=fake_tf(1), nvml=FakeNvml(), cpuinfo_text=X86_CPUINFO
    )
    assert not report.cpu_only and report.state == "1 GPU(s) for TensorFlow"
    assert report.tf_gpus[0].name == "NVIDIA H100 #1".replace("#1", "#0")
    assert report.nvml_gpus[0].memory_total_mb > 0 and report.tf_version == "2.21.0" and report.tf_built_with_cuda
    assert not any("CPU only" in note for note in report.notes)


def test_detect_devices_real_tensorflow_here():
    """Against what TensorFlow and the OS say themselves (not the report's own fields)."""
    import os

    from core.tf_runtime import import_tensorflow

    report = detect_devices(progress=null_reporter(), cancel=CancelToken())
    tf = import_tensorflow()
    physical = tf.config.list_physical_devices("GPU")
    assert report.cpu.logical_cores == os.cpu_count()
    assert [g.device for g in report.tf_gpus] == [f"/GPU:{i}" for i in range(len(physical))]
    assert report.cpu_only is (not physical)
    assert report.state == ("CPU only" if not physical else f"{len(physical)} GPU(s) for TensorFlow")
    assert report.tf_version == tf.__version__


# --------------------------------------------------------------------------- choosing a GPU


def test_configure_gpu_caps_memory():
    tf = fake_tf(2)
    assert configure_gpu(1, 4096, tf=tf) == "/GPU:1"
    assert tf.config.calls == [("logical", "/physical_device:GPU:1", [("logical", 4096)])]


def test_configure_gpu_only_this_one():
    tf = fake_tf(2)
    assert configure_gpu(1, None, tf=tf, only_this_gpu=True) == "/GPU:0"
    assert tf.config.calls == [("visible", ["/physical_device:GPU:1"], "GPU")]


def test_configure_gpu_errors():
    with pytest.raises(ValueError, match="CPU only"):
        configure_gpu(0, 1024, tf=fake_tf(0))
    with pytest.raises(ValueError, match="no GPU 3"):
        configure_gpu(3, 1024, tf=fake_tf(2))
    with pytest.raises(RuntimeError, match="fresh engine"):
        configure_gpu(0, 1024, tf=fake_tf(1, initialized=True))


def test_gpu_device_string_and_check_device():
    assert gpu_device_string("/GPU:1") == ("gpu", 1)
    assert gpu_device_string("gpu") == ("gpu", 0)
    assert gpu_device_string("/CPU:0") == ("cpu", None)
    check_device("/GPU:1", fake_tf(2))  # visible: fine
    check_device("/CPU:0", fake_tf(0))
    with pytest.raises(ValueError, match="no /GPU:2"):
        check_device("/GPU:2", fake_tf(2))


def test_benchmark_applies_gpu_choice_and_cap_before_loading(monkeypatch):
    import core.hardware as hardware
    from core.benchmark.measure import _prepare_device
    from core.benchmark.results import BenchConfig

    import core.benchmark.runners as runners

    monkeypatch.setattr(runners, "check_device", lambda device, tf=None: None)  # as if the GPU were there
    calls = []
    monkeypatch.setattr(hardware, "configure_gpu", lambda index, cap: calls.append((index, cap)) or f"/GPU:{index}")
    device, notes = _prepare_device(BenchConfig(device="/GPU:1", gpu_memory_limit_mb=512), null_reporter())
    assert device == "/GPU:1" and calls == [(1, 512)] and "512 MiB" in notes[0]
    assert _prepare_device(BenchConfig(), null_reporter()) == ("/CPU:0", [])

    def too_late(index, cap):
        raise RuntimeError("TensorFlow has already started its GPUs; they apply to a fresh engine")

    monkeypatch.setattr(hardware, "configure_gpu", too_late)
    events = []
    from core.engine import Reporter

    device, notes = _prepare_device(BenchConfig(device="/GPU:0", gpu_memory_limit_mb=512), Reporter(events.append))
    assert device == "/GPU:0" and "fresh engine" in notes[0]
    assert any(getattr(e, "level", "") == "warning" for e in events)


def test_benchmark_refuses_a_gpu_tensorflow_cannot_see(monkeypatch):
    import core.benchmark.tf_runners as tf_runners
    from core.benchmark.measure import _prepare_device
    from core.benchmark.results import BenchConfig
    from core.errors import BadInputError

    monkeypatch.setattr(tf_runners, "import_tensorflow", lambda: fake_tf(0))
    with pytest.raises(BadInputError, match="no /GPU:0"):
        _prepare_device(BenchConfig(device="/GPU:0"), null_reporter())
