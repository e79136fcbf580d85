"""Opening the model to optimize (in the engine's child) and running the original on data.

Uses `core.models.loading.load_source` when it exists (safety checks, safe_mode);
until then a minimal fallback with the same rules: Keras files load with
``safe_mode=True, compile=False``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.data.loaders import InputSpec
from core.errors import BadInputError
from core.models.info import ModelFormat


@dataclass
class OpenedSource:
    """The live model (not picklable): what the passes work from."""

    path: str
    format: str
    keras_model: Any = None
    saved_model_dir: str | None = None
    tflite_bytes: bytes | None = None
    loader: str = ""
    _signature: Any = None

    @property
    def has_graph(self) -> bool:
        """True when the TF converter can be used (Keras or SavedModel); False for a .tflite input."""
        return self.keras_model is not None or self.saved_model_dir is not None

    def input_specs(self) -> tuple[InputSpec, ...]:
        if self.keras_model is not None:
            inputs = getattr(self.keras_model, "inputs", None)
            if not inputs:
                raise BadInputError("the Keras model has no defined inputs (build it or give it an Input layer)",
                                    path=self.path)
            return tuple(InputSpec(shape=tuple(t.shape), dtype=_dtype_name(t.dtype), name=getattr(t, "name", ""))
                         for t in inputs)
        if self.saved_model_dir is not None:
            sig = self.signature()
            specs = sig.structured_input_signature[1]
            return tuple(InputSpec(shape=tuple(s.shape.as_list()), dtype=s.dtype.as_numpy_dtype.__name__, name=name)
                         for name, s in sorted(specs.items()))
        from core.optimize.runtime import input_specs

        return input_specs(self.tflite_bytes)

    def signature(self):
        if self._signature is None:
            from core.tf_runtime import import_tensorflow

            tf = import_tensorflow()
            loaded = tf.saved_model.load(self.saved_model_dir)
            signatures = getattr(loaded, "signatures", {})
            if "serving_default" not in signatures:
                raise BadInputError("the SavedModel has no 'serving_default' signature", path=self.path)
            self._signature = (loaded, signatures["serving_default"])
        return self._signature[1]

    def predict(self, x: np.ndarray, *, batch_size: int = 64, cancel=None) -> np.ndarray:
        """The original model's first output on `x`, as float32."""
        outputs = []
        for start in range(0, int(x.shape[0]), batch_size):
            if cancel is not None:
                cancel.raise_if_cancelled()
            chunk = x[start:start + batch_size]
            if self.keras_model is not None:
                y = self.keras_model(chunk, training=False)
                if isinstance(y, dict):
                    y = y[sorted(y)[0]]
                elif isinstance(y, (list, tuple)):
                    y = y[0]
            elif self.saved_model_dir is not None:
                sig = self.signature()
                name = sorted(sig.structured_input_signature[1])[0]
                result = sig(**{name: chunk})
                y = result[sorted(result)[0]]
            else:
                from core.optimize.runtime import run_tflite

                return run_tflite(self.tflite_bytes, x, batch_size=batch_size, cancel=cancel)
            outputs.append(np.asarray(y))
        return np.concatenate(outputs).astype(np.float32, copy=False)


def _dtype_name(dtype: Any) -> str:
    name = getattr(dtype, "name", None) or str(dtype)
    return np.dtype(name).name if name != "string" else "object"


def wait_for_tensorflow_preload(timeout: float = 300.0) -> None:
    """Let the engine child's background TensorFlow import finish before importing Keras.

    Importing Keras while another thread is half-way through `import tensorflow`
    can see a partly initialised module (AttributeError deep in tf.data).
    """
    import threading

    for thread in threading.enumerate():
        if thread.name == "tf-preload" and thread is not threading.current_thread():
            thread.join(timeout)


def open_source(path: str) -> OpenedSource:
    """Open a .keras/.h5/SavedModel/.tflite for optimization; raises BadInputError."""
    wait_for_tensorflow_preload()
    try:
        from core.models.loading import load_source  # type: ignore[import-not-found]
    except ImportError:
        load_source = None
    if load_source is not None:
        loaded = load_source(path)
        return OpenedSource(path=str(path), format=loaded.format, keras_model=loaded.keras_model,
                            saved_model_dir=loaded.saved_model_dir, tflite_bytes=loaded.tflite_bytes,
                            loader="core.models.loading.load_source")
    return _fallback_open(path)


def _fallback_open(path: str) -> OpenedSource:
    from core.models.formats import detect_format

    fmt = detect_format(path)
    if fmt == ModelFormat.TFLITE:
        data = Path(path).read_bytes()
        from core.optimize.runtime import make_interpreter

        make_interpreter(data)  # refuses a broken flatbuffer early
        return OpenedSource(path=str(path), format=fmt, tflite_bytes=data, loader="fallback")
    if fmt == ModelFormat.SAVED_MODEL:
        return OpenedSource(path=str(path), format=fmt, saved_model_dir=str(path), loader="fallback")
    from core.tf_runtime import import_keras

    keras = import_keras()
    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # noqa: BLE001 - a model that does not load is bad input
        raise BadInputError(f"the model cannot be loaded: {type(exc).__name__}: {exc}", path=str(path)) from None
    return OpenedSource(path=str(path), format=fmt, keras_model=model, loader="fallback")
