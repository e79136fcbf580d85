"""Litesmith's engine: everything that loads, converts, measures or writes a model.

`core` never imports Qt, pyqtgraph or `gui` (tests/test_architecture.py enforces it).
The CLI (`core.cli`) and the desktop app (`gui`) are two thin faces of it.
"""

__version__ = "0.1.0"
