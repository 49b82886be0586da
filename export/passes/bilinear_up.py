"""Pass: bilinear up-sampling by an integer factor as an edge pad, a grouped 3x3 conv and a DepthToSpace.

``Resize(x, mode=linear, half_pixel)`` by an integer ``s`` in H and W (PyTorch's ``interpolate(...,
mode="bilinear", align_corners=False)``; HFS-HNeRV's MSFRP skip, 4x) reads, for output row ``s k + p``,
the source coordinate ``k + d_p`` with ``d_p = (p + 1/2) / s - 1/2`` in ``(-1/2, 1/2)``: the weights
``(-d_p, 1 + d_p)`` on rows ``k - 1, k`` when ``d_p < 0``, else ``(1 - d_p, d_p)`` on rows ``k, k + 1``
(:func:`bilinear_taps`). Coordinates outside the image are clamped to its edge, which is the same as
reading an edge-padded input. So per channel::

    Resize(x) = DepthToSpace(Conv3x3(Pad_edge(x, 1), W, group C), s, CRD),  W[c s^2 + s p + q] = t_p t_q^T

with ``s^2`` outputs per channel (the pixel phases). The kernel is a constant of the factor alone. The
convolution runs at the input's resolution and costs ``9`` multiply-adds per output value.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from .onnx_edit import add_const, attr, constant_value, fresh_name, replace, shapes


def bilinear_taps(s: int) -> np.ndarray:
    """``[s, 3]``: output phase ``p`` of a bilinear ``s``-fold up-sampling from input ``k - 1, k, k + 1``."""
    taps = np.zeros((s, 3))
    for p in range(s):
        d = (p + 0.5) / s - 0.5
        if d < 0:
            taps[p, :2] = -d, 1 + d
        else:
            taps[p, 1:] = 1 - d, d
    return taps


def bilinear_kernel(s: int) -> np.ndarray:
    """``[s^2, 3, 3]``: the 2-d kernel of each output phase ``s p + q`` (rows ``p``, columns ``q``)."""
    taps = bilinear_taps(s)
    return np.einsum("py,qx->pqyx", taps, taps).reshape(s * s, 3, 3)


def integer_factor(model: onnx.ModelProto, node: onnx.NodeProto, known: dict) -> int | None:
    """The factor ``s >= 2`` when ``node`` is a bilinear ``half_pixel`` Resize of a 4-d tensor by ``s`` in
    both H and W and nothing in N or C, else None."""
    if node.op_type != "Resize" or len(node.input) < 3:
        return None
    if (attr(node, "mode", b"") not in (b"linear", "linear")
            or attr(node, "coordinate_transformation_mode", b"") not in (b"half_pixel", "half_pixel")):
        return None
    src = known.get(node.input[0])
    if not src or len(src) != 4 or None in src[1:]:
        return None
    if len(node.input) > 3 and node.input[3]:
        sizes = constant_value(model, node.input[3])
        if sizes is None or sizes.size != 4:
            return None
        s = int(sizes[2]) // src[2]
        ok = list(sizes[1:]) == [src[1], s * src[2], s * src[3]]
    else:
        scales = constant_value(model, node.input[2])
        if scales is None or scales.size != 4:
            return None
        s = int(scales[2])
        ok = np.array_equal(scales, np.array([1, 1, s, s], scales.dtype))
    return s if ok and s >= 2 else None


def bilinear_up(model: onnx.ModelProto) -> onnx.ModelProto:
    """Rewrite every integer-factor bilinear Resize (module docstring)."""
    known = shapes(model)
    for node in list(model.graph.node):
        s = integer_factor(model, node, known)
        if s is None:
            continue
        c = known[node.input[0]][1]
        hint = node.name or "resize"
        padded, phases = (fresh_name(model, f"{hint}/{k}") for k in ("padded", "phases"))
        kernel = np.tile(bilinear_kernel(s), (c, 1, 1))[:, None].astype(np.float32)
        replace(model, [node], [
            helper.make_node("Pad", [node.input[0], add_const(model, f"{hint}/pads", np.array([0, 0, 1, 1] * 2))],
                             [padded], name=padded, mode="edge"),
            helper.make_node("Conv", [padded, add_const(model, f"{hint}/kernel", kernel)], [phases], name=phases,
                             kernel_shape=[3, 3], group=c),
            helper.make_node("DepthToSpace", [phases], list(node.output), name=hint, blocksize=s, mode="CRD"),
        ])
    return model
