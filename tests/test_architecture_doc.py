"""ARCHITECTURE.md stays true: every module and folder it names exists (issue 13: "keep it current")."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# `core/x.py`, `gui/panels/`, and bare `y.py` / `flops*.py`, which live in the folder last named on that line.
NAMED = re.compile(r"`((?:core|gui)/[\w/*.]*|[\w*]+\.py)`")


def named_paths(text: str) -> list[tuple[int, str]]:
    """(line number, path relative to the repository) for each module or folder a line names."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        folder = None
        for name in NAMED.findall(line):
            if "/" in name:
                folder = name if name.endswith("/") else name.rsplit("/", 1)[0] + "/"
                found.append((number, name))
            elif folder is not None:
                found.append((number, folder + name))
    return found


def test_every_module_architecture_md_names_exists():
    paths = named_paths((REPO / "ARCHITECTURE.md").read_text())
    assert len(paths) > 100                                   # the scan sees the table
    missing = [f"line {n}: {p}" for n, p in paths if not list(REPO.glob(p.rstrip("/")))]
    assert missing == [], "ARCHITECTURE.md names modules that are not there: " + ", ".join(missing)


def test_the_scan_resolves_bare_names_against_the_line_s_folder():
    assert named_paths("| x | `core/engine/sandbox.py`, `landlock.py`; `gui/a.py`, `b.py` |") == [
        (1, "core/engine/sandbox.py"), (1, "core/engine/landlock.py"), (1, "gui/a.py"), (1, "gui/b.py")]
