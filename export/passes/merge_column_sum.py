"""Pass: a column-sum convolution merged into the strided per-channel convolution that reads it.

:mod:`.split_narrow_convs` ends a narrow convolution with a grouped ``kh x 1`` column sum, one output
per group, at full resolution. In HFS-HNeRV that output (the reduced map ``R``) is read only by the
Haar DWT, a per-channel 2x2 stride-2 convolution (as :mod:`.haar_bands` leaves it), so the column sum is
a full-resolution pass whose result is read once and at a quarter of its positions. Two convolutions
with no operation between compose into one; per group ``o`` (``A``: ``kh`` inputs -> 1, kernel
``kA x 1``; ``B``: 1 input -> ``q`` outputs, kernel ``kB_h x kB_w``, stride ``s``, no padding)::

    W[o q + j, c, y, x] = sum_u B[o q + j, 0, u, x] A[o, c, y - u, 0]      (height kA + kB_h - 1)
    b[o q + j]          = b_A[o] sum_{u, x} B[o q + j, 0, u, x] + b_B[o q + j]

with ``B``'s stride and ``A``'s padding (exact when ``A`` keeps the height, as a "same" column sum
does: ``B`` then reads only rows ``A`` computed, and both read zeros past the border). The merged
convolution runs at ``B``'s output resolution. Its weights are a constant expression of ``A``'s and
``B``'s (a grouped ``Conv`` of ``A`` by ``B`` flipped with ``Gather``, ``Transpose``, ``MatMul``; folded
by the backends at load).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from .onnx_edit import add_const, attr, consumers, fresh_name, graph_outputs, producers, replace, shapes


def _plain(node: onnx.NodeProto) -> bool:
    return (attr(node, "auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET")
            and all(d == 1 for d in attr(node, "dilations", [1, 1])))


def _pair(b, made, users, known, outs):
    """``(A, B)`` when ``b`` is a per-channel convolution reading a one-output-per-group column sum."""
    a = made.get(b.input[0])
    if a is None or a.op_type != "Conv" or b.input[0] in outs or len(users[b.input[0]]) != 1:
        return None
    wa, wb = known.get(a.input[1]), known.get(b.input[1])
    if not wa or not wb or None in wa or None in wb or len(wa) != 4 or len(wb) != 4:
        return None
    groups = attr(a, "group", 1)
    top, left, bottom, right = attr(a, "pads", [0, 0, 0, 0])
    if not (_plain(a) and _plain(b) and wa[0] == groups and wa[3] == 1 and left == right == 0
            and top + bottom == wa[2] - 1 and all(s == 1 for s in attr(a, "strides", [1, 1]))
            and attr(b, "group", 1) == groups and wb[1] == 1 and wb[0] % groups == 0
            and not any(attr(b, "pads", [0, 0, 0, 0]))):
        return None
    return a, b


def _merged_weights(model, hint, a, b, wa, wb) -> tuple[list, str]:
    """Nodes for ``W`` (module docstring): ``Conv(A^T, flip(B), group O)`` transposed back."""
    o, c, ka, _ = wa
    _, _, kh, kw = wb
    names = {k: fresh_name(model, f"{hint}/{k}") for k in ("a_t", "flip_h", "flip", "w_t", "w")}
    nodes = [
        helper.make_node("Transpose", [a.input[1]], [names["a_t"]], perm=[1, 0, 2, 3]),  # [c, O, kA, 1]
        helper.make_node("Gather", [b.input[1], add_const(model, f"{hint}/rev_h", np.arange(kh)[::-1].copy())],
                         [names["flip_h"]], axis=2),
        helper.make_node("Gather", [names["flip_h"], add_const(model, f"{hint}/rev_w", np.arange(kw)[::-1].copy())],
                         [names["flip"]], axis=3),
        helper.make_node("Conv", [names["a_t"], names["flip"]], [names["w_t"]], group=o,
                         pads=[kh - 1, kw - 1, kh - 1, kw - 1]),  # [c, O q, kA + kh - 1, kw]
        helper.make_node("Transpose", [names["w_t"]], [names["w"]], perm=[1, 0, 2, 3]),
    ]
    for n in nodes:
        n.name = n.output[0]
    return nodes, names["w"]


def _merged_bias(model, hint, a, b, wa, wb) -> tuple[list, str | None]:
    """Nodes for ``b`` (module docstring), or no bias when neither convolution has one."""
    bias_a = a.input[2] if len(a.input) > 2 and a.input[2] else None
    bias_b = b.input[2] if len(b.input) > 2 and b.input[2] else None
    if bias_a is None:
        return [], bias_b
    o, q = wa[0], wb[0] // wa[0]
    names = {k: fresh_name(model, f"{hint}/{k}") for k in ("b2d", "sums", "sums2d", "ba", "scaled", "bias")}
    nodes = [
        helper.make_node("Reshape", [b.input[1], add_const(model, f"{hint}/b2d_shape", np.array([o * q, -1]))],
                         [names["b2d"]]),
        helper.make_node("MatMul", [names["b2d"], add_const(model, f"{hint}/ones",
                                                            np.ones((wb[2] * wb[3], 1), np.float32))],
                         [names["sums"]]),
        helper.make_node("Reshape", [names["sums"], add_const(model, f"{hint}/oq", np.array([o, q]))],
                         [names["sums2d"]]),
        helper.make_node("Reshape", [bias_a, add_const(model, f"{hint}/o1", np.array([o, 1]))], [names["ba"]]),
        helper.make_node("Mul", [names["sums2d"], names["ba"]], [names["scaled"]]),
        helper.make_node("Reshape", [names["scaled"], add_const(model, f"{hint}/flat", np.array([o * q]))],
                         [names["bias"]]),
    ]
    out = names["bias"]
    if bias_b is not None:
        total = fresh_name(model, f"{hint}/bias_total")
        nodes.append(helper.make_node("Add", [out, bias_b], [total]))
        out = total
    for n in nodes:
        n.name = n.output[0]
    return nodes, out


def merge_column_sum(model: onnx.ModelProto) -> onnx.ModelProto:
    """Merge every column sum read only by a strided per-channel convolution (module docstring)."""
    while True:
        made, users, known, outs = producers(model), consumers(model), shapes(model), graph_outputs(model)
        found = next((p for p in (_pair(n, made, users, known, outs) for n in model.graph.node
                                  if n.op_type == "Conv") if p is not None), None)
        if found is None:
            return model
        a, b = found
        wa, wb = known[a.input[1]], known[b.input[1]]
        hint = b.name or "column_sum"
        nodes, weight = _merged_weights(model, hint, a, b, wa, wb)
        extra, bias = _merged_bias(model, hint, a, b, wa, wb)
        top, _, bottom, _ = attr(a, "pads", [0, 0, 0, 0])
        merged = helper.make_node("Conv", [a.input[0], weight] + ([bias] if bias else []), list(b.output),
                                  name=hint, group=wa[0], strides=attr(b, "strides", [1, 1]),
                                  kernel_shape=[wa[2] + wb[2] - 1, wb[3]], pads=[top, 0, bottom, 0])
        replace(model, [a, b], nodes + extra + [merged])
