"""Cached reruns: wall time of a repeated `litesmith optimize` (and `--auto`) against the first run.

On the fraud sample (resources/samples), each command is run as a fresh process
(what a user types), with a result cache of its own:

1. the first run, with an empty cache (timed);
2. `--rounds` cached reruns, timed: the lookup happens in the CLI's process before
   any engine child starts (`core.cache_index`); with an export, one child without
   TensorFlow runs the written .tflite once;
3. the same reruns the way Litesmith did them before `core.cache_index` ("via
   child"): the job submitted to the engine's child, which preloads TensorFlow
   and finds everything in the cache there. Measured side by side, alternating
   with (2), so the load of a shared machine weighs on both alike.

The app's Run (`gui.workflow.RunController`: optimize, then the benchmark of
the original and its variants, over a real engine, offscreen) is timed the same
way in one process: the first Run, then cached Runs, counting the jobs that
reached the engine's child during them.

Target: every cached rerun's median under 1.5 s of wall time. Figures are the
median and the worst of the rounds; the load average is printed at the end.
The processes keep compiled bytecode (in a temporary PYTHONPYCACHEPREFIX, even
where PYTHONDONTWRITEBYTECODE is set), as an installed Litesmith has it.

    .venv/bin/python bench/bench_cache.py [--rounds 5]

Writes bench/results/cache.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "resources" / "samples"
TARGET_S = 1.5

# Runs the CLI as before core.cache_index: the jobs themselves go to the child, which preloads TensorFlow.
VIA_CHILD = """
import sys
sys.path.insert(0, {root!r})
import core.cache_index as cache_index
from core.auto.search import auto_optimize
from core.engine import Engine
from core.optimize.pipeline import optimize_model

cache_index.auto_cached = auto_optimize
cache_index.optimize_cached = optimize_model
Engine.preload_tensorflow = property(lambda self: True, lambda self, value: None)
from core.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def commands(out: Path) -> dict[str, list[str]]:
    model, calib, evaluation = (str(SAMPLES / n) for n in ("fraud.keras", "fraud_calib.npz", "fraud_eval.npz"))
    data = ["--data", calib, "--eval-data", evaluation]
    return {
        "optimize --auto (export)": ["optimize", model, "--auto", *data, "--out", f"{out}{os.sep}"],
        "optimize --auto --no-export": ["optimize", model, "--auto", *data, "--no-export"],
        "optimize -q fp32,dynamic,float16,int8 (export)": [
            "optimize",
            model,
            "-q",
            "fp32,dynamic,float16,int8",
            *data,
            "--out",
            f"{out}{os.sep}",
        ],
    }


def timed(argv: list[str], env: dict[str, str], via_child: bool = False) -> float:
    cmd = (
        [sys.executable, "-c", VIA_CHILD.format(root=str(ROOT)), *argv]
        if via_child
        else [sys.executable, "-m", "core", *argv]
    )
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds


GUI_RUNS = """
import json, os, sys, time
sys.path.insert(0, {root!r})
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6.QtCore import QEventLoop
from PySide6.QtWidgets import QApplication
from core.engine import Engine
from gui.recipe import RunSettings
from gui.workers import JobRunner
from gui.workflow import RunController

app = QApplication([])
sent = []
real_send = Engine._send
Engine._send = lambda engine, message: (sent.append(message[0]), real_send(engine, message))[1]
engine = Engine(preload_tensorflow=False)
runner = JobRunner(engine)
controller = RunController(runner)
settings = RunSettings(modes=("dynamic", "int8"), data_path={data!r}, runs=300, seconds=None)
times, jobs = [], []
for _ in range({rounds} + 1):
    loop, out = QEventLoop(), {{}}
    done = lambda value, key: (out.setdefault(key, value), loop.quit())
    controller.run_finished.connect(lambda o: done(o, "outcome"))
    controller.run_failed.connect(lambda e: done(e, "error"))
    before = sent.count("job")
    started = time.perf_counter()
    assert controller.start({model!r}, settings)
    loop.exec()
    times.append(time.perf_counter() - started)
    jobs.append(sent.count("job") - before)
    controller.run_finished.disconnect()
    controller.run_failed.disconnect()
    if "error" in out:
        raise SystemExit(out["error"].one_line())
runner.shutdown()
engine.close()
print(json.dumps({{"times": times, "jobs": jobs}}))
"""


def gui_runs(env: dict[str, str], rounds: int) -> dict:
    """The first Run and `rounds` cached Runs of the app's RunController (seconds, jobs sent to the child)."""
    import json

    script = GUI_RUNS.format(
        root=str(ROOT), model=str(SAMPLES / "fraud.keras"), data=str(SAMPLES / "fraud_eval.npz"), rounds=rounds
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the GUI runs failed ({done.returncode}):\n{done.stderr[-2000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    cached = figures["times"][1:]
    return {
        "command": "app Run (optimize dynamic,int8 + benchmark)",
        "first_s": figures["times"][0],
        "cached_median_s": statistics.median(cached),
        "cached_max_s": max(cached),
        "via_child_median_s": None,
        "child_jobs_in_cached_runs": sum(figures["jobs"][1:]),
        "pass": statistics.median(cached) < TARGET_S,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="cached reruns per command and path (default 5)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="litesmith-bench-cache-"))
    rows = []
    try:
        for name, argv in commands(folder / "out").items():
            (folder / "out").mkdir(exist_ok=True)
            env = {
                **os.environ,
                "LITESMITH_CACHE_DIR": str(folder / f"cache-{len(rows)}"),
                "PYTHONPYCACHEPREFIX": str(folder / "pycache"),
            }
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            first = timed(argv, env)
            timed(argv, env)  # writes what only the parent writes (the auto index) on top of the child's entries
            now, before = [], []
            for _ in range(args.rounds):
                now.append(timed(argv, env))
                before.append(timed(argv, env, via_child=True))
            rows.append(
                {
                    "command": name,
                    "first_s": first,
                    "cached_median_s": statistics.median(now),
                    "cached_max_s": max(now),
                    "via_child_median_s": statistics.median(before),
                    "pass": statistics.median(now) < TARGET_S,
                }
            )
            shutil.rmtree(folder / "out", ignore_errors=True)
        env = {
            **os.environ,
            "LITESMITH_CACHE_DIR": str(folder / "cache-gui"),
            "PYTHONPYCACHEPREFIX": str(folder / "pycache"),
        }
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        rows.append(gui_runs(env, args.rounds))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"fraud sample, {args.rounds} cached reruns per command (fresh processes; target: median < {TARGET_S} s)")
    header = f"{'command':<48} {'first':>8} {'cached':>8} {'worst':>8} {'ratio':>7} {'via child':>10}  pass"
    print(header)
    for r in rows:
        via = "-" if r["via_child_median_s"] is None else f"{r['via_child_median_s']:.2f}s"
        print(
            f"{r['command']:<48} {r['first_s']:7.2f}s {r['cached_median_s']:7.2f}s {r['cached_max_s']:7.2f}s "
            f"{r['cached_median_s'] / r['first_s']:6.1%} {via:>10}  {'yes' if r['pass'] else 'NO'}"
        )
        if "child_jobs_in_cached_runs" in r:
            print(f"  jobs sent to the engine's child during the cached app Runs: {r['child_jobs_in_cached_runs']}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))
    from core.jsonout import dumps

    (out / "cache.json").write_text(
        dumps({"rounds": args.rounds, "target_s": TARGET_S, "results": rows, "loadavg": list(os.getloadavg())}) + "\n"
    )
    return 0 if all(r["pass"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
