"""The PySide6 6.12 `emit()` reference bug stays fixed: emitting must not drain `True`'s reference count."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal

import gui.pyside_fixes


class Emitter(QObject):
    number = Signal(int)
    flag = Signal(bool)


def test_many_emits_leave_true_alone():
    gui.pyside_fixes.apply()
    emitter = Emitter()
    received = []
    emitter.number.connect(received.append)
    before = sys.getrefcount(True)
    for i in range(3000):  # more than True's whole reference count in a small process
        emitter.number.emit(i)
        emitter.flag.emit(i % 2 == 0)
    assert len(received) == 3000
    assert abs(sys.getrefcount(True) - before) < 50
