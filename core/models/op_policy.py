"""The SavedModel op policy: judges every op of a MetaGraph, in its graph and in every
function of its library, against the allowlist (`core.models.op_allowlist`) and the rules
on top of it below; `saved_model_op_problems` lists what it refuses, `_op_refusal` turns
that into the `BadInputError` `core.models.safety.check_saved_model` raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from core.errors import BadInputError
from core.models.op_allowlist import (
    _LIBRARY_REASONS,
    NOT_COMPUTE_OPS,
    TEXT_FILE_TABLE_OPS,
    compute_op_allowlist,
    op_libraries,
)
from core.models.read_guard import _bad


# -- SavedModel: the op policy -------------------------------------------------------
#
# The allowlist (`core.models.op_allowlist`) says which ops only compute.
#
# On top of the list:
# * checkpoint ops (SaveV2, RestoreV2, MergeV2Checkpoints, ShardedFilename, ...)
#   only inside the saver's own functions: the functions that the nodes named
#   by `saver_def` call, and what those call; never in a function that anything
#   else can reach (a signature, a resource initializer or any other function the
#   object graph names, a graph node other than the saver's, an unreferenced
#   function). TF2 SavedModels keep their saver in `_traced_save` /
#   `_traced_restore`; TF1 ones keep it as graph nodes under `save/`, judged by
#   which root (save, restore, anything else) reaches them.
#   (StringJoin, StaticRegexFullMatch and Select, which the saver uses to build
#   its temporary file names, only compute strings and stay allowed anywhere:
#   text models use tf.strings.join.)
# * InitializeTableFromTextFile(V2) only when its file name is one of the
#   SavedModel's own assets: a function argument bound to an asset of the object
#   graph, or (TF1) the tensor an AssetFileDef names, which the loader feeds with
#   the file's path inside assets/. A constant path or a serving input is refused.
# * PrintV2 only to stderr or the log (not to stdout, which nothing escapes, nor "file://..."), and
#   DecodeProtoV2 / EncodeProto only with the built-in descriptor pool or inline
#   bytes (not a descriptor file).
#
# Every function in the library is checked, reachable or not: the loader runs
# resource initializers and restores saveables from the object graph whatever the
# graph's wiring says, and user code may call any function the object graph keeps.

CHECKPOINT_WRITE_OPS = frozenset({"SaveV2", "Save", "SaveSlices", "MergeV2Checkpoints"})
CHECKPOINT_READ_OPS = frozenset({"RestoreV2", "Restore", "RestoreSlice"})
CHECKPOINT_NAME_OPS = frozenset({"ShardedFilename", "ShardedFilespec"})
# stderr and the log go through the engine child's stderr filter, which escapes what a model prints;
# stdout does not.
PRINT_STREAMS = frozenset({"stderr", "log(info)", "log(warning)", "log(error)"})
PROTO_OPS = frozenset({"DecodeProtoV2", "EncodeProto"})

_SAVE, _RESTORE, _OTHER = "save", "restore", "other"
_CALL_OPS = frozenset({"StatefulPartitionedCall", "PartitionedCall"})  # inputs map 1:1 to the callee's arguments
_PASS_THROUGH_OPS = frozenset({"Identity", "Snapshot"})


@dataclass(frozen=True)
class OpProblem:
    """One op the SavedModel op policy refuses: the op type, where it is (function or graph node) and why."""

    op: str
    where: str  # "function '__inference_...'" or "graph node 'save/SaveV2'"
    reason: str

    def __str__(self) -> str:
        return f"{self.op} in {self.where}: {self.reason}"


def _node_name(tensor_name: str) -> str:
    name = tensor_name.lstrip("^")
    return name.split(":", 1)[0]


def _data_inputs(node: Any) -> list[str]:
    return [i for i in node.input if not i.startswith("^")]


def _attr_functions(attrs: Any) -> Iterator[str]:
    """Names of the functions an attribute map names (f, then_branch, body, branches, nested attrs)."""
    for value in attrs.values():
        kind = value.WhichOneof("value")
        if kind == "func":
            yield value.func.name
            yield from _attr_functions(value.func.attr)
        elif kind == "list":
            for fn in value.list.func:
                yield fn.name
                yield from _attr_functions(fn.attr)


def _graph_closure(nodes_by_name: dict, roots: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    stack = [r for r in roots if r in nodes_by_name]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(_node_name(i) for i in nodes_by_name[name].input if _node_name(i) in nodes_by_name)
    return seen


def saved_model_assets(meta_graph: Any) -> list[Any]:
    """The AssetFileDefs of a MetaGraph: the field, and the legacy `saved_model_assets` collection
    that TF1's builder writes (the TF1 loader reads both)."""
    from tensorflow.core.protobuf import meta_graph_pb2

    assets = list(meta_graph.asset_file_def)
    collection = meta_graph.collection_def.get("saved_model_assets")
    if collection is not None and collection.WhichOneof("kind") == "any_list":
        for packed in collection.any_list.value:
            asset = meta_graph_pb2.AssetFileDef()
            if packed.Unpack(asset):
                assets.append(asset)
    return assets


class _OpPolicy:
    """Judges the ops of one MetaGraphDef; `problems()` lists what the policy refuses."""

    def __init__(self, meta_graph: Any) -> None:
        self.meta_graph = meta_graph
        graph = meta_graph.graph_def
        self.nodes = {n.name: n for n in graph.node}
        self.functions = {f.signature.name: f for f in graph.library.function}
        self.fn_nodes = {name: {n.name: n for n in f.node_def} for name, f in self.functions.items()}
        self.arg_index = {
            name: {a.name: i for i, a in enumerate(f.signature.input_arg)} for name, f in self.functions.items()
        }
        self.allowed = compute_op_allowlist()
        self.libraries = op_libraries()
        self.asset_nodes = {
            _node_name(a.tensor_info.name) for a in saved_model_assets(meta_graph) if a.tensor_info.name
        }
        self.object_graph = meta_graph.object_graph_def
        self.bindings = {name: list(cf.bound_inputs) for name, cf in self.object_graph.concrete_functions.items()}
        self.object_functions = set(self.bindings)
        self.roles: dict[str, str] = {}
        self._read_object_graph()
        self.call_sites = self._find_call_sites()
        self.graph_labels, self.fn_labels = self._label()

    # -- the object graph ----------------------------------------------------------

    def _read_object_graph(self) -> None:
        nodes = self.object_graph.nodes
        for obj in nodes:
            kind = obj.WhichOneof("kind")
            if kind == "function":
                self.object_functions.update(obj.function.concrete_functions)
            elif kind == "bare_concrete_function":
                self.object_functions.add(obj.bare_concrete_function.concrete_function_name)
            if kind == "resource":  # the loader calls these itself: _create_resource, _initialize, _destroy_resource
                for child in obj.children:
                    for fn in self._functions_of_object(child.node_id):
                        self.roles.setdefault(
                            fn,
                            f"the {child.local_name.lstrip('_').replace('_', ' ')} "
                            "function of a resource, run when the model loads",
                        )
            for key, saveable in obj.saveable_objects.items():
                for node_id, what in ((saveable.save_function, "save"), (saveable.restore_function, "restore")):
                    for fn in self._functions_of_object(node_id):
                        self.roles.setdefault(fn, f"the {what} function of saveable {key!r}")

    def _functions_of_object(self, node_id: int) -> list[str]:
        nodes = self.object_graph.nodes
        if not 0 <= node_id < len(nodes):
            return []
        obj = nodes[node_id]
        kind = obj.WhichOneof("kind")
        if kind == "function":
            return list(obj.function.concrete_functions)
        if kind == "bare_concrete_function":
            return [obj.bare_concrete_function.concrete_function_name]
        return []

    def _is_asset_object(self, node_id: int) -> bool:
        nodes = self.object_graph.nodes
        if not 0 <= node_id < len(nodes) or nodes[node_id].WhichOneof("kind") != "asset":
            return False
        return 0 <= nodes[node_id].asset.asset_file_def_index < len(self.meta_graph.asset_file_def)

    # -- calls -------------------------------------------------------------------------

    def _callees(self, node: Any) -> list[tuple[str, bool]]:
        """(function, arguments map 1:1) for each library function `node` calls."""
        found = []
        if node.op in self.functions:
            found.append((node.op, True))
        for key, value in node.attr.items():
            direct = node.op in _CALL_OPS and key == "f" and value.WhichOneof("value") == "func"
            if direct:
                found.append((value.func.name, True))
                found += [(fn, False) for fn in _attr_functions(value.func.attr)]
            else:
                found += [(fn, False) for fn in _attr_functions({key: value})]
        return [(fn, mapped) for fn, mapped in found if fn in self.functions]

    def _find_call_sites(self) -> dict[str, list[tuple[str | None, Any, bool]]]:
        sites: dict[str, list] = {}
        for node in self.nodes.values():
            for fn, mapped in self._callees(node):
                sites.setdefault(fn, []).append((None, node, mapped))
        for scope, nodes in self.fn_nodes.items():
            for node in nodes.values():
                for fn, mapped in self._callees(node):
                    sites.setdefault(fn, []).append((scope, node, mapped))
        return sites

    # -- who can run what ---------------------------------------------------------------

    def _label(self) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
        nodes = self.nodes
        saver = self.meta_graph.saver_def if self.meta_graph.HasField("saver_def") else None
        self.save_node = _node_name(saver.save_tensor_name) if saver and saver.save_tensor_name else ""
        self.restore_node = _node_name(saver.restore_op_name) if saver and saver.restore_op_name else ""
        save_nodes = _graph_closure(nodes, [self.save_node])
        restore_nodes = _graph_closure(nodes, [self.restore_node])
        # Anything a signature, a collection (init ops, table initializers) or an asset names can run
        # at load or serve time, even when it is also wired under the saver.
        other_roots = {n for n in nodes if n not in save_nodes and n not in restore_nodes}
        for signature in self.meta_graph.signature_def.values():
            for info in list(signature.inputs.values()) + list(signature.outputs.values()):
                other_roots.add(_node_name(info.name))
        for collection in self.meta_graph.collection_def.values():
            if collection.WhichOneof("kind") == "node_list":
                other_roots.update(_node_name(v) for v in collection.node_list.value)
        other_roots |= self.asset_nodes
        other_nodes = _graph_closure(nodes, other_roots)

        graph_labels: dict[str, set[str]] = {}
        for name in nodes:
            labels = set()
            if name in save_nodes:
                labels.add(_SAVE)
            if name in restore_nodes:
                labels.add(_RESTORE)
            if name in other_nodes or not labels:
                labels.add(_OTHER)
            graph_labels[name] = labels

        fn_labels: dict[str, set[str]] = {name: set() for name in self.functions}
        stack: list[tuple[str, str]] = []
        for name, node in nodes.items():
            # Only the saver's own nodes lend "save"/"restore" to what they call; a function
            # called by any other node (even one wired under the saver) can run elsewhere.
            labels = graph_labels[name] if name in (self.save_node, self.restore_node) else {_OTHER}
            stack += [(fn, label) for fn, _ in self._callees(node) for label in labels]
        stack += [(fn, _OTHER) for fn in self.object_functions if fn in self.functions]
        while stack:
            fn, label = stack.pop()
            if label in fn_labels[fn]:
                continue
            fn_labels[fn].add(label)
            for inner in self.fn_nodes[fn].values():
                stack += [(callee, label) for callee, _ in self._callees(inner)]
        for labels in fn_labels.values():
            if not labels:
                labels.add(_OTHER)  # never called from the graph: user code may still call it
        return graph_labels, fn_labels

    # -- where a file name comes from ---------------------------------------------------

    def _asset_valued(self, scope: str | None, ref: str, seen: frozenset = frozenset()) -> bool:
        """Whether tensor `ref` (in the graph, or in function `scope`) always holds an asset's path."""
        if ref.startswith("^") or (scope, ref) in seen or len(seen) > 200:
            return False
        seen = seen | {(scope, ref)}
        if scope is None:
            name = _node_name(ref)
            if name in self.asset_nodes:
                return True  # fed by the loader with assets/<filename>
            node = self.nodes.get(name)
            if node is None:
                return False
            inputs = _data_inputs(node)
            if node.op in _PASS_THROUGH_OPS and inputs:
                return self._asset_valued(None, inputs[0], seen)
            if node.op == "ReadVariableOp" and inputs:
                # TF2 graphs keep an asset path in a variable assigned from the asset placeholder
                variable = _node_name(inputs[0])
                assigns = [
                    n
                    for n in self.nodes.values()
                    if n.op == "AssignVariableOp" and _data_inputs(n)[:1] and _node_name(_data_inputs(n)[0]) == variable
                ]
                return bool(assigns) and all(
                    len(_data_inputs(a)) > 1 and self._asset_valued(None, _data_inputs(a)[1], seen) for a in assigns
                )
            return False
        if ":" not in ref and ref in self.arg_index[scope]:
            return self._argument_asset_valued(scope, self.arg_index[scope][ref], seen)
        node = self.fn_nodes[scope].get(ref.split(":", 1)[0])
        inputs = _data_inputs(node) if node is not None else []
        if node is not None and node.op in _PASS_THROUGH_OPS and inputs:
            return self._asset_valued(scope, inputs[0], seen)
        return False

    def _argument_asset_valued(self, fn: str, index: int, seen: frozenset) -> bool:
        verdicts = []
        if fn in self.object_functions:
            bound = self.bindings.get(fn, [])
            first_bound = len(self.functions[fn].signature.input_arg) - len(bound)
            if index < first_bound:
                return False  # an argument whoever calls the function chooses
            verdicts.append(self._is_asset_object(bound[index - first_bound]))
        for scope, node, mapped in self.call_sites.get(fn, ()):
            inputs = _data_inputs(node)
            if not mapped or index >= len(inputs):
                return False
            verdicts.append(self._asset_valued(scope, inputs[index], seen))
        return bool(verdicts) and all(verdicts)

    # -- the verdicts --------------------------------------------------------------------

    def _judge(self, node: Any, scope: str | None, labels: set[str]) -> str | None:
        """Why `node` is refused, or None."""
        op = node.op
        if op in self.functions:
            return None  # a call: the callee is judged on its own
        if op in CHECKPOINT_WRITE_OPS:
            return None if labels == {_SAVE} else "writes a checkpoint outside the checkpoint saver"
        if op in CHECKPOINT_READ_OPS or op in CHECKPOINT_NAME_OPS:
            return None if labels <= {_SAVE, _RESTORE} else "reads checkpoint files outside the checkpoint saver"
        if op in TEXT_FILE_TABLE_OPS:
            inputs = _data_inputs(node)
            if len(inputs) > 1 and self._asset_valued(scope, inputs[1], frozenset()):
                return None
            return "fills a lookup table from a file that is not one of the SavedModel's assets"
        if op not in self.allowed:
            if op in NOT_COMPUTE_OPS:
                return NOT_COMPUTE_OPS[op]
            library = self.libraries.get(op)
            if library is None:
                return "is not a TensorFlow op Litesmith knows (a custom op?)"
            return _LIBRARY_REASONS.get(library, "is not on Litesmith's list of ops that only compute")
        if op == "PrintV2" and "output_stream" in node.attr:
            stream = node.attr["output_stream"].s.decode(errors="replace")
            if stream not in PRINT_STREAMS:
                return f"prints to {stream!r}"
        if op in PROTO_OPS and "descriptor_source" in node.attr:
            source = node.attr["descriptor_source"].s.decode(errors="replace")
            if source != "local://" and not source.startswith("bytes://"):
                return f"reads a protobuf descriptor file ({source!r})"
        return None

    def _where_function(self, name: str) -> str:
        role = self.roles.get(name)
        return f"function {name!r}" + (f" ({role})" if role else "")

    def problems(self) -> list[OpProblem]:
        found = []
        for name, node in self.nodes.items():
            reason = self._judge(node, None, self.graph_labels[name])
            if reason:
                found.append(OpProblem(node.op, f"graph node {name!r}", reason))
        for fname in self.functions:
            for node in self.fn_nodes[fname].values():
                reason = self._judge(node, fname, self.fn_labels[fname])
                if reason:
                    found.append(OpProblem(node.op, self._where_function(fname), reason))
        return found


def saved_model_op_problems(meta_graph: Any) -> list[OpProblem]:
    """What the op policy refuses in one MetaGraphDef (empty when fine). See COMPUTE_OP_LIBRARIES."""
    return _OpPolicy(meta_graph).problems()


def _op_refusal(folder: Path, problems: list[OpProblem]) -> BadInputError:
    unique = sorted(set(problems), key=str)
    shown = "; ".join(str(p) for p in unique[:3])
    more = f"; and {len(unique) - 3} more (see the details)" if len(unique) > 3 else ""
    return _bad(
        folder,
        "refused: the SavedModel uses ops that read or write files, run Python or are not on "
        f"Litesmith's list of ops that only compute: {shown}{more}. A model that only computes "
        "needs none of them: export it again without them (e.g. with model.export())",
        details="\n".join(str(p) for p in unique),
    )
