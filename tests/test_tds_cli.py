"""nerv-train --model test-tds end to end (x264 through PyAV), tds.pt round trip, bad settings exit 2."""

import numpy as np
import pytest
import torch
from PIL import Image

from nervkit.export import tds_files, tds_streams
from nervkit.export import train_cli as cli
from nervkit.runtime.gop import frame_plan
from nervkit.trainer.tds import pipeline

pytest.importorskip("av")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("clip")
    yy, xx = np.mgrid[0:32, 0:64]
    for t in range(11):
        rgb = np.stack([128 + 60 * np.sin((xx + 2 * t) / 9), 128 + 60 * np.cos((yy + t) / 7),
                        128 + 40 * np.sin((xx + yy) / 11)], -1).round().astype(np.uint8)
        Image.fromarray(rgb).save(d / f"{t:04d}.png")
    return d


@pytest.fixture(scope="module")
def trained(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "tds.pt"
    result = cli.run([str(folder), "-o", str(out), "--model", "test-tds", "--base", "x264", "--gop", "5",
                      "--scale", "2", "--crf", "28", "--steps", "2", "--patch", "16"])
    return out, result


def test_checkpoint_round_trip(trained, folder):
    out, result = trained
    raw = torch.load(out, weights_only=True)  # plain tensors and values only
    assert raw["format"] == "nervkit-tds" and raw["gop"] == 5 and raw["scale"] == 2
    ck = tds_files.load(out)
    lay = ck.streams.layout
    assert lay.key_frames() == [0, 4, 5, 9, 10] and not ck.shared
    assert result["bpp_streams"] == pytest.approx(ck.streams.bits / (11 * 32 * 64))
    # the stored streams decode, and the stored enhancer reproduces the reported quality
    from nervkit.export.files import load_video

    frames = load_video(folder).frames
    out_frames = pipeline.enhance(ck.enhancer, tds_streams.decode(ck.streams), lay.gop, frame_plan(lay.gop))
    assert pipeline.mean_psnr(out_frames, frames) == pytest.approx(result["psnr"], abs=1e-6)


def test_shared_enhancer_is_reused_not_trained(trained, folder, tmp_path):
    out, _ = trained
    shared_out = tmp_path / "other.pt"
    cli.run([str(folder), "-o", str(shared_out), "--model", "tds", "--base", "x264", "--crf", "34",
             "--enhancer", str(out)])
    a, b = tds_files.load(out), tds_files.load(shared_out)
    assert b.shared and b.train is None and b.streams.crf == 34
    assert tds_files.enhancer_sha256(a.enhancer) == tds_files.enhancer_sha256(b.enhancer)


@pytest.mark.parametrize("extra, message", [
    (["--gop", "4"], "odd number"),
    (["--gop", "13"], "fewer than one group"),
    (["--scale", "3"], "--scale 3"),
    (["--base", "vp9"], "--base 'vp9'"),
    (["--crop", "30x60"], "multiples of 4"),
    (["--patch", "18"], "--patch"),
    (["--size", "0.5"], "--enhancer-size"),
    (["--enhancer-size", "huge"], "enhancer size 'huge'"),
])
def test_bad_settings_exit_2(folder, tmp_path, capsys, extra, message):
    out = tmp_path / "x.pt"
    code = cli.main([str(folder), "-o", str(out), "--model", "test-tds", "--base", "x264", "--steps", "1",
                     "--patch", "16", *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert not out.exists()


def test_mismatched_shared_enhancer_exits_2(trained, folder, tmp_path, capsys):
    out, _ = trained
    code = cli.main([str(folder), "-o", str(tmp_path / "y.pt"), "--model", "tds", "--base", "x264", "--scale", "4",
                     "--crop", "32x64", "--enhancer", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "trained with scale 2" in err[0], err
