"""Pass: one multiplication per gated residual, ``x * a + x * b -> x * (a + b)`` and ``x * a + x -> x * (a + 1)``.

Attention blocks gate a feature map and add it back: CF-NeRV's calibration ``X sigmoid(s) + X sigmoid(c)``
(a ``[N, 1, H, W]`` spatial and a ``[N, C, 1, 1]`` channel gate), HFS-HNeRV's ``F sigmoid(.) + F``
(channel, then spatial attention). As exported, each reads the full feature map twice and writes two
full-size products before the add. Factored, the gates are summed first (at their own, usually
smaller, size, or fused into the gate's producer) and the feature map is read once, by one multiply.

Distributivity holds in real arithmetic; in float32 the factored form rounds once less (both forms are
within an ulp or two of each other, far inside the 1e-4 the exported graphs are checked to). The rewrite
is made only when ``a + b`` broadcasts to no more than ``x``'s own shape (no larger intermediate than
before), each product is read by the add alone, and every shape is known.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from .onnx_edit import add_const, consumers, fresh_name, producers, replace, shapes


def _broadcast(a: list | None, b: list | None) -> list | None:
    """The broadcast shape of ``a`` and ``b`` (``None`` dims: the symbolic batch), None if unknown."""
    if a is None or b is None:
        return None
    a, b = [1] * (len(b) - len(a)) + list(a), [1] * (len(a) - len(b)) + list(b)
    out = []
    for p, q in zip(a, b, strict=True):
        if p != q and 1 not in (p, q):
            return None
        out.append(q if p == 1 else p)
    return out


def _fits(gate: list | None, x: list | None) -> bool:
    """Whether a tensor of shape ``gate`` broadcasts into ``x`` without growing it."""
    return gate is not None and x is not None and len(gate) <= len(x) and _broadcast(gate, x) == list(x)


def _gated(mul, users, made) -> list[tuple[str, str]]:
    """``(x, gate)`` readings of ``Mul(x, gate)`` (either side may be the feature map)."""
    if mul is None or mul.op_type != "Mul" or len(users[mul.output[0]]) != 1:
        return []
    return [(mul.input[0], mul.input[1]), (mul.input[1], mul.input[0])]


def _match(add, users, made, known):
    """``(x, gate_a, gate_b or None, old nodes)`` for a factorable ``add``, else None."""
    a, b = (made.get(t) for t in add.input)
    for x, ga in _gated(a, users, made):
        if x == add.input[1] and _fits(known.get(ga), known.get(x)):  # x * a + x
            return x, ga, None, [a, add]
        for y, gb in _gated(b, users, made):
            if x == y and _fits(_broadcast(known.get(ga), known.get(gb)), known.get(x)):
                return x, ga, gb, [a, b, add]
    for x, gb in _gated(b, users, made):
        if x == add.input[0] and _fits(known.get(gb), known.get(x)):  # x + x * b
            return x, gb, None, [b, add]
    return None


def factor_gates(model: onnx.ModelProto) -> onnx.ModelProto:
    """Factor every gated residual of the module docstring's two forms."""
    while True:
        users, made, known = consumers(model), producers(model), shapes(model)
        found = None
        for add in (n for n in model.graph.node if n.op_type == "Add"):
            found = _match(add, users, made, known)
            if found is not None:
                break
        if found is None:
            return model
        x, ga, gb, old = found
        add = old[-1]
        hint = add.name or "gate"
        if gb is None:
            gb = add_const(model, f"{hint}/one", np.ones((), np.float32))
        total = fresh_name(model, f"{hint}/gates")
        replace(model, old, [helper.make_node("Add", [ga, gb], [total], name=f"{hint}/gates"),
                             helper.make_node("Mul", [x, total], list(add.output), name=f"{hint}/gated")])
