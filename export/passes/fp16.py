"""Pass: an fp16 variant of a graph, with the precision written into the ONNX.

TensorRT 11 builds strongly typed networks only, so the precision of every tensor must be in the graph.
Float initializers and activations become fp16, except:

- ops that fp16 breaks stay fp32: ``Sin``/``Cos`` (the harmonic blocks' arguments grow past the range where
  an fp16 argument keeps phase), ``Exp``, ``Log``, ``Pow``, ``Sqrt``, reductions and normalisations
  (sums of many terms lose digits or overflow at 65504);
- a node whose constant inputs do not fit fp16 (``|w| > 65504``) stays fp32;
- inputs and outputs of the graph stay fp32, with Casts at the boundary, so callers never see a dtype change.

Inputs whose schema type differs from the data's (Resize's ``scales``, shape tensors) are left untouched:
only inputs and outputs that share the type of input 0 in the op's schema follow the node's precision.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..haar_onnx import is_haar
from .onnx_edit import add_const, attr, fresh_name, graph_outputs, shapes, toposort

KEEP_FP32 = frozenset({"Sin", "Cos", "Exp", "Log", "Pow", "Sqrt", "Reciprocal", "Softmax", "LogSoftmax",
                       "ReduceMean", "ReduceSum", "ReduceSumSquare", "ReduceL2", "ReduceLogSumExp",
                       "LayerNormalization", "GroupNormalization", "InstanceNormalization",
                       "BatchNormalization", "CumSum"})
FP16_MAX = 65504.0


def _same_type_slots(node: onnx.NodeProto, opset: int) -> tuple[list[bool], list[bool]]:
    """Which inputs / outputs share the data type of input 0 (all of them for Haar nodes)."""
    if is_haar(node):
        return [True] * len(node.input), [True] * len(node.output)
    schema = onnx.defs.get_schema(node.op_type, opset, node.domain)
    ins = [p.type_str for p in schema.inputs]
    ins += [ins[-1]] * (len(node.input) - len(ins))  # variadic
    outs = [p.type_str for p in schema.outputs]
    outs += [outs[-1]] * (len(node.output) - len(outs))
    t = ins[0]
    return [s == t for s in ins], [s == t for s in outs]


def to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """Rewrite ``model`` (fp32) into its fp16 variant (module docstring)."""
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    shapes(model)
    dtype = {v.name: v.type.tensor_type.elem_type
             for v in (*model.graph.input, *model.graph.value_info, *model.graph.output)}
    dtype.update({i.name: i.data_type for i in model.graph.initializer})
    inits = {i.name: i for i in model.graph.initializer}
    half_of: dict[str, str] = {}  # fp32 tensor -> its fp16 twin (cast or converted initializer)
    full_of: dict[str, str] = {}
    new_nodes = []

    def as_type(tensor: str, want_half: bool) -> str:
        if not tensor or dtype.get(tensor) not in (TensorProto.FLOAT, TensorProto.FLOAT16):
            return tensor
        is_half = dtype[tensor] == TensorProto.FLOAT16
        if is_half == want_half:
            return tensor
        cache = half_of if want_half else full_of
        if tensor not in cache:
            if tensor in inits and want_half:
                cache[tensor] = add_const(model, f"{tensor}_fp16",
                                          numpy_helper.to_array(inits[tensor]).astype(np.float16))
            else:
                cache[tensor] = fresh_name(model, f"{tensor}_{'fp16' if want_half else 'fp32'}")
                to = TensorProto.FLOAT16 if want_half else TensorProto.FLOAT
                new_nodes.append(helper.make_node("Cast", [tensor], [cache[tensor]], to=to))
            dtype[cache[tensor]] = TensorProto.FLOAT16 if want_half else TensorProto.FLOAT
        return cache[tensor]

    def fits(tensor: str) -> bool:
        return tensor not in inits or np.all(np.abs(numpy_helper.to_array(inits[tensor])) <= FP16_MAX)

    for node in list(model.graph.node):
        in_slots, out_slots = _same_type_slots(node, opset)
        floating = node.input and dtype.get(node.input[0]) in (TensorProto.FLOAT, TensorProto.FLOAT16)
        half = bool(floating) and node.op_type not in KEEP_FP32 and node.op_type != "Cast" \
            and all(fits(t) for t in node.input)
        if floating and node.op_type != "Cast":
            node.input[:] = [as_type(t, half) if same else t
                             for t, same in zip(node.input, in_slots, strict=False)]
            for out, same in zip(node.output, out_slots, strict=False):
                if same:
                    dtype[out] = TensorProto.FLOAT16 if half else TensorProto.FLOAT
        elif node.op_type == "Cast":
            dtype[node.output[0]] = attr(node, "to")
        new_nodes.append(node)

    for out in model.graph.output:
        if dtype.get(out.name) == TensorProto.FLOAT16:
            inner = fresh_name(model, f"{out.name}_fp16")
            for n in new_nodes:
                n.output[:] = [inner if t == out.name else t for t in n.output]
                n.input[:] = [inner if t == out.name else t for t in n.input]
            new_nodes.append(helper.make_node("Cast", [inner], [out.name], to=TensorProto.FLOAT))
    del model.graph.node[:]
    model.graph.node.extend(new_nodes)
    del model.graph.value_info[:]
    toposort(model)
    used = {t for n in model.graph.node for t in n.input} | graph_outputs(model)
    kept = [i for i in model.graph.initializer if i.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    return model
