"""Pass: run an element-wise chain on each part of a channel ``Concat`` instead of on the concatenation.

``f(Concat(a_1, ..., a_n)) = Concat(f(a_1), ..., f(a_n))`` for any chain ``f`` of element-wise ops whose
other operands are one-element constants (the same values, computed part by part). HFS-HNeRV applies a
GELU to ``Concat(F2, branches)`` before its attention convolution (Eq. 15): as exported it is one more
full-resolution pass over ``C + 4 C/r`` channels after the copy of the concatenation. Moved onto the
parts, the branches' GELU runs where they are made (fused into the half-resolution convolution that
makes them, after :mod:`.haar_bands` and :mod:`.sink_depth_to_space`) and only ``F2``'s stays separate.

The chain is the one :func:`.sink_depth_to_space.elementwise_chain` grows from the concatenation; the
move is made when the concatenation is read by the chain alone and the chain is read from outside
through exactly one tensor.
"""

from __future__ import annotations

import math

import onnx
from onnx import helper

from .onnx_edit import attr, consumers, fresh_name, graph_outputs, replace
from .sink_depth_to_space import elementwise_chain


def _scalars(model: onnx.ModelProto) -> set[str]:
    return {i.name for i in model.graph.initializer if math.prod(i.dims) == 1}


def _movable(model, cat, users, scalars) -> tuple[list, str] | None:
    chain = elementwise_chain(model, cat.output[0], scalars)
    outs = graph_outputs(model)
    if not chain or cat.output[0] in outs or any(u not in chain for u in users[cat.output[0]]):
        return None
    exits = [t for n in chain for t in n.output if t in outs or any(u not in chain for u in users[t])]
    return (chain, exits[0]) if len(exits) == 1 else None


def sink_concat(model: onnx.ModelProto) -> onnx.ModelProto:
    """Move every movable element-wise chain onto the parts of its channel Concat (module docstring)."""
    scalars = _scalars(model)
    while True:
        users = consumers(model)
        step = None
        for cat in (n for n in model.graph.node if n.op_type == "Concat" and attr(n, "axis") == 1):
            found = _movable(model, cat, users, scalars)
            if found is not None:
                step = cat, *found
                break
        if step is None:
            return model
        cat, chain, out = step
        nodes, parts = [], []
        for i, part in enumerate(cat.input):
            renamed = {cat.output[0]: part}
            for node in chain:
                copy = onnx.NodeProto()
                copy.CopyFrom(node)
                for t in node.output:
                    renamed[t] = fresh_name(model, f"{t}/part{i}")
                copy.input[:] = [renamed.get(t, t) for t in node.input]
                copy.output[:] = [renamed[t] for t in node.output]
                copy.name = f"{node.name or node.op_type}/part{i}"
                nodes.append(copy)
            parts.append(renamed[out])
        nodes.append(helper.make_node("Concat", parts, [out], name=cat.name, axis=1))
        replace(model, [cat, *chain], nodes)
