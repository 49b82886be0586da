"""Pass: a scaled sum of convolutions added to a residual becomes a chain of additions, one per convolution.

CF-NeRV's FARM ends with ``F + lambda_res (Conv_low(F_low) + Conv_high(F_high))`` (Eq. 6 after
:mod:`.split_concat_conv`). A CPU convolution adds one tensor to its output in its output stage (oneDNN's
``sum`` post-op: OpenVINO and ONNX Runtime fuse an ``Add`` whose operand is a convolution read there
alone), but as exported the scale sits between the sum and the residual: OpenVINO fuses the inner
addition and the scale into the second convolution and runs the residual add as a pass of its own over
the full-resolution features (0.26 ms of CF-NeRV's ~6 ms on OpenVINO bf16 at 160x320).

Scaling is linear and addition associative: with ``s`` a one-element constant,

    x + s (C_1(a_1) + ... + C_n(a_n)) = C'_n(a_n) + (... + (C'_1(a_1) + x))

where ``C'_i`` is ``C_i`` with weights ``s W_i`` and bias ``s b_i`` (constant expressions of the package's
weights, folded by the backends at load; no stored weight changes). Every addition then has a
convolution output as an operand, and each joins its convolution. The terms are found by walking the
tree of single-use ``Add`` nodes and one-element scales below an ``Add``; the rewrite is made when every
scaled term is a single-use convolution and the tree has a scale or an addition without a convolution
operand. Float sums are reordered and the scale is rounded into the weights: far inside 1e-4.
"""

from __future__ import annotations

import math

import onnx
from onnx import helper

from .onnx_edit import constant_tensors, consumers, fresh_name, graph_outputs, producers, replace, shapes


def _scale(node, constant, known) -> tuple[str, str] | None:
    """``(scale, operand)`` when ``node`` is ``Mul`` by a one-element constant."""
    if node is None or node.op_type != "Mul":
        return None
    for side in (0, 1):
        s = node.input[side]
        if s in constant and math.prod(known.get(s) or [0]) == 1:
            return s, node.input[1 - side]
    return None


class _Tree:
    """The terms of a sum below ``root``: ``leaves`` ``(tensor, scale or None)``, the tree's ``nodes``."""

    def __init__(self, root, made, users, constant, known):
        self.made, self.users, self.constant, self.known = made, users, constant, known
        self.leaves, self.nodes, self.adds_without_conv = [], [root], 0
        self._add(root, None)

    def _single(self, t: str, parent) -> bool:
        return self.users[t] == [parent]

    def conv(self, t: str) -> bool:
        node = self.made.get(t)
        return node is not None and node.op_type == "Conv" and len(self.users[t]) == 1

    def _add(self, add, scale) -> None:
        if not any(self.conv(t) for t in add.input):
            self.adds_without_conv += 1
        for t in add.input:
            self._term(t, add, scale)

    def _term(self, t: str, parent, scale) -> None:
        node = self.made.get(t)
        if node is not None and self._single(t, parent):
            scaled = _scale(node, self.constant, self.known) if scale is None else None
            if node.op_type == "Add":
                self.nodes.append(node)
                self._add(node, scale)
                return
            if scaled is not None:
                self.nodes.append(node)
                self._term(scaled[1], node, scaled[0])
                return
        self.leaves.append((t, scale))


def _interior(add, users, made, constant, known) -> bool:
    """Whether ``add`` is a term of a larger sum (the outer one is rewritten instead)."""
    (user, *more), out = users[add.output[0]] or [None], add.output[0]
    if user is None or more:
        return False
    if user.op_type == "Add":
        return True
    scaled = _scale(user, constant, known)
    return scaled is not None and scaled[1] == out and [n.op_type for n in users[user.output[0]]] == ["Add"]


def _find(model):
    made, users, constant = producers(model), consumers(model), constant_tensors(model)
    known, outs = shapes(model), graph_outputs(model)
    for add in (n for n in model.graph.node if n.op_type == "Add"):
        if _interior(add, users, made, constant, known):
            continue
        tree = _Tree(add, made, users, constant, known)
        order = {t: i for i, n in enumerate(model.graph.node) for t in n.output}
        convs = sorted(((t, s) for t, s in tree.leaves if tree.conv(t) and t not in outs), key=lambda c: -order[c[0]])
        others = [(t, s) for t, s in tree.leaves if (t, s) not in convs]
        scaled = any(s is not None for _, s in tree.leaves)
        if (convs and others and all(s is None for _, s in others)
                and (scaled or tree.adds_without_conv)):
            return add, tree, convs, others
    return None


def residual_sums(model: onnx.ModelProto) -> onnx.ModelProto:
    """Rewrite every residual sum of convolutions as a chain of one addition per convolution."""
    while True:
        found = _find(model)
        if found is None:
            return model
        root, tree, convs, others = found
        hint = root.name or "residual_sum"
        nodes = []
        for k, (t, scale) in enumerate(convs):
            conv = tree.made[t]
            if scale is None:
                continue
            for i in range(1, len(conv.input)):
                if conv.input[i]:
                    scaled = fresh_name(model, f"{hint}/scaled{k}_{'wb'[i - 1]}")
                    nodes.append(helper.make_node("Mul", [scale, conv.input[i]], [scaled], name=scaled))
                    conv.input[i] = scaled
        total = others[0][0]
        for k, t in enumerate([t for t, _ in others[1:]] + [t for t, _ in convs]):
            out = fresh_name(model, f"{hint}/sum{k}")
            nodes.append(helper.make_node("Add", [t, total], [out], name=out))
            total = out
        nodes[-1].output[0] = root.output[0]
        replace(model, tree.nodes, nodes)
