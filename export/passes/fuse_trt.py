"""Pass (TensorRT target): fuse a ``Clip(0, 1)`` that follows a ``HaarIDWT`` into the plugin node.

The fused ``HaarIDWT`` (attribute ``clamp = 1``) clamps while it writes the frame, saving one read and one
write of the full-resolution output (SNeRV clamps its IDWT output to [0, 1]). Nodes without the fusion get
``clamp = 0`` so every HaarIDWT node carries the attribute its plugin reads.
"""

from __future__ import annotations

import onnx
from onnx import helper

from ..haar_onnx import IDWT_OP, is_haar
from .cleanup import bypass
from .onnx_edit import attr, const, consumers, only_feeds


def _is_unit_clip(model: onnx.ModelProto, node: onnx.NodeProto) -> bool:
    if node.op_type != "Clip" or len(node.input) < 3:
        return False
    lo, hi = const(model, node.input[1]), const(model, node.input[2])
    return lo is not None and hi is not None and float(lo) == 0.0 and float(hi) == 1.0


def fuse_idwt_clamp(model: onnx.ModelProto) -> onnx.ModelProto:
    for node in [n for n in model.graph.node if is_haar(n) and n.op_type == IDWT_OP]:
        readers = consumers(model)[node.output[0]]
        fuse = (len(readers) == 1 and _is_unit_clip(model, readers[0])
                and only_feeds(model, node.output[0], readers[0]))
        if attr(node, "clamp") is None:
            node.attribute.append(helper.make_attribute("clamp", int(fuse)))
        if fuse:
            clip = readers[0]
            clip.input[:] = [node.output[0]]
            bypass(model, clip)
    return model
