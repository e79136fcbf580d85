"""Every private or version-sensitive use of `ai_edge_litert`'s Interpreter (checked in 2.3.0).

Public API first:

* tensor details per subgraph: private `_get_tensor_details(index, subgraph)`, else the
  public `get_tensor_details(subgraph_index=...)` searched by index;
* tensor types: the public `get_tensor_details()`;
* running subgraph 0: the private native wrapper (`Interpreter._interpreter`, which
  takes a subgraph index), else the public `resize_tensor_input` / `allocate_tensors`
  / `set_tensor` / `get_tensor` / `invoke` (`native`).

No public API at all (ai_edge_litert 2.3 exposes neither the node list nor the
execution plan), so these are private calls that raise `UpstreamChanged` when they
move, and whose callers report "unknown (reason)":

* the node list (`nodes`: the native wrapper's NodeName/NodeInputs/NodeOutputs, or
  `_get_ops_details`), DELEGATE nodes included;
* op details of the first subgraph (`ops_details`: `_get_ops_details`);
* which ops a delegate took (`delegation_info` / `read_delegation`);
* the subgraph a signature runs in (`signature_subgraph`);
* running a signature in another subgraph through the native wrapper.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from core.adapters import UpstreamChanged

if TYPE_CHECKING:  # imported where used: core.benchmark imports this module
    from core.benchmark.results import DelegationInfo

LIBRARY = "ai-edge-litert"
NATIVE_LABEL = "LiteRT's interpreter internals"
OPS_LABEL = "LiteRT's op details API"


def _changed(label: str, what: str, exc: BaseException | None = None) -> UpstreamChanged:
    detail = f"{type(exc).__name__}: {exc}" if exc is not None else ""
    return UpstreamChanged(LIBRARY, label, what, detail[:200])


# --------------------------------------------------------------------------- the native wrapper


class _PublicNative:
    """The native wrapper's calls for subgraph 0, made through the public Interpreter API.

    Used when `Interpreter._interpreter` is gone: `native()` returns it for subgraph 0;
    any other subgraph raises `UpstreamChanged` (the public calls address subgraph 0 only).
    """

    def __init__(self, interpreter: Any) -> None:
        self._public = interpreter

    def _only_main(self, subgraph: int) -> None:
        if int(subgraph) != 0:
            raise _changed(
                NATIVE_LABEL,
                "Interpreter has no _interpreter",
                RuntimeError(f"subgraph {subgraph} cannot be run through the public API"),
            )

    def ResizeInputTensor(self, index: int, shape: Any, strict: bool, subgraph: int) -> None:  # noqa: N802
        self._only_main(subgraph)
        self._public.resize_tensor_input(int(index), [int(d) for d in shape], strict=bool(strict))

    def AllocateTensors(self, subgraph: int) -> None:  # noqa: N802
        self._only_main(subgraph)
        self._public.allocate_tensors()

    def SetTensor(self, index: int, value: Any, subgraph: int) -> None:  # noqa: N802
        self._only_main(subgraph)
        self._public.set_tensor(int(index), value)

    def GetTensor(self, index: int, subgraph: int) -> Any:  # noqa: N802
        return self._public.get_tensor(int(index), int(subgraph))

    def Invoke(self, subgraph: int) -> None:  # noqa: N802
        self._only_main(subgraph)
        self._public.invoke()


def has_native(interpreter: Any) -> bool:
    """Whether the interpreter still has the private native wrapper (`_interpreter`)."""
    return getattr(interpreter, "_interpreter", None) is not None


def native(interpreter: Any, subgraph: int = 0) -> Any:
    """The object that resizes, allocates, sets, gets and invokes by (tensor index, subgraph index).

    The private native wrapper when present (it takes any subgraph); else, for subgraph 0, the
    public API behind the same method names. Raises `UpstreamChanged` for another subgraph
    without the wrapper. Callers must not keep the result: `Interpreter.invoke()` refuses to
    run while anything else holds a reference to the native wrapper.
    """
    wrapper = getattr(interpreter, "_interpreter", None)
    if wrapper is not None:
        return wrapper
    if int(subgraph) == 0:
        return _PublicNative(interpreter)
    raise _changed(
        NATIVE_LABEL,
        "Interpreter has no _interpreter",
        RuntimeError(f"subgraph {subgraph} cannot be run through the public API"),
    )


def invoke_subgraph(interpreter: Any, subgraph: int) -> Callable[[], None]:
    """A no-argument callable that invokes `subgraph` (the native Invoke bound to its index)."""
    return partial(native(interpreter, subgraph).Invoke, int(subgraph))


def public_invoke_allowed(interpreter: Any) -> bool:
    """Whether `interpreter.invoke()` will run now (no other reference holds the native wrapper).

    Private `_safe_to_run`; when it is missing, True (the public invoke() makes its own check).
    """
    safe = getattr(interpreter, "_safe_to_run", None)
    return True if safe is None else bool(safe())


def signature_subgraph(interpreter: Any, key: str) -> int:
    """The subgraph index a signature runs in. Private; a one-subgraph model answers 0 without it.

    Raises `UpstreamChanged` when the native lookup is gone and the model has several subgraphs.
    """
    wrapper = getattr(interpreter, "_interpreter", None)
    try:
        if wrapper is not None:
            return int(wrapper.GetSubgraphIndexFromSignature(key))
        runner = interpreter.get_signature_runner(key)
        index = getattr(runner, "_subgraph_index", None)
        if index is not None:
            return int(index)
        if int(interpreter.num_subgraphs()) == 1:
            return 0
    except UpstreamChanged:
        raise
    except (AttributeError, TypeError) as exc:
        raise _changed(NATIVE_LABEL, "GetSubgraphIndexFromSignature", exc) from exc
    raise _changed(NATIVE_LABEL, "Interpreter has no _interpreter (the subgraph of a signature is unknown)")


def tensor_details(interpreter: Any, index: int, subgraph: int = 0) -> dict[str, Any]:
    """The details dict (name, index, shape, dtype, quantization, ...) of one tensor of one subgraph.

    Private `_get_tensor_details`; else the public `get_tensor_details(subgraph_index=...)`
    searched by index. Raises ValueError for an index it does not list.
    """
    private = getattr(interpreter, "_get_tensor_details", None)
    if private is not None:
        try:
            return dict(private(int(index), int(subgraph)))
        except TypeError:
            pass  # the signature moved: the public listing still works
    for detail in interpreter.get_tensor_details(subgraph_index=int(subgraph)):
        if int(detail["index"]) == int(index):
            return dict(detail)
    raise ValueError(f"tensor {index} of subgraph {subgraph} has no details")


def tensor_dtypes(interpreter: Any) -> dict[int, np.dtype]:
    """{tensor index: numpy dtype} of the first subgraph, from the public `get_tensor_details()`."""
    dtypes: dict[int, np.dtype] = {}
    for detail in interpreter.get_tensor_details():
        try:
            dtypes[int(detail["index"])] = np.dtype(detail["dtype"])
        except TypeError:
            continue
    return dtypes


# --------------------------------------------------------------------------- the node list


@dataclass(frozen=True)
class Node:
    """One node of the first subgraph as the interpreter lists it (DELEGATE nodes included)."""

    index: int
    name: str  # builtin op name, or "DELEGATE" for a delegate partition
    inputs: tuple[int, ...]  # tensor indices; -1 for an omitted optional input
    outputs: tuple[int, ...]


def nodes(interpreter: Any) -> list[Node]:
    """Every node of the first subgraph, after delegation (one DELEGATE node per partition).

    Private: the native wrapper's node calls, else `_get_ops_details()`. Raises `UpstreamChanged`.
    """
    wrapper = getattr(interpreter, "_interpreter", None)
    try:
        if wrapper is not None:
            return [
                Node(
                    i,
                    str(wrapper.NodeName(i)),
                    tuple(int(t) for t in wrapper.NodeInputs(i)),
                    tuple(int(t) for t in wrapper.NodeOutputs(i)),
                )
                for i in range(int(wrapper.NumNodes()))
            ]
    except (AttributeError, TypeError) as exc:
        raise _changed(NATIVE_LABEL, "the native node list (NodeName/NodeInputs/NodeOutputs)", exc) from exc
    return [
        Node(
            int(op["index"]),
            str(op["op_name"]),
            tuple(int(t) for t in op["inputs"]),
            tuple(int(t) for t in op["outputs"]),
        )
        for op in _raw_ops_details(interpreter)
    ]


def _raw_ops_details(interpreter: Any) -> list[dict[str, Any]]:
    private = getattr(interpreter, "_get_ops_details", None)
    if private is None:
        raise _changed(OPS_LABEL, "Interpreter has no _get_ops_details")
    try:
        details = list(private())
        for op in details:
            op["op_name"], op["inputs"], op["outputs"]  # the keys every caller reads
    except (AttributeError, TypeError, KeyError) as exc:
        raise _changed(OPS_LABEL, "_get_ops_details()", exc) from exc
    return details


def ops_details(interpreter: Any) -> list[dict[str, Any]]:
    """The first subgraph's ops as `_get_ops_details()` gives them (dicts with "index", "op_name",
    "inputs", "outputs"), DELEGATE nodes left out. Private; raises `UpstreamChanged`."""
    return [op for op in _raw_ops_details(interpreter) if op.get("op_name") != "DELEGATE"]


# --------------------------------------------------------------------------- delegate partitions


def delegation_info(interpreter: Any, xnnpack: bool = True) -> DelegationInfo:
    """Which ops the XNNPACK delegate took, read from a prepared interpreter.

    After delegation the interpreter keeps every original node and appends one
    node named "DELEGATE" per partition; a DELEGATE node's inputs and outputs
    are the tensors at that partition's boundary. The ops a partition replaced
    are found by walking back from its outputs through the original nodes'
    producers until the boundary inputs are reached. (The Python API does not
    expose the execution plan, so this is how we tell delegated from kept ops.)
    Raises `UpstreamChanged` when the node list cannot be read.
    """
    from core.benchmark.results import DelegationInfo

    ops = nodes(interpreter)
    original = [op for op in ops if op.name != "DELEGATE"]
    delegates = [op for op in ops if op.name == "DELEGATE"]
    producer = {t: op.index for op in original for t in op.outputs if t >= 0}
    by_index = {op.index: op for op in original}
    delegated: set[int] = set()
    for node in delegates:
        boundary = set(node.inputs)
        stack = [t for t in node.outputs if t >= 0]
        while stack:
            tensor = stack.pop()
            index = producer.get(tensor)
            if index is None or index in delegated:
                continue
            delegated.add(index)
            stack.extend(t for t in by_index[index].inputs if t >= 0 and t not in boundary)
    kept = Counter(op.name for op in original if op.index not in delegated)
    return DelegationInfo(
        total_ops=len(original),
        delegated_ops=len(delegated),
        partitions=len(delegates),
        kept_ops=tuple(sorted(kept.items(), key=lambda item: (-item[1], item[0]))),
        xnnpack=xnnpack,
    )


def read_delegation(interpreter: Any, xnnpack: bool = True) -> tuple[DelegationInfo | None, str]:
    """`delegation_info` that never raises: (info, "") or (None, why). Any failure means "unknown",
    never 0 delegated ops and never a failed job."""
    try:
        info = delegation_info(interpreter, xnnpack)
    except UpstreamChanged as exc:
        return None, f"not readable from this ai_edge_litert ({exc})"
    except Exception as exc:  # noqa: BLE001 - a private API that moved in a way not foreseen: unknown
        return None, f"not readable from this ai_edge_litert ({type(exc).__name__}: {exc})"
    if info.total_ops <= 0:
        return None, "the interpreter listed no ops"
    return info, ""


__all__ = [
    "LIBRARY",
    "Node",
    "delegation_info",
    "has_native",
    "invoke_subgraph",
    "native",
    "nodes",
    "ops_details",
    "public_invoke_allowed",
    "read_delegation",
    "signature_subgraph",
    "tensor_details",
    "tensor_dtypes",
]
