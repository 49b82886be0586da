"""The checks every registered family passes alike: shapes and range, training, the export switch, budgets.

Tiny ``test-*`` variants (32x64 frames) for the quick checks; the real names for the budgets at the papers'
geometry (640x1280, 132 frames), counted on the meta device from the model itself (decoder parameters plus
every per-frame value ``encode`` returns), independently of each family's own counting. Each exported
graph against eager PyTorch (after the pass pipeline, folded and unfolded) is in ``test_passes.py``; what
only one paper defines is in its ``test_family_*.py``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from family_refs import BUDGETS_M, PAPER_FRAMES, PAPER_HW, clip, fitted, meta_encode, train_psnr

from nervkit.trainer.errors import TrainerError
from nervkit.trainer.registry import create_model, get_spec, model_names
from nervkit.trainer.sizing import channel_widths, model_budget

TINY = [n for n in model_names() if n.startswith("test-")]
REAL = [n for n in model_names() if not n.startswith("test-")]
FITTED = [n for n in REAL if get_spec(n).model_cls.budget_tolerance is not None]
"""Families whose size knobs reach any budget within a tolerance (HNeRV's single ``fc_dim`` does not)."""


def _tiny(name: str, n: int):
    torch.manual_seed(0)
    return create_model(name, (32, 64), n)


def test_every_family_has_a_tiny_variant():
    assert sorted(TINY) == sorted(f"test-{n}" for n in REAL)


@pytest.mark.parametrize("name", TINY)
def test_encode_decode_shapes_and_range(name):
    frames = clip(4)
    model = _tiny(name, 4)
    with torch.no_grad():
        embeds = model.encode(model.clip_input(frames))
        out = model.decode(*(embeds[k] for k in model.embed_names))
    assert sorted(embeds) == sorted(model.embed_names)
    assert all(embeds[k].shape[0] == 4 for k in model.embed_names)  # per-frame inputs (shapes: test_family_*)
    assert out.shape == frames.shape
    assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("name", TINY)
def test_trains_and_improves_psnr(name):
    before, after = train_psnr(_tiny(name, 8), clip(8), steps=30)
    assert after > before + 1.0, (before, after)


@pytest.mark.parametrize("name", TINY)
def test_exportable_switch_keeps_the_decode(name):
    """``set_exportable`` swaps the training-only wavelet ops for exportable ones, not the maths."""
    model = _tiny(name, 2).eval()
    with torch.no_grad():
        embeds = model.encode(model.clip_input(clip(2)))
        feeds = [embeds[k] for k in model.embed_names]
        eager = model.decode(*feeds).numpy()
        exportable = model.set_exportable().decode(*feeds).numpy()
    np.testing.assert_allclose(exportable, eager, atol=1e-5)


@pytest.mark.parametrize("name", REAL)
def test_model_budget_is_the_real_model(name):
    """``sizing.model_budget``, which every budget search minimises, is the decoder's parameters plus every
    per-frame value ``encode`` returns, counted here from a meta-device encode of one frame."""
    model = fitted(name, 0.35)
    per_frame = sum(v[0].numel() for v in meta_encode(model).values())
    assert model_budget(type(model), model.config, PAPER_FRAMES) == (
        model.decoder_parameters() + PAPER_FRAMES * per_frame)


@pytest.mark.parametrize("name,size", [(name, size) for name in FITTED for size in (0.5, 2.0)])
def test_budget_within_tolerance_at_640x1280(name, size):
    """Budgets no paper table fixes are fitted to the exact count within the family's tolerance (2%)."""
    model = fitted(name, size)
    per_frame = sum(v[0].numel() for v in meta_encode(model).values())
    count = model.decoder_parameters() + PAPER_FRAMES * per_frame
    assert abs(count - size * 1e6) <= type(model).budget_tolerance * size * 1e6, count


@pytest.mark.parametrize("name", FITTED)
def test_unreachable_budget_is_one_line_error(name):
    with pytest.raises(TrainerError, match=r"^--size 0.01M cannot be met within 2%[^\n]*$"), torch.device("meta"):
        create_model(name, PAPER_HW, PAPER_FRAMES, 0.01)


@pytest.mark.parametrize("size", BUDGETS_M)
def test_hnerv_fc_dim_is_the_closest_count(size):
    """HNeRV's one knob: ``fc_dim`` one step up or down is further from the budget."""
    model = fitted("hnerv", size)

    def count(fc):
        config = dataclasses.replace(model.config, widths=channel_widths(fc, 1.2, 12))
        with torch.device("meta"):
            return type(model)(config).decoder_parameters() + PAPER_FRAMES * 16 * 2 * 4

    fc = model.config.widths[0]
    assert abs(count(fc) - size * 1e6) <= min(abs(count(fc - 1) - size * 1e6), abs(count(fc + 1) - size * 1e6))
