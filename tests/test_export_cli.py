"""``nerv-export`` and ``nerv-info`` called in-process: outputs, JSON reports, exit statuses."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from tiny import tiny_model_pt

from nervkit.export.cli import main as export_main
from nervkit.runtime import open_package
from nervkit.runtime.info import main as info_main
from nervkit.trainer.checkpoint import LoadedModel, VideoInfo, save_model
from nervkit.trainer.registry import create_model


@pytest.fixture(scope="module")
def model_pt(tmp_path_factory):
    return tiny_model_pt(tmp_path_factory.mktemp("cli") / "model.pt", fps=30.0)


def test_export_then_info(model_pt, tmp_path, capsys):
    out, onnx_path, report = tmp_path / "clip.nvpkg", tmp_path / "dec.onnx", tmp_path / "r.json"
    code = export_main([str(model_pt), "-o", str(out), "--onnx", str(onnx_path), "--prune", "0.5",
                        "--quant-bits", "6", "--eval-frames", "2", "--json", str(report)])
    assert code == 0, capsys.readouterr().err
    rep = json.loads(report.read_text())
    assert rep["file_bytes"] == out.stat().st_size and rep["prune"] == 0.5 and rep["quant_bits"] == 6
    assert rep["bpp"] == pytest.approx(8 * out.stat().st_size / (4 * 32 * 64))
    assert rep["psnr"]["frames"] == 2 and rep["psnr"]["package_vs_uncompressed"] > 10
    assert "bpp" in capsys.readouterr().err
    import onnx

    onnx.checker.check_model(onnx.load(onnx_path))
    with open_package(out) as pkg:
        assert pkg.fps == 30.0 and pkg.manifest["compression"]["prune"] == 0.5

    assert info_main([str(out), "--json", "-"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["family"], info["frames"], info["height"], info["width"]) == ("test-hnerv", 4, 32, 64)
    assert info["file_bytes"] == out.stat().st_size and info["bpp"] == pytest.approx(rep["bpp"])
    assert info_main([str(out)]) == 0
    assert "bits per pixel" in capsys.readouterr().out


@pytest.mark.parametrize("flags, message", [
    (["--quant-bits", "40"], "--quant-bits"),
    (["--prune", "1.5"], "--prune"),
    (["--precision", "fp16"], "--trt"),
    (["--trt"], "tensorrt"),
])
def test_export_user_errors(model_pt, tmp_path, capsys, flags, message):
    out = tmp_path / "x.nvpkg"
    assert export_main([str(model_pt), "-o", str(out), *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message.lower() in err[0].lower()
    assert not out.exists()


def test_info_missing_file(tmp_path, capsys):
    assert info_main([str(tmp_path / "none.nvpkg")]) == 2
    assert "No such file" in capsys.readouterr().err


def test_psnr_against_source_video(tmp_path, capsys):
    """With a readable source, the report gives PSNR of the model before and the package after."""
    from PIL import Image

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 32, 64, 3), dtype=np.uint8)
    src = tmp_path / "frames"
    src.mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(src / f"{i:04d}.png")
    torch.manual_seed(0)
    model = create_model("test-hnerv", (32, 64), 3).eval()
    with torch.no_grad():
        embeds = model.encode(torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255)
        before = model.decode(embeds["embed"]).numpy()
    pt = tmp_path / "model.pt"
    save_model(pt, LoadedModel(model, VideoInfo(3, 32, 64, source=str(src)), embeds))
    out, report = tmp_path / "clip.nvpkg", tmp_path / "r.json"
    assert export_main([str(pt), "-o", str(out), "--json", str(report)]) == 0, capsys.readouterr().err
    psnr = json.loads(report.read_text())["psnr"]
    ref = frames.transpose(0, 3, 1, 2) / 255.0
    expect = -10 * np.log10(np.mean((before.astype(np.float64) - ref) ** 2))
    assert psnr["frames"] == 3 and psnr["before"] == pytest.approx(expect, abs=1e-3)
    assert abs(psnr["after"] - psnr["before"]) < 1.0
