"""The passes that run pruning and distillation steps inside the optimization pipeline.

Each changes the variant's Keras model before conversion (and sets
`state.modified`, so the original's cached fp32 conversion is not reused). The
fine-tuning data is the calibration file (all of it, with its labels when it has
them; otherwise the original model's outputs are the targets). Results of a step
are memoised per run, so "structured40+int8" and "structured40+float16" prune once.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from core.compress.configs import MeasureConfig
from core.errors import ConversionError
from core.optimize.compress_steps import DISTILL, MAGNITUDE_PRUNE, STRUCTURED_PRUNE
from core.optimize.passes import Pass, PipelineContext, WorkState, register_pass
from core.optimize.recipes import Step


def _no_measuring(config: Any) -> Any:
    # The pipeline converts and benchmarks every variant itself; skip the step's own measuring.
    return dataclasses.replace(config, measure=MeasureConfig(measure=False))


def _require_keras(state: WorkState, kind: str, ctx: PipelineContext) -> Any:
    if state.keras_model is None:
        raise ConversionError(f"{kind.replace('_', ' ')} needs a Keras model (.keras or .h5); "
                              f"this source is a {ctx.source.format}")
    return state.keras_model


class _CompressPass(Pass):
    def run(self, state: WorkState, config: Any, ctx: PipelineContext) -> None:
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

    def compress(self, model: Any, config: Any, ctx: PipelineContext) -> tuple[Any, dict, str]:
        raise NotImplementedError


def _single_io(ctx: PipelineContext, kind: str) -> tuple[Any, Any]:
    """The fine-tuning data as one input array and one label array (or None).

    Pruning and distillation fine-tune with a single loss; models with several
    inputs or outputs are refused with a reason (one failed variant), not guessed at.
    """
    interface = ctx.source.interface
    if len(interface.inputs) != 1 or len(interface.outputs) != 1:
        raise ConversionError(f"{kind} supports single-input, single-output Keras models for now; this model has "
                              f"{len(interface.inputs)} input(s) and {len(interface.outputs)} output(s)")
    x = None if ctx.train_x is None else ctx.train_x[interface.input_names[0]]
    y = None if ctx.train_y is None else ctx.train_y.get(interface.output_names[0])
    return x, y


class MagnitudePrunePass(_CompressPass):
    kind = MAGNITUDE_PRUNE

    def compress(self, model, config, ctx):
        from core.compress.magnitude import magnitude_prune

        result = magnitude_prune(model, config, *_single_io(ctx, self.kind), progress=ctx.progress, cancel=ctx.cancel)
        summary = result.summary()
        # Not measured here (nothing is timed while pruning): labelled as general advice. A Run's benchmark
        # measures the pruned variant's latency against fp32 side by side.
        note = ("magnitude pruning zeroes weights but keeps every layer's shape. General advice (not measured "
                "here): the .tflite stays as large and, on CPU, about as fast as before; the gain is in the "
                "compressed (gzip) size; the benchmark gives its measured latency")
        return result.model, summary, note


class StructuredPrunePass(_CompressPass):
    kind = STRUCTURED_PRUNE

    def compress(self, model, config, ctx):
        from core.compress.structured import structured_prune

        result = structured_prune(model, config, *_single_io(ctx, self.kind), progress=ctx.progress, cancel=ctx.cancel)
        summary = result.summary()
        skipped = summary.get("groups_skipped") or []
        note = f"structured pruning left {len(skipped)} channel group(s) alone (see the report)" if skipped else ""
        return result.model, summary, note


class DistillPass(_CompressPass):
    kind = DISTILL

    def compress(self, model, config, ctx):
        from core.compress.distill import distill

        teacher = ctx.source.keras_model  # always distil from the original, whatever came before
        student = model if config.student == "keep" else None
        result = distill(teacher, config, *_single_io(ctx, self.kind), student_model=student,
                         progress=ctx.progress, cancel=ctx.cancel)
        return result.model, result.summary(), ""


for _pass in (MagnitudePrunePass(), StructuredPrunePass(), DistillPass()):
    register_pass(_pass)
