"""Time from `inspect` start to result for each bundled sample, with a cold and a warm engine.

Cold: a fresh engine (spawn the child, import TensorFlow, load, inspect).
Warm: the same engine's second job (TensorFlow already imported in the child).
Run: .venv/bin/python bench/bench_inspect.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.engine import Engine  # noqa: E402
from core.models.inspection import inspect_model  # noqa: E402

SAMPLES = ["digits.keras", "fraud.keras"]


def main() -> int:
    rows = []
    for name in SAMPLES:
        path = str(REPO / "resources" / "samples" / name)
        with Engine() as engine:
            start = time.perf_counter()
            engine.run(inspect_model, path, subject=path)
            cold = time.perf_counter() - start
            start = time.perf_counter()
            engine.run(inspect_model, path, subject=path)
            warm = time.perf_counter() - start
        rows.append({"model": name, "cold_s": round(cold, 2), "warm_s": round(warm, 3)})
    print(f"{'model':<16}{'cold (s)':>10}{'warm (s)':>10}{'cold/warm':>11}")
    for row in rows:
        print(f"{row['model']:<16}{row['cold_s']:>10.2f}{row['warm_s']:>10.3f}{row['cold_s'] / row['warm_s']:>10.1f}x")
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "inspect.json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
