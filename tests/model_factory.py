"""Builders of tiny test models in every format, written into a folder the test owns.

Every builder returns the path it wrote. Hand-computed figures of the models
live next to them (DENSE_*, CONV_*, MIXED_*), so tests compare against numbers
a person can check.
"""

from __future__ import annotations

import io
import os
import shutil
import warnings
import zipfile
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np

from core.tf_runtime import import_keras, import_tensorflow

# Dense: Input(4) -> Dense(3, relu) -> Dense(2)
DENSE_INPUT = (4,)
DENSE_LAYER_MACS = {"hidden": 4 * 3, "head": 3 * 2}
DENSE_PARAMS = (4 * 3 + 3) + (3 * 2 + 2)

# Conv: Input(8, 8, 1) -> Conv2D(2, 3x3, valid) -> Flatten -> Dense(3)
CONV_INPUT = (8, 8, 1)
CONV_LAYER_MACS = {"conv": 6 * 6 * 3 * 3 * 1 * 2, "flatten": 0, "head": 72 * 3}
CONV_PARAMS = (3 * 3 * 1 * 2 + 2) + (72 * 3 + 3)

# Mixed: Input(8, 8, 2) -> DepthwiseConv2D(3, same) -> SeparableConv2D(4, 3, valid)
#        -> Conv2DTranspose(1, 2, strides=2) -> Conv1D-free; checks the other MAC formulas
MIXED_INPUT = (8, 8, 2)
MIXED_LAYER_MACS = {
    "dw": 8 * 8 * 3 * 3 * 2,  # out spatial x k x k x channels
    "sep": 6 * 6 * (3 * 3 * 2) + 6 * 6 * 2 * 4,  # depthwise + pointwise
    "up": 6 * 6 * 2 * 2 * 1 * 4,  # in spatial x k x k x filters x in
}


def _keras():
    return import_keras()


def dense_model():
    keras = _keras()
    keras.utils.set_random_seed(1)
    return keras.Sequential(
        [
            keras.Input(DENSE_INPUT),
            keras.layers.Dense(3, activation="relu", name="hidden"),
            keras.layers.Dense(2, name="head"),
        ],
        name="tiny_dense",
    )


def conv_model():
    keras = _keras()
    keras.utils.set_random_seed(2)
    return keras.Sequential(
        [
            keras.Input(CONV_INPUT),
            keras.layers.Conv2D(2, 3, name="conv"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(3, name="head"),
        ],
        name="tiny_conv",
    )


def mixed_conv_model():
    keras = _keras()
    keras.utils.set_random_seed(3)
    inputs = keras.Input(MIXED_INPUT)
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(inputs)
    x = keras.layers.SeparableConv2D(4, 3, name="sep")(x)
    x = keras.layers.Conv2DTranspose(1, 2, strides=2, name="up")(x)
    return keras.Model(inputs, x, name="tiny_mixed")


def lambda_model():
    keras = _keras()
    inputs = keras.Input(DENSE_INPUT)
    x = keras.layers.Lambda(lambda t: t * 2.0, name="times_two")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2)(x))


# -- writers ---------------------------------------------------------------------


def save_keras(model, folder: Path, name: str) -> Path:
    path = Path(folder) / f"{name}.keras"
    model.save(path)
    return path


def save_h5(model, folder: Path, name: str) -> Path:
    path = Path(folder) / f"{name}.h5"
    with redirect_stdout(io.StringIO()):
        model.save(path)
    return path


def export_saved_model(model, folder: Path, name: str) -> Path:
    path = Path(folder) / f"{name}_export"
    model.export(str(path), verbose=False)
    return path


def module_saved_model(folder: Path, name: str = "module") -> Path:
    """A plain tf.Module (y = x @ w + b, w 4x2) saved with tf.saved_model.save."""
    tf = import_tensorflow()

    class Affine(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(np.arange(8, dtype="float32").reshape(4, 2) / 10.0)
            self.b = tf.Variable(np.ones(2, dtype="float32"))

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def __call__(self, x):
            return {"y": tf.matmul(x, self.w) + self.b}

    module = Affine()
    path = Path(folder) / f"{name}_sm"
    tf.saved_model.save(module, str(path), signatures=module.__call__)
    return path


def read_file_saved_model(folder: Path) -> Path:
    """A SavedModel whose serving function reads any file it is given (tf.io.read_file)."""
    tf = import_tensorflow()

    class Reader(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([], tf.string)])
        def __call__(self, filename):
            return tf.io.read_file(filename)

    module = Reader()
    path = Path(folder) / "reads_files_sm"
    tf.saved_model.save(module, str(path), signatures=module.__call__)
    return path


def py_function_saved_model(folder: Path) -> Path:
    """A SavedModel whose serving function calls Python (tf.py_function -> EagerPyFunc)."""
    tf = import_tensorflow()

    class Py(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def __call__(self, x):
            return tf.py_function(lambda t: t * 2, [x], tf.float32)

    module = Py()
    path = Path(folder) / "py_function_sm"
    tf.saved_model.save(module, str(path), signatures=module.__call__)
    return path


def tf1_saved_model(folder: Path, name: str = "tf1", *, read_file: bool = False) -> Path:
    """A TF1-style SavedModel (saver ops in the graph under save/): y = x @ w, w 4x2.

    With `read_file`, the serving output also depends on a ReadFile node.
    """
    tf = import_tensorflow()
    path = Path(folder) / f"{name}_sm"
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 4], name="x")
        w = tf.compat.v1.get_variable("w", [4, 2])
        y = tf.matmul(x, w, name="y")
        if read_file:
            leaked = tf.strings.length(tf.io.read_file("/etc/hostname"))
            y = y + tf.cast(leaked, tf.float32) * 0.0
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            builder = tf.compat.v1.saved_model.Builder(str(path))
            signature = tf.compat.v1.saved_model.predict_signature_def({"x": x}, {"y": y})
            builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map={"serving_default": signature})
            builder.save()
    return path


def save_tflite(model, folder: Path, name: str) -> Path:
    tf = import_tensorflow()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    with redirect_stdout(io.StringIO()):
        data = converter.convert()
    path = Path(folder) / f"{name}.tflite"
    path.write_bytes(data)
    return path


def save_int8_tflite(model, folder: Path, name: str, input_shape: tuple[int, ...]) -> Path:
    """Full-integer tflite with int8 input and output."""
    tf = import_tensorflow()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    rng = np.random.default_rng(0)

    def representative():
        for _ in range(8):
            yield [rng.random((1, *input_shape), dtype=np.float32)]

    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    with redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Statistics for quantized inputs were expected ..."
        data = converter.convert()
    path = Path(folder) / f"{name}_int8.tflite"
    path.write_bytes(data)
    return path


# -- crafted bad files --------------------------------------------------------------


def h5_with_external_link(good_h5: Path, folder: Path) -> Path:
    import h5py

    path = Path(folder) / "external_link.h5"
    shutil.copyfile(good_h5, path)
    with h5py.File(path, "a") as fh:
        fh["model_weights/stolen"] = h5py.ExternalLink("/etc/passwd", "/")
    return path


def h5_with_external_dataset(good_h5: Path, folder: Path) -> Path:
    import h5py

    path = Path(folder) / "external_dataset.h5"
    shutil.copyfile(good_h5, path)
    raw = Path(folder) / "outside.bin"
    raw.write_bytes(b"\0" * 64)
    with h5py.File(path, "a") as fh:
        fh.create_dataset("model_weights/ext", shape=(16,), dtype="float32", external=[(str(raw), 0, 64)])
    return path


def h5_with_virtual_dataset(good_h5: Path, folder: Path) -> Path:
    import h5py

    path = Path(folder) / "virtual_dataset.h5"
    shutil.copyfile(good_h5, path)
    layout = h5py.VirtualLayout(shape=(4,), dtype="float32")
    layout[:] = h5py.VirtualSource(str(Path(folder) / "elsewhere.h5"), "data", shape=(4,))
    with h5py.File(path, "a") as fh:
        fh.create_virtual_dataset("model_weights/virtual", layout, fillvalue=0)
    return path


def rezip(source: Path, target: Path, extra: dict[str, bytes] | None = None, drop: tuple[str, ...] = ()) -> Path:
    """Copy a .keras zip, dropping some members and adding others (names are written as given)."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename not in drop:
                dst.writestr(info, src.read(info))
        for name, data in (extra or {}).items():
            dst.writestr(zipfile.ZipInfo(name), data)
    return target


def keras_with_linked_weights(good_keras: Path, folder: Path) -> Path:
    """A .keras whose model.weights.h5 holds an HDF5 external link."""
    import h5py

    folder = Path(folder)
    weights = folder / "inner.weights.h5"
    with zipfile.ZipFile(good_keras) as src:
        weights.write_bytes(src.read("model.weights.h5"))
    with h5py.File(weights, "a") as fh:
        fh["vars/leak"] = h5py.ExternalLink("/tmp/secret.h5", "/")
    target = rezip(
        good_keras,
        folder / "linked_weights.keras",
        drop=("model.weights.h5",),
        extra={"model.weights.h5": weights.read_bytes()},
    )
    weights.unlink()
    return target


def snapshot(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    """(size, mtime_ns, first bytes) of every entry under `folder`, to prove nothing was written."""
    result = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            p = Path(root) / name
            st = os.lstat(p)
            head = b""
            if p.is_file() and not p.is_symlink():
                head = p.read_bytes()
            result[str(p.relative_to(folder))] = (st.st_size, st.st_mtime_ns, head)
    return result
