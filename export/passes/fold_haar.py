"""Pass: fold Haar nodes into neighbouring convolutions where that is exact.

- ``Conv -> HaarDWT``: the DWT is lowered to its unpadded 2x2 stride-2 conv (:mod:`.lower_haar`) and
  :mod:`.merge_convs` composes the two into ONE stride-2 conv with kernel ``k + 1`` and ``4C`` outputs
  (then a free Reshape and a Split into ``ll`` and ``high``). Exact when the conv output has even sides:
  an odd side would need the DWT's pad row, which is not a padding of the conv's input. This trades
  ``(k+1)^2 / k^2`` times the multiply-adds for never writing or reading the full-resolution conv output.
- ``HaarIDWT(ll = Conv_A(x), high = Reshape(Conv_B(x)))``, both convs on the same input with the same
  geometry: ``A`` and ``B`` become one conv with interleaved outputs (``4c`` from ``A``, ``4c + 1 + b``
  from ``B``'s channel ``3c + b``), the IDWT becomes its 1x1 conv plus DepthToSpace, and the 1x1 conv
  merges into that conv: ``conv -> DepthToSpace``, exactly a sub-pixel (PixelShuffle) conv.

Other Haar nodes are left as they are: :mod:`.lower_haar` lowers them for ONNX Runtime, TensorRT runs them
as plugins.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from ..haar_onnx import DWT_OP, IDWT_OP, is_haar
from .lower_haar import float_dtype, idwt_mix_nodes, lower_node
from .merge_convs import _plain, conv_params, merge_pair
from .onnx_edit import add_const, attr, fresh_name, only_feeds, producers, replace, shapes

_GEOMETRY = ("kernel_shape", "strides", "pads", "dilations", "group")


def _dwt_foldable(model, node, made, known) -> bool:
    conv = made.get(node.input[0])
    shape = known.get(node.input[0])
    return (conv is not None and conv.op_type == "Conv" and _plain(conv) and attr(conv, "group", 1) == 1
            and only_feeds(model, conv.output[0], node) and conv_params(model, conv) is not None
            and shape is not None and len(shape) == 4 and None not in shape[1:]
            and shape[2] % 2 == 0 and shape[3] % 2 == 0)


def _idwt_convs(model, node, made, known):
    """``(conv_A, reshape, conv_B)`` when the IDWT's inputs match the foldable pattern, else None."""
    a, r = made.get(node.input[0]), made.get(node.input[1])
    b = made.get(r.input[0]) if r is not None and r.op_type == "Reshape" else None
    if a is None or b is None or a.op_type != "Conv" or b.op_type != "Conv" or a.input[0] != b.input[0]:
        return None
    if any(attr(a, k) != attr(b, k) for k in _GEOMETRY) or not (_plain(a) and attr(a, "group", 1) == 1):
        return None
    c = known.get(node.input[0], [None, None])[1]
    if (c is None or known.get(b.output[0], [None, None])[1] != 3 * c
            or not (only_feeds(model, a.output[0], node) and only_feeds(model, r.output[0], node)
                    and only_feeds(model, b.output[0], r))):
        return None
    if conv_params(model, a) is None or conv_params(model, b) is None:
        return None
    return a, r, b


def _fold_idwt(model, node, a, r, b, c: int) -> None:
    (wa, ba), (wb, bb) = conv_params(model, a), conv_params(model, b)
    w = np.concatenate([wa.reshape(c, 1, *wa.shape[1:]), wb.reshape(c, 3, *wb.shape[1:])], 1)
    bias = np.concatenate([ba.reshape(c, 1), bb.reshape(c, 3)], 1).reshape(-1)
    bands = fresh_name(model, f"{node.output[0]}_bands")
    weight = add_const(model, "haar_heads_w", w.reshape(4 * c, *wa.shape[1:]))
    heads = helper.make_node("Conv", [a.input[0], weight, add_const(model, "haar_heads_b", bias)], [bands],
                            **{k: attr(a, k) for k in _GEOMETRY if attr(a, k) is not None})
    mix = idwt_mix_nodes(model, bands, node.output[0], c, float_dtype(model, node.output[0]))
    replace(model, [a, r, b, node], [heads, *mix])
    merge_pair(model, heads, mix[0])


def fold_haar(model: onnx.ModelProto) -> onnx.ModelProto:
    """Fold every foldable Haar node (module docstring)."""
    known = shapes(model)
    for node in [n for n in model.graph.node if is_haar(n)]:
        made = producers(model)
        if node.op_type == DWT_OP and _dwt_foldable(model, node, made, known):
            dwt_conv = next(n for n in lower_node(model, node, known) if n.op_type == "Conv")
            merge_pair(model, made[node.input[0]], dwt_conv)
        elif node.op_type == IDWT_OP and (match := _idwt_convs(model, node, made, known)):
            _fold_idwt(model, node, *match, known[node.input[0]][1])
    return model
