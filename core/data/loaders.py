"""Loading calibration and evaluation data, and checking it fits the model.

Formats:

* ``.npz`` -- arrays ``x`` and ``y``, or else the first two arrays in the file
  (a single array: inputs only). Loaded with ``allow_pickle=False``.
* ``.npy`` -- inputs only.
* ``.csv`` -- a header row; every column but the label column (named by the
  user) is an input feature.
* an image folder -- one subfolder per class; images are decoded and resized to
  the model's input (needs the model's input spec).

A data file whose shape or dtype does not fit the model raises `BadInputError`
naming the expected and the actual shape. Size-1 axes may be added or dropped
(``(n, 8, 8)`` data feeds a ``(None, 8, 8, 1)`` input); nothing else is guessed.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import BadInputError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
DEFAULT_CALIBRATION_SAMPLES = 200


@dataclass(frozen=True)
class InputSpec:
    """One model input: shape with None for unknown dimensions (axis 0 is the batch), numpy dtype name."""

    shape: tuple[int | None, ...]
    dtype: str = "float32"
    name: str = ""

    def describe(self) -> str:
        return "(" + ", ".join("?" if d is None else str(d) for d in self.shape) + f") {self.dtype}"


@dataclass(frozen=True)
class DataSpec:
    """What data the user gave: one file for both calibration and evaluation, or two.

    `path` feeds calibration (a stratified subset of `calibration_samples`) and,
    when `eval_path` is None, evaluation too. With no `path` at all, inputs are
    synthesized from the model's input spec (and the result says so loudly).
    """

    path: str | None = None
    eval_path: str | None = None
    label_column: str | None = None
    calibration_samples: int = DEFAULT_CALIBRATION_SAMPLES
    eval_samples: int | None = None          # None: all of the evaluation data
    seed: int = 0


@dataclass(frozen=True)
class DataDescription:
    """Where the calibration and evaluation data came from (part of every result and report)."""

    synthetic_data: bool                     # True: random inputs, no labels -- calibration may mislead
    calibration_source: str | None
    eval_source: str | None
    calibration_samples: int
    eval_samples: int
    labelled: bool
    stratified: bool
    notes: tuple[str, ...] = ()


@dataclass
class Dataset:
    """Inputs `x` (samples on axis 0) and optional labels `y`."""

    x: np.ndarray
    y: np.ndarray | None
    source: str
    format: str
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def subset(self, indices: np.ndarray) -> "Dataset":
        return Dataset(self.x[indices], None if self.y is None else self.y[indices], self.source, self.format,
                       list(self.notes))


def _bad(path: str | Path, message: str) -> BadInputError:
    return BadInputError(message, path=str(path))


def _shape_text(shape) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


# ---------------------------------------------------------------------------
# Loaders


def load_npz(path: str | Path) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            if not names:
                raise _bad(path, "the .npz file holds no arrays")
            if "x" in names:
                x = archive["x"]
                y = archive["y"] if "y" in names else None
                used = "arrays x and y" if y is not None else "array x (no y: unlabelled)"
            else:
                x = archive[names[0]]
                y = archive[names[1]] if len(names) > 1 else None
                used = f"first arrays {names[0]!r}" + (f" (inputs) and {names[1]!r} (labels)" if y is not None else " (inputs)")
    except BadInputError:
        raise
    except ValueError as exc:  # object arrays need pickle: refused
        raise _bad(path, f"cannot read this .npz without unpickling ({exc}); save plain numeric arrays") from None
    except (OSError, EOFError) as exc:
        raise _bad(path, f"not a readable .npz file: {exc}") from None
    return Dataset(x=x, y=y, source=str(path), format="npz", notes=[f"used {used}"])


def load_npy(path: str | Path) -> Dataset:
    try:
        x = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise _bad(path, f"cannot read this .npy without unpickling ({exc}); save a plain numeric array") from None
    except (OSError, EOFError) as exc:
        raise _bad(path, f"not a readable .npy file: {exc}") from None
    if not isinstance(x, np.ndarray):
        raise _bad(path, "the .npy file does not hold an array")
    return Dataset(x=x, y=None, source=str(path), format="npy", notes=["inputs only (.npy has no labels)"])


def load_csv(path: str | Path, label_column: str | None = None) -> Dataset:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise _bad(path, f"cannot read this CSV file: {exc}") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise _bad(path, "the CSV file needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    if label_column is not None and label_column not in header:
        raise _bad(path, f"no column named {label_column!r}; the columns are: {', '.join(header)}")
    label_index = header.index(label_column) if label_column is not None else None
    feature_names = [h for i, h in enumerate(header) if i != label_index]
    values = np.empty((len(rows) - 1, len(header)), dtype=np.float64)
    for r, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise _bad(path, f"line {r} has {len(row)} fields, the header {len(header)}")
        for c, cell in enumerate(row):
            try:
                values[r - 2, c] = float(cell)
            except ValueError:
                raise _bad(path, f"line {r}, column {header[c]!r}: {cell!r} is not a number") from None
    keep = [i for i in range(len(header)) if i != label_index]
    x = values[:, keep].astype(np.float32)
    y = None
    notes = [f"{len(feature_names)} feature columns"]
    if label_index is not None:
        y = values[:, label_index]
        if np.all(np.mod(y, 1) == 0):
            y = y.astype(np.int64)
        notes.append(f"labels from column {label_column!r}")
    else:
        notes.append("no label column named: unlabelled")
    return Dataset(x=x, y=y, source=str(path), format="csv", notes=notes)


def load_image_folder(path: str | Path, spec: InputSpec | None) -> Dataset:
    from core.tf_runtime import import_tensorflow

    root = Path(path)
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise _bad(path, "an image folder needs one subfolder per class (none found)")
    if spec is None or len(spec.shape) != 4 or spec.shape[1] is None or spec.shape[2] is None:
        expected = spec.describe() if spec else "unknown"
        raise _bad(path, f"an image folder needs a model with a fixed image input (batch, height, width, channels); "
                         f"this model's input is {expected}")
    height, width, channels = spec.shape[1], spec.shape[2], spec.shape[3] or 3
    tf = import_tensorflow()
    images, labels = [], []
    for label, name in enumerate(classes):
        for file in sorted((root / name).iterdir()):
            if file.suffix.lower() not in IMAGE_EXTENSIONS or not file.is_file():
                continue
            try:
                image = tf.io.decode_image(tf.io.read_file(str(file)), channels=channels, expand_animations=False)
            except Exception as exc:  # noqa: BLE001 - a broken image names itself
                raise _bad(file, f"cannot decode this image: {exc}") from None
            image = tf.image.resize(image, (height, width))
            images.append(image.numpy().astype(np.float32))
            labels.append(label)
    if not images:
        raise _bad(path, f"no images ({', '.join(IMAGE_EXTENSIONS)}) in the class subfolders")
    notes = [f"{len(classes)} classes: {', '.join(classes[:10])}{'…' if len(classes) > 10 else ''}",
             f"resized to {height}x{width}x{channels}, pixel values 0..255 (the model must rescale itself)"]
    return Dataset(x=np.stack(images), y=np.asarray(labels, dtype=np.int64), source=str(path),
                   format="image_folder", notes=notes)


def load_data(path: str | Path, *, label_column: str | None = None, spec: InputSpec | None = None) -> Dataset:
    """Load a data file or image folder (format from the extension); raises BadInputError."""
    p = Path(path)
    if not p.exists():
        raise _bad(path, "no such data file or folder")
    if p.is_dir():
        data = load_image_folder(p, spec)
    else:
        suffix = p.suffix.lower()
        if suffix == ".npz":
            data = load_npz(p)
        elif suffix == ".npy":
            data = load_npy(p)
        elif suffix == ".csv":
            data = load_csv(p, label_column)
        else:
            raise _bad(path, f"unknown data format {suffix or '(no extension)'!r}; use .npz, .npy, .csv or an "
                             "image folder with one subfolder per class")
    if label_column is not None and data.format in ("npz", "npy"):
        data.notes.append("--label-column is only used for .csv files")
    if data.x.ndim == 0 or data.x.shape[0] == 0:
        raise _bad(path, "the data holds no samples")
    if data.y is not None and data.y.shape[0] != data.x.shape[0]:
        raise _bad(path, f"{data.x.shape[0]} input samples but {data.y.shape[0]} labels")
    return data


# ---------------------------------------------------------------------------
# Fitting data to the model


def _squeeze_ones(shape) -> tuple:
    return tuple(d for d in shape if d != 1)


def check_fits(x: np.ndarray, spec: InputSpec, source: str | Path = "") -> np.ndarray:
    """Return `x` shaped and typed for `spec`, or raise BadInputError naming both shapes.

    Only size-1 axes may differ (added or dropped); integer data feeds a float input
    (cast); float data never feeds an integer input.
    """
    x = np.asarray(x)
    expected = spec.shape[1:]
    actual = x.shape[1:]
    expected_text = _shape_text((None,) + tuple(expected))
    actual_text = _shape_text(x.shape)

    def mismatch(reason: str = "") -> BadInputError:
        return BadInputError(
            f"the data does not fit the model: expected inputs of shape {expected_text} {spec.dtype}, "
            f"got {actual_text} {x.dtype}{reason}", path=str(source) if source else None)

    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise mismatch(" (not numeric)")
    fits = len(actual) == len(expected) and all(e is None or e == a for e, a in zip(expected, actual))
    if not fits:
        if None in expected or _squeeze_ones(actual) != _squeeze_ones(expected):
            raise mismatch()
        x = x.reshape((x.shape[0],) + tuple(expected))
    target = np.dtype(spec.dtype)
    if x.dtype != target:
        if np.issubdtype(target, np.integer) and np.issubdtype(x.dtype, np.floating):
            if not np.all(np.mod(x, 1) == 0):
                raise mismatch(" (fractional values for an integer input)")
        x = x.astype(target)
    return x


def stratified_indices(y: np.ndarray | None, n: int, seed: int = 0) -> tuple[np.ndarray, bool]:
    """Up to `n` sample indices, class-stratified when `y` holds class labels. Returns (indices, stratified).

    Classes get their proportional share, and rare classes at least
    ``min(count, n // (2 * classes))`` samples (a 0.5 % class is not left with one sample).
    """
    rng = np.random.default_rng(seed)
    total = int(y.shape[0]) if y is not None else 0
    if y is None:
        raise ValueError("stratified_indices needs labels; use a random permutation instead")
    if n >= total:
        return np.arange(total), False
    labels = np.asarray(y)
    if labels.ndim == 2 and labels.shape[1] > 1:
        labels = np.argmax(labels, axis=1)
    labels = labels.reshape(total, -1)[:, 0] if labels.ndim > 1 else labels
    classes, inverse = np.unique(labels, return_inverse=True)
    if len(classes) > max(50, total // 2) or not np.all(np.mod(labels.astype(np.float64), 1) == 0):
        return np.sort(rng.permutation(total)[:n]), False  # regression targets: plain random
    chosen = []
    # Proportional allocation, but every class gets at least min(its count, n / (2 * classes)):
    # calibration needs the ranges rare classes reach, not their frequency.
    counts = np.bincount(inverse)
    floor = np.minimum(counts, n // (2 * len(classes)))
    quota = np.maximum(np.floor(counts / total * n).astype(int), floor)
    while quota.sum() > n:
        quota[int(np.argmax(quota - floor))] -= 1
    while quota.sum() < n:
        spare = counts - quota
        quota[int(np.argmax(spare))] += 1
    for k in range(len(classes)):
        members = np.flatnonzero(inverse == k)
        chosen.append(rng.permutation(members)[: quota[k]])
    return np.sort(np.concatenate(chosen)), True


def choose_samples(data: Dataset, n: int | None, seed: int = 0) -> tuple[Dataset, bool]:
    """A subset of at most `n` samples (class-stratified when labelled); (subset, stratified)."""
    if n is None or n >= len(data):
        return data, False
    if n <= 0:
        raise BadInputError(f"the number of samples must be positive, got {n}")
    if data.y is not None:
        idx, stratified = stratified_indices(data.y, n, seed)
    else:
        idx, stratified = np.sort(np.random.default_rng(seed).permutation(len(data))[:n]), False
    return data.subset(idx), stratified


def describe_path(path: str | None) -> str | None:
    return None if path is None else os.fspath(path)
