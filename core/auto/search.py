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
from typing import Any, Callable

from core.auto.budget import AutoBudget, check_budget
from core.auto.live import LiveSession
from core.auto.measuring import MeasuringMixin, usable_threads
from core.auto.pareto import auto_recommendation, choose, pareto_front
from core.auto.plan import PlanMixin
from core.auto.results import FAILED, MISSES_BUDGET, PENDING, SKIPPED, AutoCandidate, AutoResult, AutoSettings
from core.benchmark.stats import fmt_ms
from core.cache import ResultCache, cache_key
from core.data.loaders import DataDescription, DataSpec
from core.engine.context import CancelToken, Reporter
from core.errors import BadInputError, Cancelled, ConversionError
from core.evaluation import Evaluation, ModelEvaluation
from core.optimize.compress_steps import COMPRESS_STEPS
from core.optimize.recipes import Recipe, recipe_for_mode
from core.optimize.results import SourceInfo, Variant, VariantFailure

CANDIDATE_KIND = "auto_candidate"
SETUP_VERSION = 3  # 3: flops is None unless complete (core.models.flops)


@dataclass(frozen=True)
class SetupInfo:
    """What auto mode needs from the original model (cached, so a warm run never loads it)."""

    source: SourceInfo
    data: DataDescription
    original_evaluation: Evaluation | None
    task: str  # the primary output's task
    is_keras: bool
    has_graph: bool
    flops: int | None
    warnings: tuple[str, ...] = ()


def primary_evaluation(evaluation: Evaluation | ModelEvaluation | None) -> Evaluation | None:
    """The primary output's evaluation (what auto budgets are checked on), or the evaluation itself.

    None when `evaluation` is None or its primary output was not scored.
    """
    if not isinstance(evaluation, ModelEvaluation):  # a single output's evaluation, or None
        return evaluation
    try:
        return evaluation.output(evaluation.primary)
    except KeyError:
        return None


def _data_parts(data: DataSpec, check: Callable[[], None] | None) -> dict[str, Any]:
    """The data's part of a cache key (files by SHA-256); `check` is called between reads (cancel)."""
    from core.optimize.pipeline import data_cache_parts

    return data_cache_parts(data, check)


class _Search(MeasuringMixin, PlanMixin):
    """One auto search: its settings, the candidates so far, the cache and the (lazily) opened model."""

    def __init__(
        self,
        model_path: str,
        budget: AutoBudget,
        data: DataSpec,
        settings: AutoSettings,
        progress: Reporter,
        cancel: CancelToken,
    ) -> None:
        self.model_path, self.budget, self.data, self.settings = model_path, budget, data, settings
        self.progress, self.cancel = progress, cancel
        self.cache = ResultCache(settings.cache_dir) if settings.use_cache else None
        self.options = settings.session_options()
        self.live = LiveSession(model_path, data, self.options, progress, cancel)
        self.candidates: list[AutoCandidate] = []
        self.variants: dict[str, Variant] = {}
        self.threads = usable_threads(settings.threads)
        self.batches = tuple(sorted(set(settings.batch_sizes)))
        self.total = len(settings.modes) + int(settings.selective) + len(settings.prune_levels)
        self.baseline_size: int | None = None

    # ----------------------------------------------------------------- cache helpers

    def _get(self, key: str) -> Any | None:
        if self.cache is None:
            return None
        return self.cache.get(key)

    def _put(self, key: str, value: Any) -> None:
        if self.cache is None:
            return
        try:
            self.cache.put(key, value)
        except OSError as exc:
            self.progress.log(f"could not write the result cache: {exc}", level="warning")

    # ----------------------------------------------------------------- setup

    def setup(self) -> None:
        """Hash the model and data and get the original's reference (from the cache, else by opening it).

        Raises `BadInputError` when the model is missing or an accuracy budget has no labelled data.
        """
        from core.models.hashing import sha256_path

        if not os.path.exists(self.model_path):
            raise BadInputError("no such file or folder", path=self.model_path)
        self.progress(0.0, "hashing the model and data", stage="setup")
        self.model_sha = sha256_path(self.model_path, check=self.cancel.raise_if_cancelled)
        self.data_parts = _data_parts(self.data, self.cancel.raise_if_cancelled)
        self.setup_key = cache_key(
            "auto-setup",
            version=SETUP_VERSION,
            model=self.model_sha,
            data=self.data_parts,
            scoring=self.options.cache_parts(),
        )
        cached = self._get(self.setup_key)
        if isinstance(cached, SetupInfo):
            from core.optimize.pipeline import custom_objects_now

            self.setup_info = replace(
                cached,
                source=replace(
                    cached.source,
                    path=str(self.model_path),
                    custom_objects=custom_objects_now(cached.source, self.options),
                ),
            )
            self.setup_from_cache = True
        else:
            live = self.live.ensure()
            self.setup_info = SetupInfo(
                source=live.info,
                data=live.description,
                original_evaluation=live.original,
                task=live.task_map[live.primary],
                is_keras=live.source.keras_model is not None,
                has_graph=live.source.has_graph,
                flops=self.live.flops(),
                warnings=tuple(live.warnings),
            )
            self._put(self.setup_key, self.setup_info)
            self.setup_from_cache = False
        if self.budget.needs_labels and (
            self.setup_info.original_evaluation is None or self.setup_info.original_evaluation.accuracy is None
        ):
            raise BadInputError(
                "an accuracy budget needs labelled evaluation data; give --data with labels "
                "or use an agreement budget (--min-agreement)",
                path=self.data.path,
            )

    # ----------------------------------------------------------------- one candidate

    def _variant_key(self, recipe: Recipe) -> str:
        from core.optimize.pipeline import variant_cache_key

        # Shared with optimize_model: `litesmith optimize -q int8` after an auto run is served from the cache.
        return variant_cache_key(self.model_sha, recipe, self.data_parts, self.options)

    def best(self) -> AutoCandidate | None:
        """The candidate `choose` recommends among those so far; None when none meets the budget yet."""
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
        """Record `recipe` as SKIPPED for `reason` (logged and streamed)."""
        self.progress.log(f"{recipe.name}: skipped: {reason}")
        return self._record(AutoCandidate(name=recipe.name, recipe=recipe, status=SKIPPED, reason=reason))

    def run(self, recipe: Recipe) -> AutoCandidate:
        """Build (or read from the cache), evaluate, check against the budget and, within it, measure `recipe`.

        A conversion failure becomes a FAILED candidate; `Cancelled` propagates.
        """
        done = len(self.candidates)
        span = 1.0 / self.total
        sub = self.progress.scaled(done * span, (done + 0.6) * span, recipe.name)
        started = time.perf_counter()
        key = self._variant_key(recipe)
        cached = self._get(key)
        outcome: Variant | VariantFailure
        from_cache = isinstance(cached, (Variant, VariantFailure))
        if isinstance(cached, (Variant, VariantFailure)):
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
                outcome = VariantFailure(
                    name=recipe.name, recipe=recipe, kind=exc.kind, message=exc.message, details=exc.details
                )
            except Exception as exc:  # noqa: BLE001 - a pruning candidate that breaks must not end the search
                if self.live.ctx is None or not any(s.kind in COMPRESS_STEPS for s in recipe.steps):
                    raise
                self.cancel.raise_if_cancelled()
                import traceback

                outcome = VariantFailure(
                    name=recipe.name,
                    recipe=recipe,
                    kind="conversion",
                    message=f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}",
                    details=traceback.format_exc(),
                )
                cacheable = False  # maybe transient (memory): try again next time
            if cacheable:
                self._put(key, outcome)
        build_seconds = time.perf_counter() - started
        if isinstance(outcome, VariantFailure):
            self.progress.log(f"{recipe.name}: {outcome.message}", level="warning")
            return self._record(
                AutoCandidate(
                    name=recipe.name,
                    recipe=recipe,
                    status=FAILED,
                    reason=outcome.message,
                    from_cache=from_cache,
                    build_seconds=build_seconds,
                )
            )
        variant = replace(outcome, name=recipe.name) if outcome.name != recipe.name else outcome
        if self.baseline_size is None and recipe.name == "fp32":
            self.baseline_size = variant.size_bytes
        ratio = variant.size_bytes / self.baseline_size if self.baseline_size else None
        check = check_budget(
            primary_evaluation(variant.evaluation),
            primary_evaluation(self.setup_info.original_evaluation),
            variant.size_bytes,
            self.budget,
        )
        base: dict[str, Any] = dict(
            name=recipe.name,
            recipe=recipe,
            size_bytes=variant.size_bytes,
            size_ratio=ratio,
            evaluation=variant.evaluation,
            quality=check.quality,
            quality_label=check.quality_label,
            meets_budget=check.meets,
            meets_quality=check.meets_quality,
            from_cache=from_cache,
            tflite_sha256=hashlib.sha256(variant.tflite_bytes).hexdigest(),
            warnings=variant.warnings,
            build_seconds=build_seconds,
        )
        if not check.meets:
            reason = "misses the budget: " + "; ".join(check.misses) + " (not benchmarked)"
            return self._record(AutoCandidate(status=MISSES_BUDGET, reason=reason, **base))
        self.variants[recipe.name] = variant
        return self._record(self._measure(variant, base, done, span))

    def close(self) -> None:
        """Close the opened model, if any."""
        self.live.close()


def auto_optimize(
    model_path: str,
    budget: AutoBudget | dict[str, Any] | None = None,
    data: DataSpec | dict[str, Any] | None = None,
    settings: AutoSettings | dict[str, Any] | None = None,
    *,
    progress: Reporter,
    cancel: CancelToken,
) -> AutoResult:
    """Try the candidate recipes cheapest first and recommend the fastest that meets `budget`.

    Dicts are keyword arguments of `AutoBudget`, `DataSpec`, `AutoSettings`. Raises `BadInputError` for bad
    settings, a missing model or an accuracy budget without labels, `Cancelled` when cancelled before the
    first candidate (later: a result with ``cancelled=True``). Figures are measured (`core.auto.measuring`).
    """
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
                search.candidates.append(
                    AutoCandidate(
                        name=mode, recipe=recipe_for_mode(mode), status=PENDING, reason="not finished: cancelled"
                    )
                )
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
        source=search.setup_info.source,
        data=search.setup_info.data,
        budget=budget,
        settings=settings,
        original_evaluation=search.setup_info.original_evaluation,
        baseline_size_bytes=search.baseline_size,
        candidates=tuple(search.candidates),
        pareto=tuple(c.name for c in front),
        recommended=choice.name if choice else None,
        recommended_variant=search.variants.get(choice.name) if choice else None,
        reasons=tuple(reasons),
        cancelled=cancelled,
        warnings=tuple(warnings),
        seconds=time.perf_counter() - started,
        setup_from_cache=search.setup_from_cache,
        environment=environment(),
        recommendation=auto_recommendation(search.candidates, choice, reasons),
    )


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
