"""The recipe panel's "Model outputs" box: the signature, the primary output and a task per output.

Filled from the inspect result when a model opens (`set_model`), then from the
engine's own description after a run (`set_source`: the interface's output names,
the signatures, and the task inferred for each output with its reason, shown as
"auto: multiclass"). Defaults send nothing to the engine: the first output is the
primary, `serving_default` (or the only signature) is read, tasks are inferred.

Shown once a model is open; the signature row only for a model with several
signatures, the primary-output row only for a model with several outputs. A
signature's outputs (SavedModel, .tflite) have no order: there the primary output
starts as "none chosen" (labels named `y` need a choice). A .tflite's inspect
result names tensors, not its signature's outputs: its choices open after a run.
"""

from __future__ import annotations

from typing import Any, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from core.evaluation.common import TASKS
from gui.flag_hints import gui_words

AUTO_TASK = "auto (inferred)"
DEFAULT_SIGNATURE = "serving_default"
MAX_VISIBLE_ROWS = 6
NONE_CHOSEN = "none chosen"
UNORDERED_TIP = (
    "This model's signature lists its outputs by name, with no order of their own: choose the output "
    "that labels named y belong to (the accuracy column and the Auto budget follow it)"
)
TASKS_HINT = "Tasks are inferred from each output's shape, activation and labels; choose one to override."
PROVISIONAL_HINT = (
    "The .tflite's signature names its outputs: the choices open after the first run "
    "(labels named y_<output> need no choice)."
)
TASK_TIPS = {
    "binary": "one sigmoid unit: PR-AUC, ROC-AUC, precision/recall, flipped decisions",
    "multiclass": "a softmax over classes: top-1 accuracy and agreement",
    "multilabel": "independent sigmoids: per-label decisions, micro/macro F1, mean average precision",
    "class_id": "an integer class id per sample: accuracy, equal ids",
    "regression": "real values: MAE, RMSE, max error",
    "sequence": "(N, T, K) scores with (N, T) labels: per-position accuracy",
    "segmentation": "(N, H, W, K) scores with (N, H, W) masks: pixel accuracy, mean IoU",
    "embedding": "vectors compared by cosine and largest difference",
}


def interface_names(info: Any) -> tuple[tuple[str, ...], tuple[str, ...], str | None]:
    """(output names, signatures, the signature read) from a ModelInfo; fields it lacks read as empty."""
    interface = getattr(info, "interface", None)
    outputs = getattr(interface, "output_names", None) if interface is not None else None
    if not outputs:
        outputs = tuple(getattr(t, "name", str(t)) for t in getattr(info, "outputs", ()) or ())
    signatures = tuple(getattr(info, "signatures", None) or getattr(interface, "signatures", None) or ())
    signature = getattr(info, "signature", None) or getattr(interface, "signature", None)
    return tuple(outputs), tuple(str(s) for s in signatures), signature


class OutputsBox(QGroupBox):
    """Signal ``changed()`` when a choice changes."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Model outputs", parent)
        self.setObjectName("outputsBox")
        self.names: tuple[str, ...] = ()
        self.signatures: tuple[str, ...] = ()
        self.default_signature: str | None = None
        self.task_combos: dict[str, QComboBox] = {}
        self.ordered = True
        self.provisional = False
        self.names_signature: str | None = None  # the signature whose outputs `names` are
        self._unsure = False  # the names may not be the engine's (a .tflite before a run)
        self.inferred_tasks: dict[str, str] = {}  # output -> the task the last run inferred (set_source)

        self.signature = QComboBox()
        self.signature.setObjectName("signature")
        self.signature.setToolTip("The SavedModel or .tflite signature to optimize and score")
        self.signature.currentIndexChanged.connect(self._signature_changed)
        self.signature.currentIndexChanged.connect(self.changed)
        self.primary = QComboBox()
        self.primary.setObjectName("primaryOutput")
        self.primary.setToolTip(
            "The output the accuracy column and the Auto budget are about; fidelity is always "
            "judged on every output (the worst one is the headline)"
        )
        self.primary.currentIndexChanged.connect(self.changed)
        self.task_table = QTableWidget(0, 2)
        self.task_table.setObjectName("taskTable")
        self.task_table.setHorizontalHeaderLabels(["Output", "Scored as"])
        self.task_table.verticalHeader().setVisible(False)
        self.task_table.verticalHeader().setDefaultSectionSize(self.primary.sizeHint().height() + 2)
        self.task_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.task_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.task_table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.task_table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.task_table.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        header = self.task_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Fixed)
        self.hint = hint = QLabel(TASKS_HINT)
        hint.setObjectName("outputsHint")
        hint.setWordWrap(True)
        hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)

        self.form = QFormLayout(self)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.addRow("Signature:", self.signature)
        self.form.addRow("Primary output:", self.primary)
        self.form.addRow(self.task_table)
        self.form.addRow(hint)
        self.setVisible(False)

    # -- filling in ------------------------------------------------------------------------

    def set_model(self, info: Any) -> None:
        """A model was opened (a ModelInfo): its outputs and signatures, choices back to the defaults.

        Without the engine's interface in the inspect result, a .tflite's output names
        are its tensor names, not its signature's: the choices wait for the first run.
        """
        names, signatures, signature = interface_names(info)
        interface = getattr(info, "interface", None)
        fmt = str(getattr(info, "format", ""))
        ordered = getattr(interface, "ordered_outputs", None)
        if ordered is None:  # a signature (SavedModel, .tflite) lists its outputs by name, with no order
            ordered = fmt not in ("saved_model", "tflite") or len(names) < 2
        self.set_outputs(
            names, signatures, signature, keep=False, ordered=ordered, provisional=fmt == "tflite" and interface is None
        )

    def set_source(self, source: Any) -> None:
        """After a run or an auto search (a SourceInfo): the engine's names, and each inferred task with its reason."""
        interface = getattr(source, "interface", None)
        tasks = tuple(getattr(source, "tasks", ()) or ())
        names = tuple(getattr(interface, "output_names", ()) or ()) or tuple(t.output for t in tasks)
        if names:
            signatures = tuple(getattr(interface, "signatures", ()) or ()) or self.signatures
            # The default stays the default: the signature a run used may be the user's choice.
            self.set_outputs(
                names,
                signatures,
                self.default_signature or getattr(interface, "signature", None),
                keep=True,
                ordered=getattr(interface, "ordered_outputs", self.ordered),
                names_signature=getattr(interface, "signature", None),
            )
        for t in tasks:
            combo = self.task_combos.get(t.output)
            if combo is None:
                continue
            inferred = t.reason != "set with --task"
            if inferred:
                self.inferred_tasks[t.output] = t.task
            combo.setItemText(0, f"auto: {t.task}" if inferred else AUTO_TASK)
            reason = gui_words(t.reason)  # the engine's reasons name CLI flags ("use --task ...")
            combo.setItemData(0, f"inferred: {t.task} ({reason})" if inferred else "", Qt.ItemDataRole.ToolTipRole)
            if inferred and combo.currentIndex() == 0:
                combo.setToolTip(f"{t.task}: {reason}")
        self._fit_task_column()

    def set_outputs(
        self,
        names: Sequence[str],
        signatures: Sequence[str] = (),
        signature: str | None = None,
        *,
        keep: bool = True,
        ordered: bool = True,
        provisional: bool = False,
        names_signature: str | None = None,
    ) -> None:
        """The outputs (model order) and signatures; `keep`: the user's choices stay where the names still exist.

        `ordered`: the outputs have an order, so the first one is the default primary
        output; else the default is "none chosen" (labels named `y` then need a choice).
        `provisional`: the names may not be the engine's (choices disabled until a run).
        `names_signature`: the signature these outputs belong to (None: the default one).
        """
        if not keep:
            self.inferred_tasks = {}
        chosen_primary = self.primary_output() if keep else ""
        chosen_tasks = dict(self.task_overrides()) if keep else {}
        chosen_signature = self.signature_choice() if keep else ""
        self.names, self.signatures = tuple(names), tuple(signatures)
        self.default_signature = (
            signature
            if signature in self.signatures
            else (
                DEFAULT_SIGNATURE
                if DEFAULT_SIGNATURE in self.signatures
                else (self.signatures[0] if self.signatures else None)
            )
        )
        self.ordered, self._unsure = ordered, provisional
        self.names_signature = names_signature or self.default_signature
        self.signature.blockSignals(True)
        self.signature.clear()
        self.signature.addItems(list(self.signatures))
        self.signature.setCurrentIndex(
            max(0, self.signature.findText(chosen_signature or self.default_signature or ""))
        )
        self.signature.blockSignals(False)
        self.primary.blockSignals(True)
        self.primary.clear()
        if ordered and self.names:  # data "": the engine's default, the first output
            self.primary.addItem(f"{self.names[0]} (first)", "")
            rest = self.names[1:]
        else:
            self.primary.addItem(NONE_CHOSEN, "")
            self.primary.setItemData(0, UNORDERED_TIP, Qt.ItemDataRole.ToolTipRole)
            rest = self.names
        for name in rest:
            self.primary.addItem(name, name)
        self.primary.setCurrentIndex(max(0, self.primary.findData(chosen_primary)))
        self.primary.blockSignals(False)
        self._fill_tasks(chosen_tasks)
        self._signature_changed()
        self.form.setRowVisible(0, len(self.signatures) > 1)
        self.form.setRowVisible(1, len(self.names) > 1)
        self.setVisible(bool(self.names))
        self.changed.emit()

    def _fill_tasks(self, chosen: dict[str, str]) -> None:
        self.task_combos = {}
        self.task_table.setRowCount(len(self.names))
        for row, name in enumerate(self.names):
            item = QTableWidgetItem(name)
            item.setToolTip(name)
            self.task_table.setItem(row, 0, item)
            combo = QComboBox()
            combo.setObjectName(f"task_{row}")
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            combo.addItem(AUTO_TASK, "")
            for task in TASKS:
                combo.addItem(task, task)
                combo.setItemData(combo.count() - 1, TASK_TIPS.get(task, ""), Qt.ItemDataRole.ToolTipRole)
            combo.setCurrentIndex(max(0, combo.findData(chosen.get(name, ""))))
            combo.currentIndexChanged.connect(self.changed)
            self.task_table.setCellWidget(row, 1, combo)
            self.task_combos[name] = combo
        self._fit_task_column()
        rows = min(len(self.names), MAX_VISIBLE_ROWS)
        table = self.task_table
        table.setVerticalScrollBarPolicy(
            Qt.ScrollBarPolicy.ScrollBarAsNeeded if len(self.names) > rows else Qt.ScrollBarPolicy.ScrollBarAlwaysOff
        )
        table.setFixedHeight(
            table.horizontalHeader().sizeHint().height()
            + rows * table.verticalHeader().defaultSectionSize()
            + 2 * table.frameWidth()
            + 2
        )

    def _signature_changed(self, *_args: object) -> None:
        """Another signature has other outputs: the choices wait for a run to name them."""
        other = bool(self.signature.currentText()) and self.signature.currentText() != self.names_signature
        self.provisional = self._unsure or other
        self.primary.setEnabled(not self.provisional)
        self.task_table.setEnabled(not self.provisional)
        if other:
            self.hint.setText(f"The outputs of signature {self.signature.currentText()!r} appear after a run with it.")
        else:
            self.hint.setText(PROVISIONAL_HINT if self._unsure else TASKS_HINT)

    def _fit_task_column(self) -> None:
        """The combos' column as wide as the widest combo (a header does not measure cell widgets)."""
        if self.task_combos:
            self.task_table.setColumnWidth(1, max(c.sizeHint().width() for c in self.task_combos.values()))

    # -- reading and restoring --------------------------------------------------------------

    def primary_output(self) -> str:
        """The chosen primary output; "" for the default (the first output, or none for unordered outputs)."""
        return "" if self.provisional else (self.primary.currentData() or "")

    def primary_task(self) -> str:
        """The primary output's task: the user's choice, else what the last run inferred; "" when not known yet."""
        name = self.primary_output() or (self.names[0] if self.names else "")
        combo = self.task_combos.get(name)
        chosen = combo.currentData() if combo is not None and not self.provisional else ""
        return chosen or self.inferred_tasks.get(name, "")

    def signature_choice(self) -> str:
        """The chosen signature; "" for the default (serving_default, or the only one)."""
        text = self.signature.currentText()
        return text if text and text != self.default_signature and len(self.signatures) > 1 else ""

    def task_overrides(self) -> tuple[tuple[str, str], ...]:
        """(output, task) pairs the user chose over the inferred tasks; () while the names are provisional."""
        if self.provisional:
            return ()
        return tuple((name, combo.currentData()) for name, combo in self.task_combos.items() if combo.currentData())

    def apply(self, signature: str, primary_output: str, tasks: Sequence[tuple[str, str]]) -> None:
        """Choices from RunSettings ("" and missing: the defaults); names this model does not have are ignored."""
        wanted = signature if signature in self.signatures else (self.default_signature or "")
        self.signature.setCurrentIndex(max(0, self.signature.findText(wanted)))
        self.primary.setCurrentIndex(max(0, self.primary.findData(primary_output)) if primary_output else 0)
        overrides = dict(tasks)
        for name, combo in self.task_combos.items():
            combo.setCurrentIndex(max(0, combo.findData(overrides.get(name, ""))))
