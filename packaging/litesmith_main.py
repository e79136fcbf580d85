"""The entry script of the frozen (PyInstaller) Litesmith app.

The engine runs model jobs in a child started with multiprocessing's "spawn" method
(core/engine/supervisor.py). In a frozen app `sys.executable` is the app itself, so
the child is started as `litesmith --multiprocessing-fork ...`: `freeze_support()`
must run first, before anything parses the command line, or the child would start
a second copy of the app instead of the engine. (PyInstaller's multiprocessing
runtime hook makes `freeze_support()` work on Linux and macOS too, not only Windows.)
"""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()  # in the engine's child: runs the child, then exits

    from gui.entry import main

    sys.exit(main())
