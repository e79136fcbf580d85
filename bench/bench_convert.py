"""Conversion time and size of MobileNetV2 (weights=None, 224x224) in every quantization mode.

Builds the model in-process (random weights, nothing downloaded), converts it
with the pipeline's own converter code (`core.optimize.convert.ConverterFactory`
+ `core.optimize.quantize.configure_converter`) in fp32, dynamic, float16,
int8 and int16x8, and prints conversion time, .tflite size and the size ratio
to fp32. With --fidelity N (default 8) each variant also runs on N random
images and is compared with Keras (max |diff|, top-1 agreement); random
weights and random images make these figures a smoke test, not an accuracy claim.

Calibration (int8, int16x8) uses --calibration random images, one at a time.

Usage:  .venv/bin/python bench/bench_convert.py [--calibration 32] [--fidelity 8] [--modes fp32,int8]
Writes bench/results/convert.json. Times depend on the machine and its load.
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

MODES = ("fp32", "dynamic", "float16", "int8", "int16x8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--calibration", type=int, default=32, help="calibration images (int8, int16x8)")
    parser.add_argument("--fidelity", type=int, default=8, help="random images to compare with Keras (0: skip)")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "convert.json"))
    args = parser.parse_args(argv)

    from core.models.signatures import keras_interface
    from core.optimize.convert import SERVING, ConverterFactory, quiet_native
    from core.optimize.env import environment
    from core.optimize.quantize import configure_converter, representative_dataset
    from core.optimize.runtime import run_tflite
    from core.tf_runtime import import_keras, import_tensorflow

    tf = import_tensorflow()
    keras = import_keras()
    keras.utils.set_random_seed(0)
    started = time.perf_counter()
    model = keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))
    build_seconds = time.perf_counter() - started
    rng = np.random.default_rng(0)
    calibration = rng.uniform(-1.0, 1.0, (args.calibration, 224, 224, 3)).astype(np.float32)
    probe = rng.uniform(-1.0, 1.0, (args.fidelity, 224, 224, 3)).astype(np.float32) if args.fidelity else None
    reference = model.predict(probe, verbose=0) if probe is not None else None
    print(f"MobileNetV2 (weights=None) built in {build_seconds:.1f} s, {model.count_params():,} parameters",
          flush=True)
    # Inputs and outputs are addressed by name (the converter's named-signature export keeps Keras's names).
    interface = keras_interface(model)
    (input_name,), (output_name,) = interface.input_names, interface.output_names

    rows = []
    for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
        factory = ConverterFactory(keras_model=model, path="MobileNetV2")
        representative = representative_dataset({input_name: calibration}) if mode in ("int8", "int16x8") else None
        t0 = time.perf_counter()
        try:
            data, path, _ = factory.convert(
                lambda c, mode=mode, representative=representative: configure_converter(
                    tf, c, mode, representative=representative))
        except Exception as exc:  # noqa: BLE001 - a failed mode is a row, not the end of the run
            rows.append({"mode": mode, "error": str(exc).splitlines()[0][:200]})
            print(f"{mode:<8} FAILED: {rows[-1]['error']}", flush=True)
            continue
        finally:
            factory.close()
        seconds = time.perf_counter() - t0
        row = {"mode": mode, "convert_seconds": round(seconds, 2), "size_bytes": len(data), "converter_path": path}
        if probe is not None:
            try:
                with quiet_native():
                    out = run_tflite(data, {input_name: probe}, signature=SERVING, batch_size=1)[output_name]
            except RuntimeError as exc:
                row["run_error"] = str(exc).strip().splitlines()[0][:200]
            else:
                row["max_abs_diff"] = float(np.max(np.abs(out - reference)))
                row["top1_agreement"] = float(np.mean(np.argmax(out, 1) == np.argmax(reference, 1)))
        rows.append(row)
        print(f"{mode:<8} {seconds:7.1f} s  {len(data) / 2**20:7.2f} MiB  ({path})"
              + (f"  DOES NOT RUN: {row['run_error']}" if "run_error" in row else ""), flush=True)

    fp32 = next((r for r in rows if r["mode"] == "fp32" and "size_bytes" in r), None)
    for r in rows:
        if fp32 is not None and "size_bytes" in r:
            r["size_ratio"] = round(r["size_bytes"] / fp32["size_bytes"], 4)
            r["time_ratio"] = round(r["convert_seconds"] / fp32["convert_seconds"], 2)

    print()
    header = f"{'mode':<9}{'convert s':>10}{'x fp32':>8}{'size MiB':>10}{'size ratio':>12}"
    if probe is not None:
        header += f"{'max|diff|':>11}{'top-1 agree':>13}"
    print(header)
    for r in rows:
        if "error" in r:
            print(f"{r['mode']:<9}FAILED  {r['error']}")
            continue
        line = (f"{r['mode']:<9}{r['convert_seconds']:>10.1f}{r.get('time_ratio', float('nan')):>8.2f}"
                f"{r['size_bytes'] / 2**20:>10.2f}{r.get('size_ratio', float('nan')):>12.3f}")
        if probe is not None:
            if "run_error" in r:
                line += "  does not run in LiteRT: " + r["run_error"][:70]
            else:
                line += f"{r['max_abs_diff']:>11.3g}{r['top1_agreement'] * 100:>12.0f}%"
        print(line)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"model": "MobileNetV2(weights=None, 224x224x3)", "params": int(model.count_params()),
               "calibration_samples": args.calibration, "fidelity_samples": args.fidelity, "rows": rows,
               "environment": environment(), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    tmp = out.with_suffix(".json.part")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    os.replace(tmp, out)
    print(f"\nwrote {out}")
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
