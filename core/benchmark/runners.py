"""Runners: one interface over LiteRT (.tflite) and Keras/TensorFlow, so the baseline and
every variant are measured by the same loop (`core.benchmark.sweep.measure_config`).

Inputs and outputs are addressed by NAME, never by position. Each runner knows
the model's `ModelInterface` (`runner.interface`):

* LiteRT: the chosen signature (`signature=`; default ``serving_default`` or
  the only one, `core.models.signatures.choose_signature`). Signature input
  names are mapped to tensor indices once, through the signature runner's
  details, and the loop sets and reads those tensors directly (no per-call
  resize or allocation). A .tflite without any signature is addressed by its
  input tensors' names.
* SavedModel: the chosen signature (same rule), called with keyword inputs.
* Keras: the `model.inputs` names, fed in the model's own input order.

A runner is given the per-sample shape of every input (free dimensions
resolved, `set_sample_shapes`), prepared for one (batch size, thread count),
then called many times with the same inputs::

    runner.set_sample_shapes({"tokens": (45,)})   # optional: else synthetic lengths
    runner.prepare(batch_size=8, threads=2)
    inputs = runner.make_inputs(np.random.default_rng(0))   # {input name: array}
    runner.run_once(inputs)          # one call = one batch; {output name: numpy array}
    runner.close()

What one call includes: `run_once` sets the inputs, runs the model and copies the
outputs back into numpy arrays, for every runner. The measured samples come from
`runner.time_calls(count, inputs)`: for Keras and SavedModel runners that times
`run_once` whole (`time_run_once`); for LiteRT it times ``interpreter.invoke()`` alone,
the inputs set outside the timed region, so that a model of a few microseconds is
measured as a minimal ``invoke()`` loop measures it (bench/bench_agreement.py).

Random inputs: see `core.benchmark.runner_base`.

Where the code lives: the shared interface and input helpers in
`core.benchmark.runner_base`, the LiteRT runner in `core.benchmark.litert_runner`, the
Keras and SavedModel runners in `core.benchmark.tf_runners`; their public names are
importable from here too. Beside them, for the CPU-versus-GPU sweep (`core.benchmark.gpu_sweep`):
LiteRT's `CompiledModel` on its GPU accelerator in `core.benchmark.litert_gpu` and Keras 3 on
JAX, in its own process, in `core.benchmark.keras_jax_child`.
"""

from __future__ import annotations

import os
from pathlib import Path

from core.benchmark.litert_runner import (  # noqa: F401 - re-exported
    COMPUTE_OPS,
    LiteRTRunner,
    classify_tflite,
    delegation_info,
)
from core.benchmark.runner_base import (  # noqa: F401 - re-exported
    BatchSizeUnsupported,
    InputSpec,
    Runner,
    quantize,
    random_inputs,
    resolve_sample_shape,
)
from core.benchmark.tf_runners import (  # noqa: F401 - re-exported
    KerasRunner,
    SavedModelRunner,
    check_device,
    embedding_limits,
    load_keras,
)


def is_tflite(model: bytes | str | os.PathLike[str]) -> bool:
    """True for bytes, a `.tflite` name, or a file whose header carries the "TFL3" identifier (bytes 4..8)."""
    if isinstance(model, (bytes, bytearray, memoryview)):
        return True
    path = Path(model)
    if path.suffix.lower() == ".tflite":
        return True
    if path.is_file():
        with open(path, "rb") as handle:
            head = handle.read(8)
        return head[4:8] == b"TFL3"
    return False
