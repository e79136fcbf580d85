"""The optimization pipeline: one source model + a list of recipes -> variants, each evaluated.

Runs as an engine job (in the child)::

    result = engine.run(optimize_model, "model.keras", ["fp32", "int8"], DataSpec(path="data.npz"))

Progress is reported per step; the job is cancellable between steps (and
between calibration samples); every variant is streamed to the caller as soon
as it is ready with ``progress.partial("variant", variant)``.

The original model is run on the evaluation data first: its outputs are the
reference every variant's fidelity is measured against, and its accuracy is the
"before" of the before/after. The fp32 conversion is always made (it is the
baseline every size ratio is relative to).
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from core.cache import ResultCache
    from core.engine.context import CancelToken, Reporter

from core.cache import BUILT_NOTE
from core.data.loaders import DataDescription, DataSpec
from core.errors import BadInputError, ConversionError
from core.evaluation import ModelEvaluation
from core.models.hashing import sha256_path
from core.optimize.data_prep import PreparedData, prepare_data, range_warnings
from core.optimize.env import environment
from core.optimize.recipes import FP32, Recipe, RecipeError, as_recipe, recipe_for_mode
from core.optimize.results import OptimizeResult, SourceInfo, Variant, VariantFailure
from core.optimize.session import OptimizeSession, SessionOptions, as_options
from core.optimize.variant_warnings import fidelity_warning


def _recipes(recipes: list[Recipe] | list[dict] | list[str]) -> list[Recipe]:
    if not recipes:
        raise BadInputError("no recipe given (choose at least one quantization mode)")
    try:
        parsed = [as_recipe(r) for r in recipes]
    except RecipeError as exc:
        raise BadInputError(f"bad recipe: {exc}") from None
    names = [r.name for r in parsed]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise BadInputError(f"recipe names must be unique; repeated: {', '.join(duplicates)}")
    return parsed


def data_cache_parts(data: DataSpec | None, check: Callable[[], None] | None = None) -> dict[str, Any]:
    """What the data contributes to a cache key: the files' SHA-256 (not their paths) and the settings."""
    import os
    from dataclasses import asdict

    data = data or DataSpec()
    parts = {k: v for k, v in asdict(data).items() if k not in ("path", "eval_path")}
    for name in ("path", "eval_path"):
        value = getattr(data, name)
        if value is None:
            parts[name] = None
        elif not os.path.exists(value):
            raise BadInputError("no such data file or folder", path=str(value))
        else:
            parts[name] = sha256_path(value, check=check)
    return parts


def variant_cache_key(model_sha256: str, recipe: Recipe, data_parts: dict[str, Any], options: SessionOptions) -> str:
    """The cache key of one built and evaluated variant (shared by optimize_model and auto mode)."""
    from core.cache import cache_key

    return cache_key(
        "variant", model=model_sha256, recipe=recipe.to_dict(), data=data_parts, scoring=options.cache_parts()
    )


CACHE_NOTE = BUILT_NOTE  # a variant served from the cache carries it among its warnings (worded in core.cache)


@dataclass(frozen=True)
class _CachedSetup:
    source: SourceInfo
    data: DataDescription
    original_evaluation: ModelEvaluation | None
    baseline_size_bytes: int
    warnings: tuple[str, ...]


class _PipelineCache:
    """optimize_model's use of a `core.cache.ResultCache`: the setup and each variant, by content."""

    def __init__(
        self, cache: ResultCache, model_path: str, data: DataSpec | None, options: SessionOptions, cancel: CancelToken
    ) -> None:
        self.cache = cache
        self.model_sha = sha256_path(model_path, check=cancel.raise_if_cancelled)
        self.data_parts = data_cache_parts(data, cancel.raise_if_cancelled)
        self.options = options
        from core.cache import cache_key

        self.setup_key = cache_key(
            "optimize-setup", model=self.model_sha, data=self.data_parts, scoring=options.cache_parts()
        )

    def variant_key(self, recipe: Recipe) -> str:
        return variant_cache_key(self.model_sha, recipe, self.data_parts, self.options)

    def get_variant(self, recipe: Recipe) -> Variant | VariantFailure | None:
        value = self.cache.get(self.variant_key(recipe))
        if isinstance(value, Variant):
            return replace(value, name=recipe.name, recipe=recipe, warnings=tuple(value.warnings) + (CACHE_NOTE,))
        if isinstance(value, VariantFailure):
            return replace(value, name=recipe.name, recipe=recipe)
        return None

    def put(self, key: str, value: Any, progress: Reporter) -> None:
        try:
            self.cache.put(key, value)
        except OSError as exc:
            progress.log(f"could not write the result cache: {exc}", level="warning")

    def full_hit(self, model_path: str, recipes: list[Recipe], started: float) -> OptimizeResult | None:
        setup = self.cache.get(self.setup_key)
        if not isinstance(setup, _CachedSetup):
            return None
        outcomes = [self.get_variant(r) for r in recipes]
        if any(o is None for o in outcomes):
            return None
        variants = tuple(o for o in outcomes if isinstance(o, Variant))
        failures = tuple(o for o in outcomes if isinstance(o, VariantFailure))
        if not variants:
            return None  # all failed: rebuild, so the error is raised the usual way
        return OptimizeResult(
            source=replace(
                setup.source, path=str(model_path), custom_objects=custom_objects_now(setup.source, self.options)
            ),
            data=setup.data,
            original_evaluation=setup.original_evaluation,
            baseline_size_bytes=setup.baseline_size_bytes,
            variants=variants,
            failures=failures,
            warnings=setup.warnings,
            seconds=time.perf_counter() - started,
            environment=environment(),
        )


def custom_objects_now(source: SourceInfo, options: SessionOptions) -> tuple[tuple[str, str], ...]:
    """A cached source's custom-code files under the paths given now (the key holds their SHA-256s)."""
    if not source.custom_objects:
        return ()
    from core.models.custom_objects import describe_custom_objects

    return describe_custom_objects(options.custom_objects)


def optimize_model(
    model_path: str,
    recipes: list[Recipe] | list[dict] | list[str],
    data: DataSpec | None = None,
    *,
    progress: Reporter,
    cancel: CancelToken,
    threshold: float | None = None,
    cache: ResultCache | None = None,
    options: SessionOptions | dict | None = None,
) -> OptimizeResult:
    """Make one variant per recipe from `model_path`, each evaluated against the original model on every output.

    `options` (`SessionOptions`): the signature, per-output task overrides, the
    primary output and the decision threshold. `cache` (a
    `core.cache.ResultCache`, default None: no caching): variants are looked up
    by the source's SHA-256, the recipe, the data files' SHA-256 and settings,
    the scoring options and the library versions; when every recipe and the
    original's evaluation are cached the model is not even opened. A variant
    served from the cache carries `CACHE_NOTE` among its warnings.

    Raises BadInputError (model or data unusable) or ConversionError (no
    requested variant survived: every one failed, e.g. non-finite outputs).
    """
    started = time.perf_counter()
    parsed = _recipes(recipes)
    options = as_options(options, threshold)
    data = _data_spec(data)
    store = None
    if cache is not None:
        store, hit = _cache_lookup(cache, model_path, parsed, data, options, progress, cancel, started)
        if hit is not None:
            return hit
    session = OptimizeSession(model_path, data, options, progress, cancel)
    variants: list[Variant] = []
    failures: list[VariantFailure] = []
    try:
        session.open()
        warnings = session.warnings
        # The fp32 baseline: the size every ratio is relative to.
        progress(0.15, "fp32 baseline conversion", stage="baseline")
        baseline_state, _ = session.build_state(recipe_for_mode(FP32), progress.scaled(0.15, 0.2, "baseline"))
        if baseline_state.tflite_bytes is None:  # the convert pass always sets it; a broken pass must not pass
            raise ConversionError("the fp32 baseline conversion produced no .tflite model", path=model_path)
        baseline_size = len(baseline_state.tflite_bytes)

        span = 0.8 / len(parsed)
        for i, recipe in enumerate(parsed):
            cancel.raise_if_cancelled()
            sub = progress.scaled(0.2 + i * span, 0.2 + (i + 0.9) * span, recipe.name)
            cached = store.get_variant(recipe) if store is not None else None
            if isinstance(cached, Variant):
                variants.append(cached)
                progress.partial("variant", cached)
                progress(0.2 + (i + 1) * span, f"{recipe.name}: from the cache", recipe.name)
                continue
            if isinstance(cached, VariantFailure):
                failures.append(cached)
                progress.log(f"{recipe.name}: {cached.message} (from the cache)", level="error")
                continue
            try:
                variant = session.build(recipe, sub, baseline_size)
            except ConversionError as exc:
                cancel.raise_if_cancelled()
                failure = VariantFailure(
                    name=recipe.name, recipe=recipe, kind=exc.kind, message=exc.message, details=exc.details
                )
                failures.append(failure)
                if store is not None:
                    store.put(store.variant_key(recipe), failure, progress)
                progress.log(f"{recipe.name}: {exc.message}", level="error")
                continue
            variants.append(variant)
            if store is not None:
                store.put(store.variant_key(recipe), variant, progress)
            progress.partial("variant", variant)
            progress(0.2 + (i + 1) * span, f"{recipe.name}: done", recipe.name)
            gc.collect()  # the converter's graphs and LiteRT interpreters of this variant, before the next
    finally:
        session.close()
    info, description, original = session.info, session.description, session.original
    if store is not None:
        store.put(
            store.setup_key,
            _CachedSetup(
                source=info,
                data=description,
                original_evaluation=original,
                baseline_size_bytes=baseline_size,
                warnings=tuple(warnings),
            ),
            progress,
        )

    if not variants and failures:
        first = failures[0]
        message = (
            first.message
            if len(failures) == 1
            else (f"no requested variant survived ({len(failures)} failed); {first.name}: {first.message}")
        )
        raise ConversionError(message, path=model_path, details=first.details)
    progress(1.0, "done", stage="done")
    return OptimizeResult(
        source=info,
        data=description,
        original_evaluation=original,
        baseline_size_bytes=baseline_size,
        variants=tuple(variants),
        failures=tuple(failures),
        warnings=tuple(warnings),
        seconds=time.perf_counter() - started,
        environment=environment(),
    )


def _data_spec(data: DataSpec | dict | None) -> DataSpec:
    if isinstance(data, dict):
        try:
            data = DataSpec(**data)
        except TypeError as exc:
            raise BadInputError(f"bad data settings: {exc}") from None
    return data or DataSpec()


def _cache_lookup(
    cache: ResultCache,
    model_path: str,
    parsed: list[Recipe],
    data: DataSpec,
    options: SessionOptions,
    progress: Reporter,
    cancel: CancelToken,
    started: float,
) -> tuple[_PipelineCache, OptimizeResult | None]:
    """Hash the inputs and look the whole result up; the hit is streamed (variants) and reported done."""
    import os

    if not os.path.exists(model_path):
        raise BadInputError("no such file or folder", path=model_path)
    progress(0.0, "hashing the model and data", stage="load")
    store = _PipelineCache(cache, model_path, data, options, cancel)
    hit = store.full_hit(model_path, parsed, started)
    if hit is not None:
        progress.log(f"all {len(parsed)} variant(s) came from the result cache ({cache.folder})")
        for variant in hit.variants:
            progress.partial("variant", variant)
        progress(1.0, "done (from the cache)", stage="done")
    return store, hit


def cached_result(
    model_path: str,
    recipes: list[Recipe] | list[dict] | list[str],
    data: DataSpec | None = None,
    *,
    progress: Reporter,
    cancel: CancelToken,
    cache: ResultCache,
    threshold: float | None = None,
    options: SessionOptions | dict | None = None,
) -> OptimizeResult | None:
    """`optimize_model`'s result when `cache` holds all of it (the setup and every recipe), else None.

    Only hashes the model and data files (SHA-256) and reads cache entries: no model
    is opened and TensorFlow is not imported, so the engine's parent may call it
    before starting the child (`core.cache_index.optimize_cached`). Raises
    BadInputError as `optimize_model` does (bad recipes or settings, a missing file).
    """
    started = time.perf_counter()
    _, hit = _cache_lookup(
        cache,
        model_path,
        _recipes(recipes),
        _data_spec(data),
        as_options(options, threshold),
        progress,
        cancel,
        started,
    )
    return hit


def optimize_modes(
    model_path: str,
    modes: list[str],
    data: DataSpec | None = None,
    *,
    progress: Reporter,
    cancel: CancelToken,
    io_dtype: str = "float",
    **kwargs: Any,
) -> OptimizeResult:
    """Convenience job: one standard recipe per mode name."""
    try:
        recipes = [recipe_for_mode(m, io_dtype=io_dtype if m == "int8" else "float") for m in modes]
    except RecipeError as exc:
        raise BadInputError(str(exc)) from None
    return optimize_model(model_path, recipes, data, progress=progress, cancel=cancel, **kwargs)


__all__ = [
    "CACHE_NOTE",
    "PreparedData",
    "cached_result",
    "data_cache_parts",
    "fidelity_warning",
    "optimize_model",
    "optimize_modes",
    "prepare_data",
    "range_warnings",
    "variant_cache_key",
]
