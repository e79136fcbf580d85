"""Service time per batch size of a .tflite, measured with the same code the load test runs.

`ModelWorker` is one LiteRT interpreter (one signature, `num_threads=1`: the load
test's parallelism is its worker count) with the samples it serves: a batch of
request sample indices is gathered, quantized for the inputs (`core.optimize.runtime`),
run, and its outputs split back per request. `measure_service_times` times that whole
call per batch size, so the simulation is driven by exactly what a load-test worker does.

A signature whose batch axis is fixed (a batch-1 model), or that fails to run at a
larger batch, is measured at the sizes that work; `batch_note` says why.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from core.engine.context import CancelToken, Reporter
from core.errors import BadInputError, Cancelled

SYNTHETIC_SAMPLES = 256


class ModelWorker:
    """One interpreter serving batches of requests; `compute(indices)` returns per-request outputs.

    `samples`: {input name: (n, ...) float/int array} as data feeds them (float for a
    quantized input); else `samples_path` (the evaluation data: .npz/.npy/.csv, matched
    to the inputs by name through `core.benchmark.inputs.load_feed`); else
    `SYNTHETIC_SAMPLES` random samples (seed 0).
    Raises BadInputError when the model cannot be loaded or the samples do not fit.
    """

    def __init__(
        self,
        tflite_bytes: bytes,
        samples: dict[str, np.ndarray] | None = None,
        *,
        path: str | None = None,
        signature: str | None = None,
        samples_path: str | None = None,
    ) -> None:
        from core.models.interface import ModelInterface
        from core.optimize.runtime import SignatureModel

        self.model = SignatureModel(tflite_bytes, signature, num_threads=1, path=path)
        self.feed_interface = ModelInterface(inputs=self.model.feed_specs(), outputs=self.model.result_specs())
        if samples is None and samples_path is not None:
            from core.benchmark.inputs import load_feed

            feed = load_feed(samples_path, self.feed_interface)  # BadInputError names the file and the input
            samples = dict(feed.arrays) if feed is not None else None
        if samples is None:
            from core.data.synth import synthesize_dataset

            samples, _ = synthesize_dataset(self.feed_interface, SYNTHETIC_SAMPLES, seed=0)
        missing = [n for n in self.model.inputs if n not in samples]
        if missing:
            raise BadInputError(f"the samples have no array for input(s) {', '.join(map(repr, missing))}", path=path)
        from core.optimize.runtime import quantize_input

        # Quantize once up front: a server receives requests already in the model's input type.
        self.samples = {
            n: np.ascontiguousarray(quantize_input(np.asarray(samples[n]), d)) for n, d in self.model.inputs.items()
        }
        self.size = int(next(iter(self.samples.values())).shape[0])
        if self.size < 1:
            raise BadInputError("the samples are empty", path=path)

    @property
    def fixed_batch(self) -> int | None:
        """The signature's fixed batch size (a model that cannot batch), or None when the batch axis is free."""
        return self.model.fixed_batch

    def compute(self, indices: Sequence[int] | np.ndarray) -> list[dict[str, np.ndarray]]:
        """Run one batch of the samples at `indices` (any length >= 1); outputs per request, dequantized."""
        from core.optimize.runtime import _call, dequantize_output

        idx = np.asarray(indices, dtype=np.int64) % self.size
        feed = {n: np.take(a, idx, axis=0) for n, a in self.samples.items()}
        result = _call(self.model.runner, feed)
        outs = {n: dequantize_output(np.array(result[n]), d) for n, d in self.model.outputs.items()}
        return [{n: y[i] for n, y in outs.items()} for i in range(len(idx))]


@dataclass(frozen=True)
class ServiceTimes:
    """Measured seconds of `ModelWorker.compute` per batch size; sizes that could not run are absent."""

    samples_ms: dict[int, tuple[float, ...]]
    batch_note: str


def measure_service_times(
    worker: ModelWorker,
    batch_sizes: Sequence[int],
    *,
    samples: int = 120,
    max_seconds: float = 0.4,
    progress: Reporter | None = None,
    cancel: CancelToken | None = None,
) -> ServiceTimes:
    """Time `worker.compute` at each batch size: `samples` calls or `max_seconds`, whichever first.

    Sizes are measured interleaved (round-robin), as a dynamic batcher changes the
    batch size from call to call, so each sample includes the interpreter's resize.
    Returns at least batch 1 (BadInputError when even batch 1 fails to run).
    """
    sizes = sorted({int(b) for b in batch_sizes} | {1})
    note = ""
    if worker.fixed_batch is not None:
        note = (
            f"the signature's batch axis is fixed at {worker.fixed_batch}, so it cannot batch: measured at batch 1 only"
        )
        sizes = [1]
    working: list[int] = []
    for b in sizes:  # one try per size: a model whose shape cannot grow fails here, not mid-test
        try:
            worker.compute(list(range(b)))
            working.append(b)
        except (RuntimeError, ValueError) as exc:
            if b == 1:
                raise BadInputError(f"the model cannot run: {exc}") from None
            note = f"the model fails to run at batch {b} ({str(exc).splitlines()[0][:120]}): measured below it"
            break
    times: dict[int, list[float]] = {b: [] for b in working}
    for b in working:  # warm-up per size
        worker.compute(list(range(b)))
    deadline = time.perf_counter() + max_seconds * len(working)
    rounds = 0
    while rounds < samples and time.perf_counter() < deadline:
        if cancel is not None and cancel.cancelled:
            raise Cancelled()
        for b in working:
            start = time.perf_counter()
            worker.compute(list(range(rounds * b, rounds * b + b)))
            times[b].append((time.perf_counter() - start) * 1000.0)
        rounds += 1
        if progress is not None and rounds % 20 == 0:
            progress(rounds / samples, "measuring service time per batch size")
    return ServiceTimes({b: tuple(v) for b, v in times.items()}, note)


__all__ = ["ModelWorker", "SYNTHETIC_SAMPLES", "ServiceTimes", "measure_service_times"]
