"""The Run's benchmark job, at the input sizes the optimization used (runs in the engine's child; no Qt here).

A model with free dimensions (a sequence length, an image's height and width) is
measured at a stated size: the one its variants were evaluated at (the data's, or
the Input sizes the user gave). `core.benchmark.measure.benchmark_model` takes
those as ``input_shapes``; `benchmark_variants` (the Run's side-by-side job) does
not yet, so without the keyword this job hands the sizes to its input planner
(`plan_inputs`) for this one call. Once the core takes the keyword, it is passed
straight through.

This module is imported in the engine's child process: it must never import Qt
or anything from `gui` that does.
"""

from __future__ import annotations

import inspect
from contextlib import contextmanager
from typing import Any, Iterator, Mapping


def _takes(fn: Any, keyword: str) -> bool:
    try:
        return keyword in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


@contextmanager
def _planned_at(measure: Any, input_shapes: dict[str, tuple[int, ...]]) -> Iterator[None]:
    """`measure.plan_inputs` resolves free dimensions at `input_shapes` unless its caller gives sizes itself.

    The engine's child runs one job at a time, so the module attribute is only this job's for its duration.
    """
    original = measure.plan_inputs

    def plan_inputs(runners, feed, shapes=None):
        return original(runners, feed, shapes if shapes is not None else input_shapes)

    measure.plan_inputs = plan_inputs
    try:
        yield
    finally:
        measure.plan_inputs = original


def benchmark_variants(variants: Mapping[str, Any], config: Any, *, progress: Any, cancel: Any,
                       keras_model: Any = None, data: Any = None, label: str = "variants",
                       signature: str | None = None, custom_objects: tuple[str, ...] = (),
                       input_shapes: Mapping[str, tuple[int, ...]] | None = None) -> Any:
    """`core.benchmark.measure.benchmark_variants`, with free dimensions measured at `input_shapes`
    ({input name: per-sample shape}; None or empty: the core's own rule, which asks for them)."""
    from core.benchmark import measure

    kwargs: dict[str, Any] = dict(progress=progress, cancel=cancel, keras_model=keras_model, data=data, label=label,
                                  signature=signature, custom_objects=tuple(custom_objects))
    shapes = {str(name): tuple(int(d) for d in shape) for name, shape in (input_shapes or {}).items()}
    if not shapes:
        return measure.benchmark_variants(variants, config, **kwargs)
    if _takes(measure.benchmark_variants, "input_shapes"):
        return measure.benchmark_variants(variants, config, input_shapes=shapes, **kwargs)
    with _planned_at(measure, shapes):
        return measure.benchmark_variants(variants, config, **kwargs)


__all__ = ["benchmark_variants"]
