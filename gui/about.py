"""Help > About: what Litesmith runs on.

Versions of TensorFlow, Keras and LiteRT come from the installed packages'
metadata: importing TensorFlow in the GUI process would take seconds and memory,
and models only ever run in the engine's child process.
"""

from __future__ import annotations

import html
import platform

import PySide6
from PySide6.QtCore import qVersion

from core import __version__
from core.adapters import package_version as _package_version

DISTRIBUTIONS = (("TensorFlow", "tensorflow"), ("Keras", "keras"), ("LiteRT", "ai-edge-litert"))


def package_version(distribution: str) -> str:
    """The installed version of `distribution` (`core.adapters.package_version`: nothing is imported), or "not installed"."""
    return _package_version(distribution, missing="not installed")


def component_versions() -> list[tuple[str, str]]:
    """(component, version) pairs, Litesmith first."""
    rows = [("Litesmith", __version__)]
    rows += [(label, package_version(dist)) for label, dist in DISTRIBUTIONS]
    rows += [("Qt", qVersion()), ("PySide6", PySide6.__version__), ("Python", platform.python_version())]
    return rows


def sandbox_line() -> str:
    """What the engine's OS sandbox covers on this machine, and what is missing (never silent)."""
    from core.engine.sandbox import sandbox_status

    return f"Model engine sandbox: {sandbox_status().summary}"


def about_html() -> str:
    """Help > About as HTML: the description, the `component_versions` table and `sandbox_line` (escaped)."""
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td style='padding-left:16px'>{html.escape(version)}</td></tr>"
        for name, version in component_versions()
    )
    return (
        f"<h3>Litesmith {html.escape(__version__)}</h3>"
        "<p>Makes TensorFlow and Keras models fast: inspect, quantize, prune, benchmark and export "
        ".tflite. Models run in a separate, supervised engine process.</p>"
        f"<table>{rows}</table>"
        f"<p>{html.escape(sandbox_line())}</p>"
    )


def about_text() -> str:
    """The same facts as plain text (for copying into a bug report)."""
    return "\n".join([f"{name} {version}" for name, version in component_versions()] + [sandbox_line()])
