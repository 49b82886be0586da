"""Independent references for the SNeRV and HFE-HNeRV tests: numpy SSIM and a textured test clip.

The SSIM here is written from Wang et al. (2004) directly in float64 numpy (explicit 11x11 Gaussian
windows, sigma 1.5, every valid position, K1 = 0.01, K2 = 0.03, data range 1), sharing no code with
``nervkit.trainer.metrics``.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view


def ssim_np(x: np.ndarray, y: np.ndarray) -> float:
    """Mean SSIM of two ``[N, C, H, W]`` arrays over frames, channels and valid window positions."""
    g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    win = np.outer(g, g) / np.outer(g, g).sum()
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)

    def mean(a):
        return (sliding_window_view(a, (11, 11), axis=(-2, -1)) * win).sum(axis=(-2, -1))

    mx, my = mean(x), mean(y)
    vx, vy, cxy = mean(x * x) - mx**2, mean(y * y) - my**2, mean(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    return float((((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))).mean())


def l1_ssim_np(pred, target, alpha: float = 0.7) -> float:
    """SNeRV Eq. (2): ``alpha mean|I - I_hat| + (1 - alpha)(1 - SSIM)``."""
    pred, target = np.asarray(pred, np.float64), np.asarray(target, np.float64)
    return alpha * float(np.abs(pred - target).mean()) + (1 - alpha) * (1 - ssim_np(pred, target))


def textured_clip(n: int = 8, h: int = 32, w: int = 64) -> torch.Tensor:
    """``[n, 3, h, w]`` in [0, 1]: smooth colour waves drifting over time plus fixed fine texture."""
    gen = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    texture = 0.08 * torch.rand(3, h, w, generator=gen)
    frames = [torch.stack([0.45 + 0.35 * torch.sin(6 * xx + 0.3 * t + c) * torch.cos(4 * yy - 0.5 * c)
                           for c in range(3)]) + texture for t in range(n)]
    return torch.stack(frames).clamp(0, 1)
