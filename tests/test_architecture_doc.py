"""ARCHITECTURE.md stays true: every module and folder it names exists (issue 13: "keep it current")."""

from __future__ import annotations

import ast
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
    assert len(paths) > 100  # the scan sees the table
    missing = [f"line {n}: {p}" for n, p in paths if not list(REPO.glob(p.rstrip("/")))]
    assert missing == [], "ARCHITECTURE.md names modules that are not there: " + ", ".join(missing)


def test_the_scan_resolves_bare_names_against_the_line_s_folder():
    assert named_paths("| x | `core/engine/sandbox.py`, `landlock.py`; `gui/a.py`, `b.py` |") == [
        (1, "core/engine/sandbox.py"),
        (1, "core/engine/landlock.py"),
        (1, "gui/a.py"),
        (1, "gui/b.py"),
    ]


# The layers ARCHITECTURE.md draws: what the engine and core/models may import from core.
SHARED = {
    "core.errors",
    "core.text",
    "core.units",
    "core.jsonout",
    "core.schemas",
    "core.tf_runtime",
    "core.native_output",
    "core.plain_data",
    "core.cache",
    "core.engine",
    "core.adapters",
    "core.models",
}


def core_imports(folder: str) -> dict[str, set[str]]:
    """{file: the core packages/modules (two name parts) it imports}, top level or inside functions."""
    found: dict[str, set[str]] = {}
    for path in (REPO / folder).rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
        found[str(path.relative_to(REPO))] = {".".join(n.split(".")[:2]) for n in names if n.startswith("core.")}
    return found


def test_the_engine_and_core_models_import_nothing_above_them():
    above = {
        f: sorted(mods - SHARED) for f, mods in {**core_imports("core/engine"), **core_imports("core/models")}.items()
    }
    above = {f: mods for f, mods in above.items() if mods}
    assert core_imports("core/models")["core/models/loading.py"] & {"core.tf_runtime"}  # the scan sees imports
    assert above == {}, f"core/engine and core/models import from the layers above them: {above}"
