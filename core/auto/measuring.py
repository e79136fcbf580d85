"""Auto mode's measuring of one candidate that meets the budget: the sweep plan and its early stop.

The sweep runs batch 1 on the fewest threads first; when even perfect scaling over every
thread count could not beat the fastest candidate so far (within `TIE_TOLERANCE`), the
rest of the sweep is skipped and the candidate says why. Figures come from
`core.benchmark.measure.measure_tflite` (the result cache serves repeats).
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from typing import Any

from core.auto.pareto import TIE_TOLERANCE
from core.auto.results import FAILED, MEASURED, AutoCandidate, AutoSettings
from core.benchmark.recommend import recommend
from core.benchmark.results import BenchConfig, BenchmarkResult
from core.benchmark.stats import fmt_ms
from core.optimize.results import Variant


def usable_threads(threads: tuple[int, ...]) -> tuple[int, ...]:
    """The thread counts up to this machine's logical CPUs (os.cpu_count), sorted and unique; (1,) if none."""
    cores = os.cpu_count() or 1
    kept = tuple(sorted({t for t in threads if t <= cores}))
    return kept or (1,)


def combine_results(results: list[BenchmarkResult], budget_ms: float) -> BenchmarkResult:
    """One result from a candidate's sweep parts: every configuration, notes and explanations (deduplicated),
    the summed seconds and a recommendation recomputed over all configurations under `budget_ms` (p99, ms).

    `results` must not be empty (IndexError otherwise).
    """
    configs = tuple(c for r in results for c in r.configs)
    first = results[0]
    notes = tuple(dict.fromkeys(n for r in results for n in r.notes))
    return replace(
        first,
        configs=configs,
        recommendation=recommend(configs, budget_ms),
        explanations=tuple(dict.fromkeys(e for r in results for e in r.explanations)),
        notes=notes,
        explained=tuple({e.text: e for r in results for e in r.explained}.values()),
        variant_facts=tuple({f.variant: f for r in results for f in r.variant_facts}.values()),
        seconds=sum(r.seconds for r in results),
    )


class MeasuringMixin:
    """`_Search`'s measuring half (`core.auto.search`): needs the attributes annotated below."""

    settings: AutoSettings
    threads: tuple[int, ...]
    batches: tuple[int, ...]
    cache: Any
    options: Any
    setup_info: Any
    progress: Any
    cancel: Any

    def best(self) -> AutoCandidate | None:
        """The best candidate so far (given by `_Search`)."""
        raise NotImplementedError

    def _measured_shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-sample input shapes to measure at: the evaluation data's (or the given --input-shape) sizes."""
        shapes = dict(self.setup_info.data.input_shapes) if self.setup_info.data.input_shapes else {}
        return {**shapes, **dict(self.options.input_shapes)} if not shapes else shapes

    def _bench_config(self, threads: tuple[int, ...], batches: tuple[int, ...]) -> BenchConfig:
        # facts=False: auto mode ranks by the sweep's figures and shows no per-variant explanations, so the
        # XNNPACK on/off ablation would only cost time here.
        return BenchConfig(
            threads=threads,
            batch_sizes=batches,
            seconds=self.settings.seconds_per_config,
            warmup=self.settings.warmup,
            facts=False,
        )

    def _measure(self, variant: Variant, base: dict[str, Any], done: int, span: float) -> AutoCandidate:
        """Benchmark `variant` over the sweep plan (cut short when it cannot win); `base`: the candidate's
        other fields. Latency: the lowest p50 (ms) at the smallest batch; throughput: the best over the sweep.
        A runner that cannot run the variant makes a FAILED candidate."""
        from core.benchmark.measure import measure_tflite, served_from_cache

        started = time.perf_counter()
        b0 = self.batches[0]
        plan = [self._bench_config((self.threads[0],), (b0,))]
        if len(self.batches) > 1:
            plan.append(self._bench_config((self.threads[0],), self.batches[1:]))
        plan += [self._bench_config((t,), self.batches) for t in self.threads[1:]]
        results: list[BenchmarkResult] = []
        notes: list[str] = []
        all_cached = True
        best = self.best()
        for i, config in enumerate(plan):
            sub = self.progress.scaled(
                (done + 0.6 + 0.4 * i / len(plan)) * span, (done + 0.6 + 0.4 * (i + 1) / len(plan)) * span, variant.name
            )
            try:
                result = measure_tflite(
                    variant.tflite_bytes,
                    config,
                    sub,
                    self.cancel,
                    variant=variant.name,
                    cache=self.cache,
                    signature=variant.signature,
                    input_shapes=self._measured_shapes(),
                )
            except (RuntimeError, ValueError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                return AutoCandidate(
                    status=FAILED,
                    reason=f"cannot be benchmarked: {first[:200]}",
                    measure_seconds=time.perf_counter() - started,
                    **base,
                )
            all_cached = all_cached and served_from_cache(result)
            results.append(result)
            if i == 0 and self.settings.probe and best is not None and best.latency_ms is not None and len(plan) > 1:
                probe = [c for c in result.configs if c.ok]
                if probe:
                    p50 = probe[0].stats.p50
                    speedup = max(self.threads) if self.threads[0] == 1 else max(self.threads) / self.threads[0]
                    bound = p50 / speedup
                    if bound > best.latency_ms * (1 + TIE_TOLERANCE):
                        notes.append(
                            f"sweep cut short: p50 {fmt_ms(p50)} at batch {b0} with {self.threads[0]} thread(s); even "
                            f"perfect scaling to {max(self.threads)} threads ({fmt_ms(bound)}) cannot beat "
                            f"{best.name} ({fmt_ms(best.latency_ms)})"
                        )
                        break
        bench = combine_results(results, budget_ms=BenchConfig().budget_ms)
        ok = [c for c in bench.configs if c.ok]
        if not ok:
            errors = "; ".join(sorted({c.error for c in bench.configs if c.error})) or "no samples"
            return AutoCandidate(
                status=FAILED,
                reason=f"could not be measured: {errors}",
                bench=bench,
                bench_from_cache=all_cached,
                measure_seconds=time.perf_counter() - started,
                **base,
            )
        at_b0 = [c for c in ok if c.batch_size == b0] or ok
        fastest = min(at_b0, key=lambda c: (c.stats.p50, c.threads or 0))
        top = max(ok, key=lambda c: c.stats.throughput)
        return AutoCandidate(
            status=MEASURED,
            reason="; ".join(notes),
            latency_ms=fastest.stats.p50,
            latency_config=fastest.label,
            threads=fastest.threads,
            batch_size=fastest.batch_size,
            throughput=top.stats.throughput,
            throughput_config=top.label,
            bench=bench,
            bench_from_cache=all_cached,
            measure_seconds=time.perf_counter() - started,
            **base,
        )
