"""The export job for an auto-search candidate whose model is in the result cache (Qt-free).

An `AutoResult` carries only the recommended variant's bytes; another candidate's model is
read back from the result cache (`core.auto.search.candidate_variant`: it hashes the data
file for the cache key and reads the entry as plain data). That is file work, so it
happens here, in the engine's export job (`@runs_in_parent`: a thread of the engine's
parent process, the side that writes the user's files), never on the GUI thread. Then
`core.optimize.export.export_variant` writes and checks the file as for any variant.
"""

from __future__ import annotations

from typing import Any

from core.engine.context import runs_in_parent
from core.errors import BadInputError


@runs_in_parent
def export_cached_candidate(
    result: Any,
    name: str,
    data: Any,
    out_path: str,
    *,
    progress: Any,
    cancel: Any,
    source: Any = None,
    data_description: Any = None,
    baseline_size_bytes: int | None = None,
    original_evaluation: Any = None,
    protected_paths: tuple[str, ...] = (),
    metadata: dict | None = None,
    child: Any = None,
) -> Any:
    """Read candidate `name` of `result` (an `AutoResult`) back from the cache and export it to `out_path`.

    `data` is the `DataSpec` the search was given (part of the cache key). Returns the
    `core.optimize.export.ExportResult`. Raises `BadInputError` when the candidate's model is
    not in the cache any more (cleared, another cache folder) or its data file is gone, and
    whatever `export_variant` raises (`OutputError`, `ConversionError`, `Cancelled`).
    """
    from core.auto.search import candidate_variant
    from core.optimize.export import export_variant

    cancel.raise_if_cancelled()
    progress(0.0, f"reading {name} back from the result cache", "export")
    variant = candidate_variant(result, name, data)
    if variant is None:
        raise BadInputError(
            f"{name}: its model is no longer in the result cache (cleared?); export the "
            "recommended variant or run Auto again"
        )
    return export_variant(
        variant,
        out_path,
        progress=progress,
        cancel=cancel,
        source=source,
        data=data_description,
        baseline_size_bytes=baseline_size_bytes,
        original_evaluation=original_evaluation,
        protected_paths=protected_paths,
        metadata=metadata,
        child=child,
    )


__all__ = ["export_cached_candidate"]
