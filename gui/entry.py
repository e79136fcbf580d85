"""The `litesmith` console entry point.

With no command (or `gui`) it opens the desktop app; any other command goes to the
headless CLI in `core.cli` without importing Qt, so `litesmith inspect` stays fast
and works on machines without a display.
"""

from __future__ import annotations

import sys


def launch_gui(model: str | None = None, screenshot: str | None = None, run: bool = False) -> int:
    """Open the desktop app (`gui.app.launch`, imported only here so headless commands never load Qt); the exit code."""
    from gui.app import launch  # imports Qt: only when the GUI is asked for

    return launch(model=model, screenshot=screenshot, run=run)


def main(argv: list[str] | None = None) -> int:
    """The `litesmith` command: `argv` (default sys.argv[1:]) goes to `core.cli.main.main`, which opens the app
    through `launch_gui` for no command or `gui`; returns the process exit code (see DEVELOPERS.md).
    """
    from core.cli.main import main as cli_main

    return cli_main(sys.argv[1:] if argv is None else argv, gui_launcher=launch_gui)


if __name__ == "__main__":
    sys.exit(main())
