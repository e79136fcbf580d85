"""Architecture rules that a test can check: the engine never depends on the GUI."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN_IN_CORE = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "pyqtgraph", "superqt", "qtpy", "gui")


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module",
            "__import__",
        ):
            for arg in node.args[:1]:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    roots.add(arg.value.split(".")[0])
    return roots


def test_core_sources_import_no_qt_or_gui():
    offenders = {
        str(path.relative_to(REPO)): sorted(imported_roots(path) & set(FORBIDDEN_IN_CORE))
        for path in (REPO / "core").rglob("*.py")
    }
    offenders = {k: v for k, v in offenders.items() if v}
    assert offenders == {}, f"core must not import Qt or gui: {offenders}"


def test_importing_every_core_module_loads_no_qt():
    modules = sorted(
        ".".join(path.relative_to(REPO).with_suffix("").parts)
        for path in (REPO / "core").rglob("*.py")
        if path.name != "__main__.py"
    )
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN_IN_CORE!r}]\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_headless_cli_does_not_import_qt():
    code = (
        "import sys\n"
        "from gui.entry import main\n"
        "code = main(['--help'])\n"
        "assert code == 0, code\n"
        "bad = [m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph'))]\n"
        "sys.exit(1 if bad else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


# Private attributes of ai_edge_litert and Keras: read only in core/adapters/ (issue 13, item 2).
UPSTREAM_PRIVATE = frozenset(
    {
        # ai_edge_litert's Interpreter and SignatureRunner (core/adapters/litert.py)
        "_interpreter",
        "_get_ops_details",
        "_get_op_details",
        "_get_tensor_details",
        "_safe_to_run",
        "_subgraph_index",
        "_get_full_signature_list",
        "_interpreter_wrapper",
        # Keras's functional-graph internals (core/adapters/keras_internals.py)
        "_keras_history",
        "_nodes_by_depth",
        "_functional",
        "_inbound_nodes",
        "_outbound_nodes",
        "_run_through_graph",
        "_inputs_struct",
        "_outputs_struct",
        "_operations",
        # TensorFlow's converter and ai-edge-quantizer (core/adapters/tf_converter.py, ai_edge_quantizer.py)
        "_calibrator",
        "_comparison_results",
        "_experimental_disable_per_channel",
        # Keras's MultiHeadAttention (public properties exist: num_heads, key_dim, query_dense, ...)
        "_num_heads",
        "_key_dim",
        "_value_dim",
        "_attention_axes",
        "_query_dense",
        "_key_dense",
        "_value_dense",
        "_output_dense",
    }
)


def upstream_private_uses(path: Path) -> list[str]:
    """`obj._name` (obj not `self`) and the string "_name" (getattr/hasattr) for each private name above."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in UPSTREAM_PRIVATE
            and not (isinstance(node.value, ast.Name) and node.value.id == "self")
        ):
            found.append(f"{path.relative_to(REPO)}:{node.lineno} .{node.attr}")
        elif isinstance(node, ast.Constant) and node.value in UPSTREAM_PRIVATE:
            found.append(f"{path.relative_to(REPO)}:{node.lineno} {node.value!r}")
    return found


def test_upstream_private_names_are_read_only_in_core_adapters():
    adapters = REPO / "core" / "adapters"
    sources = [p for folder in ("core", "gui") for p in (REPO / folder).rglob("*.py") if adapters not in p.parents]
    offenders = [use for path in sources for use in upstream_private_uses(path)]
    assert offenders == [], "use core.adapters.litert / core.adapters.keras_internals instead: " + ", ".join(offenders)
    # The scan sees what it must: the adapters themselves hold these names.
    assert upstream_private_uses(adapters / "litert.py") and upstream_private_uses(adapters / "keras_internals.py")


def test_keras_src_is_imported_only_by_the_adapter_and_the_checked_loader():
    # core.models.loading patches keras.src.saving.saving_lib for its safety checks (loud on failure).
    allowed = {REPO / "core" / "adapters" / "keras_internals.py", REPO / "core" / "models" / "loading.py"}

    def imports_keras_src(path: Path) -> bool:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            )
            if any(n == "keras.src" or n.startswith("keras.src.") for n in names):
                return True
        return False

    offenders = sorted(
        str(p.relative_to(REPO))
        for folder in ("core", "gui")
        for p in (REPO / folder).rglob("*.py")
        if p not in allowed and imports_keras_src(p)
    )
    assert all(imports_keras_src(p) for p in allowed)  # the scan sees the imports it allows
    assert offenders == [], f"private keras.src imports outside core/adapters: {offenders}"


def core_cli_imports(path: Path) -> list[str]:
    """The `core.cli…` modules `path` imports (import, from-import, importlib.import_module with a constant)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names = (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else ([node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
        )
        if isinstance(node, ast.ImportFrom) and node.module == "core" and node.level == 0:
            names += [f"core.{a.name}" for a in node.names]  # from core import cli
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names.append(str(node.args[0].value))
        found += [n for n in names if n == "core.cli" or n.startswith("core.cli.")]
    return found


def test_gui_imports_no_core_cli():
    # The GUI and the CLI are two faces of core: what both need (reports, formatting) lives in core.
    # gui/entry.py is the `litesmith` program's entry point, not the GUI: it hands headless commands to the
    # CLI without importing Qt.
    entry = REPO / "gui" / "entry.py"
    offenders = {str(p.relative_to(REPO)): core_cli_imports(p) for p in (REPO / "gui").rglob("*.py") if p != entry}
    offenders = {k: v for k, v in offenders.items() if v}
    assert core_cli_imports(entry) == ["core.cli.main"]  # the scan sees the one import it allows
    assert offenders == {}, f"gui/ must not import core.cli (move what it needs to core/): {offenders}"


MAX_MODULE_LINES = 450  # issue 13: "no module is over 450 lines" (aim for 400: one job per module)


def test_no_module_in_core_or_gui_is_over_450_lines():
    sizes = {
        str(path.relative_to(REPO)): len(path.read_text().splitlines())
        for folder in ("core", "gui")
        for path in (REPO / folder).rglob("*.py")
    }
    assert len(sizes) > 100  # the walk found the packages
    too_long = {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES}
    assert not too_long, f"split these modules (one job each, <= 400 lines): {too_long}"
