"""Benchmark runners, the measuring loop, streaming, cancel, recommendation and explanations.

No timing is asserted: the machine running the tests is shared. A `FakeRunner`
makes the loop deterministic; real LiteRT/Keras runs use a tiny model.
"""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from core.benchmark import (
    BenchConfig,
    BenchmarkResult,
    ConfigResult,
    DelegationInfo,
    KerasRunner,
    LiteRTRunner,
    SAMPLES_KIND,
    benchmark_model,
    benchmark_variants,
    compute_stats,
    measure_config,
    measure_tflite,
    recommend,
    sweep,
)
from core.benchmark.explain import describe_delegation, explain
from core.benchmark.runners import BatchSizeUnsupported, InputSpec, classify_tflite, random_inputs
from core.benchmark.sweep import DataFeed, PeakMemory, config_label
from core.engine import CancelToken, Engine, ErrorEvent, PartialEvent, Reporter, ResultEvent, null_reporter
from core.errors import Cancelled, ErrorKind
from core.models.interface import ModelInterface, TensorSpec


# --------------------------------------------------------------------------- helpers


class FakeRunner:
    """A runner that does no work; can cancel a token after a number of calls."""

    name = "litert"
    uses_threads = True

    def __init__(self, variant="fp32", cancel_after=None, token=None, unsupported_batches=()):
        self.variant = variant
        self.calls = 0
        self.prepared = []
        self.closed = False
        self._cancel_after = cancel_after
        self._token = token
        self._unsupported = set(unsupported_batches)
        self._batch = 1

    def prepare(self, batch_size, threads):
        if batch_size in self._unsupported:
            raise BatchSizeUnsupported(f"batch {batch_size} not supported")
        self.prepared.append((batch_size, threads))
        self._batch = batch_size

    def input_specs(self):
        return [InputSpec("x", (self._batch, 3), "float32")]

    def feed_interface(self):
        return ModelInterface(
            inputs=(TensorSpec(shape=(None, 3), name="x"),),
            outputs=(TensorSpec(shape=(None, 3), name="y", role="output"),),
        )

    interface = property(feed_interface)

    def set_sample_shapes(self, shapes):
        self.shapes = dict(shapes)

    def sample_shapes(self):
        return {"x": (3,)}

    def make_inputs(self, rng):
        return random_inputs(self.input_specs(), rng)

    def run_once(self, inputs):
        self.calls += 1
        if self._cancel_after is not None and self.calls >= self._cancel_after:
            self._token.cancel()
        return inputs

    def close(self):
        self.closed = True


def collecting_reporter():
    events = []
    return Reporter(events.append), events


def partials(events):
    return [e.payload for e in events if isinstance(e, PartialEvent) and e.kind == SAMPLES_KIND]


def make_result(label, p99, throughput, batch=1, threads=1, variant="fp32", runner="litert", p50=None, error=""):
    mean = batch * 1000.0 / throughput
    p50 = mean if p50 is None else p50
    stats = compute_stats([p50], batch_size=batch)
    stats = type(stats)(
        n=100,
        p50=p50,
        p90=p50,
        p99=p99,
        p999=p99,
        mean=mean,
        std=0.0,
        min=p50,
        max=p99,
        cold_ms=p99,
        batch_size=batch,
        throughput=throughput,
    )
    return ConfigResult(label, runner, variant, batch, threads, stats, 100.0, 1.0, "vmhwm", (), error)


# --------------------------------------------------------------------------- fixtures: a tiny model


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    from core.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    import keras

    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(512, activation="relu"),  # big enough for the converter to quantize
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    folder = tmp_path_factory.mktemp("tiny")
    keras_path = folder / "tiny.keras"
    model.save(keras_path)
    fp32 = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    dynamic = converter.convert()
    tflite_path = folder / "tiny.tflite"
    tflite_path.write_bytes(fp32)
    return {"model": model, "keras_path": keras_path, "fp32": fp32, "dynamic": dynamic, "tflite_path": tflite_path}


FAST = BenchConfig(runs=5, warmup=1)


# --------------------------------------------------------------------------- config


def test_config_validation():
    with pytest.raises(ValueError):
        BenchConfig(runs=5, seconds=1.0)
    with pytest.raises(ValueError):
        BenchConfig(threads=(0,))
    with pytest.raises(ValueError):
        BenchConfig(batch_sizes=())
    with pytest.raises(ValueError):
        BenchConfig(keras_modes=("turbo",))
    with pytest.raises(ValueError):
        BenchConfig(budget_ms=0)
    assert BenchConfig().time_budget_s == 2.0
    assert BenchConfig(runs=3).time_budget_s is None
    assert BenchConfig(threads=[1, 2]).threads == (1, 2)


# --------------------------------------------------------------------------- measuring loop


def _can_reset_high_water_mark() -> bool:
    """Whether this process may reset its kernel RSS high-water mark (Linux: write "5" to clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        with open("/proc/self/status") as f:
            return any(line.startswith("VmHWM:") for line in f)
    except OSError:
        return False


def test_measure_config_counts_runs_and_keeps_cold_apart():
    runner = FakeRunner()
    config = BenchConfig(runs=20, warmup=3, keep_samples=True)
    result = measure_config(
        runner, batch_size=4, threads=2, config=config, progress=null_reporter(), cancel=CancelToken()
    )
    assert runner.calls == 1 + 3 + 20  # cold + warm-up + measured
    assert result.stats.n == 20 and len(result.samples_ms) == 20
    assert result.batch_size == 4 and result.threads == 2
    assert result.label == "fp32 b4 t2"
    assert not math.isnan(result.stats.cold_ms)
    assert result.memory_method == ("vmhwm" if _can_reset_high_water_mark() else "sampled")
    assert result.peak_rss_mb > 0


def test_measure_config_time_budget_takes_at_least_min_runs():
    runner = FakeRunner()
    config = BenchConfig(seconds=0.05, warmup=0, min_runs=7)
    result = measure_config(
        runner, batch_size=1, threads=1, config=config, progress=null_reporter(), cancel=CancelToken()
    )
    assert result.stats.n >= 7
    assert result.samples_ms == ()  # raw samples only when asked


def test_streaming_sends_every_sample_once_in_order():
    reporter, events = collecting_reporter()
    config = BenchConfig(runs=500, warmup=0, keep_samples=True)
    result = measure_config(
        FakeRunner(), batch_size=2, threads=1, config=config, progress=reporter, cancel=CancelToken()
    )
    payloads = partials(events)
    assert payloads, "samples must be streamed"
    streamed = [s for p in payloads for s in p["samples_ms"]]
    assert streamed == list(result.samples_ms)
    starts = [p["start"] for p in payloads]
    assert starts == sorted(starts) and starts[0] == 0
    assert payloads[-1]["final"] is True and all(not p["final"] for p in payloads[:-1])
    assert {p["config"] for p in payloads} == {"fp32 b2 t1"}
    assert payloads[0]["batch_size"] == 2 and payloads[0]["threads"] == 1


def test_streaming_is_batched_not_one_event_per_sample():
    reporter, events = collecting_reporter()
    config = BenchConfig(runs=5000, warmup=0)
    measure_config(FakeRunner(), batch_size=1, threads=1, config=config, progress=reporter, cancel=CancelToken())
    payloads = partials(events)
    # The throttle allows one event per 1/30 s; 5000 no-op calls take far less than the
    # ~166 s it would take to earn one event per sample.
    assert len(payloads) < 5000 / 10
    assert sum(len(p["samples_ms"]) for p in payloads) == 5000


def test_sweep_covers_batches_and_threads_in_order():
    runner = FakeRunner()
    reporter, events = collecting_reporter()
    config = BenchConfig(threads=(1, 2), batch_sizes=(1, 8), runs=3, warmup=0)
    results = sweep([runner], config, progress=reporter, cancel=CancelToken())
    assert [(r.batch_size, r.threads) for r in results] == [(1, 1), (1, 2), (8, 1), (8, 2)]
    assert runner.prepared == [(1, 1), (1, 2), (8, 1), (8, 2)]
    assert runner.closed
    finals = [p["config"] for p in partials(events) if p["final"]]
    assert finals == [r.label for r in results]


def test_sweep_runner_without_threads_runs_once_per_batch():
    runner = FakeRunner()
    runner.uses_threads = False
    runner.name = "keras-predict"
    results = sweep(
        [runner],
        BenchConfig(threads=(1, 2, 4), batch_sizes=(1, 2), runs=2, warmup=0),
        progress=null_reporter(),
        cancel=CancelToken(),
    )
    assert [(r.batch_size, r.threads) for r in results] == [(1, None), (2, None)]
    assert results[0].label == "keras-predict b1"


def test_sweep_records_unsupported_batch_and_goes_on():
    runner = FakeRunner(unsupported_batches={8})
    results = sweep(
        [runner], BenchConfig(batch_sizes=(1, 8, 2), runs=2, warmup=0), progress=null_reporter(), cancel=CancelToken()
    )
    assert [r.ok for r in results] == [True, False, True]
    assert "batch 8" in results[1].error


def test_sweep_records_a_runner_that_fails_to_start_and_goes_on():
    class Broken(FakeRunner):
        def run_once(self, inputs):
            if self._batch == 4:
                raise RuntimeError("Node number 19 (DEPTHWISE_CONV_2D) failed to prepare.")
            return super().run_once(inputs)

    reporter, events = collecting_reporter()
    results = sweep(
        [Broken()], BenchConfig(batch_sizes=(4, 1), runs=2, warmup=0), progress=reporter, cancel=CancelToken()
    )
    assert [r.ok for r in results] == [False, True]
    assert "RuntimeError: Node number 19" in results[0].error
    assert any(getattr(e, "level", "") == "warning" for e in events)
    assert [p["final"] for p in partials(events) if p["config"] == results[0].label] == [True]


def test_cancel_mid_benchmark_stops_the_loop():
    token = CancelToken()
    runner = FakeRunner(cancel_after=50, token=token)
    config = BenchConfig(runs=10**9, warmup=0)  # would never finish on its own
    with pytest.raises(Cancelled):
        sweep([runner], config, progress=null_reporter(), cancel=token)
    assert runner.calls == 50  # checked before every call
    assert runner.closed


def test_cancel_from_another_thread_through_the_engine():
    """The GUI's way: cancel the job handle once samples are streaming."""
    with Engine(isolated=False) as engine:
        handle = engine.submit(_endless_fake_benchmark)
        outcome = None
        for event in handle.events():
            if isinstance(event, PartialEvent) and not handle.cancel_requested:
                threading.Thread(target=handle.cancel).start()
            if isinstance(event, (ResultEvent, ErrorEvent)):
                outcome = event
        assert isinstance(outcome, ErrorEvent)
        assert outcome.error.kind == ErrorKind.CANCELLED


def _endless_fake_benchmark(*, progress, cancel):
    config = BenchConfig(runs=10**9, warmup=0)
    return sweep([FakeRunner()], config, progress=progress, cancel=cancel)


def test_cancel_before_start():
    token = CancelToken()
    token.cancel()
    runner = FakeRunner()
    with pytest.raises(Cancelled):
        measure_config(runner, batch_size=1, threads=1, config=FAST, progress=null_reporter(), cancel=token)
    assert runner.calls == 0


# --------------------------------------------------------------------------- data feed and memory


def test_data_feed_wraps_casts_and_quantizes():
    x = np.arange(5 * 2, dtype=np.float64).reshape(5, 2)
    feed = DataFeed({"x": x})
    spec = [InputSpec("x", (4, 2), "float32")]
    first = feed.next_batch(spec)["x"]
    second = feed.next_batch(spec)["x"]
    assert first.dtype == np.float32 and first.shape == (4, 2)
    np.testing.assert_array_equal(second[:, 0], [8, 0, 2, 4])  # rows 4, 0, 1, 2: wraps around
    quant = DataFeed({"q": np.array([[0.0], [1.0], [100.0]])}).next_batch([InputSpec("q", (3, 1), "int8", (0.5, -10))])[
        "q"
    ]
    np.testing.assert_array_equal(quant[:, 0], [-10, -8, 127])  # x / 0.5 - 10, clipped
    assert feed.batches == 2 and feed.samples == 8 and feed.prepare_ms >= 0


def test_data_feed_batches_by_name_not_position():
    feed = DataFeed({"b": np.ones((3, 2)), "a": np.zeros((3, 4))})
    batch = feed.next_batch([InputSpec("a", (2, 4), "float32"), InputSpec("b", (2, 2), "float32")])
    assert batch["a"].shape == (2, 4) and not batch["a"].any() and batch["b"].all()


def test_load_feed_from_npz_by_name(tmp_path):
    from core.benchmark.measure import load_feed

    interface = ModelInterface(inputs=(TensorSpec(shape=(None, 2), name="x"),), outputs=())
    path = tmp_path / "d.npz"
    np.savez(path, x=np.ones((3, 2), np.float32), y=np.zeros(3))
    feed = load_feed(str(path), interface)
    assert list(feed.arrays) == ["x"] and feed.size == 3 and feed.load_ms >= 0 and feed.source == str(path)


def test_peak_memory_sees_an_allocation():
    with PeakMemory() as memory:
        block = np.ones(64 * 2**20, dtype=np.uint8)  # 64 MiB, touched
        block[::4096] = 2
    del block
    assert memory.peak_mb >= memory.start_mb
    assert memory.delta_mb >= 32


# --------------------------------------------------------------------------- recommendation


def test_recommend_highest_throughput_within_budget():
    results = [
        make_result("b1 t1", p99=2.0, throughput=500, batch=1, threads=1),
        make_result("b8 t1", p99=9.0, throughput=2000, batch=8, threads=1),
        make_result("b32 t2", p99=30.0, throughput=4000, batch=32, threads=2),
    ]
    rec = recommend(results, budget_ms=10)
    assert rec.within_budget and rec.label == "b8 t1" and rec.batch_size == 8 and rec.threads == 1
    assert "b32 t2" in rec.reason and "exceeds the budget" in rec.reason


def test_recommend_budget_is_inclusive():
    rec = recommend([make_result("a", p99=10.0, throughput=100)], budget_ms=10.0)
    assert rec.within_budget and rec.label == "a"


def test_recommend_tie_prefers_fewer_threads_then_smaller_batch():
    results = [
        make_result("b8 t2", p99=5.0, throughput=1000, batch=8, threads=2),
        make_result("b8 t1", p99=6.0, throughput=995, batch=8, threads=1),  # within 1%
        make_result("b4 t1", p99=4.0, throughput=996, batch=4, threads=1),
    ]
    assert recommend(results, budget_ms=10).label == "b4 t1"


def test_recommend_nothing_fits_names_lowest_p99():
    results = [make_result("slow", p99=50.0, throughput=10), make_result("less slow", p99=20.0, throughput=5)]
    rec = recommend(results, budget_ms=10)
    assert not rec.within_budget and rec.label == "less slow"
    assert "no configuration keeps p99 within 10 ms" in rec.reason


def test_recommend_ignores_failed_and_handles_empty():
    bad = make_result("broken", p99=1.0, throughput=1e6, error="boom")
    good = make_result("ok", p99=3.0, throughput=10)
    assert recommend([bad, good], 10).label == "ok"
    empty = recommend([], 10)
    assert empty.label is None and not empty.within_budget


# --------------------------------------------------------------------------- explanations


def test_explain_quantized_slower_than_fp32_says_why():
    delegation = {
        "fp32": DelegationInfo(65, 65, 1),
        "dynamic": DelegationInfo(65, 50, 11, (("FULLY_CONNECTED", 10), ("CONV_2D", 5))),
    }
    results = [
        make_result("fp32 b1 t1", p99=1, throughput=1000, p50=1.0),
        make_result("dynamic b1 t1", p99=2, throughput=500, p50=2.0, variant="dynamic"),
    ]
    lines = explain(results, delegation)
    text = "\n".join(e.text for e in lines)
    assert "fp32: XNNPACK took 65 of 65 ops in 1 partition." in text
    assert "dynamic: XNNPACK took 50 of 65 ops in 11 partitions" in text
    assert "dynamic is slower than fp32" in text and "2.0x" in text
    # Why: from the measured delegation of both (15 ops kept against fp32's 0), not from the name "dynamic".
    assert "15 of its ops stay outside XNNPACK (FULLY_CONNECTED, CONV_2D) in 11 partitions, against 0 for fp32" in text
    assert "on the fly" not in text


def test_explain_int16x8_reference_kernels_and_thread_scaling():
    results = [
        make_result("fp32 b1 t1", p99=1, throughput=1000, p50=1.0, threads=1),
        make_result("fp32 b1 t2", p99=1, throughput=800, p50=1.3, threads=2),
        make_result("int16x8 b1 t1", p99=30, throughput=33, p50=30.0, variant="int16x8", threads=1),
    ]
    text = "\n".join(e.text for e in explain(results, {}))
    # Nothing measured about why: it says so; no sentence chosen by the name "int16x8".
    assert "int16x8 is slower than fp32" in text and "reference kernels" not in text
    assert "int16x8: why it is slower was not measured" in text
    assert "fp32: 2 threads is slower than 1 at batch 1" in text


def test_explain_faster_quantized_variant_is_not_blamed():
    results = [
        make_result("fp32 b1 t1", p99=1, throughput=1000, p50=1.0),
        make_result("int8 b1 t1", p99=1, throughput=2000, p50=0.5, variant="int8"),
    ]
    assert not any("slower" in line.text for line in explain(results, {}))


def test_describe_delegation_xnnpack_off():
    assert "XNNPACK off" in describe_delegation("fp32", DelegationInfo(4, 0, 0, (("CONV_2D", 4),), xnnpack=False))


# --------------------------------------------------------------------------- real runners


def test_litert_runner_delegation_and_batch_resize(tiny):
    runner = LiteRTRunner(tiny["fp32"])
    runner.prepare(batch_size=8, threads=2)
    assert runner.input_specs()[0].shape == (8, 8, 8, 3)
    out = runner.run_once(runner.make_inputs(np.random.default_rng(0)))
    [value] = out.values()
    assert value.shape == (8, 3)
    info = runner.delegation
    assert info.total_ops == 5 and info.delegated_ops == 5 and info.partitions == 1 and info.fully_delegated
    assert runner.variant == "fp32"
    runner.close()


def test_litert_runner_without_xnnpack(tiny):
    runner = LiteRTRunner(tiny["tflite_path"], xnnpack=False)
    runner.prepare(1, 1)
    assert runner.delegation.partitions == 0 and runner.delegation.delegated_ops == 0
    assert dict(runner.delegation.kept_ops)["CONV_2D"] == 1
    assert runner.name == "litert-no-xnnpack"
    runner.run_once(runner.make_inputs(np.random.default_rng(0)))


def test_classify_dynamic_range(tiny):
    runner = LiteRTRunner(tiny["dynamic"])
    runner.prepare(1, 1)
    assert classify_tflite(runner.interpreter) == "dynamic"


@pytest.mark.parametrize("mode", ["eager", "tf_function", "predict_on_batch", "predict"])
def test_keras_runner_modes(tiny, mode):
    runner = KerasRunner(tiny["model"], mode)
    runner.prepare(4, threads=2)
    out = runner.run_once(runner.make_inputs(np.random.default_rng(0)))
    [value] = out.values()
    assert np.asarray(value).shape == (4, 3)
    assert runner.uses_threads is False


def test_keras_runner_refuses_missing_gpu(tiny):
    runner = KerasRunner(tiny["model"], "eager", device="/GPU:7")
    with pytest.raises(ValueError, match="GPU"):
        runner.prepare(1, None)


def test_measure_tflite_for_the_quantization_pipeline(tiny):
    reporter, events = collecting_reporter()
    result = measure_tflite(tiny["dynamic"], BenchConfig(threads=(1, 2), runs=5, warmup=1), reporter, CancelToken())
    assert isinstance(result, BenchmarkResult)
    assert [c.label for c in result.configs] == ["dynamic b1 t1", "dynamic b1 t2"]
    assert dict(result.delegation)["dynamic"].total_ops == 5
    assert result.recommendation.label in {"dynamic b1 t1", "dynamic b1 t2"}
    assert partials(events)


def test_benchmark_model_tflite_file(tiny):
    result = benchmark_model(
        tiny["tflite_path"],
        BenchConfig(batch_sizes=(1, 4), runs=5, warmup=1, keep_samples=True),
        progress=null_reporter(),
        cancel=CancelToken(),
    )
    assert [c.batch_size for c in result.configs] == [1, 4]
    assert all(c.ok and len(c.samples_ms) == 5 for c in result.configs)
    assert any("XNNPACK took 5 of 5" in line for line in result.explanations)


def test_benchmark_model_keras_with_data_and_layer_profile(tiny):
    config = BenchConfig(batch_sizes=(2,), runs=4, warmup=1, keras_modes=("eager", "tf_function"), profile_layers=True)
    x = np.random.default_rng(0).random((5, 8, 8, 3))
    result = benchmark_model(tiny["keras_path"], config, progress=null_reporter(), cancel=CancelToken(), data=[x])
    assert [c.label for c in result.configs] == ["keras-eager b2", "keras-tf_function b2"]
    assert [t.type for t in result.layer_profile] == ["Conv2D", "GlobalAveragePooling2D", "Dense", "Dense"]
    assert sum(t.share for t in result.layer_profile) == pytest.approx(1.0)
    profile = result.data_profile
    assert profile.batches == 2 * (1 + 1 + 4) and profile.samples == 2 * profile.batches
    assert profile.model_ms > 0 and 0 <= profile.data_share <= 1
    # the layers are restored after profiling
    assert "call" not in vars(tiny["model"].layers[0])


def test_benchmark_variants_side_by_side(tiny):
    config = BenchConfig(runs=3, warmup=1, keras_modes=("tf_function",))
    result = benchmark_variants(
        {"fp32": tiny["fp32"], "dynamic": tiny["dynamic"]},
        config,
        keras_model=tiny["keras_path"],
        progress=null_reporter(),
        cancel=CancelToken(),
    )
    assert [c.label for c in result.configs] == ["keras-tf_function b1", "fp32 b1 t1", "dynamic b1 t1"]
    assert {name for name, _ in result.delegation} == {"fp32", "dynamic"}


def test_benchmark_model_missing_and_bad_files(tmp_path):
    from core.errors import BadInputError

    with pytest.raises(BadInputError):
        benchmark_model(tmp_path / "nope.tflite", FAST, progress=null_reporter(), cancel=CancelToken())
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a flatbuffer at all")
    with pytest.raises(BadInputError):
        benchmark_model(junk, FAST, progress=null_reporter(), cancel=CancelToken())


def test_config_label():
    assert config_label("int8", "litert", 8, 2) == "int8 b8 t2"
    assert config_label("keras", "keras-predict", 1, None) == "keras-predict b1"
    assert config_label("fp32", "litert-no-xnnpack", 1, 1) == "fp32 no-xnnpack b1 t1"


def test_benchmark_saved_model_folder(tiny, tmp_path):
    folder = tmp_path / "sm"
    tiny["model"].export(str(folder), verbose=False)
    result = benchmark_model(
        folder, BenchConfig(batch_sizes=(1, 3), runs=3, warmup=1), progress=null_reporter(), cancel=CancelToken()
    )
    assert [c.label for c in result.configs] == ["savedmodel b1", "savedmodel b3"]
    assert all(c.ok for c in result.configs)
