"""Structured-pruning speed benchmark: does removing channels make `.tflite` inference faster?

Models are built in-process (nothing is downloaded): the bundled fraud MLP
(`resources/samples/fraud.keras`, or an equivalent MLP when the sample is
missing) and a MobileNetV2-style stack of inverted-residual blocks. Each is
structured-pruned at 0/30/50/70% (no fine-tuning: speed does not depend on the
weights' values) and, for contrast, magnitude-pruned at 50% one-shot. Every
variant's float32 `.tflite` runs in `ai_edge_litert` side by side with the
unpruned one in the same run (interleaved rounds, warm-up, then p50 at batch 1),
and the latency ratio against the unpruned model is printed and written to
`bench/results/bench_pruning_<time>.json`.

    .venv/bin/python bench/bench_pruning.py [--runs 200] [--threads 1] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from core.tf_runtime import import_keras  # noqa: E402

SPARSITIES = (0.0, 0.3, 0.5, 0.7)


def fraud_mlp(keras):
    path = ROOT / "resources" / "samples" / "fraud.keras"
    if path.exists():
        return keras.saving.load_model(str(path), safe_mode=True, compile=False), "resources/samples/fraud.keras"
    inp = keras.Input((30,), name="features")
    x = keras.layers.Dense(64, activation="relu", name="dense_1")(inp)
    x = keras.layers.Dense(32, activation="relu", name="dense_2")(x)
    out = keras.layers.Dense(1, activation="sigmoid", name="fraud_probability")(x)
    return keras.Model(inp, out, name="fraud_mlp"), "built (sample missing)"


def mobilenetv2_blocks(keras, size: int = 96, alpha: float = 1.0):
    """Stem + 7 inverted-residual blocks (expansion 6, ReLU6, BatchNorm, residual Add where shapes match)."""
    L = keras.layers

    def c(n):
        return max(8, int(n * alpha))

    def block(x, name, out_ch, stride, expand=6):
        in_ch = x.shape[-1]
        y = L.Conv2D(in_ch * expand, 1, use_bias=False, name=f"{name}_expand")(x)
        y = L.BatchNormalization(name=f"{name}_expand_bn")(y)
        y = L.ReLU(6.0, name=f"{name}_expand_relu")(y)
        y = L.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"{name}_dw")(y)
        y = L.BatchNormalization(name=f"{name}_dw_bn")(y)
        y = L.ReLU(6.0, name=f"{name}_dw_relu")(y)
        y = L.Conv2D(out_ch, 1, use_bias=False, name=f"{name}_project")(y)
        y = L.BatchNormalization(name=f"{name}_project_bn")(y)
        if stride == 1 and in_ch == out_ch:
            y = L.Add(name=f"{name}_add")([x, y])
        return y

    inp = keras.Input((size, size, 3), name="image")
    x = L.Conv2D(c(32), 3, strides=2, padding="same", use_bias=False, name="stem")(inp)
    x = L.BatchNormalization(name="stem_bn")(x)
    x = L.ReLU(6.0, name="stem_relu")(x)
    x = block(x, "b1", c(16), 1, expand=1)
    x = block(x, "b2", c(24), 2)
    x = block(x, "b3", c(24), 1)
    x = block(x, "b4", c(32), 2)
    x = block(x, "b5", c(32), 1)
    x = block(x, "b6", c(64), 2)
    x = block(x, "b7", c(64), 1)
    x = L.Conv2D(c(320), 1, use_bias=False, name="head_conv")(x)
    x = L.BatchNormalization(name="head_bn")(x)
    x = L.ReLU(6.0, name="head_relu")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    out = L.Dense(10, activation="softmax", name="classes")(x)
    return keras.Model(inp, out, name="mobilenetv2_blocks")


def _randomise_bn(model, rng):
    """Give BatchNorm non-trivial statistics so the L1 ranking and outputs are not degenerate."""
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, gamma.shape).astype("float32"),
                    rng.normal(0, 0.1, beta.shape).astype("float32"),
                    rng.normal(0, 0.1, mean.shape).astype("float32"),
                    rng.uniform(0.5, 1.5, var.shape).astype("float32"),
                ]
            )


def bench_model(name, model, x, *, runs, warmup, threads, log):
    from core.compress import measure
    from core.compress.configs import MagnitudePruneConfig, MeasureConfig, StructuredPruneConfig
    from core.compress.flops import count_flops
    from core.compress.magnitude import magnitude_prune
    from core.compress.structured import structured_prune
    from core.engine.context import CancelToken, null_reporter

    no_measure = MeasureConfig(measure=False)
    variants = {"unpruned": (model, "-")}
    for s in SPARSITIES:
        res = structured_prune(
            model,
            StructuredPruneConfig(sparsity=s, fine_tune_epochs=0, measure=no_measure),
            x,
            progress=null_reporter(),
            cancel=CancelToken(),
        )
        pruned = sum(1 for g in res.groups if g.pruned)
        variants[f"structured {int(s * 100)}%"] = (res.model, f"{pruned}/{len(res.groups)} groups")
    mag = magnitude_prune(
        model,
        MagnitudePruneConfig(sparsity=0.5, epochs=0, measure=no_measure),
        x,
        progress=null_reporter(),
        cancel=CancelToken(),
    )
    variants["magnitude 50%"] = (mag.model, f"{mag.overall_sparsity:.0%} zeros")

    tflite = {}
    for key, (m, _) in variants.items():
        log(f"  converting {name} / {key}")
        tflite[key] = measure.to_tflite(m)
    lat = measure.side_by_side_latency(tflite, runs=runs, warmup=warmup, num_threads=threads)
    base = lat["unpruned"].p50_ms
    rows = []
    for key, (m, what) in variants.items():
        rows.append(
            {
                "model": name,
                "variant": key,
                "pruned": what,
                "params": int(m.count_params()),
                "flops": int(count_flops(m)),
                "tflite_bytes": len(tflite[key]),
                "p50_ms": lat[key].p50_ms,
                "mean_ms": lat[key].mean_ms,
                "latency_ratio": lat[key].p50_ms / base if base > 0 else None,
            }
        )
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="timed invokes per model (interleaved)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="few runs (a smoke test)")
    args = parser.parse_args(argv)
    runs, warmup = (20, 3) if args.quick else (args.runs, args.warmup)

    keras = import_keras()
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731

    fraud, fraud_source = fraud_mlp(keras)
    mobile = mobilenetv2_blocks(keras)
    _randomise_bn(mobile, rng)
    models = [
        ("fraud_mlp", fraud, rng.standard_normal((16, 30)).astype("float32")),
        ("mobilenetv2_blocks", mobile, rng.standard_normal((4, 96, 96, 3)).astype("float32")),
    ]
    started = time.time()
    rows = []
    for name, model, x in models:
        log(f"{name}: pruning and measuring ({runs} runs, {args.threads} thread(s))")
        rows += bench_model(name, model, x, runs=runs, warmup=warmup, threads=args.threads, log=log)

    header = f"{'model':<20} {'variant':<16} {'pruned':<14} {'params':>9} {'MFLOPs':>8} {'tflite KB':>9} {'p50 us':>9} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['model']:<20} {r['variant']:<16} {r['pruned']:<14} {r['params']:>9} {r['flops'] / 1e6:>8.2f} "
            f"{r['tflite_bytes'] / 1024:>9.1f} {r['p50_ms'] * 1000:>9.1f} {r['latency_ratio']:>6.2f}"
        )
    print("ratio = p50 latency / unpruned p50, measured side by side in this run (batch 1, float32 .tflite).")

    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    report = {
        "benchmark": "bench_pruning",
        "utc": stamp,
        "seconds": round(time.time() - started, 1),
        "runs": runs,
        "warmup": warmup,
        "threads": args.threads,
        "fraud_source": fraud_source,
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average": list(os.getloadavg()),
        },
        "rows": rows,
    }
    tmp = out_dir / f".bench_pruning_{stamp}.json.tmp"
    tmp.write_text(json.dumps(report, indent=2))
    os.replace(tmp, out_dir / f"bench_pruning_{stamp}.json")
    print(f"wrote bench/results/bench_pruning_{stamp}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
