"""The GPU runners' "no GPU" paths on this (GPU-less) machine, for real: LiteRT's CompiledModel
asked for its GPU accelerator, Keras-on-JAX's child without JAX or without CUDA, TensorFlow
absent in `devices`, and `litesmith bench --devices`. The CPU CompiledModel path is checked
against Keras's own outputs. What runs on a real GPU is bench/gpu_check.sh."""

from __future__ import annotations

import contextlib
import glob
import io
import json
import textwrap
from types import SimpleNamespace

import numpy as np
import pytest

import core.cli.bench as bench_cli
from core.benchmark.crossover import KERAS_JAX_GPU, LITERT_GPU
from core.benchmark.keras_jax_child import measure_keras_jax, probe_jax, why_no_gpu
from core.benchmark.litert_gpu import CompiledModelAdapter, _vulkan_loader, gpu_start_reason, measure_litert
from core.cli.main import main
from core.engine import CancelToken, Engine, null_reporter
from tests.model_factory import dense_model, save_keras, save_tflite

HAS_GPU = bool(glob.glob("/dev/nvidia[0-9]*") or glob.glob("/dev/dri/renderD*")) and _vulkan_loader() is not None
no_gpu_here = pytest.mark.skipif(HAS_GPU, reason="this machine has a GPU and Vulkan: the no-GPU path is not taken")


@pytest.fixture(scope="module")
def dense(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gpu")
    model = dense_model()
    return SimpleNamespace(
        model=model, tflite=save_tflite(model, folder, "dense"), keras=save_keras(model, folder, "dense")
    )


def test_compiled_model_on_the_cpu_gives_keras_outputs_at_every_batch(dense):
    for batch in (1, 5, 16):  # each a fixed-batch copy of the model, with LiteRT's own buffers
        adapter = CompiledModelAdapter(dense.tflite, "cpu", threads=1, batch_size=batch)
        try:
            shapes = adapter.prepare()
            (name,) = shapes
            assert shapes[name][0] == (batch, 4)
            x = np.random.default_rng(batch).random(shapes[name][0], dtype=np.float32)
            adapter.write({name: x})
            adapter.run()
            (out,) = adapter.read().values()
            np.testing.assert_allclose(out, dense.model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
        finally:
            adapter.close()


@no_gpu_here
def test_litert_gpu_without_a_gpu_is_one_clear_line(dense):
    run = measure_litert(dense.tflite, "gpu", (1, 8), runs=2)
    assert not run.available and run.timings == () and run.fully_accelerated is None
    assert "\n" not in run.reason and run.reason.startswith(
        "LiteRT's GPU accelerator (WebGPU over Vulkan) did not start"
    )
    cpu = measure_litert(dense.tflite, "cpu", (1, 8), runs=2, warmup=0)
    assert cpu.available and [t.batch_size for t in cpu.timings] == [1, 8] and all(t.ok for t in cpu.timings)


def test_gpu_start_reason_from_recorded_litert_log():
    # stderr of CompiledModel.from_file(..., GPU) on a machine without libvulkan (ai_edge_litert 2.3)
    log = textwrap.dedent("""\
        INFO: [gpu_registry.cc:130] Attempting to load GPU accelerator(libLiteRtWebGpuAccelerator.so).
        WARNING: [compiler_plugin.cc:312] Failed to load plugin at: libLiteRtCompilerPlugin_IntelOpenvino.so
        \u2514 Could not load shared library libLiteRtCompilerPlugin_IntelOpenvino.so: libopenvino.so.2631: cannot open
        Warning: Couldn't load Vulkan: libvulkan.so.1: cannot open shared object file: No such file or directory
            at operator() (third_party/dawn/src/dawn/native/vulkan/BackendVk.cpp:368)
        ERROR: [delegate_webgpu.cc:359] Failed to initialize WebGPU environment: INTERNAL: No adapters found
        """).splitlines()
    reason = gpu_start_reason(
        "ERROR: [./litert/cc/litert_compiled_model.h:1961]", log, vulkan_loader=None, gpu_devices=[]
    )
    assert "no Vulkan loader (libvulkan.so.1)" in reason and "no GPU device" in reason
    assert "Couldn't load Vulkan" in reason and "No adapters found" in reason
    assert "openvino" not in reason.lower() and "operator()" not in reason
    with_gpu = gpu_start_reason("boom", [], vulkan_loader="libvulkan.so.1", gpu_devices=["/dev/nvidia0"])
    assert with_gpu.endswith("LiteRT says: boom")


def test_a_fixed_batch_model_refuses_other_batch_sizes(tmp_path):
    import keras

    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((4,), batch_size=1), keras.layers.Dense(2)])
    run = measure_litert(save_tflite(model, tmp_path, "fixed"), "cpu", (1, 4), runs=2, warmup=0)
    one, four = run.timings
    assert one.ok and not four.ok and "batch 4" in four.error


# --------------------------------------------------------------------------- Keras on JAX, own process


def test_jax_not_installed_here_is_a_state():
    status = probe_jax()
    if status.installed:
        pytest.skip("JAX is installed here")
    assert not status.gpu and status.reason.startswith("JAX is not installed")


def test_jax_without_cuda_child_says_so(tmp_path, monkeypatch, dense):
    # A stand-in for a CPU-only jaxlib: the error text is what JAX 0.4-0.11 raise for jax.devices("gpu")
    fake = tmp_path / "fakejax" / "jax"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        textwrap.dedent("""\
        import logging
        __version__ = "0.0.fake"
        def default_backend():
            logging.getLogger("jax._src.xla_bridge").warning(
                "An NVIDIA GPU may be present on this machine, but a CUDA-enabled jaxlib is not installed. "
                "Falling back to cpu.")
            return "cpu"
        def devices(kind=None):
            if kind == "gpu":
                raise RuntimeError("Unknown backend: 'gpu' requested, but no platforms that are instances of gpu "
                                   "are present. Platforms present are: cpu")
            return ["TFRT_CPU_0"]
        """)
    )
    monkeypatch.setenv("PYTHONPATH", str(fake.parent))
    status = probe_jax()
    assert status.installed and not status.gpu and status.version == "0.0.fake"
    assert "no CUDA backend" in status.reason
    curve = measure_keras_jax(dense.keras, (1, 8), runs=2)
    assert curve.name == KERAS_JAX_GPU and not curve.available and "no CUDA backend" in curve.reason


def test_why_no_gpu_on_recorded_jax_errors():
    assert why_no_gpu(
        "Unknown backend: 'gpu' requested, but no platforms that are instances of gpu are present. "
        "Platforms present are: cpu"
    ).startswith("this JAX has no CUDA backend")
    assert why_no_gpu("Unable to initialize backend 'cuda': FAILED_PRECONDITION: No visible GPU devices.").startswith(
        "JAX's CUDA backend found no GPU"
    )
    assert why_no_gpu(
        "Unable to initialize backend 'cuda': INTERNAL: no supported devices found for platform CUDA: "
        "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH"
    ).startswith("driver mismatch")


# --------------------------------------------------------------------------- devices without TensorFlow


def test_devices_without_tensorflow_still_reports_the_driver(monkeypatch):
    import core.tf_runtime
    from core.gpu_probe import FrameworkView, parse_nvidia_smi
    from core.hardware import detect_devices

    def no_tf():
        raise ModuleNotFoundError("No module named 'tensorflow'")

    monkeypatch.setattr(core.tf_runtime, "import_tensorflow", no_tf)
    monkeypatch.setitem(__import__("sys").modules, "pynvml", None)  # no nvidia-ml-py either
    smi = lambda: (parse_nvidia_smi("NVIDIA H200, 143771, 1, 580.159.03, 3, 9.0"), "ok (nvidia-smi)")  # noqa: E731
    jax = FrameworkView("JAX", True, True, "0.11.2", devices=("cuda:0 NVIDIA H200",))
    report = detect_devices(progress=null_reporter(), cancel=CancelToken(), smi=smi, jax=jax)
    assert report.nvml_status == "ok (nvidia-smi)" and report.nvml_gpus[0].utilization_percent == 3
    tf_view = report.frameworks[0]
    assert tf_view.name == "TensorFlow" and not tf_view.installed and report.tf_version == ""
    assert report.state == "GPU for JAX (TensorFlow: CPU only)"
    assert any(n.startswith("TensorFlow sees no GPU: not installed") for n in report.notes)
    from core.cli.devices import format_report

    text = format_report(report)
    assert "TensorFlow not installed" in text and "3% busy" in text and "cuda:0 NVIDIA H200" in text


# --------------------------------------------------------------------------- litesmith bench --devices


def test_bench_devices_cli_prints_the_table_and_writes_the_crossover(dense, monkeypatch):
    monkeypatch.setattr(bench_cli, "make_engine", lambda args: Engine(isolated=False))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(
            [
                "bench",
                str(dense.tflite),
                "--devices",
                "cpu,gpu",
                "--batch",
                "1,4",
                "--runs",
                "3",
                "--warmup",
                "0",
                "--threads",
                "1",
                "--json",
            ]
        )
    assert code == 0
    doc = json.loads(out.getvalue())
    crossover = doc["crossover"]
    names = [c["name"] for c in crossover["curves"]]
    assert names == ["cpu-tflite", LITERT_GPU] and crossover["batch_sizes"] == [1, 4]
    cpu = crossover["curves"][0]
    assert cpu["available"] and [t["batch_size"] for t in cpu["timings"]] == [1, 4]
    assert cpu["timings"][1]["per_sample_ms"] == pytest.approx(cpu["timings"][1]["call_ms"] / 4)
    if not HAS_GPU:
        assert not crossover["gpu_available"] and crossover["crossovers"][0]["batch_size"] is None
    assert "no Keras model given" in " ".join(crossover["notes"])
    assert main(["bench", str(dense.tflite), "--devices", "tpu"]) == 2
