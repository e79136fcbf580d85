"""The Serving tab's engine job (Qt-free: it runs in the engine's child).

`core.serving.study_serving` takes (name, .tflite path) pairs. A Run's or an auto
search's variants are bytes in memory (`core.optimize.results.Variant.tflite_bytes`),
not files, so this job writes them into the child's private scratch folder (the
sandbox's TMPDIR, deleted with the child) and removes them when the study ends. The
parent never writes a temporary model: the sandbox would need a fresh child to read it.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any, Sequence


@dataclass(frozen=True)
class CachedCandidate:
    """An auto-search candidate whose bytes are in the result cache, not in memory: read back in the child.

    `result` is the `AutoResult`, `data` the `DataSpec` the search was given, `cache`
    the `ResultCache` (passing it grants the child read access to its folder).
    """

    result: Any
    name: str
    data: Any = None
    cache: Any = None


def _candidate_bytes(model: CachedCandidate, progress: Any) -> bytes | None:
    from core.auto.search import candidate_variant

    try:
        variant = candidate_variant(model.result, model.name, model.data)
    except Exception as exc:  # noqa: BLE001 - a cache that cannot be read: test the others, say why
        progress.log(
            f"{model.name}: its model could not be read back from the cache ({exc}); not load-tested", level="warning"
        )
        return None
    if variant is None:
        progress.log(f"{model.name}: its model is no longer in the cache (cleared?); not load-tested", level="warning")
        return None
    return variant.tflite_bytes


def _file_name(name: str, index: int) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:60] or "variant"
    return f"{index:02d}-{safe}.tflite"


def serve_models(
    models: Sequence[tuple[str, str | bytes | CachedCandidate]], *, progress: Any, cancel: Any, **study_kwargs: Any
) -> Any:
    """`study_serving` over `models`: each (name, .tflite path, .tflite bytes or a `CachedCandidate`).

    Returns the `core.serving.ServingStudy`; raises what `study_serving` raises
    (BadInputError, Cancelled). The scratch copies are removed on every way out.
    """
    from core.serving import study_serving

    folder = None
    pairs: list[tuple[str, str]] = []
    try:
        for index, (name, given) in enumerate(models):
            if isinstance(given, CachedCandidate):
                model: str | bytes | None = _candidate_bytes(given, progress)
                if model is None:
                    continue
            else:
                model = given
            if isinstance(model, (bytes, bytearray, memoryview)):
                if folder is None:
                    folder = tempfile.mkdtemp(prefix="litesmith-serving-")
                path = os.path.join(folder, _file_name(name, index))
                with open(path, "wb") as handle:
                    handle.write(bytes(model))
                pairs.append((name, path))
            else:
                pairs.append((name, os.fspath(model)))
        if not pairs:
            from core.errors import BadInputError

            raise BadInputError("no model left to load-test: none of the candidates could be read back")
        return study_serving(pairs, progress=progress, cancel=cancel, **study_kwargs)
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


__all__ = ["CachedCandidate", "serve_models"]
