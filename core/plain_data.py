"""Config dataclasses to and from plain JSON data: the one dict <-> dataclass converter of recipe steps.

`from_plain(cls, data)` reads a JSON object into `cls(**fields)`; `to_plain(config)` writes one back
(tuples as lists, nested configs as objects), so `from_plain(type(c), to_plain(c)) == c` for the step
configs. The step registry's default parser (`core.optimize.registry.dataclass_parser`, raising
`RecipeError`) and the compression configs' reader (`core.compress.configs.config_from_dict`, raising
`BadInputError`) are this with their own error class. Values are not checked here: each config checks
its own (`validate()` or `__post_init__`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, TypeVar

__all__ = ["from_plain", "to_plain"]

T = TypeVar("T")


def from_plain(
    cls: type[T], data: Any, *, nested: Mapping[str, type] | None = None, error: type[Exception] = ValueError
) -> T:
    """`cls(**data)` for a JSON object `data`: unknown fields refused, arrays as tuples, defaults kept.

    A field named in `nested` (field -> a dataclass) is read the same way when it is not null.
    Raises `error` (one line naming the class) for data that is not an object or has unknown
    fields; whatever `cls(...)` raises (a missing required field: TypeError) passes through.
    """
    if not isinstance(data, Mapping):
        raise error(f"{cls.__name__} must be an object, got {data!r}")
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - known
    if unknown:
        raise error(f"{cls.__name__}: unknown field(s) {', '.join(sorted(unknown))}")
    inner = dict(nested or {})
    kwargs = {}
    for name, value in data.items():
        if name in inner and value is not None:
            value = from_plain(inner[name], value, error=error)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def to_plain(config: Any) -> dict[str, Any]:
    """`{field: value}` of a config dataclass for JSON: nested configs as dicts, tuples as lists, mappings as dicts."""
    out = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            value = to_plain(value)
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        out[f.name] = value
    return out
