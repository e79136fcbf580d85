"""What a job needs from the sandboxed child: the paths its arguments name, its code folder, its caches.

`job_needs` walks a job's arguments for existing paths; the engine starts a fresh child
when the current one may not read them (Landlock can only be tightened). `job_ref` names
the job function as "module:qualname", which the child imports (`core.engine.child`).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Callable


def job_ref(fn: Callable[..., Any]) -> str:
    """`module:qualname` naming `fn` for the child to import; ValueError for a function not importable by name."""
    module = getattr(fn, "__module__", None)
    if not module or module == "__main__":
        raise ValueError(f"job {fn!r} must be a function defined in an importable module")
    return f"{module}:{fn.__qualname__}"


@dataclass(frozen=True)
class JobNeeds:
    """What a child must be allowed for a job: input paths to read, code folders, result caches."""

    inputs: frozenset[str] = frozenset()
    code_roots: frozenset[str] = frozenset()
    caches: frozenset[str] = frozenset()

    def __or__(self, other: "JobNeeds") -> "JobNeeds":
        return JobNeeds(self.inputs | other.inputs, self.code_roots | other.code_roots, self.caches | other.caches)


def is_beneath(path: str, folder: str) -> bool:
    """True when `path` is `folder` or inside it (plain string comparison on normalised paths)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def as_input(text: str) -> str | None:
    """The real path of an existing file or folder named by `text`, or None."""
    if not text or len(text) > 4096 or "\0" in text:
        return None
    try:
        if not os.path.exists(text):
            return None
        real = os.path.realpath(text)
    except (OSError, ValueError):
        return None
    return None if real == os.sep else real  # never the whole file system


def job_needs(fn: Callable[..., Any], args: tuple, kwargs: dict) -> JobNeeds:
    """The paths a job's arguments name (walked through containers and dataclasses)."""
    from core.cache import ResultCache
    from core.engine.sandbox import code_root

    inputs: set[str] = set()
    caches: set[str] = set()
    seen: set[int] = set()

    def walk(value: Any, depth: int, field_name: str = "") -> None:
        if depth > 8 or value is None or isinstance(value, (bool, int, float, complex, bytes, bytearray, memoryview)):
            return
        if isinstance(value, (str, os.PathLike)):
            try:
                text = os.fspath(value)
            except TypeError:
                return
            if isinstance(text, str):
                real = as_input(text)
                if real is not None:
                    inputs.add(real)
                if field_name == "cache_dir" and text:
                    caches.add(os.path.abspath(text))
            return
        if id(value) in seen:
            return
        seen.add(id(value))
        if isinstance(value, ResultCache):
            caches.add(os.path.abspath(value.folder))
            real = as_input(os.fspath(value.folder))
            if real is not None:
                inputs.add(real)
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(key, depth + 1)
                walk(item, depth + 1, key if isinstance(key, str) else "")
        elif isinstance(value, (list, tuple, set, frozenset)):
            for item in value:
                walk(item, depth + 1)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            for f in dataclasses.fields(value):
                walk(getattr(value, f.name, None), depth + 1, f.name)

    walk(args, 0)
    walk(kwargs, 0)
    module = getattr(fn, "__module__", "") or ""
    root = code_root(module) if module else None
    return JobNeeds(frozenset(inputs), frozenset({root} if root else ()), frozenset(caches))
