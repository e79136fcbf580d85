"""Image folders: one subfolder per class, decoded and resized to a single image input."""

from __future__ import annotations

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
        x={spec.name: np.stack(images)}, y=y, source=str(path), format="image_folder", notes=notes, primary=primary
    )
