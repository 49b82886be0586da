"""SNeRV: shapes, the paper's loss against PyWavelets + numpy, budgets, training, ONNX export."""

from __future__ import annotations

import io

import numpy as np
import pytest
import pywt
import torch
from wavelet_family_refs import l1_ssim_np, textured_clip

from nervkit.trainer.base import DecoderGraph
from nervkit.trainer.families.snerv import SNeRV, SNeRVConfig, budget_count
from nervkit.trainer.metrics import psnr
from nervkit.trainer.registry import create_model


def _tiny(n=8):
    torch.manual_seed(0)
    return create_model("test-snerv", (32, 64), n)


def test_encode_decode_shapes_range_and_side_info():
    frames = textured_clip(8)
    model = _tiny()
    assert model.embed_names == ("embed", "ll_range")
    with torch.no_grad():
        e = model.encode(frames)
        out = model.decode(e["embed"], e["ll_range"])
    assert e["embed"].shape == (8, 8, 1, 2)  # LL 16x32 over strides 2,2,2,2,1
    assert e["ll_range"].shape == (8, 2)
    assert out.shape == frames.shape
    assert out.min() >= 0 and out.max() <= 1
    # The side information is each frame's LL minimum and maximum (PyWavelets' Haar LL).
    ll = pywt.dwt2(frames.double().numpy(), "haar", mode="periodization", axes=(-2, -1))[0]
    expected = np.stack([ll.min(axis=(1, 2, 3)), ll.max(axis=(1, 2, 3))], axis=1)
    np.testing.assert_allclose(e["ll_range"].numpy(), expected, rtol=1e-5, atol=1e-6)


def test_loss_is_eq3_on_frame_and_pywavelets_coefficients():
    frames = textured_clip(2)
    model = _tiny(2)
    with torch.no_grad():
        total, recon = model.loss(frames)
        e = model.encode(frames)
        outs = model.synthesize(e["embed"], e["ll_range"])
    frame_hat, ll_hat, high_hat = (t.double().numpy() for t in outs)
    x = frames.double().numpy()
    ll, (lh, hl, hh) = pywt.dwt2(x, "haar", mode="periodization", axes=(-2, -1))
    lo, hi = ll.min(axis=(1, 2, 3), keepdims=True), ll.max(axis=(1, 2, 3), keepdims=True)
    high = np.stack([lh, hl, hh], axis=2)  # [N, 3 colours, 3 bands, h, w]
    n, _, _, h, w = high.shape
    expected = (l1_ssim_np(frame_hat, x) + l1_ssim_np(ll_hat, (ll - lo) / (hi - lo))
                + l1_ssim_np(high_hat.reshape(n, 9, h, w), high.reshape(n, 9, h, w)))
    assert total.item() == pytest.approx(expected, rel=1e-5)
    # The frame is the inverse Haar transform of the predicted sub-bands (LL de-normalised per frame).
    bands = (high_hat[:, :, 0], high_hat[:, :, 1], high_hat[:, :, 2])
    idwt = pywt.idwt2((ll_hat * (hi - lo) + lo, bands), "haar", mode="periodization", axes=(-2, -1))
    np.testing.assert_allclose(frame_hat, idwt, atol=1e-5)
    np.testing.assert_allclose(recon.numpy(), np.clip(frame_hat, 0, 1), atol=1e-6)


@pytest.mark.parametrize("size", [0.35, 0.75, 1.5, 3.0])
def test_budget_within_two_percent_at_640x1280(size):
    config = SNeRVConfig.for_video((640, 1280), 132, size)
    assert config.strides == [5, 4, 2, 2, 2]  # supplementary Table 1
    count = budget_count(config, 132)
    assert abs(count - size * 1e6) <= 0.02 * size * 1e6


def test_budget_count_is_the_real_model():
    model = create_model("snerv", (640, 1280), 132, 0.35)
    with torch.no_grad():
        e = model.encode(torch.rand(1, 3, 640, 1280))
    assert e["embed"].shape == (1, 16, 2, 4)  # e_t is 16x2x4 (Sec. 3.4)
    # decoder + 132 frames x (16x2x4 embedding + LL min and max)
    assert budget_count(model.config, 132) == model.decoder_parameters() + 132 * (16 * 2 * 4 + 2)


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
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from nervkit.export.passes.pipeline import optimize_for

    model = _tiny(4).eval()
    with torch.no_grad():
        e = model.encode(textured_clip(4))
        inputs = (e["embed"], e["ll_range"])
        eager = model.decode(*inputs).numpy()
        buf = io.BytesIO()
        names = list(model.embed_names)
        torch.onnx.export(DecoderGraph(model.set_exportable()), inputs, buf, input_names=names,
                          output_names=["frames"], opset_version=17, dynamo=False,
                          dynamic_axes={**{k: {0: "n"} for k in names}, "frames": {0: "n"}})
        np.testing.assert_allclose(model.decode(*inputs).numpy(), eager, atol=1e-5)
    graph = onnx.load_from_string(buf.getvalue())
    assert [n.op_type for n in graph.graph.node if n.domain == "nervkit"] == ["HaarIDWT"]
    for fold in (True, False):
        sess = ort.InferenceSession(optimize_for(graph, "ort", fold=fold).SerializeToString(),
                                    providers=["CPUExecutionProvider"])
        out = sess.run(None, {k: v.numpy() for k, v in zip(names, inputs, strict=True)})[0]
        np.testing.assert_allclose(out, eager, atol=1e-4)


@pytest.mark.parametrize("c0, n_rb, paper_m", [(111, 6, 3.01), (132, 8, 4.55), (148, 10, 5.93)])
def test_decoder_size_matches_supplementary_table4(c0, n_rb, paper_m):
    """The paper's own configurations at 640x1280 give the decoder sizes it reports (within 0.02M)."""
    config = SNeRVConfig(frame_hw=(640, 1280), strides=[5, 4, 2, 2, 2], fc_dim=c0, num_res_blocks=n_rb)
    with torch.device("meta"):
        model = SNeRV(config)
    assert model.decoder_parameters() / 1e6 == pytest.approx(paper_m, abs=0.02)
