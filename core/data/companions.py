"""Data files that sit beside a model and belong to it, found by name.

A model ``NAME.keras`` (or ``NAME.h5``, ``NAME.tflite``, a SavedModel folder ``NAME``) may
have its data next to it:

- ``NAME_eval.EXT``: labelled evaluation samples (what the bundled samples ship, with labels);
- ``NAME.npz``: the model's data in one file;
- ``NAME_calib.EXT``: calibration samples (inputs only).

EXT is a data format Litesmith reads (``.npz``, ``.npy``, ``.csv``). The match is on names
only: `match_companions` is a pure function of the folder's names (the caller lists the
folder, off the GUI thread, and nothing here opens a file); `find_companions` is that
listing plus the match. Names are compared case-sensitively, as the file system does on
Linux; the extension case-insensitively.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable

DATA_SUFFIXES = (".npz", ".npy", ".csv")
MODEL_SUFFIXES = (".keras", ".h5", ".hdf5", ".tflite")


@dataclass(frozen=True)
class Companions:
    """The data found beside one model: full paths, or None where there is none."""

    eval_path: str | None = None  # NAME_eval.EXT: labelled, for evaluation (and calibration)
    combined_path: str | None = None  # NAME.npz
    calib_path: str | None = None  # NAME_calib.EXT

    @property
    def best(self) -> str | None:
        """The one file to use where a single data slot serves calibration and evaluation.

        Labelled evaluation data first (it gives accuracy figures as well as calibration
        samples), then the combined file, then calibration-only samples.
        """
        return self.eval_path or self.combined_path or self.calib_path

    @property
    def found(self) -> bool:
        """True when at least one companion data file was found next to the model."""
        return self.best is not None


def model_stem(model_path: str) -> str:
    """``NAME`` of a model path: the file name without its model extension, or a SavedModel folder's name."""
    name = os.path.basename(os.path.normpath(model_path))
    stem, suffix = os.path.splitext(name)
    return stem if suffix.lower() in MODEL_SUFFIXES else name


def _pick(names: list[str], stem: str) -> str | None:
    """The first of `names` that is ``stem`` plus a data suffix (suffix order: DATA_SUFFIXES)."""
    by_suffix: dict[str, str] = {}
    for name in names:
        base, suffix = os.path.splitext(name)
        if base == stem and suffix.lower() in DATA_SUFFIXES:
            by_suffix.setdefault(suffix.lower(), name)
    return next((by_suffix[s] for s in DATA_SUFFIXES if s in by_suffix), None)


def match_companions(model_path: str, names: Iterable[str]) -> Companions:
    """Match the file `names` of the model's folder (as `os.listdir` gives them) against the model's name.

    Pure: no file is opened or listed. Returns paths joined onto the model's folder.
    """
    stem = model_stem(model_path)
    folder = os.path.dirname(os.path.normpath(model_path))
    listing = sorted(set(names))

    def path(name: str | None) -> str | None:
        return os.path.join(folder, name) if name is not None else None

    combined = path(next((n for n in listing if n == f"{stem}.npz"), None))
    return Companions(
        eval_path=path(_pick(listing, f"{stem}_eval")),
        combined_path=combined,
        calib_path=path(_pick(listing, f"{stem}_calib")),
    )


def find_companions(model_path: str) -> Companions:
    """List the model's folder and match it (`match_companions`). Call it off the GUI thread.

    A folder that cannot be listed (gone, no permission) gives no companions: offering data is
    a convenience, never an error.
    """
    folder = os.path.dirname(os.path.normpath(os.path.abspath(model_path)))
    try:
        names = os.listdir(folder)
    except OSError:
        return Companions()
    return match_companions(os.path.join(folder, os.path.basename(os.path.normpath(model_path))), names)
