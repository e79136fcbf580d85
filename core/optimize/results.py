"""What the optimization pipeline returns: frozen dataclasses that pickle across the engine boundary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.data.loaders import DataDescription
from core.evaluation import ModelEvaluation
from core.models.interface import ModelInterface, TensorSpec
from core.optimize.recipes import Recipe


@dataclass(frozen=True)
class LayerError:
    """Quantization error of one layer's output, worst first in lists.

    From the QuantizationDebugger (Keras/SavedModel source): rmse_over_scale and the
    error figures. From ai-edge-quantizer's validation (a .tflite input): only `mse`
    (the other figures are NaN, op_name says "intermediate" or "output").
    """

    tensor_name: str
    op_name: str
    rmse_over_scale: float  # sqrt(mean squared error) / quantization scale: ~0.29 is ideal rounding
    mean_abs_error: float  # |mean error| (bias)
    max_abs_error: float
    scale: float
    kept_float: bool = False
    mse: float | None = None  # ai-edge-quantizer validation (a .tflite input): mean squared error vs float


@dataclass(frozen=True)
class SourceInfo:
    """The source model as a result records it (picklable, no live model): file, SHA-256, size in bytes, interface and tasks."""

    path: str
    format: str
    sha256: str
    size_bytes: int
    inputs: tuple[TensorSpec, ...]
    loader: str = ""  # which loader opened it
    interface: ModelInterface | None = None  # named inputs and outputs (and the signature used)
    tasks: tuple["OutputTask", ...] = ()  # the task each output is scored as, and why
    primary_output: str = ""  # the output that drives accuracy headlines and auto budgets
    custom_objects: tuple[tuple[str, str], ...] = ()  # (path, sha256) of the user's code for custom layers

    def task_of(self, output: str) -> str | None:
        """The task output `output` is scored as, or None when it has none."""
        return next((t.task for t in self.tasks if t.output == output), None)


@dataclass(frozen=True)
class OutputTask:
    """How one output is scored: its task, and the evidence (or "set with --task")."""

    output: str
    task: str
    reason: str


@dataclass(frozen=True)
class Variant:
    """One optimized model: its bytes, size, how it was made and how good it is."""

    name: str
    recipe: Recipe
    tflite_bytes: bytes
    size_bytes: int
    converter_path: str  # "from_keras_model", "export+from_saved_model", "from_saved_model", ...
    evaluation: ModelEvaluation | None  # every output; its headline fidelity is the worst output's
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0  # time to build it (conversion and quantization)
    size_ratio: float | None = None  # size / fp32 baseline size
    layer_errors: tuple[LayerError, ...] = ()
    float_layers: tuple[str, ...] = ()  # layers kept in float by selective quantization
    io_dtype: str = "float32"
    compression: tuple[dict[str, Any], ...] = ()  # pruning/distillation reports (sparsity, params, FLOPs, ...)
    signature: str | None = None  # the .tflite signature its inputs and outputs are matched through
    sample_inputs: dict[str, Any] | None = None  # a few evaluation inputs by name: the pre-export smoke run

    @property
    def mode(self) -> str:
        """The recipe's quantization mode ("fp32", "dynamic", "int8", ...)."""
        return self.recipe.mode

    def summary(self) -> dict[str, Any]:
        """Everything but the bytes, JSON-ready."""
        return {
            "name": self.name,
            "mode": self.mode,
            "recipe": self.recipe.to_dict(),
            "size_bytes": self.size_bytes,
            "size_ratio": self.size_ratio,
            "converter_path": self.converter_path,
            "io_dtype": self.io_dtype,
            "seconds": round(self.seconds, 3),
            "evaluation": self.evaluation.to_dict() if self.evaluation is not None else None,
            "warnings": list(self.warnings),
            "float_layers": list(self.float_layers),
            "layer_errors": [_layer_dict(e) for e in self.layer_errors],
            "compression": list(self.compression),
            "signature": self.signature,
        }


def _layer_dict(e: LayerError) -> dict[str, Any]:
    return {
        "tensor_name": e.tensor_name,
        "op_name": e.op_name,
        "rmse_over_scale": e.rmse_over_scale,
        "mean_abs_error": e.mean_abs_error,
        "max_abs_error": e.max_abs_error,
        "scale": e.scale,
        "kept_float": e.kept_float,
        "mse": e.mse,
    }


@dataclass(frozen=True)
class VariantFailure:
    """A recipe that produced no variant: its error kind (`core.errors.ErrorKind`) and one-line message."""

    name: str
    recipe: Recipe
    kind: str  # core.errors.ErrorKind
    message: str
    details: str = ""


@dataclass(frozen=True)
class OptimizeResult:
    """The outcome of `optimize_model`: the original's evaluation, the fp32 baseline and the variants."""

    source: SourceInfo
    data: DataDescription
    original_evaluation: ModelEvaluation | None  # the original model on the eval data (labels only: the "before")
    baseline_size_bytes: int  # the fp32 .tflite size every ratio is relative to
    variants: tuple[Variant, ...]
    failures: tuple[VariantFailure, ...] = ()
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def synthetic_data(self) -> bool:
        """True when no data was given and inputs were synthesized (every figure then rests on random inputs)."""
        return self.data.synthetic_data

    def variant(self, name: str) -> Variant:
        """The variant called `name`; KeyError when there is none."""
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(name)

    def summary(self) -> dict[str, Any]:
        """Everything but the variants' bytes, as plain data for JSON (`optimize --json`)."""
        from dataclasses import asdict

        return {
            "source": asdict(self.source),
            "data": asdict(self.data),
            "synthetic_data": self.data.synthetic_data,
            "original_evaluation": self.original_evaluation.to_dict() if self.original_evaluation else None,
            "baseline_size_bytes": self.baseline_size_bytes,
            "variants": [v.summary() for v in self.variants],
            "failures": [{"name": f.name, "kind": f.kind, "message": f.message} for f in self.failures],
            "warnings": list(self.warnings),
            "seconds": round(self.seconds, 3),
            "environment": dict(self.environment),
        }


@dataclass(frozen=True)
class ExportResult:
    """What `export_variant` wrote: the .tflite and report paths, size in bytes, SHA-256, and that it was run back."""

    tflite_path: str
    report_path: str | None
    size_bytes: int
    sha256: str
    verified: bool  # loaded back and run once
    report: dict[str, Any] = field(default_factory=dict)
