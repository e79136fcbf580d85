"""The window speaks its own words: core notes that name CLI flags are shown with the app's controls instead.

Oracles: the core's own message constants and generators (what the CLI prints), and the window's
control names as the recipe panel and menus label them; the property checked is that no mapped flag
is left in what the window shows.
"""

from __future__ import annotations

import dataclasses
import re

import pytest

from gui.flag_hints import FLAG_CONTROLS, gui_words

FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


@pytest.mark.parametrize(
    "message, words",
    [
        (
            "use --task probs=multiclass if these are logits",
            'use Recipe → Model outputs → Scored as "multiclass" for probs if these are logits',
        ),
        (
            "the data cannot be matched: name it with --primary-output OUTPUT",
            "the data cannot be matched: name it with Recipe → Model outputs → Primary output",
        ),
        (
            "no data was given: give --data, or --input-shape frames=LEN,6.",
            "no data was given: choose data in Recipe → Data for calibration and evaluation, or "
            "Recipe → Input sizes (frames: LEN,6).",
        ),
        (
            "try selective quantization (--selective) or dynamic",
            "try selective quantization (Recipe → Quantization → Selective) or dynamic",
        ),
        ("raise it with --memory-limit-mb", "raise it with --memory-limit-mb"),  # not set in the app: kept
        ("a -- b", "a -- b"),
    ],
)
def test_gui_words_names_the_control(message, words):
    assert gui_words(message) == words


def test_core_messages_reach_the_window_without_mapped_flags():
    from core.data.synth import SYNTHETIC_WARNING, input_shape_flag
    from core.models.interface import TensorSpec

    flag = input_shape_flag(TensorSpec((None, None, 6), "float32", name="frames"))  # the CLI's own hint
    for message in (SYNTHETIC_WARNING, f"give {flag}", "choose one with --signature NAME when optimizing"):
        shown = gui_words(message)
        assert not [f for f in FLAG.findall(shown) if f in FLAG_CONTROLS], shown
    assert gui_words(f"give {flag}").startswith("give Recipe → Input sizes (frames: ")


def test_results_panel_shows_core_warnings_in_the_windows_words(qtbot):
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QAction

    from core.data.synth import SYNTHETIC_WARNING
    from core.errors import ErrorKind, JobError
    from gui.panels.results_panel import ResultsPanel
    from tests.gui.test_recipe_and_plots import fake_outcome

    outcome = fake_outcome()
    variants = list(outcome.optimize.variants)
    variants[2] = dataclasses.replace(
        variants[2], warnings=("poor fidelity; try selective quantization (--selective) or int16x8",)
    )
    optimize = dataclasses.replace(outcome.optimize, warnings=(SYNTHETIC_WARNING,), variants=tuple(variants))
    outcome = dataclasses.replace(
        outcome,
        optimize=optimize,
        benchmark_error=JobError(
            ErrorKind.BAD_INPUT, "the model has several signatures (choose one with --signature NAME)"
        ),
    )
    panel = ResultsPanel(QAction("Export Variant…"), QAction("Export Report…"))
    qtbot.addWidget(panel)
    panel.set_outcome(outcome)
    qtbot.waitUntil(lambda: panel.complete)
    text = panel.explanations.toPlainText()
    assert "Recipe → Data for calibration and evaluation" in text and "Recipe → Quantization → Selective" in text
    assert "Recipe → Model outputs → Signature" in panel.headline.text()
    model = panel.table.model()
    tooltips = [model.data(model.index(r, 0), Qt.ItemDataRole.ToolTipRole) for r in range(model.rowCount())]
    assert any("Recipe → Quantization → Selective" in (t or "") for t in tooltips)
    for shown in (text, panel.headline.text(), *(t or "" for t in tooltips)):
        assert not [f for f in FLAG.findall(shown) if f in FLAG_CONTROLS or f == "--selective"], shown
