"""Pass: fold constants, including attention blocks' constant scalars, into weights.

1. Nodes whose inputs are all constants are evaluated once (``onnx.reference``) and become initializers.
2. A constant scale or shift right after a Conv, per output channel or scalar (enhancement weights,
   learnable residual scales, a gate's ``a * conv(x) + b`` before its sigmoid), joins the Conv:
   ``conv(x) * s = conv_{W s}(x)`` with bias ``b s``; ``conv(x) + t`` adds ``t`` to the bias; ``/ s`` and
   ``- t`` likewise, and ``t - conv(x)`` negates the weights.
3. A constant scale right before Convs (scalar or per input channel) joins their weights:
   ``conv(s x) = conv_{W s}(x)``; exact with zero padding because ``s * 0 = 0``.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from ..haar_onnx import is_haar
from .cleanup import bypass
from .merge_convs import conv_params
from .onnx_edit import (
    add_const,
    const,
    consumers,
    evaluate,
    graph_outputs,
    only_feeds,
    producers,
    remove_unused,
    shapes,
)

_AFFINE = ("Mul", "Div", "Add", "Sub")


def evaluate_constant_nodes(model: onnx.ModelProto, keep: frozenset[str] = frozenset()) -> onnx.ModelProto:
    """Evaluate every node whose inputs are all initializers (step 1); initializers named in ``keep``
    (weights that must stay under their names) do not count as constants."""
    inits = {i.name for i in model.graph.initializer} - keep
    for node in list(model.graph.node):
        if is_haar(node) or not node.input or not all(t in inits for t in node.input if t):
            continue
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute):
            continue
        results = evaluate(model, [node], {t: const(model, t) for t in node.input if t}, list(node.output))
        for name, value in zip(node.output, results, strict=False):
            model.graph.initializer.append(numpy_helper.from_array(value, name))
            inits.add(name)
        model.graph.node.remove(node)
    return remove_unused(model)


def _per_channel(value: np.ndarray | None, channels: int) -> np.ndarray | None:
    """``value`` as a length-``channels`` vector when it broadcasts over ``[N, C, H, W]`` per channel."""
    if value is None or value.ndim > 4 or value.dtype.kind != "f":
        return None
    v = value.reshape((1,) * (4 - value.ndim) + value.shape)
    if v.shape[0] != 1 or v.shape[2:] != (1, 1) or v.shape[1] not in (1, channels):
        return None
    return np.broadcast_to(v.reshape(-1), (channels,)).astype(np.float64)


def _set_conv(model, conv, w, b) -> None:
    hint = conv.name or "conv"
    conv.input[:] = [conv.input[0], add_const(model, f"{hint}_folded_w", w),
                     add_const(model, f"{hint}_folded_b", b)]


def fold_affine_after_conv(model: onnx.ModelProto) -> onnx.ModelProto:
    changed = True
    while changed:
        changed = False
        made = producers(model)
        for node in model.graph.node:
            if node.op_type not in _AFFINE:
                continue
            for side in (0, 1):
                conv = made.get(node.input[side])
                if conv is None or conv.op_type != "Conv" or not only_feeds(model, conv.output[0], node):
                    continue
                params = conv_params(model, conv)
                if params is None:
                    continue
                w, b = params
                v = _per_channel(const(model, node.input[1 - side]), w.shape[0])
                if v is None or (node.op_type == "Div" and side == 1):
                    continue
                scale, shift = {"Mul": (v, 0.0), "Div": (1.0 / v, 0.0), "Add": (1.0, v),
                                "Sub": (1.0, -v) if side == 0 else (-1.0, v)}[node.op_type]
                scale = np.broadcast_to(scale, (w.shape[0],))
                new_w = (w * scale[:, None, None, None]).astype(w.dtype)
                new_b = (b * scale + shift).astype(b.dtype)
                _set_conv(model, conv, new_w, new_b)
                node.input[:] = [conv.output[0]]
                node.op_type = "Identity"
                bypass(model, node)
                changed = True
                break
            if changed:
                break
    return remove_unused(model)


def fold_scale_before_conv(model: onnx.ModelProto) -> onnx.ModelProto:
    known = shapes(model)
    for node in list(model.graph.node):
        if node.op_type != "Mul" or node.output[0] in graph_outputs(model):
            continue
        readers = consumers(model)[node.output[0]]
        if not readers or any(r.op_type != "Conv" or r.input[0] != node.output[0]
                              or conv_params(model, r) is None for r in readers):
            continue
        for side in (0, 1):
            x, s = node.input[side], const(model, node.input[1 - side])
            shape = known.get(x)
            if shape is None or len(shape) != 4 or shape[1] is None:
                continue
            v = _per_channel(s, shape[1])
            if v is None or any(conv_params(model, r)[0].shape[1] != shape[1] for r in readers):
                continue  # grouped convs read a channel slice per group; keep it simple and exact
            for r in readers:
                w, b = conv_params(model, r)
                _set_conv(model, r, (w * v[None, :, None, None]).astype(w.dtype), b)
                r.input[0] = x
            break
    return remove_unused(model)


def fold_constants(model: onnx.ModelProto) -> onnx.ModelProto:
    return fold_scale_before_conv(fold_affine_after_conv(evaluate_constant_nodes(model)))
