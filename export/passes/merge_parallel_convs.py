"""Pass: two convolutions of the same input that are summed become one, ``A(x) + s B(x) = (A + s B)(x)``.

CF-NeRV's error-aware head (Eq. 7) is ``Conv3_main(F) + beta Conv3_err(F)``: two 3-output-channel
convolutions over the full-resolution features, each of which wastes most of the CPU's vector lanes
(a 3-channel output fills 3 of 16). Convolution is linear in its weights, so with the same geometry
(kernel, strides, pads, dilations, groups) the sum is one convolution with weights ``W_A + s W_B`` and
bias ``b_A + s b_B``; ``s`` is a one-element constant (or absent). The new weights are constant
expressions of the package's own weights (folded by the backends at load, by ``fold=True`` at export):
no stored weight changes. Half the multiply-adds of the pair, and one pass over the features instead
of two; float32 rounds the weight sum once, far inside the exported graphs' 1e-4 check.
"""

from __future__ import annotations

import math

import onnx
from onnx import helper

from .onnx_edit import constant_tensors, consumers, fresh_name, producers, replace, shapes

_GEOMETRY = ("kernel_shape", "strides", "pads", "dilations", "group", "auto_pad")


def _conv(node, users) -> bool:
    return (node is not None and node.op_type == "Conv" and len(node.input) == 3
            and len(users[node.output[0]]) == 1)


def _scaled_conv(tensor, made, users, constant, known):
    """``(conv, scale or None, nodes)`` when ``tensor`` is ``Conv(x)`` or ``s * Conv(x)`` (one-element ``s``)."""
    node = made.get(tensor)
    if _conv(node, users):
        return node, None, [node]
    if node is None or node.op_type != "Mul" or len(users[tensor]) != 1:
        return None
    for side in (0, 1):
        s, conv = node.input[side], made.get(node.input[1 - side])
        if s in constant and math.prod(known.get(s) or [0]) == 1 and _conv(conv, users):
            return conv, s, [conv, node]
    return None


def merge_parallel_convs(model: onnx.ModelProto) -> onnx.ModelProto:
    """Merge every ``Add(Conv_A(x), [s *] Conv_B(x))`` of equal geometry (module docstring)."""
    while True:
        made, users, constant, known = producers(model), consumers(model), constant_tensors(model), None
        found = None
        for add in (n for n in model.graph.node if n.op_type == "Add"):
            known = known or shapes(model)
            a = _scaled_conv(add.input[0], made, users, constant, known)
            b = _scaled_conv(add.input[1], made, users, constant, known)
            if a is None or b is None or (a[1] is not None and b[1] is not None):
                continue
            (ca, _, _), (cb, _, _) = a, b
            same = {x.name: x for x in ca.attribute if x.name in _GEOMETRY} == {
                x.name: x for x in cb.attribute if x.name in _GEOMETRY}
            if ca.input[0] == cb.input[0] and same and known.get(ca.input[1]) == known.get(cb.input[1]):
                found = add, a, b
                break
        if found is None:
            return model
        add, a, b = found
        if a[1] is not None:
            a, b = b, a  # the scaled one second
        (ca, _, old_a), (cb, scale, old_b) = a, b
        hint = add.name or "parallel_convs"
        nodes, params = [], []
        for i, what in ((1, "w"), (2, "b")):
            other = cb.input[i]
            if scale is not None:
                other = fresh_name(model, f"{hint}/scaled_{what}")
                nodes.append(helper.make_node("Mul", [scale, cb.input[i]], [other], name=other))
            total = fresh_name(model, f"{hint}/merged_{what}")
            nodes.append(helper.make_node("Add", [ca.input[i], other], [total], name=total))
            params.append(total)
        merged = helper.make_node("Conv", [ca.input[0], *params], list(add.output), name=ca.name)
        merged.attribute.extend(ca.attribute)
        replace(model, [*old_a, *old_b, add], [*nodes, merged])
