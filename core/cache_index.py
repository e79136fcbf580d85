"""Whole results served from the result cache before the engine's child starts (so without TensorFlow).

A cached rerun used to start the engine's child, which imports TensorFlow, only to
find every entry in the cache. The jobs here are ``@runs_in_parent``: they run in
a thread of the engine's parent, compute cache keys from what is known before a
model is opened -- the model file's SHA-256 (`core.models.hashing`), the recipes,
the data files' SHA-256 and settings, the scoring options, the library versions
and, for measurements, this machine -- and return the stored result when all of
it is there. Only a miss sends the real job to the child (``child.run``), whose
own cache lookups then serve whatever part is cached. Submitted to an engine, a
full hit never starts a child; in the GUI the hashing runs in this job's thread,
never in the GUI thread.

- `optimize_cached` wraps `core.optimize.pipeline.optimize_model`, whose keys are
  pre-load keys already (`cached_result`).
- `auto_cached` wraps `core.auto.search.auto_optimize`. The search decides from
  measurements, so a completed run's whole `AutoResult` is indexed under a pre-load
  key (`auto_index_key`: model, data, budget, settings, scoring, machine, versions).
  The recommended variant's bytes are not stored twice: the index entry names the
  variant's own cache key, and a hit needs that entry too.
- `benchmark_variants_cached` wraps `core.benchmark.measure.benchmark_variants`
  (the app's measurement of the original and its variants), keyed by every
  model's SHA-256, the config and this machine; measurements over a data file are
  not cached (as in `measure_tflite`).

Nothing here parses a model or imports TensorFlow: file bytes are hashed and
cache entries read with the restricted unpickler (`ResultCache.get` uses
`core.engine.unpickle.loads_from_child`: an entry is untrusted plain data).
Index keys start with `core.cache.PARENT_ONLY_PREFIX`, which a child's outbox may
not deliver. An entry that does not read back as what it should be is a miss.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol

from core.cache import PARENT_ONLY_PREFIX, ResultCache, cache_key
from core.engine.context import CancelToken, Reporter, runs_in_parent
from core.errors import BadInputError, JobError, JobFailed, LitesmithError

if TYPE_CHECKING:  # the job modules import heavy code: imported inside the jobs
    from core.auto.budget import AutoBudget
    from core.auto.results import AutoResult, AutoSettings
    from core.benchmark.results import BenchConfig, BenchmarkResult
    from core.data.loaders import DataSpec
    from core.optimize.recipes import Recipe
    from core.optimize.results import OptimizeResult

AUTO_INDEX = f"{PARENT_ONLY_PREFIX}auto"
BENCH_INDEX = f"{PARENT_ONLY_PREFIX}bench"
INDEX_VERSION = 1
# AutoSettings fields that do not change what a search finds (custom code counts by content, in the scoring part).
_NOT_IN_KEY = ("cache_dir", "use_cache", "custom_objects")
_VARIANT_KEY = re.compile(r"variant-[0-9a-f]{40}")  # what an index entry may name (never a path elsewhere)


class _Child(Protocol):
    """The engine's `child` handle of a ``@runs_in_parent`` job (`core.engine.context.runs_in_parent`)."""

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run the job `fn` in the sandboxed child; its value, or `JobFailed`."""


class ChildJobFailed(LitesmithError):
    """The child's job failed: its `JobError` passes through this parent-side job unchanged."""

    def __init__(self, failed: JobFailed) -> None:
        error = failed.error
        super().__init__(error.message, path=error.path, details=error.details)
        self.kind = error.kind
        self.error = error

    def to_job_error(self) -> JobError:
        """The child's own `JobError` (kind, message, path, details), unchanged."""
        return self.error


def _in_child(child: _Child, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`child.run(fn, ...)`; a failure in the child raises `ChildJobFailed` carrying its `JobError`."""
    try:
        return child.run(fn, *args, **kwargs)
    except JobFailed as failed:
        raise ChildJobFailed(failed) from None


# ---------------------------------------------------------------------------------------------- optimize


@runs_in_parent
def optimize_cached(
    model_path: str,
    recipes: list[Any],
    data: Any = None,
    *,
    progress: Reporter,
    cancel: CancelToken,
    child: _Child,
    cache: ResultCache | None = None,
    threshold: float | None = None,
    options: Any = None,
) -> OptimizeResult:
    """`optimize_model(model_path, recipes, data, ...)`, answered here when `cache` holds the whole result.

    Same arguments, result (`OptimizeResult`) and errors as
    `core.optimize.pipeline.optimize_model`; without `cache`, or on a miss, the
    job runs in the engine's child. A hit streams ``partial("variant", ...)`` as
    the job would and each variant carries `core.optimize.pipeline.CACHE_NOTE`.
    """
    from core.optimize.pipeline import cached_result, optimize_model

    if cache is not None:
        hit = cached_result(
            model_path,
            recipes,
            data,
            progress=progress,
            cancel=cancel,
            cache=cache,
            threshold=threshold,
            options=options,
        )
        if hit is not None:
            return hit
    return _in_child(
        child, optimize_model, model_path, recipes, data, cache=cache, threshold=threshold, options=options
    )


# ---------------------------------------------------------------------------------------------- auto mode


@dataclass(frozen=True)
class AutoIndexEntry:
    """A completed auto search (`result`, without the recommended variant's bytes) and where those bytes are:
    the recommended variant's own cache key (None when nothing was recommended)."""

    result: Any  # core.auto.results.AutoResult, recommended_variant=None
    variant_key: str | None


def _auto_inputs(budget: Any, data: Any, settings: Any) -> tuple[AutoBudget, DataSpec, AutoSettings]:
    """The three arguments as objects (dicts are their keyword arguments); BadInputError on a bad setting."""
    from core.auto.budget import AutoBudget
    from core.auto.results import AutoSettings
    from core.data.loaders import DataSpec

    try:  # as auto_optimize does, so a bad setting fails the same way here
        budget = budget if isinstance(budget, AutoBudget) else AutoBudget(**(budget or {}))
        data = data if isinstance(data, DataSpec) else DataSpec(**(data or {}))
        settings = settings if isinstance(settings, AutoSettings) else AutoSettings(**(settings or {}))
    except (TypeError, ValueError) as exc:
        raise BadInputError(f"bad auto-mode settings: {exc}") from None
    return budget, data, settings


def auto_index_key(model_sha256: str, data_parts: dict[str, Any], budget: AutoBudget, settings: AutoSettings) -> str:
    """The pre-load key of a whole auto search: everything its result depends on, computable without the model.

    `model_sha256`: `core.models.hashing.sha256_path` of the model; `data_parts`:
    `core.optimize.pipeline.data_cache_parts` of its DataSpec. The machine
    fingerprint is there because the search decides from measurements.
    """
    from core.auto.search import SETUP_VERSION
    from core.benchmark.measure_cache import machine_fingerprint

    chosen = {k: v for k, v in asdict(settings).items() if k not in _NOT_IN_KEY}
    return cache_key(
        AUTO_INDEX,
        version=INDEX_VERSION,
        setup_version=SETUP_VERSION,
        model=model_sha256,
        data=data_parts,
        budget=asdict(budget),
        settings=chosen,
        scoring=settings.session_options().cache_parts(),
        machine=machine_fingerprint(),
    )


def _candidate_key(model_sha256: str, recipe: Recipe, data_parts: dict[str, Any], settings: AutoSettings) -> str:
    from core.optimize.pipeline import variant_cache_key

    return variant_cache_key(model_sha256, recipe, data_parts, settings.session_options())


def _complete(value: Any) -> bool:
    """Whether an unpickled dataclass has every field its class has now."""
    from dataclasses import fields, is_dataclass

    return is_dataclass(value) and all(hasattr(value, f.name) for f in fields(value))


def _auto_hit(
    cache: ResultCache,
    key: str,
    model_sha: str,
    data_parts: dict[str, Any],
    model_path: str,
    settings: AutoSettings,
    started: float,
) -> AutoResult | None:
    """The indexed AutoResult as this run's (from the cache), or None when any part of it is missing."""
    from core.auto.results import FAILED, MEASURED, MISSES_BUDGET, AutoResult
    from core.optimize.env import environment
    from core.optimize.pipeline import custom_objects_now
    from core.optimize.results import Variant, VariantFailure

    entry = cache.get(key)
    if not isinstance(entry, AutoIndexEntry) or not isinstance(entry.result, AutoResult):
        return None
    result = entry.result
    if not _complete(result) or not all(_complete(c) for c in result.candidates):
        return None  # written by another version of these classes: a miss, never an AttributeError later
    if result.cancelled or result.recommended_variant is not None:
        return None
    variant = None
    if result.recommended is not None:
        named = entry.variant_key
        stored = cache.get(named) if isinstance(named, str) and _VARIANT_KEY.fullmatch(named) else None
        if not isinstance(stored, Variant):
            return None  # evicted or unreadable: the child rebuilds it from what is still cached
        variant = replace(stored, name=result.recommended)
    candidates = []
    for c in result.candidates:
        if c.status == FAILED:
            # A failed conversion is cached and would fail again; a failed measurement or a pruning
            # error is not, and a run in the child would try again: so must this one.
            if not isinstance(cache.get(_candidate_key(model_sha, c.recipe, data_parts, settings)), VariantFailure):
                return None
        built = c.status in (MEASURED, MISSES_BUDGET, FAILED)
        candidates.append(
            replace(
                c,
                from_cache=built or c.from_cache,
                bench_from_cache=c.bench is not None,
                build_seconds=0.0 if built else c.build_seconds,
                measure_seconds=0.0 if c.bench is not None else c.measure_seconds,
            )
        )
    source = replace(
        result.source,
        path=str(model_path),
        custom_objects=custom_objects_now(result.source, settings.session_options()),
    )
    return replace(
        result,
        source=source,
        settings=settings,
        candidates=tuple(candidates),
        recommended_variant=variant,
        setup_from_cache=True,
        seconds=time.perf_counter() - started,
        environment=environment(),
    )


def _stream_candidates(result: AutoResult, progress: Reporter) -> None:
    """The ``partial("auto_candidate", ...)`` events a search in the child sends, in its order."""
    from core.auto.pareto import choose
    from core.auto.search import CANDIDATE_KIND

    total = len(result.candidates)
    for i, candidate in enumerate(result.candidates, start=1):
        best, _ = choose(list(result.candidates[:i]))
        payload = candidate.summary()
        payload.update(done=i, total=total, best=best.name if best else None)
        progress.partial(CANDIDATE_KIND, payload)


@runs_in_parent
def auto_cached(
    model_path: str,
    budget: Any = None,
    data: Any = None,
    settings: Any = None,
    *,
    progress: Reporter,
    cancel: CancelToken,
    child: _Child,
) -> AutoResult:
    """`auto_optimize(model_path, budget, data, settings)`, answered here when a completed search is indexed.

    Same arguments, result (`AutoResult`) and errors as
    `core.auto.search.auto_optimize`. A hit streams the ``auto_candidate`` events
    and marks every built candidate ``from_cache``; a miss runs the search in the
    child and, when it completed (not cancelled), indexes its result here.
    """
    from core.auto.search import auto_optimize
    from core.models.hashing import sha256_path
    from core.optimize.pipeline import data_cache_parts

    started = time.perf_counter()
    budget, data, settings = _auto_inputs(budget, data, settings)
    if not settings.use_cache:
        return _in_child(child, auto_optimize, model_path, budget, data, settings)
    model_path = str(model_path)
    if not os.path.exists(model_path):
        raise BadInputError("no such file or folder", path=model_path)
    progress(0.0, "hashing the model and data", stage="setup")
    model_sha = sha256_path(model_path, check=cancel.raise_if_cancelled)
    data_parts = data_cache_parts(data, cancel.raise_if_cancelled)
    key = auto_index_key(model_sha, data_parts, budget, settings)
    cache = ResultCache(settings.cache_dir)
    try:
        hit = _auto_hit(cache, key, model_sha, data_parts, model_path, settings, started)
    except (AttributeError, TypeError, ValueError, KeyError):  # plain data, but not the shape it should have
        hit = None
    if hit is not None:
        _stream_candidates(hit, progress)
        progress.log(f"the whole search came from the result cache ({cache.folder})")
        progress(1.0, "done (from the cache)", stage="done")
        return hit
    result = _in_child(child, auto_optimize, model_path, budget, data, settings)
    if not result.cancelled:
        variant = result.recommended_variant
        variant_key = None if variant is None else _candidate_key(model_sha, variant.recipe, data_parts, settings)
        cache.put(key, AutoIndexEntry(result=replace(result, recommended_variant=None), variant_key=variant_key))
    return result


# ---------------------------------------------------------------------------------------------- measuring


def _digest(source: Any, check: Callable[[], None] | None) -> str:
    """SHA-256 (hex) of bytes, or of a file's or folder's contents (`check` is called between reads)."""
    from core.models.hashing import sha256_path

    if isinstance(source, (bytes, bytearray)):
        return hashlib.sha256(source).hexdigest()
    return sha256_path(source, check=check)


def bench_index_key(
    variants: Mapping[str, Any],
    config: BenchConfig,
    *,
    keras_model: Any,
    label: str,
    signature: str | None,
    custom_objects: tuple[str, ...],
    input_shapes: Mapping[str, tuple[int, ...]] | None,
    check: Callable[[], None] | None = None,
) -> str:
    """The key of one `benchmark_variants` measurement: each model's SHA-256 (bytes, or a file's or folder's
    contents), the config, the names, the custom code's SHA-256, this machine and the library versions."""
    from core.benchmark.measure_cache import machine_fingerprint
    from core.models.custom_objects import cache_part

    return cache_key(
        BENCH_INDEX,
        version=INDEX_VERSION,
        config=asdict(config),
        label=label,
        signature=signature,
        variants=[[name, _digest(source, check)] for name, source in variants.items()],
        original=None if keras_model is None else _digest(keras_model, check),
        custom_objects=cache_part(custom_objects) if custom_objects else [],
        input_shapes=sorted([name, list(shape)] for name, shape in (input_shapes or {}).items()),
        machine=machine_fingerprint(),
    )


@runs_in_parent
def benchmark_variants_cached(
    variants: Mapping[str, Any],
    config: Any = None,
    *,
    progress: Reporter,
    cancel: CancelToken,
    child: _Child,
    cache: ResultCache | None = None,
    keras_model: Any = None,
    data: Any = None,
    label: str = "variants",
    signature: str | None = None,
    custom_objects: tuple[str, ...] = (),
    input_shapes: Mapping[str, tuple[int, ...]] | None = None,
) -> BenchmarkResult:
    """`benchmark_variants(...)` (same arguments and `BenchmarkResult`), answered here when `cache` holds it.

    A cached result carries `core.benchmark.measure_cache.CACHE_NOTE` in its
    notes (no latency samples stream: nothing is measured). Not cached: no
    `cache`, a `data` file, or an in-process Keras model as `keras_model`.
    """
    from core.benchmark.measure import benchmark_variants
    from core.benchmark.measure_cache import CACHE_NOTE
    from core.benchmark.results import BenchConfig, BenchmarkResult

    config = config if config is not None else BenchConfig()
    kwargs = dict(
        keras_model=keras_model,
        data=data,
        label=label,
        signature=signature,
        custom_objects=custom_objects,
        input_shapes=input_shapes,
    )
    cacheable = (
        cache is not None and data is None and (keras_model is None or isinstance(keras_model, (str, os.PathLike)))
    )
    if cache is None or not cacheable:
        return _in_child(child, benchmark_variants, variants, config, **kwargs)
    for source in [*variants.values(), *([keras_model] if keras_model is not None else [])]:
        if not isinstance(source, (bytes, bytearray)) and not os.path.exists(source):
            raise BadInputError("no such file or folder", path=os.fspath(source))
    progress(0.0, "hashing the models", stage="benchmark")
    key = bench_index_key(
        variants,
        config,
        keras_model=keras_model,
        label=label,
        signature=signature,
        custom_objects=tuple(custom_objects),
        input_shapes=input_shapes,
        check=cancel.raise_if_cancelled,
    )
    cached = cache.get(key)
    if isinstance(cached, BenchmarkResult):
        progress(1.0, "measurement from the cache", stage="benchmark")
        return replace(cached, notes=tuple(cached.notes) + (CACHE_NOTE,))
    result = _in_child(child, benchmark_variants, variants, config, **kwargs)
    if any(c.ok for c in result.configs):
        cache.put(key, result)
    return result


__all__ = [
    "AUTO_INDEX",
    "BENCH_INDEX",
    "AutoIndexEntry",
    "ChildJobFailed",
    "auto_cached",
    "auto_index_key",
    "bench_index_key",
    "benchmark_variants_cached",
    "optimize_cached",
]
