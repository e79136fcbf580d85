"""Which kind of model a path holds, decided from its name and its first bytes.

Cheap and TensorFlow-free: the parent process calls `detect_format` to reject a
wrong path before the engine starts. It never opens a fifo or a device (opening
a fifo for reading would block), and it never writes anything.

The deeper, format-specific safety checks live in `core.models.safety`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from core.errors import BadInputError
from core.models.info import ModelFormat
from core.text import escape_line

KERAS_EXTENSIONS = (".keras",)
H5_EXTENSIONS = (".h5", ".hdf5")
TFLITE_EXTENSIONS = (".tflite",)
SAVED_MODEL_FILE = "saved_model.pb"

ZIP_MAGIC = b"PK\x03\x04"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
TFLITE_IDENTIFIER = b"TFL3"  # flatbuffer file identifier, bytes 4..8
HDF5_USERBLOCK_OFFSETS = (0, 512, 1024, 2048, 4096, 8192)  # where an HDF5 superblock may start


def _bad(path: str | Path, message: str) -> BadInputError:
    # a message can quote the file's own name or folder entries: one line, escape codes visible
    return BadInputError(escape_line(message), path=str(path))


def describe_content(head: bytes) -> str:
    """A short guess of what some bytes are, for error messages ("an HTML page", "a zip archive")."""
    if not head:
        return "empty"
    stripped = head.lstrip()[:64].lower()
    if stripped.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in head[:512].lower():
        return "an HTML page (a download that saved a web page instead of the model?)"
    if stripped.startswith(b"<"):
        return "an XML/HTML text file"
    if stripped.startswith((b"{", b"[")):
        return "a JSON/text file"
    if head.startswith(ZIP_MAGIC):
        return "a zip archive (a .keras model?)"
    if head.startswith(HDF5_MAGIC):
        return "an HDF5 file (a .h5 model?)"
    if len(head) >= 8 and head[4:8] == TFLITE_IDENTIFIER:
        return "a TensorFlow Lite model (.tflite)"
    if head.startswith(b"version https://git-lfs"):
        return "a Git LFS pointer (run `git lfs pull` to fetch the real file)"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "unrecognised binary data"
    return "a text file"


def sniff_format(head: bytes) -> str | None:
    """The format the first bytes announce, or None."""
    if head.startswith(ZIP_MAGIC):
        return ModelFormat.KERAS
    if head.startswith(HDF5_MAGIC):
        return ModelFormat.H5
    if len(head) >= 8 and head[4:8] == TFLITE_IDENTIFIER:
        return ModelFormat.TFLITE
    return None


def stat_input(path: str | Path) -> os.stat_result:
    """`os.stat` with a clear BadInputError for a missing or unreadable path."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise _bad(path, "the path is a broken symbolic link (its target does not exist)") from None
        raise _bad(path, "no such file or folder") from None
    except PermissionError:
        raise _bad(path, "permission denied (Litesmith cannot read this path)") from None
    except OSError as exc:
        raise _bad(path, f"cannot read this path: {exc.strerror or exc}") from None


def _kind_of(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (fifo)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_head(path: str | Path, size: int = 1024) -> bytes:
    """The first `size` bytes of `path`; BadInputError naming the file when it cannot be read."""
    try:
        with open(path, "rb") as fh:
            return fh.read(size)
    except PermissionError:
        raise _bad(path, "permission denied (Litesmith cannot read this file)") from None
    except OSError as exc:
        raise _bad(path, f"cannot read this file: {exc.strerror or exc}") from None


def has_hdf5_signature(path: str | Path, size: int) -> bool:
    """True when the HDF5 magic is at offset 0 or a user-block offset (512, 1024, ...) within the first `size` bytes."""
    with open(path, "rb") as fh:
        for offset in HDF5_USERBLOCK_OFFSETS:
            if offset + 8 > size:
                break
            fh.seek(offset)
            if fh.read(8) == HDF5_MAGIC:
                return True
    return False


def detect_format(path: str | Path) -> str:
    """Return the `ModelFormat` of `path` or raise `BadInputError` with a one-line reason.

    Accepts a regular file (`.keras`, `.h5`/`.hdf5`, `.tflite`, or an unknown
    extension whose first bytes identify it) or a SavedModel folder (a folder
    with `saved_model.pb`). The extension and the first bytes must agree.
    """
    path = Path(path)
    st = stat_input(path)
    if stat.S_ISDIR(st.st_mode):
        pb = path / SAVED_MODEL_FILE
        if pb.is_file():
            return ModelFormat.SAVED_MODEL
        if (path / "saved_model.pbtxt").exists():
            raise _bad(
                path,
                "text SavedModels (saved_model.pbtxt) are not supported; save it again with "
                "tf.saved_model.save or model.export()",
            )
        try:
            keras_like = sorted(p.name for p in path.iterdir() if p.suffix.lower() in (".keras", ".h5", ".tflite"))[:3]
        except OSError as exc:
            raise _bad(path, f"cannot read this folder: {exc.strerror or exc}") from None
        hint = f" (it contains {', '.join(keras_like)}: open that file instead)" if keras_like else ""
        raise _bad(path, f"this folder is not a SavedModel: it has no saved_model.pb{hint}")
    if not stat.S_ISREG(st.st_mode):
        raise _bad(path, f"this is {_kind_of(st.st_mode)}; Litesmith opens model files and SavedModel folders only")

    suffix = path.suffix.lower()
    if path.name == SAVED_MODEL_FILE:
        raise _bad(path, "open the SavedModel folder that contains saved_model.pb, not the file itself")
    if st.st_size == 0:
        raise _bad(path, "the file is empty (0 bytes)")
    head = read_head(path)
    sniffed = sniff_format(head)

    if suffix in KERAS_EXTENSIONS:
        expected = ModelFormat.KERAS
    elif suffix in H5_EXTENSIONS:
        expected = ModelFormat.H5
        if sniffed is None and has_hdf5_signature(path, st.st_size):
            sniffed = ModelFormat.H5  # HDF5 with a user block
    elif suffix in TFLITE_EXTENSIONS:
        expected = ModelFormat.TFLITE
    else:
        if sniffed is not None:
            return sniffed
        raise _bad(
            path,
            f"unknown model type (extension {suffix or 'none'!r}, content: {describe_content(head)}); "
            "Litesmith opens .keras, .h5, .tflite files and SavedModel folders",
        )

    if sniffed != expected:
        label = {ModelFormat.KERAS: ".keras (zip)", ModelFormat.H5: "HDF5", ModelFormat.TFLITE: ".tflite"}[expected]
        if len(head) < 8:
            raise _bad(
                path, f"the file is too short ({st.st_size} bytes) to be a {label} model; it is truncated or corrupt"
            )
        raise _bad(path, f"not a valid {label} model: the file is {describe_content(head)}")
    return expected
