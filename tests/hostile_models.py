"""Builders of hostile and corrupt model files, made by the tests themselves (no shipped binaries).

Each builder writes into a folder the test owns and returns the path. What the
file tries to do is in its docstring; `core.models.safety` must refuse each one
before TensorFlow, Keras or LiteRT acts on it (or, for a file that is only
corrupt, turn whatever the parser raises into one clear BadInputError).
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import zipfile
from pathlib import Path

from core.tf_runtime import import_tensorflow
from tests import model_factory as mf

ANSI_NAME = "evil\x1b[31m\nTraceback (most recent call last):\x1b]0;pwned\x07"


# -- SavedModels -------------------------------------------------------------------


def _edit_saved_model(folder: Path, edit) -> Path:
    from tensorflow.core.protobuf import saved_model_pb2

    pb = Path(folder) / "saved_model.pb"
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString(pb.read_bytes())
    edit(proto.meta_graphs[0])
    pb.write_bytes(proto.SerializeToString())
    return Path(folder)


def initializer_writes_file_as_saver(folder: Path, target: Path) -> Path:
    """A resource whose initializer writes a checkpoint (SaveV2) to `target`, a path the file chose.

    `tf.saved_model.load` runs resource initializers from the object graph. The
    graph node that calls the initializer is then rewired under the saver's save
    node (and taken out of the init op), which made a reachability check over
    graph nodes read it as part of the checkpoint saver.
    """
    tf = import_tensorflow()
    target = str(target)

    class Writer(tf.saved_model.experimental.TrackableResource):
        def _create_resource(self):
            return tf.raw_ops.VarHandleOp(dtype=tf.float32, shape=[], shared_name="")

        def _initialize(self):
            tf.raw_ops.SaveV2(prefix=target, tensor_names=["x"], shape_and_slices=[""], tensors=[tf.constant(1.0)])
            return tf.constant(0)

    class Model(tf.Module):
        def __init__(self):
            super().__init__()
            self.writer = Writer()

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
        def __call__(self, x):
            return {"y": x * 2.0}

    module = Model()
    path = Path(folder) / "init_writes_sm"
    tf.saved_model.save(module, str(path), signatures=module.__call__)

    def rewire(meta_graph):
        nodes = {n.name: n for n in meta_graph.graph_def.node}
        init_fns = {
            f.signature.name
            for f in meta_graph.graph_def.library.function
            if "__inference__initializer" in f.signature.name
        }
        for fn in meta_graph.graph_def.library.function:
            if fn.signature.name in init_fns:
                # tf.function doesn't keep a SaveV2 nothing depends on; a crafted file does
                save = next(n.name for n in fn.node_def if n.op == "SaveV2")
                for node in fn.node_def:
                    if node.op == "Identity":
                        node.input.append("^" + save)
                fn.control_ret["save"] = save
                fn.signature.control_output.append("save")
        callers = [n for n in nodes.values() if n.op == "StatefulPartitionedCall" and n.attr["f"].func.name in init_fns]
        assert callers, "no graph node calls the initializer"
        save_node = nodes[meta_graph.saver_def.save_tensor_name.split(":")[0]]
        for caller in callers:
            save_node.input.append("^" + caller.name)
            for node in nodes.values():  # not run by the init op any more
                if node is not save_node and "^" + caller.name in node.input:
                    node.input.remove("^" + caller.name)

    return _edit_saved_model(path, rewire)


def table_from_host_file(folder: Path, host_file: str) -> Path:
    """A lookup table filled from `host_file` (an absolute path on the host) when the model loads."""
    tf = import_tensorflow()

    class HostTable(tf.saved_model.experimental.TrackableResource):
        def _create_resource(self):
            return tf.raw_ops.HashTableV2(key_dtype=tf.string, value_dtype=tf.int64, shared_name="")

        def _initialize(self):
            return tf.raw_ops.InitializeTableFromTextFileV2(
                table_handle=self.resource_handle, filename=host_file, key_index=-2, value_index=-1
            )

    class Model(tf.Module):
        def __init__(self):
            super().__init__()
            self.table = HostTable()

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def __call__(self, x):
            return {
                "ids": tf.raw_ops.LookupTableFindV2(
                    table_handle=self.table.resource_handle, keys=x, default_value=tf.constant(-1, tf.int64)
                )
            }

    module = Model()
    path = Path(folder) / "host_table_sm"
    tf.saved_model.save(module, str(path), signatures=module.__call__)
    return path


def asset_table(folder: Path) -> Path:
    """The honest version: a table filled from a vocabulary the SavedModel keeps in its assets/."""
    tf = import_tensorflow()
    vocab = Path(folder) / "vocab_source.txt"
    vocab.write_text("apple\nbanana\ncherry\n")

    class Model(tf.Module):
        def __init__(self):
            super().__init__()
            init = tf.lookup.TextFileInitializer(
                str(vocab), tf.string, tf.lookup.TextFileIndex.WHOLE_LINE, tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER
            )
            self.table = tf.lookup.StaticHashTable(init, -1)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def __call__(self, x):
            return {"ids": self.table.lookup(x)}

    module = Model()
    path = Path(folder) / "asset_table_sm"
    tf.saved_model.save(module, str(path), signatures=module.__call__)
    vocab.unlink()
    return path


def record_input(folder: Path, pattern: str) -> Path:
    """A serving function with RecordInput, which reads the files matching `pattern` (not on the old denylist)."""
    tf = import_tensorflow()

    class Model(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def __call__(self, x):
            records = tf.raw_ops.RecordInput(file_pattern=pattern, batch_size=1)
            return {"y": x + tf.cast(tf.strings.length(records[0]), tf.float32) * 0.0}

    module = Model()
    path = Path(folder) / "record_input_sm"
    tf.saved_model.save(module, str(path), signatures=module.__call__)
    return path


def decode_proto_from_file(folder: Path, descriptor_file: str) -> Path:
    """DecodeProto with `descriptor_source` naming a descriptor file on the host."""
    tf = import_tensorflow()

    class Model(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def __call__(self, x):
            _, (values,) = tf.io.decode_proto(x, "evil.Msg", ["f"], [tf.int32], descriptor_source=descriptor_file)
            return {"y": values}

    module = Model()
    path = Path(folder) / "decode_proto_sm"
    tf.saved_model.save(module, str(path), signatures=module.__call__)
    return path


def symlink_loop(good_saved_model: Path, folder: Path) -> Path:
    """A SavedModel folder with two symbolic links pointing at each other."""
    path = Path(folder) / "loop_sm"
    shutil.copytree(good_saved_model, path, symlinks=True)
    (path / "assets").mkdir(exist_ok=True)
    os.symlink("loop_b", path / "assets" / "loop_a")
    os.symlink("loop_a", path / "assets" / "loop_b")
    return path


# -- .keras zips -------------------------------------------------------------------


def deep_json(depth: int) -> str:
    return '{"class_name": "Sequential", "config": ' + "[" * depth + "]" * depth + "}"


def keras_with_config(good_keras: Path, target: Path, config: str | bytes) -> Path:
    return mf.rezip(
        good_keras,
        target,
        drop=("config.json",),
        extra={"config.json": config.encode() if isinstance(config, str) else config},
    )


def keras_with_corrupt_member(
    good_keras: Path, target: Path, member: str = "config.json", method: int = zipfile.ZIP_DEFLATED
) -> Path:
    """A .keras whose `member` is compressed with `method` and whose compressed bytes are then garbled."""
    with zipfile.ZipFile(good_keras) as src, zipfile.ZipFile(target, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == member:
                dst.writestr(zipfile.ZipInfo(member), data, compress_type=method)
            else:
                dst.writestr(info, data)
    raw = bytearray(Path(target).read_bytes())
    with zipfile.ZipFile(target) as archive:
        info = archive.getinfo(member)
    name_len, extra_len = struct.unpack_from("<HH", raw, info.header_offset + 26)
    start = info.header_offset + 30 + name_len + extra_len
    middle = start + max(info.compress_size // 3, 1)
    end = start + info.compress_size
    raw[middle : end - 2] = bytes([0xFF]) * len(raw[middle : end - 2])  # an invalid stream from a third on
    if method == zipfile.ZIP_DEFLATED:
        # 0xFF bytes can still decode (to garbage with a bad CRC), depending on where the block
        # boundaries fall; a first block of the reserved type 3 (BFINAL=1, BTYPE=11) is always a zlib.error.
        raw[start] = 0x07
    Path(target).write_bytes(bytes(raw))
    return Path(target)


def keras_multi_disk_zip64(good_keras: Path, target: Path) -> Path:
    """A .keras whose zip64 end-of-central-directory locator says the archive spans 2 disks."""
    raw = Path(good_keras).read_bytes()
    eocd = raw.rfind(b"PK\x05\x06")
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, 0, 2)
    Path(target).write_bytes(raw[:eocd] + locator + raw[eocd:])
    return Path(target)


def keras_with_hostile_class_name(good_keras: Path, target: Path, name: str = ANSI_NAME) -> Path:
    """A .keras whose config names a layer class with a newline, a forged traceback and escape codes."""
    with zipfile.ZipFile(good_keras) as src:
        config = json.loads(src.read("config.json"))
    config["config"]["layers"][-1]["class_name"] = name
    return keras_with_config(good_keras, target, json.dumps(config))


# -- HDF5 --------------------------------------------------------------------------


def h5_with_deep_config(good_h5: Path, target: Path, depth: int) -> Path:
    import h5py

    shutil.copyfile(good_h5, target)
    with h5py.File(target, "a") as fh:
        fh.attrs["model_config"] = deep_json(depth)
    return Path(target)


def h5_with_hostile_link_name(good_h5: Path, target: Path, name: str = ANSI_NAME) -> Path:
    """An external link (refused) whose name carries escape codes and a newline: the refusal quotes it."""
    import h5py

    shutil.copyfile(good_h5, target)
    with h5py.File(target, "a") as fh:
        fh["model_weights"][name] = h5py.ExternalLink("/etc/passwd", "/")
    return Path(target)


def _lookup3(data: bytes, initval: int = 0) -> int:
    """Bob Jenkins' lookup3 `hashlittle`, the checksum HDF5 puts on its metadata (H5_checksum_lookup3)."""
    mask = 0xFFFFFFFF

    def rot(x: int, k: int) -> int:
        return ((x << k) | (x >> (32 - k))) & mask

    length = len(data)
    a = b = c = (0xDEADBEEF + length + initval) & mask
    i = 0
    while length > 12:
        a = (a + int.from_bytes(data[i : i + 4], "little")) & mask
        b = (b + int.from_bytes(data[i + 4 : i + 8], "little")) & mask
        c = (c + int.from_bytes(data[i + 8 : i + 12], "little")) & mask
        a = (a - c) & mask
        a ^= rot(c, 4)
        c = (c + b) & mask  # noqa: E702
        b = (b - a) & mask
        b ^= rot(a, 6)
        a = (a + c) & mask  # noqa: E702
        c = (c - b) & mask
        c ^= rot(b, 8)
        b = (b + a) & mask  # noqa: E702
        a = (a - c) & mask
        a ^= rot(c, 16)
        c = (c + b) & mask  # noqa: E702
        b = (b - a) & mask
        b ^= rot(a, 19)
        a = (a + c) & mask  # noqa: E702
        c = (c - b) & mask
        c ^= rot(b, 4)
        b = (b + a) & mask  # noqa: E702
        length -= 12
        i += 12
    if length == 0:
        return c
    tail = data[i:] + bytes(12 - length)
    a = (a + int.from_bytes(tail[0:4], "little")) & mask
    b = (b + int.from_bytes(tail[4:8], "little")) & mask
    c = (c + int.from_bytes(tail[8:12], "little")) & mask
    c ^= b
    c = (c - rot(b, 14)) & mask  # noqa: E702
    a ^= c
    a = (a - rot(c, 11)) & mask  # noqa: E702
    b ^= a
    b = (b - rot(a, 25)) & mask  # noqa: E702
    c ^= b
    c = (c - rot(b, 16)) & mask  # noqa: E702
    a ^= c
    a = (a - rot(c, 4)) & mask  # noqa: E702
    b ^= a
    b = (b - rot(a, 14)) & mask  # noqa: E702
    c ^= b
    c = (c - rot(b, 24)) & mask  # noqa: E702
    return c


def _ohdr_chunk(raw: bytes, start: int) -> tuple[int, int]:
    """(end of chunk 0's data, where its checksum sits) of a version-2 object header at `start`."""
    assert raw[start : start + 4] == b"OHDR" and raw[start + 4] == 2
    flags = raw[start + 5]
    pos = start + 6
    if flags & 0x20:
        pos += 16  # access, modification, change, birth times
    if flags & 0x10:
        pos += 4  # attribute phase change values
    size_bytes = 1 << (flags & 0x03)
    chunk0 = int.from_bytes(raw[pos : pos + size_bytes], "little")
    end = pos + size_bytes + chunk0
    return end, end


def h5_with_unknown_link_type(good_h5: Path, target: Path) -> Path:
    """A .h5 with a user-defined link (type 65), which h5py can't represent ("Unknown link type").

    h5py can't create one, so a soft link is made in a new-style group and its link
    type byte patched, with the object header's lookup3 checksum written again.
    """
    import h5py

    shutil.copyfile(good_h5, target)
    with h5py.File(target, "a", libver="latest") as fh:
        group = fh.create_group("model_weights/zz_new_style")
        group["zz_user_link"] = h5py.SoftLink("/model_weights")
    raw = bytearray(Path(target).read_bytes())
    name = b"zz_user_link"
    at = -1
    for flags in (0x08, 0x18):  # link type present (+ character set present)
        head = bytes([1, flags, 1]) + (b"\x01" if flags & 0x10 else b"") + bytes([len(name)])
        at = raw.find(head + name)
        if at >= 0:
            break
    assert at >= 0, "the soft link's message was not found"
    start = raw.rfind(b"OHDR", 0, at)
    data_end, checksum_at = _ohdr_chunk(bytes(raw), start)
    assert at < data_end, "the link message is not in the header's first chunk"
    stored = int.from_bytes(raw[checksum_at : checksum_at + 4], "little")
    assert _lookup3(bytes(raw[start:checksum_at])) == stored, "checksum layout not understood"
    raw[at + 2] = 65  # a user-defined link class
    raw[checksum_at : checksum_at + 4] = _lookup3(bytes(raw[start:checksum_at])).to_bytes(4, "little")
    Path(target).write_bytes(bytes(raw))
    return Path(target)


# -- .tflite -----------------------------------------------------------------------


def tflite_with_invalid_utf8_name(good_tflite: Path, target: Path) -> Path:
    """A .tflite whose tensor names are not valid UTF-8 (every tensor name's first byte patched to 0xFF).

    Flatbuffer strings are a 4-byte length, the bytes, then a NUL: names are found
    through that framing, so the header and the tensor data stay intact.
    """
    from ai_edge_litert.interpreter import Interpreter

    raw = bytearray(Path(good_tflite).read_bytes())
    interpreter = Interpreter(model_content=bytes(raw))
    names = {d["name"].encode() for d in interpreter.get_tensor_details() if d["name"]}
    patched = 0
    for name in names:
        framed = struct.pack("<I", len(name)) + name + b"\0"
        at = raw.find(framed)
        while at >= 0:
            raw[at + 4] = 0xFF
            patched += 1
            at = raw.find(framed, at + 1)
    assert patched, "no tensor name found in the flatbuffer"
    Path(target).write_bytes(bytes(raw))
    return Path(target)


def tflite_free_dimension(folder: Path) -> Path:
    """A valid .tflite whose input has a free (None) sequence length: (None, None, 3) -> Dense(2)."""
    from core.tf_runtime import import_keras

    keras = import_keras()
    inputs = keras.Input((None, 3), name="sequence")
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs))
    return mf.save_tflite(model, folder, "free_dim")
