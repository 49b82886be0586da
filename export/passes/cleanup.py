"""Pass: canonical constants and no-op removal.

``Constant`` nodes become initializers (so every pass reads weights one way); ``Identity``, inference-time
``Dropout`` and ``Reshape``s that do not change the shape disappear; a ``Reshape`` of a ``Reshape`` reads the
first one's input; nodes and initializers nobody uses are dropped.
"""

from __future__ import annotations

import onnx
from onnx import numpy_helper

from .onnx_edit import attr, consumers, graph_outputs, producers, remove_unused, shapes


def constants_to_initializers(model: onnx.ModelProto) -> onnx.ModelProto:
    for node in [n for n in model.graph.node if n.op_type == "Constant"]:
        value = attr(node, "value")
        if value is None:  # value_float & co. are rare in exported graphs; leave them to the runtime
            continue
        array = numpy_helper.to_array(value)
        model.graph.initializer.append(numpy_helper.from_array(array, node.output[0]))
        model.graph.node.remove(node)
    return model


def bypass(model: onnx.ModelProto, node: onnx.NodeProto) -> bool:
    """Remove a node whose output equals its first input, rewiring readers; False when it must stay."""
    src, dst = node.input[0], node.output[0]
    if dst in graph_outputs(model):
        made = producers(model).get(src)
        if made is None or src in graph_outputs(model) or len(consumers(model)[src]) != 1:
            return False
        made.output[list(made.output).index(src)] = dst
    else:
        for reader in consumers(model)[dst]:
            reader.input[:] = [src if t == dst else t for t in reader.input]
    model.graph.node.remove(node)
    return True


def _noop(node: onnx.NodeProto, known: dict) -> bool:
    if node.op_type == "Identity" or (node.op_type == "Dropout" and len(node.output) == 1):
        return True
    if node.op_type == "Reshape":
        a, b = known.get(node.input[0]), known.get(node.output[0])
        return a is not None and a == b and None not in a
    return False


def remove_noops(model: onnx.ModelProto) -> onnx.ModelProto:
    """Remove Identity / Dropout / same-shape Reshape nodes and collapse Reshape chains."""
    known = shapes(model)
    for node in list(model.graph.node):
        made = producers(model).get(node.input[0]) if node.input else None
        if node.op_type == "Reshape" and made is not None and made.op_type == "Reshape":
            node.input[0] = made.input[0]
            known = shapes(model)
        if _noop(node, known):
            bypass(model, node)
    return remove_unused(model)
