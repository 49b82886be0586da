"""Pass: a sigmoid gate after a convolution as ``1 / (1 + exp(-z))``, evaluated where the gate is applied.

CF-NeRV gates full-resolution features with sigmoids of convolutions: FARM's high band
``F_high sigmoid(DWConv3(F_high))`` (Eq. 5) and the calibration's spatial gate ``X sigmoid(W_s X)``
(Eq. 2). OpenVINO fuses such a ``Sigmoid`` into the convolution's output stage (a oneDNN post-op) and
the multiply into a JIT element-wise kernel of its own. Written as ``1 / (1 + exp(-z))``, the negation
joins the convolution and ``Exp``, ``Add``, ``Div`` join the element-wise kernel that applies the gate,
which evaluates them faster than the post-op did (measured below).

``sigmoid(z) = 1 / (1 + exp(-z))`` exactly; in float32 both round within an ulp or two, and ``exp(-z)``
overflowing to ``inf`` for ``z < -88`` gives the sigmoid's own limit ``0``. Rewritten when ``z`` is a
convolution's output read by the sigmoid alone, on a map larger than one pixel, and every reader of the
gate is an element-wise ``Mul``, ``Add``, ``Sub`` or ``Div`` (so the gate is applied, not stored).
"""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import helper

from .onnx_edit import add_const, consumers, fresh_name, graph_outputs, producers, replace, shapes

APPLIERS = frozenset({"Mul", "Add", "Sub", "Div"})


def _gate(node, made, users, known, outs) -> bool:
    z, conv = node.input[0], made.get(node.input[0])
    shape = known.get(z)
    return (conv is not None and conv.op_type == "Conv" and len(users[z]) == 1
            and shape is not None and len(shape) == 4 and None not in shape[2:] and math.prod(shape[2:]) > 1
            and node.output[0] not in outs and all(u.op_type in APPLIERS for u in users[node.output[0]]))


def exp_gates(model: onnx.ModelProto) -> onnx.ModelProto:
    """Rewrite every sigmoid gate of a convolution (module docstring)."""
    made, users, known, outs = producers(model), consumers(model), shapes(model), graph_outputs(model)
    gates = [n for n in model.graph.node if n.op_type == "Sigmoid" and _gate(n, made, users, known, outs)]
    if not gates:
        return model
    one = add_const(model, "exp_gates/one", np.ones((), np.float32))
    minus = add_const(model, "exp_gates/minus_one", -np.ones((), np.float32))
    for node in gates:
        hint = node.name or "sigmoid"
        neg, exp, den = (fresh_name(model, f"{hint}/{k}") for k in ("neg", "exp", "den"))
        replace(model, [node], [
            helper.make_node("Mul", [node.input[0], minus], [neg], name=neg),
            helper.make_node("Exp", [neg], [exp], name=exp),
            helper.make_node("Add", [exp, one], [den], name=den),
            helper.make_node("Div", [one, den], list(node.output), name=hint),
        ])
    return model
