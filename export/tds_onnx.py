"""The TDS enhancer (``trainer.tds.enhancer.Enhancer``) as an ONNX graph of standard ops.

Alignment stays deformable: every modulated deformable convolution of PCD is one ONNX ``DeformConv``
node, which needs opset 19. The model is written with IR version 9 (ONNX Runtime 1.31 runs
``DeformConv`` on CPU; TensorRT's ONNX parser accepts it; OpenVINO's ONNX frontend does not).
Inputs ``earlier``, ``target``, ``later`` ``[B, 3, H, W]`` float32 in [0, 1] (B dynamic, H and W fixed
at export), output ``frames`` ``[B, 3, H, W]`` (the name every package graph outputs).

Every parameter of the enhancer is an initializer under its own name (torch's constant folding is off:
the transposes of the attention's linear weights stay ``Transpose`` nodes), so the package stores and
quantises each one by name and the eager model reloads them. The graph is shape-static but for the
batch: the modules read sizes as Python ints (``trainer.tds.mtsa.dims``), so no ``Shape`` chains are
traced; the cleanup pass (``optimize_for(..., "ort", fold=False)``: ``Constant`` nodes as
initializers, no-ops removed; no weight changes) and the evaluation of nodes whose inputs are all
constants other than parameters (the ``Resize`` scales the tracer builds with ``Concat``) leave only the
ops of the runtime's enhancer allow-list (``nervkit.runtime.graph_rules.ENHANCER_OPS``), every tensor's
shape known from the inputs'.
"""

from __future__ import annotations

import io
import warnings

import onnx
import torch

from .passes.fold_constants import evaluate_constant_nodes
from .passes.pipeline import optimize_for

OPSET = 19
IR_VERSION = 9


def _separate_parameters(proto: onnx.ModelProto, names: set[str]) -> None:
    """torch's exporter merges parameters of equal value into one initializer that the others read
    through ``Identity`` nodes; give each parameter its own initializer again (in place), so every
    parameter is stored, quantised and reloaded under its own name."""
    inits = {i.name: i for i in proto.graph.initializer}
    for node in [n for n in proto.graph.node if n.op_type == "Identity"]:
        if node.input[0] in inits and node.output[0] in names:
            copy = proto.graph.initializer.add()
            copy.CopyFrom(inits[node.input[0]])
            copy.name = node.output[0]
            proto.graph.node.remove(node)


def export_enhancer_onnx(enhancer, height: int, width: int) -> onnx.ModelProto:
    """Trace ``enhancer`` (eval, fp32) for ``height x width`` frames and return the cleaned, checked proto."""
    names = list(enhancer.input_names)
    example = tuple(torch.rand(1, 3, height, width) for _ in names)
    was_training = enhancer.training
    enhancer.eval()
    buf = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter emits the DeformConv symbolic
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # kernel/group ints: fixed by the weights
            torch.onnx.export(enhancer, example, buf, input_names=names, output_names=["frames"],
                              opset_version=OPSET, dynamo=False, do_constant_folding=False,
                              dynamic_axes={n: {0: "batch"} for n in [*names, "frames"]})
    finally:
        enhancer.train(was_training)
    proto = onnx.load_from_string(buf.getvalue())
    params = frozenset(enhancer.state_dict())
    _separate_parameters(proto, params)
    proto = evaluate_constant_nodes(optimize_for(proto, "ort", fold=False), keep=params)
    proto.ir_version = min(proto.ir_version, IR_VERSION)
    onnx.checker.check_model(proto)
    return proto
