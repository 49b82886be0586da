"""HFE-HNeRV: WFD vs PyWavelets, harmonic activation, HFM, losses vs numpy, its own budget count (shapes,
training, budgets and export of every family: test_families.py, test_passes.py)."""

from __future__ import annotations

import numpy as np
import pytest
import pywt
import torch
from family_refs import clip, fitted, l1_ssim_np, meta_encode

from nervkit.trainer.families.hfe_hnerv import WFD, Harmonic, frequency_loss
from nervkit.trainer.registry import create_model


def _tiny(n=8):
    torch.manual_seed(0)
    return create_model("test-hfe-hnerv", (32, 64), n)


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
    frames = clip(2)
    model = _tiny(2)
    with torch.no_grad():
        total, recon, terms = model.loss(frames)
    p, t = recon.double().numpy(), frames.double().numpy()
    diff = np.abs(np.fft.fft2(p, norm="ortho") - np.fft.fft2(t, norm="ortho"))
    spatial, freq = l1_ssim_np(p, t, 0.7), float((np.log1p(diff) * diff).mean())
    assert total.item() == pytest.approx(spatial + 1.0 * freq, rel=1e-5)
    assert terms["spatial"].item() == pytest.approx(spatial, rel=1e-5)
    assert terms["frequency"].item() == pytest.approx(freq, rel=1e-5)


def test_hf_embedding_is_on_the_content_grid():
    model = fitted("hfe-hnerv", 0.35)
    e = meta_encode(model)
    assert e["embed"].shape == (1, 16, 2, 4) and e["hf_embed"].shape == (1, model.config.hf_dim, 2, 4)
    with torch.no_grad():
        tiny = _tiny(4).encode(clip(4))
    assert tiny["embed"].shape == (4, 8, 2, 4) and tiny["hf_embed"].shape == (4, 4, 2, 4)
