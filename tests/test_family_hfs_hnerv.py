"""HFS-HNeRV: HFSCM and MSFRP against the paper's equations, the HFS loss against numpy FFT, the exported
decoder's Haar nodes (shapes, training, budgets and export of every family: test_families.py, test_passes.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from family_refs import clip

from nervkit.trainer.families.hfs_hnerv import HFSCM, HaarSpatialAttention, HFSHNeRV
from nervkit.trainer.hfs_loss import hfs_loss
from nervkit.trainer.registry import create_model


def _tiny(n: int = 8) -> HFSHNeRV:
    torch.manual_seed(0)
    return create_model("test-hfs-hnerv", (32, 64), n)


def haar_eq5_9(x: np.ndarray) -> tuple[np.ndarray, ...]:
    """Eq. 5-9 literally: rows then columns with ``A = (x0 + x1)/sqrt2``, ``D = (x0 - x1)/sqrt2``.

    Odd sides are zero-padded. Returns ``LL, HL, LH, HH`` laid out as Eq. 8's quadrants.
    """
    x = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(0, x.shape[-2] % 2), (0, x.shape[-1] % 2)])
    s = np.sqrt(2.0)
    a, d = (x[..., 0::2] + x[..., 1::2]) / s, (x[..., 0::2] - x[..., 1::2]) / s  # Eq. 7: [A | D]
    ll, hl = (a[..., 0::2, :] + a[..., 1::2, :]) / s, (a[..., 0::2, :] - a[..., 1::2, :]) / s
    lh, hh = (d[..., 0::2, :] + d[..., 1::2, :]) / s, (d[..., 0::2, :] - d[..., 1::2, :]) / s
    return ll, hl, lh, hh


def _wb(conv):
    return conv.weight.double(), conv.bias.double()


def hfscm_reference(m: HFSCM, f1: torch.Tensor) -> torch.Tensor:
    """Eq. 1-2, 10-17 with torch primitives in float64 and the Haar DWT of :func:`haar_eq5_9`."""
    k = m.spatial.reduce.kernel_size[0]
    h, w = f1.shape[-2:]
    # Eq. 1-2
    att = torch.sigmoid(F.conv2d(F.gelu(F.conv2d(f1, *_wb(m.channel.fc1))), *_wb(m.channel.fc2)))
    f2 = f1 * att + f1
    # Eq. 10-16
    r = F.conv2d(f2, *_wb(m.spatial.reduce), padding=k // 2)
    enhanced = []
    for phi, band in zip(m.spatial.enhance.tolist(), haar_eq5_9(r.numpy()), strict=True):
        up = F.interpolate(torch.from_numpy(band), scale_factor=2, mode="bilinear", align_corners=False)
        enhanced.append(phi * up[..., :h, :w] + r)
    concat = torch.cat([f2, *enhanced], 1)
    f3 = f2 * torch.sigmoid(F.conv2d(F.gelu(concat), *_wb(m.spatial.attend), padding=k // 2)) + f2
    # Eq. 17 with the dual 3x3 convs
    y = F.conv2d(F.gelu(F.conv2d(F.gelu(f3), *_wb(m.conv1), padding=1)), *_wb(m.conv2), padding=1)
    return y + f1


@pytest.mark.parametrize("hw", [(8, 12), (7, 9)])
@pytest.mark.parametrize("exportable", [False, True])
def test_hfscm_is_the_papers_equations(hw, exportable):
    torch.manual_seed(1)
    m = HFSCM(10, 5, 7, (0.5, 1.5, 2.5, 3.5))  # distinct Phi: a band-order mix-up would show
    m.spatial.dwt.exportable = exportable
    x = torch.randn(2, 10, *hw)
    with torch.no_grad():
        out, ref = m(x), hfscm_reference(m, x.double())
    np.testing.assert_allclose(out.numpy(), ref.numpy(), atol=1e-5)


def test_attention_constants_are_buffers():
    model = _tiny()
    att = [m for m in model.modules() if isinstance(m, HaarSpatialAttention)]
    assert len(att) == 5
    buffers = dict(model.named_buffers())
    assert all(torch.equal(a.enhance, torch.tensor([1.0, 2.0, 2.0, 2.0])) for a in att)
    assert sum(name.endswith("spatial.enhance") for name in buffers) == 5
    assert not any(name.endswith("enhance") for name, _ in model.named_parameters())


def test_msfrp_wiring():
    frames = clip(4)
    model = _tiny(4)
    feats = []
    for stage in model.stages:
        stage.register_forward_hook(lambda mod, inp, out: feats.append(out))
    with torch.no_grad():
        embed = model.encode(frames)["embed"]
        out = model.decode(embed)
    # MSFRP (Sec. 3.2): the third-to-last stage -> 1x1 conv to 3 channels -> bilinear up -> added to the head
    with torch.no_grad():
        skip = F.conv2d(feats[2], model.reuse.weight, model.reuse.bias)
        skip = F.interpolate(skip, size=(32, 64), mode="bilinear", align_corners=False)
        expected = torch.tanh(model.head(feats[4]) + skip) / 2 + 0.5
    np.testing.assert_allclose(out.numpy(), expected.numpy(), atol=1e-6)


def test_msfrp_reuses_the_160x320_map_at_640x1280():
    config = HFSHNeRV.for_video((640, 1280), 132, 1.5)
    assert config.strides == [5, 4, 4, 2, 2]
    with torch.device("meta"):
        model = HFSHNeRV(config)
        seen = []
        model.reuse.register_forward_hook(lambda mod, inp, out: seen.append(tuple(inp[0].shape[-2:])))
        out = model.decode(torch.empty(1, 16, 2, 4))
    assert seen == [(160, 320)] and tuple(out.shape) == (1, 3, 640, 1280)  # Table 5, Layer3


def hfs_numpy(pred: np.ndarray, gt: np.ndarray, m: int, g: float) -> float:
    """Eq. 23 with numpy FFT: each image filtered separately, square mask built cell by cell."""
    h, w = pred.shape[-2:]
    mask = np.ones((h, w))
    for u in range(h):
        for v in range(w):
            if h // 2 - m <= u < h // 2 + m and w // 2 - m <= v < w // 2 + m:
                mask[u, v] = 0.0

    def highpass(img):
        spec = np.fft.fftshift(np.fft.fft2(img, axes=(-2, -1)), axes=(-2, -1))
        return np.fft.ifft2(np.fft.ifftshift(g * mask * spec, axes=(-2, -1)), axes=(-2, -1)).real

    return float(np.mean((highpass(pred) - highpass(gt)) ** 2))


@pytest.mark.parametrize("hw,m", [((20, 24), 5), ((19, 23), 4), ((8, 10), 17)])
def test_hfs_loss_matches_numpy_fft(hw, m):
    gen = torch.Generator().manual_seed(2)
    pred, gt = torch.rand(2, 3, *hw, generator=gen), torch.rand(2, 3, *hw, generator=gen)
    ours = hfs_loss(pred.double(), gt.double(), cutoff=m, gain=3.0).item()
    assert ours == pytest.approx(hfs_numpy(pred.double().numpy(), gt.double().numpy(), m, 3.0), rel=1e-10)


@pytest.mark.parametrize("k,expected", [(2, 0.0), (6, 9.0 / 8), (9, 9.0 / 2)])
def test_hfs_mask_and_gain_on_a_cosine(k, expected):
    """A cosine of ``k`` cycles across the width has spectrum bins at +-k. With ``m = 6`` and ``g = 3``:
    ``k < m`` is removed, ``k > m`` comes back as ``g cos`` (loss ``g^2 / 2``), and at ``k = m`` only the
    ``-m`` bin is inside the square, so ``g/2 cos`` remains (loss ``g^2 / 8``)."""
    x = torch.arange(32, dtype=torch.float64)
    img = torch.cos(2 * np.pi * k * x / 32).expand(1, 1, 16, 32)
    loss = hfs_loss(img, torch.zeros_like(img), cutoff=6, gain=3.0)
    assert loss.item() == pytest.approx(expected, abs=1e-12)


def test_model_loss_is_eq24():
    frames = clip(2)
    model = _tiny(2)
    with torch.no_grad():
        total, recon, terms = model.loss(frames)
    p, t = recon.double().numpy(), frames.double().numpy()
    mse, hfs = np.mean((p - t) ** 2), hfs_numpy(p, t, 4, 3.0)  # test variant: m = 4 on 32x64
    assert total.item() == pytest.approx(mse + 0.12 * hfs, rel=1e-5)
    assert (terms["mse"].item(), terms["hfs"].item()) == (pytest.approx(mse, rel=1e-5), pytest.approx(hfs, rel=1e-5))
    np.testing.assert_allclose(recon.numpy(), model(frames).detach().numpy(), atol=1e-6)


def test_decoder_exports_one_haar_dwt_per_stage():
    pytest.importorskip("onnx")
    from nervkit.export.onnx_graph import export_decoder_onnx

    model = _tiny(2)
    with torch.no_grad():
        graph = export_decoder_onnx(model, model.encode(clip(2)))
    assert [n.op_type for n in graph.graph.node if n.domain == "nervkit"] == ["HaarDWT"] * 5
