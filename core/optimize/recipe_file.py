"""Recipe files: the variants to make, as a JSON document both the CLI and the desktop app read and write.

A recipe file is a ``litesmith.recipe`` document (``core/schemas/recipe.v1.schema.json``)::

    {"schema": "litesmith.recipe", "version": 1, "name": "int8 + 50% pruning",
     "recipes": [{"version": 1, "name": "pruned50+int8", "steps": [
         {"kind": "magnitude_prune", "config": {"sparsity": 0.5, "epochs": 2}},
         {"kind": "convert", "config": {"converter": "auto", "allow_select_tf_ops": false}},
         {"kind": "quantize", "config": {"mode": "int8", "io_dtype": "float", "layer_errors": false}}]}]}

Each entry of ``recipes`` is one variant (`core.optimize.recipes.Recipe.to_dict()`).
The model, the data and the benchmark settings are not part of a recipe: the same
file applies to any model.

Reading checks, in order: the size (a recipe is small: at most `MAX_BYTES`), the
JSON syntax, the schema, then each step against the step registry
(`core.optimize.registry`: unknown kind, unknown field, a value out of range). Any failure is one `RecipeFileError` (a
`BadInputError`: exit code 3) whose message is one line naming the problem; its
`path` is the file.

`read_recipe_job` and `write_recipe_job` are the engine jobs (``@runs_in_parent``:
they touch only the recipe file, never a model) the desktop app submits, so its GUI
thread never reads or writes the file itself. The CLI calls `read_recipe_file` and
`write_recipe_file` directly. No TensorFlow, no Qt.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterable

from core.engine.context import runs_in_parent
from core.errors import BadInputError
from core.jsonout import stamp
from core.optimize.recipes import Recipe, RecipeError
from core.schemas import RECIPE, VERSIONS

MAX_BYTES = 1 << 20  # 1 MiB: a recipe of hundreds of variants is a few tens of kB
SUFFIX = ".json"

__all__ = [
    "MAX_BYTES",
    "RecipeFile",
    "RecipeFileError",
    "parse_recipe_document",
    "read_recipe_file",
    "read_recipe_job",
    "recipe_document",
    "write_recipe_file",
    "write_recipe_job",
]


class RecipeFileError(BadInputError):
    """A recipe file that cannot be used: unreadable, not JSON, not a recipe document, or a bad step.

    `message` is one line (no file name: `path` carries it, and `line()` joins both).
    """

    def line(self) -> str:
        """``"FILE: problem"``, the one line the CLI prints and the app's error dialog shows."""
        return f"{self.path}: {self.message}" if self.path else self.message


@dataclass(frozen=True)
class RecipeFile:
    """A recipe file as read: `recipes` in file order (each validated), its `name` ("" when none), its `path`."""

    recipes: tuple[Recipe, ...]
    name: str = ""
    path: str = ""


def recipe_document(recipes: Iterable[Recipe], *, name: str = "", created_by: str = "") -> dict[str, Any]:
    """The stamped ``litesmith.recipe`` document of `recipes` (RecipeError for an invalid one, or none)."""
    items = [r.validate() for r in recipes]
    if not items:
        raise RecipeError("a recipe file needs at least one recipe")
    body: dict[str, Any] = {}
    if name:
        body["name"] = name
    if created_by:
        body["created_by"] = created_by
    body["recipes"] = [r.to_dict() for r in items]
    return stamp(RECIPE, body)


def parse_recipe_document(data: Any, path: str = "") -> RecipeFile:
    """A recipe document (already parsed JSON) checked against its schema and the step registry.

    Raises RecipeFileError (one line) for a wrong schema id or version, a schema
    violation (with the JSON pointer of the first problem), or a step the registry
    refuses (unknown kind or field, a value out of range).
    """
    if not isinstance(data, dict):
        raise RecipeFileError(
            f"not a recipe file: the top level is a JSON {_json_type(data)}, not an object", path=path
        )
    if data.get("schema") != RECIPE:
        raise RecipeFileError(f'not a recipe file: "schema" is {data.get("schema")!r}, expected {RECIPE!r}', path=path)
    if data.get("version") != VERSIONS[RECIPE]:
        raise RecipeFileError(
            f"recipe file version {data.get('version')!r}: this Litesmith reads version {VERSIONS[RECIPE]}", path=path
        )
    _check_schema(data, path)
    recipes = []
    for index, item in enumerate(data["recipes"]):
        try:
            recipes.append(Recipe.from_dict(item))
        except RecipeError as exc:
            raise RecipeFileError(
                f"recipes[{index}] ({item.get('name')!r}): {_one_line(str(exc))}", path=path
            ) from None
        except BadInputError as exc:  # a config value out of range (the compression configs raise this)
            raise RecipeFileError(
                f"recipes[{index}] ({item.get('name')!r}): {_one_line(exc.message)}", path=path
            ) from None
    names = [r.name for r in recipes]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:  # each variant is exported as MODEL.<name>.tflite: two with one name would collide
        raise RecipeFileError(f"two recipes share the name {duplicates[0]!r}", path=path)
    return RecipeFile(recipes=tuple(recipes), name=str(data.get("name", "")), path=path)


def read_recipe_file(path: str | os.PathLike[str]) -> RecipeFile:
    """Read and check a recipe file; RecipeFileError (exit code 3) naming the file and the problem."""
    path = os.fspath(path)
    try:
        size = os.path.getsize(path)
        if os.path.isdir(path):
            raise RecipeFileError("is a folder, not a recipe file", path=path)
        if size > MAX_BYTES:
            raise RecipeFileError(f"{size} bytes is too large for a recipe file (at most {MAX_BYTES})", path=path)
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise RecipeFileError("no such recipe file", path=path) from None
    except OSError as exc:
        raise RecipeFileError(f"cannot read the recipe file: {exc.strerror or exc}", path=path) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RecipeFileError("not a recipe file: not UTF-8 text", path=path) from None
    import json

    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecipeFileError(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", path=path) from None
    return parse_recipe_document(data, path)


def write_recipe_file(
    path: str | os.PathLike[str], recipes: Iterable[Recipe], *, name: str = "", created_by: str = ""
) -> str:
    """Write `recipes` as a recipe file, atomically (temp file, then `os.replace`); returns the path.

    Raises BadInputError when the folder does not exist, OutputError (exit code 4)
    when the file cannot be written, RecipeError for an invalid recipe.
    """
    from core.optimize.export import write_json_atomic  # no TensorFlow: plain file writing

    path = os.fspath(path)
    write_json_atomic(path, recipe_document(recipes, name=name, created_by=created_by))
    return path


@runs_in_parent
def read_recipe_job(path: str, *, progress: Any = None, cancel: Any = None, child: Any = None) -> RecipeFile:
    """Engine job: `read_recipe_file(path)` in the engine's parent (it reads no model: no sandbox needed)."""
    return read_recipe_file(path)


@runs_in_parent
def write_recipe_job(
    path: str,
    recipes: list[Recipe],
    *,
    name: str = "",
    created_by: str = "",
    progress: Any = None,
    cancel: Any = None,
    child: Any = None,
) -> str:
    """Engine job: `write_recipe_file(path, recipes, ...)` in the engine's parent (files the user gets are
    written by the parent); returns the path."""
    try:
        return write_recipe_file(path, recipes, name=name, created_by=created_by)
    except RecipeError as exc:
        raise BadInputError(str(exc), path=path) from None


def _check_schema(data: dict[str, Any], path: str) -> None:
    from jsonschema.exceptions import best_match

    from core.schemas import validator

    error = best_match(validator(RECIPE).iter_errors(data))
    if error is not None:
        where = "/" + "/".join(str(p) for p in error.absolute_path)
        raise RecipeFileError(f"not a valid recipe file at {where}: {_one_line(error.message)}", path=path)


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _json_type(value: Any) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")
