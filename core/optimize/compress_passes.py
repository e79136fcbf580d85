"""The passes that run pruning and distillation steps inside the optimization pipeline.

"magnitude_prune", "structured_prune" and "distill" register themselves in the
one step registry (`core.optimize.registry`) with their configs
(`core.compress.configs`) and those configs' own parser (`config_from_dict`:
unknown settings and out-of-range values are a `BadInputError`).

Each changes the variant's Keras model before conversion (and sets
`state.modified`, so the original's cached fp32 conversion is not reused). The
fine-tuning data is the calibration file (all of it, with its labels when it has
them; otherwise the original model's outputs are the targets). Results of a step
are memoised per run, so "structured40+int8" and "structured40+float16" prune once.
"""

from __future__ import annotations

import dataclasses
import json
from functools import partial
from typing import Any

from core.compress.configs import (
    DistillConfig,
    MagnitudePruneConfig,
    MeasureConfig,
    StructuredPruneConfig,
    config_from_dict,
)
from core.errors import ConversionError
from core.optimize.compress_steps import DISTILL, MAGNITUDE_PRUNE, STRUCTURED_PRUNE
from core.optimize.pass_context import PipelineContext, WorkState
from core.optimize.recipes import Step
from core.optimize.registry import Pass, register_pass

__all__ = ["DistillPass", "MagnitudePrunePass", "StructuredPrunePass"]


def _no_measuring(config: Any) -> Any:
    # The pipeline converts and benchmarks every variant itself; skip the step's own measuring.
    return dataclasses.replace(config, measure=MeasureConfig(measure=False))


def _require_keras(state: WorkState, kind: str, ctx: PipelineContext) -> Any:
    if state.keras_model is None:
        raise ConversionError(
            f"{kind.replace('_', ' ')} needs a Keras model (.keras or .h5); this source is a {ctx.source.format}"
        )
    return state.keras_model


class _CompressPass(Pass):
    """A step that replaces the variant's Keras model by a compressed one, memoised per run."""

    def run(self, state: WorkState, config: Any, ctx: PipelineContext) -> None:
        """Compress `state.keras_model` (ConversionError for a non-Keras source or a multi-I/O model); adds
        the step's report to `state.compression` and its note (if any) to `state.warnings`."""
        model = _require_keras(state, self.kind, ctx)
        key = tuple(state.applied_steps) + (json.dumps(Step(self.kind, config).to_dict(), sort_keys=True),)
        cached = ctx.model_cache.get(key)
        if cached is None:
            ctx.cancel.raise_if_cancelled()
            cached = self.compress(model, _no_measuring(config), ctx)
            ctx.model_cache[key] = cached
        new_model, summary, note = cached
        state.keras_model = new_model
        state.saved_model_dir = None
        state.modified = True
        state.applied_steps.append(key[-1])
        state.compression = state.compression + ({"step": self.kind, **summary},)
        if note:
            state.warnings.append(note)

    def compress(self, model: Any, config: Any, ctx: PipelineContext) -> tuple[Any, dict[str, Any], str]:
        """(the new Keras model, its report as plain data, a note for the variant or "")."""
        raise NotImplementedError


def _single_io(ctx: PipelineContext, kind: str) -> tuple[Any, Any]:
    """The fine-tuning data as one input array and one label array (or None).

    Pruning and distillation fine-tune with a single loss; models with several
    inputs or outputs are refused with a reason (one failed variant), not guessed at.
    """
    interface = ctx.source.interface
    if len(interface.inputs) != 1 or len(interface.outputs) != 1:
        raise ConversionError(
            f"{kind} supports single-input, single-output Keras models for now; this model has "
            f"{len(interface.inputs)} input(s) and {len(interface.outputs)} output(s)"
        )
    x = None if ctx.train_x is None else ctx.train_x[interface.input_names[0]]
    y = None if ctx.train_y is None else ctx.train_y.get(interface.output_names[0])
    return x, y


@register_pass(MAGNITUDE_PRUNE, config=MagnitudePruneConfig, parse=partial(config_from_dict, MagnitudePruneConfig))
class MagnitudePrunePass(_CompressPass):
    """Magnitude pruning (`core.compress.magnitude`): the smallest weights zeroed, then fine-tuned; shapes kept."""

    def compress(self, model: Any, config: Any, ctx: PipelineContext) -> tuple[Any, dict[str, Any], str]:
        """See `_CompressPass.compress` (`config` is a `MagnitudePruneConfig`)."""
        from core.compress.magnitude import magnitude_prune

        result = magnitude_prune(model, config, *_single_io(ctx, self.kind), progress=ctx.progress, cancel=ctx.cancel)
        summary = result.summary()
        # Not measured here (nothing is timed while pruning): labelled as general advice. A Run's benchmark
        # measures the pruned variant's latency against fp32 side by side.
        note = (
            "magnitude pruning zeroes weights but keeps every layer's shape. General advice (not measured "
            "here): the .tflite stays as large and, on CPU, about as fast as before; the gain is in the "
            "compressed (gzip) size; the benchmark gives its measured latency"
        )
        return result.model, summary, note


@register_pass(STRUCTURED_PRUNE, config=StructuredPruneConfig, parse=partial(config_from_dict, StructuredPruneConfig))
class StructuredPrunePass(_CompressPass):
    """Structured pruning (`core.compress.structured`): whole channels removed, then fine-tuned; a smaller model."""

    def compress(self, model: Any, config: Any, ctx: PipelineContext) -> tuple[Any, dict[str, Any], str]:
        """See `_CompressPass.compress` (`config` is a `StructuredPruneConfig`)."""
        from core.compress.structured import structured_prune

        result = structured_prune(model, config, *_single_io(ctx, self.kind), progress=ctx.progress, cancel=ctx.cancel)
        summary = result.summary()
        skipped = summary.get("groups_skipped") or []
        note = f"structured pruning left {len(skipped)} channel group(s) alone (see the report)" if skipped else ""
        return result.model, summary, note


@register_pass(DISTILL, config=DistillConfig, parse=partial(config_from_dict, DistillConfig))
class DistillPass(_CompressPass):
    """Distillation (`core.compress.distill`) from the original model into the student the config names."""

    def compress(self, model: Any, config: Any, ctx: PipelineContext) -> tuple[Any, dict[str, Any], str]:
        """See `_CompressPass.compress` (`config` is a `DistillConfig`)."""
        from core.compress.distill import distill

        teacher = ctx.source.keras_model  # always distil from the original, whatever came before
        student = model if config.student == "keep" else None
        result = distill(
            teacher,
            config,
            *_single_io(ctx, self.kind),
            student_model=student,
            progress=ctx.progress,
            cancel=ctx.cancel,
        )
        return result.model, result.summary(), ""
