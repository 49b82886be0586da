"""Pass: the harmonic activation ``w1 sin(x) + w2 cos(x)`` as one sine, ``A sin(x + phi)``.

HFE-HNeRV's activation (``trainer/families/hfe_hnerv.py``) costs two transcendentals, two multiplies and
an add per value, and OpenVINO's CPU plugin runs ``Sin``/``Cos`` with its scalar reference kernel
(``docs/precision.md``). The harmonic addition identity makes it one::

    w1 sin x + w2 cos x = A sin(x + phi),   A = sqrt(w1^2 + w2^2),   phi = atan2(w2, w1)

(expand ``A sin(x + phi) = A cos(phi) sin x + A sin(phi) cos x`` with ``A cos phi = w1``, ``A sin phi = w2``).
``w1, w2`` are per-channel weights of the package, which stores them entropy-coded under their own
names, so ``A`` and ``phi`` are written as constant expressions of them (the backends fold these
when they load the graph; ``fold=True`` folds them at export): no weight changes, no bytes added.

``atan2`` from ONNX ops, stable everywhere: ``theta = 2 atan(w2 / (A + |w1|))`` is ``atan2(w2, |w1|)``
(the half-angle formula, ``A + |w1| > 0`` unless both are 0, where a tiny floor keeps ``0 / 0`` out and
``A = 0`` makes the phase irrelevant); for ``w1 < 0`` the angle is mirrored, ``phi = pi - theta``.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from .onnx_edit import add_const, constant_tensors, consumers, fresh_name, producers, replace

TINY = np.float32(1e-30)
"""Floor of ``A + |w1|``: only reached when ``w1 = w2 = 0`` to within it, where ``A ~ 0``."""


def _term(model, made, users, constant, tensor: str):
    """``(weight, trig node, mul node)`` when ``tensor`` is ``Mul(constant, Sin|Cos(x))`` read once."""
    mul = made.get(tensor)
    if mul is None or mul.op_type != "Mul" or len(users[tensor]) != 1:
        return None
    for side in (0, 1):
        trig = made.get(mul.input[1 - side])
        if (mul.input[side] in constant and trig is not None and trig.op_type in ("Sin", "Cos")
                and len(users[trig.output[0]]) == 1):
            return mul.input[side], trig, mul
    return None


def _phase_nodes(model, w1: str, w2: str, hint: str, scalars: tuple[str, str, str]
                 ) -> tuple[list[onnx.NodeProto], str, str]:
    """Nodes computing ``A`` and ``phi`` (module docstring) from ``w1``, ``w2``; returns them, A, phi.

    ``scalars``: the names of the constants ``TINY``, ``pi`` and 0.
    """
    tiny, pi, zero = scalars
    keys = ("w1sq", "w2sq", "sumsq", "amp", "absw1", "den", "floor", "ratio", "half", "theta", "mirror",
            "neg", "phi")
    n = {k: fresh_name(model, f"{hint}/{k}") for k in keys}
    nodes = [
        helper.make_node("Mul", [w1, w1], [n["w1sq"]]),
        helper.make_node("Mul", [w2, w2], [n["w2sq"]]),
        helper.make_node("Add", [n["w1sq"], n["w2sq"]], [n["sumsq"]]),
        helper.make_node("Sqrt", [n["sumsq"]], [n["amp"]]),
        helper.make_node("Abs", [w1], [n["absw1"]]),
        helper.make_node("Add", [n["amp"], n["absw1"]], [n["den"]]),
        helper.make_node("Max", [n["den"], tiny], [n["floor"]]),
        helper.make_node("Div", [w2, n["floor"]], [n["ratio"]]),
        helper.make_node("Atan", [n["ratio"]], [n["half"]]),
        helper.make_node("Add", [n["half"], n["half"]], [n["theta"]]),
        helper.make_node("Sub", [pi, n["theta"]], [n["mirror"]]),
        helper.make_node("Less", [w1, zero], [n["neg"]]),
        helper.make_node("Where", [n["neg"], n["mirror"], n["theta"]], [n["phi"]]),
    ]
    for node in nodes:
        node.name = node.output[0]
    return nodes, n["amp"], n["phi"]


def harmonic_to_phase(model: onnx.ModelProto) -> onnx.ModelProto:
    """Rewrite every ``Mul(w1, Sin(x)) + Mul(w2, Cos(x))`` (constant ``w1, w2``) as ``A sin(x + phi)``."""
    scalars = None
    for k in range(len(model.graph.node)):
        made, users, constant = producers(model), consumers(model), constant_tensors(model)
        match = None
        for add in (n for n in model.graph.node if n.op_type == "Add"):
            terms = [_term(model, made, users, constant, t) for t in add.input]
            if None in terms:
                continue
            (wa, ta, ma), (wb, tb, mb) = terms
            if ta.input[0] == tb.input[0] and {ta.op_type, tb.op_type} == {"Sin", "Cos"}:
                w1, w2 = (wa, wb) if ta.op_type == "Sin" else (wb, wa)
                match = add, w1, w2, ta.input[0], [ta, tb, ma, mb, add]
                break
        if match is None:
            break
        add, w1, w2, x, old = match
        hint = fresh_name(model, f"harmonic{k}")  # short names: the graph is stored in every package
        scalars = scalars or tuple(add_const(model, f"harmonic_{name}", np.float32(v))
                                   for name, v in (("tiny", TINY), ("pi", np.pi), ("zero", 0.0)))
        nodes, amp, phi = _phase_nodes(model, w1, w2, hint, scalars)
        shifted, sine = fresh_name(model, f"{hint}/shifted"), fresh_name(model, f"{hint}/sine")
        nodes += [helper.make_node("Add", [x, phi], [shifted], name=f"{hint}/phase"),
                  helper.make_node("Sin", [shifted], [sine], name=f"{hint}/sin"),
                  helper.make_node("Mul", [amp, sine], list(add.output), name=f"{hint}/amplitude")]
        replace(model, old, nodes)
    return model
