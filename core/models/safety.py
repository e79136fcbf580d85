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

This module holds the limits, the per-format checks that read them (so a limit changed
here, as tests do, changes the check) and the entry points. What they build on lives
next to it: the format boundary (`core.models.read_guard`), Keras config JSON and
Lambda layers (`core.models.config_checks`), one member of a `.keras` zip
(`core.models.zip_members`), the SavedModel folder and protocol buffer checks
(`core.models.saved_model_checks`, which read the limits here at call time) and the
SavedModel op policy (`core.models.op_policy`, over `core.models.op_allowlist`). The
op policy's and config checks' public names are importable from here too.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import struct
import tempfile
import traceback
import zipfile
from pathlib import Path
from typing import Any

from core.errors import BadInputError
from core.models.config_checks import (  # noqa: F401 - re-exported
    LAMBDA_ADVICE,
    _refuse_lambdas,
    find_code_lambdas,
    json_nesting_depth,
)
from core.models.formats import TFLITE_IDENTIFIER, has_hdf5_signature, describe_content, detect_format, read_head
from core.models.info import ModelFormat
from core.models.op_allowlist import (  # noqa: F401 - re-exported
    COMPUTE_OP_LIBRARIES,
    COMPUTE_OP_PREFIXES_ELSEWHERE,
    COMPUTE_OPS_ELSEWHERE,
    NOT_COMPUTE_OPS,
    TEXT_FILE_TABLE_OPS,
    compute_op_allowlist,
    op_libraries,
)
from core.models.op_policy import (  # noqa: F401 - re-exported
    CHECKPOINT_NAME_OPS,
    CHECKPOINT_READ_OPS,
    CHECKPOINT_WRITE_OPS,
    PRINT_STREAMS,
    PROTO_OPS,
    OpProblem,
    _op_refusal,
    saved_model_assets,
    saved_model_op_problems,
)
from core.models.read_guard import _bad, _reason, reading_model
from core.models.saved_model_checks import check_saved_model_proto
from core.tf_runtime import wait_for_tensorflow_preload
from core.models.zip_members import _check_member_decompresses, _unsafe_member_name
from core.text import first_line

# -- limits (module constants so tests and power users can change them) --------
MAX_ZIP_MEMBERS = 10_000
MAX_ZIP_UNCOMPRESSED_BYTES = 4 * 2**30  # 4 GiB
MAX_CONFIG_JSON_BYTES = 64 * 2**20  # config.json inside a .keras
MAX_JSON_DEPTH = 100  # a real Keras config nests ~20 deep (models in models: more)
MAX_H5_OBJECTS = 200_000  # groups + datasets walked in a .h5
MAX_H5_CONFIG_BYTES = 64 * 2**20
MAX_SAVED_MODEL_PB_BYTES = 2 * 2**30 - 1  # protobuf's hard limit
MAX_SAVED_MODEL_ENTRIES = 100_000  # files and folders in a SavedModel folder
MIN_TFLITE_BYTES = 16  # root offset + identifier + a vtable at least
MAX_TFLITE_BYTES = 2 * 2**30  # flatbuffers cannot address more


# -- JSON from model files ---------------------------------------------------------


def parse_model_json(path: str | Path, text: str | bytes, what: str) -> Any:
    """JSON from a model file: valid UTF-8, nested at most MAX_JSON_DEPTH deep, else BadInputError."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _bad(path, f"{what} is not valid UTF-8 text ({exc.reason} at byte {exc.start})") from None
    depth = json_nesting_depth(text, stop_above=MAX_JSON_DEPTH)
    if depth > MAX_JSON_DEPTH:
        raise _bad(
            path,
            f"refused: {what} nests more than {MAX_JSON_DEPTH} levels deep "
            "(a real model config needs far fewer; the file is corrupt or crafted)",
        )
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise _bad(path, f"{what} is not valid JSON ({_reason(exc)})") from None


# -- .keras ----------------------------------------------------------------------


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
        raise _bad(
            path, "not a valid .keras file: the zip archive is truncated or corrupt (its central directory is missing)"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > MAX_ZIP_MEMBERS:
                raise _bad(
                    path,
                    f"refused: the .keras archive has {len(members):,} members "
                    f"(limit {MAX_ZIP_MEMBERS:,}); a real model has a handful",
                )
            total = sum(m.file_size for m in members)
            if total > MAX_ZIP_UNCOMPRESSED_BYTES:
                raise _bad(
                    path,
                    f"refused: the .keras archive would unpack to {total / 2**30:,.2f} GiB "
                    f"(limit {MAX_ZIP_UNCOMPRESSED_BYTES / 2**30:,.2f} GiB); it may be a zip bomb",
                )
            for member in members:
                if _unsafe_member_name(member.filename):
                    raise _bad(
                        path,
                        f"refused: the .keras archive has an unsafe member name {member.filename!r} "
                        "(absolute or containing '..')",
                    )
            names = {m.filename: m for m in members}
            if len(names) != len(members):
                raise _bad(path, "refused: the .keras archive has duplicate member names")
            if "config.json" not in names:
                raise _bad(
                    path,
                    "not a Keras model: the .keras archive has no config.json (a weights-only or foreign zip file?)",
                )
            info = names["config.json"]
            if info.file_size > MAX_CONFIG_JSON_BYTES:
                raise _bad(
                    path,
                    f"refused: config.json is {info.file_size / 2**20:,.0f} MiB "
                    f"(limit {MAX_CONFIG_JSON_BYTES / 2**20:,.0f} MiB)",
                )
            for member in members:
                _check_member_decompresses(path, archive, member)
            raw = archive.read(info)
            for member in members:
                # Keras opens the weights file with h5py straight from the zip: check it like a .h5
                if member.filename.lower().endswith((".h5", ".hdf5")):
                    _check_inner_h5(path, archive, member)
    except BadInputError:
        raise
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        OSError,
        EOFError,
        RuntimeError,
        NotImplementedError,
        ValueError,
        KeyError,
        struct.error,
    ) as exc:
        raise _bad(path, f"not a valid .keras file: the zip archive is corrupt ({first_line(exc, 200)})") from None
    config = parse_model_json(path, raw, "config.json in the .keras archive")
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
        except Exception:  # noqa: BLE001 - OSError, and whatever h5py raises on a crafted superblock
            raise _bad(
                path,
                f"not a valid .keras file: {member.filename} inside it is not a valid HDF5 file (truncated or corrupt)",
                details=traceback.format_exc(),
            ) from None
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
        raise _bad(
            path,
            f"not a valid HDF5 file: it is truncated or corrupt ({first_line(exc, 200)})",
            details=traceback.format_exc(),
        ) from None
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
                raise _bad(
                    path,
                    "this HDF5 file holds weights only (no model_config); Litesmith needs the whole "
                    "model: save it with model.save('model.keras')",
                )
            raise _bad(path, "this HDF5 file has no Keras model_config attribute")
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", errors="replace")
        raw = str(raw)
        if len(raw) > MAX_H5_CONFIG_BYTES:
            raise _bad(path, "refused: the model_config attribute is unreasonably large")
    config = parse_model_json(path, raw, "the HDF5 file's model_config")
    _refuse_lambdas(path, config)
    return config


def _check_h5_tree(path: str | Path, root: Any, where: str = "the HDF5 file") -> None:
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
                raise _bad(
                    path,
                    f"refused: {label} has a link of an unknown (user-defined) type at {where}; "
                    "a model file has only ordinary groups and datasets",
                ) from None
            if isinstance(link, h5py.ExternalLink):
                raise _bad(
                    path,
                    f"refused: {label} links to another file ({where} -> "
                    f"{link.filename}:{link.path}); a model file must be self-contained",
                )
            if isinstance(link, h5py.SoftLink):
                continue  # a name for an object inside this file; not followed here
            if not isinstance(link, h5py.HardLink):
                raise _bad(path, f"refused: {label} has a link of an unknown type at {where}")
            obj = group.get(name)
            if isinstance(obj, h5py.Group):
                stack.append(obj)
            elif isinstance(obj, h5py.Dataset):
                if obj.external:
                    raise _bad(
                        path,
                        f"refused: the HDF5 dataset {where} in {label} is stored in external files "
                        f"({', '.join(str(e[0]) for e in obj.external[:3])}); "
                        "a model file must be self-contained",
                    )
                if obj.is_virtual:
                    raise _bad(
                        path,
                        f"refused: the HDF5 dataset {where} in {label} is a virtual dataset that maps "
                        "other files; a model file must be self-contained",
                    )


# -- .tflite ---------------------------------------------------------------------


def check_tflite_bytes(path: str | Path, data: bytes) -> None:
    """Header checks of a .tflite's bytes before LiteRT sees them; BadInputError naming `path` on failure.

    Refuses an empty or truncated file, one over MAX_TFLITE_BYTES, one without the
    'TFL3' identifier and one whose root table offset points outside the file.
    """
    size = len(data)
    if size == 0:
        raise _bad(path, "the file is empty (0 bytes)")
    if size < MIN_TFLITE_BYTES:
        raise _bad(path, f"not a valid .tflite model: only {size} bytes (truncated?)")
    if size > MAX_TFLITE_BYTES:
        raise _bad(path, f"refused: {size / 2**30:,.2f} GiB is more than a .tflite flatbuffer can hold")
    if data[4:8] != TFLITE_IDENTIFIER:
        raise _bad(
            path,
            f"not a valid .tflite model: no 'TFL3' flatbuffer identifier (the file is {describe_content(data[:1024])})",
        )
    (root,) = struct.unpack_from("<I", data, 0)
    if root < 8 or root + 4 > size:
        raise _bad(
            path, "not a valid .tflite model: the flatbuffer's root table lies outside the file (truncated or corrupt)"
        )


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


# -- SavedModel (the checks: `core.models.saved_model_checks`) ---------------------------


def check_saved_model(folder: str | Path) -> Any:
    """Parse and check `saved_model.pb`; return the SavedModel protocol buffer.

    Imports TensorFlow's protobuf module (the child process may do that).
    """
    with reading_model(folder, "not a valid SavedModel"):
        return check_saved_model_proto(Path(folder))


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
