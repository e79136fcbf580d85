"""The model panel: what the engine found out about the open model (`core.models.info.ModelInfo`).

A summary (path, format, size, SHA-256, parameters, FLOPs, notes), a table of
inputs and outputs, and tabs for the layer table (Keras) or the operator
histogram and tensor type mix (.tflite).

FLOPs say how to read them: per time step (or position) when a free dimension
scales them, and "partial" with the layers or ops left out when some have no
rule. A SavedModel or .tflite shows the signature whose inputs and outputs are
listed, and its other signatures.
"""

from __future__ import annotations

import os

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core.models.info import LayerInfo, ModelFormat, ModelInfo
from core.units import human_count, human_size, quantization_text, shape_text, short_hash, thousands
from gui.flag_hints import gui_words
from gui.table_models import Column, RecordTableModel, proxy_of, sortable

FORMAT_NAMES = {
    ModelFormat.KERAS: "Keras model (.keras)",
    ModelFormat.H5: "Keras HDF5 model (.h5)",
    ModelFormat.SAVED_MODEL: "TensorFlow SavedModel folder",
    ModelFormat.TFLITE: "TensorFlow Lite model (.tflite)",
}

IO_COLUMNS = [
    Column("Role", lambda r: r[0]),
    Column("Name", lambda r: r[1].name, tooltip=lambda r: r[1].name),
    Column("Shape", lambda r: shape_text(r[1].shape)),
    Column("Type", lambda r: r[1].dtype),
    Column("Quantization", lambda r: quantization_text(r[1].quantization)),
]


def macs_text(layer: LayerInfo) -> str:
    """A layer's MACs: "not counted" (no rule for its class), "360 / step" (per step of a free dimension)."""
    if not getattr(layer, "counted", True):
        return "not counted"
    return thousands(layer.macs) + (" / step" if getattr(layer, "macs_free", False) else "")


def _macs_tip(layer: LayerInfo) -> str:
    if not getattr(layer, "counted", True):
        return f"No MAC rule for {layer.type}: left out of the model's FLOPs (which are marked partial)"
    if getattr(layer, "macs_free", False):
        return "Per step of the free dimension (per time step or position): multiply by the length"
    return ""


LAYER_COLUMNS = [
    Column("Name", lambda l: l.name, tooltip=lambda l: l.name),
    Column("Type", lambda l: l.type),
    Column("Output shape", lambda l: l.output_shape),
    Column("Params", lambda l: thousands(l.params), sort_key=lambda l: l.params, numeric=True),
    Column("MACs", macs_text, sort_key=lambda l: l.macs, numeric=True, tooltip=_macs_tip),
]


def flops_text(info: ModelInfo) -> str:
    """ "1.02k per time step  (1,024)", and a second line "partial: 1 layer not counted (Doubler)"."""
    if info.flops is None:
        return "unknown"
    n = info.flops
    per = f" per {info.flops_per}" if info.flops_per else ""
    text = f"{human_count(n)}{per}  ({n:,})" if n >= 1000 else f"{n}{per}"
    if info.flops_partial:
        unit = "op" if info.format == ModelFormat.TFLITE else "layer"
        left_out = len(info.flops_uncounted)
        kinds = list(dict.fromkeys(kind for _, kind in info.flops_uncounted))
        if left_out:
            text += (
                f"\npartial: {left_out} {unit}{'s' if left_out != 1 else ''} not counted "
                f"({', '.join(kinds[:4])}{', …' if len(kinds) > 4 else ''})"
            )
        else:
            text += "\npartial: some layers are not counted"
    return text


def flops_tooltip(info: ModelInfo) -> str:
    """The FLOPs field's tooltip: what is counted (2 × MACs per sample), per what, and up to 20 uncounted parts."""
    lines = ["2 × multiply-accumulates for one sample"]
    if info.flops_per:
        lines.append(f"A free dimension scales them: counted per {info.flops_per} (multiply by the length)")
    if info.flops_uncounted:
        lines.append("Not counted (no MAC rule):")
        lines += [f"  {name} ({kind})" for name, kind in info.flops_uncounted[:20]]
        if len(info.flops_uncounted) > 20:
            lines.append(f"  … {len(info.flops_uncounted) - 20} more")
    return "\n".join(lines)


def signature_text(info: ModelInfo) -> str:
    """ "serving_default (also: embed, score)" for a SavedModel/.tflite; "" without signatures."""
    signature = getattr(info, "signature", "") or ""
    signatures = tuple(getattr(info, "signatures", ()) or ())
    if not signature and not signatures:
        return ""
    others = [s for s in signatures if s != signature]
    if not signature:
        return f"none shown (the file has {', '.join(signatures)})"
    return signature + (f"  (also: {', '.join(others)})" if others else "")


def _share_columns(title: str, unit: str, total: int) -> list[Column]:
    return [
        Column(title, lambda r: r[0]),
        Column(unit, lambda r: thousands(r[1]), sort_key=lambda r: r[1], numeric=True),
        Column(
            "Share", lambda r: f"{100 * r[1] / total:.1f} %" if total else "—", sort_key=lambda r: r[1], numeric=True
        ),
    ]


def make_table(parent: QWidget | None = None) -> QTableView:
    """A read-only, row-selecting QTableView without a vertical header, as every table of the app looks."""
    view = QTableView(parent)
    view.setAlternatingRowColors(True)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setWordWrap(False)
    view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
    view.verticalHeader().setVisible(False)
    view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 8)
    view.horizontalHeader().setHighlightSections(False)
    return view


def fit_columns(view: QTableView, stretch: int | None = None) -> None:
    """Size columns to their contents; `stretch` takes the remaining width."""
    header = view.horizontalHeader()
    for column in range(header.count()):
        mode = QHeaderView.ResizeMode.Stretch if column == stretch else QHeaderView.ResizeMode.ResizeToContents
        header.setSectionResizeMode(column, mode)


class ModelPanel(QWidget):
    """The open model's summary, inputs and outputs, and layer or operator tables, from a `ModelInfo` (`set_info`)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelPanel")
        self.info: ModelInfo | None = None

        # Header: file name and format.
        self.title = QLabel()
        self.title.setObjectName("modelTitle")
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.format_label = QLabel()
        self.format_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        header = QHBoxLayout()
        header.addWidget(self.title)
        header.addSpacing(12)
        header.addWidget(self.format_label, 0, Qt.AlignmentFlag.AlignBottom)
        header.addStretch(1)

        # Summary.
        self.summary_box = QGroupBox("Summary")
        form = QFormLayout(self.summary_box)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.fields: dict[str, QLabel] = {}
        self.summary_form = form
        for key, label in (
            ("path", "Path"),
            ("size", "Size"),
            ("sha256", "SHA-256"),
            ("params", "Parameters"),
            ("flops", "FLOPs / sample"),
            ("signature", "Signature"),
        ):
            value = QLabel()
            value.setObjectName(f"summary_{key}")
            value.setTextFormat(Qt.TextFormat.PlainText)  # names come from the model file
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            if key in ("path", "signature", "flops"):
                value.setWordWrap(True)
                value.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            form.addRow(label, value)
            self.fields[key] = value

        # Inputs and outputs.
        self.io_box = QGroupBox("Inputs and outputs")
        self.io_model = RecordTableModel(IO_COLUMNS, parent=self)
        self.io_table = make_table()
        self.io_table.setObjectName("ioTable")
        self.io_table.setModel(self.io_model)
        self.io_table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        fit_columns(self.io_table, stretch=1)
        self.io_table.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        io_layout = QVBoxLayout(self.io_box)
        io_layout.addWidget(self.io_table, 0, Qt.AlignmentFlag.AlignTop)

        # Notes: what the user should know (dynamic batch, how figures were estimated).
        self.notes_box = QGroupBox("Notes")
        self.notes_label = QLabel()
        self.notes_label.setObjectName("notes")
        self.notes_label.setWordWrap(True)
        self.notes_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        notes_layout = QVBoxLayout(self.notes_box)
        notes_layout.addWidget(self.notes_label)

        for box in (self.summary_box, self.io_box, self.notes_box):
            box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        top = QHBoxLayout()
        top.addWidget(self.summary_box, 2, Qt.AlignmentFlag.AlignTop)
        top.addWidget(self.io_box, 3, Qt.AlignmentFlag.AlignTop)

        # Layers / operators / tensor types.
        self.tabs = QTabWidget()
        self.tabs.setObjectName("detailTabs")
        self.layer_model = RecordTableModel(LAYER_COLUMNS, parent=self)
        self.layer_table = self._sortable_table(self.layer_model, "layerTable", stretch=0)
        self.op_model = RecordTableModel(_share_columns("Operator", "Count", 0), parent=self)
        self.op_table = self._sortable_table(self.op_model, "opTable", stretch=0)
        self.tensor_model = RecordTableModel(_share_columns("Type", "Tensors", 0), parent=self)
        self.tensor_table = self._sortable_table(self.tensor_model, "tensorTypeTable", stretch=0)
        self.ops_page = QSplitter(Qt.Orientation.Horizontal)
        self.ops_page.addWidget(self.op_table)
        self.ops_page.addWidget(self.tensor_table)
        self.ops_page.setStretchFactor(0, 3)
        self.ops_page.setStretchFactor(1, 2)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 6)
        layout.addLayout(header)
        layout.addLayout(top)
        layout.addWidget(self.notes_box)
        layout.addWidget(self.tabs, 1)
        layout.addStretch(0)  # takes the room when there are no tabs (a SavedModel has no layer table)

    def _sortable_table(self, model: RecordTableModel, name: str, stretch: int | None) -> QTableView:
        view = make_table()
        view.setObjectName(name)
        view.setModel(sortable(model, self))
        view.setSortingEnabled(True)
        view.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # keep the model's order until the user sorts
        fit_columns(view, stretch=stretch)
        return view

    # -- filling in ---------------------------------------------------------

    def set_info(self, info: ModelInfo) -> None:
        """Show `info`: the summary fields, the inputs and outputs, and the tabs that apply (layers; operators and
        tensor types).
        """
        self.info = info
        name = os.path.basename(os.path.normpath(info.path)) or info.path
        self.title.setText(name)
        self.format_label.setText(FORMAT_NAMES.get(info.format, info.format))

        self.fields["path"].setText(info.path)
        self.fields["path"].setToolTip(info.path)
        self.fields["size"].setText(f"{human_size(info.file_size)}  ({info.file_size:,} bytes)")
        self.fields["sha256"].setText(short_hash(info.sha256))
        self.fields["sha256"].setToolTip(info.sha256)
        self.fields["params"].setText(
            self._count(info.params)
            + ("\npartial: some subgraphs' weights could not be read" if info.params_partial else "")
        )
        self.fields["flops"].setText(flops_text(info))
        self.fields["flops"].setToolTip(flops_tooltip(info) if info.flops is not None else "")
        signature = signature_text(info)
        self.fields["signature"].setText(signature)
        self.fields["signature"].setToolTip(
            "The signature whose inputs and outputs are shown (Recipe → Model "
            "outputs → Signature chooses the one to optimize)"
            if signature
            else ""
        )
        self.summary_form.setRowVisible(self.fields["signature"], bool(signature))
        self.notes_label.setText("\n".join(f"• {gui_words(note)}" for note in info.notes))
        self.notes_box.setVisible(bool(info.notes))

        self.io_model.set_records([("input", t) for t in info.inputs] + [("output", t) for t in info.outputs])
        self._fit_io_height()

        self.layer_model.set_records(info.layers)
        op_total = sum(count for _, count in info.op_histogram)
        self.op_model = RecordTableModel(_share_columns("Operator", "Count", op_total), info.op_histogram, self)
        proxy_of(self.op_table).setSourceModel(self.op_model)
        tensor_total = sum(count for _, count in info.tensor_types)
        self.tensor_model = RecordTableModel(_share_columns("Type", "Tensors", tensor_total), info.tensor_types, self)
        proxy_of(self.tensor_table).setSourceModel(self.tensor_model)
        for view in (self.op_table, self.tensor_table):
            fit_columns(view, stretch=0)

        self.tabs.clear()
        if info.layers:
            self.tabs.addTab(self.layer_table, f"Layers ({len(info.layers)})")
        if info.op_histogram or info.tensor_types:
            self.tabs.addTab(self.ops_page, f"Operators ({op_total}) and tensor types")
        self.tabs.setVisible(self.tabs.count() > 0)

    @staticmethod
    def _count(n: int | None) -> str:
        if n is None:
            return "unknown"
        return f"{human_count(n)}  ({n:,})" if n >= 1000 else str(n)

    def _fit_io_height(self) -> None:
        """Show every input and output without scrolling (up to 8 rows)."""
        rows = min(self.io_model.rowCount(), 8)
        view = self.io_table
        height = view.horizontalHeader().sizeHint().height() + rows * view.verticalHeader().defaultSectionSize()
        view.setFixedHeight(height + 2 * view.frameWidth() + 4)

    # -- for tests and later panels -----------------------------------------

    def summary_text(self) -> dict[str, str]:
        """{field key: its text} for the summary (path, size, sha256, params, flops, signature, …) and "notes"."""
        texts = {key: label.text() for key, label in self.fields.items()}
        texts["notes"] = self.notes_label.text()
        return texts

    def tab_titles(self) -> list[str]:
        """The titles of the tabs shown, e.g. ["Layers (12)"]."""
        return [self.tabs.tabText(i) for i in range(self.tabs.count())]
