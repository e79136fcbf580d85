"""The one Keras-on-a-GPU timing loop (`core.benchmark.keras_timing.time_predict`) and its two users.

* The loop itself, with a fake clock that each recorded step moves by its own amount: the cold
  call, the warm-up and every (copy, call) round are where the module docstring says, and the
  medians are the hand-computed ones.
* Keras on TensorFlow (`gpu_sweep.keras_tf_gpu_curve`) runs it on the CPU device of this machine
  (TensorFlow's device scope and copy are real; no timing value is asserted).
* Keras on JAX (`keras_jax_child`) runs it in its own process, against stand-in `jax` and `keras`
  packages on PYTHONPATH that count the calls: the counts match runs and warm-up by hand. The model
  is loaded the engine's way (safety checks, `safe_mode`, the load patches); a file the checks
  refuse never reaches the stand-in Keras.
"""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

import core.benchmark.keras_timing as keras_timing
from core.benchmark.crossover import KERAS_JAX_GPU, KERAS_TF_GPU
from core.benchmark.keras_timing import time_predict
from core.engine import CancelToken
from tests.core.fake_clock import FakeClock
from tests.model_factory import dense_model, rezip, save_keras


def test_loop_times_copy_and_call_apart_and_takes_medians(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(keras_timing, "perf_counter", clock)
    call_seconds = iter([0.5, 0.1, 0.1, 0.004, 0.001, 0.002])  # cold, 2 warm-up, then 3 measured calls
    copy_seconds = iter([0.0003, 0.0001, 0.0002])
    scopes: list[str] = []

    class Scope:
        def __enter__(self):
            scopes.append("in")

        def __exit__(self, *exc):
            scopes.append("out")

    timing = time_predict(
        16,
        lambda: clock.step("call", next(call_seconds)),
        lambda: clock.step("copy", next(copy_seconds)),
        runs=3,
        warmup=2,
        scope=Scope,
    )
    assert scopes == ["in", "out"]
    assert clock.log == ["call"] * 3 + ["copy", "call"] * 3
    assert timing.batch_size == 16 and timing.runs == 3 and timing.error == ""
    assert timing.cold_ms == pytest.approx(500.0)
    assert timing.call_ms == pytest.approx(2.0)  # median of 4, 1, 2 ms
    assert timing.write_ms == pytest.approx(0.2)  # median of 0.3, 0.1, 0.2 ms
    assert timing.ok and timing.per_sample_ms == pytest.approx(2.0 / 16)


def test_a_failing_batch_is_its_error_line_and_runs_is_at_least_one(monkeypatch):
    def out_of_memory():
        raise RuntimeError("RESOURCE_EXHAUSTED: OOM when allocating tensor\nsecond line")

    timing = time_predict(64, out_of_memory, lambda: None, runs=5, warmup=1)
    assert timing.error == "RESOURCE_EXHAUSTED: OOM when allocating tensor" and not timing.ok
    assert np.isnan(timing.call_ms)
    calls: list[int] = []
    assert time_predict(1, lambda: calls.append(1), lambda: None, runs=0, warmup=0).runs == 1
    assert len(calls) == 2  # the cold call and one measured call


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    return save_keras(dense_model(), tmp_path_factory.mktemp("kt"), "dense")


def test_keras_on_tensorflow_runs_the_shared_loop_on_the_cpu_device(keras_file):
    from core.benchmark.gpu_sweep import keras_tf_gpu_curve
    from core.tf_runtime import import_tensorflow

    curve = keras_tf_gpu_curve(
        str(keras_file), (1, 4), tf=import_tensorflow(), device="/CPU:0", runs=2, warmup=0, cancel=CancelToken()
    )
    assert curve.name == KERAS_TF_GPU and curve.available
    assert [(t.batch_size, t.runs, t.error) for t in curve.timings] == [(1, 2, ""), (4, 2, "")]
    assert all(t.ok and t.write_ms >= 0 and t.cold_ms > 0 for t in curve.timings)


FAKE_JAX = """\
import json, os
__version__ = "0.0.fake"
def _count(kind):
    path = os.environ["FAKE_COUNTS"]
    counts = json.load(open(path)) if os.path.exists(path) else {}
    counts[kind] = counts.get(kind, 0) + 1
    json.dump(counts, open(path, "w"))
class _Device:
    device_kind = "Fake GPU"
    def __str__(self):
        return "cuda:0"
def default_backend():
    return "gpu"
def devices(kind=None):
    return [_Device()]
class _Array:
    def block_until_ready(self):
        return self
def device_put(array, device):
    _count("copy")
    return _Array()
"""

FAKE_KERAS = """\
import jax
__version__ = "3.fake"
class _Input:
    def __init__(self, name, shape):
        self.name, self.shape, self.dtype = name, shape, "float32"
class _Model:
    inputs = [_Input("a", (None, 4)), _Input("b", (None, 2))]
    def predict_on_batch(self, x):
        jax._count("call_b%d" % len(x[0]))
        return x[0]
Model = _Model
class saving:
    @staticmethod
    def custom_object_scope(objects):
        import contextlib
        return contextlib.nullcontext()
class models:
    @staticmethod
    def load_model(path, safe_mode=True, compile=False, custom_objects=None):
        assert safe_mode
        from keras.src.saving import saving_lib
        assert saving_lib.is_memory_sufficient(None)  # loaded under the engine's patches
        return _Model()
"""

# the private module whose functions `core.models.loading` patches for every load
FAKE_SAVING_LIB = """def is_memory_sufficient(model):
    return False
def get_temp_dir():
    raise AssertionError("a load must not extract beside the model")
"""


def _fake_jax_and_keras(tmp_path, monkeypatch):
    """Stand-in `jax` and `keras` on the child's PYTHONPATH; returns the file their calls are counted in."""
    packages = tmp_path / "fakes"
    files = {
        "jax/__init__.py": FAKE_JAX,
        "keras/__init__.py": FAKE_KERAS,
        "keras/src/__init__.py": "",
        "keras/src/saving/__init__.py": "",
        "keras/src/saving/saving_lib.py": FAKE_SAVING_LIB,
    }
    for name, text in files.items():
        (packages / name).parent.mkdir(parents=True, exist_ok=True)
        (packages / name).write_text(textwrap.dedent(text))
    counts = tmp_path / "counts.json"
    monkeypatch.setenv("PYTHONPATH", str(packages))
    monkeypatch.setenv("FAKE_COUNTS", str(counts))
    return counts


def test_keras_on_jax_child_runs_the_shared_loop_and_counts_by_hand(tmp_path, monkeypatch, keras_file):
    from core.benchmark.keras_jax_child import measure_keras_jax

    counts = _fake_jax_and_keras(tmp_path, monkeypatch)
    curve = measure_keras_jax(keras_file, (1, 3), runs=4, warmup=2)
    assert curve.name == KERAS_JAX_GPU and curve.available, curve.reason
    assert curve.device == "cuda:0 Fake GPU"
    assert [(t.batch_size, t.runs, t.error) for t in curve.timings] == [(1, 4, ""), (3, 4, "")]
    assert all(t.ok and t.write_ms >= 0 for t in curve.timings)
    # per batch size: 1 cold + 2 warm-up + 4 measured calls; 4 rounds x 2 inputs copied
    assert json.loads(counts.read_text()) == {"call_b1": 7, "call_b3": 7, "copy": 16}


def test_keras_on_jax_child_refuses_what_the_safety_checks_refuse(tmp_path, monkeypatch, keras_file):
    """A .keras with a member named outside its archive is refused before (the stand-in) Keras loads it."""
    from core.benchmark.keras_jax_child import measure_keras_jax

    counts = _fake_jax_and_keras(tmp_path, monkeypatch)
    bad = rezip(keras_file, tmp_path / "unsafe.keras", extra={"../escape.txt": b"x"})
    curve = measure_keras_jax(bad, (1,), runs=1, warmup=0)
    assert not curve.available and "unsafe member name" in curve.reason, curve.reason
    assert not counts.exists()  # no call reached the model
