"""inspect_model describes every format: tensors, sizes, hashes, layers, MACs, tflite ops."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from core.engine import CancelToken, Engine, ProgressEvent, Reporter, null_reporter
from core.errors import Cancelled, ErrorKind, JobFailed
from core.models.hashing import sha256_tree
from core.models.info import InspectResult, ModelFormat
from core.models.inspection import inspect_model
from tests import model_factory as mf


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    dense, conv, mixed = mf.dense_model(), mf.conv_model(), mf.mixed_conv_model()
    built = {}
    for name, model in (("dense", dense), ("conv", conv)):
        built[(name, ModelFormat.KERAS)] = mf.save_keras(model, folder, name)
        built[(name, ModelFormat.H5)] = mf.save_h5(model, folder, name)
        built[(name, "export")] = mf.export_saved_model(model, folder, name)
        built[(name, ModelFormat.TFLITE)] = mf.save_tflite(model, folder, name)
    built["module"] = mf.module_saved_model(folder)
    built["mixed"] = mf.save_keras(mixed, folder, "mixed")
    built["conv_int8"] = mf.save_int8_tflite(conv, folder, "conv", mf.CONV_INPUT)
    return built


def inspect(path):
    return inspect_model(str(path), progress=null_reporter(), cancel=CancelToken()).info


FORMATS = [ModelFormat.KERAS, ModelFormat.H5, "export", ModelFormat.TFLITE]


@pytest.mark.parametrize("fmt", FORMATS)
def test_dense_model_inspects_in_every_format(models, fmt):
    path = models[("dense", fmt)]
    info = inspect(path)
    assert info.format == (ModelFormat.SAVED_MODEL if fmt == "export" else fmt)
    assert info.path == str(path)
    assert len(info.inputs) == 1 and len(info.outputs) == 1
    assert info.inputs[0].shape == (None, 4)
    assert info.outputs[0].shape == (None, 2)
    assert info.inputs[0].dtype == "float32" and info.outputs[0].dtype == "float32"
    assert info.inputs[0].quantization is None
    assert any("batch dimension is dynamic" in n for n in info.notes)
    if fmt == "export":
        assert info.file_size == sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        assert info.sha256 == sha256_tree(path)
        assert info.params == mf.DENSE_PARAMS
        assert info.flops is None
    else:
        assert info.file_size == path.stat().st_size
        assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    if fmt in (ModelFormat.KERAS, ModelFormat.H5):
        assert info.params == mf.DENSE_PARAMS
        assert info.flops == 2 * sum(mf.DENSE_LAYER_MACS.values())


@pytest.mark.parametrize("fmt", FORMATS)
def test_conv_model_inspects_in_every_format(models, fmt):
    info = inspect(models[("conv", fmt)])
    assert info.inputs[0].shape == (None, 8, 8, 1)
    assert info.outputs[0].shape == (None, 3)
    if fmt != "export":
        # tflite counts the same FULLY_CONNECTED and CONV_2D work as the Keras layer table
        assert info.flops == 2 * sum(mf.CONV_LAYER_MACS.values())


@pytest.mark.parametrize("fmt", [ModelFormat.KERAS, ModelFormat.H5])
def test_keras_layer_table_has_hand_computed_macs(models, fmt):
    info = inspect(models[("conv", fmt)])
    table = {layer.name: layer for layer in info.layers}
    assert set(table) == set(mf.CONV_LAYER_MACS)
    for name, macs in mf.CONV_LAYER_MACS.items():
        assert table[name].macs == macs, name
    assert table["conv"].macs == 648  # 6*6 outputs x 3*3 kernel x 1 in x 2 filters
    assert table["head"].macs == 216  # 72 in x 3 units
    assert table["conv"].type == "Conv2D" and table["conv"].output_shape == "(None, 6, 6, 2)"
    assert table["conv"].params == 20 and table["head"].params == 219
    assert table["flatten"].params == 0

    dense = {layer.name: layer for layer in inspect(models[("dense", fmt)]).layers}
    assert dense["hidden"].macs == 12 and dense["head"].macs == 6
    assert dense["hidden"].output_shape == "(None, 3)"


def test_depthwise_separable_transpose_macs(models):
    info = inspect(models["mixed"])
    table = {layer.name: layer.macs for layer in info.layers}
    assert {name: table[name] for name in mf.MIXED_LAYER_MACS} == mf.MIXED_LAYER_MACS
    assert all(macs == 0 for name, macs in table.items() if name not in mf.MIXED_LAYER_MACS)
    assert info.flops == 2 * sum(mf.MIXED_LAYER_MACS.values())
    assert info.outputs[0].shape == (None, 12, 12, 1)


def test_more_mac_formulas_and_nested_models():
    """Dense on a sequence, Conv1D, and a Sequential nested in a functional model (flattened as outer/inner)."""
    from core.models.inspection import _inspect_keras
    from core.tf_runtime import import_keras

    keras = import_keras()
    inner = keras.Sequential([keras.Input((8, 4)), keras.layers.Conv1D(5, 3, name="c1")], name="inner")
    inputs = keras.Input((10, 4))
    x = keras.layers.Dense(4, name="seq_dense")(inputs)  # 10 steps x 4 in x 4 units
    x = keras.layers.Cropping1D((1, 1), name="crop")(x)  # -> (8, 4)
    x = inner(x)  # 6 steps x 3 x 4 in x 5 filters
    info = _inspect_keras(keras.Model(inputs, x))
    macs = {layer.name: layer.macs for layer in info["layers"]}
    assert macs["seq_dense"] == 10 * 4 * 4
    assert macs["inner/c1"] == 6 * 3 * 4 * 5
    assert macs["crop"] == 0
    assert info["flops"] == 2 * (160 + 360)
    assert info["params"] == (4 * 4 + 4) + (3 * 4 * 5 + 5)


def test_tf_module_saved_model_uses_serving_signature(models):
    info = inspect(models["module"])
    assert info.format == ModelFormat.SAVED_MODEL
    assert [(t.name, t.shape, t.dtype) for t in info.inputs] == [("x", (None, 4), "float32")]
    assert [(t.name, t.shape, t.dtype) for t in info.outputs] == [("y", (None, 2), "float32")]
    assert info.params == 4 * 2 + 2
    assert info.layers == ()


def test_tflite_reports_ops_and_tensor_types(models):
    info = inspect(models[("conv", ModelFormat.TFLITE)])
    ops = dict(info.op_histogram)
    assert ops["CONV_2D"] == 1 and ops["FULLY_CONNECTED"] == 1
    assert "DELEGATE" not in ops
    assert info.op_histogram[0][1] >= info.op_histogram[-1][1]
    types = dict(info.tensor_types)
    assert types["float32"] >= 4 and "int8" not in types
    assert info.layers == ()
    # weights: conv kernel 18 + bias 2 + dense kernel 216 (+ bias 3 unless the converter folded it)
    assert info.params in (236, 239)


def test_int8_tflite_reports_quantization(models):
    info = inspect(models["conv_int8"])
    assert info.inputs[0].dtype == "int8" and info.outputs[0].dtype == "int8"
    scale, zero_point = info.inputs[0].quantization
    assert scale > 0 and -128 <= zero_point <= 127
    assert info.outputs[0].quantization is not None
    types = dict(info.tensor_types)
    assert types["int8"] >= 4
    assert info.flops == 2 * sum(mf.CONV_LAYER_MACS.values())


def test_folder_hash_covers_paths_and_contents(models, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(models[("dense", "export")], copy)
    original = sha256_tree(copy)
    assert original == sha256_tree(models[("dense", "export")])  # the folder's own name does not count
    (copy / "assets" / "note.txt").write_text("x")
    with_note = sha256_tree(copy)
    assert with_note != original
    (copy / "assets" / "note.txt").rename(copy / "assets" / "note2.txt")
    assert sha256_tree(copy) not in (original, with_note)


def test_progress_reports_stages(models):
    events = []
    result = inspect_model(
        str(models[("dense", ModelFormat.KERAS)]), progress=Reporter(events.append), cancel=CancelToken()
    )
    assert isinstance(result, InspectResult) and result.seconds > 0
    stages = [e.stage for e in events if isinstance(e, ProgressEvent)]
    assert stages[0] == "checking" and "loading" in stages and stages[-1] == "inspecting"
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_cancelled_token_stops_the_job(models):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        inspect_model(str(models[("dense", ModelFormat.KERAS)]), progress=null_reporter(), cancel=token)


def test_info_is_json_friendly(models):
    import json

    data = inspect(models[("conv", ModelFormat.TFLITE)]).to_dict()
    assert json.loads(json.dumps(data))["format"] == "tflite"


@pytest.fixture(scope="module")
def engine():
    # TF preloads in the child while the first job starts (the race core.tf_runtime.wait_for_tensorflow_preload guards against)
    with Engine(memory_limit_mb=4096) as eng:
        yield eng


def test_inspect_runs_in_the_isolated_engine(engine, models):
    path = str(models[("conv", ModelFormat.KERAS)])
    events = []
    result = engine.run(inspect_model, path, subject=path, on_event=events.append)
    assert result.info.format == ModelFormat.KERAS
    assert {layer.name: layer.macs for layer in result.info.layers} == mf.CONV_LAYER_MACS
    assert any(isinstance(e, ProgressEvent) and e.stage == "loading" for e in events)


def test_bad_file_fails_cleanly_in_the_isolated_engine(engine, tmp_path):
    bad = tmp_path / "page.tflite"
    bad.write_bytes(b"<!DOCTYPE html><html><body>Not Found</body></html>")
    with pytest.raises(JobFailed) as info:
        engine.run(inspect_model, str(bad), subject=str(bad))
    assert info.value.error.kind == ErrorKind.BAD_INPUT
    assert info.value.error.path == str(bad)
    assert "HTML" in info.value.error.message
    assert info.value.error.exit_code == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.tflite"]
