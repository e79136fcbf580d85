"""Stand-in jobs for the free-dimension GUI tests (they must live in an importable module).

Each keeps what the window sent it (in SEEN, and in its error's details for a job run in the engine's
child), then fails the way the core does, so no model is run.
"""

from __future__ import annotations

SEEN: list = []  # the SessionOptions / AutoSettings each job was given


def converter_refusing_optimize(
    model_path, recipes, data=None, *, progress, cancel, options=None, cache=None, **kwargs
):
    """Fails as a conversion does: the one-line reason, the converter's whole output in the details."""
    from core.optimize.convert import conversion_error

    SEEN.append(options)
    output = (
        '<unknown>:0: error: loc(callsite(fused["TensorListReserve:", "gru/while"] at x)): '
        "failed to legalize operation 'tf.TensorListReserve' that was explicitly marked illegal\n"
        '<unknown>:0: note: see current operation: %0 = "tf.TensorListReserve"(...)\n'
        "full converter trace line 3"
    )
    error = conversion_error(
        RuntimeError(output), what="fp32", path=model_path, tried="from_keras_model, batch-1 signature+from_saved_model"
    )
    # In the engine's child (a real window) SEEN stays there: the details say what the job was given.
    error.details += f"\n\nstand-in given input_shapes={getattr(options, 'input_shapes', None)!r}"
    raise error


def refusing_auto(model_path, budget=None, data=None, settings=None, *, progress, cancel):
    from core.errors import ConversionError

    SEEN.append(settings)
    raise ConversionError("no candidate survived: every one outputs NaN", path=model_path)
