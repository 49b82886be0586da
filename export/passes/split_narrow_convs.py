"""Pass: a large-kernel convolution with few output channels as a row convolution and a column sum.

HFS-HNeRV's spatial attention reduces its features with 7x7 convolutions to ``C/r`` (3-4) channels and
to one channel (``S``, Eq. 15-16). A CPU convolution kernel vectorises over output channels (16 fp32 or
32 bf16 lanes on AVX-512), so one or three output channels leave most lanes idle: the 30 -> 1 7x7
convolution of the last stage ran at a sixteenth of the rate of HNeRV's convolutions. Splitting the
kernel by rows gives ``kh`` times the output channels for the same multiply-adds::

    y[o kh + dy](i, j) = sum_{c, dx} W[o, c, dy, dx] x(i, j + dx - pad_left)       (1 x kw, O kh outputs)
    out[o](i, j)       = b[o] + sum_dy y[o kh + dy](i + dy - pad_top, j)           (kh x 1, groups O)

The second convolution's weights are 0/1 selectors (``E[o, dy, dy] = 1``) costing ``O kh^2`` multiply-adds
per pixel beside the first one's ``O C kh kw`` (a few per cent at these widths). Zero padding splits
the same way: rows outside the image are zero in ``x``'s padding and in ``y``'s. The row kernels are a
constant expression of the package weight (``Transpose``, ``Reshape``; folded by the backends at load).

Applied to convolutions with fewer than :data:`MAX_OUT` output channels, one group, unit stride and
dilation, and ``kh >=`` :data:`MIN_KERNEL` (measured on this CPU: the 7x7 ones run 1.2-2.4x faster
in OpenVINO fp32/bf16 and ONNX Runtime; a 3x3 head with 3 outputs runs 8x slower in ONNX Runtime split,
so small kernels stay whole). Sums reorder, values do not change beyond float rounding.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from .onnx_edit import add_const, attr, fresh_name, replace, shapes

MAX_OUT = 8
MIN_KERNEL = 5


def _splittable(node: onnx.NodeProto, known: dict) -> bool:
    w = known.get(node.input[1]) if node.op_type == "Conv" and len(node.input) > 1 else None
    return (w is not None and len(w) == 4 and None not in w and w[0] < MAX_OUT and w[2] >= MIN_KERNEL
            and attr(node, "group", 1) == 1 and attr(node, "auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET")
            and all(s == 1 for s in attr(node, "strides", [1, 1]))
            and all(d == 1 for d in attr(node, "dilations", [1, 1])))


def split_narrow_convs(model: onnx.ModelProto) -> onnx.ModelProto:
    """Split every narrow large-kernel convolution (module docstring)."""
    known = shapes(model)
    for node in [n for n in model.graph.node if _splittable(n, known)]:
        o, c, kh, kw = known[node.input[1]]
        top, left, bottom, right = attr(node, "pads", [0, 0, 0, 0])
        hint = node.name or "narrow_conv"
        moved, rows, mid = (fresh_name(model, f"{hint}/{k}") for k in ("w_rows_first", "w_rows", "rows"))
        selector = np.zeros((o, kh, kh, 1), np.float32)
        selector[:, np.arange(kh), np.arange(kh), 0] = 1.0
        shape = add_const(model, f"{hint}/rows_shape", np.array([o * kh, c, 1, kw], np.int64))
        nodes = [
            helper.make_node("Transpose", [node.input[1]], [moved], name=moved, perm=[0, 2, 1, 3]),
            helper.make_node("Reshape", [moved, shape], [rows], name=rows),
            helper.make_node("Conv", [node.input[0], rows], [mid], name=mid, kernel_shape=[1, kw],
                             pads=[0, left, 0, right]),
            helper.make_node("Conv", [mid, add_const(model, f"{hint}/column_sum", selector), *node.input[2:]],
                             list(node.output), name=hint, kernel_shape=[kh, 1], pads=[top, 0, bottom, 0],
                             group=o),
        ]
        replace(model, [node], nodes)
    return model
