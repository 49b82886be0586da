"""PSNR and MS-SSIM against independent implementations (numpy, pytorch_msssim)."""

import numpy as np
import pytest
import torch

from nervkit.trainer.metrics import ms_ssim, psnr, ssim


def _pair(h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(2, 3, h, w, generator=g)
    y = (x + 0.08 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    return x, y


def test_psnr_matches_numpy():
    x, y = _pair(17, 23)
    ref = [-10 * np.log10(np.mean((a.numpy().astype(np.float64) - b.numpy()) ** 2)) for a, b in zip(x, y)]
    np.testing.assert_allclose(psnr(x, y).numpy(), ref, rtol=1e-5)


@pytest.mark.parametrize("hw", [(176, 200), (193, 257)])
def test_ms_ssim_matches_pytorch_msssim(hw):
    ref_lib = pytest.importorskip("pytorch_msssim")
    x, y = _pair(*hw)
    ref = ref_lib.ms_ssim(x, y, data_range=1.0, size_average=False)
    np.testing.assert_allclose(ms_ssim(x, y).numpy(), ref.numpy(), atol=1e-4)
    ref_s = ref_lib.ssim(x, y, data_range=1.0, size_average=False)
    np.testing.assert_allclose(ssim(x, y).numpy(), ref_s.numpy(), atol=1e-5)


def test_ms_ssim_small_frames_is_defined_and_ordered():
    x, y = _pair(32, 64)
    assert torch.allclose(ms_ssim(x, x), torch.ones(2), atol=1e-5)
    worse = (x + 0.3 * torch.randn_like(x)).clamp(0, 1)
    assert (ms_ssim(x, worse) < ms_ssim(x, y)).all()
