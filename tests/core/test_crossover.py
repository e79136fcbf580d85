"""The CPU-versus-GPU crossover on recorded timings, and GPU detection on recorded driver output:
pure functions, no GPU, no framework. Expected values are worked out by hand in the comments."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from core.benchmark.crossover import (
    CPU_TFLITE,
    KERAS_JAX_GPU,
    LITERT_GPU,
    BatchTiming,
    DeviceCurve,
    best_over_threads,
    build_result,
    crossover_batch,
    crossover_points,
    format_crossover,
)
from core.gpu_probe import FrameworkView, jax_view, nvidia_smi_gpu_info, parse_nvidia_smi, tensorflow_view


def curve(name, kind, ms: dict[int, float], **kw) -> DeviceCurve:
    return DeviceCurve(name, kind, True, timings=tuple(BatchTiming(b, runs=5, call_ms=v) for b, v in ms.items()), **kw)


# --------------------------------------------------------------------------- crossover


def test_crossover_is_the_first_batch_from_which_the_device_stays_faster():
    cpu = {1: 1.0, 8: 6.0, 64: 40.0, 512: 320.0}
    # GPU per call: 5 > 1 (slower), 7 > 6 (slower), 30 < 40 (faster), 100 < 320 (faster) -> from 64 on
    assert crossover_batch(cpu, {1: 5.0, 8: 7.0, 64: 30.0, 512: 100.0}) == 64
    # faster at 8, slower at 64, faster at 512: only "from 512 on" holds
    assert crossover_batch(cpu, {1: 5.0, 8: 5.0, 64: 41.0, 512: 100.0}) == 512
    # faster everywhere -> the smallest batch
    assert crossover_batch(cpu, {1: 0.5, 8: 1.0, 64: 2.0, 512: 3.0}) == 1
    # slower at the largest batch -> never
    assert crossover_batch(cpu, {1: 0.5, 8: 1.0, 64: 2.0, 512: 400.0}) is None
    # equal is not faster
    assert crossover_batch({4: 2.0}, {4: 2.0}) is None


def test_crossover_uses_only_batches_both_measured_and_finite():
    cpu = {1: 1.0, 8: 6.0, 64: 40.0}
    # 512 only on the GPU and 64 NaN on the GPU: the common finite batches are 1 and 8; faster at 8 only
    assert crossover_batch(cpu, {1: 2.0, 8: 5.0, 64: math.nan, 512: 1.0}) == 8
    assert crossover_batch(cpu, {}) is None


def test_best_thread_count_per_batch():
    timings = {
        1: [BatchTiming(1, call_ms=2.0), BatchTiming(8, call_ms=10.0)],
        4: [BatchTiming(1, call_ms=3.0), BatchTiming(8, call_ms=4.0)],
    }
    best = best_over_threads(timings)
    assert [(t.batch_size, t.call_ms, t.threads) for t in best] == [(1, 2.0, 1), (8, 4.0, 4)]
    failed = best_over_threads({1: [BatchTiming(2, error="too big")], 2: [BatchTiming(2, error="too big")]})
    assert len(failed) == 1 and not failed[0].ok and failed[0].error == "too big"


def test_points_speedup_and_reasons():
    cpu = curve(CPU_TFLITE, "cpu", {1: 1.0, 8: 6.0, 64: 40.0})
    gpu = curve(LITERT_GPU, "gpu", {1: 5.0, 8: 7.0, 64: 10.0}, fully_accelerated=True)
    never = curve(KERAS_JAX_GPU, "gpu", {1: 9.0, 8: 9.0, 64: 80.0})
    (p1, p2) = crossover_points([cpu, gpu, never])
    assert p1.batch_size == 64 and p1.speedup_at_largest == pytest.approx(4.0)  # 40 / 10
    assert p2.batch_size is None and p2.speedup_at_largest == pytest.approx(0.5)  # 40 / 80
    assert "CPU is faster at every batch size" in p2.reason


def test_no_gpu_is_a_state_with_reasons_not_an_error():
    cpu = curve(CPU_TFLITE, "cpu", {1: 1.0, 8: 6.0})
    missing = DeviceCurve(LITERT_GPU, "gpu", False, reason="no Vulkan loader (libvulkan.so.1) on this machine")
    result = build_result("m.tflite", (1, 8), [cpu, missing])
    assert not result.gpu_available and result.crossovers[0].batch_size is None
    assert any(note.startswith("No GPU") for note in result.notes)
    text = format_crossover(result)
    assert "not available: no Vulkan loader" in text and "crossover LiteRT GPU accelerator: none" in text
    # per-sample figures: 6 ms for 8 samples = 0.75 ms each, 8000/6 samples/s
    assert cpu.timings[1].per_sample_ms == pytest.approx(0.75) and cpu.timings[1].throughput == pytest.approx(8000 / 6)


# --------------------------------------------------------------------------- nvidia-smi

# Recorded from `nvidia-smi --query-gpu=... --format=csv,noheader,nounits` (values as KINDS.md reports the H200)
SMI_FULL = "NVIDIA H200, 143771, 1, 580.159.03, 0, 9.0\nNVIDIA RTX A6000, Ada, 49140, 20100, 550.54.15, [N/A], 8.6\n"
SMI_SHORT = "NVIDIA H200, 143771, 580.159.03, 37\n"


def test_parse_nvidia_smi_full_and_short():
    h200, rtx = parse_nvidia_smi(SMI_FULL)
    assert h200.name == "NVIDIA H200" and h200.memory_total_mb == 143771 and h200.memory_used_mb == 1
    assert h200.driver_version == "580.159.03" and h200.utilization_percent == 0 and h200.compute_capability == (9, 0)
    assert h200.source == "nvidia-smi" and (h200.index, rtx.index) == (0, 1)
    assert rtx.name == "NVIDIA RTX A6000, Ada" and rtx.utilization_percent is None and rtx.compute_capability == (8, 6)
    (short,) = parse_nvidia_smi(SMI_SHORT, short=True)
    assert short.utilization_percent == 37 and short.memory_used_mb is None and short.driver_version == "580.159.03"
    assert parse_nvidia_smi("No devices were found\n") == []


def test_nvidia_smi_fallbacks():
    calls = []

    def run(argv, **kw):
        calls.append(argv)
        # an old nvidia-smi refuses the full query (compute_cap), answers the short one
        if "compute_cap" in argv[1]:
            return SimpleNamespace(returncode=2, stdout="", stderr='Field "compute_cap" is not a valid field to query.')
        return SimpleNamespace(returncode=0, stdout=SMI_SHORT, stderr="")

    gpus, status = nvidia_smi_gpu_info(run=run, which=lambda name: "/usr/bin/nvidia-smi")
    assert status == "ok (nvidia-smi)" and gpus[0].name == "NVIDIA H200" and len(calls) == 2

    def failing(argv, **kw):
        return SimpleNamespace(
            returncode=9,
            stdout="NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.",
            stderr="",
        )

    gpus, status = nvidia_smi_gpu_info(run=failing, which=lambda name: "/usr/bin/nvidia-smi")
    assert gpus == [] and status.startswith("unavailable") and "communicate with the NVIDIA driver" in status
    assert nvidia_smi_gpu_info(which=lambda name: None)[1].startswith("not installed")


# --------------------------------------------------------------------------- why a framework sees no GPU


def test_tensorflow_view_reasons():
    assert tensorflow_view(installed=False, built_with_cuda=None).reason.startswith("not installed")
    assert "no CUDA build" in tensorflow_view(installed=True, built_with_cuda=False, driver_gpus=1).reason
    # recorded TensorFlow log lines for cuInit failures
    mismatch = (
        "E0000 00:00:1 12 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call to "
        "cuInit: CUDA_ERROR_SYSTEM_DRIVER_MISMATCH: system has unsupported display driver / cuda driver "
        "combination"
    )
    old_driver = (
        "E0000 00:00:1 12 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call "
        "to cuInit: CUDA driver version is insufficient for CUDA runtime version (35)"
    )
    for line in (mismatch, old_driver):
        view = tensorflow_view(installed=True, built_with_cuda=True, cuinit_lines=[line], driver_gpus=1)
        assert not view.sees_gpu and view.reason.startswith("driver mismatch"), view.reason
    sees = tensorflow_view(
        installed=True, version="2.21.0", gpus=[SimpleNamespace(name="/GPU:0")], built_with_cuda=True
    )
    assert sees.sees_gpu and sees.devices == ("/GPU:0",) and sees.reason == ""


def test_jax_view_from_status():
    status = SimpleNamespace(
        installed=True,
        gpu=False,
        version="0.11.2",
        devices=(),
        reason="this JAX has no CUDA backend (CPU-only jaxlib; install jax[cuda])",
    )
    view = jax_view(status)
    assert view == FrameworkView("JAX", True, False, "0.11.2", reason=status.reason)
    assert jax_view(SimpleNamespace(installed=False, gpu=False, reason="")).reason == "not installed"
