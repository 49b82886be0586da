"""The TDS enhancer exported to ONNX (standard ops, DeformConv at opset 19, IR 9) against eager PyTorch."""

import numpy as np
import onnxruntime as ort
import pytest
import torch

from nervkit.export.tds_onnx import export_enhancer_onnx
from nervkit.trainer.tds.enhancer import Enhancer, config_for


@pytest.mark.parametrize("fusion", ["mtsa", "conv"])
def test_enhancer_onnx_matches_eager(fusion):
    torch.manual_seed(0)
    g = Enhancer(config_for("test", fusion)).eval()
    for m in g.modules():  # non-zero offsets, so the deformable sampling is really exercised
        if hasattr(m, "conv_offset"):
            torch.nn.init.normal_(m.conv_offset.weight, std=0.1)
    proto = export_enhancer_onnx(g, 16, 24)
    assert proto.ir_version <= 9
    assert {(o.domain, o.version) for o in proto.opset_import} == {("", 19)}
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("DeformConv") == 4  # PCD: three pyramid levels and the cascade, all frames in one batch
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    frames = [torch.rand(2, 3, 16, 24) for _ in range(3)]
    got = sess.run(None, {n: f.numpy() for n, f in zip(g.input_names, frames)})[0]
    with torch.no_grad():
        want = g(*frames).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)
