"""Keras baselines against .tflite variants, side by side in one run, as ratios.

For MobileNetV2 (weights=None: random weights, no download) and the bundled
samples (resources/samples/fraud.keras, digits.keras), this measures

* the baseline as users run it today: Keras `model.predict` and the model
  wrapped in `tf.function`;
* fp32, dynamic-range, float16 and int8 `.tflite` (converted here with
  `tf.lite.TFLiteConverter`; int8 calibrated on the sample's *_calib.npz, or
  on random images for MobileNetV2), at 1 and 2 LiteRT threads;

all through `core.benchmark.benchmark_variants`, the code the app uses, and
prints p50 latencies with ratios: speed-up over Keras predict, over
tf.function, and against fp32 at the same thread count (>1 = faster).

Usage:  .venv/bin/python bench/bench_baselines.py [--seconds 1.5] [--batch 1] [--models mobilenet_v2,fraud,digits]
Writes bench/results/baselines.json. Figures depend on the machine and its load: read the ratios.
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

MODES = ("fp32", "dynamic", "float16", "int8")


def convert(tf, model, mode: str, calibration: np.ndarray) -> bytes:
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode != "fp32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if mode == "int8":

        def representative():
            for row in calibration[:200]:
                yield [row[None].astype(np.float32)]

        converter.representative_dataset = representative
    return converter.convert()


def load_models(names: list[str]):
    from core.benchmark.runners import load_keras
    from core.tf_runtime import import_tensorflow

    import_tensorflow()
    import keras

    models = {}
    for name in names:
        if name == "mobilenet_v2":
            model = keras.applications.MobileNetV2(weights=None)
            calibration = np.random.default_rng(0).random((50, 224, 224, 3), dtype=np.float32)
        else:
            path = REPO / "resources" / "samples" / f"{name}.keras"
            if not path.exists():
                print(f"skipping {name}: {path} not built (make samples)")
                continue
            model = load_keras(path)
            calibration = np.load(REPO / "resources" / "samples" / f"{name}_calib.npz")["x"]
        models[name] = (model, calibration)
    return models


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.5, help="time per configuration")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--models", default="mobilenet_v2,fraud,digits")
    args = parser.parse_args()

    from core.benchmark import BenchConfig, benchmark_variants
    from core.tf_runtime import import_tensorflow
    from core.benchmark.stats import fmt_ms
    from core.cli.common import to_jsonable
    from core.engine import CancelToken, null_reporter

    tf = import_tensorflow()
    config = BenchConfig(
        threads=(1, 2),
        batch_sizes=(args.batch,),
        seconds=args.seconds,
        warmup=3,
        keras_modes=("predict", "tf_function"),
    )
    report = {"config": to_jsonable(config), "cpu_count": os.cpu_count(), "models": {}}
    for name, (model, calibration) in load_models(args.models.split(",")).items():
        started = time.perf_counter()
        variants = {}
        for mode in MODES:
            try:
                variants[mode] = convert(tf, model, mode, calibration)
            except Exception as exc:  # noqa: BLE001 - report and go on with the others
                print(f"{name}: {mode} conversion failed: {exc}")
        result = benchmark_variants(
            variants, config, keras_model=model, progress=null_reporter(), cancel=CancelToken(), label=name
        )
        by = {c.label: c for c in result.configs if c.ok}
        b = args.batch
        predict = by.get(f"keras-predict b{b}")
        tf_function = by.get(f"keras-tf_function b{b}")
        print(
            f"\n{name}  (batch {b}; {time.perf_counter() - started:.0f} s; sizes: "
            + ", ".join(f"{m} {len(v) / 1024:.0f} KiB" for m, v in variants.items())
            + ")"
        )
        print(
            f"  {'configuration':<24} {'p50':>10} {'p99':>10} {'samples/s':>11} "
            f"{'vs predict':>11} {'vs tf.fn':>9} {'vs fp32':>8}"
        )
        rows = []
        for c in result.configs:
            if not c.ok:
                print(f"  {c.label:<24} not measured: {c.error}")
                continue
            fp32 = by.get(f"fp32 b{b} t{c.threads}") if c.threads is not None else None
            ratio = lambda base: (base.stats.p50 / c.stats.p50) if base else float("nan")  # noqa: E731
            row = {
                "label": c.label,
                "p50_ms": c.stats.p50,
                "p99_ms": c.stats.p99,
                "throughput": c.stats.throughput,
                "speedup_vs_predict": ratio(predict),
                "speedup_vs_tf_function": ratio(tf_function),
                "speedup_vs_fp32": ratio(fp32),
                "n": c.stats.n,
            }
            rows.append(row)
            fmt = lambda v: "" if v != v else f"{v:.2f}x"  # noqa: E731
            print(
                f"  {c.label:<24} {fmt_ms(c.stats.p50):>10} {fmt_ms(c.stats.p99):>10} {c.stats.throughput:>11,.0f} "
                f"{fmt(row['speedup_vs_predict']):>11} {fmt(row['speedup_vs_tf_function']):>9} "
                f"{fmt(row['speedup_vs_fp32']):>8}"
            )
        for line in result.explanations:
            print(f"  - {line}")
        report["models"][name] = {
            "rows": rows,
            "explanations": list(result.explanations),
            "delegation": to_jsonable(result.delegation),
            "sizes": {m: len(v) for m, v in variants.items()},
        }
    report["load_average"] = os.getloadavg()
    print(f"\nload average at the end: {', '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs")
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "baselines.json").write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
