"""What a benchmark is asked to do (`BenchConfig`) and what it found: frozen dataclasses.

All of them pickle across the engine's process boundary and print as JSON
through `core.cli.common.to_jsonable`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from core.benchmark.stats import LatencyStats

KERAS_MODES = ("eager", "tf_function", "predict_on_batch", "predict")
DEFAULT_SECONDS = 2.0
DEFAULT_BUDGET_MS = 10.0


@dataclass(frozen=True)
class BenchConfig:
    """How to measure.

    Each (runner, batch size, thread count) is one configuration. It gets one
    cold call, `warmup` more calls, then either exactly `runs` measured calls or
    as many as fit in `seconds` (at least `min_runs`). When neither is given,
    `seconds` defaults to DEFAULT_SECONDS per configuration.

    Thread counts apply to LiteRT only: TensorFlow fixes its thread pools when
    its runtime starts, so Keras runs use TensorFlow's own pools and report
    ``threads=None``.
    """

    threads: tuple[int, ...] = (1,)
    batch_sizes: tuple[int, ...] = (1,)
    runs: int | None = None
    seconds: float | None = None
    warmup: int = 5
    min_runs: int = 3
    budget_ms: float = DEFAULT_BUDGET_MS
    xnnpack: bool = True
    keras_modes: tuple[str, ...] = ("predict", "tf_function")
    device: str = "/CPU:0"  # Keras runs: "/CPU:0", "/GPU:0", ...
    gpu_memory_limit_mb: int | None = None  # cap the chosen GPU (a fresh engine only)
    keep_samples: bool = False  # put the raw samples in every ConfigResult
    profile_layers: bool = False  # Keras models: per-layer time
    facts: bool = True  # .tflite variants: op counts, delegate partitions, XNNPACK on/off
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "threads", tuple(int(t) for t in self.threads))
        object.__setattr__(self, "batch_sizes", tuple(int(b) for b in self.batch_sizes))
        object.__setattr__(self, "keras_modes", tuple(self.keras_modes))
        if not self.threads or min(self.threads) < 1:
            raise ValueError("thread counts must be whole numbers >= 1")
        if not self.batch_sizes or min(self.batch_sizes) < 1:
            raise ValueError("batch sizes must be whole numbers >= 1")
        if self.runs is not None and self.runs < 1:
            raise ValueError("runs must be >= 1")
        if self.seconds is not None and self.seconds <= 0:
            raise ValueError("seconds must be > 0")
        if self.runs is not None and self.seconds is not None:
            raise ValueError("give runs or seconds, not both")
        if self.warmup < 0:
            raise ValueError("warmup must be >= 0")
        if self.budget_ms <= 0:
            raise ValueError("the latency budget must be > 0 ms")
        unknown = [m for m in self.keras_modes if m not in KERAS_MODES]
        if unknown:
            raise ValueError(f"unknown Keras mode(s) {unknown}; choose from {', '.join(KERAS_MODES)}")

    @property
    def time_budget_s(self) -> float | None:
        """Seconds per configuration, or None when a fixed number of runs is asked."""
        if self.runs is not None:
            return None
        return self.seconds if self.seconds is not None else DEFAULT_SECONDS

    def with_(self, **changes: Any) -> "BenchConfig":
        """A copy with `changes` applied (validated again: ValueError on a bad value)."""
        return replace(self, **changes)


@dataclass(frozen=True)
class DelegationInfo:
    """How much of a .tflite graph the XNNPACK delegate took (read from the execution plan)."""

    total_ops: int  # ops in the model
    delegated_ops: int  # ops XNNPACK replaced
    partitions: int  # DELEGATE nodes: each boundary costs a hand-over
    kept_ops: tuple[tuple[str, int], ...] = ()  # ops left to LiteRT's own kernels: (name, count)
    xnnpack: bool = True  # False when measured with the delegate off

    @property
    def fully_delegated(self) -> bool:
        """True when XNNPACK was on and took every op, in at most one partition."""
        return self.xnnpack and self.delegated_ops == self.total_ops and self.partitions <= 1


@dataclass(frozen=True)
class ConfigResult:
    """One measured configuration."""

    label: str  # e.g. "fp32 b8 t2", the key of streamed samples
    runner: str  # "litert" or "keras-<mode>"
    variant: str  # "fp32", "dynamic", "int8", "keras", ...
    batch_size: int
    threads: int | None  # None: TensorFlow's own thread pools
    stats: LatencyStats
    peak_rss_mb: float  # process RSS high-water mark during this configuration
    peak_rss_delta_mb: float  # ... minus the RSS when it started
    memory_method: str  # "vmhwm" (kernel high-water mark) or "sampled" (psutil poll)
    samples_ms: tuple[float, ...] = ()  # raw samples when BenchConfig.keep_samples
    error: str = ""  # why this configuration could not be measured
    error_kind: str = ""  # with `error`: "input" (bad model/data/batch) or "run" (failed to run)

    @property
    def ok(self) -> bool:
        """True when the configuration ran and has measured samples."""
        return not self.error and self.stats.n > 0


@dataclass(frozen=True)
class Recommendation:
    """THE recommendation of a run, computed once in core (`core.benchmark.recommend`, or
    `core.auto.pareto.auto_recommendation` in auto mode). Every view reads this object: the GUI
    header, the comparison table's ✔, the charts' star, the CLI summaries and the JSON documents.

    Figures are measured: milliseconds per call (one call = one batch), samples per second.
    `why_not_fastest` is one line when the configuration with the lowest p50 (`fastest_label`) is not
    the recommended one, naming the criterion that decided (`why_not_fastest_kind`: "p99_budget",
    "throughput", "configuration" (as fast with less machine), "size" or "quality"); "" otherwise.
    """

    label: str | None  # the chosen configuration; None when nothing was measured
    batch_size: int | None
    threads: int | None
    throughput: float | None
    p99_ms: float | None
    budget_ms: float | None  # the p99 budget (ms); None where none applies (auto mode)
    within_budget: bool
    reason: str
    variant: str | None = None  # the variant to ship ("int8", ...; "original" for the Keras baseline)
    criterion: str = ""  # how it was chosen, in words
    p50_ms: float | None = None
    fastest_label: str | None = None  # the configuration with the lowest p50 among those compared
    fastest_variant: str | None = None
    fastest_p50_ms: float | None = None
    why_not_fastest: str = ""
    why_not_fastest_kind: str = ""

    @property
    def configuration(self) -> str:
        """ "batch 8, 2 threads" ("TF threads" for a Keras run); "" when nothing was recommended."""
        if self.label is None:
            return ""
        threads = (
            "TensorFlow's threads"
            if self.threads is None
            else (f"{self.threads} thread" + ("s" if self.threads != 1 else ""))
        )
        return f"batch {self.batch_size}, {threads}" if self.batch_size is not None else threads

    def headline(self) -> str:
        """ "Recommended: int8 (batch 8, 1 thread)": the one text every view shows first."""
        if self.label is None:
            return "Nothing to recommend: " + self.reason
        name = self.variant or self.label
        text = f"Recommended: {name} ({self.configuration})"
        return text + ("" if self.within_budget else " (misses the latency budget)")

    @property
    def fastest_is_recommended(self) -> bool:
        """True when the lowest-p50 configuration is the recommended one (False when it is unknown)."""
        return self.fastest_label is not None and self.fastest_label == self.label


@dataclass(frozen=True)
class Explanation:
    """One sentence for the user, built from measured fields only.

    `source_field` names where its figures come from (e.g. "variant_facts[int8].partitions",
    "configs[int8 b1 t1].stats.p50"); `cited` holds (field, value) pairs of the figures it quotes,
    so a test (or a curious user) can check each against the measurement. `general_advice` marks a
    sentence that is not measured (its text then starts with "General advice:").
    """

    text: str
    source_field: str
    cited: tuple[tuple[str, Any], ...] = ()
    variant: str | None = None
    general_advice: bool = False


@dataclass(frozen=True)
class VariantFacts:
    """What was measured about one .tflite variant to explain its speed (`core.benchmark.facts`).

    Op counts come from the flatbuffer (`core.models.tflite_graph`); delegation from the prepared
    interpreter's graph (None = unknown, never 0, with `delegation_error` saying why); the XNNPACK
    ablation times invoke() with XNNPACK on and off in interleaved rounds (ms per call, median).
    Per-op times are not reachable from ai_edge_litert's Python API (see `core.benchmark.profile`).
    """

    variant: str
    total_ops: int | None  # ops in the main subgraph (flatbuffer)
    op_counts: tuple[tuple[str, int], ...] = ()  # (op name, count), most frequent first
    quantize_ops: int | None = None  # QUANTIZE ops in the graph
    dequantize_ops: int | None = None  # DEQUANTIZE ops in the graph
    added_quantize_ops: int | None = None  # QUANTIZE ops beyond the fp32 variant's (None: no fp32)
    added_dequantize_ops: int | None = None
    delegated_ops: int | None = None  # ops XNNPACK took; None = unknown
    partitions: int | None = None  # XNNPACK delegate partitions; None = unknown
    kept_ops: tuple[tuple[str, int], ...] = ()  # ops left on LiteRT's built-in kernels
    delegation_error: str = ""  # why delegation is unknown
    xnnpack_on_p50_ms: float | None = None  # ablation: invoke() with XNNPACK
    xnnpack_off_p50_ms: float | None = None  # ... and with LiteRT's built-in kernels only
    ablation_batch: int | None = None
    ablation_threads: int | None = None
    ablation_calls: int = 0  # timed calls per side
    ablation_error: str = ""

    @property
    def kept_count(self) -> int | None:
        """Ops left on LiteRT's built-in kernels (None when delegation is unknown)."""
        if self.delegated_ops is None:
            return None
        return sum(count for _, count in self.kept_ops)


@dataclass(frozen=True)
class LayerTime:
    """One Keras layer's time in eager calls (`core.benchmark.profile`): mean ms per call and its share."""

    name: str
    type: str
    mean_ms: float
    share: float  # of the summed layer times


@dataclass(frozen=True)
class DataProfile:
    """Benchmarking over a dataset: time spent on data versus in the model."""

    samples: int
    batches: int
    load_ms: float  # reading the file into memory
    prepare_ms: float  # slicing, casting, quantizing batches (sum)
    model_ms: float  # calls to the model (sum)

    @property
    def data_share(self) -> float:
        """The fraction (0..1) of load + prepare + model time spent on data; 0 when nothing was timed."""
        total = self.load_ms + self.prepare_ms + self.model_ms
        return (self.load_ms + self.prepare_ms) / total if total > 0 else 0.0


@dataclass(frozen=True)
class MeasuredInput:
    """The shape one model input was measured at (per sample: the batch axis is each configuration's)."""

    name: str
    shape: tuple[int, ...]  # per sample, every free axis resolved
    dtype: str
    free_axes: tuple[int, ...] = ()  # axes (1 = the first after the batch) the model leaves free
    source: str = "model"  # "model" (fixed shape), "data" (the data's), "synthetic" (documented)

    def describe(self) -> str:
        """E.g. "'tokens' (batch, 45)"."""
        dims = ", ".join(str(d) for d in self.shape)
        return f"{self.name!r} (batch, {dims})" if dims else f"{self.name!r} (batch,)"


@dataclass(frozen=True)
class BenchmarkResult:
    """What a benchmark job found: every configuration measured, the recommendation, explanations and facts."""

    model: str  # path or label of what was measured
    config: BenchConfig
    configs: tuple[ConfigResult, ...]
    recommendation: Recommendation
    explanations: tuple[str, ...] = ()  # the texts of `explained` (kept for readers of plain sentences)
    delegation: tuple[tuple[str, DelegationInfo], ...] = ()  # (variant, info) for .tflite variants
    layer_profile: tuple[LayerTime, ...] = ()
    data_profile: DataProfile | None = None
    notes: tuple[str, ...] = ()
    seconds: float = field(default=0.0)
    inputs: tuple[MeasuredInput, ...] = ()  # the shape each input was measured at
    signature: str | None = None  # the signature measured (SavedModel, .tflite)
    signatures: tuple[str, ...] = ()  # every signature the model has
    explained: tuple[Explanation, ...] = ()  # `explanations` with where each figure came from
    variant_facts: tuple[VariantFacts, ...] = ()  # per .tflite variant: ops, delegation, XNNPACK on/off

    @property
    def measured(self) -> bool:
        """True when at least one configuration was measured."""
        return any(c.ok for c in self.configs)

    def config_result(self, label: str) -> ConfigResult:
        """The configuration called `label`; KeyError when there is none."""
        for result in self.configs:
            if result.label == label:
                return result
        raise KeyError(label)
