"""The recipe panel: data, the model's outputs, quantization modes, compression, benchmark settings, device, and Run.

`settings()` reads the controls into a `gui.recipe.RunSettings` (ValueError for
a field that does not parse, with the field named); `set_settings` puts saved
ones back. Compression controls exist only when the optimizer has those step
kinds registered. The data zone takes dropped files and folders. The "Input sizes"
box (`gui.panels.input_sizes`) takes the sizes of the open model's free dimensions
(used without data); the "Model outputs" box (`gui.panels.outputs_box`) chooses the
signature, the primary output and per-output tasks of the open model
(`set_model_info`, `set_source`).
"""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QPalette
from PySide6.QtWidgets import (
    QButtonGroup, QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QFrame, QGroupBox, QHBoxLayout,
    QLabel, QLineEdit, QPushButton, QRadioButton, QScrollArea, QSizePolicy, QSpinBox, QVBoxLayout, QWidget,
)

import gui.pyside_fixes  # noqa: F401 - PySide6 6.12 emit() bug: must be fixed before any emit
from gui.panels.input_sizes import InputSizesBox
from gui.panels.outputs_box import OutputsBox
from gui.recipe import (
    DATA_FILTER, DEVICE_CPU, DISTILL, MAGNITUDE_PRUNE, MODE_LABELS, QUANT_MODES, STRUCTURED_PRUNE, RunSettings,
    budget_in_target_units, compression_kinds, is_data_path, parse_int_list,
)

NO_DATA_TEXT = ("No data: inputs will be synthesized from the model's input shape. Accuracy cannot be "
                "measured, and int8 calibration on random inputs misleads: choose real samples for int8.")
NO_DATA_FREE_TEXT = ("No data: inputs will be synthesized at the Input sizes below. Accuracy cannot be "
                     "measured, and int8 calibration on random inputs misleads: choose real samples for int8.")


def _hint(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    return label


class DataZone(QFrame):
    """Shows the chosen data file; takes drops of .npz/.npy/.csv files and image folders."""

    dropped = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("dataZone")
        self.setAcceptDrops(True)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setFrameShadow(QFrame.Shadow.Sunken)
        self.name = QLabel("Drop a data file here")
        self.name.setObjectName("dataName")
        font = self.name.font()
        font.setBold(True)
        self.name.setFont(font)
        self.name.setWordWrap(True)
        self.detail = _hint(".npz (x, y), .npy, .csv or an image folder (one subfolder per class)")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addWidget(self.name)
        layout.addWidget(self.detail)

    @staticmethod
    def _paths(event) -> list[str]:
        mime = event.mimeData()
        if not mime.hasUrls():
            return []
        return [u.toLocalFile() for u in mime.urls() if u.isLocalFile() and is_data_path(u.toLocalFile())]

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self._paths(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = self._paths(event)
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.dropped.emit(paths[0])


class RecipePanel(QWidget):
    """Signal ``changed()`` whenever a control changes (the window saves the recipe on Run)."""

    changed = Signal()
    data_chosen = Signal()     # the data file or folder changed (the window warms the engine up for it)

    def __init__(self, run_action: QAction, auto_action: QAction | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("recipePanel")
        self.data_path: str | None = None
        self._offered_data: str | None = None   # the data path chosen for the user from beside the model
        self.compression_enabled = True
        self._last_dir = os.path.expanduser("~")

        # -- data
        self.data_box = QGroupBox("Data for calibration and evaluation")
        self.data_zone = DataZone()
        self.data_zone.dropped.connect(self.set_data_path)
        self.choose_data_button = QPushButton("File…")
        self.choose_data_button.setObjectName("chooseDataButton")
        self.choose_data_button.clicked.connect(self._choose_file)
        self.choose_folder_button = QPushButton("Folder…")
        self.choose_folder_button.setToolTip("An image folder: one subfolder per class")
        self.choose_data_button.setToolTip("A .npz (x, y), .npy or .csv file")
        self.choose_folder_button.clicked.connect(self._choose_folder)
        self.clear_data_button = QPushButton("Clear")
        self.clear_data_button.setObjectName("clearDataButton")
        self.clear_data_button.clicked.connect(lambda: self.set_data_path(None))
        buttons = QHBoxLayout()
        buttons.addWidget(self.choose_data_button)
        buttons.addWidget(self.choose_folder_button)
        buttons.addWidget(self.clear_data_button)
        buttons.addStretch(1)
        self.label_column = QComboBox()
        self.label_column.setEditable(True)
        self.label_column.setObjectName("labelColumn")
        self.label_column.lineEdit().setPlaceholderText("none: unlabelled")
        self.label_column.setToolTip("The CSV column that holds the labels; every other column is an input feature")
        self.label_column.editTextChanged.connect(self.changed)
        self.label_row = QWidget()
        label_layout = QHBoxLayout(self.label_row)
        label_layout.setContentsMargins(0, 0, 0, 0)
        label_layout.addWidget(QLabel("Label column:"))
        label_layout.addWidget(self.label_column, 1)
        self.data_warning = QLabel(NO_DATA_TEXT)
        self.data_warning.setObjectName("noDataWarning")
        self.data_warning.setWordWrap(True)
        data_layout = QVBoxLayout(self.data_box)
        data_layout.addWidget(self.data_zone)
        data_layout.addLayout(buttons)
        data_layout.addWidget(self.label_row)
        data_layout.addWidget(self.data_warning)

        # -- the sizes of the open model's free dimensions (used without data)
        self.input_sizes = InputSizesBox()
        self.input_sizes.changed.connect(self.changed)

        # -- the open model's outputs: signature, primary output, tasks
        self.outputs_box = OutputsBox()
        self.outputs_box.changed.connect(self.changed)

        # -- quantization
        self.quant_box = QGroupBox("Quantization")
        quant_layout = QVBoxLayout(self.quant_box)
        quant_layout.setSpacing(3)
        fp32 = QCheckBox(MODE_LABELS["fp32"])
        fp32.setChecked(True)
        fp32.setEnabled(False)
        fp32.setToolTip("The plain .tflite conversion: every size ratio is relative to it")
        quant_layout.addWidget(fp32)
        self.mode_boxes: dict[str, QCheckBox] = {}
        for mode in QUANT_MODES:
            box = QCheckBox(MODE_LABELS[mode])
            box.setObjectName(f"mode_{mode}")
            box.toggled.connect(self._update_enabled)
            box.toggled.connect(self.changed)
            quant_layout.addWidget(box)
            self.mode_boxes[mode] = box
            if mode == "int8":
                self.int8_options = QWidget()
                opts = QVBoxLayout(self.int8_options)
                opts.setContentsMargins(22, 0, 0, 2)
                opts.setSpacing(2)
                self.int8_io = QCheckBox("int8 inputs and outputs")
                self.int8_io.setObjectName("int8Io")
                self.int8_io.setToolTip("The caller quantizes inputs itself (microcontrollers, NPUs)")
                self.selective = QCheckBox("Selective: sensitive layers in float")
                self.selective.setObjectName("selective")
                self.selective.setToolTip("Adds the most sensitive layers to float, one at a time, until the "
                                          "fidelity target is met on the calibration data")
                self.fidelity_target = QDoubleSpinBox()
                self.fidelity_target.setObjectName("fidelityTarget")
                self.fidelity_target.setRange(0.0, 1.0)
                self.fidelity_target.setDecimals(4)
                self.fidelity_target.setSingleStep(0.001)
                self.fidelity_target.setSpecialValueText("auto")
                self.fidelity_target.setToolTip("Top-1 agreement (multiclass) or cosine similarity (otherwise); "
                                                "auto: 0.99 agreement or 0.999 cosine")
                target_row = QHBoxLayout()
                target_row.setContentsMargins(22, 0, 0, 0)
                target_row.addWidget(QLabel("Fidelity target:"))
                target_row.addWidget(self.fidelity_target, 1)
                self.layer_errors = QCheckBox("Measure per-layer error")
                self.layer_errors.setObjectName("layerErrors")
                for w in (self.int8_io, self.selective, self.layer_errors):
                    w.toggled.connect(self._update_enabled)
                    w.toggled.connect(self.changed)
                self.fidelity_target.valueChanged.connect(self.changed)
                opts.addWidget(self.int8_io)
                opts.addWidget(self.selective)
                opts.addLayout(target_row)
                opts.addWidget(self.layer_errors)
                quant_layout.addWidget(self.int8_options)

        # -- compression (only the step kinds the optimizer knows)
        known = compression_kinds()
        self.compression_box = QGroupBox("Compression (Keras models)")
        self.compression_box.setObjectName("compressionBox")
        comp_form = QFormLayout(self.compression_box)
        comp_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.prune = QComboBox()
        self.prune.setObjectName("prune")
        self.prune.addItem("None", "")
        if MAGNITUDE_PRUNE in known:
            self.prune.addItem("Magnitude (weights)", "magnitude")
        if STRUCTURED_PRUNE in known:
            self.prune.addItem("Structured (filters, units)", "structured")
        self.prune.setToolTip("Magnitude pruning zeroes weights (smaller when compressed); structured pruning "
                              "removes whole filters and units (smaller and faster)")
        self.sparsity = QDoubleSpinBox()
        self.sparsity.setObjectName("sparsity")
        self.sparsity.setRange(0.05, 0.95)
        self.sparsity.setSingleStep(0.05)
        self.sparsity.setValue(0.5)
        self.distill = QCheckBox("Distill into a smaller student")
        self.distill.setObjectName("distill")
        self.distill.setToolTip("The pruned model with structured pruning, else a copy half as wide")
        self.epochs = QSpinBox()
        self.epochs.setObjectName("epochs")
        self.epochs.setRange(0, 200)
        self.epochs.setValue(2)
        self.epochs.setToolTip("Fine-tuning / distillation epochs")
        self.prune.currentIndexChanged.connect(self._update_enabled)
        self.prune.currentIndexChanged.connect(self.changed)
        self.distill.toggled.connect(self._update_enabled)
        self.distill.toggled.connect(self.changed)
        self.sparsity.valueChanged.connect(self.changed)
        self.epochs.valueChanged.connect(self.changed)
        if self.prune.count() > 1:
            comp_form.addRow("Prune:", self.prune)
            comp_form.addRow("Sparsity:", self.sparsity)
        if DISTILL in known:
            comp_form.addRow(self.distill)
        comp_form.addRow("Epochs:", self.epochs)
        comp_form.addRow(_hint("Each chosen variant also gets a compressed twin. Fine-tuning uses the data "
                               "(labels when it has them) and takes longer."))
        self.compression_box.setVisible(bool(known))

        # -- benchmark
        self.bench_box = QGroupBox("Benchmark")
        form = QFormLayout(self.bench_box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.threads = QLineEdit("1")
        self.threads.setObjectName("threads")
        self.threads.setToolTip("LiteRT thread counts, e.g. 1, 2, 4")
        self.batch_sizes = QLineEdit("1")
        self.batch_sizes.setObjectName("batchSizes")
        self.batch_sizes.setToolTip("Batch sizes, e.g. 1, 8, 32")
        self.by_seconds = QRadioButton("time")
        self.by_runs = QRadioButton("calls")
        self.by_seconds.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.by_seconds)
        group.addButton(self.by_runs)
        self.seconds = QDoubleSpinBox()
        self.seconds.setObjectName("seconds")
        self.seconds.setRange(0.1, 60.0)
        self.seconds.setSingleStep(0.5)
        self.seconds.setValue(1.0)
        self.seconds.setSuffix(" s")
        self.runs = QSpinBox()
        self.runs.setObjectName("runs")
        self.runs.setRange(1, 1_000_000)
        self.runs.setValue(200)
        self.runs.setSuffix(" calls")
        self.seconds.setToolTip("Seconds per configuration")
        self.runs.setToolTip("Measured calls per configuration")
        measure = QVBoxLayout()
        measure.setSpacing(2)
        for radio, spin in ((self.by_seconds, self.seconds), (self.by_runs, self.runs)):
            row = QHBoxLayout()
            radio.setMinimumWidth(radio.sizeHint().width())
            row.addWidget(radio)
            row.addWidget(spin, 1)
            measure.addLayout(row)
        self.budget = QDoubleSpinBox()
        self.budget.setObjectName("budget")
        self.budget.setRange(0.01, 100_000.0)
        self.budget.setDecimals(2)
        self.budget.setValue(10.0)
        self.budget.setSuffix(" ms")
        self.budget.setToolTip("p99 latency the recommendation must stay within")
        self.device = QComboBox()
        self.device.setObjectName("device")
        self.device.addItem("CPU", DEVICE_CPU)
        self.gpu_memory = QSpinBox()
        self.gpu_memory.setObjectName("gpuMemory")
        self.gpu_memory.setRange(0, 1_000_000)
        self.gpu_memory.setSingleStep(512)
        self.gpu_memory.setSuffix(" MB")
        self.gpu_memory.setSpecialValueText("no cap")
        self.gpu_memory.setToolTip("Cap the GPU memory TensorFlow may take for the baseline (a fresh engine only)")
        self.gpu_memory.valueChanged.connect(self.changed)
        self.profile = QCheckBox("Profile: time per layer, data vs model")
        self.profile.setObjectName("profile")
        self.profile.setToolTip("Times every layer of the Keras baseline; with an .npz data file, also how much "
                                "time goes to loading and preparing batches versus the model (Results > Profile)")
        self.profile.toggled.connect(self.changed)
        self.device_state = _hint("Looking for GPUs…")
        self.device_state.setObjectName("deviceState")
        for w in (self.threads, self.batch_sizes):
            w.textChanged.connect(self.changed)
        for w in (self.seconds, self.budget):
            w.valueChanged.connect(self.changed)
        self.runs.valueChanged.connect(self.changed)
        self.by_seconds.toggled.connect(self._update_enabled)
        self.by_seconds.toggled.connect(self.changed)
        self.device.currentIndexChanged.connect(self.changed)
        form.addRow("Threads:", self.threads)
        form.addRow("Batch sizes:", self.batch_sizes)
        form.addRow("Measure for:", measure)
        form.addRow("Latency budget:", self.budget)
        device_row = QHBoxLayout()
        device_row.addWidget(self.device, 1)
        device_row.addWidget(self.gpu_memory)
        form.addRow("Baseline on:", device_row)
        self.device.setToolTip("Where the original Keras model runs as the baseline")
        self.device.currentIndexChanged.connect(self._update_enabled)
        form.addRow("", self.device_state)
        form.addRow(self.profile)

        # -- auto mode's budget
        self.auto_box = QGroupBox("Auto: fastest within a budget")
        self.auto_box.setObjectName("autoBox")
        auto_form = QFormLayout(self.auto_box)
        auto_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.auto_quality = QComboBox()
        self.auto_quality.setObjectName("autoQuality")
        self.auto_quality.addItem("Agreement ≥", "agreement")
        self.auto_quality.addItem("Accuracy drop ≤", "accuracy")
        self.auto_quality.setToolTip("Agreement with the original's outputs (no labels needed), or the drop in "
                                     "accuracy on labelled data (PR-AUC for binary tasks), in points; for a regression, the increase "
                                     "in mean absolute error, in the target's own units")
        self.auto_value = QDoubleSpinBox()
        self.auto_value.setObjectName("autoValue")
        self.auto_value.setDecimals(2)
        self.auto_max_size = QDoubleSpinBox()
        self.auto_max_size.setObjectName("autoMaxSize")
        self.auto_max_size.setRange(0.0, 100_000.0)
        self.auto_max_size.setDecimals(2)
        self.auto_max_size.setSuffix(" MB")
        self.auto_max_size.setSpecialValueText("no limit")
        self.auto_max_size.setToolTip("Largest .tflite file size allowed (MiB)")
        self.auto_pruning = QCheckBox("Try pruning when it can pay")
        self.auto_pruning.setObjectName("autoPruning")
        self.auto_pruning.setToolTip("Structured pruning (Keras models) when the model is slow enough for it to "
                                     "matter; it fine-tunes, so it takes longer")
        self._auto_values = {"agreement": 99.0, "accuracy": 1.0}
        self.auto_quality.currentIndexChanged.connect(self._auto_quality_changed)
        self.outputs_box.changed.connect(self._auto_quality_changed)   # the primary task sets the budget's unit
        self.auto_value.valueChanged.connect(self._remember_auto_value)
        for w in (self.auto_value, self.auto_max_size):
            w.valueChanged.connect(self.changed)
        self.auto_quality.currentIndexChanged.connect(self.changed)
        self.auto_pruning.toggled.connect(self.changed)
        quality_row = QHBoxLayout()
        quality_row.addWidget(self.auto_quality)
        quality_row.addWidget(self.auto_value, 1)
        auto_form.addRow(quality_row)
        auto_form.addRow("Max size:", self.auto_max_size)
        auto_form.addRow(self.auto_pruning)

        # -- run
        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("runButton")
        self.run_button.setToolTip("Optimize, then benchmark the original and every variant (Ctrl+R)")
        font = self.run_button.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.run_button.setFont(font)
        self.run_button.setMinimumHeight(self.run_button.sizeHint().height() + 8)
        self.run_button.clicked.connect(run_action.trigger)
        self.run_hint = _hint("Run (Ctrl+R): your recipe, measured · Auto (Ctrl+Shift+R): the fastest variant "
                              "within the budget below")
        self.auto_button = QPushButton("Auto")
        self.auto_button.setObjectName("autoButton")
        self.auto_button.setToolTip("Search the recipes for the fastest variant within the Auto budget (Ctrl+Shift+R)")
        self.auto_button.setFont(font)
        self.auto_button.setMinimumHeight(self.run_button.minimumHeight())
        if auto_action is not None:
            self.auto_button.clicked.connect(auto_action.trigger)
        else:
            self.auto_button.setVisible(False)

        content = QWidget()
        content_layout = QVBoxLayout(content)
        content_layout.setContentsMargins(8, 8, 8, 8)
        for box in (self.data_box, self.input_sizes, self.outputs_box, self.quant_box, self.compression_box,
                    self.bench_box, self.auto_box):
            box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
            content_layout.addWidget(box)
        content_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(content)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll = scroll

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

        self.set_settings(RunSettings())

    # -- data ----------------------------------------------------------------------------

    def set_last_dir(self, folder: str) -> None:
        self._last_dir = folder

    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose Data", self._last_dir, DATA_FILTER)
        if path:
            self._last_dir = os.path.dirname(path)
            self.set_data_path(path)

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose an Image Folder (one subfolder per class)",
                                                self._last_dir)
        if path:
            self._last_dir = os.path.dirname(os.path.normpath(path))
            self.set_data_path(path)

    def offer_data(self, path: str | None) -> bool:
        """Select `path`, found beside the opened model (`core.data.companions`), unless the user chose data.

        Data the user chose stays; an earlier offer (another model's data) is replaced, or cleared
        when `path` is None (nothing beside this model). True when `path` was selected.
        """
        if self.data_path is not None and self.data_path != self._offered_data:
            return False
        if path is None:
            if self._offered_data is not None:
                self.set_data_path(None)
            return False
        self.set_data_path(path)
        self._offered_data = self.data_path
        self.data_zone.detail.setText(f"found beside the model · {os.path.dirname(self.data_path)}")
        return True

    def set_data_path(self, path: str | None) -> None:
        self._offered_data = None
        self.data_path = os.path.abspath(path) if path else None
        if self.data_path is None:
            self.data_zone.name.setText("No data chosen")
            self.data_zone.detail.setText("Drop a .npz (x, y), .npy, .csv file or an image folder here")
            self.data_zone.setToolTip("")
        else:
            name = os.path.basename(os.path.normpath(self.data_path))
            kind = "image folder" if os.path.isdir(self.data_path) else os.path.splitext(name)[1].lstrip(".").upper()
            self.data_zone.name.setText(name)
            self.data_zone.detail.setText(f"{kind} · {os.path.dirname(self.data_path)}")
            self.data_zone.setToolTip(self.data_path)
        is_csv = bool(self.data_path and self.data_path.lower().endswith(".csv"))
        self.label_row.setVisible(is_csv)
        if is_csv:
            self._offer_columns(self.data_path)
        self.data_warning.setVisible(self.data_path is None)
        self.clear_data_button.setEnabled(self.data_path is not None)
        self.changed.emit()
        self.data_chosen.emit()

    def _offer_columns(self, path: str) -> None:
        """Offer the CSV's header names as label columns; pick an obvious one ("label", "class", ...)."""
        import csv

        try:
            with open(path, newline="", encoding="utf-8-sig") as fh:
                header = next(csv.reader(fh), [])
        except (OSError, UnicodeDecodeError, csv.Error):
            header = []
        header = [h.strip() for h in header if h.strip()]
        typed = self.label_column.currentText().strip()
        self.label_column.blockSignals(True)
        self.label_column.clear()
        self.label_column.addItem("")
        self.label_column.addItems(header)
        obvious = next((h for h in header if h.lower() in ("label", "labels", "class", "target", "y")), "")
        self.label_column.setEditText(typed if typed in header else obvious)
        self.label_column.blockSignals(False)

    def set_source_format(self, fmt: str) -> None:
        """Pruning and distillation change a Keras model: offered only for .keras and .h5 sources."""
        keras = str(fmt) in ("keras", "h5")
        self.compression_enabled = keras
        self.compression_box.setEnabled(keras)
        self.compression_box.setToolTip("" if keras else "Pruning and distillation need a Keras model (.keras or .h5)")

    def set_model_info(self, info) -> None:
        """A model was opened (its ModelInfo): its free input sizes, outputs and signatures, choices back to the
        defaults."""
        self.input_sizes.set_model(info)
        self.data_warning.setText(NO_DATA_FREE_TEXT if self.input_sizes.fields else NO_DATA_TEXT)
        self.outputs_box.set_model(info)

    def set_source(self, source) -> None:
        """After a run or an auto search (its SourceInfo): the engine's output names and the inferred tasks."""
        if source is not None:
            self.outputs_box.set_source(source)
            self._auto_quality_changed()     # an inferred regression task: the budget in the target's units

    # -- devices --------------------------------------------------------------------------

    def set_devices(self, report) -> None:
        """Fill the device combo from a `core.hardware.DeviceReport` (None: detection failed)."""
        wanted = self.device.currentData()
        self.device.blockSignals(True)
        self.device.clear()
        cpu_name = getattr(getattr(report, "cpu", None), "model", "") or ""
        self.device.addItem("CPU", DEVICE_CPU)
        self.device.setItemData(0, cpu_name or "CPU", Qt.ItemDataRole.ToolTipRole)
        gpus = tuple(getattr(report, "tf_gpus", ()) or ())
        for gpu in gpus:
            memory = f", {gpu.memory_total_mb / 1024:.0f} GiB" if gpu.memory_total_mb else ""
            self.device.addItem(f"GPU {gpu.index}: {gpu.name}{memory}", gpu.device or f"/GPU:{gpu.index}")
        index = self.device.findData(wanted)
        self.device.setCurrentIndex(max(0, index))
        self.device.blockSignals(False)
        if report is None:
            self.device_state.setText("Could not look for GPUs: the baseline runs on the CPU")
        elif not gpus:
            self.device_state.setText("CPU only: TensorFlow sees no GPU")
        else:
            self.device_state.setText(f"{len(gpus)} GPU(s) found")
        self.device.setEnabled(bool(gpus))

    # -- settings ---------------------------------------------------------------------------

    def _update_enabled(self, *_args) -> None:
        int8 = self.mode_boxes["int8"].isChecked()
        self.int8_options.setEnabled(int8)
        self.int8_io.setEnabled(int8 and not self.selective.isChecked())
        self.selective.setEnabled(int8 and not self.int8_io.isChecked())
        self.fidelity_target.setEnabled(int8 and self.selective.isChecked())
        self.seconds.setEnabled(self.by_seconds.isChecked())
        pruning = bool(self.prune.currentData())
        self.sparsity.setEnabled(pruning)
        self.epochs.setEnabled(pruning or self.distill.isChecked())
        self.runs.setEnabled(not self.by_seconds.isChecked())
        self.gpu_memory.setEnabled("GPU" in str(self.device.currentData() or "").upper())

    def _auto_quality_changed(self, *_args) -> None:
        kind = self.auto_quality.currentData()
        self.auto_value.blockSignals(True)
        target_units = budget_in_target_units(self.outputs_box.primary_task())
        accuracy = self.auto_quality.findData("accuracy")
        self.auto_quality.setItemText(accuracy, "MAE increase ≤" if target_units else "Accuracy drop ≤")
        if kind == "accuracy" and target_units:   # regression: the target's own units, as typed
            self.auto_value.setRange(0.0, 1e9)
            self.auto_value.setSingleStep(0.1)
            self.auto_value.setSuffix(" (target units)")
        elif kind == "accuracy":
            self.auto_value.setRange(0.0, 100.0)
            self.auto_value.setSingleStep(0.5)
            self.auto_value.setSuffix(" pts")
        else:
            self.auto_value.setRange(0.0, 100.0)
            self.auto_value.setSingleStep(0.1)
            self.auto_value.setSuffix(" %")
        self.auto_value.setValue(self._auto_values.get(kind, 0.0))
        self.auto_value.blockSignals(False)

    def _remember_auto_value(self, value: float) -> None:
        self._auto_values[self.auto_quality.currentData()] = value

    def settings(self) -> RunSettings:
        """The controls as RunSettings; ValueError naming the field that does not parse."""
        try:
            threads = parse_int_list(self.threads.text())
        except ValueError as exc:
            raise ValueError(f"Threads: {exc}") from None
        try:
            batches = parse_int_list(self.batch_sizes.text())
        except ValueError as exc:
            raise ValueError(f"Batch sizes: {exc}") from None
        try:
            input_shapes = self.input_sizes.shapes()
        except ValueError as exc:
            raise ValueError(f"Input sizes: {exc}") from None
        target = self.fidelity_target.value()
        return RunSettings(
            data_path=self.data_path,
            label_column=self.label_column.currentText().strip(),
            modes=tuple(m for m, box in self.mode_boxes.items() if box.isChecked()),
            int8_io=self.int8_io.isChecked() and not self.selective.isChecked(),
            selective=self.selective.isChecked(),
            fidelity_target=target if target > 0 else None,
            layer_errors=self.layer_errors.isChecked(),
            prune=(self.prune.currentData() or "") if self.compression_enabled else "",
            sparsity=self.sparsity.value(),
            distill=self.distill.isChecked() and DISTILL in compression_kinds() and self.compression_enabled,
            epochs=self.epochs.value(),
            threads=threads,
            batch_sizes=batches,
            runs=self.runs.value() if self.by_runs.isChecked() else None,
            seconds=self.seconds.value() if self.by_seconds.isChecked() else None,
            budget_ms=self.budget.value(),
            device=self.device.currentData() or DEVICE_CPU,
            profile=self.profile.isChecked(),
            gpu_memory_mb=self.gpu_memory.value(),
            auto_quality=self.auto_quality.currentData(),
            auto_min_agreement=self._auto_values["agreement"],
            auto_max_drop=self._auto_values["accuracy"],
            auto_max_size_mb=self.auto_max_size.value(),
            auto_pruning=self.auto_pruning.isChecked(),
            signature=self.outputs_box.signature_choice(),
            primary_output=self.outputs_box.primary_output(),
            tasks=self.outputs_box.task_overrides(),
            auto_task=self.outputs_box.primary_task(),
            input_shapes=input_shapes,
        )

    def set_settings(self, settings: RunSettings, *, include_data: bool = False) -> None:
        for mode, box in self.mode_boxes.items():
            box.setChecked(mode in settings.modes)
        self.int8_io.setChecked(settings.int8_io)
        self.selective.setChecked(settings.selective)
        self.fidelity_target.setValue(settings.fidelity_target or 0.0)
        self.layer_errors.setChecked(settings.layer_errors)
        self.prune.setCurrentIndex(max(0, self.prune.findData(settings.prune)))
        self.sparsity.setValue(settings.sparsity)
        self.distill.setChecked(settings.distill)
        self.epochs.setValue(settings.epochs)
        self.threads.setText(", ".join(str(t) for t in settings.threads))
        self.batch_sizes.setText(", ".join(str(b) for b in settings.batch_sizes))
        if settings.runs is not None:
            self.by_runs.setChecked(True)
            self.runs.setValue(settings.runs)
        else:
            self.by_seconds.setChecked(True)
            self.seconds.setValue(settings.seconds or 1.0)
        self.budget.setValue(settings.budget_ms)
        index = self.device.findData(settings.device)
        if index < 0:
            self.device.addItem(settings.device.strip("/"), settings.device)  # until detection confirms it
            index = self.device.findData(settings.device)
        self.device.setCurrentIndex(index)
        self.profile.setChecked(settings.profile)
        self.gpu_memory.setValue(settings.gpu_memory_mb)
        self._auto_values = {"agreement": settings.auto_min_agreement, "accuracy": settings.auto_max_drop}
        self.auto_quality.blockSignals(True)
        self.auto_quality.setCurrentIndex(max(0, self.auto_quality.findData(settings.auto_quality)))
        self.auto_quality.blockSignals(False)
        self._auto_quality_changed()
        self.auto_max_size.setValue(settings.auto_max_size_mb)
        self.auto_pruning.setChecked(settings.auto_pruning)
        self.label_column.setEditText(settings.label_column)
        if include_data:
            self.set_data_path(settings.data_path)
            self.outputs_box.apply(settings.signature, settings.primary_output, settings.tasks)
            self.input_sizes.apply(settings.input_shapes)
        elif self.data_path is None:
            self.set_data_path(None)
        self._update_enabled()
