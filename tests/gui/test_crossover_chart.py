"""The results' "CPU vs GPU" page on recorded crossover results: the lines drawn, the crossover
mark, and "No GPU" as a state in words (not an error)."""

from __future__ import annotations

import pytest

from core.benchmark.crossover import CPU_TFLITE, KERAS_JAX_GPU, LITERT_GPU, BatchTiming, DeviceCurve, build_result
from gui.widgets.crossover_chart import IDLE_TEXT, CrossoverPage


def curve(name, kind, ms, **kw):
    return DeviceCurve(name, kind, True, timings=tuple(BatchTiming(b, runs=5, call_ms=v) for b, v in ms.items()), **kw)


def test_page_draws_each_device_and_marks_the_crossover(qtbot):
    page = CrossoverPage()
    qtbot.addWidget(page)
    cpu = curve(CPU_TFLITE, "cpu", {1: 1.0, 8: 6.0, 64: 40.0})
    gpu = curve(LITERT_GPU, "gpu", {1: 5.0, 8: 7.0, 64: 10.0}, fully_accelerated=False)
    jax = DeviceCurve(KERAS_JAX_GPU, "gpu", False, reason="JAX is not installed")
    page.set_result(build_result("m.tflite", (1, 8, 64), [cpu, gpu, jax]))
    # ms per sample: CPU 1/1, 6/8, 40/64; GPU 5/1, 7/8, 10/64
    xs, ys = page.lines[cpu.title]
    assert xs == [1, 8, 64] and ys == pytest.approx([1.0, 0.75, 0.625])
    assert page.lines[gpu.title][1] == pytest.approx([5.0, 0.875, 0.15625])
    assert jax.title not in page.lines and page.marks == {gpu.title: 64}
    text = page.state.text()
    assert "beats the CPU from batch 64" in text and "not fully accelerated" in text and "JAX is not installed" in text
    assert "No GPU" not in text


def test_no_gpu_is_a_state_and_the_button_asks(qtbot):
    page = CrossoverPage()
    qtbot.addWidget(page)
    assert page.state.text() == IDLE_TEXT
    with qtbot.waitSignal(page.measure_requested, timeout=1000):
        page.button.click()
    page.set_running()
    assert not page.button.isEnabled()
    cpu = curve(CPU_TFLITE, "cpu", {1: 1.0, 8: 6.0})
    missing = DeviceCurve(LITERT_GPU, "gpu", False, reason="no Vulkan loader (libvulkan.so.1) on this machine")
    page.set_result(build_result("m.tflite", (1, 8), [cpu, missing]))
    assert page.button.isEnabled() and list(page.lines) == [cpu.title] and page.marks == {}
    assert "No GPU" in page.state.text() and "libvulkan.so.1" in page.state.text()
    page.clear()
    assert page.lines == {} and page.state.text() == IDLE_TEXT
