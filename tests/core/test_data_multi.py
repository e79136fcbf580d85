"""Data for models with several named inputs and outputs: every array is matched by name.

Interfaces are built by hand; the oracles are hand-made arrays whose values say which
array they came from.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.data import check_inputs, choose_samples, load_data, stratified_indices, synthesize_dataset
from core.data.dataset import Dataset
from core.errors import BadInputError
from core.models.interface import OUTPUT, ModelInterface, TensorSpec

# Output names that sort the other way round: their order must come from the model, never from sorting.
OUTPUTS = (
    TensorSpec((None, 3), "float32", "zz_species", role=OUTPUT),
    TensorSpec((None, 1), "float32", "aa_weight", role=OUTPUT),
)
MODEL = ModelInterface(
    inputs=(TensorSpec((None, 3), "int32", "tokens"), TensorSpec((None, 2), "float32", "price")), outputs=OUTPUTS
)


def npz(tmp_path, **arrays):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    return path


def tokens(n=4):
    return np.arange(n * 3, dtype=np.int64).reshape(n, 3)


def price(n=4):
    return np.full((n, 2), 0.5, np.float32)


# --------------------------------------------------------------------------- .npz inputs


def test_npz_inputs_matched_by_name_in_model_order(tmp_path):
    path = npz(tmp_path, price=price(), tokens=tokens())  # stored in the other order
    data = load_data(path, interface=MODEL)
    assert list(data.x) == ["tokens", "price"]
    assert data.x["tokens"].tolist() == tokens().tolist() and data.x["price"].tolist() == price().tolist()
    assert data.y is None and len(data) == 4
    assert data.notes[0] == "inputs matched by name: 'tokens', 'price'"


def test_npz_x_k_in_numeric_order(tmp_path):
    names = [f"in_{chr(ord('a') + i)}" for i in range(12)]
    model = ModelInterface(inputs=tuple(TensorSpec((None, 1), "float32", n) for n in names), outputs=OUTPUTS)
    arrays = {f"x_{k}": np.full((2, 1), k, np.float32) for k in range(12)}
    path = npz(tmp_path, **dict(sorted(arrays.items())))  # lexicographic: x_0, x_1, x_10, x_11, x_2, ...
    data = load_data(path, interface=model)
    assert list(data.x) == names
    assert [int(data.x[n][0, 0]) for n in names] == list(range(12))  # x_10 feeds the 11th input, not the 3rd
    assert "x_2 -> 'in_c'" in data.notes[0] and "x_10 -> 'in_k'" in data.notes[0]


@pytest.mark.parametrize(
    "arrays, why",
    [
        ({"tokens": tokens(), "x_1": price()}, "arrays for 'tokens' but none for 'price'"),
        ({"x": tokens()}, "one array 'x' for a model with 2 inputs"),
        ({"x_0": tokens(), "x_2": price()}, "arrays 'x_0', 'x_2' are not exactly x_0..x_1 for 2 inputs"),
        ({"x_0": tokens(), "x_1": price(), "x_2": price()}, "not exactly x_0..x_1"),
        ({"features": tokens(), "labels": np.zeros(4)}, "no array is named after an input"),
    ],
)
def test_npz_that_does_not_cover_the_inputs_is_refused(tmp_path, arrays, why):
    path = npz(tmp_path, **arrays)
    with pytest.raises(BadInputError) as info:
        load_data(path, interface=MODEL)
    assert info.value.path == str(path)
    message = info.value.message
    assert why in message
    assert "The file has arrays " + ", ".join(repr(n) for n in arrays) in message
    assert "arrays named 'tokens', 'price' (or x_0..x_1 in that order)" in message


def test_npz_x_and_x_0_together_are_ambiguous(tmp_path):
    model = ModelInterface(inputs=(TensorSpec((None, 3), "float32", "features"),), outputs=OUTPUTS)
    with pytest.raises(BadInputError, match="both 'x' and x_0"):
        load_data(npz(tmp_path, x=price(), x_0=price()), interface=model)


def test_npz_x_names_no_input_for_a_multi_input_model_even_beside_names(tmp_path):
    data = load_data(npz(tmp_path, tokens=tokens(), price=price(), x=price()), interface=MODEL)
    assert "array 'x' is neither an input nor labels; ignored" in data.notes


# --------------------------------------------------------------------------- .npz labels


def test_y_labels_the_primary_output_and_y_name_its_output(tmp_path):
    species, weight = np.array([0, 1, 2, 1]), np.array([1.5, 2.5, 3.5, 4.5])
    path = npz(tmp_path, tokens=tokens(), price=price(), y=species, y_aa_weight=weight)
    data = load_data(path, interface=MODEL)
    assert data.primary == "zz_species" and list(data.y) == ["zz_species", "aa_weight"]
    assert data.y["zz_species"].tolist() == species.tolist() and data.y["aa_weight"].tolist() == weight.tolist()
    assert data.labels.tolist() == species.tolist()
    assert "y -> 'zz_species' (the primary output)" in data.notes[1]


def test_primary_output_argument_moves_y(tmp_path):
    weight = np.array([1.5, 2.5, 3.5, 4.5])
    path = npz(tmp_path, tokens=tokens(), price=price(), y=weight)
    data = load_data(path, interface=MODEL, primary_output="aa_weight")
    assert list(data.y) == ["aa_weight"] and data.labels.tolist() == weight.tolist()


def test_y_and_y_primary_together_are_refused(tmp_path):
    path = npz(tmp_path, tokens=tokens(), price=price(), y=np.zeros(4), y_zz_species=np.zeros(4))
    with pytest.raises(BadInputError, match="both 'y' and 'y_zz_species' label the primary output") as info:
        load_data(path, interface=MODEL)
    assert info.value.path == str(path)


def test_unknown_label_and_stray_arrays_are_noted(tmp_path):
    path = npz(
        tmp_path, tokens=tokens(), price=price(), y_zz_species=np.zeros(4), y_weight=np.zeros(4), extra=np.zeros(4)
    )
    data = load_data(path, interface=MODEL)
    assert list(data.y) == ["zz_species"]
    assert "array 'y_weight' names no output (outputs: zz_species, aa_weight); ignored" in data.notes
    assert "array 'extra' is neither an input nor labels; ignored" in data.notes


def test_labels_count_must_match_inputs(tmp_path):
    path = npz(tmp_path, tokens=tokens(), price=price(), y_aa_weight=np.zeros(3))
    with pytest.raises(BadInputError, match="input 'tokens' 4, input 'price' 4, labels 'aa_weight' 3"):
        load_data(path, interface=MODEL)


# --------------------------------------------------------------------------- integer inputs


def test_integer_inputs_stay_integers(tmp_path):
    data = load_data(npz(tmp_path, tokens=tokens(), price=price()), interface=MODEL)
    assert np.issubdtype(data.x["tokens"].dtype, np.integer)  # int64 ids are never made float
    whole = load_data(npz(tmp_path, tokens=tokens().astype(np.float64), price=price()), interface=MODEL)
    assert whole.x["tokens"].dtype == np.int32 and whole.x["tokens"].tolist() == tokens().tolist()
    fitted = check_inputs(data, MODEL)
    assert fitted.x["tokens"].dtype == np.int32 and fitted.x["price"].dtype == np.float32


def test_fractional_data_for_an_integer_input_is_refused(tmp_path):
    path = npz(tmp_path, tokens=tokens() + 0.5, price=price())
    with pytest.raises(BadInputError, match="input 'tokens' takes integers .*array 'tokens' holds fractional") as info:
        load_data(path, interface=MODEL)
    assert info.value.path == str(path)


# --------------------------------------------------------------------------- .csv


def test_csv_columns_feed_inputs_by_name(tmp_path):
    model = ModelInterface(
        inputs=(TensorSpec((None, 3), "int32", "tokens"), TensorSpec((None, 1), "float32", "price")), outputs=OUTPUTS
    )
    path = tmp_path / "d.csv"
    path.write_text("tokens.2,price,species,tokens.0,tokens.1\n3,0.5,1,1,2\n6,1.5,0,4,5\n")
    data = load_data(path, interface=model, label_column="species")
    assert list(data.x) == ["tokens", "price"]
    assert data.x["tokens"].tolist() == [[1, 2, 3], [4, 5, 6]] and data.x["tokens"].dtype == np.int32
    assert data.x["price"].tolist() == [[0.5], [1.5]] and data.x["price"].dtype == np.float32
    assert list(data.y) == ["zz_species"] and data.y["zz_species"].tolist() == [1, 0]
    assert "labels from column 'species' -> output 'zz_species' (the primary output)" in data.notes
    assert check_inputs(data, model).x["price"].shape == (2, 1)


@pytest.mark.parametrize(
    "header, misfits, unfed",
    [
        ("tokens.0,tokens.1,tokens.2,colour", "'colour'", "'price'"),
        ("tokens.0,tokens.2,price,x", "'tokens.0', 'tokens.2', 'x'", "'tokens'"),
        ("tokens,tokens.0,price,z", "'tokens', 'tokens.0', 'z'", "'tokens'"),
    ],
)
def test_csv_columns_that_fit_no_input_are_refused(tmp_path, header, misfits, unfed):
    path = tmp_path / "d.csv"
    path.write_text(header + "\n" + ",".join("1" for _ in header.split(",")) + "\n")
    with pytest.raises(BadInputError) as info:
        load_data(path, interface=MODEL)
    assert info.value.path == str(path)
    assert f"columns that fit no input: {misfits}; inputs left unfed: {unfed}" in info.value.message


def test_csv_fractional_ids_are_refused(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("tokens.0,tokens.1,tokens.2,price.0,price.1\n1,2.5,3,0,0\n")
    with pytest.raises(BadInputError, match="input 'tokens' takes integers .*'tokens.0', 'tokens.1', 'tokens.2'"):
        load_data(path, interface=MODEL)


def test_csv_single_integer_input_keeps_integers(tmp_path):
    model = ModelInterface(inputs=(TensorSpec((None, 2), "int64", "ids"),), outputs=OUTPUTS)
    path = tmp_path / "d.csv"
    path.write_text("a,b\n1,2\n3,4\n")
    data = load_data(path, interface=model)
    assert data.x["ids"].dtype == np.int64 and data.x["ids"].tolist() == [[1, 2], [3, 4]]


# --------------------------------------------------------------------------- single-input-only formats


def test_npy_and_image_folder_refuse_multi_input_models(tmp_path):
    np.save(tmp_path / "d.npy", price())
    with pytest.raises(BadInputError, match="one array, but the model has 2 inputs \\('tokens', 'price'\\)") as info:
        load_data(tmp_path / "d.npy", interface=MODEL)
    assert info.value.path == str(tmp_path / "d.npy")
    (tmp_path / "images" / "cat").mkdir(parents=True)
    with pytest.raises(BadInputError, match="single-input model; this model has 2 inputs"):
        load_data(tmp_path / "images", interface=MODEL)


# --------------------------------------------------------------------------- check_inputs


def test_check_inputs_fits_each_input_and_names_it():
    data = Dataset(x={"price": np.zeros((4, 2, 1)), "tokens": tokens()}, y=None, source="d.npz", format="npz")
    fitted = check_inputs(data, MODEL)
    assert list(fitted.x) == ["tokens", "price"] and fitted.x["price"].shape == (4, 2)
    bad_shape = Dataset(x={"tokens": tokens(), "price": np.zeros((4, 3))}, y=None, source="d.npz", format="npz")
    with pytest.raises(BadInputError, match="input 'price': .*expected inputs of shape \\(\\?, 2\\)") as info:
        check_inputs(bad_shape, MODEL)
    assert info.value.path == "d.npz"


def test_check_inputs_needs_every_input_and_one_sample_count():
    missing = Dataset(x={"tokens": tokens()}, y=None, source="d.npz", format="npz")
    with pytest.raises(BadInputError, match="no data for input 'price'; the data has 'tokens'"):
        check_inputs(missing, MODEL)
    uneven = Dataset(x={"tokens": tokens(4), "price": price(5)}, y=None, source="d.npz", format="npz")
    with pytest.raises(BadInputError, match="input 'tokens' 4, input 'price' 5") as info:
        check_inputs(uneven, MODEL, "other.npz")
    assert info.value.path == "other.npz"


# --------------------------------------------------------------------------- sampling


def test_choose_samples_stratifies_on_the_primary_output(tmp_path):
    n = 400
    species = np.array([0] * 396 + [1] * 4)
    weight = np.linspace(0.0, 1.0, n)  # regression: not class labels
    path = npz(
        tmp_path,
        tokens=np.repeat(np.arange(n)[:, None], 3, axis=1),
        price=np.zeros((n, 2)),
        y=species,
        y_aa_weight=weight,
    )
    subset, stratified = choose_samples(load_data(path, interface=MODEL), 40)
    assert stratified and len(subset) == 40 and subset.y["zz_species"].sum() == 4  # every rare sample
    rows = subset.x["tokens"][:, 0]  # every array subset alike
    assert subset.y["zz_species"].tolist() == species[rows].tolist()
    assert subset.y["aa_weight"].tolist() == weight[rows].tolist() and subset.x["price"].shape == (40, 2)
    path = npz(tmp_path, tokens=tokens(n), price=np.zeros((n, 2)), y_zz_species=species, y=weight)
    by_weight = load_data(path, interface=MODEL, primary_output="aa_weight")  # y labels aa_weight now
    _, stratified = choose_samples(by_weight, 40)
    assert not stratified


def test_stratified_indices_takes_named_labels():
    y = {"aa_weight": np.linspace(0, 1, 100), "zz_species": np.repeat([0, 1], 50)}
    idx, stratified = stratified_indices(y, 10, primary="zz_species")
    assert stratified and np.bincount(y["zz_species"][idx]).tolist() == [5, 5]
    assert not stratified_indices(y, 10)[1]  # the first entry: regression


# --------------------------------------------------------------------------- synthesis


def test_synthesize_dataset_free_axes_take_the_given_shapes():
    model = ModelInterface(
        inputs=(
            TensorSpec((None, None), "int32", "seq"),
            TensorSpec((None, None, None, 3), "float32", "image"),
            TensorSpec((None, 4), "float32", "a"),
            TensorSpec((None, 4), "float32", "b"),
        ),
        outputs=OUTPUTS,
    )
    shapes = {"seq": (7,), "image": (10, 12, 3)}
    x, notes = synthesize_dataset(model, 5, seed=1, shapes=shapes)
    assert list(x) == ["seq", "image", "a", "b"]
    assert x["seq"].shape == (5, 7) and x["seq"].dtype == np.int32 and 0 <= x["seq"].min() <= x["seq"].max() < 10
    assert x["image"].shape == (5, 10, 12, 3) and x["image"].dtype == np.float32
    assert not np.array_equal(x["a"], x["b"])  # each input its own stream
    assert notes == [
        "input 'seq' synthesized at (7,) (--input-shape)",
        "input 'image' synthesized at (10, 12, 3) (--input-shape)",
    ]
    again, _ = synthesize_dataset(model, 5, seed=1, shapes=shapes)
    assert all(np.array_equal(x[k], again[k]) for k in x)


def test_synthesize_dataset_refuses_to_invent_a_free_size():
    from core.errors import UsageError

    model = ModelInterface(inputs=(TensorSpec((None, None, 6), "float32", "frames"),), outputs=OUTPUTS)
    with pytest.raises(UsageError, match=r"free dimensions.*--input-shape frames=LEN,6"):
        synthesize_dataset(model, 5)
    with pytest.raises(UsageError, match="does not fit"):
        synthesize_dataset(model, 5, shapes={"frames": (45, 5)})
