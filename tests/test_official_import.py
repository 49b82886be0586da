"""Importers of the official checkpoints, detected by content: an SNeRV ``quant_vid.pth`` written the way the
official ``train_snerv.py`` writes it, SNeRV and HNeRV training checkpoints (``model_latest.pth``), and
files that are neither (the official HNeRV ``quant_vid.pth``: test_hnerv_official.py)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from family_refs import clip

from nervkit.export.cli import main as export
from nervkit.export.files import read_model
from nervkit.trainer.checkpoint import load_model
from nervkit.trainer.errors import TrainerError
from nervkit.trainer.registry import create_model
from nervkit.trainer.synthetic import write_frames_png

HW, FRAMES = (32, 64), 4


def official_name(name: str) -> str:
    """The official SNeRV name (``model/snerv.py``: ``decoder`` list, ``head_layer``) of a nervkit one."""
    rules = [(r"stem\.(.+)", lambda m: f"decoder.0.{m[1]}"),
             (r"ubs\.(\d)\.(.+)", lambda m: f"decoder.{int(m[1]) + 1}.{m[2]}"),
             (r"hfr\.(\d)\.([02])\.(.+)", lambda m: f"decoder.{int(m[1]) + 6}.conv{int(m[2]) // 2 + 1}.{m[3]}"),
             (r"mfbs\.(\d)\.up\.(.+)", lambda m: f"decoder.{9 + 2 * int(m[1])}.{m[2]}"),
             (r"mfbs\.(\d)\.fuse\.0\.(.+)", lambda m: f"decoder.{10 + 2 * int(m[1])}.main.0.{m[2]}"),
             (r"mfbs\.(\d)\.fuse\.(\d+)\.(.+)",
              lambda m: f"decoder.{10 + 2 * int(m[1])}.main.1.{int(m[2]) - 1}.{m[3]}"),
             (r"head\.(.+)", lambda m: f"head_layer.{m[1]}"),
             (r"encoder\.stages\.(.+)", lambda m: f"encoder.0.{m[1]}")]
    for pattern, rename in rules:
        m = re.fullmatch(pattern, name)
        if m:
            return rename(m)
    raise KeyError(name)


def quantize_like_official(t: torch.Tensor, bits: int) -> dict:
    """The record the official ``quant_tensor`` writes: min/scale over the whole tensor (0-d, fp32) or along
    one axis (fp16, kept dims) where that axis's statistics are under 2% of the elements; the candidate with
    the smallest mean absolute error wins; codes uint8."""
    top = 2**bits - 1
    candidates = [(t.min(), (t.max() - t.min()) / top)]
    for axis in range(t.dim()):
        lo, hi = t.amin(axis, keepdim=True), t.amax(axis, keepdim=True)
        if lo.numel() / t.numel() < 0.02:
            candidates.append((lo.half(), ((hi - lo) / top).half()))
    best = None
    for lo, scale in candidates:
        codes = ((t - lo.float()) / scale.float()).round().clamp(0, top)
        err = (lo.float() + scale.float() * codes - t).abs().mean().item()
        if best is None or err < best[0]:
            best = (err, {"quant": codes.to(torch.uint8), "min": lo, "scale": scale})
    return best[1]


def dequant(q: dict) -> torch.Tensor:
    return q["min"].float() + q["scale"].float() * q["quant"].float()


@pytest.fixture
def snerv():
    torch.manual_seed(0)
    model = create_model("test-snerv", HW, FRAMES).eval()
    with torch.no_grad():
        embeds = model.encode(clip(FRAMES))
    return model, embeds


def test_snerv_quant_vid_decodes_as_its_dequantised_weights(snerv, tmp_path):
    model, embeds = snerv
    decoder = {official_name(k): v for k, v in model.state_dict().items() if not k.startswith(("encoder.", "idwt."))}
    quant_vid = {"embed": quantize_like_official(embeds["embed"], 6),
                 "norm": quantize_like_official(embeds["ll_range"].flatten(), 6),  # the ranges of every frame, flat
                 "model": {k: quantize_like_official(v, 8) for k, v in decoder.items()}}
    torch.save(quant_vid, tmp_path / "quant_vid.pth")
    loaded = load_model(tmp_path / "quant_vid.pth")
    # reference: nervkit's SNeRV, eager PyTorch, holding the dequantised official weights and embeddings
    reference = create_model("test-snerv", HW, FRAMES).eval()
    state = reference.state_dict()
    state.update({k: dequant(quant_vid["model"][official_name(k)]) for k in state
                  if not k.startswith(("encoder.", "idwt."))})
    reference.load_state_dict(state)
    with torch.no_grad():
        expected = reference.decode(dequant(quant_vid["embed"]), dequant(quant_vid["norm"]).reshape(FRAMES, 2))
        got = loaded.model.decode(*(loaded.embeddings[k] for k in loaded.model.embed_names))
    c, r = loaded.model.config, reference.config
    assert (c.frame_hw, c.strides, c.widths, c.num_res_blocks, c.ks) == (r.frame_hw, r.strides, r.widths,
                                                                        r.num_res_blocks, r.ks)
    assert (loaded.model.name, loaded.video.num_frames) == ("snerv", FRAMES)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
    assert export([str(tmp_path / "quant_vid.pth"), "-o", str(tmp_path / "clip.nvpkg"), "--eval-frames", "0"]) == 0


@pytest.mark.parametrize("name", ["test-snerv", "test-hnerv"])
def test_training_checkpoint_is_encoded_from_its_video(name, tmp_path, capsys):
    torch.manual_seed(0)
    model = create_model(name, HW, FRAMES).eval()
    rename = official_name if name == "test-snerv" else (lambda k: k)
    state = {f"module.{rename(k)}": v for k, v in model.state_dict().items()
             if not k.startswith(("idwt.", "encoder.dwt."))}  # pytorch_wavelets filters, not weights
    torch.save({"epoch": 3, "state_dict": state, "train_best_psnr": torch.tensor(30.0)}, tmp_path / "model_latest.pth")
    family = "SNeRV" if name == "test-snerv" else "HNeRV"
    with pytest.raises(TrainerError, match=rf"^\S+: an official {family} training checkpoint .* with --video$"):
        load_model(tmp_path / "model_latest.pth")
    frames = (clip(FRAMES).permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    write_frames_png(frames, tmp_path / "video")
    loaded = read_model(tmp_path / "model_latest.pth", video_path=tmp_path / "video")
    with torch.no_grad():
        expected = model.encode(torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255)
    for k in model.embed_names:
        torch.testing.assert_close(loaded.embeddings[k], expected[k], atol=1e-6, rtol=0)


def test_anything_else_is_one_line_saying_what_it_is(tmp_path, capsys):
    torch.save({"weights": torch.zeros(2), "step": 3}, tmp_path / "other.pth")
    with pytest.raises(TrainerError, match=r"^\S+other.pth: a dict with keys step, weights: neither a nervkit "
                                        r"model.pt nor an official HNeRV/SNeRV checkpoint[^\n]*$"):
        load_model(tmp_path / "other.pth")
    assert export([str(tmp_path / "other.pth"), "-o", str(tmp_path / "x.nvpkg")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("nerv-export: error: ")
