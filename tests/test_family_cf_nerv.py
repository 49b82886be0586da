"""CF-NeRV: CFC-Block, FARM and ERRH against the paper's equations, the loss, the geometry and the exported
decoder's ops (shapes, training, budgets and export of every family: test_families.py, test_passes.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from family_refs import BUDGETS_M, clip, fitted

from nervkit.trainer.families.cf_nerv import ERRH, FARM, CFCBlock, CFNeRV
from nervkit.trainer.registry import create_model


def _tiny(n: int = 8) -> CFNeRV:
    torch.manual_seed(0)
    return create_model("test-cf-nerv", (32, 64), n)


def _wb(conv):
    return conv.weight.double(), conv.bias.double()


def calibration_reference(block: CFCBlock, x: torch.Tensor) -> torch.Tensor:
    """Eq. 2-3 and ``F_calib = U_s + U_c`` in float64."""
    c = block.calib
    u_s = x * torch.sigmoid(F.conv2d(x, *_wb(c.spatial)))
    z = x.mean(dim=(2, 3), keepdim=True)  # global average pooling
    u_c = x * torch.sigmoid(F.conv2d(F.relu(F.conv2d(z, *_wb(c.fc1))), *_wb(c.fc2)))
    return u_s + u_c


def test_cfc_block_is_eq1_to_3():
    torch.manual_seed(1)
    block = CFCBlock(12, 6, 3, 2, reduction=4)
    x = torch.randn(2, 12, 5, 7)
    with torch.no_grad():
        out = block(x)
        calib = calibration_reference(block, x.double())
        up = F.pixel_shuffle(F.conv2d(calib, *_wb(block.conv.upconv[0]), padding=1), 2)
        expected = F.gelu(up)  # Eq. 1: no normalisation, GELU
    assert out.shape == (2, 6, 10, 14)
    np.testing.assert_allclose(out.numpy(), expected.numpy(), atol=1e-5)


def mean3x3_inside(x: np.ndarray) -> np.ndarray:
    """Mean of each pixel's 3x3 neighbourhood, counting only neighbours inside the image."""
    h, w = x.shape[-2:]
    total, count = np.zeros_like(x), np.zeros((h, w))
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            ys, xs = slice(max(dy, 0), h + min(dy, 0)), slice(max(dx, 0), w + min(dx, 0))
            yd, xd = slice(max(-dy, 0), h + min(-dy, 0)), slice(max(-dx, 0), w + min(-dx, 0))
            total[..., yd, xd] += x[..., ys, xs]
            count[yd, xd] += 1
    return total / count


@pytest.mark.parametrize("hw", [(8, 12), (7, 9)])
def test_farm_is_eq4_to_6(hw):
    torch.manual_seed(2)
    config = CFNeRV.tiny_config((32, 64), 1)
    farm = FARM(6, config)
    with torch.no_grad():
        farm.res_scale.fill_(0.37)  # a trained value, so the scale is seen to be used
    x = torch.randn(2, 6, *hw).double()
    low = torch.from_numpy(mean3x3_inside(x.numpy()))  # Eq. 4: average-pool low-pass
    high = x - low
    with torch.no_grad():
        low_t = F.conv2d(low, *_wb(farm.low), padding=2, dilation=2)  # d = 2
        gate = torch.sigmoid(F.conv2d(high, *_wb(farm.gate), padding=1, groups=6))  # depthwise
        high_t = high * gate * 2.0  # Eq. 5, alpha = 2
        expected = x + 0.37 * F.conv2d(torch.cat([low_t, high_t], 1), *_wb(farm.fuse))  # Eq. 6
        out = farm(x.float())
    np.testing.assert_allclose(out.numpy(), expected.numpy(), atol=1e-5)


def test_errh_is_eq7():
    torch.manual_seed(3)
    head = ERRH(6, 0.1)
    with torch.no_grad():
        head.beta.fill_(0.6)
        x = torch.randn(2, 6, 7, 9)
        main = F.conv2d(x.double(), *_wb(head.main), padding=1)
        err = F.conv2d(x.double(), *_wb(head.err), padding=1)
        expected = torch.tanh(main + 0.6 * err) / 2 + 0.5
        out = head(x)
    np.testing.assert_allclose(out.numpy(), expected.numpy(), atol=1e-6)


def test_constants_and_their_initial_values():
    model = _tiny()
    params, buffers = dict(model.named_parameters()), dict(model.named_buffers())
    assert buffers["farm.alpha"].item() == 2.0 and "farm.alpha" not in params
    assert params["farm.res_scale"].item() == pytest.approx(0.1)  # lambda_res init 0.1
    assert params["head.beta"].item() == pytest.approx(0.1)  # beta init 0.1
    assert not any(isinstance(m, torch.nn.modules.batchnorm._NormBase) for m in model.modules())


def test_loss_is_mse():
    frames = clip(2)
    model = _tiny(2)
    with torch.no_grad():
        total, recon, terms = model.loss(frames)
    assert total.item() == pytest.approx(np.mean((recon.double().numpy() - frames.double().numpy()) ** 2),
                                         rel=1e-5)
    assert list(terms) == ["mse"] and terms["mse"].item() == pytest.approx(total.item())


@pytest.mark.parametrize("size", BUDGETS_M)
def test_strides_at_640x1280_are_sec_4_1(size):
    assert fitted("cf-nerv", size).config.strides == [5, 4, 4, 2, 2]


def test_decoder_exports_standard_ops_only():
    pytest.importorskip("onnx")
    from nervkit.export.onnx_graph import export_decoder_onnx

    model = _tiny(2)
    with torch.no_grad():
        graph = export_decoder_onnx(model, model.encode(clip(2)))
    assert not [n for n in graph.graph.node if n.domain not in ("", "ai.onnx")]
