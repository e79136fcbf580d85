"""The recipe panel's "Input sizes" box: the size of each free dimension, for runs without data.

A model input may leave dimensions after the batch axis free (`None` sequence
length, height, width). With data, the data's sizes are used; without, the engine
never invents one: the user gives the per-sample shape here (the sizes after the
batch axis, e.g. "45, 6"). That is the GUI's face of the CLI's
``--input-shape NAME=D1,D2,...`` (`core.optimize.session.SessionOptions.input_shapes`,
`core.auto.results.AutoSettings.input_shapes`, the benchmark's ``input_shapes``).

Shown only for a model with such inputs, one field per input. A field takes the
whole per-sample shape ("20, 6") or only the free sizes ("20"); it is checked as
typed (whole numbers of at least 1, the input's rank and fixed sizes) and a
mistake is shown under it. The sizes belong to one model: a saved recipe never
restores them (`gui.recipe.MODEL_FIELDS`).
"""

from __future__ import annotations

from typing import Any, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QLineEdit, QVBoxLayout, QWidget

HINT = "Used when no data is chosen; with data, the data's sizes are used."
ERROR_COLOUR = "#c62828"


def free_dims(shape: Sequence[int | None]) -> tuple[int | None, ...]:
    """The per-sample dimensions of a model input's shape (the batch axis left out)."""
    return tuple(shape[1:]) if len(shape) > 1 else ()


def has_free_dims(shape: Sequence[int | None]) -> bool:
    """True when a per-sample dimension of `shape` (batch axis left out) is None."""
    return None in free_dims(shape)


def axis_names(dims: Sequence[int | None]) -> list[str]:
    """What each free per-sample axis is likely to be ("length", "height", "width"); fixed ones as numbers."""
    names = []
    for i, d in enumerate(dims):
        if d is not None:
            names.append(str(d))
        elif len(dims) == 2 and i == 0:
            names.append("length")  # (batch, time, features): a sequence
        elif len(dims) == 3 and i < 2:
            names.append(("height", "width")[i])  # (batch, H, W, C): an image
        else:
            names.append("size")
    return names


def shape_template(dims: Sequence[int | None]) -> str:
    """ "(batch, length, 6)": the input's shape with its free axes named."""
    return "(" + ", ".join(["batch", *axis_names(dims)]) + ")"


def parse_sizes(text: str, dims: Sequence[int | None]) -> tuple[int, ...] | None:
    """The per-sample shape typed for an input with per-sample dimensions `dims`; None when empty.

    Takes the whole shape ("20, 6") or only the free sizes ("20"); ValueError saying what is wrong.
    """
    dims = tuple(dims)
    parts = [p for p in text.replace(",", " ").replace("×", " ").split() if p]
    if not parts:
        return None
    values = []
    for p in parts:
        try:
            n = int(p)
        except ValueError:
            raise ValueError(f"{p!r} is not a whole number") from None
        if n < 1:
            raise ValueError(f"{n} is not a size: sizes are whole numbers of at least 1")
        values.append(n)
    free = [i for i, d in enumerate(dims) if d is None]
    template = shape_template(dims)
    if len(values) == len(dims):
        for i, (d, n) in enumerate(zip(dims, values)):
            if d is not None and d != n:
                raise ValueError(f"size {i + 1} is fixed at {d} (the input is {template})")
        return tuple(values)
    if free and len(values) == len(free):
        given = iter(values)  # one per free axis, in order
        return tuple(next(given) if d is None else d for d in dims)
    wanted = f"{len(dims)} size{'s' if len(dims) != 1 else ''} after the batch axis"
    if len(free) < len(dims):
        wanted += ", or only the free one" if len(free) == 1 else f", or only the {len(free)} free ones"
    raise ValueError(f"give {wanted} (the input is {template})")


class InputSizesBox(QGroupBox):
    """Signal ``changed()`` when a size is edited."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Input sizes", parent)
        self.setObjectName("inputSizesBox")
        self.fields: dict[str, QLineEdit] = {}
        self.errors: dict[str, QLabel] = {}
        self.dims: dict[str, tuple[int | None, ...]] = {}
        self._rows = QWidget()
        self.form = QFormLayout(self._rows)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.hint = QLabel(HINT)
        self.hint.setObjectName("inputSizesHint")
        self.hint.setWordWrap(True)
        self.hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        layout = QVBoxLayout(self)
        layout.addWidget(self._rows)
        layout.addWidget(self.hint)
        self.setVisible(False)

    # -- filling in ----------------------------------------------------------------------

    def set_model(self, info: Any) -> None:
        """A model was opened (its ModelInfo): a field per input with free per-sample dimensions, all empty."""
        while self.form.rowCount():
            self.form.removeRow(0)
        self.fields, self.errors, self.dims = {}, {}, {}
        for tensor in getattr(info, "inputs", ()) or ():
            shape = tuple(getattr(tensor, "shape", ()) or ())
            if not has_free_dims(shape):
                continue
            name = str(tensor.name)
            dims = free_dims(shape)
            field = QLineEdit()
            field.setObjectName(f"inputSize_{name}")
            field.setPlaceholderText(", ".join(axis_names(dims)))
            field.setToolTip(
                f"{name} {shape_template(dims)}: the sizes after the batch axis, e.g. "
                f"{', '.join(str(d or 32) for d in dims)} (or only the free ones)"
            )
            field.setClearButtonEnabled(True)
            field.textChanged.connect(lambda _text, n=name: self._check(n))
            field.textChanged.connect(self.changed)
            error = QLabel()
            error.setObjectName(f"inputSizeError_{name}")
            error.setWordWrap(True)
            error.setTextFormat(Qt.TextFormat.PlainText)
            palette = error.palette()
            palette.setColor(QPalette.ColorRole.WindowText, QColor(ERROR_COLOUR))
            error.setPalette(palette)
            error.setVisible(False)
            column = QWidget()
            column_layout = QVBoxLayout(column)
            column_layout.setContentsMargins(0, 0, 0, 0)
            column_layout.setSpacing(2)
            column_layout.addWidget(field)
            column_layout.addWidget(error)
            label = QLabel(f"{name}:")
            label.setTextFormat(Qt.TextFormat.PlainText)  # input names come from the model file
            label.setToolTip(f"{name} {shape_template(dims)}")
            self.form.addRow(label, column)
            self.fields[name], self.errors[name], self.dims[name] = field, error, dims
        self.setVisible(bool(self.fields))

    def _check(self, name: str) -> None:
        error = self.errors[name]
        try:
            parse_sizes(self.fields[name].text(), self.dims[name])
        except ValueError as exc:
            error.setText(str(exc))
            error.setVisible(True)
        else:
            error.clear()
            error.setVisible(False)

    # -- reading and restoring -----------------------------------------------------------

    def shapes(self) -> tuple[tuple[str, tuple[int, ...]], ...]:
        """(input, per-sample shape) for every field filled in; ValueError naming the input whose text is wrong."""
        shapes = []
        for name, field in self.fields.items():
            try:
                shape = parse_sizes(field.text(), self.dims[name])
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
            if shape is not None:
                shapes.append((name, shape))
        return tuple(shapes)

    def missing(self) -> list[str]:
        """The inputs with free dimensions whose field is empty."""
        return [name for name, field in self.fields.items() if not field.text().strip()]

    def apply(self, shapes: Sequence[tuple[str, Sequence[int]]]) -> None:
        """Sizes from RunSettings (a run's own settings put back); inputs this model does not have are ignored."""
        given = {str(name): tuple(shape) for name, shape in shapes}
        for name, field in self.fields.items():
            shape = given.get(name)
            field.setText(", ".join(str(d) for d in shape) if shape else "")


__all__ = ["HINT", "InputSizesBox", "axis_names", "free_dims", "has_free_dims", "parse_sizes", "shape_template"]
