"""SNeRV: the LL side information and the paper's loss against PyWavelets + numpy, the geometry, its own budget
count, the exported decoder's IDWT (shapes, training, budgets and export of every family: test_families.py,
test_passes.py)."""

from __future__ import annotations

import numpy as np
import pytest
import pywt
import torch
from family_refs import BUDGETS_M, clip, fitted, l1_ssim_np, meta_encode

from nervkit.trainer.families.snerv import SNeRV, SNeRVConfig
from nervkit.trainer.registry import create_model
from nervkit.trainer.sizing import channel_widths


def _tiny(n=8):
    torch.manual_seed(0)
    return create_model("test-snerv", (32, 64), n)


def test_side_info_is_the_ll_min_and_max():
    frames = clip(8)
    model = _tiny()
    with torch.no_grad():
        e = model.encode(frames)
    # The side information is each frame's LL minimum and maximum (PyWavelets' Haar LL).
    ll = pywt.dwt2(frames.double().numpy(), "haar", mode="periodization", axes=(-2, -1))[0]
    expected = np.stack([ll.min(axis=(1, 2, 3)), ll.max(axis=(1, 2, 3))], axis=1)
    np.testing.assert_allclose(e["ll_range"].numpy(), expected, rtol=1e-5, atol=1e-6)


def test_loss_is_eq3_on_frame_and_pywavelets_coefficients():
    frames = clip(2)
    model = _tiny(2)
    with torch.no_grad():
        total, recon, terms = model.loss(frames)
        e = model.encode(frames)
        outs = model.synthesize(model.features(e["embed"]), e["ll_range"])
    frame_hat, ll_hat, high_hat = (t.double().numpy() for t in outs)
    x = frames.double().numpy()
    ll, (lh, hl, hh) = pywt.dwt2(x, "haar", mode="periodization", axes=(-2, -1))
    lo, hi = ll.min(axis=(1, 2, 3), keepdims=True), ll.max(axis=(1, 2, 3), keepdims=True)
    high = np.stack([lh, hl, hh], axis=2)  # [N, 3 colours, 3 bands, h, w]
    n, _, _, h, w = high.shape
    expected = {"frame": l1_ssim_np(frame_hat, x), "ll": l1_ssim_np(ll_hat, (ll - lo) / (hi - lo)),
                "high": l1_ssim_np(high_hat.reshape(n, 9, h, w), high.reshape(n, 9, h, w))}
    assert total.item() == pytest.approx(sum(expected.values()), rel=1e-5)
    assert {k: v.item() for k, v in terms.items()} == pytest.approx(expected, rel=1e-5)
    # The frame is the inverse Haar transform of the predicted sub-bands (LL de-normalised per frame).
    bands = (high_hat[:, :, 0], high_hat[:, :, 1], high_hat[:, :, 2])
    idwt = pywt.idwt2((ll_hat * (hi - lo) + lo, bands), "haar", mode="periodization", axes=(-2, -1))
    np.testing.assert_allclose(frame_hat, idwt, atol=1e-5)
    np.testing.assert_allclose(recon.numpy(), np.clip(frame_hat, 0, 1), atol=1e-6)


@pytest.mark.parametrize("size", BUDGETS_M)
def test_strides_at_640x1280_are_supplementary_table1(size):
    assert fitted("snerv", size).config.strides == [5, 4, 2, 2, 2]


def test_embedding_is_16x2x4_with_two_range_values():
    e = meta_encode(fitted("snerv", 0.35))
    assert e["embed"].shape == (1, 16, 2, 4) and e["ll_range"].shape == (1, 2)  # e_t is 16x2x4 (Sec. 3.4)
    with torch.no_grad():
        tiny = _tiny(4).encode(clip(4))
    assert tiny["embed"].shape == (4, 8, 1, 2) and tiny["ll_range"].shape == (4, 2)  # LL 16x32, strides 2,2,2,2,1


@pytest.mark.parametrize("size, c0, n_rb", [(0.35, 41, 2), (0.75, 57, 3), (1.5, 81, 4), (3.0, 111, 6)])
def test_budget_gives_supplementary_table4(size, c0, n_rb):
    config = fitted("snerv", size).config
    assert (config.widths[0], config.num_res_blocks) == (c0, n_rb)


def test_decoder_exports_one_haar_idwt():
    pytest.importorskip("onnx")
    from nervkit.export.onnx_graph import export_decoder_onnx

    model = _tiny(2)
    with torch.no_grad():
        graph = export_decoder_onnx(model, model.encode(clip(2)))
    assert [n.op_type for n in graph.graph.node if n.domain == "nervkit"] == ["HaarIDWT"]


@pytest.mark.parametrize("c0, n_rb, paper_m", [(111, 6, 3.01), (132, 8, 4.55), (148, 10, 5.93)])
def test_decoder_size_matches_supplementary_table4(c0, n_rb, paper_m):
    """The paper's own configurations at 640x1280 give the decoder sizes it reports (within 0.02M)."""
    config = SNeRVConfig(frame_hw=(640, 1280), strides=[5, 4, 2, 2, 2], widths=channel_widths(c0, 1.2, 12),
                         num_res_blocks=n_rb)
    with torch.device("meta"):
        model = SNeRV(config)
    assert model.decoder_parameters() / 1e6 == pytest.approx(paper_m, abs=0.02)
