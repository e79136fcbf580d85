"""The JSON Schemas (draft 2020-12) of the documents Litesmith writes, and a small loader.

Every document carries ``"schema"`` (one of the ids below) and ``"version"``; the
schema of that id and version is the file ``<name>.v<version>.schema.json`` beside
this module (package data). The ``inspect --json`` document is a list: each entry
carries the id and version.

* ``litesmith.inspect``: ``litesmith inspect --json``
* ``litesmith.optimize``: ``litesmith optimize --json`` (and its ``--report PATH``)
* ``litesmith.optimize-auto``: ``litesmith optimize --auto --json`` (and its ``--report PATH``)
* ``litesmith.bench``: ``litesmith bench --json``
* ``litesmith.devices``: ``litesmith devices --json``
* ``litesmith.cache``: ``litesmith cache info|clear --json``
* ``litesmith.recipe``: a recipe file (``optimize --recipe`` / ``--save-recipe``, File > Open/Save Recipe…)
* ``litesmith.loadtest``: ``litesmith loadtest --json`` (the serving study, `core.serving.report`)
* ``litesmith.export-report``: the variant report ``NAME.report.json`` (``core.optimize.export``)
* ``litesmith.comparison-report``: the desktop app's exported JSON report (``core.report.document.summary``; also ``litesmith optimize --report-json``)

``common.v1.schema.json`` holds the definitions the others share (the evaluation,
the source model, the data, a recipe, latency figures); they refer to it by its
``$id``. A change that adds keys keeps the version; one that removes or retypes a
key, or makes one required, adds a new file with the next version.

`load` and `schema_file` need nothing beyond the standard library; `validate` and
`validator` need the ``jsonschema`` package (a test dependency) and are cached.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

INSPECT = "litesmith.inspect"
OPTIMIZE = "litesmith.optimize"
AUTO = "litesmith.optimize-auto"
BENCH = "litesmith.bench"
DEVICES = "litesmith.devices"
CACHE = "litesmith.cache"
EXPORT_REPORT = "litesmith.export-report"
COMPARISON_REPORT = "litesmith.comparison-report"
LOADTEST = "litesmith.loadtest"
RECIPE = "litesmith.recipe"
COMMON_ID = "urn:litesmith:schema:common:v1"

# The version each document is written at today.
VERSIONS: dict[str, int] = {
    INSPECT: 1,
    OPTIMIZE: 1,
    AUTO: 1,
    BENCH: 1,
    DEVICES: 1,
    CACHE: 1,
    EXPORT_REPORT: 1,
    COMPARISON_REPORT: 1,
    LOADTEST: 1,
    RECIPE: 1,
}

__all__ = [
    "AUTO",
    "BENCH",
    "CACHE",
    "COMMON_ID",
    "COMPARISON_REPORT",
    "DEVICES",
    "EXPORT_REPORT",
    "INSPECT",
    "LOADTEST",
    "OPTIMIZE",
    "RECIPE",
    "VERSIONS",
    "SchemaViolation",
    "document_schema",
    "load",
    "schema_file",
    "validate",
    "validator",
]


class SchemaViolation(ValueError):
    """A document that does not match its schema (or names no schema Litesmith knows)."""


def schema_file(schema: str, version: int | None = None) -> str:
    """The file name of a schema: ``litesmith.bench`` -> ``bench.v1.schema.json``."""
    if schema not in VERSIONS:
        raise SchemaViolation(f"unknown document schema {schema!r}; known: {', '.join(sorted(VERSIONS))}")
    return f"{schema.removeprefix('litesmith.')}.v{VERSIONS[schema] if version is None else version}.schema.json"


@lru_cache(maxsize=None)
def _text(name: str) -> str:
    try:
        return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SchemaViolation(f"no schema file {name} in core/schemas") from None


def load(schema: str, version: int | None = None) -> dict[str, Any]:
    """The schema (a fresh dict) of a document id, at `version` (default: today's)."""
    return json.loads(_text(schema_file(schema, version)))


def _common() -> dict[str, Any]:
    return json.loads(_text("common.v1.schema.json"))


def document_schema(document: Any) -> tuple[str, int]:
    """(schema id, version) a document says it follows; SchemaViolation when it says none."""
    head = document[0] if isinstance(document, list) and document else document
    if not isinstance(head, dict) or not isinstance(head.get("schema"), str):
        raise SchemaViolation(
            'not a Litesmith document: no "schema" field '
            f"(a {type(document).__name__}{' of ' + type(head).__name__ if head is not document else ''})"
        )
    version = head.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise SchemaViolation(f'{head["schema"]} document without an integer "version"')
    return head["schema"], version


@lru_cache(maxsize=None)
def validator(schema: str, version: int | None = None) -> Any:
    """A compiled `jsonschema` validator (Draft 2020-12) of a document id, cached."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    common = _common()
    registry = Registry().with_resource(COMMON_ID, Resource.from_contents(common))
    document = load(schema, version)
    Draft202012Validator.check_schema(document)
    return Draft202012Validator(document, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)


def validate(document: Any) -> str:
    """Check a document against the schema it names; returns that id, raises SchemaViolation when invalid."""
    schema, version = document_schema(document)
    if schema not in VERSIONS:
        raise SchemaViolation(f"unknown document schema {schema!r}; known: {', '.join(sorted(VERSIONS))}")
    if not 1 <= version <= VERSIONS[schema]:
        raise SchemaViolation(f"{schema} version {version}: Litesmith knows versions 1 to {VERSIONS[schema]}")
    errors = sorted(validator(schema, version).iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        from jsonschema.exceptions import best_match

        lines = []
        for error in errors[:10]:
            error = best_match([error])  # the deepest error under a oneOf/anyOf, not "not valid under any"
            lines.append(f"  at /{'/'.join(str(p) for p in error.absolute_path)}: {_short(error.message)}")
        more = f"\n  ... and {len(errors) - 10} more" if len(errors) > 10 else ""
        raise SchemaViolation(
            f"invalid {schema} v{version} document ({len(errors)} error(s)):\n" + "\n".join(lines) + more
        )
    return schema


def _short(text: str, limit: int = 240) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
