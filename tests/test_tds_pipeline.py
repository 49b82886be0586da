"""TDS pipeline: both streams through a real base codec, Algorithm 1 over groups, two-stage training."""

import sys

import numpy as np
import pytest
import torch

from nervkit.export import tds_streams
from nervkit.export.tds_streams import make_layout
from nervkit.runtime import basecodec
from nervkit.runtime.errors import UserError
from nervkit.runtime.gop import frame_plan
from nervkit.trainer.tds import pipeline
from nervkit.trainer.tds.enhancer import Enhancer, config_for

pytest.importorskip("av")


def clip(n=10, h=32, w=64):
    """Smooth moving sinusoids in mid-range grey levels (code well at any rate)."""
    yy, xx = np.mgrid[0:h, 0:w]
    frames = [np.stack([128 + 60 * np.sin((xx + 2 * t) / 9), 128 + 60 * np.cos((yy + t) / 7),
                        128 + 40 * np.sin((xx + yy) / 11)], -1) for t in range(n)]
    return np.stack(frames).round().astype(np.uint8)


def psnr(a, b):
    return 10 * np.log10(255 ** 2 / np.mean((a.astype(float) - b) ** 2))


@pytest.mark.parametrize("base", ["x264", "x265"])
def test_code_and_decode_both_streams(base):
    frames = clip()
    lay = make_layout(10, 32, 64, gop=5, scale=2)
    streams = tds_streams.code(frames, lay, base, crf=18)
    assert streams.bits == 8 * (len(streams.key) + len(streams.lr)) > 0
    assert len(basecodec.decode(streams.key, base)) == 4 and basecodec.decode(streams.lr, base).shape == (6, 16, 32, 3)
    dec = tds_streams.decode(streams)
    assert dec.shape == frames.shape
    assert psnr(dec[lay.key_frames()], frames[lay.key_frames()]) > 30
    assert psnr(dec[lay.lr_frames()], frames[lay.lr_frames()]) > 20


def test_missing_pyav_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # import av now raises ImportError
    with pytest.raises(UserError, match=r"nervkit\[video\]"):
        basecodec.decode(b"", "x264")


def test_damaged_stream_is_a_user_error():
    streams = tds_streams.code(clip(), make_layout(10, 32, 64, gop=5, scale=2), "x264", crf=30)
    with pytest.raises(UserError):
        basecodec.decode(streams.key[:40] + bytes(200), "x264")
    with pytest.raises(UserError):
        basecodec.decode(b"", "x265")


def test_bad_base_and_crf():
    with pytest.raises(UserError):
        tds_streams.encode(clip(2), "vp9", 30)
    with pytest.raises(UserError):
        tds_streams.encode(clip(2), "x264", 60)


class Mean(torch.nn.Module):
    """A stand-in enhancer with a closed form: the mean of its two references."""

    def forward(self, earlier, target, later):
        return (earlier + later) / 2


def test_run_groups_follows_algorithm_1():
    groups = torch.rand(2, 5, 3, 4, 4)
    out = pipeline.run_groups(Mean(), groups, frame_plan(5))
    k0, k4 = groups[:, 0], groups[:, 4]
    mid = (k0 + k4) / 2
    want = torch.stack([(k0 + mid) / 2, mid, (mid + k4) / 2], 1)
    torch.testing.assert_close(out, want)


def test_enhance_with_zero_residual_returns_the_decoded_frames():
    torch.manual_seed(0)
    g = Enhancer(config_for("test"))
    last = [m for m in g.iqem.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.zeros_(last.bias)
    dec = clip(12)
    np.testing.assert_array_equal(pipeline.enhance(g, dec, 5, frame_plan(5), batch=1), dec)


@pytest.mark.slow
def test_two_stage_training_freezes_alignment_in_stage_2():
    torch.manual_seed(0)
    g = Enhancer(config_for("test"))
    frames = clip()
    lay = make_layout(10, 32, 64, gop=5, scale=2)
    dec = tds_streams.decode(tds_streams.code(frames, lay, "x264", crf=30))
    feats_before = [p.detach().clone() for p in g.features.parameters()]
    history = pipeline.train(g, [(dec, frames)], 5, frame_plan(5),
                             pipeline.TrainSettings(steps=4, patch=16, batch=1, finetune_pcd=0.0))
    assert [h["stage"] for h in history] == [1, 2]
    assert g.fusion.baseline is None  # stage 2 dropped the baseline fusion
    # features changed in stage 1 only; re-running stage 2 alone must leave them untouched
    after_stage1 = [p.detach().clone() for p in g.features.parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(feats_before, after_stage1))
    pipeline.train(g, [(dec, frames)], 5, frame_plan(5),
                   pipeline.TrainSettings(steps=2, patch=16, batch=1, stage1=0.0, finetune_pcd=0.0))
    assert all(torch.equal(a, b) for a, b in zip(after_stage1, g.features.parameters()))
