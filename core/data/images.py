"""Image folders: one subfolder per class, decoded and resized to a single image input."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from core.data.dataset import Dataset, bad, quoted
from core.models.interface import ModelInterface

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def load_image_folder(path: str | Path, interface: ModelInterface | None, primary: str | None) -> Dataset:
    """Images (n, height, width, channels) float32 0..255 for the model's one input; class ids (n,) int64
    (subfolders in sorted order) label the primary output."""
    from core.tf_runtime import import_tensorflow

    root = Path(path)
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise bad(path, "an image folder needs one subfolder per class (none found)")
    if interface is not None and len(interface.inputs) != 1:
        raise bad(
            path,
            f"an image folder feeds only a single-input model; this model has "
            f"{len(interface.inputs)} inputs ({quoted(interface.input_names)}): use an .npz with "
            f"one array named after each input",
        )
    spec = interface.inputs[0] if interface is not None else None
    if spec is None or len(spec.shape) != 4 or spec.shape[1] is None or spec.shape[2] is None:
        expected = spec.describe() if spec else "unknown"
        raise bad(
            path,
            f"an image folder needs a model with a fixed image input (batch, height, width, channels); "
            f"this model's input is {expected}",
        )
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
                raise bad(file, f"cannot decode this image: {exc}") from None
            image = tf.image.resize(image, (height, width))
            images.append(image.numpy().astype(np.float32))
            labels.append(label)
    if not images:
        raise bad(path, f"no images ({', '.join(IMAGE_EXTENSIONS)}) in the class subfolders")
    notes = [
        f"{len(classes)} classes: {', '.join(classes[:10])}{'…' if len(classes) > 10 else ''}",
        f"resized to {height}x{width}x{channels}, pixel values 0..255 (the model must rescale itself)",
    ]
    y = None if primary is None else {primary: np.asarray(labels, dtype=np.int64)}
    if primary is not None:
        notes.append(f"class ids label output {primary!r} (the primary output)")
    return Dataset(
        x={spec.name: np.stack(images)},
        y=y,
        source=str(path),
        format="image_folder",
        notes=notes,
        primary=primary,
        classes=tuple(classes),
    )


def align_image_classes(
    calibration: Dataset, evaluation: Dataset, interface: ModelInterface
) -> tuple[Dataset, Dataset, list[str]]:
    """(calibration, evaluation, warnings) with image-folder class ids that mean the model's classes.

    An image folder's class id is its subfolder's position in sorted order, so a folder without some
    class numbers the others differently from one that has it. When both data sets are image folders
    with different subfolders, the one whose classes include the other's numbers both: the other's ids
    are mapped onto it by name (BadInputError when neither includes the other). Then, where the primary
    output has K > 1 units (or one, for two classes) and the folder that numbers the ids has another
    count of classes, which id is which class cannot be known: those labels are dropped (fidelity
    only) with a warning saying why.
    """
    ours, theirs = calibration.classes, evaluation.classes
    if evaluation is not calibration and ours and theirs and ours != theirs:
        if set(theirs) <= set(ours):
            evaluation = _renumbered(evaluation, ours, "calibration")
        elif set(ours) <= set(theirs):
            calibration = _renumbered(calibration, theirs, "evaluation")
        else:
            unknown = [name for name in theirs if name not in ours]
            raise bad(
                evaluation.source,
                f"class subfolder(s) {quoted(unknown[:10])} are not among the calibration folder's classes "
                f"({quoted(ours[:10])}), nor the other way round: which class of the model each is cannot be "
                "known",
            )
    warnings: list[str] = []
    aligned = []
    for data in (calibration,) if evaluation is calibration else (calibration, evaluation):
        reason = _class_count_mismatch(data, interface)
        if reason:
            warnings.append(f"{data.source}: {reason}; its labels are not used (fidelity only)")
            data = replace(data, y=None)
        aligned.append(data)
    return aligned[0], aligned[-1], warnings


def _renumbered(data: Dataset, classes: tuple[str, ...], other: str) -> Dataset:
    """`data` (an image folder whose class names are all in `classes`) with its class ids mapped by name
    onto `classes`' positions, with a note naming the `other` folder whose numbering it now follows."""
    notes = list(data.notes) + [f"class ids follow the {other} folder's {len(classes)} classes, matched by name"]
    y = data.y
    if y is not None and data.primary is not None and data.classes is not None:
        ids = np.asarray([classes.index(name) for name in data.classes], dtype=np.int64)
        y = {**y, data.primary: ids[y[data.primary]]}
    return replace(data, y=y, notes=notes, classes=classes)


def _class_count_mismatch(data: Dataset, interface: ModelInterface) -> str | None:
    """Why an image folder's class ids cannot label the primary output, or None (fit, or not a folder)."""
    if not data.classes or data.y is None or data.primary is None:
        return None
    shape = interface.output(data.primary).shape
    if len(shape) > 2 or (len(shape) == 2 and shape[1] is None):
        return None  # not one score row per image: the task rules decide
    units = 1 if len(shape) == 1 else int(shape[1])  # type: ignore[arg-type]
    expected = 2 if units == 1 else units
    if len(data.classes) == expected:
        return None
    return (
        f"its {len(data.classes)} class subfolders cannot be matched to the {expected} classes of output "
        f"{data.primary!r} (a class id is a subfolder's position in sorted order: give one subfolder per class, "
        "an empty one for a class without images)"
    )
