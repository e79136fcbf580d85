"""The SavedModel op allowlist: the ops that only compute, built from TensorFlow's own op
registry (`compute_op_allowlist`, over `op_libraries`), and why an op outside it is refused
(`NOT_COMPUTE_OPS`, `_LIBRARY_REASONS`). `core.models.op_policy` applies it to a MetaGraph.
"""

from __future__ import annotations

import functools


# -- SavedModel: the op allowlist -----------------------------------------------------
#
# An ALLOWLIST, not a denylist: an op runs only if it is known to compute and
# nothing else. The list is built from TensorFlow's own op registry
# (`tf.raw_ops`), grouped the way TensorFlow groups its op definitions: every
# op is generated into the Python module of the C++ library that registers it
# (math_ops.cc -> gen_math_ops, io_ops.cc -> gen_io_ops, script_ops.cc ->
# gen_script_ops, ...). We take whole libraries whose ops only transform
# tensors and in-memory resources (COMPUTE_OP_LIBRARIES), a few named ops from
# mixed libraries, and subtract the ops of those libraries that touch the host
# (NOT_COMPUTE_OPS). Why the registry and not a frozen list of names: a new
# TensorFlow adds compute ops (new math kernels, new versions such as
# BatchMatMulV3) to these same libraries, and Keras exports start using them;
# a frozen list would refuse ordinary models after an upgrade, while a new file
# or system op lands in io_ops, dataset_ops, summary_ops or script_ops, which
# are never on the list. An op that is not in the registry at all (a custom op,
# a typo, an op from a newer TensorFlow) is refused.

COMPUTE_OP_LIBRARIES = frozenset(
    {
        "gen_array_ops",
        "gen_math_ops",
        "gen_nn_ops",
        "gen_linalg_ops",
        "gen_special_math_ops",
        "gen_spectral_ops",
        "gen_bitwise_ops",
        "gen_manip_ops",
        "gen_image_ops",
        "gen_audio_ops",
        "gen_string_ops",
        "gen_parsing_ops",
        "gen_sparse_ops",
        "gen_sparse_csr_matrix_ops",
        "gen_ragged_array_ops",
        "gen_ragged_conversion_ops",
        "gen_ragged_math_ops",
        "gen_set_ops",
        "gen_count_ops",
        "gen_ctc_ops",
        "gen_random_ops",
        "gen_stateful_random_ops",
        "gen_stateless_random_ops",
        "gen_stateless_random_ops_v2",
        "gen_random_index_shuffle_ops",
        "gen_uniform_quant_ops",
        "gen_rnn_ops",
        "gen_cudnn_rnn_ops",
        "gen_list_ops",
        "gen_map_ops",
        "gen_optional_ops",
        "gen_composite_tensor_ops",
        "gen_state_ops",
        "gen_resource_variable_ops",  # variables
        "gen_training_ops",  # optimizer updates of variables (train signatures)
        "gen_lookup_ops",  # in-memory tables (text-file init: see op_policy)
        "gen_control_flow_ops",
        "gen_functional_ops",  # calls, If, While, Case (callees checked too)
        "gen_logging_ops",  # Assert, Print, summaries as strings (PrintV2: see op_policy)
        "gen_decode_proto_ops",
        "gen_encode_proto_ops",  # protobuf <-> tensors (descriptor files: see op_policy)
    }
)
# Compute ops from libraries that also hold host-touching ops (data_flow_ops has RecordInput,
# which reads files, next to TensorArrays and queues).
COMPUTE_OPS_ELSEWHERE = frozenset({"DynamicPartition", "DynamicStitch", "ParallelDynamicStitch"})
COMPUTE_OP_PREFIXES_ELSEWHERE = ("TensorArray", "Stack")  # gen_data_flow_ops: in-memory only
# Ops of the compute libraries that do something else.
NOT_COMPUTE_OPS = {
    "ImmutableConst": "maps a file into memory",
    "Abort": "ends the process",
    "RemoteCall": "runs a function on another machine",
}

TEXT_FILE_TABLE_OPS = frozenset({"InitializeTableFromTextFile", "InitializeTableFromTextFileV2"})

# Why an op outside the list is refused, by the library TensorFlow registers it in.
_LIBRARY_REASONS = {
    "gen_io_ops": "reads or writes files",
    "gen_checkpoint_ops": "reads checkpoint or vocabulary files",
    "gen_filesystem_ops": "changes file system settings",
    "gen_script_ops": "runs Python code",
    "gen_summary_ops": "writes summary files",
    "gen_debug_ops": "writes debug dumps",
    "gen_dataset_ops": "runs an input pipeline that can read files",
    "gen_experimental_dataset_ops": "runs an input pipeline that can read or write files",
    "gen_data_flow_ops": "is not an op a model that only computes needs (queues, staging, file records)",
    "gen_collective_ops": "talks to other devices or machines",
    "gen_nccl_ops": "talks to other devices",
    "gen_sendrecv_ops": "talks to other devices or machines",
    "gen_tpu_ops": "needs a TPU",
    "gen_tpu_partition_ops": "needs a TPU",
    "gen_xla_ops": "needs a TPU",
}


@functools.lru_cache(maxsize=1)
def op_libraries() -> dict[str, str]:
    """Every op TensorFlow registers for Python, with the library (`gen_*_ops`) that defines it."""
    from core.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    libraries = {}
    for name in dir(tf.raw_ops):
        if name.startswith("_"):
            continue
        module = getattr(getattr(tf.raw_ops, name), "__module__", "") or ""
        libraries[name] = module.rsplit(".", 1)[-1]
    return libraries


@functools.lru_cache(maxsize=1)
def compute_op_allowlist() -> frozenset[str]:
    """The ops that only compute (see the comment above COMPUTE_OP_LIBRARIES)."""
    allowed = set()
    for op, library in op_libraries().items():
        if (
            library in COMPUTE_OP_LIBRARIES
            or op in COMPUTE_OPS_ELSEWHERE
            or (library == "gen_data_flow_ops" and op.startswith(COMPUTE_OP_PREFIXES_ELSEWHERE))
        ):
            allowed.add(op)
    return frozenset(allowed - set(NOT_COMPUTE_OPS) - TEXT_FILE_TABLE_OPS)
