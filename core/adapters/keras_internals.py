"""Every private Keras attribute Litesmith reads (checked in Keras 3.15.1).

Keras 3 has no public API for walking a model's layer graph: `keras.Model.layers`
and `Function.operations` list the layers but not how they are called (which
tensors, which keyword arguments), and `Operation.input`/`output` refuse a layer
called more than once. So these are private reads, each wrapped here:

* `layer_graph`: the functional graph behind a model (a Sequential's private
  `_functional`; public fallback `keras.Model(model.inputs, model.outputs)`, which
  reuses the same layers and nodes);
* `ordered_nodes`: the graph's nodes, inputs first (`_nodes_by_depth`);
* `run_through_graph`: the graph run with another call per operation (`_run_through_graph`);
* `producer`: the layer that produced a symbolic tensor (`_keras_history`);
* `inbound_nodes`: the nodes where a layer was called (`_inbound_nodes`);
* `io_structures`: how a functional model nests its inputs/outputs (`_inputs_struct`,
  `_outputs_struct`; None: flat lists, which Keras also accepts);
* `custom_object_registry`: Keras's global registry dicts (`keras.src.saving.object_registration`;
  public fallback `keras.saving.get_custom_objects()`).

Not here on purpose: `core.models.loading` patches `keras.src.saving.saving_lib` for its
safety checks and fails loudly (never loads unpatched) when that module moves.

When one of them has moved, the adapter raises `core.adapters.UpstreamChanged`
("Keras's functional-graph internals changed: ..."), which callers report as such,
never as "the model has no layer graph". `NoLayerGraph` is kept for models that
truly have none (subclassed, or a Sequential never built).
"""

from __future__ import annotations

from typing import Any, Callable

from core.adapters import UpstreamChanged

LIBRARY = "keras"
LABEL = "Keras's functional-graph internals"
_MISSING: Any = object()


class NoLayerGraph(ValueError):
    """The model has no layer graph: a subclassed model, or a Sequential that was never built."""


def _changed(what: str, exc: BaseException | None = None) -> UpstreamChanged:
    detail = f"{type(exc).__name__}: {exc}"[:200] if exc is not None else ""
    return UpstreamChanged(LIBRARY, LABEL, what, detail)


def _class_names(obj: Any) -> set[str]:
    return {c.__name__ for c in type(obj).__mro__}


def is_graph_model(model: Any) -> bool:
    """A Sequential or functional model (by class name, so a moved module path does not matter)."""
    return bool(_class_names(model) & {"Functional", "Sequential"})


def layer_graph(model: Any) -> Any:
    """The functional graph (inputs, outputs, nodes) behind a Sequential or functional model.

    Raises `NoLayerGraph` for a subclassed model or an unbuilt Sequential, and
    `UpstreamChanged` when a graph model's private graph attributes have moved.
    """
    names = _class_names(model)
    if "Sequential" in names:
        graph = getattr(model, "_functional", _MISSING)
        if graph is None:
            raise NoLayerGraph("the Sequential model was never built (give it an Input)")
        if graph is _MISSING:
            graph = _rebuilt(model)
    elif "Functional" in names:
        graph = model
    else:
        raise NoLayerGraph("the model has no layer graph (a subclassed model)")
    if not hasattr(graph, "_nodes_by_depth"):
        raise _changed("a functional model has no _nodes_by_depth")
    return graph


def _rebuilt(model: Any) -> Any:
    """The public way to a Sequential's graph when `_functional` is gone: a Model over its tensors."""
    from core.tf_runtime import import_keras

    try:
        return import_keras().Model(inputs=model.inputs, outputs=model.outputs)
    except Exception as exc:  # noqa: BLE001 - no inputs (unbuilt) or a Model that refuses them
        raise _changed("Sequential has no _functional, and no Model could be built over its inputs", exc) from exc


def ordered_nodes(graph: Any) -> list[Any]:
    """The graph's nodes, deepest first (inputs first, outputs last), as Keras orders them.

    Each node has `operation`, `is_input`, `arguments` (args, kwargs, `fill_in`),
    `input_tensors` and `outputs`. Raises `UpstreamChanged`.
    """
    by_depth = getattr(graph, "_nodes_by_depth", None)
    if not isinstance(by_depth, dict):
        raise _changed("a functional model has no _nodes_by_depth")
    try:
        return [node for depth in sorted(by_depth, reverse=True) for node in by_depth[depth]]
    except TypeError as exc:
        raise _changed("_nodes_by_depth", exc) from exc


def run_through_graph(graph: Any, inputs: list[Any], call_fn: Callable[..., Any]) -> Any:
    """Run the graph on `inputs`, calling `call_fn(operation, *args, **kwargs)` for each operation.

    Private `_run_through_graph`; raises `UpstreamChanged` when it is gone.
    """
    run = getattr(graph, "_run_through_graph", None)
    if run is None:
        raise _changed("a functional model has no _run_through_graph")
    return run(inputs, call_fn=call_fn)


def producer(tensor: Any) -> Any | None:
    """The layer (operation) that produced a symbolic tensor; None when Keras no longer records it."""
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        return None
    layer = getattr(history, "operation", None)
    if layer is None and isinstance(history, tuple) and history:
        layer = history[0]  # the older (layer, node_index, tensor_index) form
    return layer


def producer_name(tensor: Any) -> str | None:
    """The name of the layer that produced `tensor` (what a user named an Input); None when unknown."""
    name = getattr(producer(tensor), "name", None)
    return str(name) if name else None


def output_layer(model: Any, index: int = 0) -> Any:
    """The layer that produces the model's output number `index`.

    Private `_keras_history` of the output tensor; else the public route: the output's name
    (`core.models.signatures.keras_output_names`) looked up with `model.get_layer`.
    Raises `UpstreamChanged` when neither finds it.
    """
    outputs = list(getattr(model, "outputs", None) or [])
    layer = producer(outputs[index]) if index < len(outputs) else None
    if layer is not None:
        return layer
    from core.models.signatures import keras_output_names

    try:
        return model.get_layer(keras_output_names(model)[index])
    except (ValueError, KeyError, IndexError, AttributeError) as exc:
        raise _changed("an output tensor has no _keras_history, and its layer is not found by name", exc) from exc


def inbound_nodes(layer: Any) -> list[Any]:
    """The nodes where `layer` was called (each with `input_tensors`). Raises `UpstreamChanged`."""
    nodes = getattr(layer, "_inbound_nodes", _MISSING)
    if nodes is _MISSING:
        raise _changed("a layer has no _inbound_nodes")
    return list(nodes or [])


def custom_object_registry() -> tuple[dict[str, Any], dict[Any, str]]:
    """Keras's global custom-object registry as the two dicts Keras itself mutates: (name -> object,
    object -> name). Private (`keras.src.saving.object_registration`); else the public
    `keras.saving.get_custom_objects()` (the same name -> object dict) and an empty second dict."""
    try:
        from keras.src.saving import object_registration as registration

        return registration.GLOBAL_CUSTOM_OBJECTS, registration.GLOBAL_CUSTOM_NAMES
    except (ImportError, AttributeError):  # a Keras laid out otherwise: the public view of the registry
        from core.tf_runtime import import_keras

        return import_keras().saving.get_custom_objects(), {}


def io_structures(model: Any) -> tuple[Any, Any]:
    """(inputs structure, outputs structure) of a functional model; (None, None) when not recorded."""
    return getattr(model, "_inputs_struct", None), getattr(model, "_outputs_struct", None)


__all__ = [
    "LIBRARY",
    "NoLayerGraph",
    "custom_object_registry",
    "inbound_nodes",
    "io_structures",
    "is_graph_model",
    "layer_graph",
    "ordered_nodes",
    "output_layer",
    "producer",
    "producer_name",
    "run_through_graph",
]
