"""Pruning and distillation as recipe steps: "magnitude_prune", "structured_prune", "distill".

They run before "convert" and change the Keras model the variant is made from,
so "structured prune 40%, fine-tune, distill, then int8" is one recipe::

    {"name": "structured40+distill+int8", "steps": [
        {"kind": "structured_prune", "config": {"sparsity": 0.4, "fine_tune_epochs": 3}},
        {"kind": "distill", "config": {"student": "keep", "epochs": 3}},
        {"kind": "convert", "config": {}},
        {"kind": "quantize", "config": {"mode": "int8"}}]}

This module names the step kinds and builds the steps the CLI flags ask for (no
TensorFlow); the passes that run them, and register them in the step registry
(`core.optimize.registry`), live in `core.optimize.compress_passes`.
"""

from __future__ import annotations

from typing import Any

from core.compress.configs import DistillConfig, MagnitudePruneConfig, StructuredPruneConfig
from core.optimize import recipes

__all__ = [
    "COMPRESS_STEPS",
    "DISTILL",
    "MAGNITUDE_PRUNE",
    "STRUCTURED_PRUNE",
    "compression_label",
    "check_compression_order",
    "compression_steps",
    "with_compression",
]

MAGNITUDE_PRUNE = "magnitude_prune"
STRUCTURED_PRUNE = "structured_prune"
DISTILL = "distill"
COMPRESS_STEPS = (MAGNITUDE_PRUNE, STRUCTURED_PRUNE, DISTILL)  # the kinds that change the Keras model on purpose


def compression_steps(
    *,
    prune: float | None = None,
    structured: bool = False,
    distill: bool = False,
    student_width: float | None = None,
    epochs: int | None = None,
) -> tuple[recipes.Step, ...]:
    """The steps that `--prune S [--structured] [--distill] [--student-width W] [--epochs N]` ask for.

    With --distill after a structured prune, the student is the pruned model;
    otherwise it is a width-scaled copy (default 0.5x), distilled first and then
    pruned, if --prune asks for it. `prune` is the
    sparsity, a fraction in [0, 1); `epochs` (None: each config's default) is the
    fine-tuning of the prune and the training of the distillation. Raises
    `core.errors.BadInputError` for a value out of range (the configs check it).
    """
    steps: list[recipes.Step] = []
    distill_config = None
    if distill:
        if student_width is not None:
            student = f"width:{student_width:g}"
        elif prune is not None and structured:
            student = "keep"  # distil into the model the previous step produced
        else:
            student = "width:0.5"
        distill_config = (
            DistillConfig(student=student) if epochs is None else DistillConfig(student=student, epochs=epochs)
        )
    # A new student (a width-scaled copy) is trained from the original: distilling comes first and the prune
    # then works on the student, so the pruning the variant reports is in the file (`check_compression_order`).
    distill_first = distill_config is not None and distill_config.student != "keep"
    if distill_first:
        steps.append(recipes.Step(DISTILL, distill_config))
    if prune is not None:
        config: Any
        if structured:
            config = (
                StructuredPruneConfig(sparsity=prune)
                if epochs is None
                else StructuredPruneConfig(sparsity=prune, fine_tune_epochs=epochs)
            )
            steps.append(recipes.Step(STRUCTURED_PRUNE, config))
        else:
            config = (
                MagnitudePruneConfig(sparsity=prune)
                if epochs is None
                else MagnitudePruneConfig(sparsity=prune, epochs=epochs)
            )
            steps.append(recipes.Step(MAGNITUDE_PRUNE, config))
    if distill_config is not None and not distill_first:
        steps.append(recipes.Step(DISTILL, distill_config))
    return tuple(steps)


def check_compression_order(steps: tuple[recipes.Step, ...]) -> None:
    """RecipeError when a compression step would undo the one before it while the variant still reported it.

    * A distill step whose student is new (``width:F``, ``pruned[:S]``, a model file) trains that student
      from the original model: any step before it would be thrown away, so it must come first.
    * Distilling into the previous model (``keep``) retrains every weight: after a magnitude prune the
      zeroed weights would not stay zero, so prune after distilling instead.
    """
    before: list[str] = []
    for step in steps:
        if step.kind == DISTILL:
            student = step.config.student
            if student != "keep" and before:
                raise recipes.RecipeError(
                    f"a distill step with student {student!r} trains a new model from the original, so the "
                    f"step(s) before it ({', '.join(before)}) would be lost: put it first, or use student 'keep'"
                )
            if student == "keep" and MAGNITUDE_PRUNE in before:
                raise recipes.RecipeError(
                    "distilling into the magnitude-pruned model retrains its zeroed weights: put "
                    "magnitude_prune after distill"
                )
        if step.kind in COMPRESS_STEPS:
            before.append(step.kind)


def compression_label(steps: tuple[recipes.Step, ...]) -> str:
    """A short name prefix of compression steps, e.g. "structured40+distill" ("" for none); other kinds are
    left out."""
    parts = []
    for step in steps:
        if step.kind == MAGNITUDE_PRUNE:
            parts.append(f"pruned{round(step.config.sparsity * 100)}")
        elif step.kind == STRUCTURED_PRUNE:
            parts.append(f"structured{round(step.config.sparsity * 100)}")
        elif step.kind == DISTILL:
            parts.append(
                "distill"
                if step.config.student in ("keep", "pruned")
                else f"distill-{step.config.student.replace(':', '')}"
            )
    return "+".join(parts)


def with_compression(recipe: recipes.Recipe, steps: tuple[recipes.Step, ...]) -> recipes.Recipe:
    """`recipe` with `steps` run first, named e.g. "structured40+int8" (`recipe` itself when `steps` is empty).

    Raises RecipeError when the result is not a valid recipe.
    """
    if not steps:
        return recipe
    return recipes.Recipe(name=f"{compression_label(steps)}+{recipe.name}", steps=steps + recipe.steps).validate()
