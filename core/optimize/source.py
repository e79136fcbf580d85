"""Opening the model to optimize (in the engine's child) and running the original on named data.

Every model is opened through `core.models.loading.load_source`, which runs the
safety checks first (there is no other path). The opened source knows its
`ModelInterface`: named inputs and outputs, and for a SavedModel or .tflite
the signature in use (`serving_default`, the only one, or `--signature`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from core.errors import BadInputError
from core.models.interface import ModelInterface, TensorSpec

if TYPE_CHECKING:
    from core.engine.context import CancelToken


@dataclass
class OpenedSource:
    """The live model (not picklable): what the passes work from."""

    path: str
    format: str
    interface: ModelInterface
    keras_model: Any = None
    saved_model_dir: str | None = None
    tflite_bytes: bytes | None = None
    loader: str = "core.models.loading.load_source"
    signature_fn: Any = None  # the SavedModel's chosen signature (a ConcreteFunction)
    _loaded: Any = None  # keeps the loaded SavedModel (and its variables) alive
    _conversion_dir: str | None = None
    _keras_fn: Any = None  # the Keras model's graph call (see `_keras_call`)
    _temp: list[str] = field(default_factory=list)

    @property
    def has_graph(self) -> bool:
        """True when the TF converter can be used (Keras or SavedModel); False for a .tflite input."""
        return self.keras_model is not None or self.saved_model_dir is not None

    @property
    def signature(self) -> str | None:
        """The signature in use (SavedModel or .tflite); None for a Keras model."""
        return self.interface.signature

    def input_specs(self) -> tuple[TensorSpec, ...]:
        """The model's inputs (names, shapes with None for free dimensions, dtypes), in model order."""
        return self.interface.inputs

    def conversion_dir(self) -> str:
        """A SavedModel holding only the chosen signature, re-saved from the loaded model.

        Why: `tf.saved_model.load` restores every variable from the object graph,
        while the converter reading a `tf.Module` SavedModel directly can leave
        Keras variables unread and convert to NaN. Re-saving the loaded object
        makes the converter freeze the values the SavedModel really serves.
        """
        if self.saved_model_dir is None:
            raise ValueError("not a SavedModel source")
        if self._conversion_dir is None:
            from core.native_output import quiet_native
            from core.tf_runtime import import_tensorflow

            tf = import_tensorflow()
            folder = tempfile.mkdtemp(prefix="litesmith-signature-")
            self._temp.append(folder)
            target = os.path.join(folder, "saved_model")
            with quiet_native():
                tf.saved_model.save(self._loaded, target, signatures={self.signature: self.signature_fn})
            self._conversion_dir = target
        return self._conversion_dir

    def close(self) -> None:
        """Remove the temporary SavedModel folder `conversion_dir` made, if any (the model itself stays loaded)."""
        for folder in self._temp:
            shutil.rmtree(folder, ignore_errors=True)
        self._temp.clear()
        self._conversion_dir = None

    def predict(
        self, inputs: dict[str, np.ndarray], *, batch_size: int = 32, cancel: CancelToken | None = None
    ) -> dict[str, np.ndarray]:
        """The original model's outputs by name on named `inputs` (samples on axis 0)."""
        if self.tflite_bytes is not None and not self.has_graph:
            from core.optimize.runtime import run_tflite

            return run_tflite(self.tflite_bytes, inputs, signature=self.signature, batch_size=batch_size, cancel=cancel)
        names = self.interface.input_names
        missing = [n for n in names if n not in inputs]
        if missing:
            raise BadInputError(f"no data for the model input(s) {', '.join(map(repr, missing))}", path=self.path)
        n = int(np.asarray(inputs[names[0]]).shape[0])
        collected: dict[str, list[np.ndarray]] = {name: [] for name in self.interface.output_names}
        for start in range(0, n, batch_size):
            if cancel is not None:
                cancel.raise_if_cancelled()
            chunk = {name: inputs[name][start : start + batch_size] for name in names}
            for name, value in self._call(chunk).items():
                collected[name].append(np.asarray(value))
        return {name: np.concatenate(parts) for name, parts in collected.items()}

    def _keras_call(self) -> Callable[[Any], Any]:
        """The Keras model as a graph (`tf.function`), made once; the eager call when it cannot be traced.

        Why: an eager call of a functional model keeps every layer's output of
        the batch alive until the end (MobileNetV2, 64 images: 5.5 GiB); the
        graph frees each tensor once consumed (0.5 GiB at 32) and runs ~2x faster.
        """
        if self._keras_fn is None:
            from core.tf_runtime import import_tensorflow

            tf, model = import_tensorflow(), self.keras_model
            graph = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

            def call(x: Any) -> Any:
                if self._keras_fn is not eager:
                    try:
                        return graph(x)
                    except (TypeError, ValueError, NotImplementedError, tf.errors.OperatorNotAllowedInGraphError):
                        self._keras_fn = eager  # a layer that only runs eagerly
                return eager(x)

            def eager(x: Any) -> Any:
                return model(x, training=False)

            self._keras_fn = call
        return self._keras_fn

    def _call(self, chunk: dict[str, np.ndarray]) -> dict[str, Any]:
        from core.models.signatures import keras_feed, named_outputs

        if self.keras_model is not None:
            feed = keras_feed(self.keras_model, [chunk[name] for name in self.interface.input_names])
            out = self._keras_call()(feed)
            return named_outputs(out, self.interface.output_names)
        from core.tf_runtime import import_tensorflow

        tf = import_tensorflow()
        result = self.signature_fn(**{name: tf.constant(value) for name, value in chunk.items()})
        return {name: result[name] for name in self.interface.output_names}


def open_source(path: str, *, signature: str | None = None, custom_objects: tuple[str, ...] = ()) -> OpenedSource:
    """Open a .keras/.h5/SavedModel/.tflite (safety checks first); raises BadInputError.

    `signature` chooses a SavedModel's or .tflite's signature (default
    `serving_default`, or the only one); a Keras model has none, so naming one
    is an error. `custom_objects`: the user's code files for custom layers
    (``--custom-objects``), for a Keras model (`core.models.custom_objects`).
    """
    from core.models.loading import load_source
    from core.models.signatures import choose_signature, keras_interface, saved_model_interface
    from core.tf_runtime import wait_for_tensorflow_preload

    wait_for_tensorflow_preload()
    loaded = load_source(path, custom_objects=custom_objects)
    if loaded.keras_model is not None:
        if signature is not None:
            raise BadInputError(
                f"a Keras model has no signatures (--signature {signature} applies to SavedModels and .tflite files)",
                path=str(path),
            )
        return OpenedSource(
            path=str(path),
            format=loaded.format,
            keras_model=loaded.keras_model,
            interface=keras_interface(loaded.keras_model, path=str(path)),
        )
    if loaded.saved_model_dir is not None:
        from core.tf_runtime import import_tensorflow

        tf = import_tensorflow()
        try:
            model = tf.saved_model.load(loaded.saved_model_dir)
        except Exception as exc:  # noqa: BLE001 - an untrusted file that fails to load is bad input
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise BadInputError(
                f"TensorFlow could not load the SavedModel: {first[:300]}", path=str(path), details=str(exc)
            ) from None
        keys = list(getattr(model, "signatures", {}).keys())
        key = choose_signature(keys, signature, path=str(path))
        fn = model.signatures[key]
        return OpenedSource(
            path=str(path),
            format=loaded.format,
            saved_model_dir=loaded.saved_model_dir,
            interface=saved_model_interface(fn, key, keys, path=str(path)),
            signature_fn=fn,
            _loaded=model,
        )
    from core.optimize.runtime import SignatureModel

    assert loaded.tflite_bytes is not None  # LoadedModel sets exactly one payload: neither Keras nor SavedModel
    model = SignatureModel(loaded.tflite_bytes, signature, path=str(path))
    interface = ModelInterface(
        inputs=model.feed_specs(),
        outputs=model.result_specs(),
        signature=model.interface.signature,
        signatures=model.interface.signatures,
        ordered_inputs=model.interface.ordered_inputs,
        ordered_outputs=model.interface.ordered_outputs,
    )
    return OpenedSource(path=str(path), format=loaded.format, tflite_bytes=loaded.tflite_bytes, interface=interface)
