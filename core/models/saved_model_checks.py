"""SavedModel folder checks run before `tf.saved_model.load`: the folder tree, the protocol buffer, its ops.

`saved_model.pb` must be a regular file no larger than a protocol buffer can be and must
parse; every entry of the folder stays inside it (no leaving or looping symbolic link,
no special file); every asset path stays inside ``assets/``; every op passes the op
policy (`core.models.op_policy`). The limits live in `core.models.safety` and are read
there at call time; errors are `BadInputError`s through `core.models.read_guard._bad`.
The entry point is `core.models.safety.check_saved_model`.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from pathlib import Path
from typing import Any

from core.models.formats import SAVED_MODEL_FILE
from core.models.op_policy import OpProblem, _op_refusal, saved_model_assets, saved_model_op_problems
from core.models.read_guard import _bad, _reason
from core.text import first_line


def inside(folder: Path, target: Path) -> bool:
    """True when `target` is `folder` or beneath it (path comparison only: resolve both first)."""
    try:
        target.relative_to(folder)
        return True
    except ValueError:
        return False


def check_saved_model_tree(folder: Path) -> None:
    """No symbolic link leaving the folder or looping, no special file, at most MAX_SAVED_MODEL_ENTRIES entries."""
    from core.models import safety  # the limits live there (and may be changed there)

    real_root = folder.resolve()
    count = 0

    def walk_error(exc: OSError) -> None:
        raise _bad(folder, f"cannot read the SavedModel folder ({_reason(exc)})")

    for root, dirs, files in os.walk(folder, followlinks=False, onerror=walk_error):
        for name in dirs + files:
            count += 1
            if count > safety.MAX_SAVED_MODEL_ENTRIES:
                raise _bad(
                    folder, f"refused: the SavedModel folder holds more than {safety.MAX_SAVED_MODEL_ENTRIES:,} entries"
                )
            entry = Path(root) / name
            shown = entry.relative_to(folder)
            st = os.lstat(entry)
            if stat.S_ISLNK(st.st_mode):
                try:
                    target = entry.resolve(strict=True)
                except (OSError, RuntimeError) as exc:  # ELOOP, a dangling link ("Symlink loop" before 3.13)
                    loop = isinstance(exc, RuntimeError) or getattr(exc, "errno", None) == errno.ELOOP
                    raise _bad(
                        folder,
                        f"refused: {shown} in the SavedModel folder is "
                        + ("a symbolic link loop" if loop else f"a broken symbolic link ({_reason(exc)})"),
                    ) from None
                if not inside(real_root, target):
                    raise _bad(
                        folder, f"refused: {shown} is a symbolic link that leaves the SavedModel folder (to {target})"
                    )
            elif not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
                raise _bad(folder, f"refused: {shown} in the SavedModel folder is not a regular file")


def check_saved_model_proto(folder: Path) -> Any:
    """`core.models.safety.check_saved_model` without its error boundary: the SavedModel protocol buffer."""
    from core.models import safety  # the limits live there (and may be changed there)
    from core.tf_runtime import import_tensorflow

    import_tensorflow()
    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import saved_model_pb2

    pb_path = folder / SAVED_MODEL_FILE
    if pb_path.is_symlink() or not pb_path.is_file():
        raise _bad(folder, "refused: saved_model.pb must be a regular file inside the folder")
    size = pb_path.stat().st_size
    if size == 0:
        raise _bad(folder, "not a valid SavedModel: saved_model.pb is empty")
    if size > safety.MAX_SAVED_MODEL_PB_BYTES:
        raise _bad(folder, "refused: saved_model.pb is larger than a protocol buffer can be")
    check_saved_model_tree(folder)

    proto = saved_model_pb2.SavedModel()
    try:
        proto.ParseFromString(pb_path.read_bytes())
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise _bad(
            folder,
            f"not a valid SavedModel: saved_model.pb cannot be parsed ({first_line(exc, 200)}); "
            "it is truncated or corrupt",
        ) from None
    if not proto.meta_graphs:
        raise _bad(folder, "not a valid SavedModel: saved_model.pb holds no MetaGraph")

    problems: list[OpProblem] = []
    real_assets = (folder / "assets").resolve()
    for meta_graph in proto.meta_graphs:
        for asset in saved_model_assets(meta_graph):
            name = asset.filename
            parts = name.replace("\\", "/").split("/")
            if (
                not name
                or posixpath.isabs(name)
                or ".." in parts
                or "\0" in name
                or not inside(real_assets, (folder / "assets" / name).resolve())
            ):
                raise _bad(folder, f"refused: the SavedModel names an asset outside its assets/ folder ({name!r})")
        problems += saved_model_op_problems(meta_graph)
    if problems:
        raise _op_refusal(folder, problems)
    return proto
