"""Untrusted model files: every bad or unsafe input is one clear BadInputError, and nothing is written."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from core.engine import CancelToken, null_reporter
from core.errors import BadInputError
from core.models import safety
from core.models.formats import detect_format
from core.models.info import ModelFormat
from core.models.inspection import inspect_model
from tests import model_factory as mf


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    folder = tmp_path_factory.mktemp("good")
    dense = mf.dense_model()
    return {
        "keras": mf.save_keras(dense, folder, "dense"),
        "h5": mf.save_h5(dense, folder, "dense"),
        "tflite": mf.save_tflite(dense, folder, "dense"),
        "export": mf.export_saved_model(dense, folder, "dense"),
        "module": mf.module_saved_model(folder),
        "lambda_keras": mf.save_keras(mf.lambda_model(), folder, "lambda"),
        "lambda_h5": mf.save_h5(mf.lambda_model(), folder, "lambda"),
    }


def refuse(path, *fragments: str) -> BadInputError:
    """inspect_model must fail with BadInputError naming `path`, its message holding all `fragments`,
    leave the folder around `path` exactly as it was, and print its reason in one line."""
    folder = os.path.dirname(os.path.abspath(path))
    before = mf.snapshot(folder)
    with pytest.raises(BadInputError) as info:
        inspect_model(str(path), progress=null_reporter(), cancel=CancelToken())
    error = info.value
    assert error.path == str(path)
    assert "\n" not in error.message
    for fragment in fragments:
        assert fragment.lower() in error.message.lower(), error.message
    assert mf.snapshot(folder) == before
    return error


# -- paths that are not model files ------------------------------------------------


def test_missing_path(tmp_path):
    refuse(tmp_path / "nope.keras", "no such file")


@pytest.mark.parametrize("name", ["empty.keras", "empty.h5", "empty.tflite"])
def test_empty_file(tmp_path, name):
    (tmp_path / name).write_bytes(b"")
    refuse(tmp_path / name, "empty")


@pytest.mark.parametrize("name", ["noise.keras", "noise.h5", "noise.tflite"])
def test_random_bytes_with_a_model_extension(tmp_path, name):
    (tmp_path / name).write_bytes(bytes(range(256)) * 8)
    refuse(tmp_path / name, "not a valid", "binary")


def test_html_saved_as_tflite(tmp_path):
    page = tmp_path / "model.tflite"
    page.write_text("<!DOCTYPE html>\n<html><head><title>404</title></head><body>Not found</body></html>\n")
    refuse(page, "not a valid .tflite", "HTML")


def test_unknown_extension_with_unknown_content(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    refuse(tmp_path / "notes.txt", "unknown model type")


def test_known_content_with_unknown_extension_is_detected(good, tmp_path):
    renamed = tmp_path / "model.bin"
    shutil.copyfile(good["tflite"], renamed)
    assert detect_format(renamed) == ModelFormat.TFLITE


def test_folder_that_is_not_a_saved_model(tmp_path):
    folder = tmp_path / "stuff"
    folder.mkdir()
    (folder / "readme.txt").write_text("hi")
    refuse(folder, "not a SavedModel", "saved_model.pb")


def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "model.tflite"
    os.mkfifo(fifo)
    refuse(fifo, "named pipe")


def test_device_is_refused():
    with pytest.raises(BadInputError, match="device") as info:
        detect_format("/dev/null")
    assert info.value.path == "/dev/null"


@pytest.mark.parametrize("kind", ["keras", "h5", "tflite"])
def test_truncated_file(good, tmp_path, kind):
    data = good[kind].read_bytes()
    cut = tmp_path / f"cut.{kind}"
    cut.write_bytes(data[: len(data) // 2])
    refuse(cut, "truncated" if kind != "tflite" else "rejected")


def test_tflite_header_with_garbage_body_fails_in_the_interpreter(tmp_path):
    bad = tmp_path / "garbage.tflite"
    bad.write_bytes(b"\x10\x00\x00\x00TFL3" + bytes(range(256)) * 2)
    refuse(bad, "TensorFlow Lite runtime rejected")


def test_tflite_root_offset_outside_the_file(tmp_path):
    bad = tmp_path / "offset.tflite"
    bad.write_bytes(b"\xff\xff\x00\x00TFL3" + b"\0" * 64)
    refuse(bad, "outside the file")


def test_corrupt_saved_model_pb(good, tmp_path):
    folder = tmp_path / "broken_sm"
    shutil.copytree(good["export"], folder)
    (folder / "saved_model.pb").write_bytes(b"\xff" * 100)
    refuse(folder, "cannot be parsed")


def test_saved_model_with_missing_variables_fails_at_load(good, tmp_path):
    folder = tmp_path / "novars_sm"
    shutil.copytree(good["export"], folder)
    shutil.rmtree(folder / "variables")
    refuse(folder, "could not load")


def test_weights_only_h5(tmp_path):
    model = mf.dense_model()
    path = tmp_path / "dense.weights.h5"
    model.save_weights(path)
    refuse(path, "weights only")


# -- Lambda layers -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["lambda_keras", "lambda_h5"])
def test_lambda_layer_is_refused(good, kind):
    error = refuse(good[kind], "Lambda", "arbitrary code", "register_keras_serializable")
    assert "times_two" in error.message


def test_keras_own_lambda_refusal_is_also_mapped(good):
    """Defence in depth: if our config check missed a Lambda, Keras' safe_mode error becomes the same message."""
    from core.models.loading import keras_load_error
    from core.tf_runtime import import_keras

    keras = import_keras()
    for kind in ("lambda_keras", "lambda_h5"):
        with pytest.raises(ValueError) as raised:
            keras.models.load_model(good[kind], safe_mode=True, compile=False)
        mapped = keras_load_error(good[kind], raised.value)
        assert "Lambda" in mapped.message and "arbitrary code" in mapped.message


def test_legacy_tf_keras_lambda_config_is_found():
    config = {
        "class_name": "Sequential",
        "config": {
            "layers": [
                {
                    "class_name": "Lambda",
                    "config": {"name": "old", "function": ["4wEAAA==", None, None], "function_type": "lambda"},
                },
                {
                    "class_name": "Lambda",
                    "config": {"name": "registered", "function": {"class_name": "function", "config": "my_fn"}},
                },
            ]
        },
    }
    assert safety.find_code_lambdas(config) == ["old"]


# -- .keras zip checks ------------------------------------------------------------


def test_zip_bomb_uncompressed_limit(good, monkeypatch):
    monkeypatch.setattr(safety, "MAX_ZIP_UNCOMPRESSED_BYTES", 1000)
    refuse(good["keras"], "zip bomb", "GiB")


def test_zip_member_count_limit(good, monkeypatch):
    monkeypatch.setattr(safety, "MAX_ZIP_MEMBERS", 2)
    refuse(good["keras"], "members", "limit 2")


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/evil", "assets/../../x"])
def test_unsafe_zip_member_names(good, tmp_path, name):
    bad = mf.rezip(good["keras"], tmp_path / "unsafe.keras", extra={name: b"x"})
    refuse(bad, "unsafe member name")


def test_keras_zip_without_config(good, tmp_path):
    bad = mf.rezip(good["keras"], tmp_path / "noconfig.keras", drop=("config.json",))
    refuse(bad, "no config.json")


def test_keras_zip_with_broken_config(good, tmp_path):
    bad = mf.rezip(
        good["keras"], tmp_path / "badconfig.keras", drop=("config.json",), extra={"config.json": b"{not json"}
    )
    refuse(bad, "not valid JSON")


def test_keras_with_external_link_in_its_weights(good, tmp_path):
    refuse(mf.keras_with_linked_weights(good["keras"], tmp_path), "model.weights.h5", "links to another file")


def test_keras_zip_with_duplicate_members(good, tmp_path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        bad = mf.rezip(good["keras"], tmp_path / "dup.keras", extra={"config.json": b"{}"})
    refuse(bad, "duplicate")


# -- .h5 checks ----------------------------------------------------------------------


def test_h5_external_link_is_refused(good, tmp_path):
    refuse(mf.h5_with_external_link(good["h5"], tmp_path), "links to another file", "/etc/passwd")


def test_h5_external_dataset_is_refused(good, tmp_path):
    refuse(mf.h5_with_external_dataset(good["h5"], tmp_path), "external files")


def test_h5_virtual_dataset_is_refused(good, tmp_path):
    refuse(mf.h5_with_virtual_dataset(good["h5"], tmp_path), "virtual dataset")


# -- SavedModel checks -------------------------------------------------------------


def test_ordinary_saved_models_pass_the_op_check(good):
    for kind in ("export", "module"):
        proto = safety.check_saved_model(good[kind])
        ops = {n.op for mg in proto.meta_graphs for f in mg.graph_def.library.function for n in f.node_def}
        assert {"SaveV2", "RestoreV2", "MergeV2Checkpoints"} <= ops  # the saver is there and allowed


def test_tf1_saved_model_with_graph_saver_passes(tmp_path):
    folder = mf.tf1_saved_model(tmp_path)
    proto = safety.check_saved_model(folder)
    graph_ops = {n.op for n in proto.meta_graphs[0].graph_def.node}
    assert {"SaveV2", "RestoreV2", "MergeV2Checkpoints"} <= graph_ops  # TF1 keeps the saver in the graph
    info = inspect_model(str(folder), progress=null_reporter(), cancel=CancelToken()).info
    assert info.inputs[0].shape == (None, 4) and info.outputs[0].shape == (None, 2)
    assert info.params == 8


@pytest.fixture
def no_saved_model_load(monkeypatch):
    """Fail the test if anything calls tf.saved_model.load."""
    from core.tf_runtime import import_tensorflow

    tf = import_tensorflow()

    def forbidden(*args, **kwargs):
        raise AssertionError("tf.saved_model.load was called on an unsafe SavedModel")

    monkeypatch.setattr(tf.saved_model, "load", forbidden)


def test_read_file_op_is_refused_before_load(tmp_path, no_saved_model_load):
    folder = mf.read_file_saved_model(tmp_path)
    error = refuse(folder, "ReadFile", "read or write files")
    assert "ReadFile in function" in error.details


def test_tf1_graph_read_file_is_refused_before_load(tmp_path, no_saved_model_load):
    error = refuse(mf.tf1_saved_model(tmp_path, "tf1_reader", read_file=True), "ReadFile")
    assert "graph node" in error.details


def test_py_function_is_refused_before_load(tmp_path, no_saved_model_load):
    folder = mf.py_function_saved_model(tmp_path)
    refuse(folder, "EagerPyFunc")


def _edited_copy(source, target, edit):
    from tensorflow.core.protobuf import saved_model_pb2

    shutil.copytree(source, target)
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((target / "saved_model.pb").read_bytes())
    edit(proto.meta_graphs[0])
    (target / "saved_model.pb").write_bytes(proto.SerializeToString())
    return target


def _function(meta_graph, fragment):
    return next(f for f in meta_graph.graph_def.library.function if fragment in f.signature.name)


@pytest.mark.parametrize(
    "op, where",
    [
        ("WriteFile", "__call__"),  # a file write in the serving function
        ("MergeV2Checkpoints", "__call__"),  # a checkpoint op outside the saver
        ("ShardedFilename", "__call__"),
        ("SaveV2", "_traced_restore"),  # a writing op in the restore path (run at load by TF1 loaders)
        ("ReadFile", "_traced_save"),  # file ops are refused even inside the saver
    ],
)
def test_crafted_ops_are_refused(good, tmp_path, no_saved_model_load, op, where):
    def edit(meta_graph):
        fn = next(
            f
            for f in meta_graph.graph_def.library.function
            if where in f.signature.name and "signature_wrapper" not in f.signature.name
        )
        node = fn.node_def.add()
        node.name = "injected"
        node.op = op

    folder = _edited_copy(good["export"], tmp_path / "crafted_sm", edit)
    refuse(folder, op)


def test_asset_path_leaving_the_folder_is_refused(good, tmp_path, no_saved_model_load):
    def edit(meta_graph):
        asset = meta_graph.asset_file_def.add()
        asset.filename = "../../etc/passwd"
        asset.tensor_info.name = "asset_path:0"

    refuse(_edited_copy(good["export"], tmp_path / "asset_sm", edit), "asset outside")


def test_symlink_leaving_the_folder_is_refused(good, tmp_path, no_saved_model_load):
    folder = tmp_path / "link_sm"
    shutil.copytree(good["export"], folder)
    (folder / "assets" / "vocab.txt").symlink_to("/etc/hostname")
    refuse(folder, "symbolic link")


def test_detect_format_names_every_format(good):
    assert detect_format(good["keras"]) == ModelFormat.KERAS
    assert detect_format(good["h5"]) == ModelFormat.H5
    assert detect_format(good["tflite"]) == ModelFormat.TFLITE
    assert detect_format(good["export"]) == ModelFormat.SAVED_MODEL
    assert detect_format(str(good["module"])) == ModelFormat.SAVED_MODEL


def test_saved_model_pb_itself_points_to_the_folder(good):
    with pytest.raises(BadInputError, match="SavedModel folder"):
        detect_format(good["export"] / "saved_model.pb")


def test_check_model_returns_format_and_keeps_config_intact(good):
    assert safety.check_model(good["keras"]) == ModelFormat.KERAS
    config = safety.check_h5(good["h5"])
    assert json.dumps(config)  # parsed JSON
    assert config["class_name"] == "Sequential"
