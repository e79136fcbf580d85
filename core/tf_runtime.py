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
import tempfile
import threading
from types import ModuleType

_NOISE = re.compile(
    r"^(I\d{4} |WARNING: All log messages before absl::InitializeLog\(\)|To enable the following instructions:"
    r"|.*cpu_feature_guard\.cc|.*port\.cc:\d+\] oneDNN custom operations|.*cudart_stub\.cc)"
)
_lock = threading.Lock()


def quiet_environment() -> None:
    """Environment settings that keep TensorFlow and Keras quiet and on the right backend."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def filter_noise(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if not _NOISE.match(line))


def import_tensorflow() -> ModuleType:
    """`import tensorflow` with its start-up chatter removed from stderr."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    quiet_environment()
    with _lock:
        if "tensorflow" in sys.modules:
            return sys.modules["tensorflow"]
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile(mode="w+b") as capture:
            os.dup2(capture.fileno(), 2)
            try:
                import tensorflow as tf
                tf.get_logger().setLevel("ERROR")
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                capture.seek(0)
                kept = filter_noise(capture.read().decode(errors="replace"))
                if kept.strip():
                    sys.stderr.write(kept)
                    sys.stderr.flush()
    return tf


def import_keras() -> ModuleType:
    import_tensorflow()
    import keras

    return keras
