"""HFE-HNeRV: WFD vs PyWavelets, harmonic activation, HFM, losses vs numpy, budgets, training, ONNX."""

from __future__ import annotations

import io

import numpy as np
import pytest
import pywt
import torch
from wavelet_family_refs import l1_ssim_np, textured_clip

from nervkit.trainer.base import DecoderGraph
from nervkit.trainer.families.hfe_hnerv import WFD, Harmonic, HFEHNeRVConfig, budget_count, frequency_loss
from nervkit.trainer.metrics import psnr
from nervkit.trainer.registry import create_model


def _tiny(n=8):
    torch.manual_seed(0)
    return create_model("test-hfe-hnerv", (32, 64), n)


def test_encode_decode_shapes_and_range():
    frames = textured_clip(8)
    model = _tiny()
    assert model.embed_names == ("embed", "hf_embed")
    with torch.no_grad():
        e = model.encode(frames)
        out = model.decode(e["embed"], e["hf_embed"])
    assert e["embed"].shape == (8, 8, 2, 4) and e["hf_embed"].shape == (8, 4, 2, 4)
    assert out.shape == frames.shape
    assert out.min() >= 0 and out.max() <= 1


def test_wfd_sums_the_pywavelets_detail_bands():
    x = torch.rand(2, 3, 10, 14)
    _, (lh, hl, hh) = pywt.dwt2(x.double().numpy(), "haar", axes=(-2, -1))
    wfd = WFD()
    np.testing.assert_allclose(wfd(x).numpy(), lh + hl + hh, atol=1e-6)
    wfd.dwt.exportable = True  # the slicing form gives the same bands
    np.testing.assert_allclose(wfd(x).numpy(), lh + hl + hh, atol=1e-6)


def test_harmonic_activation_is_w1_sin_plus_w2_cos():
    act = Harmonic(3)
    with torch.no_grad():
        act.w1.copy_(torch.tensor([0.5, -1.0, 2.0]))
        act.w2.copy_(torch.tensor([1.5, 0.25, -0.5]))
    x = torch.randn(2, 3, 4, 5)
    w1, w2 = act.w1.detach().numpy()[:, None, None], act.w2.detach().numpy()[:, None, None]
    expected = w1 * np.sin(x.numpy()) + w2 * np.cos(x.numpy())
    np.testing.assert_allclose(act(x).detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_hfm_starts_as_identity_then_modulates():
    model = _tiny(2)
    x, hf = torch.randn(2, 16, 2, 4), torch.randn(2, 4, 2, 4)
    torch.testing.assert_close(model.hfm(x, hf), x)
    with torch.no_grad():
        for conv in (model.hfm.gamma, model.hfm.beta):
            conv.weight.normal_()
            conv.bias.normal_()
        g = torch.nn.functional.gelu(model.hfm.hidden(hf))
        expected = x * (1 + model.hfm.gamma(g)) + model.hfm.beta(g)
        torch.testing.assert_close(model.hfm(x, hf), expected)


def test_frequency_loss_is_the_dynamic_weighted_formula():
    gen = torch.Generator().manual_seed(1)
    pred = torch.rand(2, 3, 8, 12, generator=gen, dtype=torch.float64, requires_grad=True)
    target = torch.rand(2, 3, 8, 12, generator=gen, dtype=torch.float64)
    p, t = pred.detach().numpy(), target.numpy()
    diff = np.abs(np.fft.fft2(p, norm="ortho") - np.fft.fft2(t, norm="ortho"))
    value = frequency_loss(pred, target)
    assert value.item() == pytest.approx(float((np.log1p(diff) * diff).mean()), rel=1e-10)
    # W = ln(1 + |dF|) is a weight: the gradient is that of mean(W_const * |dF|).
    value.backward()
    weight = torch.from_numpy(np.log1p(diff))
    pred2 = pred.detach().clone().requires_grad_()
    d = (torch.fft.fft2(pred2, norm="ortho") - torch.fft.fft2(target, norm="ortho")).abs()
    (weight * d).mean().backward()
    torch.testing.assert_close(pred.grad, pred2.grad)


def test_total_loss_is_l1_ssim_plus_frequency_term():
    frames = textured_clip(2)
    model = _tiny(2)
    with torch.no_grad():
        total, recon = model.loss(frames)
    p, t = recon.double().numpy(), frames.double().numpy()
    diff = np.abs(np.fft.fft2(p, norm="ortho") - np.fft.fft2(t, norm="ortho"))
    expected = l1_ssim_np(p, t, 0.7) + 1.0 * float((np.log1p(diff) * diff).mean())
    assert total.item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("size", [0.35, 0.75, 1.5, 3.0])
def test_budget_within_two_percent_at_640x1280(size):
    config = HFEHNeRVConfig.for_video((640, 1280), 132, size)
    count = budget_count(config, 132)
    assert abs(count - size * 1e6) <= 0.02 * size * 1e6


def test_budget_count_is_the_real_model():
    model = create_model("hfe-hnerv", (640, 1280), 132, 0.35)
    c = model.config
    with torch.no_grad():
        e = model.encode(torch.rand(1, 3, 640, 1280))
    assert e["embed"].shape == (1, 16, 2, 4) and e["hf_embed"].shape == (1, c.hf_dim, 2, 4)
    assert budget_count(c, 132) == model.decoder_parameters() + 132 * (16 + c.hf_dim) * 2 * 4


def test_trains_and_improves_psnr():
    frames = textured_clip(8)
    model = _tiny()
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    with torch.no_grad():
        before = psnr(model(frames), frames).mean().item()
    for _ in range(30):
        loss, _ = model.loss(frames)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = psnr(model(frames), frames).mean().item()
    assert after > before + 1.0, (before, after)


def test_onnx_export_matches_eager():
    ort = pytest.importorskip("onnxruntime")
    model = _tiny(4).eval()
    with torch.no_grad():
        e = model.encode(textured_clip(4))
        inputs = (e["embed"], e["hf_embed"])
        eager = model.decode(*inputs).numpy()
        buf = io.BytesIO()
        names = list(model.embed_names)
        torch.onnx.export(DecoderGraph(model.set_exportable()), inputs, buf, input_names=names,
                          output_names=["frames"], opset_version=17, dynamo=False,
                          dynamic_axes={**{k: {0: "n"} for k in names}, "frames": {0: "n"}})
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    out = sess.run(None, {k: v.numpy() for k, v in zip(names, inputs, strict=True)})[0]
    np.testing.assert_allclose(out, eager, atol=1e-4)
