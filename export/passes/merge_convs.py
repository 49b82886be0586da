"""Pass: merge a Conv that feeds only another, unpadded Conv into one Conv (no nonlinearity between).

Two linear shift-invariant maps compose into one. With ``y = A * x`` (stride ``s_A``, group 1, pads ``P``)
and ``z = B * y`` (stride ``s_B``, no padding, any group; a grouped ``B`` is expanded to dense)::

    K[o, c, s_A u + i, s_A v + j] += sum_m B[o, m, u, v] A[m, c, i, j]      (kernel k_A + s_A (k_B - 1))
    bias[o] = b_B[o] + sum_{m, u, v} B[o, m, u, v] b_A[m]

and ``z = K * x`` with stride ``s_A s_B`` and ``A``'s pads: the same output size, every ``B`` window
reading only ``A`` outputs that exist. This is what folds the Haar ops: a lowered DWT is an unpadded 2x2
stride-2 conv, so ``conv -> DWT`` becomes one stride-2 conv; a lowered IDWT starts with a 1x1 conv, which
merges into the conv before it. ``B`` must be unpadded because ``B``'s zero padding of ``y`` is not
``A`` applied to a padded ``x`` (``A``'s bias and kernel reach into the padding).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from .onnx_edit import add_const, attr, const, only_feeds, producers, replace


def conv_params(model: onnx.ModelProto, node: onnx.NodeProto):
    """``(weight, bias)`` of a Conv with constant weights (bias zeros when absent), else None."""
    w = const(model, node.input[1])
    if w is None or w.ndim != 4:
        return None
    has_bias = len(node.input) > 2 and node.input[2]
    b = const(model, node.input[2]) if has_bias else np.zeros(w.shape[0], w.dtype)
    return None if b is None else (w, b)


def _plain(node: onnx.NodeProto) -> bool:
    return (node.op_type == "Conv" and attr(node, "auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET")
            and all(d == 1 for d in attr(node, "dilations", [1, 1])))


def mergeable(model: onnx.ModelProto, a: onnx.NodeProto | None, b: onnx.NodeProto) -> bool:
    """Whether Conv ``a`` followed by Conv ``b`` (reading ``a``'s output) merges exactly."""
    return (a is not None and _plain(a) and _plain(b) and attr(a, "group", 1) == 1
            and not any(attr(b, "pads", [0, 0, 0, 0])) and b.input[0] == a.output[0]
            and only_feeds(model, a.output[0], b)
            and conv_params(model, a) is not None and conv_params(model, b) is not None)


def cheaper(model: onnx.ModelProto, a: onnx.NodeProto, b: onnx.NodeProto) -> bool:
    """Whether the merged conv needs no more multiply-adds per output pixel than ``a`` then ``b``.

    Per output pixel of ``b``: ``a`` costs ``M C k_A^2 s_B^2``, ``b`` costs ``O (M / g_B) k_B^2``, the merged
    conv ``O C K^2``. A dense 1x1 after a narrow conv, for instance, would cost more merged than apart.
    """
    (wa, _), (wb, _) = conv_params(model, a), conv_params(model, b)
    sb = np.prod(attr(b, "strides", [1, 1]))
    sa = attr(a, "strides", [1, 1])
    kernel = np.prod([ka + s * (kb - 1) for ka, s, kb in zip(wa.shape[2:], sa, wb.shape[2:], strict=False)])
    apart = wa[0].size * wa.shape[0] * sb + wb.size
    return wb.shape[0] * wa.shape[1] * kernel <= apart


def compose(wa, ba, stride_a, wb, bb, group_b):
    """Weights ``(K, bias)`` of ``B o A`` (module docstring); float64 internally, dtype of ``wa`` out."""
    wa, wb = wa.astype(np.float64), wb.astype(np.float64)
    o, m_per = wb.shape[:2]
    dense = np.zeros((o, m_per * group_b, *wb.shape[2:]))
    out_per = o // group_b
    for g in range(group_b):
        dense[g * out_per:(g + 1) * out_per, g * m_per:(g + 1) * m_per] = wb[g * out_per:(g + 1) * out_per]
    (sh, sw), (kah, kaw), (kbh, kbw) = stride_a, wa.shape[2:], wb.shape[2:]
    k = np.zeros((o, wa.shape[1], kah + sh * (kbh - 1), kaw + sw * (kbw - 1)))
    for u in range(kbh):
        for v in range(kbw):
            tap = np.einsum("om,mcij->ocij", dense[:, :, u, v], wa)
            k[:, :, sh * u:sh * u + kah, sw * v:sw * v + kaw] += tap
    bias = bb + np.einsum("omuv,m->o", dense, ba.astype(np.float64))
    return k.astype(wa.dtype if wa.dtype != np.float64 else np.float32), bias.astype(np.float32)


def merge_pair(model: onnx.ModelProto, a: onnx.NodeProto, b: onnx.NodeProto) -> None:
    (wa, ba), (wb, bb) = conv_params(model, a), conv_params(model, b)
    stride_a, stride_b = attr(a, "strides", [1, 1]), attr(b, "strides", [1, 1])
    k, bias = compose(wa, ba, stride_a, wb, bb, attr(b, "group", 1))
    bias = bias.astype(wa.dtype)
    merged = helper.make_node(
        "Conv", [a.input[0], add_const(model, f"{b.name or 'conv'}_merged_w", k),
                 add_const(model, f"{b.name or 'conv'}_merged_b", bias)], list(b.output), name=b.name,
        kernel_shape=list(k.shape[2:]), strides=[sa * sb for sa, sb in zip(stride_a, stride_b, strict=False)],
        pads=attr(a, "pads", [0, 0, 0, 0]), group=1)
    replace(model, [a, b], [merged])


def merge_convs(model: onnx.ModelProto) -> onnx.ModelProto:
    """Merge every mergeable Conv -> Conv pair that does not cost more, repeatedly (chains collapse)."""
    while True:
        made = producers(model)
        pair = next(((made[n.input[0]], n) for n in model.graph.node if n.op_type == "Conv"
                     and mergeable(model, made.get(n.input[0]), n) and cheaper(model, made[n.input[0]], n)),
                    None)
        if pair is None:
            return model
        merge_pair(model, *pair)
