"""Auto mode: find the fastest variant within an accuracy/fidelity (and size) budget.

Runs as an engine job (in the child)::

    result = engine.run(auto_optimize, "model.keras", AutoBudget(max_accuracy_drop=0.01),
                        DataSpec(path="data.npz"), AutoSettings())

The search, cheapest candidates first:

1. the single quantization modes (fp32, dynamic, float16, int8, int16x8): each
   is built, evaluated against the original model, and -- only when it meets the
   budget -- benchmarked over the settings' thread counts and batch sizes;
2. int8 with selective float layers, only when plain int8 misses the quality budget
   (and the source is Keras or SavedModel);
3. structured pruning (each level on top of the best recipe so far), Keras
   sources only, unless a stated reason rules it out (pruning costs fine-tuning).

A candidate is not benchmarked when it misses the budget; a candidate's sweep
stops after its first configuration (batch 1, 1 thread) when even perfect
scaling over every thread count could not beat the fastest so far. Each skip
carries its reason.

Streaming: every finished candidate is sent with
``progress.partial("auto_candidate", payload)``, payload = ``AutoCandidate.summary()``
plus ``done``, ``total`` and ``best`` (the name of the best so far, or None);
progress messages read "3/7 candidates, best so far: int8 (12.3 µs)".

Cancel: the search stops at the next check and returns the `AutoResult`
measured so far with ``cancelled=True`` (unreached candidates are PENDING); the
job itself ends normally. Cancelling before the first candidate raises `Cancelled`.

Cache (`core.cache.ResultCache`, on unless ``settings.use_cache`` is False):
the original model's reference evaluation, every built variant (keyed by the
source's SHA-256, the recipe, the data files' SHA-256, the data settings, the
threshold and the library versions) and every measurement (the .tflite's
SHA-256, the bench config, this machine, the versions). A second run on the same
inputs neither opens the model nor converts nor measures; candidates say
``from_cache``.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, replace
from typing import Any

from core.auto.budget import AutoBudget, check_budget
from core.auto.pareto import TIE_TOLERANCE, auto_recommendation, choose, pareto_front
from core.auto.results import (
    FAILED, MEASURED, MISSES_BUDGET, PENDING, SKIPPED, AutoCandidate, AutoResult, AutoSettings,
)
from core.benchmark.recommend import recommend
from core.benchmark.results import BenchConfig, BenchmarkResult
from core.benchmark.stats import fmt_ms
from core.cache import ResultCache, cache_key
from core.data.loaders import DataDescription, DataSpec
from core.errors import BadInputError, Cancelled, ConversionError
from core.evaluation import Evaluation
from core.optimize.compress_steps import COMPRESS_STEPS, compression_steps, with_compression
from core.optimize.recipes import INT8, Recipe, RecipeError, SelectiveConfig, recipe_for_mode
from core.optimize.results import SourceInfo, Variant, VariantFailure

CANDIDATE_KIND = "auto_candidate"
SETUP_VERSION = 3     # 3: flops is None unless complete (core.models.flops)


@dataclass(frozen=True)
class SetupInfo:
    """What auto mode needs from the original model (cached, so a warm run never loads it)."""

    source: SourceInfo
    data: DataDescription
    original_evaluation: Evaluation | None
    task: str                      # the primary output's task
    is_keras: bool
    has_graph: bool
    flops: int | None
    warnings: tuple[str, ...] = ()


class _Live:
    """The opened session (model, data, references): made only when something must be built."""

    def __init__(self, model_path: str, data: DataSpec, options, progress, cancel) -> None:
        self.model_path, self.data, self.options = model_path, data, options
        self.progress, self.cancel = progress, cancel
        self.session = None

    @property
    def ctx(self):
        return None if self.session is None else self.session.ctx

    def ensure(self):
        if self.session is None:
            from core.optimize.session import OptimizeSession

            session = OptimizeSession(self.model_path, self.data, self.options, self.progress, self.cancel)
            try:
                session.open()
            except BaseException:
                session.close()
                raise
            self.session = session
        return self.session

    def flops(self) -> int | None:
        """FLOPs per sample at the shapes the data was evaluated at; None unless every layer was counted.

        A partial or per-time-step figure is never returned, so no reason or decision quotes it.
        """
        session = self.ensure()
        source = session.source
        if source.keras_model is None:
            return None
        try:
            from core.models.flops import count_keras_macs

            description = getattr(getattr(session, "prepared", None), "description", None)
            shapes = dict(getattr(description, "input_shapes", ()) or ())
            count = count_keras_macs(source.keras_model, shapes or None)
            return count.flops if count.complete else None
        except Exception:  # noqa: BLE001 - FLOPs are informative only
            return None

    def build(self, recipe: Recipe, progress, baseline_size: int | None) -> Variant:
        return self.ensure().build(recipe, progress, baseline_size)

    def close(self) -> None:
        if self.session is not None:
            self.session.close()


def primary_evaluation(evaluation):
    """The primary output's evaluation (what auto budgets are checked on), or the evaluation itself."""
    if evaluation is None or not hasattr(evaluation, "primary"):
        return evaluation
    try:
        return evaluation.output(evaluation.primary)
    except KeyError:
        return None


def _data_parts(data: DataSpec, check) -> dict[str, Any]:
    from core.optimize.pipeline import data_cache_parts

    return data_cache_parts(data, check)


def _usable_threads(threads: tuple[int, ...]) -> tuple[int, ...]:
    cores = os.cpu_count() or 1
    kept = tuple(sorted({t for t in threads if t <= cores}))
    return kept or (1,)


def _combine(results: list[BenchmarkResult], budget_ms: float) -> BenchmarkResult:
    configs = tuple(c for r in results for c in r.configs)
    first = results[0]
    notes = tuple(dict.fromkeys(n for r in results for n in r.notes))
    return replace(first, configs=configs, recommendation=recommend(configs, budget_ms),
                   explanations=tuple(dict.fromkeys(e for r in results for e in r.explanations)), notes=notes,
                   explained=tuple({e.text: e for r in results for e in r.explained}.values()),
                   variant_facts=tuple({f.variant: f for r in results for f in r.variant_facts}.values()),
                   seconds=sum(r.seconds for r in results))


class _Search:
    def __init__(self, model_path: str, budget: AutoBudget, data: DataSpec, settings: AutoSettings, progress,
                 cancel) -> None:
        self.model_path, self.budget, self.data, self.settings = model_path, budget, data, settings
        self.progress, self.cancel = progress, cancel
        self.cache = ResultCache(settings.cache_dir) if settings.use_cache else None
        self.options = settings.session_options()
        self.live = _Live(model_path, data, self.options, progress, cancel)
        self.candidates: list[AutoCandidate] = []
        self.variants: dict[str, Variant] = {}
        self.threads = _usable_threads(settings.threads)
        self.batches = tuple(sorted(set(settings.batch_sizes)))
        self.total = len(settings.modes) + int(settings.selective) + len(settings.prune_levels)
        self.baseline_size: int | None = None

    # ----------------------------------------------------------------- cache helpers

    def _get(self, key: str):
        if self.cache is None:
            return None
        return self.cache.get(key)

    def _put(self, key: str, value) -> None:
        if self.cache is None:
            return
        try:
            self.cache.put(key, value)
        except OSError as exc:
            self.progress.log(f"could not write the result cache: {exc}", level="warning")

    # ----------------------------------------------------------------- setup

    def setup(self) -> None:
        from core.models.hashing import sha256_path, size_on_disk

        if not os.path.exists(self.model_path):
            raise BadInputError("no such file or folder", path=self.model_path)
        self.progress(0.0, "hashing the model and data", stage="setup")
        self.model_sha = sha256_path(self.model_path, check=self.cancel.raise_if_cancelled)
        self.data_parts = _data_parts(self.data, self.cancel.raise_if_cancelled)
        self.setup_key = cache_key("auto-setup", version=SETUP_VERSION, model=self.model_sha, data=self.data_parts,
                                   scoring=self.options.cache_parts())
        cached = self._get(self.setup_key)
        if isinstance(cached, SetupInfo):
            from core.optimize.pipeline import custom_objects_now

            self.setup_info = replace(cached, source=replace(cached.source, path=str(self.model_path),
                                                             custom_objects=custom_objects_now(cached.source,
                                                                                               self.options)))
            self.setup_from_cache = True
        else:
            live = self.live.ensure()
            self.setup_info = SetupInfo(
                source=live.info, data=live.description, original_evaluation=live.original,
                task=live.task_map[live.primary], is_keras=live.source.keras_model is not None,
                has_graph=live.source.has_graph, flops=self.live.flops(), warnings=tuple(live.warnings))
            self._put(self.setup_key, self.setup_info)
            self.setup_from_cache = False
        if self.budget.needs_labels and (self.setup_info.original_evaluation is None
                                         or self.setup_info.original_evaluation.accuracy is None):
            raise BadInputError("an accuracy budget needs labelled evaluation data; give --data with labels "
                                "or use an agreement budget (--min-agreement)", path=self.data.path)

    # ----------------------------------------------------------------- one candidate

    def _variant_key(self, recipe: Recipe) -> str:
        from core.optimize.pipeline import variant_cache_key

        # Shared with optimize_model: `litesmith optimize -q int8` after an auto run is served from the cache.
        return variant_cache_key(self.model_sha, recipe, self.data_parts, self.options)

    def best(self) -> AutoCandidate | None:
        choice, _ = choose(self.candidates)
        return choice

    def _record(self, candidate: AutoCandidate) -> AutoCandidate:
        self.candidates.append(candidate)
        best = self.best()
        done = len(self.candidates)
        payload = candidate.summary()
        payload.update(done=done, total=self.total, best=best.name if best else None)
        self.progress.partial(CANDIDATE_KIND, payload)
        best_text = f"{best.name} ({fmt_ms(best.latency_ms)})" if best else "none yet"
        self.progress(done / self.total, f"{done}/{self.total} candidates, best so far: {best_text}", stage="auto")
        return candidate

    def skip(self, recipe: Recipe, reason: str) -> AutoCandidate:
        self.progress.log(f"{recipe.name}: skipped: {reason}")
        return self._record(AutoCandidate(name=recipe.name, recipe=recipe, status=SKIPPED, reason=reason))

    def run(self, recipe: Recipe) -> AutoCandidate:
        done = len(self.candidates)
        span = 1.0 / self.total
        sub = self.progress.scaled(done * span, (done + 0.6) * span, recipe.name)
        started = time.perf_counter()
        key = self._variant_key(recipe)
        cached = self._get(key)
        from_cache = isinstance(cached, (Variant, VariantFailure))
        if from_cache:
            outcome = cached
            sub(1.0, f"{recipe.name}: from the cache")
        else:
            cacheable = True
            try:
                outcome = self.live.build(recipe, sub, self.baseline_size)
            except Cancelled:
                raise
            except ConversionError as exc:
                self.cancel.raise_if_cancelled()
                outcome = VariantFailure(name=recipe.name, recipe=recipe, kind=exc.kind, message=exc.message,
                                         details=exc.details)
            except Exception as exc:  # noqa: BLE001 - a pruning candidate that breaks must not end the search
                if self.live.ctx is None or not any(s.kind in COMPRESS_STEPS for s in recipe.steps):
                    raise
                self.cancel.raise_if_cancelled()
                import traceback

                outcome = VariantFailure(name=recipe.name, recipe=recipe, kind="conversion",
                                         message=f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}",
                                         details=traceback.format_exc())
                cacheable = False   # maybe transient (memory): try again next time
            if cacheable:
                self._put(key, outcome)
        build_seconds = time.perf_counter() - started
        if isinstance(outcome, VariantFailure):
            self.progress.log(f"{recipe.name}: {outcome.message}", level="warning")
            return self._record(AutoCandidate(name=recipe.name, recipe=recipe, status=FAILED, reason=outcome.message,
                                              from_cache=from_cache, build_seconds=build_seconds))
        variant = replace(outcome, name=recipe.name) if outcome.name != recipe.name else outcome
        if self.baseline_size is None and recipe.name == "fp32":
            self.baseline_size = variant.size_bytes
        ratio = variant.size_bytes / self.baseline_size if self.baseline_size else None
        check = check_budget(primary_evaluation(variant.evaluation),
                             primary_evaluation(self.setup_info.original_evaluation), variant.size_bytes, self.budget)
        base = dict(name=recipe.name, recipe=recipe, size_bytes=variant.size_bytes, size_ratio=ratio,
                    evaluation=variant.evaluation, quality=check.quality, quality_label=check.quality_label,
                    meets_budget=check.meets, meets_quality=check.meets_quality, from_cache=from_cache,
                    tflite_sha256=hashlib.sha256(variant.tflite_bytes).hexdigest(), warnings=variant.warnings,
                    build_seconds=build_seconds)
        if not check.meets:
            reason = "misses the budget: " + "; ".join(check.misses) + " (not benchmarked)"
            return self._record(AutoCandidate(status=MISSES_BUDGET, reason=reason, **base))
        self.variants[recipe.name] = variant
        return self._record(self._measure(variant, base, done, span))

    def _measured_shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-sample input shapes to measure at: the evaluation data's (or the given --input-shape) sizes."""
        shapes = dict(self.setup_info.data.input_shapes) if self.setup_info.data.input_shapes else {}
        return {**shapes, **dict(self.options.input_shapes)} if not shapes else shapes

    def _bench_config(self, threads: tuple[int, ...], batches: tuple[int, ...]) -> BenchConfig:
        # facts=False: auto mode ranks by the sweep's figures and shows no per-variant explanations, so the
        # XNNPACK on/off ablation would only cost time here.
        return BenchConfig(threads=threads, batch_sizes=batches, seconds=self.settings.seconds_per_config,
                           warmup=self.settings.warmup, facts=False)

    def _measure(self, variant: Variant, base: dict, done: int, span: float) -> AutoCandidate:
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
            sub = self.progress.scaled((done + 0.6 + 0.4 * i / len(plan)) * span,
                                       (done + 0.6 + 0.4 * (i + 1) / len(plan)) * span, variant.name)
            try:
                result = measure_tflite(variant.tflite_bytes, config, sub, self.cancel, variant=variant.name,
                                        cache=self.cache, signature=variant.signature,
                                        input_shapes=self._measured_shapes())
            except (RuntimeError, ValueError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                return AutoCandidate(status=FAILED, reason=f"cannot be benchmarked: {first[:200]}",
                                     measure_seconds=time.perf_counter() - started, **base)
            all_cached = all_cached and served_from_cache(result)
            results.append(result)
            if i == 0 and self.settings.probe and best is not None and len(plan) > 1:
                probe = [c for c in result.configs if c.ok]
                if probe:
                    p50 = probe[0].stats.p50
                    speedup = max(self.threads) if self.threads[0] == 1 else max(self.threads) / self.threads[0]
                    bound = p50 / speedup
                    if bound > best.latency_ms * (1 + TIE_TOLERANCE):
                        notes.append(
                            f"sweep cut short: p50 {fmt_ms(p50)} at batch {b0} with {self.threads[0]} thread(s); even "
                            f"perfect scaling to {max(self.threads)} threads ({fmt_ms(bound)}) cannot beat "
                            f"{best.name} ({fmt_ms(best.latency_ms)})")
                        break
        bench = _combine(results, budget_ms=BenchConfig().budget_ms)
        ok = [c for c in bench.configs if c.ok]
        if not ok:
            errors = "; ".join(sorted({c.error for c in bench.configs if c.error})) or "no samples"
            return AutoCandidate(status=FAILED, reason=f"could not be measured: {errors}", bench=bench,
                                 bench_from_cache=all_cached, measure_seconds=time.perf_counter() - started, **base)
        at_b0 = [c for c in ok if c.batch_size == b0] or ok
        fastest = min(at_b0, key=lambda c: (c.stats.p50, c.threads or 0))
        top = max(ok, key=lambda c: c.stats.throughput)
        return AutoCandidate(status=MEASURED, reason="; ".join(notes), latency_ms=fastest.stats.p50,
                             latency_config=fastest.label, threads=fastest.threads, batch_size=fastest.batch_size,
                             throughput=top.stats.throughput, throughput_config=top.label, bench=bench,
                             bench_from_cache=all_cached, measure_seconds=time.perf_counter() - started, **base)

    # ----------------------------------------------------------------- the plan

    def search(self) -> None:
        for mode in self.settings.modes:
            self.cancel.raise_if_cancelled()
            self.run(recipe_for_mode(mode))
        if self.settings.selective:
            self.cancel.raise_if_cancelled()
            self._selective()
        self._pruning()

    def _selective(self) -> None:
        selective = SelectiveConfig(auto=True, **self._selective_target())
        recipe = recipe_for_mode(INT8, selective=selective)
        int8 = next((c for c in self.candidates if c.name == INT8), None)
        if int8 is None:
            return self.skip(recipe, "int8 is not among the candidate modes")
        if int8.status == FAILED:
            return self.skip(recipe, f"int8 itself failed ({int8.reason})")
        if int8.meets_budget:
            return self.skip(recipe, "plain int8 already meets the budget (selective float layers only cost speed)")
        if int8.status == MISSES_BUDGET and int8.meets_quality:
            return self.skip(recipe, "plain int8 misses only the size limit; float layers would make it larger")
        if not self.setup_info.has_graph:
            return self.skip(recipe, "selective quantization needs a Keras or SavedModel source")
        return self.run(recipe)

    def _selective_target(self) -> dict[str, Any]:
        agreement = self.budget.effective().min_agreement
        if agreement is None:
            return {}
        if self.setup_info.task == "multiclass":
            return {"metric": "top1_agreement", "target": agreement}
        if self.setup_info.task == "binary":
            return {"metric": "flipped_fraction", "target": 1.0 - agreement}
        return {"metric": "cosine_similarity", "target": agreement}

    def _pruning(self) -> None:
        settings = self.settings
        best = self.best()
        base = best.recipe if best is not None else recipe_for_mode(INT8)
        recipes: list[Recipe] = []
        for level in settings.prune_levels:
            steps = compression_steps(prune=level, structured=True, epochs=settings.prune_epochs)
            try:
                recipes.append(with_compression(base, steps))
            except (RecipeError, BadInputError) as exc:
                recipes.append(Recipe(name=f"structured{round(level * 100)}+{base.name}"))
                self.progress.log(f"pruning recipe: {exc}", level="warning")
        reason = self._pruning_ruled_out(best)
        for recipe in recipes:
            self.cancel.raise_if_cancelled()
            if reason:
                self.skip(recipe, reason)
            else:
                self.run(recipe)

    def _pruning_ruled_out(self, best: AutoCandidate | None) -> str:
        settings, info = self.settings, self.setup_info
        if settings.pruning == "never":
            return "pruning is turned off"
        if not info.is_keras:
            return f"structured pruning needs a Keras model (.keras or .h5); this source is a {info.source.format}"
        if settings.pruning == "always":
            return ""
        meets_quality = [c for c in self.candidates if c.meets_quality]
        if not meets_quality:
            return "no candidate meets the accuracy/agreement budget, and pruning only loses accuracy"
        if best is not None and best.latency_ms < settings.prune_floor_ms:
            flops = f"{info.flops:,} FLOPs per sample; " if info.flops else ""
            return (f"{flops}the fastest candidate ({best.name}) already runs in {fmt_ms(best.latency_ms)} per call, "
                    f"below {fmt_ms(settings.prune_floor_ms)}, where per-call overhead rather than compute dominates; "
                    "removing channels cannot buy a measurable gain and would cost fine-tuning "
                    "(pruning=\"always\" tries anyway)")
        return ""

    def close(self) -> None:
        self.live.close()


def auto_optimize(model_path: str, budget: AutoBudget | dict | None = None, data: DataSpec | dict | None = None,
                  settings: AutoSettings | dict | None = None, *, progress, cancel) -> AutoResult:
    """Try the candidate recipes cheapest first and recommend the fastest that meets `budget`."""
    started = time.perf_counter()
    try:
        budget = budget if isinstance(budget, AutoBudget) else AutoBudget(**(budget or {}))
        data = data if isinstance(data, DataSpec) else DataSpec(**(data or {}))
        settings = settings if isinstance(settings, AutoSettings) else AutoSettings(**(settings or {}))
    except (TypeError, ValueError) as exc:
        raise BadInputError(f"bad auto-mode settings: {exc}") from None
    search = _Search(str(model_path), budget, data, settings, progress, cancel)
    cancelled = False
    try:
        search.setup()
        try:
            search.search()
        except Cancelled:
            cancelled = True
    finally:
        search.close()
    if cancelled:
        names = {c.name for c in search.candidates}
        for mode in settings.modes:
            if mode not in names:
                search.candidates.append(AutoCandidate(name=mode, recipe=recipe_for_mode(mode), status=PENDING,
                                                       reason="not finished: cancelled"))
    front = pareto_front(search.candidates)
    choice, reasons = choose(search.candidates)
    if cancelled:
        reasons = reasons + ["cancelled: chosen from the candidates measured before the cancel"]
    warnings = list(search.setup_info.warnings)
    if search.cache is not None and any(c.from_cache for c in search.candidates):
        n = sum(1 for c in search.candidates if c.from_cache)
        progress.log(f"{n} of {len(search.candidates)} candidates came from the cache ({search.cache.folder})")
    progress(1.0, "cancelled" if cancelled else "done", stage="done")
    from core.optimize.env import environment

    return AutoResult(
        source=search.setup_info.source, data=search.setup_info.data, budget=budget, settings=settings,
        original_evaluation=search.setup_info.original_evaluation, baseline_size_bytes=search.baseline_size,
        candidates=tuple(search.candidates), pareto=tuple(c.name for c in front),
        recommended=choice.name if choice else None,
        recommended_variant=search.variants.get(choice.name) if choice else None, reasons=tuple(reasons),
        cancelled=cancelled, warnings=tuple(warnings), seconds=time.perf_counter() - started,
        setup_from_cache=search.setup_from_cache, environment=environment(),
        recommendation=auto_recommendation(search.candidates, choice, reasons))


def candidate_variant(result: AutoResult, name: str, data: DataSpec | None = None) -> Variant | None:
    """Any built candidate of `result`, with its bytes, read back from the cache (None when not there).

    The result itself carries only the recommended variant's bytes; this lets a
    caller export or re-measure another candidate without building it again.
    `data` must be the DataSpec the run was given.
    """
    if result.recommended_variant is not None and result.recommended_variant.name == name:
        return result.recommended_variant
    candidate = result.candidate(name)
    cache = ResultCache(result.settings.cache_dir)
    parts = _data_parts(data or DataSpec(), None)
    from core.optimize.pipeline import variant_cache_key

    key = variant_cache_key(result.source.sha256, candidate.recipe, parts, result.settings.session_options())
    value = cache.get(key)
    return value if isinstance(value, Variant) else None


__all__ = ["CANDIDATE_KIND", "SetupInfo", "auto_optimize", "candidate_variant"]
