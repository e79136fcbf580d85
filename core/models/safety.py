"""Safety checks that run on an untrusted model BEFORE any framework opens it.

Each check reads the file with a plain parser (zipfile, h5py, protobuf, a few
header bytes) and raises `BadInputError` saying what is wrong and, where it
helps, what the user can do. `check_model(path)` runs the one that fits and
returns the format. Whatever a parser raises on a hostile file (a corrupt
deflate stream, a zip64 record naming another disk, an HDF5 link type h5py
doesn't know, a symlink loop, JSON nested a million deep) is caught at this
boundary and becomes a `BadInputError` naming the file, with the traceback
kept in its details (`reading_model`).

What is checked, per format:

* `.keras`: a real zip, at most MAX_ZIP_MEMBERS members and MAX_ZIP_UNCOMPRESSED_BYTES
  uncompressed (zip bombs), no absolute or ``..`` member names, every member
  decompresses with a matching CRC, a readable ``config.json`` nested at most
  MAX_JSON_DEPTH deep, HDF5 members (the weights) checked like a `.h5`, and no
  Lambda layer carrying Python bytecode. (Keras 3.15.1 with ``safe_mode=True``
  refuses those too; we check first so the message is ours and no Keras code
  runs on such a file.)
* `.h5`: the HDF5 signature, only hard and soft links (no external or
  user-defined links), no datasets stored in external files, no virtual
  datasets, a Keras ``model_config`` (a weights-only file is refused) nested at
  most MAX_JSON_DEPTH deep, and no Lambda with Python bytecode in that config.
* SavedModel folder: ``saved_model.pb`` parsed as a protocol buffer before
  ``tf.saved_model.load``; every op of the graph and of every function in its
  library must pass the op policy (`saved_model_op_problems`: an allowlist of
  ops that only compute). Asset paths and symlinks must stay inside the folder.
* `.tflite`: a sane size, the ``TFL3`` flatbuffer identifier at bytes 4..8 and a
  root table offset inside the file. (The interpreter's own verifier runs later;
  an ``allocate_tensors`` failure becomes a BadInputError in inspection.)
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import posixpath
import re
import shutil
import stat
import struct
import tempfile
import traceback
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from core.errors import BadInputError, LitesmithError
from core.models.formats import (
    SAVED_MODEL_FILE, TFLITE_IDENTIFIER, has_hdf5_signature, describe_content, detect_format, read_head,
)
from core.models.info import ModelFormat
from core.models.tfimport import wait_for_tensorflow_preload
from core.text import escape_line, first_line

# -- limits (module constants so tests and power users can change them) --------
MAX_ZIP_MEMBERS = 10_000
MAX_ZIP_UNCOMPRESSED_BYTES = 4 * 2**30           # 4 GiB
MAX_CONFIG_JSON_BYTES = 64 * 2**20               # config.json inside a .keras
MAX_JSON_DEPTH = 100                             # a real Keras config nests ~20 deep (models in models: more)
MAX_H5_OBJECTS = 200_000                         # groups + datasets walked in a .h5
MAX_H5_CONFIG_BYTES = 64 * 2**20
MAX_SAVED_MODEL_PB_BYTES = 2 * 2**30 - 1         # protobuf's hard limit
MAX_SAVED_MODEL_ENTRIES = 100_000                # files and folders in a SavedModel folder
MIN_TFLITE_BYTES = 16                            # root offset + identifier + a vtable at least
MAX_TFLITE_BYTES = 2 * 2**30                     # flatbuffers cannot address more

LAMBDA_ADVICE = (
    "Lambda layers store Python code, and loading them would run arbitrary code from the file. "
    "Replace the Lambda with a custom layer registered with @keras.saving.register_keras_serializable() "
    "(or rebuild the model without it) and save it again"
)


def _bad(path: str | Path, message: str, details: str = "") -> BadInputError:
    # Messages quote names from the file: keep them on one line, escape codes made visible.
    return BadInputError(escape_line(message), path=str(path), details=details)


def _reason(exc: BaseException) -> str:
    """`Type: first line` of an exception, escaped, for a one-line message."""
    name = type(exc).__name__
    if name == "error":                       # zlib.error, struct.error, ...
        name = f"{type(exc).__module__.lstrip('_')}.error"
    return f"{name}: {first_line(exc, 200)}"


@contextlib.contextmanager
def reading_model(path: str | Path, what: str = "the model could not be read") -> Iterator[None]:
    """The format boundary: anything but our own errors raised while reading a model file
    becomes a `BadInputError` naming it, with the traceback kept in `details`.

    `MemoryError` passes (the engine reports it as out of memory), and so do
    `LitesmithError`s (they already say what is wrong) and `KeyboardInterrupt`.
    """
    try:
        yield
    except (LitesmithError, MemoryError):
        raise
    except RecursionError as exc:
        raise _bad(path, f"{what}: it is nested too deeply to read ({_reason(exc)})",
                   details=traceback.format_exc()) from None
    except Exception as exc:  # noqa: BLE001 - any failure on an untrusted file is bad input
        raise _bad(path, f"{what} ({_reason(exc)})", details=traceback.format_exc()) from None


# -- JSON from model files ---------------------------------------------------------

# Strings (so brackets inside names don't count) and the structural brackets.
_JSON_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def json_nesting_depth(text: str, stop_above: int | None = None) -> int:
    """How deeply `text` nests arrays and objects, without recursion.

    Stops counting as soon as the depth passes `stop_above` (that depth is returned).
    """
    depth = deepest = 0
    for match in _JSON_TOKENS.finditer(text):
        token = match.group(0)
        if token in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_above is not None and deepest > stop_above:
                    return deepest
        elif token in "]}":
            depth -= 1
    return deepest


def parse_model_json(path: str | Path, text: str | bytes, what: str) -> Any:
    """JSON from a model file: valid UTF-8, nested at most MAX_JSON_DEPTH deep, else BadInputError."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _bad(path, f"{what} is not valid UTF-8 text ({exc.reason} at byte {exc.start})") from None
    depth = json_nesting_depth(text, stop_above=MAX_JSON_DEPTH)
    if depth > MAX_JSON_DEPTH:
        raise _bad(path, f"refused: {what} nests more than {MAX_JSON_DEPTH} levels deep "
                         "(a real model config needs far fewer; the file is corrupt or crafted)")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise _bad(path, f"{what} is not valid JSON ({_reason(exc)})") from None


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
    with reading_model(path, "not a valid .keras file: the zip archive is corrupt"):
        return _check_keras_archive(path)


def _check_keras_archive(path: str | Path) -> dict:
    try:
        # is_zipfile itself raises on some records (a zip64 end record naming another disk)
        is_zip = zipfile.is_zipfile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, struct.error) as exc:
        raise _bad(path, f"not a valid .keras file: the zip archive is corrupt ({first_line(exc, 200)})") from None
    if not is_zip:
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
            for member in members:
                _check_member_decompresses(path, archive, member)
            raw = archive.read(info)
            for member in members:
                # Keras opens the weights file with h5py straight from the zip: check it like a .h5
                if member.filename.lower().endswith((".h5", ".hdf5")):
                    _check_inner_h5(path, archive, member)
    except BadInputError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, RuntimeError,
            NotImplementedError, ValueError, KeyError, struct.error) as exc:
        raise _bad(path, f"not a valid .keras file: the zip archive is corrupt ({first_line(exc, 200)})") from None
    config = parse_model_json(path, raw, "config.json in the .keras archive")
    if not isinstance(config, dict) or "class_name" not in config:
        raise _bad(path, "not a valid .keras file: config.json does not describe a Keras model")
    _refuse_lambdas(path, config)
    return config


def _check_member_decompresses(path: str | Path, archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> None:
    """Read a member to its end: zipfile checks its CRC there, and a corrupt deflate, bzip2 or
    LZMA stream fails here instead of in Keras. Stops at the size the directory announced."""
    if member.is_dir():
        return
    read = 0
    try:
        with archive.open(member) as stream:
            while chunk := stream.read(1 << 20):
                read += len(chunk)
                if read > member.file_size:
                    raise _bad(path, f"refused: member {member.filename!r} of the .keras archive unpacks to more "
                                     "than its declared size (a zip bomb?)")
    except BadInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - zlib.error, lzma.LZMAError, BadZipFile (CRC), EOFError, ...
        raise _bad(path, f"not a valid .keras file: member {member.filename!r} fails to decompress "
                         f"({_reason(exc)})", details=traceback.format_exc()) from None


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
        except Exception:  # noqa: BLE001 - OSError, and whatever h5py raises on a crafted superblock
            raise _bad(path, f"not a valid .keras file: {member.filename} inside it is not a valid HDF5 file "
                             "(truncated or corrupt)", details=traceback.format_exc()) from None
        with handle:
            _check_h5_tree(path, handle, where=f"{member.filename} inside the .keras archive")


# -- .h5 -------------------------------------------------------------------------

def check_h5(path: str | Path) -> dict:
    """Check a legacy Keras HDF5 file; return its parsed model_config."""
    with reading_model(path, "the HDF5 file is corrupt"):
        return _check_h5(path)


def _check_h5(path: str | Path) -> dict:
    import h5py

    if not has_hdf5_signature(path, os.stat(path).st_size):
        raise _bad(path, f"not a valid HDF5 file (no HDF5 signature; the file is {describe_content(read_head(path))})")
    try:
        handle = h5py.File(path, "r")
    except Exception as exc:  # noqa: BLE001 - OSError mostly; anything h5py raises means corrupt
        raise _bad(path, f"not a valid HDF5 file: it is truncated or corrupt ({first_line(exc, 200)})",
                   details=traceback.format_exc()) from None
    with handle:
        try:
            _check_h5_tree(path, handle)
            raw = handle.attrs.get("model_config")
        except BadInputError:
            raise
        except Exception as exc:  # noqa: BLE001 - OSError, RuntimeError, KeyError, ValueError, TypeError
            raise _bad(path, f"the HDF5 file is corrupt ({_reason(exc)})", details=traceback.format_exc()) from None
        if raw is None:
            if "layer_names" in handle.attrs or "model_weights" not in handle:
                raise _bad(path, "this HDF5 file holds weights only (no model_config); Litesmith needs the whole "
                                 "model: save it with model.save('model.keras')")
            raise _bad(path, "this HDF5 file has no Keras model_config attribute")
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", errors="replace")
        raw = str(raw)
        if len(raw) > MAX_H5_CONFIG_BYTES:
            raise _bad(path, "refused: the model_config attribute is unreasonably large")
    config = parse_model_json(path, raw, "the HDF5 file's model_config")
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
            where = f"{group.name.rstrip('/')}/{name}"
            try:
                link = group.get(name, getlink=True)
            except TypeError:
                # h5py knows hard, soft and external links; anything else is a user-defined
                # link class whose traversal code isn't ours to run
                raise _bad(path, f"refused: {label} has a link of an unknown (user-defined) type at {where}; "
                                 "a model file has only ordinary groups and datasets") from None
            if isinstance(link, h5py.ExternalLink):
                raise _bad(path, f"refused: {label} links to another file ({where} -> "
                                 f"{link.filename}:{link.path}); a model file must be self-contained")
            if isinstance(link, h5py.SoftLink):
                continue  # a name for an object inside this file; not followed here
            if not isinstance(link, h5py.HardLink):
                raise _bad(path, f"refused: {label} has a link of an unknown type at {where}")
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
    with reading_model(path, "the .tflite file could not be read"):
        size = os.stat(path).st_size
        if size > MAX_TFLITE_BYTES:
            raise _bad(path, f"refused: {size / 2**30:,.2f} GiB is more than a .tflite flatbuffer can hold")
        with open(path, "rb") as fh:
            data = fh.read()
        check_tflite_bytes(path, data)
        return data


# -- SavedModel: the op policy -------------------------------------------------------
#
# An ALLOWLIST, not a denylist: an op runs only if it is known to compute and
# nothing else. The list is built from TensorFlow's own op registry
# (`tf.raw_ops`), grouped the way TensorFlow groups its op definitions: every
# op is generated into the Python module of the C++ library that registers it
# (math_ops.cc -> gen_math_ops, io_ops.cc -> gen_io_ops, script_ops.cc ->
# gen_script_ops, ...). We take whole libraries whose ops only transform
# tensors and in-memory resources (COMPUTE_OP_LIBRARIES), a few named ops from
# mixed libraries, and subtract the ops of those libraries that touch the host
# (NOT_COMPUTE_OPS). Why the registry and not a frozen list of names: a new
# TensorFlow adds compute ops (new math kernels, new versions such as
# BatchMatMulV3) to these same libraries, and Keras exports start using them;
# a frozen list would refuse ordinary models after an upgrade, while a new file
# or system op lands in io_ops, dataset_ops, summary_ops or script_ops, which
# are never on the list. An op that is not in the registry at all (a custom op,
# a typo, an op from a newer TensorFlow) is refused.
#
# On top of the list:
# * checkpoint ops (SaveV2, RestoreV2, MergeV2Checkpoints, ShardedFilename, ...)
#   only inside the saver's own functions: the functions that the nodes named
#   by `saver_def` call, and what those call; never in a function that anything
#   else can reach (a signature, a resource initializer or any other function the
#   object graph names, a graph node other than the saver's, an unreferenced
#   function). TF2 SavedModels keep their saver in `_traced_save` /
#   `_traced_restore`; TF1 ones keep it as graph nodes under `save/`, judged by
#   which root (save, restore, anything else) reaches them.
#   (StringJoin, StaticRegexFullMatch and Select, which the saver uses to build
#   its temporary file names, only compute strings and stay allowed anywhere:
#   text models use tf.strings.join.)
# * InitializeTableFromTextFile(V2) only when its file name is one of the
#   SavedModel's own assets: a function argument bound to an asset of the object
#   graph, or (TF1) the tensor an AssetFileDef names, which the loader feeds with
#   the file's path inside assets/. A constant path or a serving input is refused.
# * PrintV2 only to stderr or the log (not to stdout, which nothing escapes, nor "file://..."), and
#   DecodeProtoV2 / EncodeProto only with the built-in descriptor pool or inline
#   bytes (not a descriptor file).
#
# Every function in the library is checked, reachable or not: the loader runs
# resource initializers and restores saveables from the object graph whatever the
# graph's wiring says, and user code may call any function the object graph keeps.

COMPUTE_OP_LIBRARIES = frozenset({
    "gen_array_ops", "gen_math_ops", "gen_nn_ops", "gen_linalg_ops", "gen_special_math_ops",
    "gen_spectral_ops", "gen_bitwise_ops", "gen_manip_ops", "gen_image_ops", "gen_audio_ops",
    "gen_string_ops", "gen_parsing_ops", "gen_sparse_ops", "gen_sparse_csr_matrix_ops",
    "gen_ragged_array_ops", "gen_ragged_conversion_ops", "gen_ragged_math_ops", "gen_set_ops",
    "gen_count_ops", "gen_ctc_ops", "gen_random_ops", "gen_stateful_random_ops",
    "gen_stateless_random_ops", "gen_stateless_random_ops_v2", "gen_random_index_shuffle_ops",
    "gen_uniform_quant_ops", "gen_rnn_ops", "gen_cudnn_rnn_ops", "gen_list_ops", "gen_map_ops",
    "gen_optional_ops", "gen_composite_tensor_ops",
    "gen_state_ops", "gen_resource_variable_ops",          # variables
    "gen_training_ops",                                     # optimizer updates of variables (train signatures)
    "gen_lookup_ops",                                       # in-memory tables (text-file init: see below)
    "gen_control_flow_ops", "gen_functional_ops",           # calls, If, While, Case (callees checked too)
    "gen_logging_ops",                                      # Assert, Print, summaries as strings (PrintV2: see below)
    "gen_decode_proto_ops", "gen_encode_proto_ops",         # protobuf <-> tensors (descriptor files: see below)
})
# Compute ops from libraries that also hold host-touching ops (data_flow_ops has RecordInput,
# which reads files, next to TensorArrays and queues).
COMPUTE_OPS_ELSEWHERE = frozenset({"DynamicPartition", "DynamicStitch", "ParallelDynamicStitch"})
COMPUTE_OP_PREFIXES_ELSEWHERE = ("TensorArray", "Stack")   # gen_data_flow_ops: in-memory only
# Ops of the compute libraries that do something else.
NOT_COMPUTE_OPS = {
    "ImmutableConst": "maps a file into memory",
    "Abort": "ends the process",
    "RemoteCall": "runs a function on another machine",
}

CHECKPOINT_WRITE_OPS = frozenset({"SaveV2", "Save", "SaveSlices", "MergeV2Checkpoints"})
CHECKPOINT_READ_OPS = frozenset({"RestoreV2", "Restore", "RestoreSlice"})
CHECKPOINT_NAME_OPS = frozenset({"ShardedFilename", "ShardedFilespec"})
TEXT_FILE_TABLE_OPS = frozenset({"InitializeTableFromTextFile", "InitializeTableFromTextFileV2"})
# stderr and the log go through the engine child's stderr filter, which escapes what a model prints;
# stdout does not.
PRINT_STREAMS = frozenset({"stderr", "log(info)", "log(warning)", "log(error)"})
PROTO_OPS = frozenset({"DecodeProtoV2", "EncodeProto"})

# Why an op outside the list is refused, by the library TensorFlow registers it in.
_LIBRARY_REASONS = {
    "gen_io_ops": "reads or writes files",
    "gen_checkpoint_ops": "reads checkpoint or vocabulary files",
    "gen_filesystem_ops": "changes file system settings",
    "gen_script_ops": "runs Python code",
    "gen_summary_ops": "writes summary files",
    "gen_debug_ops": "writes debug dumps",
    "gen_dataset_ops": "runs an input pipeline that can read files",
    "gen_experimental_dataset_ops": "runs an input pipeline that can read or write files",
    "gen_data_flow_ops": "is not an op a model that only computes needs (queues, staging, file records)",
    "gen_collective_ops": "talks to other devices or machines",
    "gen_nccl_ops": "talks to other devices",
    "gen_sendrecv_ops": "talks to other devices or machines",
    "gen_tpu_ops": "needs a TPU",
    "gen_tpu_partition_ops": "needs a TPU",
    "gen_xla_ops": "needs a TPU",
}

_SAVE, _RESTORE, _OTHER = "save", "restore", "other"
_CALL_OPS = frozenset({"StatefulPartitionedCall", "PartitionedCall"})   # inputs map 1:1 to the callee's arguments
_PASS_THROUGH_OPS = frozenset({"Identity", "Snapshot"})


@functools.lru_cache(maxsize=1)
def op_libraries() -> dict[str, str]:
    """Every op TensorFlow registers for Python, with the library (`gen_*_ops`) that defines it."""
    from core.models.tfimport import tensorflow

    tf = tensorflow()
    libraries = {}
    for name in dir(tf.raw_ops):
        if name.startswith("_"):
            continue
        module = getattr(getattr(tf.raw_ops, name), "__module__", "") or ""
        libraries[name] = module.rsplit(".", 1)[-1]
    return libraries


@functools.lru_cache(maxsize=1)
def compute_op_allowlist() -> frozenset[str]:
    """The ops that only compute (see the comment above COMPUTE_OP_LIBRARIES)."""
    allowed = set()
    for op, library in op_libraries().items():
        if library in COMPUTE_OP_LIBRARIES or op in COMPUTE_OPS_ELSEWHERE or (
                library == "gen_data_flow_ops" and op.startswith(COMPUTE_OP_PREFIXES_ELSEWHERE)):
            allowed.add(op)
    return frozenset(allowed - set(NOT_COMPUTE_OPS) - TEXT_FILE_TABLE_OPS)


@dataclass(frozen=True)
class OpProblem:
    op: str
    where: str          # "function '__inference_...'" or "graph node 'save/SaveV2'"
    reason: str

    def __str__(self) -> str:
        return f"{self.op} in {self.where}: {self.reason}"


def _node_name(tensor_name: str) -> str:
    name = tensor_name.lstrip("^")
    return name.split(":", 1)[0]


def _data_inputs(node) -> list[str]:
    return [i for i in node.input if not i.startswith("^")]


def _attr_functions(attrs) -> Iterator[str]:
    """Names of the functions an attribute map names (f, then_branch, body, branches, nested attrs)."""
    for value in attrs.values():
        kind = value.WhichOneof("value")
        if kind == "func":
            yield value.func.name
            yield from _attr_functions(value.func.attr)
        elif kind == "list":
            for fn in value.list.func:
                yield fn.name
                yield from _attr_functions(fn.attr)


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


def saved_model_assets(meta_graph) -> list:
    """The AssetFileDefs of a MetaGraph: the field, and the legacy `saved_model_assets` collection
    that TF1's builder writes (the TF1 loader reads both)."""
    from tensorflow.core.protobuf import meta_graph_pb2

    assets = list(meta_graph.asset_file_def)
    collection = meta_graph.collection_def.get("saved_model_assets")
    if collection is not None and collection.WhichOneof("kind") == "any_list":
        for packed in collection.any_list.value:
            asset = meta_graph_pb2.AssetFileDef()
            if packed.Unpack(asset):
                assets.append(asset)
    return assets


class _OpPolicy:
    """Judges the ops of one MetaGraphDef; `problems()` lists what the policy refuses."""

    def __init__(self, meta_graph) -> None:
        self.meta_graph = meta_graph
        graph = meta_graph.graph_def
        self.nodes = {n.name: n for n in graph.node}
        self.functions = {f.signature.name: f for f in graph.library.function}
        self.fn_nodes = {name: {n.name: n for n in f.node_def} for name, f in self.functions.items()}
        self.arg_index = {name: {a.name: i for i, a in enumerate(f.signature.input_arg)}
                          for name, f in self.functions.items()}
        self.allowed = compute_op_allowlist()
        self.libraries = op_libraries()
        self.asset_nodes = {_node_name(a.tensor_info.name) for a in saved_model_assets(meta_graph)
                            if a.tensor_info.name}
        self.object_graph = meta_graph.object_graph_def
        self.bindings = {name: list(cf.bound_inputs) for name, cf in self.object_graph.concrete_functions.items()}
        self.object_functions = set(self.bindings)
        self.roles: dict[str, str] = {}
        self._read_object_graph()
        self.call_sites = self._find_call_sites()
        self.graph_labels, self.fn_labels = self._label()

    # -- the object graph ----------------------------------------------------------

    def _read_object_graph(self) -> None:
        nodes = self.object_graph.nodes
        for obj in nodes:
            kind = obj.WhichOneof("kind")
            if kind == "function":
                self.object_functions.update(obj.function.concrete_functions)
            elif kind == "bare_concrete_function":
                self.object_functions.add(obj.bare_concrete_function.concrete_function_name)
            if kind == "resource":   # the loader calls these itself: _create_resource, _initialize, _destroy_resource
                for child in obj.children:
                    for fn in self._functions_of_object(child.node_id):
                        self.roles.setdefault(fn, f"the {child.local_name.lstrip('_').replace('_', ' ')} "
                                                  "function of a resource, run when the model loads")
            for key, saveable in obj.saveable_objects.items():
                for node_id, what in ((saveable.save_function, "save"), (saveable.restore_function, "restore")):
                    for fn in self._functions_of_object(node_id):
                        self.roles.setdefault(fn, f"the {what} function of saveable {key!r}")

    def _functions_of_object(self, node_id: int) -> list[str]:
        nodes = self.object_graph.nodes
        if not 0 <= node_id < len(nodes):
            return []
        obj = nodes[node_id]
        kind = obj.WhichOneof("kind")
        if kind == "function":
            return list(obj.function.concrete_functions)
        if kind == "bare_concrete_function":
            return [obj.bare_concrete_function.concrete_function_name]
        return []

    def _is_asset_object(self, node_id: int) -> bool:
        nodes = self.object_graph.nodes
        if not 0 <= node_id < len(nodes) or nodes[node_id].WhichOneof("kind") != "asset":
            return False
        return 0 <= nodes[node_id].asset.asset_file_def_index < len(self.meta_graph.asset_file_def)

    # -- calls -------------------------------------------------------------------------

    def _callees(self, node) -> list[tuple[str, bool]]:
        """(function, arguments map 1:1) for each library function `node` calls."""
        found = []
        if node.op in self.functions:
            found.append((node.op, True))
        for key, value in node.attr.items():
            direct = node.op in _CALL_OPS and key == "f" and value.WhichOneof("value") == "func"
            if direct:
                found.append((value.func.name, True))
                found += [(fn, False) for fn in _attr_functions(value.func.attr)]
            else:
                found += [(fn, False) for fn in _attr_functions({key: value})]
        return [(fn, mapped) for fn, mapped in found if fn in self.functions]

    def _find_call_sites(self) -> dict[str, list[tuple[str | None, Any, bool]]]:
        sites: dict[str, list] = {}
        for node in self.nodes.values():
            for fn, mapped in self._callees(node):
                sites.setdefault(fn, []).append((None, node, mapped))
        for scope, nodes in self.fn_nodes.items():
            for node in nodes.values():
                for fn, mapped in self._callees(node):
                    sites.setdefault(fn, []).append((scope, node, mapped))
        return sites

    # -- who can run what ---------------------------------------------------------------

    def _label(self) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
        nodes = self.nodes
        saver = self.meta_graph.saver_def if self.meta_graph.HasField("saver_def") else None
        self.save_node = _node_name(saver.save_tensor_name) if saver and saver.save_tensor_name else ""
        self.restore_node = _node_name(saver.restore_op_name) if saver and saver.restore_op_name else ""
        save_nodes = _graph_closure(nodes, [self.save_node])
        restore_nodes = _graph_closure(nodes, [self.restore_node])
        # Anything a signature, a collection (init ops, table initializers) or an asset names can run
        # at load or serve time, even when it is also wired under the saver.
        other_roots = {n for n in nodes if n not in save_nodes and n not in restore_nodes}
        for signature in self.meta_graph.signature_def.values():
            for info in list(signature.inputs.values()) + list(signature.outputs.values()):
                other_roots.add(_node_name(info.name))
        for collection in self.meta_graph.collection_def.values():
            if collection.WhichOneof("kind") == "node_list":
                other_roots.update(_node_name(v) for v in collection.node_list.value)
        other_roots |= self.asset_nodes
        other_nodes = _graph_closure(nodes, other_roots)

        graph_labels: dict[str, set[str]] = {}
        for name in nodes:
            labels = set()
            if name in save_nodes:
                labels.add(_SAVE)
            if name in restore_nodes:
                labels.add(_RESTORE)
            if name in other_nodes or not labels:
                labels.add(_OTHER)
            graph_labels[name] = labels

        fn_labels: dict[str, set[str]] = {name: set() for name in self.functions}
        stack: list[tuple[str, str]] = []
        for name, node in nodes.items():
            # Only the saver's own nodes lend "save"/"restore" to what they call; a function
            # called by any other node (even one wired under the saver) can run elsewhere.
            labels = graph_labels[name] if name in (self.save_node, self.restore_node) else {_OTHER}
            stack += [(fn, label) for fn, _ in self._callees(node) for label in labels]
        stack += [(fn, _OTHER) for fn in self.object_functions if fn in self.functions]
        while stack:
            fn, label = stack.pop()
            if label in fn_labels[fn]:
                continue
            fn_labels[fn].add(label)
            for inner in self.fn_nodes[fn].values():
                stack += [(callee, label) for callee, _ in self._callees(inner)]
        for labels in fn_labels.values():
            if not labels:
                labels.add(_OTHER)   # never called from the graph: user code may still call it
        return graph_labels, fn_labels

    # -- where a file name comes from ---------------------------------------------------

    def _asset_valued(self, scope: str | None, ref: str, seen: frozenset = frozenset()) -> bool:
        """Whether tensor `ref` (in the graph, or in function `scope`) always holds an asset's path."""
        if ref.startswith("^") or (scope, ref) in seen or len(seen) > 200:
            return False
        seen = seen | {(scope, ref)}
        if scope is None:
            name = _node_name(ref)
            if name in self.asset_nodes:
                return True     # fed by the loader with assets/<filename>
            node = self.nodes.get(name)
            if node is None:
                return False
            inputs = _data_inputs(node)
            if node.op in _PASS_THROUGH_OPS and inputs:
                return self._asset_valued(None, inputs[0], seen)
            if node.op == "ReadVariableOp" and inputs:
                # TF2 graphs keep an asset path in a variable assigned from the asset placeholder
                variable = _node_name(inputs[0])
                assigns = [n for n in self.nodes.values()
                           if n.op == "AssignVariableOp" and _data_inputs(n)[:1] and _node_name(_data_inputs(n)[0]) == variable]
                return bool(assigns) and all(len(_data_inputs(a)) > 1 and self._asset_valued(None, _data_inputs(a)[1], seen)
                                             for a in assigns)
            return False
        if ":" not in ref and ref in self.arg_index[scope]:
            return self._argument_asset_valued(scope, self.arg_index[scope][ref], seen)
        node = self.fn_nodes[scope].get(ref.split(":", 1)[0])
        inputs = _data_inputs(node) if node is not None else []
        if node is not None and node.op in _PASS_THROUGH_OPS and inputs:
            return self._asset_valued(scope, inputs[0], seen)
        return False

    def _argument_asset_valued(self, fn: str, index: int, seen: frozenset) -> bool:
        verdicts = []
        if fn in self.object_functions:
            bound = self.bindings.get(fn, [])
            first_bound = len(self.functions[fn].signature.input_arg) - len(bound)
            if index < first_bound:
                return False     # an argument whoever calls the function chooses
            verdicts.append(self._is_asset_object(bound[index - first_bound]))
        for scope, node, mapped in self.call_sites.get(fn, ()):
            inputs = _data_inputs(node)
            if not mapped or index >= len(inputs):
                return False
            verdicts.append(self._asset_valued(scope, inputs[index], seen))
        return bool(verdicts) and all(verdicts)

    # -- the verdicts --------------------------------------------------------------------

    def _judge(self, node, scope: str | None, labels: set[str]) -> str | None:
        """Why `node` is refused, or None."""
        op = node.op
        if op in self.functions:
            return None      # a call: the callee is judged on its own
        if op in CHECKPOINT_WRITE_OPS:
            return None if labels == {_SAVE} else "writes a checkpoint outside the checkpoint saver"
        if op in CHECKPOINT_READ_OPS or op in CHECKPOINT_NAME_OPS:
            return None if labels <= {_SAVE, _RESTORE} else "reads checkpoint files outside the checkpoint saver"
        if op in TEXT_FILE_TABLE_OPS:
            inputs = _data_inputs(node)
            if len(inputs) > 1 and self._asset_valued(scope, inputs[1], frozenset()):
                return None
            return "fills a lookup table from a file that is not one of the SavedModel's assets"
        if op not in self.allowed:
            if op in NOT_COMPUTE_OPS:
                return NOT_COMPUTE_OPS[op]
            library = self.libraries.get(op)
            if library is None:
                return "is not a TensorFlow op Litesmith knows (a custom op?)"
            return _LIBRARY_REASONS.get(library, "is not on Litesmith's list of ops that only compute")
        if op == "PrintV2" and "output_stream" in node.attr:
            stream = node.attr["output_stream"].s.decode(errors="replace")
            if stream not in PRINT_STREAMS:
                return f"prints to {stream!r}"
        if op in PROTO_OPS and "descriptor_source" in node.attr:
            source = node.attr["descriptor_source"].s.decode(errors="replace")
            if source != "local://" and not source.startswith("bytes://"):
                return f"reads a protobuf descriptor file ({source!r})"
        return None

    def _where_function(self, name: str) -> str:
        role = self.roles.get(name)
        return f"function {name!r}" + (f" ({role})" if role else "")

    def problems(self) -> list[OpProblem]:
        found = []
        for name, node in self.nodes.items():
            reason = self._judge(node, None, self.graph_labels[name])
            if reason:
                found.append(OpProblem(node.op, f"graph node {name!r}", reason))
        for fname in self.functions:
            for node in self.fn_nodes[fname].values():
                reason = self._judge(node, fname, self.fn_labels[fname])
                if reason:
                    found.append(OpProblem(node.op, self._where_function(fname), reason))
        return found


def saved_model_op_problems(meta_graph) -> list[OpProblem]:
    """What the op policy refuses in one MetaGraphDef (empty when fine). See COMPUTE_OP_LIBRARIES."""
    return _OpPolicy(meta_graph).problems()


# -- SavedModel: the folder --------------------------------------------------------------

def _inside(folder: Path, target: Path) -> bool:
    try:
        target.relative_to(folder)
        return True
    except ValueError:
        return False


def _check_saved_model_tree(folder: Path) -> None:
    real_root = folder.resolve()
    count = 0

    def walk_error(exc: OSError) -> None:
        raise _bad(folder, f"cannot read the SavedModel folder ({_reason(exc)})")

    for root, dirs, files in os.walk(folder, followlinks=False, onerror=walk_error):
        for name in dirs + files:
            count += 1
            if count > MAX_SAVED_MODEL_ENTRIES:
                raise _bad(folder, f"refused: the SavedModel folder holds more than {MAX_SAVED_MODEL_ENTRIES:,} entries")
            entry = Path(root) / name
            shown = entry.relative_to(folder)
            st = os.lstat(entry)
            if stat.S_ISLNK(st.st_mode):
                try:
                    target = entry.resolve(strict=True)
                except (OSError, RuntimeError) as exc:   # ELOOP, a dangling link ("Symlink loop" before 3.13)
                    loop = isinstance(exc, RuntimeError) or getattr(exc, "errno", None) == errno.ELOOP
                    raise _bad(folder, f"refused: {shown} in the SavedModel folder is "
                                       + ("a symbolic link loop" if loop else f"a broken symbolic link ({_reason(exc)})")) from None
                if not _inside(real_root, target):
                    raise _bad(folder, f"refused: {shown} is a symbolic link that leaves the "
                                       f"SavedModel folder (to {target})")
            elif not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
                raise _bad(folder, f"refused: {shown} in the SavedModel folder is not a regular file")


def _op_refusal(folder: Path, problems: list[OpProblem]) -> BadInputError:
    unique = sorted(set(problems), key=str)
    shown = "; ".join(str(p) for p in unique[:3])
    more = f"; and {len(unique) - 3} more (see the details)" if len(unique) > 3 else ""
    return _bad(folder, "refused: the SavedModel uses ops that read or write files, run Python or are not on "
                        f"Litesmith's list of ops that only compute: {shown}{more}. A model that only computes "
                        "needs none of them: export it again without them (e.g. with model.export())",
                details="\n".join(str(p) for p in unique))


def check_saved_model(folder: str | Path):
    """Parse and check `saved_model.pb`; return the SavedModel protocol buffer.

    Imports TensorFlow's protobuf module (the child process may do that).
    """
    with reading_model(folder, "not a valid SavedModel"):
        return _check_saved_model(Path(folder))


def _check_saved_model(folder: Path):
    from core.models.tfimport import tensorflow

    tensorflow()
    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import saved_model_pb2

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
        raise _bad(folder, f"not a valid SavedModel: saved_model.pb cannot be parsed ({first_line(exc, 200)}); "
                           "it is truncated or corrupt") from None
    if not proto.meta_graphs:
        raise _bad(folder, "not a valid SavedModel: saved_model.pb holds no MetaGraph")

    problems: list[OpProblem] = []
    real_assets = (folder / "assets").resolve()
    for meta_graph in proto.meta_graphs:
        for asset in saved_model_assets(meta_graph):
            name = asset.filename
            parts = name.replace("\\", "/").split("/")
            if (not name or posixpath.isabs(name) or ".." in parts or "\0" in name
                    or not _inside(real_assets, (folder / "assets" / name).resolve())):
                raise _bad(folder, f"refused: the SavedModel names an asset outside its assets/ folder ({name!r})")
        problems += saved_model_op_problems(meta_graph)
    if problems:
        raise _op_refusal(folder, problems)
    return proto


# -- all formats -----------------------------------------------------------------

def check_model(path: str | Path) -> str:
    """Detect the format, run its safety checks, return the format."""
    wait_for_tensorflow_preload()  # h5py/zip checks must not race the engine's TF import
    with reading_model(path):
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
