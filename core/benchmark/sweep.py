"""The measurement loop: one configuration, then a sweep over batch sizes and threads.

Timing: the measured calls run in blocks of about `BLOCK_S` seconds through the
runner's own loop (`runner.time_calls`; for LiteRT nothing but ``invoke()`` sits
between the two clock reads of a sample, `core.benchmark.litert_runner`). The
cancel check, streaming and progress happen between blocks, from the samples
already taken, never inside a timed call.

Streaming: every latency sample is sent to the caller, batched into
`progress.partial("latency_samples", payload)` events at most ~30 times a
second (`STREAM_INTERVAL_S`). The payload is a dict::

    {"config": label, "runner": ..., "variant": ..., "batch_size": b, "threads": t,
     "start": index of the first sample in this event, "samples_ms": [...], "final": bool}

The last event of a configuration has ``final=True`` (its sample list may be empty).

Peak memory: on Linux the kernel's RSS high-water mark (VmHWM in
/proc/self/status) is reset by writing "5" to /proc/self/clear_refs before a
configuration and read after it ("vmhwm": exact). Where that is not allowed a
thread polls psutil's RSS every 5 ms ("sampled": can miss short spikes). Both
are the whole process's resident memory (the model, the runtime and Python);
`peak_rss_delta_mb` subtracts the RSS at the start of the configuration.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import psutil

from core.benchmark.results import BenchConfig, ConfigResult
from core.benchmark.runner_base import time_run_once
from core.benchmark.runners import BatchSizeUnsupported, InputSpec, Runner
from core.benchmark.stats import compute_stats
from core.engine.context import CancelToken, Reporter
from core.errors import BadInputError, Cancelled

SAMPLES_KIND = "latency_samples"
STREAM_INTERVAL_S = 1.0 / 30.0
BLOCK_S = STREAM_INTERVAL_S  # measured calls per block: about this many seconds' worth
MAX_BLOCK = 100_000
PROGRESS_INTERVAL_S = 0.1
MAX_RUNS = 1_000_000


# --------------------------------------------------------------------------- memory


class PeakMemory:
    """Peak resident memory of this process while the `with` block runs."""

    def __init__(self) -> None:
        self.method = "sampled"
        self.start_mb = 0.0
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._process = psutil.Process()

    def __enter__(self) -> "PeakMemory":
        self.start_mb = self._rss_mb()
        if _reset_hwm():
            self.method = "vmhwm"
        else:
            self.peak_mb = self.start_mb
            self._thread = threading.Thread(target=self._poll, name="peak-memory", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.method == "vmhwm":
            hwm = _read_hwm_mb()
            self.peak_mb = hwm if hwm is not None else self._rss_mb()
        else:
            self._stop.set()
            if self._thread is not None:
                self._thread.join(timeout=1)
            self.peak_mb = max(self.peak_mb, self._rss_mb())

    @property
    def delta_mb(self) -> float:
        """Peak minus the RSS at the start, in MiB (never below 0; NaN when RSS could not be read)."""
        return max(0.0, self.peak_mb - self.start_mb)

    def _rss_mb(self) -> float:
        try:
            return self._process.memory_info().rss / 2**20
        except psutil.Error:
            return math.nan

    def _poll(self) -> None:
        while not self._stop.wait(0.005):
            self.peak_mb = max(self.peak_mb, self._rss_mb())


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return _read_hwm_mb() is not None


def _read_hwm_mb() -> float | None:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


# --------------------------------------------------------------------------- data


@dataclass
class DataFeed:
    """Batches from a dataset instead of random inputs, with the time spent on data counted.

    `arrays` holds one array per model input, keyed by the input's NAME, samples
    on axis 0 (`core.benchmark.measure.load_feed` builds it from a file through
    `core.data.loaders.load_data` and `check_inputs`). Batches wrap around when
    the dataset is smaller than the batch or runs out.
    """

    arrays: dict[str, np.ndarray]
    load_ms: float = 0.0
    prepare_ms: float = 0.0
    batches: int = 0
    samples: int = 0
    model_ms: float = 0.0
    source: str | None = None
    notes: list[str] = field(default_factory=list)
    _position: int = field(default=0, repr=False)

    @property
    def size(self) -> int:
        """Samples in the data (axis 0 of the arrays); 0 without arrays."""
        return int(next(iter(self.arrays.values())).shape[0]) if self.arrays else 0

    def sample_shape(self, name: str) -> tuple[int, ...] | None:
        """The per-sample shape of the data for input `name`, or None when the data has none."""
        array = self.arrays.get(name)
        return None if array is None else tuple(int(d) for d in array.shape[1:])

    def next_batch(self, specs: Sequence[InputSpec]) -> dict[str, np.ndarray]:
        """The next batch {input name: array} shaped and typed for `specs`; the time it took counts as data time."""
        start = time.perf_counter()
        batch = specs[0].shape[0] if specs and specs[0].shape else 1
        indices = (self._position + np.arange(batch)) % max(1, self.size)
        self._position = int((self._position + batch) % max(1, self.size))
        prepared: dict[str, np.ndarray] = {}
        for spec in specs:
            if spec.name not in self.arrays:
                raise ValueError(
                    f"the data has no array for input {spec.name!r} "
                    f"(it has {', '.join(map(repr, self.arrays)) or 'none'})"
                )
            values = np.take(self.arrays[spec.name], indices, axis=0)
            dtype = np.dtype(spec.dtype)
            if spec.quantization and dtype.kind in "iu" and values.dtype.kind == "f":
                from core.benchmark.runners import quantize

                values = quantize(values, dtype, spec.quantization)
            values = values.astype(dtype, copy=False)
            if values.shape != tuple(spec.shape):
                values = values.reshape(spec.shape)
            prepared[spec.name] = np.ascontiguousarray(values)
        self.prepare_ms += (time.perf_counter() - start) * 1000
        self.batches += 1
        self.samples += batch
        return prepared


# --------------------------------------------------------------------------- one configuration


def config_label(variant: str, runner_name: str, batch_size: int, threads: int | None) -> str:
    """A configuration's name, e.g. "int8 b8 t2" (LiteRT: the variant), "keras-predict b1" (others: the runner)."""
    head = variant if runner_name.startswith("litert") else runner_name
    if runner_name == "litert-no-xnnpack":
        head += " no-xnnpack"
    return f"{head} b{batch_size}" + (f" t{threads}" if threads is not None else "")


def measure_config(
    runner: Runner,
    *,
    batch_size: int,
    threads: int | None,
    config: BenchConfig,
    progress: Reporter,
    cancel: CancelToken,
    label: str | None = None,
    rng: np.random.Generator | None = None,
    data: DataFeed | None = None,
    on_fraction: Callable[[float], None] | None = None,
) -> ConfigResult:
    """Prepare `runner`, take the cold run, warm up, measure; stream samples as they come.

    A configuration that cannot be prepared or fails its first call (a batch size
    the model cannot take, a variant LiteRT cannot allocate) gives a ConfigResult
    with `error` set, and a warning log; failures after that propagate.
    Cancellation is checked before the cold call and every warm-up call, then
    between blocks of measured calls (about every `BLOCK_S` seconds, see the module
    docstring); runners timed by `time_run_once` also check it before every call.
    """
    threads = threads if runner.uses_threads else None
    label = label or config_label(runner.variant, runner.name, batch_size, threads)
    rng = rng or np.random.default_rng(config.seed)
    meta = {
        "config": label,
        "runner": runner.name,
        "variant": runner.variant,
        "batch_size": batch_size,
        "threads": threads,
    }

    cancel.raise_if_cancelled()
    with PeakMemory() as memory:
        try:
            problem = getattr(runner, "plan_error", None)
            if problem is not None:  # the runner could not be set up for this data (see measure.plan_inputs)
                raise problem
            runner.prepare(batch_size, threads)
            specs = runner.input_specs()
            fixed_inputs: Mapping[str, np.ndarray] = {} if data is not None else runner.make_inputs(rng)

            def next_inputs() -> Mapping[str, np.ndarray]:
                return data.next_batch(specs) if data is not None else fixed_inputs

            inputs = next_inputs()
            start = time.perf_counter()
            runner.run_once(inputs)
            cold_ms = (time.perf_counter() - start) * 1000
        except (Cancelled, MemoryError):
            raise
        except Exception as exc:  # noqa: BLE001 - one configuration that cannot run does not stop the sweep
            if isinstance(exc, BadInputError):
                reason = exc.message
            elif isinstance(exc, BatchSizeUnsupported):
                reason = str(exc)
            else:
                reason = f"{type(exc).__name__}: {exc}"
            progress.log(f"{label}: not measured: {reason}", level="warning")
            progress.partial(SAMPLES_KIND, {**meta, "start": 0, "samples_ms": [], "final": True})
            empty = compute_stats([], batch_size=batch_size)
            kind = "input" if isinstance(exc, (BatchSizeUnsupported, BadInputError)) else "run"
            first = (reason.strip().splitlines() or [type(exc).__name__])[0][:500]
            return ConfigResult(
                label,
                runner.name,
                runner.variant,
                batch_size,
                threads,
                empty,
                math.nan,
                math.nan,
                memory.method,
                (),
                first,
                kind,
            )
        warm_ms = 0.0
        for _ in range(config.warmup):
            cancel.raise_if_cancelled()
            inputs = next_inputs()
            start = time.perf_counter()
            runner.run_once(inputs)
            warm_ms += (time.perf_counter() - start) * 1000
        if data is not None:  # every batch prepared counts, so count every call too
            data.model_ms += cold_ms + warm_ms

        time_calls = getattr(runner, "time_calls", None)
        if time_calls is None:  # a runner without its own loop (e.g. a test's fake)
            time_calls = partial(time_run_once, runner)
        source = next_inputs if data is not None else fixed_inputs
        samples: list[float] = []
        sent = 0
        budget_s = config.time_budget_s or 0.0  # None only when `runs` is given, and then unused
        runs = config.runs
        # seconds per call, first from the warm-up (or the cold call), then from each block
        per_call_s = max((warm_ms / config.warmup if config.warmup else cold_ms) / 1000, 1e-7)
        began = time.perf_counter()
        last_progress = 0.0
        while True:
            cancel.raise_if_cancelled()
            now = time.perf_counter()
            taken = len(samples)
            if runs is not None:
                left = runs - taken
            elif (taken >= config.min_runs and now - began >= budget_s) or taken >= MAX_RUNS:
                left = 0
            else:  # a time budget overruns by at most one block
                left = MAX_RUNS - taken
            if left <= 0:
                break
            count = max(1, min(left, MAX_BLOCK, int(BLOCK_S / per_call_s)))
            timed = time_calls(count, source, cancel)
            done = time.perf_counter()
            per_call_s = max((done - now) / count, 1e-7)
            samples.extend(timed)
            if data is not None:
                data.model_ms += sum(timed)
            if progress.partial_due(SAMPLES_KIND, STREAM_INTERVAL_S):
                progress.partial(SAMPLES_KIND, {**meta, "start": sent, "samples_ms": samples[sent:], "final": False})
                sent = len(samples)
            if on_fraction is not None and done - last_progress >= PROGRESS_INTERVAL_S:
                last_progress = done
                fraction = len(samples) / runs if runs is not None else (done - began) / budget_s
                on_fraction(min(1.0, fraction))
        progress.partial(SAMPLES_KIND, {**meta, "start": sent, "samples_ms": samples[sent:], "final": True})

    stats = compute_stats(samples, batch_size=batch_size, cold_ms=cold_ms)
    return ConfigResult(
        label=label,
        runner=runner.name,
        variant=runner.variant,
        batch_size=batch_size,
        threads=threads,
        stats=stats,
        peak_rss_mb=memory.peak_mb,
        peak_rss_delta_mb=memory.delta_mb,
        memory_method=memory.method,
        samples_ms=tuple(samples) if config.keep_samples else (),
    )


def sweep(
    runners: Iterable[Runner],
    config: BenchConfig,
    *,
    progress: Reporter,
    cancel: CancelToken,
    data: DataFeed | None = None,
) -> list[ConfigResult]:
    """Every runner at every batch size and (where the runner takes one) thread count.

    Order: runner, then batch size, then threads, as given. Runners are closed
    afterwards.
    """
    runners = list(runners)
    plan = []
    for runner in runners:
        thread_options = config.threads if runner.uses_threads else (None,)
        for batch in config.batch_sizes:
            for threads in thread_options:
                plan.append((runner, batch, threads))
    results: list[ConfigResult] = []
    total = max(1, len(plan))
    try:
        for i, (runner, batch, threads) in enumerate(plan):
            label = config_label(runner.variant, runner.name, batch, threads)
            progress(i / total, f"{label} ({i + 1}/{total})", "benchmark")

            def on_fraction(f: float, i: int = i, label: str = label) -> None:
                progress((i + f) / total, f"{label} ({i + 1}/{total})", "benchmark")

            results.append(
                measure_config(
                    runner,
                    batch_size=batch,
                    threads=threads,
                    config=config,
                    progress=progress,
                    cancel=cancel,
                    label=label,
                    rng=np.random.default_rng(config.seed),
                    data=data,
                    on_fraction=on_fraction,
                )
            )
    finally:
        for runner in runners:
            runner.close()
    progress(1.0, "measured", "benchmark")
    return results
