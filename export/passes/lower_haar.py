"""Pass: replace every remaining Haar node by standard ONNX ops (the "lowered, not folded" form).

Both transforms become convolutions, which every runtime does well and :mod:`.merge_convs` can fuse:

- ``HaarDWT``: ``[Pad] -> Conv(W [4C, 1, 2, 2], group C, stride 2) -> Reshape [N, C, 4, h, w] -> Split``
  into ``ll`` (squeezed) and ``high``. Output channel ``4c + band`` is the correlation of channel ``c``
  with ``HAAR_FILTERS[band]``. An odd side is padded by one at the end: zeros through the Conv's own
  ``pads`` for mode ``zero``, a ``Pad`` node (``edge``) for ``periodization``.
- ``HaarIDWT``: ``Concat([ll, high], axis 2) -> Reshape [N, 4C, h, w] -> Conv 1x1 (group C) ->
  DepthToSpace(2, CRD)``: the 1x1 conv maps the four bands of channel ``c`` to the four pixels of its 2x2
  block (``HAAR_FILTERS`` transposed) and DepthToSpace puts them in place (``4c + 2 di + dj`` ->
  ``x[c, 2i + di, 2j + dj]``, PixelShuffle's order).

Channels and spatial sizes must be static (batch may be dynamic); opset >= 13.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from ..haar_onnx import DWT_OP, HAAR_FILTERS, dwt_mode, is_haar
from .onnx_edit import add_const, fresh_name, replace, shapes


def dwt_weight(channels: int, dtype=np.float32) -> np.ndarray:
    """``[4C, 1, 2, 2]``: the grouped conv of the lowered DWT (row ``4c + band``)."""
    return np.tile(HAAR_FILTERS, (channels, 1, 1))[:, None].astype(dtype)


def idwt_weight(channels: int, dtype=np.float32) -> np.ndarray:
    """``[4C, 4, 1, 1]``: the grouped 1x1 conv of the lowered IDWT (row ``4c + 2 di + dj``, column band)."""
    per_block = HAAR_FILTERS.reshape(4, 4).T  # [pixel 2di+dj, band]
    return np.tile(per_block, (channels, 1))[:, :, None, None].astype(dtype)


def dwt_nodes(model, x: str, ll: str, high: str, shape: list, mode: str, dtype) -> list[onnx.NodeProto]:
    """Standard-op HaarDWT from ``x`` (static ``shape`` [N, C, H, W]) to the tensors ``ll`` and ``high``."""
    _, c, h, w = shape
    odd_h, odd_w = h % 2, w % 2
    nodes, conv_pads = [], [0, 0, odd_h, odd_w]
    if (odd_h or odd_w) and mode != "zero":
        padded = fresh_name(model, f"{x}_haar_pad")
        pads = add_const(model, "haar_pads", np.array([0, 0, 0, 0, 0, 0, odd_h, odd_w], np.int64))
        nodes.append(helper.make_node("Pad", [x, pads], [padded], mode="edge"))
        x, conv_pads = padded, [0, 0, 0, 0]
    bands = fresh_name(model, f"{ll}_bands")
    weight = add_const(model, "haar_dwt_w", dwt_weight(c, dtype))
    nodes.append(helper.make_node("Conv", [x, weight], [bands], kernel_shape=[2, 2], strides=[2, 2],
                                  pads=conv_pads, group=c))
    nodes += dwt_split_nodes(model, bands, ll, high, c, (h + 1) // 2, (w + 1) // 2)
    return nodes


def dwt_split_nodes(model, bands: str, ll: str, high: str, c: int, h: int, w: int) -> list[onnx.NodeProto]:
    """``bands [N, 4C, h, w]`` (channel ``4c + band``) -> ``ll [N, C, h, w]``, ``high [N, C, 3, h, w]``."""
    five = fresh_name(model, f"{bands}_5d")
    ll5 = fresh_name(model, f"{ll}_5d")
    shape = add_const(model, "haar_shape", np.array([0, c, 4, h, w]))
    split = add_const(model, "haar_split", np.array([1, 3]))
    return [
        helper.make_node("Reshape", [bands, shape], [five]),
        helper.make_node("Split", [five, split], [ll5, high], axis=2),
        helper.make_node("Squeeze", [ll5, add_const(model, "haar_axis", np.array([2]))], [ll]),
    ]


def idwt_mix_nodes(model, bands: str, out: str, c: int, dtype) -> list[onnx.NodeProto]:
    """``bands [N, 4C, h, w]`` (channel ``4c + band``) -> ``out [N, C, 2h, 2w]``: 1x1 conv + DepthToSpace."""
    pixels = fresh_name(model, f"{out}_pixels")
    weight = add_const(model, "haar_idwt_w", idwt_weight(c, dtype))
    return [helper.make_node("Conv", [bands, weight], [pixels], kernel_shape=[1, 1], group=c),
            helper.make_node("DepthToSpace", [pixels], [out], blocksize=2, mode="CRD")]


def idwt_nodes(model, ll: str, high: str, out: str, shape: list, dtype) -> list[onnx.NodeProto]:
    """Standard-op HaarIDWT of ``ll`` (static ``shape`` [N, C, h, w]) and ``high`` into ``out``."""
    _, c, h, w = shape
    ll5, cat, bands = (fresh_name(model, f"{out}_{s}") for s in ("ll5d", "cat", "bands"))
    return [
        helper.make_node("Unsqueeze", [ll, add_const(model, "haar_axis", np.array([2]))], [ll5]),
        helper.make_node("Concat", [ll5, high], [cat], axis=2),
        helper.make_node("Reshape", [cat, add_const(model, "haar_shape", np.array([0, 4 * c, h, w]))],
                         [bands]),
        *idwt_mix_nodes(model, bands, out, c, dtype),
    ]


def float_dtype(model: onnx.ModelProto, tensor: str):
    """numpy float dtype of ``tensor`` (fp16 graphs get fp16 Haar weights)."""
    for v in (*model.graph.input, *model.graph.value_info, *model.graph.output):
        if v.name == tensor and v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT16:
            return np.float16
    return np.float32


def static_shape(known: dict, tensor: str, node: onnx.NodeProto) -> list:
    shape = known.get(tensor)
    if shape is None or len(shape) != 4 or any(s is None for s in shape[1:]):
        raise ValueError(f"{node.op_type} node {node.name!r}: input {tensor!r} needs static C, H, W "
                         f"to be lowered (got {shape})")
    return shape


def lower_node(model: onnx.ModelProto, node: onnx.NodeProto, known: dict) -> list[onnx.NodeProto]:
    """Replace one Haar node by its standard-op form; returns the new nodes."""
    shape = static_shape(known, node.input[0], node)
    dtype = float_dtype(model, node.input[0])
    if node.op_type == DWT_OP:
        new = dwt_nodes(model, node.input[0], *node.output, shape, dwt_mode(node), dtype)
    else:
        new = idwt_nodes(model, *node.input, node.output[0], shape, dtype)
    replace(model, [node], new)
    return new


def lower_haar(model: onnx.ModelProto) -> onnx.ModelProto:
    """Lower every Haar node; afterwards the graph holds standard ONNX ops only."""
    known = shapes(model)
    for node in [n for n in model.graph.node if is_haar(n)]:
        lower_node(model, node, known)
    return model
