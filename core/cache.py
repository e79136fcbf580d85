"""An on-disk cache of converted variants and measurements.

Entries are keyed by what determines them: the source model's SHA-256, the
recipe, the data file's hash, the settings and the library versions (so an
upgrade of TensorFlow or LiteRT never serves a stale figure). Values are
pickled frozen dataclasses written atomically; the cache is capped in size and
evicts the least recently used entries first.

The cache lives in the user's cache folder (platformdirs), which only that user
can write, so unpickling our own entries is as trusted as our own code. A
corrupt entry is dropped, never fatal.

Inside the engine's sandboxed child (``LITESMITH_CACHE_OUTBOX`` set by
`core.engine.child`) the cache folder is read-only: `put` writes into an outbox
in the child's scratch folder, and the parent moves the entries into the cache
after each job (`import_outbox`), checking their names, so the child never
writes outside its scratch folder.

A cache that cannot be written (disk full, quota, permission, a read-only folder)
is a cache that misses: `put` returns False and never raises for it, a half-written
entry is removed, and the job goes on uncached.

Entries whose key starts with `PARENT_ONLY_PREFIX` (the whole-result index of
`core.cache_index`, looked up before any child starts) are written by the parent
only: `import_outbox` refuses them from a child. Every entry, whoever wrote it, is
still read as untrusted plain data (`loads_from_child`).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_MAX_BYTES = 2 * 2**30
CACHE_ENV = "LITESMITH_CACHE_DIR"
OUTBOX_ENV = "LITESMITH_CACHE_OUTBOX"
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,200}$")  # what import_outbox accepts as an entry name
PARENT_ONLY_PREFIX = "index-"  # keys only the engine's parent writes (core.cache_index)
# Litesmith's own package version moves only at releases; this moves whenever a change alters what a cached
# entry would hold (2: variants derived from the fp32 .tflite, one calibration per data set; 3: class ids
# that look like another output's labels are not scored, a .tflite's int8 calibrated in batches; 4: a .tflite's
# int8/16x8 ranges are the min/max over all calibration samples), so entries made by older code are missed.
PRODUCER_REVISION = 4
_VERSIONED_PACKAGES = ("litesmith", "tensorflow", "keras", "ai-edge-litert", "ai-edge-quantizer", "numpy")

# What a result served from this cache says about itself, worded once here: the long notes ride on the
# result (a variant's warnings: `core.optimize.pipeline`; a measurement's notes: `core.benchmark.measure_cache`),
# the short ones on the app's live auto rows (`gui.auto`).
BUILT_NOTE = "served from the result cache (built earlier from the same model, recipe, data and library versions)"
MEASURED_NOTE = (
    "served from the result cache (measured earlier on this machine with the same model, settings and library versions)"
)
BUILT_NOTE_SHORT = "built earlier: served from the result cache"
MEASURED_NOTE_SHORT = "measured earlier: served from the result cache"


def default_cache_dir() -> Path:
    """`LITESMITH_CACHE_DIR` when set, else the user's cache folder (platformdirs) + "/results"."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    import platformdirs

    return Path(platformdirs.user_cache_dir("litesmith", appauthor=False)) / "results"


def library_versions() -> dict[str, str]:
    """{package: installed version, or "absent"} of the packages whose upgrade invalidates entries."""
    from core.adapters import package_version

    return {name: package_version(name, missing="absent") for name in _VERSIONED_PACKAGES}


def cache_key(namespace: str, **parts: Any) -> str:
    """A stable key from JSON-able parts plus the library versions and `PRODUCER_REVISION`."""
    payload = json.dumps(
        {"namespace": namespace, "parts": parts, "versions": library_versions(), "producer": PRODUCER_REVISION},
        sort_keys=True,
        default=str,
    )
    return f"{namespace}-{hashlib.sha256(payload.encode()).hexdigest()[:40]}"


@dataclass(frozen=True)
class CacheStats:
    """The cache folder's entry count and total size in bytes, against its cap."""

    entries: int
    total_bytes: int
    max_bytes: int
    folder: str


class ResultCache:
    """get/put pickled values by key; `clear()` empties it; the size stays under `max_bytes`."""

    def __init__(self, folder: Path | str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.folder = Path(folder) if folder is not None else default_cache_dir()
        self.max_bytes = max_bytes

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.pkl"

    def get(self, key: str) -> Any | None:
        """The value stored under `key` (read as untrusted plain data), or None on a miss.

        A corrupt or unreadable entry is a miss (and removed where the folder is writable); never raises.
        """
        outbox = outbox_folder(self.folder)
        if outbox is not None and (outbox / f"{key}.pkl").is_file():
            path = outbox / f"{key}.pkl"
        else:
            path = self._path(key)
        try:
            from core.engine.unpickle import loads_from_child

            # Entries are written by the sandboxed engine child: read them as plain data only, so a
            # compromised child cannot make whoever reads the cache run code (the parent does, on export).
            with path.open("rb") as handle:
                value = loads_from_child(handle.read())
        except FileNotFoundError:
            return None
        except Exception:  # noqa: BLE001 - a corrupt or outdated entry is a miss, not an error
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass  # read-only in the sandbox
            return None
        now = time.time()
        try:
            os.utime(path, (now, now))  # recency for eviction
        except OSError:
            pass  # read-only in the sandbox
        return value

    def put(self, key: str, value: Any) -> bool:
        """Store `value`; False (never an error) when the cache cannot be written: it is then not cached."""
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            outbox = outbox_folder(self.folder)
            if outbox is not None:
                if len(data) > self.max_bytes:
                    return False
                outbox.mkdir(parents=True, exist_ok=True)
                _write_entry(outbox, key, data)
                return True
            return self.put_bytes(key, data)
        except OSError:
            return False  # disk full, quota, permission, read-only: a miss next time, never a failed job

    def put_bytes(self, key: str, data: bytes) -> bool:
        """Store an already pickled entry (atomically), then evict down to `max_bytes` (raises OSError)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if len(data) > self.max_bytes:
            return False
        _write_entry(self.folder, key, data)
        self._evict()
        return True

    def import_outbox(self, outbox_root: str | Path) -> int:
        """Move the entries a sandboxed child left for this cache into it; returns how many."""
        outbox = outbox_folder(self.folder, outbox_root)
        moved = 0
        if outbox is None or not outbox.is_dir() or outbox.is_symlink():
            return 0
        for entry in outbox.iterdir():
            key = entry.name[: -len(".pkl")] if entry.name.endswith(".pkl") else ""
            if not _KEY.match(key) or key.startswith(PARENT_ONLY_PREFIX) or entry.is_symlink() or not entry.is_file():
                continue
            try:
                if entry.stat().st_size > self.max_bytes:
                    continue
                self.put_bytes(key, entry.read_bytes())
                entry.unlink()
                moved += 1
            except OSError:
                continue
        return moved

    def _entries(self) -> list[tuple[Path, os.stat_result]]:
        if not self.folder.is_dir():
            return []
        return [(p, p.stat()) for p in self.folder.glob("*.pkl") if not p.name.startswith(".tmp-")]

    def _evict(self) -> None:
        entries = sorted(self._entries(), key=lambda item: item[1].st_mtime)
        total = sum(stat.st_size for _, stat in entries)
        while entries and total > self.max_bytes:
            path, stat = entries.pop(0)
            path.unlink(missing_ok=True)
            total -= stat.st_size

    def stats(self) -> CacheStats:
        """How many entries the folder holds and their size (the sandbox's outbox not counted)."""
        entries = self._entries()
        return CacheStats(
            entries=len(entries),
            total_bytes=sum(s.st_size for _, s in entries),
            max_bytes=self.max_bytes,
            folder=str(self.folder),
        )

    def clear(self) -> int:
        """Delete every entry; returns how many were removed."""
        entries = self._entries()
        for path, _ in entries:
            path.unlink(missing_ok=True)
        return len(entries)


def outbox_folder(folder: str | Path, root: str | Path | None = None) -> Path | None:
    """Where a sandboxed child puts new entries for the cache in `folder` (None outside the sandbox)."""
    root = root if root is not None else os.environ.get(OUTBOX_ENV)
    if not root:
        return None
    digest = hashlib.sha256(os.path.abspath(os.fspath(folder)).encode()).hexdigest()[:16]
    return Path(root) / digest


def _write_entry(folder: Path, key: str, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".pkl")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, folder / f"{key}.pkl")
    except BaseException:
        try:
            Path(tmp).unlink(missing_ok=True)
        except OSError:
            pass
        raise
