"""Pass: HFS-HNeRV's up-sampled Haar band branches as one half-resolution convolution and a DepthToSpace.

HFS-HNeRV's spatial attention (Eq. 11-14, ``trainer/families/hfs_hnerv.py``) takes the Haar DWT of the
reduced map ``R`` ``[N, m, H, W]`` and builds four full-resolution branches
``B_i = Phi_i Up2x(band_i) + R`` that are concatenated. As exported that is four bilinear resizes, four
multiplies and four adds at full resolution, each a pass over memory. With ``H`` and ``W`` even:

- bilinear 2x up-sampling (``align_corners=False``, ``half_pixel``) of a band ``b`` ``[h, w]`` is, per
  output pixel ``(2i + a, 2j + c)``, a 2x2 stencil of the edge-padded band: rows ``(1/4, 3/4, 0)`` for
  ``a = 0`` and ``(0, 3/4, 1/4)`` for ``a = 1`` over ``b[i - 1 .. i + 1]`` (the clamp of the source
  coordinate at the borders is the edge padding), columns likewise;
- ``R`` itself is the inverse Haar transform of its four bands: ``R(2i + a, 2j + c) = sum_band
  F[band, a, c] band(i, j)`` (``HAAR_FILTERS``; exact for even sides, where the DWT pads nothing).

So every branch pixel is a linear function of the 3x3 neighbourhood of the four bands of its channel
at half resolution: ``Z = Conv3x3(Pad_edge(DWT(R)), group m)`` with ``16 m`` outputs (channel ``k``'s
4 bands -> 4 branches x 4 pixel phases), then ``DepthToSpace(2, CRD)`` gives the four branches at full
size in channel order ``(k, branch)``. The weights ``Phi_i U_phase + F`` are a constant expression of the
graph's own ``Phi_i`` (``Concat``, ``Reshape``, ``Mul``, ``Add``; folded by the backends at
load). The convolution that reads the concatenation (through element-wise ops only) gets its input
channels permuted to match (``Gather`` on its weight). Element-wise work that follows (the GELU) can then
join the half-resolution convolution (:mod:`.sink_concat`, :mod:`.sink_depth_to_space`).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from ..haar_onnx import DWT_OP, HAAR_DOMAIN, HAAR_FILTERS
from .lower_haar import dwt_weight
from .onnx_edit import (
    add_const,
    attr,
    constant_value,
    consumers,
    fresh_name,
    graph_outputs,
    producers,
    remove_unused,
    replace,
    shapes,
)
from .sink_depth_to_space import elementwise_chain

_ROWS = np.array([[0.25, 0.75, 0.0], [0.0, 0.75, 0.25]])
"""Bilinear 2x up-sampling: output phase ``a`` from input rows ``i - 1, i, i + 1`` (edge-padded)."""


def branch_weights() -> tuple[np.ndarray, np.ndarray]:
    """``(A, B)`` ``[4 branch, 4 phase, 4 band, 3, 3]``: the half-resolution kernel of one channel's
    branches is ``A Phi[branch] + B`` (up-sampling of band ``branch`` plus the inverse Haar of all four)."""
    up = np.einsum("ay,cx->acyx", _ROWS, _ROWS).reshape(4, 3, 3)  # phase 2a + c
    a = np.zeros((4, 4, 4, 3, 3))
    b = np.zeros((4, 4, 4, 3, 3))
    for branch in range(4):
        a[branch, :, branch] = up
        b[branch, :, :, 1, 1] = HAAR_FILTERS.reshape(4, 4).T  # [phase, band]
    return a, b


def _one_element(shape: list | None) -> bool:
    return shape is not None and None not in shape and int(np.prod(shape)) == 1


def _is_up2x(model, node, known) -> bool:
    """Whether ``node`` is a bilinear ``half_pixel`` Resize of a 4-d tensor by exactly 2 in H and W."""
    if node is None or node.op_type != "Resize" or len(node.input) < 3:
        return False
    if (attr(node, "mode", b"") not in (b"linear", "linear")
            or attr(node, "coordinate_transformation_mode", b"") not in (b"half_pixel", "half_pixel")):
        return False
    src = known.get(node.input[0])
    if not src or len(src) != 4 or None in src[1:]:
        return False
    if len(node.input) > 3 and node.input[3]:
        sizes = constant_value(model, node.input[3])
        return sizes is not None and list(sizes.reshape(-1)[1:]) == [src[1], 2 * src[2], 2 * src[3]]
    scales = constant_value(model, node.input[2])
    return scales is not None and np.array_equal(scales.reshape(-1), [1, 1, 2, 2])


def _band(tensor, made) -> tuple[onnx.NodeProto, int] | None:
    """``(HaarDWT node, band 0..3)`` when ``tensor`` is one band of a DWT (``ll``, or one slice of ``high``
    split along its band axis and squeezed)."""
    node = made.get(tensor)
    if node is not None and node.domain == HAAR_DOMAIN and node.op_type == DWT_OP and tensor == node.output[0]:
        return node, 0
    if node is None or node.op_type != "Squeeze":
        return None
    split = made.get(node.input[0])
    if split is None or split.op_type != "Split" or attr(split, "axis") != 2 or len(split.output) != 3:
        return None
    dwt = made.get(split.input[0])
    if dwt is None or dwt.domain != HAAR_DOMAIN or dwt.op_type != DWT_OP or split.input[0] != dwt.output[1]:
        return None
    return dwt, 1 + list(split.output).index(node.input[0])


def _branch(model, add, made, users, known):
    """``(scale, dwt, band, nodes)`` for ``add = scale * Up2x(band) + DWT input``, else None."""
    if add is None or add.op_type != "Add":
        return None
    for mul_t, r in (add.input, add.input[::-1]):
        mul = made.get(mul_t)
        if mul is None or mul.op_type != "Mul" or len(users[mul_t]) != 1:
            continue
        for s, up_t in (mul.input, mul.input[::-1]):
            up = made.get(up_t)
            if not _one_element(known.get(s)) or len(users[up_t]) != 1 or not _is_up2x(model, up, known):
                continue
            found = _band(up.input[0], made)
            if found is not None and found[0].input[0] == r:
                return s, found[0], found[1], [add, mul, up]
    return None


def _match(model, cat, made, users, known):
    """``(start, scales, dwt, old nodes, conv)`` for four branches of one DWT at ``cat`` inputs ``start..+3``."""
    scalars = {t for t, s in known.items() if _one_element(s)}
    chain = elementwise_chain(model, cat.output[0], scalars)
    readers = [u for n in chain for t in n.output for u in users[t] if u not in chain] + [
        u for u in users[cat.output[0]] if u not in chain]
    if (len(readers) != 1 or readers[0].op_type != "Conv" or attr(readers[0], "group", 1) != 1
            or not known.get(readers[0].input[1])):
        return None
    if any(t in graph_outputs(model) for n in chain for t in n.output) or cat.output[0] in graph_outputs(model):
        return None
    for start in range(len(cat.input) - 3):
        found = [_branch(model, made.get(t), made, users, known) for t in cat.input[start:start + 4]]
        if None in found or any(len(users[t]) != 1 for t in cat.input[start:start + 4]):
            continue
        dwts = {id(f[1]) for f in found}
        shape = known.get(found[0][1].input[0])
        before = [known.get(t) for t in cat.input[:start]]
        if (len(dwts) == 1 and [f[2] for f in found] == [0, 1, 2, 3] and shape and None not in shape[1:]
                and shape[2] % 2 == 0 and shape[3] % 2 == 0 and all(b and b[1] for b in before)):
            return start, [f[0] for f in found], found[0][1], [n for f in found for n in f[3]], readers[0]
    return None


def _weights(model, hint: str, scales: list[str], m: int) -> tuple[list, str]:
    """Nodes computing the ``[16 m, 4, 3, 3]`` kernel ``A Phi + B`` from the four one-element scales."""
    a, b = branch_weights()
    one = add_const(model, f"{hint}/one", np.array([1], np.int64))
    names = [fresh_name(model, f"{hint}/phi{i}") for i in range(4)]
    nodes = [helper.make_node("Reshape", [s, one], [n], name=n) for s, n in zip(scales, names, strict=True)]
    phi, phi6, scaled, per, tiled, kernel = (fresh_name(model, f"{hint}/{k}")
                                             for k in ("phi", "phi6", "scaled", "per", "tiled", "w"))
    nodes += [
        helper.make_node("Concat", names, [phi], name=phi, axis=0),
        helper.make_node("Reshape", [phi, add_const(model, f"{hint}/phi_shape", np.array([1, 4, 1, 1, 1, 1]))],
                         [phi6], name=phi6),
        helper.make_node("Mul", [add_const(model, f"{hint}/up", a[None].astype(np.float32)), phi6], [scaled],
                         name=scaled),
        helper.make_node("Add", [scaled, add_const(model, f"{hint}/idwt", b[None].astype(np.float32))], [per],
                         name=per),
        helper.make_node("Concat", [per] * m, [tiled], name=tiled, axis=0),  # one copy per channel group
        helper.make_node("Reshape", [tiled, add_const(model, f"{hint}/w_shape", np.array([16 * m, 4, 3, 3]))],
                         [kernel], name=kernel),
    ]
    return nodes, kernel


def haar_bands(model: onnx.ModelProto) -> onnx.ModelProto:
    """Rewrite every group of four up-sampled Haar band branches (module docstring)."""
    while True:
        made, users, known = producers(model), consumers(model), shapes(model)
        found = None
        for cat in (n for n in model.graph.node if n.op_type == "Concat" and attr(n, "axis") == 1):
            found = _match(model, cat, made, users, known)
            if found is not None:
                break
        if found is None:
            return remove_unused(model)
        start, scales, dwt, old, conv = found
        r = dwt.input[0]
        m = known[r][1]
        offset = sum(known[t][1] for t in cat.input[:start])
        hint = fresh_name(model, f"{dwt.name or r}/branches")
        nodes, kernel = _weights(model, hint, scales, m)
        bands, padded, z, g = (fresh_name(model, f"{hint}/{k}") for k in ("bands", "padded", "z", "out"))
        nodes += [
            helper.make_node("Conv", [r, add_const(model, f"{hint}/haar", dwt_weight(m))], [bands], name=bands,
                             kernel_shape=[2, 2], strides=[2, 2], group=m),
            helper.make_node("Pad", [bands, add_const(model, f"{hint}/pads", np.array([0, 0, 1, 1, 0, 0, 1, 1]))],
                             [padded], name=padded, mode="edge"),
            helper.make_node("Conv", [padded, kernel], [z], name=z, kernel_shape=[3, 3], group=m),
            helper.make_node("DepthToSpace", [z], [g], name=g, blocksize=2, mode="CRD"),
        ]
        # channel (k, branch) of g was channel (branch, k) of the concatenation
        total = known[conv.input[1]][1]
        order = np.arange(total)
        order[offset:offset + 4 * m] = offset + np.arange(4 * m).reshape(4, m).T.reshape(-1)
        permuted = fresh_name(model, f"{conv.name or 'conv'}/w_permuted")
        nodes.append(helper.make_node("Gather", [conv.input[1], add_const(model, f"{hint}/order", order)],
                                      [permuted], name=permuted, axis=1))
        conv.input[1] = permuted
        inputs = list(cat.input)
        inputs[start:start + 4] = [g]
        cat.input[:] = inputs
        replace(model, old, nodes)
