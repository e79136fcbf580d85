"""Safety checks that run on an untrusted model BEFORE any framework opens it.

Each check reads the file with a plain parser (zipfile, h5py, protobuf, a few
header bytes) and raises `BadInputError` saying what is wrong and, where it
helps, what the user can do. `check_model(path)` runs the one that fits and
returns the format.

What is checked, per format:

* `.keras`: a real zip, at most MAX_ZIP_MEMBERS members and MAX_ZIP_UNCOMPRESSED_BYTES
  uncompressed (zip bombs), no absolute or ``..`` member names, a readable
  ``config.json``, HDF5 members (the weights) checked like a `.h5`, and no Lambda
  layer carrying Python bytecode. (Keras 3.15.1
  with ``safe_mode=True`` refuses those too; we check first so the message is
  ours and no Keras code runs on such a file.)
* `.h5`: the HDF5 signature, no external links, no datasets stored in external
  files, no virtual datasets, a Keras ``model_config`` (a weights-only file is
  refused), and no Lambda with Python bytecode in that config. (The legacy Keras
  loader also refuses bytecode Lambdas in safe mode, but reading the JSON with
  h5py first means Keras never sees such a file.)
* SavedModel folder: ``saved_model.pb`` parsed as a protocol buffer before
  ``tf.saved_model.load``; see `check_saved_model` for the op policy. Asset paths
  and symlinks must stay inside the folder.
* `.tflite`: a sane size, the ``TFL3`` flatbuffer identifier at bytes 4..8 and a
  root table offset inside the file. (The interpreter's own verifier runs later;
  an ``allocate_tensors`` failure becomes a BadInputError in inspection.)
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import shutil
import stat
import struct
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterable, Iterator

from core.errors import BadInputError
from core.models.formats import (
    SAVED_MODEL_FILE, TFLITE_IDENTIFIER, has_hdf5_signature, describe_content, detect_format, read_head,
)
from core.models.info import ModelFormat
from core.models.tfimport import wait_for_tensorflow_preload

# -- limits (module constants so tests and power users can change them) --------
MAX_ZIP_MEMBERS = 10_000
MAX_ZIP_UNCOMPRESSED_BYTES = 4 * 2**30           # 4 GiB
MAX_CONFIG_JSON_BYTES = 64 * 2**20               # config.json inside a .keras
MAX_H5_OBJECTS = 200_000                         # groups + datasets walked in a .h5
MAX_H5_CONFIG_BYTES = 64 * 2**20
MAX_SAVED_MODEL_PB_BYTES = 2 * 2**30 - 1         # protobuf's hard limit
MIN_TFLITE_BYTES = 16                            # root offset + identifier + a vtable at least
MAX_TFLITE_BYTES = 2 * 2**30                     # flatbuffers cannot address more

LAMBDA_ADVICE = (
    "Lambda layers store Python code, and loading them would run arbitrary code from the file. "
    "Replace the Lambda with a custom layer registered with @keras.saving.register_keras_serializable() "
    "(or rebuild the model without it) and save it again"
)


def _bad(path: str | Path, message: str, details: str = "") -> BadInputError:
    return BadInputError(message, path=str(path), details=details)


# -- Keras configs ---------------------------------------------------------------

def _walk_json(node: Any) -> Iterator[dict]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def find_code_lambdas(config: Any) -> list[str]:
    """Names of the Lambda layers in a Keras model config whose function is Python bytecode.

    Keras 3 writes such a function as ``{"class_name": "__lambda__", "config": {"code": ...}}``;
    tf.keras 2 wrote ``"function": [code, defaults, closure]`` with ``"function_type": "lambda"``.
    A Lambda that names a registered function carries no code and is left to Keras.
    """
    names = []
    for obj in _walk_json(config):
        if obj.get("class_name") != "Lambda" or not isinstance(obj.get("config"), dict):
            continue
        cfg = obj["config"]
        fn = cfg.get("function")
        carries_code = (
            (isinstance(fn, dict) and fn.get("class_name") == "__lambda__")
            or isinstance(fn, (list, tuple))
            or cfg.get("function_type") == "lambda"
        )
        if carries_code:
            names.append(str(cfg.get("name") or obj.get("name") or "?"))
    return names


def _refuse_lambdas(path: str | Path, config: Any) -> None:
    names = find_code_lambdas(config)
    if names:
        listed = ", ".join(repr(n) for n in names[:5]) + (" ..." if len(names) > 5 else "")
        raise _bad(path, f"refused: the model has a Lambda layer with Python code ({listed}). {LAMBDA_ADVICE}.")


# -- .keras ----------------------------------------------------------------------

def _unsafe_member_name(name: str) -> bool:
    if not name or "\0" in name:
        return True
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":"):
        return True
    return ".." in normalized.split("/")


def check_keras_archive(path: str | Path) -> dict:
    """Check a `.keras` zip; return its parsed config.json."""
    if not zipfile.is_zipfile(path):
        raise _bad(path, "not a valid .keras file: the zip archive is truncated or corrupt "
                         "(its central directory is missing)")
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > MAX_ZIP_MEMBERS:
                raise _bad(path, f"refused: the .keras archive has {len(members):,} members "
                                 f"(limit {MAX_ZIP_MEMBERS:,}); a real model has a handful")
            total = sum(m.file_size for m in members)
            if total > MAX_ZIP_UNCOMPRESSED_BYTES:
                raise _bad(path, f"refused: the .keras archive would unpack to {total / 2**30:,.2f} GiB "
                                 f"(limit {MAX_ZIP_UNCOMPRESSED_BYTES / 2**30:,.2f} GiB); it may be a zip bomb")
            for member in members:
                if _unsafe_member_name(member.filename):
                    raise _bad(path, f"refused: the .keras archive has an unsafe member name {member.filename!r} "
                                     "(absolute or containing '..')")
            names = {m.filename: m for m in members}
            if len(names) != len(members):
                raise _bad(path, "refused: the .keras archive has duplicate member names")
            if "config.json" not in names:
                raise _bad(path, "not a Keras model: the .keras archive has no config.json "
                                 "(a weights-only or foreign zip file?)")
            info = names["config.json"]
            if info.file_size > MAX_CONFIG_JSON_BYTES:
                raise _bad(path, f"refused: config.json is {info.file_size / 2**20:,.0f} MiB "
                                 f"(limit {MAX_CONFIG_JSON_BYTES / 2**20:,.0f} MiB)")
            raw = archive.read(info)
            for member in members:
                # Keras opens the weights file with h5py straight from the zip: check it like a .h5
                if member.filename.lower().endswith((".h5", ".hdf5")):
                    _check_inner_h5(path, archive, member)
    except BadInputError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, RuntimeError,
            NotImplementedError, ValueError, KeyError) as exc:
        raise _bad(path, f"not a valid .keras file: the zip archive is corrupt ({exc})") from None
    try:
        config = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad(path, f"not a valid .keras file: config.json is not valid JSON ({exc})") from None
    if not isinstance(config, dict) or "class_name" not in config:
        raise _bad(path, "not a valid .keras file: config.json does not describe a Keras model")
    _refuse_lambdas(path, config)
    return config


def _check_inner_h5(path: str | Path, archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> None:
    """Check an HDF5 member of a zip. A compressed member is first copied to an anonymous
    temporary file (h5py seeks a lot; seeking back in a deflate stream restarts it)."""
    import h5py

    with archive.open(member) as stream, contextlib.ExitStack() as stack:
        source = stream
        if member.compress_type != zipfile.ZIP_STORED:
            source = stack.enter_context(tempfile.TemporaryFile(prefix="litesmith-check-"))
            shutil.copyfileobj(stream, source, 1 << 20)
            source.seek(0)
        try:
            handle = h5py.File(source, "r")
        except OSError:
            raise _bad(path, f"not a valid .keras file: {member.filename} inside it is not a valid HDF5 file "
                             "(truncated or corrupt)") from None
        with handle:
            _check_h5_tree(path, handle, where=f"{member.filename} inside the .keras archive")


# -- .h5 -------------------------------------------------------------------------

def check_h5(path: str | Path) -> dict:
    """Check a legacy Keras HDF5 file; return its parsed model_config."""
    import h5py

    if not has_hdf5_signature(path, os.stat(path).st_size):
        raise _bad(path, f"not a valid HDF5 file (no HDF5 signature; the file is {describe_content(read_head(path))})")
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise _bad(path, f"not a valid HDF5 file: it is truncated or corrupt ({str(exc).splitlines()[0]})") from None
    with handle:
        try:
            _check_h5_tree(path, handle)
            raw = handle.attrs.get("model_config")
        except BadInputError:
            raise
        except (OSError, RuntimeError, KeyError, ValueError) as exc:
            raise _bad(path, f"the HDF5 file is corrupt ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
        if raw is None:
            if "layer_names" in handle.attrs or "model_weights" not in handle:
                raise _bad(path, "this HDF5 file holds weights only (no model_config); Litesmith needs the whole "
                                 "model: save it with model.save('model.keras')")
            raise _bad(path, "this HDF5 file has no Keras model_config attribute")
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", errors="replace")
        if len(str(raw)) > MAX_H5_CONFIG_BYTES:
            raise _bad(path, "refused: the model_config attribute is unreasonably large")
        try:
            config = json.loads(str(raw))
        except json.JSONDecodeError as exc:
            raise _bad(path, f"the HDF5 file's model_config is not valid JSON ({exc})") from None
    _refuse_lambdas(path, config)
    return config


def _check_h5_tree(path: str | Path, root, where: str = "the HDF5 file") -> None:
    import h5py

    label = where
    count = 0
    stack = [root]
    while stack:
        group = stack.pop()
        for name in group:
            count += 1
            if count > MAX_H5_OBJECTS:
                raise _bad(path, f"refused: {label} has more than {MAX_H5_OBJECTS:,} objects")
            link = group.get(name, getlink=True)
            where = f"{group.name.rstrip('/')}/{name}"
            if isinstance(link, h5py.ExternalLink):
                raise _bad(path, f"refused: {label} links to another file ({where} -> "
                                 f"{link.filename}:{link.path}); a model file must be self-contained")
            if isinstance(link, h5py.SoftLink):
                continue  # a name for an object inside this file; not followed here
            obj = group.get(name)
            if isinstance(obj, h5py.Group):
                stack.append(obj)
            elif isinstance(obj, h5py.Dataset):
                if obj.external:
                    raise _bad(path, f"refused: the HDF5 dataset {where} in {label} is stored in external files "
                                     f"({', '.join(str(e[0]) for e in obj.external[:3])}); "
                                     "a model file must be self-contained")
                if obj.is_virtual:
                    raise _bad(path, f"refused: the HDF5 dataset {where} in {label} is a virtual dataset that maps "
                                     "other files; a model file must be self-contained")


# -- .tflite ---------------------------------------------------------------------

def check_tflite_bytes(path: str | Path, data: bytes) -> None:
    size = len(data)
    if size == 0:
        raise _bad(path, "the file is empty (0 bytes)")
    if size < MIN_TFLITE_BYTES:
        raise _bad(path, f"not a valid .tflite model: only {size} bytes (truncated?)")
    if size > MAX_TFLITE_BYTES:
        raise _bad(path, f"refused: {size / 2**30:,.2f} GiB is more than a .tflite flatbuffer can hold")
    if data[4:8] != TFLITE_IDENTIFIER:
        raise _bad(path, f"not a valid .tflite model: no 'TFL3' flatbuffer identifier (the file is {describe_content(data[:1024])})")
    (root,) = struct.unpack_from("<I", data, 0)
    if root < 8 or root + 4 > size:
        raise _bad(path, "not a valid .tflite model: the flatbuffer's root table lies outside the file "
                         "(truncated or corrupt)")


def read_tflite(path: str | Path) -> bytes:
    """Read and header-check a .tflite file (the size is checked before reading it)."""
    size = os.stat(path).st_size
    if size > MAX_TFLITE_BYTES:
        raise _bad(path, f"refused: {size / 2**30:,.2f} GiB is more than a .tflite flatbuffer can hold")
    with open(path, "rb") as fh:
        data = fh.read()
    check_tflite_bytes(path, data)
    return data


# -- SavedModel ------------------------------------------------------------------

# Ops that touch the file system, run Python, or map files into memory. Refused
# anywhere in the graph or its function library, saver included: nothing a
# model needs at load or serve time uses them.
FORBIDDEN_OPS = frozenset({
    # files
    "ReadFile", "WriteFile", "MatchingFiles", "ImmutableConst",
    "WholeFileReader", "WholeFileReaderV2", "TextLineReader", "TextLineReaderV2",
    "FixedLengthRecordReader", "FixedLengthRecordReaderV2", "TFRecordReader", "TFRecordReaderV2",
    "LMDBReader", "ReaderReadV2", "ReaderRead",
    "TFRecordDataset", "TFRecordDatasetV2", "TextLineDataset", "FixedLengthRecordDataset",
    "FixedLengthRecordDatasetV2", "LMDBDataset", "ExperimentalLMDBDataset", "CSVDataset", "CSVDatasetV2",
    "ExperimentalCSVDataset", "SqlDataset", "ExperimentalSqlDataset", "MatchingFilesDataset",
    "ExperimentalMatchingFilesDataset", "DatasetToTFRecord", "ExperimentalDatasetToTFRecord",
    "SaveDataset", "SaveDatasetV2", "LoadDataset", "ExperimentalSaveDataset", "ExperimentalLoadDataset",
    "SnapshotDataset", "SnapshotDatasetV2", "SnapshotDatasetReader", "SnapshotNestedDatasetReader",
    "SnapshotChunkDataset", "CacheDataset", "CacheDatasetV2",
    "LoadAndRemapMatrix", "GenerateVocabRemapping",
    "CreateSummaryFileWriter", "CreateSummaryDbWriter", "WriteSummary", "WriteRawProtoSummary",
    "WriteScalarSummary", "WriteHistogramSummary", "WriteImageSummary", "WriteAudioSummary",
    "WriteGraphSummary", "ImportEvent", "FlushSummaryWriter",
    "DebugIdentity", "DebugIdentityV2", "DebugIdentityV3", "DebugNanCount", "DebugNumericSummary",
    "DebugNumericSummaryV2",
    # Python
    "PyFunc", "PyFuncStateless", "EagerPyFunc",
})

# Checkpoint ops. Every SavedModel has them in its saver: TF2 puts SaveV2,
# MergeV2Checkpoints and ShardedFilename in the `_traced_save` function and
# RestoreV2 in `_traced_restore` (`saver_def.save_tensor_name` /
# `saver_def.restore_op_name` call those); TF1 keeps them under `save/` in the
# graph. tf.saved_model.load never runs the save path, and TF1 loading runs the
# restore path with the variables/ prefix. So writing ops are allowed only where
# the save path alone reaches them, reading ops only where the saver (save or
# restore) alone reaches them, and both are refused wherever a serving function,
# an init op or anything else can reach them.
CHECKPOINT_WRITE_OPS = frozenset({"SaveV2", "Save", "SaveSlices", "MergeV2Checkpoints"})
CHECKPOINT_READ_OPS = frozenset({"RestoreV2", "Restore", "RestoreSlice"})
CHECKPOINT_NAME_OPS = frozenset({"ShardedFilename", "ShardedFilespec"})

_SAVE, _RESTORE, _OTHER = "save", "restore", "other"


def _node_name(tensor_name: str) -> str:
    name = tensor_name.lstrip("^")
    return name.split(":", 1)[0]


def _attr_functions(node) -> Iterator[str]:
    """Names of the functions a NodeDef calls through its attributes (f, then_branch, body, ...)."""
    for value in node.attr.values():
        if value.HasField("func"):
            yield value.func.name
        elif value.HasField("list"):
            for fn in value.list.func:
                yield fn.name


def _graph_closure(nodes_by_name: dict, roots: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    stack = [r for r in roots if r in nodes_by_name]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(_node_name(i) for i in nodes_by_name[name].input if _node_name(i) in nodes_by_name)
    return seen


def saved_model_op_problems(meta_graph) -> list[str]:
    """Problems with the ops of one MetaGraphDef: a list of 'Op in where' strings (empty when fine)."""
    graph = meta_graph.graph_def
    nodes = {n.name: n for n in graph.node}
    functions = {f.signature.name: f for f in graph.library.function}

    saver = meta_graph.saver_def if meta_graph.HasField("saver_def") else None
    save_roots = {_node_name(saver.save_tensor_name)} if saver and saver.save_tensor_name else set()
    restore_roots = {_node_name(saver.restore_op_name)} if saver and saver.restore_op_name else set()
    save_nodes = _graph_closure(nodes, save_roots)
    restore_nodes = _graph_closure(nodes, restore_roots)
    other_nodes = _graph_closure(nodes, [n for n in nodes if n not in save_nodes and n not in restore_nodes])

    labels: dict[str, set[str]] = {}            # graph node -> labels
    for name in nodes:
        node_labels = set()
        if name in save_nodes:
            node_labels.add(_SAVE)
        if name in restore_nodes:
            node_labels.add(_RESTORE)
        if name in other_nodes or not node_labels:
            node_labels.add(_OTHER)
        labels[name] = node_labels

    fn_labels: dict[str, set[str]] = {name: set() for name in functions}
    stack = [(fn, lab) for name, node in nodes.items() for fn in _attr_functions(node) for lab in labels[name]]
    while stack:
        fn, lab = stack.pop()
        if fn not in functions or lab in fn_labels[fn]:
            continue
        fn_labels[fn].add(lab)
        for inner in functions[fn].node_def:
            stack.extend((callee, lab) for callee in _attr_functions(inner))
    for name, fl in fn_labels.items():
        if not fl:
            fl.add(_OTHER)   # not called from the graph (e.g. a restored tf.function): treat as servable

    problems: list[str] = []

    def judge(node, where: str, node_labels: set[str]) -> None:
        op = node.op
        if op in FORBIDDEN_OPS:
            problems.append(f"{op} in {where}")
        elif op in CHECKPOINT_WRITE_OPS and node_labels != {_SAVE}:
            problems.append(f"{op} outside the checkpoint saver, in {where}")
        elif op in (CHECKPOINT_READ_OPS | CHECKPOINT_NAME_OPS) and _OTHER in node_labels:
            problems.append(f"{op} outside the checkpoint saver, in {where}")
        elif op == "PrintV2":
            stream = node.attr["output_stream"].s.decode(errors="replace") if "output_stream" in node.attr else ""
            if stream.startswith("file://"):
                problems.append(f"PrintV2 writing to {stream} in {where}")

    for name, node in nodes.items():
        judge(node, f"graph node {name!r}", labels[name])
    for fname, fn in functions.items():
        for node in fn.node_def:
            judge(node, f"function {fname!r}", fn_labels[fname])
    return problems


def _inside(folder: Path, target: Path) -> bool:
    try:
        target.relative_to(folder)
        return True
    except ValueError:
        return False


def _check_saved_model_tree(folder: Path) -> None:
    real_root = folder.resolve()
    for root, dirs, files in os.walk(folder, followlinks=False):
        for name in dirs + files:
            entry = Path(root) / name
            st = os.lstat(entry)
            if stat.S_ISLNK(st.st_mode):
                target = entry.resolve()
                if not _inside(real_root, target):
                    raise _bad(folder, f"refused: {entry.relative_to(folder)} is a symbolic link that leaves the "
                                       f"SavedModel folder (to {target})")
            elif not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
                raise _bad(folder, f"refused: {entry.relative_to(folder)} in the SavedModel folder is not a "
                                   "regular file")


def check_saved_model(folder: str | Path):
    """Parse and check `saved_model.pb`; return the SavedModel protocol buffer.

    Imports TensorFlow's protobuf module (the child process may do that).
    """
    from core.models.tfimport import tensorflow

    tensorflow()
    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import saved_model_pb2

    folder = Path(folder)
    pb_path = folder / SAVED_MODEL_FILE
    if pb_path.is_symlink() or not pb_path.is_file():
        raise _bad(folder, "refused: saved_model.pb must be a regular file inside the folder")
    size = pb_path.stat().st_size
    if size == 0:
        raise _bad(folder, "not a valid SavedModel: saved_model.pb is empty")
    if size > MAX_SAVED_MODEL_PB_BYTES:
        raise _bad(folder, "refused: saved_model.pb is larger than a protocol buffer can be")
    _check_saved_model_tree(folder)

    proto = saved_model_pb2.SavedModel()
    try:
        proto.ParseFromString(pb_path.read_bytes())
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise _bad(folder, f"not a valid SavedModel: saved_model.pb cannot be parsed ({exc}); "
                           "it is truncated or corrupt") from None
    if not proto.meta_graphs:
        raise _bad(folder, "not a valid SavedModel: saved_model.pb holds no MetaGraph")

    problems: list[str] = []
    real_assets = (folder / "assets").resolve()
    for meta_graph in proto.meta_graphs:
        problems += saved_model_op_problems(meta_graph)
        for asset in meta_graph.asset_file_def:
            name = asset.filename
            parts = name.replace("\\", "/").split("/")
            if posixpath.isabs(name) or ".." in parts or not _inside(real_assets, (folder / "assets" / name).resolve()):
                raise _bad(folder, f"refused: the SavedModel names an asset outside its assets/ folder ({name!r})")
    if problems:
        unique = sorted(set(problems))
        ops = sorted({p.split(" ", 1)[0] for p in unique})
        raise _bad(folder, f"refused: the SavedModel uses ops that read or write files or run Python "
                           f"({', '.join(ops)}); a model that only computes needs none of them. "
                           "Export the model again without them (e.g. with model.export())",
                   details="\n".join(unique))
    return proto


# -- all formats -----------------------------------------------------------------

def check_model(path: str | Path) -> str:
    """Detect the format, run its safety checks, return the format."""
    wait_for_tensorflow_preload()  # h5py/zip checks must not race the engine's TF import
    fmt = detect_format(path)
    if fmt == ModelFormat.KERAS:
        check_keras_archive(path)
    elif fmt == ModelFormat.H5:
        check_h5(path)
    elif fmt == ModelFormat.SAVED_MODEL:
        check_saved_model(path)
    elif fmt == ModelFormat.TFLITE:
        read_tflite(path)
    return fmt
