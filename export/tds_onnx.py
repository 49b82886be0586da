"""The TDS enhancer (``trainer.tds.enhancer.Enhancer``) as an ONNX graph of standard ops.

Alignment stays deformable: every modulated deformable convolution of PCD is one ONNX ``DeformConv``
node, which needs opset 19. The model is written with IR version 9 (ONNX Runtime 1.31 runs
``DeformConv`` on CPU; TensorRT's ONNX parser accepts it; OpenVINO's ONNX frontend does not).
Inputs ``earlier``, ``target``, ``later`` ``[B, 3, H, W]`` float32 in [0, 1] (B dynamic, H and W fixed
at export), output ``frame`` ``[B, 3, H, W]``.
"""

from __future__ import annotations

import io
import warnings

import onnx
import torch

OPSET = 19
IR_VERSION = 9


def export_enhancer_onnx(enhancer, height: int, width: int) -> onnx.ModelProto:
    """Trace ``enhancer`` (eval, fp32) for ``height x width`` frames and return the checked proto."""
    names = list(enhancer.input_names)
    example = tuple(torch.rand(1, 3, height, width) for _ in names)
    was_training = enhancer.training
    enhancer.eval()
    buf = io.BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter emits the DeformConv symbolic
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # kernel/group ints: fixed by the weights
            torch.onnx.export(enhancer, example, buf, input_names=names, output_names=["frame"],
                              opset_version=OPSET, dynamo=False, do_constant_folding=True,
                              dynamic_axes={n: {0: "batch"} for n in [*names, "frame"]})
    finally:
        enhancer.train(was_training)
    proto = onnx.load_from_string(buf.getvalue())
    proto.ir_version = min(proto.ir_version, IR_VERSION)
    onnx.checker.check_model(proto)
    return proto
