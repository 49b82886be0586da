"""HNeRV against the official checkpoint: architecture inference, parameter names, decode quality."""

import numpy as np
import pytest
import torch
from conftest import OFFICIAL_PSNR_FLOAT, OFFICIAL_PSNR_UINT8
from PIL import Image

from nervkit.trainer.checkpoint import load_model
from nervkit.trainer.official import dequantize
from nervkit.trainer.registry import create_model


def _originals(folder, count=8):
    """Frames 1..count of the 720p originals, center-cropped to 640x1280 (rows 40..679), in [0, 1]."""
    frames = [np.asarray(Image.open(folder / f"{i:04d}.png").convert("RGB"))[40:680] for i in range(1, count + 1)]
    return np.stack(frames).astype(np.float64) / 255.0


def test_official_decode_reproduces_reference_psnr(official_ckpt, frames_720p):
    loaded = load_model(official_ckpt)
    assert loaded.model.config.strides == [5, 4, 4, 2, 2]
    assert loaded.model.config.frame_hw == (640, 1280)
    with torch.no_grad():
        out = loaded.model.decode(loaded.embeddings["embed"][:8]).permute(0, 2, 3, 1).double().numpy()
    gt = _originals(frames_720p)
    float_psnr = -10 * np.log10(((out - gt) ** 2).mean(axis=(1, 2, 3)))
    rounded = np.round(out * 255) / 255
    uint8_psnr = -10 * np.log10(((rounded - gt) ** 2).mean(axis=(1, 2, 3)))
    np.testing.assert_allclose(float_psnr, OFFICIAL_PSNR_FLOAT, atol=0.01)
    np.testing.assert_allclose(uint8_psnr, OFFICIAL_PSNR_UINT8, atol=0.01)


def test_sizing_rule_rebuilds_the_official_architecture(official_ckpt):
    """--size 1.5 at 640x1280 with 132 frames gives exactly the published checkpoint's tensors."""
    raw = torch.load(official_ckpt, map_location="cpu", weights_only=True)
    model = create_model("hnerv", (640, 1280), 132, 1.5)
    assert (model.config.widths[0], model.decoder_parameters()) == (68, 1_488_276)
    decoder_state = {k: v for k, v in model.state_dict().items() if not k.startswith("encoder.")}
    assert set(decoder_state) == set(raw["model"])
    for key, q in raw["model"].items():
        assert tuple(decoder_state[key].shape) == tuple(q["quant"].shape), key
    # The official names load as they are.
    model.load_state_dict({k: dequantize(q) for k, q in raw["model"].items()}, strict=False)
    assert model.decoder_parameters() == sum(q["quant"].numel() for q in raw["model"].values())


@pytest.mark.parametrize("hw,strides", [((640, 1280), [5, 4, 4, 2, 2]), ((1080, 1920), [5, 3, 2, 2, 2]),
                                        ((160, 320), [5, 2, 2, 2, 2])])
def test_strides_follow_the_papers(hw, strides):
    from nervkit.trainer.sizing import strides_for

    assert strides_for(hw) == strides
    assert hw[0] % np.prod(strides) == 0 and hw[1] % np.prod(strides) == 0
