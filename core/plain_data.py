"""Config dataclasses to and from plain JSON data: the one dict <-> dataclass converter of recipe steps.

`from_plain(cls, data)` reads a JSON object into `cls(**fields)`; `to_plain(config)` writes one back
(tuples as lists, nested configs as objects), so `from_plain(type(c), to_plain(c)) == c` for the step
configs. The step registry's default parser (`core.optimize.registry.dataclass_parser`, raising
`RecipeError`) and the compression configs' reader (`core.compress.configs.config_from_dict`, raising
`BadInputError`) are this with their own error class. JSON types are checked against the fields' plain
annotations (an `int` field refuses 2.7 and true, a `float` field refuses NaN and infinities: JSON from a
file is not Python, and a float epoch count crashed deep in Keras); ranges are each config's own check
(`validate()` or `__post_init__`).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
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
    hints = _plain_hints(cls)
    kwargs = {}
    for name, value in data.items():
        if name in inner and value is not None:
            value = from_plain(inner[name], value, error=error)
        elif isinstance(value, list):
            value = tuple(value)
        elif name in hints and not _fits(value, hints[name]):
            raise error(f"{cls.__name__}: {name} must be {_describe(hints[name])}, got {value!r}")
        kwargs[name] = value
    return cls(**kwargs)


_PLAIN = (bool, int, float, str, type(None))


def _plain_hints(cls: type) -> dict[str, tuple[type, ...]]:
    """{field: the plain JSON types its annotation allows} for fields annotated with only bool/int/float/str/None."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - an annotation that does not resolve: leave its values to the config
        return {}
    out = {}
    for name, hint in hints.items():
        union = typing.get_origin(hint) in (typing.Union, types.UnionType)
        allowed = typing.get_args(hint) if union else (hint,)
        if allowed and all(t in _PLAIN for t in allowed):
            out[name] = tuple(allowed)
    return out


def _fits(value: Any, allowed: tuple[type, ...]) -> bool:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return type(value) in allowed
    if isinstance(value, int):
        return int in allowed or float in allowed
    if isinstance(value, float):
        return float in allowed and math.isfinite(value)
    return False


def _describe(allowed: tuple[type, ...]) -> str:
    names = {bool: "true or false", int: "a whole number", float: "a finite number", str: "a string"}
    words = [names[t] for t in allowed if t in names]
    return " or ".join(words) + (" (or null)" if type(None) in allowed else "")


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
