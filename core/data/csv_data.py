"""`.csv` data files: a header row, numeric cells, columns matched to the model's inputs.

The rules are in `core.data.loaders`' docstring.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from core.data.dataset import Dataset, as_input_dtype, bad, class_labels, quoted
from core.models.interface import ModelInterface, TensorSpec


def read_table(path: str | Path) -> tuple[list[str], np.ndarray]:
    """(header, values (rows, columns) float64); raises BadInputError naming the line and column."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise bad(path, f"cannot read this CSV file: {exc}") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise bad(path, "the CSV file needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    values = np.empty((len(rows) - 1, len(header)), dtype=np.float64)
    for r, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise bad(path, f"line {r} has {len(row)} fields, the header {len(header)}")
        for c, cell in enumerate(row):
            try:
                values[r - 2, c] = float(cell)
            except ValueError:
                raise bad(path, f"line {r}, column {header[c]!r}: {cell!r} is not a number") from None
    return header, values


def _feature_index(column: str, inputs: tuple[str, ...]) -> tuple[str, int | None] | None:
    """(input, None) for a column named like an input, (input, k) for `<input>.<k>`, else None."""
    if column in inputs:
        return column, None
    stem, dot, k = column.rpartition(".")
    if dot and stem in inputs and k.isdigit() and (k == "0" or not k.startswith("0")):
        return stem, int(k)
    return None


def _one_feature(values: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """A one-feature input's column (n,) shaped (n,) for a (batch,) input, else (n, 1)."""
    return values if len(spec.shape) == 1 else values[:, None]


def _map_columns(
    path: str | Path, header: list[str], features: list[int], interface: ModelInterface
) -> dict[str, list[int]]:
    """{input name: column indices in feature order} for a multi-input model; refuses what does not fit."""
    inputs = interface.input_names
    exact: dict[str, int] = {}
    numbered: dict[str, dict[int, int]] = {}
    misfits: list[int] = []
    for c in features:
        found = _feature_index(header[c], inputs)
        if found is None:
            misfits.append(c)
        elif found[1] is None:
            exact[found[0]] = c
        else:
            numbered.setdefault(found[0], {})[found[1]] = c
    plan: dict[str, list[int]] = {}
    for name in inputs:
        if name in exact and name in numbered:
            misfits += [exact[name], *numbered[name].values()]
        elif name in exact:
            plan[name] = [exact[name]]
        elif name in numbered:
            ks = sorted(numbered[name])
            if ks != list(range(len(ks))):
                misfits += list(numbered[name].values())
            else:
                plan[name] = [numbered[name][k] for k in ks]
    unfed = [n for n in inputs if n not in plan]
    if misfits or unfed:
        raise bad(
            path,
            "the columns do not fit the model's inputs: columns that fit no input: "
            f"{quoted(header[c] for c in sorted(misfits))}; "
            f"inputs left unfed: {quoted(unfed)}. A column named like an input feeds that input; "
            f"columns <input>.0 .. <input>.<F-1> feed the F features of a flat input "
            f"(inputs: {quoted(inputs)})",
        )
    return plan


def load_csv(
    path: str | Path, interface: ModelInterface, primary: str | None, label_column: str | None = None
) -> Dataset:
    """Inputs {input name: (n, F) or (n,)} and the primary output's labels (n,) from a CSV file."""
    header, values = read_table(path)
    if label_column is not None and label_column not in header:
        raise bad(path, f"no column named {label_column!r}; the columns are: {', '.join(header)}")
    label_index = header.index(label_column) if label_column is not None else None
    features = [i for i in range(len(header)) if i != label_index]
    if len(interface.inputs) == 1:
        plan = {interface.input_names[0]: features}
        notes = [f"{len(features)} feature columns"]
    else:
        plan = _map_columns(path, header, features, interface)
        notes = [
            "columns: " + "; ".join(f"{name} <- {', '.join(header[c] for c in cols)}" for name, cols in plan.items())
        ]
    x = {}
    for spec in interface.inputs:
        cols = plan[spec.name]
        block = values[:, cols]
        what = f"column{'s' if len(cols) > 1 else ''} {quoted(header[c] for c in cols)}"
        if len(cols) == 1 and len(interface.inputs) > 1 and header[cols[0]] == spec.name:
            block = _one_feature(block[:, 0], spec)
        block = as_input_dtype(block, spec, path, what)
        x[spec.name] = block if spec.is_integer else block.astype(np.float32)
    y = None
    if label_index is not None:
        if primary is None:
            raise bad(
                path,
                f"column {label_column!r} holds labels, but the model has no outputs"
                if not interface.outputs
                else f"column {label_column!r} holds labels, but the model's outputs have "
                "no order of their own; name the output they label with --primary-output OUTPUT",
            )
        y = {primary: class_labels(values[:, label_index])}
        notes.append(f"labels from column {label_column!r} -> output {primary!r} (the primary output)")
    else:
        notes.append("no label column named: unlabelled")
    return Dataset(x=x, y=y, source=str(path), format="csv", notes=notes, primary=primary)
