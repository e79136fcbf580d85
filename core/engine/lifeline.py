"""The engine's child dies with its parent, whatever ended the parent.

A parent killed by SIGKILL, the OOM killer or a crash runs no clean-up, so the
child must notice on its own, fast: a TensorFlow child left behind keeps
converting and growing for as long as its job lasts. Three layers, cheapest first:

* **Linux: PR_SET_PDEATHSIG(SIGKILL).** The kernel kills the child the moment its
  parent *thread* ends: not the parent process. The engine therefore starts its
  children from one thread that lives as long as the process (the main thread, or
  `core.engine.supervisor`'s spawner thread), never from a GUI worker thread that
  ends after its job. The setting survives the sandbox (the new user namespace keeps
  the same ids, so the credential change does not clear it; Landlock and seccomp
  leave it alone): `tests/core/test_stopping.py` checks it in a real sandboxed child.
  It is set first thing in the child, then the parent is checked once more (it may
  have died before the setting took).
* **Everywhere (macOS, Windows too): the parent's sentinel.** A "spawn" child holds
  the read end of a pipe whose write end only its parent holds
  (`multiprocessing.parent_process().sentinel`; a process handle on Windows); it
  becomes readable when the parent dies. A daemon thread waits on it, and also
  polls `os.getppid()` (a POSIX child is re-parented when its parent dies), and
  ends the process with `os._exit` the moment either says so. The pipe to the parent
  closing (EOF in the child's listener) means the same.
* **No writes after the parent is gone.** The child never writes the user's files
  (exports are written by the parent); its result-cache entries go to its scratch
  folder and are moved into the cache by a living parent only. A parent that died
  without clean-up leaves that scratch folder behind: the next engine removes it
  (`sweep_stale_scratch`), recognising it by a lock its living owner holds.

`die_with_parent` is also called by the processes the child starts itself (the
isolated converter, `core.optimize.isolated`), so a whole tree goes together.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Callable, NoReturn

PR_SET_PDEATHSIG = 1
PR_GET_PDEATHSIG = 2
LIVENESS_POLL_SECONDS = 0.2
# Set in the engine's child: the processes it starts check that this pid is still their parent.
ENGINE_PID_ENV = "LITESMITH_ENGINE_PID"
ORPHAN_EXIT_CODE = 0  # nobody is left to read it
SCRATCH_PREFIX = "litesmith-engine-"
OWNER_LOCK = ".owner.lock"


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def set_parent_death_signal(signum: int = signal.SIGKILL) -> bool:
    """Linux: ask the kernel to send `signum` to this process when its parent thread ends."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return _libc().prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def parent_death_signal() -> int:
    """The parent-death signal this process has (0: none; always 0 off Linux)."""
    if not sys.platform.startswith("linux"):
        return 0
    value = ctypes.c_int(0)
    try:
        if _libc().prctl(PR_GET_PDEATHSIG, ctypes.byref(value), 0, 0, 0) != 0:
            return 0
    except (OSError, AttributeError):
        return 0
    return value.value


def parent_gone(expected_parent: int | None) -> bool:
    """True when this process's parent is no longer `expected_parent` (POSIX: it was re-parented)."""
    if expected_parent is None or os.name != "posix":
        return False
    return os.getppid() != expected_parent


def orphaned_exit() -> NoReturn:
    """End this process now: no clean-up handlers, no flushing, nothing written."""
    os._exit(ORPHAN_EXIT_CODE)


def die_with_parent(expected_parent: int | None = None) -> bool:
    """Kill this process with its parent (Linux); exits right away when the parent is already gone.

    `expected_parent` defaults to ``$LITESMITH_ENGINE_PID`` (set by the engine's child for
    the processes it starts), else the current parent. Returns whether PDEATHSIG is set.
    """
    if expected_parent is None:
        try:
            expected_parent = int(os.environ.get(ENGINE_PID_ENV, "")) or None
        except ValueError:
            expected_parent = None
    if expected_parent is None and os.name == "posix":
        expected_parent = os.getppid()
    armed = set_parent_death_signal(signal.SIGKILL)
    if parent_gone(expected_parent):  # it died before the setting took
        orphaned_exit()
    return armed


def watch_parent(expected_parent: int | None, on_gone: Callable[[], object] = orphaned_exit) -> threading.Thread:
    """A daemon thread that calls `on_gone` (default: exit now) as soon as the parent is gone.

    Waits on multiprocessing's parent sentinel where there is one (any platform), and
    polls the parent pid every `LIVENESS_POLL_SECONDS` on POSIX.
    """
    import multiprocessing
    from multiprocessing.connection import wait

    parent = multiprocessing.parent_process()
    sentinel = getattr(parent, "sentinel", None) if parent is not None else None

    def watch() -> None:
        while True:
            if sentinel is not None:
                try:
                    if wait([sentinel], timeout=LIVENESS_POLL_SECONDS):
                        break
                except (OSError, ValueError):
                    pass
            else:
                threading.Event().wait(LIVENESS_POLL_SECONDS)
            if parent_gone(expected_parent):
                break
        on_gone()

    thread = threading.Thread(target=watch, name="engine-lifeline", daemon=True)
    thread.start()
    return thread


# -- the parent's side: scratch folders of engines whose parent died ------------------


def claim_scratch(folder: Path) -> int | None:
    """Hold a lock in `folder` for as long as the returned descriptor stays open (POSIX)."""
    try:
        import fcntl
    except ImportError:  # Windows: no sweep
        return None
    # Locked under another name, then renamed into place: a sweep never sees it unlocked.
    pending = folder / (OWNER_LOCK + ".new")
    try:
        fd = os.open(pending, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.replace(pending, folder / OWNER_LOCK)
    except OSError:
        os.close(fd)
        return None
    return fd


def release_scratch(fd: int | None) -> None:
    """Close the lock `fd` from `claim_scratch` (None: nothing to release); a sweep may then remove the folder."""
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass


def stale_scratch_folders(root: str | os.PathLike[str]) -> list[Path]:
    """This user's engine scratch folders under `root` whose owner is gone (nobody holds their lock)."""
    try:
        import fcntl
    except ImportError:
        return []
    found: list[Path] = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return []
    uid = os.getuid() if hasattr(os, "getuid") else None
    for entry in entries:
        if not entry.name.startswith(SCRATCH_PREFIX):
            continue
        try:
            if entry.is_symlink() or not entry.is_dir(follow_symlinks=False):
                continue
            if uid is not None and entry.stat(follow_symlinks=False).st_uid != uid:
                continue
            lock = os.path.join(entry.path, OWNER_LOCK)
            if os.path.islink(lock):
                continue
            fd = os.open(lock, os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue  # no lock file: not ours to judge (an older version's, or being created)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # its engine is alive
        finally:
            os.close(fd)
        found.append(Path(entry.path))
    return found
