"""Image folders name classes by subfolder; the class id is the subfolder's position in sorted order.

An evaluation folder without one of the classes used to number the others differently (dog/eel as 0/1
where the model's classes are cat/dog/eel = 0/1/2), and top-1 was scored against the wrong ids with
exit 0. Oracle: each image's pixel value encodes its true class, and the ids expected are worked out by
hand from the full sorted class list.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.data import DataSpec
from core.errors import BadInputError
from core.models.interface import OUTPUT, ModelInterface, TensorSpec
from core.optimize.data_prep import prepare_data

VALUE = {"cat": 10, "dog": 100, "eel": 200}  # pixel value of every image of the class


def _folder(root, classes: tuple[str, ...], empty: tuple[str, ...] = ()):
    from core.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    for name in classes:
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(2):
            image = tf.constant(np.full((4, 4, 1), VALUE[name], np.uint8))
            (folder / f"{i}.png").write_bytes(tf.io.encode_png(image).numpy())
    for name in empty:
        (root / name).mkdir(parents=True)
    return root


def _interface(units: int) -> ModelInterface:
    return ModelInterface(
        inputs=(TensorSpec((None, 4, 4, 1), "float32", "image"),),
        outputs=(TensorSpec((None, units), "float32", "cls", role=OUTPUT),),
    )


def _pairs(x: dict, y: dict | None) -> list[tuple[int, int]]:
    """(pixel value, label) per sample, sorted: which id each class's images carry."""
    labels = [-1] * len(x["image"]) if y is None else y["cls"].tolist()
    return sorted(zip((int(v) for v in x["image"][:, 0, 0, 0]), labels))


def test_an_evaluation_folder_missing_a_class_keeps_the_calibration_folder_s_ids(tmp_path):
    train = _folder(tmp_path / "train", ("cat", "dog", "eel"))
    val = _folder(tmp_path / "val", ("dog", "eel"))
    prepared = prepare_data(_interface(3), DataSpec(path=str(train), eval_path=str(val)))
    # cat/dog/eel sort to 0/1/2: dog is 1 and eel 2 in the evaluation folder too (not 0 and 1)
    assert _pairs(prepared.eval_x, prepared.eval_y) == [(100, 1), (100, 1), (200, 2), (200, 2)]
    assert any("class ids follow the calibration folder's 3 classes" in n for n in prepared.description.notes)


def test_a_calibration_folder_missing_a_class_follows_the_evaluation_folder_s_ids(tmp_path):
    train = _folder(tmp_path / "train", ("dog", "eel"))
    val = _folder(tmp_path / "val", ("cat", "dog", "eel"))
    prepared = prepare_data(_interface(3), DataSpec(path=str(train), eval_path=str(val)))
    assert _pairs(prepared.eval_x, prepared.eval_y) == [(10, 0), (10, 0), (100, 1), (100, 1), (200, 2), (200, 2)]
    assert _pairs(prepared.train_x, prepared.train_y) == [(100, 1), (100, 1), (200, 2), (200, 2)]


def test_folders_whose_classes_cross_are_refused(tmp_path):
    train = _folder(tmp_path / "train", ("cat", "dog"))
    val = _folder(tmp_path / "val", ("dog", "eel"))
    with pytest.raises(BadInputError, match="'eel' are not among the calibration folder's classes") as caught:
        prepare_data(_interface(3), DataSpec(path=str(train), eval_path=str(val)))
    assert caught.value.path == str(val)


def test_a_folder_with_fewer_classes_than_the_output_is_not_scored(tmp_path):
    only = _folder(tmp_path / "val", ("dog", "eel"))
    prepared = prepare_data(_interface(3), DataSpec(path=str(only)))
    assert prepared.eval_y is None  # fidelity only: 0/1 would be a guess at which of 3 classes they are
    (warning,) = prepared.warnings
    assert "2 class subfolders cannot be matched to the 3 classes of output 'cls'" in warning


def test_an_empty_subfolder_keeps_a_class_s_place(tmp_path):
    only = _folder(tmp_path / "val", ("dog", "eel"), empty=("cat",))
    prepared = prepare_data(_interface(3), DataSpec(path=str(only)))
    assert _pairs(prepared.eval_x, prepared.eval_y) == [(100, 1), (100, 1), (200, 2), (200, 2)]
    assert prepared.warnings == []


def test_two_folders_label_a_one_unit_binary_output(tmp_path):
    only = _folder(tmp_path / "val", ("cat", "dog"))
    prepared = prepare_data(_interface(1), DataSpec(path=str(only)))
    assert _pairs(prepared.eval_x, prepared.eval_y) == [(10, 0), (10, 0), (100, 1), (100, 1)]
