"""The one JSON encoder of every document Litesmith writes: strict JSON, stamped with its schema.

Every ``--json`` output of the CLI (``inspect``, ``optimize`` and ``optimize --auto``,
``bench``, ``devices``, ``cache``), the variant report ``NAME.report.json``, the
``--report`` file and the GUI's exported JSON report go through `dumps`:

* **Strict JSON.** NaN and ±Infinity are not JSON. A non-finite number becomes
  ``null`` and, inside an object, the reason goes beside it as ``"<key>_reason"``
  (unless the document already says why, e.g. an evaluation's ``to_dict()`` names
  the rule that left a metric undefined: ``"roc_auc": null, "roc_auc_reason":
  "undefined: the labels hold one class"``). Where the reason is not known it is
  `NOT_FINITE` ("not a finite number", with NaN or infinite). The text is then
  written with ``allow_nan=False``, so a regression fails loudly instead of writing
  ``NaN`` into a file.
* **Plain data.** Dataclasses become objects (field by field), tuples and sets
  lists, numpy scalars and arrays numbers and lists, paths and other objects strings.
* **Versioned.** `stamp` puts ``"schema"`` (an id of `core.schemas`) and its
  ``"version"`` first in a document; the JSON Schemas in ``core/schemas`` say what
  each document holds.
* **Checked on request.** With ``LITESMITH_VALIDATE_JSON=1`` in the environment
  (the test suite sets it, its subprocesses inherit it), every document is
  validated against its schema before it is written (needs the ``jsonschema``
  package, a test dependency), and functions added with `add_document_hook` see
  each document first.

No Qt, no TensorFlow: the CLI, the engine and the GUI share this module.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import os
from pathlib import PurePath
from typing import Any, Callable, Iterator

VALIDATE_ENV = "LITESMITH_VALIDATE_JSON"
NOT_FINITE = "not a finite number"
REASON_SUFFIX = "_reason"

__all__ = [
    "NOT_FINITE",
    "REASON_SUFFIX",
    "VALIDATE_ENV",
    "add_document_hook",
    "dumps",
    "jsonable",
    "remove_document_hook",
    "stamp",
]

_hooks: list[Callable[[Any], None]] = []


def _not_finite(value: float) -> str:
    return f"{NOT_FINITE} ({'NaN' if value != value else ('+' if value > 0 else '-') + 'Infinity'})"


def _is_bad_float(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def jsonable(value: Any) -> Any:
    """`value` as plain JSON data: non-finite numbers as None, with `<key>_reason` beside them in objects."""
    if value is None or isinstance(value, (bool, int, str)):
        if isinstance(value, enum.Enum):
            return jsonable(value.value)
        return value
    if isinstance(value, float):  # numpy's float64 too
        return float(value) if math.isfinite(value) else None
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _object({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    if isinstance(value, dict):
        return _object(value)
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return [jsonable(v) for v in sorted(value, key=repr)]
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return jsonable(value.tolist())
    if hasattr(value, "to_dict"):
        return jsonable(value.to_dict())
    if isinstance(value, PurePath):
        return str(value)
    return str(value)


def _object(items: dict) -> dict[str, Any]:
    keys = {str(k) for k in items}
    out: dict[str, Any] = {}
    for key, raw in items.items():
        key = str(key)
        value = jsonable(raw)
        out[key] = value
        reason_key = key + REASON_SUFFIX
        if reason_key in keys or reason_key in out:
            continue  # the document says why itself
        reason = _reason(raw)
        if reason is not None:
            out[reason_key] = reason
    return out


def _reason(raw: Any) -> str | None:
    """Why a value came out null (or holds nulls): None when nothing non-finite was dropped."""
    if hasattr(raw, "tolist") and not isinstance(raw, float):
        raw = raw.tolist()
    if _is_bad_float(raw):
        return _not_finite(raw)
    if isinstance(raw, (list, tuple)):
        bad = [v for v in _flat(raw) if _is_bad_float(v)]
        if bad:
            kinds = sorted({"NaN" if v != v else "infinite" for v in bad})
            return f"null entries: {NOT_FINITE} ({' or '.join(kinds)})"
    return None


def _flat(values: list[Any] | tuple[Any, ...]) -> Iterator[Any]:
    for v in values:
        if isinstance(v, (list, tuple)):
            yield from _flat(v)
        elif hasattr(v, "tolist") and not isinstance(v, float):
            item = v.tolist()
            if isinstance(item, list):
                yield from _flat(item)
            else:
                yield item
        else:
            yield v


def stamp(schema: str, value: Any) -> dict[str, Any]:
    """`value` (an object) as a document of `schema`: ``{"schema": ..., "version": ..., ...}``."""
    from core.schemas import VERSIONS

    body = jsonable(value)
    if not isinstance(body, dict):
        raise TypeError(f"a {schema} document is a JSON object, got {type(body).__name__}")
    body.pop("schema", None)
    body.pop("version", None)
    return {"schema": schema, "version": VERSIONS[schema], **body}


def add_document_hook(hook: Callable[[Any], None]) -> None:
    """Call `hook(document)` with every document `dumps` is about to write (tests validate them)."""
    _hooks.append(hook)


def remove_document_hook(hook: Callable[[Any], None]) -> None:
    """Stop calling `hook` (added with `add_document_hook`); a hook not added is ignored."""
    try:
        _hooks.remove(hook)
    except ValueError:
        pass


def dumps(value: Any, *, indent: int | None = 2) -> str:
    """`value` as strict JSON text (see the module docstring); raises ValueError on a non-finite number."""
    data = jsonable(value)
    for hook in list(_hooks):
        hook(data)
    if os.environ.get(VALIDATE_ENV, "") not in ("", "0"):
        from core.schemas import validate

        validate(data)
    return json.dumps(data, indent=indent, allow_nan=False)
