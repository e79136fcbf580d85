"""Loading calibration and evaluation data by tensor NAME, and checking it fits the model.

Every loader returns a `Dataset`: ``x`` = {model input name: array}, in the
model's input order, and ``y`` = {model output name: labels} (or None). Give
`load_data` the model's `ModelInterface`; without one a file is read as for a
model with one input named ``x`` and one output named ``y``.

``.npz`` (read with ``allow_pickle=False``) -- inputs, first rule that applies:

1. by NAME: arrays named after the model's inputs. If some inputs have an array
   of their name, every input must have one.
2. ``x_0, x_1, ...``: in the model's input order, sorted numerically (``x_10``
   after ``x_2``); they must be exactly ``x_0 .. x_<N-1>`` for N inputs (and no
   ``x`` beside them).
3. ``x``: a single-input model only.
4. legacy: a single-input model whose file has none of the above: the first array
   that is not labels feeds the input; when the file has no ``y``/``y_*`` array,
   the second array labels the primary output.

A multi-input model whose file has only ``x``, or a mix that does not cover
every input, is refused, naming the file, its arrays and the names needed.
Arrays are never paired by position except by rule 2.

Labels (``.npz``): ``y_<output name>`` labels that output; ``y`` labels the
PRIMARY output: the ``primary_output`` argument, else the model's first output
(``y`` and ``y_<primary>`` together are refused). A ``y_<name>`` array that names
no output, and an array that is neither an input nor labels, are ignored with a
note in ``Dataset.notes``. Outputs without labels are simply unlabelled.

``.npy`` -- one array: the inputs of a single-input model (refused otherwise); no labels.

``.csv`` -- a header row and numeric cells. The column named by ``label_column``
labels the primary output (whole numbers become int64 class ids). Single-input
model: every other column is a feature, (n, F). Multi-input model: a column named
exactly like an input feeds that input (a one-feature input, (n, 1), or (n,) for
a (batch,) input); columns ``<input>.0 .. <input>.<F-1>`` feed the F features of a
flat input, (n, F). Columns that fit no input, a gap in the ``.k`` numbers, and
inputs left unfed are refused, naming those columns and inputs.

Image folder -- one subfolder per class (sorted order = class id), decoded and
resized to a single-input model's fixed (batch, height, width, channels) input;
the class ids label the primary output. Single-input models only.

Integer inputs (ids into an Embedding) stay integers: whole-valued float data for
an integer input is cast to its dtype, fractional values are refused naming the
input, and integer data is never turned into float.

Fitting (`check_fits`, `check_inputs`): each input's data must have the input's
shape, a free dimension (None) accepting any size; size-1 axes may be added or
dropped (``(n, 8, 8)`` data feeds a ``(None, 8, 8, 1)`` input); nothing else is
guessed. Every input must have the same sample count. Errors name the file (the
error's path) and the input.

Stratification (`choose_samples`, `stratified_indices`) uses the primary output's
labels when they are class labels (ids, or one-hot rows); otherwise plain random.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from core.data.csv_data import load_csv
from core.data.dataset import UNKNOWN_INTERFACE, Dataset, bad, input_label, quoted, resolve_primary, shape_text
from core.data.images import IMAGE_EXTENSIONS, load_image_folder
from core.data.npz import load_npy, load_npz
from core.errors import BadInputError
from core.models.interface import ModelInterface, TensorSpec

DEFAULT_CALIBRATION_SAMPLES = 200


@dataclass(frozen=True)
class DataSpec:
    """What data the user gave: one file for both calibration and evaluation, or two.

    `path` feeds calibration (a stratified subset of `calibration_samples`) and,
    when `eval_path` is None, evaluation too. With no `path` at all, inputs are
    synthesized from the model's input spec (and the result says so loudly).
    `primary_output` names the output that ``y`` / the label column labels
    (None: the model's first output).
    """

    path: str | None = None
    eval_path: str | None = None
    label_column: str | None = None
    calibration_samples: int = DEFAULT_CALIBRATION_SAMPLES
    eval_samples: int | None = None  # None: all of the evaluation data
    seed: int = 0
    primary_output: str | None = None


@dataclass(frozen=True)
class DataDescription:
    """Where the calibration and evaluation data came from (part of every result and report)."""

    synthetic_data: bool  # True: random inputs, no labels -- calibration may mislead
    calibration_source: str | None
    eval_source: str | None
    calibration_samples: int
    eval_samples: int
    labelled: bool
    stratified: bool
    notes: tuple[str, ...] = ()
    input_shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()  # per-sample shape each input was evaluated at


# ---------------------------------------------------------------------------
# Loading


def _check_counts(data: Dataset, path: str | Path) -> None:
    arrays = [(f"input {k!r}", v) for k, v in data.x.items()]
    arrays += [(f"labels {k!r}", v) for k, v in (data.y or {}).items()]
    for what, value in arrays:
        if value.ndim == 0 or value.shape[0] == 0:
            raise bad(path, f"the data holds no samples ({what} has shape {value.shape})")
    counts = {what: int(value.shape[0]) for what, value in arrays}
    if len(set(counts.values())) > 1:
        raise bad(
            path,
            "the arrays hold different numbers of samples: " + ", ".join(f"{what} {n}" for what, n in counts.items()),
        )


def load_data(
    path: str | Path,
    *,
    interface: ModelInterface | None = None,
    label_column: str | None = None,
    primary_output: str | None = None,
) -> Dataset:
    """Load a data file or image folder (format from the extension) for `interface`'s inputs and outputs.

    Returns a `Dataset` ({input name: (n, ...)}, {output name: (n, ...)} or None); the rules
    are in this module's docstring. Raises BadInputError naming the file.
    """
    p = Path(path)
    if not p.exists():
        raise bad(path, "no such data file or folder")
    model = interface or UNKNOWN_INTERFACE
    primary = resolve_primary(model, primary_output, path)
    if p.is_dir():
        data = load_image_folder(p, interface, primary)
    else:
        suffix = p.suffix.lower()
        if suffix == ".npz":
            data = load_npz(p, model, primary)
        elif suffix == ".npy":
            data = load_npy(p, model, primary)
        elif suffix == ".csv":
            data = load_csv(p, model, primary, label_column)
        else:
            raise bad(
                path,
                f"unknown data format {suffix or '(no extension)'!r}; use .npz, .npy, .csv or an "
                "image folder with one subfolder per class",
            )
    if label_column is not None and data.format in ("npz", "npy"):
        data.notes.append("--label-column is only used for .csv files")
    _check_counts(data, path)
    return data


# ---------------------------------------------------------------------------
# Fitting data to the model


def _fit_ones(actual: tuple[int, ...], expected: tuple[int | None, ...]) -> tuple[int, ...] | None:
    """`actual` reshaped to `expected` by adding/dropping size-1 axes only, or None."""
    sizes = iter([a for a in actual if a != 1])
    if sum(1 for a in actual if a != 1) != sum(1 for e in expected if e != 1):
        return None
    out = []
    for e in expected:
        if e == 1:
            out.append(1)
            continue
        a = next(sizes)
        if e is not None and e != a:
            return None
        out.append(a)
    return tuple(out)


def check_fits(x: np.ndarray, spec: TensorSpec, source: str | Path = "") -> np.ndarray:
    """Return `x` (n, ...) shaped and typed for the input `spec`, or raise BadInputError.

    The error names the input and both shapes; its path is `source`. A free dimension
    (None) accepts any size; only size-1 axes may be added or dropped. Integer data
    feeds a float input (cast); whole-valued float data feeds an integer input (cast),
    fractional values or values outside the integer dtype's range are refused.
    """
    x = np.asarray(x)
    expected = tuple(spec.shape[1:])
    expected_text = shape_text((None,) + expected)
    actual_text = shape_text(x.shape)

    def mismatch(reason: str = "") -> BadInputError:
        return bad(
            source,
            f"{input_label(spec)}: the data does not fit the model: expected inputs of shape "
            f"{expected_text} {spec.dtype}, got {actual_text} {x.dtype}{reason}",
        )

    if x.ndim == 0:
        raise mismatch(" (no sample axis)")
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise mismatch(" (not numeric)")
    actual = x.shape[1:]
    fits = len(actual) == len(expected) and all(e is None or e == a for e, a in zip(expected, actual))
    if not fits:
        target_shape = _fit_ones(actual, expected)
        if target_shape is None:
            raise mismatch()
        x = x.reshape((x.shape[0],) + target_shape)
    target = np.dtype(spec.dtype)
    if x.dtype != target:
        if np.issubdtype(target, np.integer) and x.size:
            if np.issubdtype(x.dtype, np.floating) and (not np.all(np.isfinite(x)) or np.any(np.mod(x, 1) != 0)):
                raise mismatch(" (fractional values for an integer input)")
            info = np.iinfo(target)
            if x.min() < info.min or x.max() > info.max:
                raise mismatch(f" (values {x.min()}..{x.max()} outside the {target} range)")
        x = x.astype(target)
    return x


def check_inputs(data: Dataset, interface: ModelInterface, source: str | Path | None = None) -> Dataset:
    """`data` with every input fitted by `check_fits`, in the interface's input order.

    Raises BadInputError (path: `source`, default the data's source) naming the input when
    an input has no data or does not fit, and when the inputs' sample counts differ.
    """
    source = data.source if source is None else source
    missing = [n for n in interface.input_names if n not in data.x]
    if missing:
        raise bad(
            source,
            f"no data for input{'s' if len(missing) > 1 else ''} {quoted(missing)}; the data has {quoted(data.x)}",
        )
    x = {spec.name: check_fits(data.x[spec.name], spec, source) for spec in interface.inputs}
    counts = {name: int(value.shape[0]) for name, value in x.items()}
    if len(set(counts.values())) > 1:
        raise bad(
            source,
            "the inputs hold different numbers of samples: " + ", ".join(f"input {k!r} {n}" for k, n in counts.items()),
        )
    notes = list(data.notes) + [f"data for {k!r} feeds no input of the model; ignored" for k in data.x if k not in x]
    return replace(data, x=x, notes=notes)


def _class_ids(labels: np.ndarray) -> np.ndarray | None:
    """Class ids (n,) from ids (n,)/(n, 1) or one-hot rows (n, C); None when these are not class labels."""
    total = int(labels.shape[0])
    if labels.ndim > 1 and int(np.prod(labels.shape[1:])) == 1:
        labels = labels.reshape(total)
    if labels.ndim == 2:
        if not (np.all((labels == 0) | (labels == 1)) and np.all(labels.sum(axis=1) == 1)):
            return None
        labels = np.argmax(labels, axis=1)
    if labels.ndim != 1 or not (labels.dtype == bool or np.issubdtype(labels.dtype, np.number)):
        return None
    values = labels.astype(np.float64)
    if not np.all(np.isfinite(values)) or not np.all(np.mod(values, 1) == 0):
        return None
    return labels


def stratified_indices(
    y: np.ndarray | Mapping[str, np.ndarray] | None, n: int, seed: int = 0, *, primary: str | None = None
) -> tuple[np.ndarray, bool]:
    """Up to `n` sample indices, class-stratified when the labels are class labels. Returns (indices, stratified).

    `y`: labels (n_total, ...), or {output name: labels} -- then the `primary` output's labels
    (default: the first) are used. Classes get their proportional share, and rare classes at least
    ``min(count, n // (2 * classes))`` samples (a 0.5 % class is not left with one sample).
    Regression targets and sequence labels: a plain random subset.
    """
    if isinstance(y, Mapping):
        y = y.get(primary) if primary is not None else next(iter(y.values()), None)
    if y is None:
        raise ValueError("stratified_indices needs labels; use a random permutation instead")
    rng = np.random.default_rng(seed)
    labels = np.asarray(y)
    total = int(labels.shape[0])
    if n >= total:
        return np.arange(total), False
    ids = _class_ids(labels)
    if ids is None:
        return np.sort(rng.permutation(total)[:n]), False
    classes, inverse = np.unique(ids, return_inverse=True)
    if len(classes) > max(50, total // 2):
        return np.sort(rng.permutation(total)[:n]), False  # regression targets: plain random
    # Proportional allocation, but every class gets at least min(its count, n / (2 * classes)):
    # calibration needs the ranges rare classes reach, not their frequency.
    counts = np.bincount(inverse)
    floor = np.minimum(counts, n // (2 * len(classes)))
    quota = np.maximum(np.floor(counts / total * n).astype(int), floor)
    while quota.sum() > n:
        quota[int(np.argmax(quota - floor))] -= 1
    while quota.sum() < n:
        quota[int(np.argmax(counts - quota))] += 1
    chosen = [rng.permutation(np.flatnonzero(inverse == k))[: quota[k]] for k in range(len(classes))]
    return np.sort(np.concatenate(chosen)), True


def choose_samples(data: Dataset, n: int | None, seed: int = 0, *, stratify: bool = True) -> tuple[Dataset, bool]:
    """A subset of at most `n` samples of every array; (subset, stratified).

    With `stratify` (calibration), stratified on the primary output's labels when they are class labels,
    else random. Without it (evaluation), a plain random subset: stratification gives rare classes more
    than their share, which moves accuracy, precision and PR-AUC away from the data's own.
    """
    if n is None or n >= len(data):
        return data, False
    if n <= 0:
        raise BadInputError(f"the number of samples must be positive, got {n}")
    if stratify and data.labels is not None:
        idx, stratified = stratified_indices(data.labels, n, seed)
    else:
        idx, stratified = np.sort(np.random.default_rng(seed).permutation(len(data))[:n]), False
    return data.subset(idx), stratified


def describe_path(path: str | None) -> str | None:
    """`path` as a plain string for reports (os.fspath), or None when no file was given."""
    return None if path is None else os.fspath(path)


__all__ = [
    "DEFAULT_CALIBRATION_SAMPLES",
    "IMAGE_EXTENSIONS",
    "DataDescription",
    "DataSpec",
    "Dataset",
    "check_fits",
    "check_inputs",
    "choose_samples",
    "describe_path",
    "load_data",
    "stratified_indices",
]
