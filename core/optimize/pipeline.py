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

import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from core.data.loaders import (
    DataDescription,
    DataSpec,
    InputSpec,
    check_fits,
    choose_samples,
    load_data,
)
from core.data.synth import SYNTHETIC_WARNING, synthesize_inputs
from core.errors import BadInputError, ConversionError
from core.evaluation import Evaluation, detect_task, evaluate_outputs
from core.models.hashing import sha256_path, size_on_disk
from core.optimize.env import environment
from core.optimize.passes import PASSES, PipelineContext, WorkState
from core.optimize.recipes import FP32, Recipe, RecipeError, as_recipe, recipe_for_mode
from core.optimize.results import OptimizeResult, SourceInfo, Variant, VariantFailure
from core.optimize.runtime import io_details, run_tflite
from core.optimize.source import OpenedSource, open_source
from core.optimize.compress_steps import COMPRESS_STEPS
from core.optimize import compress_passes  # noqa: F401 - registers the pruning and distillation passes

SYNTHETIC_EVAL_SAMPLES = 128
SYNTHETIC_CALIBRATION_SAMPLES = 100


@dataclass(frozen=True)
class PreparedData:
    calibration_x: np.ndarray
    eval_x: np.ndarray
    eval_y: np.ndarray | None
    train_x: np.ndarray          # everything in the calibration file: fine-tuning data for pruning/distillation
    train_y: np.ndarray | None
    description: DataDescription
    warnings: list[str]


def prepare_data(spec: InputSpec, data: DataSpec | None, *, progress=None) -> PreparedData:
    """Calibration, evaluation and fine-tuning data for a model input `spec`."""
    warnings: list[str] = []
    data = data or DataSpec()
    if data.calibration_samples is not None and data.calibration_samples <= 0:
        raise BadInputError(f"the number of calibration samples must be positive, got {data.calibration_samples}")
    if data.path is None:
        n_calib = min(data.calibration_samples or SYNTHETIC_CALIBRATION_SAMPLES, SYNTHETIC_CALIBRATION_SAMPLES)
        calib_x, notes = synthesize_inputs(spec, n_calib, seed=data.seed)
        eval_x, _ = synthesize_inputs(spec, data.eval_samples or SYNTHETIC_EVAL_SAMPLES, seed=data.seed + 1)
        warnings.append(SYNTHETIC_WARNING)
        if progress is not None:
            progress.log(SYNTHETIC_WARNING, level="warning")
        description = DataDescription(
            synthetic_data=True, calibration_source=None, eval_source=None,
            calibration_samples=int(calib_x.shape[0]), eval_samples=int(eval_x.shape[0]), labelled=False,
            stratified=False, notes=tuple(["synthetic: " + SYNTHETIC_WARNING] + notes))
        return PreparedData(calib_x, eval_x, None, calib_x, None, description, warnings)

    full = load_data(data.path, label_column=data.label_column, spec=spec)
    full.x = check_fits(full.x, spec, data.path)
    calib, stratified = choose_samples(full, data.calibration_samples, seed=data.seed)
    notes = list(full.notes)
    if data.eval_path is not None:
        evaluation = load_data(data.eval_path, label_column=data.label_column, spec=spec)
        evaluation.x = check_fits(evaluation.x, spec, data.eval_path)
        notes += [f"eval: {n}" for n in evaluation.notes]
    else:
        evaluation = full
        notes.append("calibration samples are drawn from the evaluation data (give a separate evaluation file "
                      "for an unbiased estimate)")
    evaluation, _ = choose_samples(evaluation, data.eval_samples, seed=data.seed + 1)
    if stratified:
        notes.append(f"calibration: {len(calib)} samples, class-stratified")
    description = DataDescription(
        synthetic_data=False, calibration_source=str(data.path),
        eval_source=str(data.eval_path or data.path), calibration_samples=len(calib),
        eval_samples=len(evaluation), labelled=evaluation.y is not None, stratified=stratified, notes=tuple(notes))
    return PreparedData(calib.x, evaluation.x, evaluation.y, full.x, full.y, description, warnings)


def range_warnings(calib_x: np.ndarray, eval_x: np.ndarray, limit: int = 3) -> list[str]:
    """Features whose evaluation values reach well beyond the calibration range (int8 clips them)."""
    if calib_x.ndim != 2 or eval_x.ndim != 2 or not np.issubdtype(calib_x.dtype, np.floating):
        return []
    lo, hi = calib_x.min(axis=0), calib_x.max(axis=0)
    span = np.maximum(hi - lo, 1e-12)
    over = np.maximum(eval_x.max(axis=0) - hi, lo - eval_x.min(axis=0)) / span
    worst = [int(i) for i in np.argsort(-over) if over[i] > 0.5][:limit]
    if not worst:
        return []
    parts = [f"feature {i}: calibrated {lo[i]:.4g}..{hi[i]:.4g}, evaluated {eval_x[:, i].min():.4g}.."
             f"{eval_x[:, i].max():.4g}" for i in worst]
    return ["evaluation inputs reach well beyond the calibration range (int8 clips them; calibrate on more "
            "or more varied samples): " + "; ".join(parts)]


def fidelity_warning(recipe: Recipe, evaluation: Evaluation) -> str | None:
    fid = evaluation.fidelity
    quantize = recipe.step("quantize")
    if any(s.kind in COMPRESS_STEPS for s in recipe.steps):
        return None  # pruning or distillation changed the model on purpose: fidelity is judged by accuracy
    if fid is None or quantize is None or quantize.config.mode not in ("int8", "int16x8"):
        return None
    poor = (fid.top1_agreement is not None and fid.top1_agreement < 0.98) or fid.cosine_similarity < 0.99
    if not poor:
        return None
    options = [] if quantize.config.selective is not None or quantize.config.mode != "int8" else [
        "selective quantization (--selective)"]
    options += [m for m in ("int16x8", "dynamic") if m != quantize.config.mode]
    hint = "; try " + ", ".join(options[:-1]) + (" or " if len(options) > 1 else "") + options[-1]
    agreement = f"top-1 agreement {fid.top1_agreement:.3f}, " if fid.top1_agreement is not None else ""
    return f"low fidelity to the original ({agreement}cosine {fid.cosine_similarity:.4f}){hint}"


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


def _initial_state(source: OpenedSource) -> WorkState:
    return WorkState(keras_model=source.keras_model, saved_model_dir=source.saved_model_dir,
                     tflite_bytes=None if source.has_graph else source.tflite_bytes)


def build_variant(recipe: Recipe, ctx: PipelineContext, *, progress) -> tuple[WorkState, float]:
    """Run a recipe's passes in order; returns the final state and the seconds spent."""
    state = _initial_state(ctx.source)
    start = time.perf_counter()
    steps = recipe.steps
    if not any(s.kind == "convert" for s in steps):
        steps = (recipe_for_mode(FP32).steps[0],) + tuple(steps)
    for i, step in enumerate(steps):
        ctx.cancel.raise_if_cancelled()
        pass_ = PASSES.get(step.kind)
        if pass_ is None:
            raise ConversionError(f"recipe {recipe.name!r}: no pass for step kind {step.kind!r}")
        progress(i / len(steps), f"{recipe.name}: {step.kind}", recipe.name)
        ctx.progress = progress
        pass_.run(state, step.config, ctx)
    ctx.cancel.raise_if_cancelled()
    return state, time.perf_counter() - start


def evaluate_variant(tflite_bytes: bytes, eval_x: np.ndarray, eval_y, reference: np.ndarray, task: str,
                     threshold: float, cancel) -> Evaluation:
    try:
        outputs = run_tflite(tflite_bytes, eval_x, cancel=cancel)
    except (RuntimeError, ValueError) as exc:
        # The converter made a model LiteRT refuses (e.g. int16x8 scales that overflow a kernel).
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConversionError(f"the converted model does not run in LiteRT: {first[:300]}",
                              details=str(exc)) from None
    try:
        return evaluate_outputs(outputs.reshape(reference.shape), labels=eval_y, reference_outputs=reference,
                                threshold=threshold, task=task)
    except ValueError as exc:
        raise BadInputError(f"cannot evaluate: {exc}") from None


def data_cache_parts(data: DataSpec | None, check=None) -> dict[str, Any]:
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


def variant_cache_key(model_sha256: str, recipe: Recipe, data_parts: dict[str, Any], threshold: float) -> str:
    """The cache key of one built and evaluated variant (shared by optimize_model and auto mode)."""
    from core.cache import cache_key

    return cache_key("variant", model=model_sha256, recipe=recipe.to_dict(), data=data_parts, threshold=threshold)


CACHE_NOTE = "served from the result cache (built earlier from the same model, recipe, data and library versions)"


@dataclass(frozen=True)
class _CachedSetup:
    source: SourceInfo
    data: DataDescription
    original_evaluation: Evaluation | None
    baseline_size_bytes: int
    warnings: tuple[str, ...]


class _PipelineCache:
    """optimize_model's use of a `core.cache.ResultCache`: the setup and each variant, by content."""

    def __init__(self, cache, model_path: str, data: DataSpec | None, threshold: float, cancel) -> None:
        self.cache = cache
        self.model_sha = sha256_path(model_path, check=cancel.raise_if_cancelled)
        self.data_parts = data_cache_parts(data, cancel.raise_if_cancelled)
        self.threshold = threshold
        from core.cache import cache_key

        self.setup_key = cache_key("optimize-setup", model=self.model_sha, data=self.data_parts, threshold=threshold)

    def variant_key(self, recipe: Recipe) -> str:
        return variant_cache_key(self.model_sha, recipe, self.data_parts, self.threshold)

    def get_variant(self, recipe: Recipe):
        value = self.cache.get(self.variant_key(recipe))
        if isinstance(value, Variant):
            return replace(value, name=recipe.name, recipe=recipe, warnings=tuple(value.warnings) + (CACHE_NOTE,))
        if isinstance(value, VariantFailure):
            return replace(value, name=recipe.name, recipe=recipe)
        return None

    def put(self, key: str, value, progress) -> None:
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
            return None   # all failed: rebuild, so the error is raised the usual way
        return OptimizeResult(
            source=replace(setup.source, path=str(model_path)), data=setup.data,
            original_evaluation=setup.original_evaluation, baseline_size_bytes=setup.baseline_size_bytes,
            variants=variants, failures=failures, warnings=setup.warnings,
            seconds=time.perf_counter() - started, environment=environment())


def optimize_model(model_path: str, recipes: list[Recipe] | list[dict] | list[str], data: DataSpec | None = None,
                   *, progress, cancel, threshold: float = 0.5, cache=None) -> OptimizeResult:
    """Make one variant per recipe from `model_path`, each evaluated against the original model.

    `cache` (a `core.cache.ResultCache`, default None: no caching): variants are
    looked up by the source's SHA-256, the recipe, the data files' SHA-256 and
    settings, the threshold and the library versions; when every recipe and the
    original's evaluation are cached the model is not even opened. A variant
    served from the cache carries `CACHE_NOTE` among its warnings.
    """
    started = time.perf_counter()
    parsed = _recipes(recipes)
    if isinstance(data, dict):
        try:
            data = DataSpec(**data)
        except TypeError as exc:
            raise BadInputError(f"bad data settings: {exc}") from None
    store = None
    if cache is not None:
        import os

        if not os.path.exists(model_path):
            raise BadInputError("no such file or folder", path=model_path)
        progress(0.0, "hashing the model and data", stage="load")
        store = _PipelineCache(cache, model_path, data, threshold, cancel)
        hit = store.full_hit(model_path, parsed, started)
        if hit is not None:
            progress.log(f"all {len(parsed)} variant(s) came from the result cache ({cache.folder})")
            for variant in hit.variants:
                progress.partial("variant", variant)
            progress(1.0, "done (from the cache)", stage="done")
            return hit
    progress(0.0, "loading the model", stage="load")
    source = open_source(model_path)
    cancel.raise_if_cancelled()
    specs = source.input_specs()
    if len(specs) != 1:
        raise BadInputError(f"the model has {len(specs)} inputs; optimization supports single-input models for now",
                            path=model_path)
    spec = specs[0]
    info = SourceInfo(path=str(model_path), format=source.format, sha256=sha256_path(model_path, check=cancel.raise_if_cancelled),
                      size_bytes=size_on_disk(model_path), inputs=tuple(specs), loader=source.loader)

    progress(0.05, "loading data", stage="data")
    prepared = prepare_data(spec, data, progress=progress)
    calib_x, eval_x, eval_y = prepared.calibration_x, prepared.eval_x, prepared.eval_y
    description, warnings = prepared.description, prepared.warnings
    if not description.synthetic_data:
        for warning in range_warnings(calib_x, eval_x):
            warnings.append(warning)
            progress.log(warning, level="warning")
    cancel.raise_if_cancelled()

    progress(0.1, f"running the original model on {eval_x.shape[0]} samples", stage="reference")
    reference = source.predict(eval_x, cancel=cancel)
    try:
        task = detect_task(reference, eval_y)
        original = evaluate_outputs(reference, labels=eval_y, threshold=threshold, task=task)
    except ValueError as exc:
        raise BadInputError(f"the labels do not fit the model's outputs: {exc}",
                            path=data.path if data else None) from None
    cancel.raise_if_cancelled()

    calibration_reference: dict[str, np.ndarray] = {}

    def calib_reference() -> np.ndarray:
        if "x" not in calibration_reference:
            calibration_reference["x"] = source.predict(calib_x, cancel=cancel)
        return calibration_reference["x"]

    ctx = PipelineContext(source=source, calibration_x=calib_x, calibration_reference=calib_reference, task=task,
                          progress=progress, cancel=cancel,
                          run_tflite=lambda b, x: run_tflite(b, x, cancel=cancel),
                          train_x=prepared.train_x, train_y=prepared.train_y)
    variants: list[Variant] = []
    failures: list[VariantFailure] = []
    try:
        # The fp32 baseline: the size every ratio is relative to.
        progress(0.15, "fp32 baseline conversion", stage="baseline")
        baseline_state, _ = build_variant(recipe_for_mode(FP32), ctx, progress=progress.scaled(0.15, 0.2, "baseline"))
        baseline_size = len(baseline_state.tflite_bytes)
        outputs = io_details(baseline_state.tflite_bytes)[1]
        if len(outputs) > 1:
            warnings.append(f"the model has {len(outputs)} outputs; evaluation compares the first output only")

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
                state, seconds = build_variant(recipe, ctx, progress=sub)
                sub(0.95, f"{recipe.name}: evaluating on {eval_x.shape[0]} samples")
                evaluation = evaluate_variant(state.tflite_bytes, eval_x, eval_y, reference, task, threshold, cancel)
            except ConversionError as exc:
                cancel.raise_if_cancelled()
                failure = VariantFailure(name=recipe.name, recipe=recipe, kind=exc.kind, message=exc.message,
                                         details=exc.details)
                failures.append(failure)
                if store is not None:
                    store.put(store.variant_key(recipe), failure, progress)
                progress.log(f"{recipe.name}: {exc.message}", level="error")
                continue
            warning = fidelity_warning(recipe, evaluation)
            if warning:
                state.warnings.append(warning)
            variant = Variant(
                name=recipe.name, recipe=recipe, tflite_bytes=state.tflite_bytes, size_bytes=len(state.tflite_bytes),
                converter_path=state.converter_path, evaluation=evaluation, warnings=tuple(state.warnings),
                seconds=seconds, size_ratio=len(state.tflite_bytes) / baseline_size if baseline_size else None,
                layer_errors=state.layer_errors, float_layers=state.float_layers, io_dtype=state.io_dtype,
                compression=state.compression)
            variants.append(variant)
            if store is not None:
                store.put(store.variant_key(recipe), variant, progress)
            progress.partial("variant", variant)
            progress(0.2 + (i + 1) * span, f"{recipe.name}: done", recipe.name)
    finally:
        ctx.close()
    if store is not None:
        store.put(store.setup_key, _CachedSetup(source=info, data=description, original_evaluation=original,
                                                baseline_size_bytes=baseline_size, warnings=tuple(warnings)),
                  progress)

    if not variants and failures:
        first = failures[0]
        raise ConversionError(first.message, path=model_path, details=first.details)
    progress(1.0, "done", stage="done")
    return OptimizeResult(
        source=info, data=description, original_evaluation=original, baseline_size_bytes=baseline_size,
        variants=tuple(variants), failures=tuple(failures), warnings=tuple(warnings),
        seconds=time.perf_counter() - started, environment=environment())


def optimize_modes(model_path: str, modes: list[str], data: DataSpec | None = None, *, progress, cancel,
                   io_dtype: str = "float", **kwargs: Any) -> OptimizeResult:
    """Convenience job: one standard recipe per mode name."""
    try:
        recipes = [recipe_for_mode(m, io_dtype=io_dtype if m == "int8" else "float") for m in modes]
    except RecipeError as exc:
        raise BadInputError(str(exc)) from None
    return optimize_model(model_path, recipes, data, progress=progress, cancel=cancel, **kwargs)


__all__ = ["CACHE_NOTE", "PreparedData", "build_variant", "data_cache_parts", "optimize_model", "optimize_modes",
           "prepare_data", "variant_cache_key"]
