"""The official HNeRV bunny checkpoint -> .nvpkg -> torch-free runtime reproduces the published PSNRs.

References (shared/data/hnerv-official/README.md, restated in conftest.py): PSNR of the official decode
against the 640x1280 center crop (rows 40..679) of the original 720p frames 1-8.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import OFFICIAL_PSNR_FLOAT, OFFICIAL_PSNR_UINT8
from PIL import Image

from nervkit.export.build import ExportOptions, build_package
from nervkit.player.eager import EagerDecoder
from nervkit.runtime import Decoder, open_package, to_uint8
from nervkit.trainer.checkpoint import load_model


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(-10 * np.log10(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


def _official_payload_bytes(ckpt: dict) -> int:
    """The pickle's quantised payload at its nominal widths: 8-bit weight codes, 6-bit embedding codes,
    plus the min/scale tensors as stored."""
    total = 0
    for q, bits in [*((q, 8) for q in ckpt["model"].values()), (ckpt["embed"], 6)]:
        total += q["quant"].numel() * bits / 8
        total += sum(q[k].numel() * q[k].element_size() for k in ("min", "scale"))
    return int(total)


@pytest.mark.slow
def test_official_checkpoint_package_reproduces_reference_psnr(official_ckpt, frames_720p, tmp_path):
    loaded = load_model(official_ckpt)
    out = tmp_path / "bunny.nvpkg"
    report = build_package(loaded, out, ExportOptions(eval_frames=0))
    assert report["reused_official_codes"]

    raw = torch.load(official_ckpt, map_location="cpu", weights_only=True)
    payload = _official_payload_bytes(raw)
    size = out.stat().st_size
    print(f"\nbunny.nvpkg: {size:,} bytes = {report['bpp']:.4f} bpp; official quantised payload {payload:,} "
          f"bytes; coders {report['coders']}")
    assert size <= 1.10 * payload

    originals = np.stack([np.asarray(Image.open(frames_720p / f"{i:04d}.png").convert("RGB"))[40:680]
                          for i in range(1, 9)]).astype(np.float64) / 255.0
    with open_package(out) as pkg, Decoder(pkg, backend="ort-cpu", batch=2) as dec:
        assert (pkg.num_frames, pkg.height, pkg.width) == (132, 640, 1280)
        frames = dec.decode_float(0, 8)
        # nerv-bench's baseline on this package: the trainer's HNeRV module with the official weights
        eager = EagerDecoder(pkg)
        assert eager.name == "hnerv-eager" and type(eager.model).__name__ == "HNeRV"
        state = eager.model.state_dict()
        for key, q in raw["model"].items():  # the official code's dequantisation, bit for bit
            assert torch.equal(state[key], q["min"].float() + q["scale"].float() * q["quant"].float()), key
        assert float(np.abs(eager.run(pkg.embeddings(0, 2)) - frames[:2]).max()) < 1e-4
    floats = [_psnr(f.transpose(1, 2, 0), o) for f, o in zip(frames, originals, strict=True)]
    rounded = [_psnr(u / 255.0, o) for u, o in zip(to_uint8(frames), originals, strict=True)]
    print("PSNR float:", " ".join(f"{p:.3f}" for p in floats))
    print("PSNR uint8:", " ".join(f"{p:.3f}" for p in rounded))
    np.testing.assert_allclose(floats, OFFICIAL_PSNR_FLOAT, atol=0.01)
    np.testing.assert_allclose(rounded, OFFICIAL_PSNR_UINT8, atol=0.01)


@pytest.mark.slow
def test_play_auto_reproduces_reference_psnr(official_ckpt, frames_720p, tmp_path, capsys):
    """nerv-export with the source frames records the precision guard; nerv-play --backend auto then picks
    the fastest backend and precision the guard trusts and still gives the published 8-bit PSNRs."""
    from nervkit.export.cli import main as export
    from nervkit.player.play import main as play

    out = tmp_path / "bunny.nvpkg"
    assert export([str(official_ckpt), "-o", str(out), "--source", str(frames_720p)]) == 0
    with open_package(out) as pkg:
        guard = pkg.manifest["precision_guard"]
        assert guard["frames"] == [0, 8]
        print("\nguard:", guard["results"])
    capsys.readouterr()
    assert play([str(out), "--backend", "auto", "--frames", "0:8", "--output", str(tmp_path / "png")]) == 0
    summary = capsys.readouterr().err.strip().splitlines()[-1]
    print(summary)
    if guard["results"].get("openvino:bf16", {}).get("passed"):  # this CPU runs bf16 and it kept the guard
        assert summary.endswith("backend openvino bf16")
    originals = [np.asarray(Image.open(frames_720p / f"{i:04d}.png").convert("RGB"))[40:680] / 255.0
                 for i in range(1, 9)]
    played = [np.asarray(Image.open(tmp_path / "png" / f"{i:06d}.png")) / 255.0 for i in range(8)]
    psnrs = [_psnr(p, o) for p, o in zip(played, originals, strict=True)]
    print("PSNR played:", " ".join(f"{p:.3f}" for p in psnrs))
    np.testing.assert_allclose(psnrs, OFFICIAL_PSNR_UINT8, atol=0.02)
