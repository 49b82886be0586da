"""A package's decoder graph as ONNX, and what it costs: multiply-accumulates per frame (MACs).

Reading the graph's structure needs the ``onnx`` package (protobuf); the runtime itself never does,
so only nerv-bench imports this, lazily.
"""

from __future__ import annotations

import math

from nervkit.runtime.errors import UserError


def load_graph(pkg):
    """The package's decoder graph as an ``onnx.ModelProto`` (weights stay external: names only)."""
    try:
        import onnx
    except ImportError:
        raise UserError("nerv-bench reads the decoder graph with onnx: pip install onnx "
                        "(or the 'train' extra)") from None
    return onnx.load_from_string(pkg.graph_bytes())


def macs_per_frame(pkg) -> int:
    """Multiply-accumulates one frame of the package costs (see :func:`graph_macs`)."""
    return graph_macs(load_graph(pkg), pkg.embed_shapes)


def graph_macs(model, input_shapes: dict[str, tuple[int, ...]]) -> int:
    """Multiply-accumulates one frame costs in the convolutions of an ONNX ``model`` (the sum of
    :func:`node_macs`)."""
    return sum(node_macs(model, input_shapes).values())


def node_macs(model, input_shapes: dict[str, tuple[int, ...]]) -> dict[str, int]:
    """Multiply-accumulates per frame of each Conv, DeformConv and ConvTranspose node, by node name (its
    first output's name when it has none).

    ``input_shapes`` gives each graph input's per-frame shape (without the batch). Shapes come from ONNX
    shape inference with the batch fixed to 1. Conv: ``prod(output [C, H, W]) * C_in / group *
    prod(kernel)`` (``DeformConv`` alike: its bilinear sampling is not counted); ConvTranspose:
    ``prod(input [C, H, W]) * C_out / group * prod(kernel)``. Element-wise
    ops (GELU, adds, resizes) are not counted: a few per value, and not what the papers' MACs count either.
    """
    import onnx

    model = onnx.ModelProto.FromString(model.SerializeToString())  # shapes are fixed on a copy
    for inp in model.graph.input:
        dims = inp.type.tensor_type.shape.dim
        if inp.name in input_shapes:
            for d, size in zip(dims, (1, *input_shapes[inp.name]), strict=True):
                d.Clear()
                d.dim_value = size
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    shapes = {}
    for vi in (*model.graph.input, *model.graph.value_info, *model.graph.output):
        shapes[vi.name] = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    for init in model.graph.initializer:
        shapes[init.name] = list(init.dims)
    macs = {}  # with the batch at 1, every product below is per frame
    for node in model.graph.node:
        if node.op_type not in ("Conv", "ConvTranspose", "DeformConv"):
            continue
        out = shapes.get(node.output[0])
        if not out or not all(out):
            raise UserError(f"cannot infer the output shape of {node.op_type} node {node.name!r}")
        a, b = shapes[node.input[0]], shapes[node.input[1]]
        name = node.name or node.output[0]
        if node.op_type != "ConvTranspose":  # Conv, DeformConv: b [C_out, C_in / group, k...]
            macs[name] = macs.get(name, 0) + math.prod(out) * math.prod(b[1:])
        else:  # ConvTranspose, b: [C_in, C_out / group, k...]
            macs[name] = macs.get(name, 0) + math.prod(a) * math.prod(b[1:])
    return macs
