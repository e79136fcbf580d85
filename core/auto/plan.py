"""Auto mode's plan: which candidates to try after the single quantization modes, or why not.

Selective float layers are tried only when plain int8 misses the quality budget (and the
source has a graph); structured pruning only on Keras sources, on top of the best recipe
so far, unless a stated reason rules it out. Every skip carries its reason.
"""

from __future__ import annotations

from typing import Any

from core.auto.budget import AutoBudget
from core.auto.results import FAILED, MISSES_BUDGET, AutoCandidate, AutoSettings
from core.benchmark.stats import fmt_ms
from core.errors import BadInputError
from core.optimize.compress_steps import compression_steps, with_compression
from core.optimize.recipes import INT8, Recipe, RecipeError, SelectiveConfig, recipe_for_mode


class PlanMixin:
    """`_Search`'s plan half (`core.auto.search`): needs the attributes and methods below."""

    settings: AutoSettings
    budget: AutoBudget
    candidates: list[AutoCandidate]
    setup_info: Any
    progress: Any
    cancel: Any

    def best(self) -> AutoCandidate | None:
        """The best candidate so far (given by `_Search`)."""
        raise NotImplementedError

    def run(self, recipe: Recipe) -> AutoCandidate:
        """Build and judge one candidate (given by `_Search`)."""
        raise NotImplementedError

    def skip(self, recipe: Recipe, reason: str) -> AutoCandidate:
        """Record a candidate not tried, with its reason (given by `_Search`)."""
        raise NotImplementedError

    def search(self) -> None:
        """Run every candidate in order: the single modes, then selective int8, then pruning (or their skips).

        Raises `Cancelled` at the next check after a cancel.
        """
        for mode in self.settings.modes:
            self.cancel.raise_if_cancelled()
            self.run(recipe_for_mode(mode))
        if self.settings.selective:
            self.cancel.raise_if_cancelled()
            self._selective()
        self._pruning()

    def _selective(self) -> AutoCandidate:
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
        if best is not None and best.latency_ms is not None and best.latency_ms < settings.prune_floor_ms:
            flops = f"{info.flops:,} FLOPs per sample; " if info.flops else ""
            return (
                f"{flops}the fastest candidate ({best.name}) already runs in {fmt_ms(best.latency_ms)} per call, "
                f"below {fmt_ms(settings.prune_floor_ms)}, where per-call overhead rather than compute dominates; "
                "removing channels cannot buy a measurable gain and would cost fine-tuning "
                '(pruning="always" tries anyway)'
            )
        return ""
