"""Data loaders for calibration and evaluation: formats, fitting to the model, stratification, synthesis.

Single-input models here; several named inputs and outputs in test_data_multi.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.data import DataSpec, check_fits, load_data, stratified_indices, synthesize_inputs
from core.data.loaders import choose_samples
from core.errors import BadInputError
from core.models.interface import OUTPUT, ModelInterface, TensorSpec


def single(shape=(None, 3), dtype="float32", name="features", output="score") -> ModelInterface:
    return ModelInterface(
        inputs=(TensorSpec(shape, dtype, name),), outputs=(TensorSpec((None, 1), "float32", output, role=OUTPUT),)
    )


def test_npz_with_x_and_y(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, y=np.arange(5), x=np.ones((5, 3), np.float32))
    data = load_data(path, interface=single())
    assert list(data.x) == ["features"] and data.x["features"].shape == (5, 3)
    assert list(data.y) == ["score"] and data.y["score"].tolist() == [0, 1, 2, 3, 4]
    assert data.primary == "score" and data.labels.tolist() == [0, 1, 2, 3, 4]


def test_npz_without_interface_reads_x_and_y(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.ones((5, 3), np.float32), y=np.arange(5))
    data = load_data(path)
    assert data.x["x"].shape == (5, 3) and data.y["y"].tolist() == [0, 1, 2, 3, 4] and len(data) == 5


def test_npz_legacy_first_two_arrays(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, inputs=np.zeros((4, 2)), labels=np.ones(4))
    data = load_data(path, interface=single((None, 2)))
    assert data.x["features"].shape == (4, 2) and data.y["score"].shape == (4,)
    assert "legacy" in data.notes[0] and "'inputs'" in data.notes[0]


def test_npz_refuses_pickled_objects(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(BadInputError, match="unpickling"):
        load_data(path)


def test_npz_sample_counts_must_agree(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((5, 3)), y=np.zeros(4))
    with pytest.raises(BadInputError, match="input 'features' 5, labels 'score' 4") as info:
        load_data(path, interface=single())
    assert info.value.path == str(path)


def test_npy_inputs_only(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, np.zeros((3, 2), np.float32))
    data = load_data(path, interface=single((None, 2)))
    assert data.y is None and data.x["features"].shape == (3, 2)


def test_csv_with_label_column(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,label,b\n1,0,2\n3,1,4\n5.5,1,6\n")
    data = load_data(path, interface=single((None, 2)), label_column="label")
    assert data.x["features"].tolist() == [[1, 2], [3, 4], [5.5, 6]] and data.x["features"].dtype == np.float32
    assert data.y["score"].tolist() == [0, 1, 1] and data.y["score"].dtype == np.int64


def test_csv_unknown_label_column_names_the_columns(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(BadInputError, match="no column named 'y'.*a, b"):
        load_data(path, label_column="y")


def test_csv_non_numeric_cell(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b\n1,x\n")
    with pytest.raises(BadInputError, match="line 2, column 'b'"):
        load_data(path)


def test_unknown_format(tmp_path):
    path = tmp_path / "d.parquet"
    path.write_bytes(b"x")
    with pytest.raises(BadInputError, match="unknown data format"):
        load_data(path)


def test_unknown_primary_output_is_refused(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((2, 3)))
    with pytest.raises(BadInputError, match="no output named 'nope'.*'score'"):
        load_data(path, interface=single(), primary_output="nope")


def test_shape_mismatch_names_input_expected_and_actual():
    spec = TensorSpec(shape=(None, 30), dtype="float32", name="amounts")
    with pytest.raises(BadInputError) as info:
        check_fits(np.zeros((10, 29), np.float32), spec, "data.npz")
    assert "input 'amounts'" in info.value.message
    assert "expected inputs of shape (?, 30) float32" in info.value.message
    assert "got (10, 29) float32" in info.value.message
    assert info.value.path == "data.npz"


def test_size_one_axes_are_fitted_and_ints_cast():
    spec = TensorSpec(shape=(None, 8, 8, 1), dtype="float32")
    x = check_fits(np.zeros((2, 8, 8), np.uint8), spec)
    assert x.shape == (2, 8, 8, 1) and x.dtype == np.float32
    assert check_fits(np.zeros((2, 1, 5)), TensorSpec(shape=(None, 5))).shape == (2, 5)


def test_free_dimension_accepts_any_size():
    spec = TensorSpec(shape=(None, None, 4), dtype="float32", name="seq")
    assert check_fits(np.zeros((2, 7, 4)), spec).shape == (2, 7, 4)
    assert check_fits(np.zeros((2, 1, 4)), spec).shape == (2, 1, 4)
    assert check_fits(np.zeros((2, 9)), TensorSpec(shape=(None, None, 1))).shape == (2, 9, 1)
    with pytest.raises(BadInputError, match="input 'seq'.*got \\(2, 7, 3\\)"):
        check_fits(np.zeros((2, 7, 3)), spec)


def test_float_data_for_integer_input_is_refused():
    spec = TensorSpec(shape=(None, 4), dtype="int32", name="ids")
    with pytest.raises(BadInputError, match="input 'ids'.*fractional"):
        check_fits(np.full((2, 4), 0.5), spec)
    assert check_fits(np.ones((2, 4)), spec).dtype == np.int32
    with pytest.raises(BadInputError, match="outside the int32 range"):
        check_fits(np.full((1, 4), 2**40, np.int64), spec)


def test_stratified_keeps_rare_classes():
    y = np.array([0] * 1990 + [1] * 10)
    idx, stratified = stratified_indices(y, 200, seed=0)
    assert stratified and len(idx) == 200
    assert y[idx].sum() == 10  # every positive: calibration needs their ranges
    y = np.repeat(np.arange(10), 40)
    idx, _ = stratified_indices(y, 100)
    assert np.bincount(y[idx]).tolist() == [10] * 10


def test_stratified_one_hot_and_regression():
    y = np.eye(4)[np.repeat(np.arange(4), 25)]
    idx, stratified = stratified_indices(y, 20)
    assert stratified and np.bincount(np.argmax(y[idx], axis=1)).tolist() == [5] * 4
    _, stratified = stratified_indices(np.linspace(0, 1, 100), 20)
    assert not stratified


def test_choose_samples_without_labels_is_random_subset(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, np.arange(50, dtype=np.float32).reshape(50, 1))
    subset, stratified = choose_samples(load_data(path, interface=single((None, 1))), 10)
    assert len(subset) == 10 and not stratified
    assert len(np.unique(subset.x["features"])) == 10


def test_synthesize_inputs_follows_spec():
    x, notes = synthesize_inputs(TensorSpec(shape=(None, 3, None), dtype="float32", name="seq"), 4, given=(3, 9))
    assert x.shape == (4, 3, 9) and x.dtype == np.float32
    assert notes == ["input 'seq' synthesized at (3, 9) (--input-shape)"]
    ids, notes = synthesize_inputs(TensorSpec(shape=(None, 5), dtype="int32"), 2)
    assert ids.dtype == np.int32 and ids.min() >= 0 and not notes


def test_data_spec_defaults():
    spec = DataSpec()
    assert spec.path is None and spec.calibration_samples == 200 and spec.primary_output is None


def test_image_folder_resized_to_model_input(tmp_path):
    from core.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    for label, value in (("cat", 10), ("dog", 200)):
        folder = tmp_path / "images" / label
        folder.mkdir(parents=True)
        for i in range(2):
            image = tf.constant(np.full((12, 10, 3), value + i, np.uint8))
            (folder / f"{i}.png").write_bytes(tf.io.encode_png(image).numpy())
    data = load_data(tmp_path / "images", interface=single((None, 6, 5, 3), name="image", output="kind"))
    assert data.x["image"].shape == (4, 6, 5, 3) and data.y["kind"].tolist() == [0, 0, 1, 1]
    assert data.x["image"][0].max() == pytest.approx(10) and data.x["image"][3].min() == pytest.approx(201)


def test_image_folder_needs_an_image_model(tmp_path):
    (tmp_path / "images" / "a").mkdir(parents=True)
    with pytest.raises(BadInputError, match="fixed image input"):
        load_data(tmp_path / "images", interface=single((None, 30)))


def test_an_evaluation_subset_keeps_the_data_s_class_balance(tmp_path):
    """--eval-samples draws at random: 76 positives in 1,000 stay about 7.6% of 200 (a binomial count,
    mean 15.2, sd 3.6, bounded here at 5 sd), where class stratification would give the rare class
    at least 200 / (2 x 2) = 50 samples and move accuracy, precision and PR-AUC with it."""
    from core.optimize.data_prep import prepare_data

    y = np.zeros(1000, np.int64)
    y[np.random.default_rng(3).permutation(1000)[:76]] = 1
    path = tmp_path / "rare.npz"
    np.savez(path, x=np.random.default_rng(4).normal(size=(1000, 3)).astype(np.float32), y=y)
    prepared = prepare_data(single(), DataSpec(path=str(path), eval_path=str(path), eval_samples=200))
    (labels,) = prepared.eval_y.values()
    positives = int(labels.sum())
    assert len(labels) == 200 and abs(positives - 15.2) <= 5 * 3.6, positives
    assert any("200 of 1000 samples, drawn at random" in n for n in prepared.description.notes)
