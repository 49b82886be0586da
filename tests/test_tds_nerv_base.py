"""A nervkit family as the TDS base codec (``--base test-hnerv``): nested per-frame packages as the two
streams, decoded by the runtime exactly as the package opened on its own; round trip, random access, every
byte counted, bad nested packages exit 2."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from nervkit.export import tds_files
from nervkit.export import train_cli as cli
from nervkit.export.cli import main as export_main
from nervkit.export.tds_package import build_tds_package
from nervkit.player.play import main as play_main
from nervkit.runtime import Decoder, basecodec, open_package
from nervkit.runtime.gop import frame_plan
from nervkit.trainer.tds import pipeline

pytest.importorskip("av")
N, H, W = 5, 64, 128  # one group: key frames 0 and 4, LR frames 1-3 at 32x64 (test-hnerv needs 16x up-sampling)
KEYS, LRS = [0, 4], [1, 2, 3]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    d = tmp_path_factory.mktemp("nervbase")
    yy, xx = np.mgrid[0:H, 0:W]
    for t in range(N):
        rgb = np.stack([128 + 60 * np.sin((xx + 2 * t) / 9), 128 + 60 * np.cos((yy + t) / 7),
                        128 + 40 * np.sin((xx + yy) / 11)], -1).round().astype(np.uint8)
        Image.fromarray(rgb).save(d / f"{t:04d}.png")
    tds = d / "tds.pt"
    result = cli.run([str(d), "-o", str(tds), "--model", "test-tds", "--base", "test-hnerv", "--base-epochs", "2",
                      "--gop", "5", "--steps", "1", "--patch", "16"])
    assert export_main([str(tds), "-o", str(d / "clip.nvpkg"), "--json", str(d / "export.json")]) == 0
    return tds_files.load(tds), d, result


def _play_folder(path, out, *extra) -> np.ndarray:
    """Frames of ``path`` as nerv-play writes them to a PNG folder, uint8 ``[n, H, W, 3]``."""
    assert play_main([str(path), "--no-window", "--backend", "ort-cpu", "--precision", "fp32", "--output",
                      str(out), *extra]) == 0
    return np.stack([np.asarray(Image.open(p)) for p in sorted(out.iterdir())])


def test_nested_base_decodes_as_the_package_on_its_own(made, tmp_path):
    """Each stream is a complete test-hnerv package: nerv-play of it alone gives exactly the frames the
    runtime's base decoder gives; the LR frames are up-sampled bicubically (close to PIL's bicubic)."""
    ck, _, _ = made
    alone = {}
    for name, data, n, hw in (("key", ck.streams.key, 2, (H, W)), ("lr", ck.streams.lr, 3, (H // 2, W // 2))):
        (tmp_path / f"{name}.nvpkg").write_bytes(data)
        with open_package(tmp_path / f"{name}.nvpkg") as pkg:
            assert (pkg.family, pkg.plan.kind, pkg.num_frames, pkg.height, pkg.width) == ("test-hnerv", "per-frame",
                                                                                          n, *hw)
        alone[name] = _play_folder(tmp_path / f"{name}.nvpkg", tmp_path / name)
    assert np.array_equal(basecodec.decode(ck.streams.key, "nvpkg", expect=(2, H, W)), alone["key"])
    lr = basecodec.decode(ck.streams.lr, "nvpkg", size=(H, W))
    assert np.array_equal(basecodec.decode(ck.streams.lr, "nvpkg"), alone["lr"])
    pil = np.stack([np.asarray(Image.fromarray(f).resize((W, H), Image.BICUBIC)) for f in alone["lr"]])
    assert lr.shape == (3, H, W, 3) and np.abs(lr.astype(int) - pil).mean() < 2.0


def test_round_trip_and_random_access(made, tmp_path):
    """The package's key frames are the key package's frames; the enhanced frames equal the trainer's eager
    Algorithm 1 (with the package's weights) on the nested bases; frame 2 alone equals the full decode's."""
    ck, d, _ = made
    with open_package(d / "clip.nvpkg") as pkg, Decoder(pkg, backend="ort-cpu", batch=4, precision="fp32") as dec:
        assert pkg.plan.kind == "gop" and pkg.plan.base == "nvpkg"
        full, stored = dec.decode_float(), pkg.weights()
    key = basecodec.decode(ck.streams.key, "nvpkg")
    assert np.array_equal(full[KEYS], key.transpose(0, 3, 1, 2) / np.float32(255))
    base = np.empty((N, H, W, 3), np.uint8)
    base[KEYS], base[LRS] = key, basecodec.decode(ck.streams.lr, "nvpkg", size=(H, W))
    enhancer = ck.enhancer.eval()
    enhancer.load_state_dict({k: torch.from_numpy(v) for k, v in stored.items()})
    x = torch.from_numpy(base.transpose(0, 3, 1, 2) / np.float32(255))
    with torch.no_grad():
        eager = pipeline.run_groups(enhancer, x.view(1, N, 3, H, W), frame_plan(5)).numpy()[0]
    np.testing.assert_allclose(full[LRS], eager, atol=1e-3, rtol=0)
    with open_package(d / "clip.nvpkg") as pkg, Decoder(pkg, backend="ort-cpu", batch=1, precision="fp32") as dec:
        assert np.array_equal(dec.decode_float(2, 3)[0], full[2])
    part = _play_folder(d / "clip.nvpkg", tmp_path / "part", "--frames", "2:3")
    assert np.array_equal(part[0], np.rint(np.clip(full[2] * 255, 0, 255)).astype(np.uint8).transpose(1, 2, 0))


def test_every_byte_of_both_nested_packages_is_counted(made):
    ck, d, result = made
    report = json.loads((d / "export.json").read_text())
    size = (d / "clip.nvpkg").stat().st_size
    assert report["file_bytes"] == size and report["bpp"] == pytest.approx(8 * size / (N * H * W))
    assert report["base_bytes"] == len(ck.streams.key) + len(ck.streams.lr)
    assert result["bpp_streams"] == pytest.approx(8 * (len(ck.streams.key) + len(ck.streams.lr)) / (N * H * W))
    with open_package(d / "clip.nvpkg") as pkg:  # the sections are the nested packages, byte for byte
        assert pkg.section("base.key") == ck.streams.key and pkg.section("base.lr") == ck.streams.lr
    for data in (ck.streams.key, ck.streams.lr):
        with open_package(data) as nested:
            assert nested.file_size == len(data)


def _flip(data: bytes) -> bytes:
    b = bytearray(data)
    b[len(b) // 2] ^= 0xFF
    return bytes(b)


@pytest.mark.parametrize("swap, message", [
    (lambda ck, d: {"key": (d / "clip.nvpkg").read_bytes()}, "per-frame plan, not gop"),
    (lambda ck, d: {"key": _flip(ck.streams.key)}, "section base.key"),
    (lambda ck, d: {"key": ck.streams.lr}, "holds 3 frames of 32x64; the manifest says 2 of 64x128"),
    (lambda ck, d: {"lr": ck.streams.key}, "holds 2 frames of 64x128; the manifest says 3 of 32x64"),
])
def test_bad_nested_package_exits_2(made, tmp_path, capsys, swap, message):
    ck, d, _ = made
    for k, v in swap(ck, d).items():
        setattr(ck.streams, k, v)
    try:
        build_tds_package(ck, tmp_path / "bad.nvpkg")
    finally:
        fresh = tds_files.load(d / "tds.pt").streams
        ck.streams.key, ck.streams.lr = fresh.key, fresh.lr
    capsys.readouterr()
    assert play_main([str(tmp_path / "bad.nvpkg"), "--output", str(tmp_path / "out.y4m")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "out.y4m").exists()


@pytest.mark.parametrize("extra, message", [
    (["--base", "nonesuch"], "choose one of x265, x264 or a nervkit family: cf-nerv, hfe-hnerv"),
    (["--base", "test-hnerv", "--base-size", "0.1"], "fixed-size test model"),
    (["--base", "hnerv", "--base-size", "-1"], "--base-size -1"),
    (["--base", "test-hnerv", "--base-epochs", "0"], "--base-epochs"),
])
def test_bad_base_exits_2_listing_the_valid_names(made, tmp_path, capsys, extra, message):
    code = cli.main([str(made[1]), "-o", str(tmp_path / "x.pt"), "--model", "test-tds", "--steps", "1",
                     "--patch", "16", *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert "test-hnerv" in err[0] or "--base-" in err[0]
    assert not (tmp_path / "x.pt").exists()
