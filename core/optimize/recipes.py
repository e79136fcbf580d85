"""Recipes: small, JSON-serializable descriptions of the steps that make one variant.

A `Recipe` is a name plus an ordered tuple of `Step`s; each step is a kind
(``"convert"``, ``"quantize"``; the pruning and distillation work registers more)
and a frozen config dataclass. The pass that executes a kind lives in the
pipeline's pass registry (`core.optimize.pipeline.PASSES`); this module knows
only the configs, so recipes can be built and checked without TensorFlow.

JSON form (version 1)::

    {"version": 1, "name": "int8",
     "steps": [{"kind": "convert", "config": {"allow_select_tf_ops": false, "converter": "auto"}},
               {"kind": "quantize", "config": {"mode": "int8", "io_dtype": "float", ...}}]}
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

RECIPE_VERSION = 1

FP32 = "fp32"
DYNAMIC = "dynamic"
FLOAT16 = "float16"
INT8 = "int8"
INT16X8 = "int16x8"
WEIGHT_ONLY = "weight_only"          # int8 weights stored, float compute (ai-edge-quantizer)

# The modes of the issue, in the order the CLI lists them.
MODES = (FP32, DYNAMIC, FLOAT16, INT8, INT16X8)
ALL_MODES = MODES + (WEIGHT_ONLY,)
CALIBRATED_MODES = (INT8, INT16X8)

SELECTIVE_METRICS = ("auto", "top1_agreement", "flipped_fraction", "cosine_similarity", "mean_abs_diff",
                     "max_abs_diff")


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


# kind -> config class. Other issues register their steps here (e.g. "prune").
STEP_CONFIGS: dict[str, type] = {
    "convert": ConvertConfig,
    "quantize": QuantizeConfig,
}


# kind -> function(mapping) -> config, for configs that read themselves (e.g. core.compress).
STEP_PARSERS: dict[str, Any] = {}


def register_step(kind: str, config_class: type, from_dict: Any = None) -> None:
    STEP_CONFIGS[kind] = config_class
    if from_dict is not None:
        STEP_PARSERS[kind] = from_dict


@dataclass(frozen=True)
class Step:
    kind: str
    config: Any

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "config": _config_to_dict(self.config)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Step":
        if not isinstance(data, dict) or "kind" not in data:
            raise RecipeError(f"a step must be an object with a 'kind', got {data!r}")
        kind = data["kind"]
        config_class = STEP_CONFIGS.get(kind)
        if config_class is None:
            raise RecipeError(f"unknown step kind {kind!r}; known: {', '.join(STEP_CONFIGS)}")
        parser = STEP_PARSERS.get(kind)
        if parser is not None:
            try:
                return cls(kind, parser(data.get("config") or {}))
            except (ValueError, TypeError) as exc:  # BadInputError is not a ValueError: it passes through
                raise RecipeError(f"step {kind!r}: {exc}") from None
        config = _config_from_dict(config_class, data.get("config") or {})
        return cls(kind, config)


@dataclass(frozen=True)
class Recipe:
    """One variant's steps, in order."""

    name: str
    steps: tuple[Step, ...] = field(default_factory=tuple)

    def validate(self) -> "Recipe":
        if not self.name:
            raise RecipeError("a recipe needs a name")
        for step in self.steps:
            validate = getattr(step.config, "validate", None)
            if validate is not None:
                validate()
        kinds = [s.kind for s in self.steps]
        if "quantize" in kinds and "convert" in kinds and kinds.index("quantize") < kinds.index("convert"):
            raise RecipeError("quantize must come after convert")
        return self

    def step(self, kind: str) -> Step | None:
        return next((s for s in self.steps if s.kind == kind), None)

    @property
    def mode(self) -> str:
        quantize = self.step("quantize")
        return quantize.config.mode if quantize is not None else FP32

    def to_dict(self) -> dict[str, Any]:
        return {"version": RECIPE_VERSION, "name": self.name, "steps": [s.to_dict() for s in self.steps]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Recipe":
        if not isinstance(data, dict):
            raise RecipeError(f"a recipe must be a JSON object, got {type(data).__name__}")
        version = data.get("version", RECIPE_VERSION)
        if version != RECIPE_VERSION:
            raise RecipeError(f"unsupported recipe version {version!r} (this Litesmith reads {RECIPE_VERSION})")
        steps = tuple(Step.from_dict(s) for s in data.get("steps", ()))
        return cls(name=str(data.get("name", "")), steps=steps).validate()

    @classmethod
    def from_json(cls, text: str) -> "Recipe":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RecipeError(f"not valid JSON: {exc}") from None
        return cls.from_dict(data)


def _config_to_dict(config: Any) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            value = _config_to_dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        out[f.name] = value
    return out


def _config_from_dict(config_class: type, data: dict[str, Any]) -> Any:
    if not isinstance(data, dict):
        raise RecipeError(f"{config_class.__name__} must be an object, got {data!r}")
    known = {f.name: f for f in dataclasses.fields(config_class)}
    unknown = set(data) - set(known)
    if unknown:
        raise RecipeError(f"{config_class.__name__}: unknown field(s) {', '.join(sorted(unknown))}")
    kwargs = {}
    for name, value in data.items():
        if name == "selective" and value is not None:
            value = _config_from_dict(SelectiveConfig, value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return config_class(**kwargs)


def recipe_for_mode(mode: str, *, io_dtype: str = "float", allow_select_tf_ops: bool = False,
                    converter: str = "auto", selective: SelectiveConfig | None = None,
                    layer_errors: bool = False, name: str | None = None) -> Recipe:
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
        steps.append(Step("quantize", QuantizeConfig(mode=mode, io_dtype=io_dtype, selective=selective,
                                                     layer_errors=layer_errors)))
    return Recipe(name=name, steps=tuple(steps)).validate()


def parse_modes(text: str) -> list[str]:
    """"fp32,int8" -> ["fp32", "int8"]; RecipeError naming an unknown mode."""
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


# Pruning and distillation steps register themselves (their configs import no TensorFlow).
from core.optimize import compress_steps  # noqa: E402,F401
