"""Work-arounds for bugs in the installed PySide6, applied when a probe shows the bug.

PySide6 6.12.0 on CPython < 3.12: ``SignalInstance.emit()`` returns ``True``
without taking a reference to it, so every signal emitted from Python (ours,
pyqtgraph's, pytest-qt's) lowers the reference count of ``True`` by one. After a
few hundred emits CPython aborts with "Fatal Python error: bool_dealloc:
deallocating True or False". (From 3.12 on, ``True`` is immortal and the bug is
harmless.) The fix wraps ``emit`` to give back the missing reference.

`apply()` is idempotent; every module of the app that emits signals imports this
module, so the fix is in place before the first emit.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

from PySide6.QtCore import QObject, Signal, SignalInstance

_applied = False
EMIT_LEAKS_TRUE = False


class _Probe(QObject):
    ping = Signal()


def _emit_leaks_true() -> bool:
    """True when `emit()` drops a reference to `True` (measured on a private signal)."""
    if sys.version_info >= (3, 12):
        return False  # True is immortal: its reference count never reaches zero
    probe = _Probe()
    samples = 8
    before = sys.getrefcount(True)
    for _ in range(samples):
        probe.ping.emit()
    lost = before - sys.getrefcount(True)
    if lost > 0:
        for _ in range(lost):  # give back what the probe itself took
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(True))
    return lost >= samples  # another thread may have moved the count a little; the bug moves it once per emit


def apply() -> None:
    """Probe the installed PySide6 once and, when `emit()` leaks `True`, wrap `SignalInstance.emit`; idempotent.

    Sets `EMIT_LEAKS_TRUE` to what the probe found.
    """
    global _applied, EMIT_LEAKS_TRUE
    if _applied:
        return
    _applied = True
    EMIT_LEAKS_TRUE = _emit_leaks_true()
    if not EMIT_LEAKS_TRUE:
        return
    original = SignalInstance.emit
    incref = ctypes.pythonapi.Py_IncRef
    py_object = ctypes.py_object

    def emit(self: SignalInstance, *args: Any) -> Any:
        result = original(self, *args)
        if result is True or result is False:
            incref(py_object(result))  # the reference PySide forgot to take
        return result

    emit.__doc__ = original.__doc__
    SignalInstance.emit = emit  # type: ignore[method-assign]  # the fix itself: replacing the method on purpose


apply()
