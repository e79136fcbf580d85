"""User code for custom layers: imported only when the user names the file (``--custom-objects FILE.py``).

Litesmith never imports code that a model file names. A model with a layer class
of the user's own (a custom layer, model, loss, ...) can still be loaded when the
user gives that class's code explicitly: ``--custom-objects FILE.py`` on the CLI
(repeatable), "Load custom layer code…" in the app.

* The file is imported in the engine's child process only (`import_custom_objects`,
  called by `core.models.loading` after the model's safety checks), inside the same
  OS sandbox as the model (`core.engine.sandbox`): the engine lets the child read
  every path a job's arguments name, so the files travel as job arguments
  (`SessionOptions.custom_objects`, ``custom_objects=`` of the jobs).
* The bytes that are hashed are the bytes that run: the file is read once, its
  SHA-256 taken, and that source compiled and executed as a module with a unique
  name (`importlib.util.spec_from_file_location`). Reports record each file's path
  and SHA-256 (`describe_custom_objects`).
* What it offers Keras: classes registered with
  ``keras.saving.register_keras_serializable`` while the file runs (under their
  registered ``package>Name``, and their class name), and the subclasses of
  Keras's layer, model, loss, metric, initializer, regularizer, constraint,
  optimizer and learning-rate schedule classes the file defines (under their
  class name). Plain functions count only when registered. These go to
  ``keras.models.load_model`` as ``custom_objects`` and under
  ``keras.saving.custom_object_scope``; Keras's global registry is put back as it
  was after the import, so a later job that names no file sees none of them.
* ``safe_mode`` stays on and Lambda layers stay refused: the model's safety checks
  run first and Keras loads with ``safe_mode=True`` whatever the file defines.
* A file that is missing or fails to import is bad input (exit 3) naming the
  file, with the exception on one line and the traceback in the details.

Nothing here imports TensorFlow or Keras at module level (the GUI imports the
constants).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import itertools
import os
import sys
import threading
import traceback
from typing import Any, Iterable, Iterator

from core.errors import BadInputError
from core.text import escape_line, escape_text, first_line

CLI_OPTION = "--custom-objects"
GUI_ACTION = "Load custom layer code…"
# In the refusal of a model with an unknown class: what the GUI looks for to offer its action.
UNKNOWN_CLASS_HINT = f"give its code with {CLI_OPTION} FILE.py (in the app: {GUI_ACTION})"
MAX_FILE_BYTES = 16 * 2**20
MODULE_PREFIX = "litesmith_custom_objects"

_lock = threading.RLock()
_counter = itertools.count(1)
_IMPORTED: dict[tuple[str, str], dict[str, Any]] = {}  # (real path, sha256) -> the objects it offers
_DIGESTS: dict[str, str] = {}  # real path -> sha256 of the bytes last imported


def _read(path: str | os.PathLike) -> tuple[str, bytes, str]:
    """(real path, bytes, sha256) of a custom-objects file; BadInputError when it can't be read."""
    text = os.fspath(path)
    if not os.path.exists(text):
        raise BadInputError("no such custom-objects file", path=text)
    if not os.path.isfile(text):
        raise BadInputError("a custom-objects file must be a Python file (.py), not a folder", path=text)
    real = os.path.realpath(text)
    try:
        with open(real, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise BadInputError(f"cannot read the custom-objects file: {exc.strerror or exc}", path=text) from None
    if len(data) > MAX_FILE_BYTES:
        raise BadInputError(
            f"the custom-objects file is larger than {MAX_FILE_BYTES // 2**20} MiB; is it really Python code?",
            path=text,
        )
    return real, data, hashlib.sha256(data).hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a custom-objects file's bytes (BadInputError when it can't be read)."""
    return _read(path)[2]


def describe_custom_objects(paths: Iterable[str | os.PathLike]) -> tuple[tuple[str, str], ...]:
    """((path, sha256), ...) of the files, for reports: the digest of the bytes imported when they were."""
    described = []
    for path in paths:
        text = os.fspath(path)
        with _lock:
            digest = _DIGESTS.get(os.path.realpath(text))
        described.append((text, digest or file_sha256(text)))
    return tuple(described)


def cache_part(paths: Iterable[str | os.PathLike]) -> list[str]:
    """What a result-cache key needs of the files: their SHA-256s, in order (paths may move)."""
    return [file_sha256(p) for p in paths]


def _keras_bases(keras: Any) -> tuple[type, ...]:
    names = (
        "layers.Layer",
        "Model",
        "losses.Loss",
        "metrics.Metric",
        "initializers.Initializer",
        "regularizers.Regularizer",
        "constraints.Constraint",
        "optimizers.Optimizer",
        "optimizers.schedules.LearningRateSchedule",
    )
    bases = []
    for name in names:
        target: Any = keras
        for part in name.split("."):
            target = getattr(target, part, None)
        if isinstance(target, type):
            bases.append(target)
    return tuple(bases)


@contextlib.contextmanager
def _registry_restored() -> Iterator[dict[str, Any]]:
    """Keras's global registry as it was before, whatever the user's file registered; yields what it added."""
    from core.adapters.keras_internals import custom_object_registry

    objects, names = custom_object_registry()
    saved_objects, saved_names = dict(objects), dict(names)
    added: dict[str, Any] = {}
    try:
        yield added
    finally:
        added.update({k: v for k, v in objects.items() if saved_objects.get(k) is not v})
        objects.clear()
        objects.update(saved_objects)
        names.clear()
        names.update(saved_names)


def _import_one(path: str | os.PathLike) -> dict[str, Any]:
    from core.tf_runtime import import_keras

    text = os.fspath(path)
    real, data, digest = _read(text)
    with _lock:
        cached = _IMPORTED.get((real, digest))
        if cached is not None:
            _DIGESTS[real] = digest
            return cached
        keras = import_keras()
        name = f"{MODULE_PREFIX}_{next(_counter)}_{digest[:12]}"
        spec = importlib.util.spec_from_file_location(name, real)
        if spec is None:
            raise BadInputError("cannot import the custom-objects file (not a Python file?)", path=text)
        module = importlib.util.module_from_spec(spec)
        printed = io.StringIO()
        sys.modules[name] = module
        with _registry_restored() as registered:
            try:
                code = compile(data, real, "exec", dont_inherit=True)
                with contextlib.redirect_stdout(printed):  # stdout may carry the CLI's --json
                    exec(code, module.__dict__)  # noqa: S102 - the user's own file, named explicitly
            except MemoryError:
                sys.modules.pop(name, None)
                raise
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure of the user's code is bad input
                sys.modules.pop(name, None)
                details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
                raise BadInputError(
                    escape_line(
                        f"the custom-objects file could not be imported: {type(exc).__name__}: {first_line(exc, 300)}"
                    ),
                    path=text,
                    details=details,
                ) from None
            finally:
                if printed.getvalue():
                    sys.stderr.write(escape_text(printed.getvalue()))
        objects: dict[str, Any] = {}
        bases = _keras_bases(keras)
        for value in list(vars(module).values()):
            if isinstance(value, type) and value.__module__ == name and bases and issubclass(value, bases):
                objects[value.__name__] = value
        for registered_name, value in registered.items():
            objects[registered_name] = value
            short = getattr(value, "__name__", None)
            if isinstance(short, str) and short:
                objects.setdefault(short, value)
        _IMPORTED[(real, digest)] = objects
        _DIGESTS[real] = digest
        return objects


def import_custom_objects(paths: Iterable[str | os.PathLike]) -> dict[str, Any]:
    """Import the user's files (in the engine's child) and return {name: class or function} for Keras.

    A later file's name wins over an earlier one's. Raises BadInputError naming the file
    that is missing or fails to import.
    """
    objects: dict[str, Any] = {}
    for path in paths:
        objects.update(_import_one(path))
    return objects


def unknown_class_advice(name: str, custom_objects: Iterable[str] = ()) -> str:
    """The end of the refusal of a model whose class `name` Keras does not know."""
    given = [os.path.basename(os.fspath(p)) for p in custom_objects]
    if given:
        return (
            f"it is not defined (or not a Keras class) in {', '.join(given)}; if you wrote '{name}', "
            f"{UNKNOWN_CLASS_HINT}"
        )
    return f"if you wrote '{name}', {UNKNOWN_CLASS_HINT}"


__all__ = [
    "CLI_OPTION",
    "GUI_ACTION",
    "UNKNOWN_CLASS_HINT",
    "cache_part",
    "describe_custom_objects",
    "file_sha256",
    "import_custom_objects",
    "unknown_class_advice",
]
