"""Does Litesmith measure what a minimal independent loop measures, at every scale? p50 within 5%.

Four fp32 .tflite models, from about a microsecond to milliseconds per call, built
in-process (nothing downloaded): the fraud sample (an MLP, resources/samples), the
digits sample (a small CNN), a mid-size CNN on 32x32x3 (~100 us) and MobileNetV2
(``weights=None``). Each is measured two ways, in interleaved rounds (A B, B A, ...)
so that load from other processes hits both alike:

* Litesmith: `core.benchmark.measure.benchmark_model` on the .tflite file, the job
  ``litesmith bench`` runs (the GUI's `benchmark_variants` shares its loop,
  `core.benchmark.sweep.measure_config`), at 1 thread, batch 1;
* independent: a dozen lines over `ai_edge_litert.Interpreter` (set the inputs once,
  then ``start = clock(); invoke(); clock() - start`` with ``clock = time.perf_counter``
  and ``invoke = interpreter.invoke`` bound once, as a careful user writes a timing loop).

The figure that decides pass/fail is "paired": the median over rounds of
(Litesmith p50 / independent p50) within the same round; load drifts between rounds
and the pairing cancels it. "pooled" compares the p50s of all samples pooled.

Where Python is a real part of a call, that is measured and shown, not hidden:
"empty call" is a sample around a no-op Python function (two clock reads and one
call, the floor under any sample); per model, as ratios to the independent p50,
"native" is the native ``Invoke`` without the Python wrapper `invoke()` adds (LiteRT's
check that no numpy view into the interpreter is alive), "plain" the same loop written
``start = time.perf_counter(); interpreter.invoke(); time.perf_counter() - start``
(two attribute look-ups more inside the timing), and "set+inv+get" inputs set and
outputs read inside every timed call (what Litesmith's loop timed before).

Usage:  .venv/bin/python bench/bench_agreement.py [--rounds 20] [--threads 1] [--quick] [--models fraud,digits]
Writes bench/results/agreement.json. Exit code 1 when a model's paired p50 ratio is off by more than 5%.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from core.native_output import drop_stderr_lines  # noqa: E402

TOLERANCE = 0.05
ROUND_S = 0.06  # measured calls per loop and round: about this many seconds' worth
MIN_RUNS, MAX_RUNS = 25, 50000
WARMUP = 5


MODELS = ("fraud", "digits", "cnn_32x32", "mobilenet_v2")


def build_models(names: tuple[str, ...]) -> dict[str, bytes]:
    """fp32 .tflite bytes by name (of `MODELS`), converted in-process (the samples when present)."""
    from core.benchmark.runners import load_keras
    from core.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    import keras

    models = {}
    for name in ("fraud", "digits"):
        path = REPO / "resources" / "samples" / f"{name}.keras"
        if name in names and path.exists():
            models[name] = load_keras(path)
    layers = keras.layers
    if "cnn_32x32" in names:
        models["cnn_32x32"] = keras.Sequential(
            [
                keras.Input((32, 32, 3)),
                layers.Conv2D(20, 3, padding="same", activation="relu"),
                layers.Conv2D(40, 3, strides=2, padding="same", activation="relu"),
                layers.Conv2D(80, 3, strides=2, padding="same", activation="relu"),
                layers.GlobalAveragePooling2D(),
                layers.Dense(10),
            ]
        )
    if "mobilenet_v2" in names:
        models["mobilenet_v2"] = keras.applications.MobileNetV2(weights=None)
    return {name: tf.lite.TFLiteConverter.from_keras_model(model).convert() for name, model in models.items()}


def independent_loop(path: str, runs: int, threads: int, warmup: int = WARMUP) -> list[float]:
    """The minimal loop a user would write; shares nothing with core.benchmark. Milliseconds."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path, num_threads=threads)
    interpreter.allocate_tensors()
    rng = np.random.default_rng(1)
    for d in interpreter.get_input_details():
        interpreter.set_tensor(d["index"], rng.random(d["shape"], dtype=np.float32).astype(d["dtype"]))
    for _ in range(1 + warmup):
        interpreter.invoke()
    clock, invoke, samples = time.perf_counter, interpreter.invoke, []
    for _ in range(runs):
        start = clock()
        invoke()
        samples.append((clock() - start) * 1000)
    return samples


def overhead_loops(path: str, runs: int, threads: int) -> dict[str, float]:
    """p50 (ms): the native Invoke (no Python wrapper); the plain loop; set + invoke + get inside the timing."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path, num_threads=threads)
    interpreter.allocate_tensors()
    rng = np.random.default_rng(1)
    inputs = [
        (d["index"], rng.random(d["shape"], dtype=np.float32).astype(d["dtype"]))
        for d in interpreter.get_input_details()
    ]
    outputs = [d["index"] for d in interpreter.get_output_details()]
    for index, value in inputs:
        interpreter.set_tensor(index, value)
    for _ in range(1 + WARMUP):
        interpreter.invoke()
    clock, samples = time.perf_counter, []
    for _ in range(runs):
        start = clock()
        for index, value in inputs:
            interpreter.set_tensor(index, value)
        interpreter.invoke()
        for index in outputs:
            interpreter.get_tensor(index)
        samples.append(clock() - start)
    set_invoke_get = statistics.median(samples) * 1000
    native = interpreter._interpreter.Invoke  # private: the C++ call under invoke()
    samples = []
    for _ in range(runs):
        start = clock()
        native()
        samples.append(clock() - start)
    result = {"native": statistics.median(samples) * 1000, "set_invoke_get": set_invoke_get}
    del native  # invoke() refuses to run while it is referenced
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        interpreter.invoke()
        samples.append(time.perf_counter() - start)
    result["plain"] = statistics.median(samples) * 1000
    return result


def litesmith_loop(path: str, runs: int, threads: int) -> tuple[float, list[float]]:
    """Litesmith's p50 (its own statistics) and samples (ms), through the job `litesmith bench` runs."""
    from core.benchmark import BenchConfig
    from core.benchmark.measure import benchmark_model
    from core.engine.context import CancelToken, null_reporter

    config = BenchConfig(threads=(threads,), batch_sizes=(1,), runs=runs, warmup=WARMUP, keep_samples=True)
    result = benchmark_model(path, config, progress=null_reporter(), cancel=CancelToken())
    measured = result.configs[0]
    if not measured.ok:
        raise SystemExit(f"{path}: Litesmith measured nothing: {measured.error}")
    return measured.stats.p50, list(measured.samples_ms)


def empty_call_floor(rounds: int = 10, runs: int = 20000) -> dict[str, float]:
    """p50 (ms) of a sample with nothing timed (two clock reads) and around a no-op Python call."""

    def noop():
        return None

    clock = time.perf_counter
    timer, call = [], []
    for _ in range(rounds):
        samples = []
        for _ in range(runs):
            start = clock()
            samples.append(clock() - start)
        timer.append(statistics.median(samples) * 1000)
        samples = []
        for _ in range(runs):
            start = clock()
            noop()
            samples.append(clock() - start)
        call.append(statistics.median(samples) * 1000)
    return {"timer_only_ms": statistics.median(timer), "empty_call_ms": statistics.median(call)}


def quiet_native_stderr():
    """Drop LiteRT's "INFO: Created TensorFlow Lite XNNPACK delegate" lines (one per interpreter)."""
    return drop_stderr_lines(re.compile(r".*XNNPACK delegate"))


def measure_model(path: str, rounds: int, threads: int) -> dict:
    """Interleaved rounds of Litesmith and the independent loop on one model; the paired figures."""
    probe = independent_loop(path, MIN_RUNS, threads)
    runs = int(min(MAX_RUNS, max(MIN_RUNS, ROUND_S / (statistics.median(probe) / 1000))))
    ours, theirs, ratios, native, plain, with_io = [], [], [], [], [], []
    for round_ in range(rounds):
        # Alternate which loop goes first: on a shared machine the load changes by the
        # second, and both loops should see the same mix of it.
        if round_ % 2 == 0:
            p50_ours, samples = litesmith_loop(path, runs, threads)
            mine = independent_loop(path, runs, threads)
        else:
            mine = independent_loop(path, runs, threads)
            p50_ours, samples = litesmith_loop(path, runs, threads)
        p50_theirs = statistics.median(mine)
        ours += samples
        theirs += mine
        ratios.append(p50_ours / p50_theirs)
        extra = overhead_loops(path, runs, threads)
        native.append(extra["native"] / p50_theirs)
        plain.append(extra["plain"] / p50_theirs)
        with_io.append(extra["set_invoke_get"] / p50_theirs)
    p50_ours, p50_theirs = statistics.median(ours), statistics.median(theirs)
    return {
        "threads": threads,
        "rounds": rounds,
        "runs_per_round": runs,
        "n": len(ours),
        "litesmith_p50_ms": p50_ours,
        "independent_p50_ms": p50_theirs,
        "litesmith_p90_ms": float(np.percentile(ours, 90)),
        "independent_p90_ms": float(np.percentile(theirs, 90)),
        "pooled_difference": p50_ours / p50_theirs - 1,
        "paired_ratio_median": statistics.median(ratios),
        "paired_ratio_min": min(ratios),
        "paired_ratio_max": max(ratios),
        "native_invoke_ratio": statistics.median(native),
        "plain_loop_ratio": statistics.median(plain),
        "set_invoke_get_ratio": statistics.median(with_io),
    }


def fmt_ms(value: float) -> str:
    return f"{value * 1000:.2f} us" if value < 0.1 else f"{value:.3f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="interleaved rounds per model")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="skip MobileNetV2")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated subset of {', '.join(MODELS)}")
    args = parser.parse_args()
    names = tuple(n.strip() for n in args.models.split(",") if n.strip() and not (args.quick and n == "mobilenet_v2"))
    unknown = [n for n in names if n not in MODELS]
    if unknown or not names:
        parser.error(f"--models: choose from {', '.join(MODELS)}")

    from core.jsonout import dumps

    started = time.perf_counter()
    load_before = os.getloadavg()
    models = build_models(names)
    floor = empty_call_floor()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, tflite in models.items():
            path = os.path.join(folder, f"{name}.tflite")
            Path(path).write_bytes(tflite)
            with quiet_native_stderr():
                rows.append({"model": name, **measure_model(path, args.rounds, args.threads)})
    load_after = os.getloadavg()

    print(
        f"{'model':<13} {'n':>6} {'Litesmith p50':>14} {'independent p50':>16} {'pooled':>8} {'paired':>8} "
        f"{'(min..max)':>15} {'call floor':>10} {'native':>7} {'plain':>6} {'set+inv+get':>11}"
    )
    worst = 0.0
    for r in rows:
        paired = r["paired_ratio_median"] - 1
        worst = max(worst, abs(paired))
        r["empty_call_share"] = floor["empty_call_ms"] / r["independent_p50_ms"]
        mark = "ok" if abs(paired) <= TOLERANCE else "OVER 5%"
        print(
            f"{r['model']:<13} {r['n']:>6} {fmt_ms(r['litesmith_p50_ms']):>14} {fmt_ms(r['independent_p50_ms']):>16} "
            f"{r['pooled_difference']:>+8.1%} {paired:>+8.1%} "
            f"{r['paired_ratio_min'] - 1:>+7.1%}..{r['paired_ratio_max'] - 1:>+6.1%} "
            f"{r['empty_call_share']:>10.1%} {r['native_invoke_ratio']:>7.2f} {r['plain_loop_ratio']:>6.2f} "
            f"{r['set_invoke_get_ratio']:>11.2f}  {mark}"
        )
    print(f"paired: median over rounds of Litesmith p50 / independent p50 (target within +-{TOLERANCE:.0%}).")
    print(
        f"call floor: an empty timed Python call ({fmt_ms(floor['empty_call_ms'])}; two clock reads alone "
        f"{fmt_ms(floor['timer_only_ms'])}) as a share of the independent p50: the part of every sample that is "
        "Python, whichever loop measures."
    )
    print(
        "as p50 / independent p50: native: the native Invoke without invoke()'s Python wrapper; plain: "
        "time.perf_counter() and interpreter.invoke() looked up inside the timing; set+inv+get: inputs set and "
        "outputs read inside each timed call (Litesmith's loop before it timed invoke() alone)."
    )
    print(
        f"load average before: {', '.join(f'{v:.2f}' for v in load_before)}; after: "
        f"{', '.join(f'{v:.2f}' for v in load_after)} on {os.cpu_count()} CPUs; {time.perf_counter() - started:.0f} s"
    )
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    target = out / "agreement.json"
    part = target.with_suffix(".json.part")
    part.write_text(
        dumps(
            {
                "rows": rows,
                "tolerance": TOLERANCE,
                "floor": floor,
                "cpu_count": os.cpu_count(),
                "load_average_before": load_before,
                "load_average_after": load_after,
                "rounds": args.rounds,
                "models": list(names),
            }
        )
        + "\n"
    )
    os.replace(part, target)
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
