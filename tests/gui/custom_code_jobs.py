"""Stand-in jobs for the custom-layer-code GUI tests (they must live in an importable module).

`inspect_needing_code` refuses a model the way the core refuses one with an unknown class
unless the job is given custom code; each job records the custom-code files it received.
"""

from __future__ import annotations

SEEN: list[tuple[str, str, tuple[str, ...]]] = []  # (job, model path, custom_objects)


def inspect_needing_code(path, *, progress, cancel, custom_objects=()):
    from core.models.info import InspectResult, ModelFormat, ModelInfo, TensorInfo
    from core.models.loading import keras_load_error

    SEEN.append(("inspect", path, tuple(custom_objects)))
    if not custom_objects:
        raise keras_load_error(path, TypeError("Could not locate class 'Swish'. Make sure custom classes ..."))
    info = ModelInfo(
        path=path,
        format=ModelFormat.KERAS,
        file_size=1000,
        sha256="cd" * 32,
        inputs=(TensorInfo("features", (None, 8), "float32"),),
        outputs=(TensorInfo("probs", (None, 3), "float32"),),
        params=100,
        flops=200,
    )
    return InspectResult(info=info)
