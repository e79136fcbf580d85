"""Checks of one member of a `.keras` zip archive: a name that stays inside the archive
(`_unsafe_member_name`: not absolute, no ``..``, no NUL) and a stream that decompresses to
its declared size with a matching CRC (`_check_member_decompresses`).
"""

from __future__ import annotations

import traceback
import zipfile
from pathlib import Path

from core.errors import BadInputError
from core.models.read_guard import _bad, _reason


def _unsafe_member_name(name: str) -> bool:
    if not name or "\0" in name:
        return True
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":"):
        return True
    return ".." in normalized.split("/")


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
                    raise _bad(
                        path,
                        f"refused: member {member.filename!r} of the .keras archive unpacks to more "
                        "than its declared size (a zip bomb?)",
                    )
    except BadInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - zlib.error, lzma.LZMAError, BadZipFile (CRC), EOFError, ...
        raise _bad(
            path,
            f"not a valid .keras file: member {member.filename!r} fails to decompress ({_reason(exc)})",
            details=traceback.format_exc(),
        ) from None
