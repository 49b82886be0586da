"""SNeRV-T: the 2+1D DWT against PyWavelets, mirrored neighbours, the parameter count of supplementary Table 2a
measured from the official code, the TUB's time collapse (shapes, training and export of every family:
test_families.py, test_passes.py)."""

from __future__ import annotations

import numpy as np
import pytest
import pywt
import torch
from family_refs import PAPER_FRAMES, PAPER_HW, clip, fitted, meta_encode

from nervkit.trainer.families.snerv_t import TUB, SNeRVT, SNeRVTConfig
from nervkit.trainer.registry import create_model
from nervkit.trainer.sizing import channel_widths, model_budget


def _tiny(n=4):
    torch.manual_seed(0)
    return create_model("test-snerv-t", (32, 64), n)


def test_neighbours_are_mirrored_at_the_ends():
    model = _tiny()
    got = model.input_index(5, torch.tensor([0, 2, 4]))
    assert got.tolist() == [[1, 0, 1], [1, 2, 3], [3, 4, 3]]
    assert model.input_index(1, torch.tensor([0])).tolist() == [[0, 0, 0]]


def test_2plus1d_dwt_matches_pywavelets():
    gen = torch.Generator().manual_seed(3)
    windows = torch.rand(2, 3, 3, 16, 24, generator=gen)
    ll_cur, low_b, low_f, ll_range = (t.double().numpy() for t in _tiny().bands(windows))
    x = windows.double().numpy()
    ll = pywt.dwt2(x, "haar", mode="periodization", axes=(-2, -1))[0]  # [N, 3 frames, 3 colours, h, w]
    lo, hi = ll.min(axis=(1, 2, 3, 4)), ll.max(axis=(1, 2, 3, 4))  # one range for the whole triplet
    norm = (ll - lo[:, None, None, None, None]) / (hi - lo)[:, None, None, None, None]
    # 1-D Haar over time of (t-1, t) and (t, t+1), keeping the low band, halved as the official code feeds it
    back = pywt.dwt(norm[:, 0:2], "haar", mode="periodization", axis=1)[0][:, 0] / 2
    fwd = pywt.dwt(norm[:, 1:3], "haar", mode="periodization", axis=1)[0][:, 0] / 2
    np.testing.assert_allclose(ll_range, np.stack([lo, hi], 1), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ll_cur, norm[:, 1], atol=1e-5)
    np.testing.assert_allclose(low_b, back, atol=1e-5)
    np.testing.assert_allclose(low_f, fwd, atol=1e-5)


def test_parameters_match_supplementary_table2a():
    """C0 103, N_RB 6 at 640x1280 (Table 2a), measured from the official ``SNeRV_T``: its ``model.decoder``
    holds 2,339,468 parameters (the official count leaves out the 3x3 head, which it also runs), and with
    132 frames of 16x2x4 + 2 x 3x20x40 embeddings and the 2 range values the total is 2.990M."""
    config = SNeRVTConfig(frame_hw=PAPER_HW, strides=[5, 4, 2, 2, 2], widths=channel_widths(103, 1.2, 12),
                          num_res_blocks=6)
    with torch.device("meta"):
        model = SNeRVT(config)
    head = sum(p.numel() for p in model.head.parameters())
    assert model.decoder_parameters() - head == 2_339_468
    per_frame = {k: tuple(v.shape[1:]) for k, v in meta_encode(model).items()}
    assert per_frame == {"embed": (16, 2, 4), "t_embed_b": (3, 20, 40), "t_embed_f": (3, 20, 40), "ll_range": (2,)}
    total = model_budget(SNeRVT, config, PAPER_FRAMES)
    assert total - head == 2_339_468 + PAPER_FRAMES * (16 * 2 * 4 + 2 * 3 * 20 * 40 + 2)
    assert round((total - head) / 1e6, 3) == 2.990


def test_budget_3m_is_table2a():
    config = fitted("snerv-t", 3.0).config
    assert (config.widths[0], config.num_res_blocks, config.strides) == (103, 6, [5, 4, 2, 2, 2])


def test_last_tub_collapses_time_with_unpadded_conv3d():
    torch.manual_seed(1)
    tub = TUB(4, 3, 2, last=True).double()
    x, xb, xf = (torch.randn(2, 4, 3, 5, dtype=torch.float64) for _ in range(3))
    with torch.no_grad():
        out = tub(x, xb, xf)
        cur = tub.up(x)
        stack = torch.stack([tub.up_b(xb), cur, tub.up_f(xf)], 2)
        hidden = torch.nn.functional.leaky_relu(tub.conv1(stack), 0.1)
        # the second Conv3d over the 3 time steps without temporal padding = sum over its 3 temporal taps
        w, b = tub.conv2.weight, tub.conv2.bias
        collapsed = sum(torch.nn.functional.conv2d(hidden[:, :, t], w[:, :, t], padding=1) for t in range(3)) \
            + b[None, :, None, None]
        expected = torch.nn.functional.leaky_relu(collapsed, 0.1) + cur
    assert out.shape == (2, 3, 6, 10)
    torch.testing.assert_close(out, expected)


def test_loss_terms_sum_to_the_loss():
    model = _tiny(4)
    frames = clip(4)
    windows = frames[model.input_index(4, torch.arange(4))]
    with torch.no_grad():
        total, recon, terms = model.loss(windows)
    assert sorted(terms) == ["frame", "high", "ll"] and recon.shape == frames.shape
    assert total.item() == pytest.approx(sum(v.item() for v in terms.values()))
