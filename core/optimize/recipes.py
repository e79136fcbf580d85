"""Recipes: small, JSON-serializable descriptions of the steps that make one variant.

A `Recipe` is a name plus an ordered tuple of `Step`s; each step is a kind
(``"convert"``, ``"quantize"``, ``"magnitude_prune"``, ...) and a frozen config
dataclass. Which kinds exist, their config classes and parsers, and the passes
that run them are in the one step registry (`core.optimize.registry`): a pass
registers itself where it is implemented, and `Step.from_dict` reads the
registry. This module holds the conversion and quantization configs and no
pass, so recipes are built and checked without TensorFlow.

JSON form (version 1)::

    {"version": 1, "name": "int8",
     "steps": [{"kind": "convert", "config": {"allow_select_tf_ops": false, "converter": "auto"}},
               {"kind": "quantize", "config": {"mode": "int8", "io_dtype": "float", ...}}]}
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from core.plain_data import to_plain

RECIPE_VERSION = 1

FP32 = "fp32"
DYNAMIC = "dynamic"
FLOAT16 = "float16"
INT8 = "int8"
INT16X8 = "int16x8"
WEIGHT_ONLY = "weight_only"  # int8 weights stored, float compute (ai-edge-quantizer)

# The modes of the issue, in the order the CLI lists them.
MODES = (FP32, DYNAMIC, FLOAT16, INT8, INT16X8)
ALL_MODES = MODES + (WEIGHT_ONLY,)
CALIBRATED_MODES = (INT8, INT16X8)

SELECTIVE_METRICS = ("auto", "top1_agreement", "flipped_fraction", "cosine_similarity", "mean_abs_diff", "max_abs_diff")


class RecipeError(ValueError):
    """A recipe that cannot be built or read (unknown mode, bad field)."""


@dataclass(frozen=True)
class ConvertConfig:
    """Conversion to .tflite.

    converter: "auto" (from_keras_model, falling back to model.export() +
    from_saved_model), "keras" or "saved_model" to force one path.
    allow_select_tf_ops: add SELECT_TF_OPS (Flex). Off by default: Flex ops can
    carry file-system ops into the output, and need the Flex delegate to run.
    """

    converter: str = "auto"
    allow_select_tf_ops: bool = False

    def validate(self) -> None:
        """RecipeError for an unknown converter."""
        if self.converter not in ("auto", "keras", "saved_model"):
            raise RecipeError(f"unknown converter {self.converter!r}; expected auto, keras or saved_model")


@dataclass(frozen=True)
class SelectiveConfig:
    """Keep some layers in float inside an int8 model (float inputs/outputs).

    float_layers: tensor names (from the layer-error table) kept in float.
    auto: add the most sensitive layers, one at a time, until the fidelity
    target is met on the calibration data (or max_float_layers is reached).
    metric "auto": top-1 agreement >= 0.99 for multiclass, cosine similarity
    >= 0.999 otherwise (binary too: rare positives flip few decisions even
    when the ranking is ruined).
    """

    float_layers: tuple[str, ...] = ()
    auto: bool = False
    metric: str = "auto"
    target: float | None = None
    max_float_layers: int = 8

    def validate(self) -> None:
        """RecipeError for an unknown metric or fewer than one float layer allowed."""
        if self.metric not in SELECTIVE_METRICS:
            raise RecipeError(f"unknown fidelity metric {self.metric!r}; expected one of {SELECTIVE_METRICS}")
        if self.max_float_layers < 1:
            raise RecipeError("max_float_layers must be at least 1")


@dataclass(frozen=True)
class QuantizeConfig:
    """Post-training quantization.

    mode: fp32 (no-op), dynamic, float16, int8, int16x8, weight_only.
    io_dtype: for int8, "float" (float32 inputs/outputs, quantize/dequantize ops
    inside) or "int8" (the caller quantizes inputs with the tensor's scale/zero point).
    layer_errors: measure per-layer int8 quantization error (Keras or SavedModel
    source) and attach it to the variant.
    """

    mode: str = INT8
    io_dtype: str = "float"
    layer_errors: bool = False
    selective: SelectiveConfig | None = None

    def validate(self) -> None:
        """RecipeError for an unknown mode or io_dtype, or a combination the converter cannot make."""
        if self.mode not in ALL_MODES:
            raise RecipeError(f"unknown quantization mode {self.mode!r}; expected one of {', '.join(ALL_MODES)}")
        if self.io_dtype not in ("float", "int8"):
            raise RecipeError(f"unknown io_dtype {self.io_dtype!r}; expected float or int8")
        if self.io_dtype == "int8" and self.mode != INT8:
            raise RecipeError("int8 inputs/outputs need mode int8")
        if self.selective is not None:
            if self.mode != INT8:
                raise RecipeError("selective quantization applies to int8 only")
            if self.io_dtype == "int8":
                raise RecipeError("selective quantization keeps float inputs/outputs (io_dtype float)")
            self.selective.validate()


@dataclass(frozen=True)
class Step:
    """One step of a recipe: its `kind` (a registered step kind) and its frozen `config` dataclass."""

    kind: str
    config: Any

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": ..., "config": {field: value}}`` (tuples as lists, nested configs as objects)."""
        return {"kind": self.kind, "config": to_plain(self.config)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Step":
        """A step from its JSON form, its config read by the kind's registered parser (`core.optimize.registry`).

        Raises RecipeError for a step that is not an object with a kind, an unknown
        kind (naming the known ones) or a bad config; the compression configs raise
        `core.errors.BadInputError` for a value out of range, which passes through.
        """
        from core.optimize import registry  # here, not at the top: the registry imports this module

        if not isinstance(data, dict) or "kind" not in data:
            raise RecipeError(f"a step must be an object with a 'kind', got {data!r}")
        kind = data["kind"]
        entry = registry.lookup(kind)
        try:
            return cls(kind, entry.parse(data.get("config") or {}))
        except RecipeError:
            raise
        except (ValueError, TypeError) as exc:  # BadInputError is not a ValueError: it passes through
            raise RecipeError(f"step {kind!r}: {exc}") from None


# A variant's name becomes part of its exported file names (`MODEL.NAME.tflite`): no folder, no "..".
VARIANT_NAME = re.compile(r"[A-Za-z0-9_+][A-Za-z0-9._+-]{0,99}")


@dataclass(frozen=True)
class Recipe:
    """One variant's steps, in order."""

    name: str
    steps: tuple[Step, ...] = field(default_factory=tuple)

    def validate(self) -> "Recipe":
        """Check the name, each step's config (its `validate()`) and the order; returns self or raises
        RecipeError."""
        if not self.name:
            raise RecipeError("a recipe needs a name")
        if not VARIANT_NAME.fullmatch(self.name) or ".." in self.name:
            raise RecipeError(
                f"recipe name {self.name[:80]!r} cannot name a file: use letters, digits and . _ + - "
                "(at most 100, not starting with . or -, no '..')"
            )
        for step in self.steps:
            validate = getattr(step.config, "validate", None)
            if validate is not None:
                validate()
        kinds = [s.kind for s in self.steps]
        if "quantize" in kinds and "convert" in kinds and kinds.index("quantize") < kinds.index("convert"):
            raise RecipeError("quantize must come after convert")
        from core.optimize.compress_steps import check_compression_order

        check_compression_order(self.steps)
        return self

    def step(self, kind: str) -> Step | None:
        """The first step of `kind`, or None."""
        return next((s for s in self.steps if s.kind == kind), None)

    @property
    def mode(self) -> str:
        """The quantization mode ("fp32" without a quantize step)."""
        quantize = self.step("quantize")
        return quantize.config.mode if quantize is not None else FP32

    def to_dict(self) -> dict[str, Any]:
        """The recipe's JSON form (version `RECIPE_VERSION`): ``{"version", "name", "steps": [...]}``."""
        return {"version": RECIPE_VERSION, "name": self.name, "steps": [s.to_dict() for s in self.steps]}

    def to_json(self) -> str:
        """`to_dict()` as JSON text, keys sorted (stable for cache keys)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Recipe":
        """A validated recipe from its JSON form; RecipeError for any problem (see `Step.from_dict`)."""
        if not isinstance(data, dict):
            raise RecipeError(f"a recipe must be a JSON object, got {type(data).__name__}")
        version = data.get("version", RECIPE_VERSION)
        if version != RECIPE_VERSION:
            raise RecipeError(f"unsupported recipe version {version!r} (this Litesmith reads {RECIPE_VERSION})")
        steps = tuple(Step.from_dict(s) for s in data.get("steps", ()))
        return cls(name=str(data.get("name", "")), steps=steps).validate()

    @classmethod
    def from_json(cls, text: str) -> "Recipe":
        """`from_dict` of JSON text; RecipeError for text that is not JSON."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RecipeError(f"not valid JSON: {exc}") from None
        return cls.from_dict(data)


def recipe_for_mode(
    mode: str,
    *,
    io_dtype: str = "float",
    allow_select_tf_ops: bool = False,
    converter: str = "auto",
    selective: SelectiveConfig | None = None,
    layer_errors: bool = False,
    name: str | None = None,
) -> Recipe:
    """The standard recipe for one quantization mode: convert, then quantize."""
    if mode not in ALL_MODES:
        raise RecipeError(f"unknown quantization mode {mode!r}; expected one of {', '.join(ALL_MODES)}")
    if name is None:
        name = mode
        if io_dtype == "int8":
            name += "-int8io"
        if selective is not None:
            name += "-selective"
    steps = [Step("convert", ConvertConfig(converter=converter, allow_select_tf_ops=allow_select_tf_ops))]
    if mode != FP32:
        steps.append(
            Step(
                "quantize", QuantizeConfig(mode=mode, io_dtype=io_dtype, selective=selective, layer_errors=layer_errors)
            )
        )
    return Recipe(name=name, steps=tuple(steps)).validate()


def parse_modes(text: str) -> list[str]:
    """ "fp32,int8" -> ["fp32", "int8"]; RecipeError naming an unknown mode."""
    modes = [m.strip().lower() for m in text.split(",") if m.strip()]
    if not modes:
        raise RecipeError("no quantization mode given")
    for m in modes:
        if m not in ALL_MODES:
            raise RecipeError(f"unknown quantization mode {m!r}; expected one of {', '.join(ALL_MODES)}")
    seen: list[str] = []
    for m in modes:
        if m not in seen:
            seen.append(m)
    return seen


def as_recipe(item: Recipe | dict[str, Any] | str) -> Recipe:
    """Accept a Recipe, its dict form, or a bare mode name."""
    if isinstance(item, Recipe):
        return item.validate()
    if isinstance(item, str):
        return recipe_for_mode(item)
    return Recipe.from_dict(item)
