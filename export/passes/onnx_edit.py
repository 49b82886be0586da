"""Helpers that read and rewrite an ONNX graph, shared by the graph passes: constants, producers and
consumers, shapes, node replacement.

Every pass mutates an ``onnx.ModelProto`` in place and returns it. Tensors that are constant are graph
initializers (``constants_to_initializers`` turns ``Constant`` nodes into initializers first), so a pass
reads a weight with :func:`const` and writes one with :func:`add_const`.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from ..haar_onnx import is_haar, output_shapes


def attr(node: onnx.NodeProto, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def const(model: onnx.ModelProto, name: str) -> np.ndarray | None:
    """The value of initializer ``name``, or None when the tensor is not a constant."""
    for init in model.graph.initializer:
        if init.name == name:
            return numpy_helper.to_array(init)
    return None


def add_const(model: onnx.ModelProto, hint: str, value: np.ndarray) -> str:
    """Add an initializer under a fresh name derived from ``hint``; returns the name."""
    name = fresh_name(model, hint)
    model.graph.initializer.append(numpy_helper.from_array(np.asarray(value), name))
    return name


def fresh_name(model: onnx.ModelProto, hint: str) -> str:
    used = {t for n in model.graph.node for t in (*n.input, *n.output)}
    used |= {i.name for i in model.graph.initializer} | {i.name for i in model.graph.input}
    name, k = hint, 0
    while name in used:
        k += 1
        name = f"{hint}_{k}"
    return name


def producers(model: onnx.ModelProto) -> dict[str, onnx.NodeProto]:
    return {t: n for n in model.graph.node for t in n.output}


def consumers(model: onnx.ModelProto) -> dict[str, list[onnx.NodeProto]]:
    users = defaultdict(list)
    for n in model.graph.node:
        for t in n.input:
            users[t].append(n)
    return users


def constant_tensors(model: onnx.ModelProto) -> set[str]:
    """Tensors computed from initializers alone (initializers included): what a backend folds at load."""
    known = {i.name for i in model.graph.initializer}
    for node in model.graph.node:  # topological order
        if node.input and all(t in known for t in node.input if t):
            known.update(node.output)
    return known


def graph_outputs(model: onnx.ModelProto) -> set[str]:
    return {o.name for o in model.graph.output}


def only_feeds(model: onnx.ModelProto, tensor: str, node: onnx.NodeProto) -> bool:
    """True when ``tensor`` is used by ``node`` alone (so a rewrite may drop it)."""
    users = consumers(model)[tensor]
    return len(users) == 1 and users[0] == node and tensor not in graph_outputs(model)


def replace(model: onnx.ModelProto, old: list[onnx.NodeProto], new: list[onnx.NodeProto]) -> None:
    """Swap ``old`` nodes for ``new`` ones (which must produce the outputs still used), then re-sort."""
    keep = [n for n in model.graph.node if n not in old]
    del model.graph.node[:]
    model.graph.node.extend(keep + new)
    toposort(model)


def toposort(model: onnx.ModelProto) -> None:
    """Order nodes so every tensor is produced before it is read (Kahn's algorithm, stable)."""
    ready = {i.name for i in model.graph.input} | {i.name for i in model.graph.initializer} | {""}
    pending, ordered = list(model.graph.node), []
    while pending:
        rest = []
        for n in pending:
            if all(t in ready for t in n.input):
                ordered.append(n)
                ready.update(n.output)
            else:
                rest.append(n)
        if len(rest) == len(pending):
            node = rest[0].name or rest[0].op_type
            raise ValueError(f"graph has a cycle or a missing tensor at node {node}")
        pending = rest
    del model.graph.node[:]
    model.graph.node.extend(ordered)


def remove_unused(model: onnx.ModelProto) -> onnx.ModelProto:
    """Drop nodes whose outputs nobody reads and initializers nobody uses."""
    needed = graph_outputs(model)
    kept = []
    for n in reversed(model.graph.node):
        if any(t in needed for t in n.output):
            kept.append(n)
            needed.update(n.input)
    del model.graph.node[:]
    model.graph.node.extend(reversed(kept))
    inits = [i for i in model.graph.initializer if i.name in needed]
    del model.graph.initializer[:]
    model.graph.initializer.extend(inits)
    return model


def shapes(model: onnx.ModelProto) -> dict[str, list]:
    """Static shape of every tensor (dims int, None when unknown), with Haar nodes' shape rule applied.

    ONNX shape inference does not know the ``nervkit`` domain, so after it runs, the outputs of every
    Haar node whose input shape is known are added as value_info and inference runs again.
    """
    del model.graph.value_info[:]
    while True:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
        known = {v.name: [d.dim_value if d.HasField("dim_value") else None
                          for d in v.type.tensor_type.shape.dim]
                 for v in (*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output)
                 if v.type.tensor_type.HasField("shape")}
        known.update({i.name: list(i.dims) for i in model.graph.initializer})
        added = False
        for n in model.graph.node:
            if is_haar(n) and n.input[0] in known and n.output[0] not in known:
                elem = _elem_type(inferred, n.input[0])
                for out, shape in zip(n.output, output_shapes(n, known[n.input[0]]), strict=False):
                    model.graph.value_info.append(helper.make_tensor_value_info(out, elem, shape))
                added = True
        if not added:
            return known


def _elem_type(model: onnx.ModelProto, name: str) -> int:
    for v in (*model.graph.input, *model.graph.value_info, *model.graph.output):
        if v.name == name:
            return v.type.tensor_type.elem_type
    return onnx.TensorProto.FLOAT


def evaluate(model: onnx.ModelProto, nodes: list[onnx.NodeProto], feeds: dict[str, np.ndarray],
             outputs: list[str]) -> list[np.ndarray]:
    """``outputs`` of ``nodes`` (in graph order) run by ``onnx.reference`` on the constant ``feeds``."""
    graph = helper.make_graph(nodes, "c", [], [helper.make_empty_tensor_value_info(o) for o in outputs],
                              [numpy_helper.from_array(v, k) for k, v in feeds.items()])
    runner = ReferenceEvaluator(helper.make_model(graph, opset_imports=model.opset_import))
    return [np.asarray(v) for v in runner.run(None, {})]


def constant_value(model: onnx.ModelProto, name: str) -> np.ndarray | None:
    """The value of ``name`` when it is computed from initializers alone (evaluated with ``onnx.reference``
    over the nodes that make it), else None."""
    value = const(model, name)
    if value is not None or name not in constant_tensors(model):
        return value
    made, needed, nodes = producers(model), [name], []
    while needed:
        node = made[needed.pop()]
        if node not in nodes:
            nodes.append(node)
            needed += [t for t in node.input if t and t in made]
    inits = {t for n in nodes for t in n.input if t and t not in made}
    order = [n for n in model.graph.node if n in nodes]
    return evaluate(model, order, {t: const(model, t) for t in inits}, [name])[0]
