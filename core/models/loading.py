"""Loading a model after its safety checks (runs in the engine's child process).

`load_keras_model` opens `.keras` and `.h5` files with Keras (``safe_mode=True``,
``compile=False``); `load_source` returns what the conversion pipeline needs for
any format. TensorFlow and Keras are imported inside the functions only.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from core.errors import BadInputError
from core.models import safety
from core.models.info import ModelFormat
from core.text import first_line

_patch_lock = threading.Lock()


@dataclass
class LoadedModel:
    """A checked model, ready to convert. Exactly one of the three payload fields is set."""

    path: str
    format: str  # one of ModelFormat
    keras_model: Any = None  # keras.Model for .keras / .h5
    saved_model_dir: str | None = None  # the folder, for SavedModel (not loaded yet)
    tflite_bytes: bytes | None = None  # the flatbuffer, for .tflite


def keras_load_error(path: str | Path, exc: BaseException, custom_objects: tuple[str, ...] = ()) -> BadInputError:
    """Turn what Keras raises on a bad file into a BadInputError with a useful message.

    An unknown class gets the way forward: the user's own code, named with --custom-objects
    (`custom_objects`: the files already given, if any).
    """
    text = str(exc)
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if "Lambda" in text and ("arbitrary code" in text or "safe_mode" in text):
        return BadInputError(
            f"refused: the model has a Lambda layer with Python code. {safety.LAMBDA_ADVICE}.",
            path=str(path),
            details=details,
        )
    missing = re.search(r"Could not locate (class|function) '([^']+)'", text) or re.search(
        r"Unknown (layer|object|class)[^']*'([^']+)'", text
    )
    if missing:
        from core.models.custom_objects import unknown_class_advice

        kind = "function" if missing.group(1) == "function" else "layer or class"
        name = first_line(missing.group(2), 120)
        return BadInputError(
            f"the model uses a custom {kind} '{name}' that is not part of Keras; Litesmith never "
            "imports code named by a model file, so it cannot load this model; "
            f"{unknown_class_advice(name, custom_objects)}",
            path=str(path),
            details=details,
        )
    return BadInputError(
        f"Keras could not load the model: {type(exc).__name__}: {first_line(exc, 300)}", path=str(path), details=details
    )


def load_keras_model(path: str | Path, *, custom_objects: tuple[str, ...] = (), keras: Any = None) -> Any:
    """Check and load a `.keras` or `.h5` model; returns a `keras.Model`.

    `keras`: the Keras module to load with (default: Keras on TensorFlow, `import_keras`); the JAX child
    passes its own, Keras on JAX, so that its load goes through the same checks and patches."""
    with safety.reading_model(path):
        fmt = safety.check_model(path)
        if fmt not in (ModelFormat.KERAS, ModelFormat.H5):
            raise BadInputError(f"expected a Keras model (.keras or .h5), got a {fmt} model", path=str(path))
        return load_checked_keras(path, custom_objects=custom_objects, keras=keras)


_PATCHED = ("is_memory_sufficient", "get_temp_dir")  # what _keras_load_patches replaces in saving_lib


@contextlib.contextmanager
def _keras_load_patches(saving_lib: Any) -> Iterator[None]:
    """Keep a Keras load from writing anywhere we don't clean up.

    * Keras 3 reads a .keras file's weights into memory when it thinks memory
      suffices, and otherwise extracts them into a temporary folder created in
      the model's own folder (keras/src/saving/saving_lib.py,
      `_load_model_from_fileobj`). Litesmith never writes next to an input, and a
      killed engine would leave that folder behind, so loading always takes the
      in-memory path; running out of memory is then the engine's clean
      "out of memory" error.
    * When the archive has assets (a StringLookup's vocabulary, ...), Keras
      extracts the whole archive into ``tempfile.mkdtemp()`` folders
      (`saving_lib.get_temp_dir`) and removes them only on success: a load that
      fails half-way leaves them in /tmp. Those folders are made inside one
      private folder per load, removed whatever happens.
    """
    root = tempfile.mkdtemp(prefix="litesmith-load-")

    def private_temp_dir() -> str:
        return tempfile.mkdtemp(dir=root)

    patches = {"is_memory_sufficient": lambda model: True, "get_temp_dir": private_temp_dir}
    with _patch_lock:
        originals = {name: getattr(saving_lib, name) for name in patches}
        for name in originals:
            setattr(saving_lib, name, patches[name])
        try:
            yield
        finally:
            for name, value in originals.items():
                setattr(saving_lib, name, value)
            shutil.rmtree(root, ignore_errors=True)


def load_checked_keras(path: str | Path, *, custom_objects: tuple[str, ...] = (), keras: Any = None) -> Any:
    """Load a `.keras`/`.h5` file whose safety checks already ran (`safe_mode=True`, `compile=False`).

    `custom_objects`: the user's own code files (``--custom-objects``), imported here, after the
    checks, and offered to Keras (`core.models.custom_objects`); safe_mode stays on. `keras`: as in
    `load_keras_model`.
    """
    if keras is None:
        from core.tf_runtime import import_keras

        keras = import_keras()
    # Private Keras API, imported before the load's `try`: a Keras without it must fail loudly
    # (ImportError: an internal error), never load without the patches below (no silent fallback).
    from keras.src.saving import saving_lib

    missing = [name for name in _PATCHED if not hasattr(saving_lib, name)]
    if missing:  # Keras changed: loading without these patches could write beside the input
        raise ImportError(
            f"keras.src.saving.saving_lib has no {', '.join(missing)} (Keras changed; "
            "core.models.loading must be updated before it loads models)"
        )
    custom_objects = tuple(str(p) for p in custom_objects or ())
    objects: dict[str, Any] = {}
    if custom_objects:
        from core.models.custom_objects import import_custom_objects

        objects = import_custom_objects(custom_objects)  # BadInputError naming a file that fails
    try:
        with _keras_load_patches(saving_lib), keras.saving.custom_object_scope(objects):
            model = keras.models.load_model(str(path), safe_mode=True, compile=False, custom_objects=objects or None)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of an untrusted file is bad input
        raise keras_load_error(path, exc, custom_objects) from None
    if not isinstance(model, keras.Model):
        raise BadInputError(f"the file holds a {type(model).__name__}, not a Keras model", path=str(path))
    return model


def load_source(path: str | Path, *, custom_objects: tuple[str, ...] = ()) -> LoadedModel:
    """Check a model of any format and return what the converter needs.

    Keras files are loaded (with the user's `custom_objects` files, if named); a
    SavedModel folder is only checked (the converter reads it); a .tflite file is
    read into memory and its header checked.
    """
    with safety.reading_model(path):
        fmt = safety.check_model(path)
        if fmt in (ModelFormat.KERAS, ModelFormat.H5):
            return LoadedModel(
                path=str(path), format=fmt, keras_model=load_checked_keras(path, custom_objects=custom_objects)
            )
        if fmt == ModelFormat.SAVED_MODEL:
            return LoadedModel(path=str(path), format=fmt, saved_model_dir=str(path))
        return LoadedModel(path=str(path), format=fmt, tflite_bytes=safety.read_tflite(path))
