"""Pass: run element-wise chains before a ``DepthToSpace`` instead of after it.

A sub-pixel stage is ``act(DepthToSpace(conv(x)))``. ``DepthToSpace`` only moves values, so any chain
of element-wise ops whose other operands are scalars gives the same values moved the same way:
``f(DepthToSpace(z)) = DepthToSpace(f(z))``, bit for bit. Before the move, the activation reads the
moved tensor and cannot join the convolution; after it, the convolution is directly followed by the
chain, which the CPU backends fuse into its output stage (OpenVINO's post-ops, ONNX Runtime's
``FusedConv``), saving one full pass over the stage's output. OpenVINO does this itself for a
single-consumer chain in some graphs (HNeRV) and not in others (CF-NeRV's GELU feeding its calibration).

The chain is grown from the ``DepthToSpace`` output: a node joins when it is element-wise
(:data:`UNARY`, :data:`BINARY`) and each of its inputs is the moved tensor, an output of the chain or a
constant with one element. The move is made when the chain is read from outside through exactly one
tensor (one ``DepthToSpace`` before and after) and the ``DepthToSpace`` output is read by the chain only.
"""

from __future__ import annotations

import math

import onnx
from onnx import helper

from .onnx_edit import consumers, fresh_name, graph_outputs, producers, remove_unused

UNARY = frozenset({"Erf", "Sin", "Cos", "Sigmoid", "Tanh", "Relu", "Abs", "Neg", "Exp"})
BINARY = frozenset({"Add", "Sub", "Mul", "Div"})


def _scalars(model: onnx.ModelProto) -> set[str]:
    return {i.name for i in model.graph.initializer if math.prod(i.dims) == 1}


def elementwise_chain(model: onnx.ModelProto, tensor: str, scalars: set[str]) -> list[onnx.NodeProto]:
    """The element-wise nodes grown from ``tensor``: each reads ``tensor`` or the chain's outputs, and
    otherwise only one-element constants in ``scalars`` (in graph order)."""
    inside = {tensor}
    chain = []
    for node in model.graph.node:  # topological order: a node's inputs are decided before it
        ins = [t for t in node.input if t]
        if (node.op_type in UNARY | BINARY and any(t in inside for t in ins)
                and all(t in inside or t in scalars for t in ins)):
            chain.append(node)
            inside.update(node.output)
    return chain


def _chain(model, d2s, users, scalars) -> list[onnx.NodeProto] | None:
    chain = elementwise_chain(model, d2s.output[0], scalars)
    if not chain or any(u not in chain for u in users[d2s.output[0]]):
        return None
    return chain


def _exits(model, chain, users) -> list[str]:
    outs = graph_outputs(model)
    return [t for n in chain for t in n.output
            if t in outs or any(u not in chain for u in users[t])]


def sink_depth_to_space(model: onnx.ModelProto) -> onnx.ModelProto:
    """Move every movable element-wise chain before its ``DepthToSpace`` (module docstring)."""
    scalars = _scalars(model)
    moved = set()
    while True:
        users, made = consumers(model), producers(model)
        candidates = [n for n in model.graph.node if n.op_type == "DepthToSpace" and n.output[0] not in moved]
        step = None
        for d2s in candidates:
            chain = _chain(model, d2s, users, scalars)
            exits = _exits(model, chain, users) if chain else []
            if len(exits) == 1 and d2s.output[0] not in graph_outputs(model):
                step = d2s, chain, exits[0]
                break
            moved.add(d2s.output[0])
        if step is None:
            return remove_unused(model)
        d2s, chain, out = step
        source = d2s.input[0]
        for node in chain:
            node.input[:] = [source if t == d2s.output[0] else t for t in node.input]
        early = fresh_name(model, f"{out}_before_d2s")
        made[out].output[list(made[out].output).index(out)] = early
        moved_d2s = helper.make_node("DepthToSpace", [early], [out], name=d2s.name, **{
            a.name: helper.get_attribute_value(a) for a in d2s.attribute})
        position = list(model.graph.node).index(made[out]) + 1
        model.graph.node.insert(position, moved_d2s)
        model.graph.node.remove(d2s)
        moved.add(out)
