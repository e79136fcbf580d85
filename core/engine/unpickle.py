"""What the parent accepts from the engine's child: a restricted unpickler.

The child is sandboxed, but its messages are unpickled here, outside the sandbox, so
a pickle may name only plain data (see `allowed_global`). Used by the job handles
(`core.engine.child_job`) and by the result cache, whose entries are untrusted too.
"""

from __future__ import annotations

import dataclasses
from typing import Any

_SAFE_BUILTINS = frozenset(
    {
        "set",
        "frozenset",
        "complex",
        "bytearray",
        "slice",
        "range",
        "list",
        "dict",
        "tuple",
        "bytes",
        "str",
        "int",
        "float",
        "bool",
        "object",
    }
)
_SAFE_GLOBALS = frozenset(
    {
        ("copyreg", "_reconstructor"),
        ("collections", "OrderedDict"),
        ("collections", "defaultdict"),
        ("collections", "deque"),
        ("datetime", "datetime"),
        ("datetime", "date"),
        ("datetime", "time"),
        ("datetime", "timedelta"),
        ("datetime", "timezone"),
        ("pathlib", "Path"),
        ("pathlib", "PosixPath"),
        ("pathlib", "PurePosixPath"),
        ("pathlib", "WindowsPath"),
        ("pathlib", "PureWindowsPath"),
    }
)
_NUMPY_FUNCTIONS = frozenset({"_reconstruct", "scalar", "_frombuffer"})


def _resolve(module_name: str, qualname: str, may_import: bool) -> Any:
    import importlib
    import sys

    module = sys.modules.get(module_name)
    if module is None and may_import:
        module = importlib.import_module(module_name)
    target: Any = module
    for part in qualname.split("."):
        if target is None or part.startswith("__"):
            return None
        target = getattr(target, part, None)
    return target


def allowed_global(module: str, name: str, code_tops: frozenset[str] = frozenset({"core"})) -> Any:
    """What a pickle from the child may name: plain data types, never a function that acts.

    The child is sandboxed, but what it sends is unpickled here, outside the sandbox:
    a child taken over by a model must not be able to name `os.system` or a class that
    writes files. Allowed: safe builtins and standard-library value types, numpy arrays,
    dtypes and scalars, and, from Litesmith's own code (and the job modules'), classes
    that hold data (dataclasses, enums, exceptions, named tuples). Nothing is imported
    for a pickle except Litesmith's and the jobs' own modules and numpy.
    """
    import builtins
    import enum

    if module == "builtins":
        obj = getattr(builtins, name, None)
        if name in _SAFE_BUILTINS or (isinstance(obj, type) and issubclass(obj, BaseException)):
            return obj
        return None
    if (module, name) in _SAFE_GLOBALS:
        return _resolve(module, name, True)
    top = module.partition(".")[0]
    if top == "numpy":
        obj = _resolve(module, name, True)
        if name in _NUMPY_FUNCTIONS and callable(obj):
            return obj
        import numpy

        if isinstance(obj, type) and (
            issubclass(obj, numpy.dtype) or issubclass(obj, numpy.generic) or obj is numpy.ndarray
        ):
            return obj
        return None
    obj = _resolve(module, name, top in code_tops)
    if isinstance(obj, type) and (
        dataclasses.is_dataclass(obj)
        or issubclass(obj, (enum.Enum, BaseException))
        or (issubclass(obj, tuple) and hasattr(obj, "_fields"))
    ):
        return obj
    return None


def loads_from_child(data: bytes, code_tops: frozenset[str] = frozenset({"core"})) -> Any:
    """Unpickle a message from the child with `allowed_global` as the only way to name a global."""
    import io
    import pickle

    class _Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            try:
                obj = allowed_global(module, name, code_tops)
            except Exception:  # noqa: BLE001 - a module that fails to import is refused as well
                obj = None
            if obj is None:
                raise pickle.UnpicklingError(f"the model engine sent a {module}.{name}, which is not plain data")
            return obj

    return _Unpickler(io.BytesIO(data)).load()
