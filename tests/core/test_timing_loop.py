"""The LiteRT timing loop times `invoke()` and nothing else (no timing is asserted).

Every measured sample of `measure_config` on a real `.tflite` must be bracketed by
two reads of the runner's clock with exactly one `invoke()` between them: no input
copy, output read, cancel check, streaming event or progress event. The test runs
the real loop (`core.benchmark.sweep.measure_config` and
`LiteRTRunner.time_calls`) with three things swapped for recorders:

* the runner's clock (`core.benchmark.litert_runner.perf_counter`): a fake clock
  that logs every read;
* the interpreter: a proxy over the real one that logs invoke / SetTensor /
  GetTensor before passing them on;
* the cancel token and the progress sink: they log every check and event.

Each recorded operation also moves the fake clock by its own amount (invoke 1 s,
set 100 s, get 10^4 s, cancel check 10^6 s, an event 10^8 s), so a sample tells by
its value alone what ran inside it: one invoke and nothing else is exactly
1000.0 ms. `test_the_check_catches_a_leaky_loop` runs the same check on a loop
that sets its inputs inside the timed region and expects it to fail.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import core.benchmark.litert_runner as litert_runner
from core.benchmark import BenchConfig, LiteRTRunner, SAMPLES_KIND, measure_config
from core.benchmark.sweep import DataFeed
from core.engine import CancelToken, PartialEvent, Reporter
from core.errors import Cancelled

sweep_module = importlib.import_module("core.benchmark.sweep")  # `core.benchmark.sweep` is also a function

COST = {"invoke": 1.0, "set": 100.0, "get": 1e4, "cancel-check": 1e6, "event": 1e8}


class Recorder:
    """A log of operations in order and a fake clock that each operation advances."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.now = 0.0

    def record(self, what: str) -> None:
        self.log.append(what)
        self.now += COST[what]

    def clock(self) -> float:
        self.log.append("clock")
        return self.now


class _Native:
    """Logs the native calls, then makes them on the real native interpreter.

    It holds no reference to the native object itself: `Interpreter.invoke()`
    refuses to run while anything else does.
    """

    def __init__(self, outer: "_Interpreter") -> None:
        self._outer = outer

    def SetTensor(self, *args):  # noqa: N802 - the native API's name
        self._outer.recorder.record("set")
        return self._outer.real._interpreter.SetTensor(*args)

    def GetTensor(self, *args):  # noqa: N802
        self._outer.recorder.record("get")
        return self._outer.real._interpreter.GetTensor(*args)

    def Invoke(self, *args):  # noqa: N802
        self._outer.recorder.record("invoke")
        return self._outer.real._interpreter.Invoke(*args)


class _Interpreter:
    """A proxy over a real `ai_edge_litert` Interpreter that logs what the loop does with it."""

    def __init__(self, real, recorder: Recorder) -> None:
        self.real = real
        self.recorder = recorder
        self._interpreter = _Native(self)

    def invoke(self):
        self.recorder.record("invoke")
        return self.real.invoke()

    def set_tensor(self, *args):
        self.recorder.record("set")
        return self.real.set_tensor(*args)

    def get_tensor(self, *args):
        self.recorder.record("get")
        return self.real.get_tensor(*args)


class RecordedRunner(LiteRTRunner):
    """The real LiteRT runner, its interpreter wrapped in the recording proxy once prepared."""

    recorder: Recorder

    def prepare(self, batch_size, threads):
        super().prepare(batch_size, threads)
        self._interpreter = _Interpreter(self._interpreter, self.recorder)


class LeakyRunner(RecordedRunner):
    """The loop as it was: inputs set, and outputs read, inside the timed region."""

    def time_calls(self, count, inputs, cancel=None):
        clock, seconds = litert_runner.perf_counter, []
        for _ in range(count):
            batch = inputs() if callable(inputs) else inputs
            start = clock()
            self.run_once(batch)
            seconds.append(clock() - start)
        return [s * 1000.0 for s in seconds]


class RecordedToken(CancelToken):
    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def raise_if_cancelled(self) -> None:
        self.recorder.record("cancel-check")
        super().raise_if_cancelled()


def timed_region_violations(log: list[str]) -> list[list[str]]:
    """The timed regions (between a start and a stop clock read) holding anything but one invoke."""
    reads = [i for i, what in enumerate(log) if what == "clock"]
    assert len(reads) % 2 == 0, "clock reads come in start/stop pairs"
    regions = [log[start + 1 : stop] for start, stop in zip(reads[::2], reads[1::2])]
    return [region for region in regions if region != ["invoke"]]


@pytest.fixture(scope="module")
def tiny_tflite() -> bytes:
    from core.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    import keras

    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(2)])
    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def measure(runner_class, tflite: bytes, monkeypatch, *, runs: int, one_call_blocks: bool, data=None):
    recorder = Recorder()
    monkeypatch.setattr(litert_runner, "perf_counter", recorder.clock)
    if one_call_blocks:  # every measured call in its own block: cancel checks and events between all of them
        monkeypatch.setattr(sweep_module, "BLOCK_S", 0.0)
        monkeypatch.setattr(sweep_module, "STREAM_INTERVAL_S", 0.0)
    events = []

    def sink(event):
        recorder.record("event")
        events.append(event)

    runner = runner_class(tflite)
    runner.recorder = recorder
    result = measure_config(
        runner,
        batch_size=1,
        threads=1,
        config=BenchConfig(runs=runs, warmup=2, keep_samples=True),
        progress=Reporter(sink),
        cancel=RecordedToken(recorder),
        data=data,
    )
    streamed = [
        s for e in events if isinstance(e, PartialEvent) and e.kind == SAMPLES_KIND for s in e.payload["samples_ms"]
    ]
    return result, recorder.log, streamed


@pytest.mark.parametrize("one_call_blocks", [True, False], ids=["block-per-call", "one-block"])
def test_only_invoke_is_timed(tiny_tflite, monkeypatch, one_call_blocks):
    result, log, streamed = measure(RecordedRunner, tiny_tflite, monkeypatch, runs=30, one_call_blocks=one_call_blocks)
    assert timed_region_violations(log) == []
    assert log.count("clock") == 2 * 30
    assert list(result.samples_ms) == [1000.0] * 30  # one fake invoke (1 s) each, nothing else
    assert streamed == list(result.samples_ms)  # the live plot still gets every sample
    timed_span = log[log.index("clock") : len(log) - log[::-1].index("clock")]
    if one_call_blocks:  # the loop really did check and stream between the timed calls
        assert timed_span.count("cancel-check") >= 29 and timed_span.count("event") >= 29
    else:  # fixed inputs: set before the block, never between its calls
        assert timed_span.count("set") == 0 and timed_span.count("invoke") == 30


def test_only_invoke_is_timed_with_a_data_feed(tiny_tflite, monkeypatch):
    data = DataFeed(
        {
            LiteRTRunner(tiny_tflite).feed_interface().inputs[0].name: np.random.default_rng(0).random(
                (7, 6), dtype=np.float32
            )
        }
    )
    result, log, _ = measure(RecordedRunner, tiny_tflite, monkeypatch, runs=20, one_call_blocks=True, data=data)
    assert timed_region_violations(log) == []
    assert list(result.samples_ms) == [1000.0] * 20
    assert log.count("set") == 1 + 2 + 20  # cold, warm-up, then a new batch before every call
    assert data.batches == 1 + 2 + 20  # cold, warm-up, measured


def test_the_check_catches_a_leaky_loop(tiny_tflite, monkeypatch):
    result, log, _ = measure(LeakyRunner, tiny_tflite, monkeypatch, runs=10, one_call_blocks=True)
    violations = timed_region_violations(log)
    assert len(violations) == 10 and all("set" in v and "get" in v for v in violations)
    assert all(s != 1000.0 for s in result.samples_ms)


def test_cancel_stops_the_lean_loop(tiny_tflite):
    token = CancelToken()

    def sink(event):
        if isinstance(event, PartialEvent) and event.kind == SAMPLES_KIND:
            token.cancel()  # as the GUI does once samples stream in

    with pytest.raises(Cancelled):
        measure_config(
            LiteRTRunner(tiny_tflite),
            batch_size=1,
            threads=1,
            config=BenchConfig(runs=10**9, warmup=0),
            progress=Reporter(sink),
            cancel=token,
        )
