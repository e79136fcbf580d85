"""The optimization pipeline: recipes -> variants (.tflite bytes, size, evaluation) -> export.

Entry points (engine jobs):
    `core.optimize.pipeline.optimize_model(model_path, recipes, data=None, *, progress, cancel)`
    `core.optimize.export.export_variant(variant, out_path, *, progress, cancel, ...)`
"""

from core.optimize.recipes import (
    ALL_MODES,
    MODES,
    ConvertConfig,
    QuantizeConfig,
    Recipe,
    RecipeError,
    SelectiveConfig,
    Step,
    parse_modes,
    recipe_for_mode,
)
from core.optimize.results import ExportResult, LayerError, OptimizeResult, SourceInfo, Variant, VariantFailure

__all__ = [
    "ALL_MODES",
    "MODES",
    "ConvertConfig",
    "ExportResult",
    "LayerError",
    "OptimizeResult",
    "QuantizeConfig",
    "Recipe",
    "RecipeError",
    "SelectiveConfig",
    "SourceInfo",
    "Step",
    "Variant",
    "VariantFailure",
    "parse_modes",
    "recipe_for_mode",
]
