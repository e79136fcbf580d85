"""The desktop app as tests/gui/test_quit.py kills it: the real `gui.app.launch`, lighter engine.

``python -m tests.gui.quit_driver`` opens the app offscreen (an engine without the
TensorFlow preload, no device detection), starts a job that ignores cancel and is
silent (like a converter deep in native code), prints ``child <pid>`` once it runs, and leaves the
rest to `launch()`: the test signals this process and reads its exit code.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> int:
    from PySide6.QtCore import QTimer

    import gui.app as app_module
    from core.engine import Engine
    from gui.main_window import MainWindow
    from tests.core.stopping_jobs import silent

    app = app_module.make_application()
    windows: list[MainWindow] = []

    def light_engine() -> Engine:
        return Engine(preload_tensorflow=False, memory_limit_mb=2048)

    def window(engine, settings, **kwargs) -> MainWindow:
        created = MainWindow(engine, settings, warm_up=False, device_job=None, **kwargs)
        windows.append(created)
        return created

    app_module.Engine = light_engine
    app_module.MainWindow = window
    said = []

    def start_job() -> None:
        runner = windows[0].runner

        def running(*_args) -> None:
            if not said:
                said.append(True)
                print(f"child {windows[0].engine.child_pid}", flush=True)

        runner.progress.connect(running)
        runner.submit(silent, 600.0, subject="model.keras")

    QTimer.singleShot(0, start_job)
    del app
    return app_module.launch()


if __name__ == "__main__":
    sys.exit(main())
