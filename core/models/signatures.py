"""Building a `ModelInterface` from a live model: Keras, a SavedModel signature, or a .tflite signature.

Runs in the engine's child (it touches loaded models). Names come from the
model itself, never from tensor positions:

* Keras: `model.inputs` (named after the `Input` layers) and `model.output_names`; for a model built on
  a dict of inputs, or returning a dict, that dict's keys (what it is called with and returns).
* SavedModel: the signature's keyword inputs (`structured_input_signature`) and
  its dict outputs (`structured_outputs`), in sorted-key order (a dict has no
  other order).
* .tflite: `get_signature_list()` and the signature runner's input/output
  details (LiteRT's own name mapping).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from core.errors import BadInputError
from core.models.interface import DEFAULT_SIGNATURE, INPUT, OUTPUT, ModelInterface, TensorSpec


def choose_signature(available: list[str] | tuple[str, ...], requested: str | None, *, path: str | None) -> str:
    """The signature to use: `requested`, else `serving_default`, else the only one.

    Raises BadInputError naming the signatures when the choice is absent or ambiguous.
    """
    listed = ", ".join(sorted(available)) or "none"
    if requested is not None:
        if requested not in available:
            raise BadInputError(f"the model has no signature {requested!r} (it has: {listed})", path=path)
        return requested
    if DEFAULT_SIGNATURE in available:
        return DEFAULT_SIGNATURE
    if len(available) == 1:
        return next(iter(available))
    if not available:
        raise BadInputError("the model has no signatures (export it with a serving signature)", path=path)
    raise BadInputError(
        f"the model has several signatures and none is {DEFAULT_SIGNATURE!r}: choose one with --signature ({listed})",
        path=path,
    )


def dtype_name(dtype: Any) -> str:
    """numpy dtype name of a TF/Keras/numpy dtype ("float32", "int64", "object" for strings)."""
    name = getattr(dtype, "name", None) or str(dtype)
    if name in ("string", "str"):
        return "object"
    try:
        return np.dtype(getattr(dtype, "as_numpy_dtype", name)).name
    except TypeError:
        return np.dtype(name).name


def _dims(shape: Any) -> tuple[int | None, ...]:
    if shape is None:
        return ()
    if hasattr(shape, "as_list"):
        shape = shape.as_list()
    return tuple(None if d is None or int(d) < 0 else int(d) for d in shape)


# ---------------------------------------------------------------------------
# Keras


def _output_activation(model: Any, index: int, name: str) -> str:
    """The activation of the layer that produces output number `index` ("" when unknown)."""
    from core.adapters import UpstreamChanged
    from core.adapters.keras_internals import output_layer

    try:
        layer = output_layer(model, index)
    except UpstreamChanged:
        try:
            layer = model.get_layer(name)
        except (ValueError, KeyError, AttributeError):
            return ""
    activation = getattr(layer, "activation", None)
    if activation is None:
        return "softmax" if type(layer).__name__ == "Softmax" else ""
    return str(getattr(activation, "__name__", "") or "")


def keras_dict_keys(model: Any, which: str) -> list[str] | None:
    """The keys of a model built on a dict of inputs (`which` "input") or returning one ("output"), in the
    order of `model.inputs` / `model.outputs`; None when it is not a dict (or a tensor is in it twice).

    Those keys, not the layers' names, are what the model is called with and returns (`model.input` and
    `model.output` are the structures it was built with: public Keras API)."""
    try:
        structure = getattr(model, which, None)
    except (AttributeError, ValueError):  # a model that was never built
        return None
    if not isinstance(structure, dict):
        return None
    tensors = list(getattr(model, f"{which}s", None) or [])
    keys = [next((str(k) for k, v in structure.items() if v is t), None) for t in tensors]
    if None in keys or len(set(keys)) != len(keys) or len(keys) != len(structure):
        return None
    return [str(k) for k in keys]


def keras_input_names(model: Any) -> tuple[str, ...]:
    """The Keras model's input names in `model.inputs` order: its dict's keys when built on a dict of inputs
    (what it is called with), else the `Input` layers' names."""
    keys = keras_dict_keys(model, "input")
    if keys is not None:
        return tuple(keys)
    return tuple(
        str(getattr(t, "name", "") or f"input_{i}") for i, t in enumerate(getattr(model, "inputs", None) or [])
    )


def keras_feeder(model: Any) -> Callable[[Sequence[Any]], Any]:
    """A function from arrays (in `model.inputs` order) to what the model takes: a dict under its own keys when
    it was built on a dict of inputs (Keras refuses a list there), else the one array, or a list. The keys are
    looked up once, here: a timed call pays only for the zip."""
    keys = keras_dict_keys(model, "input")
    if keys is not None:
        return lambda arrays: dict(zip(keys, arrays))
    return lambda arrays: arrays[0] if len(arrays) == 1 else list(arrays)


def keras_feed(model: Any, arrays: Sequence[Any]) -> Any:
    """`arrays` (in `model.inputs` order) as the model takes them (`keras_feeder`)."""
    return keras_feeder(model)(arrays)


def keras_output_names(model: Any) -> tuple[str, ...]:
    """The Keras model's output names in its own output order: the keys of the dict it returns, when it returns
    one (`model.output_names` lists the layers' names there, which the call's dict does not use)."""
    keys = keras_dict_keys(model, "output")
    if keys is not None:
        return tuple(keys)
    outputs = list(getattr(model, "outputs", None) or [])
    names = list(getattr(model, "output_names", None) or [])  # functional models
    if not names and len(outputs) == 1 and getattr(model, "layers", None):
        names = [model.layers[-1].name]  # Sequential: its last layer
    if len(names) != len(outputs):
        names = [getattr(t, "name", "") or f"output_{i}" for i, t in enumerate(outputs)]
    return tuple(str(n) for n in names)


def keras_interface(model: Any, *, path: str | None = None) -> ModelInterface:
    """Inputs and outputs of a built Keras model; BadInputError when it has no defined inputs."""
    inputs = list(getattr(model, "inputs", None) or [])
    outputs = list(getattr(model, "outputs", None) or [])
    if not inputs or not outputs:
        raise BadInputError("the Keras model has no defined inputs (build it or give it an Input layer)", path=path)
    in_specs = [
        TensorSpec(shape=_dims(tensor.shape), dtype=dtype_name(tensor.dtype), name=name, role=INPUT)
        for name, tensor in zip(keras_input_names(model), inputs)
    ]
    out_specs = []
    for index, (name, tensor) in enumerate(zip(keras_output_names(model), outputs)):
        out_specs.append(
            TensorSpec(
                shape=_dims(tensor.shape),
                dtype=dtype_name(tensor.dtype),
                name=name,
                role=OUTPUT,
                activation=_output_activation(model, index, name),
            )
        )
    _check_unique([s.name for s in in_specs], "input", path)
    _check_unique([s.name for s in out_specs], "output", path)
    return ModelInterface(inputs=tuple(in_specs), outputs=tuple(out_specs))


def _check_unique(names: list[str], what: str, path: str | None) -> None:
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise BadInputError(
            f"the model has several {what}s named {', '.join(map(repr, repeated))}; "
            f"Litesmith matches {what}s by name and cannot tell them apart",
            path=path,
        )


# ---------------------------------------------------------------------------
# SavedModel


def saved_model_interface(
    signature_fn: Any, key: str, keys: list[str] | tuple[str, ...], *, path: str | None = None
) -> ModelInterface:
    """Inputs and outputs of one SavedModel signature (a loaded ConcreteFunction)."""
    args, kwargs = signature_fn.structured_input_signature
    if args:
        raise BadInputError(f"signature {key!r} takes positional inputs; Litesmith needs named inputs", path=path)
    in_specs = tuple(
        TensorSpec(shape=_dims(spec.shape), dtype=dtype_name(spec.dtype), name=name, role=INPUT)
        for name, spec in sorted(kwargs.items())
    )
    outputs = signature_fn.structured_outputs
    if not isinstance(outputs, dict):
        raise BadInputError(f"signature {key!r} does not return a dict of named outputs", path=path)
    out_specs = tuple(
        TensorSpec(shape=_dims(spec.shape), dtype=dtype_name(spec.dtype), name=name, role=OUTPUT)
        for name, spec in sorted(outputs.items())
    )
    return ModelInterface(
        inputs=in_specs,
        outputs=out_specs,
        signature=key,
        signatures=tuple(sorted(keys)),
        ordered_inputs=len(in_specs) < 2,
        ordered_outputs=len(out_specs) < 2,
    )


# ---------------------------------------------------------------------------
# .tflite


def _tflite_spec(name: str, detail: dict, role: str) -> TensorSpec:
    signature = detail.get("shape_signature")
    shape = signature if signature is not None and len(signature) else detail.get("shape", ())
    return TensorSpec(shape=_dims(list(shape)), dtype=np.dtype(detail["dtype"]).name, name=name, role=role)


def tflite_signature_keys(interpreter: Any) -> list[str]:
    """The signature names of a LiteRT interpreter, sorted (empty for an old .tflite without signatures)."""
    return sorted(interpreter.get_signature_list())


def tflite_interface(interpreter: Any, requested: str | None = None, *, path: str | None = None) -> ModelInterface:
    """Inputs and outputs of one .tflite signature, by LiteRT's signature runner.

    A .tflite without any signature (old converters) cannot be matched by name:
    BadInputError says so rather than pairing tensors by position.
    """
    keys = tflite_signature_keys(interpreter)
    if not keys:
        raise BadInputError(
            "the .tflite model has no signature, so its inputs and outputs cannot be matched by "
            "name; convert it with a signature (TF 2.7 or newer does by default)",
            path=path,
        )
    key = choose_signature(keys, requested, path=path)
    runner = interpreter.get_signature_runner(key)
    ins = runner.get_input_details()
    outs = runner.get_output_details()
    listed = interpreter.get_signature_list()[key]
    in_specs = tuple(_tflite_spec(n, ins[n], INPUT) for n in listed.get("inputs", ins))
    out_specs = tuple(_tflite_spec(n, outs[n], OUTPUT) for n in listed.get("outputs", outs))
    return ModelInterface(
        inputs=in_specs,
        outputs=out_specs,
        signature=key,
        signatures=tuple(keys),
        ordered_inputs=len(in_specs) < 2,
        ordered_outputs=len(out_specs) < 2,
    )


def named_outputs(outputs: Any, names: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """A Keras call's outputs (a tensor, a list in output order, or a dict) as {output name: tensor}."""
    if isinstance(outputs, dict):
        return {name: outputs[name] for name in names}
    if isinstance(outputs, (list, tuple)):
        if len(outputs) != len(names):
            raise ValueError(f"the model returned {len(outputs)} outputs for {len(names)} output names")
        return dict(zip(names, outputs))
    if len(names) != 1:
        raise ValueError(f"the model returned one tensor for {len(names)} output names")
    return {names[0]: outputs}


__all__ = [
    "choose_signature",
    "dtype_name",
    "keras_dict_keys",
    "keras_feed",
    "keras_feeder",
    "keras_input_names",
    "keras_interface",
    "keras_output_names",
    "named_outputs",
    "saved_model_interface",
    "tflite_interface",
    "tflite_signature_keys",
]
