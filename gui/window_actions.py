"""The main window's actions and menus: File (with Recent Files), Run, Tools and Help.

`create_actions(window)` makes the QActions as attributes of the window (``open_action``,
``run_action``, ``export_variant_action``, …) and connects them to the window's methods;
`create_menus(window)` puts them in the menu bar; `rebuild_recent_menu(window)` refills
File > Recent Files from `window.recent` (a `gui.recent_files.RecentFiles`). Other
parts add their own actions next to these (`gui.custom_code`, `gui.recipe_files`,
`gui.serving.tab`).
"""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog

FILE_FILTER = "Models (*.keras *.h5 *.hdf5 *.tflite);;All files (*)"


def _action(
    window: Any,
    text: str,
    slot: Any,
    *,
    shortcut: QKeySequence | str | None = None,
    tip: str = "",
    enabled: bool = True,
) -> QAction:
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut) if isinstance(shortcut, str) else shortcut)
    if tip:
        action.setToolTip(tip)
    action.setEnabled(enabled)
    action.triggered.connect(slot)
    return action


def create_actions(window: Any) -> None:
    """Make the window's actions (attributes of `window`), each connected to the window's method."""
    w = window
    w.open_action = _action(
        w,
        "&Open Model…",
        lambda: open_file_dialog(w),
        shortcut=QKeySequence(QKeySequence.StandardKey.Open),
        tip="Open a .keras, .h5 or .tflite file",
    )
    w.open_folder_action = _action(
        w,
        "Open &SavedModel Folder…",
        lambda: open_folder_dialog(w),
        shortcut="Ctrl+Shift+O",
        tip="Open a TensorFlow SavedModel folder",
    )
    w.clear_recent_action = _action(w, "&Clear Recent Files", lambda: clear_recent(w))

    w.quit_action = _action(w, "&Quit", w.close)
    # Quit has no standard key on some desktops (and offscreen): fall back to Ctrl+Q.
    w.quit_action.setShortcuts(QKeySequence.keyBindings(QKeySequence.StandardKey.Quit) or [QKeySequence("Ctrl+Q")])
    w.quit_action.setMenuRole(QAction.MenuRole.QuitRole)

    w.cancel_action = _action(
        w, "Cancel Job", w._cancel_from_shortcut, shortcut=QKeySequence(Qt.Key.Key_Escape), enabled=False
    )
    w.addAction(w.cancel_action)

    w.run_action = _action(
        w,
        "&Run Recipe",
        w.start_run,
        shortcut="Ctrl+R",
        enabled=False,
        tip="Optimize the model, then benchmark the original and every variant",
    )
    w.auto_action = _action(
        w,
        "&Auto: Fastest Within Budget",
        w.start_auto,
        shortcut="Ctrl+Shift+R",
        enabled=False,
        tip="Try the recipes cheapest first and recommend the fastest variant that meets "
        "the budget set in the recipe panel",
    )
    w.devices_action = _action(
        w, "&Devices…", w.show_devices, tip="The CPU's inference features and the GPUs TensorFlow and the driver see"
    )
    w.clear_cache_action = _action(
        w,
        "Clear &Cache…",
        w.clear_cache_dialog,
        tip="Delete the cached variants and measurements (the next run measures afresh)",
    )
    w.export_variant_action = _action(
        w,
        "Export &Variant…",
        w.export_variant_dialog,
        shortcut="Ctrl+E",
        enabled=False,
        tip="Write the selected (or recommended) variant as a .tflite with its report",
    )
    w.export_report_action = _action(
        w,
        "Export &Report…",
        w.export_report_dialog,
        enabled=False,
        tip="Write the whole comparison as HTML (with charts) and JSON",
    )
    w.about_action = _action(w, "&About Litesmith", w.show_about)
    w.about_action.setMenuRole(QAction.MenuRole.AboutRole)


def create_menus(window: Any) -> None:
    """File, Run, Tools and Help in the window's menu bar (``file_menu``, ``run_menu``, … on `window`)."""
    w = window
    bar = w.menuBar()
    w.file_menu = bar.addMenu("&File")
    w.file_menu.addAction(w.open_action)
    w.file_menu.addAction(w.open_folder_action)
    w.recent_menu = w.file_menu.addMenu("Recent &Files")
    w.recent_menu.setObjectName("recentMenu")
    w.recent_menu.aboutToShow.connect(lambda: rebuild_recent_menu(w))
    w.file_menu.addSeparator()
    w.file_menu.addAction(w.quit_action)
    w.run_menu = bar.addMenu("&Run")
    for action in (w.run_action, w.auto_action, w.cancel_action):
        w.run_menu.addAction(action)
    w.run_menu.addSeparator()
    w.run_menu.addAction(w.export_variant_action)
    w.run_menu.addAction(w.export_report_action)
    w.tools_menu = bar.addMenu("&Tools")
    w.tools_menu.addAction(w.devices_action)
    w.tools_menu.addAction(w.clear_cache_action)
    w.help_menu = bar.addMenu("&Help")
    w.help_menu.addAction(w.devices_action)
    w.help_menu.addSeparator()
    w.help_menu.addAction(w.about_action)
    rebuild_recent_menu(w)


def rebuild_recent_menu(window: Any) -> list[str]:
    """Refill File > Recent Files (numbered, with each file's folder); returns the paths it lists."""
    menu = window.recent_menu
    menu.clear()
    paths = window.recent.paths()
    for number, path in enumerate(paths, start=1):
        name = os.path.basename(os.path.normpath(path))
        label = f"&{number} {name}" if number < 10 else f"1&0 {name}"
        action = menu.addAction(f"{label}   —   {os.path.dirname(path)}")
        action.setData(path)
        action.setToolTip(path)
        action.triggered.connect(lambda checked=False, p=path: window.load_model(p))
    if paths:
        menu.addSeparator()
        menu.addAction(window.clear_recent_action)
    menu.setEnabled(bool(paths))
    return list(paths)


def clear_recent(window: Any) -> None:
    """File > Recent Files > Clear Recent Files."""
    window.recent.clear()
    rebuild_recent_menu(window)


def open_file_dialog(window: Any) -> None:
    """File > Open Model…: ask for a file, remember its folder, open it."""
    path, _ = QFileDialog.getOpenFileName(window, "Open Model", window._last_dir(), FILE_FILTER)
    if path:
        window.settings.setValue("paths/last_dir", os.path.dirname(path))
        window.load_model(path)


def open_folder_dialog(window: Any) -> None:
    """File > Open SavedModel Folder…: ask for a folder, remember where it is, open it."""
    path = QFileDialog.getExistingDirectory(window, "Open SavedModel Folder", window._last_dir())
    if path:
        window.settings.setValue("paths/last_dir", os.path.dirname(os.path.normpath(path)))
        window.load_model(path)


__all__ = [
    "FILE_FILTER",
    "clear_recent",
    "create_actions",
    "create_menus",
    "open_file_dialog",
    "open_folder_dialog",
    "rebuild_recent_menu",
]
