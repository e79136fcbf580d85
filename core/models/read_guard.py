"""The format boundary of the safety checks: anything a parser raises on an untrusted
model file, but our own errors, becomes a `BadInputError` naming the file, with the
traceback kept in its details (`reading_model`). `_bad` and `_reason` build the one-line
messages every check raises.
"""

from __future__ import annotations

import contextlib
import traceback
from pathlib import Path
from typing import Iterator

from core.errors import BadInputError, LitesmithError
from core.text import escape_line, first_line


def _bad(path: str | Path, message: str, details: str = "") -> BadInputError:
    # Messages quote names from the file: keep them on one line, escape codes made visible.
    return BadInputError(escape_line(message), path=str(path), details=details)


def _reason(exc: BaseException) -> str:
    """`Type: first line` of an exception, escaped, for a one-line message."""
    name = type(exc).__name__
    if name == "error":  # zlib.error, struct.error, ...
        name = f"{type(exc).__module__.lstrip('_')}.error"
    return f"{name}: {first_line(exc, 200)}"


@contextlib.contextmanager
def reading_model(path: str | Path, what: str = "the model could not be read") -> Iterator[None]:
    """The format boundary: anything but our own errors raised while reading a model file
    becomes a `BadInputError` naming it, with the traceback kept in `details`.

    `MemoryError` passes (the engine reports it as out of memory), and so do
    `LitesmithError`s (they already say what is wrong), `KeyboardInterrupt` and
    `ImportError`: a module Litesmith needs failing to import is a broken
    installation, never the file's fault, and must fail loudly as an internal error
    (Keras's own imports while deserializing a file are caught in `core.models.loading`).
    """
    try:
        yield
    except (LitesmithError, MemoryError, ImportError):
        raise
    except RecursionError as exc:
        raise _bad(
            path, f"{what}: it is nested too deeply to read ({_reason(exc)})", details=traceback.format_exc()
        ) from None
    except Exception as exc:  # noqa: BLE001 - any failure on an untrusted file is bad input
        raise _bad(path, f"{what} ({_reason(exc)})", details=traceback.format_exc()) from None
