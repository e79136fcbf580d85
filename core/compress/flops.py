"""Multiply-accumulate counts of the layers that dominate inference time.

FLOPs are reported as 2 x MACs of Dense, Conv and DepthwiseConv layers (batch 1);
element-wise layers (BatchNorm, activations, Add) are not counted, since the
converter folds BatchNorm into the convolution and the rest is cheap.
"""

from __future__ import annotations

import numpy as np

from core.compress.graph import functional_view, ordered_nodes


def _prod(values) -> int:
    return int(np.prod([int(v) for v in values], dtype=np.int64)) if len(values) else 1


def count_macs(model) -> int:
    total = 0
    graph = functional_view(model)
    for node in ordered_nodes(graph):
        layer = node.operation
        if layer is None or node.is_input or not node.input_tensors:
            continue
        cls = type(layer).__name__
        in_shape = tuple(node.input_tensors[0].shape)
        out_shape = tuple(node.outputs[0].shape)
        if any(d is None for d in in_shape[1:]) or any(d is None for d in out_shape[1:]):
            continue
        if cls == "Dense":
            total += _prod(out_shape[1:-1]) * int(in_shape[-1]) * int(out_shape[-1])
        elif cls in ("Conv1D", "Conv2D", "Conv3D"):
            groups = int(getattr(layer, "groups", 1) or 1)
            total += _prod(out_shape[1:-1]) * _prod(layer.kernel_size) * (int(in_shape[-1]) // groups) * int(out_shape[-1])
        elif cls in ("DepthwiseConv1D", "DepthwiseConv2D"):
            total += _prod(out_shape[1:-1]) * _prod(layer.kernel_size) * int(out_shape[-1])
        elif cls in ("SeparableConv1D", "SeparableConv2D"):
            m = int(getattr(layer, "depth_multiplier", 1))
            spatial = _prod(out_shape[1:-1])
            total += spatial * _prod(layer.kernel_size) * int(in_shape[-1]) * m
            total += spatial * int(in_shape[-1]) * m * int(out_shape[-1])
        elif hasattr(layer, "layers") and hasattr(layer, "_nodes_by_depth"):
            total += count_macs(layer)
    return total


def count_flops(model) -> int:
    return 2 * count_macs(model)
