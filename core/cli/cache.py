"""`litesmith cache info|clear`: the on-disk cache of converted variants and measurements.

The folder is the user's cache folder (platformdirs), or LITESMITH_CACHE_DIR
when set. Entries are keyed by the source model's SHA-256, the recipe, the
data files' SHA-256, the settings and the library versions (see core/cache.py).
Besides the variants and measurements it holds index entries (``index-*``,
`core.cache_index`): whole results looked up before the engine's child starts, so
a fully cached `optimize` or `optimize --auto` imports no TensorFlow.
"""

from __future__ import annotations

import argparse

from core.cli.common import print_json, to_jsonable
from core.jsonout import stamp
from core.schemas import CACHE
from core.errors import ExitCode


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `litesmith cache info|clear [--json]` on `subparsers`."""
    parser = subparsers.add_parser(
        "cache",
        help="show or clear the cache of converted variants and measurements",
        description="The cache makes a repeated optimization instant. `info` shows its folder, entries and size; "
        "`clear` empties it.",
    )
    parser.add_argument("action", choices=("info", "clear"), help="info: folder, entries, size; clear: empty it")
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    parser.set_defaults(handler=handle)


def _size(n: int) -> str:
    from core.units import human_size

    return human_size(n)


def handle(args: argparse.Namespace) -> int:
    """Show the cache's folder, entries and size in bytes, or empty it; 0, or 3 when it cannot be cleared."""
    from core.cache import ResultCache

    cache = ResultCache()
    if args.action == "clear":
        before = cache.stats()
        try:
            removed = cache.clear()
        except OSError as exc:
            print(f"error: {cache.folder}: cannot clear the cache: {exc}")
            return ExitCode.BAD_INPUT
        if args.json:
            print_json(
                stamp(
                    CACHE,
                    {
                        "action": "clear",
                        "folder": str(cache.folder),
                        "removed": removed,
                        "freed_bytes": before.total_bytes,
                    },
                )
            )
        else:
            print(
                f"cleared {removed} entr{'y' if removed == 1 else 'ies'} ({_size(before.total_bytes)}) "
                f"from {cache.folder}"
            )
        return ExitCode.OK
    stats = cache.stats()
    if args.json:
        print_json(stamp(CACHE, {"action": "info", **to_jsonable(stats)}))
    else:
        print(f"folder:  {stats.folder}")
        print(f"entries: {stats.entries}")
        print(f"size:    {_size(stats.total_bytes)} of {_size(stats.max_bytes)} (least recently used entries go first)")
    return ExitCode.OK
