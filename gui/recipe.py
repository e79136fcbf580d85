"""What the user asked for in the recipe panel, as plain data (no Qt), and how it becomes engine calls.

`RunSettings` is what the recipe panel shows and what QSettings remembers
(`to_dict` / `from_dict`, unknown or broken values fall back to the defaults).
It turns into the engine's inputs: `recipes()` and `session_options()` for
`optimize_model`, `data_spec()` (None: synthesized inputs) and `bench_config()`
for `benchmark_variants`.

The model's own choices (`signature`, `primary_output`, per-output `tasks`, the
`input_shapes` of free dimensions) belong to one model, like the data: they travel
with a run (and its report) but a saved recipe never restores them.

Compression steps (magnitude/structured pruning, distillation) are offered only
when the step registry (`core.optimize.registry`) has them (`compression_kinds()`).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.optimize import registry
from core.optimize.compress_steps import COMPRESS_STEPS, DISTILL, MAGNITUDE_PRUNE, STRUCTURED_PRUNE
from core.optimize.recipes import MODES, Recipe, SelectiveConfig, Step, recipe_for_mode

if TYPE_CHECKING:  # imported inside the methods at run time: the GUI thread stays light
    from core.auto.budget import AutoBudget
    from core.auto.results import AutoSettings
    from core.benchmark import BenchConfig
    from core.data.loaders import DataSpec
    from core.optimize.session import SessionOptions

DATA_SUFFIXES = (".npz", ".npy", ".csv")
DATA_FILTER = "Data (*.npz *.npy *.csv);;All files (*)"

# Compression step kinds the panel can offer (when the optimizer has them registered).
COMPRESSION_KINDS = COMPRESS_STEPS
QUANT_MODES = tuple(m for m in MODES if m != "fp32")
MODE_LABELS = {
    "fp32": "fp32 (baseline, always made)",
    "dynamic": "Dynamic range (int8 weights)",
    "float16": "float16 weights",
    "int8": "Full integer int8 (calibrated)",
    "int16x8": "16x8 (int16 activations, int8 weights)",
}
DEVICE_CPU = "/CPU:0"
MODEL_FIELDS = (
    "extra",
    "signature",
    "primary_output",
    "tasks",
    "input_shapes",
    "auto_task",
)  # never read back from a saved recipe


def compression_kinds() -> list[str]:
    """The compression step kinds the optimizer knows right now (registered in `core.optimize.registry`)."""
    return [kind for kind in COMPRESSION_KINDS if registry.is_registered(kind)]


def budget_in_target_units(task: str | None) -> bool:
    """True when the auto accuracy budget of `task` is in the target's own units (regression's MAE), not points."""
    return task == "regression"


def is_data_path(path: str) -> bool:
    """True for an existing folder or a name ending in a data suffix (.npz, .npy, .csv); no file is read."""
    return os.path.isdir(path) or os.path.splitext(path)[1].lower() in DATA_SUFFIXES


@dataclass
class RunSettings:
    """The recipe panel's choices as plain data; units are in the field comments (ms, seconds, MB, percent).

    Saved data comes back through `from_dict`, which keeps defaults for anything missing or malformed.
    """

    # data
    data_path: str | None = None
    label_column: str = ""
    # quantization
    modes: tuple[str, ...] = ("dynamic", "float16", "int8")
    int8_io: bool = False
    selective: bool = False
    fidelity_target: float | None = None  # None: the task's default target
    layer_errors: bool = True
    # compression (used only when registered): each chosen recipe also gets a compressed twin
    prune: str = ""  # "", "magnitude" or "structured"
    sparsity: float = 0.5
    distill: bool = False
    epochs: int = 2
    # benchmark
    threads: tuple[int, ...] = (1,)
    batch_sizes: tuple[int, ...] = (1,)
    runs: int | None = None
    seconds: float | None = 1.0
    budget_ms: float = 10.0
    device: str = DEVICE_CPU
    keras_modes: tuple[str, ...] = ("tf_function",)
    profile: bool = False  # per-layer time of the Keras baseline; data vs model time (.npz)
    gpu_memory_mb: int = 0  # cap on the chosen GPU (0: none)
    # auto mode (budget)
    auto_quality: str = "agreement"  # "agreement" (min agreement %) or "accuracy" (max drop, points)
    auto_min_agreement: float = 99.0  # percent
    auto_max_drop: float = 1.0  # accuracy points (PR-AUC points for binary); regression: MAE
    # increase in the target's own units (see auto_task)
    auto_max_size_mb: float = 0.0  # 0: no size limit
    auto_pruning: bool = True  # "auto" (when it can pay) or "never"
    use_cache: bool = True  # read/write the result cache (core.cache), as the CLI does
    # the open model's interface (not restored from a saved recipe: they name one model's outputs)
    signature: str = ""  # SavedModel/.tflite signature ("": serving_default or the only one)
    primary_output: str = ""  # drives accuracy headlines and auto budgets ("": the first output)
    tasks: tuple[tuple[str, str], ...] = ()  # (output, task) overrides of the inferred tasks
    auto_task: str = ""  # the primary output's task, where known: sets the budget's unit
    # (input, per-sample shape) for inputs with free dimensions: used without data (the data's sizes win)
    input_shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    # -- persistence ------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready plain data (tuples as lists, without `extra`), as QSettings and runs keep them."""
        out = dataclasses.asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        out.pop("extra", None)
        return out

    @classmethod
    def from_dict(cls, data: Any) -> "RunSettings":
        """Settings from a saved dict; anything missing or malformed keeps its default."""
        settings = cls()
        if not isinstance(data, dict):
            return settings
        for f in dataclasses.fields(cls):
            if f.name not in data or f.name in MODEL_FIELDS:
                continue
            value = data[f.name]
            default = getattr(settings, f.name)
            try:
                if isinstance(default, tuple) or f.name in ("modes", "threads", "batch_sizes", "keras_modes"):
                    value = tuple(value)
                    if f.name in ("threads", "batch_sizes"):
                        value = tuple(int(v) for v in value if int(v) >= 1) or default
                elif f.name in (
                    "int8_io",
                    "selective",
                    "layer_errors",
                    "distill",
                    "profile",
                    "auto_pruning",
                    "use_cache",
                ):
                    value = bool(value)
                elif f.name in ("epochs", "gpu_memory_mb"):
                    value = max(0, int(value))
                elif f.name in ("auto_min_agreement", "auto_max_drop", "auto_max_size_mb"):
                    value = max(0.0, float(value))
                elif f.name in ("runs",):
                    value = None if value is None else max(1, int(value))
                elif f.name in ("seconds", "fidelity_target"):
                    value = None if value is None else float(value)
                elif f.name in ("budget_ms", "sparsity"):
                    value = float(value)
                elif f.name in ("data_path",):
                    value = None if not value else str(value)
                else:
                    value = str(value)
            except (TypeError, ValueError):
                continue
            setattr(settings, f.name, value)
        settings.modes = tuple(m for m in settings.modes if m in QUANT_MODES)
        if settings.prune not in ("", "magnitude", "structured"):
            settings.prune = ""
        settings.sparsity = min(0.95, max(0.05, settings.sparsity))
        if settings.runs is None and settings.seconds is None:
            settings.seconds = 1.0
        if settings.runs is not None and settings.seconds is not None:
            settings.seconds = None
        if settings.budget_ms <= 0:
            settings.budget_ms = 10.0
        if settings.auto_quality not in ("agreement", "accuracy"):
            settings.auto_quality = "agreement"
        settings.auto_min_agreement = min(100.0, settings.auto_min_agreement)
        return settings

    # -- engine inputs --------------------------------------------------------------

    def compression_steps(self) -> tuple[Step, ...]:
        """The pruning/distillation steps asked for and known to the optimizer (empty: none)."""
        known = compression_kinds()
        prune = (
            self.prune
            if (self.prune == "magnitude" and MAGNITUDE_PRUNE in known)
            or (self.prune == "structured" and STRUCTURED_PRUNE in known)
            else ""
        )
        distill = self.distill and DISTILL in known
        if not prune and not distill:
            return ()
        from core.optimize.compress_steps import compression_steps

        return compression_steps(
            prune=self.sparsity if prune else None,
            structured=prune == "structured",
            distill=distill,
            epochs=self.epochs,
        )

    def recipes(self) -> list[Recipe]:
        """fp32 first (always), then one recipe per chosen mode; with compression, a compressed twin of each."""
        recipes = [recipe_for_mode("fp32", layer_errors=False)]
        for mode in QUANT_MODES:
            if mode not in self.modes:
                continue
            selective = None
            io_dtype = "float"
            if mode == "int8":
                if self.selective:
                    selective = SelectiveConfig(auto=True, target=self.fidelity_target)
                elif self.int8_io:
                    io_dtype = "int8"
            recipes.append(
                recipe_for_mode(
                    mode, io_dtype=io_dtype, selective=selective, layer_errors=self.layer_errors and mode == "int8"
                )
            )
        steps = self.compression_steps()
        if steps:
            from core.optimize.compress_steps import with_compression

            recipes += [with_compression(r, steps) for r in list(recipes)]
        return recipes

    def session_options(self) -> SessionOptions:
        """How the engine reads and scores the model: signature, primary output, per-output task overrides,
        and the sizes of free dimensions (used when there is no data)."""
        from core.optimize.session import SessionOptions

        return SessionOptions(
            signature=self.signature or None,
            primary_output=self.primary_output or None,
            tasks=tuple((str(o), str(t)) for o, t in self.tasks),
            input_shapes=self.shapes_given(),
        )

    def shapes_given(self) -> tuple[tuple[str, tuple[int, ...]], ...]:
        """`input_shapes` as the engine takes them: (input name, per-sample shape of ints)."""
        return tuple((str(name), tuple(int(d) for d in shape)) for name, shape in self.input_shapes)

    def data_spec(self) -> DataSpec | None:
        """The data file as a `DataSpec` (the label column only for a .csv), or None when inputs are synthesized."""
        from core.data.loaders import DataSpec

        if not self.data_path:
            return None
        label = self.label_column.strip() or None
        if not self.data_path.lower().endswith(".csv"):
            label = None
        return DataSpec(path=self.data_path, label_column=label)

    def bench_config(self) -> BenchConfig:
        """The benchmark settings as a `BenchConfig` (`seconds` dropped when `runs` is set; the GPU memory cap only on
        a GPU device). Raises ValueError when BenchConfig refuses a value.
        """
        from core.benchmark import BenchConfig

        device = self.device or DEVICE_CPU
        gpu_cap = self.gpu_memory_mb if self.gpu_memory_mb > 0 and "GPU" in device.upper() else None
        return BenchConfig(
            threads=self.threads,
            batch_sizes=self.batch_sizes,
            runs=self.runs,
            seconds=None if self.runs is not None else self.seconds,
            budget_ms=self.budget_ms,
            keras_modes=self.keras_modes,
            device=device,
            warmup=3,
            min_runs=3,
            profile_layers=self.profile,
            gpu_memory_limit_mb=gpu_cap,
        )

    def bench_data(self) -> str | None:
        """The data file the benchmark reads its batches from when profiling (.npz only), else None."""
        if (
            self.profile
            and self.data_path
            and self.data_path.lower().endswith(".npz")
            and os.path.isfile(self.data_path)
        ):
            return self.data_path
        return None

    # -- auto mode ----------------------------------------------------------------------

    def auto_budget(self) -> AutoBudget:
        """The auto budget: a minimum agreement (fraction) or a maximum accuracy drop (fraction, or a regression's MAE
        in the target's units), plus the size limit in bytes. Raises core.errors.BadInputError for a negative value.
        """
        from core.auto.budget import AutoBudget

        size = int(self.auto_max_size_mb * 2**20) if self.auto_max_size_mb > 0 else None
        if self.auto_quality == "accuracy":
            # Points of a fraction (accuracy, PR-AUC, mAP, IoU) are /100; a regression's MAE increase is in
            # the target's own units, as typed (core.auto.budget).
            drop = self.auto_max_drop if budget_in_target_units(self.auto_task) else self.auto_max_drop / 100.0
            return AutoBudget(max_accuracy_drop=drop, max_size_bytes=size)
        return AutoBudget(min_agreement=self.auto_min_agreement / 100.0, max_size_bytes=size)

    def auto_settings(self) -> AutoSettings:
        """The auto search's `AutoSettings`: threads, batch sizes, seconds per configuration (0.5 s when runs are
        given), pruning, cache and the model's interface choices. Raises ValueError when AutoSettings refuses a value.
        """
        from core.auto.results import AutoSettings

        seconds = self.seconds if self.runs is None and self.seconds else 0.5
        options = self.session_options()
        return AutoSettings(
            threads=self.threads,
            batch_sizes=self.batch_sizes,
            seconds_per_config=seconds,
            pruning="auto" if self.auto_pruning else "never",
            use_cache=self.use_cache,
            signature=options.signature,
            primary_output=options.primary_output,
            tasks=options.tasks,
            input_shapes=options.input_shapes,
        )

    def describe_budget(self) -> str:
        """The auto budget in words, as typed, e.g. "agreement ≥ 99 %, size ≤ 2 MB"."""
        parts = [
            f"accuracy drop ≤ {self.auto_max_drop:g} points"
            if self.auto_quality == "accuracy"
            else f"agreement ≥ {self.auto_min_agreement:g} %"
        ]
        if self.auto_max_size_mb > 0:
            parts.append(f"size ≤ {self.auto_max_size_mb:g} MB")
        return ", ".join(parts)

    def describe_data(self) -> str:
        """The data's file or folder name, or a sentence saying inputs will be synthesized."""
        if not self.data_path:
            return "No data: inputs will be synthesized"
        return os.path.basename(os.path.normpath(self.data_path))


def parse_int_list(text: str) -> tuple[int, ...]:
    """ "1, 4 8" -> (1, 4, 8); ValueError for anything that is not a positive whole number."""
    parts = [p for p in text.replace(",", " ").split() if p]
    if not parts:
        raise ValueError("give at least one number")
    values = []
    for p in parts:
        n = int(p)
        if n < 1:
            raise ValueError(f"{n} is not a positive whole number")
        if n not in values:
            values.append(n)
    return tuple(values)
