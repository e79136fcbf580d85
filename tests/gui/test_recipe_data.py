"""The recipe's data box reads a CSV's header off the GUI thread; `gui.workers.call_in_thread` hands values back.

Oracles: the header written by the test itself, and the thread each read ran in
(`threading.main_thread()` is the GUI thread here).
"""

from __future__ import annotations

import threading

import pytest


@pytest.fixture
def panel(qtbot):
    from PySide6.QtGui import QAction

    from gui.panels.recipe_panel import RecipePanel

    panel = RecipePanel(QAction("Run"))
    qtbot.addWidget(panel)
    return panel


def _items(combo) -> list[str]:
    return [combo.itemText(i) for i in range(combo.count())]


def test_the_csv_header_is_read_in_a_worker_thread(qtbot, panel, tmp_path, monkeypatch):
    import gui.panels.data_section as data_section

    threads = []
    real = data_section.read_csv_header

    def recording(path):
        threads.append(threading.current_thread())
        return real(path)

    monkeypatch.setattr(data_section, "read_csv_header", recording)
    csv = tmp_path / "iris.csv"
    csv.write_text("\ufeffsepal length, sepal width ,,Class\n5.1,3.5,0,1\n", encoding="utf-8")  # a BOM, blanks
    panel.set_data_path(str(csv))
    assert panel.label_row.isVisibleTo(panel)
    qtbot.waitUntil(lambda: panel.data_box.columns_done == 1)
    assert threads and all(t is not threading.main_thread() for t in threads)
    assert _items(panel.label_column) == ["", "sepal length", "sepal width", "Class"]
    assert panel.label_column.currentText() == "Class"  # "class" is one of the obvious label names
    assert panel.settings().label_column == "Class"


def test_a_typed_label_stays_when_the_header_has_it(qtbot, panel, tmp_path):
    from gui.recipe import RunSettings

    csv = tmp_path / "t.csv"
    csv.write_text("label,f1,target\n0,1,2\n")
    panel.set_settings(RunSettings(data_path=str(csv), label_column="target"), include_data=True)
    qtbot.waitUntil(lambda: panel.data_box.columns_done == 1)
    assert panel.label_column.currentText() == "target" and _items(panel.label_column) == ["", "label", "f1", "target"]
    unreadable = tmp_path / "missing.csv"  # no such file: nothing offered, no error on the GUI thread
    panel.set_data_path(str(unreadable))
    qtbot.waitUntil(lambda: panel.data_box.columns_done == 2)
    assert _items(panel.label_column) == [""]


def test_a_header_for_data_no_longer_chosen_is_dropped(qtbot, panel, tmp_path, monkeypatch):
    import gui.panels.data_section as data_section

    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text("a,label\n1,0\n")
    second.write_text("x,y\n1,0\n")
    gate = threading.Event()
    real = data_section.read_csv_header

    def slow_for_first(path):
        if path.endswith("first.csv"):
            assert gate.wait(10)
        return real(path)

    monkeypatch.setattr(data_section, "read_csv_header", slow_for_first)
    panel.set_data_path(str(first))
    panel.set_data_path(str(second))
    qtbot.waitUntil(lambda: panel.data_box.columns_done == 1)  # the second file's header
    assert _items(panel.label_column) == ["", "x", "y"] and panel.label_column.currentText() == "y"
    gate.set()
    qtbot.waitUntil(lambda: panel.data_box.columns_done == 2)  # the first file's, late: dropped
    assert _items(panel.label_column) == ["", "x", "y"]


def test_call_in_thread_delivers_in_the_gui_thread_and_not_to_a_deleted_owner(qtbot):
    from PySide6.QtCore import QObject

    from gui.workers import call_in_thread

    got = []
    call_in_thread(lambda a, b: a * b, 6, 7, on_result=lambda v: got.append((v, threading.current_thread())))
    qtbot.waitUntil(lambda: len(got) == 1)
    assert got[0] == (42, threading.main_thread())

    errors = []
    call_in_thread(lambda: 1 / 0, on_result=got.append, on_error=lambda e: errors.append(type(e)))
    qtbot.waitUntil(lambda: errors == [ZeroDivisionError])

    owner = QObject()
    gate = threading.Event()
    worker = call_in_thread(gate.wait, 10, on_result=got.append, owner=owner)
    owner.deleteLater()
    qtbot.waitUntil(lambda: not _alive(owner))
    gate.set()
    worker.join(10)
    # Deliveries are queued in order: once a later one arrives, the one for the deleted owner was dropped.
    call_in_thread(lambda: "after", on_result=got.append)
    qtbot.waitUntil(lambda: len(got) == 2)
    assert got[1] == "after"


def _alive(obj) -> bool:
    import shiboken6

    return shiboken6.isValid(obj)
