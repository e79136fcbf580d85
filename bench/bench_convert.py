"""Convert once: Litesmith's four-variant optimize against four plain converter runs, and its peak memory.

In ONE run, side by side, on MobileNetV2 (`weights=None`, 224x224, built
in-process, nothing downloaded) and ResNet50 (`weights=None`):

1. plain: a fresh Python process converts the Keras model four times with
   `tf.lite.TFLiteConverter.from_keras_model` (fp32, dynamic range, float16,
   int8 with 100 random calibration images, as Litesmith calibrates without
   data). The figure is the SUM of the four `convert()` times (the converter
   alone: no TensorFlow import, no model load, no evaluation).
2. litesmith: `litesmith optimize MODEL -q fp32,dynamic,float16,int8 --no-cache
   --no-export`, the real CLI in a fresh process, timed wall clock from start to
   exit: TensorFlow import, loading, the original model's reference run on 128
   images, the conversions and the evaluation of every variant included.
3. ratio = litesmith / plain (target <= 0.5) and the peak RSS of the engine's
   child (the largest process of the run: `ru_maxrss` of the waited-for
   descendants, read in a wrapper process so each run is measured alone).
   Targets: MobileNetV2 < 3 GiB, ResNet50 < 6 GiB.

    .venv/bin/python bench/bench_convert.py [--models mobilenetv2,resnet50] [--repo PATH] [--skip-plain]

--repo PATH runs the CLI of another checkout (e.g. `git archive HEAD` unpacked
in /tmp) with this venv: the "before" figures. Writes bench/results/convert.json.
Times depend on the machine and its load: the script prints `uptime` before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODES = ("fp32", "dynamic", "float16", "int8")
CALIBRATION = 100  # Litesmith's synthetic calibration set without --data
TARGETS_GIB = {"mobilenetv2": 3.0, "resnet50": 6.0}
RATIO_TARGET = 0.5

# Runs a command and prints its wall time and the peak RSS of its largest waited-for descendant.
_WRAPPER = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": rc, "seconds": time.perf_counter() - t, "cpu_seconds": u.ru_utime + u.ru_stime,
                  "peak_rss_gib": u.ru_maxrss / 2**20}))
"""


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def build_models(names: list[str], folder: Path) -> dict[str, Path]:
    """Save each model as .keras in a fresh process (this process stays free of TensorFlow)."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from core.tf_runtime import import_keras\n"
        "keras = import_keras(); keras.utils.set_random_seed(0)\n"
        "apps = {'mobilenetv2': keras.applications.MobileNetV2, 'resnet50': keras.applications.ResNet50}\n"
        "for name in sys.argv[3:]:\n"
        "    apps[name](weights=None).save(f'{sys.argv[2]}/{name}.keras')\n"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(REPO), str(folder), *names],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return {name: folder / f"{name}.keras" for name in names}


def plain_worker(model_path: str) -> None:
    """(In its own process) four plain converter runs; prints {mode: seconds} as JSON."""
    sys.path.insert(0, str(REPO))
    import numpy as np

    from core.tf_runtime import import_keras, import_tensorflow

    tf, keras = import_tensorflow(), import_keras()
    model = keras.models.load_model(model_path)
    shape = (1,) + tuple(model.input_shape[1:])
    images = np.random.default_rng(0).uniform(-1, 1, (CALIBRATION,) + shape[1:]).astype(np.float32)
    seconds = {}
    for mode in MODES:
        started, cpu = time.perf_counter(), time.process_time()
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        if mode != "fp32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if mode == "float16":
            converter.target_spec.supported_types = [tf.float16]
        if mode == "int8":
            converter.representative_dataset = lambda: ([images[i : i + 1]] for i in range(CALIBRATION))
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        data = converter.convert()
        seconds[mode] = time.perf_counter() - started
        seconds[mode + "_cpu"] = time.process_time() - cpu
        seconds[mode + "_bytes"] = len(data)
    print("PLAIN " + json.dumps(seconds), flush=True)


def measured(command: list[str], cwd: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *command], cwd=cwd, capture_output=True, text=True, check=False
    )
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"rc": -1, "error": (out.stderr or out.stdout)[-400:]}


def plain(model: Path) -> dict:
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--plain-worker", str(model)],
        capture_output=True,
        text=True,
        check=False,
    )
    line = next((x for x in out.stdout.splitlines() if x.startswith("PLAIN ")), None)
    if line is None:
        return {"error": out.stderr[-400:]}
    seconds = json.loads(line[len("PLAIN ") :])
    seconds["sum"] = sum(seconds[m] for m in MODES)
    seconds["cpu_sum"] = sum(seconds[m + "_cpu"] for m in MODES)
    return seconds


def litesmith(model: Path, repo: Path) -> dict:
    command = [
        sys.executable,
        "-m",
        "gui.entry",
        "optimize",
        str(model),
        "-q",
        ",".join(MODES),
        "--no-cache",
        "--no-export",
    ]
    return measured(command, repo)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mobilenetv2,resnet50")
    parser.add_argument("--repo", default=str(REPO), help="the checkout whose CLI is measured (default: this one)")
    parser.add_argument("--skip-plain", action="store_true", help="only Litesmith's run (e.g. for --repo)")
    parser.add_argument("--plain-worker", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "convert.json"))
    args = parser.parse_args(argv)
    if args.plain_worker:
        plain_worker(args.plain_worker)
        return 0
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    repo = Path(args.repo).resolve()
    print(f"before: {_uptime()}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="litesmith-bench-convert-") as tmp:
        paths = build_models(names, Path(tmp))
        for name in names:
            row: dict = {"model": name, "repo": str(repo)}
            if not args.skip_plain:
                row["plain"] = plain(paths[name])
            row["litesmith"] = litesmith(paths[name], repo)
            rows.append(row)
            p, ls = row.get("plain", {}), row["litesmith"]
            if "sum" in p:
                print(
                    f"{name}: plain converter "
                    + ", ".join(f"{m} {p[m]:.1f} s" for m in MODES)
                    + f" = {p['sum']:.1f} s ({p['cpu_sum']:.1f} s CPU)",
                    flush=True,
                )
            print(
                f"{name}: litesmith optimize -q {','.join(MODES)}: {ls.get('seconds', float('nan')):.1f} s "
                f"({ls.get('cpu_seconds', float('nan')):.1f} s CPU), "
                f"peak child RSS {ls.get('peak_rss_gib', float('nan')):.2f} GiB, exit {ls.get('rc')}"
                + (f" ({ls['error']})" if "error" in ls else ""),
                flush=True,
            )
    print()
    print(
        f"{'model':<12}{'plain sum s':>12}{'litesmith s':>13}{'ratio':>8}{'target':>8}{'peak RSS GiB':>14}{'target':>8}"
    )
    ok = True
    for row in rows:
        p, ls = row.get("plain", {}), row["litesmith"]
        ratio = ls["seconds"] / p["sum"] if "sum" in p and "seconds" in ls else None
        rss = ls.get("peak_rss_gib")
        target = TARGETS_GIB.get(row["model"])
        row["ratio"] = ratio
        row["cpu_ratio"] = ls["cpu_seconds"] / p["cpu_sum"] if "cpu_sum" in p and "cpu_seconds" in ls else None
        row["ratio_pass"] = None if ratio is None else ratio <= RATIO_TARGET
        row["rss_pass"] = None if rss is None or target is None else rss < target
        ok = ok and ls.get("rc") == 0 and row["rss_pass"] is not False
        ratio_text = "-" if ratio is None else f"{ratio:.2f}"
        print(
            f"{row['model']:<12}{p.get('sum', float('nan')):>12.1f}{ls.get('seconds', float('nan')):>13.1f}"
            f"{ratio_text:>8}{'<=' + str(RATIO_TARGET):>8}{rss if rss is not None else float('nan'):>14.2f}"
            f"{'<' + str(target):>8}"
        )
    for row in rows:
        if row.get("cpu_ratio") is not None:
            print(
                f"{row['model']}: CPU seconds, litesmith (whole process tree) / plain (convert() calls only): "
                f"{row['cpu_ratio']:.2f}"
            )
    print(f"after: {_uptime()}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_suffix(".json.part")
    tmp_out.write_text(
        json.dumps(
            {
                "rows": rows,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "calibration_samples": CALIBRATION,
            },
            indent=2,
        )
        + "\n"
    )
    os.replace(tmp_out, out)
    print(f"wrote {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
