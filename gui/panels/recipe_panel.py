"""The recipe panel: data, the model's outputs, quantization modes, compression, benchmark settings, device, and Run.

The panel stacks its sections, each a box in a module of its own with `values()` (its
`gui.recipe.RunSettings` fields) and `apply(settings)`:

- `gui.panels.data_section`: the data file or folder (drops too) and a CSV's label column;
- `gui.panels.input_sizes`: the sizes of the open model's free dimensions (used without data);
- `gui.panels.outputs_box`: the signature, the primary output and per-output tasks;
- `gui.panels.quant_section`: the quantization modes and int8's options;
- `gui.panels.compression_section`: pruning and distillation (only the registered step kinds);
- `gui.panels.bench_section`: threads, batch sizes, how long, the p99 budget, the device;
- `gui.panels.auto_section`: auto mode's budget.

`settings()` reads the controls into a `RunSettings` (ValueError for a field that does not
parse, with the field named); `set_settings` puts saved ones back. The sections' controls
stay reachable as the panel's attributes (``panel.threads``, ``panel.mode_boxes``, ...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFrame, QHBoxLayout, QPushButton, QScrollArea, QSizePolicy, QVBoxLayout, QWidget

import gui.pyside_fixes  # noqa: F401 - PySide6 6.12 emit() bug: must be fixed before any emit
from gui.panels.auto_section import AutoSection
from gui.panels.bench_section import BenchSection
from gui.panels.common import hint_label
from gui.panels.compression_section import CompressionSection
from gui.panels.data_section import NO_DATA_FREE_TEXT, NO_DATA_TEXT, DataZone  # noqa: F401 - re-exported
from gui.panels.data_section import DataSection
from gui.panels.input_sizes import InputSizesBox
from gui.panels.outputs_box import OutputsBox
from gui.panels.quant_section import QuantSection
from gui.recipe import RunSettings

if TYPE_CHECKING:
    from core.hardware import DeviceReport
    from core.models.info import ModelInfo
    from core.optimize.results import SourceInfo

# Each section's controls, reachable on the panel under the same names (the window and tests use them).
_SECTION_CONTROLS = {
    "data_box": (
        "data_zone",
        "choose_data_button",
        "choose_folder_button",
        "clear_data_button",
        "label_column",
        "label_row",
        "data_warning",
    ),
    "quant_box": ("mode_boxes", "int8_options", "int8_io", "selective", "fidelity_target", "layer_errors"),
    "compression_box": ("prune", "sparsity", "distill", "epochs"),
    "bench_box": (
        "threads",
        "batch_sizes",
        "by_seconds",
        "by_runs",
        "seconds",
        "runs",
        "budget",
        "device",
        "gpu_memory",
        "profile",
        "device_state",
    ),
    "auto_box": ("auto_quality", "auto_value", "auto_max_size", "auto_pruning"),
}


class RecipePanel(QWidget):
    """The recipe: what to make and how to measure it. Signals ``changed()`` whenever a control changes (the
    window saves the recipe on Run) and ``data_chosen()`` when the data file or folder changes (the window
    warms the engine up for it). `run_action` and `auto_action` are triggered by the Run and Auto buttons
    (no Auto button without one)."""

    changed = Signal()
    data_chosen = Signal()

    def __init__(self, run_action: QAction, auto_action: QAction | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("recipePanel")
        self.data_box = DataSection()
        self.data_box.changed.connect(self.changed)
        self.data_box.data_chosen.connect(self.data_chosen)
        self.input_sizes = InputSizesBox()
        self.input_sizes.changed.connect(self.changed)
        self.outputs_box = OutputsBox()
        self.outputs_box.changed.connect(self.changed)
        self.quant_box = QuantSection()
        self.compression_box = CompressionSection()
        self.bench_box = BenchSection()
        self.auto_box = AutoSection(self.outputs_box.primary_task)
        self.outputs_box.changed.connect(self.auto_box.quality_changed)  # the primary task sets the budget's unit
        for section in (self.quant_box, self.compression_box, self.bench_box, self.auto_box):
            section.changed.connect(self.changed)
        for section_name, names in _SECTION_CONTROLS.items():
            section = getattr(self, section_name)
            for name in names:
                setattr(self, name, getattr(section, name))
        self._build_buttons(run_action, auto_action)
        self._lay_out()
        self.set_settings(RunSettings())

    def _build_buttons(self, run_action: QAction, auto_action: QAction | None) -> None:
        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("runButton")
        self.run_button.setToolTip("Optimize, then benchmark the original and every variant (Ctrl+R)")
        font = self.run_button.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.run_button.setFont(font)
        self.run_button.setMinimumHeight(self.run_button.sizeHint().height() + 8)
        self.run_button.clicked.connect(run_action.trigger)
        self.run_hint = hint_label(
            "Run (Ctrl+R): your recipe, measured · Auto (Ctrl+Shift+R): the fastest variant within the budget below"
        )
        self.auto_button = QPushButton("Auto")
        self.auto_button.setObjectName("autoButton")
        self.auto_button.setToolTip("Search the recipes for the fastest variant within the Auto budget (Ctrl+Shift+R)")
        self.auto_button.setFont(font)
        self.auto_button.setMinimumHeight(self.run_button.minimumHeight())
        if auto_action is not None:
            self.auto_button.clicked.connect(auto_action.trigger)
        else:
            self.auto_button.setVisible(False)

    def _lay_out(self) -> None:
        content = QWidget()
        content_layout = QVBoxLayout(content)
        content_layout.setContentsMargins(8, 8, 8, 8)
        for box in (
            self.data_box,
            self.input_sizes,
            self.outputs_box,
            self.quant_box,
            self.compression_box,
            self.bench_box,
            self.auto_box,
        ):
            box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
            content_layout.addWidget(box)
        content_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(content)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll_area = scroll  # not `scroll`: that would hide QWidget.scroll(dx, dy)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 8)
        layout.addWidget(scroll, 1)
        bottom = QVBoxLayout()
        bottom.setContentsMargins(8, 0, 8, 0)
        buttons_row = QHBoxLayout()
        buttons_row.addWidget(self.run_button, 3)
        buttons_row.addWidget(self.auto_button, 2)
        bottom.addLayout(buttons_row)
        bottom.addWidget(self.run_hint)
        layout.addLayout(bottom)

    # -- data ----------------------------------------------------------------------------

    @property
    def data_path(self) -> str | None:
        """The chosen data file or folder (absolute), or None: inputs are synthesized."""
        return self.data_box.data_path

    @property
    def compression_enabled(self) -> bool:
        """False for a source that is not a Keras model (pruning and distillation need one)."""
        return self.compression_box.compression_enabled

    def set_last_dir(self, folder: str) -> None:
        """The folder the data dialogs open in."""
        self.data_box.set_last_dir(folder)

    def offer_data(self, path: str | None) -> bool:
        """Select `path`, found beside the opened model, unless the user chose data (`DataSection.offer_data`)."""
        return self.data_box.offer_data(path)

    def set_data_path(self, path: str | None) -> None:
        """Choose the data file or folder (None: none). A CSV's label columns are offered once a worker thread
        has read its header (`DataSection`)."""
        self.data_box.set_data_path(path)

    def set_source_format(self, fmt: str) -> None:
        """Pruning and distillation change a Keras model: offered only for .keras and .h5 sources."""
        self.compression_box.set_source_format(fmt)

    def set_model_info(self, info: ModelInfo) -> None:
        """A model was opened (its ModelInfo): its free input sizes, outputs and signatures, choices back to the
        defaults."""
        self.input_sizes.set_model(info)
        self.data_box.set_free_inputs(bool(self.input_sizes.fields))
        self.outputs_box.set_model(info)

    def set_source(self, source: SourceInfo | None) -> None:
        """After a run or an auto search (its SourceInfo): the engine's output names and the inferred tasks."""
        if source is not None:
            self.outputs_box.set_source(source)
            self.auto_box.quality_changed()  # an inferred regression task: the budget in the target's units

    def set_devices(self, report: DeviceReport | None) -> None:
        """Fill the device combo from a `core.hardware.DeviceReport` (None: detection failed)."""
        self.bench_box.set_devices(report)

    # -- settings ---------------------------------------------------------------------------

    def _update_enabled(self, *_args: object) -> None:
        for section in (self.quant_box, self.compression_box, self.bench_box):
            section.update_enabled()

    def settings(self) -> RunSettings:
        """The controls as RunSettings; ValueError naming the field that does not parse."""
        bench = self.bench_box.values()  # first: Threads and Batch sizes are named before Input sizes
        try:
            input_shapes = self.input_sizes.shapes()
        except ValueError as exc:
            raise ValueError(f"Input sizes: {exc}") from None
        return RunSettings(
            **self.data_box.values(),
            **self.quant_box.values(),
            **self.compression_box.values(),
            **bench,
            **self.auto_box.values(),
            signature=self.outputs_box.signature_choice(),
            primary_output=self.outputs_box.primary_output(),
            tasks=self.outputs_box.task_overrides(),
            auto_task=self.outputs_box.primary_task(),
            input_shapes=input_shapes,
        )

    def set_settings(self, settings: RunSettings, *, include_data: bool = False) -> None:
        """Put saved settings back; the data, outputs and input sizes only with `include_data` (a recipe file
        names them for its own model)."""
        self.quant_box.apply(settings)
        self.compression_box.apply(settings)
        self.bench_box.apply(settings)
        self.auto_box.apply(settings)
        self.data_box.label_column.setEditText(settings.label_column)
        if include_data:
            self.set_data_path(settings.data_path)
            self.outputs_box.apply(settings.signature, settings.primary_output, settings.tasks)
            self.input_sizes.apply(settings.input_shapes)
        elif self.data_path is None:
            self.set_data_path(None)
        self._update_enabled()


__all__ = ["DataZone", "RecipePanel"]
