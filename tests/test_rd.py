"""nerv-rd: Bjontegaard deltas against closed forms and an independent library, numpy metrics against the
torch ones, the torch-free source reader against the trainer's, codec anchors, bpp, and bad input."""

import json
import os

import numpy as np
import pytest
import torch
from tiny import tiny_model_pt

from nervkit.export.files import load_video
from nervkit.player import anchors
from nervkit.player.bjontegaard import bd_psnr, bd_rate
from nervkit.player.rd import main
from nervkit.runtime import quality, video
from nervkit.trainer import metrics
from nervkit.trainer.synthetic import synthetic_clip, write_frames_png

RATES = np.array([0.05, 0.11, 0.2, 0.37, 0.8])
PSNRS = np.array([27.0, 30.1, 32.4, 34.9, 37.2])


@pytest.mark.parametrize("method", ["cubic", "pchip"])
def test_bd_of_a_curve_against_itself_is_zero(method):
    assert bd_rate((RATES, PSNRS), (RATES, PSNRS), method)[0] == pytest.approx(0.0, abs=1e-9)
    assert bd_psnr((RATES, PSNRS), (RATES, PSNRS), method)[0] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("method", ["cubic", "pchip"])
def test_bd_of_shifted_curves_is_the_shift(method):
    # The same qualities at 0.7x the rate: every fit moves by log10(0.7), so BD-rate is -30 % exactly.
    assert bd_rate((RATES, PSNRS), (0.7 * RATES, PSNRS), method)[0] == pytest.approx(-30.0, abs=1e-6)
    # The same rates at +1.25 dB.
    assert bd_psnr((RATES, PSNRS), (RATES, PSNRS + 1.25), method)[0] == pytest.approx(1.25, abs=1e-9)


def test_bd_cubic_matches_a_numerical_integral():
    """A test curve that is no shift of the anchor: VCEG-M33 computed another way (numpy's Polynomial
    least-squares fit, averaged by the trapezoid rule on a fine grid)."""
    test_r, test_p = np.array([0.07, 0.15, 0.3, 0.6]), np.array([26.5, 30.6, 33.8, 36.0])

    def mean_of_fit(x, y, lo, hi):
        poly = np.polynomial.Polynomial.fit(x, y, 3)
        grid = np.linspace(lo, hi, 20001)
        return np.trapezoid(poly(grid), grid) / (hi - lo)

    lo, hi = max(PSNRS.min(), test_p.min()), min(PSNRS.max(), test_p.max())
    d = mean_of_fit(test_p, np.log10(test_r), lo, hi) - mean_of_fit(PSNRS, np.log10(RATES), lo, hi)
    assert bd_rate((RATES, PSNRS), (test_r, test_p))[0] == pytest.approx(100 * (10**d - 1), abs=1e-5)
    lo, hi = np.log10(max(RATES.min(), test_r.min())), np.log10(min(RATES.max(), test_r.max()))
    d = mean_of_fit(np.log10(test_r), test_p, lo, hi) - mean_of_fit(np.log10(RATES), PSNRS, lo, hi)
    assert bd_psnr((RATES, PSNRS), (test_r, test_p))[0] == pytest.approx(d, abs=1e-6)


def test_bd_pchip_matches_the_bjontegaard_package():
    ref = pytest.importorskip("bjontegaard")
    test_r, test_p = np.array([0.07, 0.15, 0.3, 0.6]), np.array([26.5, 30.6, 33.8, 36.0])
    assert bd_rate((RATES, PSNRS), (test_r, test_p), "pchip")[0] == pytest.approx(
        ref.bd_rate(RATES, PSNRS, test_r, test_p, method="pchip", require_matching_points=False), abs=1e-6)
    assert bd_psnr((RATES, PSNRS), (test_r, test_p), "pchip")[0] == pytest.approx(
        ref.bd_psnr(RATES, PSNRS, test_r, test_p, method="pchip", require_matching_points=False), abs=1e-6)


def test_bd_without_overlap_is_none():
    assert bd_rate((RATES, PSNRS), (RATES, PSNRS - 20))[0] is None
    assert bd_psnr((RATES, PSNRS), (RATES * 100, PSNRS))[0] is None


@pytest.mark.parametrize("hw", [(176, 200), (61, 97)])
def test_numpy_metrics_match_the_trainers(hw):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (3, *hw, 3), dtype=np.uint8)
    b = np.clip(a + rng.normal(0, 20, a.shape), 0, 255).astype(np.uint8)
    ta, tb = (torch.from_numpy(x).permute(0, 3, 1, 2).double() / 255 for x in (a, b))
    np.testing.assert_allclose(quality.psnr(a, b), metrics.psnr(ta, tb).numpy(), rtol=1e-5)
    np.testing.assert_allclose(quality.ms_ssim(a, b), metrics.ms_ssim(ta, tb).numpy(), atol=1e-5)  # float32 there
    ref_lib = pytest.importorskip("pytorch_msssim")
    if min(hw) > 160:
        np.testing.assert_allclose(quality.ms_ssim(a, b), ref_lib.ms_ssim(ta, tb, data_range=1.0,
                                                                          size_average=False).numpy(), atol=1e-5)


def test_numpy_bicubic_matches_the_trainers_torch_resize(tmp_path):
    """nerv-rd reads the source with the numpy resize, nerv-train with PyTorch's."""
    write_frames_png(synthetic_clip(3, 50, 90), tmp_path / "clip")
    for crop, resize in (((40, 71), (24, 36)), (None, (77, 133)), ((33, 47), None)):
        ours = video.load_video(tmp_path / "clip", crop, resize).frames
        theirs = load_video(tmp_path / "clip", crop=crop, resize=resize).frames
        assert ours.shape == theirs.shape
        diff = np.abs(ours.astype(int) - theirs)
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-3  # float64 here, float32 there: rare rounding ties


@pytest.mark.parametrize("name", list(anchors.CODECS))
def test_anchor_decodes_to_the_source_frames(tmp_path, name):
    frames = synthetic_clip(7, 48, 80)
    spec = anchors.codec(name)
    path = tmp_path / "a.mkv"
    size = anchors.encode(frames, spec, spec.crf_min + 10, path)
    decoded, seconds = anchors.decode(path)
    assert size == os.path.getsize(path) and seconds > 0
    assert decoded.shape == frames.shape and decoded.dtype == np.uint8
    ceiling = anchors.conversion_ceiling(frames)
    # A high-quality encode lands near the colour-conversion ceiling: same matrix both ways.
    assert quality.psnr(frames, decoded).mean() > quality.psnr(frames, ceiling).mean() - 6


@pytest.fixture(scope="module")
def rd_case(tmp_path_factory):
    """A tiny package (6 frames, 32x64) and a source clip of the same shape."""
    from nervkit.export.cli import main as export

    d = tmp_path_factory.mktemp("rd")
    tiny_model_pt(d / "m.pt", frames=6, hw=(32, 64))
    assert export([str(d / "m.pt"), "-o", str(d / "a.nvpkg"), "--eval-frames", "0"]) == 0
    write_frames_png(synthetic_clip(6, 32, 64), d / "clip")
    return d


def test_rd_counts_every_byte_and_writes_its_outputs(rd_case, tmp_path, capsys):
    d = rd_case
    rc = main([str(d / "clip"), str(d), "--codecs", "libx264", "--same-size", "--keep", str(tmp_path / "anchors"),
               "--json", str(tmp_path / "rd.json"), "--plot", str(tmp_path / "rd.png"),
               "--side-by-side", str(tmp_path / "sbs.png")])
    assert rc == 0
    report = json.loads((tmp_path / "rd.json").read_text())
    pixels = 6 * 32 * 64
    for series in report["series"]:
        for q in series["points"]:
            assert q["bytes"] == os.path.getsize(q["path"])
            assert q["bpp"] == pytest.approx(8 * os.path.getsize(q["path"]) / pixels)
    (pkg,) = report["series"][0]["points"]
    assert report["series"][0]["name"] == "test-hnerv" and pkg["path"] == str(d / "a.nvpkg")
    assert len(report["series"][1]["points"]) >= 4
    assert report["same_size"][0]["point"]["path"] in {q["path"] for q in report["series"][1]["points"]}
    assert isinstance(report["same_size"][0]["matched"], bool)
    assert {"bd_rate_percent", "bd_psnr_db"} <= set(report["bd"][0])
    assert (tmp_path / "rd.png").stat().st_size > 0 and (tmp_path / "sbs.png").stat().st_size > 0
    assert "At the same size" in capsys.readouterr().out


@pytest.mark.parametrize("frames, hw", [(5, (32, 64)), (6, (32, 66))])
def test_mismatched_source_exits_2_with_one_line(rd_case, tmp_path, capsys, frames, hw):
    write_frames_png(synthetic_clip(frames, *hw), tmp_path / "other")
    assert main([str(tmp_path / "other"), str(rd_case / "a.nvpkg"), "--codecs", "libx264"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nerv-rd: error:") and "a.nvpkg" in err[0]


@pytest.mark.parametrize("args", [["--codecs", "libvpx"], ["--crop", "8x"], ["--frame", "99"]])
def test_bad_arguments_exit_2(rd_case, capsys, args):
    assert main([str(rd_case / "clip"), str(rd_case / "a.nvpkg"), *args]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
