"""Serving under load: the fraud sample (int8 and fp32) and the digits sample at p99 <= 5 ms.

Makes the .tflite variants with Litesmith's own engine (`litesmith optimize SAMPLE --quantize
fp32,int8 --data SAMPLE_calib.npz`, into a temporary folder; nothing downloaded), then runs the
serving study (`core.serving.study_serving`, in the engine's child like the CLI) on the evaluation
data's real samples and prints, per variant: the sustainable rate at p99 <= 5 ms with no batching
(one interpreter, one request at a time) and with the recommended dynamic-batching policy (both
simulated from measured service times, with the harness's costs measured in real calibration runs
at about those rates), the real load test at each (80% of the simulated rate), how many requests
its p99 rests on, and the simulation's p99 error against the real runs on the same arrivals
(target: within 15% below saturation). The real runs at each confirming rate alternate with the
calibration runs there, so the machine's drift meets both alike; the machine's own stalls (a
sleeping thread's late wake-ups) are measured before and after, as the noise floor.

Usage:  .venv/bin/python bench/bench_serving.py [--p99-ms 5] [--seconds 8] [--samples fraud,digits]
Writes bench/results/serving-SAMPLE.json. The machine's load sets the tail: the script prints `uptime`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SAMPLES = REPO / "resources" / "samples"


def make_variants(sample: str, folder: Path) -> list[tuple[str, str]]:
    """fp32 and int8 .tflite of a bundled sample, made by `litesmith optimize` (the engine's converter)."""
    from core.cli.main import main as cli

    out = folder / sample
    out.mkdir(parents=True, exist_ok=True)
    code = cli(
        [
            "optimize",
            str(SAMPLES / f"{sample}.keras"),
            "--quantize",
            "fp32,int8",
            "--data",
            str(SAMPLES / f"{sample}_calib.npz"),
            "--eval-samples",
            "200",
            "--out",
            str(out),
            "--no-cache",
        ]
    )
    if code != 0:
        raise SystemExit(f"litesmith optimize {sample} failed with exit code {code}")
    found = sorted(out.glob("*.tflite"))
    return [(p.name.removesuffix(".tflite"), str(p)) for p in found]


def machine_stalls(seconds: float = 5.0, nap_s: float = 0.0005, stall_ms: float = 1.0) -> str:
    """The machine's own noise floor: a lone thread sleeping `nap_s` at a time for `seconds`; how often it
    woke more than `stall_ms` late and by how much. A p99 of a millisecond rests on stalls like these."""
    late: list[float] = []
    naps = 0
    end = time.perf_counter() + seconds
    while (t0 := time.perf_counter()) < end:
        time.sleep(nap_s)
        naps += 1
        over = (time.perf_counter() - t0 - nap_s) * 1000.0
        if over > stall_ms:
            late.append(over)
    worst = f", worst {max(late):.1f} ms" if late else ""
    return (
        f"machine floor: a thread sleeping {nap_s * 1000:g} ms at a time woke over {stall_ms:g} ms late "
        f"{len(late)} times in {seconds:g} s ({naps:,} naps){worst}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--p99-ms", type=float, default=5.0)
    parser.add_argument(
        "--seconds",
        type=float,
        default=8.0,
        help="length of each real load test, s (stretched up to 4x to carry 3,000 requests; the CLI's default is 3)",
    )
    parser.add_argument("--samples", default="fraud,digits")
    parser.add_argument("--digits-modes", default="fp32", help="which digits variants to study (fp32,int8)")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "serving.json"))
    args = parser.parse_args(argv)

    from core.engine.supervisor import Engine
    from core.jsonout import dumps, stamp
    from core.schemas import LOADTEST
    from core.serving.api import study_serving
    from core.serving.report import format_study, study_document

    rows = []
    documents = {}
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), flush=True)
    floor = machine_stalls()
    print(floor, flush=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        for sample in [s.strip() for s in args.samples.split(",") if s.strip()]:
            variants = make_variants(sample, Path(tmp))
            if sample == "digits":
                keep = {m.strip() for m in args.digits_modes.split(",")}
                variants = [v for v in variants if v[0].rsplit(".", 1)[-1] in keep]
            data = str(SAMPLES / f"{sample}_eval.npz")
            # As `litesmith loadtest`: LiteRT runs the .tflite, and a TensorFlow import in the child's
            # background would share the cores with the first variant's timings.
            engine = Engine(preload_tensorflow=False)
            try:
                study = engine.run(study_serving, variants, p99_ms=args.p99_ms, seconds=args.seconds, samples_path=data)
            finally:
                engine.close()
            print(format_study(study), flush=True)
            print(flush=True)
            documents[sample] = study_document(study)
            for v in study.variants:
                rows.append(
                    (
                        v.variant,
                        v.sustainable_rps_unbatched,
                        v.sustainable_rps,
                        v.recommended,
                        v.confirmed_unbatched,
                        v.simulation_error_unbatched,
                        v.repeat_error_unbatched,
                        v.confirmed,
                        v.simulation_error,
                        v.repeat_error,
                    )
                )
    print(
        f"summary at p99 <= {args.p99_ms:g} ms (sustainable rates simulated from measured service times; "
        f"'real' = load test at 80% of it)"
    )
    header = (
        f"{'variant':<14} {'no batching':>12} {'real p99':>9} {'n':>7} {'sim err':>8} {'repeat':>7}   "
        f"{'recommended':>12} {'policy':<32} {'real p99':>9} {'n':>7} {'sim err':>8} {'repeat':>7}"
    )
    print(header)
    print("-" * len(header))

    def rate(x):
        return "-" if x is None else f"{x:,.0f}/s"

    def p99(point):
        if point is None:
            return "-"
        flag = "" if point.generator_kept_up else "*"
        flag += "S" if point.saturated else ""
        return f"{point.latency.total.p99:.2f}{flag}"

    def err(e):
        return "-" if e is None else f"{e:.0%}"

    def count(point):
        return "-" if point is None else f"{point.requests:,}"

    for name, unb, rec, policy, real_unb, err_unb, rep_unb, real_rec, err_rec, rep_rec in rows:
        print(
            f"{name:<14} {rate(unb):>12} {p99(real_unb):>9} {count(real_unb):>7} {err(err_unb):>8} {err(rep_unb):>7}   "
            f"{rate(rec):>12} {(policy.label() if policy else '-'):<32} {p99(real_rec):>9} {count(real_rec):>7} "
            f"{err(err_rec):>8} {err(rep_rec):>7}"
        )
    print(
        "real p99: over all the requests of the 5 real runs at that rate (n: how many); sim err: simulated against\n"
        "real p99, the latter and that of their twins each over all their requests; repeat: the same figure between the\n"
        "calibration runs at that rate and those real runs (real against real: the machine's own floor).\n"
        "* the generator fell behind the offered rate in that real run; S saturated"
    )
    print(floor)
    print(machine_stalls())
    print(f"total {time.perf_counter() - started:.0f} s")
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for sample, document in documents.items():  # one litesmith.loadtest document per sample
        (out.parent / f"{out.stem}-{sample}{out.suffix}").write_text(dumps(stamp(LOADTEST, document)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
