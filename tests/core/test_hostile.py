"""Hostile model files, built here: the SavedModel op allowlist, hardened parsers, escaped text, no leftovers.

Every refusal is a BadInputError naming the file, one line, and happens before
TensorFlow or Keras acts on the file; nothing is written beside the model.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import pytest

from core.engine import CancelToken, null_reporter
from core.errors import BadInputError, ErrorKind, ExitCode, JobError
from core.models import safety
from core.models.inspection import inspect_model
from core.text import escape_line, escape_text, first_line
from tests import hostile_models as hm
from tests import model_factory as mf


def inspect(path):
    return inspect_model(str(path), progress=null_reporter(), cancel=CancelToken()).info


def refuse(path, *fragments: str) -> BadInputError:
    folder = Path(path).parent
    before = mf.snapshot(folder)
    with pytest.raises(BadInputError) as info:
        inspect(path)
    error = info.value
    assert error.path == str(path)
    assert "\n" not in error.message and "\x1b" not in error.message
    for fragment in fragments:
        assert fragment.lower() in error.message.lower(), error.message
    assert mf.snapshot(folder) == before
    return error


@pytest.fixture
def no_saved_model_load(monkeypatch):
    """Fail the test if anything calls tf.saved_model.load."""
    from core.tf_runtime import import_tensorflow

    tf = import_tensorflow()

    def forbidden(*args, **kwargs):
        raise AssertionError("tf.saved_model.load was called on an unsafe SavedModel")

    monkeypatch.setattr(tf.saved_model, "load", forbidden)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    folder = tmp_path_factory.mktemp("good")
    dense = mf.dense_model()
    return {
        "folder": folder,
        "keras": mf.save_keras(dense, folder, "dense"),
        "h5": mf.save_h5(dense, folder, "dense"),
        "tflite": mf.save_tflite(dense, folder, "dense"),
        "export": mf.export_saved_model(dense, folder, "dense"),
    }


# -- the op allowlist ------------------------------------------------------------------


def test_allowlist_holds_what_models_compute_with_and_nothing_that_touches_the_host():
    allowed = safety.compute_op_allowlist()
    libraries = safety.op_libraries()
    for op in (
        "MatMul",
        "Conv2D",
        "BiasAdd",
        "Relu",
        "Softmax",
        "AddV2",
        "Reshape",
        "StridedSlice",
        "While",
        "StatefulPartitionedCall",
        "ReadVariableOp",
        "VarHandleOp",
        "LookupTableFindV2",
        "HashTableV2",
        "TensorListReserve",
        "TensorArrayV3",
        "Einsum",
        "StringJoin",
        "StaticRegexFullMatch",
        "Select",
        "PrintV2",
        "DecodeProtoV2",
        "NoOp",
        "Const",
        "Identity",
        "Placeholder",
    ):
        assert op in allowed, op
    for op in (
        "ReadFile",
        "WriteFile",
        "MatchingFiles",
        "SaveV2",
        "RestoreV2",
        "MergeV2Checkpoints",
        "ShardedFilename",
        "RecordInput",
        "ImmutableConst",
        "EagerPyFunc",
        "PyFunc",
        "TFRecordDataset",
        "CreateSummaryFileWriter",
        "DebugIdentityV2",
        "LoadAndRemapMatrix",
        "InitializeTableFromTextFileV2",
        "Abort",
        "RemoteCall",
        "FileSystemSetConfiguration",
        "CollectiveReduceV2",
        "Send",
        "Recv",
    ):
        assert op not in allowed, op
    never = {
        "gen_io_ops",
        "gen_script_ops",
        "gen_dataset_ops",
        "gen_experimental_dataset_ops",
        "gen_summary_ops",
        "gen_debug_ops",
        "gen_checkpoint_ops",
        "gen_filesystem_ops",
        "gen_collective_ops",
    }
    assert not {op for op in allowed if libraries.get(op) in never}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """Hostile SavedModels; what they aim at lives in `victim`, outside the model folders."""
    folder = tmp_path_factory.mktemp("hostile")
    victim = tmp_path_factory.mktemp("victim")
    secret = victim / "secret.txt"
    secret.write_text("alpha\nbeta\n")
    built = {
        "victim": victim,
        "secret": secret,
        "target": victim / "written_by_the_model",
        "init_writes": hm.initializer_writes_file_as_saver(folder, victim / "written_by_the_model"),
        "host_table": hm.table_from_host_file(folder, str(secret)),
        "asset_table": hm.asset_table(folder),
        "record_input": hm.record_input(folder, str(victim / "*")),
        "decode_proto": hm.decode_proto_from_file(folder, str(victim / "descriptor.bin")),
    }
    assert not list(victim.glob("written_by_the_model*"))
    return built


def _written(hostile) -> list[str]:
    return sorted(p.name for p in hostile["victim"].iterdir() if p.name != "secret.txt")


def test_initializer_wired_as_the_saver_is_refused_naming_op_and_function(hostile, no_saved_model_load):
    error = refuse(hostile["init_writes"], "SaveV2", "__inference__initializer", "outside the checkpoint saver")
    assert "initialize function of a resource" in error.message
    assert _written(hostile) == []


def test_the_initializer_payload_is_real(hostile, tmp_path):
    """Without the check, loading that SavedModel writes where the file says (so the test above means something)."""
    from core.tf_runtime import import_tensorflow

    copy = tmp_path / "copy_sm"
    shutil.copytree(hostile["init_writes"], copy)
    import_tensorflow().saved_model.load(str(copy))
    written = _written(hostile)
    for name in written:
        (hostile["victim"] / name).unlink()
    assert any(name.startswith("written_by_the_model") for name in written)


def test_table_from_a_host_file_is_refused(hostile, no_saved_model_load):
    refuse(
        hostile["host_table"],
        "InitializeTableFromTextFileV2",
        "not one of the SavedModel's assets",
        "__inference__initializer",
    )


def test_table_from_the_saved_models_own_asset_loads(hostile):
    info = inspect(hostile["asset_table"])
    assert info.inputs[0].dtype == "string" and info.outputs[0].name == "ids"


@pytest.mark.parametrize(
    "kind, op, reason",
    [
        ("record_input", "RecordInput", "not an op a model that only computes needs"),
        ("decode_proto", "DecodeProtoV2", "reads a protobuf descriptor file"),
    ],
)
def test_file_reading_ops_outside_the_old_list_are_refused(hostile, no_saved_model_load, kind, op, reason):
    refuse(hostile[kind], op, reason, "__inference___call__")


def _edited_copy(source, target, edit):
    shutil.copytree(source, target)
    return hm._edit_saved_model(target, edit)


def _function(meta_graph, fragment):
    return next(
        f
        for f in meta_graph.graph_def.library.function
        if fragment in f.signature.name and "signature_wrapper" not in f.signature.name
    )


def test_a_serving_function_that_calls_the_saver_by_name_is_refused(good, tmp_path, no_saved_model_load):
    """A direct call (node.op = the saver function's name) makes the saver reachable from serving."""

    def edit(meta_graph):
        save = _function(meta_graph, "_traced_save")
        call = _function(meta_graph, "__call__").node_def.add()
        call.name = "sneaky"
        call.op = save.signature.name

    refuse(_edited_copy(good["export"], tmp_path / "direct_sm", edit), "SaveV2", "outside the checkpoint saver")


def test_a_graph_node_wired_under_the_save_node_does_not_lend_it_the_saver_label(good, tmp_path, no_saved_model_load):
    """Only the node saver_def names makes its callee 'the saver': a call node merely feeding it does not."""

    def edit(meta_graph):
        save_fn = _function(meta_graph, "_traced_save")
        fn = meta_graph.graph_def.library.function.add()
        fn.CopyFrom(save_fn)
        fn.signature.name = "__inference_innocent_42"
        nodes = {n.name: n for n in meta_graph.graph_def.node}
        save_node = nodes[meta_graph.saver_def.save_tensor_name.split(":")[0]]
        caller = meta_graph.graph_def.node.add()
        caller.CopyFrom(save_node)
        caller.name = "innocent_call"
        caller.attr["f"].func.name = fn.signature.name
        save_node.input.append("^innocent_call")

    error = refuse(_edited_copy(good["export"], tmp_path / "wired_sm", edit), "SaveV2", "__inference_innocent_42")
    assert "__inference_innocent_42" in error.details


def test_an_unknown_op_is_refused(good, tmp_path, no_saved_model_load):
    def edit(meta_graph):
        node = _function(meta_graph, "__call__").node_def.add()
        node.name = "custom"
        node.op = "TotallyCustomOp"

    refuse(_edited_copy(good["export"], tmp_path / "custom_sm", edit), "TotallyCustomOp", "custom op")


@pytest.mark.parametrize(
    "stream, allowed", [("stderr", True), ("log(info)", True), ("stdout", False), ("file:///tmp/leak", False)]
)
def test_print_only_to_the_terminal_or_log(good, tmp_path, no_saved_model_load, stream, allowed):
    def edit(meta_graph):
        node = _function(meta_graph, "__call__").node_def.add()
        node.name = "printer"
        node.op = "PrintV2"
        node.attr["output_stream"].s = stream.encode()

    folder = _edited_copy(good["export"], tmp_path / "print_sm", edit)
    if allowed:
        assert safety.check_saved_model(folder) is not None
    else:
        refuse(folder, "PrintV2", "prints to")


def test_refusal_lists_the_first_problems_and_keeps_all_in_the_details(good, tmp_path, no_saved_model_load):
    def edit(meta_graph):
        fn = _function(meta_graph, "__call__")
        for i, op in enumerate(["ReadFile", "WriteFile", "MatchingFiles", "EagerPyFunc", "TFRecordDataset"]):
            node = fn.node_def.add()
            node.name = f"bad{i}"
            node.op = op

    error = refuse(_edited_copy(good["export"], tmp_path / "many_sm", edit), "and 2 more")
    assert len(error.details.splitlines()) == 5


def test_tf1_table_from_its_asset_passes_and_from_a_host_path_is_refused(tmp_path):
    from core.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("a\nb\n")

    def build(name, host_path=None):
        path = tmp_path / name
        graph = tf.Graph()
        with graph.as_default():
            x = tf.compat.v1.placeholder(tf.string, [None], name="x")
            asset = tf.constant(str(vocab), name="asset_path")
            tf.compat.v1.add_to_collection(tf.compat.v1.GraphKeys.ASSET_FILEPATHS, asset)
            filename = asset if host_path is None else tf.constant(host_path, name="host_path")
            table = tf.lookup.StaticHashTable(tf.lookup.TextFileInitializer(filename, tf.string, -2, tf.int64, -1), -1)
            y = table.lookup(x)
            with tf.compat.v1.Session() as session:
                if host_path is None:
                    session.run(tf.compat.v1.tables_initializer())
                builder = tf.compat.v1.saved_model.Builder(str(path))
                builder.add_meta_graph_and_variables(
                    session,
                    ["serve"],
                    signature_def_map={
                        "serving_default": tf.compat.v1.saved_model.predict_signature_def({"x": x}, {"y": y})
                    },
                    assets_collection=tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.ASSET_FILEPATHS),
                    main_op=tf.compat.v1.tables_initializer(),
                )
                builder.save()
        return path

    def forget_host_asset(meta_graph):
        # TF1's builder copies a constant file name into assets/: a crafted file drops that asset again
        from tensorflow.core.protobuf import meta_graph_pb2

        collection = meta_graph.collection_def["saved_model_assets"].any_list
        kept = []
        for packed in collection.value:
            asset = meta_graph_pb2.AssetFileDef()
            packed.Unpack(asset)
            if not asset.tensor_info.name.startswith("host_path"):
                kept.append(packed)
        del collection.value[:]
        collection.value.extend(kept)

    assert safety.check_saved_model(build("tf1_asset_sm")) is not None
    hostile = hm._edit_saved_model(build("tf1_host_sm", host_path=str(vocab)), forget_host_asset)
    with pytest.raises(BadInputError, match="InitializeTableFromTextFileV2 in graph node"):
        safety.check_saved_model(hostile)


def test_legacy_asset_collection_leaving_the_folder_is_refused(good, tmp_path, no_saved_model_load):
    from tensorflow.core.protobuf import meta_graph_pb2

    def edit(meta_graph):
        asset = meta_graph_pb2.AssetFileDef(filename="../../../etc/hostname")
        asset.tensor_info.name = "asset_path:0"
        meta_graph.collection_def["saved_model_assets"].any_list.value.add().Pack(asset)

    refuse(_edited_copy(good["export"], tmp_path / "legacy_asset_sm", edit), "asset outside")


def test_every_saved_model_keras_and_tf_make_passes(tmp_path):
    """Keras 3 export of common layers (RNN, attention, lookups with a vocabulary file) and tf.Module saves."""
    from core.tf_runtime import import_keras

    keras = import_keras()
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("a\nb\nc\n")
    text_in = keras.Input((1,), dtype="string")
    models = {
        "lookup_file": keras.Model(text_in, keras.layers.StringLookup(vocabulary=str(vocab))(text_in)),
        "lookup_list": keras.Model(text_in, keras.layers.StringLookup(vocabulary=["x", "y"])(text_in)),
    }
    seq = keras.Input((10, 3))
    x = keras.layers.GRU(4, return_sequences=True)(seq)
    x = keras.layers.LSTM(3)(x)
    models["rnn"] = keras.Model(seq, keras.layers.Dense(2, activation="softmax")(keras.layers.BatchNormalization()(x)))
    image = keras.Input((12, 12, 3))
    y = keras.layers.GlobalAveragePooling2D()(keras.layers.MaxPooling2D()(keras.layers.Conv2D(4, 3)(image)))
    y = keras.layers.LayerNormalization()(y)
    y = keras.layers.MultiHeadAttention(2, 4)(y[:, None, :], y[:, None, :])
    models["attention"] = keras.Model(image, y)
    for name, model in models.items():
        safety.check_saved_model(mf.export_saved_model(model, tmp_path, name))
    safety.check_saved_model(mf.module_saved_model(tmp_path))
    safety.check_saved_model(mf.tf1_saved_model(tmp_path))


@pytest.mark.parametrize("name", ["saved_model", "saved_model_export"])
def test_shared_case_saved_models_pass(name):
    folder = Path(__file__).resolve().parents[2].parent / "shared" / "cases" / "13_savedmodel_signatures" / name
    if not folder.is_dir():
        pytest.skip("../shared/cases is not here")
    assert safety.check_saved_model(folder) is not None


def test_symlink_loop_in_a_saved_model(good, tmp_path, no_saved_model_load):
    refuse(hm.symlink_loop(good["export"], tmp_path), "symbolic link loop", "loop_")


# -- hardened parsing ------------------------------------------------------------------


def test_json_depth_is_counted_without_recursion():
    assert safety.json_nesting_depth('{"a": [1, {"b": "[[[[not counted]]]]"}]}') == 3
    assert safety.json_nesting_depth("[" * 1_000_000 + "]" * 1_000_000, stop_above=10) == 11
    assert safety.json_nesting_depth('{"a\\"[": 1}') == 1


@pytest.mark.parametrize("depth", [101, 100_000])
def test_deep_config_json_in_a_keras_file(good, tmp_path, depth):
    refuse(hm.keras_with_config(good["keras"], tmp_path / "deep.keras", hm.deep_json(depth)), "nests more than 100")


def test_deep_model_config_in_an_h5_file(good, tmp_path):
    refuse(hm.h5_with_deep_config(good["h5"], tmp_path / "deep.h5", 100_000), "model_config", "nests more than 100")


def test_config_json_that_is_not_utf8(good, tmp_path):
    refuse(hm.keras_with_config(good["keras"], tmp_path / "latin.keras", b'{"class_name": "\xff"}'), "not valid UTF-8")


@pytest.mark.parametrize("method, fragment", [(zipfile.ZIP_DEFLATED, "zlib.error"), (zipfile.ZIP_LZMA, "LZMAError")])
@pytest.mark.parametrize("member", ["config.json", "model.weights.h5"])
def test_zip_member_that_fails_to_decompress(good, tmp_path, method, fragment, member):
    bad = hm.keras_with_corrupt_member(good["keras"], tmp_path / "corrupt.keras", member=member, method=method)
    refuse(bad, "fails to decompress", member, fragment)


def test_multi_disk_zip64(good, tmp_path):
    refuse(hm.keras_multi_disk_zip64(good["keras"], tmp_path / "disks.keras"), "span multiple disks")


def test_unknown_hdf5_link_type(good, tmp_path):
    refuse(
        hm.h5_with_unknown_link_type(good["h5"], tmp_path / "ud_link.h5"), "unknown (user-defined) type", "zz_user_link"
    )


def test_lookup3_matches_the_reference_vectors():
    # from Bob Jenkins' lookup3.c driver5(): hashlittle("", 0) and "Four score and seven years ago"
    assert hm._lookup3(b"", 0) == 0xDEADBEEF
    assert hm._lookup3(b"Four score and seven years ago", 0) == 0x17770551
    assert hm._lookup3(b"Four score and seven years ago", 1) == 0xCD628161


def test_tflite_names_that_are_not_utf8(good, tmp_path):
    refuse(hm.tflite_with_invalid_utf8_name(good["tflite"], tmp_path / "names.tflite"), "UnicodeDecodeError")


def test_tflite_with_a_free_dimension_is_inspected(tmp_path):
    info = inspect(hm.tflite_free_dimension(tmp_path))
    assert info.inputs[0].shape == (None, None, 3)


def test_reading_model_turns_any_exception_into_bad_input(tmp_path):
    with pytest.raises(BadInputError) as info:
        with safety.reading_model(tmp_path / "m.keras", "could not read"):
            raise KeyError("odd\x1b[2J")
    assert info.value.path == str(tmp_path / "m.keras")
    assert info.value.message == "could not read (KeyError: 'odd\\x1b[2J')"
    assert "Traceback" in info.value.details
    with pytest.raises(MemoryError):
        with safety.reading_model(tmp_path / "m.keras"):
            raise MemoryError


# -- names with newlines and escape codes -------------------------------------------------


def test_class_name_with_escape_codes_gives_one_escaped_line(good, tmp_path):
    error = refuse(hm.keras_with_hostile_class_name(good["keras"], tmp_path / "ansi.keras"), "could not")
    line = JobError(ErrorKind.BAD_INPUT, error.message, path=error.path).one_line()
    assert "\\x1b[31m" in line and "\x1b" not in line and "\n" not in line


def test_link_name_with_escape_codes_is_escaped_in_the_refusal(good, tmp_path):
    error = refuse(hm.h5_with_hostile_link_name(good["h5"], tmp_path / "ansi.h5"), "links to another file")
    assert "evil\\x1b[31m\\nTraceback (most recent call last):\\x1b]0;pwned\\x07" in error.message


def test_escape_line():
    assert (
        escape_line("a\x1b[31mb\nc\r\td\x7f\x85\u202e\u2028\udcff")
        == "a\\x1b[31mb\\nc\\r\\td\\x7f\\x85\\u202e\\u2028\\udcff"
    )
    assert escape_line("C:\\models\\m.keras ünïcode ✓") == "C:\\models\\m.keras ünïcode ✓"
    assert escape_line(escape_line("x\x1by")) == "x\\x1by"
    assert escape_line("abc\x1bdef", limit=5) == "abc…"
    assert escape_text("one\x1b\r\ntwo\rthree\n") == "one\\x1b\ntwo\\rthree\n"
    assert first_line(ValueError("\n  first\nsecond")) == "first"
    assert first_line(ValueError("")) == "ValueError"


def test_the_engine_childs_stderr_filter_escapes_what_a_model_prints():
    import subprocess
    import sys

    code = (
        "import os, sys, time; from core.tf_runtime import install_stderr_filter; install_stderr_filter(); "
        "os.write(2, b'tf says: layer evil\\x1b[31m\\x1b]0;t\\x07\\nsecond line\\n'); time.sleep(0.5)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], capture_output=True, timeout=60
    )
    assert done.stderr == b"tf says: layer evil\\x1b[31m\\x1b]0;t\\x07\nsecond line\n"


def test_job_error_one_line_escapes_path_and_message():
    error = JobError(ErrorKind.BAD_INPUT, "bad name 'a\nb'", path="/tmp/x\x1b]0;t\x07.keras")
    assert error.one_line() == "/tmp/x\\x1b]0;t\\x07.keras: bad name 'a\\nb'"
    assert JobError(ErrorKind.INTERNAL, "boom").exit_code == ExitCode.INTERNAL == 70


# -- no leftovers -------------------------------------------------------------------------


def test_failed_keras_load_leaves_no_temp_folder(good, tmp_path, monkeypatch):
    """Keras extracts archives with assets into tempfile.mkdtemp() folders and keeps them when the load fails."""
    from core.models.loading import load_checked_keras

    members = {"assets/vocab.txt": b"x", "clash": b"a file", "clash/inner.txt": b"extraction fails here"}
    bad = mf.rezip(good["keras"], tmp_path / "leaky.keras", extra=members)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with pytest.raises(BadInputError, match="Keras could not load"):
        load_checked_keras(bad)
    assert os.listdir(scratch) == []


def test_successful_keras_load_with_assets_leaves_no_temp_folder(good, tmp_path, monkeypatch):
    from core.models.loading import load_checked_keras

    ok = mf.rezip(good["keras"], tmp_path / "assets.keras", extra={"assets/vocab.txt": b"x"})
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    assert load_checked_keras(ok) is not None
    assert os.listdir(scratch) == []
