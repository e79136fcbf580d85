"""The shared core of the benchmark jobs: measure runners over a config's sweep and explain the outcome.

`run_benchmark` takes runners already built (`core.benchmark.runners`) and returns a frozen
`BenchmarkResult`: latencies from `core.benchmark.sweep`, an optional per-layer profile of a
Keras model (`core.benchmark.profile`), XNNPACK on/off facts (`core.benchmark.facts`), the
recommendation (`core.benchmark.recommend`) and the explanations (`core.benchmark.explain`).
The jobs that load a model and build its runners live in `core.benchmark.measure`.
"""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

from core.benchmark.explain import explain
from core.benchmark.facts import ABLATION_SECONDS, measure_facts
from core.benchmark.inputs import InputPlan, plan_inputs
from core.benchmark.profile import profile_keras_layers
from core.benchmark.recommend import recommend
from core.benchmark.results import (
    BenchConfig,
    BenchmarkResult,
    DataProfile,
    DelegationInfo,
    Explanation,
    LayerTime,
    VariantFacts,
)
from core.benchmark.runners import KerasRunner, Runner
from core.benchmark.sweep import DataFeed, sweep
from core.engine.context import CancelToken, Reporter


def run_benchmark(
    runners: Sequence[Runner],
    config: BenchConfig,
    *,
    progress: Reporter,
    cancel: CancelToken,
    model_label: str,
    data: DataFeed | None = None,
    keras_model: Any = None,
    notes: Sequence[str] = (),
    plan: InputPlan | None = None,
    input_shapes: Mapping[str, tuple[int, ...]] | None = None,
) -> BenchmarkResult:
    """Measure `runners` over the config's sweep and explain the outcome (the shared core of the jobs).

    `input_shapes`: per-sample shapes of inputs with free dimensions, used without `data`.
    `keras_model` (a loaded keras.Model) is profiled layer by layer when `config.profile_layers`.
    Latencies are measured by `core.benchmark.sweep`; XNNPACK facts by `core.benchmark.facts`.
    """
    started = time.perf_counter()
    notes = list(notes)
    if plan is None:
        plan = plan_inputs(runners, data, dict(input_shapes or {}))
    interface = None
    for runner in runners:
        if getattr(runner, "plan_error", None) is None:
            try:
                interface = runner.interface
            except Exception:  # noqa: BLE001 - planned runners have loaded; be safe anyway
                continue
            break
    if data is not None:
        notes += [n for n in data.notes if n not in notes]
    notes += [n for n in plan.notes if n not in notes]
    profile: tuple[LayerTime, ...] = ()
    if config.profile_layers and keras_model is not None:
        progress(None, "timing layers", "profile")
        keras_runner = next((r for r in runners if isinstance(r, KerasRunner)), None)
        shapes = keras_runner.sample_shapes() if keras_runner is not None else None
        profile = profile_keras_layers(
            keras_model, batch_size=config.batch_sizes[0], runs=5, cancel=cancel, seed=config.seed, sample_shapes=shapes
        )
    configs = sweep(runners, config, progress=progress.scaled(0.0, 0.97, "benchmark"), cancel=cancel, data=data)
    delegation: dict[str, DelegationInfo] = {}
    for runner in runners:
        info = getattr(runner, "delegation", None)
        if info is not None:
            delegation.setdefault(runner.variant, info)
        notes += [n for n in getattr(runner, "notes", ()) if n not in notes]
    if any(r.runner.startswith("litert") for r in configs) and not profile:
        notes.append(
            "per-op times are not exposed by ai_edge_litert's Python API; which ops XNNPACK took and "
            "each variant timed with XNNPACK on and off stand in for them"
        )
    recommendation = recommend(configs, config.budget_ms, batch=config.batch_sizes[0], threads=config.threads[0])
    facts: tuple[VariantFacts, ...] = ()
    if config.facts and any(r.ok and r.runner.startswith("litert") for r in configs):
        progress(0.98, "measuring XNNPACK on/off", "benchmark")
        facts = measure_facts(
            runners,
            cancel=cancel,
            calls=config.runs,
            seconds=min(ABLATION_SECONDS, (config.time_budget_s or ABLATION_SECONDS) / 2),
        )
    explanations = explain(configs, delegation, facts=facts)
    data_profile = None
    if data is not None:
        data_profile = DataProfile(
            samples=data.samples,
            batches=data.batches,
            load_ms=data.load_ms,
            prepare_ms=data.prepare_ms,
            model_ms=data.model_ms,
        )
        if data.batches:
            explanations.append(
                Explanation(
                    f"data: {data_profile.data_share:.0%} of the time went to loading and preparing batches "
                    f"({data.load_ms + data.prepare_ms:.1f} ms), {1 - data_profile.data_share:.0%} to the model "
                    f"({data.model_ms:.1f} ms) over {data.batches} batches",
                    "data_profile.data_share",
                    (("data_profile.data_share", data_profile.data_share),),
                )
            )
    progress(1.0, "done", "benchmark")
    return BenchmarkResult(
        model=model_label,
        config=config,
        configs=tuple(configs),
        recommendation=recommendation,
        explanations=tuple(e.text for e in explanations),
        explained=tuple(explanations),
        variant_facts=facts,
        delegation=tuple(delegation.items()),
        layer_profile=tuple(profile),
        data_profile=data_profile,
        notes=tuple(notes),
        seconds=time.perf_counter() - started,
        inputs=plan.inputs,
        signature=interface.signature if interface is not None else None,
        signatures=tuple(interface.signatures) if interface is not None else (),
    )
