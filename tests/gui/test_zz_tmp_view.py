from PySide6.QtWidgets import QApplication
from tests.gui.test_free_dims import gru_model, gru_window  # noqa: F401
from tests.gui.helpers import RUN_TIMEOUT_MS, tiny_settings


def test_view(qtbot, gru_window):
    window = gru_window
    settings = tiny_settings(modes=("dynamic",), layer_errors=False, input_shapes=(("frames", (20, 6)),),
                             runs=None, seconds=0.1, auto_pruning=False)
    window.recipe_panel.set_settings(settings, include_data=True)
    with qtbot.waitSignals([window.auto_finished], timeout=RUN_TIMEOUT_MS, raising=False) as b:
        window.auto_action.trigger()
    QApplication.processEvents()
    print("SIGNAL", b.signal_triggered)
    if window.error_dialog is not None:
        print("ERR", window.error_dialog.text(), window.error_dialog.informativeText())
    r = window.auto_result
    if r is not None:
        for c in r.candidates:
            print(c.name, c.status, c.reason)
    window.resize(1320, 900)
    window.grab().save("/tmp/fd/auto.png")
