"""The TensorFlow runners: a Keras model in each of its run modes (`KerasRunner`) and a
SavedModel through one signature (`SavedModelRunner`); the device check they share
(`check_device`) and loading a Keras model for them (`load_keras`).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from core.adapters import keras_internals
from core.benchmark.results import KERAS_MODES
from core.benchmark.runner_base import InputSpec, _NamedInputs
from core.tf_runtime import import_tensorflow
from core.errors import BadInputError
from core.models.interface import ModelInterface
from core.models.signatures import keras_feeder


# --------------------------------------------------------------------------- Keras


def embedding_limits(model: Any) -> dict[str, int]:
    """{input name: input_dim} for inputs a Keras Embedding reads directly (best effort; {} when unknown)."""
    limits: dict[str, int] = {}
    try:
        inputs = {id(t): str(getattr(t, "name", "")) for t in (getattr(model, "inputs", None) or [])}
        for layer in getattr(model, "layers", []):
            if type(layer).__name__ != "Embedding" or not getattr(layer, "input_dim", None):
                continue
            for node in keras_internals.inbound_nodes(layer):  # private: any failure means {} (below)
                for tensor in getattr(node, "input_tensors", []) or []:
                    name = inputs.get(id(tensor))
                    if name:
                        limits[name] = min(limits.get(name, int(layer.input_dim)), int(layer.input_dim))
    except Exception:  # noqa: BLE001 - a bonus: 0..9 is always valid
        return {}
    return limits


class KerasRunner(_NamedInputs):
    """A Keras model run the ways users run it.

    Modes: "eager" (``model(x, training=False)``), "tf_function" (the same call
    wrapped once in ``tf.function``; the first call of each batch size traces it,
    which lands in the cold run), "predict_on_batch" and "predict"
    (``model.predict(x, batch_size=b, verbose=0)``, what most scripts do).
    `device` is a TensorFlow device string: "/CPU:0", "/GPU:0", ...
    Inputs are fed by `model.inputs` name in the model's input order; outputs
    come back as {output name: array}.
    """

    uses_threads = False
    variant = "keras"

    def __init__(self, model: Any, mode: str = "predict_on_batch", device: str = "/CPU:0") -> None:
        """`model`: a loaded Keras model. Raises ValueError for a mode not in `KERAS_MODES`."""
        if mode not in KERAS_MODES:
            raise ValueError(f"unknown Keras mode {mode!r}; choose from {', '.join(KERAS_MODES)}")
        self.model = model
        self.mode = mode
        self.device = device
        self.name = f"keras-{mode}"
        self._batch = 1
        self._fn: Any = None  # the tf.function wrapper ("tf_function" mode), made in `prepare`
        self._tf: Any = None  # the TensorFlow module, imported in `prepare`
        self._interface: ModelInterface | None = None
        self._limits: dict[str, int] | None = None
        self._names: tuple[str, ...] = ()
        self._feed: Callable[[Sequence[Any]], Any] = lambda arrays: arrays  # `keras_feeder`, set in `prepare`

    @property
    def interface(self) -> ModelInterface:
        """The model's inputs and outputs by name; ValueError when they cannot be named."""
        if self._interface is None:
            from core.models.signatures import keras_interface

            try:
                self._interface = keras_interface(self.model)
            except BadInputError as exc:
                raise ValueError(exc.message) from None
        return self._interface

    def prepare(self, batch_size: int, threads: int | None) -> None:
        """Import TensorFlow and get ready for `batch_size`; `threads` is ignored (TensorFlow's own pools).

        Raises ValueError for a GPU device TensorFlow cannot see (`check_device`).
        """
        tf = self._tf = import_tensorflow()
        check_device(self.device, tf)
        self._batch = int(batch_size)
        self._names = self.interface.input_names
        self._feed = keras_feeder(self.model)
        if self._limits is None:
            self._limits = embedding_limits(self.model)
        if self.mode == "tf_function" and self._fn is None:
            model = self.model
            self._fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    def input_specs(self) -> list[InputSpec]:
        """The inputs at the prepared batch size; an input an Embedding reads gets ids below its input_dim."""
        shapes = self.sample_shapes()
        limits = self._limits or {}
        return [
            InputSpec(spec.name, (self._batch,) + shapes[spec.name], spec.dtype, int_high=limits.get(spec.name))
            for spec in self.interface.inputs
        ]

    def run_once(self, inputs: Mapping[str, np.ndarray]) -> Any:
        """One call in the runner's mode on `inputs`; {output name: array} (raw outputs if they cannot be named)."""
        tf = self._tf
        feed = [inputs[name] for name in self._names]
        x = self._feed(feed)
        with tf.device(self.device):
            if self.mode == "predict":
                out = self.model.predict(x, batch_size=self._batch, verbose=0)
            elif self.mode == "predict_on_batch":
                out = self.model.predict_on_batch(x)
            else:
                out = self._fn(x) if self.mode == "tf_function" else self.model(x, training=False)
                # Copy back to host memory: on a GPU this is also where the call finishes.
                out = tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else np.asarray(t), out)
        return _named(out, self.interface.output_names)

    def close(self) -> None:
        """Drop the tf.function wrapper (the model stays loaded)."""
        self._fn = None


def _named(outputs: Any, names: tuple[str, ...]) -> Any:
    """{output name: array} for a Keras call's outputs; the raw outputs when they cannot be named."""
    from core.models.signatures import named_outputs

    try:
        return named_outputs(outputs, names)
    except (KeyError, ValueError, TypeError):
        return outputs


class SavedModelRunner(_NamedInputs):
    """A SavedModel folder called through one signature (`tf.saved_model.load`).

    `signature` chooses it (default ``serving_default``, else the only one;
    `core.models.signatures.choose_signature`). Inputs are the signature's
    keyword inputs by name; outputs come back as {output name: array}.
    """

    uses_threads = False
    variant = "saved_model"
    name = "savedmodel"

    def __init__(
        self,
        folder: str | os.PathLike[str],
        device: str = "/CPU:0",
        *,
        signature: str | None = None,
        path: str | None = None,
    ) -> None:
        self.folder = os.fspath(folder)
        self.device = device
        self.signature = signature
        self.path = path if path is not None else self.folder
        self._fn: Any = None  # the chosen signature's concrete function
        self._loaded: Any = None  # what tf.saved_model.load returned (keeps `_fn` alive)
        self._interface: ModelInterface | None = None
        self._batch = 1
        self._tf: Any = None
        self._names: tuple[str, ...] = ()

    def load(self) -> ModelInterface:
        """Load the SavedModel and choose its signature; BadInputError when either fails."""
        if self._interface is None:
            from core.models.signatures import choose_signature, saved_model_interface

            tf = import_tensorflow()
            try:
                loaded = tf.saved_model.load(self.folder)
            except Exception as exc:  # noqa: BLE001 - an untrusted folder that fails to load is bad input
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise BadInputError(
                    f"TensorFlow could not load the SavedModel: {first[:300]}", path=self.path, details=str(exc)
                ) from None
            keys = list(getattr(loaded, "signatures", {}).keys())
            key = choose_signature(keys, self.signature, path=self.path)
            fn = loaded.signatures[key]
            self._interface = saved_model_interface(fn, key, keys, path=self.path)
            self._loaded, self._fn = loaded, fn
        return self._interface

    @property
    def interface(self) -> ModelInterface:
        """The chosen signature's inputs and outputs (loads the SavedModel; BadInputError when it fails)."""
        return self.load()

    def prepare(self, batch_size: int, threads: int | None) -> None:
        """Load the SavedModel and get ready for `batch_size`; `threads` is ignored (TensorFlow's own pools).

        Raises ValueError for a GPU device TensorFlow cannot see, BadInputError when the folder does not load.
        """
        tf = self._tf = import_tensorflow()
        check_device(self.device, tf)
        interface = self.load()
        self._batch = int(batch_size)
        self._names = interface.input_names

    def input_specs(self) -> list[InputSpec]:
        """The signature's inputs at the prepared batch size."""
        shapes = self.sample_shapes()
        return [InputSpec(spec.name, (self._batch,) + shapes[spec.name], spec.dtype) for spec in self.interface.inputs]

    def run_once(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Call the signature with `inputs` as keyword tensors; {output name: numpy array}."""
        tf = self._tf
        with tf.device(self.device):
            out = self._fn(**{name: tf.constant(inputs[name]) for name in self._names})
        return {key: value.numpy() for key, value in out.items()}

    def close(self) -> None:
        """Nothing to release (the loaded SavedModel is reused by the next `prepare`)."""


def check_device(device: str, tf: Any = None) -> None:
    """Refuse a GPU device TensorFlow cannot see (it would silently run on the CPU): ValueError naming it.

    `tf`: the TensorFlow module (imported when None); a CPU device is always accepted.
    """
    name = device.strip().upper().lstrip("/")
    if not name.startswith("GPU"):
        return
    if tf is None:
        tf = import_tensorflow()
    visible = [d.name.upper().split("DEVICE:")[-1] for d in tf.config.list_logical_devices("GPU")]
    index = name.split(":")[-1] if ":" in name else "0"
    if f"GPU:{index}" not in visible:
        seen = ", ".join(visible) or "none"
        raise ValueError(f"TensorFlow sees no {device} (GPUs visible: {seen}); see `litesmith devices`")


def load_keras(path: str | os.PathLike[str]) -> Any:
    """Load a Keras model through `core.models.loading` (safety checks first, safe_mode on); BadInputError."""
    from core.models.loading import load_keras_model

    return load_keras_model(os.fspath(path))
