"""TensorFlow and Keras for core.models, safe to call while the engine preloads TensorFlow.

The engine's child imports TensorFlow in a background thread ("tf-preload").
`core.tf_runtime.import_tensorflow()` returns `sys.modules["tensorflow"]` as
soon as the name exists, i.e. possibly half-way through that import, and an
`import keras` racing with it can fail deep in tf.data (AttributeError) or on
importlib's deadlock detection. Until tf_runtime serialises this itself, the
functions here first wait for the preload thread to finish.
"""

from __future__ import annotations

import threading
from types import ModuleType

PRELOAD_THREAD_NAME = "tf-preload"
PRELOAD_WAIT_SECONDS = 300.0


def wait_for_tensorflow_preload(timeout: float = PRELOAD_WAIT_SECONDS) -> None:
    for thread in threading.enumerate():
        if thread.name == PRELOAD_THREAD_NAME and thread is not threading.current_thread():
            thread.join(timeout)


def tensorflow() -> ModuleType:
    from core.tf_runtime import import_tensorflow

    wait_for_tensorflow_preload()
    return import_tensorflow()


def keras() -> ModuleType:
    from core.tf_runtime import import_keras

    wait_for_tensorflow_preload()
    return import_keras()
