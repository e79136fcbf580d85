"""Jobs that test the engine child's sandbox from the inside (they must live in an importable module).

Paths a job must NOT be granted are passed hidden behind a prefix ("hidden:"), so the
engine does not read them as input paths (it grants read access to every existing
path a job's arguments name).
"""

from __future__ import annotations

import errno
import os
import socket
import tempfile
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Attempt:
    ok: bool
    detail: str


def _try(action) -> Attempt:
    try:
        return Attempt(True, repr(action()))
    except OSError as exc:
        return Attempt(False, f"{type(exc).__name__}: [{errno.errorcode.get(exc.errno, exc.errno)}] {exc.strerror}")


def _unhide(value: str) -> str:
    assert value.startswith("hidden:")
    return value[len("hidden:") :]


def escape_attempts(model: str, hidden_secret: str, hidden_outside_dir: str, port: int, *, progress, cancel):
    """Try what a hostile model would: write outside scratch, read a host file, reach the network.

    Also do what a real job does: write in the temp folder (scratch), read the named
    model, import TensorFlow and run an op.
    """
    secret, outside = _unhide(hidden_secret), _unhide(hidden_outside_dir)
    results: dict[str, Attempt] = {}

    def write(path: str) -> int:
        with open(path, "w") as handle:
            return handle.write("written by the model")

    def read(path: str) -> str:
        with open(path) as handle:
            return handle.read()

    def connect() -> str:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.settimeout(3)
            sock.connect(("127.0.0.1", port))
            sock.sendall(b"exfiltrated")
            return "connected"
        finally:
            sock.close()

    results["write_outside"] = _try(lambda: write(os.path.join(outside, "planted.txt")))
    results["write_beside_model"] = _try(lambda: write(model + ".planted"))
    results["write_home"] = _try(lambda: write(os.path.join(os.path.expanduser("~"), ".litesmith-planted")))
    results["read_secret"] = _try(lambda: read(secret))
    results["list_outside"] = _try(lambda: os.listdir(outside))
    results["read_hostname"] = _try(lambda: read("/etc/hostname"))
    results["socket_inet"] = _try(connect)
    results["socket_inet6"] = _try(lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).close())
    results["signal_parent"] = _try(lambda: os.kill(os.getppid(), 0))
    # what must keep working
    scratch_file = os.path.join(tempfile.gettempdir(), "scratch-test.txt")
    results["write_scratch"] = _try(lambda: write(scratch_file))
    results["read_scratch"] = _try(lambda: read(scratch_file))
    results["read_model"] = _try(lambda: read(model))
    results["unix_socketpair"] = _try(lambda: [s.close() for s in socket.socketpair()])

    from core.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    value = float(tf.reduce_sum(tf.constant([1.0, 2.0])).numpy())
    results["tensorflow"] = Attempt(value == 3.0, f"reduce_sum = {value}")
    return {"temp_dir": tempfile.gettempdir(), "results": results}


def hang_in_load(*, progress, cancel):
    """A model whose loading never ends (an initializer that loops forever)."""
    progress(0.1, "loading the model", stage="load")
    while True:
        time.sleep(0.05)


def slow_but_loaded(seconds: float, *, progress, cancel):
    """Loads at once, then works for a while: the load time limit no longer applies."""
    progress(0.1, "loading the model", stage="load")
    progress(0.2, "converting", stage="convert")
    time.sleep(seconds)
    return "done"


def read_file(path: str, *, progress, cancel) -> str:
    with open(path) as handle:
        return handle.read()


def fill_cache(cache, key: str, value: str, *, progress, cancel):
    """Uses a `core.cache.ResultCache` as optimize and bench do: get, then put."""
    before = cache.get(key)
    cache.put(key, value)
    return before, cache.get(key)


def sandbox_of_child(*, progress, cancel):
    from core.engine.sandbox import applied_status

    return applied_status()


def read_hidden(hidden_path: str, *, progress, cancel) -> str:
    return read_file(_unhide(hidden_path), progress=progress, cancel=cancel)


def build_endless_saved_model(folder: str) -> None:
    """A SavedModel whose resource initializer loops forever (`tf.saved_model.load` never returns)."""
    import tensorflow as tf

    class Forever(tf.saved_model.experimental.TrackableResource):
        def _create_resource(self):
            return tf.raw_ops.VarHandleOp(dtype=tf.float32, shape=[], shared_name="forever")

        def _initialize(self):
            # The clock is never negative, so i never changes and the loop never ends
            # (a condition TensorFlow's graph optimizer can't fold away).
            count = tf.while_loop(
                lambda i: tf.greater_equal(i, 0), lambda i: i + tf.cast(tf.timestamp() < 0, tf.int32), [tf.constant(0)]
            )
            count = count[0] if isinstance(count, (list, tuple)) else count
            return tf.raw_ops.AssignVariableOp(resource=self.resource_handle, value=tf.cast(count, tf.float32))

    class Model(tf.Module):
        def __init__(self):
            super().__init__()
            self.forever = Forever()

        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32)])
        def serve(self, x):
            return {"y": x + tf.raw_ops.ReadVariableOp(resource=self.forever.resource_handle, dtype=tf.float32)}

    model = Model()
    tf.saved_model.save(model, folder, signatures={"serving_default": model.serve})
