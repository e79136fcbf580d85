"""Importing TensorFlow quietly, without hiding its errors.

TensorFlow 2.21 prints absl "I0000 ..." lines to stderr before its own log level
is read, so TF_CPP_MIN_LOG_LEVEL alone cannot silence them. We capture file
descriptor 2 while TensorFlow imports, drop the known informational lines, and
write everything else back to stderr.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
import warnings
from types import ModuleType
from typing import Callable

from core.native_output import drop_stderr_lines

_NOISE = re.compile(
    r"^(I\d{4} |WARNING: All log messages before absl::InitializeLog\(\)|To enable the following instructions:"
    r"|.*cpu_feature_guard\.cc|.*port\.cc:\d+\] oneDNN custom operations|.*cudart_stub\.cc"
    r"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU\."
    r"|E\d{4} .*failed call to cuInit|.*node_def_util\.cc.*use_unbounded_threadpool)"
)
_lock = threading.Lock()
_imported = threading.Event()  # set once TensorFlow finished importing (not merely started)

# The engine's child imports TensorFlow in a background thread of this name (core.engine.child)
# so the first job does not pay for it; everyone else waits for that thread before importing.
PRELOAD_THREAD_NAME = "tf-preload"
PRELOAD_WAIT_SECONDS = 300.0


# Keras warns, at every load and rebuild of a functional model, when the keys of its dict of inputs differ
# from its Input layers' names. Litesmith names such inputs by the keys everywhere (`core.models.signatures.
# keras_input_names`) and refuses data named otherwise with a line naming the keys, so the warning only
# repeats, with a source path, what that line says.
KERAS_DICT_KEY_WARNING = r"When providing `inputs` as a dict, all keys in the dict must match"


def quiet_environment() -> None:
    """Environment settings that keep TensorFlow and Keras quiet and on the right backend."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    warnings.filterwarnings("ignore", message=KERAS_DICT_KEY_WARNING, category=UserWarning)


def filter_noise(text: str) -> str:
    """`text` without TensorFlow's known start-up chatter lines (absl I-lines, CPU feature notes, ...)."""
    return "".join(line for line in text.splitlines(keepends=True) if not _NOISE.match(line))


def wait_for_tensorflow_preload(timeout: float = PRELOAD_WAIT_SECONDS, check: Callable[[], None] | None = None) -> None:
    """Block until the engine child's background TensorFlow import (if any) has finished.

    Why: importing Keras, h5py or TensorFlow while that thread is half-way through
    `import tensorflow` can see a partly initialised module (AttributeError deep in
    tf.data) or trip importlib's deadlock detection. Returns at once when called
    from the preload thread itself or when no preload runs; `timeout` in seconds. `check()` is
    called every 0.1 s while waiting (e.g. a cancel token's `raise_if_cancelled`).
    """
    if _imported.is_set():
        return
    for thread in threading.enumerate():
        if thread.name == PRELOAD_THREAD_NAME and thread is not threading.current_thread():
            if check is None:
                thread.join(timeout)
                continue
            deadline = time.monotonic() + timeout
            while thread.is_alive() and time.monotonic() < deadline:
                check()
                thread.join(0.1)


def import_tensorflow() -> ModuleType:
    """`import tensorflow`, fully initialised, with its start-up chatter removed from stderr.

    The one way Litesmith imports TensorFlow. Thread-safe: while another thread
    (the engine's preload) is importing, callers wait for the import to finish
    instead of getting a half-built module. Import errors propagate unchanged.
    """
    if _imported.is_set():
        return sys.modules["tensorflow"]
    wait_for_tensorflow_preload()
    quiet_environment()
    with _lock:
        if "tensorflow" in sys.modules and not _imported.is_set():
            # Imported by someone else without this function; wait for that import
            # by importing normally (the module lock blocks until it is complete).
            import tensorflow as tf  # noqa: F401

            _imported.set()
        if _imported.is_set():
            return sys.modules["tensorflow"]
        with drop_stderr_lines(_NOISE):  # what is not known chatter (an import error) is written on
            import tensorflow as tf

            tf.get_logger().setLevel("ERROR")
        _imported.set()
    return tf


def import_keras() -> ModuleType:
    """`import keras` (TensorFlow backend) once TensorFlow is fully imported (`import_tensorflow`)."""
    import_tensorflow()
    import keras

    return keras


def install_stderr_filter() -> None:
    """Route this process's stderr (fd 2) through a thread that drops TensorFlow's info chatter.

    Used in the engine's child, where TensorFlow logs at odd moments (device
    start-up, first conversion). Everything that is not known noise is passed on,
    so errors still reach the user, with control characters and escape codes shown
    as visible escapes (`core.text.escape_text`): what TensorFlow, Keras or a
    model's own print ops write can quote names from the model file.
    """
    from core.text import escape_text

    read_fd, write_fd = os.pipe()
    original = os.dup(2)
    sys.stderr.flush()
    os.dup2(write_fd, 2)
    os.close(write_fd)

    def pump() -> None:
        with os.fdopen(read_fd, "rb", buffering=0) as source, os.fdopen(original, "wb", buffering=0) as sink:
            pending = b""
            while chunk := source.read(65536):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                kept = filter_noise("".join(line.decode(errors="replace") + "\n" for line in lines))
                if kept:
                    sink.write(escape_text(kept).encode())
            if pending:
                sink.write(escape_text(filter_noise(pending.decode(errors="replace"))).encode())

    threading.Thread(target=pump, name="stderr-filter", daemon=True).start()
