"""SHA-256 of a model file, or of a SavedModel folder, and the bytes it occupies.

A folder's digest is the SHA-256 over its regular files sorted by relative POSIX
path; for each file the hasher takes ``relative/path``, a NUL byte, the file's
own SHA-256 (hex) and a newline. Renaming, adding, removing or changing any file
changes the digest; the folder's own name and timestamps do not.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable

CHUNK = 1 << 20


def sha256_file(path: str | Path, *, check: Callable[[], None] | None = None) -> str:
    """Hex SHA-256 of one file. `check` (e.g. a cancel check) runs between chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            if check is not None:
                check()
    return digest.hexdigest()


def tree_files(folder: str | Path) -> list[tuple[str, Path]]:
    """(relative POSIX path, path) of the regular files under `folder`, sorted; symlinks not followed."""
    folder = Path(folder)
    found: list[tuple[str, Path]] = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in files:
            full = Path(root) / name
            if full.is_file() and not full.is_symlink():
                found.append((full.relative_to(folder).as_posix(), full))
    found.sort(key=lambda item: item[0])
    return found


def sha256_tree(folder: str | Path, *, check: Callable[[], None] | None = None) -> str:
    """SHA-256 (hex) of a folder: over each regular file's relative path and SHA-256, sorted by path.

    `check` is called between chunks (e.g. `cancel.raise_if_cancelled`); symlinks are not followed.
    """
    digest = hashlib.sha256()
    for rel, full in tree_files(folder):
        digest.update(rel.encode("utf-8") + b"\0" + sha256_file(full, check=check).encode("ascii") + b"\n")
    return digest.hexdigest()


def sha256_path(path: str | Path, *, check: Callable[[], None] | None = None) -> str:
    """SHA-256 (hex) of a file's bytes, or of a folder by `sha256_tree`; `check` as there."""
    return sha256_tree(path, check=check) if Path(path).is_dir() else sha256_file(path, check=check)


def size_on_disk(path: str | Path) -> int:
    """Bytes of a file, or of all regular files in a folder."""
    path = Path(path)
    if path.is_dir():
        return sum(full.stat().st_size for _, full in tree_files(path))
    return path.stat().st_size
